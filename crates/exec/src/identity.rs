//! The native `identity` module (STD-13): member institutions and their CAs, registered
//! certificates, revocations, and the check that every transaction comes from a certified member.
//!
//! A transaction carries its signer's certificate on first use; execution checks it against the
//! institution's CA (in state), its validity period (at the block's time) and the revocations,
//! then registers it under its hash, and later transactions carry only that hash. The same checks
//! run at mempool admission ([`check_credential`]) against the latest state and the local clock.

use std::collections::HashMap;

use fdl_crypto::{Address, Hash, Suite};
use fdl_pki::{PkiError, Role};
use fdl_schema::{keys, write};
pub use fdl_schema::{
    keys::{EPOCH_KEY, MEMBERS_KEY, REGULATOR_KEY, REVOCATIONS_KEY},
    read::{cert_meta, certificate, epoch, member, member_meta, members, permissioned, revocation, revocations},
    records::{CertRecord, MemberRecord, RevocationRecord},
    write::member_entries as member_writes,
};
use fdl_types::{Credential, SignedTx, StatusCode};

use crate::{ExecError, Overlay, StateView};

/// Who sent a transaction, once its credential checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The account it acts for.
    pub account: Address,
    /// Its institution (empty on an open chain).
    pub org: String,
    /// Its role (`None` on an open chain: no access control applies there).
    pub role: Option<Role>,
    /// The registered certificate's hash, if any.
    pub cert: Option<Hash>,
    /// A certificate to register (first use).
    pub register: Option<(Hash, CertRecord)>,
    /// End of the certificate's validity, Unix seconds (`u64::MAX` on an open chain).
    pub not_after: u64,
}

/// What admission learned about an accepted sender, so that a memo of the verdict can be
/// re-checked against the clock and the height without reading state again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// End of the certificate's validity, Unix seconds.
    pub not_after: u64,
    /// The account may send from this height.
    pub locked_until: u64,
    /// Whether the certificate is already registered on chain (not merely carried).
    pub registered: bool,
}

pub(crate) fn bump_epoch(ov: &mut Overlay<'_>) -> Result<(), ExecError> {
    write::bump_epoch(ov)
}

pub(crate) fn put_member(ov: &mut Overlay<'_>, m: &MemberRecord) {
    write::put_member(ov, m);
}

pub(crate) fn put_cert(ov: &mut Overlay<'_>, hash: &Hash, rec: &CertRecord) {
    write::put_cert(ov, hash, rec);
}

pub(crate) fn revoke(ov: &mut Overlay<'_>, org: &str, serial: &str, rec: RevocationRecord) -> Result<(), ExecError> {
    write::revoke(ov, org, serial, &rec)
}

/// Checks a certificate against its institution's CA in state at `now_s` (Unix seconds) and
/// the revocations, and that it certifies `key`. Returns the record to register for it.
///
/// # Errors
/// Store failure; `Ok(Err(status))` when the certificate is refused.
pub fn check_new_certificate(
    view: &dyn StateView,
    der: &[u8],
    key: &[u8],
    now_s: u64,
    height: u64,
) -> Result<Result<CertRecord, StatusCode>, ExecError> {
    let info = match fdl_pki::parse(der) {
        Ok(i) => i,
        Err(_) => return Ok(Err(StatusCode::CertificateInvalid)),
    };
    let Some(m) = member(view, &info.org)? else {
        return Ok(Err(StatusCode::CertificateInvalid));
    };
    match fdl_pki::verify(der, &m.ca_cert, now_s) {
        Ok(_) => {}
        Err(PkiError::Expired { .. }) => return Ok(Err(StatusCode::CertificateExpired)),
        Err(_) => return Ok(Err(StatusCode::CertificateInvalid)),
    }
    let Some(role) = info.role else {
        return Ok(Err(StatusCode::CertificateInvalid));
    };
    if info.is_ca || info.public_key.to_bytes() != key {
        return Ok(Err(StatusCode::CertificateInvalid));
    }
    if revocation(view, &info.org, &info.serial)?.is_some() {
        return Ok(Err(StatusCode::CertificateRevoked));
    }
    Ok(Ok(CertRecord {
        account: info.public_key.address(),
        org: info.org,
        role: role.as_str().into(),
        common_name: info.common_name,
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
        public_key: hex::encode(key),
        registered: height,
        ca: m.ca_hash,
        der: der.to_vec(),
    }))
}

