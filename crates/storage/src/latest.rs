//! The newest value of recently used state keys, in memory (`RedbStore::state_value`).
//!
//! Executing a block reads each sender's and recipient's balance, counter and certificate
//! status: each a look-up in the table of newest values (`state_latest`, ADR 0020), a B-tree as
//! large as the state. Most of those reads ask for the newest version of a key that blocks keep
//! writing or reading. This cache answers them from memory.
//!
//! Correctness rests on one rule: every state write of a version up to [`LatestValues::through`]
//! is reflected in the cache (a write replaces its key's entry once its transaction commits, and
//! only then does `through` move). So an entry answers a read at `max_version` when
//! `max_version <= through` and the entry's version is at or below `max_version`; any other read
//! goes to the file. A value read from the file is kept only if no write was applied during the
//! read and the read was at `through` or above (so it is the newest version up to `through`).

use std::collections::HashMap;

use parking_lot::RwLock;

/// Most keys cached; beyond it an arbitrary entry makes room.
const MAX_ENTRIES: usize = 1 << 18;
/// Largest value cached, in bytes: a larger one is read from the file each time.
const MAX_VALUE_BYTES: usize = 1_024;

/// What the cache knows of a key up to `through`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// No version at all.
    Absent,
    /// The newest version and its value (`None`: deleted).
    Newest(u64, Option<Vec<u8>>),
}

#[derive(Debug)]
struct Inner {
    through: u64,
    entries: HashMap<[u8; 32], Entry>,
}

/// The cache (see the module documentation).
#[derive(Debug)]
pub(crate) struct LatestValues {
    inner: RwLock<Inner>,
}

/// What a read found in the cache.
pub(crate) enum Cached {
    /// The answer: the newest value at or below the version asked (outer `None`: no version).
    Hit(Option<Option<Vec<u8>>>),
    /// Not known: read the file, then offer the result with [`LatestValues::offer`] and this
    /// token.
    Miss(u64),
}

impl LatestValues {
    /// An empty cache of a store whose writes up to `through` are all in the file.
    pub(crate) fn new(through: u64) -> LatestValues {
        LatestValues { inner: RwLock::new(Inner { through, entries: HashMap::new() }) }
    }

    /// The newest value of `key_hash` at or below `max_version`, if the cache knows it.
    pub(crate) fn get(&self, key_hash: &[u8; 32], max_version: u64) -> Cached {
        let c = self.inner.read();
        if max_version <= c.through {
            match c.entries.get(key_hash) {
                Some(Entry::Absent) => return Cached::Hit(None),
                Some(Entry::Newest(v, value)) if *v <= max_version => return Cached::Hit(Some(value.clone())),
                _ => {}
            }
        }
        Cached::Miss(c.through)
    }

    /// Offers what the file answered for `key_hash` at `max_version` (`found`: the newest
    /// version at or below it and its value), after a miss that returned `token`.
    pub(crate) fn offer(
        &self,
        token: u64,
        key_hash: &[u8; 32],
        max_version: u64,
        found: Option<(u64, &Option<Vec<u8>>)>,
    ) {
        if max_version < token || found.is_some_and(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_VALUE_BYTES)) {
            return;
        }
        let mut c = self.inner.write();
        if c.through != token || c.entries.contains_key(key_hash) {
            return;
        }
        let entry = match found {
            None => Entry::Absent,
            Some((v, value)) => Entry::Newest(v, value.clone()),
        };
        make_room(&mut c.entries);
        c.entries.insert(*key_hash, entry);
    }

    /// Applies the state writes of a committed transaction at `version` (called after the
    /// commit, in version order).
    pub(crate) fn apply<'a>(
        &self,
        version: u64,
        writes: impl IntoIterator<Item = (&'a [u8; 32], u64, &'a Option<Vec<u8>>)>,
    ) {
        let mut c = self.inner.write();
        for (key_hash, v, value) in writes {
            if matches!(c.entries.get(key_hash), Some(Entry::Newest(newer, _)) if *newer > v) {
                // Several versions of a key in one write (genesis): the newest stays.
                continue;
            }
            if value.as_ref().is_some_and(|b| b.len() > MAX_VALUE_BYTES) {
                c.entries.remove(key_hash);
            } else {
                make_room(&mut c.entries);
                c.entries.insert(*key_hash, Entry::Newest(v, value.clone()));
            }
        }
        c.through = c.through.max(version);
    }
}

fn make_room(entries: &mut HashMap<[u8; 32], Entry>) {
    if entries.len() >= MAX_ENTRIES
        && let Some(k) = entries.keys().next().copied()
    {
        entries.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(c: &LatestValues, k: u8, max: u64) -> Option<Option<Option<Vec<u8>>>> {
        match c.get(&[k; 32], max) {
            Cached::Hit(v) => Some(v),
            Cached::Miss(_) => None,
        }
    }

    #[test]
    fn answers_only_what_every_applied_write_vouches_for() {
        let c = LatestValues::new(10);
        // Written at 12, not yet applied: a read at 12 must go to the file.
        assert!(hit(&c, 1, 12).is_none());
        c.apply(11, [(&[1; 32], 11, &Some(vec![1]))]);
        assert_eq!(hit(&c, 1, 11), Some(Some(Some(vec![1]))));
        assert!(hit(&c, 1, 10).is_none(), "older than the newest version: the file knows");
        assert!(hit(&c, 1, 12).is_none(), "beyond what was applied");
        c.apply(12, [(&[1; 32], 12, &None)]);
        assert_eq!(hit(&c, 1, 12), Some(Some(None)), "deleted");
        // A file read is kept only if nothing was applied meanwhile and it read the newest.
        let Cached::Miss(token) = c.get(&[2; 32], 12) else { panic!("miss") };
        c.offer(token, &[2; 32], 11, None);
        assert!(hit(&c, 2, 12).is_none(), "read below `through`: not necessarily the newest");
        c.offer(token, &[2; 32], 12, None);
        assert_eq!(hit(&c, 2, 12), Some(None), "no version at all");
        let Cached::Miss(token) = c.get(&[3; 32], 12) else { panic!("miss") };
        c.apply(13, [(&[3; 32], 13, &Some(vec![3]))]);
        c.offer(token, &[3; 32], 12, Some((5, &Some(vec![0]))));
        assert_eq!(hit(&c, 3, 13), Some(Some(Some(vec![3]))), "a stale read does not replace a write");
        // Large values are not kept, and a large write drops the key's entry.
        c.apply(14, [(&[3; 32], 14, &Some(vec![0; MAX_VALUE_BYTES + 1]))]);
        assert!(hit(&c, 3, 14).is_none());
    }
}
