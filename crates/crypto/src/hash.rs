use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

use crate::Suite;

/// Length of every FDL hash (SM3 and SHA-256 both give 32 bytes).
pub const HASH_LEN: usize = 32;

/// A 32-byte digest under the chain's suite hash (SM3 or SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The all-zero hash, used as the parent of the genesis block and for empty roots.
    pub const ZERO: Hash = Hash([0; HASH_LEN]);

    /// Lower-case hex without a prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits, with or without a `0x` prefix.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; HASH_LEN];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Hash(out))
    }
}

impl std::str::FromStr for Hash {
    type Err = crate::CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hash::from_hex(s).ok_or(crate::CryptoError::BadLength { what: "hash hex digits", expected: 64, got: s.len() })
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// An incremental hasher for the suite's hash function.
#[derive(Clone)]
pub enum Hasher {
    /// SM3 (GB/T 32905).
    Sm3(sm3::Sm3),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A fresh hasher for `suite`.
    pub fn new(suite: Suite) -> Self {
        match suite {
            Suite::Sm => Hasher::Sm3(sm3::Sm3::new()),
            Suite::Intl => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sm3(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// Feeds a length-prefixed byte string, so that concatenations cannot collide.
    pub fn update_framed(&mut self, data: &[u8]) {
        self.update(&(data.len() as u64).to_be_bytes());
        self.update(data);
    }

    /// Returns the digest.
    pub fn finish(self) -> Hash {
        let mut out = [0u8; HASH_LEN];
        match self {
            Hasher::Sm3(h) => out.copy_from_slice(&h.finalize()),
            Hasher::Sha256(h) => out.copy_from_slice(&h.finalize()),
        }
        Hash(out)
    }
}

/// Hashes `data` with the suite's hash.
pub fn hash(suite: Suite, data: &[u8]) -> Hash {
    let mut h = Hasher::new(suite);
    h.update(data);
    h.finish()
}

/// Hashes `data` under a domain tag (e.g. `FDL/TX/v1`): `H(len(tag) || tag || data)`.
pub fn hash_tagged(suite: Suite, tag: &[u8], data: &[u8]) -> Hash {
    let mut h = Hasher::new(suite);
    h.update_framed(tag);
    h.update(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = hash(Suite::Sm, b"abc");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex(&format!("0x{}", h.to_hex())), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }
}
