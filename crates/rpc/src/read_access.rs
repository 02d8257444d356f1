//! The API read policy (STD-16.1, STD-13.1): who may read what.
//!
//! Every route is classified by [`route_access`]: a read of one [`ReadResource`], a write
//! (transactions, checked by admission and execution), or open (`/metrics`, the OpenAPI
//! document). [`read_gate`] runs on every route; an unclassified route is refused, so a new route
//! cannot forget the policy.
//!
//! The caller is resolved, in this order, from:
//! 1. a [`ClientCertificate`] the channel layer (TLCP/TLS) put in the request's extensions (the
//!    signed-request headers are then ignored: the channel's identity wins);
//! 2. a signed request, accepted only from a loopback peer: [`KEY_HEADER`] (certificate DER or
//!    public key, hex), [`TIME_HEADER`] (Unix seconds, within [`MAX_REQUEST_SKEW_S`]) and
//!    [`SIGNATURE_HEADER`] over [`request_message`] (chain id, method, path and query, time);
//! 3. else it is anonymous.
//!
//! A certificate is a member's when it verifies against its institution's current CA in state, is
//! unrevoked and within its validity; the verdict is cached per certificate until the identity
//! epoch moves. A refusal is answered 403 `read_forbidden` (401 for a bad credential), counted in
//! `fdl_api_read_refusals_total` and written as an `api.refused` record to the node's own audit
//! store (beside the admission refusals, not on chain), which `GET /v1/audit` serves.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use fdl_crypto::{Address, Hash, PublicKey, Signature, Suite};
use fdl_schema::{StateView, read};
use fdl_types::{
    ReadResource,
    api::AuditView,
    read_policy::{
        AccountTarget, CHAIN_ID_HEADER, Caller, KEY_HEADER, MAX_KEY_HEADER, MAX_REQUEST_SKEW_S, MAX_SIGNATURE_HEADER,
        MAX_SIGNED_PATH, SIGNATURE_HEADER, TIME_HEADER, allows, needs_target, request_message,
    },
};
use parking_lot::Mutex;

use crate::{ApiError, RpcContext};

/// The DER of the client's signing certificate, as presented on a TLCP/TLS channel. The channel
/// layer validates the chain and puts it in each request's extensions
/// (`req.extensions_mut().insert(ClientCertificate(der))`); the API still checks that it is a
/// current member's (cheaply, cached).
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Arc<[u8]>);

/// What a route is, for the read policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A read of this resource: the policy applies.
    Read(ReadResource),
    /// A write (a transaction): admission and execution check the sender.
    Write,
    /// Open to any caller of the API: `/metrics` (operator level: restrict it by the listen
    /// address or a firewall) and the OpenAPI document.
    Open,
}

/// The class of a route (its path template as registered, and its method in lower case);
/// `None` for a route not classified, which [`read_gate`] refuses.
pub fn route_access(path: &str, method: &str) -> Option<Access> {
    use ReadResource as R;
    Some(match (method, path) {
        ("post", "/v1/transactions" | "/v1/transactions/batch") => Access::Write,
        ("get", "/v1/status") => Access::Read(R::Status),
        (
            "get",
            "/v1/transactions/{hash}"
            | "/v1/blocks/latest"
            | "/v1/blocks/{height}"
            | "/v1/validators/{height}/proof"
            | "/v1/stream",
        ) => Access::Read(R::Blocks),
        ("get", "/v1/accounts/{address}") => Access::Read(R::Accounts),
        ("get", "/v1/audit") => Access::Read(R::Audit),
        ("get", "/v1/genesis" | "/v1/proposals" | "/v1/proposals/{id}" | "/v1/acl" | "/v1/params") => {
            Access::Read(R::Governance)
        }
        ("get", "/v1/members" | "/v1/validators" | "/v1/certificates/{hash}" | "/v1/revocations") => {
            Access::Read(R::Members)
        }
        ("get", "/v1/contracts" | "/v1/contracts/{name}" | "/v1/contracts/{name}/state/{key}")
        | ("post", "/v1/contracts/check" | "/v1/contracts/{name}/query") => Access::Read(R::Contracts),
        ("get", "/v1/evidence") => Access::Read(R::Evidence),
        ("get", "/metrics" | "/v1/openapi.json") => Access::Open,
        _ => return None,
    })
}

