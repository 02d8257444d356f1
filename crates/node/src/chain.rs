//! The chain: builds blocks from transactions and commits them atomically.

use std::{
    collections::HashSet,
    sync::{Arc, atomic::Ordering},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use fdl_consensus::ValidatorKey;
use fdl_crypto::{Hash, Signer};
use fdl_exec::{
    ExecError,
    block_rules::{self, BlockContext, BlockInvalid},
    check_tx_for_block, execute_block, genesis_writes,
};
use fdl_mempool::Mempool;
use fdl_node_api::{ChainParts, CommittedBlock, Ledger, Metrics};
use fdl_state::{StateAt, StateDb};
use fdl_storage::{AuditWrite, StaleNode, StateNode, StateValue, Store};
use fdl_types::{
    Block, BlockHeader, ChainParams, Commit, CommitSig, Event, Genesis, NodeSpec, Receipt, SignedTx,
    api::{AuditView, is_audit_kind},
};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::{
    NodeError,
    pipeline::{Overlay, PendingBlock},
};

/// Why a proposed block was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BlockRefused {
    /// The block breaks a rule; the proposer is at fault.
    #[error(transparent)]
    Invalid(#[from] BlockInvalid),
    /// A local failure: the node stops.
    #[error("{0}")]
    Fatal(NodeError),
}

/// A block built and executed but not yet committed.
#[derive(Debug)]
pub struct ProposedBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: Hash,
    /// Its receipts.
    pub receipts: Vec<Receipt>,
    /// Events of the block's end (governance applied), for the audit log.
    pub block_events: Vec<Event>,
    state_nodes: Vec<StateNode>,
    state_values: Vec<StateValue>,
    /// The tree nodes the block makes stale, for pruning.
    stale_nodes: Vec<StaleNode>,
    /// The block's writes to contract storage, for the ordered index (ADR 0013).
    ordered_keys: Vec<(Vec<u8>, bool)>,
}

/// The writes of a block that the ordered index keeps: contract storage keys.
fn ordered_keys(writes: &std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    for prefix in fdl_schema::keys::ORDERED_PREFIXES {
        out.extend(
            writes
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.is_some())),
        );
    }
    out
}

struct Tip {
    height: u64,
    hash: Hash,
    timestamp_ms: u64,
}

/// The chain a node keeps: the store, the state and the tip.
pub struct Chain {
    genesis: Arc<Genesis>,
    /// The durable store seen through the block being written (see `pipeline`).
    store: Arc<dyn Store>,
    overlay: Arc<Overlay>,
    state: StateDb,
    mempool: Arc<Mempool>,
    blocks: broadcast::Sender<Arc<CommittedBlock>>,
    metrics: Arc<Metrics>,
    signer: ValidatorKey,
    tip: Mutex<Tip>,
    /// The active node sets of recent state versions.
    nodes_cache: Mutex<Vec<(u64, Vec<NodeSpec>)>>,
}

