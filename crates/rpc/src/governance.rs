//! Read endpoints of identity and governance (STD-13, STD-17): members, the node set,
//! certificates, revocations, proposals, the access policy, parameters and the audit log. All read
//! the latest committed state.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
};
use fdl_crypto::Hash;
use fdl_schema::read;
use fdl_state::StateAt;
use fdl_types::{
    NodeRole,
    api::{
        AclView, AuditListView, AuditQuery, AuditView, ErrorView, GenesisView, MemberNodeView, MemberView, ParamsView,
        ProposalListView, ProposalView, ProvenEntryView, RegisteredCertView, RevocationListView, RevocationView,
        ValidatorSetProofView, ValidatorView, ValidatorsView, audit_account_key, audit_org_key,
    },
};
use serde::Deserialize;

use crate::{ApiError, RpcContext, cache::ReadCache, handlers::ApiResult, limits::Guard};

type Ctx = State<Arc<RpcContext>>;
type G = Extension<Arc<Guard>>;

/// The kinds of this node's own audit records (not on chain).
const LOCAL_KINDS: [&str; 2] = ["identity.refused_at_admission", "api.refused"];

/// Most audit records one query returns.
pub const MAX_AUDIT_RECORDS: usize = 1_000;

fn latest(ctx: &RpcContext) -> ApiResult<StateAt<'_>> {
    let version = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
    Ok(ctx.parts.state.at(version))
}

/// `GET /v1/members`: the member institutions in force, with their CAs and nodes.
#[utoipa::path(get, path = "/v1/members", tag = "governance", responses(
    (status = 200, description = "The member institutions with their CAs and nodes", body = Vec<MemberView>),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn members(State(ctx): Ctx, Extension(g): G) -> ApiResult<Json<Vec<MemberView>>> {
    let guard = g.clone();
    g.blocking(move || members_view(&ctx, &guard.cache)).await.map(Json)
}

fn members_view(ctx: &RpcContext, cache: &ReadCache) -> ApiResult<Vec<MemberView>> {
    let suite = ctx.parts.genesis.suite;
    let view = latest(ctx)?;
    let members = read::members(&view).map_err(ApiError::internal)?;
    let nodes = read::nodes(&view).map_err(ApiError::internal)?;
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let ca = cache
            .cert_view(suite, &m.ca_cert)
            .ok_or_else(|| ApiError::internal(format!("the CA of {} is unreadable", m.name)))?;
        let nodes = nodes
            .iter()
            .filter(|n| n.org == m.name)
            .map(|n| MemberNodeView {
                name: n.name.clone(),
                role: n.role.as_str().into(),
                public_key: hex::encode(&n.public_key),
                peer_id: (!n.peer_id.is_empty()).then(|| n.peer_id.clone()),
                certificate: cache.cert_view(suite, &n.certificate),
            })
            .collect();
        out.push(MemberView { name: m.name, ca, nodes, committee: m.committee, since: m.since });
    }
    Ok(out)
}

/// The active node set after committed `version`, from the API's cache.
fn nodes_at(ctx: &RpcContext, cache: &ReadCache, version: u64) -> ApiResult<Arc<Vec<fdl_types::NodeSpec>>> {
    kept(ctx, version)?;
    cache.nodes(version, || ctx.ledger.nodes_at(version)).map_err(|e| {
        // Pruning may have passed the version while it was read.
        let oldest = ctx.parts.state.oldest_version();
        if version < oldest { ApiError::pruned(version, oldest) } else { ApiError::internal(e) }
    })
}

