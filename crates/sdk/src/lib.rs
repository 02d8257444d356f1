//! The FDL Rust SDK: build and sign transactions, talk to a node's REST API, and check what the
//! node says — an account's balance is accepted only with a Merkle proof that verifies against
//! the header it comes with (present and absent accounts alike).
//!
//! A header is trusted once its commit certificate verifies against the validator set of its
//! height ([`verify_commit`], [`verify_block_view`]); the API's answers are typed views from
//! `fdl_types::api`, one method per endpoint.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

use std::time::Duration;

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite, random_bytes};
use fdl_schema::{decode_account, keys::account_key};
use fdl_types::{
    BlockHeader, Credential, Decode, Encode, Payload, SignedTx, TxBody,
    api::{
        AccountView, AclView, AuditListView, AuditQuery, BatchItemView, BatchResultView, BlockView, ErrorView,
        EvidenceView, HeaderView, ParamsView, ProposalListView, ProposalView, RegisteredCertView, RevocationListView,
        StatusView, StreamMessageView, SubmitBatchRequest, SubmitRequest, SubmitView, TxStatusView,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;

mod light;
mod secure;

pub use light::{LightClient, MAX_PROVEN_ENTRIES, TrustAnchor, TrustedHeader, VerifiedTx};
pub use secure::ca_bundle_from_pem;

/// Default expiry window the SDK gives new transactions, in blocks.
pub const DEFAULT_EXPIRY_BLOCKS: u64 = 10_000;

/// SDK failures.
#[derive(Debug, Error)]
pub enum SdkError {
    /// The node could not be reached or answered garbage.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an API error.
    #[error("{code} (HTTP {status}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: String,
        /// Message.
        message: String,
        /// The error body, typed (with the account and its absence proof for
        /// `account_not_found`).
        error: Box<ErrorView>,
        /// The body as received, for answers that carry more than an error (a 429 batch).
        raw: String,
    },
    /// A proof or header failed verification: the node's answer cannot be trusted.
    #[error("verification failed: {0}")]
    Verify(String),
    /// Building or signing a transaction failed.
    #[error("transaction: {0}")]
    Tx(String),
}

impl SdkError {
    /// The API error code, if this is an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            SdkError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// An account whose state was proven against a header. The header is the one the node sent:
/// [`check_account_proof`] does not authenticate it, so a node (or anything between it and the
/// client) may have made it up. A read to rely on goes through [`LightClient::account`], which
/// gives a [`VerifiedAccount`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenAccount {
    /// Address.
    pub address: Address,
    /// Balance (zero for an absent account).
    pub balance: u128,
    /// Transactions executed from this account.
    pub sent: u64,
    /// Whether the account exists.
    pub exists: bool,
    /// The header the proof is against (as the node sent it).
    pub header: BlockHeader,
    /// The raw view, for display.
    pub view: AccountView,
}

/// An account proven against a header whose commit certificate verifies against the trust
/// anchor ([`LightClient::account`], [`verify_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccount {
    /// The account and its proof.
    pub account: ProvenAccount,
    /// The header it is proven against, and how it was verified.
    pub trust: TrustedHeader,
}

/// Checks a header view: its encoding decodes, hashes to `hash`, and every displayed field is the
/// one in the encoding. This says nothing about whether the chain decided the header: that is
/// [`LightClient::trust_header`].
///
/// # Errors
/// [`SdkError::Verify`] on any mismatch.
pub fn verify_header(view: &HeaderView, suite: Suite) -> Result<BlockHeader, SdkError> {
    let bytes = hex::decode(&view.encoded).map_err(|e| SdkError::Verify(format!("header encoding: {e}")))?;
    let h = BlockHeader::decode(&bytes).map_err(|e| SdkError::Verify(format!("header: {e}")))?;
    if h.hash(suite) != view.hash {
        return Err(SdkError::Verify("header hash does not match its encoding".into()));
    }
    if HeaderView::new(&h, suite) != *view {
        return Err(SdkError::Verify("header fields do not match its encoding".into()));
    }
    Ok(h)
}

