//! The host loop: answers the engine's requests with calls on the node's [`Ledger`].
//!
//! | engine request | what FDL does |
//! |---|---|
//! | `ConsensusReady` | starts at the ledger's height + 1 with the genesis validator set |
//! | `GetValue` | the ledger builds a block; it is streamed as signed proposal parts |
//! | `StartedRound` | replays the round's validated proposals; frees what was kept in memory for earlier rounds |
//! | `ReceivedProposalPart` | reassembles a stream within per-peer quotas, opened only by an `Init` naming the proposer of a (height, round) in the window; checks the proposer's part signature; the ledger validates at most a few distinct blocks per round |
//! | `Decided` | the precommits become an FDL `Commit`; the ledger stores block and certificate atomically |
//! | `GetDecidedValues` / `ProcessSyncedValue` | sync serves stored blocks (within the response size) and validates fetched ones |
//! | engine event `Received` | a vote or proposal above the next height, once its signature checks, counts toward the peers' height |
//!
//! The loop hands each request to one method of `Host` (see `handlers`). The pieces it uses:
//!
//! - `ledger`: the node-facing API ([`Ledger`], [`LedgerError`], [`ConsensusEvent`], [`PeerAddr`]);
//! - `startup`: the engine's configuration, start-up and the loop itself ([`start`]);
//! - `streams`: proposal-part streams, cut and reassembled within per-peer quotas;
//! - `auth`: the proposer's signature over a stream;
//! - `proposals`: own and peers' proposals and blocks by height and round, on disk and in memory, and
//!   the window of heights and rounds whose proposals are admitted;
//! - `certificate`: Malachite commit certificates to and from FDL [`fdl_types::Commit`]s;
//! - `events`: what the loop reports to the node, and the peers' height from verified messages;
//! - `peers`: the persistent peer list kept in line with the member set.

use std::{sync::Arc, time::Duration};

use malachitebft_app_channel::app::{
    engine::host::HeightParams,
    net::Multiaddr,
    types::{
        PeerId,
        core::{LinearTimeouts, Round},
    },
};

use crate::{
    context::{FdlContext, Validator, ValidatorAddress, ValidatorSet},
    signing::ConsensusSigner,
};

mod auth;
#[cfg(feature = "byzantine")]
mod byzantine;
mod certificate;
mod events;
mod handlers;
mod ledger;
mod peers;
mod proposals;
mod startup;
mod streams;

pub use ledger::{ConsensusEvent, Ledger, LedgerError, PeerAddr};
pub use startup::{ConsensusConfig, ConsensusHandle, network_peer_id, start};

use proposals::ProposalStore;
use streams::{StreamIds, StreamTable};

/// Vote steps in a round (prevote and precommit): a round lasts the propose timeout plus this
/// many vote timeouts, which is when the engine rebroadcasts its votes.
const VOTE_STEPS: u32 = 2;

/// What the host loop keeps between the engine's requests.
struct Host<L: Ledger> {
    ctx: FdlContext,
    ledger: Arc<L>,
    signer: Option<ConsensusSigner>,
    address: ValidatorAddress,
    /// The configured timeouts (the ledger may set others per height).
    timeouts: LinearTimeouts,
    /// Peers' partly received proposal streams, by publisher (and stream id within it).
    streams: StreamTable<PeerId>,
    /// Ids of this node's own streams.
    stream_ids: StreamIds,
    /// Own and peers' proposals and their blocks.
    proposals: ProposalStore,
    /// The last decision's block was unknown: the next height restarts so that sync fetches it.
    failed_decision: bool,
    /// The persistent peers Malachite currently keeps.
    peer_addrs: Vec<Multiaddr>,
    /// The heights validators have shown in verified messages (for the sync lag).
    peer_heights: events::PeerHeights,
}

impl<L: Ledger> Host<L> {
    /// The validator set of `height`, as the ledger reports it.
    fn validator_set(&self, height: u64) -> ValidatorSet {
        ValidatorSet::new(self.ledger.validators(height).into_iter().map(|(k, p)| Validator::new(k, p)).collect())
    }

    /// The engine's parameters for `height`: its validator set and timeouts.
    fn params(&self, height: u64) -> HeightParams<FdlContext> {
        let timeouts = match self.ledger.timeouts(height) {
            Some((propose, vote)) => linear_timeouts(propose, vote, self.timeouts),
            None => self.timeouts,
        };
        HeightParams::new(self.validator_set(height), timeouts, None)
    }
}

/// `base` with the `propose` timeout, the `vote` timeout for prevotes and precommits, and a
/// rebroadcast after a whole round.
fn linear_timeouts(propose: Duration, vote: Duration, base: LinearTimeouts) -> LinearTimeouts {
    LinearTimeouts { propose, prevote: vote, precommit: vote, rebroadcast: propose + vote * VOTE_STEPS, ..base }
}

/// The error when the engine's channels are closed.
fn closed() -> LedgerError {
    LedgerError::Fatal("the consensus engine stopped".into())
}

/// A local I/O failure, fatal.
fn io_fatal(what: &str, e: std::io::Error) -> LedgerError {
    LedgerError::Fatal(format!("{what}: {e}"))
}

/// The round as the ledger and the events count it (a nil round counts as 0).
fn round_number(round: Round) -> u32 {
    round.as_u32().unwrap_or(0)
}
