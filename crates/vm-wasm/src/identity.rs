//! The identity encoding of `caller`, `signer` and `contract_info` (ABI "Identities").

/// Who is calling, who signed, or which contract is running, as a contract sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The account's address; for a contract, its contract address (the first 20 bytes of
    /// `H("FDL/CONTRACT/v1" || name)` with the chain's hash).
    pub address: [u8; 20],
    /// `true` for a contract, `false` for an account.
    pub is_contract: bool,
    /// The institution (a contract: the institution that owns it; an account without a
    /// certificate: empty).
    pub org: String,
    /// The role: `admin`, `client`, `auditor`, ... (a contract: `contract`).
    pub role: String,
    /// A contract's name (an account: empty).
    pub name: String,
    /// A contract's version (an account: 0).
    pub version: u32,
}

impl Identity {
    /// The ABI encoding: `address` (20 bytes), `kind` (1 byte: 0 account, 1 contract), then `org`,
    /// `role` and `name` each as a `u16` little-endian length and UTF-8 bytes, then `version` as a
    /// `u32` little-endian.
    ///
    /// A string longer than 65,535 bytes (which no FDL identity has) is cut to the longest prefix
    /// of at most 65,535 bytes that ends on a character boundary, so the encoding is always
    /// well-formed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + 1 + 6 + self.org.len() + self.role.len() + self.name.len() + 4);
        out.extend_from_slice(&self.address);
        out.push(u8::from(self.is_contract));
        for s in [&self.org, &self.role, &self.name] {
            let s = cut_at_char_boundary(s, usize::from(u16::MAX));
            // `cut_at_char_boundary` keeps at most u16::MAX bytes, so this cannot saturate.
            let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&self.version.to_le_bytes());
        out
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_layout() {
        let id = Identity {
            address: [7; 20],
            is_contract: true,
            org: "org1".into(),
            role: "contract".into(),
            name: "token".into(),
            version: 3,
        };
        let b = id.encode();
        assert_eq!(&b[..20], &[7; 20]);
        assert_eq!(b[20], 1);
        assert_eq!(&b[21..23], &4u16.to_le_bytes());
        assert_eq!(&b[23..27], b"org1");
        assert_eq!(&b[27..29], &8u16.to_le_bytes());
        assert_eq!(&b[29..37], b"contract");
        assert_eq!(&b[37..39], &5u16.to_le_bytes());
        assert_eq!(&b[39..44], b"token");
        assert_eq!(&b[44..], &3u32.to_le_bytes());
    }

    #[test]
    fn overlong_strings_are_cut_on_a_character_boundary() {
        let id = Identity { org: "é".repeat(40_000), ..Identity::default() };
        let b = id.encode();
        let len = usize::from(u16::from_le_bytes([b[21], b[22]]));
        assert_eq!(len, 65_534); // 32,767 two-byte characters: 65,535 would split one
        assert!(std::str::from_utf8(&b[23..23 + len]).is_ok());
    }
}
