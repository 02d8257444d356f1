//! Transactions: a body signed over its exact canonical bytes under the `FDL/TX/v1` domain tag.

use fdl_crypto::{
    Address, CryptoError, Hash, MAX_PUBLIC_KEY_LEN, MAX_SIGNATURE_LEN, PublicKey, Signature, Signer, Suite, hash,
    hash_tagged,
};
use thiserror::Error;

use crate::{
    codec::{Decode, DecodeError, Encode, Reader, put_bytes},
    gov::GovAction,
};

/// How a transaction proves its signer is a certified member (STD-13.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No certificate: accepted only on a chain whose genesis lists no member institutions (an
    /// open test chain); every chain `fdl init` and `fdl devnet` make refuses it.
    None,
    /// The signer's X.509 certificate (DER), carried on first use; the chain registers it.
    Certificate(Vec<u8>),
    /// The hash of a certificate already registered on chain (see [`cert_hash`]).
    Registered(Hash),
}

impl Credential {
    /// The registered form: the certificate's hash, or `None` for [`Credential::None`].
    pub fn cert_hash(&self, suite: Suite) -> Option<Hash> {
        match self {
            Credential::None => None,
            Credential::Certificate(der) => Some(cert_hash(suite, der)),
            Credential::Registered(h) => Some(*h),
        }
    }

    fn encode_with(&self, suite: Suite, normalize: bool, out: &mut Vec<u8>) {
        match self {
            Credential::None => out.push(0),
            Credential::Certificate(der) if normalize => {
                out.push(2);
                out.extend_from_slice(&cert_hash(suite, der).0);
            }
            Credential::Certificate(der) => {
                out.push(1);
                put_bytes(out, der);
            }
            Credential::Registered(h) => {
                out.push(2);
                out.extend_from_slice(&h.0);
            }
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("credential kind")? {
            0 => Ok(Credential::None),
            1 => Ok(Credential::Certificate(r.bytes(MAX_CERT_LEN, "certificate")?.to_vec())),
            2 => Ok(Credential::Registered(Hash(r.array("certificate hash")?))),
            tag => Err(DecodeError::BadTag { what: "credential kind", tag }),
        }
    }
}

/// A certificate's registered hash: the suite hash (SM3 or SHA-256) of its DER, i.e. its
/// fingerprint as `openssl x509 -fingerprint -sm3` prints it.
pub fn cert_hash(suite: Suite, der: &[u8]) -> Hash {
    hash(suite, der)
}

/// Domain tag prefixed to the bytes a transaction signature covers.
pub const TX_SIGN_TAG: &[u8] = b"FDL/TX/v1";
/// Domain tag of the transaction id hash.
pub const TX_ID_TAG: &[u8] = b"FDL/TXID/v1";
/// Domain tag of [`SignedTx::verified_digest`].
pub const TX_VERIFIED_TAG: &[u8] = b"FDL/TXVERIFIED/v1";
/// Version byte of the current transaction format (2: a credential after the signer key).
pub const TX_VERSION: u8 = 2;
/// Longest certificate a transaction may carry (DER).
pub const MAX_CERT_LEN: usize = 4_096;
/// Longest certificate revocation list a transaction may carry (DER).
pub const MAX_CRL_LEN: usize = 65_536;
/// Longest chain id.
pub const MAX_CHAIN_ID_LEN: usize = 64;
/// Longest memo.
pub const MAX_MEMO_LEN: usize = 256;

/// What a transaction asks the ledger to do. Native modules only for now; contract calls join
/// here in a later format version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `bank.transfer`: move `amount` from the signer to `to`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount in the smallest unit.
        amount: u128,
        /// A free-form note stored with the transaction.
        memo: String,
    },
    /// `bank.issue`: the issuer mints `amount` into `to`.
    Issue {
        /// Recipient.
        to: Address,
        /// Amount in the smallest unit.
        amount: u128,
    },
    /// `bank.burn`: the issuer destroys `amount` from its own balance.
    Burn {
        /// Amount in the smallest unit.
        amount: u128,
    },
    /// `gov.propose`: a committee proposal (STD-17). The proposer's institution votes yes.
    Propose {
        /// What the proposal does once passed.
        action: GovAction,
        /// The last height at which votes count; unpassed after it, the proposal expires.
        deadline: u64,
        /// The height from which the change applies (0: as soon as it passes). A proposal that
        /// passes at or after this height applies in the transaction that passes it (later
        /// transactions of that block see it); one that passes earlier applies at the end of
        /// the block at this height. Either way, a validator-set change decides blocks from the
        /// next height on.
        activation_height: u64,
        /// Why (free text, stored with the proposal).
        note: String,
    },
    /// `gov.vote`: an institution's vote on an open proposal.
    Vote {
        /// The proposal number.
        proposal: u64,
        /// Yes or no.
        approve: bool,
    },
    /// `pki.publish_crl`: an institution publishes its CA's revocation list (STD-13.3).
    PublishCrl {
        /// The X.509 v2 CRL, DER, signed by the institution's CA.
        crl: Vec<u8>,
    },
    /// `contract.call`: call a method of a contract (STD-12.2).
    Call {
        /// The contract's name.
        contract: String,
        /// The version to run (0: the current one).
        version: u32,
        /// The method.
        method: String,
        /// The arguments, JSON text.
        args: String,
        /// The most fuel the call may use (0: the chain's `max_tx_fuel`).
        fuel: u64,
    },
    /// `contract.deploy`: an institution's administrator deploys into its own namespace
    /// (`{org}.{name}`), when the chain's `contract_deploy_policy` allows it (STD-12.1).
    Deploy {
        /// What to deploy.
        spec: crate::contract::DeploySpec,
    },
    /// `contract.call` of an EVM contract: ABI-encoded call data (STD-12.2).
    EvmCall {
        /// The contract's name.
        contract: String,
        /// The version to run (0: the current one).
        version: u32,
        /// The call data: the function's 4-byte selector and its ABI-encoded arguments.
        data: Vec<u8>,
        /// The most gas the call may use (0: the chain's `max_tx_gas`).
        gas: u64,
    },
}

