//! The pipelined commit (issue 15, item 2; `docs/architecture.md`, "Pipelined commit").
//!
//! A decided block is handed to a writer thread, which writes it in one atomic, durable
//! transaction, while the node already builds or validates the next block on top of it. Until
//! the write returns, [`Overlay`] serves the block's state nodes, values, transactions and
//! header from memory to the chain's own reads; the API, the mempool and the audit log read the
//! durable store only, so nobody outside sees a block before it is on disk.
//!
//! Two rules keep this safe:
//! - at most one block is in flight: committing the next one waits for the previous write;
//! - no vote or signature for height h+1 leaves the node before h is durable: the consensus
//!   host waits for [`Overlay::wait_durable`] before it returns a proposal or a validation,
//!   and the one-validator producer before it signs. A crash therefore never loses a block this
//!   node has built on.
//!
//! Receipts reach waiting clients, and blocks the subscribers, once the block is durable.
//!
//! The index of transaction ids is a file of its own (ADR 0018): once a block is durable in the
//! ledger, an indexer thread indexes its ids while the writer already writes the next block.
//! Until then the overlay keeps answering for the block's transactions from memory, and its
//! receipts go out only once it is indexed, so the API finds every transaction it announced.

use std::{collections::VecDeque, sync::Arc};

use fdl_crypto::Hash;
use fdl_node_api::CommittedBlock;
use fdl_storage::{
    AuditWrite, BlockWrite, PruneProgress, StaleNode, StateNode, StateValue, StorageError, Store, TxLocation, ValueAt,
};
use fdl_types::{Block, BlockHeader, Commit, Receipt};
use parking_lot::{Condvar, Mutex, RwLock};

/// A decided block on its way to the disk, with everything its write needs.
pub(crate) struct PendingBlock {
    /// The block, its hash and receipts (what subscribers receive).
    pub committed: Arc<CommittedBlock>,
    /// Its commit certificate.
    pub commit: Commit,
    /// New state-tree nodes, sorted by key (shared with [`Overlay`]'s recent nodes once
    /// durable).
    pub nodes: Arc<[StateNode]>,
    /// New state values, sorted by key hash (one per key in a block).
    pub values: Vec<StateValue>,
    /// The tree nodes this block makes stale (for pruning).
    pub stale: Vec<StaleNode>,
    /// Audit records.
    pub audit: Vec<AuditWrite>,
    /// Ordered-index writes (ADR 0013).
    pub ordered_keys: Vec<(Vec<u8>, bool)>,
    /// Transaction id → position in the block.
    tx_index: std::collections::HashMap<Hash, u32>,
}

impl PendingBlock {
    /// Prepares a block for the writer: sorts its state writes (for lookups here, and sequential
    /// inserts in the store) and indexes its transactions.
    pub(crate) fn new(
        committed: Arc<CommittedBlock>,
        commit: Commit,
        (mut nodes, mut values, stale): (Vec<StateNode>, Vec<StateValue>, Vec<StaleNode>),
        audit: Vec<AuditWrite>,
        ordered_keys: Vec<(Vec<u8>, bool)>,
    ) -> Self {
        nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        values.sort_unstable_by_key(|v| (v.0, v.1));
        let tx_index = committed
            .block
            .txs
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        PendingBlock { committed, commit, nodes: nodes.into(), values, stale, audit, ordered_keys, tx_index }
    }

    fn height(&self) -> u64 {
        self.committed.block.header.height
    }
}

/// What the writer does once a block is durable (tell the mempool, the metrics, subscribers).
pub(crate) type AfterWrite = Box<dyn FnOnce(&PendingBlock) + Send>;

struct Job {
    block: Arc<PendingBlock>,
    after: AfterWrite,
}

/// The writer's state, shared with waiters.
#[derive(Default)]
struct Progress {
    /// A block handed over and not yet durable.
    in_flight: bool,
    /// Durable blocks whose transaction ids are not yet indexed.
    indexing: usize,
    /// The first write failure: the node must stop.
    failed: Option<String>,
}

/// Durable blocks whose state-tree nodes [`Overlay`] keeps serving from memory.
///
/// Building a block reads the tree's path to every key it writes, and on a busy chain most of
/// those nodes were written by the last few blocks (the upper levels by every block). Read from
/// the store, each is a B-tree look-up and a copy whose cost grows with the database (on an
/// archive node it never stops growing). A node never changes once its block is durable (its
/// key holds its version, [`fdl_state::node_key_version`]), so serving it from memory is exact;
/// only durable blocks are kept, never a block still being decided or written.
/// A block of 5,000 transfers writes about 4,000 leaves (about 100 bytes each) and a few hundred
/// internal nodes (up to about 700): about a megabyte per block, with the allocations.
pub(crate) const RECENT_NODE_BLOCKS: usize = 8;

