//! FDL's secure channels (STD-9.1, STD-9.2): TLCP, the Chinese commercial-cryptography TLS of
//! GB/T 38636-2020, through the Tongsuo library.
//!
//! Every TLCP endpoint holds two SM2 certificates with the same subject, issued by its
//! institution's CA: a signing certificate (`digitalSignature`) and an encryption certificate
//! (`keyEncipherment`), each with its own key ([`TlcpIdentity`]). The suites are
//! ECDHE_SM4_GCM_SM3 (preferred), ECC_SM4_GCM_SM3, and the CBC forms for older peers.
//!
//! This crate makes the handshake and the record layer; it does **not** decide whom to trust.
//! Tongsuo's own chain check is switched off (its trust store would be fixed at start, while the
//! chain's member CAs and revocations change by governance), and the caller checks the peer's
//! signing certificate, [`SecureStream::peer_certificate`], against the current member set after
//! the handshake (see `docs/adr/0016-tlcp-channels.md`). The handshake itself proves that the peer
//! holds the signing key: TLCP's server key exchange is signed over both randoms and the
//! encryption certificate (ECC) or the ephemeral key (ECDHE), and a client proves its key with a
//! certificate-verify message.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

use std::{
    io,
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tongsuo::{
    pkey::{PKey, Private},
    ssl::{Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslVerifyMode},
    x509::X509,
};
use zeroize::Zeroizing;

mod tls;

/// The TLCP suites FDL offers, in order of preference: forward-secret ECDHE first, then ECC
/// (which GmSSL clients also speak), GCM before CBC.
pub const TLCP_CIPHERS: &str = "ECDHE-SM2-SM4-GCM-SM3:ECC-SM2-SM4-GCM-SM3:ECDHE-SM2-SM4-CBC-SM3:ECC-SM2-SM4-CBC-SM3";

/// The longest a handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A certificate or key file is missing, unreadable, exposed or malformed.
    #[error("TLCP identity: {0}")]
    Identity(String),
    /// The TLS library refused the configuration.
    #[error("TLCP configuration: {0}")]
    Config(String),
    /// The handshake failed (wrong protocol, no common suite, a bad or missing certificate).
    #[error("TLCP handshake: {0}")]
    Handshake(String),
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("TLCP handshake timed out")]
    Timeout,
    /// The peer presented no certificate where one is required.
    #[error("the peer presented no certificate")]
    NoPeerCertificate,
    /// Network I/O.
    #[error("io: {0}")]
    Io(#[from] io::Error),
}

pub(crate) fn cfg_err(e: impl std::fmt::Display) -> ChannelError {
    ChannelError::Config(e.to_string())
}

/// Where an endpoint's channel files are. Under `sm` (TLCP): two certificates (PEM) and their
/// keys (PKCS#8 PEM, mode 0600). Under `intl` (TLS 1.3): the signing certificate and key only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlcpFiles {
    /// The signing certificate.
    pub sign_cert: PathBuf,
    /// The signing key.
    pub sign_key: PathBuf,
    /// The encryption certificate (TLCP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc_cert: Option<PathBuf>,
    /// The encryption key (TLCP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc_key: Option<PathBuf>,
}

impl TlcpFiles {
    /// The usual names inside a directory: `sign.pem`, `sign.key`, `enc.pem`, `enc.key`.
    pub fn in_dir(dir: &Path) -> Self {
        TlcpFiles {
            sign_cert: dir.join("sign.pem"),
            sign_key: dir.join("sign.key"),
            enc_cert: Some(dir.join("enc.pem")),
            enc_key: Some(dir.join("enc.key")),
        }
    }

    /// The `intl` names inside a directory: `sign.pem`, `sign.key` (one TLS 1.3 certificate).
    pub fn tls_in_dir(dir: &Path) -> Self {
        TlcpFiles { sign_cert: dir.join("sign.pem"), sign_key: dir.join("sign.key"), enc_cert: None, enc_key: None }
    }

