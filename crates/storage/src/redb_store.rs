use std::path::Path;

use fdl_crypto::Hash;
use fdl_types::{Block, Commit, Decode, Encode, Receipt};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    AuditWrite, BlockWrite, MAX_AUDIT_INDEX_KEY, PruneProgress, StaleNode, StateNode, StateValue, StorageError, Store,
    TxLocation, ValueAt,
    latest::{Cached, LatestValues},
    tx_index::{Limits, TxIndex},
};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const COMMITS: TableDefinition<u64, &[u8]> = TableDefinition::new("commits");
const BLOCK_HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("block_hashes");
/// In the ledger file up to layout 8 (dropped when such a ledger is opened); since layout 9 the
/// index of transaction ids is a file of its own ([`crate::tx_index`]).
const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
/// Receipts by position: height (8, big-endian) || index in the block (4, big-endian), so a
/// block's receipts are appended in order instead of scattered by transaction id (the id finds
/// its position through `tx_index`).
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts_by_position");
const STATE_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state_nodes");
/// Up to layout 9, every value version. Key: key hash (32) || version (8, big-endian). Value:
/// 0 = deleted, 1 || bytes = present. A ledger upgraded from layout 9 keeps it for the leaves
/// created before the upgrade (below `META_HISTORY_FROM`), until pruning removes them; a new
/// ledger leaves it empty (ADR 0020).
const STATE_VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state_values");
/// The newest version of every state key, updated in place. Key: key hash (32). Value: version
/// (8, big-endian) || 0 = deleted, 1 || bytes = present.
const STATE_LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state_latest");
/// The value of every state-tree leaf, appended block by block. Key: the leaf's version (8,
/// big-endian) || key hash (32). Value: the bytes (a deletion creates no leaf).
const STATE_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state_history");

/// Key: height (8, big-endian) || position (4, big-endian). Value: an encoded audit record.
const AUDIT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("audit");
/// The audit index. Key: index key length (1) || index key || height (8, big-endian) ||
/// position (4, big-endian). Value: empty.
const AUDIT_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("audit_index");
/// This node's own audit records. Key: local time in ms (8, big-endian) || sequence number (8,
/// big-endian). Value: key count (1) || (length (1) || index key)* || the encoded record.
/// The ordered index of contract storage keys (ADR 0013): (raw key, version) → 1 present, 0
/// deleted. Derived from each block's state writes, in the block's own transaction.
const ORDERED: TableDefinition<(&[u8], u64), u8> = TableDefinition::new("ordered_keys");
const LOCAL_AUDIT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("local_audit");
/// The stale node index (`docs/operations.md`, pruning). Key: the version since which the node
/// is stale (8, big-endian) || its key in `STATE_NODES`.
const STALE_NODES: TableDefinition<&[u8], ()> = TableDefinition::new("stale_nodes");
/// Superseded state values. Key: version v (8, big-endian) || key hash (32) || leaf version
/// (8, big-endian): the key's leaf value of that version (in `STATE_HISTORY`) is not needed by
/// the versions from v on. Without the leaf version (the key is 40 bytes): the key's value
/// versions below v in the table of layout 9 (`STATE_VALUES`) are not.
const STALE_VALUES: TableDefinition<&[u8], ()> = TableDefinition::new("stale_values");
/// Superseded ordered index entries. Key: version v (8, big-endian) || raw key: the key's
/// entries below v are not needed by the versions from v on.
const STALE_ORDERED: TableDefinition<&[u8], ()> = TableDefinition::new("stale_ordered");
/// Their index. Key: index key length (1) || index key || local audit key (16). Value: empty.
const LOCAL_AUDIT_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("local_audit_index");

const META_HEIGHT: &str = "height";
const META_GENESIS: &str = "genesis_hash";
/// The layout version of the tables.
const META_LAYOUT: &str = "layout";
/// The layout this build reads and writes. 2: audit index, local audit records (issue 4).
/// 3: state values in the canonical binary codec of `fdl-schema` instead of JSON.
/// 4: growing state lists one key per entry (the revocation log, the linked set of open
/// proposals, per-height governance queues) instead of one value rewritten whole.
/// 5: contracts: the ordered index of contract storage keys, the contract limits in the chain
/// parameters and the contract output in receipts.
/// 7: the API read policy in state (`readpol/{resource}`, written at genesis; STD-16.1): a
/// chain of layout 6 has no read policy, so its genesis root differs.
/// 8: receipts stored by position (height, index) instead of by transaction id (issue 15);
/// pruning: the stale node, value and ordered index tables and the oldest kept version
/// (`pruned_below`); the genesis state root is unchanged.
/// 9: the index of transaction ids moves to a file of its own (`ledger.txindex.redb` beside
/// `ledger.redb`), written beside the next block instead of inside each block's transaction
/// (ADR 0018); a database of layout 8 is upgraded in place when opened.
/// 10: state values in two tables, the newest version of each key (`state_latest`) and the value
/// of each tree leaf by version (`state_history`), instead of one table keyed key then version
/// (ADR 0020); a database of layout 8 or 9 is upgraded in place when opened.
pub const LAYOUT_VERSION: u64 = 10;
/// The first version whose leaves have their values in `STATE_HISTORY` (absent: 0): the height
/// after the one a ledger of layout 9 had when it was upgraded.
const META_HISTORY_FROM: &str = "state_history_from";
/// The oldest state version kept (absent: 0, nothing pruned).
const META_PRUNED_BELOW: &str = "pruned_below";
/// The next sequence number of a local audit record, and how many are kept.
const META_LOCAL_SEQ: &str = "local_audit_seq";
const META_LOCAL_COUNT: &str = "local_audit_count";

/// Entry counts of the state tables ([`RedbStore::state_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCounts {
    /// State-tree nodes.
    pub nodes: u64,
    /// State value versions: leaf values (and, in a ledger upgraded from layout 9, the value
    /// versions written before the upgrade).
    pub values: u64,
    /// State keys with a newest version (deleted ones included).
    pub keys: u64,
    /// Ordered index entries.
    pub ordered: u64,
    /// Stale index entries (nodes, values and ordered entries waiting to be pruned).
    pub stale: u64,
}

/// The redb-backed [`Store`]: the ledger file, and beside it the index of transaction ids in a
/// file of its own (derived from the ledger's blocks, rebuilt from them when missing or behind).
pub struct RedbStore {
    db: Database,
    /// The index of transaction ids.
    index: TxIndex,
    /// The newest values of recently used state keys.
    latest: LatestValues,
    /// The oldest kept state version, as recorded under `META_PRUNED_BELOW`; raised before a
    /// prune transaction commits, so a reader that saw the transaction's deletions sees it.
    oldest: AtomicU64,
    /// `META_HISTORY_FROM`: leaves of older versions have their values in `STATE_VALUES`.
    history_from: u64,
}

fn db_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Db(e.to_string())
}

/// A state value's version and its value (`None`: deleted).
type VersionedValue = (u64, Option<Vec<u8>>);

fn value_key(key_hash: &[u8; 32], version: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(key_hash);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

/// A leaf value's key in `STATE_HISTORY`: version, then key hash.
fn history_key(version: u64, key_hash: &[u8; 32]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&version.to_be_bytes());
    k[8..].copy_from_slice(key_hash);
    k
}

fn corrupt_value(what: &'static str) -> StorageError {
    StorageError::Corrupt { what, source: fdl_types::DecodeError::Eof { what } }
}

/// A `STATE_LATEST` value: version || encoded value.
fn encode_latest(version: u64, v: &Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + v.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(&version.to_be_bytes());
    match v {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            out.extend_from_slice(b);
        }
    }
    out
}

/// The version of a `STATE_LATEST` value.
fn latest_version(v: &[u8]) -> Result<u64, StorageError> {
    let b: [u8; 8] = v.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt_value("newest state value"))?;
    Ok(u64::from_be_bytes(b))
}

