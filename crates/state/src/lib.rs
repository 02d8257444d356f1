//! FDL's authenticated state: key/value pairs in a Jellyfish Merkle tree whose nodes live in the
//! [`Store`], hashed with the chain suite's hash (SM3 under `sm`, SHA-256 under `intl`).
//!
//! The tree version is the block height: version 0 is genesis, version `h` the state after block
//! `h`. Computing a block's new state is pure ([`StateDb::prepare`] returns the root and the nodes
//! to write), so the node writes them in the same atomic transaction as the block. A reader gets a
//! value with a proof ([`StateDb::get_with_proof`]) that anyone can check against a block header's
//! state root with [`verify_proof`], for present and absent keys alike.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

use std::{cell::Cell, collections::BTreeMap, sync::Arc};

use fdl_crypto::{Hash, Suite};
use fdl_storage::{StaleNode, StateNode, StateValue, StorageError, Store, ValueAt};
use jmt::{
    JellyfishMerkleTree, KeyHash, OwnedValue, SimpleHasher, Version,
    proof::SparseMerkleProof,
    storage::{LeafNode, Node, NodeKey, TreeReader},
};
use thiserror::Error;

/// Failures of the state layer.
#[derive(Debug, Error)]
pub enum StateError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The tree failed (a missing node means a corrupt store).
    #[error("state tree: {0}")]
    Tree(String),
    /// The version was pruned: this node keeps the state of `oldest` and later versions only.
    #[error("state version {version} is pruned: the oldest version this node keeps is {oldest}")]
    Pruned {
        /// The version asked for.
        version: u64,
        /// The oldest version kept.
        oldest: u64,
    },
}

/// The words every message of a read refused for a pruned version contains, also when it is
/// carried in another error type's text (e.g. [`fdl_schema::SchemaError::State`]).
pub const PRUNED_MESSAGE: &str = "is pruned: the oldest version this node keeps is";

/// What [`StateDb::prepare`] computes for one version: nothing of it is written yet.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The state root of the version.
    pub root: Hash,
    /// The tree nodes it creates.
    pub nodes: Vec<StateNode>,
    /// The values of the leaves it creates, sorted by key hash: the keys it writes, and the
    /// keys whose leaf moves in the tree with its value unchanged.
    pub values: Vec<StateValue>,
    /// The tree nodes it makes stale (needed by the earlier versions only).
    pub stale: Vec<StaleNode>,
}

pub use fdl_proof::{ProofError, verify_proof};
use fdl_proof::{Sha256, Sm3, key_hash};

/// The version of a state-tree node, read from its key in the store: a key is the node's
/// `jmt` `NodeKey` in borsh, which starts with the version (8 bytes, little-endian). A node of
/// version `v` is written by block `v` and never changes, so a cache may serve it by that
/// version (`crates/node/src/pipeline.rs`). `None` for a key too short to be one.
pub fn node_key_version(key: &[u8]) -> Option<u64> {
    key.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes)
}

/// The tree's reader over a store. A key's value at a version before the key's newest write is
/// the value of the leaf the tree holds for it there, stored under the leaf's version: jmt reads
/// a key's leaf node and then its value, so the reader remembers the last leaf it read.
struct Reader<'a> {
    store: &'a dyn Store,
    /// The version and key hash of the last leaf node read.
    leaf: Cell<Option<(Version, KeyHash)>>,
}

impl<'a> Reader<'a> {
    fn new(store: &'a dyn Store) -> Self {
        Reader { store, leaf: Cell::new(None) }
    }
}

