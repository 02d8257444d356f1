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
    let mut level = leaves(suite, items);
    if level.is_empty() {
        return Hash::ZERO;
    }
    while level.len() > 1 {
        level = next_level(suite, &level);
    }
    level[0]
}

/// The inclusion proof of item `index`: the sibling hashes from its leaf up to the root, in that
/// order (a node promoted unchanged has no sibling and adds nothing). `None` when `index` is out
/// of range. [`root_from_path`] recomputes the root from it.
pub fn merkle_path<I, B>(suite: Suite, items: I, index: usize) -> Option<Vec<Hash>>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut level = leaves(suite, items);
    if index >= level.len() {
        return None;
    }
    let mut idx = index;
    let mut path = Vec::new();
    while level.len() > 1 {
        if idx % 2 == 1 {
            path.push(level[idx - 1]);
        } else if idx + 1 < level.len() {
            path.push(level[idx + 1]);
        }
        level = next_level(suite, &level);
        idx /= 2;
    }
    Some(path)
}

/// The root that `item`, at `index` among `count` items, gives with the inclusion proof `path`
/// ([`merkle_path`]). `None` when `index` is out of range or `path` has the wrong length.
pub fn root_from_path(suite: Suite, item: &[u8], index: usize, count: usize, path: &[Hash]) -> Option<Hash> {
    if index >= count {
        return None;
    }
    let mut acc = hash_tagged(suite, LEAF_TAG, item);
    let (mut idx, mut len) = (index, count);
    let mut siblings = path.iter();
    while len > 1 {
        if idx % 2 == 1 {
            acc = node(suite, siblings.next()?, &acc);
        } else if idx + 1 < len {
            acc = node(suite, &acc, siblings.next()?);
        }
        idx /= 2;
        len = len.div_ceil(2);
    }
    siblings.next().is_none().then_some(acc)
}

fn leaves<I, B>(suite: Suite, items: I) -> Vec<Hash>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    items.into_iter().map(|i| hash_tagged(suite, LEAF_TAG, i.as_ref())).collect()
}

fn node(suite: Suite, l: &Hash, r: &Hash) -> Hash {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&l.0);
    buf[32..].copy_from_slice(&r.0);
    hash_tagged(suite, NODE_TAG, &buf)
}

fn next_level(suite: Suite, level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(suite, l, r),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
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

    #[test]
    fn every_path_gives_the_root_and_nothing_else_does() {
        let s = Suite::Sm;
        for n in 1..=9usize {
            let items: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 3]).collect();
            let root = merkle_root(s, &items);
            for (i, item) in items.iter().enumerate() {
                let path = merkle_path(s, &items, i).expect("index in range");
                assert_eq!(root_from_path(s, item, i, n, &path), Some(root), "n={n} i={i}");
                // Another item, index, count or a path one hash short does not give the root.
                assert_ne!(root_from_path(s, b"x", i, n, &path), Some(root));
                if n > 1 {
                    assert_ne!(root_from_path(s, item, (i + 1) % n, n, &path), Some(root));
                    assert_eq!(root_from_path(s, item, i, n, &path[..path.len() - 1]), None);
                }
                let mut longer = path.clone();
                longer.push(root);
                assert_eq!(root_from_path(s, item, i, n, &longer), None);
            }
            assert_eq!(merkle_path(s, &items, n), None);
        }
        assert_eq!(root_from_path(s, b"a", 0, 0, &[]), None);
    }
}