/// A `STATE_LATEST` value decoded.
fn decode_latest(v: &[u8]) -> Result<VersionedValue, StorageError> {
    let version = latest_version(v)?;
    let value = match v.get(8) {
        Some(1) => Some(v[9..].to_vec()),
        Some(0) => None,
        _ => return Err(corrupt_value("newest state value")),
    };
    Ok((version, value))
}

/// A stale index entry: version || key || leaf version (omitted when `None`).
fn stale_entry(since: u64, key: &[u8], leaf_version: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + key.len());
    k.extend_from_slice(&since.to_be_bytes());
    k.extend_from_slice(key);
    if let Some(v) = leaf_version {
        k.extend_from_slice(&v.to_be_bytes());
    }
    k
}

/// A transaction's position: height (8, big-endian) || index (4, big-endian).
fn position_key(height: u64, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn corrupt_local() -> StorageError {
    StorageError::Corrupt {
        what: "local audit record",
        source: fdl_types::DecodeError::Eof { what: "local audit record" },
    }
}

/// A stored local audit value: its index keys and the record.
fn split_local(v: &[u8]) -> Result<(Vec<&[u8]>, &[u8]), StorageError> {
    let (&n, mut rest) = v.split_first().ok_or_else(corrupt_local)?;
    let mut keys = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (&len, r) = rest.split_first().ok_or_else(corrupt_local)?;
        if r.len() < len as usize {
            return Err(corrupt_local());
        }
        keys.push(&r[..len as usize]);
        rest = &r[len as usize..];
    }
    Ok((keys, rest))
}