    /// The same files with relative paths resolved against `base`.
    pub fn resolved(&self, base: &Path) -> Self {
        let r = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        TlcpFiles {
            sign_cert: r(&self.sign_cert),
            sign_key: r(&self.sign_key),
            enc_cert: self.enc_cert.as_deref().map(r),
            enc_key: self.enc_key.as_deref().map(r),
        }
    }
}

/// An endpoint's channel certificates and keys, loaded: a TLCP pair under `sm`, a TLS 1.3
/// certificate under `intl` (the signing key's suite tells which).
pub struct TlcpIdentity {
    inner: IdentityKind,
}

enum IdentityKind {
    Tlcp(TlcpPair),
    Tls(tls::TlsIdentity),
}

struct TlcpPair {
    sign_cert: X509,
    sign_key: PKey<Private>,
    enc_cert: X509,
    enc_key: PKey<Private>,
}

impl std::fmt::Debug for TlcpIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            IdentityKind::Tlcp(p) => write!(f, "TlcpIdentity({:?})", p.sign_cert.subject_name()),
            IdentityKind::Tls(_) => write!(f, "TlsIdentity"),
        }
    }
}

/// The signing key, read once: as an FDL key (its suite tells TLCP from TLS) and as PKCS#8 DER.
fn read_sign_key(path: &Path) -> Result<(fdl_crypto::KeyPair, Zeroizing<Vec<u8>>), ChannelError> {
    fdl_crypto::check_private_key_file(path).map_err(|e| ChannelError::Identity(e.to_string()))?;
    let bad = |e: &dyn std::fmt::Display| ChannelError::Identity(format!("{}: {e}", path.display()));
    let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(&e))?);
    let key = fdl_crypto::KeyPair::from_pkcs8_pem(&pem).map_err(|e| bad(&e))?;
    let der = PKey::private_key_from_pem(pem.as_bytes()).and_then(|p| p.private_key_to_pkcs8()).map_err(|e| bad(&e))?;
    Ok((key, Zeroizing::new(der)))
}

fn read_cert(path: &Path) -> Result<X509, ChannelError> {
    let pem = std::fs::read(path).map_err(|e| ChannelError::Identity(format!("{}: {e}", path.display())))?;
    X509::from_pem(&pem).map_err(|e| ChannelError::Identity(format!("{}: {e}", path.display())))
}

fn read_key(path: &Path) -> Result<PKey<Private>, ChannelError> {
    fdl_crypto::check_private_key_file(path).map_err(|e| ChannelError::Identity(e.to_string()))?;
    let pem =
        Zeroizing::new(std::fs::read(path).map_err(|e| ChannelError::Identity(format!("{}: {e}", path.display())))?);
    PKey::private_key_from_pem(&pem).map_err(|e| ChannelError::Identity(format!("{}: {e}", path.display())))
}

impl TlcpIdentity {
    /// Loads the four files. Key files that group or others may access are refused.
    ///
    /// # Errors
    /// [`ChannelError::Identity`] naming the file, or when a key does not match its certificate.
    pub fn load(files: &TlcpFiles) -> Result<Self, ChannelError> {
        let (key, key_der) = read_sign_key(&files.sign_key)?;
        if key.suite() == fdl_crypto::Suite::Intl {
            let cert = read_cert(&files.sign_cert)?;
            let cert_der = cert.to_der().map_err(cfg_err)?;
            let public = fdl_pki::parse(&cert_der).map_err(|e| ChannelError::Identity(e.to_string()))?.public_key;
            if fdl_crypto::Signer::public_key(&key) != public {
                return Err(ChannelError::Identity("the signing key does not match its certificate".into()));
            }
            return Ok(TlcpIdentity { inner: IdentityKind::Tls(tls::TlsIdentity::new(cert_der, key_der)) });
        }
        let need = |p: &Option<PathBuf>, what: &str| {
            p.clone().ok_or_else(|| ChannelError::Identity(format!("a TLCP pair needs its {what} (enc_cert, enc_key)")))
        };
        let pair = TlcpPair {
            sign_cert: read_cert(&files.sign_cert)?,
            sign_key: read_key(&files.sign_key)?,
            enc_cert: read_cert(&need(&files.enc_cert, "encryption certificate")?)?,
            enc_key: read_key(&need(&files.enc_key, "encryption key")?)?,
        };
        pair.check()?;
        Ok(TlcpIdentity { inner: IdentityKind::Tlcp(pair) })
    }

