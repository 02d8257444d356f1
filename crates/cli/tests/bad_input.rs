//! Bad input against a real `fdl node` process: every malformed, oversized, mis-signed, expired,
//! replayed or otherwise wrong request gets its documented HTTP status and stable JSON error code,
//! nothing is committed, and the node keeps serving.
//!
//! Each case is its own test. One node serves them all (startup costs about a second): the first
//! test to run starts it, and the tests take turns on it. After each test, the node must still
//! answer `/v1/status` with an empty mempool, and its log must show no panic.
//!
//! Chain setup: the issuer mints `u128::MAX` into a "treasury" account, so the total supply is
//! saturated from the start. Every case funds its accounts by transfers from the treasury, never
//! by issuing. The overflow case needs the treasury still at `u128::MAX`, which the tests that
//! share the node do not keep: it runs on a node of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::Child,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use common::build_tx;
use common::wait::wait_for;
use common::{TestNode, fdl, new_key};
use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite};
use fdl_types::{Encode, Payload, SignedTx};
use reqwest::Method;
use serde_json::{Value, json};

/// The API's body limit (fdl_rpc::MAX_BODY_BYTES).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// `ChainParams::default().max_tx_bytes`, the chain `fdl init` creates.
const MAX_TX_BYTES: usize = 2048;

struct Env {
    node: TestNode,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    sdk: fdl_sdk::Client,
    chain_id: String,
    /// Holds the whole supply (`u128::MAX`) at the start.
    treasury: KeyPair,
    /// For the shared node: kills it when the test binary ends (see [`common::reap_at_exit`]).
    _reaper: Option<Child>,
}

/// Asserts an API error: HTTP status, stable code and a non-empty message. Returns the body.
#[track_caller]
fn expect_error(what: &str, got: (u16, Value), status: u16, code: &str) -> Value {
    let (s, body) = got;
    assert_eq!((s, body["code"].as_str()), (status, Some(code)), "{what}: unexpected answer {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: no message in {body}");
    body
}

/// Asserts a `?wait=commit` answer is a committed transaction; returns its receipt status.
#[track_caller]
fn committed_status(what: &str, got: (u16, Value)) -> String {
    let (s, body) = got;
    assert_eq!(s, 200, "{what}: unexpected answer {body}");
    assert_eq!(body["status"], "committed", "{what}: {body}");
    assert!(body["height"].as_u64().is_some_and(|h| h > 0), "{what}: no height in {body}");
    body["receipt"]["status"].as_str().unwrap_or_else(|| panic!("{what}: no receipt in {body}")).to_string()
}

fn fresh_address() -> Address {
    KeyPair::generate(Suite::Sm).address()
}

fn transfer(to: Address, amount: u128) -> Payload {
    Payload::Transfer { to, amount, memo: String::new() }
}

impl Env {
    /// A node of its own, stopped when the `Env` is dropped.
    fn start() -> Env {
        let node = TestNode::start(Suite::Sm);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let sdk = node.client();
        let chain_id = node.genesis.chain_id.clone();
        let env = Env { node, rt, http, sdk, chain_id, treasury: KeyPair::generate(Suite::Sm), _reaper: None };
        env.node.certify(&env.treasury);
        let mint = env.tx(&env.node.issuer, Payload::Issue { to: env.treasury.address(), amount: u128::MAX });
        assert_eq!(committed_status("setup: mint u128::MAX", env.submit(&mint, true)), "ok");
        env
    }

    /// The node the tests share, kept in a `static`: its process and directory go when the test
    /// binary ends.
    fn start_shared() -> Env {
        let mut env = Env::start();
        let pid = env.node.child.as_ref().expect("the node runs").id();
        env._reaper = Some(common::reap_at_exit(pid, env.node.dir.path()));
        env
    }