impl TreeReader for Reader<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let key = borsh::to_vec(node_key)?;
        match self.store.state_node(&key)? {
            None => Ok(None),
            Some(bytes) => {
                let node: Node = borsh::from_slice(&bytes)?;
                if let Node::Leaf(leaf) = &node {
                    self.leaf.set(Some((node_key.version(), leaf.key_hash())));
                }
                Ok(Some(node))
            }
        }
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        match self.store.state_value(&key_hash.0, max_version)? {
            ValueAt::Found(v) => Ok(v),
            ValueAt::Older => match self.leaf.get() {
                Some((version, leaf)) if leaf == key_hash => {
                    let value = self.store.state_value_at(&key_hash.0, version)?;
                    // A leaf always has a value: none means it was pruned meanwhile, which the
                    // caller's check of the kept versions reports.
                    value.map(Some).ok_or_else(|| anyhow::anyhow!("no value for the leaf of version {version}"))
                }
                _ => Err(anyhow::anyhow!("a value before its key's newest version is read through its leaf")),
            },
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only tree restoration uses this; FDL restores from snapshots by other means.
        Ok(None)
    }
}

/// The state as of one version: the one [`fdl_schema::StateView`] over stored state, used by
/// block validation, admission and the API alike.
#[derive(Clone, Copy)]
pub struct StateAt<'a> {
    /// The state.
    pub state: &'a StateDb,
    /// The version read (the height of the block whose state it is).
    pub version: u64,
}

impl fdl_schema::StateView for StateAt<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, fdl_schema::SchemaError> {
        self.state.get(key, self.version).map_err(|e| fdl_schema::SchemaError::State(e.to_string()))
    }

    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, fdl_schema::SchemaError> {
        let schema = |e: StateError| fdl_schema::SchemaError::State(e.to_string());
        self.state.check_kept(self.version).map_err(schema)?;
        let next = self.state.store.next_key(prefix, after, self.version).map_err(|e| schema(e.into()))?;
        self.state.check_kept(self.version).map_err(schema)?;
        Ok(next)
    }
}

/// The authenticated state over a store.
#[derive(Clone)]
pub struct StateDb {
    store: Arc<dyn Store>,
    suite: Suite,
}

impl StateDb {
    /// A state view over `store` for a chain of `suite`.
    pub fn new(store: Arc<dyn Store>, suite: Suite) -> Self {
        StateDb { store, suite }
    }

