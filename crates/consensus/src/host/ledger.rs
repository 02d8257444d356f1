//! What the node provides and learns: the [`Ledger`] the host loop drives, its errors, and the
//! events the loop reports.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use fdl_crypto::{Address, Hash, PublicKey};
use fdl_types::Commit;

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
    /// The height peers have committed, as far as verified messages show (sync lag = this - own
    /// height): one below the highest height that validators with more than a third of the
    /// voting power signed votes or proposals for lately; 0 when none is known. Reported when it
    /// rises and periodically (it falls when records expire): the latest report replaces the
    /// previous one.
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
    /// Test-only (feature `byzantine`): builds this node's block for `height` as
    /// [`Ledger::propose`] does, from the transactions taken from the pool as `tamper` changed them; a
    /// misbehaving validator proposes it (docs/testing.md). The default ignores `tamper`.
    #[cfg(feature = "byzantine")]
    async fn propose_tampered(
        &self,
        height: u64,
        deadline: Instant,
        tamper: fn(Vec<fdl_types::SignedTx>) -> Vec<fdl_types::SignedTx>,
    ) -> Result<(Hash, Vec<u8>), LedgerError> {
        let _ = tamper;
        self.propose(height, deadline).await
    }
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
