//! The API read policy (STD-16.1) at the router: a chain with one member institution and the
//! strict default policy; callers anonymous, with a certificate from the channel
//! ([`fdl_rpc::ClientCertificate`]) or with a signed request from loopback. A refused read is
//! 403 `read_forbidden`, counted, and in the audit log as `api.refused`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_mempool::{Mempool, MempoolConfig};
use fdl_rpc::{ApiLimits, ChainParts, ClientCertificate, Ledger, Metrics, RpcContext};
use fdl_schema::SchemaError;
use fdl_state::StateDb;
use fdl_storage::{RedbStore, Store};
use fdl_types::{
    ChainParams, Genesis, GenesisMember, GenesisValidator, NodeSpec,
    read_policy::{CHAIN_ID_HEADER, KEY_HEADER, SIGNATURE_HEADER, TIME_HEADER, request_message},
};
use serde_json::Value;

const CHAIN: &str = "read-policy-test";

struct NoLedger;

impl Ledger for NoLedger {
    fn nodes_at(&self, _version: u64) -> Result<Vec<NodeSpec>, SchemaError> {
        Ok(vec![])
    }
    fn node_set_keys(&self, _version: u64) -> Result<Vec<Vec<u8>>, SchemaError> {
        Ok(vec![])
    }
    fn contract_query(
        &self,
        _version: u64,
        _q: &fdl_node_api::ContractQuery<'_>,
    ) -> Result<fdl_node_api::QueryOutcome, SchemaError> {
        Err(SchemaError::State("no contracts here".into()))
    }
    fn contract_check(
        &self,
        _version: u64,
        _code: &[u8],
    ) -> Result<Result<fdl_node_api::ModuleCheck, (String, String)>, SchemaError> {
        Err(SchemaError::State("no contracts here".into()))
    }
    fn contract_cache(&self) -> (u64, u64, usize) {
        (0, 0, 0)
    }
}

struct Net {
    router: axum::Router,
    ca: Vec<u8>,
    ca_key: KeyPair,
    _dir: tempfile::TempDir,
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A chain with one institution (Bank A) and the read policy of its genesis (empty: strict).
fn net(read_policy: std::collections::BTreeMap<fdl_types::ReadResource, Vec<String>>) -> Net {
    let suite = Suite::Intl;
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate(suite);
    let ca = fdl_pki::create_ca("Bank A", &ca_key, 365).unwrap();
    let validator = KeyPair::generate(suite);
    let vcert = fdl_pki::issue(&ca, &ca_key, &validator.public_key(), "v0", fdl_pki::Role::Validator, 365).unwrap();
    let genesis = Genesis {
        read_policy,
        chain_id: CHAIN.into(),
        suite,
        genesis_time_ms: now_s() * 1000,
        issuer: ca_key.address(),
        validators: vec![GenesisValidator {
            name: "v0".into(),
            public_key: hex::encode(validator.public_key().to_bytes()),
            power: 1,
            org: Some("Bank A".into()),
            peer_id: None,
            certificate: Some(fdl_pki::to_pem(&vcert).unwrap()),
        }],
        members: vec![GenesisMember { name: "Bank A".into(), ca_cert: fdl_pki::to_pem(&ca).unwrap(), committee: true }],
        regulator: None,
        observers: vec![],
        balances: vec![],
        params: ChainParams::default(),
    };
    genesis.validate().unwrap();
    let genesis = Arc::new(genesis);
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("ledger.redb")).unwrap());
    let state = StateDb::new(store.clone(), suite);
    let writes = fdl_exec::genesis_writes(&genesis).unwrap();
    let p = state.prepare(&writes, 0).unwrap();
    store.write_genesis(genesis.hash(), p.nodes, p.values).unwrap();
    let config = MempoolConfig { capacity: 100, verify_threads: 1, verify_queue: 16, ..MempoolConfig::default() };
    let mempool = Arc::new(Mempool::new(genesis.clone(), store.clone(), config).unwrap());
    let (blocks, _) = tokio::sync::broadcast::channel(fdl_rpc::STREAM_BUFFER);
    let parts = ChainParts { genesis, store, state, mempool, blocks, metrics: Arc::new(Metrics::default()) };
    let ctx = RpcContext {
        parts,
        node_name: "v0".into(),
        node_id: validator.address(),
        peers: Arc::default(),
        role: "validator".into(),
        ledger: Arc::new(NoLedger),
        relay: None,
        cert_expiry_warning_days: 30,
        limits: ApiLimits::default(),
    };
    Net { router: fdl_rpc::router(ctx), ca, ca_key, _dir: dir }
}

