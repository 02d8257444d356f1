//! The remote signer's wire protocol: length-prefixed frames of typed messages.
//!
//! A frame is a 4-byte big-endian length and that many bytes (at most [`MAX_FRAME`]). The node
//! never sends bytes to sign for a consensus message: it sends the message's fields, and the
//! signer derives the signing bytes itself with [`crate::vote_signing_bytes`],
//! [`crate::proposal_signing_bytes`] and [`crate::part_signing_bytes`], so it knows what it signs.

use std::fmt;

use fdl_crypto::{ADDRESS_LEN, Address, HASH_LEN, Hash};
use malachitebft_core_types::Round;

use super::RemoteError;

/// The largest frame either side reads or writes (bytes after the length prefix).
pub const MAX_FRAME: usize = 4096;

/// Protocol version sent in the handshake.
pub const VERSION: u8 = 1;

/// Longest chain id a request may carry.
const MAX_CHAIN_ID: usize = 256;

/// Longest key or peer id in a validator-proof request.
const MAX_PROOF_FIELD: usize = 256;

/// A consensus step whose signatures the signer tracks (one signature per height, round, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A block proposal.
    Proposal,
    /// The signature closing a proposal-part stream.
    ProposalPart,
    /// A prevote.
    Prevote,
    /// A precommit.
    Precommit,
}

impl Step {
    /// The step's name in messages and the state file.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Proposal => "proposal",
            Step::ProposalPart => "proposal_part",
            Step::Prevote => "prevote",
            Step::Precommit => "precommit",
        }
    }

    /// The step named `s`.
    pub fn parse(s: &str) -> Option<Step> {
        [Step::Proposal, Step::ProposalPart, Step::Prevote, Step::Precommit].into_iter().find(|x| x.as_str() == s)
    }

    fn tag(self) -> u8 {
        match self {
            Step::Proposal => 0,
            Step::ProposalPart => 1,
            Step::Prevote => 2,
            Step::Precommit => 3,
        }
    }

    fn from_tag(t: u8) -> Option<Step> {
        [Step::Proposal, Step::ProposalPart, Step::Prevote, Step::Precommit].into_iter().find(|x| x.tag() == t)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Prevote or precommit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteKind {
    /// A prevote.
    Prevote,
    /// A precommit.
    Precommit,
}

/// What the node asks the signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The validator's public key.
    PublicKey,
    /// Sign a vote of the signer's validator.
    Vote {
        /// The chain the vote is for (must be the signer's).
        chain_id: String,
        /// The voter (must be the signer's validator).
        voter: Address,
        /// Prevote or precommit.
        kind: VoteKind,
        /// Height.
        height: u64,
        /// Round (never nil for a vote).
        round: u32,
        /// The block voted for; `None` votes nil.
        value: Option<Hash>,
    },
    /// Sign a proposal of the signer's validator.
    Proposal {
        /// The chain.
        chain_id: String,
        /// The proposer (must be the signer's validator).
        proposer: Address,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The proposed block's hash.
        value: Hash,
        /// Proof-of-lock round; `None` when nil.
        pol_round: Option<u32>,
    },
    /// Sign the end of a proposal-part stream.
    ProposalPart {
        /// The chain.
        chain_id: String,
        /// The proposer (must be the signer's validator).
        proposer: Address,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Proof-of-lock round; `None` when nil.
        pol_round: Option<u32>,
        /// The hash of the stream's data.
        data_hash: Hash,
    },
    /// Sign the proof that the validator's key owns a network peer id.
    ValidatorProof {
        /// The validator's public key bytes (must be the signer's).
        public_key: Vec<u8>,
        /// The network peer id bytes.
        peer_id: Vec<u8>,
    },
}

/// Why the signer refused a request: typed, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Other bytes were already signed for this height, round and step: signing would be
    /// equivocation.
    #[error("conflicting: another {step} was already signed for height {height} round {round}")]
    Conflicting {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Step.
        step: Step,
    },
    /// The height is too far below the highest height signed.
    #[error("too_old: height {height} is more than the window below the highest height signed, {highest}")]
    TooOld {
        /// The height asked for.
        height: u64,
        /// The highest height signed.
        highest: u64,
    },
    /// The request is for another chain.
    #[error("wrong_chain: the signer serves chain {0}")]
    WrongChain(String),
    /// The request is for another validator (or key).
    #[error("wrong_validator: the signer serves validator {0}")]
    WrongValidator(String),
    /// A request the signer does not understand or does not serve.
    #[error("bad_request: {0}")]
    BadRequest(String),
    /// The signer could not record the signature or sign: it signs nothing.
    #[error("internal: {0}")]
    Internal(String),
}

