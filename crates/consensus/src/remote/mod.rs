//! The remote signer (JR/T 0184 STD-8.2, STD-8.4; ADR 0015): a validator's key in its own
//! process, signing votes, proposals and proposal-part streams for the node over an
//! authenticated local channel, and refusing to sign two different messages for the same
//! height, round and step, with that record kept across restarts.
//!
//! - [`wire`]: frames and typed requests. The node sends a message's fields, never bytes to sign.
//! - [`auth`]: the token both sides prove with HMAC-SM3 over fresh nonces.
//! - [`state`]: the double-sign record and its file.
//! - [`SignerServer`]: the signer's Unix-socket server (mode 0600, same-uid peers only).
//! - [`RemoteClient`]: the node's side (reconnects with backoff).

mod auth;
mod client;
mod server;
pub mod state;
pub mod wire;

#[cfg(test)]
mod tests;

use fdl_crypto::{Address, Hash};
use malachitebft_core_types::{NilOrVal, Round, ValidatorProof, VoteType};

pub use auth::Token;
pub use client::RemoteClient;
pub use server::{ServerConfig, SignerServer};
pub use state::{SignState, StateError};
pub use wire::{MAX_FRAME, Refusal, Request, Response, Step, VoteKind};

use crate::{
    context::{BlockValue, FdlContext, Height, Proposal, ValidatorAddress, Vote},
    signing::{part_signing_bytes, proposal_signing_bytes, vote_signing_bytes},
};

/// What went wrong between a node and its signer.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The connection failed or closed.
    #[error("signer connection: {0}")]
    Transport(String),
    /// A frame over [`MAX_FRAME`] bytes (the connection is closed).
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME}")]
    FrameTooLarge(usize),
    /// A message that does not decode.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The other side did not prove the token, or is another user.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The signer refused to sign.
    #[error("the signer refused: {0}")]
    Refused(#[from] Refusal),
    /// The token file is missing, exposed or malformed.
    #[error("token: {0}")]
    Token(String),
    /// The double-sign state cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// The socket cannot be created or is in use.
    #[error("socket {path}: {why}")]
    Socket {
        /// The socket's path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The key, or a signature the signer returned, is unusable.
    #[error("key: {0}")]
    Key(String),
}

impl RemoteError {
    pub(crate) fn io(e: std::io::Error) -> Self {
        RemoteError::Transport(e.to_string())
    }

    /// The signer's refusal, when this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            RemoteError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

/// The slot a signing request occupies (none for a validator proof) and the bytes its signature
/// covers, for the validator with `address` and public key bytes `public_key` on `chain_id`.
///
/// # Errors
/// [`Refusal::WrongChain`] or [`Refusal::WrongValidator`] for a request of another chain or
/// validator; [`Refusal::BadRequest`] for a public-key request.
pub fn signing_bytes(
    req: &Request,
    chain_id: &str,
    address: Address,
    public_key: &[u8],
) -> Result<(Option<state::Slot>, Vec<u8>), Refusal> {
    let check = |chain: &str, who: &Address| {
        if chain != chain_id {
            return Err(Refusal::WrongChain(chain_id.to_string()));
        }
        if *who != address {
            return Err(Refusal::WrongValidator(address.to_string()));
        }
        Ok(())
    };
    match req {
        Request::PublicKey => Err(Refusal::BadRequest("a public-key request signs nothing".into())),
        Request::Vote { chain_id: chain, voter, kind, height, round, value } => {
            check(chain, voter)?;
            let (vote_type, step) = match kind {
                VoteKind::Prevote => (VoteType::Prevote, Step::Prevote),
                VoteKind::Precommit => (VoteType::Precommit, Step::Precommit),
            };
            let vote = Vote {
                vote_type,
                height: Height(*height),
                round: Round::new(*round),
                value: value.map_or(NilOrVal::Nil, |h| NilOrVal::Val(BlockValue(h))),
                voter: ValidatorAddress(address),
                extension: None,
            };
            Ok((Some((*height, *round, step)), vote_signing_bytes(chain_id, &vote)))
        }
        Request::Proposal { chain_id: chain, proposer, height, round, value, pol_round } => {
            check(chain, proposer)?;
            let p = Proposal {
                height: Height(*height),
                round: Round::new(*round),
                value: BlockValue(*value),
                pol_round: wire::round_of(*pol_round),
                proposer: ValidatorAddress(address),
            };
            Ok((Some((*height, *round, Step::Proposal)), proposal_signing_bytes(chain_id, &p)))
        }
        Request::ProposalPart { chain_id: chain, proposer, height, round, pol_round, data_hash } => {
            check(chain, proposer)?;
            let bytes = part_signing_bytes(
                chain_id,
                Height(*height),
                Round::new(*round),
                wire::round_of(*pol_round),
                &ValidatorAddress(address),
                data_hash,
            );
            Ok((Some((*height, *round, Step::ProposalPart)), bytes))
        }
        Request::ValidatorProof { public_key: pk, peer_id } => {
            if pk.as_slice() != public_key {
                return Err(Refusal::WrongValidator(address.to_string()));
            }
            Ok((None, ValidatorProof::<FdlContext>::signing_bytes(pk, peer_id)))
        }
    }
}

/// A precommit request for a block: what a one-validator node's commit signature is.
pub fn precommit(chain_id: &str, voter: Address, height: u64, round: u32, block: Hash) -> Request {
    Request::Vote {
        chain_id: chain_id.to_string(),
        voter,
        kind: VoteKind::Precommit,
        height,
        round,
        value: Some(block),
    }
}
