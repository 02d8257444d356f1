//! Route handlers. Each validates its input and answers with a view or an [`ApiError`].

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, PathRejection, QueryRejection},
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use fdl_crypto::{Address, Hash};
use fdl_schema::{decode_account, keys::account_key};
use fdl_types::{
    Encode as _, SignedTx,
    api::{
        AccountView, BatchItemView, BatchResultView, BlockView, ErrorView, EvidenceView, HeaderView, ReceiptView,
        StatusView, StreamEventView, StreamMessageView, SubmitBatchRequest, SubmitRequest, SubmitView, TxStatusView,
        TxView,
    },
};
use serde::Deserialize;

use crate::{ApiError, MAX_BATCH_TXS, RpcContext, WAIT_TIMEOUT};

type Ctx = State<Arc<RpcContext>>;
type G = Extension<Arc<crate::limits::Guard>>;
pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn body_or_error(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body over {} bytes", crate::MAX_BODY_BYTES),
            )
        } else {
            ApiError::bad_request("bad_body", r.body_text())
        }
    })
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> ApiResult<T> {
    let v = serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request("invalid_request", format!("wrong field or type: {e}")),
            _ => ApiError::bad_request("malformed_json", format!("not valid JSON: {e}")),
        }
    })?;
    // serde also accepts a struct as an array of its fields; the API takes objects only.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::bad_request("invalid_request", "the body must be a JSON object"));
    }
    Ok(v)
}

/// A path parameter, or a JSON 400 with `code` (e.g. for percent-encoded invalid UTF-8).
pub(crate) fn path_param(p: Result<Path<String>, PathRejection>, code: &'static str) -> ApiResult<String> {
    p.map(|Path(s)| s).map_err(|r| ApiError::bad_request(code, r.body_text()))
}

fn decode_hex(s: &str, what: &str) -> ApiResult<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|e| ApiError::bad_request("malformed_transaction", format!("{what} is not hex: {e}")))
}

type SubmitBody = SubmitRequest;

/// `?wait=` of `POST /v1/transactions`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubmitQuery {
    /// `commit`: answer when the transaction is committed, with its receipt (504 `timeout` after
    /// 30 s); `none` (the default): answer 202 once it is admitted.
    #[param(schema_with = wait_schema)]
    wait: Option<String>,
}

fn wait_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["none", "commit"]))
        .description(Some("`commit`: answer when the transaction is committed (504 `timeout` after 30 s); `none`: answer once it is admitted"))
        .build()
}

fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"))
}