impl Refusal {
    /// The refusal's stable code (`conflicting`, `too_old`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Conflicting { .. } => "conflicting",
            Refusal::TooOld { .. } => "too_old",
            Refusal::WrongChain(_) => "wrong_chain",
            Refusal::WrongValidator(_) => "wrong_validator",
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Internal(_) => "internal",
        }
    }
}

/// What the signer answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The validator's public key bytes.
    PublicKey(Vec<u8>),
    /// A signature (the suite's encoding).
    Signature(Vec<u8>),
    /// The request was refused.
    Refused(Refusal),
}

/// Handshake messages (see [`super::auth`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Client: version and its nonce.
    Hello { version: u8, nonce: [u8; 32] },
    /// Server: its nonce and its proof.
    Challenge { nonce: [u8; 32], mac: [u8; 32] },
    /// Client: its proof.
    Auth { mac: [u8; 32] },
    /// Server: the client is authenticated.
    Welcome,
    /// Server: the handshake failed (the connection closes).
    Denied(String),
}

const REQ_PUBLIC_KEY: u8 = 0x01;
const REQ_VOTE: u8 = 0x02;
const REQ_PROPOSAL: u8 = 0x03;
const REQ_PART: u8 = 0x04;
const REQ_PROOF: u8 = 0x05;
const RESP_PUBLIC_KEY: u8 = 0x81;
const RESP_SIGNATURE: u8 = 0x82;
const RESP_REFUSED: u8 = 0x83;
const HS_HELLO: u8 = 0x41;
const HS_CHALLENGE: u8 = 0x42;
const HS_AUTH: u8 = 0x43;
const HS_WELCOME: u8 = 0x44;
const HS_DENIED: u8 = 0x45;

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_blob(out, s.as_bytes());
}

fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&b[..b.len().min(usize::from(u16::MAX))]);
}

fn put_opt_round(out: &mut Vec<u8>, r: Option<u32>) {
    match r {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            out.extend_from_slice(&r.to_be_bytes());
        }
    }
}

/// A bounds-checked reader over a frame.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RemoteError> {
        if self.0.len() < n {
            return Err(RemoteError::Malformed(format!("truncated {what}")));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, RemoteError> {
        Ok(self.take(1, what)?[0])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RemoteError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, RemoteError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, RemoteError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn blob(&mut self, limit: usize, what: &str) -> Result<&'a [u8], RemoteError> {
        let n = usize::from(u16::from_be_bytes(self.array(what)?));
        if n > limit {
            return Err(RemoteError::Malformed(format!("{what} of {n} bytes")));
        }
        self.take(n, what)
    }

    fn string(&mut self, limit: usize, what: &str) -> Result<String, RemoteError> {
        let b = self.blob(limit, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| RemoteError::Malformed(format!("{what} is not UTF-8")))
    }

    fn opt_round(&mut self, what: &str) -> Result<Option<u32>, RemoteError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.u32(what)?)),
            t => Err(RemoteError::Malformed(format!("{what}: tag {t}"))),
        }
    }

    fn address(&mut self, what: &str) -> Result<Address, RemoteError> {
        Ok(Address(self.array::<ADDRESS_LEN>(what)?))
    }

    fn hash(&mut self, what: &str) -> Result<Hash, RemoteError> {
        Ok(Hash(self.array::<HASH_LEN>(what)?))
    }

    fn end(&self) -> Result<(), RemoteError> {
        if self.0.is_empty() { Ok(()) } else { Err(RemoteError::Malformed(format!("{} trailing bytes", self.0.len()))) }
    }
}

/// A round as the engine's type; `None` is nil.
pub fn round_of(r: Option<u32>) -> Round {
    r.map_or(Round::Nil, Round::new)
}

/// An engine round as the wire's; nil is `None`.
pub fn wire_round(r: Round) -> Option<u32> {
    r.as_u32()
}