impl Payload {
    /// The `module.method` name, used in receipts, metrics and (later) permissions.
    pub fn method(&self) -> &'static str {
        match self {
            Payload::Transfer { .. } => "bank.transfer",
            Payload::Issue { .. } => "bank.issue",
            Payload::Burn { .. } => "bank.burn",
            Payload::Propose { .. } => "gov.propose",
            Payload::Vote { .. } => "gov.vote",
            Payload::PublishCrl { .. } => "pki.publish_crl",
            Payload::Call { .. } => "contract.call",
            Payload::Deploy { .. } => "contract.deploy",
            Payload::EvmCall { .. } => "contract.call",
        }
    }

    /// Whether the payload carries contract code: such a transaction may be as large as the hard
    /// bound ([`crate::block::MAX_TX_BYTES_HARD`]) whatever `max_tx_bytes` says (ADR 0013).
    pub fn carries_code(&self) -> bool {
        matches!(
            self,
            Payload::Deploy { .. }
                | Payload::Propose { action: GovAction::DeployContract { .. } | GovAction::UpgradeContract { .. }, .. }
        )
    }
}

impl Encode for Payload {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Transfer { to, amount, memo } => {
                out.push(1);
                out.extend_from_slice(&to.0);
                out.extend_from_slice(&amount.to_be_bytes());
                put_bytes(out, memo.as_bytes());
            }
            Payload::Issue { to, amount } => {
                out.push(2);
                out.extend_from_slice(&to.0);
                out.extend_from_slice(&amount.to_be_bytes());
            }
            Payload::Burn { amount } => {
                out.push(3);
                out.extend_from_slice(&amount.to_be_bytes());
            }
            Payload::Propose { action, deadline, activation_height, note } => {
                out.push(4);
                action.encode_to(out);
                out.extend_from_slice(&deadline.to_be_bytes());
                out.extend_from_slice(&activation_height.to_be_bytes());
                put_bytes(out, note.as_bytes());
            }
            Payload::Vote { proposal, approve } => {
                out.push(5);
                out.extend_from_slice(&proposal.to_be_bytes());
                out.push(u8::from(*approve));
            }
            Payload::PublishCrl { crl } => {
                out.push(6);
                put_bytes(out, crl);
            }
            Payload::Call { contract, version, method, args, fuel } => {
                out.push(7);
                put_bytes(out, contract.as_bytes());
                out.extend_from_slice(&version.to_be_bytes());
                put_bytes(out, method.as_bytes());
                put_bytes(out, args.as_bytes());
                out.extend_from_slice(&fuel.to_be_bytes());
            }
            Payload::Deploy { spec } => {
                out.push(8);
                spec.encode_to(out);
            }
            Payload::EvmCall { contract, version, data, gas } => {
                out.push(9);
                put_bytes(out, contract.as_bytes());
                out.extend_from_slice(&version.to_be_bytes());
                put_bytes(out, data);
                out.extend_from_slice(&gas.to_be_bytes());
            }
        }
    }
}

