//! Wire and write-ahead-log encodings of the engine's messages, in FDL's canonical codec
//! (length-prefixed, big-endian, every count and length bounded before allocation).

use bytes::Bytes;
use fdl_crypto::{ADDRESS_LEN, Address, HASH_LEN, Hash};
use fdl_types::{
    DecodeError, Reader,
    codec::{put_bytes, put_count},
};
use malachitebft_app_channel::app::{
    streaming::{StreamContent, StreamId, StreamMessage},
    types::{
        PeerId, ProposedValue, SignedConsensusMsg,
        codec::{Codec, HasEncodedLen},
        core::{
            CommitSignature, ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate,
            PolkaSignature, Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage,
            ValidatorProof, Validity, VoteType,
        },
        sync::{RawDecidedValue, Request, Response, Status},
    },
};
use malachitebft_core_consensus::LivenessMsg;
use malachitebft_sync::{ValueRequest, ValueResponse};

use crate::{
    context::{BlockValue, FdlContext, Height, Proposal, ProposalPart, ValidatorAddress, Vote},
    signing::FdlSignature,
};

#[cfg(feature = "byzantine")]
mod garble;
#[cfg(feature = "byzantine")]
pub(crate) use garble::enable as garble_outgoing;

/// Most signatures in one certificate.
const MAX_SIGS: usize = 1024;
/// Largest block chunk or synced block.
const MAX_BLOB: usize = 16 * 1024 * 1024;
/// Most blocks in one sync response.
const MAX_VALUES: usize = 1024;

/// The codec for every engine message FDL sends or logs.
#[derive(Clone, Copy, Debug, Default)]
pub struct FdlCodec;

/// A message that could not be decoded (or encoded).
#[derive(Debug, thiserror::Error)]
#[error("consensus codec: {0}")]
pub struct CodecError(String);

impl From<DecodeError> for CodecError {
    fn from(e: DecodeError) -> Self {
        CodecError(e.to_string())
    }
}

fn bad(what: &str) -> CodecError {
    CodecError(format!("invalid {what}"))
}

// ---- primitives ---------------------------------------------------------------------------

fn put_height(o: &mut Vec<u8>, h: Height) {
    o.extend_from_slice(&h.0.to_be_bytes());
}
fn get_height(r: &mut Reader<'_>) -> Result<Height, CodecError> {
    Ok(Height(r.u64("height")?))
}
fn put_round(o: &mut Vec<u8>, r: Round) {
    o.extend_from_slice(&r.as_i64().to_be_bytes());
}
fn get_round(r: &mut Reader<'_>) -> Result<Round, CodecError> {
    let v = r.u64("round")? as i64;
    if v == -1 { Ok(Round::Nil) } else { u32::try_from(v).map(Round::new).map_err(|_| bad("round")) }
}
fn put_hash(o: &mut Vec<u8>, h: &BlockValue) {
    o.extend_from_slice(&h.0.0);
}
fn get_hash(r: &mut Reader<'_>) -> Result<BlockValue, CodecError> {
    Ok(BlockValue(Hash(r.array::<HASH_LEN>("hash")?)))
}
fn put_addr(o: &mut Vec<u8>, a: &ValidatorAddress) {
    o.extend_from_slice(&a.0.0);
}
fn get_addr(r: &mut Reader<'_>) -> Result<ValidatorAddress, CodecError> {
    Ok(ValidatorAddress(Address(r.array::<ADDRESS_LEN>("address")?)))
}
fn put_sig(o: &mut Vec<u8>, s: &FdlSignature) {
    put_bytes(o, &s.0);
}
fn get_sig(r: &mut Reader<'_>) -> Result<FdlSignature, CodecError> {
    Ok(FdlSignature(r.bytes(fdl_crypto::MAX_SIGNATURE_LEN, "signature")?.to_vec()))
}
fn put_nil_or_val(o: &mut Vec<u8>, v: &NilOrVal<BlockValue>) {
    match v {
        NilOrVal::Nil => o.push(0),
        NilOrVal::Val(h) => {
            o.push(1);
            put_hash(o, h);
        }
    }
}
fn get_nil_or_val(r: &mut Reader<'_>) -> Result<NilOrVal<BlockValue>, CodecError> {
    match r.u8("value tag")? {
        0 => Ok(NilOrVal::Nil),
        1 => Ok(NilOrVal::Val(get_hash(r)?)),
        _ => Err(bad("value tag")),
    }
}
fn put_vote_type(o: &mut Vec<u8>, t: VoteType) {
    o.push(match t {
        VoteType::Prevote => 0,
        VoteType::Precommit => 1,
    });
}
fn get_vote_type(r: &mut Reader<'_>) -> Result<VoteType, CodecError> {
    match r.u8("vote type")? {
        0 => Ok(VoteType::Prevote),
        1 => Ok(VoteType::Precommit),
        _ => Err(bad("vote type")),
    }
}
fn put_peer(o: &mut Vec<u8>, p: &PeerId) {
    put_bytes(o, &p.to_bytes());
}
fn get_peer(r: &mut Reader<'_>) -> Result<PeerId, CodecError> {
    PeerId::from_bytes(r.bytes(128, "peer id")?).map_err(|_| bad("peer id"))
}
fn put_blob(o: &mut Vec<u8>, b: &[u8]) {
    put_bytes(o, b);
}
fn get_blob(r: &mut Reader<'_>) -> Result<Bytes, CodecError> {
    Ok(Bytes::copy_from_slice(r.bytes(MAX_BLOB, "blob")?))
}

