//! `fdl_types::api::AUDIT_KINDS`, the list `GET /v1/audit?kind=` checks a filter against, names
//! exactly the audited event kinds execution emits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeSet, path::Path};

use fdl_types::api::{AUDIT_KINDS, AUDIT_PREFIXES};

fn sources(dir: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

/// Every string literal of the form `<audit prefix><lower case and _>`.
fn audited_literals(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            AUDIT_PREFIXES.iter().any(|p| {
                s.strip_prefix(p)
                    .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            })
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_audit_kinds_are_the_kinds_execution_emits() {
    let mut text = String::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut text);
    // Method names (`gov.propose`) look like kinds but name what a transaction calls.
    let emitted: BTreeSet<String> =
        audited_literals(&text).into_iter().filter(|k| !fdl_schema::METHODS.contains(&k.as_str())).collect();
    let listed: BTreeSet<String> = AUDIT_KINDS
        .iter()
        .filter(|k| !["identity.refused_at_admission", "api.refused"].contains(*k))
        .map(|k| k.to_string())
        .collect();
    assert_eq!(emitted, listed, "AUDIT_KINDS and the events of fdl-exec differ");
    for k in AUDIT_KINDS {
        assert!(fdl_types::api::is_audit_kind(k), "{k} has no audit prefix");
    }
}
