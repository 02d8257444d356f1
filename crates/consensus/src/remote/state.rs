//! The signer's double-sign state: per (height, round, step), the SM3 hash of the bytes it
//! signed, kept in a file that is written atomically before any signature leaves the process.
//!
//! The rule (STD-8.4, ADR 0015): the same bytes again are signed again (a restarted node replays
//! its write-ahead log); other bytes for the same height, round and step are refused as
//! [`Refusal::Conflicting`]; heights more than [`WINDOW`] below the highest height signed are
//! refused as [`Refusal::TooOld`]. A state file that does not parse, or whose checksum does not
//! match, stops the signer ([`StateError::Corrupt`]): it is never reset silently.

use std::{
    collections::BTreeMap,
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
};

use fdl_crypto::{Address, Hash, Suite};

use super::wire::{Refusal, Step};

/// How many heights below the highest height signed may still be signed.
pub const WINDOW: u64 = 2;

const MAGIC: &str = "fdl-signer-state v1";

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file does not parse or its checksum does not match: the signer refuses to start.
    #[error(
        "state file {path} is corrupt ({why}); the signer refuses to start rather than forget what it signed (see docs/operations.md, Running a remote signer)"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The file records another chain or another key.
    #[error("state file {path} belongs to {what}, not to this signer's")]
    Mismatch {
        /// The file.
        path: String,
        /// Which chain or key it records.
        what: String,
    },
    /// Another signer process holds the state file's lock.
    #[error("state file {0} is in use by another signer (its lock file is held)")]
    Locked(String),
    /// Reading or writing failed.
    #[error("state file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
}

/// The key of one signature: height, round, step.
pub type Slot = (u64, u32, Step);

/// The signer's record of what it signed, bound to a chain and a key, backed by a file.
#[derive(Debug)]
pub struct SignState {
    path: PathBuf,
    chain_id: String,
    key: Address,
    highest: u64,
    signed: BTreeMap<Slot, Hash>,
    /// Held for the state's life: no second signer may use the same file.
    _lock: File,
}

/// What [`SignState::check`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// These bytes were signed before: sign again, nothing to record.
    Again,
    /// New: record, then sign.
    New,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |error| StateError::Io { path: path.display().to_string(), error }
}

impl SignState {
    /// Opens (or creates) the state at `path` for `chain_id` and the key with address `key`,
    /// taking the lock `path.lock`.
    ///
    /// # Errors
    /// [`StateError::Locked`] when another process holds the lock, [`StateError::Corrupt`] for a
    /// file that does not parse, [`StateError::Mismatch`] for another chain's or key's file.
    pub fn open(path: &Path, chain_id: &str, key: Address) -> Result<SignState, StateError> {
        let lock_path = lock_path(path);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StateError::Locked(path.display().to_string())),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let mut state = SignState {
            path: path.to_path_buf(),
            chain_id: chain_id.to_string(),
            key,
            highest: 0,
            signed: BTreeMap::new(),
            _lock: lock,
        };
        match std::fs::read(path) {
            Ok(bytes) => state.parse(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => state.save()?,
            Err(e) => return Err(io(path)(e)),
        }
        Ok(state)
    }

    /// The highest height signed (0 before any).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// How many signatures are recorded.
    pub fn len(&self) -> usize {
        self.signed.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.signed.is_empty()
    }

    /// Decides whether `bytes` may be signed for `slot`, without recording anything.
    ///
    /// # Errors
    /// [`Refusal::Conflicting`] or [`Refusal::TooOld`].
    pub fn check(&self, slot: Slot, bytes: &[u8]) -> Result<Decision, Refusal> {
        let digest = fdl_crypto::hash(Suite::Sm, bytes);
        let (height, round, step) = slot;
        match self.signed.get(&slot) {
            Some(d) if *d == digest => return Ok(Decision::Again),
            Some(_) => return Err(Refusal::Conflicting { height, round, step }),
            None => {}
        }
        if height.saturating_add(WINDOW) < self.highest {
            return Err(Refusal::TooOld { height, highest: self.highest });
        }
        Ok(Decision::New)
    }