// ---- consensus messages -------------------------------------------------------------------

fn put_vote(o: &mut Vec<u8>, v: &Vote) {
    put_vote_type(o, v.vote_type);
    put_height(o, v.height);
    put_round(o, v.round);
    put_nil_or_val(o, &v.value);
    put_addr(o, &v.voter);
    // FDL uses no vote extensions; a signed one is carried only for completeness.
    match &v.extension {
        None => o.push(0),
        Some(e) => {
            o.push(1);
            put_sig(o, &e.signature);
        }
    }
}
fn get_vote(r: &mut Reader<'_>) -> Result<Vote, CodecError> {
    let vote_type = get_vote_type(r)?;
    let height = get_height(r)?;
    let round = get_round(r)?;
    let value = get_nil_or_val(r)?;
    let voter = get_addr(r)?;
    let extension = match r.u8("extension tag")? {
        0 => None,
        1 => Some(SignedMessage::new((), get_sig(r)?)),
        _ => return Err(bad("extension tag")),
    };
    Ok(Vote { vote_type, height, round, value, voter, extension })
}
fn put_signed_vote(o: &mut Vec<u8>, v: &SignedMessage<FdlContext, Vote>) {
    put_vote(o, &v.message);
    put_sig(o, &v.signature);
}
fn get_signed_vote(r: &mut Reader<'_>) -> Result<SignedMessage<FdlContext, Vote>, CodecError> {
    let v = get_vote(r)?;
    Ok(SignedMessage::new(v, get_sig(r)?))
}
fn put_proposal(o: &mut Vec<u8>, p: &Proposal) {
    put_height(o, p.height);
    put_round(o, p.round);
    put_hash(o, &p.value);
    put_round(o, p.pol_round);
    put_addr(o, &p.proposer);
}
fn get_proposal(r: &mut Reader<'_>) -> Result<Proposal, CodecError> {
    Ok(Proposal {
        height: get_height(r)?,
        round: get_round(r)?,
        value: get_hash(r)?,
        pol_round: get_round(r)?,
        proposer: get_addr(r)?,
    })
}
fn put_part(o: &mut Vec<u8>, p: &ProposalPart) {
    match p {
        ProposalPart::Init { height, round, pol_round, proposer } => {
            o.push(0);
            put_height(o, *height);
            put_round(o, *round);
            put_round(o, *pol_round);
            put_addr(o, proposer);
        }
        ProposalPart::Data(b) => {
            o.push(1);
            put_blob(o, b);
        }
        ProposalPart::Fin(s) => {
            o.push(2);
            put_bytes(o, s);
        }
    }
}
fn get_part(r: &mut Reader<'_>) -> Result<ProposalPart, CodecError> {
    Ok(match r.u8("part tag")? {
        0 => ProposalPart::Init {
            height: get_height(r)?,
            round: get_round(r)?,
            pol_round: get_round(r)?,
            proposer: get_addr(r)?,
        },
        1 => ProposalPart::Data(get_blob(r)?),
        2 => ProposalPart::Fin(Bytes::copy_from_slice(r.bytes(fdl_crypto::MAX_SIGNATURE_LEN, "part signature")?)),
        _ => return Err(bad("part tag")),
    })
}
fn put_polka(o: &mut Vec<u8>, c: &PolkaCertificate<FdlContext>) {
    put_height(o, c.height);
    put_round(o, c.round);
    put_hash(o, &c.value_id);
    put_count(o, c.polka_signatures.len());
    for s in &c.polka_signatures {
        put_addr(o, &s.address);
        put_sig(o, &s.signature);
    }
}
fn get_polka(r: &mut Reader<'_>) -> Result<PolkaCertificate<FdlContext>, CodecError> {
    let height = get_height(r)?;
    let round = get_round(r)?;
    let value_id = get_hash(r)?;
    let n = r.count(MAX_SIGS, "polka signatures")?;
    let mut polka_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        let a = get_addr(r)?;
        polka_signatures.push(PolkaSignature::new(a, get_sig(r)?));
    }
    Ok(PolkaCertificate { height, round, value_id, polka_signatures })
}
fn put_round_cert(o: &mut Vec<u8>, c: &RoundCertificate<FdlContext>) {
    put_height(o, c.height);
    put_round(o, c.round);
    o.push(match c.cert_type {
        RoundCertificateType::Skip => 0,
        RoundCertificateType::Precommit => 1,
    });
    put_count(o, c.round_signatures.len());
    for s in &c.round_signatures {
        put_vote_type(o, s.vote_type);
        put_nil_or_val(o, &s.value_id);
        put_addr(o, &s.address);
        put_sig(o, &s.signature);
    }
}
fn get_round_cert(r: &mut Reader<'_>) -> Result<RoundCertificate<FdlContext>, CodecError> {
    let height = get_height(r)?;
    let round = get_round(r)?;
    let cert_type = match r.u8("certificate type")? {
        0 => RoundCertificateType::Skip,
        1 => RoundCertificateType::Precommit,
        _ => return Err(bad("certificate type")),
    };
    let n = r.count(MAX_SIGS, "round signatures")?;
    let mut round_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        let t = get_vote_type(r)?;
        let v = get_nil_or_val(r)?;
        let a = get_addr(r)?;
        round_signatures.push(RoundSignature::new(t, v, a, get_sig(r)?));
    }
    Ok(RoundCertificate { height, round, cert_type, round_signatures })
}
fn put_commit_cert(o: &mut Vec<u8>, c: &ExtendedCommitCertificate<FdlContext>) {
    put_height(o, c.height);
    put_round(o, c.round);
    put_hash(o, &c.value_id);
    put_count(o, c.commit_signatures.len());
    for s in &c.commit_signatures {
        put_addr(o, &s.address);
        put_sig(o, &s.signature);
    }
}
fn get_commit_cert(r: &mut Reader<'_>) -> Result<ExtendedCommitCertificate<FdlContext>, CodecError> {
    let height = get_height(r)?;
    let round = get_round(r)?;
    let value_id = get_hash(r)?;
    let n = r.count(MAX_SIGS, "commit signatures")?;
    let mut sigs = Vec::with_capacity(n);
    for _ in 0..n {
        let a = get_addr(r)?;
        sigs.push(ExtendedCommitSignature::new(a, get_sig(r)?, None));
    }
    Ok(ExtendedCommitCertificate { height, round, value_id, commit_signatures: sigs })
}

