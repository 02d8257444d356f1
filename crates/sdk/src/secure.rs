//! The API over TLCP (STD-9.2): HTTP/1.1 on a TLCP channel to a node's secure port, the node's
//! certificate checked against the chain's CA bundle.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use fdl_channel::{TlcpClient, TlcpIdentity};
use http_body_util::{BodyExt as _, Full};
use hyper::{body::Bytes, client::conn::http1::SendRequest};
use tokio::net::TcpStream;

/// Most idle connections kept for reuse.
const MAX_IDLE: usize = 16;
/// Longest a node's answer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP over TLCP to one node.
pub(crate) struct SecureTransport {
    authority: String,
    connector: TlcpClient,
    cas: Vec<Vec<u8>>,
    idle: std::sync::Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl SecureTransport {
    /// A transport to `authority` (`host:port`) trusting the CA certificates `cas` (DER), with
    /// the client's TLCP pair when it has one (mutual authentication).
    pub(crate) fn new(authority: &str, cas: Vec<Vec<u8>>, identity: Option<&TlcpIdentity>) -> Result<Self, String> {
        if cas.is_empty() {
            return Err("no CA certificate to check the node against".into());
        }
        // The chain's suite, from its CAs' keys: TLCP under `sm`, TLS 1.3 under `intl`.
        let suite = fdl_pki::parse(&cas[0]).map_err(|e| format!("CA bundle: {e}"))?.public_key.suite();
        let connector = TlcpClient::for_suite(suite, identity).map_err(|e| e.to_string())?;
        Ok(SecureTransport { authority: authority.into(), connector, cas, idle: std::sync::Mutex::new(Vec::new()) })
    }

    /// Checks the node's signing certificate: issued by one of the trusted CAs, valid now, and a
    /// node's (role validator or observer).
    fn check_server(&self, cert: Option<&[u8]>) -> Result<(), String> {
        let der = cert.ok_or("the node presented no certificate")?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut why = String::new();
        for ca in &self.cas {
            match fdl_pki::verify(der, ca, now) {
                Ok(info) if matches!(info.role, Some(fdl_pki::Role::Validator | fdl_pki::Role::Observer)) => {
                    return Ok(());
                }
                Ok(info) => return Err(format!("{} is not a node's certificate", info.common_name)),
                Err(e) => why = e.to_string(),
            }
        }
        Err(format!("the node's certificate is not from a trusted CA ({why})"))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::time::timeout(fdl_channel::HANDSHAKE_TIMEOUT, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let stream = self.connector.connect(tcp).await.map_err(|e| e.to_string())?;
        self.check_server(stream.peer_certificate().as_deref())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request; returns the status and the body.
    pub(crate) async fn request(
        &self,
        method: hyper::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>, Option<String>), String> {
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let mut sender = match idle {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut req = hyper::Request::builder().method(method).uri(path).header(hyper::header::HOST, &self.authority);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| "the node did not answer in time".to_string())?
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let chain = chain_id_header(resp.headers());
        let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        if let Ok(mut v) = self.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(sender);
        }
        Ok((status, bytes.to_vec(), chain))
    }
}

/// The chain id a node names in its answer's `x-fdl-chain-id` header.
pub(crate) fn chain_id_header(headers: &hyper::HeaderMap) -> Option<String> {
    headers.get(fdl_types::read_policy::CHAIN_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The CA certificates (DER) of a PEM bundle.
///
/// # Errors
/// When the text holds no certificate or a malformed one.
pub fn ca_bundle_from_pem(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = pem;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after.find(END).ok_or("a certificate without its END line")? + END.len();
        out.push(fdl_pki::from_pem(&after[..end]).map_err(|e| e.to_string())?);
        rest = &after[end..];
    }
    if out.is_empty() {
        return Err("no certificate in the bundle".into());
    }
    Ok(out)
}

/// Shared handle.
pub(crate) type Secure = Arc<SecureTransport>;