    fn request(&self, method: Method, path: &str, content_type: Option<&str>, body: Option<Vec<u8>>) -> (u16, Value) {
        let url = format!("{}{path}", self.node.rpc);
        self.rt.block_on(async {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(ct) = content_type {
                req = req.header(reqwest::header::CONTENT_TYPE, ct);
            }
            if let Some(b) = body {
                req = req.body(b);
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
            let v = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{method} {path} answered {status} with a non-JSON body ({e}): {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            (status, v)
        })
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.request(Method::GET, path, None, None)
    }

    fn post_json(&self, path: &str, body: impl Into<Vec<u8>>) -> (u16, Value) {
        self.request(Method::POST, path, Some("application/json"), Some(body.into()))
    }

    fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.request(Method::POST, path, Some("application/octet-stream"), Some(body))
    }

    fn submit_raw(&self, raw: &[u8], wait: bool) -> (u16, Value) {
        let path = if wait { "/v1/transactions?wait=commit" } else { "/v1/transactions" };
        self.post_json(path, json!({ "tx": hex::encode(raw) }).to_string())
    }

    fn submit(&self, tx: &SignedTx, wait: bool) -> (u16, Value) {
        self.submit_raw(&tx.encode(), wait)
    }

    fn status(&self) -> Value {
        let (s, v) = self.get("/v1/status");
        assert_eq!(s, 200, "status: {v}");
        v
    }

    fn height(&self) -> u64 {
        self.status()["height"].as_u64().expect("height")
    }

    /// A transaction from `signer`, expiring 1,000 blocks from now.
    fn tx(&self, signer: &KeyPair, payload: Payload) -> SignedTx {
        build_tx(signer, &self.chain_id, self.height() + 1_000, payload).unwrap()
    }

    /// (balance, sent, exists), checked against the Merkle proof the node returns.
    fn account(&self, addr: &Address) -> (u128, u64, bool) {
        let a = self.rt.block_on(self.sdk.account(addr, Suite::Sm)).unwrap_or_else(|e| panic!("account {addr}: {e}"));
        (a.balance, a.sent, a.exists)
    }

    fn balance(&self, addr: &Address) -> u128 {
        self.account(addr).0
    }

    /// Transfers `amount` from the treasury to `to` and waits for it.
    fn fund(&self, to: &Address, amount: u128) {
        let t = self.tx(&self.treasury, transfer(*to, amount));
        assert_eq!(committed_status("funding transfer", self.submit(&t, true)), "ok");
    }

    #[track_caller]
    fn assert_not_committed(&self, what: &str, id: &Hash) {
        expect_error(&format!("{what}: GET tx {id}"), self.get(&format!("/v1/transactions/{id}")), 404, "tx_not_found");
    }

    #[track_caller]
    fn assert_alive(&self, what: &str) {
        let st = self.status();
        assert!(st["height"].as_u64().is_some_and(|h| h >= 1), "{what}: node status {st}");
        assert_eq!(st["mempool_size"], 0, "{what}: a transaction was left pending: {st}");
    }

    /// Polls `GET /v1/transactions/{id}` until it is committed; returns the receipt status.
    fn wait_committed(&self, id: &Hash) -> String {
        wait_for(Duration::from_secs(20), &format!("tx {id} is committed"), || {
            let (s, v) = self.get(&format!("/v1/transactions/{id}"));
            assert!(s == 200 || s == 404, "GET tx {id}: {s} {v}");
            (s == 200 && v["status"] == "committed").then(|| v["receipt"]["status"].as_str().unwrap().to_string())
        })
    }

    /// Asserts the node's log shows no panic.
    #[track_caller]
    fn assert_no_panic(&self) {
        let log = self.node.log();
        assert!(!log.contains("panicked"), "the node panicked; log:\n{log}");
    }
}

/// The node the tests share, started by the first test that runs.
static SHARED: OnceLock<Env> = OnceLock::new();
/// The tests on the shared node take turns: each ends by checking that the mempool is empty,
/// and some check that no block since their start carries a transaction.
static TURN: Mutex<()> = Mutex::new(());

/// Prints the end of the node's log if the test fails.
struct LogOnFailure<'a>(&'a TestNode);

impl Drop for LogOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("node log (last 100 lines):\n{}", lines[lines.len().saturating_sub(100)..].join("\n"));
        }
    }
}

/// Runs `case` against `env`, then checks the node still serves, with an empty mempool, and has
/// not panicked.
fn run(env: &Env, case: impl FnOnce(&Env)) {
    let _log = LogOnFailure(&env.node);
    case(env);
    env.assert_alive("after the case");
    env.assert_no_panic();
}

/// Runs `case` on the shared node, in its turn.
fn on_shared_node(case: impl FnOnce(&Env)) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    run(SHARED.get_or_init(Env::start_shared), case);
}

// ---- overflow (a node of its own) -----------------------------------------------------------

/// Issuing beyond u128::MAX: the receipt says `overflow` and nothing changes. The supply is
/// saturated too: issuing 1 to anyone else overflows and creates nothing.
#[test]
fn issuing_past_u128_max_overflows_and_changes_nothing() {
    let env = Env::start();
    run(&env, |env| {
        let t = env.treasury.address();
        assert_eq!(env.balance(&t), u128::MAX, "setup minted u128::MAX");
        let one_more = env.tx(&env.node.issuer, Payload::Issue { to: t, amount: 1 });
        let (s, v) = env.submit(&one_more, true);
        assert_eq!(committed_status("issue 1 over u128::MAX", (s, v.clone())), "overflow");
        assert_eq!(v["receipt"]["code"], 3, "{v}");
        assert_eq!(v["receipt"]["events"], json!([]), "a failed receipt has no events: {v}");
        assert_eq!(env.balance(&t), u128::MAX, "balance unchanged after overflow");

        let other = fresh_address();
        let to_other = env.tx(&env.node.issuer, Payload::Issue { to: other, amount: 1 });
        assert_eq!(committed_status("issue 1 to a fresh account", env.submit(&to_other, true)), "overflow");
        assert!(!env.account(&other).2, "the recipient of an overflowing issue must not exist");
    });
}

// ---- malformed and wrongly typed bodies -----------------------------------------------------