/// The genesis document's hash, which a data directory is bound to ([`Genesis::hash`]).
pub fn genesis_hash(g: &Genesis) -> Hash {
    g.hash()
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Chain {
    /// Opens the chain over `store`, writing genesis state on first start and checking on every
    /// start that the data directory belongs to this genesis and that the stored state root
    /// matches the latest header.
    ///
    /// # Errors
    /// [`NodeError::Genesis`] for a foreign data directory, [`NodeError::Invariant`] for a state
    /// root mismatch, storage errors.
    pub fn open(parts: ChainParts, signer: Arc<dyn Signer>) -> Result<Self, NodeError> {
        Self::open_with(parts, ValidatorKey::Local(signer))
    }

    /// [`Chain::open`] with the validator's key local or held by a remote signer.
    ///
    /// # Errors
    /// As [`Chain::open`].
    pub fn open_with(parts: ChainParts, signer: ValidatorKey) -> Result<Self, NodeError> {
        let ChainParts { genesis, store, state, mempool, blocks, metrics } = parts;
        let gh = genesis_hash(&genesis);
        match store.genesis_hash()? {
            None => {
                let writes = genesis_writes(&genesis)?;
                let p = state.prepare(&writes, 0)?;
                store.write_genesis(gh, p.nodes, p.values)?;
                tracing::info!(genesis = %gh, "genesis state written");
            }
            Some(stored) if stored != gh => {
                return Err(NodeError::Genesis(format!("the data directory belongs to genesis {stored}, not {gh}")));
            }
            Some(_) => {}
        }
        let height = store.latest_height()?;
        let tip = if height == 0 {
            Tip { height: 0, hash: Hash::ZERO, timestamp_ms: genesis.genesis_time_ms }
        } else {
            let b = store.block(height)?.ok_or_else(|| NodeError::Invariant(format!("block {height} missing")))?;
            let root = state.root(height)?;
            if root != b.header.state_root {
                return Err(NodeError::Invariant(format!(
                    "state root at {height} is {root}, header says {}",
                    b.header.state_root
                )));
            }
            Tip { height, hash: b.header.hash(genesis.suite), timestamp_ms: b.header.timestamp_ms }
        };
        metrics.height.store(tip.height, Ordering::Relaxed);
        let overlay = Overlay::new(store);
        let store: Arc<dyn Store> = overlay.clone();
        let state = StateDb::new(store.clone(), state.suite());
        Ok(Chain {
            genesis,
            store,
            overlay,
            state,
            mempool,
            blocks,
            metrics,
            signer,
            tip: Mutex::new(tip),
            nodes_cache: Mutex::new(Vec::new()),
        })
    }

    /// The latest committed height.
    pub fn height(&self) -> u64 {
        self.tip.lock().height
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The mempool.
    pub fn mempool(&self) -> &Arc<Mempool> {
        &self.mempool
    }

    /// Builds and executes the next block from `candidates`, dropping any that are not valid at
    /// that height (expired, already included, duplicated). Signatures were checked at admission.
    ///
    /// # Errors
    /// Fatal store or state errors.
    pub fn build_block(&self, candidates: Vec<SignedTx>) -> Result<ProposedBlock, NodeError> {
        let (parent_height, parent_hash, parent_ts) = {
            let t = self.tip.lock();
            (t.height, t.hash, t.timestamp_ms)
        };
        let height = parent_height + 1;
        let mut seen = HashSet::with_capacity(candidates.len());
        let mut txs = Vec::with_capacity(candidates.len());
        let mut dropped = Vec::new();
        let params = self.params_at(parent_height)?;
        let announced = self.overlay.announced_height()?;
        let (mut code_txs, mut deferred) = (0usize, Vec::new());
        // One read of the index for the whole batch, in key order.
        let ids: Vec<Hash> = candidates.iter().map(SignedTx::id).collect();
        let locations = self.store.tx_locations(&ids)?;
        for ((tx, id), included) in candidates.into_iter().zip(ids).zip(locations) {
            if tx.body.payload.carries_code() {
                if code_txs == fdl_exec::MAX_CODE_TXS_PER_BLOCK {
                    deferred.push(tx);
                    continue;
                }
                code_txs += 1;
            }
            let len = tx.encoded().len();
            let valid = check_tx_for_block(&tx, len, &self.genesis, &params, height).is_ok()
                && !seen.contains(&id)
                && included.is_none();
            if valid {
                seen.insert(id);
                txs.push(tx);
            } else if included.is_some_and(|l| l.height > announced) {
                // In the block being written: its commit clears it from the pool and answers
                // its waiters.
            } else if !seen.contains(&id) {
                // A duplicate of an included transaction keeps its id: the block's commit clears it.
                dropped.push(id);
            }
        }
        self.mempool.forget(&dropped);
        if !deferred.is_empty() {
            self.mempool.put_back(deferred);
        }
        let timestamp_ms = now_ms().max(parent_ts);
        let view = self.state.at(parent_height);
        let outcome = execute_block(&view, height, timestamp_ms, &txs)?;
        let prepared = self.state.prepare(&outcome.writes, height)?;
        let state_root = prepared.root;
        let suite = self.genesis.suite;
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            parent_hash,
            timestamp_ms,
            proposer: self.signer.public_key().address(),
            tx_count: u32::try_from(txs.len()).map_err(|_| NodeError::Invariant("too many txs".into()))?,
            tx_root: Block::compute_tx_root(suite, &txs),
            state_root,
            receipts_root: Block::compute_receipts_root(suite, &outcome.receipts),
        };
        let hash = header.hash(suite);
        Ok(ProposedBlock {
            block: Block { header, txs },
            hash,
            ordered_keys: ordered_keys(&outcome.writes),
            receipts: outcome.receipts,
            block_events: outcome.block_events,
            state_nodes: prepared.nodes,
            state_values: prepared.values,
            stale_nodes: prepared.stale,
        })
    }

    /// Validates a block another validator proposed for the next height: its header links to
    /// the tip, a validator built it, every transaction is valid at that height (signatures were
    /// checked by the caller), and re-executing it gives the roots its header claims. Returns
    /// the executed block, ready for [`Chain::commit_block`].
    ///
    /// # Errors
    /// [`BlockRefused::Invalid`] with the rule broken; [`BlockRefused::Fatal`] for store or state
    /// failures.
    pub fn validate_block(&self, block: Block) -> Result<ProposedBlock, BlockRefused> {
        let (parent_height, parent_hash, parent_ts) = {
            let t = self.tip.lock();
            (t.height, t.hash, t.timestamp_ms)
        };
        let fatal = |e: ExecError| BlockRefused::Fatal(e.into());
        let nodes = self.nodes_at(parent_height).map_err(fatal)?;
        let params = self.params_at(parent_height).map_err(fatal)?;
        let ctx = BlockContext {
            genesis: &self.genesis,
            parent_height,
            parent_hash,
            parent_time_ms: parent_ts,
            nodes: &nodes,
            params: &params,
            now_ms: now_ms(),
        };
        // One read of the index for the whole block, in key order.
        let ids: Vec<Hash> = block.txs.iter().map(SignedTx::id).collect();
        let included: HashSet<Hash> = self
            .store
            .tx_locations(&ids)
            .map_err(|e| BlockRefused::Fatal(e.into()))?
            .into_iter()
            .zip(&ids)
            .filter_map(|(l, id)| l.map(|_| *id))
            .collect();
        let on_chain = |id: &Hash| Ok(included.contains(id));
        let outcome =
            block_rules::check_and_execute(&ctx, &self.state.at(parent_height), &block, &on_chain).map_err(fatal)??;
        let h = &block.header;
        let suite = self.genesis.suite;
        let prepared = self.state.prepare(&outcome.writes, h.height).map_err(|e| BlockRefused::Fatal(e.into()))?;
        block_rules::check_roots(suite, &block, prepared.root, &outcome)?;
        let hash = h.hash(suite);
        Ok(ProposedBlock {
            block,
            hash,
            ordered_keys: ordered_keys(&outcome.writes),
            receipts: outcome.receipts,
            block_events: outcome.block_events,
            state_nodes: prepared.nodes,
            state_values: prepared.values,
            stale_nodes: prepared.stale,
        })
    }

    /// The hash of the latest committed block (zero before the first).
    pub fn tip_hash(&self) -> Hash {
        self.tip.lock().hash
    }

    /// Builds the next block as `build_block` does, after taking up to a block's worth of
    /// transactions from the mempool. Transactions not included go back when the block is not
    /// decided (see [`Chain::return_txs`]).
    ///
    /// # Errors
    /// Fatal store or state errors.
    pub fn build_next(&self) -> Result<ProposedBlock, NodeError> {
        let max = self.mempool.params().max_block_txs as usize;
        let txs = self.mempool.take_batch(max, self.height() + 1);
        self.build_block(txs)
    }

    /// Returns a proposed but undecided block's transactions to the mempool.
    pub fn return_txs(&self, p: ProposedBlock) {
        self.mempool.put_back(p.block.txs);
    }

    /// The active node set (validators and observers with a current, unrevoked certificate) in
    /// force after block `version`, i.e. the set that decides block `version + 1`.
    ///
    /// # Errors
    /// Store failure or corrupt state.
    pub fn nodes_at(&self, version: u64) -> Result<Vec<NodeSpec>, ExecError> {
        // Consensus asks several times per height; a state version never changes once written.
        if let Some((_, n)) = self.nodes_cache.lock().iter().find(|(v, _)| *v == version) {
            return Ok(n.clone());
        }
        // The tip is read first: a version above it may still change, and must not be cached.
        let tip = self.height();
        let nodes = fdl_exec::gov::active_nodes(&self.state.at(version))?;
        if version <= tip {
            let mut c = self.nodes_cache.lock();
            if c.len() >= 8 {
                c.remove(0);
            }
            c.push((version, nodes.clone()));
        }
        Ok(nodes)
    }

    /// The chain parameters in force after block `version`.
    ///
    /// # Errors
    /// Store failure or corrupt state.
    pub fn params_at(&self, version: u64) -> Result<ChainParams, ExecError> {
        fdl_exec::gov::params(&self.state.at(version))
    }

    /// A read view of the state after block `version`.
    pub fn view_at(&self, version: u64) -> StateAt<'_> {
        self.state.at(version)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Signs the one-validator commit for a proposed block (a precommit for it in round 0;
    /// through a remote signer, a typed precommit request). Blocking.
    ///
    /// # Errors
    /// [`NodeError::Key`] if the signer fails or refuses.
    pub fn sign_commit(&self, p: &ProposedBlock) -> Result<Commit, NodeError> {
        let signature = self
            .signer
            .sign_precommit_blocking(&self.genesis.chain_id, p.block.header.height, 0, &p.hash)
            .map_err(|e| NodeError::Key(e.to_string()))?;
        Ok(Commit {
            height: p.block.header.height,
            round: 0,
            block_hash: p.hash,
            signatures: vec![CommitSig { validator: self.signer.public_key(), signature }],
        })
    }

    /// Waits until every committed block is on disk (see `pipeline`): before this node signs or
    /// votes for anything on top of them, and before it stops.
    ///
    /// # Errors
    /// The failure of a block's write (fatal).
    pub fn wait_durable(&self) -> Result<(), NodeError> {
        Ok(self.overlay.wait_durable()?)
    }

    /// Waits until every committed block is durable and indexed and its receipts announced (what
    /// a stopping node waits for).
    ///
    /// # Errors
    /// The write failure, if one happened.
    pub fn wait_settled(&self) -> Result<(), NodeError> {
        Ok(self.overlay.wait_settled()?)
    }

    /// Commits a block and its certificate: the tip moves at once and the block is handed to the
    /// writer, which writes it in one atomic, durable transaction while the next block is built
    /// on it (the pipelined commit, `pipeline`); once it is durable, the mempool, the metrics and
    /// the subscribers are told. Waits first for the previous block's write.
    ///
    /// # Errors
    /// Fatal storage errors (of this write's predecessor); [`NodeError::Invariant`] if the block
    /// does not extend the tip.
    pub fn commit_block(&self, p: ProposedBlock, commit: Commit, started: Instant) -> Result<(), NodeError> {
        self.overlay.wait_durable()?;
        let mut tip = self.tip.lock();
        if p.block.header.height != tip.height + 1 || p.block.header.parent_hash != tip.hash {
            return Err(NodeError::Invariant(format!(
                "block {} does not extend the tip {}",
                p.block.header.height, tip.height
            )));
        }
        let audit = audit_records(&p);
        let height = p.block.header.height;
        let (hash, timestamp_ms) = (p.hash, p.block.header.timestamp_ms);
        // Transactions of this block still queued here (another proposer's block) are not
        // taken again for the next one.
        self.mempool.on_included(&p.block.txs);
        let committed = Arc::new(CommittedBlock { block: p.block, hash: p.hash, receipts: p.receipts });
        let pending =
            PendingBlock::new(committed, commit, (p.state_nodes, p.state_values, p.stale_nodes), audit, p.ordered_keys);
        let (mempool, metrics, blocks) = (self.mempool.clone(), self.metrics.clone(), self.blocks.clone());
        self.overlay.submit(
            pending,
            Box::new(move |b| {
                let txs = b.committed.block.txs.len() as u64;
                mempool.on_committed(height, &b.committed.receipts);
                metrics.height.store(height, Ordering::Relaxed);
                metrics.blocks_committed.fetch_add(1, Ordering::Relaxed);
                metrics.txs_committed.fetch_add(txs, Ordering::Relaxed);
                metrics.last_block_txs.store(txs, Ordering::Relaxed);
                metrics.last_block_commit_us.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                tracing::debug!(height, txs, hash = %b.committed.hash, "block committed");
                let _ = blocks.send(b.committed.clone());
            }),
        )?;
        *tip = Tip { height, hash, timestamp_ms };
        Ok(())
    }
}

/// The audit records of a block (STD-13.4): its transactions' identity, account, permission and
/// governance events, refusals included, then the events of its end.
fn audit_records(p: &ProposedBlock) -> Vec<AuditWrite> {
    let h = &p.block.header;
    let mut out = Vec::new();
    let mut push = |v: AuditView| {
        out.push(AuditWrite {
            keys: v.index_keys(),
            record: serde_json::to_vec(&v).expect("invariant: audit records serialize"),
        });
    };
    for r in &p.receipts {
        for e in r.events.iter().filter(|e| is_audit_kind(&e.kind)) {
            push(AuditView::of_event(h.height, h.timestamp_ms, Some(r.tx_id), Some(r.status.as_str()), e));
        }
    }
    for e in p.block_events.iter().filter(|e| is_audit_kind(&e.kind)) {
        push(AuditView::of_event(h.height, h.timestamp_ms, None, None, e));
    }
    out
}

impl Ledger for Chain {
    /// The API's read: it keeps its own cache, and its reads of arbitrary heights must not push
    /// out of this chain's cache the sets consensus keeps asking for.
    fn nodes_at(&self, version: u64) -> Result<Vec<NodeSpec>, ExecError> {
        if let Some((_, n)) = self.nodes_cache.lock().iter().find(|(v, _)| *v == version) {
            return Ok(n.clone());
        }
        fdl_exec::gov::active_nodes(&self.state.at(version))
    }

    fn contract_query(
        &self,
        version: u64,
        q: &fdl_node_api::ContractQuery<'_>,
    ) -> Result<fdl_node_api::QueryOutcome, ExecError> {
        let view = self.state.at(version);
        let o = match q.data {
            Some(data) => fdl_exec::contract::evm::query(&view, q.contract, q.version, data, &q.caller, q.fuel)?,
            None => fdl_exec::contract::query(&view, q.contract, q.version, q.method, q.args, &q.caller, q.fuel)?,
        };
        Ok(fdl_node_api::QueryOutcome { status: o.status, output: o.output, events: o.events, fuel_used: o.fuel_used })
    }

    fn contract_check(
        &self,
        version: u64,
        code: &[u8],
    ) -> Result<Result<fdl_node_api::ModuleCheck, (String, String)>, ExecError> {
        let params = self.params_at(version)?;
        Ok(fdl_exec::contract::check_static(code, &params).map(|i| fdl_node_api::ModuleCheck {
            methods: i.methods,
            has_init: i.has_init,
            has_migrate: i.has_migrate,
        }))
    }

    fn evm_cache(&self) -> (u64, u64, usize) {
        let c = fdl_exec::contract::evm::engine().cache_stats();
        (c.hits, c.misses, c.entries)
    }

    fn contract_cache(&self) -> (u64, u64, usize) {
        let c = fdl_exec::contract::engine().cache_stats();
        (c.hits, c.misses, c.entries)
    }

    fn node_set_keys(&self, version: u64) -> Result<Vec<Vec<u8>>, ExecError> {
        let state = self.state.at(version);
        let view = RecordingView { inner: &state, keys: Mutex::new(Vec::new()) };
        fdl_exec::gov::active_nodes(&view)?;
        Ok(view.keys.into_inner())
    }
}

/// A state view that remembers which keys were read (each once, in order).
struct RecordingView<'a> {
    inner: &'a dyn fdl_exec::StateView,
    keys: Mutex<Vec<Vec<u8>>>,
}

impl fdl_exec::StateView for RecordingView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        let mut keys = self.keys.lock();
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_vec());
        }
        drop(keys);
        self.inner.get(key)
    }
}
