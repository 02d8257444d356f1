//! Writes that span more than one key, so the layout of a record split over keys (a member and
//! its CA, a certificate and its DER, a revocation and its log entry, the linked set of open
//! proposals, the per-height queues of governance) is known in one place.

use fdl_crypto::Hash;

use crate::{
    SchemaError, Slot, StateWrite, keys,
    records::{CertRecord, MemberRecord, OpenLink, RevocationRecord, RevocationRef},
};

/// The writes that store a member record and its CA certificate.
pub fn member_entries(m: &MemberRecord) -> [(Vec<u8>, Vec<u8>); 2] {
    [keys::member(&m.name).entry(m), keys::ca(&m.name).entry(&m.ca_cert)]
}

/// Stores a member record and its CA certificate.
pub fn put_member(w: &mut dyn StateWrite, m: &MemberRecord) {
    for (k, v) in member_entries(m) {
        w.put(k, v);
    }
}

/// Deletes a member record and its CA certificate.
pub fn delete_member(w: &mut dyn StateWrite, name: &str) {
    keys::member(name).delete(w);
    keys::ca(name).delete(w);
}

/// Stores a registered certificate and its DER.
pub fn put_cert(w: &mut dyn StateWrite, hash: &Hash, rec: &CertRecord) {
    keys::cert(hash).write(w, rec);
    keys::cert_der(hash).write(w, &rec.der);
}

/// Records a revocation and appends it to the revocation log (once): at most two reads and three
/// writes, however many revocations came before.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn revoke(w: &mut dyn StateWrite, org: &str, serial: &str, rec: &RevocationRecord) -> Result<(), SchemaError> {
    let slot = keys::revoked(org, serial);
    if w.get(slot.key())?.is_none() {
        let n = crate::read::revocation_count(w)?;
        keys::revocation_at(n).write(w, &RevocationRef { org: org.to_string(), serial: serial.to_string() });
        keys::revocation_count().write(w, &n.wrapping_add(1));
    }
    slot.write(w, rec);
    Ok(())
}

/// Sets the `next` of link `id` (0: the head).
fn set_next(w: &mut dyn StateWrite, id: u64, next: u64) -> Result<(), SchemaError> {
    let mut l = crate::read::open_link(w, id)?;
    l.next = next;
    keys::open_link(id).write(w, &l);
    Ok(())
}

/// Sets the `prev` of link `id` (0: the head).
fn set_prev(w: &mut dyn StateWrite, id: u64, prev: u64) -> Result<(), SchemaError> {
    let mut l = crate::read::open_link(w, id)?;
    l.prev = prev;
    keys::open_link(id).write(w, &l);
    Ok(())
}

/// Adds proposal `id` at the end of the set of open proposals. Proposal ids only grow, so the
/// set stays in id order. Writes three links (the new one, the former last one and the head).
///
/// # Errors
/// Store failure or a corrupt value; [`SchemaError::Corrupt`] for id 0 (the head's) or an id
/// already in the set.
pub fn open_insert(w: &mut dyn StateWrite, id: u64) -> Result<(), SchemaError> {
    let slot = keys::open_link(id);
    if id == 0 || w.get(slot.key())?.is_some() {
        return Err(SchemaError::corrupt(slot.key(), "proposal is already in the open set"));
    }
    let last = crate::read::open_link(w, 0)?.prev;
    slot.write(w, &OpenLink { prev: last, next: 0 });
    set_next(w, last, id)?;
    set_prev(w, 0, id)
}

/// Removes proposal `id` from the set of open proposals, if it is in it: rewrites its two
/// neighbours and deletes its link (and the head once the set is empty). Returns whether it was
/// in the set.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn open_remove(w: &mut dyn StateWrite, id: u64) -> Result<bool, SchemaError> {
    if id == 0 {
        return Ok(false);
    }
    let slot = keys::open_link(id);
    let Some(l) = slot.read(w)? else { return Ok(false) };
    set_next(w, l.prev, l.next)?;
    set_prev(w, l.next, l.prev)?;
    slot.delete(w);
    if crate::read::open_link(w, 0)? == OpenLink::default() {
        keys::open_link(0).delete(w);
    }
    Ok(true)
}