    /// The chain's suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// A read view of the state after block `version`.
    pub fn at(&self, version: u64) -> StateAt<'_> {
        StateAt { state: self, version }
    }

    /// The oldest version this state keeps (0 when nothing was pruned).
    pub fn oldest_version(&self) -> u64 {
        self.store.oldest_version()
    }

    /// [`StateError::Pruned`] when `version` is below the oldest kept one. A read checks it
    /// before and again after reading: pruning running meanwhile may have removed what it read.
    ///
    /// # Errors
    /// [`StateError::Pruned`].
    pub fn check_kept(&self, version: u64) -> Result<(), StateError> {
        let oldest = self.store.oldest_version();
        if version < oldest { Err(StateError::Pruned { version, oldest }) } else { Ok(()) }
    }

    /// Runs `read` at `version`, answering [`StateError::Pruned`] instead of its result when the
    /// version is pruned before or while it reads.
    fn kept<T>(&self, version: u64, read: impl FnOnce() -> Result<T, StateError>) -> Result<T, StateError> {
        self.check_kept(version)?;
        let out = read();
        self.check_kept(version)?;
        out
    }

    /// The value of `key` at `version`, without proof (a direct index lookup).
    ///
    /// # Errors
    /// [`StateError::Pruned`] for a pruned version; [`StateError`] on store failure.
    pub fn get(&self, key: &[u8], version: u64) -> Result<Option<Vec<u8>>, StateError> {
        let kh = match self.suite {
            Suite::Sm => key_hash::<Sm3>(key),
            Suite::Intl => key_hash::<Sha256>(key),
        };
        self.kept(version, || match self.store.state_value(&kh.0, version)? {
            ValueAt::Found(v) => Ok(v),
            // Written since: the tree at `version` names the leaf whose value it is.
            ValueAt::Older => match self.suite {
                Suite::Sm => self.walk::<Sm3>(kh, version).map(|(v, _)| v),
                Suite::Intl => self.walk::<Sha256>(kh, version).map(|(v, _)| v),
            },
        })
    }

    /// The value of `key` at `version` with an encoded proof against [`StateDb::root`].
    ///
    /// # Errors
    /// [`StateError::Pruned`] for a pruned version; [`StateError`] on store failure.
    pub fn get_with_proof(&self, key: &[u8], version: u64) -> Result<(Option<Vec<u8>>, Vec<u8>), StateError> {
        self.kept(version, || match self.suite {
            Suite::Sm => self.proof_inner::<Sm3>(key, version),
            Suite::Intl => self.proof_inner::<Sha256>(key, version),
        })
    }

    fn proof_inner<H: SimpleHasher>(&self, key: &[u8], version: u64) -> Result<(Option<Vec<u8>>, Vec<u8>), StateError> {
        let (value, proof) = self.walk::<H>(key_hash::<H>(key), version)?;
        let bytes = borsh::to_vec(&proof).map_err(|e| StateError::Tree(e.to_string()))?;
        Ok((value, bytes))
    }

    /// The value of `key_hash` at `version` and its proof, read by walking the tree.
    #[allow(clippy::type_complexity)]
    fn walk<H: SimpleHasher>(
        &self,
        key_hash: KeyHash,
        version: u64,
    ) -> Result<(Option<Vec<u8>>, SparseMerkleProof<H>), StateError> {
        let reader = Reader::new(self.store.as_ref());
        let tree = JellyfishMerkleTree::<_, H>::new(&reader);
        tree.get_with_proof(key_hash, version).map_err(|e| StateError::Tree(e.to_string()))
    }

    /// The state root at `version`.
    ///
    /// # Errors
    /// [`StateError::Pruned`] for a pruned version; [`StateError`] if the version does not exist.
    pub fn root(&self, version: u64) -> Result<Hash, StateError> {
        let reader = Reader::new(self.store.as_ref());
        let root = self.kept(version, || {
            match self.suite {
                Suite::Sm => JellyfishMerkleTree::<_, Sm3>::new(&reader).get_root_hash(version),
                Suite::Intl => JellyfishMerkleTree::<_, Sha256>::new(&reader).get_root_hash(version),
            }
            .map_err(|e| StateError::Tree(e.to_string()))
        })?;
        Ok(Hash(root.0))
    }

    /// Computes the state at `version` from the state at `version - 1` plus `writes`
    /// (`None` deletes). Pure: returns the new root and what to store, writes nothing.
    ///
    /// # Errors
    /// [`StateError`] on store failure.
    pub fn prepare(&self, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>, version: u64) -> Result<Prepared, StateError> {
        match self.suite {
            Suite::Sm => self.prepare_inner::<Sm3>(writes, version),
            Suite::Intl => self.prepare_inner::<Sha256>(writes, version),
        }
    }

    fn prepare_inner<H: SimpleHasher>(
        &self,
        writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        version: u64,
    ) -> Result<Prepared, StateError> {
        let reader = Reader::new(self.store.as_ref());
        let tree = JellyfishMerkleTree::<_, H>::new(&reader);
        let set: Vec<(KeyHash, Option<OwnedValue>)> =
            writes.iter().map(|(k, v)| (key_hash::<H>(k), v.clone())).collect();
        let (root, batch) = tree.put_value_set(set, version).map_err(|e| StateError::Tree(e.to_string()))?;
        let nb = batch.node_batch;
        let mut nodes = Vec::with_capacity(nb.nodes().len());
        for (k, n) in nb.nodes() {
            let kb = borsh::to_vec(k).map_err(|e| StateError::Tree(e.to_string()))?;
            let nbytes = borsh::to_vec(n).map_err(|e| StateError::Tree(e.to_string()))?;
            nodes.push((kb, nbytes));
        }
        let mut values: Vec<StateValue> = nb.values().iter().map(|((ver, kh), v)| (kh.0, *ver, v.clone())).collect();
        values.sort_unstable_by_key(|a| (a.0, a.1));
        // A leaf the update moves (a neighbour's insertion pushes it down, a deletion pulls it
        // up) is a new node of this version with the value it had: stored under this version
        // too, so that every leaf's version names its value.
        let mut moved = Vec::new();
        for (k, n) in nb.nodes() {
            if let Node::Leaf(leaf) = n
                && k.version() == version
                && values.binary_search_by(|(kh, ver, _)| (kh, *ver).cmp(&(&leaf.key_hash().0, version))).is_err()
            {
                let kh = leaf.key_hash().0;
                match self.store.state_value(&kh, version.saturating_sub(1))? {
                    ValueAt::Found(Some(v)) => moved.push((kh, version, Some(v))),
                    _ => return Err(StateError::Tree(format!("a moved leaf of version {version} has no value"))),
                }
            }
        }
        if !moved.is_empty() {
            values.extend(moved);
            values.sort_unstable_by_key(|a| (a.0, a.1));
        }
        let mut stale = Vec::with_capacity(batch.stale_node_index_batch.len() + 1);
        let mut previous_root_stale = false;
        // The previous version's root: its key is this version's root key (every version writes
        // one, at the empty path) with the previous version.
        let previous_root = version.checked_sub(1).and_then(|prev| {
            nb.nodes()
                .keys()
                .find(|k| k.nibble_path().num_nibbles() == 0)
                .map(|k| NodeKey::new(prev, k.nibble_path().clone()))
        });
        for s in &batch.stale_node_index_batch {
            previous_root_stale |= previous_root.as_ref() == Some(&s.node_key);
            let kb = borsh::to_vec(&s.node_key).map_err(|e| StateError::Tree(e.to_string()))?;
            stale.push((s.stale_since_version, kb));
        }
        // A version that changes nothing gets a copy of the previous root under its own key, and
        // jmt does not mark the previous one stale: only that version reads it, so it is.
        if let (Some(prev), false) = (previous_root, previous_root_stale) {
            stale.push((version, borsh::to_vec(&prev).map_err(|e| StateError::Tree(e.to_string()))?));
        }
        Ok(Prepared { root: Hash(root.0), nodes, values, stale })
    }
}

