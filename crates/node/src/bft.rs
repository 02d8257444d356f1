//! The node's side of BFT consensus: [`fdl_consensus::Ledger`] over [`Chain`], and the mempool
//! gossip that forwards client transactions to the peers' APIs.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use fdl_consensus::{ConsensusEvent, Ledger, LedgerError, PeerAddr};
use fdl_crypto::{Address, Hash, PublicKey};
use fdl_rpc::Metrics;
use fdl_types::{Block, Commit, Decode, Encode, NodeRole, api::EvidenceView};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::{BlockRefused, Chain, NodeError, ProposedBlock, chain::now_ms};

/// How many recent certificates decide whether a validator counts as live.
const LIVENESS_WINDOW: usize = 10;

struct Pending {
    block: ProposedBlock,
    own: bool,
}

/// [`Ledger`] for a node's chain.
pub(crate) struct BftLedger {
    chain: Arc<Chain>,
    metrics: Arc<Metrics>,
    /// The configured peers (addresses of the genesis nodes).
    config_peers: Vec<PeerAddr>,
    /// This node's own network peer id.
    own_peer: String,
    /// The configured propose and vote timeouts.
    config_timeouts: (Duration, Duration),
    pending: Mutex<HashMap<Hash, Pending>>,
    last_commit: Mutex<Instant>,
    recent_signers: Mutex<VecDeque<Vec<Address>>>,
    /// The TLCP tunnel: peers are dialed through their loopback endpoints.
    tunnel: Option<Arc<crate::tunnel::Tunnel>>,
}

impl BftLedger {
    pub(crate) fn new(
        chain: Arc<Chain>,
        metrics: Arc<Metrics>,
        config_peers: Vec<PeerAddr>,
        own_peer: String,
        config_timeouts: (Duration, Duration),
        tunnel: Option<Arc<crate::tunnel::Tunnel>>,
    ) -> Self {
        BftLedger {
            chain,
            metrics,
            config_peers,
            own_peer,
            config_timeouts,
            tunnel,
            pending: Mutex::new(HashMap::new()),
            last_commit: Mutex::new(Instant::now()),
            recent_signers: Mutex::new(VecDeque::new()),
        }
    }

    /// The validators that decide `height`: the set in state after block `height - 1`.
    fn validators_for(&self, height: u64) -> Vec<(PublicKey, u64)> {
        let suite = self.chain.genesis().suite;
        match self.chain.nodes_at(height.saturating_sub(1)) {
            Ok(nodes) => nodes
                .iter()
                .filter(|n| n.role == NodeRole::Validator)
                .filter_map(|n| PublicKey::from_bytes(suite, &n.public_key).ok().map(|k| (k, n.power)))
                .collect(),
            Err(e) => {
                tracing::error!(height, error = %e, "cannot read the validator set");
                Vec::new()
            }
        }
    }

    fn fatal(e: impl std::fmt::Display) -> LedgerError {
        LedgerError::Fatal(e.to_string())
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        tokio::task::spawn_blocking(f).await.map_err(Self::fatal)?.map_err(Self::fatal)
    }

    /// Waits for a batch (see `wait_for_batch`), builds this node's block for `height` with
    /// `build` off the async runtime, and keeps it as pending; returns its hash and encoding.
    async fn propose_built(
        &self,
        height: u64,
        deadline: Instant,
        build: impl FnOnce(&Chain) -> Result<ProposedBlock, NodeError> + Send + 'static,
    ) -> Result<(Hash, Vec<u8>), LedgerError> {
        self.wait_for_batch(deadline).await;
        let chain = self.chain.clone();
        // Built while the previous block is written; offered only once that one is durable.
        let p = Self::blocking(move || {
            let p = build(&chain)?;
            chain.wait_durable()?;
            Ok(p)
        })
        .await?;
        let hash = p.hash;
        let bytes = p.block.encode();
        tracing::debug!(height, txs = p.block.txs.len(), %hash, "proposing");
        self.pending.lock().insert(hash, Pending { block: p, own: true });
        Ok((hash, bytes))
    }

