//! Proposal authentication: a complete stream counts only when the proposer of its height and
//! round signed it. The check comes before any decoding or execution, so no other peer can make
//! this node do work or keep memory.

use fdl_crypto::hash;
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_signing::Error as SigningError;

use super::streams::Assembled;
use crate::{
    context::{FdlContext, Height, ValidatorAddress, ValidatorSet, proposer_index},
    signing::{ConsensusSigner, FdlSignature, check, part_signing_bytes},
};

/// Why an assembled proposal is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The stream names the nil round.
    NilRound,
    /// The validator set is empty, so the round has no proposer.
    NoProposer,
    /// The stream names a proposer other than the round's.
    NotProposer,
    /// The signature is not the proposer's over the data, height, round and proposer.
    BadSignature,
}

/// Checks that `a` is signed by the proposer of its height and round in `set`, for the chain and
/// suite of `ctx`.
pub(super) fn authenticate(ctx: &FdlContext, set: &ValidatorSet, a: &Assembled) -> Result<(), Refusal> {
    if a.round.as_u32().is_none() {
        return Err(Refusal::NilRound);
    }
    let i = proposer_index(set.validators().len(), a.height, a.round);
    let Some(v) = set.validators().get(i) else { return Err(Refusal::NoProposer) };
    if v.address != a.proposer {
        return Err(Refusal::NotProposer);
    }
    let digest = hash(ctx.suite, &a.data);
    let msg = part_signing_bytes(&ctx.chain_id, a.height, a.round, &a.proposer, &digest);
    if !check(&v.public_key.0, &msg, &a.signature) {
        return Err(Refusal::BadSignature);
    }
    Ok(())
}

/// The proposer's signature that closes a stream carrying `data` for (`height`, `round`).
pub(super) fn sign_parts(
    ctx: &FdlContext,
    signer: &ConsensusSigner,
    height: Height,
    round: Round,
    proposer: &ValidatorAddress,
    data: &[u8],
) -> Result<FdlSignature, SigningError> {
    let digest = hash(ctx.suite, data);
    signer.sign_bytes(&part_signing_bytes(&ctx.chain_id, height, round, proposer, &digest))
}