/// Checks an account view against the header it comes with: the header's encoding
/// ([`verify_header`]), then the Merkle proof of the account's state value (or its absence)
/// against the header's state root, then that the balance shown is the proven one. The header
/// itself is not authenticated; see [`verify_account`].
///
/// # Errors
/// [`SdkError::Verify`] when anything does not check out.
pub fn check_account_proof(view: &AccountView, suite: Suite) -> Result<ProvenAccount, SdkError> {
    let header = verify_header(&view.header, suite)?;
    let address: Address = view.address.parse().map_err(|e| SdkError::Verify(format!("address: {e}")))?;
    let key = account_key(&address);
    if hex::encode(&key) != view.state_key {
        return Err(SdkError::Verify("proof is for another key".into()));
    }
    let proof = hex::decode(&view.proof).map_err(|e| SdkError::Verify(format!("proof hex: {e}")))?;
    let value =
        view.value.as_ref().map(hex::decode).transpose().map_err(|e| SdkError::Verify(format!("value hex: {e}")))?;
    fdl_proof::verify_proof(suite, &header.state_root, &key, value.as_deref(), &proof)
        .map_err(|e| SdkError::Verify(e.to_string()))?;
    let (balance, sent, exists, frozen) = match &value {
        Some(v) => {
            let a = decode_account(&key, v).map_err(|e| SdkError::Verify(e.to_string()))?;
            (a.balance, a.sent, true, a.frozen)
        }
        None => (0, 0, false, false),
    };
    if view.balance != balance.to_string() || view.sent != sent || view.frozen != frozen {
        return Err(SdkError::Verify("displayed balance differs from the proven value".into()));
    }
    Ok(ProvenAccount { address, balance, sent, exists, header, view: view.clone() })
}

/// Verifies an account view against a header the light client trusts: the view's header must be
/// `trusted` ([`LightClient::trust_header`]), and the proof must verify against it
/// ([`check_account_proof`]).
///
/// # Errors
/// [`SdkError::Verify`] when the header is another one or the proof fails.
pub fn verify_account(view: &AccountView, trusted: &TrustedHeader) -> Result<VerifiedAccount, SdkError> {
    if view.header.hash != trusted.hash() {
        return Err(SdkError::Verify(format!(
            "the account is proven against block {}, not the verified block {} of that height",
            view.header.hash,
            trusted.hash()
        )));
    }
    let account = check_account_proof(view, trusted.suite())?;
    Ok(VerifiedAccount { account, trust: trusted.clone() })
}

/// Builds and signs a transaction with a random nonce and no certificate (for an open chain
/// whose genesis lists no member institutions; see [`build_certified_tx`]).
///
/// # Errors
/// [`SdkError::Tx`] if randomness or signing fails.
pub fn build_tx(
    signer: &dyn Signer,
    chain_id: &str,
    expiry_height: u64,
    payload: Payload,
) -> Result<SignedTx, SdkError> {
    build_certified_tx(signer, Credential::None, chain_id, expiry_height, payload)
}

/// Builds and signs a transaction with a random nonce, carrying `credential`: the signer's
/// certificate on first use ([`Credential::Certificate`]), its registered hash afterwards
/// ([`Credential::Registered`], see [`fdl_types::cert_hash`]).
///
/// # Errors
/// [`SdkError::Tx`] if randomness or signing fails.
pub fn build_certified_tx(
    signer: &dyn Signer,
    credential: Credential,
    chain_id: &str,
    expiry_height: u64,
    payload: Payload,
) -> Result<SignedTx, SdkError> {
    let mut n = [0u8; 8];
    random_bytes(&mut n).map_err(|e| SdkError::Tx(e.to_string()))?;
    TxBody {
        chain_id: chain_id.into(),
        signer: signer.public_key(),
        credential,
        nonce: u64::from_be_bytes(n),
        expiry_height,
        payload,
    }
    .sign(signer)
    .map_err(|e| SdkError::Tx(e.to_string()))
}

/// A client of one node's API: plain HTTP (a node serves it on loopback only), or HTTP over
/// TLCP to a node's secure port ([`Client::with_tlcp`]).
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// HTTP over TLCP (TLS 1.3 under `intl`) to a node's secure port; `None`: plain HTTP.
    secure: Option<secure::Secure>,
    /// The key that signs read requests, with its certificate (STD-16.1); `None`: anonymous.
    reader: Option<std::sync::Arc<ReadKey>>,
    /// The chain id signed requests sign: given, or learned from the node's first answer.
    chain_id: std::sync::Arc<std::sync::OnceLock<String>>,
}

/// A key that signs read requests, and the certificate sent with them.
struct ReadKey {
    key: std::sync::Arc<dyn Signer>,
    cert: Option<Vec<u8>>,
}