/// 410 `version_pruned` when this node no longer keeps the state of `version`.
fn kept(ctx: &RpcContext, version: u64) -> ApiResult<()> {
    ctx.parts.state.check_kept(version).map_err(ApiError::state)
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Appends the certificate expiry metrics to `out`: seconds left on every member CA and node
/// certificate in force (negative once expired), and how many expire within the node's
/// configured window (`cert_expiry_warning_days`). An expired node certificate stops that node
/// and an expired CA stops its institution's members, so operators alert on these (STD-16.1).
/// A state read failure leaves the lines out (the scrape itself still answers).
pub(crate) fn certificate_metrics(ctx: &RpcContext, now_s: u64, out: &mut String) {
    let Ok(view) = latest(ctx) else { return };
    let (Ok(members), Ok(nodes)) = (read::members(&view), read::nodes(&view)) else { return };
    let mut certs: Vec<(String, &'static str, String, u64)> = Vec::new();
    for m in &members {
        if let Some(c) = crate::cache::cert_view_der(&m.ca_cert) {
            certs.push((m.name.clone(), "ca", m.name.clone(), c.not_after));
        }
    }
    for n in &nodes {
        if let Some(c) = crate::cache::cert_view_der(&n.certificate) {
            certs.push((n.org.clone(), "node", n.name.clone(), c.not_after));
        }
    }
    let days = ctx.cert_expiry_warning_days;
    let limit = now_s.saturating_add(days.saturating_mul(86_400));
    let expiring = certs.iter().filter(|c| c.3 <= limit).count();
    out.push_str("# HELP fdl_certificate_expiry_seconds Seconds until a member CA or node certificate expires (negative: expired).\n");
    out.push_str("# TYPE fdl_certificate_expiry_seconds gauge\n");
    for (org, kind, name, not_after) in &certs {
        let left = i128::from(*not_after) - i128::from(now_s);
        out.push_str(&format!(
            "fdl_certificate_expiry_seconds{{org=\"{}\",kind=\"{kind}\",name=\"{}\"}} {left}\n",
            label(org),
            label(name)
        ));
    }
    out.push_str("# HELP fdl_certificates_expiring Member CA and node certificates that expire within the configured window (or have expired).\n");
    out.push_str("# TYPE fdl_certificates_expiring gauge\n");
    out.push_str(&format!("fdl_certificates_expiring{{within_days=\"{days}\"}} {expiring}\n"));
}

/// How many validators are active after the latest block.
pub(crate) fn active_validator_count(ctx: &RpcContext, cache: &ReadCache) -> Option<usize> {
    let view = latest(ctx).ok()?;
    Some(nodes_at(ctx, cache, view.version).ok()?.iter().filter(|n| n.role == NodeRole::Validator).count())
}

/// `?height=H` of `GET /v1/validators`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ValidatorsQuery {
    /// The block whose deciding set is wanted (the set in the state after block `H - 1`).
    height: Option<u64>,
}

/// `GET /v1/validators[?height=H]`: the validator set in force after the latest block (it decides
/// the next one), or the set that decided block `H`.
#[utoipa::path(get, path = "/v1/validators", tag = "governance", params(ValidatorsQuery), responses(
    (status = 200, description = "The validator set", body = ValidatorsView),
    (status = 400, description = "`invalid_request`: a bad query", body = ErrorView),
    (status = 404, description = "`block_not_found`: `height` is 0 or beyond the next block", body = ErrorView),
    (status = 410, description = "`version_pruned`: this node pruned the state of block `height - 1`; the message names the oldest height it keeps", body = ErrorView),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn validators(
    State(ctx): Ctx,
    Extension(g): G,
    q: Result<Query<ValidatorsQuery>, QueryRejection>,
) -> ApiResult<Json<ValidatorsView>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    let guard = g.clone();
    g.blocking(move || validators_view(&ctx, &guard.cache, &q)).await.map(Json)
}

fn validators_view(ctx: &RpcContext, cache: &ReadCache, q: &ValidatorsQuery) -> ApiResult<ValidatorsView> {
    let mut view = latest(ctx)?;
    if let Some(h) = q.height {
        if h == 0 || h > view.version.saturating_add(1) {
            return Err(ApiError::not_found("block_not_found", format!("no block {h} yet")));
        }
        view.version = h - 1;
    }
    let nodes = nodes_at(ctx, cache, view.version)?;
    let suite = ctx.parts.genesis.suite;
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| n.role == NodeRole::Validator) {
        let k = fdl_crypto::PublicKey::from_bytes(suite, &n.public_key).map_err(ApiError::internal)?;
        out.push(ValidatorView {
            name: n.name.clone(),
            public_key: hex::encode(&n.public_key),
            address: k.address().to_hex(),
            power: n.power,
        });
    }
    let total_power = out.iter().map(|v| v.power).sum();
    Ok(ValidatorsView { validators: out, total_power, height: view.version })
}

