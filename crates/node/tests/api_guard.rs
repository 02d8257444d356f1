//! The API against abusive clients, served in this process on 127.0.0.1: header-read timeout,
//! connection and subscriber caps, per-client rate limit (issue 11, item 6); bounded audit scans
//! and cached node-set reads (item 7); admission refusals that a flood cannot push out of the
//! audit log (item 8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{get_on, read_answer, start, subscribe};
use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_rpc::ApiLimits;
use fdl_types::{Credential, Encode, Payload, TxBody};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["code"].as_str().unwrap_or_default().to_string()
}

/// Whether the server closes `s` within `within` (reads until end of stream).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_header_connections_are_closed_after_the_header_timeout() {
    let api = start(Suite::Intl, ApiLimits { header_read_timeout_ms: 500, ..Default::default() }).await;
    let mut half = Vec::new();
    for _ in 0..500 {
        let mut s = TcpStream::connect(api.addr).await.unwrap();
        s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: test\r\nX-Slow: ").await.unwrap();
        half.push(s);
    }
    // A normal request meanwhile succeeds.
    let (status, _, body) = api.get("/v1/status").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain_id"], common::CHAIN);
    let start = Instant::now();
    for s in &mut half {
        assert!(closed_within(s, Duration::from_secs(10)).await, "a half-header connection stayed open");
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(api.addr).await.unwrap();
    assert_eq!(get_on(&mut idle, "/v1/status").await.map(|a| a.0), Some(200));
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle connection stayed open");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused_with_503_json_while_existing_ones_work() {
    let api = start(Suite::Intl, ApiLimits { max_connections: 4, ..Default::default() }).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(api.addr).await.unwrap();
        assert_eq!(get_on(&mut s, "/v1/status").await.map(|a| a.0), Some(200));
        held.push(s);
    }
    for _ in 0..3 {
        let mut extra = TcpStream::connect(api.addr).await.unwrap();
        let (status, body) = get_on(&mut extra, "/v1/status").await.expect("an answer");
        assert_eq!(status, 503, "{body}");
        assert_eq!(code(&body), "too_many_connections");
        assert!(closed_within(&mut extra, Duration::from_secs(5)).await);
    }
    // The connections already served keep working.
    for s in &mut held {
        assert_eq!(get_on(s, "/v1/status").await.map(|a| a.0), Some(200));
    }
    // A closed connection frees its place.
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(api.addr).await.unwrap();
        match get_on(&mut s, "/v1/status").await {
            Some((200, _)) => break,
            other => assert!(Instant::now() < deadline, "no place freed: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_subscribers_beyond_the_cap_are_refused() {
    let api = start(Suite::Intl, ApiLimits { max_stream_subscribers: 2, ..Default::default() }).await;
    let (a, first) = subscribe(api.addr).await;
    let (b, _second) = subscribe(api.addr).await;
    assert_eq!((a, b), (101, 101));
    let (c, mut third) = subscribe(api.addr).await;
    assert_eq!(c, 503);
    // The refused subscriber's answer was read by `subscribe`; ask again for its body.
    let (status, body) = get_on(&mut third, "/v1/stream").await.unwrap_or((0, String::new()));
    assert!(status == 400 || status == 0, "a plain request after the refusal: {status} {body}");
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    let req = "GET /v1/stream HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let (status, body) = read_answer(&mut s).await.unwrap();
    assert_eq!((status, code(&body).as_str()), (503, "too_many_subscribers"), "{body}");
    // Plain requests still work, and a subscriber that leaves frees its place.
    assert_eq!(api.get("/v1/status").await.0, 200);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscribe(api.addr).await.0 != 101 {
        assert!(Instant::now() < deadline, "the place of a subscriber that left was not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_json_with_a_retry_hint() {
    let limits =
        ApiLimits { rate_limit_per_sec: 2, rate_limit_burst: 3, rate_limit_exempt: vec![], ..Default::default() };
    let api = start(Suite::Intl, limits).await;
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(api.get("/v1/status").await);
    }
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    assert!((3..=5).contains(&ok), "{ok} of 10 answered");
    let (status, retry, body) = answers.iter().find(|a| a.0 != 200).unwrap().clone();
    assert_eq!(status, 429);
    assert_eq!(body["code"], "rate_limited");
    assert!(body["message"].as_str().unwrap().contains("retry after"), "{body}");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&secs));
    // After the hinted wait, the client is served again.
    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(api.get("/v1/status").await.0, 200);
    api.stop().await;

    // This host is exempt by default.
    let api = start(Suite::Intl, ApiLimits { rate_limit_per_sec: 1, rate_limit_burst: 1, ..Default::default() }).await;
    for _ in 0..10 {
        assert_eq!(api.get("/v1/status").await.0, 200);
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_refuses_unknown_kinds_and_inverted_ranges() {
    let api = start(Suite::Intl, ApiLimits::default()).await;
    let (status, _, body) = api.get("/v1/audit?kind=bank.transferred").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("unknown_kind")), "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("acl.denied") && msg.contains("identity.refused_at_admission") && msg.contains("gov."));
    for ok in ["acl.denied", "gov.", "identity.refused_at_admission"] {
        assert_eq!(api.get(&format!("/v1/audit?kind={ok}")).await.0, 200, "{ok}");
    }
    for q in ["from_ms=5&to_ms=4", "from_height=5&to_height=4"] {
        let (status, _, body) = api.get(&format!("/v1/audit?{q}")).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_range")), "{q}: {body}");
    }
    assert_eq!(api.get("/v1/audit?from_ms=4&to_ms=4&from_height=1&to_height=1").await.0, 200);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_query_reads_at_most_max_audit_scan_records() {
    for (max_audit_scan, truncated) in [(50, true), (1_000, false)] {
        let api = start(Suite::Intl, ApiLimits { max_audit_scan, ..Default::default() }).await;
        // 200 of this node's records at a height the chain has not reached: every one is read
        // and none matches.
        let records: Vec<(u64, fdl_storage::AuditWrite)> = (0..200u64)
            .map(|i| {
                let view = fdl_types::api::AuditView {
                    height: 7,
                    time_ms: 1_000 + i,
                    tx: None,
                    kind: "identity.refused_at_admission".into(),
                    account: None,
                    org: None,
                    status: Some("certificate_required".into()),
                    attrs: vec![],
                    local: true,
                };
                (1_000 + i, fdl_storage::AuditWrite { keys: vec![], record: serde_json::to_vec(&view).unwrap() })
            })
            .collect();
        api.store.append_local_audit(&records, 1_000_000).unwrap();
        let (status, _, body) = api.get("/v1/audit").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["records"].as_array().unwrap().len(), 0);
        assert_eq!(body["truncated"], truncated, "max_audit_scan {max_audit_scan}: {body}");
        api.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_validators_check_certificates_once_per_state_version() {
    let api = start(Suite::Sm, ApiLimits::default()).await;
    for _ in 0..10 {
        let (s1, _, status) = api.get("/v1/status").await;
        let (s2, _, validators) = api.get("/v1/validators").await;
        let (s3, _, at_one) = api.get("/v1/validators?height=1").await;
        assert_eq!((s1, s2, s3), (200, 200, 200));
        assert_eq!(status["validators"], 1);
        assert_eq!(validators["validators"][0]["name"], "v0");
        assert_eq!(at_one, validators);
    }
    assert_eq!(api.node_set_reads.load(std::sync::atomic::Ordering::SeqCst), 1, "one state version, one read");
    let (status, _, members) = api.get("/v1/members").await;
    assert_eq!(status, 200);
    assert_eq!(members[0]["nodes"][0]["certificate"]["role"], "validator", "{members}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_senders_refusals_does_not_push_out_another_senders() {
    let api = start(Suite::Intl, ApiLimits::default()).await;
    // Neither sender holds a certificate: the permissioned chain refuses both at admission.
    let tx = |key: &KeyPair, nonce: u64| {
        TxBody {
            chain_id: common::CHAIN.into(),
            signer: key.public_key(),
            credential: Credential::None,
            nonce,
            expiry_height: 50,
            payload: Payload::Transfer { to: Address([7; 20]), amount: 1, memo: String::new() },
        }
        .sign(key)
        .unwrap()
        .encode()
    };
    let (genuine, flooder) = (KeyPair::generate(Suite::Intl), KeyPair::generate(Suite::Intl));
    let refused = api.mempool.admit(&tx(&genuine, 1)).await.unwrap_err();
    assert_eq!(refused.code(), "certificate_required");
    let same = tx(&flooder, 1);
    let batch: Vec<&[u8]> = vec![same.as_slice(); 2_000];
    for _ in 0..50 {
        for v in api.mempool.admit_many(&batch).await {
            assert_eq!(v.unwrap_err().code(), "certificate_required");
        }
    }
    let (status, _, body) = api.get("/v1/audit?kind=identity.refused_at_admission").await;
    assert_eq!(status, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    let of =
        |k: &KeyPair| records.iter().filter(|r| r["account"] == k.address().to_hex()).cloned().collect::<Vec<Value>>();
    let attr = |r: &Value, name: &str| {
        r["attrs"].as_array().unwrap().iter().find(|a| a[0] == name).map(|a| a[1].as_str().unwrap().to_string())
    };
    let g = of(&genuine);
    assert_eq!(g.len(), 1, "the genuine refusal is listed: {records:?}");
    assert_eq!(g[0]["status"], "certificate_required");
    assert_eq!(attr(&g[0], "count").as_deref(), Some("1"));
    let f = of(&flooder);
    assert!(!f.is_empty() && f.len() <= 10, "one record per store, not one per refusal: {}", f.len());
    let total: u64 = f.iter().map(|r| attr(r, "count").unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, 100_000);
    api.stop().await;
}