/// `POST /v1/transactions[?wait=commit]`: JSON `{"tx": "<hex>"}` or raw bytes
/// (`application/octet-stream`).
#[utoipa::path(
    post,
    path = "/v1/transactions",
    tag = "transactions",
    params(SubmitQuery),
    request_body(
        description = "The signed transaction: JSON `{\"tx\": \"<hex>\"}` or its raw bytes",
        content(
            (SubmitRequest = "application/json"),
            (crate::openapi::RawTx = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 202, description = "Admitted to the mempool (`status: pending`)", body = SubmitView),
        (status = 200, description = "With `wait=commit`: committed, with its receipt (`status: committed`)", body = SubmitView),
        (status = 400, description = "`bad_body`, `malformed_json`, `invalid_request`, `malformed_transaction` or another admission refusal (bad signature, wrong chain, expired, ...)", body = ErrorView),
        (status = 409, description = "`already_pending` or `replayed`", body = ErrorView),
        (status = 410, description = "`dropped`: with `wait=commit`, it expired before it was included", body = ErrorView),
        (status = 413, description = "`body_too_large`, or the transaction is over the chain's `max_tx_bytes`", body = ErrorView),
        (status = 429, description = "`overloaded` (more waits than the node commits in its target wait, or the sender is over its fair share) or `mempool_full`: retry after the `Retry-After` header (seconds)", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
        (status = 504, description = "`timeout`: with `wait=commit`, not committed within 30 s (it may still be)", body = ErrorView),
    )
)]
pub(crate) async fn submit_tx(
    State(ctx): Ctx,
    q: Result<Query<SubmitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|r| ApiError::bad_request("invalid_request", r.body_text()))?;
    let body = body_or_error(body)?;
    let raw = if is_binary(&headers) { body.to_vec() } else { decode_hex(&parse_json::<SubmitBody>(&body)?.tx, "tx")? };
    let wait = match q.wait.as_deref() {
        None | Some("none") => false,
        Some("commit") => true,
        Some(other) => {
            return Err(ApiError::bad_request("invalid_request", format!("wait={other}: expected \"commit\"")));
        }
    };
    let admitted = ctx.parts.mempool.admit(&raw).await;
    let id = match admitted {
        Ok(id) => {
            ctx.parts.metrics.txs_admitted.fetch_add(1, Ordering::Relaxed);
            relay(&ctx, &headers, vec![raw]);
            id
        }
        Err(e) => {
            count_refusal(&ctx, &e);
            return Err(e.into());
        }
    };
    if !wait {
        return Ok((
            StatusCode::ACCEPTED,
            Json(SubmitView { hash: id, status: "pending".into(), height: None, receipt: None }),
        )
            .into_response());
    }
    let rx = ctx.parts.mempool.subscribe(id);
    if let Some(view) = committed_view(&ctx, &id)? {
        return Ok(Json(view).into_response());
    }
    match tokio::time::timeout(WAIT_TIMEOUT, rx).await {
        Ok(Ok(_receipt)) => match committed_view(&ctx, &id)? {
            Some(view) => Ok(Json(view).into_response()),
            None => Err(ApiError::internal("receipt announced but not stored")),
        },
        Ok(Err(_)) => Err(ApiError::new(StatusCode::GONE, "dropped", "the transaction expired before it was included")),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("not committed within {} s; it may still be; query /v1/transactions/{id}", WAIT_TIMEOUT.as_secs()),
        )),
    }
}

/// The header a node sets when it forwards transactions to its peers; they are not forwarded again.
pub const RELAYED_HEADER: &str = "x-fdl-relayed";

/// Hands transactions a client submitted to the node's gossip (not ones a peer forwarded).
fn relay(ctx: &RpcContext, headers: &HeaderMap, txs: Vec<Vec<u8>>) {
    if txs.is_empty() || headers.contains_key(RELAYED_HEADER) {
        return;
    }
    if let Some(r) = &ctx.relay {
        // A full relay queue only delays inclusion until this node proposes.
        let _ = r.try_send(txs);
    }
}

fn count_refusal(ctx: &RpcContext, e: &fdl_mempool::AdmitError) {
    if e.is_throttle() {
        ctx.parts.metrics.txs_throttled.fetch_add(1, Ordering::Relaxed);
    } else {
        ctx.parts.metrics.txs_refused.fetch_add(1, Ordering::Relaxed);
    }
    tracing::debug!(code = e.code(), error = %e, "transaction refused");
}

fn committed_view(ctx: &RpcContext, id: &Hash) -> ApiResult<Option<SubmitView>> {
    let Some(loc) = ctx.parts.store.tx_location(id).map_err(ApiError::internal)? else { return Ok(None) };
    let receipt = ctx.parts.store.receipt(id).map_err(ApiError::internal)?;
    Ok(Some(SubmitView {
        hash: *id,
        status: "committed".into(),
        height: Some(loc.height),
        receipt: receipt.as_ref().map(ReceiptView::new),
    }))
}

type BatchBody = SubmitBatchRequest;

