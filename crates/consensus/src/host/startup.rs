//! Engine start-up: the node's consensus configuration, the engine's network, sync and
//! write-ahead-log settings, the node's network identity, and the loop that feeds the engine's
//! requests to the host until shutdown.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use bytesize::ByteSize;
use fdl_crypto::Address;
use malachitebft_app_channel::{
    Channels, ConsensusContext, EngineBuilder, EngineHandle, NetworkContext, NetworkIdentity, NetworkRequest,
    RequestContext, SyncContext, WalContext,
    app::{
        config::{
            ConsensusConfig as MConsensusConfig, DiscoveryConfig, NodeConfig as MNodeConfig, P2pConfig, ValueSyncConfig,
        },
        net::Multiaddr,
        types::{Keypair, codec::Codec, core::LinearTimeouts},
    },
};
use tokio::sync::watch;

use super::{
    ConsensusEvent, Host, Ledger, LedgerError, PeerAddr, closed, linear_timeouts,
    peers::multiaddr,
    proposals::ProposalStore,
    streams::{StreamIds, StreamTable},
};
use crate::{
    codec::FdlCodec,
    context::{FdlContext, ValidatorAddress},
    signing::{ConsensusSigner, ConsensusVerifier, ValidatorKey},
};

/// Largest gossip message (a proposal part, a vote).
const PUBSUB_MAX_SIZE: ByteSize = ByteSize::mib(16);
/// Largest request or response between two peers.
const RPC_MAX_SIZE: ByteSize = ByteSize::mib(32);
/// How often peers exchange their sync status (their latest height).
const SYNC_STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// How long a sync request may wait for its response.
const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest sync response; this node also stops reading blocks for a response at this size.
pub(super) const SYNC_MAX_RESPONSE_SIZE: ByteSize = ByteSize::mib(32);
/// Most blocks this node asks for in one sync request, and serves in one response. A response
/// carries as many of them as fit in [`SYNC_MAX_RESPONSE_SIZE`] (small blocks: all of them; the
/// largest ones: two), the server stops reading there, and the requester asks again for the
/// rest (the engine accepts a prefix of the range).
pub(super) const SYNC_BATCH_SIZE: usize = 16;
/// The largest block and its certificate fit in one response, and one response in an RPC
/// message: otherwise a chain with a block of the largest size could not be synced.
const _: () = assert!(
    (super::streams::MAX_STREAM_BYTES as u64) < SYNC_MAX_RESPONSE_SIZE.as_u64() / 2
        && SYNC_MAX_RESPONSE_SIZE.as_u64() <= RPC_MAX_SIZE.as_u64()
);
/// Capacity of the engine's request channel.
const REQUEST_CHANNEL_SIZE: usize = 64;
/// How often the number of connected peers is reported.
const PEER_COUNT_INTERVAL: Duration = Duration::from_secs(2);
/// How long the loop waits for the engine to stop once it ends.
const ENGINE_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Peer-count ticks in a row on which the engine's network answers that it has no running
/// swarm before the host loop stops the node (see [`NetworkWatch`]).
const NETWORK_DEAD_TICKS: u32 = 5;

/// How to run consensus on this node.
pub struct ConsensusConfig {
    /// Node name.
    pub moniker: String,
    /// Where the consensus network listens.
    pub listen: SocketAddr,
    /// Peers to keep connected (the only ones admitted).
    pub peers: Vec<PeerAddr>,
    /// The 32-byte seed of the node's network (Ed25519) key.
    pub network_seed: [u8; 32],
    /// The write-ahead log file.
    pub wal_path: PathBuf,
    /// Where this node's own proposals are kept until decided, so that after a crash it proposes
    /// the same block again for the same height and round (never two).
    pub proposal_dir: PathBuf,
    /// The validator's signer; `None` runs an observer that verifies and stores but never votes.
    pub signer: Option<ValidatorKey>,
    /// The node's consensus address (its key's address; observers too).
    pub address: Address,
    /// Propose timeout.
    pub propose_timeout: Duration,
    /// Prevote and precommit timeouts.
    pub vote_timeout: Duration,
}

/// The network peer id of a network key seed.
pub fn network_peer_id(seed: &[u8; 32]) -> Result<String, LedgerError> {
    let kp = Keypair::ed25519_from_bytes(*seed).map_err(|e| LedgerError::Fatal(format!("network key: {e}")))?;
    Ok(kp.public().to_peer_id().to_base58())
}

/// A handle on running consensus.
pub struct ConsensusHandle {
    /// The loop's result when it ends.
    pub task: tokio::task::JoinHandle<Result<(), LedgerError>>,
}

/// The engine's node configuration.
struct MalConfig {
    moniker: String,
    consensus: MConsensusConfig,
    sync: ValueSyncConfig,
}