#[test]
fn malformed_json_submissions_are_refused_as_malformed_json() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let hexed = hex::encode(t.encode());
        let bodies = [
            format!("{{\"tx\": \"{hexed}\""),
            format!("{{tx: \"{hexed}\"}}"),
            format!("{{\"tx\": \"{hexed}\",}}"),
            "not json".into(),
            "{".into(),
            String::new(),
        ];
        for body in bodies {
            let what = format!("malformed JSON {:?}", &body[..body.len().min(20)]);
            expect_error(&what, env.post_json("/v1/transactions", body), 400, "malformed_json");
        }
        env.assert_not_committed("malformed JSON", &t.id());
    });
}

#[test]
fn malformed_json_batches_are_refused_as_malformed_json() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let hexed = hex::encode(t.encode());
        for body in [format!("{{\"txs\": [\"{hexed}\""), format!("{{\"txs\": [\"{hexed}\",]}}"), "[".into()] {
            let what = format!("malformed batch JSON {:?}", &body[..body.len().min(20)]);
            expect_error(&what, env.post_json("/v1/transactions/batch", body), 400, "malformed_json");
        }
        env.assert_not_committed("malformed batch JSON", &t.id());
    });
}

/// POSTs each `(path, body)` and expects `invalid_request`.
fn assert_invalid_requests(env: &Env, cases: &[(&str, Value)]) {
    for (path, body) in cases {
        expect_error(&format!("POST {path} {body}"), env.post_json(path, body.to_string()), 400, "invalid_request");
    }
}

#[test]
fn submissions_with_wrong_json_types_are_invalid_requests() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let hexed = hex::encode(t.encode());
        assert_invalid_requests(
            env,
            &[
                ("/v1/transactions", json!({ "tx": 5 })),
                ("/v1/transactions", json!({ "tx": [hexed] })),
                ("/v1/transactions", json!({ "tx": null })),
                ("/v1/transactions", json!({})),
                ("/v1/transactions", json!([hexed])),
                ("/v1/transactions", json!(hexed)),
                ("/v1/transactions", json!({ "tx": hexed, "fee": 1 })),
            ],
        );
        env.assert_not_committed("wrong types", &t.id());
    });
}

#[test]
fn batches_with_wrong_json_types_are_invalid_requests() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let hexed = hex::encode(t.encode());
        assert_invalid_requests(
            env,
            &[
                ("/v1/transactions/batch", json!({ "txs": "x" })),
                ("/v1/transactions/batch", json!({ "txs": [5] })),
                ("/v1/transactions/batch", json!({ "txs": [hexed], "priority": "high" })),
                ("/v1/transactions/batch", json!({ "tx": hexed })),
                ("/v1/transactions/batch", json!([[hexed]])),
            ],
        );
        env.assert_not_committed("wrong types in a batch", &t.id());
    });
}

/// A good body with a bad `wait` is refused before admission.
#[test]
fn a_bad_wait_parameter_is_an_invalid_request() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let hexed = hex::encode(t.encode());
        let (s, v) = env.post_json("/v1/transactions?wait=soon", json!({ "tx": hexed }).to_string());
        expect_error("wait=soon", (s, v), 400, "invalid_request");
        let (s, v) = env.post_json("/v1/transactions?wait=commit&wait=none", json!({ "tx": hexed }).to_string());
        expect_error("wait given twice", (s, v), 400, "invalid_request");
        env.assert_not_committed("bad wait", &t.id());
    });
}

// ---- sizes ----------------------------------------------------------------------------------

#[test]
fn a_body_over_4_mib_is_refused_as_body_too_large() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        // Valid JSON wrapping a valid transaction, padded past the body limit.
        let mut body = format!("{{\"tx\": \"{}\", \"pad\": \"", hex::encode(t.encode())).into_bytes();
        body.resize(MAX_BODY_BYTES + 1 - 2, b'a');
        body.extend_from_slice(b"\"}");
        assert_eq!(body.len(), MAX_BODY_BYTES + 1);
        expect_error("body over 4 MiB", env.post_json("/v1/transactions", body.clone()), 413, "body_too_large");
        let batch = env.post_json("/v1/transactions/batch", body.clone());
        expect_error("batch body over 4 MiB", batch, 413, "body_too_large");
        expect_error("raw body over 4 MiB", env.post_bytes("/v1/transactions", body), 413, "body_too_large");
        env.assert_not_committed("oversize body", &t.id());
    });
}

/// A transaction's encoding, and the same padded with zeros to `n` bytes.
fn tx_padded_to(env: &Env) -> (SignedTx, impl Fn(usize) -> Vec<u8>) {
    let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
    let raw = t.encode();
    assert!(raw.len() < MAX_TX_BYTES);
    let padded = move |n: usize| {
        let mut r = raw.clone();
        r.resize(n, 0);
        r
    };
    (t, padded)
}

#[test]
fn a_transaction_over_max_tx_bytes_is_refused_as_too_large() {
    on_shared_node(|env| {
        let (t, padded) = tx_padded_to(env);
        let over = padded(MAX_TX_BYTES + 1);
        expect_error("tx of 2049 bytes", env.submit_raw(&over, false), 413, "transaction_too_large");
        expect_error("raw tx of 2049 bytes", env.post_bytes("/v1/transactions", over), 413, "transaction_too_large");
        expect_error("tx of 64 KiB", env.submit_raw(&padded(64 * 1024), false), 413, "transaction_too_large");
        env.assert_not_committed("oversize tx", &t.id());
    });
}