    /// An identity from PEM text (certificates) and PKCS#8 PEM keys held in memory.
    ///
    /// # Errors
    /// [`ChannelError::Identity`] for malformed input or a key that does not match.
    pub fn from_pem(sign_cert: &[u8], sign_key: &[u8], enc_cert: &[u8], enc_key: &[u8]) -> Result<Self, ChannelError> {
        let id_err = |what: &str, e: tongsuo::error::ErrorStack| ChannelError::Identity(format!("{what}: {e}"));
        let pair = TlcpPair {
            sign_cert: X509::from_pem(sign_cert).map_err(|e| id_err("signing certificate", e))?,
            sign_key: PKey::private_key_from_pem(sign_key).map_err(|e| id_err("signing key", e))?,
            enc_cert: X509::from_pem(enc_cert).map_err(|e| id_err("encryption certificate", e))?,
            enc_key: PKey::private_key_from_pem(enc_key).map_err(|e| id_err("encryption key", e))?,
        };
        pair.check()?;
        Ok(TlcpIdentity { inner: IdentityKind::Tlcp(pair) })
    }

    /// The signing certificate, DER: what peers check.
    pub fn sign_cert_der(&self) -> Vec<u8> {
        match &self.inner {
            IdentityKind::Tlcp(p) => p.sign_cert.to_der().unwrap_or_default(),
            IdentityKind::Tls(t) => t.cert.to_vec(),
        }
    }

    /// The suite of the channel: TLCP under `sm`, TLS 1.3 under `intl`.
    pub fn suite(&self) -> fdl_crypto::Suite {
        match &self.inner {
            IdentityKind::Tlcp(_) => fdl_crypto::Suite::Sm,
            IdentityKind::Tls(_) => fdl_crypto::Suite::Intl,
        }
    }
}

impl TlcpPair {
    fn check(&self) -> Result<(), ChannelError> {
        for (what, cert, key) in
            [("signing", &self.sign_cert, &self.sign_key), ("encryption", &self.enc_cert, &self.enc_key)]
        {
            let public = cert.public_key().map_err(cfg_err)?;
            if !public.public_eq(key) {
                return Err(ChannelError::Identity(format!("the {what} key does not match its certificate")));
            }
        }
        if self.sign_cert.subject_name().to_der().ok() != self.enc_cert.subject_name().to_der().ok() {
            return Err(ChannelError::Identity(
                "the signing and encryption certificates name different subjects".into(),
            ));
        }
        Ok(())
    }

    fn install(&self, b: &mut SslContextBuilder) -> Result<(), ChannelError> {
        b.set_sign_certificate(&self.sign_cert).map_err(cfg_err)?;
        b.set_sign_private_key(&self.sign_key).map_err(cfg_err)?;
        b.set_enc_certificate(&self.enc_cert).map_err(cfg_err)?;
        b.set_enc_private_key(&self.enc_key).map_err(cfg_err)?;
        b.check_private_key().map_err(cfg_err)
    }
}

/// Whether a server asks its clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present one (node to node).
    Required,
    /// A client may present one (the API: members identify themselves, others read what the
    /// read policy leaves public).
    Optional,
}

