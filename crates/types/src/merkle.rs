//! The binary Merkle root over a block's transactions and receipts.
//!
//! Leaves are `H("FDL/LEAF/v1", item)`, inner nodes `H("FDL/NODE/v1", left || right)`; an odd node
//! at the end of a level is promoted unchanged; the root of no items is [`Hash::ZERO`].

use fdl_crypto::{Hash, Suite, hash_tagged};

const LEAF_TAG: &[u8] = b"FDL/LEAF/v1";
const NODE_TAG: &[u8] = b"FDL/NODE/v1";

/// The Merkle root of already-encoded items.
pub fn merkle_root<I, B>(suite: Suite, items: I) -> Hash
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut level: Vec<Hash> = items.into_iter().map(|i| hash_tagged(suite, LEAF_TAG, i.as_ref())).collect();
    if level.is_empty() {
        return Hash::ZERO;
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => {
                    let mut buf = [0u8; 64];
                    buf[..32].copy_from_slice(&l.0);
                    buf[32..].copy_from_slice(&r.0);
                    next.push(hash_tagged(suite, NODE_TAG, &buf));
                }
                [single] => next.push(*single),
                _ => unreachable!("chunks(2) yields one or two items"),
            }
        }
        level = next;
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_differ_with_content_and_order() {
        let s = Suite::Sm;
        assert_eq!(merkle_root::<_, &[u8]>(s, []), Hash::ZERO);
        let a = merkle_root(s, [b"a".as_slice(), b"b", b"c"]);
        let b = merkle_root(s, [b"b".as_slice(), b"a", b"c"]);
        let c = merkle_root(s, [b"a".as_slice(), b"b"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, merkle_root(s, [b"a".as_slice(), b"b", b"c"]));
    }
}