/// Appends `id` to a per-height queue: one read and two writes.
fn push_queue(
    w: &mut dyn StateWrite,
    len: Slot<u64>,
    entry: impl Fn(u64) -> Slot<u64>,
    id: u64,
) -> Result<(), SchemaError> {
    let n = len.read(w)?.unwrap_or(0);
    entry(n).write(w, &id);
    len.write(w, &n.wrapping_add(1));
    Ok(())
}

/// Reads a per-height queue and deletes it.
fn take_queue(
    w: &mut dyn StateWrite,
    len: Slot<u64>,
    entry: impl Fn(u64) -> Slot<u64>,
) -> Result<Vec<u64>, SchemaError> {
    let ids = crate::read::queue(w, &len, &entry)?;
    for n in 0..ids.len() as u64 {
        entry(n).delete(w);
    }
    if !ids.is_empty() {
        len.delete(w);
    }
    Ok(ids)
}

/// Queues a passed proposal to be applied at the end of block `height`.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn push_activation(w: &mut dyn StateWrite, height: u64, id: u64) -> Result<(), SchemaError> {
    push_queue(w, keys::activations(height), |n| keys::activation(height, n), id)
}

/// The proposals queued to be applied at the end of block `height`, in the order they passed;
/// the queue is deleted.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn take_activations(w: &mut dyn StateWrite, height: u64) -> Result<Vec<u64>, SchemaError> {
    take_queue(w, keys::activations(height), |n| keys::activation(height, n))
}

/// Queues an open proposal to leave the open set after block `height`, its deadline.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn push_expiry(w: &mut dyn StateWrite, height: u64, id: u64) -> Result<(), SchemaError> {
    push_queue(w, keys::expiries(height), |n| keys::expiry(height, n), id)
}

/// The proposals opened with deadline `height`, in the order they were opened; the queue is
/// deleted.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn take_expiries(w: &mut dyn StateWrite, height: u64) -> Result<Vec<u64>, SchemaError> {
    take_queue(w, keys::expiries(height), |n| keys::expiry(height, n))
}