/// `POST /v1/transactions/batch`: `{"txs": ["<hex>", ...]}`, one verdict per transaction.
#[utoipa::path(
    post,
    path = "/v1/transactions/batch",
    tag = "transactions",
    request_body(content = SubmitBatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One verdict per transaction, in order", body = BatchResultView),
        (status = 400, description = "`bad_body`, `malformed_json` or `invalid_request`", body = ErrorView),
        (status = 413, description = "`body_too_large`, or `batch_too_large` (over 2000 transactions)", body = ErrorView),
        (status = 429, description = "Every transaction was refused as back-pressure (`overloaded`: more waits than the node commits in its target wait, or the sender is over its fair share; `mempool_full`): retry after the `Retry-After` header (seconds)", body = BatchResultView),
    )
)]
pub(crate) async fn submit_batch(
    State(ctx): Ctx,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_error(body)?;
    let b: BatchBody = parse_json(&body)?;
    if b.txs.len() > MAX_BATCH_TXS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{} transactions, limit {MAX_BATCH_TXS}", b.txs.len()),
        ));
    }
    let mut raws: Vec<Option<Vec<u8>>> = Vec::with_capacity(b.txs.len());
    for s in &b.txs {
        raws.push(hex::decode(s.strip_prefix("0x").unwrap_or(s)).ok());
    }
    let good: Vec<&[u8]> = raws.iter().filter_map(|r| r.as_deref()).collect();
    let mut verdicts = ctx.parts.mempool.admit_many(&good).await.into_iter();
    let mut out = Vec::with_capacity(raws.len());
    let mut all_full = !raws.is_empty();
    let mut retry_after_ms = 0u64;
    let mut admitted = Vec::new();
    for r in &raws {
        let item = match r {
            None => {
                all_full = false;
                BatchItemView {
                    hash: None,
                    code: Some("malformed_transaction".into()),
                    message: Some("not hex".into()),
                }
            }
            Some(raw) => match verdicts.next() {
                Some(Ok(h)) => {
                    all_full = false;
                    admitted.push(raw.clone());
                    ctx.parts.metrics.txs_admitted.fetch_add(1, Ordering::Relaxed);
                    BatchItemView { hash: Some(h), code: None, message: None }
                }
                Some(Err(e)) => {
                    if !e.is_throttle() {
                        all_full = false;
                    }
                    retry_after_ms = retry_after_ms.max(e.retry_after_ms().unwrap_or(0));
                    count_refusal(&ctx, &e);
                    BatchItemView { hash: None, code: Some(e.code().into()), message: Some(e.to_string()) }
                }
                None => BatchItemView { hash: None, code: Some("internal".into()), message: Some("no verdict".into()) },
            },
        };
        out.push(item);
    }
    relay(&ctx, &headers, admitted);
    let status = if all_full { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::OK };
    let mut r = (status, Json(BatchResultView { results: out })).into_response();
    if all_full {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, crate::error::retry_after_secs(retry_after_ms));
    }
    Ok(r)
}

fn parse_hash(s: &str) -> ApiResult<Hash> {
    Hash::from_hex(s).ok_or_else(|| ApiError::bad_request("invalid_hash", format!("{s:?} is not 64 hex digits")))
}

