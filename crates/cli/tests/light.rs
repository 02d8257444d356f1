//! Verified reads against a trust anchor (STD-11.2, ADR 0011): `fdl query account`, `query tx`
//! and `query block --verify` prove what they show from the genesis, so a node of another
//! network with the same chain id, or anything between the client and the node, cannot make a
//! forged answer look verified.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    sync::Arc,
};

use common::{FDL, TestNode, build_tx, fdl, free_port};
use fdl_crypto::{Address, Hash, KeyPair, Suite};
use fdl_types::{Genesis, Payload};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Issues `amount` to `to` on `node`, waiting for the commit; the transaction's hash.
fn issue(node: &TestNode, to: Address, amount: u128) -> Hash {
    let tx = build_tx(&node.issuer, &node.genesis.chain_id, 1_000, Payload::Issue { to, amount }).unwrap();
    let v = rt().block_on(node.client().submit(&tx, true)).unwrap();
    assert_eq!(v.receipt.unwrap().status, "ok");
    tx.id()
}

/// What the proxy does with one request: the upstream base URL (`http://host:port`) and a rewrite
/// of the answer's body.
type Route = dyn Fn(&str) -> (String, Option<fn(String) -> String>) + Send + Sync;

/// A man in the middle on 127.0.0.1: each GET goes to the upstream `route` picks, its answer's
/// body rewritten as `route` says; one request per connection.
fn proxy(route: Arc<Route>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let route = route.clone();
            std::thread::spawn(move || {
                let _ = serve_one(s, &*route);
            });
        }
    });
    url
}