impl Net {
    /// A key of Bank A certified with `role`.
    fn member(&self, role: fdl_pki::Role) -> (KeyPair, Vec<u8>) {
        let k = KeyPair::generate(Suite::Intl);
        let c = fdl_pki::issue(&self.ca, &self.ca_key, &k.public_key(), "someone", role, 30).unwrap();
        (k, c)
    }

    async fn send(&self, req: Request<Body>) -> (u16, Value, Response<Body>) {
        let mut r = self.router.clone();
        let resp = tower_service::Service::call(&mut r, req).await.unwrap();
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 24).await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v, Response::from_parts(parts, Body::empty()))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send(Request::get(path).body(Body::empty()).unwrap()).await;
        (s, v)
    }

    async fn get_with_cert(&self, path: &str, cert: &[u8]) -> (u16, Value) {
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        req.extensions_mut().insert(ClientCertificate(Arc::from(cert.to_vec().into_boxed_slice())));
        let (s, v, _) = self.send(req).await;
        (s, v)
    }
}

/// A GET of `path` signed by `key` (sending `cert`, or only the key) for `chain` at `t`, from
/// `peer`.
fn signed(path: &str, key: &KeyPair, cert: Option<&[u8]>, chain: &str, t: u64, peer: Option<&str>) -> Request<Body> {
    let sig = key.sign(&request_message(chain, "GET", path, t)).unwrap();
    let id = cert.map_or_else(|| hex::encode(key.public_key().to_bytes()), hex::encode);
    let mut req = Request::get(path)
        .header(KEY_HEADER, id)
        .header(TIME_HEADER, t.to_string())
        .header(SIGNATURE_HEADER, hex::encode(sig.as_bytes()))
        .body(Body::empty())
        .unwrap();
    if let Some(p) = peer {
        req.extensions_mut().insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
    }
    req
}

fn records(v: &Value, kind: &str) -> Vec<Value> {
    v["records"].as_array().unwrap().iter().filter(|r| r["kind"] == kind).cloned().collect()
}

