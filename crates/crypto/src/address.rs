use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{CryptoError, PublicKey, hash_tagged};

/// Length of an account address in bytes.
pub const ADDRESS_LEN: usize = 20;

/// Domain tag of the address derivation.
const ADDRESS_TAG: &[u8] = b"FDL/ADDR/v1";

/// An account address: the first 20 bytes of `H("FDL/ADDR/v1" framed || suite tag || public key)`,
/// where `H` is the suite's hash and the public key is its canonical encoding (SEC1 uncompressed
/// 65 bytes for SM2, 32 bytes for Ed25519). Written as 40 lower-case hex digits; a `0x` prefix is
/// accepted on input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; ADDRESS_LEN]);

impl Address {
    /// Derives the address of a public key by the documented rule.
    pub fn of(key: &PublicKey) -> Address {
        let suite = key.suite();
        let mut data = Vec::with_capacity(1 + 65);
        data.push(suite.tag());
        data.extend_from_slice(&key.to_bytes());
        let digest = hash_tagged(suite, ADDRESS_TAG, &data);
        let mut out = [0u8; ADDRESS_LEN];
        out.copy_from_slice(&digest.0[..ADDRESS_LEN]);
        Address(out)
    }

    /// Lower-case hex without prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_hex())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Address {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; ADDRESS_LEN];
        if s.len() != ADDRESS_LEN * 2 {
            return Err(CryptoError::BadLength { what: "address hex digits", expected: ADDRESS_LEN * 2, got: s.len() });
        }
        hex::decode_to_slice(s, &mut out).map_err(|e| CryptoError::MalformedPublicKey(format!("address: {e}")))?;
        Ok(Address(out))
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
