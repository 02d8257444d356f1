//! The signing scheme: FDL keys (SM2 under `sm`, Ed25519 under `intl`) behind Malachite's
//! `SigningScheme`, `Signer` and `Verifier`.
//!
//! Every consensus signature covers a domain tag and the chain id, so a signature can never be
//! replayed across message kinds or chains. A precommit for a block signs exactly
//! [`Commit::signing_bytes`], so a Malachite commit certificate *is* an FDL [`Commit`].

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use fdl_crypto::{Hash, PublicKey, Signature, Signer as FdlSigner};
use fdl_types::{Commit, codec::put_bytes};
use malachitebft_core_types::{
    NilOrVal, Round, SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_signing::{Error as SigningError, Signer, VerificationResult, Verifier};

use crate::{
    context::{BlockValue, FdlContext, Height, Proposal, ValidatorAddress, Vote},
    remote::{Refusal, RemoteClient, RemoteError, Request, VoteKind},
};

const PREVOTE_TAG: &[u8] = b"FDL/PREVOTE/v1";
const PRECOMMIT_NIL_TAG: &[u8] = b"FDL/PRECOMMIT-NIL/v1";
const PROPOSAL_TAG: &[u8] = b"FDL/PROPOSAL/v1";
const PART_TAG: &[u8] = b"FDL/PROPOSAL-PARTS/v2";
const EXTENSION_TAG: &[u8] = b"FDL/VOTE-EXT/v1";

/// A consensus signature: the suite's encoded bytes (ordered, as the engine requires).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdlSignature(pub Vec<u8>);

/// A consensus public key: an FDL [`PublicKey`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdlPublicKey(pub PublicKey);

/// Why a key or signature could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemeError(pub String);

/// The scheme marker type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdlScheme;

impl SigningScheme for FdlScheme {
    type DecodingError = SchemeError;
    type Signature = FdlSignature;
    type PublicKey = FdlPublicKey;
    type PrivateKey = NoPrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<FdlSignature, SchemeError> {
        if bytes.len() > fdl_crypto::MAX_SIGNATURE_LEN {
            return Err(SchemeError(format!("signature of {} bytes", bytes.len())));
        }
        Ok(FdlSignature(bytes.to_vec()))
    }

    fn encode_signature(signature: &FdlSignature) -> Vec<u8> {
        signature.0.clone()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<FdlPublicKey, SchemeError> {
        // The length tells the suite: 65-byte SEC1 points are SM2, 32-byte keys are Ed25519.
        let suite = if bytes.len() == 32 { fdl_crypto::Suite::Intl } else { fdl_crypto::Suite::Sm };
        PublicKey::from_bytes(suite, bytes).map(FdlPublicKey).map_err(|e| SchemeError(e.to_string()))
    }

    fn encode_public_key(public_key: &FdlPublicKey) -> Vec<u8> {
        public_key.0.to_bytes()
    }
}

/// Private keys never enter the engine: signing goes through [`ConsensusSigner`].
#[derive(Clone)]
pub enum NoPrivateKey {}

fn framed(tag: &[u8], chain_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    put_bytes(&mut out, tag);
    put_bytes(&mut out, chain_id.as_bytes());
    out
}

fn put_round(out: &mut Vec<u8>, r: Round) {
    out.extend_from_slice(&r.as_i64().to_be_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &NilOrVal<BlockValue>) {
    match v {
        NilOrVal::Nil => out.push(0),
        NilOrVal::Val(h) => {
            out.push(1);
            out.extend_from_slice(&h.0.0);
        }
    }
}

/// The bytes a vote's signature covers. A precommit for a block is [`Commit::signing_bytes`].
pub fn vote_signing_bytes(chain_id: &str, vote: &Vote) -> Vec<u8> {
    match (vote.vote_type, &vote.value) {
        (VoteType::Precommit, NilOrVal::Val(h)) => {
            let round = vote.round.as_u32().unwrap_or(u32::MAX);
            Commit::signing_bytes(chain_id, vote.height.0, round, &h.0)
        }
        (t, v) => {
            let mut out = framed(if t == VoteType::Prevote { PREVOTE_TAG } else { PRECOMMIT_NIL_TAG }, chain_id);
            out.extend_from_slice(&vote.height.0.to_be_bytes());
            put_round(&mut out, vote.round);
            put_value(&mut out, v);
            out.extend_from_slice(&vote.voter.0.0);
            out
        }
    }
}

/// The bytes a proposal's signature covers.
pub fn proposal_signing_bytes(chain_id: &str, p: &Proposal) -> Vec<u8> {
    let mut out = framed(PROPOSAL_TAG, chain_id);
    out.extend_from_slice(&p.height.0.to_be_bytes());
    put_round(&mut out, p.round);
    out.extend_from_slice(&p.value.0.0);
    put_round(&mut out, p.pol_round);
    out.extend_from_slice(&p.proposer.0.0);
    out
}

/// The bytes the proposer signs to close a proposal-part stream: it binds the block's hash of all
/// data parts to the height, round, proof-of-lock round and proposer announced in the first part
/// (so no relay can make a re-proposal claim another lock round, or none).
pub fn part_signing_bytes(
    chain_id: &str,
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: &ValidatorAddress,
    data: &Hash,
) -> Vec<u8> {
    let mut out = framed(PART_TAG, chain_id);
    out.extend_from_slice(&height.0.to_be_bytes());
    put_round(&mut out, round);
    put_round(&mut out, pol_round);
    out.extend_from_slice(&proposer.0.0);
    out.extend_from_slice(&data.0);
    out
}

fn extension_signing_bytes(chain_id: &str, scope: &VoteExtensionScope<FdlContext>) -> Vec<u8> {
    let mut out = framed(EXTENSION_TAG, chain_id);
    out.extend_from_slice(&scope.height.0.to_be_bytes());
    put_round(&mut out, scope.round);
    out.extend_from_slice(&scope.value_id.0.0);
    out.extend_from_slice(&scope.validator_address.0.0);
    out
}

/// Checks `sig` over `msg` with `key`; false for malformed signatures.
pub fn check(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    match Signature::from_bytes(key.suite(), sig) {
        Ok(s) => key.verify(msg, &s).is_ok(),
        Err(_) => false,
    }
}

/// Where a validator's consensus key is: in this process, or in `fdl signer` (ADR 0015).
#[derive(Clone)]
pub enum ValidatorKey {
    /// A key this process holds (a key file).
    Local(Arc<dyn FdlSigner>),
    /// A key held by a remote signer, reached through its client.
    Remote(Arc<RemoteClient>),
}

impl fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidatorKey::Local(k) => write!(f, "Local({})", k.public_key().address()),
            ValidatorKey::Remote(c) => write!(f, "{c:?}"),
        }
    }
}