fn builder(method: SslMethod) -> Result<SslContextBuilder, ChannelError> {
    let mut b = SslContext::builder(method).map_err(cfg_err)?;
    b.enable_ntls();
    b.set_cipher_list(TLCP_CIPHERS).map_err(cfg_err)?;
    // No session tickets: every connection is fully authenticated, and strict peers (GmSSL)
    // refuse the extension.
    b.set_options(SslOptions::NO_TICKET);
    Ok(b)
}

/// Runs a handshake within [`HANDSHAKE_TIMEOUT`].
async fn bounded<T, E: std::fmt::Display>(
    handshake: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ChannelError> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Err(_) => Err(ChannelError::Timeout),
        Ok(Err(e)) => Err(ChannelError::Handshake(e.to_string())),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Accepts secure connections: TLCP for a `sm` identity, TLS 1.3 for an `intl` one.
pub struct TlcpServer {
    inner: ServerKind,
}

enum ServerKind {
    Tlcp(SslContext),
    Tls(tokio_rustls::TlsAcceptor),
}

impl TlcpServer {
    /// A server with `identity`, asking clients for certificates as `auth` says.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the library refuses the identity.
    pub fn new(identity: &TlcpIdentity, auth: ClientAuth) -> Result<Self, ChannelError> {
        let pair = match &identity.inner {
            IdentityKind::Tls(t) => {
                let cfg = tls::server_config(t, auth)?;
                return Ok(TlcpServer { inner: ServerKind::Tls(tokio_rustls::TlsAcceptor::from(cfg)) });
            }
            IdentityKind::Tlcp(p) => p,
        };
        let mut b = builder(SslMethod::ntls_server())?;
        pair.install(&mut b)?;
        let mode = match auth {
            ClientAuth::Required => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            ClientAuth::Optional => SslVerifyMode::PEER,
        };
        // The caller checks the certificate against the chain's member set (module docs).
        b.set_verify_callback(mode, |_, _| true);
        Ok(TlcpServer { inner: ServerKind::Tlcp(b.build()) })
    }

    /// Runs the server side of a handshake on `stream`, within [`HANDSHAKE_TIMEOUT`].
    ///
    /// # Errors
    /// [`ChannelError::Handshake`] or [`ChannelError::Timeout`].
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> Result<SecureStream<S>, ChannelError> {
        let ctx = match &self.inner {
            ServerKind::Tls(a) => {
                let s = bounded(a.accept(stream)).await?;
                return Ok(SecureStream { inner: StreamKind::Tls(Box::new(s.into())) });
            }
            ServerKind::Tlcp(ctx) => ctx,
        };
        let ssl = Ssl::new(ctx).map_err(cfg_err)?;
        let mut s = tokio_tongsuo::SslStream::new(ssl, stream).map_err(cfg_err)?;
        bounded(Pin::new(&mut s).accept()).await?;
        Ok(SecureStream { inner: StreamKind::Tlcp(s) })
    }
}

/// Opens secure connections: TLCP under `sm`, TLS 1.3 under `intl`.
pub struct TlcpClient {
    inner: ClientKind,
}

enum ClientKind {
    Tlcp(SslContext),
    Tls(tokio_rustls::TlsConnector),
}

impl TlcpClient {
    /// A client presenting `identity` when given (needed for mutual authentication and for the
    /// ECDHE suites, where both sides hold two key pairs); without one it offers the ECC suites.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the library refuses the identity.
    pub fn new(identity: Option<&TlcpIdentity>) -> Result<Self, ChannelError> {
        let suite = identity.map_or(fdl_crypto::Suite::Sm, TlcpIdentity::suite);
        Self::for_suite(suite, identity)
    }

    /// A client for a chain of `suite` (TLCP under `sm`, TLS 1.3 under `intl`), presenting
    /// `identity` when given; it must be of the same suite.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the library refuses the identity or the suites differ.
    pub fn for_suite(suite: fdl_crypto::Suite, identity: Option<&TlcpIdentity>) -> Result<Self, ChannelError> {
        if identity.is_some_and(|i| i.suite() != suite) {
            return Err(ChannelError::Config(format!("the client identity is not of the {suite} suite")));
        }
        if suite == fdl_crypto::Suite::Intl {
            let t = identity.and_then(|i| match &i.inner {
                IdentityKind::Tls(t) => Some(t),
                IdentityKind::Tlcp(_) => None,
            });
            let cfg = tls::client_config(t)?;
            return Ok(TlcpClient { inner: ClientKind::Tls(tokio_rustls::TlsConnector::from(cfg)) });
        }
        let mut b = builder(SslMethod::ntls_client())?;
        if let Some(IdentityKind::Tlcp(pair)) = identity.map(|i| &i.inner) {
            pair.install(&mut b)?;
        } else {
            b.set_cipher_list("ECC-SM2-SM4-GCM-SM3:ECC-SM2-SM4-CBC-SM3").map_err(cfg_err)?;
        }
        // The caller checks the server's certificate after the handshake (module docs).
        b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        Ok(TlcpClient { inner: ClientKind::Tlcp(b.build()) })
    }

    /// Runs the client side of a handshake on `stream`, within [`HANDSHAKE_TIMEOUT`].
    ///
    /// # Errors
    /// [`ChannelError::Handshake`] or [`ChannelError::Timeout`].
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> Result<SecureStream<S>, ChannelError> {
        let ctx = match &self.inner {
            ClientKind::Tls(c) => {
                let name = tls::server_name()?;
                let s = bounded(c.connect(name, stream)).await?;
                return Ok(SecureStream { inner: StreamKind::Tls(Box::new(s.into())) });
            }
            ClientKind::Tlcp(ctx) => ctx,
        };
        let ssl = Ssl::new(ctx).map_err(cfg_err)?;
        let mut s = tokio_tongsuo::SslStream::new(ssl, stream).map_err(cfg_err)?;
        bounded(Pin::new(&mut s).connect()).await?;
        Ok(SecureStream { inner: StreamKind::Tlcp(s) })
    }
}

/// An established secure connection.
pub struct SecureStream<S> {
    inner: StreamKind<S>,
}

enum StreamKind<S> {
    Tlcp(tokio_tongsuo::SslStream<S>),
    Tls(Box<tokio_rustls::TlsStream<S>>),
}

impl<S> std::fmt::Debug for SecureStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureStream({})", self.cipher())
    }
}