/// Converts a bare commit signature list into the extended form used by sync.
pub fn extend_signatures(sigs: Vec<CommitSignature<FdlContext>>) -> Vec<ExtendedCommitSignature<FdlContext>> {
    sigs.into_iter().map(|s| ExtendedCommitSignature::new(s.address, s.signature, None)).collect()
}

// ---- Codec impls --------------------------------------------------------------------------

fn decode_with<T>(bytes: &[u8], f: impl FnOnce(&mut Reader<'_>) -> Result<T, CodecError>) -> Result<T, CodecError> {
    let mut r = Reader::new(bytes);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// `Codec` for a type; `$channel` names the wire channel it travels on (`Local` for what only
/// the write-ahead log or the handshake carries), which a test build may corrupt (`garble`).
macro_rules! codec_impl {
    ($t:ty, $put:expr, $get:expr) => {
        codec_impl!($t, $put, $get, Local);
    };
    ($t:ty, $put:expr, $get:expr, $channel:ident) => {
        impl Codec<$t> for FdlCodec {
            type Error = CodecError;
            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                decode_with(&bytes, $get)
            }
            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                let mut o = Vec::new();
                #[allow(clippy::redundant_closure_call)]
                ($put)(&mut o, msg);
                #[cfg(feature = "byzantine")]
                let o = garble::outgoing(garble::Channel::$channel, o);
                Ok(Bytes::from(o))
            }
        }
    };
}