    /// Updates the liveness gauges from the last certificates and warns when the live voting
    /// power falls to the minimum quorum (STD-11.3).
    fn liveness(&self, signers: Vec<Address>) {
        let mut recent = self.recent_signers.lock();
        recent.push_back(signers);
        while recent.len() > LIVENESS_WINDOW {
            recent.pop_front();
        }
        if recent.len() < LIVENESS_WINDOW {
            // Too few certificates yet to tell a down validator from a slow one.
            return;
        }
        let validators = self.validators_for(self.chain.height() + 1);
        let total: u64 = validators.iter().map(|(_, p)| p).sum();
        let live: Vec<u64> = validators
            .iter()
            .filter(|(k, _)| recent.iter().any(|s| s.contains(&k.address())))
            .map(|(_, p)| *p)
            .collect();
        let live_power: u64 = live.iter().sum();
        let weakest = live.iter().copied().min().unwrap_or(0);
        // One more fault among the live validators would leave no quorum.
        let at_min = live_power.saturating_sub(weakest).saturating_mul(3) <= total.saturating_mul(2);
        let m = &self.metrics;
        m.live_power.store(live_power, Ordering::Relaxed);
        m.total_power.store(total, Ordering::Relaxed);
        let was = m.at_min_quorum.swap(u64::from(at_min), Ordering::Relaxed);
        if at_min && was == 0 && validators.len() > 1 {
            tracing::warn!(
                live_power,
                total_power = total,
                "live validators have fallen to the minimum quorum: one more fault stops the chain"
            );
        } else if !at_min && was == 1 {
            tracing::info!(live_power, total_power = total, "live validators are above the minimum quorum again");
        }
    }
}

impl BftLedger {
    /// Waits for a batch: a full block, or transactions and the block interval, or the heartbeat
    /// for an empty block; never past `deadline`.
    async fn wait_for_batch(&self, deadline: Instant) {
        let params = self.chain.mempool().params();
        let interval = Duration::from_millis(params.block_interval_ms);
        let heartbeat = Duration::from_millis(params.empty_block_interval_ms.max(params.block_interval_ms));
        let mempool = self.chain.mempool().clone();
        loop {
            let since = self.last_commit.lock().elapsed();
            let n = mempool.len();
            if n >= params.max_block_txs as usize
                || (n > 0 && since >= interval)
                || since >= heartbeat
                || Instant::now() >= deadline
            {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = mempool.batch_ready() => {}
            }
        }
    }