impl Request {
    /// The request's bytes (a frame's payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        match self {
            Request::PublicKey => out.push(REQ_PUBLIC_KEY),
            Request::Vote { chain_id, voter, kind, height, round, value } => {
                out.push(REQ_VOTE);
                put_str(&mut out, chain_id);
                out.extend_from_slice(&voter.0);
                out.push(match kind {
                    VoteKind::Prevote => 0,
                    VoteKind::Precommit => 1,
                });
                out.extend_from_slice(&height.to_be_bytes());
                out.extend_from_slice(&round.to_be_bytes());
                match value {
                    None => out.push(0),
                    Some(h) => {
                        out.push(1);
                        out.extend_from_slice(&h.0);
                    }
                }
            }
            Request::Proposal { chain_id, proposer, height, round, value, pol_round } => {
                out.push(REQ_PROPOSAL);
                put_str(&mut out, chain_id);
                out.extend_from_slice(&proposer.0);
                out.extend_from_slice(&height.to_be_bytes());
                out.extend_from_slice(&round.to_be_bytes());
                out.extend_from_slice(&value.0);
                put_opt_round(&mut out, *pol_round);
            }
            Request::ProposalPart { chain_id, proposer, height, round, pol_round, data_hash } => {
                out.push(REQ_PART);
                put_str(&mut out, chain_id);
                out.extend_from_slice(&proposer.0);
                out.extend_from_slice(&height.to_be_bytes());
                out.extend_from_slice(&round.to_be_bytes());
                put_opt_round(&mut out, *pol_round);
                out.extend_from_slice(&data_hash.0);
            }
            Request::ValidatorProof { public_key, peer_id } => {
                out.push(REQ_PROOF);
                put_blob(&mut out, public_key);
                put_blob(&mut out, peer_id);
            }
        }
        out
    }

    /// Decodes a request frame.
    ///
    /// # Errors
    /// [`RemoteError::Malformed`] for anything but exactly one well-formed request.
    pub fn decode(bytes: &[u8]) -> Result<Request, RemoteError> {
        let mut r = Reader(bytes);
        let req = match r.u8("request kind")? {
            REQ_PUBLIC_KEY => Request::PublicKey,
            REQ_VOTE => {
                let chain_id = r.string(MAX_CHAIN_ID, "chain id")?;
                let voter = r.address("voter")?;
                let kind = match r.u8("vote type")? {
                    0 => VoteKind::Prevote,
                    1 => VoteKind::Precommit,
                    t => return Err(RemoteError::Malformed(format!("vote type {t}"))),
                };
                let height = r.u64("height")?;
                let round = r.u32("round")?;
                let value = match r.u8("value")? {
                    0 => None,
                    1 => Some(r.hash("value")?),
                    t => return Err(RemoteError::Malformed(format!("value tag {t}"))),
                };
                Request::Vote { chain_id, voter, kind, height, round, value }
            }
            REQ_PROPOSAL => Request::Proposal {
                chain_id: r.string(MAX_CHAIN_ID, "chain id")?,
                proposer: r.address("proposer")?,
                height: r.u64("height")?,
                round: r.u32("round")?,
                value: r.hash("value")?,
                pol_round: r.opt_round("pol round")?,
            },
            REQ_PART => Request::ProposalPart {
                chain_id: r.string(MAX_CHAIN_ID, "chain id")?,
                proposer: r.address("proposer")?,
                height: r.u64("height")?,
                round: r.u32("round")?,
                pol_round: r.opt_round("pol round")?,
                data_hash: r.hash("data hash")?,
            },
            REQ_PROOF => Request::ValidatorProof {
                public_key: r.blob(MAX_PROOF_FIELD, "public key")?.to_vec(),
                peer_id: r.blob(MAX_PROOF_FIELD, "peer id")?.to_vec(),
            },
            k => return Err(RemoteError::Malformed(format!("request kind {k:#04x}"))),
        };
        r.end()?;
        Ok(req)
    }
}