/// `GET /v1/validators/{height}/proof`: the state entries the validator set deciding block
/// `height` is computed from, each with its Merkle proof against the state root of block
/// `height - 1`. A light client follows a change of the set with it (STD-11.2, ADR 0011).
#[utoipa::path(get, path = "/v1/validators/{height}/proof", tag = "governance",
    params(("height" = u64, Path, description = "The block whose deciding set is wanted (2 or more: the set of block 1 is the genesis's)")),
    responses(
        (status = 200, description = "The proven state entries of the set", body = ValidatorSetProofView),
        (status = 400, description = "`invalid_height`", body = ErrorView),
        (status = 404, description = "`block_not_found`: block `height - 1` is not committed (or `height` is below 2)", body = ErrorView),
        (status = 410, description = "`version_pruned`: this node pruned the state of block `height - 1`; the message names the oldest height it keeps", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn validator_set_proof(
    State(ctx): Ctx,
    height: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ValidatorSetProofView>> {
    let height = crate::handlers::path_param(height, "invalid_height")?;
    let h: u64 =
        height.parse().map_err(|_| ApiError::bad_request("invalid_height", format!("{height:?} is not a height")))?;
    let latest = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
    if h < 2 || h - 1 > latest {
        return Err(ApiError::not_found(
            "block_not_found",
            format!("the set of block {h} is proven against block {}, which is not committed", h.saturating_sub(1)),
        ));
    }
    let version = h - 1;
    kept(&ctx, version)?;
    let keys = ctx.ledger.node_set_keys(version).map_err(|e| {
        let oldest = ctx.parts.state.oldest_version();
        if version < oldest { ApiError::pruned(version, oldest) } else { ApiError::internal(e) }
    })?;
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        let (value, proof) = ctx.parts.state.get_with_proof(&key, version).map_err(ApiError::state)?;
        entries.push(ProvenEntryView {
            key: hex::encode(&key),
            value: value.as_ref().map(hex::encode),
            proof: hex::encode(proof),
        });
    }
    Ok(Json(ValidatorSetProofView { height: h, entries }))
}

/// `GET /v1/genesis`: the genesis document and its hash, for a client that trusts the hash.
#[utoipa::path(get, path = "/v1/genesis", tag = "governance", responses(
    (status = 200, description = "The genesis document and its hash", body = GenesisView),
    (status = 500, description = "`internal`: the document does not serialize", body = ErrorView),
))]
pub(crate) async fn genesis(State(ctx): Ctx) -> ApiResult<Json<GenesisView>> {
    let g = &ctx.parts.genesis;
    let genesis = serde_json::to_value(g.as_ref()).map_err(ApiError::internal)?;
    Ok(Json(GenesisView { hash: g.hash(), genesis }))
}