/// The headers of a signed read request (`x-fdl-key`, `x-fdl-time`, `x-fdl-signature`) for
/// `method` and `path_and_query` (exactly as sent), signed by `key` at `time_s` for `chain_id`.
/// With `cert`, the key header carries the certificate (DER): the node then knows the caller's
/// role and institution; without, only its key.
///
/// # Errors
/// [`SdkError::Tx`] when the key cannot sign.
pub fn read_request_headers(
    key: &dyn Signer,
    cert: Option<&[u8]>,
    chain_id: &str,
    method: &str,
    path_and_query: &str,
    time_s: u64,
) -> Result<[(&'static str, String); 3], SdkError> {
    use fdl_types::read_policy::{KEY_HEADER, SIGNATURE_HEADER, TIME_HEADER, request_message};
    let sig = key
        .sign(&request_message(chain_id, method, path_and_query, time_s))
        .map_err(|e| SdkError::Tx(format!("signing a read request: {e}")))?;
    let id = match cert {
        Some(der) => hex::encode(der),
        None => hex::encode(key.public_key().to_bytes()),
    };
    Ok([(KEY_HEADER, id), (TIME_HEADER, time_s.to_string()), (SIGNATURE_HEADER, hex::encode(sig.as_bytes()))])
}

impl Client {
    /// A client for the node at `url` (e.g. `http://127.0.0.1:8545`).
    ///
    /// # Errors
    /// [`SdkError::Transport`] if the HTTP client cannot be built.
    pub fn new(url: &str) -> Result<Self, SdkError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| SdkError::Transport { url: url.into(), reason: e.to_string() })?;
        Ok(Client {
            base: url.trim_end_matches('/').to_string(),
            http,
            secure: None,
            reader: None,
            chain_id: std::sync::Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// This client with its reads signed by `key` (STD-16.1), sending `cert` (DER) with them
    /// so the node knows the caller's role and institution; without a certificate the node
    /// knows only the key (enough to read its own account). The node accepts signed requests
    /// from its own host (loopback) only; elsewhere the channel's certificate identifies the
    /// caller.
    pub fn with_read_key(mut self, key: std::sync::Arc<dyn Signer>, cert: Option<Vec<u8>>) -> Self {
        self.reader = Some(std::sync::Arc::new(ReadKey { key, cert }));
        self
    }

    /// This client with the chain id its signed reads sign (else learned from the node's
    /// `x-fdl-chain-id` answer header on first use).
    pub fn with_chain_id(self, chain_id: &str) -> Self {
        let _ = self.chain_id.set(chain_id.to_string());
        self
    }

    /// A client for a node's API over TLCP at `url` (`https://host:port`; TLS 1.3 for an `intl`
    /// chain), checking the node's certificate against `cas` (the chain's CA certificates, DER;
    /// see [`ca_bundle_from_pem`]) and presenting the client's channel identity when given: the
    /// node then knows who reads (STD-16.1).
    ///
    /// # Errors
    /// [`SdkError::Transport`] for a URL that is not `https://host:port`, an empty bundle, or a
    /// refused identity.
    pub fn with_tlcp(
        url: &str,
        cas: Vec<Vec<u8>>,
        identity: Option<&fdl_channel::TlcpIdentity>,
    ) -> Result<Self, SdkError> {
        let bad = |reason: String| SdkError::Transport { url: url.into(), reason };
        let base = url.trim_end_matches('/');
        let authority = base
            .strip_prefix("https://")
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| bad("a TLCP API URL is https://host:port".into()))?;
        let t = secure::SecureTransport::new(authority, cas, identity).map_err(bad)?;
        let mut c = Client::new(base)?;
        c.secure = Some(std::sync::Arc::new(t));
        Ok(c)
    }

    /// One request as given: over the secure channel when the client has one, else plain HTTP.
    /// Returns the status, the body and the node's `x-fdl-chain-id` answer header.
    async fn send_raw(
        &self,
        post: bool,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>, Option<String>), SdkError> {
        let transport = |reason: String| SdkError::Transport { url: url.into(), reason };
        if let Some(t) = &self.secure {
            let path = url.strip_prefix(&self.base).unwrap_or(url);
            let method = if post { hyper::Method::POST } else { hyper::Method::GET };
            return t.request(method, path, headers, body).await.map_err(transport);
        }
        let mut req = if post {
            self.http.post(url).header("content-type", "application/json").body(body.unwrap_or_default())
        } else {
            self.http.get(url)
        };
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let chain = secure::chain_id_header(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| transport(e.to_string()))?;
        Ok((status, bytes.to_vec(), chain))
    }

    /// The chain id signed reads sign: given, or learned from the node's answer header once.
    async fn chain_id(&self) -> Result<String, SdkError> {
        if let Some(c) = self.chain_id.get() {
            return Ok(c.clone());
        }
        let url = format!("{}/v1/status", self.base);
        let (_, _, id) = self.send_raw(false, &url, &[], None).await?;
        let id = id.ok_or_else(|| SdkError::Transport { url, reason: "the node did not say its chain id".into() })?;
        let _ = self.chain_id.set(id.clone());
        Ok(id)
    }

    /// One request to `url`, signed when the client has a read key (STD-16.1).
    async fn exchange(&self, post: bool, url: &str, body: Option<Vec<u8>>) -> Result<(u16, Vec<u8>), SdkError> {
        let mut headers = Vec::new();
        if let Some(r) = &self.reader {
            let path_and_query = url.strip_prefix(&self.base).unwrap_or(url);
            let chain = self.chain_id().await?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let method = if post { "POST" } else { "GET" };
            headers.extend(read_request_headers(
                r.key.as_ref(),
                r.cert.as_deref(),
                &chain,
                method,
                path_and_query,
                now,
            )?);
        }
        let (status, body, chain) = self.send_raw(post, url, &headers, body).await?;
        if let Some(c) = chain {
            let _ = self.chain_id.set(c);
        }
        Ok((status, body))
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(&self, url: &str, body: &B) -> Result<T, SdkError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| SdkError::Transport { url: url.into(), reason: e.to_string() })?;
        let r = self.exchange(true, url, Some(bytes)).await;
        self.handle(url, r).await
    }

    /// The node's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn handle<T: DeserializeOwned>(&self, url: &str, r: Result<(u16, Vec<u8>), SdkError>) -> Result<T, SdkError> {
        let (status, bytes) = r?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes)
                .map_err(|e| SdkError::Transport { url: url.into(), reason: format!("bad response: {e}") });
        }
        Err(api_error(status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, SdkError> {
        let url = format!("{}{path}", self.base);
        let r = self.exchange(false, &url, None).await;
        self.handle(&url, r).await
    }

    /// `GET /v1/validators`: the validator set as the node reports it.
    ///
    /// # Errors
    /// [`SdkError`]; [`SdkError::Verify`] for a malformed set.
    pub async fn validators(&self, suite: Suite) -> Result<ValidatorSet, SdkError> {
        self.validators_at(suite, None).await
    }

    /// `GET /v1/validators?height=H`: the validator set that decided block `H` (governance changes
    /// the set; a commit certificate is checked against the set of its own height). `None`: the
    /// set in force now.
    ///
    /// # Errors
    /// [`SdkError`]; [`SdkError::Verify`] for a malformed set.
    pub async fn validators_at(&self, suite: Suite, height: Option<u64>) -> Result<ValidatorSet, SdkError> {
        let path = match height {
            Some(h) => format!("/v1/validators?height={h}"),
            None => "/v1/validators".to_string(),
        };
        let v: fdl_types::api::ValidatorsView = self.get(&path).await?;
        let mut members = Vec::with_capacity(v.validators.len());
        for m in &v.validators {
            let bytes = hex::decode(&m.public_key).map_err(|e| SdkError::Verify(format!("validator key: {e}")))?;
            let k = fdl_crypto::PublicKey::from_bytes(suite, &bytes).map_err(|e| SdkError::Verify(e.to_string()))?;
            members.push((k, m.power));
        }
        ValidatorSet::new(members)
    }

    /// `GET /v1/status`.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn status(&self) -> Result<StatusView, SdkError> {
        self.get("/v1/status").await
    }

    /// The member institutions with their CAs and certified nodes.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn members(&self) -> Result<Vec<fdl_types::api::MemberView>, SdkError> {
        self.get("/v1/members").await
    }

    /// Submits a transaction; with `wait`, returns once it is committed, with its receipt.
    ///
    /// # Errors
    /// [`SdkError::Api`] with the refusal code.
    pub async fn submit(&self, tx: &SignedTx, wait: bool) -> Result<SubmitView, SdkError> {
        let url = format!("{}/v1/transactions{}", self.base, if wait { "?wait=commit" } else { "" });
        let body = SubmitRequest { tx: hex::encode(tx.encode()) };
        self.post_json(&url, &body).await
    }

    /// Submits up to 2,000 transactions at once; one verdict each. When the pool refuses the
    /// whole batch (HTTP 429) the verdicts are returned too, each with code `mempool_full`.
    ///
    /// # Errors
    /// [`SdkError`] for transport errors or a malformed request.
    pub async fn submit_batch(&self, txs: &[SignedTx]) -> Result<Vec<BatchItemView>, SdkError> {
        let url = format!("{}/v1/transactions/batch", self.base);
        let body = SubmitBatchRequest { txs: txs.iter().map(|t| hex::encode(t.encode())).collect() };
        match self.post_json::<_, BatchResultView>(&url, &body).await {
            Ok(res) => Ok(res.results),
            Err(SdkError::Api { status: 429, raw, .. }) if serde_json::from_str::<BatchResultView>(&raw).is_ok() => {
                let res: BatchResultView = serde_json::from_str(&raw)
                    .map_err(|e| SdkError::Transport { url: url.clone(), reason: format!("bad 429 body: {e}") })?;
                Ok(res.results)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/transactions/{hash}`.
    ///
    /// # Errors
    /// [`SdkError`], `tx_not_found` when unknown.
    pub async fn tx(&self, hash: &Hash) -> Result<TxStatusView, SdkError> {
        self.get(&format!("/v1/transactions/{hash}")).await
    }

    /// `GET /v1/blocks/{height}` or `/v1/blocks/latest`.
    ///
    /// # Errors
    /// [`SdkError`], `block_not_found` when absent.
    pub async fn block(&self, height: Option<u64>) -> Result<BlockView, SdkError> {
        match height {
            Some(h) => self.get(&format!("/v1/blocks/{h}")).await,
            None => self.get("/v1/blocks/latest").await,
        }
    }

    /// The account at `addr`, its proof checked against the header it comes with
    /// ([`check_account_proof`]); that header is the node's word. An unknown account is returned
    /// with `exists == false` once its proof of absence verifies. For a read proven against the
    /// trust anchor, use [`LightClient::account`].
    ///
    /// # Errors
    /// [`SdkError::Verify`] if the proof fails; API errors.
    pub async fn account(&self, addr: &Address, suite: Suite) -> Result<ProvenAccount, SdkError> {
        check_account_proof(&self.account_view(addr).await?, suite)
    }

    /// `GET /v1/accounts/{addr}`: the account view with its proof, also for an unknown account
    /// (the `account_not_found` answer carries the proof of its absence). Nothing is checked.
    ///
    /// # Errors
    /// API errors; [`SdkError::Verify`] when an `account_not_found` answer has no proof.
    pub async fn account_view(&self, addr: &Address) -> Result<AccountView, SdkError> {
        match self.get::<AccountView>(&format!("/v1/accounts/{addr}")).await {
            Ok(view) => Ok(view),
            Err(SdkError::Api { code, error, .. }) if code == "account_not_found" => {
                error.account.map(|a| *a).ok_or_else(|| SdkError::Verify("absence proof missing".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/genesis`: the genesis document the node runs, and its hash (not checked; see
    /// [`TrustAnchor::fetch`]).
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn genesis(&self) -> Result<fdl_types::api::GenesisView, SdkError> {
        self.get("/v1/genesis").await
    }

    /// `GET /v1/validators/{height}/proof`: the state entries the validator set of block `height`
    /// is computed from, with their proofs (not checked; [`LightClient`] checks them).
    ///
    /// # Errors
    /// [`SdkError`]; `block_not_found` when block `height - 1` is not committed.
    pub async fn validator_set_proof(&self, height: u64) -> Result<fdl_types::api::ValidatorSetProofView, SdkError> {
        self.get(&format!("/v1/validators/{height}/proof")).await
    }

    /// Signs and submits `payload` from `key`, expiring [`DEFAULT_EXPIRY_BLOCKS`] after the
    /// current height.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn send(&self, key: &KeyPair, payload: Payload, wait: bool) -> Result<SubmitView, SdkError> {
        self.send_as(key, None, payload, wait).await
    }

    /// Builds, signs and submits a transaction signed by `key` with its certificate `cert`
    /// (DER): the certificate itself if the chain has not registered it yet, else its hash.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn send_as(
        &self,
        key: &dyn Signer,
        cert: Option<&[u8]>,
        payload: Payload,
        wait: bool,
    ) -> Result<SubmitView, SdkError> {
        let st = self.status().await?;
        let credential = match cert {
            Some(der) => self.credential_for(st.suite, der).await?,
            None => Credential::None,
        };
        let expiry = st.height.saturating_add(DEFAULT_EXPIRY_BLOCKS);
        let tx = build_certified_tx(key, credential, &st.chain_id, expiry, payload)?;
        self.submit(&tx, wait).await
    }

    /// The credential to send with certificate `der`: its hash when the chain has registered
    /// it (`GET /v1/certificates/{hash}`), else the certificate.
    ///
    /// # Errors
    /// [`SdkError`] for transport failures.
    pub async fn credential_for(&self, suite: Suite, der: &[u8]) -> Result<Credential, SdkError> {
        let h = fdl_types::cert_hash(suite, der);
        match self.certificate(&h).await {
            Ok(_) => Ok(Credential::Registered(h)),
            Err(SdkError::Api { status: 404, .. }) => Ok(Credential::Certificate(der.to_vec())),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/evidence`: equivocations this node has seen.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn evidence(&self) -> Result<Vec<EvidenceView>, SdkError> {
        self.get("/v1/evidence").await
    }

    /// `GET /v1/certificates/{hash}`: a registered certificate.
    ///
    /// # Errors
    /// [`SdkError`]; `certificate_not_found` (HTTP 404) when not registered.
    pub async fn certificate(&self, hash: &Hash) -> Result<RegisteredCertView, SdkError> {
        self.get(&format!("/v1/certificates/{hash}")).await
    }

    /// `GET /v1/revocations`: the first page of revoked certificates (at most 1000), oldest
    /// first.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn revocations(&self) -> Result<RevocationListView, SdkError> {
        self.get("/v1/revocations").await
    }

    /// `GET /v1/revocations?from=N&limit=M`: at most `limit` revoked certificates (the node
    /// returns at most 1000), oldest first, from the `from`-th (from 0). The next page starts
    /// at `from` plus the length of this one; a shorter page than asked is the last.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn revocations_page(&self, from: u64, limit: u64) -> Result<RevocationListView, SdkError> {
        self.get(&format!("/v1/revocations?from={from}&limit={limit}")).await
    }

    /// `GET /v1/proposals`: every proposal, newest first.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn proposals(&self) -> Result<ProposalListView, SdkError> {
        self.get("/v1/proposals").await
    }

    /// `GET /v1/proposals/{id}`.
    ///
    /// # Errors
    /// [`SdkError`]; `proposal_not_found` when unknown.
    pub async fn proposal(&self, id: u64) -> Result<ProposalView, SdkError> {
        self.get(&format!("/v1/proposals/{id}")).await
    }

    /// `GET /v1/contracts`: every deployed contract.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn contracts(&self) -> Result<Vec<fdl_types::api::ContractView>, SdkError> {
        self.get("/v1/contracts").await
    }

    /// `GET /v1/contracts/{name}`: one contract with all its versions.
    ///
    /// # Errors
    /// [`SdkError`]; `unknown_contract` (404) when there is none by that name.
    pub async fn contract(&self, name: &str) -> Result<fdl_types::api::ContractView, SdkError> {
        self.get(&format!("/v1/contracts/{name}")).await
    }

    /// `POST /v1/contracts/{name}/query`: a read-only call against the latest final state.
    ///
    /// # Errors
    /// [`SdkError`]; a 4xx for an unknown contract or method, or arguments that are not JSON.
    pub async fn contract_query(
        &self,
        name: &str,
        req: &fdl_types::api::ContractQueryRequest,
    ) -> Result<fdl_types::api::ContractQueryView, SdkError> {
        let url = format!("{}/v1/contracts/{name}/query", self.base);
        self.post_json(&url, req).await
    }

    /// `GET /v1/contracts/{name}/state/{key}`: a value of a contract's storage (key in hex)
    /// with its Merkle proof against the latest state root.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn contract_state(&self, name: &str, key: &[u8]) -> Result<fdl_types::api::StateValueView, SdkError> {
        self.get(&format!("/v1/contracts/{name}/state/{}", hex::encode(key))).await
    }

    /// `GET /v1/acl`: the access rule of every native method.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn acl(&self) -> Result<AclView, SdkError> {
        self.get("/v1/acl").await
    }

    /// `GET /v1/params`: the chain parameters in force.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn params(&self) -> Result<ParamsView, SdkError> {
        self.get("/v1/params").await
    }

    /// `GET /v1/audit?...`: audit records matching `q`.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn audit(&self, q: &AuditQuery) -> Result<AuditListView, SdkError> {
        let qs = q.to_query_string();
        if qs.is_empty() { self.get("/v1/audit").await } else { self.get(&format!("/v1/audit?{qs}")).await }
    }

    /// `GET /metrics`: the Prometheus text.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn metrics(&self) -> Result<String, SdkError> {
        self.get_text("/metrics").await
    }

    /// `GET /v1/openapi.json`: the API's OpenAPI document, as text.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn openapi(&self) -> Result<String, SdkError> {
        self.get_text("/v1/openapi.json").await
    }

    /// The WebSocket URL of `GET /v1/stream` (`events`: include transactions' events); decode
    /// its messages with [`parse_stream_message`].
    pub fn stream_url(&self, events: bool) -> String {
        format!("{}/v1/stream?events={events}", self.base.replacen("http", "ws", 1))
    }

    /// `GET path` as text, for endpoints outside this SDK's typed methods (a newer node's) and
    /// for tests that check the exact JSON a node sends.
    ///
    /// # Errors
    /// [`SdkError`].
    pub async fn get_text(&self, path: &str) -> Result<String, SdkError> {
        let url = format!("{}{path}", self.base);
        let (status, body) = self.exchange(false, &url, None).await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(api_error(status, text))
    }
}

/// The error a failed answer carries: its typed body, or the text itself when the body is not an
/// FDL error (a proxy's page, say).
fn api_error(status: u16, raw: String) -> SdkError {
    let err: ErrorView = serde_json::from_str(&raw).unwrap_or(ErrorView {
        code: "http_error".into(),
        message: raw.clone(),
        account: None,
    });
    SdkError::Api { status, code: err.code.clone(), message: err.message.clone(), error: Box::new(err), raw }
}

/// Decodes one message of the WebSocket stream.
///
/// # Errors
/// [`SdkError::Transport`] when the text is not a stream message.
pub fn parse_stream_message(text: &str) -> Result<StreamMessageView, SdkError> {
    serde_json::from_str(text)
        .map_err(|e| SdkError::Transport { url: "/v1/stream".into(), reason: format!("bad stream message: {e}") })
}

/// A validator set: public keys with voting power, as genesis (and later governance) defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    members: Vec<(fdl_crypto::PublicKey, u64)>,
}

impl ValidatorSet {
    /// A set from `(key, power)` pairs.
    ///
    /// # Errors
    /// [`SdkError::Verify`] for an empty set, a zero power, a duplicate key or a power overflow.
    pub fn new(members: Vec<(fdl_crypto::PublicKey, u64)>) -> Result<Self, SdkError> {
        if members.is_empty() {
            return Err(SdkError::Verify("empty validator set".into()));
        }
        let mut total: u64 = 0;
        for (i, (k, p)) in members.iter().enumerate() {
            if *p == 0 {
                return Err(SdkError::Verify(format!("validator {} has zero power", k.address())));
            }
            if members[..i].iter().any(|(o, _)| o == k) {
                return Err(SdkError::Verify(format!("validator {} listed twice", k.address())));
            }
            total = total.checked_add(*p).ok_or_else(|| SdkError::Verify("total power overflows".into()))?;
        }
        Ok(ValidatorSet { members })
    }

    /// The validators of a genesis document.
    ///
    /// # Errors
    /// [`SdkError::Verify`] when a key is malformed.
    pub fn from_genesis(g: &fdl_types::Genesis) -> Result<Self, SdkError> {
        let mut members = Vec::with_capacity(g.validators.len());
        for v in &g.validators {
            let k = g.validator_key(v).map_err(|e| SdkError::Verify(e.to_string()))?;
            members.push((k, v.power));
        }
        Self::new(members)
    }

    /// The sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.members.iter().map(|(_, p)| *p).sum()
    }

    fn power_of(&self, k: &fdl_crypto::PublicKey) -> Option<u64> {
        self.members.iter().find(|(m, _)| m == k).map(|(_, p)| *p)
    }

    /// The members as `(key, power)`, in the order the set lists them.
    pub fn members(&self) -> &[(fdl_crypto::PublicKey, u64)] {
        &self.members
    }

    /// Whether both sets hold the same keys with the same power, in whatever order.
    pub fn same_members(&self, other: &ValidatorSet) -> bool {
        self.members.len() == other.members.len() && self.members.iter().all(|(k, p)| other.power_of(k) == Some(*p))
    }
}

/// Checks a commit certificate for `header` against `set`: every signature is a valid signature
/// of a distinct member over the block hash, and the signers hold more than two thirds of the
/// voting power (STD-11.2). Returns the signed power.
///
/// # Errors
/// [`SdkError::Verify`] naming the first failure.
pub fn verify_commit(
    commit: &fdl_types::api::CommitView,
    header: &BlockHeader,
    suite: Suite,
    set: &ValidatorSet,
) -> Result<u64, SdkError> {
    if commit.block_hash != header.hash(suite) || commit.height != header.height {
        return Err(SdkError::Verify("commit certificate is for another block".into()));
    }
    let msg = fdl_types::Commit::signing_bytes(&header.chain_id, header.height, commit.round, &commit.block_hash);
    let mut seen: Vec<fdl_crypto::PublicKey> = Vec::with_capacity(commit.signatures.len());
    let mut signed: u64 = 0;
    for s in &commit.signatures {
        let key_bytes = hex::decode(&s.validator).map_err(|e| SdkError::Verify(format!("validator key: {e}")))?;
        let key = fdl_crypto::PublicKey::from_bytes(suite, &key_bytes).map_err(|e| SdkError::Verify(e.to_string()))?;
        let power = set
            .power_of(&key)
            .ok_or_else(|| SdkError::Verify(format!("{} signed but is not a validator", key.address())))?;
        if seen.contains(&key) {
            return Err(SdkError::Verify(format!("{} signed twice", key.address())));
        }
        let sig_bytes = hex::decode(&s.signature).map_err(|e| SdkError::Verify(format!("signature: {e}")))?;
        let sig = fdl_crypto::Signature::from_bytes(suite, &sig_bytes).map_err(|e| SdkError::Verify(e.to_string()))?;
        key.verify(&msg, &sig)
            .map_err(|_| SdkError::Verify(format!("commit signature of {} is invalid", key.address())))?;
        signed += power;
        seen.push(key);
    }
    let total = u128::from(set.total_power());
    if u128::from(signed) * 3 <= total * 2 {
        return Err(SdkError::Verify(format!(
            "signers hold {signed} of {total} voting power; more than two thirds is required"
        )));
    }
    Ok(signed)
}

/// Checks a block view: the header hash, every transaction's signature and the transactions root,
/// and the commit certificate against `set` ([`verify_commit`]).
///
/// # Errors
/// [`SdkError::Verify`] naming the first failure.
pub fn verify_block_view(view: &BlockView, suite: Suite, set: &ValidatorSet) -> Result<BlockHeader, SdkError> {
    check_block_view(view, suite, set).map(|(h, _)| h)
}

/// [`verify_block_view`], also returning the voting power that signed the commit.
pub(crate) fn check_block_view(
    view: &BlockView,
    suite: Suite,
    set: &ValidatorSet,
) -> Result<(BlockHeader, u64), SdkError> {
    let header = verify_header(&view.header, suite)?;
    let mut txs = Vec::with_capacity(view.txs.len());
    for t in &view.txs {
        let bytes = hex::decode(&t.encoded).map_err(|e| SdkError::Verify(format!("tx encoding: {e}")))?;
        let tx = SignedTx::decode(&bytes).map_err(|e| SdkError::Verify(format!("tx: {e}")))?;
        tx.verify().map_err(|e| SdkError::Verify(format!("tx {}: {e}", tx.id())))?;
        if fdl_types::api::TxView::new(&tx) != *t {
            return Err(SdkError::Verify(format!("tx {}: displayed fields differ from its encoding", tx.id())));
        }
        txs.push(tx);
    }
    if fdl_types::Block::compute_tx_root(suite, &txs) != header.tx_root {
        return Err(SdkError::Verify("transactions do not match the header's tx root".into()));
    }
    let commit = view.commit.as_ref().ok_or_else(|| SdkError::Verify("no commit certificate".into()))?;
    let signed = verify_commit(commit, &header, suite, set)?;
    Ok((header, signed))
}