fn check_registered(
    view: &dyn StateView,
    rec: &CertRecord,
    key: &[u8],
    now_s: u64,
) -> Result<Result<u64, StatusCode>, ExecError> {
    if rec.public_key != hex::encode(key) {
        return Ok(Err(StatusCode::CertificateInvalid));
    }
    let Some(m) = member_meta(view, &rec.org)? else {
        return Ok(Err(StatusCode::CertificateInvalid));
    };
    if m.ca_hash != rec.ca {
        return Ok(Err(StatusCode::CertificateInvalid));
    }
    if now_s > m.ca_not_after {
        return Ok(Err(StatusCode::CertificateExpired));
    }
    if revocation(view, &rec.org, &rec.serial)?.is_some() {
        return Ok(Err(StatusCode::CertificateRevoked));
    }
    if now_s < rec.not_before || now_s > rec.not_after {
        return Ok(Err(StatusCode::CertificateExpired));
    }
    // The certificate's own validity and its CA's, whichever ends first.
    Ok(Ok(rec.not_after.min(m.ca_not_after)))
}

/// Per-block memo of credential checks: a block's transactions from one identity share one
/// lookup. Cleared whenever identity state changes within the block.
#[derive(Default)]
pub struct IdentityCache {
    senders: HashMap<(Hash, Address), Result<Sender, StatusCode>>,
    permissioned: Option<bool>,
    pub(crate) acl: HashMap<&'static str, Option<crate::gov::AclRule>>,
}

impl IdentityCache {
    /// Forgets everything (after a registration, revocation or governance change).
    pub fn clear(&mut self) {
        self.senders.clear();
        self.permissioned = None;
        self.acl.clear();
    }
}

/// Resolves a transaction's sender from its credential at `now_ms` (block time, or the local
/// clock at admission). `Ok(Err(status))` names why it is refused.
///
/// # Errors
/// Store failure or corrupt state.
pub fn resolve_sender(
    view: &dyn StateView,
    cache: &mut IdentityCache,
    tx: &SignedTx,
    now_ms: u64,
    height: u64,
) -> Result<Result<Sender, StatusCode>, ExecError> {
    let permissioned = match cache.permissioned {
        Some(p) => p,
        None => {
            let p = permissioned(view)?;
            cache.permissioned = Some(p);
            p
        }
    };
    let suite: Suite = tx.body.signer.suite();
    let key = tx.body.signer.to_bytes();
    let Some(hash) = tx.body.credential.cert_hash(suite) else {
        if permissioned {
            return Ok(Err(StatusCode::CertificateRequired));
        }
        return Ok(Ok(Sender {
            account: tx.sender(),
            org: String::new(),
            role: None,
            cert: None,
            register: None,
            not_after: u64::MAX,
        }));
    };
    let memo_key = (hash, tx.body.signer.address());
    if let Some(hit) = cache.senders.get(&memo_key) {
        return Ok(hit.clone());
    }
    let now_s = now_ms / 1000;
    let verdict = match cert_meta(view, &hash)? {
        Some(rec) => match check_registered(view, &rec, &key, now_s)? {
            Ok(not_after) => Ok(Sender {
                account: rec.account,
                org: rec.org.clone(),
                role: rec.role.parse().ok(),
                cert: Some(hash),
                register: None,
                not_after,
            }),
            Err(s) => Err(s),
        },
        None => match &tx.body.credential {
            Credential::Certificate(der) => match check_new_certificate(view, der, &key, now_s, height)? {
                Ok(rec) => Ok(Sender {
                    account: rec.account,
                    org: rec.org.clone(),
                    role: rec.role.parse().ok(),
                    cert: Some(hash),
                    not_after: rec.not_after,
                    register: Some((hash, rec)),
                }),
                Err(s) => Err(s),
            },
            _ => Err(StatusCode::CertificateUnknown),
        },
    };
    // An unknown hash may be registered by a later transaction of the same block: not memoized.
    if verdict != Err(StatusCode::CertificateUnknown) {
        cache.senders.insert(memo_key, verdict.clone());
    }
    Ok(verdict)
}