fn attr<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r["attrs"].as_array()?.iter().find(|a| a[0] == key).and_then(|a| a[1].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_caller_is_refused_the_audit_log_and_an_auditor_reads_it() {
    let n = net(Default::default());
    // Anonymous: refused, with the resource named, and the chain id in a header.
    let (status, body, resp) = n.send(Request::get("/v1/audit").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "read_forbidden");
    assert!(body["message"].as_str().unwrap().contains("audit"), "{body}");
    assert_eq!(resp.headers().get(CHAIN_ID_HEADER).unwrap(), CHAIN);
    // A client of the member institution is a member, but not an auditor.
    let (_, client) = n.member(fdl_pki::Role::Client);
    assert_eq!(n.get_with_cert("/v1/audit", &client).await.0, 403);
    assert_eq!(n.get_with_cert("/v1/status", &client).await.0, 200, "status is for members");
    assert_eq!(n.get("/v1/status").await.0, 403, "and not for anonymous callers");

    // An auditor's certificate on the channel reads the audit log, and the refusals are in it.
    let (auditor_key, auditor) = n.member(fdl_pki::Role::Auditor);
    let (status, v) = n.get_with_cert("/v1/audit?kind=api.refused", &auditor).await;
    assert_eq!(status, 200, "{v}");
    let refused = records(&v, "api.refused");
    assert_eq!(refused.len(), 3, "{v}");
    let first = &refused[0];
    assert_eq!(attr(first, "resource"), Some("audit"));
    assert_eq!(attr(first, "path"), Some("/v1/audit"));
    assert_eq!(attr(first, "caller"), Some("anonymous"));
    assert_eq!(attr(first, "reason"), Some("read_forbidden"));
    assert_eq!(first["local"], true);
    let by_client = &refused[1];
    assert_eq!(attr(by_client, "caller"), Some("client@Bank A"));
    assert_eq!(by_client["org"], "Bank A");
    assert_eq!(attr(by_client, "via"), Some("channel_certificate"));

    // The same auditor by a signed request from loopback.
    let t = now_s();
    let (status, v, _) =
        n.send(signed("/v1/audit", &auditor_key, Some(&auditor), CHAIN, t, Some("127.0.0.1:40000"))).await;
    assert_eq!(status, 200, "{v}");
    // Signed, but from another host, stale, for another chain, or for another path: refused.
    let cases = [
        (signed("/v1/audit", &auditor_key, Some(&auditor), CHAIN, t, Some("192.0.2.7:40000")), 401, "not_loopback"),
        (signed("/v1/audit", &auditor_key, Some(&auditor), CHAIN, t, None), 401, "not_loopback"),
        (signed("/v1/audit", &auditor_key, Some(&auditor), CHAIN, t - 120, Some("127.0.0.1:1")), 401, "stale_request"),
        (
            signed("/v1/audit", &auditor_key, Some(&auditor), "other-chain", t, Some("127.0.0.1:1")),
            401,
            "bad_signature",
        ),
    ];
    for (req, want, code) in cases {
        let (status, v, _) = n.send(req).await;
        assert_eq!((status, v["code"].as_str().unwrap()), (want, code), "{v}");
    }
    let mut wrong_path = signed("/v1/audit", &auditor_key, Some(&auditor), CHAIN, t, Some("127.0.0.1:1"));
    *wrong_path.uri_mut() = "/v1/audit?limit=1".parse().unwrap();
    let (status, v, _) = n.send(wrong_path).await;
    assert_eq!((status, v["code"].as_str().unwrap()), (401, "bad_signature"));
    // A certificate of a CA that is not a member's is refused.
    let other_ca_key = KeyPair::generate(Suite::Intl);
    let other_ca = fdl_pki::create_ca("Bank A", &other_ca_key, 30).unwrap();
    let stranger =
        fdl_pki::issue(&other_ca, &other_ca_key, &auditor_key.public_key(), "x", fdl_pki::Role::Auditor, 30).unwrap();
    let (status, v) = n.get_with_cert("/v1/audit", &stranger).await;
    assert_eq!((status, v["code"].as_str().unwrap()), (401, "bad_certificate"), "{v}");

    // Every refusal is counted.
    let (status, metrics, _) = n.send(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    let line = metrics.as_str().unwrap().lines().find(|l| l.starts_with("fdl_api_read_refusals_total ")).unwrap();
    assert_eq!(line, "fdl_api_read_refusals_total 9", "{line}");
    // And stored: the auditor sees them all.
    let (_, v) = n.get_with_cert("/v1/audit?kind=api.", &auditor).await;
    assert_eq!(records(&v, "api.refused").len(), 9, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_read_by_its_owner_and_administrators_not_by_other_members() {
    let n = net(Default::default());
    let me = KeyPair::generate(Suite::Intl);
    let mine = format!("/v1/accounts/{}", me.address().to_hex());
    let other = format!("/v1/accounts/{}", Address([9; 20]).to_hex());
    // A bare key (signed, without a certificate) reads its own account, not another's.
    let t = now_s();
    let (status, v, _) = n.send(signed(&mine, &me, None, CHAIN, t, Some("127.0.0.1:1"))).await;
    assert_ne!(status, 403, "{v}");
    assert_ne!(status, 401, "{v}");
    let (status, v, _) = n.send(signed(&other, &me, None, CHAIN, t, Some("127.0.0.1:1"))).await;
    assert_eq!((status, v["code"].as_str().unwrap()), (403, "read_forbidden"), "{v}");
    assert!(v["message"].as_str().unwrap().contains("accounts"));
    // Anonymous: refused.
    assert_eq!(n.get(&mine).await.0, 403);
    // An administrator reads any account; a client of an institution that did not register it does not.
    let (_, admin) = n.member(fdl_pki::Role::Admin);
    assert_ne!(n.get_with_cert(&other, &admin).await.0, 403);
    let (_, client) = n.member(fdl_pki::Role::Client);
    assert_eq!(n.get_with_cert(&other, &client).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_resource_is_read_anonymously_and_open_routes_stay_open() {
    use fdl_types::ReadResource;
    let policy = [(ReadResource::Blocks, vec!["public".to_string()])].into_iter().collect();
    let n = net(policy);
    // Blocks are public here: no block yet is 404 or 503, not a refusal.
    let (status, v) = n.get("/v1/blocks/latest").await;
    assert!(status != 403 && status != 401, "{status} {v}");
    assert_eq!(n.get("/v1/proposals").await.0, 403, "governance keeps the strict default");
    assert_eq!(n.get("/v1/openapi.json").await.0, 200);
    // The document says what a refusal looks like on every read route.
    let doc: Value = serde_json::from_str(fdl_rpc::openapi::json()).unwrap();
    for (path, method) in fdl_rpc::ROUTES {
        let responses = &doc["paths"][path][method]["responses"];
        match fdl_rpc::route_access(path, method) {
            Some(fdl_rpc::Access::Read(r)) => {
                let d = responses["403"]["description"].as_str().unwrap_or_default();
                assert!(d.contains("read_forbidden") && d.contains(r.as_str()), "{method} {path}: {d}");
                assert!(responses["401"].is_object(), "{method} {path}");
            }
            Some(_) => assert!(responses["403"].is_null(), "{method} {path}"),
            None => panic!("{method} {path} is not classified"),
        }
    }
}