/// The durable store, with the block being written served from memory (see the module docs).
pub(crate) struct Overlay {
    durable: Arc<dyn Store>,
    pending: RwLock<Option<Arc<PendingBlock>>>,
    /// The state-tree nodes of the last [`RECENT_NODE_BLOCKS`] durable blocks, newest first,
    /// with their heights.
    recent: RwLock<VecDeque<(u64, Arc<[StateNode]>)>>,
    /// Durable blocks waiting for the indexer, oldest first (at most two or three).
    indexing: RwLock<VecDeque<Arc<PendingBlock>>>,
    progress: Mutex<Progress>,
    idle: Condvar,
    jobs: std::sync::mpsc::SyncSender<Job>,
    index_jobs: std::sync::mpsc::SyncSender<Job>,
}

impl Overlay {
    /// An overlay over `durable`, with its writer thread (which stops when the overlay is
    /// dropped).
    pub(crate) fn new(durable: Arc<dyn Store>) -> Arc<Self> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(1);
        let (index_jobs, index_rx) = std::sync::mpsc::sync_channel::<Job>(1);
        let overlay = Arc::new(Overlay {
            durable,
            pending: RwLock::new(None),
            recent: RwLock::new(VecDeque::with_capacity(RECENT_NODE_BLOCKS)),
            indexing: RwLock::new(VecDeque::new()),
            progress: Mutex::new(Progress::default()),
            idle: Condvar::new(),
            jobs,
            index_jobs,
        });
        Self::spawn_worker(&overlay, "fdl-block-writer", rx, Overlay::write, true);
        Self::spawn_worker(&overlay, "fdl-tx-indexer", index_rx, Overlay::index, false);
        overlay
    }

    /// Starts the thread `name` running `work` on each job until the overlay is dropped; a panic
    /// in it is a write failure (`writer`: of the block writer) and ends the thread.
    fn spawn_worker(
        overlay: &Arc<Self>,
        name: &'static str,
        rx: std::sync::mpsc::Receiver<Job>,
        work: fn(&Overlay, Job),
        writer: bool,
    ) {
        let weak = Arc::downgrade(overlay);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let Some(me) = weak.upgrade() else { return };
                    let height = job.block.height();
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&me, job))).is_err() {
                        me.fail(height, &format!("{name} panicked"), writer);
                        return;
                    }
                }
            })
            .expect("invariant: the OS can start the node's writer threads at startup");
    }

    fn write(&self, job: Job) {
        let b = job.block.clone();
        // Queued for the indexer before the write, so that `announced_height` stays below it
        // from the moment the ledger holds it until the mempool is told.
        self.indexing.write().push_back(b.clone());
        self.progress.lock().indexing += 1;
        let result = self.durable.write_ledger(BlockWrite {
            block: &b.committed.block,
            block_hash: b.committed.hash,
            commit: &b.commit,
            receipts: &b.committed.receipts,
            state_nodes: &b.nodes,
            state_values: &b.values,
            stale_nodes: &b.stale,
            audit: &b.audit,
            ordered_keys: &b.ordered_keys,
        });
        match result {
            Ok(()) => {
                {
                    let mut recent = self.recent.write();
                    recent.truncate(RECENT_NODE_BLOCKS - 1);
                    recent.push_front((b.height(), b.nodes.clone()));
                }
                // On disk: readers may go there now, but for its transactions by id, which the
                // overlay keeps answering until the indexer is done.
                *self.pending.write() = None;
                self.progress.lock().in_flight = false;
                self.idle.notify_all();
                if self.index_jobs.send(job).is_err() {
                    self.fail(b.height(), "the transaction indexer stopped", true);
                }
            }
            Err(e) => self.fail(b.height(), &e.to_string(), true),
        }
    }

    fn index(&self, job: Job) {
        let b = &job.block;
        let ids: Vec<Hash> = b.committed.block.txs.iter().map(fdl_types::SignedTx::id).collect();
        match self.durable.index_txs(b.height(), &ids) {
            Ok(()) => {
                // Announced first, then out of the overlay: `announced_height` never runs ahead
                // of what the mempool was told.
                (job.after)(b);
                self.indexing.write().pop_front();
                self.progress.lock().indexing -= 1;
                self.idle.notify_all();
            }
            Err(e) => self.fail(b.height(), &format!("indexing its transactions: {e}"), false),
        }
    }

    /// Records a write failure: the node must stop. Only the writer (`writer`) ends the block in
    /// flight: an indexer failure leaves a ledger write in progress to finish.
    fn fail(&self, height: u64, error: &str, writer: bool) {
        tracing::error!(height, error, "writing a decided block failed");
        let mut p = self.progress.lock();
        if p.failed.is_none() {
            p.failed = Some(format!("writing block {height}: {error}"));
        }
        if writer {
            p.in_flight = false;
        }
        drop(p);
        self.idle.notify_all();
    }

    /// Waits until every block handed over is durable and indexed, and its receipts announced
    /// (before the node stops).
    ///
    /// # Errors
    /// The write failure, if one happened.
    pub(crate) fn wait_settled(&self) -> Result<(), StorageError> {
        let mut p = self.progress.lock();
        while (p.in_flight || p.indexing > 0) && p.failed.is_none() {
            self.idle.wait(&mut p);
        }
        match &p.failed {
            Some(e) => Err(StorageError::Db(e.clone())),
            None => Ok(()),
        }
    }

    /// Waits until no block is in flight: every block handed over is durable.
    ///
    /// # Errors
    /// The write failure, if one happened (the node must stop).
    pub(crate) fn wait_durable(&self) -> Result<(), StorageError> {
        let mut p = self.progress.lock();
        while p.in_flight && p.failed.is_none() {
            self.idle.wait(&mut p);
        }
        match &p.failed {
            Some(e) => Err(StorageError::Db(e.clone())),
            None => Ok(()),
        }
    }

    /// Hands a decided block to the writer, after the previous one is durable; `after` runs on
    /// the writer thread once this one is.
    ///
    /// # Errors
    /// An earlier write failure.
    pub(crate) fn submit(&self, block: PendingBlock, after: AfterWrite) -> Result<(), StorageError> {
        self.wait_durable()?;
        let block = Arc::new(block);
        *self.pending.write() = Some(block.clone());
        self.progress.lock().in_flight = true;
        if self.jobs.send(Job { block, after }).is_err() {
            let mut p = self.progress.lock();
            p.in_flight = false;
            p.failed = Some("the block writer stopped".into());
            return Err(StorageError::Db("the block writer stopped".into()));
        }
        Ok(())
    }

    /// The latest height whose block is durable, indexed and announced to the mempool (its
    /// transactions are out of the pool's bookkeeping).
    ///
    /// # Errors
    /// The store's failure.
    pub(crate) fn announced_height(&self) -> Result<u64, StorageError> {
        match self.indexing.read().front() {
            Some(b) => Ok(b.height().saturating_sub(1)),
            None => self.durable.latest_height(),
        }
    }

    fn pending(&self) -> Option<Arc<PendingBlock>> {
        self.pending.read().clone()
    }

    /// The block in flight or waiting for the indexer that holds transaction `id`, and its
    /// position there.
    fn unindexed(&self, id: &Hash) -> Option<(Arc<PendingBlock>, u32)> {
        if let Some(p) = self.pending()
            && let Some(&index) = p.tx_index.get(id)
        {
            return Some((p, index));
        }
        let q = self.indexing.read();
        q.iter().find_map(|b| b.tx_index.get(id).map(|&i| (b.clone(), i)))
    }

    /// Reads that the overlay does not serve wait for the block in flight, then read the disk.
    fn settled(&self) -> Result<&dyn Store, StorageError> {
        self.wait_durable()?;
        Ok(self.durable.as_ref())
    }
}

