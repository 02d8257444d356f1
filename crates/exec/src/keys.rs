//! State keys and value encodings of the native modules.

use fdl_crypto::Address;

use crate::{ExecError, Overlay};

/// Key of the issuer's address.
pub const ISSUER_KEY: &[u8] = b"bank/issuer";
/// Key of the total supply (u128 big-endian).
pub const SUPPLY_KEY: &[u8] = b"bank/supply";
/// Key of the latest block height (u64 big-endian), written every block so each height has a root.
pub const SYS_HEIGHT_KEY: &[u8] = b"sys/height";
/// Key of the latest block time (u64 ms, big-endian).
pub const SYS_TIME_KEY: &[u8] = b"sys/time_ms";

/// An account's type (STD-13.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountKind {
    /// An ordinary account.
    #[default]
    Normal,
    /// An administrator's account.
    Admin,
    /// A special-purpose account (e.g. a settlement or escrow account) set by governance.
    Special,
}

impl AccountKind {
    /// `normal`, `admin` or `special`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Normal => "normal",
            AccountKind::Admin => "admin",
            AccountKind::Special => "special",
        }
    }

    /// Parses `normal`, `admin` or `special`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(AccountKind::Normal),
            "admin" => Some(AccountKind::Admin),
            "special" => Some(AccountKind::Special),
            _ => None,
        }
    }

    fn tag(self) -> u8 {
        match self {
            AccountKind::Normal => 0,
            AccountKind::Admin => 1,
            AccountKind::Special => 2,
        }
    }
}

/// Longest institution name stored with an account.
const MAX_ACCOUNT_ORG: usize = 64;

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

/// The state key of an account: `acct/` followed by the 20 address bytes.
pub fn account_key(addr: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.extend_from_slice(b"acct/");
    k.extend_from_slice(&addr.0);
    k
}

/// Encodes an account: balance (16 bytes BE), sent (8), kind (1), frozen (1), locked until (8),
/// key address (20), then the institution (1-byte length, UTF-8).
pub fn encode_account(a: &Account) -> Vec<u8> {
    let mut v = Vec::with_capacity(55 + a.org.len());
    v.extend_from_slice(&a.balance.to_be_bytes());
    v.extend_from_slice(&a.sent.to_be_bytes());
    v.push(a.kind.tag());
    v.push(u8::from(a.frozen));
    v.extend_from_slice(&a.locked_until.to_be_bytes());
    v.extend_from_slice(&a.key.0);
    let org = &a.org.as_bytes()[..a.org.len().min(MAX_ACCOUNT_ORG)];
    v.push(org.len() as u8);
    v.extend_from_slice(org);
    v
}

/// Decodes an account value.
///
/// # Errors
/// [`ExecError::Corrupt`] when the value is malformed.
pub fn decode_account(key: &[u8], b: &[u8]) -> Result<Account, ExecError> {
    let bad = |reason: String| ExecError::Corrupt { key: hex_of(key), reason };
    if b.len() < 55 {
        return Err(bad(format!("account value of {} bytes", b.len())));
    }
    let u = |r: std::ops::Range<usize>| -> [u8; 8] {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[r]);
        a
    };
    let mut bal = [0u8; 16];
    bal.copy_from_slice(&b[..16]);
    let kind = match b[24] {
        0 => AccountKind::Normal,
        1 => AccountKind::Admin,
        2 => AccountKind::Special,
        t => return Err(bad(format!("account kind {t}"))),
    };
    let frozen = match b[25] {
        0 => false,
        1 => true,
        t => return Err(bad(format!("frozen flag {t}"))),
    };
    let mut keyb = [0u8; 20];
    keyb.copy_from_slice(&b[34..54]);
    let n = b[54] as usize;
    if b.len() != 55 + n || n > MAX_ACCOUNT_ORG {
        return Err(bad(format!("account value of {} bytes", b.len())));
    }
    let org = String::from_utf8(b[55..].to_vec()).map_err(|e| bad(e.to_string()))?;
    Ok(Account {
        balance: u128::from_be_bytes(bal),
        sent: u64::from_be_bytes(u(16..24)),
        kind,
        frozen,
        locked_until: u64::from_be_bytes(u(26..34)),
        key: Address(keyb),
        org,
    })
}

pub(crate) fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn read_issuer(ov: &Overlay<'_>) -> Result<Address, ExecError> {
    let v = ov
        .get(ISSUER_KEY)?
        .ok_or_else(|| ExecError::Corrupt { key: "bank/issuer".into(), reason: "missing".into() })?;
    let arr: [u8; 20] = v
        .as_slice()
        .try_into()
        .map_err(|_| ExecError::Corrupt { key: "bank/issuer".into(), reason: "not 20 bytes".into() })?;
    Ok(Address(arr))
}

pub(crate) fn read_u128(ov: &Overlay<'_>, key: &[u8]) -> Result<u128, ExecError> {
    match ov.get(key)? {
        None => Ok(0),
        Some(v) => {
            let arr: [u8; 16] = v
                .as_slice()
                .try_into()
                .map_err(|_| ExecError::Corrupt { key: hex_of(key), reason: "not 16 bytes".into() })?;
            Ok(u128::from_be_bytes(arr))
        }
    }
}
