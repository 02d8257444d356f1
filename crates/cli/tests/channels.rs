//! The node network over TLCP (STD-9.1, 9.2; docs/adr/0016-tlcp-channels.md): a devnet whose
//! nodes talk only TLCP, refusing plain and Noise connections, foreign and non-node certificates,
//! and a node whose TLCP certificate its institution revokes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::net::TestNet;
use fdl_channel::{TlcpClient, TlcpFiles, TlcpIdentity};
use fdl_crypto::{KeyPair, Suite};
use fdl_pki::Role;
use fdl_types::Payload;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// libp2p's multistream-select header: a libp2p listener answers it with its own.
const MULTISTREAM: &[u8] = b"\x13/multistream/1.0.0\n";

/// What the network port at `addr` answers: `Some(bytes)` read within a few seconds (empty when it
/// closed the connection), after a TLCP handshake with `files` when given, else in plain TCP.
async fn probe(addr: std::net::SocketAddr, files: Option<&TlcpFiles>) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let Some(files) = files else {
        tcp.write_all(MULTISTREAM).await.unwrap();
        return read_some(&mut tcp).await;
    };
    let id = TlcpIdentity::load(files).unwrap();
    let Ok(mut s) = TlcpClient::new(Some(&id)).unwrap().connect(tcp).await else { return Vec::new() };
    // A consensus stream, then libp2p's first bytes.
    if s.write_all(&[1]).await.is_err() || s.write_all(MULTISTREAM).await.is_err() {
        return Vec::new();
    }
    read_some(&mut s).await
}

async fn read_some<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut buf = vec![0u8; MULTISTREAM.len()];
    match tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await {
        Ok(Ok(_)) => buf,
        _ => Vec::new(),
    }
}

/// A TLCP pair for `cn` issued by the CA in `ca_dir` (or by a fresh CA of its own).
fn pair(dir: &Path, ca_dir: Option<&Path>, cn: &str, role: Role) -> TlcpFiles {
    use fdl_crypto::Signer as _;
    let (ca, ca_key) = match ca_dir {
        Some(d) => (
            fdl_pki::from_pem(&std::fs::read_to_string(d.join("ca.pem")).unwrap()).unwrap(),
            KeyPair::read_pem_file(&d.join("ca-key.pem")).unwrap(),
        ),
        None => {
            let k = KeyPair::generate(Suite::Sm);
            (fdl_pki::create_ca("org1", &k, 30).unwrap(), k)
        }
    };
    std::fs::create_dir_all(dir).unwrap();
    let files = TlcpFiles::in_dir(dir);
    for (purpose, cert, key) in [
        (fdl_pki::KeyPurpose::Signing, &files.sign_cert, &files.sign_key),
        (fdl_pki::KeyPurpose::Encryption, files.enc_cert.as_ref().unwrap(), files.enc_key.as_ref().unwrap()),
    ] {
        let k = KeyPair::generate(Suite::Sm);
        let der = fdl_pki::issue_for(&ca, &ca_key, &k.public_key(), cn, role, 30, purpose, &[]).unwrap();
        std::fs::write(cert, fdl_pki::to_pem(&der).unwrap()).unwrap();
        k.write_pem_file(key).unwrap();
    }
    files
}

/// A fresh CA of its own in `dir`; returns its certificate file.
fn foreign_dir_ca(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let k = KeyPair::generate(Suite::Sm);
    let ca = fdl_pki::create_ca("org1", &k, 30).unwrap();
    let p = dir.join("ca.pem");
    std::fs::write(&p, fdl_pki::to_pem(&ca).unwrap()).unwrap();
    p
}

