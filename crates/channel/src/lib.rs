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

fn cfg_err(e: impl std::fmt::Display) -> ChannelError {
    ChannelError::Config(e.to_string())
}

/// Where a TLCP endpoint's four files are: two certificates (PEM) and their keys (PKCS#8 PEM,
/// mode 0600).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlcpFiles {
    /// The signing certificate.
    pub sign_cert: PathBuf,
    /// The signing key.
    pub sign_key: PathBuf,
    /// The encryption certificate.
    pub enc_cert: PathBuf,
    /// The encryption key.
    pub enc_key: PathBuf,
}

impl TlcpFiles {
    /// The usual names inside a directory: `sign.pem`, `sign.key`, `enc.pem`, `enc.key`.
    pub fn in_dir(dir: &Path) -> Self {
        TlcpFiles {
            sign_cert: dir.join("sign.pem"),
            sign_key: dir.join("sign.key"),
            enc_cert: dir.join("enc.pem"),
            enc_key: dir.join("enc.key"),
        }
    }

    /// The same files with relative paths resolved against `base`.
    pub fn resolved(&self, base: &Path) -> Self {
        let r = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        TlcpFiles {
            sign_cert: r(&self.sign_cert),
            sign_key: r(&self.sign_key),
            enc_cert: r(&self.enc_cert),
            enc_key: r(&self.enc_key),
        }
    }
}

/// A TLCP endpoint's certificates and keys, loaded.
pub struct TlcpIdentity {
    sign_cert: X509,
    sign_key: PKey<Private>,
    enc_cert: X509,
    enc_key: PKey<Private>,
}

impl std::fmt::Debug for TlcpIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlcpIdentity({:?})", self.sign_cert.subject_name())
    }
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
        let id = TlcpIdentity {
            sign_cert: read_cert(&files.sign_cert)?,
            sign_key: read_key(&files.sign_key)?,
            enc_cert: read_cert(&files.enc_cert)?,
            enc_key: read_key(&files.enc_key)?,
        };
        id.check()?;
        Ok(id)
    }

    /// An identity from PEM text (certificates) and PKCS#8 PEM keys held in memory.
    ///
    /// # Errors
    /// [`ChannelError::Identity`] for malformed input or a key that does not match.
    pub fn from_pem(sign_cert: &[u8], sign_key: &[u8], enc_cert: &[u8], enc_key: &[u8]) -> Result<Self, ChannelError> {
        let id_err = |what: &str, e: tongsuo::error::ErrorStack| ChannelError::Identity(format!("{what}: {e}"));
        let id = TlcpIdentity {
            sign_cert: X509::from_pem(sign_cert).map_err(|e| id_err("signing certificate", e))?,
            sign_key: PKey::private_key_from_pem(sign_key).map_err(|e| id_err("signing key", e))?,
            enc_cert: X509::from_pem(enc_cert).map_err(|e| id_err("encryption certificate", e))?,
            enc_key: PKey::private_key_from_pem(enc_key).map_err(|e| id_err("encryption key", e))?,
        };
        id.check()?;
        Ok(id)
    }

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

    /// The signing certificate, DER: what peers check.
    pub fn sign_cert_der(&self) -> Vec<u8> {
        self.sign_cert.to_der().unwrap_or_default()
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

/// Accepts TLCP connections.
pub struct TlcpServer {
    ctx: SslContext,
}

impl TlcpServer {
    /// A server with `identity`, asking clients for certificates as `auth` says.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the library refuses the identity.
    pub fn new(identity: &TlcpIdentity, auth: ClientAuth) -> Result<Self, ChannelError> {
        let mut b = builder(SslMethod::ntls_server())?;
        identity.install(&mut b)?;
        let mode = match auth {
            ClientAuth::Required => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            ClientAuth::Optional => SslVerifyMode::PEER,
        };
        // The caller checks the certificate against the chain's member set (module docs).
        b.set_verify_callback(mode, |_, _| true);
        Ok(TlcpServer { ctx: b.build() })
    }

    /// Runs the server side of a handshake on `stream`, within [`HANDSHAKE_TIMEOUT`].
    ///
    /// # Errors
    /// [`ChannelError::Handshake`] or [`ChannelError::Timeout`].
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> Result<SecureStream<S>, ChannelError> {
        let ssl = Ssl::new(&self.ctx).map_err(cfg_err)?;
        let mut s = tokio_tongsuo::SslStream::new(ssl, stream).map_err(cfg_err)?;
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut s).accept()).await {
            Err(_) => Err(ChannelError::Timeout),
            Ok(Err(e)) => Err(ChannelError::Handshake(e.to_string())),
            Ok(Ok(())) => Ok(SecureStream { inner: s }),
        }
    }
}

/// Opens TLCP connections.
pub struct TlcpClient {
    ctx: SslContext,
}

impl TlcpClient {
    /// A client presenting `identity` when given (needed for mutual authentication and for the
    /// ECDHE suites, where both sides hold two key pairs); without one it offers the ECC suites.
    ///
    /// # Errors
    /// [`ChannelError::Config`] when the library refuses the identity.
    pub fn new(identity: Option<&TlcpIdentity>) -> Result<Self, ChannelError> {
        let mut b = builder(SslMethod::ntls_client())?;
        if let Some(id) = identity {
            id.install(&mut b)?;
        } else {
            b.set_cipher_list("ECC-SM2-SM4-GCM-SM3:ECC-SM2-SM4-CBC-SM3").map_err(cfg_err)?;
        }
        // The caller checks the server's certificate after the handshake (module docs).
        b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        Ok(TlcpClient { ctx: b.build() })
    }

    /// Runs the client side of a handshake on `stream`, within [`HANDSHAKE_TIMEOUT`].
    ///
    /// # Errors
    /// [`ChannelError::Handshake`] or [`ChannelError::Timeout`].
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> Result<SecureStream<S>, ChannelError> {
        let ssl = Ssl::new(&self.ctx).map_err(cfg_err)?;
        let mut s = tokio_tongsuo::SslStream::new(ssl, stream).map_err(cfg_err)?;
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut s).connect()).await {
            Err(_) => Err(ChannelError::Timeout),
            Ok(Err(e)) => Err(ChannelError::Handshake(e.to_string())),
            Ok(Ok(())) => Ok(SecureStream { inner: s }),
        }
    }
}

/// An established TLCP connection.
pub struct SecureStream<S> {
    inner: tokio_tongsuo::SslStream<S>,
}

impl<S> std::fmt::Debug for SecureStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureStream({})", self.cipher())
    }
}

impl<S> SecureStream<S> {
    /// The peer's signing certificate, DER (`None` when it presented none).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        self.inner.ssl().peer_certificate().and_then(|c| c.to_der().ok())
    }

    /// The negotiated suite, e.g. `ECDHE-SM2-SM4-GCM-SM3`.
    pub fn cipher(&self) -> String {
        self.inner.ssl().current_cipher().map(|c| c.name().to_string()).unwrap_or_default()
    }

    /// The protocol version, `NTLSv1.1` for TLCP.
    pub fn version(&self) -> &'static str {
        self.inner.ssl().version_str()
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SecureStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SecureStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