/// Bumps the identity epoch, so that caches of admission verdicts forget.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn bump_epoch(w: &mut dyn StateWrite) -> Result<(), SchemaError> {
    let e = crate::read::epoch(w)?;
    keys::epoch().write(w, &e.wrapping_add(1));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{
        cell::Cell,
        collections::{BTreeMap, BTreeSet},
    };

    use super::*;
    use crate::{StateView, read};

    /// A state in memory that counts reads, and the keys and bytes written since the last
    /// [`Counting::reset`].
    #[derive(Default)]
    struct Counting {
        map: BTreeMap<Vec<u8>, Vec<u8>>,
        reads: Cell<usize>,
        written: BTreeMap<Vec<u8>, usize>,
    }

    impl Counting {
        fn reset(&mut self) {
            self.reads.set(0);
            self.written.clear();
        }

        /// (reads, distinct keys written or deleted, bytes written).
        fn cost(&self) -> (usize, usize, usize) {
            (self.reads.get(), self.written.len(), self.written.values().sum())
        }
    }

    impl StateView for Counting {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SchemaError> {
            self.reads.set(self.reads.get() + 1);
            Ok(self.map.get(key).cloned())
        }
    }

    impl StateWrite for Counting {
        fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
            self.written.insert(key.clone(), value.len());
            self.map.insert(key, value);
        }
        fn delete(&mut self, key: Vec<u8>) {
            self.written.insert(key.clone(), 0);
            self.map.remove(&key);
        }
    }

    #[test]
    fn the_nth_revocation_costs_what_the_first_did() {
        let mut s = Counting::default();
        let rec = RevocationRecord { height: 1, by: "crl".into() };
        let mut first = None;
        for i in 0..300u32 {
            s.reset();
            revoke(&mut s, "Bank A", &format!("{i:08x}"), &rec).expect("revoke");
            let cost = s.cost();
            assert!(cost.1 <= 3, "revocation {i} wrote {} keys", cost.1);
            assert_eq!(*first.get_or_insert(cost), cost, "revocation {i} cost more than the first");
        }
        // Revoking again changes the record only; the log keeps one entry per certificate.
        s.reset();
        revoke(&mut s, "Bank A", "00000000", &RevocationRecord { height: 2, by: "governance:1".into() })
            .expect("again");
        assert_eq!(s.written.len(), 1);
        assert_eq!(read::revocation_count(&s), Ok(300));
        // Pages, oldest first.
        let page = read::revocations(&s, 298, 10).expect("page");
        let serials: Vec<&str> = page.iter().map(|(_, serial, _)| serial.as_str()).collect();
        assert_eq!(serials, ["0000012a", "0000012b"]);
        let first = read::revocations(&s, 0, 2).expect("page");
        assert_eq!(
            first[0],
            ("Bank A".into(), "00000000".into(), RevocationRecord { height: 2, by: "governance:1".into() })
        );
        assert_eq!(first.len(), 2);
        assert!(read::revocations(&s, 300, 10).expect("past the end").is_empty());
        assert!(read::revocations(&s, u64::MAX, usize::MAX).expect("far past the end").is_empty());
    }

    /// A small deterministic generator (the test needs no randomness source).
    fn lcg(x: &mut u64) -> u64 {
        *x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        *x >> 33
    }

    #[test]
    fn the_open_set_follows_a_model_at_a_fixed_cost_per_change() {
        let mut s = Counting::default();
        keys::next_proposal().write(&mut s, &10_000);
        let mut model = BTreeSet::new();
        let mut next = 1u64;
        let mut seed = 7u64;
        for step in 0..3_000u32 {
            s.reset();
            if !lcg(&mut seed).is_multiple_of(3) || model.is_empty() {
                open_insert(&mut s, next).expect("insert");
                model.insert(next);
                next += 1;
            } else {
                let pick = *model.iter().nth(lcg(&mut seed) as usize % model.len()).expect("member");
                assert_eq!(open_remove(&mut s, pick), Ok(true));
                model.remove(&pick);
            }
            let (reads, keys_written, _) = s.cost();
            assert!(keys_written <= 3 && reads <= 6, "step {step}: {reads} reads, {keys_written} keys written");
            if step.is_multiple_of(97) || model.len() < 3 {
                assert_eq!(read::open_proposals(&s).expect("walk"), model.iter().copied().collect::<Vec<_>>());
            }
        }
        for id in model.clone() {
            assert_eq!(open_remove(&mut s, id), Ok(true));
            assert_eq!(read::is_listed_open(&s, id), Ok(false));
        }
        assert_eq!(open_remove(&mut s, 1), Ok(false), "removing an absent id does nothing");
        assert_eq!(read::open_proposals(&s), Ok(vec![]));
        assert!(s.map.keys().all(|k| !k.starts_with(b"gov/open/")), "an empty set leaves no keys");
        assert!(open_insert(&mut s, 0).is_err(), "id 0 is the head's");
        open_insert(&mut s, 5).expect("insert");
        assert!(open_insert(&mut s, 5).is_err(), "twice");
    }

    #[test]
    fn a_cyclic_open_set_is_reported_corrupt_not_walked_for_ever() {
        let mut s = Counting::default();
        keys::next_proposal().write(&mut s, &3);
        open_insert(&mut s, 1).expect("insert");
        open_insert(&mut s, 2).expect("insert");
        keys::open_link(2).write(&mut s, &OpenLink { prev: 1, next: 1 });
        assert!(matches!(read::open_proposals(&s), Err(SchemaError::Corrupt { .. })));
    }

    #[test]
    fn height_queues_keep_order_and_leave_nothing_once_taken() {
        let mut s = Counting::default();
        for id in [4, 2, 9] {
            s.reset();
            push_activation(&mut s, 7, id).expect("push");
            assert_eq!(s.cost().1, 2);
        }
        push_expiry(&mut s, 7, 3).expect("push");
        assert_eq!(read::activations(&s, 7), Ok(vec![4, 2, 9]));
        assert_eq!(read::activations(&s, 8), Ok(vec![]));
        assert_eq!(take_activations(&mut s, 7), Ok(vec![4, 2, 9]));
        assert_eq!(take_activations(&mut s, 7), Ok(vec![]));
        assert_eq!(read::expiries(&s, 7), Ok(vec![3]));
        assert_eq!(take_expiries(&mut s, 7), Ok(vec![3]));
        assert!(s.map.is_empty(), "{:?}", s.map.keys().collect::<Vec<_>>());
    }
}