/// Exactly at the limit the size passes, and the trailing bytes are a decoding error.
#[test]
fn a_transaction_padded_to_exactly_max_tx_bytes_is_malformed() {
    on_shared_node(|env| {
        let (t, padded) = tx_padded_to(env);
        expect_error("tx of 2048 bytes", env.submit_raw(&padded(MAX_TX_BYTES), false), 400, "malformed_transaction");
        env.assert_not_committed("tx at the size limit", &t.id());
    });
}

// ---- undecodable transactions ---------------------------------------------------------------

#[test]
fn transaction_text_that_is_not_hex_is_malformed() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let hexed = hex::encode(t.encode());
        for bad in ["zz", "abc", "0xg0", "ab cd", "é"] {
            let body = json!({ "tx": bad }).to_string();
            let what = format!("non-hex {bad:?}");
            expect_error(&what, env.post_json("/v1/transactions", body), 400, "malformed_transaction");
        }
        // An odd-length hex string (a truncated hex digit).
        let body = json!({ "tx": &hexed[..hexed.len() - 1] }).to_string();
        expect_error("odd hex", env.post_json("/v1/transactions", body), 400, "malformed_transaction");
        env.assert_not_committed("non-hex", &t.id());
    });
}

#[test]
fn a_truncated_transaction_is_malformed() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let raw = t.encode();
        let truncations = [0, 1, raw.len() / 2, raw.len() - 2, raw.len() - 1];
        for n in truncations {
            let what = format!("tx truncated to {n} of {} bytes", raw.len());
            expect_error(&what, env.submit_raw(&raw[..n], false), 400, "malformed_transaction");
            let raw_post = env.post_bytes("/v1/transactions", raw[..n].to_vec());
            expect_error(&format!("raw {what}"), raw_post, 400, "malformed_transaction");
        }
        env.assert_not_committed("truncated", &t.id());
    });
}

#[test]
fn trailing_bytes_after_a_transaction_are_malformed() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let mut trailing = t.encode();
        trailing.push(0);
        expect_error("one trailing byte", env.submit_raw(&trailing, false), 400, "malformed_transaction");
        env.assert_not_committed("trailing bytes", &t.id());
    });
}

/// The batch endpoint answers 200 with one verdict per item.
#[test]
fn a_batch_of_undecodable_items_gets_malformed_transaction_for_each() {
    on_shared_node(|env| {
        let t = env.tx(&env.treasury, transfer(fresh_address(), 1));
        let raw = t.encode();
        let hexed = hex::encode(&raw);
        let body = json!({ "txs": ["zz", hex::encode(&raw[..raw.len() - 1]), &hexed[..hexed.len() - 1]] }).to_string();
        let (s, v) = env.post_json("/v1/transactions/batch", body);
        assert_eq!(s, 200, "batch of bad items: {v}");
        let codes: Vec<_> = v["results"].as_array().unwrap().iter().map(|r| r["code"].clone()).collect();
        assert_eq!(codes, vec![json!("malformed_transaction"); 3], "{v}");
        env.assert_not_committed("batch of undecodable items", &t.id());
    });
}

// ---- signatures, chain, suite, expiry, replay -----------------------------------------------

/// Forged signatures over a transfer are refused, alone and in a batch; they do not poison its
/// id, so the genuine transaction still commits afterwards.
#[test]
fn forged_signatures_are_refused_and_the_genuine_transaction_still_commits() {
    on_shared_node(|env| {
        let to = fresh_address();
        let good = env.tx(&env.treasury, transfer(to, 3));
        // Flip the lowest bit of the signature's last byte: still canonical DER, no longer valid.
        let mut flipped = good.encode();
        *flipped.last_mut().unwrap() ^= 1;
        let decoded = <SignedTx as fdl_types::Decode>::decode(&flipped).expect("a flipped bit in s stays valid DER");
        assert!(decoded.id() == good.id() && decoded.verify().is_err());
        expect_error("flipped signature bit", env.submit_raw(&flipped, false), 400, "bad_signature");
        expect_error("flipped signature bit (wait)", env.submit_raw(&flipped, true), 400, "bad_signature");
        let raw_post = env.post_bytes("/v1/transactions", flipped.clone());
        expect_error("raw flipped signature", raw_post, 400, "bad_signature");

        // A genuine signature by the same key over another body.
        let other = env.tx(&env.treasury, transfer(to, 4));
        let swapped = SignedTx::new(good.body.clone(), other.signature.clone());
        expect_error("signature of another body", env.submit(&swapped, false), 400, "bad_signature");
        // A signature by another key over this very body.
        let stranger = KeyPair::generate(Suite::Sm);
        let foreign = SignedTx::new(good.body.clone(), stranger.sign(&good.body.signing_bytes()).unwrap());
        expect_error("signature by another key", env.submit(&foreign, false), 400, "bad_signature");

        // Batch: one verdict each.
        let body = json!({ "txs": [hex::encode(&flipped), hex::encode(swapped.encode())] }).to_string();
        let (s, v) = env.post_json("/v1/transactions/batch", body);
        assert_eq!(s, 200, "batch of forgeries: {v}");
        assert_eq!(v["results"][0]["code"], "bad_signature", "{v}");
        assert_eq!(v["results"][1]["code"], "bad_signature", "{v}");

        env.assert_not_committed("bad signature", &good.id());
        env.assert_alive("after forgeries");
        assert!(!env.account(&to).2, "forged transfers must move nothing");
        // The forgeries did not poison the id: the genuine transaction still goes through.
        assert_eq!(committed_status("genuine tx after forgeries", env.submit(&good, true)), "ok");
        assert_eq!(env.balance(&to), 3);
    });
}