/// `GET /v1/transactions/{hash}`.
#[utoipa::path(
    get,
    path = "/v1/transactions/{hash}",
    tag = "transactions",
    params(("hash" = String, Path, description = "The transaction id", pattern = "^(0x)?[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "Pending, or committed with its block position, the transaction and its receipt", body = TxStatusView),
        (status = 400, description = "`invalid_hash`", body = ErrorView),
        (status = 404, description = "`tx_not_found`: neither committed nor pending", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
    )
)]
pub(crate) async fn get_tx(
    State(ctx): Ctx,
    Extension(g): G,
    hash: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<TxStatusView>> {
    let id = parse_hash(&path_param(hash, "invalid_hash")?)?;
    g.blocking(move || tx_status(&ctx, id)).await.map(Json)
}

fn tx_status(ctx: &RpcContext, id: Hash) -> ApiResult<TxStatusView> {
    if let Some(loc) = ctx.parts.store.tx_location(&id).map_err(ApiError::internal)? {
        let block = ctx
            .parts
            .store
            .block(loc.height)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("indexed block {} missing", loc.height)))?;
        let tx: Option<&SignedTx> = block.txs.get(loc.index as usize);
        let receipt = ctx.parts.store.receipt(&id).map_err(ApiError::internal)?;
        // The block's receipts, in order, for the inclusion proof of this one.
        let mut receipts = Vec::with_capacity(block.txs.len());
        for t in &block.txs {
            let r = ctx
                .parts
                .store
                .receipt(&t.id())
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal(format!("receipt of {} missing", t.id())))?;
            receipts.push(r.encode());
        }
        let receipt_path = fdl_types::merkle::merkle_path(ctx.parts.genesis.suite, &receipts, loc.index as usize);
        let mut receipt_view = receipt.as_ref().map(ReceiptView::new);
        if let (Some(t), Some(r), Some(v)) = (tx, &receipt, receipt_view.as_mut()) {
            // An EVM call's return data is ABI-encoded: decoded with the contract's ABI, or
            // left to `output_hex` alone (never shown as text).
            if let fdl_types::Payload::EvmCall { contract, version, data, .. } = &t.body.payload {
                v.output = crate::contracts::evm_output(ctx, contract, *version, data, &r.output, r.status)?;
            }
        }
        return Ok(TxStatusView {
            hash: id,
            status: "committed".into(),
            height: Some(loc.height),
            index: Some(loc.index),
            tx: tx.map(TxView::new),
            receipt: receipt_view,
            receipt_path,
        });
    }
    if ctx.parts.mempool.contains(&id) {
        return Ok(TxStatusView {
            hash: id,
            status: "pending".into(),
            height: None,
            index: None,
            tx: None,
            receipt: None,
            receipt_path: None,
        });
    }
    Err(ApiError::not_found("tx_not_found", format!("no transaction {id} committed or pending")))
}

fn block_view(ctx: &RpcContext, height: u64) -> ApiResult<BlockView> {
    let block = ctx
        .parts
        .store
        .block(height)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("block_not_found", format!("no block at height {height}")))?;
    let commit = ctx.parts.store.commit(height).map_err(ApiError::internal)?;
    Ok(BlockView::new(&block, commit.as_ref(), ctx.parts.genesis.suite))
}

/// `GET /v1/blocks/latest`.
#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "blocks",
    responses(
        (status = 200, description = "The latest committed block with its commit certificate", body = BlockView),
        (status = 404, description = "`block_not_found`: no block produced yet", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
    )
)]
pub(crate) async fn latest_block(State(ctx): Ctx, Extension(g): G) -> ApiResult<Json<BlockView>> {
    g.blocking(move || {
        let h = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
        if h == 0 {
            return Err(ApiError::not_found("block_not_found", "no block produced yet"));
        }
        block_view(&ctx, h)
    })
    .await
    .map(Json)
}

/// `GET /v1/blocks/{height}`.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}",
    tag = "blocks",
    params(("height" = u64, Path, description = "The block's height (1 is the first block)")),
    responses(
        (status = 200, description = "The block with its commit certificate", body = BlockView),
        (status = 400, description = "`invalid_height`", body = ErrorView),
        (status = 404, description = "`block_not_found`", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
    )
)]
pub(crate) async fn get_block(
    State(ctx): Ctx,
    Extension(g): G,
    height: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<BlockView>> {
    let height = path_param(height, "invalid_height")?;
    let h: u64 =
        height.parse().map_err(|_| ApiError::bad_request("invalid_height", format!("{height:?} is not a height")))?;
    g.blocking(move || block_view(&ctx, h)).await.map(Json)
}

/// `GET /v1/accounts/{address}`: balance, replay state and a proof against the latest header.
/// An unknown account answers 404 `account_not_found` with the proof of its absence.
#[utoipa::path(
    get,
    path = "/v1/accounts/{address}",
    tag = "accounts",
    params(("address" = String, Path, description = "The account's address", pattern = "^(0x)?[0-9a-fA-F]{40}$")),
    responses(
        (status = 200, description = "The account with the proof of its state against the latest header", body = AccountView),
        (status = 400, description = "`invalid_address`", body = ErrorView),
        (status = 404, description = "`account_not_found`, with `account`: the empty account and the proof of its absence", body = ErrorView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
        (status = 503, description = "`not_ready`: no block produced yet", body = ErrorView),
    )
)]
pub(crate) async fn get_account(
    State(ctx): Ctx,
    Extension(g): G,
    address: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let address = path_param(address, "invalid_address")?;
    let addr: Address =
        address.parse().map_err(|e| ApiError::bad_request("invalid_address", format!("{address:?}: {e}")))?;
    g.blocking(move || account_view(&ctx, addr)).await
}

