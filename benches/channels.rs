//! TLCP channel figures (docs/adr/0016-tlcp-channels.md): handshake time and bulk throughput over
//! loopback, against plain TCP. Run: `cargo bench -p fdl-benches --bench channels`.

use std::time::Instant;

use fdl_channel::{ClientAuth, TlcpClient, TlcpFiles, TlcpIdentity, TlcpServer};
use fdl_crypto::{KeyPair, Signer as _, Suite};
use fdl_pki::{KeyPurpose, Role};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

const HANDSHAKES: usize = 200;
const BULK: usize = 256 * 1024 * 1024;

fn pair(dir: &std::path::Path, ca: &[u8], ca_key: &KeyPair, cn: &str) -> TlcpIdentity {
    std::fs::create_dir_all(dir).expect("dir");
    let files = TlcpFiles::in_dir(dir);
    for (purpose, cert, key) in [
        (KeyPurpose::Signing, &files.sign_cert, &files.sign_key),
        (KeyPurpose::Encryption, files.enc_cert.as_ref().expect("enc"), files.enc_key.as_ref().expect("enc")),
    ] {
        let k = KeyPair::generate(Suite::Sm);
        let der =
            fdl_pki::issue_for(ca, ca_key, &k.public_key(), cn, Role::Validator, 30, purpose, &[]).expect("issue");
        std::fs::write(cert, fdl_pki::to_pem(&der).expect("pem")).expect("write");
        k.write_pem_file(key).expect("key");
    }
    TlcpIdentity::load(&files).expect("identity")
}

async fn handshakes(server: TlcpServer, client: TlcpClient) -> (f64, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let srv = tokio::spawn(async move {
        for _ in 0..HANDSHAKES {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut s = server.accept(tcp).await.expect("handshake");
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.expect("read");
        }
    });
    let start = Instant::now();
    let mut cipher = String::new();
    for _ in 0..HANDSHAKES {
        let mut s = client.connect(TcpStream::connect(addr).await.expect("connect")).await.expect("handshake");
        s.write_all(&[1]).await.expect("write");
        cipher = s.cipher();
    }
    srv.await.expect("server");
    (start.elapsed().as_secs_f64() * 1000.0 / HANDSHAKES as f64, cipher)
}

async fn bulk_tlcp(server: TlcpServer, client: TlcpClient) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut s = server.accept(tcp).await.expect("handshake");
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < BULK {
            got += s.read(&mut buf).await.expect("read");
        }
        s.write_all(&[1]).await.expect("ack");
    });
    let mut s = client.connect(TcpStream::connect(addr).await.expect("connect")).await.expect("handshake");
    let chunk = vec![7u8; 64 * 1024];
    let start = Instant::now();
    for _ in 0..BULK / chunk.len() {
        s.write_all(&chunk).await.expect("write");
    }
    s.flush().await.expect("flush");
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).await.expect("ack");
    let secs = start.elapsed().as_secs_f64();
    srv.await.expect("server");
    BULK as f64 / secs / 1e6
}

async fn bulk_plain() -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let srv = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < BULK {
            got += s.read(&mut buf).await.expect("read");
        }
        s.write_all(&[1]).await.expect("ack");
    });
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let chunk = vec![7u8; 64 * 1024];
    let start = Instant::now();
    for _ in 0..BULK / chunk.len() {
        s.write_all(&chunk).await.expect("write");
    }
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).await.expect("ack");
    let secs = start.elapsed().as_secs_f64();
    srv.await.expect("server");
    BULK as f64 / secs / 1e6
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyPair::generate(Suite::Sm);
    let ca = fdl_pki::create_ca("org1", &ca_key, 30).expect("ca");
    let server_id = pair(&dir.path().join("s"), &ca, &ca_key, "node1");
    let client_id = pair(&dir.path().join("c"), &ca, &ca_key, "node2");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let mk = || TlcpServer::new(&server_id, ClientAuth::Required).expect("server");
        let (ms, cipher) = handshakes(mk(), TlcpClient::new(Some(&client_id)).expect("client")).await;
        println!("tlcp mutual handshake ({cipher}): {ms:.2} ms each over {HANDSHAKES}");
        let anon = TlcpServer::new(&server_id, ClientAuth::Optional).expect("server");
        let (ms, cipher) = handshakes(anon, TlcpClient::new(None).expect("client")).await;
        println!("tlcp server-only handshake ({cipher}): {ms:.2} ms each over {HANDSHAKES}");
        let mbs = bulk_tlcp(mk(), TlcpClient::new(Some(&client_id)).expect("client")).await;
        println!("tlcp bulk (ECDHE-SM2-SM4-GCM-SM3): {mbs:.0} MB/s over {} MiB", BULK >> 20);
        let mbs = bulk_plain().await;
        println!("plain tcp bulk: {mbs:.0} MB/s over {} MiB", BULK >> 20);
    });
}