impl MNodeConfig for MalConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &MConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut MConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.sync
    }
}

/// The engine's configuration: listen on `cfg.listen`, connect to the `persistent` peers only,
/// no discovery, and sync on.
fn engine_config(cfg: &ConsensusConfig, persistent: Vec<Multiaddr>) -> Result<MalConfig, LedgerError> {
    let p2p = P2pConfig {
        listen_addr: multiaddr(cfg.listen, None)?,
        persistent_peers: persistent,
        persistent_peers_only: true,
        discovery: DiscoveryConfig { enabled: false, ..DiscoveryConfig::default() },
        pubsub_max_size: PUBSUB_MAX_SIZE,
        rpc_max_size: RPC_MAX_SIZE,
        ..P2pConfig::default()
    };
    Ok(MalConfig {
        moniker: cfg.moniker.clone(),
        consensus: MConsensusConfig { p2p, ..MConsensusConfig::default() },
        sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: SYNC_STATUS_INTERVAL,
            request_timeout: SYNC_REQUEST_TIMEOUT,
            max_response_size: SYNC_MAX_RESPONSE_SIZE,
            batch_size: SYNC_BATCH_SIZE,
            ..ValueSyncConfig::default()
        },
    })
}

/// The node's network identity: a validator proves that its consensus key owns the network key.
async fn network_identity(
    cfg: &ConsensusConfig,
    keypair: Keypair,
    address: ValidatorAddress,
    signer: Option<&ConsensusSigner>,
) -> Result<NetworkIdentity, LedgerError> {
    Ok(match signer {
        Some(s) => {
            let pk = s.public_key().to_bytes();
            let proof =
                malachitebft_signing::Signer::sign_validator_proof(s, pk, keypair.public().to_peer_id().to_bytes())
                    .await
                    .map_err(|e| LedgerError::Fatal(format!("validator proof: {e}")))?;
            let bytes = Codec::encode(&FdlCodec, &proof).map_err(|e| LedgerError::Fatal(e.to_string()))?;
            NetworkIdentity::new_validator(cfg.moniker.clone(), keypair, address.to_string(), bytes)
        }
        None => NetworkIdentity::new(cfg.moniker.clone(), keypair, None),
    })
}

/// Starts the engine and the host loop; the loop runs until `shutdown` is true or a fatal error.
///
/// # Errors
/// [`LedgerError::Fatal`] when the engine cannot start.
pub async fn start<L: Ledger>(
    ctx: FdlContext,
    cfg: ConsensusConfig,
    ledger: Arc<L>,
    shutdown: watch::Receiver<bool>,
) -> Result<ConsensusHandle, LedgerError> {
    let keypair =
        Keypair::ed25519_from_bytes(cfg.network_seed).map_err(|e| LedgerError::Fatal(format!("network key: {e}")))?;
    let address = ValidatorAddress(cfg.address);
    let mut persistent = Vec::with_capacity(cfg.peers.len());
    for p in &cfg.peers {
        persistent.push(multiaddr(p.addr, Some(&p.peer_id))?);
    }
    let peer_addrs = persistent.clone();
    let mal = engine_config(&cfg, persistent)?;
    let signer = cfg.signer.as_ref().map(|k| ConsensusSigner::with_key(&ctx.chain_id, k.clone()));
    #[cfg(feature = "byzantine")]
    let (address, signer) = super::byzantine::configure(address, signer)?;
    let verifier = ConsensusVerifier::new(&ctx.chain_id);
    let identity = network_identity(&cfg, keypair, address, signer.as_ref()).await?;
    let consensus_ctx = match &signer {
        Some(s) => ConsensusContext::new_validator(address, Box::new(verifier), Box::new(s.clone())),
        None => ConsensusContext::new_full_node(address, Box::new(verifier)),
    };
    if let Some(dir) = cfg.wal_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LedgerError::Fatal(format!("wal dir: {e}")))?;
    }
    check_listen(cfg.listen)?;
    let (channels, engine) = EngineBuilder::new(ctx.clone(), mal)
        .with_default_wal(WalContext::new(cfg.wal_path.clone(), FdlCodec))
        .with_default_network(NetworkContext::new(identity, FdlCodec))
        .with_default_sync(SyncContext::new(FdlCodec))
        .with_default_consensus(consensus_ctx)
        .with_default_request(RequestContext::new(REQUEST_CHANNEL_SIZE))
        .build()
        .await
        .map_err(|e| LedgerError::Fatal(format!("consensus engine: {e:#}")))?;
    #[cfg(feature = "byzantine")]
    super::byzantine::spawn_flood(&ctx, &ledger, signer.as_ref(), address, &channels.network);
    let mut streams = StreamTable::new();
    // Only the chain's nodes may publish proposal parts (see `StreamTable::only_from`).
    streams.only_from(
        cfg.peers.iter().filter_map(|p| p.peer_id.parse::<malachitebft_app_channel::app::types::PeerId>().ok()),
    );
    let host = Host {
        ctx,
        ledger,
        signer,
        address,
        timeouts: linear_timeouts(cfg.propose_timeout, cfg.vote_timeout, LinearTimeouts::default()),
        streams,
        stream_ids: StreamIds::default(),
        proposals: ProposalStore::new(cfg.proposal_dir.clone()),
        failed_decision: false,
        peer_addrs,
        peer_heights: Default::default(),
    };
    let task = tokio::spawn(run(host, channels, engine, shutdown));
    Ok(ConsensusHandle { task })
}