impl Response {
    /// The response's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        match self {
            Response::PublicKey(k) => {
                out.push(RESP_PUBLIC_KEY);
                put_blob(&mut out, k);
            }
            Response::Signature(s) => {
                out.push(RESP_SIGNATURE);
                put_blob(&mut out, s);
            }
            Response::Refused(refusal) => {
                out.push(RESP_REFUSED);
                match refusal {
                    Refusal::Conflicting { height, round, step } => {
                        out.push(1);
                        out.extend_from_slice(&height.to_be_bytes());
                        out.extend_from_slice(&round.to_be_bytes());
                        out.push(step.tag());
                    }
                    Refusal::TooOld { height, highest } => {
                        out.push(2);
                        out.extend_from_slice(&height.to_be_bytes());
                        out.extend_from_slice(&highest.to_be_bytes());
                    }
                    Refusal::WrongChain(s) => {
                        out.push(3);
                        put_str(&mut out, truncated(s));
                    }
                    Refusal::WrongValidator(s) => {
                        out.push(4);
                        put_str(&mut out, truncated(s));
                    }
                    Refusal::BadRequest(s) => {
                        out.push(5);
                        put_str(&mut out, truncated(s));
                    }
                    Refusal::Internal(s) => {
                        out.push(6);
                        put_str(&mut out, truncated(s));
                    }
                }
            }
        }
        out
    }

    /// Decodes a response frame.
    ///
    /// # Errors
    /// [`RemoteError::Malformed`] for anything but exactly one well-formed response.
    pub fn decode(bytes: &[u8]) -> Result<Response, RemoteError> {
        let mut r = Reader(bytes);
        let resp = match r.u8("response kind")? {
            RESP_PUBLIC_KEY => Response::PublicKey(r.blob(MAX_PROOF_FIELD, "public key")?.to_vec()),
            RESP_SIGNATURE => Response::Signature(r.blob(fdl_crypto::MAX_SIGNATURE_LEN, "signature")?.to_vec()),
            RESP_REFUSED => Response::Refused(match r.u8("refusal")? {
                1 => {
                    let height = r.u64("height")?;
                    let round = r.u32("round")?;
                    let step = Step::from_tag(r.u8("step")?).ok_or_else(|| RemoteError::Malformed("step".into()))?;
                    Refusal::Conflicting { height, round, step }
                }
                2 => Refusal::TooOld { height: r.u64("height")?, highest: r.u64("highest")? },
                3 => Refusal::WrongChain(r.string(MAX_TEXT, "text")?),
                4 => Refusal::WrongValidator(r.string(MAX_TEXT, "text")?),
                5 => Refusal::BadRequest(r.string(MAX_TEXT, "text")?),
                6 => Refusal::Internal(r.string(MAX_TEXT, "text")?),
                t => return Err(RemoteError::Malformed(format!("refusal {t}"))),
            }),
            k => return Err(RemoteError::Malformed(format!("response kind {k:#04x}"))),
        };
        r.end()?;
        Ok(resp)
    }
}

/// Longest text in a refusal.
const MAX_TEXT: usize = 1024;

fn truncated(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Handshake {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        match self {
            Handshake::Hello { version, nonce } => {
                out.push(HS_HELLO);
                out.push(*version);
                out.extend_from_slice(nonce);
            }
            Handshake::Challenge { nonce, mac } => {
                out.push(HS_CHALLENGE);
                out.extend_from_slice(nonce);
                out.extend_from_slice(mac);
            }
            Handshake::Auth { mac } => {
                out.push(HS_AUTH);
                out.extend_from_slice(mac);
            }
            Handshake::Welcome => out.push(HS_WELCOME),
            Handshake::Denied(why) => {
                out.push(HS_DENIED);
                put_str(&mut out, truncated(why));
            }
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Handshake, RemoteError> {
        let mut r = Reader(bytes);
        let m = match r.u8("handshake kind")? {
            HS_HELLO => Handshake::Hello { version: r.u8("version")?, nonce: r.array("nonce")? },
            HS_CHALLENGE => Handshake::Challenge { nonce: r.array("nonce")?, mac: r.array("mac")? },
            HS_AUTH => Handshake::Auth { mac: r.array("mac")? },
            HS_WELCOME => Handshake::Welcome,
            HS_DENIED => Handshake::Denied(r.string(MAX_TEXT, "text")?),
            k => return Err(RemoteError::Malformed(format!("handshake kind {k:#04x}"))),
        };
        r.end()?;
        Ok(m)
    }
}

/// Reads one frame from a blocking stream.
///
/// # Errors
/// [`RemoteError::FrameTooLarge`] before reading a body over [`MAX_FRAME`]; I/O errors.
pub(crate) fn read_frame_sync(r: &mut impl std::io::Read) -> Result<Vec<u8>, RemoteError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(RemoteError::io)?;
    let n = frame_len(len)?;
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).map_err(RemoteError::io)?;
    Ok(body)
}

