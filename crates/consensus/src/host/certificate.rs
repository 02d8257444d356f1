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

#[cfg(test)]
mod tests {
    use fdl_crypto::{Hash, KeyPair, Signer as _};

    use super::*;
    use crate::context::Validator;

    fn keys() -> Vec<KeyPair> {
        (1..=3u8).map(|i| KeyPair::ed25519_from_seed(&[i; 32])).collect()
    }

    fn commit(keys: &[KeyPair]) -> Commit {
        let (height, round, block_hash) = (9, 1, Hash([4; 32]));
        let msg = Commit::signing_bytes("fdl-test", height, round, &block_hash);
        let mut signatures: Vec<CommitSig> = keys
            .iter()
            .map(|k| CommitSig { validator: k.public_key(), signature: k.sign(&msg).expect("signs") })
            .collect();
        signatures.sort_by_key(|s| s.validator.address());
        Commit { height, round, block_hash, signatures }
    }

    #[test]
    fn a_commit_survives_the_round_trip() {
        let keys = keys();
        let set = ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 1)).collect());
        let c = commit(&keys);
        let cert = commit_to_certificate(&c);
        assert_eq!(cert.height, Height(9));
        assert_eq!(cert.round, Round::new(1));
        assert_eq!(cert.commit_signatures.len(), 3);
        let back = certificate_to_commit(&set, Suite::Intl, &cert.trim_vote_extensions()).expect("converts");
        assert_eq!(back, c);
    }

    #[test]
    fn certificate_signatures_are_sorted_by_address() {
        let keys = keys();
        let mut c = commit(&keys);
        c.signatures.reverse();
        let cert = commit_to_certificate(&c);
        let addrs: Vec<_> = cert.commit_signatures.iter().map(|s| s.address).collect();
        let mut sorted = addrs.clone();
        sorted.sort();
        assert_eq!(addrs, sorted);
    }

    #[test]
    fn a_signer_outside_the_set_or_a_bad_signature_is_fatal() {
        let keys = keys();
        let c = commit(&keys);
        let cert = commit_to_certificate(&c).trim_vote_extensions();
        let fewer = ValidatorSet::new(keys[..2].iter().map(|k| Validator::new(k.public_key(), 1)).collect());
        assert!(matches!(certificate_to_commit(&fewer, Suite::Intl, &cert), Err(LedgerError::Fatal(_))));
        let all = ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 1)).collect());
        let mut bad = cert.clone();
        bad.commit_signatures[0].signature = FdlSignature(vec![1, 2, 3]);
        assert!(matches!(certificate_to_commit(&all, Suite::Intl, &bad), Err(LedgerError::Fatal(_))));
    }
}