fn serve_one(mut s: TcpStream, route: &Route) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Ok(());
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (upstream, rewrite) = route(&path);
    let mut up = TcpStream::connect(upstream.trim_start_matches("http://"))?;
    write!(up, "GET {path} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n\r\n")?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = match rewrite {
        Some(f) => f(body.to_string()),
        None => body.to_string(),
    };
    let status = head.lines().next().unwrap_or("HTTP/1.1 502 Bad Gateway");
    write!(
        s,
        "{status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

/// Two independent one-validator chains with the same chain id: reads verified against the first
/// one's genesis succeed on it and fail (exit 1, `"verified": false`) on the other, whether the
/// client is pointed at the other node or a man in the middle hands out its answers.
#[test]
fn verified_reads_refuse_another_network_with_the_same_chain_id() {
    let a = TestNode::start(Suite::Sm);
    let b = TestNode::start(Suite::Sm);
    assert_eq!(a.genesis.chain_id, b.genesis.chain_id, "both networks are fdl-devnet");
    let ga = a.dir.path().join("genesis.json");
    let ga = ga.to_str().unwrap();
    let ha = a.genesis.hash().to_hex();
    let who = KeyPair::generate(Suite::Sm).address();
    let tx_a = issue(&a, who, 5);
    let tx_b = issue(&b, who, 1_000_000);
    let addr = who.to_hex();
    let prefix = format!("verified against genesis {}", &ha[..16]);

    // The honest node, with the genesis file or only its hash.
    for anchor in [["--genesis", ga], ["--genesis-hash", ha.as_str()]] {
        let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &a.rpc, anchor[0], anchor[1]]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("balance   5"), "{out}");
        assert!(out.contains(&prefix) && out.contains("(commit by 1 of 1 voting power)"), "{out}");
        let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &a.rpc, anchor[0], anchor[1], "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let v = json(&out);
        assert_eq!(v["verified"], true, "{out}");
        assert_eq!(v["balance"], "5");
        assert_eq!(v["genesis_hash"], ha);
    }
    let (code, out, err) = fdl(&["query", "tx", &tx_a.to_hex(), "--rpc", &a.rpc, "--genesis", ga]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&prefix), "{out}");
    let (code, out, err) = fdl(&["query", "tx", &tx_a.to_hex(), "--rpc", &a.rpc, "--genesis", ga, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["verified"], true);
    let (code, out, err) = fdl(&["query", "block", "--verify", "--rpc", &a.rpc, "--genesis-hash", &ha, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["verified"], true);
    let (code, out, _) = fdl(&["query", "block", "--rpc", &a.rpc, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)["verified"], false, "a block read without --verify says it is not verified");

    // The other network's node: its header carries the same chain id, but no commit by our
    // validators; its genesis is not ours.
    for anchor in [["--genesis", ga], ["--genesis-hash", ha.as_str()]] {
        let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &b.rpc, anchor[0], anchor[1]]);
        assert_eq!(code, 1, "another network's balance must not verify: {out}{err}");
        assert!(err.contains("NOT verified"), "{err}");
        assert!(!out.contains("1000000"), "{out}");
        let (code, out, _) = fdl(&["query", "account", &addr, "--rpc", &b.rpc, anchor[0], anchor[1], "--json"]);
        assert_eq!(code, 1);
        assert_eq!(json(&out)["verified"], false, "{out}");
        let (code, out, err) = fdl(&["query", "tx", &tx_b.to_hex(), "--rpc", &b.rpc, anchor[0], anchor[1]]);
        assert_eq!(code, 1, "another network's transaction must not verify: {out}{err}");
        let (code, out, err) = fdl(&["query", "block", "--verify", "--rpc", &b.rpc, anchor[0], anchor[1]]);
        assert_eq!(code, 1, "another network's block must not verify: {out}{err}");
    }
    let (code, _, err) = fdl(&["query", "account", &addr, "--rpc", &b.rpc, "--genesis-hash", &ha]);
    assert_eq!(code, 1);
    assert!(err.contains("not the trusted genesis"), "{err}");

    // A man in the middle serves the other network's account (a proof against its own header)
    // and our network's everything else.
    let (ra, rb) = (a.rpc.clone(), b.rpc.clone());
    let mitm = proxy(Arc::new(move |path: &str| {
        (if path.starts_with("/v1/accounts/") { rb.clone() } else { ra.clone() }, None)
    }));
    let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &mitm, "--genesis", ga, "--json"]);
    assert_eq!(code, 1, "a substituted account must not verify: {out}{err}");
    assert_eq!(json(&out)["verified"], false, "{out}");
    // What `fdl query account` checked before: the proof against the header that comes with it.
    // The forged answer passes that check, which is why it is not enough.
    let forged = rt().block_on(fdl_sdk::Client::new(&mitm).unwrap().account(&who, Suite::Sm)).unwrap();
    assert_eq!(forged.balance, 1_000_000);
    let anchor = fdl_sdk::TrustAnchor::from_genesis(a.genesis.clone()).unwrap();
    let mut lc = fdl_sdk::LightClient::new(&anchor).unwrap();
    let e = rt().block_on(lc.account(&fdl_sdk::Client::new(&mitm).unwrap(), &who)).unwrap_err();
    assert!(matches!(e, fdl_sdk::SdkError::Verify(_)), "{e}");
    assert_eq!(rt().block_on(lc.account(&a.client(), &who)).unwrap().account.balance, 5);
    // ... or our own answer with the balance changed.
    let ra = a.rpc.clone();
    let tamper = proxy(Arc::new(move |path: &str| {
        let rewrite: Option<fn(String) -> String> = path
            .starts_with("/v1/accounts/")
            .then_some(|body: String| body.replace("\"balance\":\"5\"", "\"balance\":\"5000\""));
        (ra.clone(), rewrite)
    }));
    let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &tamper, "--genesis", ga, "--json"]);
    assert_eq!(code, 1, "a tampered balance must not verify: {out}{err}");
    assert_eq!(json(&out)["verified"], false, "{out}");
    // ... or our own answer with the proof cut short.
    let ra = a.rpc.clone();
    let tamper = proxy(Arc::new(move |path: &str| {
        let rewrite: Option<fn(String) -> String> = path.starts_with("/v1/accounts/").then_some(|body: String| {
            let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let p = v["proof"].as_str().unwrap().to_string();
            v["proof"] = serde_json::Value::String(p[..p.len() - 2].to_string());
            v.to_string()
        });
        (ra.clone(), rewrite)
    }));
    let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &tamper, "--genesis", ga]);
    assert_eq!(code, 1, "a tampered proof must not verify: {out}{err}");
    // ... or a transaction's receipt turned from a success into a refusal.
    let ra = a.rpc.clone();
    let tamper = proxy(Arc::new(move |path: &str| {
        let rewrite: Option<fn(String) -> String> = path.starts_with("/v1/transactions/").then_some(|body: String| {
            body.replace("\"status\":\"ok\",\"code\":0", "\"status\":\"insufficient_balance\",\"code\":1")
        });
        (ra.clone(), rewrite)
    }));
    let (code, out, err) = fdl(&["query", "tx", &tx_a.to_hex(), "--rpc", &tamper, "--genesis", ga, "--json"]);
    assert_eq!(code, 1, "a tampered receipt must not verify: {out}{err}");
    assert_eq!(json(&out)["verified"], false, "{out}");
    assert!(json(&out)["error"].as_str().unwrap().contains("receipt"), "{out}");
    // The honest path through a proxy that changes nothing still verifies.
    let ra = a.rpc.clone();
    let plain = proxy(Arc::new(move |_: &str| (ra.clone(), None)));
    let (code, out, err) = fdl(&["query", "account", &addr, "--rpc", &plain, "--genesis", ga]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = fdl(&["query", "tx", &tx_a.to_hex(), "--rpc", &plain, "--genesis", ga, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["receipt"]["status"], "ok");
}

/// `fdl init` records the genesis as the default anchor; a query without flags uses it (from the
/// file, or by its hash once the file is gone), and refuses another network's node.
#[test]
fn the_genesis_recorded_by_init_is_the_default_anchor() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(FDL).args(args).env("HOME", home.path()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let other = TestNode::start(Suite::Sm);
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let rpc = format!("http://{listen}");
    let (code, out, err) =
        run(&["init", "--dir", dir.path().to_str().unwrap(), "--rpc-listen", &listen, "--public-reads", "all"]);
    assert_eq!(code, 0, "{out}{err}");
    let genesis = Genesis::load(&dir.path().join("genesis.json")).unwrap();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join(".fdl").join("trust.json")).unwrap()).unwrap();
    assert_eq!(record["genesis_hash"], genesis.hash().to_hex());
    let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
    let config = dir.path().join("node0").join("node.toml");
    let child = Command::new(FDL)
        .args(["node", "--config", config.to_str().unwrap()])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let _guard = common::net::KillOnDrop(child);
    let client = fdl_sdk::Client::new(&rpc).unwrap();
    common::wait::wait_for(std::time::Duration::from_secs(30), "the node's first block", || {
        rt().block_on(client.status()).ok().filter(|s| s.height >= 1)
    });
    let prefix = format!("verified against genesis {}", &genesis.hash().to_hex()[..16]);
    let (code, out, err) = run(&["query", "block", "1", "--verify", "--rpc", &rpc]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&prefix), "{out}");
    let (code, out, err) = run(&["query", "account", &Address([9; 20]).to_hex(), "--rpc", &other.rpc]);
    assert_eq!(code, 1, "the default anchor is not the other network's: {out}{err}");
    // Without the file, the recorded hash still anchors the reads: the node's genesis must match.
    std::fs::remove_file(dir.path().join("genesis.json")).unwrap();
    let (code, out, err) = run(&["query", "account", &Address([9; 20]).to_hex(), "--rpc", &rpc]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&prefix), "{out}");
    let (code, out, err) = run(&["query", "account", &Address([9; 20]).to_hex(), "--rpc", &other.rpc, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(json(&out)["verified"], false);
    // No anchor at all: nothing is called verified.
    std::fs::remove_file(home.path().join(".fdl").join("trust.json")).unwrap();
    let (code, _, err) = run(&["query", "account", &Address([9; 20]).to_hex(), "--rpc", &rpc]);
    assert_eq!(code, 1);
    assert!(err.contains("no trust anchor"), "{err}");
}