impl ValidatorKey {
    /// The validator's public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            ValidatorKey::Local(k) => k.public_key(),
            ValidatorKey::Remote(c) => c.public_key(),
        }
    }

    /// Signs the precommit for `block` at (`height`, `round`) on `chain_id` — the bytes of
    /// [`Commit::signing_bytes`]. Blocking: call it off the async runtime's worker threads.
    ///
    /// # Errors
    /// The key's failure, or the remote signer's refusal.
    pub fn sign_precommit_blocking(
        &self,
        chain_id: &str,
        height: u64,
        round: u32,
        block: &Hash,
    ) -> Result<Signature, SigningError> {
        match self {
            ValidatorKey::Local(k) => {
                k.sign(&Commit::signing_bytes(chain_id, height, round, block)).map_err(SigningError::from_source)
            }
            ValidatorKey::Remote(c) => c
                .sign(&crate::remote::precommit(chain_id, c.address(), height, round, *block))
                .map_err(SigningError::from_source),
        }
    }
}

/// Signs consensus messages with the node's key: a key file, or a remote signer that derives
/// the signing bytes from the typed message itself.
#[derive(Clone)]
pub struct ConsensusSigner {
    chain_id: Arc<str>,
    key: ValidatorKey,
}

impl fmt::Debug for ConsensusSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsensusSigner({:?})", self.key)
    }
}

impl ConsensusSigner {
    /// A signer for `chain_id` with the local `key`.
    pub fn new(chain_id: &str, key: Arc<dyn FdlSigner>) -> Self {
        Self::with_key(chain_id, ValidatorKey::Local(key))
    }

    /// A signer for `chain_id` with `key`, local or remote.
    pub fn with_key(chain_id: &str, key: ValidatorKey) -> Self {
        ConsensusSigner { chain_id: Arc::from(chain_id), key }
    }

    /// The validator's public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Signs raw bytes with a local key (tests, and the local path of the typed methods). A
    /// remote signer signs only typed messages: this refuses for one.
    ///
    /// # Errors
    /// The key's failure; always for a remote key.
    pub fn sign_bytes(&self, msg: &[u8]) -> Result<FdlSignature, SigningError> {
        match &self.key {
            ValidatorKey::Local(k) => {
                k.sign(msg).map(|s| FdlSignature(s.as_bytes().to_vec())).map_err(SigningError::from_source)
            }
            ValidatorKey::Remote(_) => Err(SigningError::from_source(RemoteError::Refused(Refusal::BadRequest(
                "a remote signer signs typed messages only".into(),
            )))),
        }
    }

    /// Signs through the local key (`bytes`) or the remote signer (`req`, on the blocking pool).
    async fn sign_typed(
        &self,
        bytes: impl FnOnce() -> Vec<u8>,
        req: impl FnOnce() -> Request,
    ) -> Result<FdlSignature, SigningError> {
        match &self.key {
            ValidatorKey::Local(_) => self.sign_bytes(&bytes()),
            ValidatorKey::Remote(c) => {
                let (client, req) = (c.clone(), req());
                let sig = tokio::task::spawn_blocking(move || client.sign(&req))
                    .await
                    .map_err(SigningError::from_source)?
                    .map_err(|e| {
                        tracing::error!(error = %e, "the remote signer did not sign");
                        SigningError::from_source(e)
                    })?;
                Ok(FdlSignature(sig.as_bytes().to_vec()))
            }
        }
    }

