//! FDL's client API: REST/JSON over HTTP, a WebSocket stream of blocks and events, Prometheus
//! metrics and the OpenAPI document.
//!
//! Every error is JSON `{"code": "...", "message": "..."}` with a stable code and the matching
//! HTTP status; bodies are bounded; nothing a client sends can panic the node.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod error;
mod governance;
mod handlers;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use fdl_crypto::Address;
use fdl_mempool::Mempool;
use fdl_state::StateDb;
use fdl_storage::Store;
use fdl_types::Genesis;
use tokio::sync::broadcast;

pub use error::ApiError;
pub use fdl_node_api::{CommittedBlock, Ledger, Metrics};
pub use handlers::RELAYED_HEADER;

/// Largest request body accepted (a batch of transactions fits well within it).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most transactions in one batch submission.
pub const MAX_BATCH_TXS: usize = 2_000;
/// Longest a `?wait=commit` request waits before answering 504.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Capacity of the committed-block broadcast; slow WebSocket subscribers skip blocks beyond it.
pub const STREAM_BUFFER: usize = 256;

/// What the API serves from: shared handles to the node's parts.
#[derive(Clone)]
pub struct RpcContext {
    /// The chain's genesis.
    pub genesis: Arc<Genesis>,
    /// Blocks, indexes, receipts.
    pub store: Arc<dyn Store>,
    /// Authenticated state.
    pub state: StateDb,
    /// The mempool.
    pub mempool: Arc<Mempool>,
    /// Committed blocks as they happen.
    pub blocks: broadcast::Sender<Arc<CommittedBlock>>,
    /// Counters and gauges.
    pub metrics: Arc<Metrics>,
    /// This node's name.
    pub node_name: String,
    /// This node's identity (its validator address).
    pub node_id: Address,
    /// Peers' names (empty for a one-validator chain).
    pub peers: Arc<parking_lot::RwLock<Vec<String>>>,
    /// `validator` or `observer`.
    pub role: String,
    /// Reads that apply the chain's rules (the active node set).
    pub ledger: Arc<dyn Ledger>,
    /// Where client-submitted transactions go to be forwarded to peers (none on a one-node chain).
    pub relay: Option<tokio::sync::mpsc::Sender<Vec<Vec<u8>>>>,
}

/// The API's routes.
pub fn router(ctx: RpcContext) -> Router {
    Router::new()
        .route("/v1/transactions", post(handlers::submit_tx))
        .route("/v1/transactions/batch", post(handlers::submit_batch))
        .route("/v1/transactions/{hash}", get(handlers::get_tx))
        .route("/v1/blocks/latest", get(handlers::latest_block))
        .route("/v1/blocks/{height}", get(handlers::get_block))
        .route("/v1/accounts/{address}", get(handlers::get_account))
        .route("/v1/status", get(handlers::status))
        .route("/v1/evidence", get(handlers::evidence))
        .route("/v1/members", get(governance::members))
        .route("/v1/validators", get(governance::validators))
        .route("/v1/certificates/{hash}", get(governance::certificate))
        .route("/v1/revocations", get(governance::revocations))
        .route("/v1/proposals", get(governance::proposals))
        .route("/v1/proposals/{id}", get(governance::proposal))
        .route("/v1/acl", get(governance::acl))
        .route("/v1/params", get(governance::params))
        .route("/v1/audit", get(governance::audit))
        .route("/v1/openapi.json", get(handlers::openapi))
        .route("/v1/stream", get(handlers::stream))
        .route("/metrics", get(handlers::metrics))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(ctx))
}

/// Binds `addr` and serves the API until `shutdown` resolves.
///
/// # Errors
/// I/O errors binding or serving.
pub async fn serve(
    addr: SocketAddr,
    ctx: RpcContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, ctx, shutdown).await
}

/// Serves the API on an already-bound listener until `shutdown` resolves.
///
/// # Errors
/// I/O errors serving.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    ctx: RpcContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx)).with_graceful_shutdown(shutdown).await
}
