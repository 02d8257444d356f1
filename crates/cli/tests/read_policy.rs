//! The API read policy through a real devnet node (STD-16.1, STD-13.1): scripts read blocks,
//! accounts and contracts without keys; the audit log needs an auditor, regulator or
//! administrator key; a change of the policy by vote takes effect and is audited.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{FDL, wait};
use fdl_crypto::{KeyPair, Suite};
use serde_json::Value;

/// Runs `fdl` with `HOME` at `home`: exit code, stdout, stderr.
fn fdl_at(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(FDL).args(args).env("HOME", home).env_remove("FDL_RPC").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A key of org1 with `role`, written as `DIR/NAME.pem` and `DIR/NAME.crt`.
fn member_key(dir: &Path, name: &str, role: fdl_pki::Role) -> String {
    let key = KeyPair::generate(Suite::Sm);
    let pem = dir.join(format!("{name}.pem"));
    key.write_pem_file(&pem).unwrap();
    let cert = common::certify_with(&dir.join("org1").join("ca"), &key, name, role);
    std::fs::write(dir.join(format!("{name}.crt")), fdl_pki::to_pem(&cert).unwrap()).unwrap();
    pem.to_str().unwrap().to_string()
}

/// Stops a devnet as Ctrl-C does (it stops its nodes), also when the test fails.
struct Devnet(std::process::Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-INT").arg(self.0.id().to_string()).status();
        let stopped = wait::poll(Duration::from_secs(20), || self.0.try_wait().ok().flatten());
        if stopped.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn records(out: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["records"].as_array().unwrap().clone()
}

#[test]
fn audit_needs_an_auditor_key_and_a_read_policy_change_by_vote_takes_effect() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("net");
    let child = Command::new(FDL)
        .args(["devnet", "--dir", dir.to_str().unwrap(), "--validators", "1"])
        .env("HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _devnet = Devnet(child);
    let rec = wait::wait_for(Duration::from_secs(60), "the devnet writes devnet.json", || {
        serde_json::from_str::<Value>(&std::fs::read_to_string(dir.join("devnet.json")).ok()?).ok()
    });
    let rpc = rec["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let h = home.path();
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--rpc", rpc.as_str()]);
        fdl_at(h, &a)
    };
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();

    // Scripts read without keys: status, blocks (curl-like), accounts (verified), contracts.
    let (code, out, err) = run(&["query", "status", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let anon = fdl_sdk::Client::new(&rpc).unwrap();
    wait::wait_for(Duration::from_secs(30), "block 1", || rt.block_on(anon.get_text("/v1/blocks/1")).ok());
    let (code, out, err) = run(&["query", "account", &"00".repeat(20), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["contract", "list", "--json"]);
    assert_eq!(code, 0, "{out}{err}");

    // The audit log: refused without a key (and the refusal is itself audited).
    let (code, out, err) = run(&["audit", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("read_forbidden") && err.contains("audit"), "{err}");
    // An administrator, the regulator and an auditor read it.
    let auditor = member_key(&dir, "auditor", fdl_pki::Role::Auditor);
    for key in [p("org1/admin.pem"), p("regulator/regulator.pem"), auditor.clone()] {
        let (code, out, err) = run(&["audit", "--kind", "api.refused", "--json", "--key", &key]);
        assert_eq!(code, 0, "{key}: {out}{err}");
        let refused = records(&out);
        assert!(
            refused.iter().any(|r| r["attrs"].to_string().contains("\"anonymous\"")
                && r["attrs"].to_string().contains("\"/v1/audit\"")),
            "{key}: {out}"
        );
    }
    // A client is a member, but not one the audit log is for.
    let client = member_key(&dir, "client", fdl_pki::Role::Client);
    let (code, out, err) = run(&["audit", "--json", "--key", &client]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("read_forbidden") && err.contains("client@org1"), "{err}");

    // By vote (org1 holds the devnet's only committee seat, so its proposal passes at once):
    // clients may read the audit log, and blocks become members-only.
    let admin = p("org1/admin.pem");
    for (resource, allow) in [("audit", "auditor,regulator,admin,client"), ("blocks", "member")] {
        let (code, out, err) = run(&[
            "gov",
            "propose",
            "set-read-policy",
            "--resource",
            resource,
            "--allow",
            allow,
            "--key",
            &admin,
            "--wait",
            "--json",
        ]);
        assert_eq!(code, 0, "{resource}: {out}{err}");
    }
    let (code, out, err) = run(&["audit", "--kind", "acl.read_policy_set", "--json", "--key", &client]);
    assert_eq!(code, 0, "the client reads the audit log now: {out}{err}");
    let changes = records(&out);
    assert_eq!(changes.len(), 2, "{out}");
    assert!(changes[0]["attrs"].to_string().contains("auditor,regulator,admin,client"), "{out}");
    // Blocks: anonymous refused, a member reads them (the CLI signs with --key).
    let e = rt.block_on(anon.get_text("/v1/blocks/1")).unwrap_err();
    assert_eq!(e.code(), Some("read_forbidden"), "{e}");
    let (code, out, err) = run(&["query", "block", "1", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let (code, out, err) = run(&["query", "block", "1", "--json", "--key", &client]);
    assert_eq!(code, 0, "{out}{err}");
    // A malformed rule never leaves the CLI.
    let (code, _, err) =
        run(&["gov", "propose", "set-read-policy", "--resource", "blocks", "--allow", "owner", "--key", &admin]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("owner"), "{err}");
}