/// `GET /v1/certificates/{hash}`: a registered certificate and whether it is revoked.
#[utoipa::path(get, path = "/v1/certificates/{hash}", tag = "governance",
    params(("hash" = String, Path, description = "The certificate's hash under the chain's suite", pattern = "^(0x)?[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The registered certificate and whether it is revoked", body = RegisteredCertView),
        (status = 400, description = "`invalid_hash`", body = ErrorView),
        (status = 404, description = "`certificate_not_found`", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn certificate(
    State(ctx): Ctx,
    Extension(g): G,
    hash: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<RegisteredCertView>> {
    let Path(hash) = hash.map_err(|e| ApiError::bad_request("invalid_hash", e.body_text()))?;
    let h: Hash = hash.parse().map_err(|e| ApiError::bad_request("invalid_hash", format!("{hash:?}: {e}")))?;
    g.blocking(move || certificate_view(&ctx, h)).await.map(Json)
}

fn certificate_view(ctx: &RpcContext, h: Hash) -> ApiResult<RegisteredCertView> {
    let view = latest(ctx)?;
    let rec = read::certificate(&view, &h)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("certificate_not_found", format!("no certificate {h} is registered")))?;
    let revoked = read::revocation(&view, &rec.org, &rec.serial).map_err(ApiError::internal)?;
    let pem = fdl_pki::to_pem(&rec.der).unwrap_or_default();
    Ok(RegisteredCertView {
        hash: h,
        account: rec.account,
        org: rec.org,
        role: rec.role,
        common_name: rec.common_name,
        serial: rec.serial,
        not_before: rec.not_before,
        not_after: rec.not_after,
        public_key: rec.public_key,
        registered: rec.registered,
        revoked: revoked.map(|r| r.view()),
        pem,
    })
}

/// `?from=N&limit=M` of `GET /v1/revocations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevocationsQuery {
    /// The position of the first revocation returned, from 0 in the order they were recorded
    /// (default 0): the next page starts at `from` plus the length of this one.
    from: Option<u64>,
    /// Most revocations returned (default and at most 1000).
    limit: Option<u64>,
}

/// `GET /v1/revocations[?from=N&limit=M]`: the revoked certificates, by institution and serial,
/// oldest first, one page at a time (STD-13.3).
#[utoipa::path(get, path = "/v1/revocations", tag = "governance", params(RevocationsQuery), responses(
    (status = 200, description = "The revoked certificates, oldest first, from `from` (at most `limit`, 1000)", body = RevocationListView),
    (status = 400, description = "`invalid_request`: a bad query", body = ErrorView),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn revocations(
    State(ctx): Ctx,
    Extension(g): G,
    q: Result<Query<RevocationsQuery>, QueryRejection>,
) -> ApiResult<Json<RevocationListView>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    let limit = q.limit.map_or(MAX_AUDIT_RECORDS, |l| l.min(MAX_AUDIT_RECORDS as u64) as usize);
    g.blocking(move || {
        let view = latest(&ctx)?;
        let list = read::revocations(&view, q.from.unwrap_or(0), limit).map_err(ApiError::internal)?;
        let revocations = list
            .into_iter()
            .map(|(org, serial, r)| RevocationView { org, serial, height: r.height, by: r.by })
            .collect();
        Ok(RevocationListView { height: view.version, revocations })
    })
    .await
    .map(Json)
}

/// `GET /v1/proposals`: every proposal, newest first, with its votes and outcome.
#[utoipa::path(get, path = "/v1/proposals", tag = "governance", responses(
    (status = 200, description = "The proposals, newest first (at most 1000)", body = ProposalListView),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn proposals(State(ctx): Ctx, Extension(g): G) -> ApiResult<Json<ProposalListView>> {
    g.blocking(move || {
        let view = latest(&ctx)?;
        let next = read::next_proposal(&view).map_err(ApiError::internal)?;
        let mut proposals = Vec::new();
        for id in (1..next).rev().take(MAX_AUDIT_RECORDS) {
            if let Some(p) = read::proposal(&view, id).map_err(ApiError::internal)? {
                proposals.push(p.view(view.version));
            }
        }
        Ok(ProposalListView { height: view.version, proposals })
    })
    .await
    .map(Json)
}