#[test]
fn a_transaction_for_another_chain_is_refused_as_wrong_chain_id() {
    on_shared_node(|env| {
        let to = fresh_address();
        let h = env.height();
        let other_chain = build_tx(&env.treasury, &format!("{}-fork", env.chain_id), h + 100, transfer(to, 1)).unwrap();
        expect_error("wrong chain id", env.submit(&other_chain, false), 400, "wrong_chain_id");
        env.assert_not_committed("wrong chain id", &other_chain.id());
        assert!(!env.account(&to).2);
    });
}

#[test]
fn an_ed25519_transaction_on_an_sm_chain_is_refused_as_wrong_suite() {
    on_shared_node(|env| {
        let to = fresh_address();
        let h = env.height();
        let ed = KeyPair::generate(Suite::Intl);
        let ed_tx = build_tx(&ed, &env.chain_id, h + 100, transfer(to, 1)).unwrap();
        expect_error("Ed25519 tx on an SM chain", env.submit(&ed_tx, false), 400, "wrong_suite");
        expect_error("raw Ed25519 tx", env.post_bytes("/v1/transactions", ed_tx.encode()), 400, "wrong_suite");
        env.assert_not_committed("wrong suite", &ed_tx.id());
        assert!(!env.account(&to).2);
    });
}

#[test]
fn an_expired_transaction_is_refused_as_expired() {
    on_shared_node(|env| {
        env.node.wait_height(3, Duration::from_secs(30));
        let to = fresh_address();
        let expired = build_tx(&env.treasury, &env.chain_id, 1, transfer(to, 1)).unwrap();
        expect_error("expiry height 1 at height >= 3", env.submit(&expired, false), 400, "expired");
        expect_error("expired (wait)", env.submit(&expired, true), 400, "expired");
        env.assert_not_committed("expired", &expired.id());
        assert!(!env.account(&to).2);
    });
}

#[test]
fn an_expiry_too_far_ahead_is_refused_as_expiry_too_far() {
    on_shared_node(|env| {
        let to = fresh_address();
        let h = env.height();
        let far = build_tx(&env.treasury, &env.chain_id, h + 1_000_000, transfer(to, 1)).unwrap();
        expect_error("expiry height + 1,000,000", env.submit(&far, false), 400, "expiry_too_far");
        let max = build_tx(&env.treasury, &env.chain_id, u64::MAX, transfer(to, 1)).unwrap();
        expect_error("expiry u64::MAX", env.submit(&max, false), 400, "expiry_too_far");
        env.assert_not_committed("expiry too far", &far.id());
        assert!(!env.account(&to).2);
    });
}

#[test]
fn a_committed_transaction_sent_again_is_refused_as_replayed() {
    on_shared_node(|env| {
        let to = fresh_address();
        let t = env.tx(&env.treasury, transfer(to, 7));
        assert_eq!(committed_status("first submission", env.submit(&t, true)), "ok");
        expect_error("same bytes again", env.submit(&t, false), 409, "replayed");
        expect_error("same bytes again (wait)", env.submit(&t, true), 409, "replayed");
        expect_error("same bytes again (raw)", env.post_bytes("/v1/transactions", t.encode()), 409, "replayed");
        // Re-signing the same body gives new bytes (SM2 is randomized) but the same id.
        let resigned = t.body.clone().sign(&env.treasury).unwrap();
        assert_eq!(resigned.id(), t.id());
        expect_error("same body re-signed", env.submit(&resigned, false), 409, "replayed");
        let (s, v) = env.post_json("/v1/transactions/batch", json!({ "txs": [hex::encode(t.encode())] }).to_string());
        assert_eq!((s, &v["results"][0]["code"]), (200, &json!("replayed")), "batch replay: {v}");
        assert_eq!(env.balance(&to), 7, "executed once");
    });
}

/// Twice in quick succession while the first is still pending, then again after its commit.
#[test]
fn a_transaction_sent_twice_while_pending_executes_once() {
    on_shared_node(|env| {
        let to = fresh_address();
        let t2 = env.tx(&env.treasury, transfer(to, 11));
        let (s, v) = env.submit(&t2, false);
        assert_eq!((s, v["status"].as_str()), (202, Some("pending")), "first of two: {v}");
        let (s, v) = env.submit(&t2, false);
        assert_eq!(s, 409, "second of two: {v}");
        assert!(matches!(v["code"].as_str(), Some("already_pending" | "replayed")), "second of two: {v}");
        assert_eq!(env.wait_committed(&t2.id()), "ok");
        expect_error("after commit", env.submit(&t2, false), 409, "replayed");
        assert_eq!(env.balance(&to), 11, "the transaction executed once");
    });
}

