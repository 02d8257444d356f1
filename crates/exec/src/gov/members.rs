//! Member institutions and their certificates: `AddMember`, `RemoveMember`, `RotateCa` and
//! `RevokeCert`.

use fdl_schema::{Marker, keys};
use fdl_types::NodeRole;

use super::{Apply, Check, GovRefusal, Verdict};
use crate::identity::{self, MemberRecord, RevocationRecord};

/// `AddMember`: not yet a member, and its CA certificate is a valid CA of that institution in
/// the chain's suite.
pub(crate) fn check_add(c: &Check<'_>, name: &str, ca_cert: &[u8]) -> Verdict {
    if identity::member(c.view, name)?.is_some() {
        return Ok(Err(GovRefusal::AlreadyMember { name: name.to_string() }));
    }
    let bad = |e: fdl_pki::PkiError| GovRefusal::BadCaCertificate { reason: e.to_string() };
    Ok(match fdl_pki::parse(ca_cert) {
        Ok(i) if i.is_ca && i.org == name && i.public_key.suite() == c.suite => {
            fdl_pki::verify(ca_cert, ca_cert, c.now_s).map(|_| ()).map_err(bad)
        }
        Ok(i) => Err(GovRefusal::WrongCaCertificate {
            name: name.to_string(),
            suite: c.suite,
            subject_org: i.org,
            is_ca: i.is_ca,
        }),
        Err(e) => Err(bad(e)),
    })
}

/// `RemoveMember`: a member whose nodes are gone.
pub(crate) fn check_remove(c: &Check<'_>, name: &str) -> Verdict {
    Ok(if identity::member(c.view, name)?.is_none() {
        Err(GovRefusal::NotMember { name: name.to_string() })
    } else if c.nodes.iter().any(|n| n.org == name) {
        Err(GovRefusal::StillRunsNodes { name: name.to_string() })
    } else {
        Ok(())
    })
}

/// `RotateCa`: a valid CA of that member; node certificates that do not verify under the new
/// CA retire with the old one (a renewal with the same key keeps them), which may not leave
/// fewer validators than the minimum.
pub(crate) fn check_rotate_ca(c: &Check<'_>, org: &str, ca_cert: &[u8]) -> Verdict {
    if identity::member(c.view, org)?.is_none() {
        return Ok(Err(GovRefusal::NotMember { name: org.to_string() }));
    }
    let info = match fdl_pki::parse(ca_cert) {
        Ok(i) => i,
        Err(e) => return Ok(Err(GovRefusal::BadCaCertificate { reason: e.to_string() })),
    };
    if !info.is_ca || info.org != org {
        return Ok(Err(GovRefusal::NotCaOf { org: org.to_string() }));
    }
    if let Err(e) = fdl_pki::verify(ca_cert, ca_cert, c.now_s) {
        return Ok(Err(GovRefusal::BadCaCertificate { reason: e.to_string() }));
    }
    let staying = c
        .active
        .iter()
        .filter(|n| n.role == NodeRole::Validator)
        .filter(|n| n.org != org || fdl_pki::verify(&n.certificate, ca_cert, c.now_s).is_ok())
        .count();
    let min = c.params.min_validators;
    Ok(if staying < c.validators && staying < min as usize {
        Err(GovRefusal::CaRotationBelowMinValidators { org: org.to_string(), min })
    } else {
        Ok(())
    })
}

/// `RevokeCert`: a member, a serial in any form [`fdl_pki::canonical_serial`] reads, and revoking
/// an active validator's certificate keeps the minimum.
pub(crate) fn check_revoke(c: &Check<'_>, org: &str, serial: &str) -> Verdict {
    let canonical = fdl_pki::canonical_serial(serial).ok();
    let hits_validator = c.active.iter().any(|n| {
        n.role == NodeRole::Validator
            && n.org == org
            && fdl_pki::parse(&n.certificate).is_ok_and(|i| Some(&i.serial) == canonical.as_ref())
    });
    let min = c.params.min_validators;
    Ok(if identity::member(c.view, org)?.is_none() {
        Err(GovRefusal::NotMember { name: org.to_string() })
    } else if canonical.is_none() {
        Err(GovRefusal::SerialNotHex)
    } else if hits_validator && c.validators <= min as usize {
        Err(GovRefusal::RevocationBelowMinValidators { min })
    } else {
        Ok(())
    })
}

/// `AddMember`: records the institution and its CA; the seats change, so open proposals are
/// re-tallied.
pub(crate) fn apply_add(a: &mut Apply<'_, '_>, name: &str, ca_cert: &[u8], committee: bool) -> Verdict {
    keys::retally().write(a.ov, &Marker);
    let mut names = fdl_schema::read::member_names(a.ov)?;
    names.push(name.to_string());
    keys::members().write(a.ov, &names);
    let rec = MemberRecord {
        name: name.to_string(),
        ca_cert: ca_cert.to_vec(),
        ca_hash: fdl_crypto::hash(fdl_schema::read::suite(a.ov)?, ca_cert),
        ca_not_after: fdl_pki::parse(ca_cert).map(|i| i.not_after).unwrap_or(0),
        committee,
        since: a.height,
    };
    identity::put_member(a.ov, &rec);
    let pid = a.pid();
    a.event("member.added", vec![("org", name.to_string()), ("proposal", pid)]);
    Ok(Ok(()))
}

/// `RemoveMember`: forgets the institution; the seats change, so open proposals are
/// re-tallied.
pub(crate) fn apply_remove(a: &mut Apply<'_, '_>, name: &str) -> Verdict {
    keys::retally().write(a.ov, &Marker);
    let mut names = fdl_schema::read::member_names(a.ov)?;
    names.retain(|n| n != name);
    keys::members().write(a.ov, &names);
    fdl_schema::write::delete_member(a.ov, name);
    let pid = a.pid();
    a.event("member.removed", vec![("org", name.to_string()), ("proposal", pid)]);
    Ok(Ok(()))
}

/// `RotateCa`: replaces the institution's CA certificate.
pub(crate) fn apply_rotate_ca(a: &mut Apply<'_, '_>, org: &str, ca_cert: &[u8]) -> Verdict {
    if let Some(mut m) = identity::member(a.ov, org)? {
        m.ca_cert = ca_cert.to_vec();
        m.ca_hash = fdl_crypto::hash(fdl_schema::read::suite(a.ov)?, ca_cert);
        m.ca_not_after = fdl_pki::parse(ca_cert).map(|i| i.not_after).unwrap_or(0);
        identity::put_member(a.ov, &m);
    }
    let pid = a.pid();
    a.event("member.ca_rotated", vec![("org", org.to_string()), ("proposal", pid)]);
    Ok(Ok(()))
}

/// `RevokeCert`: records the revocation under the serial's canonical form, the one
/// certificates are looked up by.
pub(crate) fn apply_revoke(a: &mut Apply<'_, '_>, org: &str, serial: &str) -> Verdict {
    let Ok(serial) = fdl_pki::canonical_serial(serial) else { return Ok(Err(GovRefusal::SerialNotHex)) };
    let rec = RevocationRecord { height: a.height, by: format!("governance:{}", a.id) };
    identity::revoke(a.ov, org, &serial, rec)?;
    let pid = a.pid();
    a.event("pki.revoked", vec![("org", org.to_string()), ("serial", serial), ("proposal", pid)]);
    Ok(Ok(()))
}