/// Certificate verdicts kept (cleared when full).
const CERTS: usize = 4_096;
/// Refusals kept in memory before they are stored; beyond it the oldest are dropped (and
/// counted), so a flood of refused reads costs bounded memory.
const MAX_PENDING_REFUSALS: usize = 10_000;
/// A batch this large is stored at once, without waiting for the periodic flush.
const FLUSH_AT: usize = 256;
/// Longest request path an audit record keeps.
const MAX_AUDIT_PATH: usize = 256;

/// The rules in force, by resource.
type Rules = Arc<HashMap<ReadResource, Vec<String>>>;
/// Who a certificate makes its holder (with its key), or why it makes it nobody.
type Identity = Result<(Caller, PublicKey), String>;

/// A checked certificate: who it makes the caller, until when, for which identity epoch.
#[derive(Clone)]
struct CertVerdict {
    epoch: u64,
    not_after: u64,
    result: Identity,
}

/// The read policy's runtime state: caches, the pending refusals and the counters.
#[derive(Default)]
pub(crate) struct ReadGate {
    /// The rules in force at a committed version.
    policy: Mutex<Option<(u64, Rules)>>,
    /// Certificate verdicts by certificate hash.
    certs: Mutex<HashMap<Hash, CertVerdict>>,
    /// Refusals not stored yet.
    pending: Mutex<VecDeque<AuditView>>,
    /// Serializes stores of refusals, so that they stay in order.
    flushing: Mutex<()>,
    /// Reads refused since start (`fdl_api_read_refusals_total`).
    pub(crate) refusals: AtomicU64,
    /// Refusals dropped before they could be stored.
    pub(crate) dropped: AtomicU64,
    /// Certificates checked (cache misses), for tests.
    pub(crate) cert_checks: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Why a request was refused: the status, the code and the message.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status: StatusCode::UNAUTHORIZED, code, message: message.into() }
    }
}

impl ReadGate {
    /// The rules in force at the latest committed version.
    fn policy(&self, ctx: &RpcContext) -> Result<(u64, Rules), ApiError> {
        let version = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
        if let Some((v, p)) = &*self.policy.lock()
            && *v == version
        {
            return Ok((version, p.clone()));
        }
        let view = ctx.parts.state.at(version);
        let mut rules = HashMap::new();
        for r in ReadResource::ALL {
            rules.insert(r, read::read_policy(&view, r).map_err(ApiError::internal)?);
        }
        let rules = Arc::new(rules);
        *self.policy.lock() = Some((version, rules.clone()));
        Ok((version, rules))
    }

    /// Who a certificate makes its holder, checked against the state at `version`: a member
    /// certificate of the chain's suite, of a current member's CA, unrevoked and valid now.
    fn check_cert(&self, ctx: &RpcContext, version: u64, der: &[u8], now_s: u64) -> Result<Identity, ApiError> {
        if der.is_empty() || der.len() > fdl_types::tx::MAX_CERT_LEN {
            return Ok(Err(format!("a certificate of {} bytes", der.len())));
        }
        let suite = ctx.parts.genesis.suite;
        let view = ctx.parts.state.at(version);
        let epoch = read::epoch(&view).map_err(ApiError::internal)?;
        let hash = fdl_crypto::hash(suite, der);
        if let Some(v) = self.certs.lock().get(&hash)
            && v.epoch == epoch
        {
            if v.result.is_ok() && now_s > v.not_after {
                return Ok(Err(format!("the certificate expired at {} (Unix seconds)", v.not_after)));
            }
            return Ok(v.result.clone());
        }
        self.cert_checks.fetch_add(1, Ordering::Relaxed);
        let (result, not_after) = member_identity(&view, suite, der, &hash, now_s)?;
        let mut c = self.certs.lock();
        if c.len() >= CERTS {
            c.clear();
        }
        c.insert(hash, CertVerdict { epoch, not_after, result: result.clone() });
        Ok(result)
    }

    /// Records a refusal: counted now, stored with the next flush.
    fn record(&self, view: AuditView) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
        let mut p = self.pending.lock();
        if p.len() >= MAX_PENDING_REFUSALS {
            p.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        p.push_back(view);
    }

    pub(crate) fn pending_len(&self) -> usize {
        self.pending.lock().len()
    }

