//! [`Identity`]: who calls, who signed, and the contract itself.

use alloc::string::String;
use alloc::vec::Vec;

use crate::address::Address;
use crate::json::{FromJson, Json, JsonError, ObjectReader, ToJson};

/// An account's or a contract's identity, as the host describes it ([`caller`], [`signer`],
/// [`this`]).
///
/// [`caller`]: crate::caller
/// [`signer`]: crate::signer
/// [`this`]: crate::this
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Identity {
    /// The account's address, or the contract's address.
    pub address: Address,
    /// Whether it is a contract (else an account).
    pub is_contract: bool,
    /// The institution: the account's (empty for an account without a certificate), or the one
    /// that owns the contract.
    pub org: String,
    /// The account's role (`admin`, `client`, `auditor`, ...); `contract` for a contract.
    pub role: String,
    /// A contract's name (empty for an account).
    pub name: String,
    /// A contract's version (0 for an account).
    pub version: u32,
}

impl Identity {
    /// An account of `org` with `role`.
    pub fn account(address: Address, org: &str, role: &str) -> Identity {
        Identity { address, is_contract: false, org: org.into(), role: role.into(), name: String::new(), version: 0 }
    }

    /// Whether it is an account with role `admin` in the institution `org`.
    pub fn is_admin_of(&self, org: &str) -> bool {
        !self.is_contract && self.role == "admin" && self.org == org
    }

    /// Decodes the ABI's encoding: address (20), kind (1: `0` account, `1` contract), then org,
    /// role and name (each a `u16` little-endian length and UTF-8), then version (`u32` LE).
    /// `None` if the bytes are not exactly that.
    pub fn decode(bytes: &[u8]) -> Option<Identity> {
        let mut r = bytes;
        let (address, rest) = r.split_first_chunk::<20>()?;
        r = rest;
        let (&kind, rest) = r.split_first()?;
        r = rest;
        let is_contract = match kind {
            0 => false,
            1 => true,
            _ => return None,
        };
        let org = read_text(&mut r)?;
        let role = read_text(&mut r)?;
        let name = read_text(&mut r)?;
        let (version, rest) = r.split_first_chunk::<4>()?;
        if !rest.is_empty() {
            return None;
        }
        Some(Identity {
            address: Address(*address),
            is_contract,
            org,
            role,
            name,
            version: u32::from_le_bytes(*version),
        })
    }

    /// The ABI's encoding (what [`Identity::decode`] reads). Texts longer than 65,535 bytes are
    /// cut (the host never produces them).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 1 + 6 + self.org.len() + self.role.len() + self.name.len() + 4);
        out.extend_from_slice(&self.address.0);
        out.push(u8::from(self.is_contract));
        for text in [&self.org, &self.role, &self.name] {
            let bytes = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&self.version.to_le_bytes());
        out
    }
}

fn read_text(r: &mut &[u8]) -> Option<String> {
    let (len, rest) = r.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (text, rest) = rest.split_at(len);
    *r = rest;
    String::from_utf8(text.to_vec()).ok()
}

impl ToJson for Identity {
    fn to_json(&self) -> Json {
        Json::object()
            .field("address", &self.address)
            .field("is_contract", &self.is_contract)
            .field("org", &self.org)
            .field("role", &self.role)
            .field("name", &self.name)
            .field("version", &self.version)
            .build()
    }
}

impl FromJson for Identity {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        let mut r = ObjectReader::new(value)?;
        let id = Identity {
            address: r.take("address")?,
            is_contract: r.take("is_contract")?,
            org: r.take("org")?,
            role: r.take("role")?,
            name: r.take("name")?,
            version: r.take("version")?,
        };
        r.finish()?;
        Ok(id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_abi_layout() {
        let mut bytes = [7u8; 20].to_vec();
        bytes.push(1);
        bytes.extend_from_slice(&[4, 0]);
        bytes.extend_from_slice(b"org1");
        bytes.extend_from_slice(&[8, 0]);
        bytes.extend_from_slice(b"contract");
        bytes.extend_from_slice(&[5, 0]);
        bytes.extend_from_slice(b"token");
        bytes.extend_from_slice(&3u32.to_le_bytes());
        let id = Identity::decode(&bytes).expect("valid");
        assert_eq!(id.address, Address([7; 20]));
        assert!(id.is_contract);
        assert_eq!((id.org.as_str(), id.role.as_str(), id.name.as_str(), id.version), ("org1", "contract", "token", 3));
        assert_eq!(id.encode(), bytes);
        // Every truncation, a bad kind and trailing bytes are refused.
        for n in 0..bytes.len() {
            assert_eq!(Identity::decode(&bytes[..n]), None, "{n}");
        }
        let mut bad = bytes.clone();
        bad[20] = 2;
        assert_eq!(Identity::decode(&bad), None);
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Identity::decode(&long), None);
    }

    #[test]
    fn account_helpers() {
        let a = Identity::account(Address([1; 20]), "org1", "admin");
        assert!(a.is_admin_of("org1"));
        assert!(!a.is_admin_of("org2"));
        assert_eq!(Identity::decode(&a.encode()), Some(a.clone()));
        assert_eq!(Identity::from_json(a.to_json()), Ok(a));
    }
}