impl Decode for Payload {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("payload kind")? {
            1 => Ok(Payload::Transfer {
                to: Address(r.array("transfer.to")?),
                amount: r.u128("transfer.amount")?,
                memo: r.string(MAX_MEMO_LEN, "transfer.memo")?,
            }),
            2 => Ok(Payload::Issue { to: Address(r.array("issue.to")?), amount: r.u128("issue.amount")? }),
            3 => Ok(Payload::Burn { amount: r.u128("burn.amount")? }),
            4 => Ok(Payload::Propose {
                action: GovAction::decode_from(r)?,
                deadline: r.u64("propose.deadline")?,
                activation_height: r.u64("propose.activation_height")?,
                note: r.string(MAX_MEMO_LEN, "propose.note")?,
            }),
            5 => Ok(Payload::Vote {
                proposal: r.u64("vote.proposal")?,
                approve: match r.u8("vote.approve")? {
                    0 => false,
                    1 => true,
                    tag => return Err(DecodeError::BadTag { what: "vote.approve", tag }),
                },
            }),
            6 => Ok(Payload::PublishCrl { crl: r.bytes(MAX_CRL_LEN, "crl")?.to_vec() }),
            7 => Ok(Payload::Call {
                contract: crate::contract::get_name(r)?,
                version: r.u32("call.version")?,
                method: crate::contract::get_method(r)?,
                args: r.string(crate::contract::MAX_ARGS_LEN, "call.args")?,
                fuel: r.u64("call.fuel")?,
            }),
            8 => Ok(Payload::Deploy { spec: crate::contract::DeploySpec::decode_from(r)? }),
            9 => Ok(Payload::EvmCall {
                contract: crate::contract::get_name(r)?,
                version: r.u32("evm_call.version")?,
                data: r.bytes(crate::contract::MAX_CALLDATA_LEN, "evm_call.data")?.to_vec(),
                gas: r.u64("evm_call.gas")?,
            }),
            tag => Err(DecodeError::BadTag { what: "payload kind", tag }),
        }
    }
}

/// The signed part of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxBody {
    /// The chain this transaction is for; a transaction for another chain is refused.
    pub chain_id: String,
    /// The signer's public key (its suite is the chain's).
    pub signer: PublicKey,
    /// The signer's certificate, or the hash under which it is registered.
    pub credential: Credential,
    /// A value the client chooses so that otherwise identical transactions differ (replay
    /// protection is by transaction id: the same body never executes twice).
    pub nonce: u64,
    /// The last height at which this transaction may be included.
    pub expiry_height: u64,
    /// What to do.
    pub payload: Payload,
}

impl TxBody {
    fn encode_inner(&self, normalize: bool, out: &mut Vec<u8>) {
        out.push(TX_VERSION);
        out.push(self.signer.suite().tag());
        put_bytes(out, self.chain_id.as_bytes());
        put_bytes(out, &self.signer.to_bytes());
        self.credential.encode_with(self.signer.suite(), normalize, out);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.expiry_height.to_be_bytes());
        self.payload.encode_to(out);
    }
}

impl Encode for TxBody {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.encode_inner(false, out);
    }
}

impl Decode for TxBody {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("tx version")?;
        if version != TX_VERSION {
            return Err(DecodeError::BadTag { what: "tx version", tag: version });
        }
        let suite_tag = r.u8("suite")?;
        let suite = Suite::from_tag(suite_tag).map_err(|_| DecodeError::BadTag { what: "suite", tag: suite_tag })?;
        let chain_id = r.string(MAX_CHAIN_ID_LEN, "chain id")?;
        let key = r.bytes(MAX_PUBLIC_KEY_LEN, "signer key")?;
        let signer = PublicKey::from_bytes(suite, key)
            .map_err(|e| DecodeError::Invalid { what: "signer key", reason: e.to_string() })?;
        let credential = Credential::decode_from(r)?;
        Ok(TxBody {
            chain_id,
            signer,
            credential,
            nonce: r.u64("nonce")?,
            expiry_height: r.u64("expiry height")?,
            payload: Payload::decode_from(r)?,
        })
    }
}

