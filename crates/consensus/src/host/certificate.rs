//! Malachite commit certificates to and from FDL [`Commit`]s. A precommit for a block signs
//! exactly [`Commit::signing_bytes`], so the conversion only renames: addresses become the
//! validators' keys and back.

use fdl_crypto::{Signature, Suite};
use fdl_types::{Commit, CommitSig};
use malachitebft_app_channel::app::types::core::{CommitCertificate, ExtendedCommitCertificate, Round};
use malachitebft_core_types::{CommitSignature, ValidatorSet as _};

use super::{LedgerError, round_number};
use crate::{
    codec::extend_signatures,
    context::{BlockValue, FdlContext, Height, ValidatorAddress, ValidatorSet},
    signing::FdlSignature,
};

/// The FDL commit for a certificate of a height whose validators are `set`.
///
/// # Errors
/// [`LedgerError::Fatal`] when a signer is not in `set` or a signature does not decode for
/// `suite` (the engine verified the certificate, so either means local state is wrong).
pub(super) fn certificate_to_commit(
    set: &ValidatorSet,
    suite: Suite,
    cert: &CommitCertificate<FdlContext>,
) -> Result<Commit, LedgerError> {
    let mut signatures = Vec::with_capacity(cert.commit_signatures.len());
    for s in &cert.commit_signatures {
        let v = set
            .get_by_address(&s.address)
            .ok_or_else(|| LedgerError::Fatal(format!("certificate signer {} is not a validator", s.address)))?;
        let signature = Signature::from_bytes(suite, &s.signature.0)
            .map_err(|e| LedgerError::Fatal(format!("certificate signature: {e}")))?;
        signatures.push(CommitSig { validator: v.public_key.0.clone(), signature });
    }
    Ok(Commit { height: cert.height.0, round: round_number(cert.round), block_hash: cert.value_id.0, signatures })
}

/// The certificate for a stored commit, as sync serves it (signatures sorted by address).
pub(super) fn commit_to_certificate(c: &Commit) -> ExtendedCommitCertificate<FdlContext> {
    let mut sigs: Vec<_> = c
        .signatures
        .iter()
        .map(|s| {
            CommitSignature::new(ValidatorAddress(s.validator.address()), FdlSignature(s.signature.as_bytes().to_vec()))
        })
        .collect();
    sigs.sort_by_key(|s: &CommitSignature<FdlContext>| s.address);
    ExtendedCommitCertificate {
        height: Height(c.height),
        round: Round::new(c.round),
        value_id: BlockValue(c.block_hash),
        commit_signatures: extend_signatures(sigs),
    }
}
