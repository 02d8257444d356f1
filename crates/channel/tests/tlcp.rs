//! TLCP handshakes between FDL endpoints over loopback, with certificates FDL's own CA issues.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use fdl_channel::{ChannelError, ClientAuth, TlcpClient, TlcpFiles, TlcpIdentity, TlcpServer};
use fdl_crypto::{KeyPair, Signer as _, Suite};
use fdl_pki::{KeyPurpose, Role};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// Writes a TLCP pair for `cn` issued by the CA into `dir`.
fn pair(dir: &Path, ca: &[u8], ca_key: &KeyPair, cn: &str, role: Role) -> TlcpFiles {
    std::fs::create_dir_all(dir).unwrap();
    let files = TlcpFiles::in_dir(dir);
    for (purpose, cert, key) in [
        (KeyPurpose::Signing, &files.sign_cert, &files.sign_key),
        (KeyPurpose::Encryption, files.enc_cert.as_ref().unwrap(), files.enc_key.as_ref().unwrap()),
    ] {
        let k = KeyPair::generate(Suite::Sm);
        let der =
            fdl_pki::issue_for(ca, ca_key, &k.public_key(), cn, role, 30, purpose, &["localhost".into()]).unwrap();
        std::fs::write(cert, fdl_pki::to_pem(&der).unwrap()).unwrap();
        k.write_pem_file(key).unwrap();
    }
    files
}

struct Pki {
    _dir: tempfile::TempDir,
    ca: Vec<u8>,
    server: TlcpFiles,
    client: TlcpFiles,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate(Suite::Sm);
    let ca = fdl_pki::create_ca("org1", &ca_key, 30).unwrap();
    let server = pair(&dir.path().join("server"), &ca, &ca_key, "node1", Role::Validator);
    let client = pair(&dir.path().join("client"), &ca, &ca_key, "alice", Role::Auditor);
    Pki { _dir: dir, ca, server, client }
}

/// Serves one connection: echoes what it reads back, returning the peer's certificate.
async fn echo_once(listener: TcpListener, server: TlcpServer) -> Result<(Option<Vec<u8>>, String), ChannelError> {
    let (tcp, _) = listener.accept().await?;
    let mut s = server.accept(tcp).await?;
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await?;
    s.write_all(&buf).await?;
    s.flush().await?;
    Ok((s.peer_certificate(), s.cipher()))
}

#[tokio::test]
async fn mutual_tlcp_negotiates_ecdhe_sm4_gcm_sm3_and_shows_each_side_the_others_signing_certificate() {
    let p = pki();
    let server = TlcpServer::new(&TlcpIdentity::load(&p.server).unwrap(), ClientAuth::Required).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(echo_once(listener, server));

    let client_id = TlcpIdentity::load(&p.client).unwrap();
    let client = TlcpClient::new(Some(&client_id)).unwrap();
    let mut s = client.connect(TcpStream::connect(addr).await.unwrap()).await.unwrap();
    assert_eq!(s.cipher(), "ECDHE-SM2-SM4-GCM-SM3");
    assert_eq!(s.version(), "NTLSv1.1");
    s.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");

    let server_cert = s.peer_certificate().expect("the server's certificate");
    let info = fdl_pki::verify(&server_cert, &p.ca, now()).unwrap();
    assert_eq!(info.common_name, "node1");
    assert_eq!(info.role, Some(Role::Validator), "the signing certificate, not the encryption one");

    let (client_cert, cipher) = task.await.unwrap().unwrap();
    assert_eq!(cipher, "ECDHE-SM2-SM4-GCM-SM3");
    let info = fdl_pki::verify(&client_cert.expect("the client's certificate"), &p.ca, now()).unwrap();
    assert_eq!(info.common_name, "alice");
}

#[tokio::test]
async fn a_client_without_certificates_gets_ecc_sm4_gcm_sm3_when_the_server_only_asks() {
    let p = pki();
    let server = TlcpServer::new(&TlcpIdentity::load(&p.server).unwrap(), ClientAuth::Optional).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(echo_once(listener, server));
    let mut s = TlcpClient::new(None).unwrap().connect(TcpStream::connect(addr).await.unwrap()).await.unwrap();
    assert_eq!(s.cipher(), "ECC-SM2-SM4-GCM-SM3");
    s.write_all(b"plain").await.unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).await.unwrap();
    let (client_cert, _) = task.await.unwrap().unwrap();
    assert!(client_cert.is_none(), "an anonymous client");
}