    /// Checks `bytes` for `slot` and, when new, records them durably (file written, synced and
    /// renamed into place) before returning: only then may the signature be made and sent.
    ///
    /// # Errors
    /// [`Refusal::Conflicting`], [`Refusal::TooOld`], or [`Refusal::Internal`] when the file
    /// cannot be written (nothing is signed then, and the memory state is left unchanged).
    pub fn record(&mut self, slot: Slot, bytes: &[u8]) -> Result<Decision, Refusal> {
        let decision = self.check(slot, bytes)?;
        if decision == Decision::Again {
            return Ok(decision);
        }
        let before = (self.highest, self.signed.clone());
        self.signed.insert(slot, fdl_crypto::hash(Suite::Sm, bytes));
        self.highest = self.highest.max(slot.0);
        let floor = self.highest.saturating_sub(WINDOW);
        self.signed.retain(|(h, _, _), _| *h >= floor);
        if let Err(e) = self.save() {
            (self.highest, self.signed) = before;
            return Err(Refusal::Internal(e.to_string()));
        }
        Ok(decision)
    }

    fn render(&self) -> String {
        let mut body =
            format!("{MAGIC}\nchain {}\nkey {}\nhighest {}\n", self.chain_id, hex_of(&self.key.0), self.highest);
        for ((h, r, s), d) in &self.signed {
            body.push_str(&format!("{h} {r} {s} {}\n", d.to_hex()));
        }
        let sum = fdl_crypto::hash(Suite::Sm, body.as_bytes());
        body.push_str(&format!("sum {}\n", sum.to_hex()));
        body
    }

    fn parse(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let corrupt = |why: &str| StateError::Corrupt { path: self.path.display().to_string(), why: why.to_string() };
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))?;
        let body_end = text.trim_end_matches('\n').rfind('\n').map(|i| i + 1).ok_or_else(|| corrupt("too short"))?;
        let (body, last) = text.split_at(body_end);
        let sum = last.trim_end().strip_prefix("sum ").ok_or_else(|| corrupt("no checksum line"))?;
        if Hash::from_hex(sum) != Some(fdl_crypto::hash(Suite::Sm, body.as_bytes())) {
            return Err(corrupt("checksum mismatch"));
        }
        let mut lines = body.lines();
        if lines.next() != Some(MAGIC) {
            return Err(corrupt("not a signer state file"));
        }
        let chain = lines.next().and_then(|l| l.strip_prefix("chain ")).ok_or_else(|| corrupt("no chain line"))?;
        let key = lines.next().and_then(|l| l.strip_prefix("key ")).ok_or_else(|| corrupt("no key line"))?;
        let highest = lines
            .next()
            .and_then(|l| l.strip_prefix("highest "))
            .and_then(|h| h.parse::<u64>().ok())
            .ok_or_else(|| corrupt("no highest line"))?;
        let mut signed = BTreeMap::new();
        for line in lines {
            let mut f = line.split(' ');
            let (Some(h), Some(r), Some(s), Some(d), None) = (f.next(), f.next(), f.next(), f.next(), f.next()) else {
                return Err(corrupt("bad record"));
            };
            let slot = (
                h.parse::<u64>().map_err(|_| corrupt("bad height"))?,
                r.parse::<u32>().map_err(|_| corrupt("bad round"))?,
                Step::parse(s).ok_or_else(|| corrupt("bad step"))?,
            );
            if slot.0 > highest {
                return Err(corrupt("a record above the highest height"));
            }
            signed.insert(slot, Hash::from_hex(d).ok_or_else(|| corrupt("bad hash"))?);
        }
        if chain != self.chain_id {
            return Err(StateError::Mismatch { path: self.path.display().to_string(), what: format!("chain {chain}") });
        }
        if key != hex_of(&self.key.0) {
            return Err(StateError::Mismatch { path: self.path.display().to_string(), what: format!("key {key}") });
        }
        self.highest = highest;
        self.signed = signed;
        Ok(())
    }

    /// Writes the state: a temporary file, synced, renamed over the state file, directory synced.
    fn save(&self) -> Result<(), StateError> {
        let tmp = self.path.with_extension("tmp");
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(self.render().as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io(&dir))?;
        Ok(())
    }
}

