//! Measures on accounts (STD-13.2, 13.3, 17.2): `Freeze`, `Unfreeze`, `ForcedTransfer`,
//! `ResetKey` and `SetAccountKind`.

use fdl_crypto::Address;
use fdl_types::AccountKind;

use super::{Apply, Check, GovRefusal, Verdict, params};
use crate::{ExecError, account_key, decode_account, encode_account, identity, read_account};

/// `Freeze`, `Unfreeze`, `SetAccountKind`: the account exists.
pub(crate) fn check_exists(c: &Check<'_>, account: &Address) -> Verdict {
    Ok(if read_account(c.view, account)?.is_none() { Err(GovRefusal::NoAccount { account: *account }) } else { Ok(()) })
}

/// `ForcedTransfer`: two accounts, a positive amount, and the debited account exists.
pub(crate) fn check_forced_transfer(c: &Check<'_>, from: &Address, to: &Address, amount: u128) -> Verdict {
    if from == to || amount == 0 {
        return Ok(Err(GovRefusal::BadForcedTransfer));
    }
    check_exists(c, from)
}

/// `ResetKey`: the account exists, and the new certificate passes the identity checks and is
/// from the account's institution.
pub(crate) fn check_reset_key(c: &Check<'_>, account: &Address, certificate: &[u8]) -> Verdict {
    let Some(a) = read_account(c.view, account)? else {
        return Ok(Err(GovRefusal::NoAccount { account: *account }));
    };
    let info = match fdl_pki::parse(certificate) {
        Ok(i) => i,
        Err(e) => return Ok(Err(GovRefusal::BadCertificate { reason: e.to_string() })),
    };
    Ok(match identity::check_new_certificate(c.view, certificate, &info.public_key.to_bytes(), c.now_s, 0)? {
        Ok(rec) if !a.org.is_empty() && rec.org != a.org => {
            Err(GovRefusal::CertificateFromOtherOrg { cert_org: rec.org, account_org: a.org })
        }
        Ok(_) => Ok(()),
        Err(status) => Err(GovRefusal::CertificateRefused { status }),
    })
}

/// `Freeze` (`frozen`) or `Unfreeze`: sets the account's flag.
pub(crate) fn apply_freeze(a: &mut Apply<'_, '_>, account: &Address, frozen: bool) -> Verdict {
    let key = account_key(account);
    let Some(b) = a.ov.get(&key)? else { return Ok(Err(GovRefusal::NoAccount { account: *account })) };
    let mut acct = decode_account(&key, &b)?;
    acct.frozen = frozen;
    let org = acct.org.clone();
    a.ov.put(key, encode_account(&acct));
    let kind = if frozen { "account.frozen" } else { "account.unfrozen" };
    let pid = a.pid();
    a.event(kind, vec![("account", account.to_hex()), ("org", org), ("proposal", pid)]);
    Ok(Ok(()))
}

/// `ForcedTransfer`: moves the amount, or records that the balance did not cover it (the
/// proposal still counts as applied).
pub(crate) fn apply_forced_transfer(a: &mut Apply<'_, '_>, from: &Address, to: &Address, amount: u128) -> Verdict {
    let (kf, kt) = (account_key(from), account_key(to));
    let mut x = a.ov.get(&kf)?.map(|b| decode_account(&kf, &b)).transpose()?.unwrap_or_default();
    let mut y = a.ov.get(&kt)?.map(|b| decode_account(&kt, &b)).transpose()?.unwrap_or_default();
    let pid = a.pid();
    match (x.balance.checked_sub(amount), y.balance.checked_add(amount)) {
        (Some(bx), Some(by)) => {
            x.balance = bx;
            y.balance = by;
            let org = x.org.clone();
            a.ov.put(kf, encode_account(&x));
            a.ov.put(kt, encode_account(&y));
            a.event(
                "account.forced_transfer",
                vec![
                    ("account", from.to_hex()),
                    ("to", to.to_hex()),
                    ("amount", amount.to_string()),
                    ("org", org),
                    ("proposal", pid),
                ],
            );
        }
        (None, _) | (_, None) => a.event(
            "account.forced_transfer_failed",
            vec![("account", from.to_hex()), ("reason", "insufficient balance".into()), ("proposal", pid)],
        ),
    }
    Ok(Ok(()))
}

/// `ResetKey`: the account takes the certificate's key, usable after the lock window, and the
/// certificate is registered.
pub(crate) fn apply_reset_key(a: &mut Apply<'_, '_>, account: &Address, certificate: &[u8]) -> Verdict {
    let info = fdl_pki::parse(certificate)
        .map_err(|e| ExecError::Corrupt { key: format!("proposal {}", a.id), reason: e.to_string() })?;
    let suite = info.public_key.suite();
    let lock = params(a.ov)?.key_reset_lock_blocks;
    let key = account_key(account);
    let mut acct = a.ov.get(&key)?.map(|b| decode_account(&key, &b)).transpose()?.unwrap_or_default();
    acct.key = info.public_key.address();
    acct.locked_until = a.height.saturating_add(lock).saturating_add(1);
    if acct.org.is_empty() {
        acct.org.clone_from(&info.org);
    }
    let org = acct.org.clone();
    a.ov.put(key, encode_account(&acct));
    let rec = identity::CertRecord {
        account: *account,
        org: info.org,
        role: info.role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        common_name: info.common_name,
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
        public_key: hex::encode(info.public_key.to_bytes()),
        registered: a.height,
        ca: identity::member_meta(a.ov, &org)?.map(|m| m.ca_hash).unwrap_or_default(),
        der: certificate.to_vec(),
    };
    let h = fdl_types::cert_hash(suite, certificate);
    identity::put_cert(a.ov, &h, &rec);
    let pid = a.pid();
    a.event(
        "account.key_reset",
        vec![
            ("account", account.to_hex()),
            ("org", org),
            ("certificate", h.to_hex()),
            ("usable_from", acct.locked_until.to_string()),
            ("proposal", pid),
        ],
    );
    Ok(Ok(()))
}

/// `SetAccountKind`: sets the account's type.
pub(crate) fn apply_set_kind(a: &mut Apply<'_, '_>, account: &Address, kind: AccountKind) -> Verdict {
    let key = account_key(account);
    let Some(b) = a.ov.get(&key)? else { return Ok(Err(GovRefusal::NoAccount { account: *account })) };
    let mut acct = decode_account(&key, &b)?;
    acct.kind = kind;
    let org = acct.org.clone();
    a.ov.put(key, encode_account(&acct));
    let pid = a.pid();
    a.event(
        "account.kind_set",
        vec![("account", account.to_hex()), ("org", org), ("kind", kind.as_str().into()), ("proposal", pid)],
    );
    Ok(Ok(()))
}