/// The latest block's height and header, which proofs are made against; 503 `not_ready` before
/// the first block.
pub(crate) fn latest_header(ctx: &RpcContext) -> ApiResult<(u64, fdl_types::BlockHeader)> {
    let height = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
    if height == 0 {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "no block produced yet"));
    }
    let header = ctx
        .parts
        .store
        .block_header(height)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("latest block missing"))?;
    Ok((height, header))
}

/// The account with its proof (a tree walk of several store reads).
fn account_view(ctx: &RpcContext, addr: Address) -> ApiResult<Response> {
    let (height, header) = latest_header(ctx)?;
    let key = account_key(&addr);
    let (value, proof) = ctx.parts.state.get_with_proof(&key, height).map_err(ApiError::internal)?;
    let account = match &value {
        Some(v) => Some(decode_account(&key, v).map_err(ApiError::internal)?),
        None => None,
    };
    let view = AccountView {
        address: addr.to_hex(),
        balance: account.as_ref().map(|a| a.balance).unwrap_or(0).to_string(),
        sent: account.as_ref().map(|a| a.sent).unwrap_or(0),
        kind: account.as_ref().map(|a| a.kind.as_str()).unwrap_or("normal").into(),
        frozen: account.as_ref().is_some_and(|a| a.frozen),
        locked_until: account.as_ref().map(|a| a.locked_until).unwrap_or(0),
        org: account.as_ref().map(|a| a.org.clone()).unwrap_or_default(),
        key: account.as_ref().filter(|a| a.key != Address::default()).map(|a| a.key.to_hex()),
        height,
        header: HeaderView::new(&header, ctx.parts.genesis.suite),
        state_key: hex::encode(&key),
        value: value.as_ref().map(hex::encode),
        proof: hex::encode(proof),
    };
    if account.is_none() {
        let mut e = ApiError::not_found("account_not_found", format!("no account {addr}; the proof shows its absence"));
        e.account = Some(Box::new(view));
        return Err(e);
    }
    Ok(Json(view).into_response())
}

/// `GET /v1/status`.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    responses(
        (status = 200, description = "The node's chain, height, peers, mempool and consensus progress", body = StatusView),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
    )
)]
pub(crate) async fn status(State(ctx): Ctx, Extension(g): G) -> ApiResult<Json<StatusView>> {
    let guard = g.clone();
    g.blocking(move || status_view(&ctx, &guard.cache)).await.map(Json)
}