    /// Stores the pending refusals in the node's own audit store (kept with the admission
    /// refusals, within the same bound). On failure they are kept for the next call.
    pub(crate) fn flush(&self, ctx: &RpcContext) {
        let _one = self.flushing.lock();
        let batch: Vec<AuditView> = self.pending.lock().drain(..).collect();
        if batch.is_empty() {
            return;
        }
        let records: Vec<(u64, fdl_storage::AuditWrite)> = batch
            .iter()
            .filter_map(|v| {
                let record = serde_json::to_vec(v).ok()?;
                Some((v.time_ms, fdl_storage::AuditWrite { keys: v.index_keys(), record }))
            })
            .collect();
        if let Err(e) = ctx.parts.store.append_local_audit(&records, fdl_mempool::MAX_STORED_REFUSALS) {
            tracing::warn!(error = %e, "could not store refused API reads; kept for the next attempt");
            let mut p = self.pending.lock();
            for v in batch.into_iter().rev() {
                if p.len() >= MAX_PENDING_REFUSALS {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                p.push_front(v);
            }
        }
    }
}

/// The member identity of a certificate at a state (uncached), with its expiry.
fn member_identity(
    view: &dyn StateView,
    suite: Suite,
    der: &[u8],
    hash: &Hash,
    now_s: u64,
) -> Result<(Identity, u64), ApiError> {
    let info = match fdl_pki::parse(der) {
        Ok(i) => i,
        Err(e) => return Ok((Err(e.to_string()), 0)),
    };
    let not_after = info.not_after;
    let fail = |m: String| Ok((Err(m), not_after));
    if info.public_key.suite() != suite {
        return fail(format!("a {} key on a {suite} chain", info.public_key.suite()));
    }
    let Some(role) = info.role else { return fail("the certificate carries no role (OU)".into()) };
    let Some(member) = read::member(view, &info.org).map_err(ApiError::internal)? else {
        return fail(format!("{} is not a member institution", info.org));
    };
    if let Err(e) = fdl_pki::verify(der, &member.ca_cert, now_s) {
        return fail(format!("not a valid certificate of {}'s current CA: {e}", info.org));
    }
    // The cached verdict lapses with the certificate or its CA, whichever ends first.
    let not_after = not_after.min(member.ca_not_after);
    if read::revocation(view, &info.org, &info.serial).map_err(ApiError::internal)?.is_some() {
        return fail(format!("certificate {} of {} is revoked", info.serial, info.org));
    }
    let key = info.public_key.address();
    let account = read::cert_meta(view, hash).map_err(ApiError::internal)?.map_or(key, |r| r.account);
    let caller = Caller { key: Some(key), account: Some(account), member: Some((role, info.org)) };
    Ok((Ok((caller, info.public_key)), not_after))
}

fn header<'a>(h: &'a HeaderMap, name: &str, max: usize) -> Result<Option<&'a str>, Refusal> {
    match h.get(name) {
        None => Ok(None),
        Some(v) if v.len() > max => Err(Refusal::unauthorized("bad_signature", format!("{name} is over {max} bytes"))),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| Refusal::unauthorized("bad_signature", format!("{name} is not visible ASCII"))),
    }
}

/// The parts of a signed request, checked for form, bounds, time and peer: everything but the
/// signature and the key's membership.
#[derive(Debug)]
pub(crate) struct SignedHeaders {
    key: Vec<u8>,
    signature: Vec<u8>,
    time_s: u64,
}