/// Writes one frame to a blocking stream.
pub(crate) fn write_frame_sync(w: &mut impl std::io::Write, body: &[u8]) -> Result<(), RemoteError> {
    w.write_all(&frame(body)?).map_err(RemoteError::io)?;
    w.flush().map_err(RemoteError::io)
}

/// Reads one frame from an async stream.
pub(crate) async fn read_frame(r: &mut (impl tokio::io::AsyncRead + Unpin)) -> Result<Vec<u8>, RemoteError> {
    use tokio::io::AsyncReadExt as _;
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(RemoteError::io)?;
    let n = frame_len(len)?;
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).await.map_err(RemoteError::io)?;
    Ok(body)
}

/// Writes one frame to an async stream.
pub(crate) async fn write_frame(w: &mut (impl tokio::io::AsyncWrite + Unpin), body: &[u8]) -> Result<(), RemoteError> {
    use tokio::io::AsyncWriteExt as _;
    w.write_all(&frame(body)?).await.map_err(RemoteError::io)?;
    w.flush().await.map_err(RemoteError::io)
}

fn frame_len(len: [u8; 4]) -> Result<usize, RemoteError> {
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(RemoteError::FrameTooLarge(n));
    }
    Ok(n)
}

fn frame(body: &[u8]) -> Result<Vec<u8>, RemoteError> {
    if body.len() > MAX_FRAME {
        return Err(RemoteError::FrameTooLarge(body.len()));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip_and_garbage_is_refused() {
        let reqs = [
            Request::PublicKey,
            Request::Vote {
                chain_id: "c".into(),
                voter: Address([7; 20]),
                kind: VoteKind::Precommit,
                height: 5,
                round: 1,
                value: Some(Hash([3; 32])),
            },
            Request::Vote {
                chain_id: "c".into(),
                voter: Address([7; 20]),
                kind: VoteKind::Prevote,
                height: 5,
                round: 0,
                value: None,
            },
            Request::Proposal {
                chain_id: "c".into(),
                proposer: Address([1; 20]),
                height: 9,
                round: 2,
                value: Hash([4; 32]),
                pol_round: Some(1),
            },
            Request::ProposalPart {
                chain_id: "c".into(),
                proposer: Address([1; 20]),
                height: 9,
                round: 2,
                pol_round: None,
                data_hash: Hash([5; 32]),
            },
            Request::ValidatorProof { public_key: vec![1, 2], peer_id: vec![3] },
        ];
        for r in reqs {
            let bytes = r.encode();
            assert_eq!(Request::decode(&bytes).expect("decodes"), r);
            for cut in 0..bytes.len() {
                assert!(Request::decode(&bytes[..cut]).is_err(), "truncated request accepted");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(Request::decode(&long).is_err(), "trailing bytes accepted");
        }
        let resps = [
            Response::PublicKey(vec![4; 65]),
            Response::Signature(vec![9; 70]),
            Response::Refused(Refusal::Conflicting { height: 3, round: 0, step: Step::Precommit }),
            Response::Refused(Refusal::TooOld { height: 1, highest: 9 }),
            Response::Refused(Refusal::WrongChain("x".into())),
            Response::Refused(Refusal::Internal("disk".into())),
        ];
        for r in resps {
            assert_eq!(Response::decode(&r.encode()).expect("decodes"), r);
        }
        assert!(Request::decode(&[0xff]).is_err());
        assert!(Response::decode(&[]).is_err());
    }

    #[test]
    fn an_oversize_frame_is_refused_before_its_body_is_read() {
        let mut input: &[u8] = &u32::try_from(MAX_FRAME + 1).expect("fits").to_be_bytes();
        assert!(matches!(read_frame_sync(&mut input), Err(RemoteError::FrameTooLarge(_))));
        let mut sink = Vec::new();
        assert!(matches!(write_frame_sync(&mut sink, &vec![0; MAX_FRAME + 1]), Err(RemoteError::FrameTooLarge(_))));
        assert!(sink.is_empty());
    }
}