// ---- amounts --------------------------------------------------------------------------------

#[test]
fn an_overdraft_commits_as_insufficient_balance_and_moves_nothing() {
    on_shared_node(|env| {
        let a = KeyPair::generate(Suite::Sm);
        env.node.certify(&a);
        let b = fresh_address();
        env.fund(&a.address(), 1_000);
        let over = env.tx(&a, transfer(b, 5_000));
        let (s, v) = env.submit(&over, true);
        assert_eq!(committed_status("overdraft", (s, v.clone())), "insufficient_balance");
        assert_eq!(v["receipt"]["code"], 1, "{v}");
        assert_eq!(env.account(&a.address()), (1_000, 1, true), "sender balance unchanged (its sent counter advances)");
        assert!(!env.account(&b).2, "recipient not created");
        let (s, v) = env.get(&format!("/v1/transactions/{}", over.id()));
        assert_eq!((s, v["receipt"]["status"].as_str()), (200, Some("insufficient_balance")), "{v}");
        // Exactly the balance plus one is still an overdraft.
        let plus_one = env.tx(&a, transfer(b, 1_001));
        assert_eq!(committed_status("balance + 1", env.submit(&plus_one, true)), "insufficient_balance");
        assert_eq!(env.balance(&a.address()), 1_000);
    });
}

/// `payload`, signed by `key`, is refused as `zero_amount` with and without waiting.
fn assert_zero_amount_refused(env: &Env, what: &str, key: &KeyPair, payload: Payload) {
    let t = env.tx(key, payload);
    expect_error(what, env.submit(&t, false), 400, "zero_amount");
    expect_error(&format!("{what} (wait)"), env.submit(&t, true), 400, "zero_amount");
    env.assert_not_committed(what, &t.id());
}

#[test]
fn a_transfer_of_zero_is_refused_as_zero_amount() {
    on_shared_node(|env| {
        let to = fresh_address();
        assert_zero_amount_refused(env, "transfer 0", &env.treasury, transfer(to, 0));
        assert!(!env.account(&to).2);
    });
}

#[test]
fn an_issue_of_zero_is_refused_as_zero_amount() {
    on_shared_node(|env| {
        let to = fresh_address();
        assert_zero_amount_refused(env, "issue 0", &env.node.issuer, Payload::Issue { to, amount: 0 });
        assert!(!env.account(&to).2);
    });
}

#[test]
fn a_burn_of_zero_is_refused_as_zero_amount() {
    on_shared_node(|env| {
        assert_zero_amount_refused(env, "burn 0", &env.node.issuer, Payload::Burn { amount: 0 });
    });
}

// ---- queries --------------------------------------------------------------------------------

/// An unknown account: 404 with the proof of absence, which the SDK verifies.
#[test]
fn an_unknown_account_is_not_found_with_a_proof_of_absence() {
    on_shared_node(|env| {
        let unknown = fresh_address();
        let v = expect_error("unknown account", env.get(&format!("/v1/accounts/{unknown}")), 404, "account_not_found");
        let proof = v["account"]["proof"].as_str().unwrap_or_else(|| panic!("no account.proof: {v}"));
        assert!(!proof.is_empty() && hex::decode(proof).is_ok(), "proof is hex: {v}");
        assert_eq!(v["account"]["balance"], "0", "{v}");
        assert_eq!(v["account"]["address"], unknown.to_hex(), "{v}");
        assert_eq!(env.account(&unknown), (0, 0, false), "the absence proof verifies");
        // Also with a 0x prefix.
        let r = env.get(&format!("/v1/accounts/0x{unknown}"));
        expect_error("unknown account, 0x", r, 404, "account_not_found");
    });
}

#[test]
fn a_malformed_address_is_invalid_address() {
    on_shared_node(|env| {
        for bad in [
            "xyz",
            "0x",
            "0123456789abcdef0123456789abcdef0123456",
            "0123456789abcdef0123456789abcdef012345678",
            "g".repeat(40).as_str(),
        ] {
            let what = format!("address {bad:?}");
            expect_error(&what, env.get(&format!("/v1/accounts/{bad}")), 400, "invalid_address");
        }
    });
}

#[test]
fn a_malformed_transaction_hash_is_invalid_hash() {
    on_shared_node(|env| {
        for bad in ["xyz", "00", &"0".repeat(63), &"0".repeat(65), &"z".repeat(64)] {
            expect_error(&format!("hash {bad:?}"), env.get(&format!("/v1/transactions/{bad}")), 400, "invalid_hash");
        }
    });
}

#[test]
fn an_unknown_transaction_hash_is_not_found() {
    on_shared_node(|env| {
        let r = env.get(&format!("/v1/transactions/{}", "ab".repeat(32)));
        expect_error("unknown tx hash", r, 404, "tx_not_found");
    });
}

#[test]
fn a_block_beyond_the_tip_is_not_found() {
    on_shared_node(|env| {
        for h in [1_000_000_000u64, u64::MAX] {
            expect_error(&format!("block {h}"), env.get(&format!("/v1/blocks/{h}")), 404, "block_not_found");
        }
    });
}

