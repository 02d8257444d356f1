//! The consensus wire codec (`fdl_consensus::FdlCodec`): the bytes peers send each other and the
//! write-ahead log keeps. Every message type it decodes gets the same input; none may panic, and
//! whatever decodes must re-encode to the same bytes (the codec is canonical: fixed-width
//! integers, strict tags, length-prefixed fields). The blocks inside (synced values, proposal
//! data) also go through the block decoder.

use std::any::type_name;

use bytes::Bytes;
use fdl_consensus::{BlockValue, FdlCodec, FdlContext, Height, Proposal, ProposalPart, ValidatorAddress, Vote};
use fdl_crypto::{Address, Hash, KeyPair, Signer as _};
use malachitebft_app_channel::app::{
    consensus::LivenessMsg,
    streaming::{StreamContent, StreamId, StreamMessage},
    types::{
        PeerId, ProposedValue, SignedConsensusMsg,
        codec::{Codec, HasEncodedLen as _},
        core::{
            ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature, Round,
            RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof, Validity, VoteType,
        },
        sync::{RawDecidedValue, Request, Response, Status},
    },
};
use malachitebft_sync::{ValueRequest, ValueResponse};

/// Decodes `data` as every message type the consensus codec decodes: no panic, and canonical
/// re-encoding of whatever decodes.
pub fn consensus_codec(data: &[u8]) {
    decode_all(data);
}

/// What [`consensus_codec`] does, returning how many message types `data` decodes as.
fn decode_all(data: &[u8]) -> usize {
    let b = Bytes::copy_from_slice(data);
    let mut n = 0;
    if let Some(part) = canonical::<ProposalPart>(&b) {
        n += 1;
        if let ProposalPart::Data(chunk) = part {
            crate::tx_decode(&chunk);
        }
    }
    n += usize::from(canonical::<SignedConsensusMsg<FdlContext>>(&b).is_some());
    n += usize::from(canonical::<LivenessMsg<FdlContext>>(&b).is_some());
    if let Some(msg) = canonical::<StreamMessage<ProposalPart>>(&b) {
        n += 1;
        if let StreamContent::Data(ProposalPart::Data(chunk)) = msg.content {
            crate::tx_decode(&chunk);
        }
    }
    n += usize::from(canonical::<ValidatorProof<FdlContext>>(&b).is_some());
    n += usize::from(canonical::<Status<FdlContext>>(&b).is_some());
    n += usize::from(canonical::<Request<FdlContext>>(&b).is_some());
    if let Some(response) = canonical::<Response<FdlContext>>(&b) {
        n += 1;
        assert_eq!(FdlCodec.encoded_len(&response).ok(), Some(data.len()), "Response: encoded_len");
        let Response::ValueResponse(v) = &response;
        for value in &v.values {
            // Synced values are encoded blocks, which the node decodes next.
            crate::tx_decode(&value.value_bytes);
        }
    }
    n += usize::from(canonical::<ProposedValue<FdlContext>>(&b).is_some());
    n += usize::from(canonical::<PolkaCertificate<FdlContext>>(&b).is_some());
    n
}

/// Decodes `b` as a `T`; if it decodes, it must encode again, to the same bytes.
fn canonical<T>(b: &Bytes) -> Option<T>
where
    FdlCodec: Codec<T>,
{
    let v = <FdlCodec as Codec<T>>::decode(&FdlCodec, b.clone()).ok()?;
    let again = match <FdlCodec as Codec<T>>::encode(&FdlCodec, &v) {
        Ok(again) => again,
        Err(e) => panic!("{}: a decoded message does not encode: {e}", type_name::<T>()),
    };
    assert_eq!(again, *b, "{}: a decoded message re-encodes to other bytes", type_name::<T>());
    Some(v)
}

fn encode<T>(v: &T) -> Vec<u8>
where
    FdlCodec: Codec<T>,
{
    <FdlCodec as Codec<T>>::encode(&FdlCodec, v).expect("seed messages encode").to_vec()
}