impl Store for Overlay {
    fn latest_height(&self) -> Result<u64, StorageError> {
        match self.pending() {
            Some(p) => Ok(p.height()),
            None => self.durable.latest_height(),
        }
    }

    fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        match self.pending() {
            Some(p) if p.height() == height => Ok(Some(p.committed.block.clone())),
            _ => self.durable.block(height),
        }
    }

    fn block_header(&self, height: u64) -> Result<Option<BlockHeader>, StorageError> {
        match self.pending() {
            Some(p) if p.height() == height => Ok(Some(p.committed.block.header.clone())),
            _ => self.durable.block_header(height),
        }
    }

    fn commit(&self, height: u64) -> Result<Option<Commit>, StorageError> {
        match self.pending() {
            Some(p) if p.height() == height => Ok(Some(p.commit.clone())),
            _ => self.durable.commit(height),
        }
    }

    fn height_of_block(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        match self.pending() {
            Some(p) if p.committed.hash == *hash => Ok(Some(p.height())),
            _ => self.durable.height_of_block(hash),
        }
    }

    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError> {
        if let Some((b, index)) = self.unindexed(id) {
            return Ok(Some(TxLocation { height: b.height(), index }));
        }
        self.durable.tx_location(id)
    }

    fn tx_locations(&self, ids: &[Hash]) -> Result<Vec<Option<TxLocation>>, StorageError> {
        let mut out: Vec<Option<TxLocation>> = ids
            .iter()
            .map(|id| self.unindexed(id).map(|(b, index)| TxLocation { height: b.height(), index }))
            .collect();
        let rest: Vec<Hash> = ids.iter().zip(&out).filter(|(_, l)| l.is_none()).map(|(id, _)| *id).collect();
        let mut found = self.durable.tx_locations(&rest)?.into_iter();
        for l in out.iter_mut().filter(|l| l.is_none()) {
            *l = found.next().flatten();
        }
        Ok(out)
    }

    fn receipt(&self, id: &Hash) -> Result<Option<Receipt>, StorageError> {
        if let Some((b, index)) = self.unindexed(id) {
            return Ok(b.committed.receipts.get(index as usize).cloned());
        }
        self.durable.receipt(id)
    }

    fn write_ledger(&self, write: BlockWrite<'_>) -> Result<(), StorageError> {
        self.wait_settled()?;
        self.durable.write_ledger(write)
    }

    fn index_txs(&self, height: u64, ids: &[Hash]) -> Result<(), StorageError> {
        self.wait_settled()?;
        self.durable.index_txs(height, ids)
    }

    fn write_genesis(
        &self,
        genesis_hash: Hash,
        nodes: Vec<StateNode>,
        values: Vec<StateValue>,
    ) -> Result<(), StorageError> {
        self.settled()?.write_genesis(genesis_hash, nodes, values)
    }

    fn genesis_hash(&self) -> Result<Option<Hash>, StorageError> {
        self.durable.genesis_hash()
    }

    fn state_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let find = |nodes: &[StateNode]| {
            nodes.binary_search_by(|(k, _)| k.as_slice().cmp(key)).ok().map(|i| nodes[i].1.clone())
        };
        if let Some(p) = self.pending()
            && let Some(node) = find(&p.nodes)
        {
            return Ok(Some(node));
        }
        // Only the block of the node's version can hold it: one look-up, and none for an older
        // node.
        if let Some(version) = fdl_state::node_key_version(key)
            && let Some(node) =
                self.recent.read().iter().find(|(h, _)| *h == version).and_then(|(_, nodes)| find(nodes))
        {
            return Ok(Some(node));
        }
        self.durable.state_node(key)
    }

    fn state_value(&self, key_hash: &[u8; 32], max_version: u64) -> Result<ValueAt, StorageError> {
        if let Some(p) = self.pending()
            && max_version >= p.height()
        {
            // The block's own write is the newest version at or below `max_version`.
            let hit = p.values.partition_point(|(kh, _, _)| kh < key_hash);
            if let Some((kh, _, v)) = p.values.get(hit)
                && kh == key_hash
            {
                return Ok(ValueAt::Found(v.clone()));
            }
            // Not written by the block in flight: its newest version is at most the height
            // below it, which the store's cache of newest values can answer (it only answers
            // up to what the store has committed).
            return self.durable.state_value(key_hash, p.height().saturating_sub(1));
        }
        self.durable.state_value(key_hash, max_version)
    }

    fn state_value_at(&self, key_hash: &[u8; 32], leaf_version: u64) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(p) = self.pending()
            && leaf_version == p.height()
        {
            let hit = p.values.partition_point(|(kh, _, _)| kh < key_hash);
            if let Some((kh, _, v)) = p.values.get(hit)
                && kh == key_hash
            {
                return Ok(v.clone());
            }
        }
        self.durable.state_value_at(key_hash, leaf_version)
    }

    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>, version: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.settled()?.next_key(prefix, after, version)
    }

    fn audit(&self, from: u64, to: u64, visit: &mut dyn FnMut(u64, &[u8]) -> bool) -> Result<(), StorageError> {
        self.settled()?.audit(from, to, visit)
    }

    fn audit_by_key(
        &self,
        key: &[u8],
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.settled()?.audit_by_key(key, from, to, visit)
    }

    fn append_local_audit(&self, records: &[(u64, AuditWrite)], keep: u64) -> Result<(), StorageError> {
        self.durable.append_local_audit(records, keep)
    }

    fn prune(&self, keep_from: u64, budget: usize) -> Result<PruneProgress, StorageError> {
        self.durable.prune(keep_from, budget)
    }

    fn oldest_version(&self) -> u64 {
        self.durable.oldest_version()
    }

    fn local_audit(
        &self,
        key: Option<&[u8]>,
        from_ms: u64,
        to_ms: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.durable.local_audit(key, from_ms, to_ms, visit)
    }
}
