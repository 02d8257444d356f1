//! Whole-node behaviour through real processes: the walk-through, crash safety under load
//! (SIGKILL, STD-10.1), the devnet command, and `fdl sign`/`fdl verify` against OpenSSL 3.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::build_tx;
use common::{FDL, TestNode, fdl, new_key, wait};
use fdl_crypto::{KeyPair, Signer, Suite};
use fdl_types::Payload;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn json_field(out: &str, key: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    v[key].clone()
}

#[test]
fn walkthrough_issue_transfer_query_with_proof() {
    for suite in [Suite::Sm, Suite::Intl] {
        let node = TestNode::start(suite);
        let a_path = node.key_path("a.pem");
        let (code, out, err) = fdl(&["keygen", "--suite", suite.name(), "--out", a_path.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{err}");
        let a = json_field(&out, "address").as_str().unwrap().to_string();
        let b = KeyPair::generate(suite).address().to_hex();
        let issuer = node.key_path("issuer.pem");
        let rpc = node.rpc.as_str();
        let tx = |kind: &str, key: &std::path::Path, to: &str, amount: &str| {
            let args =
                ["tx", kind, "--rpc", rpc, "--key", key.to_str().unwrap(), "--to", to, "--amount", amount, "--wait"];
            fdl(&args)
        };
        let (code, _, err) = tx("issue", &issuer, &a, "1000");
        assert_eq!(code, 0, "issue: {err}");
        // STD-13.1: an uncertified key cannot send; its institution certifies it, then it can.
        let (code, _, err) = tx("transfer", &a_path, &b, "250");
        assert_eq!(code, 1, "an uncertified sender must be refused");
        assert!(err.contains("certificate_required"), "{err}");
        let ca_dir = node.dir.path().join("org1").join("ca");
        let a_crt = node.key_path("a.crt");
        let (code, _, err) = fdl(&[
            "ca",
            "issue",
            "--ca-dir",
            ca_dir.to_str().unwrap(),
            "--role",
            "client",
            "--cn",
            "alice",
            "--key",
            a_path.to_str().unwrap(),
            "--out",
            a_crt.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "fdl ca issue: {err}");
        let (code, _, err) = tx("transfer", &a_path, &b, "250");
        assert_eq!(code, 0, "transfer: {err}");
        let (code, _, _) = tx("transfer", &a_path, &b, "5000");
        assert_eq!(code, 1, "an overdraft must exit 1");
        let genesis = node.dir.path().join("genesis.json");
        let g = genesis.to_str().unwrap();
        let (code, out, err) = fdl(&["query", "account", &a, "--rpc", rpc, "--genesis", g, "--json"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json_field(&out, "balance"), "750");
        assert_eq!(json_field(&out, "proof_verified"), true);
        assert_eq!(json_field(&out, "verified"), true);
        assert_eq!(json_field(&out, "sent"), 2);
        let (_, out, _) = fdl(&["query", "account", &b, "--rpc", rpc, "--genesis", g, "--json"]);
        assert_eq!(json_field(&out, "balance"), "250");
        let (code, out, err) = fdl(&["query", "block", "--verify", "--rpc", rpc, "--genesis", g]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("verified against genesis"), "{out}");
        let (code, out, err) =
            fdl(&["query", "block", "1", "--verify", "--genesis", genesis.to_str().unwrap(), "--rpc", rpc]);
        assert_eq!(code, 0, "{out}{err}");
        // Against another chain's validator set the certificate does not verify.
        let other = tempfile::tempdir().unwrap();
        let (code, _, _) = fdl(&["init", "--dir", other.path().to_str().unwrap(), "--suite", suite.name()]);
        assert_eq!(code, 0);
        let foreign = other.path().join("genesis.json");
        let (code, _, err) =
            fdl(&["query", "block", "1", "--verify", "--genesis", foreign.to_str().unwrap(), "--rpc", rpc]);
        assert_eq!(code, 1, "a commit by a foreign validator must not verify: {err}");
        assert!(err.contains("not a validator"), "{err}");
        let (code, out, _) = fdl(&["query", "status", "--rpc", rpc, "--json"]);
        assert_eq!(code, 0);
        assert_eq!(json_field(&out, "suite"), suite.name());
    }
}

/// SIGKILL under load, restart: every block seen before is there with the same hash and state
/// root, every committed transaction is still committed, and the chain advances.
#[test]
fn crash_safety_sigkill_under_load() {
    let mut node = TestNode::start(Suite::Sm);
    let rt = rt();
    let client = node.client();
    let chain_id = node.genesis.chain_id.clone();
    let issuer = node.issuer.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let committed_ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load = {
        let (client, stop, committed_ids) = (client.clone(), stop.clone(), committed_ids.clone());
        rt.spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let txs: Vec<_> = (0..200)
                    .map(|_| {
                        i += 1;
                        let to = KeyPair::generate(Suite::Sm).address();
                        build_tx(&issuer, &chain_id, 100_000, Payload::Issue { to, amount: i as u128 }).unwrap()
                    })
                    .collect();
                if client.submit_batch(&txs).await.is_err() {
                    break;
                }
                // One waited transaction per round: these are known committed before the kill.
                let t =
                    build_tx(&issuer, &chain_id, 100_000, Payload::Issue { to: issuer.address(), amount: 1 }).unwrap();
                if let Ok(v) = client.submit(&t, true).await
                    && v.status == "committed"
                {
                    committed_ids.lock().unwrap().push(v.hash);
                }
            }
        })
    };
    wait::poll(Duration::from_secs(60), || (committed_ids.lock().unwrap().len() >= 5).then_some(()));
    // Record what the node has said is final, then kill it mid-load.
    let seen = rt.block_on(client.status()).unwrap().height;
    let mut before = BTreeMap::new();
    for h in 1..=seen {
        let b = rt.block_on(client.block(Some(h))).unwrap();
        before.insert(h, (b.header.hash, b.header.state_root));
    }
    let ids = committed_ids.lock().unwrap().clone();
    assert!(ids.len() >= 5, "load did not get going; log:\n{}", node.log());
    // Mid-load: the node holds transactions that no block carries yet.
    wait::wait_until_or(
        Duration::from_secs(20),
        "the node holds pending transactions",
        || rt.block_on(client.status()).is_ok_and(|s| s.mempool_size > 0),
        || format!("log:\n{}", node.log()),
    );
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    let _ = rt.block_on(load);

    node.spawn();
    let after_restart = rt.block_on(client.status()).unwrap().height;
    assert!(after_restart >= seen, "height went back from {seen} to {after_restart}");
    for (h, (hash, root)) in &before {
        let b = rt.block_on(client.block(Some(*h))).unwrap();
        assert_eq!(&b.header.hash, hash, "block {h} changed across the crash");
        assert_eq!(&b.header.state_root, root, "state root at {h} changed across the crash");
    }
    for id in &ids {
        let t = rt.block_on(client.tx(id)).unwrap();
        assert_eq!(t.status, "committed", "{id} lost in the crash");
    }
    // The chain advances and accepts new work.
    let t = build_tx(
        &node.issuer,
        &node.genesis.chain_id,
        100_000,
        Payload::Issue { to: node.issuer.address(), amount: 7 },
    )
    .unwrap();
    let v = rt.block_on(client.submit(&t, true)).unwrap();
    assert_eq!(v.status, "committed");
    node.wait_height(after_restart + 2, Duration::from_secs(20));
    // The issuer's balance is consistent with a proof against the new state root.
    let acct = rt.block_on(client.account(&node.issuer.address(), Suite::Sm)).unwrap();
    assert!(acct.balance >= ids.len() as u128 + 7);
}

#[test]
fn graceful_restart_keeps_the_chain() {
    let mut node = TestNode::start(Suite::Intl);
    let rt = rt();
    let client = node.client();
    let to = KeyPair::generate(Suite::Intl).address();
    let t = build_tx(&node.issuer, &node.genesis.chain_id, 100_000, Payload::Issue { to, amount: 42 }).unwrap();
    rt.block_on(client.submit(&t, true)).unwrap();
    let h = rt.block_on(client.status()).unwrap().height;
    node.stop();
    node.spawn();
    assert!(node.wait_height(h + 1, Duration::from_secs(20)) > h);
    assert_eq!(rt.block_on(client.account(&to, Suite::Intl)).unwrap().balance, 42);
    // The same transaction is refused after the restart: replay protection survives it.
    let e = rt.block_on(client.submit(&t, false)).unwrap_err();
    assert_eq!(e.code(), Some("replayed"));
}

#[test]
fn devnet_starts_records_stops_and_restarts_with_data() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("net");
    let run = || {
        Command::new(FDL)
            .args(["devnet", "--dir", dir.to_str().unwrap()])
            .env("HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let wait_record = |since: Option<std::time::SystemTime>| {
        let p = dir.join("devnet.json");
        wait::wait_for(Duration::from_secs(60), "the devnet writes a new devnet.json", || {
            let m = std::fs::metadata(&p).ok()?;
            // Written since `since`, and complete.
            since.is_none_or(|s| m.modified().unwrap() > s).then_some(())?;
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&p).ok()?).ok()
        })
    };
    let mut child = run();
    let rec = wait_record(None);
    assert_eq!(rec["suite"], "sm");
    assert!(std::path::Path::new(rec["issuer_key"].as_str().unwrap()).exists());
    // The default devnet: four validators, one per institution, each its own process.
    let nodes = rec["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 4, "{rec}");
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["role"], "validator");
        assert_eq!(n["name"], format!("org{}", i + 1));
    }
    let node = &rec["nodes"][0];
    let rpc = node["rpc"].as_str().unwrap().to_string();
    assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    let pids: Vec<u64> = nodes.iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    for pid in &pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    let rt = rt();
    let c = fdl_sdk::Client::new(&rpc).unwrap();
    let h1 = rt.block_on(c.status()).unwrap().height;
    assert!(h1 >= 1);
    // The devnet records its genesis as the default trust anchor of verified reads.
    let genesis = fdl_types::Genesis::load(&dir.join("genesis.json")).unwrap();
    assert_eq!(rec["genesis_hash"], genesis.hash().to_hex());
    let out = Command::new(FDL)
        .args(["query", "account", &"00".repeat(20), "--rpc", nodes[2]["rpc"].as_str().unwrap(), "--json"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["genesis_hash"], genesis.hash().to_hex());
    // Ctrl-C stops the devnet and its node.
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "devnet exited with {status}");
    // A zombie would still be listed until reaped; the node is the devnet's child, reaped by it.
    let running = || -> Vec<u64> {
        pids.iter().copied().filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists()).collect()
    };
    wait::wait_until_or(
        Duration::from_secs(20),
        "every node process has exited after Ctrl-C",
        || running().is_empty(),
        || format!("still running: {:?}", running()),
    );
    // Restart with the same directory: same chain, height continues.
    let modified = std::fs::metadata(dir.join("devnet.json")).unwrap().modified().unwrap();
    let mut child = run();
    let rec2 = wait_record(Some(modified));
    assert_eq!(rec2["chain_id"], rec["chain_id"]);
    let rpc2 = rec2["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let h2 = rt.block_on(fdl_sdk::Client::new(&rpc2).unwrap().status()).unwrap().height;
    assert!(h2 > h1, "height {h2} after restart, {h1} before");
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
}