    /// The proposer's signature closing a proposal-part stream whose data hashes to `data`.
    ///
    /// # Errors
    /// The key's failure or the remote signer's refusal.
    pub async fn sign_part(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        proposer: &ValidatorAddress,
        data: &Hash,
    ) -> Result<FdlSignature, SigningError> {
        let Some(r) = round.as_u32() else {
            return Err(SigningError::from_source(SchemeError("proposal parts of round nil".into())));
        };
        self.sign_typed(
            || part_signing_bytes(&self.chain_id, height, round, pol_round, proposer, data),
            || Request::ProposalPart {
                chain_id: self.chain_id.to_string(),
                proposer: proposer.0,
                height: height.0,
                round: r,
                pol_round: pol_round.as_u32(),
                data_hash: *data,
            },
        )
        .await
    }
}

#[async_trait]
impl Signer<FdlContext> for ConsensusSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<FdlContext, Vote>, SigningError> {
        let Some(round) = vote.round.as_u32() else {
            return Err(SigningError::from_source(SchemeError("a vote of round nil".into())));
        };
        let sig = self
            .sign_typed(
                || vote_signing_bytes(&self.chain_id, &vote),
                || Request::Vote {
                    chain_id: self.chain_id.to_string(),
                    voter: vote.voter.0,
                    kind: if vote.vote_type == VoteType::Prevote { VoteKind::Prevote } else { VoteKind::Precommit },
                    height: vote.height.0,
                    round,
                    value: match vote.value {
                        NilOrVal::Nil => None,
                        NilOrVal::Val(v) => Some(v.0),
                    },
                },
            )
            .await?;
        Ok(SignedMessage::new(vote, sig))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedMessage<FdlContext, Proposal>, SigningError> {
        let Some(round) = proposal.round.as_u32() else {
            return Err(SigningError::from_source(SchemeError("a proposal of round nil".into())));
        };
        let sig = self
            .sign_typed(
                || proposal_signing_bytes(&self.chain_id, &proposal),
                || Request::Proposal {
                    chain_id: self.chain_id.to_string(),
                    proposer: proposal.proposer.0,
                    height: proposal.height.0,
                    round,
                    value: proposal.value.0,
                    pol_round: proposal.pol_round.as_u32(),
                },
            )
            .await?;
        Ok(SignedMessage::new(proposal, sig))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<FdlContext>,
        extension: (),
    ) -> Result<SignedMessage<FdlContext, ()>, SigningError> {
        // FDL does not use vote extensions; a remote signer does not sign them.
        let sig = self.sign_bytes(&extension_signing_bytes(&self.chain_id, &scope))?;
        Ok(SignedMessage::new(extension, sig))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<FdlContext>, SigningError> {
        let sig = self
            .sign_typed(
                || ValidatorProof::<FdlContext>::signing_bytes(&public_key, &peer_id),
                || Request::ValidatorProof { public_key: public_key.clone(), peer_id: peer_id.clone() },
            )
            .await?;
        Ok(ValidatorProof::new(public_key, peer_id, sig))
    }
}

/// Verifies consensus signatures (SM2 through the fast verifier and its per-key cache).
#[derive(Clone, Debug)]
pub struct ConsensusVerifier {
    chain_id: Arc<str>,
}

impl ConsensusVerifier {
    /// A verifier for `chain_id`.
    pub fn new(chain_id: &str) -> Self {
        ConsensusVerifier { chain_id: Arc::from(chain_id) }
    }
}

#[async_trait]
impl Verifier<FdlContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &FdlSignature,
        public_key: &FdlPublicKey,
    ) -> Result<VerificationResult, SigningError> {
        let ok = check(&public_key.0, &vote_signing_bytes(&self.chain_id, vote), &signature.0);
        Ok(VerificationResult::from_bool(ok))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &FdlSignature,
        public_key: &FdlPublicKey,
    ) -> Result<VerificationResult, SigningError> {
        let ok = check(&public_key.0, &proposal_signing_bytes(&self.chain_id, proposal), &signature.0);
        Ok(VerificationResult::from_bool(ok))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<FdlContext>,
        _extension: &(),
        signature: &FdlSignature,
        public_key: &FdlPublicKey,
    ) -> Result<VerificationResult, SigningError> {
        let ok = check(&public_key.0, &extension_signing_bytes(&self.chain_id, scope), &signature.0);
        Ok(VerificationResult::from_bool(ok))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<FdlContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(key) = FdlScheme::decode_public_key(&proof.public_key) else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(VerificationResult::from_bool(check(&key.0, &proof.preimage(), &proof.signature.0)))
    }
}