/// Length (1 byte) || key: no key is a prefix of another's entries.
fn index_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 13);
    out.push(key.len() as u8);
    out.extend_from_slice(key);
    out
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`.
    ///
    /// # Errors
    /// [`StorageError::Db`] when the file cannot be opened, e.g. another process holds it.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with(path, Limits::DEFAULT)
    }

    /// [`RedbStore::open`] with the index's sizes given.
    fn open_with(path: &Path, limits: Limits) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(db_err)?;
        let index = TxIndex::open(&Self::index_path(path), limits)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(META).map_err(db_err)?;
        tx.open_table(BLOCKS).map_err(db_err)?;
        tx.open_table(COMMITS).map_err(db_err)?;
        tx.open_table(BLOCK_HASHES).map_err(db_err)?;
        tx.open_table(ORDERED).map_err(db_err)?;
        for t in [RECEIPTS, STATE_NODES, STATE_VALUES, STATE_LATEST, STATE_HISTORY, AUDIT, AUDIT_INDEX] {
            tx.open_table(t).map_err(db_err)?;
        }
        for t in [LOCAL_AUDIT, LOCAL_AUDIT_INDEX] {
            tx.open_table(t).map_err(db_err)?;
        }
        for t in [STALE_NODES, STALE_VALUES, STALE_ORDERED] {
            tx.open_table(t).map_err(db_err)?;
        }
        let (oldest, history_from);
        {
            // A database with a chain in it must have this build's layout; a new one takes it.
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let has_chain = meta.get(META_GENESIS).map_err(db_err)?.is_some();
            let found = Self::meta_u64(&meta, META_LAYOUT)?;
            if has_chain && (found == 8 || found == 9) {
                // Layout 9 kept every value version in one table: its newest versions fill the
                // table of newest values, and it stays for the leaves of the versions up to now.
                let from = Self::meta_u64(&meta, META_HEIGHT)? + 1;
                drop(meta);
                Self::fill_latest(&tx)?;
                tracing::info!(from, "layout 9: state values move to the tables of newest values and leaf values");
                meta = tx.open_table(META).map_err(db_err)?;
                meta.insert(META_HISTORY_FROM, from.to_be_bytes().as_slice()).map_err(db_err)?;
            }
            if has_chain && found == 8 {
                // Layout 8 kept the index of transaction ids in this file: drop it, and build the
                // index file from the blocks (below). Whatever that file held may come from a
                // later ledger.
                drop(meta);
                tx.delete_table(TX_INDEX).map_err(db_err)?;
                index.reset()?;
                tracing::info!("layout 8: the index of transaction ids moves to its own file");
                meta = tx.open_table(META).map_err(db_err)?;
            } else if has_chain && ![9, LAYOUT_VERSION].contains(&found) {
                return Err(StorageError::Layout { found, expected: LAYOUT_VERSION });
            }
            meta.insert(META_LAYOUT, LAYOUT_VERSION.to_be_bytes().as_slice()).map_err(db_err)?;
            oldest = Self::meta_u64(&meta, META_PRUNED_BELOW)?;
            history_from = Self::meta_u64(&meta, META_HISTORY_FROM)?;
        }
        tx.commit().map_err(db_err)?;
        let mut store =
            RedbStore { db, index, latest: LatestValues::new(0), oldest: AtomicU64::new(oldest), history_from };
        store.latest = LatestValues::new(store.latest_height()?);
        store.catch_up_index()?;
        Ok(store)
    }

    /// Writes the newest version of each key of the layout-9 table `STATE_VALUES` into
    /// `STATE_LATEST` (the upgrade from layout 9: the table holds a key's versions in order).
    fn fill_latest(tx: &redb::WriteTransaction) -> Result<(), StorageError> {
        let values = tx.open_table(STATE_VALUES).map_err(db_err)?;
        let mut latest = tx.open_table(STATE_LATEST).map_err(db_err)?;
        let mut newest: Option<([u8; 32], u64, Vec<u8>)> = None;
        let mut put = |entry: Option<([u8; 32], u64, Vec<u8>)>| -> Result<(), StorageError> {
            if let Some((kh, version, v)) = entry {
                let mut out = version.to_be_bytes().to_vec();
                out.extend_from_slice(if v.is_empty() { &[0] } else { &v });
                latest.insert(kh.as_slice(), out.as_slice()).map_err(db_err)?;
            }
            Ok(())
        };
        for item in values.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let k = k.value();
            let (kh, version) = (k.get(..32), k.get(32..40));
            let (Some(kh), Some(version)) = (kh, version) else { return Err(corrupt_value("state value key")) };
            let kh: [u8; 32] = kh.try_into().map_err(|_| corrupt_value("state value key"))?;
            let version = u64::from_be_bytes(version.try_into().map_err(|_| corrupt_value("state value key"))?);
            if newest.as_ref().is_some_and(|(n, _, _)| *n != kh) {
                put(newest.take())?;
            }
            newest = Some((kh, version, v.value().to_vec()));
        }
        put(newest)
    }

    /// The index file beside the ledger file `path` (`ledger.redb` → `ledger.txindex.redb`).
    pub fn index_path(path: &Path) -> std::path::PathBuf {
        path.with_extension("txindex.redb")
    }

    /// Brings the index file level with the ledger: indexes the blocks written after it (a
    /// node that stopped between a block's write and its indexing, or a deleted index file). An
    /// index ahead of the ledger (an older ledger restored beside a newer index) is rebuilt.
    fn catch_up_index(&self) -> Result<(), StorageError> {
        let latest = self.latest_height()?;
        let mut from = self.index.height();
        if from > latest {
            tracing::warn!(indexed = from, latest, "the transaction index is ahead of the ledger: rebuilding it");
            self.index.reset()?;
            from = 0;
        }
        if from < latest {
            tracing::info!(from = from + 1, to = latest, "indexing transactions of blocks not yet indexed");
        }
        for h in from + 1..=latest {
            let block = self.block(h)?.ok_or(StorageError::Corrupt {
                what: "block",
                source: fdl_types::DecodeError::Eof { what: "block below the latest height" },
            })?;
            let ids: Vec<Hash> = block.txs.iter().map(fdl_types::SignedTx::id).collect();
            self.index.index(h, &ids, latest)?;
        }
        // Written now, so that a node restarted again does not redo them.
        self.index.flush()?;
        Ok(())
    }

    /// How many entries the state tables hold (a count over each table; for tests and operators).
    ///
    /// # Errors
    /// Engine failures.
    pub fn state_counts(&self) -> Result<StateCounts, StorageError> {
        use redb::ReadableTableMetadata as _;
        let tx = self.db.begin_read().map_err(db_err)?;
        let len = |t: TableDefinition<&[u8], ()>| -> Result<u64, StorageError> {
            tx.open_table(t).map_err(db_err)?.len().map_err(db_err)
        };
        let count = |t: TableDefinition<&[u8], &[u8]>| -> Result<u64, StorageError> {
            tx.open_table(t).map_err(db_err)?.len().map_err(db_err)
        };
        Ok(StateCounts {
            nodes: count(STATE_NODES)?,
            values: count(STATE_HISTORY)? + count(STATE_VALUES)?,
            keys: count(STATE_LATEST)?,
            ordered: tx.open_table(ORDERED).map_err(db_err)?.len().map_err(db_err)?,
            stale: len(STALE_NODES)? + len(STALE_VALUES)? + len(STALE_ORDERED)?,
        })
    }

    /// The newest version of `key_hash` in the file, and its value (`None`: deleted).
    fn newest_in_file(&self, key_hash: &[u8; 32]) -> Result<Option<VersionedValue>, StorageError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(STATE_LATEST).map_err(db_err)?;
        t.get(key_hash.as_slice()).map_err(db_err)?.map(|g| decode_latest(g.value())).transpose()
    }

    /// The newest version of `key_hash` at or below `max_version` in the table of layout 9, and
    /// its value (`None`: deleted).
    fn state_value_in_file(
        &self,
        key_hash: &[u8; 32],
        max_version: u64,
    ) -> Result<Option<VersionedValue>, StorageError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(STATE_VALUES).map_err(db_err)?;
        let lo = value_key(key_hash, 0);
        let hi = value_key(key_hash, max_version);
        let mut range = t.range::<&[u8]>(lo.as_slice()..=hi.as_slice()).map_err(db_err)?;
        let Some(last) = range.next_back() else { return Ok(None) };
        let (k, v) = last.map_err(db_err)?;
        let version = k.value().get(32..40).and_then(|b| <[u8; 8]>::try_from(b).ok()).ok_or(StorageError::Corrupt {
            what: "state value key",
            source: fdl_types::DecodeError::Eof { what: "state value version" },
        })?;
        let v = v.value();
        let value = match v.first() {
            Some(1) => Some(v[1..].to_vec()),
            _ => None,
        };
        Ok(Some((u64::from_be_bytes(version), value)))
    }

    /// Compacts the database file at `path` of a stopped node: moves the pages in use to the
    /// front of the file and truncates it, giving the pages that pruning freed back to the file
    /// system. Returns the file's size before and after, in bytes. Slow on a large file; the
    /// file must not be open in another process.
    ///
    /// # Errors
    /// [`StorageError::Db`] when the file cannot be opened (e.g. a running node holds it) or the
    /// compaction fails.
    pub fn compact_file(path: &Path) -> Result<(u64, u64), StorageError> {
        let index = Self::index_path(path);
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(db_err);
        let both = || Ok::<_, StorageError>(size(path)? + if index.exists() { size(&index)? } else { 0 });
        let before = both()?;
        for p in [path, index.as_path()] {
            if p.exists() {
                let mut db = Database::open(p).map_err(db_err)?;
                while db.compact().map_err(db_err)? {}
            }
        }
        Ok((before, both()?))
    }

    /// Deletes up to `budget` entries of the stale index `table` at or below `below_or_at`, with
    /// `delete` run on each entry's key; returns how many entries it processed.
    fn drain_stale(
        tx: &redb::WriteTransaction,
        table: TableDefinition<&[u8], ()>,
        below_or_at: u64,
        budget: usize,
        delete: &mut dyn FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<usize, StorageError> {
        if budget == 0 {
            return Ok(0);
        }
        let mut t = tx.open_table(table).map_err(db_err)?;
        let mut keys = Vec::new();
        {
            // Every key of a version at or below `below_or_at` sorts before the 8 bytes of the
            // next version (keys are longer than 8 bytes).
            let range = match below_or_at.checked_add(1) {
                Some(end) => t.range::<&[u8]>(..end.to_be_bytes().as_slice()).map_err(db_err)?,
                None => t.range::<&[u8]>(..).map_err(db_err)?,
            };
            for item in range.take(budget) {
                keys.push(item.map_err(db_err)?.0.value().to_vec());
            }
        }
        for k in &keys {
            if k.len() < 8 {
                return Err(StorageError::Corrupt {
                    what: "stale index",
                    source: fdl_types::DecodeError::Eof { what: "stale index entry" },
                });
            }
            delete(k)?;
            t.remove(k.as_slice()).map_err(db_err)?;
        }
        Ok(keys.len())
    }

    /// Writes state nodes and values: each value into the table of newest values (in place)
    /// and, present, into the table of leaf values (appended: its keys start with the version),
    /// and records the leaf value it supersedes as stale from its version on.
    fn write_state(
        &self,
        tx: &redb::WriteTransaction,
        nodes: &[StateNode],
        values: &[StateValue],
    ) -> Result<(), StorageError> {
        let mut t = tx.open_table(STATE_NODES).map_err(db_err)?;
        for (k, v) in nodes {
            t.insert(k.as_slice(), v.as_slice()).map_err(db_err)?;
        }
        let mut latest = tx.open_table(STATE_LATEST).map_err(db_err)?;
        let mut history = tx.open_table(STATE_HISTORY).map_err(db_err)?;
        let mut stale = tx.open_table(STALE_VALUES).map_err(db_err)?;
        // A leaf value of `version` superseded from `since` on.
        let mut superseded = |since: u64, kh: &[u8; 32], version: u64| {
            let leaf = (version >= self.history_from).then_some(version);
            stale.insert(stale_entry(since, kh, leaf).as_slice(), ()).map(|_| ()).map_err(db_err)
        };
        for (kh, ver, v) in values {
            if let Some(b) = v {
                history.insert(history_key(*ver, kh).as_slice(), b.as_slice()).map_err(db_err)?;
            }
            let old = latest.insert(kh.as_slice(), encode_latest(*ver, v).as_slice()).map_err(db_err)?;
            let Some(old) = old.map(|g| g.value().to_vec()) else { continue };
            let old_version = latest_version(&old)?;
            if old_version < *ver {
                superseded(*ver, kh, old_version)?;
            } else if old_version > *ver {
                // Several versions of a key in one write (genesis): the newest stays.
                latest.insert(kh.as_slice(), old.as_slice()).map_err(db_err)?;
                superseded(old_version, kh, *ver)?;
            }
        }
        Ok(())
    }

    /// Records what a block at `height` makes stale besides its values ([`Self::write_state`]):
    /// the tree's stale nodes, and for each ordered key it writes, that the key's older entries
    /// are superseded from `height` on.
    fn write_stale(
        tx: &redb::WriteTransaction,
        height: u64,
        stale_nodes: &[StaleNode],
        ordered_keys: &[(Vec<u8>, bool)],
    ) -> Result<(), StorageError> {
        let mut t = tx.open_table(STALE_NODES).map_err(db_err)?;
        for (since, key) in stale_nodes {
            t.insert(stale_entry(*since, key, None).as_slice(), ()).map_err(db_err)?;
        }
        let mut t = tx.open_table(STALE_ORDERED).map_err(db_err)?;
        for (key, _) in ordered_keys {
            t.insert(stale_entry(height, key, None).as_slice(), ()).map_err(db_err)?;
        }
        Ok(())
    }

    fn meta_u64(t: &impl ReadableTable<&'static str, &'static [u8]>, key: &'static str) -> Result<u64, StorageError> {
        Ok(match t.get(key).map_err(db_err)? {
            None => 0,
            Some(v) => {
                u64::from_be_bytes(v.value().try_into().map_err(|_| StorageError::Corrupt {
                    what: key,
                    source: fdl_types::DecodeError::Eof { what: key },
                })?)
            }
        })
    }

    fn get_bytes<K: redb::Key + 'static>(
        &self,
        table: TableDefinition<K, &'static [u8]>,
        key: K::SelfType<'_>,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(table).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|g| g.value().to_vec()))
    }
}

impl Store for RedbStore {
    fn prune(&self, keep_from: u64, budget: usize) -> Result<PruneProgress, StorageError> {
        let latest = self.latest_height()?;
        let mut tx = self.db.begin_write().map_err(db_err)?;
        // Pruning is not consensus data: the next block's durable commit persists it; a crash
        // before that rolls the store back to an earlier consistent state, and the next call
        // redoes the work (`docs/adr/0017-pruning-and-compaction.md`).
        tx.set_durability(Durability::None).map_err(db_err)?;
        let recorded = Self::meta_u64(&tx.open_table(META).map_err(db_err)?, META_PRUNED_BELOW)?;
        let below = keep_from.min(latest).max(recorded);
        if below > recorded {
            tx.open_table(META)
                .map_err(db_err)?
                .insert(META_PRUNED_BELOW, below.to_be_bytes().as_slice())
                .map_err(db_err)?;
            // Raised before the commit: a reader that sees the deletions below also sees it.
            self.oldest.fetch_max(below, Ordering::SeqCst);
        }
        let mut progress = PruneProgress { pruned_below: below, ..PruneProgress::default() };
        let mut left = budget;
        {
            let mut nodes = tx.open_table(STATE_NODES).map_err(db_err)?;
            let mut deleted = 0;
            let n = Self::drain_stale(&tx, STALE_NODES, below, left, &mut |k| {
                if nodes.remove(&k[8..]).map_err(db_err)?.is_some() {
                    deleted += 1;
                }
                Ok(())
            })?;
            progress.entries += n;
            progress.nodes += deleted;
            left -= n;
        }
        {
            let mut values = tx.open_table(STATE_VALUES).map_err(db_err)?;
            let mut history = tx.open_table(STATE_HISTORY).map_err(db_err)?;
            let mut deleted = 0;
            let n = Self::drain_stale(&tx, STALE_VALUES, below, left, &mut |k| {
                let (version, rest) = k.split_at(8);
                if rest.len() == 40 {
                    // A leaf value: version (8) || key hash (32) || leaf version (8).
                    let (kh, leaf) = rest.split_at(32);
                    let mut key = [0u8; 40];
                    key[..8].copy_from_slice(leaf);
                    key[8..].copy_from_slice(kh);
                    if history.remove(key.as_slice()).map_err(db_err)?.is_some() {
                        deleted += 1;
                    }
                    return Ok(());
                }
                let kh: [u8; 32] = rest.try_into().map_err(|_| corrupt_value("stale value index"))?;
                let version = u64::from_be_bytes(version.try_into().unwrap_or_default());
                let old: Vec<Vec<u8>> = {
                    let lo = value_key(&kh, 0);
                    let hi = value_key(&kh, version);
                    let mut out = Vec::new();
                    for item in values.range::<&[u8]>(lo.as_slice()..hi.as_slice()).map_err(db_err)? {
                        let (key, _) = item.map_err(db_err)?;
                        out.push(key.value().to_vec());
                    }
                    out
                };
                for key in &old {
                    values.remove(key.as_slice()).map_err(db_err)?;
                }
                deleted += old.len();
                Ok(())
            })?;
            progress.entries += n;
            progress.values += deleted;
            left -= n;
        }
        {
            let mut ordered = tx.open_table(ORDERED).map_err(db_err)?;
            let mut deleted = 0;
            let n = Self::drain_stale(&tx, STALE_ORDERED, below, left, &mut |k| {
                let (version, raw) = k.split_at(8);
                let version = u64::from_be_bytes(version.try_into().unwrap_or_default());
                let old: Vec<u64> = {
                    let mut out = Vec::new();
                    for item in ordered.range::<(&[u8], u64)>((raw, 0)..(raw, version)).map_err(db_err)? {
                        out.push(item.map_err(db_err)?.0.value().1);
                    }
                    out
                };
                for v in &old {
                    ordered.remove((raw, *v)).map_err(db_err)?;
                }
                deleted += old.len();
                Ok(())
            })?;
            progress.entries += n;
            progress.values += deleted;
            left -= n;
        }
        progress.done = left > 0;
        tx.commit().map_err(db_err)?;
        Ok(progress)
    }

    fn oldest_version(&self) -> u64 {
        self.oldest.load(Ordering::SeqCst)
    }

    fn latest_height(&self) -> Result<u64, StorageError> {
        match self.get_bytes(META, META_HEIGHT)? {
            None => Ok(0),
            Some(b) => {
                let arr: [u8; 8] = b.as_slice().try_into().map_err(|_| StorageError::Corrupt {
                    what: "height",
                    source: fdl_types::DecodeError::Eof { what: "height" },
                })?;
                Ok(u64::from_be_bytes(arr))
            }
        }
    }

    fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        self.get_bytes(BLOCKS, height)?
            .map(|b| Block::decode(&b).map_err(|source| StorageError::Corrupt { what: "block", source }))
            .transpose()
    }

    fn block_header(&self, height: u64) -> Result<Option<fdl_types::BlockHeader>, StorageError> {
        // A block's encoding starts with its header: decode that prefix only.
        self.get_bytes(BLOCKS, height)?
            .map(|b| {
                fdl_types::BlockHeader::decode_from(&mut fdl_types::Reader::new(&b))
                    .map_err(|source| StorageError::Corrupt { what: "block header", source })
            })
            .transpose()
    }

    fn commit(&self, height: u64) -> Result<Option<Commit>, StorageError> {
        self.get_bytes(COMMITS, height)?
            .map(|b| Commit::decode(&b).map_err(|source| StorageError::Corrupt { what: "commit", source }))
            .transpose()
    }

    fn height_of_block(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(BLOCK_HASHES).map_err(db_err)?;
        Ok(t.get(hash.0.as_slice()).map_err(db_err)?.map(|g| g.value()))
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError> {
        self.index.location(id)
    }

    fn receipt(&self, id: &Hash) -> Result<Option<Receipt>, StorageError> {
        let Some(loc) = self.tx_location(id)? else { return Ok(None) };
        self.get_bytes(RECEIPTS, position_key(loc.height, loc.index).as_slice())?
            .map(|b| Receipt::decode(&b).map_err(|source| StorageError::Corrupt { what: "receipt", source }))
            .transpose()
    }

    fn tx_locations(&self, ids: &[Hash]) -> Result<Vec<Option<TxLocation>>, StorageError> {
        self.index.locations(ids)
    }

    fn index_txs(&self, height: u64, ids: &[Hash]) -> Result<(), StorageError> {
        self.index.index(height, ids, self.latest_height()?)
    }

    fn write_ledger(&self, w: BlockWrite<'_>) -> Result<(), StorageError> {
        let height = w.block.header.height;
        let latest = self.latest_height()?;
        if height != latest + 1 {
            return Err(StorageError::OutOfOrder { expected_after: latest, got: height });
        }
        assert_eq!(w.receipts.len(), w.block.txs.len(), "invariant: one receipt per transaction");
        let mut tx = self.db.begin_write().map_err(db_err)?;
        tx.set_durability(Durability::Immediate).map_err(db_err)?;
        {
            tx.open_table(BLOCKS).map_err(db_err)?.insert(height, w.block.encode().as_slice()).map_err(db_err)?;
            tx.open_table(COMMITS).map_err(db_err)?.insert(height, w.commit.encode().as_slice()).map_err(db_err)?;
            tx.open_table(BLOCK_HASHES).map_err(db_err)?.insert(w.block_hash.0.as_slice(), height).map_err(db_err)?;
            let mut rec = tx.open_table(RECEIPTS).map_err(db_err)?;
            for (i, r) in w.receipts.iter().enumerate() {
                rec.insert(position_key(height, i as u32).as_slice(), r.encode().as_slice()).map_err(db_err)?;
            }
        }
        self.write_state(&tx, w.state_nodes, w.state_values)?;
        Self::write_stale(&tx, height, w.stale_nodes, w.ordered_keys)?;
        if !w.ordered_keys.is_empty() {
            let mut t = tx.open_table(ORDERED).map_err(db_err)?;
            for (k, present) in w.ordered_keys {
                t.insert((k.as_slice(), height), u8::from(*present)).map_err(db_err)?;
            }
        }
        if !w.audit.is_empty() {
            let mut t = tx.open_table(AUDIT).map_err(db_err)?;
            let mut idx = tx.open_table(AUDIT_INDEX).map_err(db_err)?;
            for (i, rec) in w.audit.iter().enumerate() {
                let mut k = [0u8; 12];
                k[..8].copy_from_slice(&height.to_be_bytes());
                k[8..].copy_from_slice(&(i as u32).to_be_bytes());
                t.insert(k.as_slice(), rec.record.as_slice()).map_err(db_err)?;
                for key in rec.keys.iter().filter(|key| key.len() <= MAX_AUDIT_INDEX_KEY) {
                    let mut ik = index_prefix(key);
                    ik.extend_from_slice(&k);
                    idx.insert(ik.as_slice(), [].as_slice()).map_err(db_err)?;
                }
            }
        }
        tx.open_table(META).map_err(db_err)?.insert(META_HEIGHT, height.to_be_bytes().as_slice()).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        self.latest.apply(height, w.state_values.iter().map(|(k, v, value)| (k, *v, value)));
        Ok(())
    }

    fn write_genesis(
        &self,
        genesis_hash: Hash,
        nodes: Vec<StateNode>,
        values: Vec<StateValue>,
    ) -> Result<(), StorageError> {
        let mut tx = self.db.begin_write().map_err(db_err)?;
        tx.set_durability(Durability::Immediate).map_err(db_err)?;
        self.write_state(&tx, &nodes, &values)?;
        {
            let mut m = tx.open_table(META).map_err(db_err)?;
            m.insert(META_GENESIS, genesis_hash.0.as_slice()).map_err(db_err)?;
            m.insert(META_HEIGHT, 0u64.to_be_bytes().as_slice()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        self.latest.apply(0, values.iter().map(|(k, v, value)| (k, *v, value)));
        Ok(())
    }

    fn genesis_hash(&self) -> Result<Option<Hash>, StorageError> {
        match self.get_bytes(META, META_GENESIS)? {
            None => Ok(None),
            Some(b) => b.as_slice().try_into().map(|a| Some(Hash(a))).map_err(|_| StorageError::Corrupt {
                what: "genesis hash",
                source: fdl_types::DecodeError::Eof { what: "genesis hash" },
            }),
        }
    }

    fn state_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_bytes(STATE_NODES, key)
    }

    fn state_value(&self, key_hash: &[u8; 32], max_version: u64) -> Result<ValueAt, StorageError> {
        let token = match self.latest.get(key_hash, max_version) {
            Cached::Hit(v) => return Ok(ValueAt::Found(v.flatten())),
            Cached::Miss(token) => token,
        };
        match self.newest_in_file(key_hash)? {
            Some((version, _)) if version > max_version => Ok(ValueAt::Older),
            found => {
                self.latest.offer(token, key_hash, max_version, found.as_ref().map(|(v, value)| (*v, value)));
                Ok(ValueAt::Found(found.and_then(|(_, value)| value)))
            }
        }
    }

    fn state_value_at(&self, key_hash: &[u8; 32], leaf_version: u64) -> Result<Option<Vec<u8>>, StorageError> {
        if leaf_version < self.history_from {
            // A leaf of a version before the upgrade from layout 9: the newest value version at
            // or below it is its value (a moved leaf keeps the value it had).
            return Ok(self.state_value_in_file(key_hash, leaf_version)?.and_then(|(_, v)| v));
        }
        self.get_bytes(STATE_HISTORY, history_key(leaf_version, key_hash).as_slice())
    }

    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>, version: u64) -> Result<Option<Vec<u8>>, StorageError> {
        use std::ops::Bound;
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(ORDERED).map_err(db_err)?;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded((a, u64::MAX)),
            _ => Bound::Included((prefix, 0)),
        };
        // Entries of one key are adjacent (ordered by key, then version): walk them, keeping
        // whether the key is present at `version`, and answer the first key that is.
        let mut current: Option<(Vec<u8>, bool)> = None;
        for entry in t.range::<(&[u8], u64)>((start, Bound::Unbounded)).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let (key, ver) = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            match &mut current {
                Some((cur, present)) if cur.as_slice() == key => {
                    if ver <= version {
                        *present = v.value() == 1;
                    }
                }
                _ => {
                    if let Some((cur, true)) = current.take() {
                        return Ok(Some(cur));
                    }
                    current = Some((key.to_vec(), ver <= version && v.value() == 1));
                }
            }
        }
        Ok(current.and_then(|(k, present)| present.then_some(k)))
    }

    fn audit(&self, from: u64, to: u64, visit: &mut dyn FnMut(u64, &[u8]) -> bool) -> Result<(), StorageError> {
        if from > to {
            return Ok(());
        }
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(AUDIT).map_err(db_err)?;
        let mut lo = [0u8; 12];
        lo[..8].copy_from_slice(&from.to_be_bytes());
        let mut hi = [0xffu8; 12];
        hi[..8].copy_from_slice(&to.to_be_bytes());
        for item in t.range(lo.as_slice()..=hi.as_slice()).map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let mut h = [0u8; 8];
            h.copy_from_slice(&k.value()[..8]);
            if !visit(u64::from_be_bytes(h), v.value()) {
                break;
            }
        }
        Ok(())
    }

    fn audit_by_key(
        &self,
        key: &[u8],
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if from > to || key.len() > MAX_AUDIT_INDEX_KEY {
            return Ok(());
        }
        let tx = self.db.begin_read().map_err(db_err)?;
        let idx = tx.open_table(AUDIT_INDEX).map_err(db_err)?;
        let records = tx.open_table(AUDIT).map_err(db_err)?;
        let mut lo = index_prefix(key);
        let mut hi = lo.clone();
        lo.extend_from_slice(&from.to_be_bytes());
        lo.extend_from_slice(&[0; 4]);
        hi.extend_from_slice(&to.to_be_bytes());
        hi.extend_from_slice(&[0xff; 4]);
        let n = key.len() + 1;
        for item in idx.range(lo.as_slice()..=hi.as_slice()).map_err(db_err)? {
            let (k, _) = item.map_err(db_err)?;
            let at = &k.value()[n..];
            let Some(rec) = records.get(at).map_err(db_err)? else {
                return Err(StorageError::Corrupt {
                    what: "audit index",
                    source: fdl_types::DecodeError::Eof { what: "audit record" },
                });
            };
            let mut h = [0u8; 8];
            h.copy_from_slice(&at[..8]);
            if !visit(u64::from_be_bytes(h), rec.value()) {
                break;
            }
        }
        Ok(())
    }

    fn append_local_audit(&self, records: &[(u64, AuditWrite)], keep: u64) -> Result<(), StorageError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().map_err(db_err)?;
        // Not consensus data: the next block's write (or closing the store) makes it durable;
        // a block's commit is not slowed down for it.
        tx.set_durability(Durability::None).map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let mut seq = Self::meta_u64(&meta, META_LOCAL_SEQ)?;
            let mut count = Self::meta_u64(&meta, META_LOCAL_COUNT)?;
            let mut t = tx.open_table(LOCAL_AUDIT).map_err(db_err)?;
            let mut idx = tx.open_table(LOCAL_AUDIT_INDEX).map_err(db_err)?;
            for (time_ms, rec) in records {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&time_ms.to_be_bytes());
                k[8..].copy_from_slice(&seq.to_be_bytes());
                let keys: Vec<&Vec<u8>> =
                    rec.keys.iter().filter(|x| x.len() <= MAX_AUDIT_INDEX_KEY).take(255).collect();
                let mut v = vec![keys.len() as u8];
                for key in &keys {
                    v.extend_from_slice(&index_prefix(key));
                    let mut ik = index_prefix(key);
                    ik.extend_from_slice(&k);
                    idx.insert(ik.as_slice(), [].as_slice()).map_err(db_err)?;
                }
                v.extend_from_slice(&rec.record);
                t.insert(k.as_slice(), v.as_slice()).map_err(db_err)?;
                seq += 1;
                count += 1;
            }
            while count > keep {
                let Some((k, v)) = t.pop_first().map_err(db_err)? else {
                    count = 0;
                    break;
                };
                let (keys, _) = split_local(v.value())?;
                for key in keys {
                    let mut ik = index_prefix(key);
                    ik.extend_from_slice(k.value());
                    idx.remove(ik.as_slice()).map_err(db_err)?;
                }
                count -= 1;
            }
            meta.insert(META_LOCAL_SEQ, seq.to_be_bytes().as_slice()).map_err(db_err)?;
            meta.insert(META_LOCAL_COUNT, count.to_be_bytes().as_slice()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn local_audit(
        &self,
        key: Option<&[u8]>,
        from_ms: u64,
        to_ms: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if from_ms > to_ms || key.is_some_and(|k| k.len() > MAX_AUDIT_INDEX_KEY) {
            return Ok(());
        }
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(LOCAL_AUDIT).map_err(db_err)?;
        let mut lo = [0u8; 16];
        lo[..8].copy_from_slice(&from_ms.to_be_bytes());
        let mut hi = [0xffu8; 16];
        hi[..8].copy_from_slice(&to_ms.to_be_bytes());
        let mut emit = |k: &[u8], v: &[u8]| -> Result<bool, StorageError> {
            let mut ms = [0u8; 8];
            ms.copy_from_slice(&k[..8]);
            let (_, record) = split_local(v)?;
            Ok(visit(u64::from_be_bytes(ms), record))
        };
        match key {
            None => {
                for item in t.range(lo.as_slice()..=hi.as_slice()).map_err(db_err)? {
                    let (k, v) = item.map_err(db_err)?;
                    if !emit(k.value(), v.value())? {
                        break;
                    }
                }
            }
            Some(key) => {
                let idx = tx.open_table(LOCAL_AUDIT_INDEX).map_err(db_err)?;
                let n = key.len() + 1;
                let (mut ilo, mut ihi) = (index_prefix(key), index_prefix(key));
                ilo.extend_from_slice(&lo);
                ihi.extend_from_slice(&hi);
                for item in idx.range(ilo.as_slice()..=ihi.as_slice()).map_err(db_err)? {
                    let (ik, _) = item.map_err(db_err)?;
                    let at = &ik.value()[n..];
                    let Some(v) = t.get(at).map_err(db_err)? else {
                        return Err(corrupt_local());
                    };
                    if !emit(at, v.value())? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_values_answer_their_newest_version_and_each_leaf_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = RedbStore::open(&dir.path().join("db")).expect("open");
        let k = [7u8; 32];
        s.write_genesis(
            Hash::ZERO,
            vec![],
            vec![(k, 0, Some(b"a".to_vec())), (k, 5, Some(b"b".to_vec())), (k, 9, None)],
        )
        .expect("write");
        assert_eq!(s.state_value(&k, 9).expect("r"), ValueAt::Found(None), "deleted");
        assert_eq!(s.state_value(&k, 100).expect("r"), ValueAt::Found(None));
        assert_eq!(s.state_value(&k, 4).expect("r"), ValueAt::Older, "written since: the tree knows the leaf");
        assert_eq!(s.state_value_at(&k, 0).expect("r"), Some(b"a".to_vec()));
        assert_eq!(s.state_value_at(&k, 5).expect("r"), Some(b"b".to_vec()));
        assert_eq!(s.state_value_at(&k, 4).expect("r"), None, "no leaf of that version");
        assert_eq!(s.state_value(&[8u8; 32], 100).expect("r"), ValueAt::Found(None));
        assert_eq!(s.latest_height().expect("h"), 0);
        let counts = s.state_counts().expect("counts");
        assert_eq!((counts.values, counts.keys, counts.stale), (2, 1, 2), "two leaf values, both superseded");
    }

    fn write_values(s: &RedbStore, height: u64, values: &[StateValue]) {
        let (block, commit) = empty_block(height);
        s.write_ledger(BlockWrite {
            block: &block,
            block_hash: commit.block_hash,
            commit: &commit,
            receipts: &[],
            state_nodes: &[],
            state_values: values,
            stale_nodes: &[],
            audit: &[],
            ordered_keys: &[],
        })
        .expect("write");
    }

    /// The cache of newest values (`latest.rs`) answers what the file would, through blocks
    /// written after reads that filled it.
    #[test]
    fn state_reads_stay_right_across_written_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = RedbStore::open(&dir.path().join("db")).expect("open");
        let (k, absent) = ([7u8; 32], [8u8; 32]);
        s.write_genesis(Hash::ZERO, vec![], vec![(k, 0, Some(b"a".to_vec()))]).expect("genesis");
        for (height, value) in [(1, Some(b"b".to_vec())), (2, None), (3, Some(b"c".to_vec()))] {
            // Reads at the tip fill the cache, including a key that has no version.
            assert_eq!(s.state_value(&absent, height - 1).expect("r"), ValueAt::Found(None));
            let ValueAt::Found(before) = s.state_value(&k, height - 1).expect("r") else { panic!("newest") };
            write_values(&s, height, &[(k, height, value.clone()), (absent, height, None)]);
            assert_eq!(s.state_value(&k, height).expect("r"), ValueAt::Found(value));
            assert_eq!(s.state_value(&k, height - 1).expect("r"), ValueAt::Older, "written since");
            assert_eq!(s.state_value_at(&k, height - 1).expect("r"), before, "the older leaf still answers");
            assert_eq!(s.state_value(&absent, height).expect("r"), ValueAt::Found(None), "a deletion is a version");
        }
        assert_eq!(s.state_value_at(&k, 1).expect("r"), Some(b"b".to_vec()));
        assert_eq!(s.state_value_at(&k, 2).expect("r"), None, "a deletion has no leaf");
        assert_eq!(s.state_value(&k, 99).expect("r"), ValueAt::Found(Some(b"c".to_vec())));
    }

    #[test]
    fn a_database_of_layout_9_keeps_its_value_versions_for_the_leaves_before_the_upgrade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.redb");
        let (k, gone, never) = ([7u8; 32], [9u8; 32], [8u8; 32]);
        {
            let s = RedbStore::open(&path).expect("open");
            s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
            write_values(&s, 1, &[]);
            write_values(&s, 2, &[]);
            // What layout 9 wrote: every value version keyed key hash then version.
            let tx = s.db.begin_write().expect("write");
            {
                let mut t = tx.open_table(STATE_VALUES).expect("values");
                let mut stale = tx.open_table(STALE_VALUES).expect("stale");
                for (kh, v, value) in
                    [(k, 0, &b"\x01a"[..]), (k, 2, &b"\x01b"[..]), (gone, 1, &b"\x01x"[..]), (gone, 2, &b"\x00"[..])]
                {
                    t.insert(value_key(&kh, v).as_slice(), value).expect("insert");
                    stale.insert(stale_entry(v, &kh, None).as_slice(), ()).expect("stale");
                }
                tx.open_table(META).expect("meta").insert(META_LAYOUT, 9u64.to_be_bytes().as_slice()).expect("layout");
            }
            tx.commit().expect("commit");
        }
        let s = RedbStore::open(&path).expect("upgrade");
        assert_eq!(layout_of(&s), LAYOUT_VERSION);
        assert_eq!(s.history_from, 3);
        assert_eq!(s.state_value(&k, 2).expect("r"), ValueAt::Found(Some(b"b".to_vec())));
        assert_eq!(s.state_value(&gone, 2).expect("r"), ValueAt::Found(None));
        assert_eq!(s.state_value(&never, 2).expect("r"), ValueAt::Found(None));
        assert_eq!(s.state_value(&k, 1).expect("r"), ValueAt::Older);
        // A leaf of version 1 (moved there, say) holds the newest value version at or below it.
        assert_eq!(s.state_value_at(&k, 1).expect("r"), Some(b"a".to_vec()));
        assert_eq!(s.state_value_at(&gone, 1).expect("r"), Some(b"x".to_vec()));
        // Written after the upgrade: the old versions are superseded in the old table's terms.
        write_values(&s, 3, &[(k, 3, Some(b"c".to_vec()))]);
        write_values(&s, 4, &[(k, 4, Some(b"d".to_vec()))]);
        assert_eq!(s.state_value_at(&k, 2).expect("r"), Some(b"b".to_vec()));
        assert_eq!(s.state_value_at(&k, 3).expect("r"), Some(b"c".to_vec()));
        while !s.prune(4, 100).expect("prune").done {}
        let counts = s.state_counts().expect("counts");
        assert_eq!(s.state_value_at(&k, 2).expect("r"), None, "pruned");
        assert_eq!(s.state_value_at(&k, 3).expect("r"), None, "pruned");
        assert_eq!(s.state_value(&k, 4).expect("r"), ValueAt::Found(Some(b"d".to_vec())));
        // Left: k's leaf of version 4, and `gone`'s deletion (its versions below 2 are pruned).
        assert_eq!((counts.values, counts.keys, counts.stale), (2, 2, 0));
        drop(s);
        let s = RedbStore::open(&path).expect("reopen");
        assert_eq!(s.history_from, 3, "recorded once");
    }

    fn empty_block(height: u64) -> (Block, Commit) {
        let header = fdl_types::BlockHeader {
            chain_id: "t".into(),
            height,
            parent_hash: Hash::ZERO,
            timestamp_ms: height * 1_000,
            proposer: fdl_crypto::Address([0; 20]),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
        };
        let commit = Commit { height, round: 0, block_hash: Hash([height as u8; 32]), signatures: vec![] };
        (Block { header, txs: vec![] }, commit)
    }

    #[test]
    fn the_ordered_index_answers_the_next_present_key_at_a_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = RedbStore::open(&dir.path().join("db")).expect("open");
        s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
        let k = |s: &str| s.as_bytes().to_vec();
        let blocks = [
            vec![(k("cs/t/a"), true), (k("cs/t/b"), true), (k("cs/t/c"), true), (k("cs/u/a"), true)],
            vec![(k("cs/t/b"), false), (k("cs/t/ab"), true)],
            vec![(k("cs/t/b"), true), (k("cs/t/c"), false)],
        ];
        for (i, ordered_keys) in blocks.into_iter().enumerate() {
            let (block, commit) = empty_block(i as u64 + 1);
            s.write_block(BlockWrite {
                block: &block,
                block_hash: commit.block_hash,
                commit: &commit,
                receipts: &[],
                state_nodes: &[],
                state_values: &[],
                stale_nodes: &[],
                audit: &[],
                ordered_keys: &ordered_keys,
            })
            .expect("write");
        }
        let walk = |prefix: &str, version: u64| {
            let mut out = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            while let Some(next) = s.next_key(prefix.as_bytes(), after.as_deref(), version).expect("next") {
                out.push(String::from_utf8(next.clone()).expect("utf8"));
                after = Some(next);
            }
            out
        };
        assert_eq!(walk("cs/t/", 0), Vec::<String>::new());
        assert_eq!(walk("cs/t/", 1), ["cs/t/a", "cs/t/b", "cs/t/c"]);
        assert_eq!(walk("cs/t/", 2), ["cs/t/a", "cs/t/ab", "cs/t/c"]);
        assert_eq!(walk("cs/t/", 3), ["cs/t/a", "cs/t/ab", "cs/t/b"]);
        assert_eq!(walk("cs/t/a", 3), ["cs/t/a", "cs/t/ab"]);
        assert_eq!(walk("cs/u/", 3), ["cs/u/a"]);
        // A cursor before the prefix starts at the prefix.
        assert_eq!(s.next_key(b"cs/u/", Some(b"cs/a"), 3).expect("next"), Some(k("cs/u/a")));
    }

    #[test]
    fn audit_records_are_found_by_their_index_keys_and_height_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = RedbStore::open(&dir.path().join("db")).expect("open");
        s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
        let rec = |keys: &[&[u8]], body: &str| AuditWrite {
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            record: body.as_bytes().to_vec(),
        };
        let long = vec![b'x'; MAX_AUDIT_INDEX_KEY + 1];
        let blocks = [
            vec![rec(&[b"a:01", b"o:org1"], "h1-0"), rec(&[b"a:0102"], "h1-1")],
            vec![],
            vec![rec(&[b"o:org1"], "h3-0"), rec(&[b"a:01", long.as_slice()], "h3-1")],
        ];
        for (i, audit) in blocks.into_iter().enumerate() {
            let (block, commit) = empty_block(i as u64 + 1);
            s.write_block(BlockWrite {
                block: &block,
                block_hash: commit.block_hash,
                commit: &commit,
                receipts: &[],
                state_nodes: &[],
                state_values: &[],
                stale_nodes: &[],
                audit: &audit,
                ordered_keys: &[],
            })
            .expect("write");
        }
        let find = |key: &[u8], from, to| {
            let mut out = Vec::new();
            s.audit_by_key(key, from, to, &mut |h, b| {
                out.push((h, String::from_utf8_lossy(b).into_owned()));
                true
            })
            .expect("read");
            out
        };
        // "a:01" is a prefix of "a:0102" but not the same key.
        assert_eq!(find(b"a:01", 1, 3), vec![(1, "h1-0".into()), (3, "h3-1".into())]);
        assert_eq!(find(b"a:0102", 1, 3), vec![(1, "h1-1".into())]);
        assert_eq!(find(b"o:org1", 2, 3), vec![(3, "h3-0".into())]);
        assert_eq!(find(b"o:org1", 1, 1), vec![(1, "h1-0".into())]);
        assert!(find(b"o:org2", 1, 3).is_empty());
        assert!(find(&long, 1, 3).is_empty(), "over-long keys are not indexed");
        assert!(find(b"a:01", 3, 1).is_empty());
        // The plain scan still sees every record.
        let mut all = 0;
        s.audit(1, 3, &mut |_, _| {
            all += 1;
            true
        })
        .expect("scan");
        assert_eq!(all, 4);
    }

    #[test]
    fn local_audit_records_survive_reopening_and_keep_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let rec = |key: &[u8], i: u8| AuditWrite { keys: vec![key.to_vec()], record: vec![i] };
        {
            let s = RedbStore::open(&path).expect("open");
            let recs: Vec<(u64, AuditWrite)> = (0..5u8)
                .map(|i| (1_000 + u64::from(i), rec(if i % 2 == 0 { b"a:even" } else { b"a:odd" }, i)))
                .collect();
            s.append_local_audit(&recs, 4).expect("append");
            // Two records in the same millisecond are both kept.
            s.append_local_audit(&[(1_004, rec(b"a:odd", 9))], 4).expect("append");
        }
        let s = RedbStore::open(&path).expect("reopen");
        let read = |key: Option<&[u8]>, from, to| {
            let mut out = Vec::new();
            s.local_audit(key, from, to, &mut |t, b| {
                out.push((t, b.to_vec()));
                true
            })
            .expect("read");
            out
        };
        // Keep 4: the two oldest are gone, from the index too.
        assert_eq!(
            read(None, 0, u64::MAX),
            vec![(1_002, vec![2]), (1_003, vec![3]), (1_004, vec![4]), (1_004, vec![9])]
        );
        assert_eq!(read(None, 1_003, 1_003), vec![(1_003, vec![3])]);
        assert!(read(None, 2_000, 1_000).is_empty());
        assert_eq!(read(Some(b"a:even"), 0, u64::MAX), vec![(1_002, vec![2]), (1_004, vec![4])]);
        assert_eq!(read(Some(b"a:odd"), 0, u64::MAX), vec![(1_003, vec![3]), (1_004, vec![9])]);
        assert_eq!(read(Some(b"a:odd"), 1_004, 1_004), vec![(1_004, vec![9])]);
        assert!(read(Some(b"a:od"), 0, u64::MAX).is_empty());
        let tx = s.db.begin_read().expect("read");
        let idx = tx.open_table(LOCAL_AUDIT_INDEX).expect("index");
        assert_eq!(redb::ReadableTableMetadata::len(&idx).expect("len"), 4, "pruned records leave no index entries");
    }

    fn transfer(nonce: u64) -> fdl_types::SignedTx {
        let key = fdl_crypto::KeyPair::generate(fdl_crypto::Suite::Sm);
        fdl_types::TxBody {
            chain_id: "t".into(),
            signer: fdl_crypto::Signer::public_key(&key),
            credential: fdl_types::Credential::None,
            nonce,
            expiry_height: 100,
            payload: fdl_types::Payload::Transfer { to: fdl_crypto::Address([1; 20]), amount: 1, memo: String::new() },
        }
        .sign(&key)
        .expect("sign")
    }

    /// Writes block `height` holding `txs` to the ledger only (not indexed).
    fn write_ledger_txs(s: &RedbStore, height: u64, txs: &[fdl_types::SignedTx]) {
        let (mut block, commit) = empty_block(height);
        let receipts: Vec<Receipt> = txs
            .iter()
            .map(|t| Receipt {
                tx_id: t.id(),
                status: fdl_types::StatusCode::Ok,
                events: vec![],
                cost: 0,
                output: vec![],
            })
            .collect();
        block.header.tx_count = txs.len() as u32;
        block.txs = txs.to_vec();
        s.write_ledger(BlockWrite {
            block: &block,
            block_hash: commit.block_hash,
            commit: &commit,
            receipts: &receipts,
            state_nodes: &[],
            state_values: &[],
            stale_nodes: &[],
            audit: &[],
            ordered_keys: &[],
        })
        .expect("write");
    }

    fn ids(txs: &[fdl_types::SignedTx]) -> Vec<Hash> {
        txs.iter().map(fdl_types::SignedTx::id).collect()
    }

    #[test]
    fn transactions_are_found_once_indexed_in_order_and_a_lagging_index_catches_up_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.redb");
        let (b1, b2) = (vec![transfer(1), transfer(2)], vec![transfer(3)]);
        {
            let s = RedbStore::open(&path).expect("open");
            s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
            write_ledger_txs(&s, 1, &b1);
            assert_eq!(s.tx_location(&b1[1].id()).expect("lookup"), None, "written, not yet indexed");
            // Not beyond the ledger, not out of order; a height already indexed is skipped.
            assert!(matches!(s.index_txs(2, &ids(&b2)), Err(StorageError::OutOfOrder { .. })));
            s.index_txs(1, &ids(&b1)).expect("index");
            s.index_txs(1, &ids(&b1)).expect("again: skipped");
            assert_eq!(s.tx_location(&b1[1].id()).expect("lookup"), Some(TxLocation { height: 1, index: 1 }));
            assert_eq!(s.receipt(&b1[1].id()).expect("receipt").map(|r| r.tx_id), Some(b1[1].id()));
            // The node stops between the ledger's write and the index's.
            write_ledger_txs(&s, 2, &b2);
        }
        assert!(RedbStore::index_path(&path).ends_with("ledger.txindex.redb"));
        let s = RedbStore::open(&path).expect("reopen");
        assert_eq!(s.tx_location(&b2[0].id()).expect("lookup"), Some(TxLocation { height: 2, index: 0 }));
        drop(s);
        // A lost index file is rebuilt from the blocks.
        std::fs::remove_file(RedbStore::index_path(&path)).expect("remove");
        let s = RedbStore::open(&path).expect("rebuild");
        assert_eq!(s.tx_location(&b1[0].id()).expect("lookup"), Some(TxLocation { height: 1, index: 0 }));
        assert_eq!(s.tx_location(&b2[0].id()).expect("lookup"), Some(TxLocation { height: 2, index: 0 }));
        s.write_block(BlockWrite {
            block: &empty_block(3).0,
            block_hash: Hash([3; 32]),
            commit: &empty_block(3).1,
            receipts: &[],
            state_nodes: &[],
            state_values: &[],
            stale_nodes: &[],
            audit: &[],
            ordered_keys: &[],
        })
        .expect("write_block writes and indexes");
        s.index.flush().expect("flush");
        assert_eq!(s.index.written_height(), 3);
    }

    #[test]
    fn an_index_ahead_of_the_ledger_is_rebuilt_so_no_transaction_reads_as_replayed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, copy) = (dir.path().join("ledger.redb"), dir.path().join("backup.redb"));
        let late = vec![transfer(9)];
        {
            let s = RedbStore::open(&path).expect("open");
            s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
        }
        // An operator restores a ledger from before block 1 beside the newer index.
        std::fs::copy(&path, &copy).expect("backup");
        {
            let s = RedbStore::open(&path).expect("open");
            write_ledger_txs(&s, 1, &late);
            s.index_txs(1, &ids(&late)).expect("index");
            s.index.flush().expect("flush");
            assert_eq!(s.index.written_height(), 1);
        }
        std::fs::copy(&copy, &path).expect("restore");
        let s = RedbStore::open(&path).expect("reopen");
        assert_eq!(s.latest_height().expect("h"), 0);
        assert_eq!(s.tx_location(&late[0].id()).expect("lookup"), None, "not on this ledger");
    }

    #[test]
    fn a_database_of_layout_8_moves_its_index_out_when_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.redb");
        let txs = vec![transfer(1), transfer(2)];
        {
            let s = RedbStore::open(&path).expect("open");
            s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
            write_ledger_txs(&s, 1, &txs);
            // What layout 8 wrote: the index inside the ledger file, no index file.
            let tx = s.db.begin_write().expect("write");
            {
                let mut t = tx.open_table(TX_INDEX).expect("index");
                for (i, id) in ids(&txs).iter().enumerate() {
                    t.insert(id.0.as_slice(), position_key(1, i as u32).as_slice()).expect("insert");
                }
                tx.open_table(META).expect("meta").insert(META_LAYOUT, 8u64.to_be_bytes().as_slice()).expect("layout");
            }
            tx.commit().expect("commit");
        }
        {
            // The index file beside it comes from a later ledger (a layout-8 backup restored).
            let index = Database::create(RedbStore::index_path(&path)).expect("index");
            let tx = index.begin_write().expect("write");
            tx.open_table(TX_INDEX).expect("t").insert([7u8; 32].as_slice(), position_key(5, 0).as_slice()).expect("i");
            let meta: TableDefinition<&str, u64> = TableDefinition::new("index_meta");
            tx.open_table(meta).expect("m").insert(META_HEIGHT, 5).expect("h");
            tx.commit().expect("commit");
        }
        let s = RedbStore::open(&path).expect("upgrade");
        assert_eq!(s.tx_location(&Hash([7; 32])).expect("lookup"), None, "the later ledger's entries are gone");
        assert_eq!(s.tx_location(&txs[1].id()).expect("lookup"), Some(TxLocation { height: 1, index: 1 }));
        assert_eq!(s.index.height(), 1);
        let tx = s.db.begin_read().expect("read");
        assert!(tx.open_table(TX_INDEX).is_err(), "the ledger no longer holds the index");
        assert_eq!(layout_of(&s), LAYOUT_VERSION);
    }

    fn layout_of(s: &RedbStore) -> u64 {
        let tx = s.db.begin_read().expect("read");
        RedbStore::meta_u64(&tx.open_table(META).expect("meta"), META_LAYOUT).expect("layout")
    }

    #[test]
    fn a_database_of_another_layout_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        {
            let s = RedbStore::open(&path).expect("open");
            s.write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
            let tx = s.db.begin_write().expect("write");
            tx.open_table(META).expect("meta").insert(META_LAYOUT, 1u64.to_be_bytes().as_slice()).expect("insert");
            tx.commit().expect("commit");
        }
        match RedbStore::open(&path) {
            Err(e @ StorageError::Layout { found: 1, expected: LAYOUT_VERSION }) => {
                assert!(e.to_string().contains("new data directory"), "{e}");
            }
            other => panic!("expected a layout error, got {:?}", other.map(|_| ())),
        }
        // A new database takes this build's layout, and reopens.
        let fresh = dir.path().join("fresh");
        RedbStore::open(&fresh).expect("create").write_genesis(Hash::ZERO, vec![], vec![]).expect("genesis");
        RedbStore::open(&fresh).expect("reopen");
    }
}
