//! TLS 1.3 under the `intl` suite (rustls with ring), with the same trust model as TLCP: the
//! handshake proves the peer holds the key of the certificate it presents, and the caller checks
//! that certificate against the chain's member set afterwards.

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, DistinguishedName, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};

use crate::{ChannelError, ClientAuth, cfg_err};

/// The signature algorithms rustls's ring provider verifies handshake signatures with.
fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks handshake signatures only; the certificate itself is the caller's to judge.
#[derive(Debug)]
struct PeerKeyProof {
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
}

impl ServerCertVerifier for PeerKeyProof {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PeerKeyProof {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// An `intl` endpoint's certificate (Ed25519, from its institution's CA) and key.
pub(crate) struct TlsIdentity {
    pub(crate) cert: CertificateDer<'static>,
    key_der: zeroize::Zeroizing<Vec<u8>>,
}

impl TlsIdentity {
    pub(crate) fn new(cert_der: Vec<u8>, pkcs8_der: zeroize::Zeroizing<Vec<u8>>) -> Self {
        TlsIdentity { cert: CertificateDer::from(cert_der), key_der: pkcs8_der }
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.to_vec()))
    }
}

pub(crate) fn server_config(id: &TlsIdentity, auth: ClientAuth) -> Result<Arc<rustls::ServerConfig>, ChannelError> {
    let verifier = Arc::new(PeerKeyProof { algorithms: algorithms(), mandatory: auth == ClientAuth::Required });
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(cfg_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![id.cert.clone()], id.key())
        .map_err(cfg_err)?;
    Ok(Arc::new(cfg))
}

pub(crate) fn client_config(id: Option<&TlsIdentity>) -> Result<Arc<rustls::ClientConfig>, ChannelError> {
    let verifier = Arc::new(PeerKeyProof { algorithms: algorithms(), mandatory: true });
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(cfg_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cfg = match id {
        Some(id) => b.with_client_auth_cert(vec![id.cert.clone()], id.key()).map_err(cfg_err)?,
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The name a client sends; nodes are identified by their certificates, not by this.
pub(crate) fn server_name() -> Result<ServerName<'static>, ChannelError> {
    ServerName::try_from("fdl-node").map_err(cfg_err)
}
