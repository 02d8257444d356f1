//! FDL consensus: the [Malachite](https://github.com/circlefin/malachite) Tendermint engine with
//! FDL's context, signing scheme, codecs and host loop.
//!
//! Every Malachite type stays behind this crate, so an engine upgrade touches one place. The node
//! drives the ledger through the [`Ledger`] trait; this crate turns the engine's requests into
//! calls on it (ADR 0006).

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod codec;
mod context;
mod host;
pub mod remote;
mod signing;

pub use codec::{CodecError, FdlCodec};
pub use context::{
    BlockValue, FdlContext, Height, Proposal, ProposalPart, Validator, ValidatorAddress, ValidatorSet, Vote,
    proposer_index,
};
pub use host::{
    ConsensusConfig, ConsensusEvent, ConsensusHandle, Ledger, LedgerError, PeerAddr, network_peer_id, start,
};
pub use signing::{
    ConsensusSigner, ConsensusVerifier, FdlPublicKey, FdlScheme, FdlSignature, ValidatorKey, part_signing_bytes,
    proposal_signing_bytes, vote_signing_bytes,
};