/// The cheap checks of a signed request, before any signature is verified: all three headers,
/// within bounds, hex, the time within [`MAX_REQUEST_SKEW_S`] of `now_s`, and a loopback peer.
/// `Ok(None)` when the request carries none of the headers.
pub(crate) fn signed_headers(
    h: &HeaderMap,
    peer: Option<SocketAddr>,
    now_s: u64,
) -> Result<Option<SignedHeaders>, Refusal> {
    let key = header(h, KEY_HEADER, MAX_KEY_HEADER)?;
    let time = header(h, TIME_HEADER, 20)?;
    let sig = header(h, SIGNATURE_HEADER, MAX_SIGNATURE_HEADER)?;
    let (key, time, sig) = match (key, time, sig) {
        (None, None, None) => return Ok(None),
        (Some(k), Some(t), Some(s)) => (k, t, s),
        _ => {
            return Err(Refusal::unauthorized(
                "bad_signature",
                format!("a signed request carries all of {KEY_HEADER}, {TIME_HEADER} and {SIGNATURE_HEADER}"),
            ));
        }
    };
    let time_s: u64 = time
        .parse()
        .map_err(|_| Refusal::unauthorized("bad_signature", format!("{TIME_HEADER} is not Unix seconds")))?;
    if time_s.abs_diff(now_s) > MAX_REQUEST_SKEW_S {
        return Err(Refusal::unauthorized(
            "stale_request",
            format!("{TIME_HEADER} {time_s} is over {MAX_REQUEST_SKEW_S} s from the node's clock ({now_s})"),
        ));
    }
    if !peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) {
        return Err(Refusal::unauthorized(
            "not_loopback",
            "signed requests are accepted only from this host (loopback); elsewhere, present a member \
             certificate on the channel",
        ));
    }
    let hex = |s: &str, what: &str| {
        hex::decode(s).map_err(|_| Refusal::unauthorized("bad_signature", format!("{what} is not hex")))
    };
    Ok(Some(SignedHeaders { key: hex(key, KEY_HEADER)?, signature: hex(sig, SIGNATURE_HEADER)?, time_s }))
}

/// Longest public key accepted in [`KEY_HEADER`]; anything longer is read as a certificate.
const MAX_PUBLIC_KEY: usize = 128;

/// Verifies a signed request's signature; returns the key, and the certificate when the key
/// header carried one.
fn verify_signed(
    suite: Suite,
    chain_id: &str,
    method: &str,
    path_and_query: &str,
    s: &SignedHeaders,
) -> Result<(PublicKey, Option<Vec<u8>>), Refusal> {
    if path_and_query.len() > MAX_SIGNED_PATH {
        return Err(Refusal::unauthorized(
            "bad_signature",
            format!("a signed path is at most {MAX_SIGNED_PATH} bytes"),
        ));
    }
    let (key, cert) = if s.key.len() > MAX_PUBLIC_KEY {
        let info = fdl_pki::parse(&s.key)
            .map_err(|e| Refusal::unauthorized("bad_signature", format!("{KEY_HEADER}: not a certificate: {e}")))?;
        (info.public_key, Some(s.key.clone()))
    } else {
        let k = PublicKey::from_bytes(suite, &s.key)
            .map_err(|e| Refusal::unauthorized("bad_signature", format!("{KEY_HEADER}: not a {suite} key: {e}")))?;
        (k, None)
    };
    let sig = Signature::from_bytes(suite, &s.signature)
        .map_err(|e| Refusal::unauthorized("bad_signature", format!("{SIGNATURE_HEADER}: {e}")))?;
    let msg = request_message(chain_id, method, path_and_query, s.time_s);
    key.verify(&msg, &sig).map_err(|_| {
        Refusal::unauthorized(
            "bad_signature",
            "the signature does not verify over this chain id, method, path and time with this key",
        )
    })?;
    Ok((key, cert))
}

/// What the gate learned of a request before deciding.
struct Request0 {
    method: String,
    path_and_query: String,
    path: String,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    cert: Option<ClientCertificate>,
}

/// Resolves the caller (on a blocking thread: certificate checks and signatures).
fn identify(ctx: &RpcContext, gate: &ReadGate, version: u64, r: &Request0, now_s: u64) -> Result<Caller, Refusal> {
    let internal = |e: ApiError| Refusal { status: e.status, code: e.code, message: e.message };
    if let Some(ClientCertificate(der)) = &r.cert {
        return match gate.check_cert(ctx, version, der, now_s).map_err(internal)? {
            Ok((caller, _)) => Ok(caller),
            Err(why) => Err(Refusal::unauthorized("bad_certificate", format!("the channel's certificate: {why}"))),
        };
    }
    let Some(signed) = signed_headers(&r.headers, r.peer, now_s)? else { return Ok(Caller::anonymous()) };
    let suite = ctx.parts.genesis.suite;
    let (key, cert) = verify_signed(suite, &ctx.parts.genesis.chain_id, &r.method, &r.path_and_query, &signed)?;
    match cert {
        None => {
            // A bare key: the holder of that address, without a role.
            let a = key.address();
            Ok(Caller { key: Some(a), account: Some(a), member: None })
        }
        Some(der) => match gate.check_cert(ctx, version, &der, now_s).map_err(internal)? {
            Ok((caller, _)) => Ok(caller),
            Err(why) => Err(Refusal::unauthorized("bad_certificate", format!("{KEY_HEADER}: {why}"))),
        },
    }
}