fn openssl(args: &[&str]) -> std::process::Output {
    common::require_openssl3();
    Command::new("openssl").args(args).output().unwrap_or_else(|e| panic!("openssl: {e}: {}", common::INSTALL_OPENSSL))
}

/// `fdl sign` output verifies with `openssl pkeyutl -verify` and the reverse (STD-8.1).
#[test]
fn fdl_sign_and_verify_interoperate_with_openssl() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("msg"), b"pay 100 fen to the merchant").unwrap();
    let (code, _, err) = fdl(&["keygen", "--suite", "sm", "--out", &p("k.pem"), "--pub-out", &p("k.pub")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = fdl(&["sign", "--key", &p("k.pem"), "--in", &p("msg"), "--out", &p("sig")]);
    assert_eq!(code, 0, "{err}");
    let o = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        &p("k.pub"),
        "-rawin",
        "-in",
        &p("msg"),
        "-sigfile",
        &p("sig"),
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
    ]);
    assert!(o.status.success(), "openssl rejected fdl's signature: {}", String::from_utf8_lossy(&o.stdout));
    // OpenSSL signs with its own key; fdl verifies with the public key and with the key file.
    assert!(openssl(&["genpkey", "-algorithm", "SM2", "-out", &p("o.pem")]).status.success());
    assert!(openssl(&["pkey", "-in", &p("o.pem"), "-pubout", "-out", &p("o.pub")]).status.success());
    let o = openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        &p("o.pem"),
        "-rawin",
        "-in",
        &p("msg"),
        "-out",
        &p("osig"),
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, out, _) = fdl(&["verify", "--pub", &p("o.pub"), "--in", &p("msg"), "--sig", &p("osig")]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = fdl(&["verify", "--pub", &p("o.pem"), "--in", &p("msg"), "--sig", &p("osig")]);
    assert_eq!(code, 0);
    std::fs::write(p("msg2"), b"pay 999 fen to the merchant").unwrap();
    let (code, _, _) = fdl(&["verify", "--pub", &p("o.pub"), "--in", &p("msg2"), "--sig", &p("osig")]);
    assert_eq!(code, 1, "a signature over another message must fail");
    // Keys written by fdl keygen are read by OpenSSL.
    let k = new_key(&d.path().join("n.pem"), Suite::Sm);
    let o = openssl(&["pkey", "-in", &p("n.pem"), "-noout", "-text"]);
    assert!(o.status.success());
    assert!(k.public_key().to_spki_pem().is_ok());
}

