//! The host loop: answers the engine's requests with calls on the node's [`Ledger`].
//!
//! | engine request | what FDL does |
//! |---|---|
//! | `ConsensusReady` | starts at the ledger's height + 1 with the genesis validator set |
//! | `GetValue` | the ledger builds a block; it is streamed as signed proposal parts |
//! | `ReceivedProposalPart` | reassembles a stream, checks the proposer's part signature, the ledger validates the block |
//! | `Decided` | the precommits become an FDL `Commit`; the ledger stores block and certificate atomically |
//! | `GetDecidedValues` / `ProcessSyncedValue` | sync serves stored blocks and validates fetched ones |

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use bytesize::ByteSize;
use fdl_crypto::{Address, Hash, PublicKey, Signature, Signer as FdlSigner, hash};
use fdl_types::{Commit, CommitSig};
use malachitebft_app_channel::app::engine::util::events::Event;
use malachitebft_app_channel::app::types::MisbehaviorEvidence;
use malachitebft_app_channel::app::types::core::ExtendedCommitCertificate;
use malachitebft_app_channel::{
    AppMsg, Channels, ConsensusContext, EngineBuilder, NetworkContext, NetworkMsg, NetworkRequest, RequestContext,
    SyncContext, WalContext,
    app::{
        config::{
            ConsensusConfig as MConsensusConfig, DiscoveryConfig, NodeConfig as MNodeConfig, P2pConfig, ValueSyncConfig,
        },
        engine::host::{HeightParams, Next, SyncedValueOutcome},
        net::Multiaddr,
        streaming::{StreamContent, StreamId, StreamMessage},
        types::{
            LocallyProposedValue, PeerId, ProposedValue, SignedConsensusMsg,
            codec::Codec,
            core::{CommitCertificate, LinearTimeouts, Round, Validity},
            sync::RawDecidedValue,
        },
    },
};
use malachitebft_app_channel::{NetworkIdentity, app::types::Keypair};
use malachitebft_core_types::ValidatorSet as _;
use tokio::sync::watch;

use crate::{
    codec::{FdlCodec, extend_signatures},
    context::{BlockValue, FdlContext, Height, ProposalPart, Validator, ValidatorAddress, ValidatorSet},
    signing::{ConsensusSigner, ConsensusVerifier, FdlSignature, check, part_signing_bytes},
};

/// Size of one proposal data part.
const CHUNK: usize = 256 * 1024;
/// Most blocks served in one sync response.
const MAX_SYNC_BATCH: u64 = 32;

/// Why the ledger refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The block is invalid; `hash` is its header hash when it decoded.
    #[error("invalid block: {reason}")]
    Invalid {
        /// The block's hash, when the block decoded.
        hash: Option<Hash>,
        /// Why.
        reason: String,
    },
    /// The block for a decision is not known locally (sync will fetch it).
    #[error("block {0} is not known locally")]
    Unknown(Hash),
    /// A fatal local failure (storage, state): the node stops.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// What the consensus loop tells the node (for logs, metrics and the API).
#[derive(Debug, Clone)]
pub enum ConsensusEvent {
    /// A round started.
    Round {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// The number of connected peers.
    Peers(usize),
    /// A block was finalized.
    Finalized {
        /// Height.
        height: u64,
        /// Round that decided it.
        round: u32,
        /// Validators whose precommit is missing from the certificate.
        missing: Vec<Address>,
        /// Voting power that signed, and the total.
        signed_power: u64,
        /// Total voting power.
        total_power: u64,
    },
    /// The highest height seen in peers' messages (sync lag = this - own height).
    PeerHeight(u64),
    /// A block arrived through sync.
    Synced(u64),
    /// A validator signed two different proposals or votes for one height and round.
    Equivocation {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The validator.
        validator: Address,
        /// "proposal", "prevote" or "precommit".
        kind: &'static str,
        /// The two conflicting values (block hashes, or "nil").
        values: [String; 2],
    },
}

/// The node's side of consensus. Implementations do blocking work on blocking threads.
#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// The latest committed height.
    fn height(&self) -> u64;
    /// The validators (key, power) that vote on `height`.
    fn validators(&self, height: u64) -> Vec<(PublicKey, u64)>;
    /// Builds this node's block for `height`, waiting for transactions no later than `deadline`;
    /// returns its hash and encoding. The same height asked twice may give a different block.
    async fn propose(&self, height: u64, deadline: Instant) -> Result<(Hash, Vec<u8>), LedgerError>;
    /// Validates a block for `height` proposed by `proposer` (signatures, execution, roots) and
    /// keeps the executed result for [`Ledger::commit`]; returns its hash.
    async fn validate(&self, height: u64, proposer: Address, block: &[u8]) -> Result<Hash, LedgerError>;
    /// Commits the block `hash` at `height` with its certificate, atomically.
    async fn commit(&self, height: u64, hash: Hash, commit: Commit) -> Result<(), LedgerError>;
    /// A stored block's encoding and certificate, for peers that sync.
    async fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, Commit)>, LedgerError>;
    /// Receives progress events.
    fn observe(&self, event: ConsensusEvent);
    /// The peers to keep connected after the latest committed block, when the member set can
    /// change (governance adds and removes nodes, STD-11.3); `None` keeps the configured peers.
    /// Peers not listed are disconnected and refused from then on.
    fn peers(&self) -> Option<Vec<PeerAddr>> {
        None
    }
    /// The propose and vote timeouts for `height` when the chain sets them (governance);
    /// `None` keeps the node's configured ones.
    fn timeouts(&self, height: u64) -> Option<(Duration, Duration)> {
        let _ = height;
        None
    }
}