#[test]
fn nodes_talk_only_tlcp_and_admit_only_member_nodes_with_unrevoked_certificates() {
    // The audit log to auditors, regulators and administrators only (STD-16.1).
    let mut net = TestNet::init(4, 0, Suite::Sm, |g| {
        g.read_policy.insert(
            fdl_types::read_policy::ReadResource::Audit,
            vec!["auditor".into(), "regulator".into(), "admin".into()],
        );
    });
    for i in 0..net.nodes.len() {
        net.spawn(i);
    }
    for i in 0..net.nodes.len() {
        net.wait_height(i, 2, Duration::from_secs(60));
    }
    let cfg = fdl_node::NodeConfig::load(&net.nodes[0].config).unwrap();
    let port = cfg.p2p.as_ref().unwrap().listen;
    assert!(cfg.p2p.as_ref().unwrap().tlcp.is_some(), "fdl init gives every sm node a TLCP pair");
    let org2_dir = net.dir.path().join("org2");
    let org2_files = TlcpFiles::in_dir(&org2_dir.join("tlcp"));
    let scratch = tempfile::tempdir().unwrap();

    // A member node's pair: the port carries libp2p, which answers.
    let answer = net.rt.block_on(probe(port, Some(&org2_files)));
    assert_eq!(answer, MULTISTREAM, "org2's own TLCP pair reaches org1's consensus engine");
    // Plain TCP (what libp2p's Noise dialer or an HTTP client sends first): no answer.
    assert!(net.rt.block_on(probe(port, None)).is_empty(), "a plain connection is refused");
    // A pair from a CA that is not a member's, even with a node's name.
    let foreign = pair(&scratch.path().join("foreign"), None, "org2", Role::Validator);
    assert!(net.rt.block_on(probe(port, Some(&foreign))).is_empty(), "a foreign CA's certificate is refused");
    // A member institution's certificate that names no node.
    let client = pair(&scratch.path().join("client"), Some(&org2_dir.join("ca")), "mallory", Role::Client);
    assert!(net.rt.block_on(probe(port, Some(&client))).is_empty(), "a client certificate is not a node's");
    assert!(net.log(0).contains("network port: refused a peer"), "refusals are logged");

    // Clients: the API's TLCP port, the node's certificate checked against the chain's CA bundle.
    let secure = cfg.rpc_tlcp_listen.expect("fdl init serves the API over TLCP too");
    let url = format!("https://{secure}");
    let bundle = net.dir.path().join("ca-bundle.pem");
    let (code, out, err) = common::fdl(&["query", "status", "--rpc", &url, "--ca", bundle.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "status over TLCP: {out} {err}");
    assert!(out.contains("\"height\""), "{out}");
    // The WebSocket stream over TLCP: the next block arrives on it.
    let ws_block = net.rt.block_on(async {
        use futures_util::StreamExt as _;
        let tcp = TcpStream::connect(secure).await.unwrap();
        let tls = TlcpClient::new(None).unwrap().connect(tcp).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{secure}/v1/stream"), tls).await.unwrap();
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        msg.into_text().unwrap().to_string()
    });
    assert!(ws_block.contains("\"type\":\"block\""), "{ws_block}");
    // With the client's own TLCP pair (mutual authentication).
    let client_dir = scratch.path().join("client");
    let (code, out, err) = common::fdl(&[
        "query",
        "status",
        "--rpc",
        &url,
        "--ca",
        bundle.to_str().unwrap(),
        "--tlcp-dir",
        client_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "status over mutual TLCP: {out} {err}");
    // Who reads the audit log: not a client of a member (its certificate says `client`), but an
    // auditor, each identified by the certificate it presents on the channel.
    let (code, _, err) = common::fdl(&[
        "audit",
        "--rpc",
        &url,
        "--ca",
        bundle.to_str().unwrap(),
        "--tlcp-dir",
        client_dir.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("read_forbidden"), "{err}");
    let (code, _, err) = common::fdl(&["audit", "--rpc", &url, "--ca", bundle.to_str().unwrap()]);
    assert_ne!(code, 0, "an anonymous TLCP client is refused the audit log");
    assert!(err.contains("read_forbidden"), "{err}");
    let auditor = pair(&scratch.path().join("auditor"), Some(&org2_dir.join("ca")), "alice", Role::Auditor);
    let auditor_dir = auditor.sign_cert.parent().unwrap().to_path_buf();
    let (code, out, err) = common::fdl(&[
        "audit",
        "--rpc",
        &url,
        "--ca",
        bundle.to_str().unwrap(),
        "--tlcp-dir",
        auditor_dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "an auditor reads the audit log over TLCP: {out} {err}");
    assert!(out.contains("api.refused"), "the refusals are in the audit log: {out}");

    // A bundle that does not hold the node's CA: the client refuses the node.
    let other = scratch.path().join("other-bundle.pem");
    std::fs::copy(foreign_dir_ca(&scratch.path().join("foreign2")), &other).unwrap();
    let (code, _, err) = common::fdl(&["query", "status", "--rpc", &url, "--ca", other.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("not from a trusted CA"), "{err}");

    // Transactions sent to org1 travel to the other nodes over the TLCP port: each proposer's
    // blocks carry them, not only org1's.
    let start = net.height(0).unwrap();
    let expiry = start + 1_000;
    let to = KeyPair::generate(Suite::Sm);
    for n in 0..12u128 {
        let payload = Payload::Issue { to: fdl_crypto::Signer::public_key(&to).address(), amount: n + 1 };
        let tx = common::build_tx(&net.issuer, &net.genesis.chain_id, expiry, payload).unwrap();
        net.rt.block_on(net.client(0).submit(&tx, false)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let end = net.wait_height(0, start + 8, Duration::from_secs(60));
    let proposers: std::collections::BTreeSet<String> = (start..=end)
        .filter_map(|h| net.block(0, h))
        .filter(|b| b.header.tx_count > 0)
        .map(|b| b.header.proposer.clone())
        .collect();
    assert!(proposers.len() >= 2, "only one proposer carried the transactions sent to org1: {proposers:?}");

    // org2's institution revokes its node's TLCP signing certificate: every member cuts org2 off,
    // and org2 cannot connect again; the other three go on.
    let sign_pem = std::fs::read_to_string(&org2_files.sign_cert).unwrap();
    let serial = fdl_pki::parse(&fdl_pki::from_pem(&sign_pem).unwrap()).unwrap().serial;
    let ca_dir = org2_dir.join("ca");
    let ca = fdl_pki::from_pem(&std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap()).unwrap();
    let ca_key = KeyPair::read_pem_file(&ca_dir.join("ca-key.pem")).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let crl = fdl_pki::create_crl(&ca, &ca_key, &[fdl_pki::Revoked { serial, at: now }], 2).unwrap();
    let admin2 = common::identity(&org2_dir, "admin");
    let client = net.client(0);
    let expiry = net.height(0).unwrap() + 1_000;
    let tx = common::build_tx(&admin2, &net.genesis.chain_id, expiry, Payload::PublishCrl { crl }).unwrap();
    let view = net.rt.block_on(client.submit(&tx, true)).unwrap();
    assert_eq!(view.receipt.as_ref().map(|r| r.status.as_str()), Some("ok"), "{view:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !net.log(0).contains("disconnected a peer no longer admitted") {
        assert!(Instant::now() < deadline, "org1 did not cut off org2:\n{}", net.log(0));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(net.rt.block_on(probe(port, Some(&org2_files))).is_empty(), "a revoked pair cannot connect again");
    let h = net.height(0).unwrap();
    net.wait_height(0, h + 3, Duration::from_secs(60));
    net.wait_height(2, h + 3, Duration::from_secs(60));
}

#[test]
fn intl_nodes_talk_tls_1_3_and_clients_read_over_it() {
    let net = TestNet::start(4, 0, Suite::Intl);
    let cfg = fdl_node::NodeConfig::load(&net.nodes[0].config).unwrap();
    let p2p = cfg.p2p.as_ref().unwrap();
    let files = p2p.tlcp.as_ref().expect("fdl init gives every intl node a TLS identity");
    assert!(files.enc_cert.is_none(), "TLS 1.3 uses one certificate");
    let port = p2p.listen;
    let org2_files = TlcpFiles::tls_in_dir(&net.dir.path().join("org2").join("tls"));
    assert_eq!(net.rt.block_on(probe(port, Some(&org2_files))), MULTISTREAM, "a member node reaches consensus");
    assert!(net.rt.block_on(probe(port, None)).is_empty(), "a plain connection is refused");
    let url = format!("https://{}", cfg.rpc_tlcp_listen.expect("a TLS API port"));
    let bundle = net.dir.path().join("ca-bundle.pem");
    let (code, out, err) = common::fdl(&["query", "status", "--rpc", &url, "--ca", bundle.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "status over TLS 1.3: {out} {err}");
    let h = net.height(0).unwrap();
    net.wait_height(3, h + 2, Duration::from_secs(60));
}