/// The account a read of `/v1/accounts/{address}` is about.
fn account_target(ctx: &RpcContext, version: u64, path: &str) -> Result<Option<AccountTarget>, ApiError> {
    let Some(addr) = path.strip_prefix("/v1/accounts/") else { return Ok(None) };
    let Ok(address) = addr.parse::<Address>() else { return Ok(None) };
    let view = ctx.parts.state.at(version);
    let acct = read::account(&view, &address).map_err(ApiError::internal)?;
    Ok(Some(match acct {
        Some(a) => AccountTarget { address, key: a.key, registrar: a.org },
        None => AccountTarget { address, key: Address::default(), registrar: String::new() },
    }))
}

/// The audit record of a refused read.
fn refusal_record(
    version: u64,
    resource: Option<ReadResource>,
    r: &Request0,
    caller: Option<&Caller>,
    code: &str,
) -> AuditView {
    let mut path: String = r.path.chars().take(MAX_AUDIT_PATH).collect();
    if path.len() < r.path.len() {
        path.push('…');
    }
    let mut attrs = vec![
        ("resource".to_string(), resource.map_or("unclassified", |x| x.as_str()).to_string()),
        ("method".into(), r.method.clone()),
        ("path".into(), path),
        ("reason".into(), code.to_string()),
        ("caller".into(), caller.map_or_else(|| "unauthenticated".into(), Caller::describe)),
    ];
    if let Some(p) = r.peer {
        attrs.push(("peer".into(), p.ip().to_canonical().to_string()));
    }
    if r.cert.is_some() {
        attrs.push(("via".into(), "channel_certificate".into()));
    } else if r.headers.contains_key(KEY_HEADER) {
        attrs.push(("via".into(), "signed_request".into()));
    }
    AuditView {
        height: version,
        time_ms: now_ms(),
        tx: None,
        kind: "api.refused".into(),
        account: caller.and_then(|c| c.account).map(|a| a.to_hex()),
        org: caller.and_then(|c| c.member.as_ref()).map(|(_, o)| o.clone()),
        status: Some(code.to_string()),
        attrs,
        local: true,
    }
}

fn chain_id_header(ctx: &RpcContext) -> Option<HeaderValue> {
    HeaderValue::from_str(&ctx.parts.genesis.chain_id).ok()
}

/// The middleware of every route: classifies it, resolves the caller of a read, and lets it
/// through only when the read policy in force allows it.
pub(crate) async fn read_gate(
    State((ctx, guard)): State<(Arc<RpcContext>, Arc<crate::limits::Guard>)>,
    req: Request,
    next: Next,
) -> Response {
    // A GET route answers HEAD too.
    let method = match req.method().as_str().to_ascii_lowercase() {
        m if m == "head" => "get".to_string(),
        m => m,
    };
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let access = matched.as_deref().and_then(|p| route_access(p, &method));
    let resource = match access {
        Some(Access::Write | Access::Open) => return next.run(req).await,
        Some(Access::Read(r)) => Some(r),
        // A method the path does not route: the router answers 405, nothing is read.
        None if !crate::ROUTES.iter().any(|(p, m)| matched.as_deref() == Some(*p) && *m == method) => {
            return next.run(req).await;
        }
        None => None,
    };
    let r0 = Request0 {
        method: req.method().as_str().to_string(),
        path_and_query: req.uri().path_and_query().map_or_else(|| req.uri().path().to_string(), |p| p.to_string()),
        path: req.uri().path().to_string(),
        headers: req.headers().clone(),
        peer: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
        cert: req.extensions().get::<ClientCertificate>().cloned(),
    };
    let gate = &guard.read_gate;
    let decided = match resource {
        None => {
            tracing::error!(route = ?matched, %method, "a route without a read-policy class was refused");
            let v = ctx.parts.store.latest_height().unwrap_or(0);
            Err((
                v,
                None,
                Refusal {
                    status: StatusCode::FORBIDDEN,
                    code: "read_forbidden",
                    message: "this route has no read-policy class; it is refused".into(),
                },
            ))
        }
        Some(res) => decide(&ctx, &guard, res, r0_clone(&r0)).await,
    };
    let mut resp = match decided {
        Ok(()) => next.run(req).await,
        Err((version, caller, refusal)) => {
            let rec = refusal_record(version, resource, &r0, caller.as_ref(), refusal.code);
            tracing::info!(
                resource = resource.map_or("unclassified", |x| x.as_str()),
                path = %r0.path,
                code = refusal.code,
                caller = %caller.as_ref().map_or_else(|| "unauthenticated".to_string(), Caller::describe),
                "API read refused"
            );
            gate.record(rec);
            if gate.pending_len() >= FLUSH_AT {
                let (ctx, guard) = (ctx.clone(), guard.clone());
                tokio::task::spawn_blocking(move || guard.read_gate.flush(&ctx));
            }
            ApiError::new(refusal.status, refusal.code, refusal.message).into_response()
        }
    };
    if let Some(v) = chain_id_header(&ctx) {
        resp.headers_mut().insert(CHAIN_ID_HEADER, v);
    }
    resp
}

