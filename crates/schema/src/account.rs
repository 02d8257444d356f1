//! Accounts: balance, replay counter, kind, flags, key and registrar, in a fixed binary layout.

use fdl_crypto::Address;
use fdl_types::AccountKind;

use fdl_types::DecodeError;

use crate::{SchemaError, Value};

/// Longest institution name stored with an account.
pub const MAX_ACCOUNT_ORG: usize = 64;

/// Length of an encoded account without its institution name.
const FIXED_LEN: usize = 55;

/// An account: its balance and, once its holder has a registered certificate, its identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    /// Balance in the smallest unit.
    pub balance: u128,
    /// Transactions this account has had included (its replay state: ids are unique per body,
    /// and this counter tells a client how many of its transactions the chain has executed).
    pub sent: u64,
    /// Its type.
    pub kind: AccountKind,
    /// Frozen accounts cannot send (STD-13.2).
    pub frozen: bool,
    /// After a key reset, the new key may send only from this height (STD-13.3).
    pub locked_until: u64,
    /// The address of the key that may send for this account (zero until its first certified
    /// transaction; changed only by a key reset, so the account id stays).
    pub key: Address,
    /// The institution that registered it (its registrar), empty until then.
    pub org: String,
}

/// Encodes an account: balance (16 bytes BE), sent (8), kind (1), frozen (1), locked until (8),
/// key address (20), then the institution (1-byte length, UTF-8, at most [`MAX_ACCOUNT_ORG`]).
pub fn encode_account(a: &Account) -> Vec<u8> {
    let mut v = Vec::with_capacity(FIXED_LEN + a.org.len());
    v.extend_from_slice(&a.balance.to_be_bytes());
    v.extend_from_slice(&a.sent.to_be_bytes());
    v.push(a.kind.tag());
    v.push(u8::from(a.frozen));
    v.extend_from_slice(&a.locked_until.to_be_bytes());
    v.extend_from_slice(&a.key.0);
    let mut end = a.org.len().min(MAX_ACCOUNT_ORG);
    while !a.org.is_char_boundary(end) {
        end -= 1;
    }
    let org = &a.org.as_bytes()[..end];
    v.push(org.len() as u8);
    v.extend_from_slice(org);
    v
}

/// Decodes an account value read at `key`.
///
/// # Errors
/// [`SchemaError::Corrupt`] when the value is malformed.
pub fn decode_account(key: &[u8], b: &[u8]) -> Result<Account, SchemaError> {
    decode(b).map_err(|reason| SchemaError::corrupt(key, reason))
}

impl Value for Account {
    fn encode_value(&self) -> Vec<u8> {
        encode_account(self)
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes).map_err(|reason| DecodeError::Invalid { what: "account", reason })
    }
}

fn decode(b: &[u8]) -> Result<Account, String> {
    if b.len() < FIXED_LEN {
        return Err(format!("account value of {} bytes", b.len()));
    }
    let word = |at: usize| -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        u64::from_be_bytes(a)
    };
    let mut bal = [0u8; 16];
    bal.copy_from_slice(&b[..16]);
    let kind = AccountKind::from_tag(b[24]).ok_or_else(|| format!("account kind {}", b[24]))?;
    let frozen = match b[25] {
        0 => false,
        1 => true,
        t => return Err(format!("frozen flag {t}")),
    };
    let mut keyb = [0u8; 20];
    keyb.copy_from_slice(&b[34..54]);
    let n = b[54] as usize;
    if b.len() != FIXED_LEN + n || n > MAX_ACCOUNT_ORG {
        return Err(format!("account value of {} bytes", b.len()));
    }
    let org = String::from_utf8(b[FIXED_LEN..].to_vec()).map_err(|e| e.to_string())?;
    Ok(Account {
        balance: u128::from_be_bytes(bal),
        sent: word(16),
        kind,
        frozen,
        locked_until: word(26),
        key: Address(keyb),
        org,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let a = Account {
            balance: u128::MAX - 7,
            sent: 9,
            kind: AccountKind::Special,
            frozen: true,
            locked_until: 42,
            key: Address([7; 20]),
            org: "银行".into(),
        };
        let b = encode_account(&a);
        assert_eq!(decode_account(b"k", &b), Ok(a));
        assert!(decode_account(b"k", &b[..b.len() - 1]).is_err());
        let mut bad_kind = b.clone();
        bad_kind[24] = 9;
        assert!(decode_account(b"k", &bad_kind).is_err());
    }

    #[test]
    fn a_long_name_is_cut_at_a_character_boundary() {
        let a = Account { org: "行".repeat(30), ..Account::default() };
        let back = decode_account(b"k", &encode_account(&a)).expect("decodes");
        assert_eq!(back.org, "行".repeat(21));
    }
}
