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

/// An account in the bank module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Balance in the smallest unit.
    pub balance: u128,
    /// Transactions this account has had included (its replay state: ids are unique per body,
    /// and this counter tells a client how many of its transactions the chain has executed).
    pub sent: u64,
}

/// The state key of an account: `acct/` followed by the 20 address bytes.
pub fn account_key(addr: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.extend_from_slice(b"acct/");
    k.extend_from_slice(&addr.0);
    k
}

/// Encodes an account: balance (16 bytes BE) then sent (8 bytes BE).
pub fn encode_account(a: &Account) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&a.balance.to_be_bytes());
    v.extend_from_slice(&a.sent.to_be_bytes());
    v
}

/// Decodes an account value.
///
/// # Errors
/// [`ExecError::Corrupt`] when the value is not 24 bytes.
pub fn decode_account(key: &[u8], b: &[u8]) -> Result<Account, ExecError> {
    if b.len() != 24 {
        return Err(ExecError::Corrupt { key: hex_of(key), reason: format!("account value of {} bytes", b.len()) });
    }
    let mut bal = [0u8; 16];
    bal.copy_from_slice(&b[..16]);
    let mut sent = [0u8; 8];
    sent.copy_from_slice(&b[16..]);
    Ok(Account { balance: u128::from_be_bytes(bal), sent: u64::from_be_bytes(sent) })
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
