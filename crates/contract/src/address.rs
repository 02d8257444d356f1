//! [`Address`] (20 bytes, hex in JSON) and [`Bytes`] (a byte string, hex in JSON).

use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::Codec;
use crate::json::{FromJson, Json, JsonError, ToJson};

/// An account's or a contract's address: 20 bytes.
///
/// In JSON it is a string of 40 hex digits, written lowercase; parsing also accepts uppercase
/// digits and a `0x` prefix. In storage ([`Codec`]) it is its 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The all-zero address (no account has it in practice).
    pub const ZERO: Address = Address([0; 20]);

    /// Its 40 lowercase hex digits, without a prefix.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 40 hex digits (either case), with or without a `0x` prefix.
    pub fn from_hex(text: &str) -> Option<Address> {
        let digits = strip_0x(text);
        if digits.len() != 40 {
            return None;
        }
        let bytes = hex_decode(digits)?;
        let mut out = [0u8; 20];
        out.copy_from_slice(&bytes);
        Some(Address(out))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl From<[u8; 20]> for Address {
    fn from(bytes: [u8; 20]) -> Self {
        Address(bytes)
    }
}

impl core::fmt::Display for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl ToJson for Address {
    fn to_json(&self) -> Json {
        Json::String(self.to_hex())
    }
}

impl FromJson for Address {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::String(s) => Address::from_hex(&s)
                .ok_or_else(|| JsonError::new("expected an address (40 hex digits, optionally with 0x)")),
            _ => Err(JsonError::new("expected an address (a string of 40 hex digits)")),
        }
    }
}

impl Codec for Address {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        let (head, rest) = input.split_first_chunk::<20>()?;
        *input = rest;
        Some(Address(*head))
    }
}

/// A byte string that is hex in JSON (lowercase; `0x` and uppercase accepted when parsing) and
/// compact in storage, unlike `Vec<u8>`, which is a JSON array of numbers.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Bytes(pub Vec<u8>);

impl ToJson for Bytes {
    fn to_json(&self) -> Json {
        Json::String(hex_encode(&self.0))
    }
}

impl FromJson for Bytes {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::String(s) => hex_decode(strip_0x(&s))
                .map(Bytes)
                .ok_or_else(|| JsonError::new("expected hex bytes (an even number of hex digits)")),
            _ => Err(JsonError::new("expected hex bytes (a string)")),
        }
    }
}

impl Codec for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        crate::codec::encode_bytes(&self.0, out);
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        crate::codec::decode_bytes(input).map(Bytes)
    }
}

fn strip_0x(text: &str) -> &str {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of the bytes.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The bytes of an even number of hex digits (either case).
pub(crate) fn hex_decode(digits: &str) -> Option<Vec<u8>> {
    let digits = digits.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits.chunks_exact(2).map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn address_hex_round_trip_and_forms() {
        let a = Address([0xab; 20]);
        assert_eq!(a.to_hex(), "abababababababababababababababababababab");
        assert_eq!(Address::from_hex(&a.to_hex()), Some(a));
        assert_eq!(Address::from_hex("0xABABABABABABABABABABABABABABABABABABABAB"), Some(a));
        assert_eq!(Address::from_hex("abab"), None);
        assert_eq!(Address::from_hex("zz".repeat(20).as_str()), None);
        assert_eq!(Address::from_hex("0x"), None);
        assert!(Address::from_json(Json::Bool(true)).is_err());
    }

    #[test]
    fn bytes_hex() {
        assert_eq!(Bytes::from_json(Json::String("0x00ff".into())).ok(), Some(Bytes(alloc::vec![0, 255])));
        assert!(Bytes::from_json(Json::String("abc".into())).is_err());
        assert_eq!(Bytes(alloc::vec![1, 2]).to_json(), Json::String("0102".into()));
    }
}
