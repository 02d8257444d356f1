//! Proposal authentication: a complete stream counts only when the proposer of its height and
//! round signed it. The check comes before any decoding or execution, so no other peer can make
//! this node do work or keep memory.

use fdl_crypto::{Hash, hash};
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
/// suite of `ctx`; returns the hash of its data (the block's encoding), which the signature covers.
pub(super) fn authenticate(ctx: &FdlContext, set: &ValidatorSet, a: &Assembled) -> Result<Hash, Refusal> {
    if a.round.as_u32().is_none() {
        return Err(Refusal::NilRound);
    }
    let i = proposer_index(set.validators().len(), a.height, a.round);
    let Some(v) = set.validators().get(i) else { return Err(Refusal::NoProposer) };
    if v.address != a.proposer {
        return Err(Refusal::NotProposer);
    }
    let digest = hash(ctx.suite, &a.data);
    let msg = part_signing_bytes(&ctx.chain_id, a.height, a.round, a.pol_round, &a.proposer, &digest);
    if !check(&v.public_key.0, &msg, &a.signature) {
        return Err(Refusal::BadSignature);
    }
    Ok(digest)
}

/// The proposer's signature that closes a stream carrying `data` for (`height`, `round`) with
/// the proof-of-lock round `pol_round`.
pub(super) async fn sign_parts(
    ctx: &FdlContext,
    signer: &ConsensusSigner,
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: &ValidatorAddress,
    data: &[u8],
) -> Result<FdlSignature, SigningError> {
    let digest = hash(ctx.suite, data);
    signer.sign_part(height, round, pol_round, proposer, &digest).await
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Instant};

    use bytes::Bytes;
    use fdl_crypto::{KeyPair, Signer as _, Suite};

    use super::*;
    use crate::{
        context::Validator,
        host::streams::{StreamIds, StreamTable, proposal_parts, stream_messages},
    };

    const CHAIN: &str = "fdl-test";

    struct Fixture {
        ctx: FdlContext,
        keys: Vec<KeyPair>,
        set: ValidatorSet,
    }

    /// Four validators of equal power with keys of `suite`.
    fn fixture(suite: Suite) -> Fixture {
        let keys: Vec<KeyPair> = (1..=4u8)
            .map(|i| match suite {
                Suite::Intl => KeyPair::ed25519_from_seed(&[i; 32]),
                Suite::Sm => KeyPair::sm2_from_scalar(&[i; 32]).expect("valid scalar"),
            })
            .collect();
        let set = ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 10)).collect());
        Fixture { ctx: FdlContext::new(CHAIN, suite), keys, set }
    }

    impl Fixture {
        /// The key of the validator at `index` in canonical order.
        fn key_at(&self, index: usize) -> &KeyPair {
            let address = self.set.validators()[index].address;
            self.keys.iter().find(|k| k.address() == address.0).expect("a validator's key")
        }

        /// The round's proposer key, and another validator's.
        fn proposer_and_other(&self, height: Height, round: Round) -> (&KeyPair, &KeyPair) {
            let i = proposer_index(self.set.validators().len(), height, round);
            (self.key_at(i), self.key_at((i + 1) % self.set.validators().len()))
        }
    }

    /// A proposal for `data` that names `proposer` and is signed by `key`.
    fn signed(
        ctx: &FdlContext,
        key: &KeyPair,
        proposer: ValidatorAddress,
        height: Height,
        round: Round,
        data: &[u8],
    ) -> Assembled {
        let signer = ConsensusSigner::new(CHAIN, Arc::new(key.clone()));
        let sig = block(sign_parts(ctx, &signer, height, round, Round::Nil, &proposer, data)).expect("signs");
        Assembled { height, round, pol_round: Round::Nil, proposer, data: data.to_vec(), signature: Bytes::from(sig.0) }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
    }

    fn own(key: &KeyPair) -> ValidatorAddress {
        ValidatorAddress(key.address())
    }

    const H: Height = Height(7);

    fn r() -> Round {
        Round::new(2)
    }

    #[test]
    fn the_round_proposers_signature_is_accepted() {
        for suite in [Suite::Intl, Suite::Sm] {
            let f = fixture(suite);
            let (p, _) = f.proposer_and_other(H, r());
            let a = signed(&f.ctx, p, own(p), H, r(), b"a block");
            assert_eq!(authenticate(&f.ctx, &f.set, &a), Ok(hash(suite, b"a block")), "{suite:?}");
            let empty = signed(&f.ctx, p, own(p), H, r(), b"");
            assert_eq!(authenticate(&f.ctx, &f.set, &empty), Ok(hash(suite, b"")), "{suite:?}: an empty block");
        }
    }

    #[test]
    fn another_validators_signature_is_refused() {
        let f = fixture(Suite::Intl);
        let (p, other) = f.proposer_and_other(H, r());
        // Names the round's proposer, signed by another validator.
        let a = signed(&f.ctx, other, own(p), H, r(), b"a block");
        assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::BadSignature));
        // Names and is signed by a validator that is not the round's proposer.
        let a = signed(&f.ctx, other, own(other), H, r(), b"a block");
        assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::NotProposer));
        // Signed by the proposer of the next round, for this one.
        let next = Round::new(3);
        let (p_next, _) = f.proposer_and_other(H, next);
        assert_ne!(own(p_next), own(p));
        let a = signed(&f.ctx, p_next, own(p_next), H, r(), b"a block");
        assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::NotProposer));
    }

    #[test]
    fn a_non_validators_signature_is_refused() {
        let f = fixture(Suite::Intl);
        let (p, _) = f.proposer_and_other(H, r());
        let outsider = KeyPair::ed25519_from_seed(&[99; 32]);
        assert!(f.set.validators().iter().all(|v| v.address != own(&outsider)));
        let a = signed(&f.ctx, &outsider, own(&outsider), H, r(), b"a block");
        assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::NotProposer));
        let a = signed(&f.ctx, &outsider, own(p), H, r(), b"a block");
        assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::BadSignature));
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        for suite in [Suite::Intl, Suite::Sm] {
            let f = fixture(suite);
            let (p, _) = f.proposer_and_other(H, r());
            let good = signed(&f.ctx, p, own(p), H, r(), b"a block");
            let sig = good.signature.to_vec();
            let mut variants = vec![Vec::new(), sig[..sig.len() - 1].to_vec(), [sig.clone(), vec![0]].concat()];
            for i in [0, sig.len() / 2, sig.len() - 1] {
                let mut s = sig.clone();
                s[i] ^= 0x01;
                variants.push(s);
            }
            for s in variants {
                let a = Assembled { signature: Bytes::from(s.clone()), ..good.clone() };
                assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::BadSignature), "{suite:?} {s:?}");
            }
        }
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let f = fixture(Suite::Intl);
        let (p, _) = f.proposer_and_other(H, r());
        let good = signed(&f.ctx, p, own(p), H, r(), b"a block");
        let mut flipped = good.data.clone();
        flipped[0] ^= 0x80;
        let datas = [flipped, good.data[..good.data.len() - 1].to_vec(), [good.data.clone(), vec![0]].concat()];
        for data in datas {
            let a = Assembled { data, ..good.clone() };
            assert_eq!(authenticate(&f.ctx, &f.set, &a), Err(Refusal::BadSignature));
        }
    }

    #[test]
    fn a_signature_for_another_height_round_or_chain_is_refused() {
        let f = fixture(Suite::Intl);
        let (p, _) = f.proposer_and_other(H, r());
        let good = signed(&f.ctx, p, own(p), H, r(), b"a block");
        // Same proposer index, other height and round: (height - 1 + round) mod 4 is unchanged.
        let moved = Assembled { height: Height(H.0 + 1), round: Round::new(1), ..good.clone() };
        assert_eq!(
            proposer_index(4, moved.height, moved.round),
            proposer_index(4, H, r()),
            "the test needs the same proposer"
        );
        assert_eq!(authenticate(&f.ctx, &f.set, &moved), Err(Refusal::BadSignature));
        let other_chain = FdlContext::new("another-chain", Suite::Intl);
        assert_eq!(authenticate(&other_chain, &f.set, &good), Err(Refusal::BadSignature));
    }

    #[test]
    fn the_part_signature_covers_the_pol_round() {
        let f = fixture(Suite::Intl);
        let (p, _) = f.proposer_and_other(H, r());
        let good = signed(&f.ctx, p, own(p), H, r(), b"a block");
        assert!(authenticate(&f.ctx, &f.set, &good).is_ok());
        // A relay turns the proposal into a re-proposal claiming a lock round, or changes it.
        for pol in [Round::new(0), Round::new(1)] {
            let claimed = Assembled { pol_round: pol, ..good.clone() };
            assert_eq!(authenticate(&f.ctx, &f.set, &claimed), Err(Refusal::BadSignature), "{pol:?}");
        }
        let signer = ConsensusSigner::new(CHAIN, Arc::new(p.clone()));
        let sig = block(sign_parts(&f.ctx, &signer, H, r(), Round::new(1), &own(p), b"a block")).expect("signs");
        let relocked = Assembled { pol_round: Round::new(1), signature: Bytes::from(sig.0), ..good.clone() };
        assert!(authenticate(&f.ctx, &f.set, &relocked).is_ok());
        let unlocked = Assembled { pol_round: Round::Nil, ..relocked };
        assert_eq!(authenticate(&f.ctx, &f.set, &unlocked), Err(Refusal::BadSignature));
    }

    #[test]
    fn a_nil_round_or_an_empty_set_is_refused() {
        let f = fixture(Suite::Intl);
        let (p, _) = f.proposer_and_other(H, r());
        let good = signed(&f.ctx, p, own(p), H, r(), b"a block");
        let nil = Assembled { round: Round::Nil, ..good.clone() };
        assert_eq!(authenticate(&f.ctx, &f.set, &nil), Err(Refusal::NilRound));
        assert_eq!(authenticate(&f.ctx, &ValidatorSet::new(Vec::new()), &good), Err(Refusal::NoProposer));
    }

    /// What this node publishes, reassembled in any order, authenticates; after any change to one
    /// data part it does not.
    #[test]
    fn a_published_stream_reassembles_and_authenticates() {
        let f = fixture(Suite::Intl);
        let (p, _) = f.proposer_and_other(H, r());
        let body = Bytes::from(vec![5u8; super::super::streams::DATA_PART_SIZE * 2 + 17]);
        let signer = ConsensusSigner::new(CHAIN, Arc::new(p.clone()));
        let sig = block(sign_parts(&f.ctx, &signer, H, r(), Round::Nil, &own(p), &body)).expect("signs");
        let parts = proposal_parts(H, r(), Round::Nil, own(p), &body, Bytes::from(sig.0));
        let mut msgs = stream_messages(StreamIds::default().next(H.0, 2), parts);
        msgs.rotate_left(2);
        let mut t = StreamTable::new();
        let now = Instant::now();
        let done: Vec<Assembled> =
            msgs.iter().filter_map(|m| t.add_part(0u8, m.clone(), now, |_, _, _| true)).collect();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].data, body.to_vec());
        assert_eq!(authenticate(&f.ctx, &f.set, &done[0]), Ok(hash(Suite::Intl, &body)));

        let data_seq = msgs
            .iter()
            .position(|m| matches!(m.content.as_data(), Some(crate::ProposalPart::Data(_))))
            .expect("a data part");
        if let Some(crate::ProposalPart::Data(b)) = msgs[data_seq].content.as_data() {
            let mut changed = b.to_vec();
            changed[3] ^= 0x10;
            msgs[data_seq].content = malachitebft_app_channel::app::streaming::StreamContent::Data(
                crate::ProposalPart::Data(changed.into()),
            );
        }
        let done: Vec<Assembled> =
            msgs.iter().filter_map(|m| t.add_part(1u8, m.clone(), now, |_, _, _| true)).collect();
        assert_eq!(done.len(), 1);
        assert_eq!(authenticate(&f.ctx, &f.set, &done[0]), Err(Refusal::BadSignature));
    }
}