/// `GET /v1/proposals/{id}`.
#[utoipa::path(get, path = "/v1/proposals/{id}", tag = "governance",
    params(("id" = u64, Path, description = "The proposal's number")),
    responses(
        (status = 200, description = "The proposal with its votes and outcome", body = ProposalView),
        (status = 400, description = "`invalid_proposal`: not a number", body = ErrorView),
        (status = 404, description = "`proposal_not_found`", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn proposal(State(ctx): Ctx, id: Result<Path<u64>, PathRejection>) -> ApiResult<Json<ProposalView>> {
    let Path(id) = id.map_err(|e| ApiError::bad_request("invalid_proposal", e.body_text()))?;
    let view = latest(&ctx)?;
    let p = read::proposal(&view, id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("proposal_not_found", format!("no proposal {id}")))?;
    Ok(Json(p.view(view.version)))
}

/// `GET /v1/acl`: the access rule of every native method (STD-16.1).
#[utoipa::path(get, path = "/v1/acl", tag = "governance", responses(
    (status = 200, description = "The access rule of every native method", body = AclView),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn acl(State(ctx): Ctx) -> ApiResult<Json<AclView>> {
    let view = latest(&ctx)?;
    let mut rules = BTreeMap::new();
    for m in fdl_schema::METHODS {
        let r = read::acl(&view, m).map_err(ApiError::internal)?;
        rules.insert(m.to_string(), r.map(|r| r.view()));
    }
    Ok(Json(AclView { height: view.version, rules }))
}

/// `GET /v1/params`: the chain parameters in force.
#[utoipa::path(get, path = "/v1/params", tag = "governance", responses(
    (status = 200, description = "The chain parameters in force", body = ParamsView),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn params(State(ctx): Ctx) -> ApiResult<Json<ParamsView>> {
    let view = latest(&ctx)?;
    let params = read::params(&view).map_err(ApiError::internal)?;
    Ok(Json(ParamsView { height: view.version, params }))
}

fn matches(q: &AuditQuery, r: &AuditView) -> bool {
    let kind_ok = match &q.kind {
        None => true,
        Some(k) if k.ends_with('.') => r.kind.starts_with(k.as_str()),
        Some(k) => &r.kind == k,
    };
    kind_ok
        && q.account.as_ref().is_none_or(|a| r.concerns(a))
        && q.org.as_ref().is_none_or(|o| r.org.as_ref() == Some(o))
        && q.contract.as_ref().is_none_or(|c| r.attrs.iter().any(|(k, v)| k == "contract" && v == c))
        && q.from_ms.is_none_or(|t| r.time_ms >= t)
        && q.to_ms.is_none_or(|t| r.time_ms <= t)
}

/// The lowest height in `from..=to` whose block time satisfies `past` (which, block times never
/// decreasing, holds from some height on), or `to + 1` if none does.
fn first_height_at(ctx: &RpcContext, from: u64, to: u64, past: impl Fn(u64) -> bool) -> ApiResult<u64> {
    let (mut lo, mut hi) = (from, to.saturating_add(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let t = ctx
            .parts
            .store
            .block_header(mid)
            .map_err(ApiError::internal)?
            .map(|h| h.timestamp_ms)
            .ok_or_else(|| ApiError::internal(format!("block {mid} is missing")))?;
        if past(t) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// `GET /v1/audit`: identity, account, credential, permission and governance events, refusals
/// included, filtered by account, institution, kind and time or height range (STD-13.4, 16.1).
#[utoipa::path(get, path = "/v1/audit", tag = "governance", params(AuditQuery), responses(
    (status = 200, description = "The matching audit records, oldest first; `truncated` when more match than `limit`, or when the query read as many records as the node allows (`api.max_audit_scan`) before it was done", body = AuditListView),
    (status = 400, description = "`invalid_request`: a bad or unknown query parameter; `unknown_kind`: `kind` is neither an audit kind nor a prefix of them (the message lists them); `invalid_range`: `from_ms` after `to_ms`, or `from_height` after `to_height`", body = ErrorView),
    (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
))]
pub(crate) async fn audit(
    State(ctx): Ctx,
    Extension(g): G,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditListView>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    check_audit_query(&q)?;
    let max_scan = g.limits.max_audit_scan;
    let guard = g.clone();
    // Store reads and decoding: off the async workers. Refused reads not stored yet are
    // stored first, so the query sees them.
    g.blocking(move || {
        guard.read_gate.flush(&ctx);
        audit_query(&ctx, &q, max_scan)
    })
    .await
    .map(Json)
}

/// The cheap checks of an audit query, before anything is read.
fn check_audit_query(q: &AuditQuery) -> ApiResult<()> {
    if let Some(k) = &q.kind
        && !fdl_types::api::is_known_audit_filter(k)
    {
        return Err(ApiError::bad_request(
            "unknown_kind",
            format!(
                "kind={k:?} is not an audit kind; the kinds: {}; or a prefix: {}",
                fdl_types::api::AUDIT_KINDS.join(", "),
                fdl_types::api::AUDIT_PREFIXES.join(", ")
            ),
        ));
    }
    if let (Some(from), Some(to)) = (q.from_ms, q.to_ms)
        && from > to
    {
        return Err(ApiError::bad_request("invalid_range", format!("from_ms {from} is after to_ms {to}")));
    }
    if let (Some(from), Some(to)) = (q.from_height, q.to_height)
        && from > to
    {
        return Err(ApiError::bad_request("invalid_range", format!("from_height {from} is after to_height {to}")));
    }
    Ok(())
}

/// Runs an audit query reading at most `max_scan` records in all (on chain and this node's own).
fn audit_query(ctx: &RpcContext, q: &AuditQuery, max_scan: usize) -> ApiResult<AuditListView> {
    let limit = q.limit.unwrap_or(MAX_AUDIT_RECORDS).min(MAX_AUDIT_RECORDS);
    let tip = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
    let mut from = q.from_height.unwrap_or(1).max(1);
    let mut to = q.to_height.unwrap_or(tip).min(tip);
    // This node's refusals carry its own clock: they are filtered by the times asked, and by the
    // heights asked, not by the heights the block times give.
    let (asked_from, asked_to) = (from, to);
    // Block times never decrease: a time range is a height range, found by bisection.
    if let Some(ms) = q.from_ms {
        from = first_height_at(ctx, from, to, |t| t >= ms)?;
    }
    if let Some(ms) = q.to_ms {
        to = first_height_at(ctx, from, to, |t| t > ms)?.saturating_sub(1);
    }
    let mut records = Vec::new();
    let mut truncated = false;
    let mut bad = None;
    let mut scanned = 0usize;
    let mut visit = |_, bytes: &[u8]| {
        scanned += 1;
        if scanned > max_scan {
            truncated = true;
            return false;
        }
        match serde_json::from_slice::<AuditView>(bytes) {
            Ok(r) => {
                if matches(q, &r) {
                    if records.len() >= limit {
                        truncated = true;
                        return false;
                    }
                    records.push(r);
                }
                true
            }
            Err(e) => {
                bad = Some(e.to_string());
                false
            }
        }
    };
    // An account or an institution is looked up in the index instead of scanning every record.
    let key = match (&q.account, &q.org, &q.contract) {
        (Some(a), _, _) => Some(audit_account_key(a)),
        (None, Some(o), _) => Some(audit_org_key(o)),
        (None, None, Some(c)) => Some(fdl_types::api::audit_contract_key(c)),
        (None, None, None) => None,
    };
    match &key {
        Some(k) => ctx.parts.store.audit_by_key(k, from, to, &mut visit),
        None => ctx.parts.store.audit(from, to, &mut visit),
    }
    .map_err(ApiError::internal)?;
    if let Some(e) = bad.take() {
        return Err(ApiError::internal(format!("corrupt audit record: {e}")));
    }
    // This node's own records are refusals at admission and refused API reads: skip them when
    // the query asks for another kind.
    let kind_allows_refusals = LOCAL_KINDS
        .iter()
        .any(|lk| q.kind.as_deref().is_none_or(|k| k == *lk || (k.ends_with('.') && lk.starts_with(k))));
    if q.local.unwrap_or(true) && kind_allows_refusals && scanned <= max_scan {
        let budget = max_scan - scanned;
        // Refusals at this node's admission: in its own store, not on chain. A failure to store
        // the newest ones does not fail the query; they are kept for the next attempt.
        if let Err(e) = ctx.parts.mempool.flush_refusals() {
            tracing::warn!(error = %e, "could not store admission refusals before an audit query");
        }
        let mut scanned = 0usize;
        let mut skipped = 0usize;
        ctx.parts
            .store
            .local_audit(key.as_deref(), q.from_ms.unwrap_or(0), q.to_ms.unwrap_or(u64::MAX), &mut |_, bytes| {
                scanned += 1;
                if scanned > budget {
                    truncated = true;
                    return false;
                }
                match serde_json::from_slice::<AuditView>(bytes) {
                    Ok(rec) => {
                        if rec.height >= asked_from.saturating_sub(1) && rec.height <= asked_to && matches(q, &rec) {
                            if records.len() >= limit {
                                truncated = true;
                                return false;
                            }
                            records.push(rec);
                        }
                        true
                    }
                    Err(_) => {
                        skipped += 1;
                        true
                    }
                }
            })
            .map_err(ApiError::internal)?;
        if skipped > 0 {
            tracing::warn!(skipped, "undecodable local audit records were skipped");
        }
        records.sort_by_key(|r| (r.time_ms, r.height));
    }
    Ok(AuditListView { records, truncated })
}