/// A peer to keep connected: its network address and peer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    /// TCP address.
    pub addr: SocketAddr,
    /// The peer's network id (base58 libp2p peer id).
    pub peer_id: String,
}

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
    pub signer: Option<Arc<dyn FdlSigner>>,
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

/// Brings Malachite's persistent peer list in line with [`Ledger::peers`]: newly admitted
/// nodes are allowed and dialed, removed ones disconnected and refused.
async fn update_peers<L: Ledger>(host: &mut Host<L>, channels: &Channels<FdlContext>) {
    let Some(want) = host.ledger.peers() else { return };
    let want: Vec<Multiaddr> = want.iter().filter_map(|p| multiaddr(p.addr, Some(&p.peer_id)).ok()).collect();
    for add in want.iter().filter(|a| !host.peer_addrs.contains(a)) {
        match NetworkRequest::add_persistent_peer(&channels.net_requests, add.clone()).await {
            Ok(Ok(())) => tracing::info!(peer = %add, "admitted a new member node"),
            other => {
                tracing::warn!(peer = %add, result = ?other.map(|r| r.map_err(|e| e.to_string())), "could not add a peer")
            }
        }
    }
    for gone in host.peer_addrs.iter().filter(|a| !want.contains(a)) {
        match NetworkRequest::remove_persistent_peer(&channels.net_requests, gone.clone()).await {
            Ok(Ok(())) => tracing::info!(peer = %gone, "disconnected a node no longer in the member set"),
            other => {
                tracing::warn!(peer = %gone, result = ?other.map(|r| r.map_err(|e| e.to_string())), "could not remove a peer")
            }
        }
    }
    host.peer_addrs = want;
}

