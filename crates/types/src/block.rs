//! Blocks: a header that commits to the parent, the transactions, the receipts and the state.

use fdl_crypto::{Address, Hash, MAX_PUBLIC_KEY_LEN, MAX_SIGNATURE_LEN, PublicKey, Signature, Suite, hash_tagged};

use crate::{
    SignedTx,
    codec::{Decode, DecodeError, Encode, Reader, put_bytes, put_count},
    merkle::merkle_root,
    receipt::Receipt,
};

/// Domain tag of a block hash.
pub const BLOCK_TAG: &[u8] = b"FDL/BLOCK/v1";
/// Domain tag of a commit signature (the bytes a validator signs to finalize a block).
pub const COMMIT_TAG: &[u8] = b"FDL/COMMIT/v1";
/// Version byte of the current header format.
pub const HEADER_VERSION: u8 = 1;
/// Hard upper bound on transactions per block, whatever the chain parameters say.
pub const MAX_BLOCK_TXS: usize = 100_000;
/// Hard upper bound on a transaction's encoded size inside a block.
pub const MAX_TX_BYTES_HARD: usize = 64 * 1024;
/// Hard upper bound on commit signatures.
pub const MAX_COMMIT_SIGS: usize = 1024;

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// The chain id.
    pub chain_id: String,
    /// Height; genesis state is height 0, the first block is 1.
    pub height: u64,
    /// Hash of the previous block's header ([`Hash::ZERO`] for height 1).
    pub parent_hash: Hash,
    /// Proposer's wall-clock time in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The proposing validator's address.
    pub proposer: Address,
    /// Number of transactions in the body.
    pub tx_count: u32,
    /// Merkle root of the encoded transactions.
    pub tx_root: Hash,
    /// Root of the authenticated state after executing this block.
    pub state_root: Hash,
    /// Merkle root of the encoded receipts.
    pub receipts_root: Hash,
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(HEADER_VERSION);
        put_bytes(out, self.chain_id.as_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.parent_hash.0);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.proposer.0);
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out.extend_from_slice(&self.tx_root.0);
        out.extend_from_slice(&self.state_root.0);
        out.extend_from_slice(&self.receipts_root.0);
    }
}

impl Decode for BlockHeader {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8("header version")?;
        if v != HEADER_VERSION {
            return Err(DecodeError::BadTag { what: "header version", tag: v });
        }
        Ok(BlockHeader {
            chain_id: r.string(crate::tx::MAX_CHAIN_ID_LEN, "chain id")?,
            height: r.u64("height")?,
            parent_hash: Hash(r.array("parent hash")?),
            timestamp_ms: r.u64("timestamp")?,
            proposer: Address(r.array("proposer")?),
            tx_count: r.u32("tx count")?,
            tx_root: Hash(r.array("tx root")?),
            state_root: Hash(r.array("state root")?),
            receipts_root: Hash(r.array("receipts root")?),
        })
    }
}

impl BlockHeader {
    /// The block hash: `H("FDL/BLOCK/v1", header)` under the chain's suite.
    pub fn hash(&self, suite: Suite) -> Hash {
        hash_tagged(suite, BLOCK_TAG, &self.encode())
    }
}

/// A header and its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTx>,
}

impl Block {
    /// The Merkle root of `txs` (what `header.tx_root` must equal).
    pub fn compute_tx_root(suite: Suite, txs: &[SignedTx]) -> Hash {
        merkle_root(suite, txs.iter().map(SignedTx::encoded))
    }

    /// The Merkle root of `receipts` (what `header.receipts_root` must equal).
    pub fn compute_receipts_root(suite: Suite, receipts: &[Receipt]) -> Hash {
        merkle_root(suite, receipts.iter().map(Encode::encode))
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put_count(out, self.txs.len());
        for tx in &self.txs {
            put_bytes(out, tx.encoded());
        }
    }
}

impl Decode for Block {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let n = r.count(MAX_BLOCK_TXS, "block txs")?;
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            txs.push(SignedTx::decode(r.bytes(MAX_TX_BYTES_HARD, "block tx")?)?);
        }
        if txs.len() != header.tx_count as usize {
            return Err(DecodeError::Invalid {
                what: "block",
                reason: format!("header says {} txs, body has {}", header.tx_count, txs.len()),
            });
        }
        Ok(Block { header, txs })
    }
}

/// One validator's signature finalizing a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSig {
    /// The validator's public key.
    pub validator: PublicKey,
    /// Signature over [`Commit::signing_bytes`].
    pub signature: Signature,
}

/// The proof that a block is final: signatures of validators over the block hash. With one
/// validator it holds that validator's signature; under BFT it holds the precommits of more than
/// two thirds of the voting power.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Height of the block.
    pub height: u64,
    /// Consensus round that decided it.
    pub round: u32,
    /// The block hash.
    pub block_hash: Hash,
    /// The signatures.
    pub signatures: Vec<CommitSig>,
}

impl Commit {
    /// The bytes each validator signs: tag, chain id, height, round, block hash.
    pub fn signing_bytes(chain_id: &str, height: u64, round: u32, block_hash: &Hash) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        put_bytes(&mut out, COMMIT_TAG);
        put_bytes(&mut out, chain_id.as_bytes());
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&round.to_be_bytes());
        out.extend_from_slice(&block_hash.0);
        out
    }
}

impl Encode for Commit {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.round.to_be_bytes());
        out.extend_from_slice(&self.block_hash.0);
        put_count(out, self.signatures.len());
        for s in &self.signatures {
            out.push(s.validator.suite().tag());
            put_bytes(out, &s.validator.to_bytes());
            put_bytes(out, s.signature.as_bytes());
        }
    }
}

impl Decode for Commit {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let height = r.u64("commit height")?;
        let round = r.u32("commit round")?;
        let block_hash = Hash(r.array("commit block hash")?);
        let n = r.count(MAX_COMMIT_SIGS, "commit signatures")?;
        let mut signatures = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = r.u8("suite")?;
            let suite = Suite::from_tag(tag).map_err(|_| DecodeError::BadTag { what: "suite", tag })?;
            let key = r.bytes(MAX_PUBLIC_KEY_LEN, "validator key")?;
            let validator = PublicKey::from_bytes(suite, key)
                .map_err(|e| DecodeError::Invalid { what: "validator key", reason: e.to_string() })?;
            let sig = r.bytes(MAX_SIGNATURE_LEN, "commit signature")?;
            let signature = Signature::from_bytes(suite, sig)
                .map_err(|e| DecodeError::Invalid { what: "commit signature", reason: e.to_string() })?;
            signatures.push(CommitSig { validator, signature });
        }
        Ok(Commit { height, round, block_hash, signatures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fixture_is_stable() {
        let h = BlockHeader {
            chain_id: "c".into(),
            height: 2,
            parent_hash: Hash([1; 32]),
            timestamp_ms: 3,
            proposer: Address([4; 20]),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash([5; 32]),
            receipts_root: Hash::ZERO,
        };
        let enc = h.encode();
        assert_eq!(enc.len(), 1 + 4 + 1 + 8 + 32 + 8 + 20 + 4 + 96);
        assert_eq!(&enc[..14], &[1, 0, 0, 0, 1, b'c', 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(BlockHeader::decode(&enc), Ok(h.clone()));
        assert_eq!(h.hash(Suite::Sm).to_hex(), fdl_crypto::hash_tagged(Suite::Sm, BLOCK_TAG, &enc).to_hex());
    }
}