#[tokio::test]
async fn a_server_that_requires_certificates_refuses_an_anonymous_client_and_plain_bytes() {
    let p = pki();
    let id = TlcpIdentity::load(&p.server).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = TlcpServer::new(&id, ClientAuth::Required).unwrap();
    let task = tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            results.push(server.accept(tcp).await.map(|_| ()));
        }
        results
    });
    // An anonymous TLCP client.
    let anon = TlcpClient::new(None).unwrap().connect(TcpStream::connect(addr).await.unwrap()).await;
    // Plain bytes, as a libp2p Noise dialer or an HTTP client sends them.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"\x13/multistream/1.0.0\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink).await;
    let results = task.await.unwrap();
    assert!(matches!(results[0], Err(ChannelError::Handshake(_))), "{:?}", results[0]);
    assert!(matches!(results[1], Err(ChannelError::Handshake(_))), "{:?}", results[1]);
    let _ = anon;
}

#[test]
fn an_identity_whose_key_does_not_match_its_certificate_is_refused() {
    let p = pki();
    let mut files = p.server.clone();
    files.enc_key.clone_from(&p.client.enc_key);
    let err = TlcpIdentity::load(&files).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let p = pki();
    std::fs::set_permissions(&p.server.sign_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = TlcpIdentity::load(&p.server).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// An `intl` identity: one Ed25519 certificate from an Ed25519 CA.
fn tls_identity(dir: &Path, ca: &[u8], ca_key: &KeyPair, cn: &str) -> TlcpFiles {
    std::fs::create_dir_all(dir).unwrap();
    let files = TlcpFiles::tls_in_dir(dir);
    let k = KeyPair::generate(Suite::Intl);
    let der = fdl_pki::issue(ca, ca_key, &k.public_key(), cn, Role::Validator, 30).unwrap();
    std::fs::write(&files.sign_cert, fdl_pki::to_pem(&der).unwrap()).unwrap();
    k.write_pem_file(&files.sign_key).unwrap();
    files
}

#[tokio::test]
async fn intl_identities_speak_mutual_tls_1_3_and_show_each_other_their_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate(Suite::Intl);
    let ca = fdl_pki::create_ca("org1", &ca_key, 30).unwrap();
    let server_id = TlcpIdentity::load(&tls_identity(&dir.path().join("s"), &ca, &ca_key, "node1")).unwrap();
    let client_id = TlcpIdentity::load(&tls_identity(&dir.path().join("c"), &ca, &ca_key, "node2")).unwrap();
    assert_eq!(server_id.suite(), Suite::Intl);
    let server = TlcpServer::new(&server_id, ClientAuth::Required).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(echo_once(listener, server));
    let mut s =
        TlcpClient::new(Some(&client_id)).unwrap().connect(TcpStream::connect(addr).await.unwrap()).await.unwrap();
    assert_eq!(s.version(), "TLSv1.3");
    s.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    let info = fdl_pki::verify(&s.peer_certificate().unwrap(), &ca, now()).unwrap();
    assert_eq!(info.common_name, "node1");
    let (client_cert, _) = task.await.unwrap().unwrap();
    assert_eq!(fdl_pki::verify(&client_cert.unwrap(), &ca, now()).unwrap().common_name, "node2");

    // An anonymous TLS client is refused where certificates are required.
    let server = TlcpServer::new(&server_id, ClientAuth::Required).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(echo_once(listener, server));
    let anon = TlcpClient::for_suite(Suite::Intl, None).unwrap();
    if let Ok(mut s) = anon.connect(TcpStream::connect(addr).await.unwrap()).await {
        // TLS 1.3 finishes the client's side before the server checks its (absent) certificate.
        let _ = s.write_all(b"hello").await;
        let mut b = [0u8; 5];
        assert!(s.read_exact(&mut b).await.is_err(), "the server must refuse an anonymous client");
    }
    assert!(task.await.unwrap().is_err());
}
