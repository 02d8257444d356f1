//! The host functions, natively: the same interface as the wasm imports in `sys`, served from
//! the running [`TestEnv`](super::TestEnv) call's frame. Misuse the chain would refuse (a bad
//! failure code or event kind, event data that is not JSON, an empty storage key) traps.

use std::borrow::ToOwned;
use std::boxed::Box;
use std::cell::RefCell;
use std::format;
use std::panic::resume_unwind;
use std::rc::Rc;
use std::string::String;
use std::vec::Vec;

use super::{FRAMES, Failure, Frame, OutgoingCall, State, TestEnv, hash};

fn with_frame<R>(f: impl FnOnce(&mut Frame) -> R) -> R {
    FRAMES.with(|frames| {
        let mut frames = frames.borrow_mut();
        match frames.last_mut() {
            Some(frame) => f(frame),
            None => panic!(
                "an fdl_contract host function ran outside TestEnv::call or TestEnv::with (natively, \
                 a contract runs only inside the test harness)"
            ),
        }
    })
}

fn state() -> Rc<RefCell<State>> {
    with_frame(|frame| frame.state.clone())
}

/// Ends the call with a failure (no borrow is held while it unwinds).
fn raise(code: &str, message: String) -> ! {
    resume_unwind(Box::new(Failure { code: code.to_owned(), message }))
}

/// A trap: the chain ends the call as failed; the harness says why.
fn trap(message: String) -> ! {
    raise("trap", message)
}

fn valid_name(bytes: &[u8], extra: u8) -> bool {
    (1..=64).contains(&bytes.len())
        && bytes.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == extra)
}

pub(crate) fn input_bytes() -> Vec<u8> {
    with_frame(|frame| frame.input.clone())
}

pub(crate) fn set_return_bytes(data: &[u8]) {
    with_frame(|frame| frame.ret = data.to_vec())
}

pub(crate) fn fail_call(code: &[u8], msg: &[u8]) -> ! {
    if !valid_name(code, b'_') {
        trap(format!("fail with an invalid code {:?} (must be [a-z0-9_]{{1,64}})", String::from_utf8_lossy(code)))
    }
    let msg = &msg[..msg.len().min(crate::env::MAX_FAIL_MESSAGE_BYTES)];
    raise(&String::from_utf8_lossy(code), String::from_utf8_lossy(msg).into_owned())
}

pub(crate) fn storage_read(key: &[u8]) -> Option<Vec<u8>> {
    state().borrow().storage.get(key).cloned()
}

pub(crate) fn storage_write(key: &[u8], value: &[u8]) {
    if key.is_empty() {
        trap("storage_set with an empty key".into())
    }
    state().borrow_mut().storage.insert(key.to_vec(), value.to_vec());
}

pub(crate) fn storage_delete(key: &[u8]) {
    state().borrow_mut().storage.remove(key);
}

pub(crate) fn storage_next_key(prefix: &[u8], after: &[u8]) -> Option<Vec<u8>> {
    use std::ops::Bound;
    let state = state();
    let s = state.borrow();
    // The keys with the prefix are one contiguous run from `prefix` on: the answer is the first
    // key past both `prefix` (inclusive) and `after` (exclusive), if it has the prefix.
    let lower = if after >= prefix { Bound::Excluded(after) } else { Bound::Included(prefix) };
    let (key, _) = s.storage.range::<[u8], _>((lower, Bound::Unbounded)).next()?;
    key.starts_with(prefix).then(|| key.clone())
}

pub(crate) fn caller_identity() -> Vec<u8> {
    state().borrow().caller.encode()
}

pub(crate) fn signer_identity() -> Vec<u8> {
    state().borrow().signer.encode()
}

pub(crate) fn contract_identity() -> Vec<u8> {
    state().borrow().contract.encode()
}

pub(crate) fn height() -> i64 {
    i64::try_from(state().borrow().height).unwrap_or(i64::MAX)
}

pub(crate) fn time_ms() -> i64 {
    i64::try_from(state().borrow().time_ms).unwrap_or(i64::MAX)
}

pub(crate) fn emit_event(kind: &[u8], data: &[u8]) {
    if !valid_name(kind, b'.') {
        trap(format!("emit with an invalid kind {:?} (must be [a-z0-9_.]{{1,64}})", String::from_utf8_lossy(kind)))
    }
    if let Err(e) = crate::json::parse(data) {
        trap(format!("emit with data that is not JSON: {}", e.message()))
    }
    let event = super::Event {
        kind: String::from_utf8_lossy(kind).into_owned(),
        data: String::from_utf8_lossy(data).into_owned(),
    };
    state().borrow_mut().events.push(event);
}

pub(crate) fn sm3_digest(data: &[u8]) -> [u8; 32] {
    hash::sm3(data)
}

pub(crate) fn sha256_digest(data: &[u8]) -> [u8; 32] {
    hash::sha256(data)
}

pub(crate) fn sm2_check(pk: &[u8], msg: &[u8], sig: &[u8], id: &[u8]) -> bool {
    let verifier = state().borrow().sm2();
    match verifier {
        Some(f) => f(pk, msg, sig, id),
        None => trap("sm2_verify has no stand-in in the test harness: set one with TestEnv::set_sm2_verifier".into()),
    }
}

pub(crate) fn ed25519_check(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let verifier = state().borrow().ed25519();
    match verifier {
        Some(f) => f(pk, msg, sig),
        None => trap(
            "ed25519_verify has no stand-in in the test harness: set one with TestEnv::set_ed25519_verifier".into(),
        ),
    }
}

/// `Ok(return data)` or `Err(code "\n" message)`, as the ABI's result buffer holds them.
pub(crate) fn call_contract(name: &[u8], method: &[u8], args: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let contract = String::from_utf8_lossy(name).into_owned();
    let method = String::from_utf8_lossy(method).into_owned();
    let args = String::from_utf8_lossy(args).into_owned();
    let call = OutgoingCall { contract: contract.clone(), method: method.clone(), args: args.clone() };
    let mock = TestEnv::record_call(&state(), call);
    let outcome = match mock {
        // No borrow of the frames or the state is held while the mock runs: it may run another
        // `TestEnv`'s call.
        Some(mock) => match mock.try_borrow_mut() {
            Ok(mut f) => f(&method, &args),
            Err(_) => Err(("reentrancy".into(), format!("the mock of {contract} called itself"))),
        },
        None => {
            Err(("unknown_contract".into(), format!("no contract {contract:?} (mock it with TestEnv::mock_contract)")))
        }
    };
    outcome.map(String::into_bytes).map_err(|(code, message)| {
        let mut out = code.into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&message.as_bytes()[..message.len().min(crate::env::MAX_FAIL_MESSAGE_BYTES)]);
        out
    })
}