    /// The index of the first transaction whose signature fails, checking each once per node:
    /// those verified at admission are skipped, the rest go to the verifier pool, or, when client
    /// load keeps that queue full, to a blocking thread (consensus never waits on the API).
    async fn bad_signatures(&self, txs: &[fdl_types::SignedTx]) -> Result<Option<usize>, LedgerError> {
        for _ in 0..20 {
            if let Ok(r) = self.chain.mempool().verify_block_txs(txs).await {
                return Ok(r.bad.first().copied());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let owned = txs.to_vec();
        tokio::task::spawn_blocking(move || owned.iter().position(|t| t.verify().is_err())).await.map_err(Self::fatal)
    }
}

#[async_trait]
impl Ledger for BftLedger {
    fn height(&self) -> u64 {
        self.chain.height()
    }

    fn validators(&self, height: u64) -> Vec<(PublicKey, u64)> {
        self.validators_for(height)
    }

    fn timeouts(&self, height: u64) -> Option<(Duration, Duration)> {
        let p = self.chain.params_at(height.saturating_sub(1)).ok()?;
        let (propose, vote) = (p.propose_timeout_ms, p.vote_timeout_ms);
        (propose > 0 || vote > 0).then(|| {
            let cfg = self.config_timeouts;
            (
                if propose > 0 { Duration::from_millis(propose) } else { cfg.0 },
                if vote > 0 { Duration::from_millis(vote) } else { cfg.1 },
            )
        })
    }

    fn peers(&self) -> Option<Vec<PeerAddr>> {
        let nodes = self.chain.nodes_at(self.chain.height()).ok()?;
        if nodes.iter().all(|n| n.peer_id.is_empty()) {
            return None;
        }
        let mut out = Vec::new();
        for n in nodes.iter().filter(|n| !n.peer_id.is_empty() && n.peer_id != self.own_peer) {
            let addr = n
                .p2p
                .parse()
                .ok()
                .or_else(|| self.config_peers.iter().find(|p| p.peer_id == n.peer_id).map(|p| p.addr));
            let addr = match (&self.tunnel, addr) {
                (Some(t), Some(a)) => t.local_endpoint(&n.peer_id, a).ok(),
                (None, a) => a,
                (_, None) => None,
            };
            if let Some(addr) = addr {
                out.push(PeerAddr { addr, peer_id: n.peer_id.clone() });
            }
        }
        Some(out)
    }

    async fn propose(&self, height: u64, deadline: Instant) -> Result<(Hash, Vec<u8>), LedgerError> {
        if height != self.chain.height() + 1 {
            return Err(LedgerError::Fatal(format!("asked to propose {height} at tip {}", self.chain.height())));
        }
        self.propose_built(height, deadline, |chain| chain.build_next()).await
    }

    #[cfg(feature = "byzantine")]
    async fn propose_tampered(
        &self,
        height: u64,
        deadline: Instant,
        tamper: fn(Vec<fdl_types::SignedTx>) -> Vec<fdl_types::SignedTx>,
    ) -> Result<(Hash, Vec<u8>), LedgerError> {
        if height != self.chain.height() + 1 {
            return Err(LedgerError::Fatal(format!("asked to propose {height} at tip {}", self.chain.height())));
        }
        self.propose_built(height, deadline, move |chain| {
            let max = chain.mempool().params().max_block_txs as usize;
            chain.build_block(tamper(chain.mempool().take_batch(max, height)))
        })
        .await
    }

    async fn validate(&self, height: u64, proposer: Address, bytes: &[u8]) -> Result<Hash, LedgerError> {
        let block = Block::decode(bytes).map_err(|e| LedgerError::Invalid { hash: None, reason: e.to_string() })?;
        let suite = self.chain.genesis().suite;
        let hash = block.header.hash(suite);
        // The body must be the one the header commits to; otherwise these bytes are not the block
        // named `hash` at all, and must not get that value marked invalid.
        if block.txs.len() != block.header.tx_count as usize
            || Block::compute_tx_root(suite, &block.txs) != block.header.tx_root
        {
            return Err(LedgerError::Invalid {
                hash: None,
                reason: format!("the transactions sent by {proposer} do not match the header"),
            });
        }
        if self.pending.lock().contains_key(&hash) {
            return Ok(hash);
        }
        if height != self.chain.height() + 1 {
            return Err(LedgerError::Invalid { hash: Some(hash), reason: format!("height {height} is not next") });
        }
        let bad = self.bad_signatures(&block.txs).await?;
        if let Some(i) = bad {
            return Err(LedgerError::Invalid {
                hash: Some(hash),
                reason: format!("transaction {i} has a bad signature"),
            });
        }
        let chain = self.chain.clone();
        // Executed while the previous block is written; no vote for it before that one is durable.
        let verdict = tokio::task::spawn_blocking(move || {
            let v = chain.validate_block(block);
            chain.wait_durable().map_err(BlockRefused::Fatal)?;
            v
        })
        .await
        .map_err(Self::fatal)?;
        match verdict {
            Ok(p) => {
                self.pending.lock().insert(hash, Pending { block: p, own: false });
                Ok(hash)
            }
            Err(BlockRefused::Invalid(why)) => Err(LedgerError::Invalid { hash: Some(hash), reason: why.to_string() }),
            Err(BlockRefused::Fatal(e)) => Err(Self::fatal(e)),
        }
    }

    async fn commit(&self, height: u64, hash: Hash, commit: Commit) -> Result<(), LedgerError> {
        let Some(p) = self.pending.lock().remove(&hash) else {
            return Err(LedgerError::Unknown(hash));
        };
        let started = Instant::now();
        let block_time = p.block.block.header.timestamp_ms;
        let chain = self.chain.clone();
        Self::blocking(move || chain.commit_block(p.block, commit, started)).await?;
        *self.last_commit.lock() = Instant::now();
        self.metrics.last_finality_ms.store(now_ms().saturating_sub(block_time), Ordering::Relaxed);
        // Blocks proposed for this height that lost: our own give their transactions back.
        let stale: Vec<Pending> = {
            let mut pending = self.pending.lock();
            let keys: Vec<Hash> =
                pending.iter().filter(|(_, v)| v.block.block.header.height <= height).map(|(k, _)| *k).collect();
            keys.into_iter().filter_map(|k| pending.remove(&k)).collect()
        };
        for s in stale {
            if s.own {
                self.chain.return_txs(s.block);
            }
        }
        Ok(())
    }

    async fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, Commit)>, LedgerError> {
        let store = self.chain.store().clone();
        Self::blocking(move || {
            let Some(block) = store.block(height)? else { return Ok(None) };
            let Some(commit) = store.commit(height)? else { return Ok(None) };
            Ok(Some((block.encode(), commit)))
        })
        .await
    }

    fn observe(&self, event: ConsensusEvent) {
        let m = &self.metrics;
        match event {
            ConsensusEvent::Round { height, round } => {
                m.round.store(u64::from(round), Ordering::Relaxed);
                if round > 0 {
                    tracing::info!(height, round, "consensus moved to a later round");
                }
            }
            ConsensusEvent::Peers(n) => {
                let before = m.peers_connected.swap(n as u64, Ordering::Relaxed);
                // STD-9.3: a node keeps at least two peers (when the network has that many), so one lost
                // link does not cut it off.
                let possible = self.validators_for(self.chain.height() + 1).len().saturating_sub(1).min(2) as u64;
                if (n as u64) < possible && before >= possible {
                    tracing::warn!(peers = n, "fewer than two connected peers; reconnecting");
                } else if (n as u64) >= possible && before < possible && before > 0 {
                    tracing::info!(peers = n, "peers reconnected");
                }
            }
            ConsensusEvent::Finalized { height, round, missing, signed_power, total_power } => {
                {
                    let mut missed = m.missed_votes.lock();
                    for a in &missing {
                        *missed.entry(a.to_hex()).or_default() += 1;
                    }
                }
                let signers: Vec<Address> = self
                    .validators_for(height)
                    .iter()
                    .map(|(k, _)| k.address())
                    .filter(|a| !missing.contains(a))
                    .collect();
                self.liveness(signers);
                tracing::debug!(height, round, signed_power, total_power, "finalized");
            }
            ConsensusEvent::PeerHeight(h) => record_peer_height(m, h),
            ConsensusEvent::Synced(h) => {
                let n = m.synced_blocks.fetch_add(1, Ordering::Relaxed) + 1;
                let target = m.peer_height.load(Ordering::Relaxed);
                if n == 1 || n.is_multiple_of(100) || h >= target {
                    tracing::info!(height = h, target, synced = n, "catching up from peers");
                }
            }
            ConsensusEvent::Equivocation { height, round, validator, kind, values } => {
                let ev = EvidenceView {
                    height,
                    round,
                    validator: validator.to_hex(),
                    kind: kind.into(),
                    values: values.to_vec(),
                };
                let mut list = m.evidence.lock();
                if !list.contains(&ev) && list.len() < 10_000 {
                    tracing::warn!(height, round, %validator, kind, "equivocation recorded as evidence");
                    list.push(ev);
                }
            }
        }
    }
}

/// Records the peers' committed height as the consensus loop last reported it. The loop derives
/// it from verified messages of more than a third of the voting power, and lets it fall when
/// they expire, so the latest report replaces the previous one (never kept as a maximum: one
/// bad report must not fix the sync lag forever).
fn record_peer_height(m: &Metrics, h: u64) {
    m.peer_height.store(h, Ordering::Relaxed);
}

/// The APIs to forward client transactions to: the active nodes of the latest state (so that a
/// node admitted by governance receives them, and a removed one no longer does), at their
/// published API or the configured one; the configured list when the state names no peer ids.
fn relay_targets(chain: &Chain, own_peer: &str, configured: &[(String, String)]) -> Vec<String> {
    let Ok(nodes) = chain.nodes_at(chain.height()) else {
        return configured.iter().map(|(_, r)| r.clone()).collect();
    };
    if nodes.iter().all(|n| n.peer_id.is_empty()) {
        return configured.iter().map(|(_, r)| r.clone()).collect();
    }
    nodes
        .iter()
        .filter(|n| !n.peer_id.is_empty() && n.peer_id != own_peer)
        .filter_map(|n| {
            if n.rpc.is_empty() {
                configured.iter().find(|(p, _)| *p == n.peer_id).map(|(_, r)| r.clone())
            } else {
                Some(n.rpc.clone())
            }
        })
        .collect()
}

/// Forwards client-submitted transactions to the peers' APIs in batches (mempool gossip). A
/// peer that is down simply misses them: the transaction is still in this node's pool.
pub(crate) async fn relay_task(
    mut rx: mpsc::Receiver<Vec<Vec<u8>>>,
    chain: Arc<Chain>,
    own_peer: String,
    configured: Vec<(String, String)>,
) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(5)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "transaction gossip disabled: no HTTP client");
            return;
        }
    };
    while let Some(first) = rx.recv().await {
        let mut batch = first;
        // Gather what arrives within a few milliseconds into one request per peer.
        let until = tokio::time::Instant::now() + Duration::from_millis(5);
        while batch.len() < 2_000 {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(more)) => batch.extend(more),
                _ => break,
            }
        }
        let body = serde_json::json!({ "txs": batch.iter().map(hex::encode).collect::<Vec<_>>() });
        let body = Arc::new(body);
        let peers = relay_targets(&chain, &own_peer, &configured);
        for peer in &peers {
            let url = format!("{}/v1/transactions/batch", peer.trim_end_matches('/'));
            let req = client.post(url).header(fdl_rpc::RELAYED_HEADER, "1").json(&*body);
            tokio::spawn(async move {
                if let Err(e) = req.send().await {
                    tracing::debug!(error = %e, "forwarding transactions to a peer failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_height_follows_the_latest_report_and_falls_again() {
        let m = Metrics::default();
        record_peer_height(&m, u64::MAX);
        assert_eq!(m.peer_height.load(Ordering::Relaxed), u64::MAX);
        record_peer_height(&m, 12);
        assert_eq!(m.peer_height.load(Ordering::Relaxed), 12, "a lower report replaces a higher one");
        record_peer_height(&m, 0);
        assert_eq!(m.peer_height.load(Ordering::Relaxed), 0);
    }
}