fn multiaddr(addr: SocketAddr, peer: Option<&str>) -> Result<Multiaddr, LedgerError> {
    let ip = match addr {
        SocketAddr::V4(a) => format!("/ip4/{}/tcp/{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("/ip6/{}/tcp/{}", a.ip(), a.port()),
    };
    let s = match peer {
        Some(p) => format!("{ip}/p2p/{p}"),
        None => ip,
    };
    s.parse().map_err(|e| LedgerError::Fatal(format!("address {s}: {e}")))
}

/// A handle on running consensus.
pub struct ConsensusHandle {
    /// The loop's result when it ends.
    pub task: tokio::task::JoinHandle<Result<(), LedgerError>>,
}

/// A partly received proposal stream.
#[derive(Default)]
struct Stream {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    fin_seq: Option<u64>,
    started: Option<Instant>,
    bytes: usize,
}

/// Most partly received streams kept at once (the oldest is dropped beyond it).
const MAX_STREAMS: usize = 64;
/// Largest stream: a block of the largest size genesis allows, plus framing.
const MAX_STREAM_BYTES: usize = 13 * 1024 * 1024;
/// Most parts in one stream.
const MAX_STREAM_PARTS: u64 = 128;
/// Proposal streams processed per height and round (the proposer's, plus one conflicting one,
/// which is enough for the engine to record an equivocation).
const MAX_STREAMS_PER_ROUND: u8 = 2;
/// Most complete proposals buffered for future heights.
const MAX_FUTURE: usize = 8;

/// A complete proposal.
struct Assembled {
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    data: Vec<u8>,
    signature: Bytes,
}

struct Host<L: Ledger> {
    ctx: FdlContext,
    ledger: Arc<L>,
    signer: Option<ConsensusSigner>,
    address: ValidatorAddress,
    timeouts: LinearTimeouts,
    /// Our proposals by (height, round): the same request gets the same value.
    own: HashMap<(u64, u32), BlockValue>,
    /// Encoded blocks seen this height, by hash (for re-streaming).
    bodies: HashMap<Hash, Bytes>,
    streams: HashMap<(PeerId, StreamId), Stream>,
    /// Complete proposals for future heights, validated when their height starts.
    future: Vec<Assembled>,
    /// Validated proposals by (height, round).
    received: HashMap<(u64, u32), Vec<ProposedValue<FdlContext>>>,
    stream_counter: u64,
    failed_decision: bool,
    proposal_dir: PathBuf,
    /// Streams processed per (height, round).
    processed: HashMap<(u64, u32), u8>,
    /// The persistent peers Malachite currently keeps.
    peer_addrs: Vec<Multiaddr>,
}

fn io_fatal(what: &str, e: std::io::Error) -> LedgerError {
    LedgerError::Fatal(format!("{what}: {e}"))
}

impl<L: Ledger> Host<L> {
    fn proposal_path(&self, height: u64, round: u32) -> PathBuf {
        self.proposal_dir.join(format!("{height}-{round}.block"))
    }

    /// This node's block for (`height`, `round`): the one it already proposed (also before a
    /// crash), or a new one, written durably before it is proposed.
    async fn own_value(&mut self, height: u64, round: u32, timeout: Duration) -> Result<BlockValue, LedgerError> {
        if let Some(v) = self.own.get(&(height, round)) {
            return Ok(*v);
        }
        let path = self.proposal_path(height, round);
        if let Ok(bytes) = std::fs::read(&path) {
            match self.ledger.validate(height, self.address.0, &bytes).await {
                Ok(h) => {
                    tracing::info!(height, round, hash = %h, "re-proposing the block proposed before a restart");
                    self.own.insert((height, round), BlockValue(h));
                    self.bodies.insert(h, Bytes::from(bytes));
                    return Ok(BlockValue(h));
                }
                Err(e) => {
                    // The engine may hold this proposal, signed, in its WAL: proposing anything
                    // else for this height and round would be an equivocation.
                    return Err(LedgerError::Fatal(format!("the stored own proposal {}: {e}", path.display())));
                }
            }
        }
        let deadline = Instant::now() + timeout.mul_f32(0.5);
        let (h, body) = self.ledger.propose(height, deadline).await?;
        std::fs::create_dir_all(&self.proposal_dir).map_err(|e| io_fatal("proposal dir", e))?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(|e| io_fatal("proposal file", e))?;
            f.write_all(&body).map_err(|e| io_fatal("proposal file", e))?;
            f.sync_all().map_err(|e| io_fatal("proposal file", e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io_fatal("proposal file", e))?;
        std::fs::File::open(&self.proposal_dir).and_then(|d| d.sync_all()).map_err(|e| io_fatal("proposal dir", e))?;
        self.own.insert((height, round), BlockValue(h));
        self.bodies.insert(h, Bytes::from(body));
        Ok(BlockValue(h))
    }

    /// Loads the stored proposals for `height` (this node's own and the peers' it validated)
    /// into `bodies` (after a restart the engine
    /// may ask to re-stream a block it locked on before the crash).
    async fn load_stored_proposals(&mut self, height: u64) -> Result<(), LedgerError> {
        let Ok(dir) = std::fs::read_dir(&self.proposal_dir) else { return Ok(()) };
        let prefix = format!("{height}-");
        let files: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".block"))
            })
            .collect();
        for f in files {
            let Ok(bytes) = std::fs::read(&f) else { continue };
            match self.ledger.validate(height, self.address.0, &bytes).await {
                Ok(h) => {
                    self.bodies.entry(h).or_insert_with(|| Bytes::from(bytes));
                }
                Err(LedgerError::Fatal(e)) => return Err(LedgerError::Fatal(e)),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Deletes stored own proposals at or below `height`.
    fn prune_proposals(&self, height: u64) {
        let Ok(dir) = std::fs::read_dir(&self.proposal_dir) else { return };
        for e in dir.flatten() {
            let name = e.file_name();
            let h = name.to_str().and_then(|n| n.split('-').next()).and_then(|h| h.parse::<u64>().ok());
            if h.is_some_and(|h| h <= height) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn validator_set(&self, height: u64) -> ValidatorSet {
        ValidatorSet::new(self.ledger.validators(height).into_iter().map(|(k, p)| Validator::new(k, p)).collect())
    }

    fn params(&self, height: u64) -> HeightParams<FdlContext> {
        let timeouts = match self.ledger.timeouts(height) {
            Some((propose, vote)) => LinearTimeouts {
                propose,
                prevote: vote,
                precommit: vote,
                rebroadcast: propose + vote * 2,
                ..self.timeouts
            },
            None => self.timeouts,
        };
        HeightParams::new(self.validator_set(height), timeouts, None)
    }

    fn next_stream_id(&mut self, height: u64, round: u32) -> StreamId {
        self.stream_counter = self.stream_counter.wrapping_add(1);
        let mut b = Vec::with_capacity(20);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&round.to_be_bytes());
        b.extend_from_slice(&self.stream_counter.to_be_bytes());
        StreamId::new(Bytes::from(b))
    }

    /// Streams `body` as signed proposal parts for (`height`, `round`).
    async fn publish(
        &mut self,
        channels: &Channels<FdlContext>,
        height: u64,
        round: Round,
        pol_round: Round,
        body: &Bytes,
    ) -> Result<(), LedgerError> {
        let Some(signer) = &self.signer else { return Ok(()) };
        let r = round.as_u32().unwrap_or(0);
        let digest = hash(self.ctx.suite, body);
        let sig = signer
            .sign_bytes(&part_signing_bytes(&self.ctx.chain_id, Height(height), round, &self.address, &digest))
            .map_err(|e| LedgerError::Fatal(format!("signing proposal parts: {e}")))?;
        let mut parts = vec![ProposalPart::Init { height: Height(height), round, pol_round, proposer: self.address }];
        for chunk in body.chunks(CHUNK) {
            parts.push(ProposalPart::Data(body.slice_ref(chunk)));
        }
        parts.push(ProposalPart::Fin(Bytes::from(sig.0)));
        let id = self.next_stream_id(height, r);
        let mut seq = 0u64;
        for p in parts {
            let msg = StreamMessage::new(id.clone(), seq, StreamContent::Data(p));
            channels.network.send(NetworkMsg::PublishProposalPart(msg)).await.map_err(|_| closed())?;
            seq += 1;
        }
        let fin = StreamMessage::new(id, seq, StreamContent::Fin);
        channels.network.send(NetworkMsg::PublishProposalPart(fin)).await.map_err(|_| closed())?;
        Ok(())
    }

    /// Adds a part; returns the whole proposal when the stream is complete.
    fn add_part(&mut self, key: (PeerId, StreamId), msg: StreamMessage<ProposalPart>) -> Option<Assembled> {
        if msg.sequence >= MAX_STREAM_PARTS {
            self.streams.remove(&key);
            return None;
        }
        // Bound memory: streams that never complete are dropped, oldest first.
        self.streams.retain(|_, s| s.started.is_some_and(|t| t.elapsed() < Duration::from_secs(30)));
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            let oldest = self.streams.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.streams.remove(&k);
            }
        }
        let s = self.streams.entry(key.clone()).or_default();
        s.started.get_or_insert_with(Instant::now);
        s.bytes = s.bytes.saturating_add(match &msg.content {
            StreamContent::Data(ProposalPart::Data(b)) => b.len(),
            _ => 64,
        });
        if s.bytes > MAX_STREAM_BYTES {
            self.streams.remove(&key);
            return None;
        }
        if matches!(msg.content, StreamContent::Fin) {
            s.fin_seq = Some(msg.sequence);
        }
        s.parts.insert(msg.sequence, msg.content);
        let fin = s.fin_seq?;
        if s.parts.len() as u64 != fin + 1 {
            return None;
        }
        let s = self.streams.remove(&key)?;
        let mut it = s.parts.into_values();
        let Some(StreamContent::Data(ProposalPart::Init { height, round, pol_round, proposer })) = it.next() else {
            return None;
        };
        let mut data = Vec::with_capacity(s.bytes);
        let mut signature = None;
        for c in it {
            match c {
                StreamContent::Data(ProposalPart::Data(b)) if signature.is_none() => data.extend_from_slice(&b),
                StreamContent::Data(ProposalPart::Fin(sig)) if signature.is_none() => signature = Some(sig),
                StreamContent::Fin if signature.is_some() => {}
                _ => return None,
            }
        }
        Some(Assembled { height, round, pol_round, proposer, data, signature: signature? })
    }

    /// True when `a` is signed by the proposer of its height and round (checked before any
    /// decoding or execution, so no other peer can make this node do work or keep memory).
    fn authentic(&self, a: &Assembled) -> bool {
        let Some(r) = a.round.as_u32() else { return false };
        let set = self.validator_set(a.height.0);
        let i = crate::context::proposer_index(set.validators().len(), a.height, a.round);
        let Some(v) = set.validators().get(i) else { return false };
        if v.address != a.proposer {
            tracing::debug!(height = a.height.0, round = r, sender = %a.proposer, "proposal parts from a validator that is not the round's proposer ignored");
            return false;
        }
        let digest = hash(self.ctx.suite, &a.data);
        let msg = part_signing_bytes(&self.ctx.chain_id, a.height, a.round, &a.proposer, &digest);
        if !check(&v.public_key.0, &msg, &a.signature) {
            tracing::warn!(proposer = %a.proposer, height = a.height.0, "proposal parts with a bad signature ignored");
            return false;
        }
        true
    }

    /// Validates an authentic proposal's block (see [`Host::authentic`]).
    async fn process(&mut self, a: Assembled) -> Result<Option<ProposedValue<FdlContext>>, LedgerError> {
        let r = a.round.as_u32().unwrap_or(0);
        let seen = self.processed.entry((a.height.0, r)).or_default();
        if *seen >= MAX_STREAMS_PER_ROUND {
            return Ok(None);
        }
        *seen += 1;
        let validity = match self.ledger.validate(a.height.0, a.proposer.0, &a.data).await {
            Ok(h) => {
                // Kept on disk too (best effort, no fsync): after a crash of every validator, any
                // node that locked on this block can re-stream it.
                let path = self.proposal_dir.join(format!("{}-peer-{h}.block", a.height.0));
                if !path.exists() && std::fs::create_dir_all(&self.proposal_dir).is_ok() {
                    let _ = std::fs::write(&path, &a.data);
                }
                self.bodies.entry(h).or_insert_with(|| Bytes::from(a.data));
                (h, Validity::Valid)
            }
            Err(LedgerError::Invalid { hash: Some(h), reason }) => {
                tracing::warn!(height = a.height.0, proposer = %a.proposer, %reason, "invalid proposal");
                (h, Validity::Invalid)
            }
            Err(e @ (LedgerError::Invalid { hash: None, .. } | LedgerError::Unknown(_))) => {
                tracing::warn!(height = a.height.0, proposer = %a.proposer, error = %e, "undecodable proposal");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let pv = ProposedValue {
            height: a.height,
            round: a.round,
            valid_round: a.pol_round,
            proposer: a.proposer,
            value: BlockValue(validity.0),
            validity: validity.1,
        };
        self.received.entry((a.height.0, r)).or_default().push(pv.clone());
        Ok(Some(pv))
    }

    fn certificate_to_commit(&self, cert: &CommitCertificate<FdlContext>) -> Result<Commit, LedgerError> {
        let set = self.validator_set(cert.height.0);
        let mut signatures = Vec::with_capacity(cert.commit_signatures.len());
        for s in &cert.commit_signatures {
            let v = set
                .get_by_address(&s.address)
                .ok_or_else(|| LedgerError::Fatal(format!("certificate signer {} is not a validator", s.address)))?;
            let signature = Signature::from_bytes(self.ctx.suite, &s.signature.0)
                .map_err(|e| LedgerError::Fatal(format!("certificate signature: {e}")))?;
            signatures.push(CommitSig { validator: v.public_key.0.clone(), signature });
        }
        Ok(Commit {
            height: cert.height.0,
            round: cert.round.as_u32().unwrap_or(0),
            block_hash: cert.value_id.0,
            signatures,
        })
    }

    fn report_evidence(&self, height: u64, evidence: &MisbehaviorEvidence<FdlContext>) {
        let set = self.validator_set(height);
        for v in set.validators() {
            if let Some(pairs) = evidence.votes.get(&v.address) {
                for (a, b) in pairs {
                    let kind =
                        if a.vote_type == malachitebft_core_types::VoteType::Prevote { "prevote" } else { "precommit" };
                    self.ledger.observe(ConsensusEvent::Equivocation {
                        height: a.height.0,
                        round: a.round.as_u32().unwrap_or(0),
                        validator: v.address.0,
                        kind,
                        values: [nil_or(&a.value), nil_or(&b.value)],
                    });
                }
            }
            if let Some(pairs) = evidence.proposals.get(&v.address) {
                for (a, b) in pairs {
                    self.ledger.observe(ConsensusEvent::Equivocation {
                        height: a.height.0,
                        round: a.round.as_u32().unwrap_or(0),
                        validator: v.address.0,
                        kind: "proposal",
                        values: [a.value.0.to_string(), b.value.0.to_string()],
                    });
                }
            }
        }
    }
}

fn nil_or(v: &malachitebft_core_types::NilOrVal<BlockValue>) -> String {
    match v {
        malachitebft_core_types::NilOrVal::Nil => "nil".into(),
        malachitebft_core_types::NilOrVal::Val(h) => h.0.to_string(),
    }
}

fn closed() -> LedgerError {
    LedgerError::Fatal("the consensus engine stopped".into())
}

/// Starts the engine and the host loop; the loop runs until `shutdown` is true or a fatal error.
///
/// # Errors
/// [`LedgerError::Fatal`] when the engine cannot start.
pub async fn start<L: Ledger>(
    ctx: FdlContext,
    cfg: ConsensusConfig,
    ledger: Arc<L>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<ConsensusHandle, LedgerError> {
    let keypair =
        Keypair::ed25519_from_bytes(cfg.network_seed).map_err(|e| LedgerError::Fatal(format!("network key: {e}")))?;
    let address = ValidatorAddress(cfg.address);
    let mut persistent = Vec::with_capacity(cfg.peers.len());
    for p in &cfg.peers {
        persistent.push(multiaddr(p.addr, Some(&p.peer_id))?);
    }
    let persistent_list = persistent.clone();
    let p2p = P2pConfig {
        listen_addr: multiaddr(cfg.listen, None)?,
        persistent_peers: persistent,
        persistent_peers_only: true,
        discovery: DiscoveryConfig { enabled: false, ..DiscoveryConfig::default() },
        pubsub_max_size: ByteSize::mib(16),
        rpc_max_size: ByteSize::mib(32),
        ..P2pConfig::default()
    };
    let mal = MalConfig {
        moniker: cfg.moniker.clone(),
        consensus: MConsensusConfig { p2p, ..MConsensusConfig::default() },
        sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            max_response_size: ByteSize::mib(32),
            batch_size: 16,
            ..ValueSyncConfig::default()
        },
    };
    let signer = cfg.signer.as_ref().map(|k| ConsensusSigner::new(&ctx.chain_id, k.clone()));
    let verifier = ConsensusVerifier::new(&ctx.chain_id);
    let identity = match &signer {
        Some(s) => {
            let pk = cfg.signer.as_ref().map(|k| k.public_key().to_bytes()).unwrap_or_default();
            let proof =
                malachitebft_signing::Signer::sign_validator_proof(s, pk, keypair.public().to_peer_id().to_bytes())
                    .await
                    .map_err(|e| LedgerError::Fatal(format!("validator proof: {e}")))?;
            let bytes = Codec::encode(&FdlCodec, &proof).map_err(|e| LedgerError::Fatal(e.to_string()))?;
            NetworkIdentity::new_validator(cfg.moniker.clone(), keypair, address.to_string(), bytes)
        }
        None => NetworkIdentity::new(cfg.moniker.clone(), keypair, None),
    };
    let consensus_ctx = match &signer {
        Some(s) => ConsensusContext::new_validator(address, Box::new(verifier), Box::new(s.clone())),
        None => ConsensusContext::new_full_node(address, Box::new(verifier)),
    };
    if let Some(dir) = cfg.wal_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LedgerError::Fatal(format!("wal dir: {e}")))?;
    }
    let (mut channels, engine) = EngineBuilder::new(ctx.clone(), mal)
        .with_default_wal(WalContext::new(cfg.wal_path.clone(), FdlCodec))
        .with_default_network(NetworkContext::new(identity, FdlCodec))
        .with_default_sync(SyncContext::new(FdlCodec))
        .with_default_consensus(consensus_ctx)
        .with_default_request(RequestContext::new(64))
        .build()
        .await
        .map_err(|e| LedgerError::Fatal(format!("consensus engine: {e:#}")))?;
    let timeouts = LinearTimeouts {
        propose: cfg.propose_timeout,
        prevote: cfg.vote_timeout,
        precommit: cfg.vote_timeout,
        rebroadcast: cfg.propose_timeout + cfg.vote_timeout * 2,
        ..LinearTimeouts::default()
    };
    let mut host = Host {
        ctx,
        ledger,
        signer,
        address,
        timeouts,
        own: HashMap::new(),
        bodies: HashMap::new(),
        streams: HashMap::new(),
        future: Vec::new(),
        received: HashMap::new(),
        stream_counter: 0,
        failed_decision: false,
        proposal_dir: cfg.proposal_dir.clone(),
        processed: HashMap::new(),
        peer_addrs: persistent_list.clone(),
    };
    let task = tokio::spawn(async move {
        let mut events = channels.events.subscribe();
        let mut peers_tick = tokio::time::interval(Duration::from_secs(2));
        let result = loop {
            tokio::select! {
                msg = channels.consensus.recv() => {
                    let Some(msg) = msg else { break Err(closed()) };
                    if let Err(e) = handle(&mut host, &channels, msg).await {
                        break Err(e);
                    }
                }
                ev = events.recv() => observe_event(&host, ev),
                _ = peers_tick.tick() => {
                    if let Ok(Some(dump)) = NetworkRequest::dump_state(&channels.net_requests).await {
                        host.ledger.observe(ConsensusEvent::Peers(dump.peers.len()));
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() { break Ok(()); }
                }
            }
        };
        engine.actor.stop(None);
        let _ = tokio::time::timeout(Duration::from_secs(5), engine.handle).await;
        result
    });
    Ok(ConsensusHandle { task })
}

fn observe_event<L: Ledger>(host: &Host<L>, ev: Result<Event<FdlContext>, tokio::sync::broadcast::error::RecvError>) {
    if let Ok(Event::Received(m)) = ev {
        let h = match &m {
            SignedConsensusMsg::Vote(v) => v.height.0,
            SignedConsensusMsg::Proposal(p) => p.height.0,
        };
        host.ledger.observe(ConsensusEvent::PeerHeight(h));
    }
}

async fn handle<L: Ledger>(
    host: &mut Host<L>,
    channels: &Channels<FdlContext>,
    msg: AppMsg<FdlContext>,
) -> Result<(), LedgerError> {
    match msg {
        AppMsg::ConsensusReady { reply } => {
            let h = host.ledger.height() + 1;
            host.prune_proposals(h - 1);
            tracing::info!(height = h, "consensus ready");
            let _ = reply.send((Height(h), host.params(h)));
        }
        AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
            tracing::debug!(height = height.0, round = %round, %proposer, ?role, "round started");
            host.ledger.observe(ConsensusEvent::Round { height: height.0, round: round.as_u32().unwrap_or(0) });
            let r = round.as_u32().unwrap_or(0);
            let values = host.received.get(&(height.0, r)).cloned().unwrap_or_default();
            let _ = reply_value.send(values);
        }
        AppMsg::GetValue { height, round, timeout, reply } => {
            let r = round.as_u32().unwrap_or(0);
            let value = host.own_value(height.0, r, timeout).await?;
            let _ = reply.send(LocallyProposedValue::new(height, round, value));
            if let Some(body) = host.bodies.get(&value.0).cloned() {
                host.publish(channels, height.0, round, Round::Nil, &body).await?;
            }
        }
        AppMsg::ExtendVote { reply, .. } => {
            let _ = reply.send(None);
        }
        AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
            let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
        }
        AppMsg::RestreamProposal { height, round, valid_round, value_id, .. } => {
            if !host.bodies.contains_key(&value_id.0) {
                host.load_stored_proposals(height.0).await?;
            }
            match host.bodies.get(&value_id.0).cloned() {
                Some(body) => host.publish(channels, height.0, round, valid_round, &body).await?,
                None => {
                    tracing::warn!(height = height.0, value = %value_id, "cannot re-stream a block this node does not hold")
                }
            }
        }
        AppMsg::GetHistoryMinHeight { reply } => {
            let _ = reply.send(Height(1));
        }
        AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
            let key = (published_by.unwrap_or(from), part.stream_id.clone());
            let mut out = None;
            if let Some(a) = host.add_part(key, part) {
                let next = host.ledger.height() + 1;
                if a.height.0 >= next && a.height.0 <= next + 2 && host.authentic(&a) {
                    if a.height.0 == next {
                        out = host.process(a).await?;
                    } else if host.future.len() < MAX_FUTURE {
                        host.future.push(a);
                    }
                }
            }
            let _ = reply.send(out);
        }
        AppMsg::Decided { certificate, reply, .. } => {
            let h = certificate.height.0;
            let commit = host.certificate_to_commit(&certificate)?;
            match host.ledger.commit(h, certificate.value_id.0, commit).await {
                Ok(()) => host.failed_decision = false,
                Err(LedgerError::Unknown(hash)) => {
                    // The block never reached us (a crash between vote and decision): sync fetches it.
                    tracing::warn!(height = h, %hash, "decided a block this node does not hold; it will sync");
                    host.failed_decision = true;
                }
                Err(e) => return Err(e),
            }
            let _ = reply.send(());
        }
        AppMsg::Finalized { certificate, evidence, reply, .. } => {
            let h = certificate.height.0;
            let set = host.validator_set(h);
            let signed: Vec<ValidatorAddress> = certificate.commit_signatures.iter().map(|s| s.address).collect();
            let missing: Vec<Address> =
                set.validators().iter().filter(|v| !signed.contains(&v.address)).map(|v| v.address.0).collect();
            let signed_power = set.validators().iter().filter(|v| signed.contains(&v.address)).map(|v| v.power).sum();
            host.ledger.observe(ConsensusEvent::Finalized {
                height: h,
                round: certificate.round.as_u32().unwrap_or(0),
                missing,
                signed_power,
                total_power: set.total_voting_power(),
            });
            host.report_evidence(h, &evidence);
            host.own.retain(|(hh, _), _| *hh > h);
            host.received.retain(|(hh, _), _| *hh > h);
            host.processed.retain(|(hh, _), _| *hh > h);
            host.bodies.clear();
            host.prune_proposals(h);
            let next = host.ledger.height() + 1;
            // Proposals that arrived before their height are validated now, before the engine
            // starts it (the engine awaits this reply without blocking).
            let (ready, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut host.future).into_iter().partition(|a| a.height.0 == next);
            host.future = later.into_iter().filter(|a| a.height.0 > next).collect();
            for a in ready {
                // Checked on arrival against the set then known; the set may have changed since.
                if host.authentic(&a) {
                    host.process(a).await?;
                }
            }
            update_peers(host, channels).await;
            let params = host.params(next);
            let _ = if host.failed_decision {
                reply.send(Next::Restart(Height(next), params))
            } else {
                reply.send(Next::Start(Height(next), params))
            };
        }
        AppMsg::GetDecidedValues { range, reply } => {
            let tip = host.ledger.height();
            let start = range.start().0.max(1);
            let end = range.end().0.min(tip).min(start.saturating_add(MAX_SYNC_BATCH - 1));
            let mut out = Vec::new();
            let mut h = start;
            while h <= end {
                let Some((bytes, commit)) = host.ledger.decided(h).await? else { break };
                out.push(RawDecidedValue::new(Bytes::from(bytes), commit_to_certificate(&commit)));
                h += 1;
            }
            let _ = reply.send(out);
        }
        AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
            let outcome = if height.0 != host.ledger.height() + 1 {
                // Between a decision and its finalization the engine may still be at the height
                // just committed: not the peer's fault.
                SyncedValueOutcome::LocalTransientError
            } else {
                match host.ledger.validate(height.0, proposer.0, &value_bytes).await {
                    Ok(h) => {
                        host.ledger.observe(ConsensusEvent::Synced(height.0));
                        SyncedValueOutcome::Verdict(ProposedValue {
                            height,
                            round,
                            valid_round: Round::Nil,
                            proposer,
                            value: BlockValue(h),
                            validity: Validity::Valid,
                        })
                    }
                    Err(LedgerError::Invalid { hash: Some(h), .. }) => SyncedValueOutcome::Verdict(ProposedValue {
                        height,
                        round,
                        valid_round: Round::Nil,
                        proposer,
                        value: BlockValue(h),
                        validity: Validity::Invalid,
                    }),
                    Err(LedgerError::Invalid { .. }) | Err(LedgerError::Unknown(_)) => SyncedValueOutcome::PeerFault,
                    Err(e) => return Err(e),
                }
            };
            let _ = reply.send(outcome);
        }
    }
    Ok(())
}

fn commit_to_certificate(c: &Commit) -> ExtendedCommitCertificate<FdlContext> {
    let mut sigs: Vec<_> = c
        .signatures
        .iter()
        .map(|s| {
            malachitebft_core_types::CommitSignature::new(
                ValidatorAddress(s.validator.address()),
                FdlSignature(s.signature.as_bytes().to_vec()),
            )
        })
        .collect();
    sigs.sort_by_key(|s: &malachitebft_core_types::CommitSignature<FdlContext>| s.address);
    ExtendedCommitCertificate {
        height: Height(c.height),
        round: Round::new(c.round),
        value_id: BlockValue(c.block_hash),
        commit_signatures: extend_signatures(sigs),
    }
}
