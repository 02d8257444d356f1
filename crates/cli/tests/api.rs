//! The API surface beyond transactions: the WebSocket stream, metrics, status and the OpenAPI
//! document, against a real node process.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::TestNode;
use common::build_tx;
use fdl_crypto::{KeyPair, Suite};
use fdl_types::Payload;
use futures_util::StreamExt as _;

#[test]
fn stream_status_metrics_openapi() {
    let node = TestNode::start(Suite::Sm);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        // Status names the chain, the suite, the height and this node.
        let s: serde_json::Value =
            http.get(format!("{}/v1/status", node.rpc)).send().await.unwrap().json().await.unwrap();
        assert_eq!(s["chain_id"], node.genesis.chain_id.as_str());
        assert_eq!(s["suite"], "sm");
        assert!(s["height"].as_u64().unwrap() >= 1);
        assert_eq!(s["node_id"].as_str().unwrap().len(), 40);
        assert!(s["peers"].is_array());

        // The stream carries the block with our transaction and its event.
        let ws_url = format!("{}/v1/stream", node.rpc.replacen("http", "ws", 1));
        let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
        let to = KeyPair::generate(Suite::Sm).address();
        let tx = build_tx(&node.issuer, &node.genesis.chain_id, 1_000, Payload::Issue { to, amount: 77 }).unwrap();
        let client = node.client();
        let v = client.submit(&tx, true).await.unwrap();
        assert_eq!(v.receipt.as_ref().unwrap().status, "ok");
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(msg)) = ws.next().await {
                let Ok(text) = msg.into_text() else { continue };
                let m: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(m["type"], "block");
                let ids: Vec<String> =
                    m["tx_hashes"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
                if ids.contains(&tx.id().to_hex()) {
                    // The issuer's first transaction also registers its certificate.
                    let events = m["events"].as_array().unwrap();
                    let ev = events.iter().find(|e| e["kind"] == "bank.issued").unwrap();
                    assert_eq!(ev["tx_hash"], tx.id().to_hex());
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "the stream did not deliver the block with the transaction");

        // Metrics are Prometheus text and count the committed transaction.
        let m = http.get(format!("{}/metrics", node.rpc)).send().await.unwrap().text().await.unwrap();
        for name in ["fdl_height", "fdl_txs_committed_total", "fdl_mempool_size", "fdl_peers"] {
            assert!(m.contains(&format!("# TYPE {name} ")), "metric {name} missing:\n{m}");
        }
        let committed: u64 =
            m.lines().find_map(|l| l.strip_prefix("fdl_txs_committed_total ")).unwrap().parse().unwrap();
        assert!(committed >= 1);
        // The process's resident memory, the database file's size, and the signatures verified (the
        // transaction above at least), read when scraped.
        for name in ["fdl_process_resident_memory_bytes", "fdl_db_size_bytes", "fdl_signatures_verified_total"] {
            let v: u64 = m
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("metric {name} missing:\n{m}"))
                .parse()
                .unwrap();
            assert!(v > 0, "{name} is 0");
        }

        // The OpenAPI document is JSON and lists every route the node serves.
        let doc: serde_json::Value =
            http.get(format!("{}/v1/openapi.json", node.rpc)).send().await.unwrap().json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for path in [
            "/v1/transactions",
            "/v1/transactions/batch",
            "/v1/transactions/{hash}",
            "/v1/blocks/latest",
            "/v1/blocks/{height}",
            "/v1/accounts/{address}",
            "/v1/status",
            "/v1/validators",
            "/v1/evidence",
            "/v1/members",
            "/v1/certificates/{hash}",
            "/v1/revocations",
            "/v1/proposals",
            "/v1/proposals/{id}",
            "/v1/acl",
            "/v1/params",
            "/v1/audit",
            "/v1/stream",
            "/metrics",
            "/v1/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
        }
    });
}

/// A full mempool refuses what does not fit with `mempool_full` (back-pressure), answers 429
/// when nothing of a batch fits, counts the refusals, and recovers.
#[test]
fn full_mempool_answers_429_and_recovers() {
    let mut node = TestNode::init(Suite::Sm);
    let cfg = node.config();
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("mempool_capacity = 50000", "mempool_capacity = 5")).unwrap();
    node.spawn();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let txs: Vec<_> = (0..12)
            .map(|i| {
                let to = KeyPair::generate(Suite::Sm).address();
                build_tx(&node.issuer, &node.genesis.chain_id, 1_000, Payload::Issue { to, amount: i + 1 }).unwrap()
            })
            .collect();
        let body = |txs: &[fdl_types::SignedTx]| serde_json::json!({ "txs": txs.iter().map(|t| hex::encode(fdl_types::Encode::encode(t))).collect::<Vec<_>>() });
        let http = reqwest::Client::new();
        // Six for a pool of five: a batch larger than the pool could ever hold gets what fits; the sixth is refused.
        let r = http.post(format!("{}/v1/transactions/batch", node.rpc)).json(&body(&txs[..6])).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        let codes: Vec<&serde_json::Value> = v["results"].as_array().unwrap().iter().map(|i| &i["code"]).collect();
        assert!(codes[..5].iter().all(|c| c.is_null()), "{v}");
        assert_eq!(codes[5], "mempool_full");
        // The pool is full: a whole batch refused is a 429 with a retry hint.
        let r = http.post(format!("{}/v1/transactions/batch", node.rpc)).json(&body(&txs[6..])).send().await.unwrap();
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some(), "{:?}", r.headers());
            let v: serde_json::Value = r.json().await.unwrap();
            for item in v["results"].as_array().unwrap() {
                assert_eq!(item["code"], "mempool_full");
            }
        } else {
            // A block took the five in between: what fits was admitted.
            assert_eq!(r.status(), 200);
        }
        let m = http.get(format!("{}/metrics", node.rpc)).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("fdl_txs_throttled_total"), "{m}");
        // Blocks drain the pool; a later transaction goes through and commits.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let late = build_tx(&node.issuer, &node.genesis.chain_id, 1_000, Payload::Issue { to: KeyPair::generate(Suite::Sm).address(), amount: 99 }).unwrap();
        let v = node.client().submit(&late, true).await.unwrap();
        assert_eq!(v.status, "committed");
    });
}
