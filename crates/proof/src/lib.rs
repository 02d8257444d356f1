//! Checks a state proof (a Jellyfish Merkle tree proof, as `fdl-state` makes them) against the
//! state root of a block header, for present and absent keys alike. This is what a client runs
//! against a header it trusts; it needs no store, so the SDK links this crate and not the
//! node's storage.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

use fdl_crypto::{Hash, Suite};
use jmt::{KeyHash, RootHash, SimpleHasher, proof::SparseMerkleProof};
use thiserror::Error;

/// Why a proof was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The proof bytes are malformed.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof does not show the claimed value under the root.
    #[error("proof does not match the state root: {0}")]
    Mismatch(String),
}

/// The tree's SM3 (the `sm` suite).
pub type Sm3 = sm3_jmt::Sm3;
/// The tree's SHA-256 (the `intl` suite).
pub type Sha256 = sha2_jmt::Sha256;

/// Where `key` sits in the tree, under hasher `H`.
pub fn key_hash<H: SimpleHasher>(key: &[u8]) -> KeyHash {
    KeyHash::with::<H>(key)
}

/// Checks that `proof` shows `key` holding `value` (or being absent, for `None`) in the state
/// whose root is `root`.
///
/// # Errors
/// [`ProofError`] when the proof is malformed or does not match.
pub fn verify_proof(
    suite: Suite,
    root: &Hash,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<(), ProofError> {
    match suite {
        Suite::Sm => verify_inner::<Sm3>(root, key, value, proof),
        Suite::Intl => verify_inner::<Sha256>(root, key, value, proof),
    }
}

fn verify_inner<H: SimpleHasher>(
    root: &Hash,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<(), ProofError> {
    let proof: SparseMerkleProof<H> = borsh::from_slice(proof).map_err(|e| ProofError::Malformed(e.to_string()))?;
    proof.verify(RootHash(root.0), key_hash::<H>(key), value).map_err(|e| ProofError::Mismatch(e.to_string()))
}