codec_impl!(ProposalPart, put_part, get_part);

codec_impl!(
    SignedConsensusMsg<FdlContext>,
    |o: &mut Vec<u8>, m: &SignedConsensusMsg<FdlContext>| match m {
        SignedConsensusMsg::Vote(v) => {
            o.push(0);
            put_signed_vote(o, v);
        }
        SignedConsensusMsg::Proposal(p) => {
            o.push(1);
            put_proposal(o, &p.message);
            put_sig(o, &p.signature);
        }
    },
    |r: &mut Reader<'_>| match r.u8("message tag")? {
        0 => Ok(SignedConsensusMsg::Vote(get_signed_vote(r)?)),
        1 => {
            let p = get_proposal(r)?;
            Ok(SignedConsensusMsg::Proposal(SignedMessage::new(p, get_sig(r)?)))
        }
        _ => Err(bad("message tag")),
    },
    Consensus
);

codec_impl!(
    LivenessMsg<FdlContext>,
    |o: &mut Vec<u8>, m: &LivenessMsg<FdlContext>| match m {
        LivenessMsg::Vote(v) => {
            o.push(0);
            put_signed_vote(o, v);
        }
        LivenessMsg::PolkaCertificate(c) => {
            o.push(1);
            put_polka(o, c);
        }
        LivenessMsg::SkipRoundCertificate(c) => {
            o.push(2);
            put_round_cert(o, c);
        }
    },
    |r: &mut Reader<'_>| match r.u8("liveness tag")? {
        0 => Ok(LivenessMsg::Vote(get_signed_vote(r)?)),
        1 => Ok(LivenessMsg::PolkaCertificate(get_polka(r)?)),
        2 => Ok(LivenessMsg::SkipRoundCertificate(get_round_cert(r)?)),
        _ => Err(bad("liveness tag")),
    },
    Liveness
);

codec_impl!(
    StreamMessage<ProposalPart>,
    |o: &mut Vec<u8>, m: &StreamMessage<ProposalPart>| {
        put_bytes(o, &m.stream_id.to_bytes());
        o.extend_from_slice(&m.sequence.to_be_bytes());
        match &m.content {
            StreamContent::Data(p) => {
                o.push(0);
                put_part(o, p);
            }
            StreamContent::Fin => o.push(1),
        }
    },
    |r: &mut Reader<'_>| {
        let id = StreamId::new(Bytes::copy_from_slice(r.bytes(64, "stream id")?));
        let seq = r.u64("sequence")?;
        let content = match r.u8("stream tag")? {
            0 => StreamContent::Data(get_part(r)?),
            1 => StreamContent::Fin,
            _ => return Err(bad("stream tag")),
        };
        Ok(StreamMessage::new(id, seq, content))
    },
    ProposalParts
);

codec_impl!(
    ValidatorProof<FdlContext>,
    |o: &mut Vec<u8>, p: &ValidatorProof<FdlContext>| {
        put_bytes(o, &p.public_key);
        put_bytes(o, &p.peer_id);
        put_sig(o, &p.signature);
    },
    |r: &mut Reader<'_>| {
        let pk = r.bytes(fdl_crypto::MAX_PUBLIC_KEY_LEN, "proof key")?.to_vec();
        let peer = r.bytes(128, "proof peer id")?.to_vec();
        Ok(ValidatorProof::new(pk, peer, get_sig(r)?))
    }
);