/// Seed inputs: a valid encoding of every message type and of each variant inside them (votes of
/// both types, nil and not, with and without an extension; every proposal part; every liveness
/// message; sync requests, responses and status), signed with real keys of both suites.
pub fn seeds() -> Vec<Vec<u8>> {
    let sm = KeyPair::sm2_from_scalar(&[0x42; 32]).expect("valid scalar");
    let ed = KeyPair::ed25519_from_seed(&[7; 32]);
    let addr = |k: &KeyPair| ValidatorAddress(k.address());
    let sig = |k: &KeyPair, msg: &[u8]| fdl_consensus::FdlSignature(k.sign(msg).expect("sign").as_bytes().to_vec());
    let value = BlockValue(Hash([0xab; 32]));
    let block = crate::seed_block();
    let chain = "fuzz";
    let mut out = Vec::new();

    for k in [&sm, &ed] {
        for (vote_type, v, round, extension) in [
            (VoteType::Prevote, NilOrVal::Nil, Round::new(0), false),
            (VoteType::Prevote, NilOrVal::Val(value), Round::new(3), false),
            (VoteType::Precommit, NilOrVal::Nil, Round::new(1), false),
            (VoteType::Precommit, NilOrVal::Val(value), Round::new(u32::MAX), true),
        ] {
            let vote = Vote {
                vote_type,
                height: Height(5),
                round,
                value: v,
                voter: addr(k),
                extension: extension.then(|| SignedMessage::new((), sig(k, b"extension"))),
            };
            let s = sig(k, &fdl_consensus::vote_signing_bytes(chain, &vote));
            let signed = SignedMessage::new(vote, s);
            out.push(encode(&SignedConsensusMsg::<FdlContext>::Vote(signed.clone())));
            out.push(encode(&LivenessMsg::<FdlContext>::Vote(signed)));
        }
        for pol_round in [Round::Nil, Round::new(2)] {
            let p = Proposal { height: Height(5), round: Round::new(3), value, pol_round, proposer: addr(k) };
            let s = sig(k, &fdl_consensus::proposal_signing_bytes(chain, &p));
            out.push(encode(&SignedConsensusMsg::<FdlContext>::Proposal(SignedMessage::new(p, s))));
        }

        let init =
            ProposalPart::Init { height: Height(5), round: Round::new(0), pol_round: Round::Nil, proposer: addr(k) };
        let data_hash = fdl_crypto::hash(k.suite(), &block);
        let fin = ProposalPart::Fin(Bytes::from(
            sig(k, &fdl_consensus::part_signing_bytes(chain, Height(5), Round::new(0), Round::Nil, &addr(k), &data_hash)).0,
        ));
        let parts = [init, ProposalPart::Data(Bytes::from(block.clone())), fin];
        let stream = StreamId::new(Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00"));
        for (seq, part) in parts.iter().enumerate() {
            out.push(encode(part));
            let msg = StreamMessage::new(stream.clone(), seq as u64, StreamContent::Data(part.clone()));
            out.push(encode(&msg));
        }
        out.push(encode(&StreamMessage::new(stream, 3, StreamContent::<ProposalPart>::Fin)));

        let key = k.public_key().to_bytes();
        let peer = network_peer(k.suite().tag());
        let proof_sig = sig(k, &ValidatorProof::<FdlContext>::signing_bytes(&key, &peer));
        out.push(encode(&ValidatorProof::<FdlContext>::new(key, peer, proof_sig)));
    }

    let sigs = |n: usize| -> Vec<(ValidatorAddress, fdl_consensus::FdlSignature)> {
        [&sm, &ed].iter().cycle().take(n).map(|k| (addr(k), sig(k, b"certificate"))).collect()
    };
    let polka = PolkaCertificate::<FdlContext> {
        height: Height(5),
        round: Round::new(1),
        value_id: value,
        polka_signatures: sigs(3).into_iter().map(|(a, s)| PolkaSignature::new(a, s)).collect(),
    };
    out.push(encode(&polka));
    out.push(encode(&LivenessMsg::<FdlContext>::PolkaCertificate(polka)));
    for (cert_type, vote_type, v) in [
        (RoundCertificateType::Skip, VoteType::Prevote, NilOrVal::Nil),
        (RoundCertificateType::Precommit, VoteType::Precommit, NilOrVal::Val(value)),
    ] {
        let round_signatures = sigs(2).into_iter().map(|(a, s)| RoundSignature::new(vote_type, v, a, s)).collect();
        let cert =
            RoundCertificate::<FdlContext> { height: Height(5), round: Round::new(4), cert_type, round_signatures };
        out.push(encode(&LivenessMsg::<FdlContext>::SkipRoundCertificate(cert)));
    }

    let peer_id = PeerId::from_bytes(&network_peer(9)).expect("a peer id");
    out.push(encode(&Status::<FdlContext> { peer_id, tip_height: Height(9), history_min_height: Height(1) }));
    out.push(encode(&Request::<FdlContext>::ValueRequest(ValueRequest::new(Height(1)..=Height(9)))));
    let certificate = ExtendedCommitCertificate::<FdlContext> {
        height: Height(1),
        round: Round::new(0),
        value_id: value,
        commit_signatures: sigs(2).into_iter().map(|(a, s)| ExtendedCommitSignature::new(a, s, None)).collect(),
    };
    for n in [0, 1, 2] {
        let values = (0..n).map(|_| RawDecidedValue::new(Bytes::from(block.clone()), certificate.clone())).collect();
        out.push(encode(&Response::<FdlContext>::ValueResponse(ValueResponse::new(Height(1), values))));
    }
    for (validity, valid_round) in [(Validity::Valid, Round::Nil), (Validity::Invalid, Round::new(1))] {
        out.push(encode(&ProposedValue::<FdlContext> {
            height: Height(5),
            round: Round::new(2),
            valid_round,
            proposer: ValidatorAddress(Address([3; 20])),
            value,
            validity,
        }));
    }
    out
}

/// A network peer id (an identity multihash of a protobuf Ed25519 key, as libp2p makes them).
fn network_peer(fill: u8) -> Vec<u8> {
    let mut b = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    b.extend_from_slice(&[fill; 32]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_decodes() {
        for (i, seed) in seeds().iter().enumerate() {
            assert!(decode_all(seed) >= 1, "seed {i} decodes as no message type");
        }
    }
}
