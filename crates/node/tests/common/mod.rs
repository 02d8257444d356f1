//! A node's chain and API in this process, on 127.0.0.1, without consensus: a permissioned
//! genesis (one member institution, one certified validator) opened by [`fdl_node::Chain`], and
//! the API served by [`fdl_rpc::serve_on`] with the limits a test chooses.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use fdl_crypto::{KeyPair, Signer, Suite};
use fdl_mempool::{Mempool, MempoolConfig};
use fdl_node::{Chain, ChainParts};
use fdl_rpc::{ApiLimits, Ledger, Metrics, RpcContext};
use fdl_state::StateDb;
use fdl_storage::{RedbStore, Store};
use fdl_types::{ChainParams, Genesis, GenesisMember, GenesisValidator, NodeSpec};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
};

pub const CHAIN: &str = "fdl-api-test";

/// Counts the API's reads of the node set (each checks every node's certificate).
struct Counting {
    chain: Arc<Chain>,
    calls: Arc<AtomicUsize>,
}

impl Ledger for Counting {
    fn nodes_at(&self, version: u64) -> Result<Vec<NodeSpec>, fdl_exec::ExecError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ledger::nodes_at(&*self.chain, version)
    }

    fn node_set_keys(&self, version: u64) -> Result<Vec<Vec<u8>>, fdl_exec::ExecError> {
        Ledger::node_set_keys(&*self.chain, version)
    }

    fn contract_query(
        &self,
        version: u64,
        q: &fdl_node_api::ContractQuery<'_>,
    ) -> Result<fdl_node_api::QueryOutcome, fdl_exec::ExecError> {
        Ledger::contract_query(&*self.chain, version, q)
    }

    fn contract_cache(&self) -> (u64, u64, usize) {
        Ledger::contract_cache(&*self.chain)
    }

    fn contract_check(
        &self,
        version: u64,
        code: &[u8],
    ) -> Result<Result<fdl_node_api::ModuleCheck, (String, String)>, fdl_exec::ExecError> {
        Ledger::contract_check(&*self.chain, version, code)
    }
}

/// A running API.
pub struct Api {
    pub addr: SocketAddr,
    pub suite: Suite,
    pub chain: Arc<Chain>,
    pub mempool: Arc<Mempool>,
    pub store: Arc<dyn Store>,
    /// How many times the API asked the chain for a node set.
    pub node_set_reads: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Starts a chain and its API with `limits`.
pub async fn start(suite: Suite, limits: ApiLimits) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate(suite);
    let ca = fdl_pki::create_ca("Bank A", &ca_key, 365).unwrap();
    let validator = KeyPair::generate(suite);
    let cert = fdl_pki::issue(&ca, &ca_key, &validator.public_key(), "v0", fdl_pki::Role::Validator, 365).unwrap();
    let genesis = Genesis {
        // Every read open: these tests are about the API's limits, not its read policy
        // (crates/rpc/tests/read_policy.rs tests that).
        read_policy: fdl_types::ReadResource::ALL.into_iter().map(|r| (r, vec!["public".to_string()])).collect(),
        chain_id: CHAIN.into(),
        suite,
        genesis_time_ms: now_ms(),
        issuer: ca_key.address(),
        validators: vec![GenesisValidator {
            name: "v0".into(),
            public_key: hex::encode(validator.public_key().to_bytes()),
            power: 1,
            org: Some("Bank A".into()),
            peer_id: None,
            certificate: Some(fdl_pki::to_pem(&cert).unwrap()),
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
    let config = MempoolConfig { capacity: 10_000, verify_threads: 2, verify_queue: 64, ..MempoolConfig::default() };
    let mempool = Arc::new(Mempool::new(genesis.clone(), store.clone(), config).unwrap());
    let (blocks, _) = tokio::sync::broadcast::channel(fdl_rpc::STREAM_BUFFER);
    let parts = ChainParts {
        genesis,
        store: store.clone(),
        state,
        mempool: mempool.clone(),
        blocks,
        metrics: Arc::new(Metrics::default()),
    };
    let signer: Arc<dyn Signer> = Arc::new(validator);
    let chain = Arc::new(Chain::open(parts.clone(), signer.clone()).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let ctx = RpcContext {
        parts,
        node_name: "v0".into(),
        node_id: signer.public_key().address(),
        peers: Arc::default(),
        role: "validator".into(),
        ledger: Arc::new(Counting { chain: chain.clone(), calls: calls.clone() }),
        relay: None,
        limits,
        cert_expiry_warning_days: 30,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, mut stopped) = watch::channel(false);
    let served = tokio::spawn(fdl_rpc::serve_on(listener, ctx, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Api { addr, suite, chain, mempool, store, node_set_reads: calls, stop, served, _dir: dir }
}

impl Api {
    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GETs `path`: the status, the `Retry-After` header and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Option<String>, serde_json::Value) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        (status, retry, r.json().await.unwrap())
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.served).await.unwrap().unwrap().unwrap();
    }
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body: its status and body.
pub async fn read_answer(s: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok()).flatten()
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((status, String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string()));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends a keep-alive `GET path` on `s` and reads the answer.
pub async fn get_on(s: &mut TcpStream, path: &str) -> Option<(u16, String)> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).await.ok()?;
    tokio::time::timeout(Duration::from_secs(10), read_answer(s)).await.ok()?
}

/// Opens a WebSocket to `/v1/stream` by hand: the status of the handshake's answer (101 when
/// subscribed), with the connection.
pub async fn subscribe(addr: SocketAddr) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = "GET /v1/stream HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut s)).await.unwrap().unwrap();
    (status, s)
}