/// A node refuses to start with a key that is not one of the genesis validators.
#[test]
fn node_refuses_a_key_that_is_not_a_genesis_validator() {
    let node = TestNode::init(Suite::Sm);
    let key = node.dir.path().join("node0").join("validator.pem");
    std::fs::remove_file(&key).unwrap();
    new_key(&key, Suite::Sm);
    let (code, _, err) = fdl(&["node", "--config", node.config().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a validator of this chain"), "{err}");
}

/// `fdl ca`: an institution's CA issues a member certificate with its role, which OpenSSL
/// verifies; a revoked certificate is refused once the CA republishes its revocation list.
#[test]
fn fdl_ca_issues_verifies_and_revokes() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let (code, _, err) = fdl(&["ca", "init", "--org", "bankA", "--dir", &p("ca")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = fdl(&["keygen", "--out", &p("alice.pem")]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fdl(&[
        "ca",
        "issue",
        "--ca-dir",
        &p("ca"),
        "--role",
        "client",
        "--cn",
        "alice",
        "--key",
        &p("alice.pem"),
        "--out",
        &p("alice.crt"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("client of bankA"), "{out}");
    let o = openssl(&["verify", "-vfyopt", "distid:1234567812345678", "-CAfile", &p("ca/ca.pem"), &p("alice.crt")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, out, _) =
        fdl(&["ca", "verify", "--ca", &p("ca/ca.pem"), "--crl", &p("ca/crl.pem"), &p("alice.crt"), "--json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"role\":\"client\"") && out.contains("\"valid\":true"), "{out}");
    // A role outside the list is refused by the CLI.
    let (code, _, _) = fdl(&[
        "ca",
        "issue",
        "--ca-dir",
        &p("ca"),
        "--role",
        "king",
        "--cn",
        "x",
        "--key",
        &p("alice.pem"),
        "--out",
        &p("x.crt"),
    ]);
    assert_ne!(code, 0);
    let (code, out, err) = fdl(&["ca", "revoke", "--ca-dir", &p("ca"), &p("alice.crt")]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = fdl(&["ca", "verify", "--ca", &p("ca/ca.pem"), "--crl", &p("ca/crl.pem"), &p("alice.crt")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("revoked"), "{out}");
    // Another institution's CA does not vouch for it.
    let (code, _, _) = fdl(&["ca", "init", "--org", "bankB", "--dir", &p("cb")]);
    assert_eq!(code, 0);
    let (code, out, _) = fdl(&["ca", "verify", "--ca", &p("cb/ca.pem"), &p("alice.crt")]);
    assert_eq!(code, 1, "{out}");
}
