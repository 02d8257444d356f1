//! The API read policy in chain state (STD-16.1): written at genesis, changed only by a passed
//! proposal, and every change audited with who proposed it and what it replaced.

mod common;

use common::{Chain, attr, event, genesis, institutions};
use fdl_exec::genesis_writes;
use fdl_schema::{StateView, keys, read};
use fdl_types::{ChainParams, GovAction, ReadResource, StatusCode, api::is_audit_kind};

fn allow(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn genesis_writes_the_strict_default_and_a_listed_rule_replaces_it() {
    let c = Chain::new();
    for r in ReadResource::ALL {
        assert_eq!(read::read_policy(&c.state, r).expect("read"), allow(r.strict_default()), "{r}");
        assert!(c.state.get(keys::read_policy(r).key()).expect("get").is_some(), "{r} is written at genesis");
    }
    assert_eq!(
        read::read_policy(&c.state, ReadResource::Audit).expect("read"),
        allow(&["auditor", "regulator", "admin"])
    );

    // A genesis rule replaces the default of its resource only.
    let (members, validators, _) = institutions(4, |_| 30);
    let mut g = genesis(members, validators, Some("org4"), ChainParams::default());
    g.read_policy.insert(ReadResource::Blocks, allow(&["public"]));
    let w = genesis_writes(&g).expect("writes");
    let blocks = w.get(keys::read_policy(ReadResource::Blocks).key()).cloned().flatten().expect("written");
    assert_eq!(keys::read_policy(ReadResource::Blocks).decode(&blocks).expect("decodes"), allow(&["public"]));
    let audit = w.get(keys::read_policy(ReadResource::Audit).key()).cloned().flatten().expect("written");
    assert_eq!(
        keys::read_policy(ReadResource::Audit).decode(&audit).expect("decodes"),
        allow(&["auditor", "regulator", "admin"])
    );

    // A chain without members (an open test chain) opens every read: nobody could prove membership.
    let mut open = g.clone();
    open.members.clear();
    open.regulator = None;
    open.read_policy.clear();
    assert_eq!(open.read_rule(ReadResource::Audit), allow(&["public"]));
}

#[test]
fn set_read_policy_changes_the_policy_by_vote_and_is_audited() {
    let mut c = Chain::new();
    let action = GovAction::SetReadPolicy { resource: ReadResource::Audit, allow: allow(&["auditor", "member"]) };
    let (id, r) = c.propose(0, action);
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    // Proposed is not applied: the old rule holds until the vote passes.
    assert_eq!(
        read::read_policy(&c.state, ReadResource::Audit).expect("read"),
        allow(&["auditor", "regulator", "admin"])
    );
    let r = c.carry(id, 0);
    assert_eq!(read::read_policy(&c.state, ReadResource::Audit).expect("read"), allow(&["auditor", "member"]));
    // Audited: who proposed it, under which proposal, the new and the old principals.
    let e = event(&r, "acl.read_policy_set").expect("an audit event");
    assert!(is_audit_kind(&e.kind));
    assert_eq!(attr(&r, "acl.read_policy_set", "resource"), Some("audit"));
    assert_eq!(attr(&r, "acl.read_policy_set", "allow"), Some("auditor,member"));
    assert_eq!(attr(&r, "acl.read_policy_set", "previous"), Some("auditor,regulator,admin"));
    assert_eq!(attr(&r, "acl.read_policy_set", "proposal"), Some(id.to_string().as_str()));
    assert_eq!(attr(&r, "acl.read_policy_set", "proposer"), Some(c.admins[0].address().to_hex().as_str()));
    // Other resources are untouched.
    assert_eq!(read::read_policy(&c.state, ReadResource::Blocks).expect("read"), allow(&["member"]));

    // A malformed rule is refused when proposed (the decoder refuses it too; built directly here).
    for bad in [allow(&[]), allow(&["root"]), allow(&["owner"]), allow(&["admin", "admin"])] {
        let (_, r) = c.propose(1, GovAction::SetReadPolicy { resource: ReadResource::Blocks, allow: bad.clone() });
        assert_ne!(r.status, StatusCode::Ok, "{bad:?}");
        assert_eq!(attr(&r, "gov.refused", "code"), Some("bad_read_policy"), "{bad:?}: {r:?}");
    }
    assert_eq!(read::read_policy(&c.state, ReadResource::Blocks).expect("read"), allow(&["member"]));
}