impl<S> SecureStream<S> {
    /// The peer's signing certificate, DER (`None` when it presented none).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        match &self.inner {
            StreamKind::Tlcp(s) => s.ssl().peer_certificate().and_then(|c| c.to_der().ok()),
            StreamKind::Tls(s) => s.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()),
        }
    }

    /// The negotiated suite, e.g. `ECDHE-SM2-SM4-GCM-SM3` or `TLS13_AES_256_GCM_SHA384`.
    pub fn cipher(&self) -> String {
        match &self.inner {
            StreamKind::Tlcp(s) => s.ssl().current_cipher().map(|c| c.name().to_string()).unwrap_or_default(),
            StreamKind::Tls(s) => {
                s.get_ref().1.negotiated_cipher_suite().map(|c| format!("{:?}", c.suite())).unwrap_or_default()
            }
        }
    }

    /// The protocol version: `NTLSv1.1` for TLCP, `TLSv1.3`.
    pub fn version(&self) -> &'static str {
        match &self.inner {
            StreamKind::Tlcp(s) => s.ssl().version_str(),
            StreamKind::Tls(_) => "TLSv1.3",
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SecureStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            StreamKind::Tlcp(s) => Pin::new(s).poll_read(cx, buf),
            StreamKind::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SecureStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            StreamKind::Tlcp(s) => Pin::new(s).poll_write(cx, buf),
            StreamKind::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            StreamKind::Tlcp(s) => Pin::new(s).poll_flush(cx),
            StreamKind::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            StreamKind::Tlcp(s) => Pin::new(s).poll_shutdown(cx),
            StreamKind::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