codec_impl!(
    Status<FdlContext>,
    |o: &mut Vec<u8>, s: &Status<FdlContext>| {
        put_peer(o, &s.peer_id);
        put_height(o, s.tip_height);
        put_height(o, s.history_min_height);
    },
    |r: &mut Reader<'_>| Ok(Status {
        peer_id: get_peer(r)?,
        tip_height: get_height(r)?,
        history_min_height: get_height(r)?
    }),
    SyncStatus
);

codec_impl!(
    Request<FdlContext>,
    |o: &mut Vec<u8>, q: &Request<FdlContext>| match q {
        Request::ValueRequest(v) => {
            put_height(o, *v.range.start());
            put_height(o, *v.range.end());
        }
    },
    |r: &mut Reader<'_>| {
        let a = get_height(r)?;
        let b = get_height(r)?;
        Ok(Request::ValueRequest(ValueRequest::new(a..=b)))
    },
    SyncRequest
);

fn put_response(o: &mut Vec<u8>, q: &Response<FdlContext>) {
    match q {
        Response::ValueResponse(v) => {
            put_height(o, v.start_height);
            put_count(o, v.values.len());
            for d in &v.values {
                put_blob(o, &d.value_bytes);
                put_commit_cert(o, &d.certificate);
            }
        }
    }
}

codec_impl!(
    Response<FdlContext>,
    put_response,
    |r: &mut Reader<'_>| {
        let start = get_height(r)?;
        let n = r.count(MAX_VALUES, "synced values")?;
        let mut values = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let b = get_blob(r)?;
            values.push(RawDecidedValue::new(b, get_commit_cert(r)?));
        }
        Ok(Response::ValueResponse(ValueResponse::new(start, values)))
    },
    SyncResponse
);

impl HasEncodedLen<Response<FdlContext>> for FdlCodec {
    fn encoded_len(&self, msg: &Response<FdlContext>) -> Result<usize, CodecError> {
        let mut o = Vec::new();
        put_response(&mut o, msg);
        Ok(o.len())
    }
}

codec_impl!(
    ProposedValue<FdlContext>,
    |o: &mut Vec<u8>, v: &ProposedValue<FdlContext>| {
        put_height(o, v.height);
        put_round(o, v.round);
        put_round(o, v.valid_round);
        put_addr(o, &v.proposer);
        put_hash(o, &v.value);
        o.push(u8::from(v.validity.is_valid()));
    },
    |r: &mut Reader<'_>| {
        let height = get_height(r)?;
        let round = get_round(r)?;
        let valid_round = get_round(r)?;
        let proposer = get_addr(r)?;
        let value = get_hash(r)?;
        let validity = match r.u8("validity")? {
            0 => Validity::Invalid,
            1 => Validity::Valid,
            _ => return Err(bad("validity")),
        };
        Ok(ProposedValue { height, round, valid_round, proposer, value, validity })
    }
);

