//! The access-control policy (STD-16.1): the default rules written at genesis, `SetAcl`, and
//! the API read policy's `SetReadPolicy`.

use fdl_schema::keys;
use fdl_types::{ReadResource, Role};

use super::{AclRule, Apply, GovRefusal, METHODS, Verdict};

/// The policy written at genesis: reads are open to everyone (they are not transactions);
/// payments for clients and administrators; issuing and burning additionally only by the
/// issuer; governance proposals by administrators and the regulator; votes and revocation lists
/// by administrators.
pub fn default_acl() -> Vec<(&'static str, AclRule)> {
    let rule = |roles: &[Role]| AclRule { roles: roles.iter().map(|r| r.as_str().to_string()).collect(), orgs: vec![] };
    vec![
        ("bank.transfer", rule(&[Role::Client, Role::Admin])),
        ("bank.issue", rule(&[Role::Client, Role::Admin])),
        ("bank.burn", rule(&[Role::Client, Role::Admin])),
        ("gov.propose", rule(&[Role::Admin, Role::Regulator])),
        ("gov.vote", rule(&[Role::Admin])),
        ("pki.publish_crl", rule(&[Role::Admin])),
        // Contracts apply their own per-method rules on top (STD-12.2).
        ("contract.call", rule(&[Role::Client, Role::Admin, Role::Auditor, Role::Regulator])),
        ("contract.deploy", rule(&[Role::Admin])),
    ]
}

/// `SetAcl`: the method exists and every role named is a role.
pub(crate) fn check_set(method: &str, roles: &[String]) -> Verdict {
    Ok(if !METHODS.contains(&method) {
        Err(GovRefusal::NoMethod { method: method.to_string() })
    } else if let Some(r) = roles.iter().find(|r| r.parse::<Role>().is_err()) {
        Err(GovRefusal::NoRole { role: r.clone() })
    } else {
        Ok(())
    })
}

/// `SetAcl`: writes the rule.
pub(crate) fn apply_set(a: &mut Apply<'_, '_>, method: &str, roles: &[String], orgs: &[String]) -> Verdict {
    keys::acl(method).write(a.ov, &AclRule { roles: roles.to_vec(), orgs: orgs.to_vec() });
    let pid = a.pid();
    a.event(
        "acl.set",
        vec![("method", method.to_string()), ("roles", roles.join(",")), ("orgs", orgs.join(",")), ("proposal", pid)],
    );
    Ok(Ok(()))
}

/// `SetReadPolicy`: the rule names 1 to 16 known principals, none twice (the decoder checks it
/// too; a proposal built otherwise, e.g. in a test, is refused here).
pub(crate) fn check_read_policy(resource: ReadResource, allow: &[String]) -> Verdict {
    Ok(fdl_types::read_policy::check_allow(resource, allow).map_err(|reason| GovRefusal::BadReadPolicy { reason }))
}

/// `SetReadPolicy`: writes the rule, audited as `acl.read_policy_set` with the old and the new
/// principals and the proposal (its proposer and votes are in the proposal's own records).
pub(crate) fn apply_read_policy(a: &mut Apply<'_, '_>, resource: ReadResource, allow: &[String]) -> Verdict {
    let slot = keys::read_policy(resource);
    let old = fdl_schema::read::read_policy(&*a.ov, resource)?;
    slot.write(a.ov, &allow.to_vec());
    let pid = a.pid();
    let proposer = a.proposer.0.to_hex();
    a.event(
        "acl.read_policy_set",
        vec![
            ("resource", resource.as_str().to_string()),
            ("allow", allow.join(",")),
            ("previous", old.join(",")),
            ("proposal", pid),
            ("proposer", proposer),
        ],
    );
    Ok(Ok(()))
}