impl TxBody {
    /// The exact bytes the signature covers: the framed domain tag, then the encoded body.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        put_bytes(&mut out, TX_SIGN_TAG);
        self.encode_to(&mut out);
        out
    }

    /// The transaction id: `H("FDL/TXID/v1", body)` with a carried certificate replaced by its
    /// hash. It excludes the signature, so re-signing the same body cannot produce a second
    /// executable transaction, and sending it once with the certificate and once with the hash
    /// gives the same id.
    pub fn id(&self) -> Hash {
        let mut out = Vec::with_capacity(192);
        self.encode_inner(true, &mut out);
        hash_tagged(self.signer.suite(), TX_ID_TAG, &out)
    }

    /// Signs the body.
    ///
    /// # Errors
    /// [`TxError::Crypto`] if the signer fails, [`TxError::WrongSigner`] if the signer's key is not
    /// the body's `signer`.
    pub fn sign(self, signer: &dyn Signer) -> Result<SignedTx, TxError> {
        if signer.public_key() != self.signer {
            return Err(TxError::WrongSigner);
        }
        let signature = signer.sign(&self.signing_bytes())?;
        Ok(SignedTx::new(self, signature))
    }
}

/// Why a transaction is unusable regardless of chain state.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxError {
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    Crypto(#[from] CryptoError),
    /// The key used to sign is not the body's signer.
    #[error("the signing key is not the transaction's signer")]
    WrongSigner,
}

/// A transaction with its signature, as submitted and as stored in blocks.
///
/// Its id and its canonical encoding are computed once, when it is made or decoded: admission,
/// block building, the transaction root, the block's encoding and the store all reuse them
/// (issue 15: one encoding per transaction, not one per use). The digest of verified bytes is
/// computed on first use and kept.
#[derive(Debug, Clone)]
pub struct SignedTx {
    /// The signed content.
    pub body: TxBody,
    /// Signature over [`TxBody::signing_bytes`].
    pub signature: Signature,
    id: Hash,
    encoded: std::sync::Arc<[u8]>,
    verified_digest: std::sync::OnceLock<Hash>,
}

impl PartialEq for SignedTx {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for SignedTx {}

impl SignedTx {
    /// Pairs a body with its signature (not verified here: see [`SignedTx::verify`]).
    pub fn new(body: TxBody, signature: Signature) -> Self {
        let id = body.id();
        let mut out = Vec::with_capacity(256);
        body.encode_to(&mut out);
        put_bytes(&mut out, signature.as_bytes());
        SignedTx { body, signature, id, encoded: out.into(), verified_digest: std::sync::OnceLock::new() }
    }

    /// The canonical encoding (computed once; [`Encode::encode`] copies it).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The transaction id (see [`TxBody::id`]).
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.body.signer.address()
    }

    /// A digest of exactly the bytes a signature check covers: the whole encoding (body with its
    /// credential in the form it was sent, and the signature). Unlike [`SignedTx::id`], two forms
    /// of one transaction (certificate carried or its hash) have different digests, so a cache of
    /// verified signatures keyed by it cannot be fooled by a swapped credential.
    pub fn verified_digest(&self) -> Hash {
        *self.verified_digest.get_or_init(|| hash_tagged(self.body.signer.suite(), TX_VERIFIED_TAG, &self.encoded))
    }

    /// Checks the signature over the body's signing bytes.
    ///
    /// # Errors
    /// [`TxError::Crypto`] when it does not verify.
    pub fn verify(&self) -> Result<(), TxError> {
        self.body.signer.verify(&self.body.signing_bytes(), &self.signature)?;
        Ok(())
    }
}

impl Encode for SignedTx {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.encoded);
    }
}

impl Decode for SignedTx {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let body = TxBody::decode_from(r)?;
        let sig = r.bytes(MAX_SIGNATURE_LEN, "signature")?;
        let signature = Signature::from_bytes(body.signer.suite(), sig)
            .map_err(|e| DecodeError::Invalid { what: "signature", reason: e.to_string() })?;
        Ok(SignedTx::new(body, signature))
    }
}

#[cfg(test)]
mod tests {
    use fdl_crypto::KeyPair;

    use super::*;

    fn body(kp: &KeyPair) -> TxBody {
        TxBody {
            chain_id: "fdl-test".into(),
            signer: kp.public_key(),
            credential: Credential::None,
            nonce: 7,
            expiry_height: 100,
            payload: Payload::Transfer { to: Address([9; 20]), amount: 1000, memo: "rent".into() },
        }
    }

