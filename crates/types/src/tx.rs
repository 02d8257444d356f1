//! Transactions: a body signed over its exact canonical bytes under the `FDL/TX/v1` domain tag.

use fdl_crypto::{
    Address, CryptoError, Hash, MAX_PUBLIC_KEY_LEN, MAX_SIGNATURE_LEN, PublicKey, Signature, Signer, Suite, hash_tagged,
};
use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, Reader, put_bytes};

/// Domain tag prefixed to the bytes a transaction signature covers.
pub const TX_SIGN_TAG: &[u8] = b"FDL/TX/v1";
/// Domain tag of the transaction id hash.
pub const TX_ID_TAG: &[u8] = b"FDL/TXID/v1";
/// Version byte of the current transaction format.
pub const TX_VERSION: u8 = 1;
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
}

impl Payload {
    /// The `module.method` name, used in receipts, metrics and (later) permissions.
    pub fn method(&self) -> &'static str {
        match self {
            Payload::Transfer { .. } => "bank.transfer",
            Payload::Issue { .. } => "bank.issue",
            Payload::Burn { .. } => "bank.burn",
        }
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
    /// A value the client chooses so that otherwise identical transactions differ (replay
    /// protection is by transaction id: the same body never executes twice).
    pub nonce: u64,
    /// The last height at which this transaction may be included.
    pub expiry_height: u64,
    /// What to do.
    pub payload: Payload,
}

impl Encode for TxBody {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(TX_VERSION);
        out.push(self.signer.suite().tag());
        put_bytes(out, self.chain_id.as_bytes());
        put_bytes(out, &self.signer.to_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.expiry_height.to_be_bytes());
        self.payload.encode_to(out);
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
        Ok(TxBody {
            chain_id,
            signer,
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

    /// The transaction id: `H("FDL/TXID/v1", body)`. It excludes the signature, so re-signing
    /// the same body cannot produce a second executable transaction.
    pub fn id(&self) -> Hash {
        hash_tagged(self.signer.suite(), TX_ID_TAG, &self.encode())
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The signed content.
    pub body: TxBody,
    /// Signature over [`TxBody::signing_bytes`].
    pub signature: Signature,
    id: Hash,
}

impl SignedTx {
    /// Pairs a body with its signature (not verified here: see [`SignedTx::verify`]).
    pub fn new(body: TxBody, signature: Signature) -> Self {
        let id = body.id();
        SignedTx { body, signature, id }
    }

    /// The transaction id (see [`TxBody::id`]).
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.body.signer.address()
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
        self.body.encode_to(out);
        put_bytes(out, self.signature.as_bytes());
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
            nonce: 7,
            expiry_height: 100,
            payload: Payload::Transfer { to: Address([9; 20]), amount: 1000, memo: "rent".into() },
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
            "01020000000866646c2d7465737400000020\
             8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\
             0000000000000007000000000000006401\
             0909090909090909090909090909090909090909\
             000000000000000000000000000003e8000000047265\
             6e74"
        );
    }

    #[test]
    fn wrong_signer_refused() {
        let a = KeyPair::generate(Suite::Sm);
        let b = KeyPair::generate(Suite::Sm);
        assert_eq!(body(&a).sign(&b), Err(TxError::WrongSigner));
    }
}