#[cfg(test)]
mod tests {
    use fdl_storage::RedbStore;

    use super::*;

    fn writes(items: &[(&str, Option<&str>)]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        items.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))).collect()
    }

    fn write(store: &dyn Store, version: u64, p: &Prepared) {
        let header = fdl_types::BlockHeader {
            chain_id: "t".into(),
            height: version,
            parent_hash: Hash::ZERO,
            timestamp_ms: version,
            proposer: fdl_crypto::Address([0; 20]),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: p.root,
            receipts_root: Hash::ZERO,
        };
        let commit = fdl_types::Commit { height: version, round: 0, block_hash: Hash([1; 32]), signatures: vec![] };
        store
            .write_block(fdl_storage::BlockWrite {
                block: &fdl_types::Block { header, txs: vec![] },
                block_hash: commit.block_hash,
                commit: &commit,
                receipts: &[],
                state_nodes: &p.nodes,
                state_values: &p.values,
                stale_nodes: &p.stale,
                audit: &[],
                ordered_keys: &[],
            })
            .expect("write");
    }

    /// A key's value at a version before its newest write is its leaf's value there, also when
    /// the tree moved the leaf since the key was written (ADR 0020).
    #[test]
    fn older_versions_read_through_their_leaf_also_after_it_moved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("db")).expect("open"));
        let st = StateDb::new(store.clone(), Suite::Sm);
        let p = st.prepare(&writes(&[("a", Some("1"))]), 0).expect("prep");
        store.write_genesis(Hash::ZERO, p.nodes, p.values).expect("genesis");
        // New neighbours push `a`'s leaf down: the version stores its unchanged value too.
        let mut roots = vec![st.root(0).expect("root")];
        for v in 1..=3u64 {
            let keys: Vec<String> = (0..16).map(|i| format!("k{v}-{i}")).collect();
            let p =
                st.prepare(&keys.iter().map(|k| (k.as_bytes().to_vec(), Some(b"x".to_vec()))).collect(), v).expect("p");
            let kh = key_hash::<Sm3>(b"a").0;
            if v == 1 {
                assert!(
                    p.values.iter().any(|(k, ver, val)| *k == kh && *ver == 1 && val.as_deref() == Some(&b"1"[..]))
                );
            }
            assert!(p.values.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)), "sorted by key hash");
            write(store.as_ref(), v, &p);
            roots.push(p.root);
        }
        let p = st.prepare(&writes(&[("a", Some("2")), ("k1-0", None)]), 4).expect("prep");
        write(store.as_ref(), 4, &p);
        roots.push(p.root);
        for (v, want) in [(0, "1"), (1, "1"), (2, "1"), (3, "1"), (4, "2")] {
            assert_eq!(st.get(b"a", v).expect("get").as_deref(), Some(want.as_bytes()), "a at {v}");
            let (value, proof) = st.get_with_proof(b"a", v).expect("proof");
            assert_eq!(value.as_deref(), Some(want.as_bytes()));
            verify_proof(Suite::Sm, &roots[v as usize], b"a", value.as_deref(), &proof).expect("verifies");
        }
        assert_eq!(st.get(b"k1-0", 3).expect("get").as_deref(), Some(&b"x"[..]));
        assert_eq!(st.get(b"k1-0", 4).expect("get"), None, "deleted");
        assert_eq!(st.get(b"k3-5", 0).expect("get"), None, "not yet written");
    }

    #[test]
    fn a_node_keys_version_is_read_from_its_stored_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("db")).expect("open"));
        let st = StateDb::new(store, Suite::Sm);
        for version in [0u64, 7, 300, 1 << 40] {
            let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
            let p = st
                .prepare(&keys.iter().map(|k| (k.as_bytes().to_vec(), Some(b"x".to_vec()))).collect(), version)
                .expect("prepare");
            assert!(p.nodes.len() > 40, "leaves and internal nodes");
            for (key, _) in &p.nodes {
                assert_eq!(node_key_version(key), Some(version));
            }
        }
        assert_eq!(node_key_version(&[1, 2, 3]), None);
    }

    #[test]
    fn proofs_for_present_and_absent_keys_both_suites() {
        for suite in [Suite::Sm, Suite::Intl] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("db")).expect("open"));
            let st = StateDb::new(store.clone(), suite);
            let p = st.prepare(&writes(&[("a", Some("1")), ("b", Some("2"))]), 0).expect("prep");
            assert!(p.stale.is_empty(), "the first version makes nothing stale");
            let root0 = p.root;
            store.write_genesis(Hash::ZERO, p.nodes, p.values).expect("write");
            assert_eq!(st.root(0).expect("root"), root0);
            let (val, proof) = st.get_with_proof(b"a", 0).expect("get");
            assert_eq!(val.as_deref(), Some(&b"1"[..]));
            verify_proof(suite, &root0, b"a", Some(b"1"), &proof).expect("present proof");
            assert!(verify_proof(suite, &root0, b"a", Some(b"2"), &proof).is_err());
            let (val, proof) = st.get_with_proof(b"zz", 0).expect("get");
            assert_eq!(val, None);
            verify_proof(suite, &root0, b"zz", None, &proof).expect("absent proof");
            assert!(verify_proof(suite, &root0, b"zz", Some(b"x"), &proof).is_err());
            assert!(verify_proof(suite, &Hash([3; 32]), b"zz", None, &proof).is_err());
            assert!(matches!(verify_proof(suite, &root0, b"a", None, b"\x01garbage"), Err(ProofError::Malformed(_))));
        }
    }
}