fn status_view(ctx: &RpcContext, cache: &crate::cache::ReadCache) -> ApiResult<StatusView> {
    let height = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
    let (hash, time) = if height == 0 {
        (Hash::ZERO, ctx.parts.genesis.genesis_time_ms)
    } else {
        let h = ctx
            .parts
            .store
            .block_header(height)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal("latest block missing"))?;
        (h.hash(ctx.parts.genesis.suite), h.timestamp_ms)
    };
    Ok(StatusView {
        chain_id: ctx.parts.genesis.chain_id.clone(),
        suite: ctx.parts.genesis.suite,
        height,
        latest_block_hash: hash,
        latest_block_time_ms: time,
        node_id: ctx.node_id.to_hex(),
        node_name: ctx.node_name.clone(),
        peers: ctx.peers.read().clone(),
        validators: crate::governance::active_validator_count(ctx, cache).unwrap_or(ctx.parts.genesis.validators.len()),
        mempool_size: ctx.parts.mempool.len(),
        role: ctx.role.clone(),
        consensus: {
            let m = &ctx.parts.metrics;
            let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let peer_height = g(&m.peer_height).max(height);
            fdl_types::api::ConsensusStatusView {
                round: g(&m.round),
                peers: g(&m.peers_connected),
                peer_height,
                sync_lag: peer_height - height,
                syncing: peer_height > height + 2,
                synced_blocks: g(&m.synced_blocks),
                last_finality_ms: g(&m.last_finality_ms),
                evidence: m.evidence.lock().len() as u64,
            }
        },
    })
}