/// The lock file of the state file `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    path.with_file_name(name)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const KEY: Address = Address([9; 20]);

    fn open(path: &Path) -> SignState {
        SignState::open(path, "chain-a", KEY).expect("opens")
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "fdl-signer-state-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("state")
    }

    #[test]
    fn the_same_bytes_are_signed_again_and_other_bytes_refused() {
        let path = temp();
        let mut s = open(&path);
        let slot = (5, 0, Step::Prevote);
        assert_eq!(s.record(slot, b"vote A"), Ok(Decision::New));
        assert_eq!(s.record(slot, b"vote A"), Ok(Decision::Again));
        assert_eq!(s.record(slot, b"vote B"), Err(Refusal::Conflicting { height: 5, round: 0, step: Step::Prevote }));
        // Another step, round or height is another slot.
        assert_eq!(s.record((5, 0, Step::Precommit), b"vote B"), Ok(Decision::New));
        assert_eq!(s.record((5, 1, Step::Prevote), b"vote B"), Ok(Decision::New));
        assert_eq!(s.record((6, 0, Step::Prevote), b"vote B"), Ok(Decision::New));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn heights_below_the_window_are_refused() {
        let path = temp();
        let mut s = open(&path);
        assert_eq!(s.record((10, 0, Step::Prevote), b"x"), Ok(Decision::New));
        assert_eq!(s.record((10 - WINDOW, 0, Step::Prevote), b"y"), Ok(Decision::New));
        assert_eq!(
            s.record((9 - WINDOW, 0, Step::Prevote), b"z"),
            Err(Refusal::TooOld { height: 9 - WINDOW, highest: 10 })
        );
        assert_eq!(s.highest(), 10);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_state_survives_a_restart() {
        let path = temp();
        {
            let mut s = open(&path);
            s.record((3, 1, Step::Precommit), b"commit A").expect("records");
            s.record((3, 1, Step::Proposal), b"proposal A").expect("records");
        }
        let mut s = open(&path);
        assert_eq!(s.len(), 2);
        assert_eq!(s.highest(), 3);
        assert_eq!(s.record((3, 1, Step::Precommit), b"commit A"), Ok(Decision::Again));
        assert!(matches!(s.record((3, 1, Step::Precommit), b"commit B"), Err(Refusal::Conflicting { .. })));
        assert!(matches!(s.record((3, 1, Step::Proposal), b"proposal B"), Err(Refusal::Conflicting { .. })));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_corrupt_or_foreign_state_file_stops_the_signer() {
        let path = temp();
        {
            let mut s = open(&path);
            s.record((3, 0, Step::Prevote), b"a").expect("records");
        }
        let good = std::fs::read_to_string(&path).expect("reads");
        assert!(matches!(SignState::open(&path, "chain-b", KEY), Err(StateError::Mismatch { .. })));
        assert!(matches!(SignState::open(&path, "chain-a", Address([1; 20])), Err(StateError::Mismatch { .. })));
        for bad in [
            good.replace("3 0 prevote", "4 0 prevote"),
            good[..good.len() / 2].to_string(),
            String::new(),
            "garbage".to_string(),
            good.replace("sum ", "sun "),
        ] {
            std::fs::write(&path, &bad).expect("writes");
            let err = SignState::open(&path, "chain-a", KEY).expect_err("corrupt file accepted");
            assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
            assert!(err.to_string().contains("corrupt"), "{err}");
        }
        // The corrupt file is left as it was: never reset.
        assert_eq!(std::fs::read_to_string(&path).expect("reads"), good.replace("sum ", "sun "));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn two_signers_cannot_share_a_state_file() {
        let path = temp();
        let _first = open(&path);
        assert!(matches!(SignState::open(&path, "chain-a", KEY), Err(StateError::Locked(_))));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
