//! [`Value`]: how each type stored in state is encoded, and the small helpers the records share.

use fdl_crypto::{Address, Hash, Suite};
use fdl_types::{
    ChainParams, Decode, DecodeError, Encode, NodeSpec, Reader, chain_param,
    codec::{put_bytes, put_count},
};

use crate::records::{AclRule, CertRecord, MemberRecord, OpenLink, Proposal, RevocationRecord, RevocationRef};

/// Longest text field of a state record (names, serials, reasons, notes).
pub(crate) const MAX_TEXT: usize = 64 * 1024;
/// Most elements of a list stored under one key (the count is also bounded by the input).
pub(crate) const MAX_LIST: usize = 1 << 20;

/// A type stored under a state key, with its canonical encoding.
///
/// Implemented here for every type the schema stores; the encoding of each is fixed by a test
/// that pins the genesis state root (`tests/genesis_root.rs`).
pub trait Value: Sized {
    /// The bytes stored.
    fn encode_value(&self) -> Vec<u8>;
    /// Reads stored bytes, refusing malformed or trailing data.
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes are not a canonical encoding.
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// A key whose presence is the information (its value is one byte, `1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker;

impl Value for Marker {
    fn encode_value(&self) -> Vec<u8> {
        vec![1]
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            [1] => Ok(Marker),
            _ => Err(DecodeError::Invalid { what: "marker", reason: format!("{} bytes", bytes.len()) }),
        }
    }
}

/// Implements [`Value`] through the codec's [`Encode`] and [`Decode`].
macro_rules! value_by_codec {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn encode_value(&self) -> Vec<u8> {
                self.encode()
            }
            fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
                <$t>::decode(bytes)
            }
        }
    )*};
}
value_by_codec!(
    MemberRecord,
    CertRecord,
    RevocationRecord,
    RevocationRef,
    OpenLink,
    AclRule,
    Proposal,
    crate::contract::ContractRecord,
    crate::contract::VersionRecord
);

fn exact<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], DecodeError> {
    let mut r = Reader::new(bytes);
    let a = r.array::<N>(what)?;
    r.finish()?;
    Ok(a)
}

impl Value for u64 {
    fn encode_value(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        exact::<8>(bytes, "u64").map(u64::from_be_bytes)
    }
}

impl Value for u128 {
    fn encode_value(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        exact::<16>(bytes, "u128").map(u128::from_be_bytes)
    }
}

impl Value for Address {
    fn encode_value(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        exact::<20>(bytes, "address").map(Address)
    }
}

impl Value for Suite {
    fn encode_value(&self) -> Vec<u8> {
        vec![self.tag()]
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let [t] = exact::<1>(bytes, "suite")?;
        Suite::from_tag(t).map_err(|_| DecodeError::BadTag { what: "suite", tag: t })
    }
}

/// Raw bytes (DER certificates): stored as they are.
impl Value for Vec<u8> {
    fn encode_value(&self) -> Vec<u8> {
        self.clone()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(bytes.to_vec())
    }
}

/// Text (an institution's name): UTF-8 as it is.
impl Value for String {
    fn encode_value(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid { what: "text", reason: "not UTF-8".into() })
    }
}

fn list<T>(items: &[T], put: impl Fn(&mut Vec<u8>, &T)) -> Vec<u8> {
    let mut out = Vec::new();
    put_count(&mut out, items.len());
    for i in items {
        put(&mut out, i);
    }
    out
}

fn read_list<T>(
    bytes: &[u8],
    what: &'static str,
    get: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut r = Reader::new(bytes);
    let n = r.count(MAX_LIST, what)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get(&mut r)?);
    }
    r.finish()?;
    Ok(out)
}

impl Value for Vec<String> {
    fn encode_value(&self) -> Vec<u8> {
        list(self, |o, s| put_str(o, s))
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        read_list(bytes, "names", |r| r.string(MAX_TEXT, "name"))
    }
}

impl Value for Vec<NodeSpec> {
    fn encode_value(&self) -> Vec<u8> {
        list(self, |o, n| n.encode_to(o))
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        read_list(bytes, "nodes", NodeSpec::decode_from)
    }
}

/// The parameters in the order of [`chain_param::TABLE`], each as a `u64`.
impl Value for ChainParams {
    fn encode_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * chain_param::TABLE.len());
        for def in chain_param::TABLE {
            out.extend_from_slice(&(def.get)(self).to_be_bytes());
        }
        out
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut p = ChainParams::default();
        for def in chain_param::TABLE {
            let v = r.u64(def.name)?;
            (def.set)(&mut p, v).map_err(|e| DecodeError::Invalid { what: def.name, reason: e.to_string() })?;
        }
        r.finish()?;
        Ok(p)
    }
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

pub(crate) fn get_hash(r: &mut Reader<'_>, what: &'static str) -> Result<Hash, DecodeError> {
    r.array(what).map(Hash)
}

pub(crate) fn get_addr(r: &mut Reader<'_>, what: &'static str) -> Result<Address, DecodeError> {
    r.array(what).map(Address)
}

pub(crate) fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

pub(crate) fn get_opt_u64(r: &mut Reader<'_>, what: &'static str) -> Result<Option<u64>, DecodeError> {
    match r.u8(what)? {
        0 => Ok(None),
        1 => Ok(Some(r.u64(what)?)),
        tag => Err(DecodeError::BadTag { what, tag }),
    }
}