codec_impl!(PolkaCertificate<FdlContext>, put_polka, get_polka);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_round_trip_and_garbage_is_refused() {
        let v = Vote {
            vote_type: VoteType::Precommit,
            height: Height(7),
            round: Round::new(2),
            value: NilOrVal::Val(BlockValue(Hash([9; 32]))),
            voter: ValidatorAddress(Address([3; 20])),
            extension: None,
        };
        let m = SignedConsensusMsg::Vote(SignedMessage::new(v, FdlSignature(vec![1, 2, 3])));
        let bytes = Codec::<SignedConsensusMsg<FdlContext>>::encode(&FdlCodec, &m).expect("encodes");
        let back: SignedConsensusMsg<FdlContext> = FdlCodec.decode(bytes.clone()).expect("decodes");
        assert_eq!(back, m);
        for cut in 0..bytes.len() {
            let r: Result<SignedConsensusMsg<FdlContext>, _> = FdlCodec.decode(bytes.slice(..cut));
            assert!(r.is_err(), "a truncated message at {cut} must not decode");
        }
    }

    /// Peer bytes of any shape decode to a message or an error, never a panic: random inputs,
    /// and every truncation and single-byte change of valid messages of each kind.
    #[test]
    fn arbitrary_peer_bytes_never_panic() {
        fn all_kinds(b: &Bytes) {
            let c = FdlCodec;
            let _: Result<ProposalPart, _> = c.decode(b.clone());
            let _: Result<SignedConsensusMsg<FdlContext>, _> = c.decode(b.clone());
            let _: Result<LivenessMsg<FdlContext>, _> = c.decode(b.clone());
            let _: Result<StreamMessage<ProposalPart>, _> = c.decode(b.clone());
            let _: Result<ValidatorProof<FdlContext>, _> = c.decode(b.clone());
            let _: Result<Status<FdlContext>, _> = c.decode(b.clone());
            let _: Result<Request<FdlContext>, _> = c.decode(b.clone());
            let _: Result<Response<FdlContext>, _> = c.decode(b.clone());
            let _: Result<ProposedValue<FdlContext>, _> = c.decode(b.clone());
            let _: Result<PolkaCertificate<FdlContext>, _> = c.decode(b.clone());
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            all_kinds(&Bytes::from(bytes));
        }
        let addr = ValidatorAddress(Address([7; 20]));
        let vote = Vote {
            vote_type: VoteType::Prevote,
            height: Height(3),
            round: Round::new(1),
            value: NilOrVal::Nil,
            voter: addr,
            extension: None,
        };
        let sig = FdlSignature(vec![5; 70]);
        let mut samples: Vec<Bytes> = vec![
            Codec::<ProposalPart>::encode(&FdlCodec, &ProposalPart::Data(Bytes::from_static(b"block"))).expect("enc"),
            Codec::<StreamMessage<ProposalPart>>::encode(
                &FdlCodec,
                &StreamMessage::new(
                    StreamId::new(Bytes::from_static(b"id")),
                    0,
                    StreamContent::Data(ProposalPart::Init {
                        height: Height(3),
                        round: Round::new(0),
                        pol_round: Round::Nil,
                        proposer: addr,
                    }),
                ),
            )
            .expect("enc"),
            Codec::<LivenessMsg<FdlContext>>::encode(
                &FdlCodec,
                &LivenessMsg::SkipRoundCertificate(RoundCertificate {
                    height: Height(3),
                    round: Round::new(2),
                    cert_type: RoundCertificateType::Skip,
                    round_signatures: vec![RoundSignature::new(VoteType::Prevote, NilOrVal::Nil, addr, sig.clone())],
                }),
            )
            .expect("enc"),
            Codec::<Response<FdlContext>>::encode(
                &FdlCodec,
                &Response::ValueResponse(ValueResponse::new(
                    Height(3),
                    vec![RawDecidedValue::new(
                        Bytes::from_static(b"block"),
                        ExtendedCommitCertificate {
                            height: Height(3),
                            round: Round::new(0),
                            value_id: BlockValue(Hash([1; 32])),
                            commit_signatures: vec![ExtendedCommitSignature::new(addr, sig.clone(), None)],
                        },
                    )],
                )),
            )
            .expect("enc"),
        ];
        samples.push(
            Codec::<SignedConsensusMsg<FdlContext>>::encode(
                &FdlCodec,
                &SignedConsensusMsg::Vote(SignedMessage::new(vote, sig)),
            )
            .expect("enc"),
        );
        for b in &samples {
            for cut in 0..=b.len() {
                all_kinds(&b.slice(..cut));
            }
            for i in 0..b.len() {
                let mut m = b.to_vec();
                m[i] ^= 0xff;
                all_kinds(&Bytes::from(m));
            }
        }
    }

    #[test]
    fn rounds_round_trip() {
        for r in [Round::Nil, Round::new(0), Round::new(u32::MAX)] {
            let mut o = Vec::new();
            put_round(&mut o, r);
            assert_eq!(get_round(&mut Reader::new(&o)).expect("round"), r);
        }
        let mut o = Vec::new();
        o.extend_from_slice(&(-2i64).to_be_bytes());
        assert!(get_round(&mut Reader::new(&o)).is_err());
    }
}
