//! The native `bank` module: digital cash with u128 balances in the smallest unit. The issuer named
//! in genesis mints (`bank.issue`) and burns (`bank.burn`); anyone transfers (`bank.transfer`).
//! Every amount is checked: no overflow, no negative balance, no zero amount.

use fdl_crypto::Address;
use fdl_types::{Event, Payload, StatusCode};

use fdl_schema::keys;

use crate::{Account, ExecError, Overlay, account_key, decode_account, encode_account};

/// Base cost of a native call; the encoded size is added.
pub const NATIVE_BASE_COST: u64 = 100;

/// The amount a bank payload moves (0 for other modules' payloads).
pub fn amount_of(p: &Payload) -> u128 {
    match p {
        Payload::Transfer { amount, .. } | Payload::Issue { amount, .. } | Payload::Burn { amount } => *amount,
        _ => 0,
    }
}

/// Whether the payload is a `bank.*` call.
pub fn is_bank(p: &Payload) -> bool {
    matches!(p, Payload::Transfer { .. } | Payload::Issue { .. } | Payload::Burn { .. })
}

fn load(ov: &Overlay<'_>, addr: &Address) -> Result<Account, ExecError> {
    let key = account_key(addr);
    Ok(ov.get(&key)?.map(|b| decode_account(&key, &b)).transpose()?.unwrap_or_default())
}

fn store(ov: &mut Overlay<'_>, addr: &Address, a: &Account) {
    ov.put(account_key(addr), encode_account(a));
}

fn event(kind: &str, attrs: &[(&str, String)]) -> Event {
    crate::event(kind, attrs.to_vec())
}

/// Applies a `bank.*` payload for `sender` (already authenticated and authorized).
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub(crate) fn apply(
    ov: &mut Overlay<'_>,
    issuer: &Address,
    sender: &Address,
    p: &Payload,
) -> Result<(StatusCode, Vec<Event>), ExecError> {
    if amount_of(p) == 0 {
        return Ok((StatusCode::ZeroAmount, vec![]));
    }
    match p {
        Payload::Transfer { to, amount, memo } => {
            if to == sender {
                return Ok((StatusCode::SelfTransfer, vec![]));
            }
            let mut from = load(ov, sender)?;
            let mut dest = load(ov, to)?;
            let Some(new_from) = from.balance.checked_sub(*amount) else {
                return Ok((StatusCode::InsufficientBalance, vec![]));
            };
            let Some(new_to) = dest.balance.checked_add(*amount) else {
                return Ok((StatusCode::Overflow, vec![]));
            };
            from.balance = new_from;
            dest.balance = new_to;
            store(ov, sender, &from);
            store(ov, to, &dest);
            let mut attrs = vec![("from", sender.to_hex()), ("to", to.to_hex()), ("amount", amount.to_string())];
            if !memo.is_empty() {
                attrs.push(("memo", memo.clone()));
            }
            Ok((StatusCode::Ok, vec![event("bank.transferred", &attrs)]))
        }
        Payload::Issue { to, amount } => {
            if sender != issuer {
                return Ok((StatusCode::Unauthorized, vec![]));
            }
            let supply = keys::supply().read(ov)?.unwrap_or(0);
            let mut dest = load(ov, to)?;
            let (Some(new_supply), Some(new_bal)) = (supply.checked_add(*amount), dest.balance.checked_add(*amount))
            else {
                return Ok((StatusCode::Overflow, vec![]));
            };
            dest.balance = new_bal;
            store(ov, to, &dest);
            keys::supply().write(ov, &new_supply);
            Ok((StatusCode::Ok, vec![event("bank.issued", &[("to", to.to_hex()), ("amount", amount.to_string())])]))
        }
        Payload::Burn { amount } => {
            if sender != issuer {
                return Ok((StatusCode::Unauthorized, vec![]));
            }
            let supply = keys::supply().read(ov)?.unwrap_or(0);
            let mut from = load(ov, sender)?;
            let Some(new_bal) = from.balance.checked_sub(*amount) else {
                return Ok((StatusCode::InsufficientBalance, vec![]));
            };
            let new_supply = supply.checked_sub(*amount).ok_or_else(|| ExecError::Corrupt {
                key: "bank/supply".into(),
                reason: "supply below a balance".into(),
            })?;
            from.balance = new_bal;
            store(ov, sender, &from);
            keys::supply().write(ov, &new_supply);
            Ok((
                StatusCode::Ok,
                vec![event("bank.burned", &[("from", sender.to_hex()), ("amount", amount.to_string())])],
            ))
        }
        _ => Ok((StatusCode::Unauthorized, vec![])),
    }
}
