//! FDL's storage layer: the [`Store`] trait the node writes through, and [`RedbStore`], the
//! embedded, crash-safe default (redb: pure Rust, ACID, copy-on-write B-trees).
//!
//! A block, its commit certificate, its receipts, its transaction index entries and the
//! authenticated-state nodes it creates are written in **one** redb transaction, so a node killed
//! at any instant finds either the whole block or none of it (STD-10.1).

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod latest;
mod redb_store;
mod tx_index;

pub use redb_store::{RedbStore, StateCounts};

use fdl_crypto::Hash;
use fdl_types::{Block, Commit, DecodeError, Receipt};
use thiserror::Error;

/// Storage failures. A failed write is fatal for the node.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The database engine failed.
    #[error("database error: {0}")]
    Db(String),
    /// Stored bytes did not decode: the database is corrupt.
    #[error("corrupt {what} in the database: {source}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Decoding error.
        source: DecodeError,
    },
    /// The database was written by a version of FDL with another layout.
    #[error(
        "the database has layout version {found}, this FDL writes version {expected}: start the node with a new \
         data directory (the chain syncs from its peers) or use the FDL version that created it"
    )]
    Layout {
        /// The stored layout version (0: older than layout versions).
        found: u64,
        /// The layout this build reads and writes.
        expected: u64,
    },
    /// A block was written out of order.
    #[error("block height {got} does not follow the stored height {expected_after}")]
    OutOfOrder {
        /// Latest stored height.
        expected_after: u64,
        /// Height supplied.
        got: u64,
    },
}

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Index within the block.
    pub index: u32,
}

/// One state-tree node: its key and encoded contents.
pub type StateNode = (Vec<u8>, Vec<u8>);

/// One state value version: key hash, version (height), value (`None` = deleted). A block's
/// values are those of every state-tree leaf it creates: the keys it writes, and the keys whose
/// leaf the tree moves without changing its value (a neighbour's insertion or deletion), so that
/// each leaf's version names its value (`docs/adr/0020-state-values-latest-and-history.md`).
pub type StateValue = ([u8; 32], u64, Option<Vec<u8>>);

/// What the store knows of a state key at a version without walking the state tree
/// ([`Store::state_value`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueAt {
    /// The value at the version asked (`None`: absent or deleted).
    Found(Option<Vec<u8>>),
    /// The key was written after the version asked: its value there is the one of the leaf the
    /// tree holds for it at that version ([`Store::state_value_at`] with the leaf's version).
    Older,
}

/// One state-tree node made stale by a block: the version since which no state needs it (the
/// block's height) and its key, encoded as in [`StateNode`]. It is needed by the versions below
/// that one only, so pruning to a version at or above it may delete it.
pub type StaleNode = (u64, Vec<u8>);

/// What one call of [`Store::prune`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneProgress {
    /// The oldest version kept after the call: reads of versions below it are refused.
    pub pruned_below: u64,
    /// Stale index entries processed (at most the budget).
    pub entries: usize,
    /// State-tree nodes deleted.
    pub nodes: usize,
    /// State value versions and ordered index entries deleted.
    pub values: usize,
    /// Whether nothing stale at or below `pruned_below` remains.
    pub done: bool,
}

/// Everything one block adds to the store, written atomically.
#[derive(Debug)]
pub struct BlockWrite<'a> {
    /// The block.
    pub block: &'a Block,
    /// The block's hash.
    pub block_hash: Hash,
    /// Its commit certificate.
    pub commit: &'a Commit,
    /// One receipt per transaction, in order.
    pub receipts: &'a [Receipt],
    /// New state-tree nodes.
    pub state_nodes: &'a [StateNode],
    /// New state value versions.
    pub state_values: &'a [StateValue],
    /// State-tree nodes this block makes stale (the stale node index of the tree update).
    pub stale_nodes: &'a [StaleNode],
    /// Audit records of this block, stored by height and position and indexed by their keys.
    pub audit: &'a [AuditWrite],
    /// The writes of this block to keys that are also kept in order (contract storage, ADR
    /// 0013): each raw key and whether it is present after the block.
    pub ordered_keys: &'a [(Vec<u8>, bool)],
}

