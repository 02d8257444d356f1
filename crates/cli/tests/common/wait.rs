//! Waiting on a condition with a deadline instead of sleeping for a guessed time.
//!
//! A test that needs something to have happened (a height reached, a process exited, a log line
//! written) polls for it here: it goes on as soon as the condition holds, and fails with a message
//! naming what it waited for when the deadline passes.

use std::time::{Duration, Instant};

/// How long to wait between two checks of a condition.
pub const POLL: Duration = Duration::from_millis(50);

/// Checks `probe` every [`POLL`] until it yields a value; `None` once `timeout` has passed.
/// `probe` runs at least once, and once more at the deadline.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Waits until `probe` yields a value and returns it; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    wait_for_or(timeout, what, probe, String::new)
}

/// [`wait_for`], adding `details()` (logs, the last values seen) to the panic message.
#[track_caller]
pub fn wait_for_or<T>(
    timeout: Duration,
    what: &str,
    probe: impl FnMut() -> Option<T>,
    details: impl FnOnce() -> String,
) -> T {
    match poll(timeout, probe) {
        Some(v) => v,
        None => {
            let details = details();
            let sep = if details.is_empty() { "" } else { "\n" };
            panic!("timed out after {timeout:?} waiting until {what}{sep}{details}")
        }
    }
}

/// Waits until `cond` holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(timeout, what, || cond().then_some(()))
}

/// [`wait_until`], adding `details()` to the panic message.
#[track_caller]
pub fn wait_until_or(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool, details: impl FnOnce() -> String) {
    wait_for_or(timeout, what, || cond().then_some(()), details)
}

/// Waits until `probe`'s value has stayed the same for `quiet` and returns it; panics naming
/// `what` (and the last value) if it still changes after `timeout`.
#[track_caller]
pub fn wait_stable<T: PartialEq + std::fmt::Debug>(
    timeout: Duration,
    quiet: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = probe();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(POLL);
        let now = probe();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what} (unchanged for {quiet:?}); last seen {last:?}"
        );
    }
}

/// Runs `check`, which panics when what it checks does not hold, every [`POLL`] throughout
/// `window`: for a claim that something does not happen.
pub fn keep_checking_for(window: Duration, mut check: impl FnMut()) {
    let end = Instant::now() + window;
    loop {
        check();
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep(POLL.min(end - now));
    }
}