/// `GET /v1/evidence`: equivocations this node has recorded (a validator that signed two
/// different proposals or votes for one height and round).
#[utoipa::path(
    get,
    path = "/v1/evidence",
    tag = "node",
    responses((status = 200, description = "Equivocations this node has recorded", body = Vec<EvidenceView>))
)]
pub(crate) async fn evidence(State(ctx): Ctx) -> Json<Vec<EvidenceView>> {
    Json(ctx.parts.metrics.evidence.lock().clone())
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub(crate) async fn metrics(State(ctx): Ctx, Extension(g): G) -> Response {
    let peers = ctx.parts.metrics.peers_connected.load(Ordering::Relaxed) as usize;
    let mut text = ctx.parts.metrics.render(ctx.parts.mempool.len(), peers.max(ctx.peers.read().len()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::governance::certificate_metrics(&ctx, now, &mut text);
    text.push_str(&format!(
        "# HELP fdl_signatures_verified_total Transaction signatures this node verified (admission, forwarded \
         and in blocks); each transaction once, whatever path it arrives by.\n\
         # TYPE fdl_signatures_verified_total counter\nfdl_signatures_verified_total {}\n",
        ctx.parts.mempool.signatures_verified()
    ));
    let (hits, misses, entries) = ctx.ledger.contract_cache();
    text.push_str(&format!(
        "# HELP fdl_contract_module_cache_hits_total Contract calls whose compiled module was in the cache.\n\
         # TYPE fdl_contract_module_cache_hits_total counter\nfdl_contract_module_cache_hits_total {hits}\n\
         # HELP fdl_contract_module_cache_misses_total Contract calls that compiled their module.\n\
         # TYPE fdl_contract_module_cache_misses_total counter\nfdl_contract_module_cache_misses_total {misses}\n\
         # HELP fdl_contract_modules_cached Compiled contract modules held.\n\
         # TYPE fdl_contract_modules_cached gauge\nfdl_contract_modules_cached {entries}\n"
    ));
    let (hits, misses, entries) = ctx.ledger.evm_cache();
    text.push_str(&format!(
        "# HELP fdl_evm_code_cache_hits_total EVM code loads whose analyzed bytecode was in the cache.\n\
         # TYPE fdl_evm_code_cache_hits_total counter\nfdl_evm_code_cache_hits_total {hits}\n\
         # HELP fdl_evm_code_cache_misses_total EVM code loads that analyzed their bytecode.\n\
         # TYPE fdl_evm_code_cache_misses_total counter\nfdl_evm_code_cache_misses_total {misses}\n\
         # HELP fdl_evm_codes_cached Analyzed EVM contract codes held.\n\
         # TYPE fdl_evm_codes_cached gauge\nfdl_evm_codes_cached {entries}\n"
    ));
    let refused = g.read_gate.refusals.load(Ordering::Relaxed);
    let dropped = g.read_gate.dropped.load(Ordering::Relaxed);
    text.push_str(&format!(
        "# HELP fdl_api_read_refusals_total API reads refused by the read policy or for a bad credential (STD-16.1).\n\
         # TYPE fdl_api_read_refusals_total counter\nfdl_api_read_refusals_total {refused}\n\
         # HELP fdl_api_read_refusals_dropped_total Refused reads not stored in the audit log (arrived faster than stored).\n\
         # TYPE fdl_api_read_refusals_dropped_total counter\nfdl_api_read_refusals_dropped_total {dropped}\n"
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `GET /v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "node",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object, content_type = "application/json"))
)]
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::json()).into_response()
}

/// Unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint; see /v1/openapi.json")
}

/// Known routes called with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed here; see /v1/openapi.json")
}

/// `GET /v1/stream`: a WebSocket carrying one JSON message per committed block, with its events.
/// `?events=false` leaves out the events (for load generators that only need commit times).
#[utoipa::path(
    get,
    path = "/v1/stream",
    tag = "node",
    params(StreamQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol. The server then sends one JSON text message per committed block, or a `lagged` message when the subscriber fell behind; each is a `StreamMessageView`. Clients send only control frames.", body = StreamMessageView),
        (status = 400, description = "`websocket_required`: not a WebSocket upgrade request; or `invalid_request`: a bad query", body = ErrorView),
        (status = 426, description = "`websocket_required`: the connection cannot be upgraded", body = ErrorView),
        (status = 503, description = "`too_many_subscribers`: the node serves as many subscribers as it allows", body = ErrorView),
    )
)]
pub(crate) async fn stream(
    State(ctx): Ctx,
    Extension(guard): Extension<Arc<crate::limits::Guard>>,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
    let ws = ws.map_err(|e| ApiError::new(e.status(), "websocket_required", e.body_text()))?;
    let permit = guard.subscribers.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_subscribers",
            format!("this node serves at most {} stream subscribers: retry later", guard.limits.max_stream_subscribers),
        )
    })?;
    let rx = ctx.parts.blocks.subscribe();
    let with_events = q.events.unwrap_or(true);
    // Clients only send control frames; a subscriber that stops reading is dropped (see pump).
    // The permit is held for as long as the subscriber is served.
    Ok(ws.max_message_size(4096).max_frame_size(4096).on_upgrade(move |socket| async move {
        pump(socket, rx, ctx, with_events).await;
        drop(permit);
    }))
}

/// `?events=` of `GET /v1/stream`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// `false` leaves the events out of block messages (default `true`).
    events: Option<bool>,
}

/// Longest a subscriber may take to accept one message before it is disconnected, so a client
/// that stops reading cannot hold the node's buffered blocks.
const STREAM_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn send_bounded(socket: &mut WebSocket, text: String) -> bool {
    matches!(tokio::time::timeout(STREAM_SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await, Ok(Ok(())))
}

async fn send_json(socket: &mut WebSocket, m: &StreamMessageView) -> bool {
    match serde_json::to_string(m) {
        Ok(text) => send_bounded(socket, text).await,
        Err(e) => {
            tracing::error!(error = %e, "a stream message did not serialize");
            false
        }
    }
}

async fn pump(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<Arc<crate::CommittedBlock>>,
    ctx: Arc<RpcContext>,
    with_events: bool,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(b) => {
                    let events = b
                        .receipts
                        .iter()
                        .filter(|_| with_events)
                        .flat_map(|r| {
                            r.events.iter().map(move |e| StreamEventView {
                                tx_hash: r.tx_id,
                                kind: e.kind.clone(),
                                attrs: e.attrs.clone(),
                            })
                        })
                        .collect();
                    let m = StreamMessageView::Block {
                        height: b.block.header.height,
                        hash: b.hash,
                        header: Box::new(HeaderView::new(&b.block.header, ctx.parts.genesis.suite)),
                        tx_hashes: b.block.txs.iter().map(SignedTx::id).collect(),
                        events,
                    };
                    if !send_json(&mut socket, &m).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    if !send_json(&mut socket, &StreamMessageView::Lagged { skipped_blocks: n }).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