/// Fails when the consensus address cannot be listened on (taken by another process, or not
/// this machine's). The engine's network only logs such a failure and then runs without a
/// swarm, so the node would sit at its height with no peers; binding once first makes it a
/// clear start-up error. Like the engine's transport, the probe reuses addresses, so sockets
/// of a previous run still closing do not count as taken.
fn check_listen(addr: SocketAddr) -> Result<(), LedgerError> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| LedgerError::Fatal(format!("the consensus network cannot listen on {addr}: {e}")))
}

/// Watches the engine's network through its state dumps: the network answers `None` once its
/// swarm task has ended (a listen failure after start-up, an internal error), and from then on
/// the node can neither receive nor send a vote. After [`NETWORK_DEAD_TICKS`] such answers in a
/// row the host loop stops with an error, so the process exits and its supervisor restarts it,
/// instead of running on without peers.
#[derive(Default)]
struct NetworkWatch {
    dead_ticks: u32,
}

impl NetworkWatch {
    /// Records one dump's answer; an error once the network has been seen dead long enough.
    fn observe(&mut self, running: bool) -> Result<(), LedgerError> {
        self.dead_ticks = if running { 0 } else { self.dead_ticks + 1 };
        if self.dead_ticks >= NETWORK_DEAD_TICKS {
            return Err(LedgerError::Fatal(format!(
                "the consensus network has stopped (no swarm for {NETWORK_DEAD_TICKS} checks in a row; \
                 its first error is logged above); restart the node"
            )));
        }
        Ok(())
    }
}

/// The host loop: the engine's requests, its events, a periodic peer count, and shutdown. When
/// it ends the engine is stopped.
async fn run<L: Ledger>(
    mut host: Host<L>,
    mut channels: Channels<FdlContext>,
    engine: EngineHandle,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), LedgerError> {
    let mut events = channels.events.subscribe();
    let mut peers_tick = tokio::time::interval(PEER_COUNT_INTERVAL);
    let mut network = NetworkWatch::default();
    let result = loop {
        tokio::select! {
            msg = channels.consensus.recv() => {
                let Some(msg) = msg else { break Err(closed()) };
                if let Err(e) = host.handle(&channels, msg).await {
                    break Err(e);
                }
            }
            ev = events.recv() => host.observe_engine_event(ev),
            _ = peers_tick.tick() => {
                // An error here (a full request channel, a dropped answer) says nothing of the swarm.
                if let Ok(dump) = NetworkRequest::dump_state(&channels.net_requests).await {
                    if let Err(e) = network.observe(dump.is_some()) {
                        break Err(e);
                    }
                    if let Some(dump) = dump {
                        host.ledger.observe(ConsensusEvent::Peers(dump.peers.len()));
                    }
                }
                // Expired peer heights lower the reported one again.
                host.report_peer_height();
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() { break Ok(()); }
            }
        }
    };
    engine.actor.stop(None);
    let _ = tokio::time::timeout(ENGINE_STOP_TIMEOUT, engine.handle).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_consensus_address_is_a_start_up_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("test setup");
        let addr = taken.local_addr().expect("test setup");
        let err = check_listen(addr).expect_err("must fail").to_string();
        assert!(err.contains(&addr.to_string()), "{err}");
        drop(taken);
        check_listen(addr).expect("free again");
    }

    #[test]
    fn the_loop_stops_only_after_the_network_stayed_dead() {
        let mut watch = NetworkWatch::default();
        for _ in 1..NETWORK_DEAD_TICKS {
            watch.observe(false).expect("not dead long enough");
        }
        // One answer from a running swarm starts the count again.
        watch.observe(true).expect("alive");
        for _ in 1..NETWORK_DEAD_TICKS {
            watch.observe(false).expect("not dead long enough");
        }
        let err = watch.observe(false).expect_err("must fail").to_string();
        assert!(err.contains("consensus network has stopped"), "{err}");
    }
}