/// Longest index key of an audit record.
pub const MAX_AUDIT_INDEX_KEY: usize = 255;

/// One audit record to store with its block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditWrite {
    /// The keys it is found by (e.g. its account, its institution), each at most
    /// [`MAX_AUDIT_INDEX_KEY`] bytes (longer ones are not indexed).
    pub keys: Vec<Vec<u8>>,
    /// The encoded record.
    pub record: Vec<u8>,
}

/// The storage interface: blocks, indexes, receipts and the authenticated state's nodes.
pub trait Store: Send + Sync {
    /// Height of the latest stored block (0 when only genesis state exists).
    ///
    /// # Errors
    /// [`StorageError`] on engine failure.
    fn latest_height(&self) -> Result<u64, StorageError>;
    /// The block at `height`.
    ///
    /// # Errors
    /// [`StorageError`] on engine failure or corruption.
    fn block(&self, height: u64) -> Result<Option<Block>, StorageError>;
    /// The header of the block at `height`, without decoding its transactions.
    ///
    /// # Errors
    /// [`StorageError`] on engine failure or corruption.
    fn block_header(&self, height: u64) -> Result<Option<fdl_types::BlockHeader>, StorageError>;
    /// The commit certificate of the block at `height`.
    ///
    /// # Errors
    /// [`StorageError`] on engine failure or corruption.
    fn commit(&self, height: u64) -> Result<Option<Commit>, StorageError>;
    /// The height of the block with this hash.
    ///
    /// # Errors
    /// [`StorageError`] on engine failure.
    fn height_of_block(&self, hash: &Hash) -> Result<Option<u64>, StorageError>;
    /// Where a transaction id was included, if it was.
    ///
    /// # Errors
    /// [`StorageError`] on engine failure.
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError>;
    /// Where each of `ids` was included, in order: [`Store::tx_location`] for many ids at once
    /// (one read, the ids visited in key order, for a block's worth of replay checks).
    ///
    /// # Errors
    /// [`StorageError`] on engine failure.
    fn tx_locations(&self, ids: &[Hash]) -> Result<Vec<Option<TxLocation>>, StorageError> {
        ids.iter().map(|id| self.tx_location(id)).collect()
    }
    /// The receipt of an included transaction.
    ///
    /// # Errors
    /// [`StorageError`] on engine failure or corruption.
    fn receipt(&self, id: &Hash) -> Result<Option<Receipt>, StorageError>;
    /// Writes a block and everything it produced ([`Store::write_ledger`]), then indexes its
    /// transaction ids ([`Store::index_txs`]).
    ///
    /// # Errors
    /// [`StorageError::OutOfOrder`] unless the block is the next height; engine failures.
    fn write_block(&self, write: BlockWrite<'_>) -> Result<(), StorageError> {
        let height = write.block.header.height;
        let ids: Vec<Hash> = write.block.txs.iter().map(fdl_types::SignedTx::id).collect();
        self.write_ledger(write)?;
        self.index_txs(height, &ids)
    }
    /// Writes a block and everything it produced in one atomic, durable transaction, except the
    /// index of its transaction ids: [`Store::tx_location`] and [`Store::receipt`] find its
    /// transactions once [`Store::index_txs`] has indexed them. The index is kept apart so that
    /// it is written beside the next block's write instead of inside it (ADR 0018).
    ///
    /// # Errors
    /// [`StorageError::OutOfOrder`] unless the block is the next height; engine failures.
    fn write_ledger(&self, write: BlockWrite<'_>) -> Result<(), StorageError>;
    /// Indexes the transaction ids of the block at `height`, already written, in their order
    /// in the block. Blocks are indexed in order; a height already indexed is skipped.
    ///
    /// # Errors
    /// [`StorageError::OutOfOrder`] for a height beyond the next one to index or not yet
    /// written; engine failures.
    fn index_txs(&self, height: u64, ids: &[Hash]) -> Result<(), StorageError>;
    /// Writes the genesis state (version 0) and the genesis document's hash, once.
    ///
    /// # Errors
    /// Engine failures.
    fn write_genesis(
        &self,
        genesis_hash: Hash,
        nodes: Vec<StateNode>,
        values: Vec<StateValue>,
    ) -> Result<(), StorageError>;
    /// The stored genesis hash, if genesis was written.
    ///
    /// # Errors
    /// Engine failures.
    fn genesis_hash(&self) -> Result<Option<Hash>, StorageError>;
    /// A state-tree node by key.
    ///
    /// # Errors
    /// Engine failures.
    fn state_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The value of a state key at `max_version` when the key's newest version is at or below
    /// it ([`ValueAt::Found`]), else [`ValueAt::Older`]: the value is then the one of the leaf
    /// the state tree holds for the key at `max_version`, read with [`Store::state_value_at`].
    ///
    /// # Errors
    /// Engine failures.
    fn state_value(&self, key_hash: &[u8; 32], max_version: u64) -> Result<ValueAt, StorageError>;
    /// The value a state-tree leaf of `key_hash` created at `leaf_version` holds (the version of
    /// the leaf's node key): every leaf a block creates, written or moved, has its value stored
    /// under its version ([`StateValue`]). `None` when there is none (pruned, or never a leaf).
    ///
    /// # Errors
    /// Engine failures.
    fn state_value_at(&self, key_hash: &[u8; 32], leaf_version: u64) -> Result<Option<Vec<u8>>, StorageError>;

    /// The smallest key of the ordered index (contract storage, ADR 0013) that starts with
    /// `prefix`, is greater than `after` (`None`: any) and is present at `version`.
    ///
    /// # Errors
    /// [`StorageError`] on database failure.
    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>, version: u64) -> Result<Option<Vec<u8>>, StorageError>;
    /// Audit records of heights `from ..= to`, oldest first, calling `visit` with each record's
    /// height and bytes until it returns `false`.
    ///
    /// # Errors
    /// Engine failures.
    fn audit(&self, from: u64, to: u64, visit: &mut dyn FnMut(u64, &[u8]) -> bool) -> Result<(), StorageError>;
    /// As [`Store::audit`], but only the records indexed by `key` (see [`AuditWrite::keys`]).
    ///
    /// # Errors
    /// Engine failures.
    fn audit_by_key(
        &self,
        key: &[u8],
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError>;
    /// Appends this node's own audit records (refusals at admission, which never reach a block),
    /// each with its local time in ms and its index keys, then deletes the oldest until at most
    /// `keep` remain. Written without waiting for the disk: they become durable with the next
    /// block written, or when the store closes.
    ///
    /// # Errors
    /// Engine failures.
    fn append_local_audit(&self, records: &[(u64, AuditWrite)], keep: u64) -> Result<(), StorageError>;
    /// This node's own audit records with times `from_ms ..= to_ms`, oldest first, calling
    /// `visit` with each record's time and bytes until it returns `false`. With `key`, only the
    /// records indexed by it.
    ///
    /// # Errors
    /// Engine failures.
    fn local_audit(
        &self,
        key: Option<&[u8]>,
        from_ms: u64,
        to_ms: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError>;
    /// Deletes, in one transaction of at most `budget` stale index entries, what only the state
    /// versions below `keep_from` (capped at the latest height) need: state-tree nodes stale
    /// since a version at or below it, the value versions and ordered index entries superseded
    /// at or below it. The first call for a new `keep_from` records it as the oldest kept
    /// version in the same transaction, so reads below it are refused from then on. Versions at
    /// or above it read exactly as before. Call it again until [`PruneProgress::done`]; a call
    /// with a lower `keep_from` than already recorded continues the recorded one. Each call is
    /// atomic: a crash between calls loses nothing at the kept versions, and the next call
    /// continues.
    ///
    /// # Errors
    /// Engine failures.
    fn prune(&self, keep_from: u64, budget: usize) -> Result<PruneProgress, StorageError>;
    /// The oldest state version kept: 0 when nothing was pruned. A cheap read (no transaction).
    fn oldest_version(&self) -> u64;
}