    /// The encoding kept at construction is the canonical one, survives a decode, and two
    /// transactions compare by it.
    #[test]
    fn the_kept_encoding_is_the_canonical_one() {
        for suite in [Suite::Sm, Suite::Intl] {
            let kp = KeyPair::generate(suite);
            let tx = body(&kp).sign(&kp).expect("sign");
            let mut fresh = Vec::new();
            tx.body.encode_to(&mut fresh);
            put_bytes(&mut fresh, tx.signature.as_bytes());
            assert_eq!(tx.encoded(), fresh.as_slice());
            assert_eq!(tx.encode(), fresh);
            let back = SignedTx::decode(&fresh).expect("decode");
            assert_eq!(back, tx);
            assert_eq!(back.encoded(), tx.encoded());
            assert_eq!(back.verified_digest(), tx.verified_digest());
            let other = body(&kp).sign(&kp).expect("sign");
            if suite == Suite::Sm {
                // SM2 signatures are randomized: same id, other bytes, not equal.
                assert_eq!(other.id(), tx.id());
                assert_ne!(other, tx);
                assert_ne!(other.verified_digest(), tx.verified_digest());
            }
        }
    }

    #[test]
    fn sign_round_trip_both_suites() {
        for suite in [Suite::Sm, Suite::Intl] {
            let kp = KeyPair::generate(suite);
            let tx = body(&kp).sign(&kp).expect("sign");
            tx.verify().expect("verifies");
            let bytes = tx.encode();
            let back = SignedTx::decode(&bytes).expect("decode");
            assert_eq!(back, tx);
            assert_eq!(back.id(), tx.id());
            let mut bad = bytes.clone();
            let n = bad.len();
            bad[n - 70] ^= 1; // inside the payload or signature
            if let Ok(t) = SignedTx::decode(&bad) {
                assert!(t.verify().is_err() || t.id() != tx.id());
            }
            assert!(SignedTx::decode(&bytes[..bytes.len() - 1]).is_err());
            let mut extra = bytes.clone();
            extra.push(0);
            assert_eq!(SignedTx::decode(&extra), Err(DecodeError::Trailing(1)));
        }
    }

    #[test]
    fn body_fixture_is_stable() {
        // A fixed Ed25519 key gives fixed body bytes; if this fixture changes, the transaction
        // format changed and every stored block would no longer decode: bump TX_VERSION instead.
        let kp = KeyPair::ed25519_from_seed(&[1; 32]);
        let b = body(&kp);
        let hexed = hex::encode(b.encode());
        assert_eq!(
            hexed,
            "02020000000866646c2d7465737400000020\
             8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\
             00\
             0000000000000007000000000000006401\
             0909090909090909090909090909090909090909\
             000000000000000000000000000003e8000000047265\
             6e74"
        );
    }

    #[test]
    fn a_carried_certificate_and_its_hash_give_the_same_id() {
        let kp = KeyPair::generate(Suite::Sm);
        let der = vec![0x30, 0x82, 1, 2, 3, 4];
        let with_cert = TxBody { credential: Credential::Certificate(der.clone()), ..body(&kp) };
        let with_hash = TxBody { credential: Credential::Registered(cert_hash(Suite::Sm, &der)), ..body(&kp) };
        assert_eq!(with_cert.id(), with_hash.id());
        assert_ne!(with_cert.encode(), with_hash.encode());
        assert_ne!(with_cert.id(), body(&kp).id(), "the credential is part of the id");
        for b in [with_cert, with_hash] {
            let tx = b.sign(&kp).expect("sign");
            let back = SignedTx::decode(&tx.encode()).expect("decode");
            assert_eq!(back, tx);
            back.verify().expect("verifies");
        }
        // Unknown credential kinds and over-long certificates are refused.
        let mut bad = body(&kp).encode();
        let at = bad.len() - 8 - 8 - 1 - 20 - 16 - 4 - 4 - 1;
        bad[at] = 9;
        assert!(TxBody::decode(&bad).is_err());
    }

    #[test]
    fn wrong_signer_refused() {
        let a = KeyPair::generate(Suite::Sm);
        let b = KeyPair::generate(Suite::Sm);
        assert_eq!(body(&a).sign(&b), Err(TxError::WrongSigner));
    }
}