#[test]
fn a_malformed_block_height_is_invalid_height() {
    on_shared_node(|env| {
        for bad in ["abc", "-1", "1.5", "18446744073709551616"] {
            expect_error(&format!("block {bad:?}"), env.get(&format!("/v1/blocks/{bad}")), 400, "invalid_height");
        }
    });
}

#[test]
fn unknown_routes_are_not_found() {
    on_shared_node(|env| {
        for path in ["/v1/nope", "/v2/status", "/", "/v1/accounts", "/v1/accounts/a/b", "/v1/transactions/batch/x"] {
            expect_error(&format!("GET {path}"), env.get(path), 404, "not_found");
        }
        let r = env.request(Method::POST, "/v1/nope", Some("application/json"), Some(b"{}".to_vec()));
        expect_error("POST /v1/nope", r, 404, "not_found");
    });
}

/// Percent-encoded bytes that are not UTF-8.
#[test]
fn path_parameters_that_are_not_utf8_are_refused_as_invalid() {
    on_shared_node(|env| {
        expect_error("address %ff", env.get("/v1/accounts/%ff"), 400, "invalid_address");
        expect_error("hash %ff", env.get("/v1/transactions/%ff"), 400, "invalid_hash");
        expect_error("height %ff", env.get("/v1/blocks/%ff"), 400, "invalid_height");
    });
}

#[test]
fn a_known_route_with_the_wrong_method_is_method_not_allowed() {
    on_shared_node(|env| {
        let wrong_methods = [
            (Method::POST, "/v1/status"),
            (Method::DELETE, "/v1/transactions"),
            (Method::GET, "/v1/transactions"),
            (Method::GET, "/v1/transactions/batch"),
            (Method::PUT, "/v1/accounts/00"),
        ];
        for (m, path) in wrong_methods {
            let what = format!("{m} {path}");
            expect_error(&what, env.request(m, path, None, None), 405, "method_not_allowed");
        }
    });
}

/// The audit log: extreme ranges answer, never fail; inverted ranges and unknown kinds are
/// refused with 400 before any scan (issue 11, item 7).
#[test]
fn audit_queries_with_extreme_or_inverted_ranges_answer() {
    on_shared_node(|env| {
        let max = u64::MAX;
        let long = "o".repeat(300);
        for q in [
            format!("from_ms={max}"),
            format!("to_ms=0&from_ms={max}"),
            "to_ms=0".to_string(),
            format!("from_height={max}"),
            format!("from_height={max}&to_height=0"),
            "from_height=0&to_height=0".to_string(),
            format!("to_height={max}&from_ms=0&to_ms={max}"),
            "limit=0".to_string(),
            format!("limit={max}"),
            "account=zz".to_string(),
            "account=0x".to_string(),
            format!("org={long}"),
            format!("account={long}&local=false"),
            "kind=.".to_string(),
        ] {
            let (status, v) = env.get(&format!("/v1/audit?{q}"));
            let refused = match q.as_str() {
                "kind=." => Some("unknown_kind"),
                _ if q.starts_with("to_ms=0&from_ms=") || q.starts_with(&format!("from_height={max}&to_height=0")) => {
                    Some("invalid_range")
                }
                _ => None,
            };
            match refused {
                Some(code) => {
                    assert_eq!(status, 400, "audit?{q}: {v}");
                    assert_eq!(v["code"], code, "audit?{q}: {v}");
                }
                None => {
                    assert_eq!(status, 200, "audit?{q}: {v}");
                    assert!(v["records"].is_array(), "audit?{q}: {v}");
                }
            }
        }
    });
}

#[test]
fn audit_queries_with_unparsable_parameters_are_invalid_requests() {
    on_shared_node(|env| {
        let max = u64::MAX;
        for q in ["limit=-1", "from_ms=x", &format!("to_height={max}0"), "local=maybe", "nope=1"] {
            expect_error(&format!("audit?{q}"), env.get(&format!("/v1/audit?{q}")), 400, "invalid_request");
        }
    });
}

#[test]
fn validators_at_a_height_without_a_block_are_not_found() {
    on_shared_node(|env| {
        for h in ["0", &u64::MAX.to_string()] {
            let r = env.get(&format!("/v1/validators?height={h}"));
            expect_error(&format!("validators?height={h}"), r, 404, "block_not_found");
        }
    });
}

#[test]
fn an_unknown_proposal_is_not_found() {
    on_shared_node(|env| {
        for id in ["0", &u64::MAX.to_string()] {
            let (status, v) = env.get(&format!("/v1/proposals/{id}"));
            assert_eq!(status, 404, "proposal {id}: {v}");
        }
    });
}

#[test]
fn a_malformed_certificate_hash_is_invalid_hash() {
    on_shared_node(|env| {
        expect_error("certificate zz", env.get("/v1/certificates/zz"), 400, "invalid_hash");
    });
}

// ---- the CLI --------------------------------------------------------------------------------