fn r0_clone(r: &Request0) -> Request0 {
    Request0 {
        method: r.method.clone(),
        path_and_query: r.path_and_query.clone(),
        path: r.path.clone(),
        headers: r.headers.clone(),
        peer: r.peer,
        cert: r.cert.clone(),
    }
}

type Decision = Result<(), (u64, Option<Caller>, Refusal)>;

/// Resolves the caller and applies the rule of `resource`.
async fn decide(
    ctx: &Arc<RpcContext>,
    guard: &Arc<crate::limits::Guard>,
    resource: ReadResource,
    r: Request0,
) -> Decision {
    let (version, rules) = match guard.read_gate.policy(ctx) {
        Ok(p) => p,
        Err(e) => return Err((0, None, Refusal { status: e.status, code: e.code, message: e.message })),
    };
    let allow = rules.get(&resource).cloned().unwrap_or_default();
    let public = allow.iter().any(|p| p == fdl_types::read_policy::PUBLIC);
    let has_credential =
        r.cert.is_some() || [KEY_HEADER, TIME_HEADER, SIGNATURE_HEADER].iter().any(|h| r.headers.contains_key(*h));
    // A public resource read without credentials needs nothing more.
    if public && !has_credential {
        return Ok(());
    }
    let (ctx2, g2) = (ctx.clone(), guard.clone());
    let now_s = now_ms() / 1000;
    let work = move || -> Result<Decision, ApiError> {
        let caller = match identify(&ctx2, &g2.read_gate, version, &r, now_s) {
            Ok(c) => c,
            Err(refusal) => return Ok(Err((version, None, refusal))),
        };
        let target = if needs_target(&allow) { account_target(&ctx2, version, &r.path)? } else { None };
        if allows(&allow, &caller, target.as_ref()) {
            return Ok(Ok(()));
        }
        let who = caller.describe();
        let message = format!(
            "{who} may not read {resource} (allowed: {}); identify with a member certificate, or a signed request \
             on this host",
            allow.join(", ")
        );
        Ok(Err((version, Some(caller), Refusal { status: StatusCode::FORBIDDEN, code: "read_forbidden", message })))
    };
    match guard.blocking(work).await {
        Ok(d) => d,
        Err(e) => Err((version, None, Refusal { status: e.status, code: e.code, message: e.message })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn code(r: Result<Option<SignedHeaders>, Refusal>) -> &'static str {
        match r {
            Ok(Some(_)) => "ok",
            Ok(None) => "none",
            Err(e) => e.code,
        }
    }

    #[test]
    fn signed_request_checks() {
        use fdl_crypto::Signer as _;
        let key = fdl_crypto::KeyPair::generate(Suite::Sm);
        let pk = key.public_key();
        let local: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().expect("addr");
        let far: SocketAddr = "192.0.2.7:5000".parse().expect("addr");
        let now = 1_800_000_000u64;
        let sign = |chain: &str, path: &str, t: u64| {
            let sig = fdl_crypto::Signer::sign(&key, &request_message(chain, "GET", path, t)).expect("sign");
            headers(&[
                (KEY_HEADER, hex::encode(pk.to_bytes())),
                (TIME_HEADER, t.to_string()),
                (SIGNATURE_HEADER, hex::encode(sig.as_bytes())),
            ])
        };
        assert_eq!(code(signed_headers(&HeaderMap::new(), Some(local), now)), "none");
        let good = sign("c", "/v1/audit", now);
        assert_eq!(code(signed_headers(&good, Some(local), now)), "ok");
        assert_eq!(code(signed_headers(&good, Some(mapped), now)), "ok");
        // Not loopback, or no peer known: refused before any signature is checked.
        assert_eq!(code(signed_headers(&good, Some(far), now)), "not_loopback");
        assert_eq!(code(signed_headers(&good, None, now)), "not_loopback");
        // Stale either way.
        assert_eq!(code(signed_headers(&sign("c", "/v1/audit", now - 61), Some(local), now)), "stale_request");
        assert_eq!(code(signed_headers(&sign("c", "/v1/audit", now + 61), Some(local), now)), "stale_request");
        assert_eq!(code(signed_headers(&sign("c", "/v1/audit", now - 60), Some(local), now)), "ok");
        // Missing, oversized or malformed headers.
        let mut partial = good.clone();
        partial.remove(SIGNATURE_HEADER);
        assert_eq!(code(signed_headers(&partial, Some(local), now)), "bad_signature");
        let mut big = good.clone();
        big.insert(KEY_HEADER, HeaderValue::from_str(&"a".repeat(MAX_KEY_HEADER + 2)).expect("h"));
        assert_eq!(code(signed_headers(&big, Some(local), now)), "bad_signature");
        let mut nothex = good.clone();
        nothex.insert(SIGNATURE_HEADER, HeaderValue::from_static("zz"));
        assert_eq!(code(signed_headers(&nothex, Some(local), now)), "bad_signature");
        let mut badtime = good.clone();
        badtime.insert(TIME_HEADER, HeaderValue::from_static("-5"));
        assert_eq!(code(signed_headers(&badtime, Some(local), now)), "bad_signature");

        // The signature: right chain and path verify; a wrong chain, path, or a bad signature do not.
        let s = signed_headers(&good, Some(local), now).expect("checks").expect("signed");
        assert!(verify_signed(Suite::Sm, "c", "GET", "/v1/audit", &s).is_ok());
        assert_eq!(
            verify_signed(Suite::Sm, "other-chain", "GET", "/v1/audit", &s).err().map(|r| r.code),
            Some("bad_signature")
        );
        assert_eq!(
            verify_signed(Suite::Sm, "c", "GET", "/v1/audit?limit=1", &s).err().map(|r| r.code),
            Some("bad_signature")
        );
        assert_eq!(verify_signed(Suite::Sm, "c", "POST", "/v1/audit", &s).err().map(|r| r.code), Some("bad_signature"));
        let mut forged = s;
        let last = forged.signature.len() - 1;
        forged.signature[last] ^= 1;
        assert_eq!(
            verify_signed(Suite::Sm, "c", "GET", "/v1/audit", &forged).err().map(|r| r.code),
            Some("bad_signature")
        );
        // A key of the other suite does not parse as this chain's.
        let s = signed_headers(&good, Some(local), now).expect("checks").expect("signed");
        assert!(verify_signed(Suite::Intl, "c", "GET", "/v1/audit", &s).is_err());
        let long = "/".repeat(MAX_SIGNED_PATH + 1);
        assert!(verify_signed(Suite::Sm, "c", "GET", &long, &s).is_err());
    }

    #[test]
    fn every_route_is_classified() {
        for (path, method) in crate::ROUTES {
            assert!(route_access(path, method).is_some(), "{method} {path} has no read-policy class");
        }
        assert_eq!(route_access("/v1/audit", "get"), Some(Access::Read(ReadResource::Audit)));
        assert_eq!(route_access("/v1/transactions", "post"), Some(Access::Write));
        assert_eq!(route_access("/v1/new-thing", "get"), None);
        // Every resource serves at least one route.
        for r in ReadResource::ALL {
            assert!(crate::ROUTES.iter().any(|(p, m)| route_access(p, m) == Some(Access::Read(r))), "{r}");
        }
    }
}