/// The admission check (STD-13.1, 13.3): the credential of `tx` is acceptable against the
/// latest state `view` at the local time `now_ms`, and its account is neither frozen nor locked.
///
/// # Errors
/// Store failure; `Ok(Err(status))` when refused.
pub fn check_credential(
    view: &dyn StateView,
    cache: &mut IdentityCache,
    tx: &SignedTx,
    now_ms: u64,
    next_height: u64,
) -> Result<Result<Admitted, StatusCode>, ExecError> {
    let sender = match resolve_sender(view, cache, tx, now_ms, next_height)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let registered = sender.register.is_none();
    let ok = |locked_until| Ok(Ok(Admitted { not_after: sender.not_after, locked_until, registered }));
    if sender.role.is_none() {
        return ok(0);
    }
    let Some(acct) = crate::read_account(view, &sender.account)? else {
        return ok(0);
    };
    match account_gate(&acct, &tx.body.signer.address(), next_height) {
        Ok(()) => ok(acct.locked_until),
        Err(e) => Ok(Err(e)),
    }
}

/// Whether an account may send with the key whose address is `key`, at `height`.
pub(crate) fn account_gate(acct: &crate::Account, key: &Address, height: u64) -> Result<(), StatusCode> {
    if acct.key != Address::default() && &acct.key != key {
        return Err(StatusCode::CertificateExpired);
    }
    if acct.frozen {
        return Err(StatusCode::AccountFrozen);
    }
    if acct.locked_until > height {
        return Err(StatusCode::AccountLocked);
    }
    Ok(())
}

/// `pki.publish_crl`: an institution's administrator publishes its CA's revocation list; every
/// serial it lists is revoked on chain from this transaction on (STD-13.3).
pub(crate) fn publish_crl(
    ov: &mut Overlay<'_>,
    c: &crate::gov::Call<'_>,
    crl: &[u8],
) -> Result<crate::gov::Outcome, ExecError> {
    let ev = crate::event;
    let Some(m) = member(ov, c.org)? else {
        return Ok((StatusCode::CertificateInvalid, vec![]));
    };
    let revoked = match fdl_pki::verify_crl(crl, &m.ca_cert, c.now_s) {
        Ok(r) => r,
        Err(e) => {
            let attrs = vec![("account", c.account.to_hex()), ("org", c.org.into()), ("reason", e.to_string())];
            return Ok((StatusCode::ProposalInvalid, vec![ev("pki.crl_refused", attrs)]));
        }
    };
    // A CRL may not revoke so many of the institution's validators that the set falls below
    // the minimum: remove or rotate those nodes by governance first.
    let active = crate::gov::active_nodes(ov)?;
    let min = crate::gov::params(ov)?.min_validators as usize;
    let validators: Vec<&fdl_types::NodeSpec> =
        active.iter().filter(|n| n.role == fdl_types::NodeRole::Validator).collect();
    let hit = validators
        .iter()
        .filter(|n| {
            n.org == c.org
                && fdl_pki::parse(&n.certificate)
                    .is_ok_and(|i| revoked.iter().any(|r| r.serial.eq_ignore_ascii_case(&i.serial)))
        })
        .count();
    if hit > 0 && validators.len().saturating_sub(hit) < min.max(1) {
        let why = format!("the CRL revokes {hit} validator certificate(s), leaving fewer than {min} validators");
        let attrs = vec![("account", c.account.to_hex()), ("org", c.org.into()), ("reason", why)];
        return Ok((StatusCode::ProposalInvalid, vec![ev("pki.crl_refused", attrs)]));
    }
    let mut events = Vec::new();
    let mut added = 0usize;
    for r in &revoked {
        let serial = r.serial.to_ascii_lowercase();
        if keys::revoked(c.org, &serial).read(ov)?.is_some() {
            continue;
        }
        revoke(ov, c.org, &serial, RevocationRecord { height: c.height, by: "crl".into() })?;
        added += 1;
        if events.len() < fdl_types::receipt::MAX_EVENTS - 1 {
            events.push(ev(
                "pki.revoked",
                vec![("org", c.org.into()), ("serial", serial), ("account", c.account.to_hex())],
            ));
        }
    }
    events.insert(
        0,
        ev(
            "pki.crl_published",
            vec![
                ("org", c.org.into()),
                ("account", c.account.to_hex()),
                ("listed", revoked.len().to_string()),
                ("new", added.to_string()),
            ],
        ),
    );
    Ok((StatusCode::Ok, events))
}