/// Runs `fdl tx transfer` with a key file, returning (exit code, stdout, stderr).
fn cli_transfer(env: &Env, key: &Path, to: &Address, amount: u128, wait: bool) -> (i32, String, String) {
    let (key, to, amount) = (key.to_str().unwrap(), to.to_hex(), amount.to_string());
    let mut args =
        vec!["tx", "transfer", "--rpc", env.node.rpc.as_str(), "--key", key, "--to", &to, "--amount", &amount];
    if wait {
        args.push("--wait");
    }
    fdl(&args)
}

/// `fdl tx transfer` with the unusable key file `path` fails, with and without `--wait`, naming
/// the file; nothing is sent, and no block since carries a transaction.
fn assert_cli_refuses_key_file(env: &Env, path: &Path) {
    let to = fresh_address();
    let before = env.height();
    let name = path.file_name().unwrap().to_str().unwrap();
    for wait in [false, true] {
        let (code, out, err) = cli_transfer(env, path, &to, 1, wait);
        assert_ne!(code, 0, "{name} (wait {wait}): must fail; stdout {out} stderr {err}");
        assert!(!out.contains("transaction "), "{name}: nothing may be sent: {out}");
        assert!(err.contains(name) && err.contains("key"), "{name}: stderr should name the key file: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    env.assert_alive(&format!("after the key file {name}"));
    assert!(!env.account(&to).2, "nothing was transferred");
    // No block since then carries a transaction.
    let now = env.height();
    for h in before + 1..=now {
        let (s, b) = env.get(&format!("/v1/blocks/{h}"));
        assert_eq!((s, &b["header"]["tx_count"]), (200, &json!(0)), "block {h}: {b}");
    }
}

#[test]
fn cli_transfer_with_a_garbled_pem_key_fails_naming_the_file() {
    on_shared_node(|env| {
        let garbled = env.node.key_path("garbled.pem");
        std::fs::write(
            &garbled,
            b"-----BEGIN PRIVATE KEY-----\n\x00\xffnot base64 at all!!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_cli_refuses_key_file(env, &garbled);
    });
}

#[test]
fn cli_transfer_with_a_key_file_of_random_bytes_fails_naming_the_file() {
    on_shared_node(|env| {
        let random = env.node.key_path("random.pem");
        std::fs::write(&random, (0..=255u8).cycle().take(3000).collect::<Vec<_>>()).unwrap();
        assert_cli_refuses_key_file(env, &random);
    });
}

#[test]
fn cli_transfer_with_an_empty_key_file_fails_naming_the_file() {
    on_shared_node(|env| {
        let empty = env.node.key_path("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        assert_cli_refuses_key_file(env, &empty);
    });
}

#[test]
fn cli_transfer_with_a_missing_key_file_fails_naming_the_file() {
    on_shared_node(|env| {
        let missing = env.node.key_path("missing.pem");
        assert_cli_refuses_key_file(env, &missing);
    });
}

/// A certified key written to `NAME.pem` (its certificate beside it, `NAME.crt`), funded with
/// `funds` from the treasury.
fn cli_sender(env: &Env, name: &str, funds: u128) -> (PathBuf, KeyPair) {
    let path = env.node.key_path(&format!("{name}.pem"));
    let key = new_key(&path, Suite::Sm);
    let cert = env.node.certify(&key);
    std::fs::write(env.node.key_path(&format!("{name}.crt")), fdl_pki::to_pem(&cert).unwrap()).unwrap();
    env.fund(&key.address(), funds);
    (path, key)
}

#[test]
fn cli_transfer_wait_exits_1_on_an_overdraft() {
    on_shared_node(|env| {
        let (a_path, a) = cli_sender(env, "cli-overdraft", 100);
        let b = fresh_address();
        let (code, out, err) = cli_transfer(env, &a_path, &b, 1_000, true);
        assert_eq!(code, 1, "an overdraft with --wait exits 1: {out} {err}");
        assert!(out.contains("insufficient_balance"), "{out}");
        assert_eq!(env.balance(&a.address()), 100);
        assert!(!env.account(&b).2);
    });
}

#[test]
fn cli_transfer_wait_exits_0_once_committed() {
    on_shared_node(|env| {
        let (a_path, a) = cli_sender(env, "cli-good", 100);
        let b = fresh_address();
        let (code, out, err) = cli_transfer(env, &a_path, &b, 40, true);
        assert_eq!(code, 0, "a good transfer with --wait exits 0: {out} {err}");
        assert!(out.contains("committed at height") && out.contains("ok"), "{out}");
        assert_eq!(env.balance(&a.address()), 60);
        assert_eq!(env.balance(&b), 40);
    });
}

/// A zero amount is refused by the CLI before anything is sent, in words (exit 2, a usage
/// error); the node's own refusal (`zero_amount`) is covered through the API above.
#[test]
fn cli_transfer_of_zero_is_refused_before_sending_saying_why() {
    on_shared_node(|env| {
        let (a_path, a) = cli_sender(env, "cli-zero", 100);
        let b = fresh_address();
        let (code, out, err) = cli_transfer(env, &a_path, &b, 0, true);
        assert_eq!(code, 2, "a zero amount is refused: {out} {err}");
        assert!(err.contains("amount must be a positive integer"), "{err}");
        assert_eq!(env.balance(&a.address()), 100);
        assert!(!env.account(&b).2);
    });
}
