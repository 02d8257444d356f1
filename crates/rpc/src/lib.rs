//! FDL's client API: REST/JSON over HTTP, a WebSocket stream of blocks and events, Prometheus
//! metrics and the OpenAPI document.
//!
//! Every error is JSON `{"code": "...", "message": "..."}` with a stable code and the matching
//! HTTP status; bodies are bounded; nothing a client sends can panic the node.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod cache;
mod contracts;
mod error;
mod governance;
mod handlers;
mod limits;
pub mod openapi;
mod read_access;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit};
use fdl_crypto::Address;

pub use error::ApiError;
pub use fdl_node_api::{ChainParts, CommittedBlock, Ledger, Metrics};
pub use handlers::RELAYED_HEADER;
pub use limits::ApiLimits;
pub use read_access::{Access, ClientCertificate, route_access};

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
    /// The chain's shared handles: genesis, store, state, mempool, block broadcast, metrics.
    pub parts: ChainParts,
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
    /// `/metrics` counts the certificates that expire within this many days.
    pub cert_expiry_warning_days: u64,
    /// Connections, timeouts, subscribers, request rates and audit scans.
    pub limits: ApiLimits,
}

/// Declares the API's routes once: [`ROUTES`] lists them (for the OpenAPI test and for clients)
/// and [`router`] registers exactly those.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every route of the API as `(path, method)`, the method in lower case as OpenAPI names
        /// it. [`router`] registers exactly these, and the OpenAPI document describes each.
        pub const ROUTES: &[(&str, &str)] = &[$(($path, stringify!($method))),*];

        fn routes() -> Router<Arc<RpcContext>> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

routes! {
    post "/v1/transactions" => handlers::submit_tx,
    post "/v1/transactions/batch" => handlers::submit_batch,
    get "/v1/transactions/{hash}" => handlers::get_tx,
    get "/v1/blocks/latest" => handlers::latest_block,
    get "/v1/blocks/{height}" => handlers::get_block,
    get "/v1/accounts/{address}" => handlers::get_account,
    get "/v1/status" => handlers::status,
    get "/v1/evidence" => handlers::evidence,
    get "/v1/members" => governance::members,
    get "/v1/validators" => governance::validators,
    get "/v1/validators/{height}/proof" => governance::validator_set_proof,
    get "/v1/genesis" => governance::genesis,
    get "/v1/certificates/{hash}" => governance::certificate,
    get "/v1/revocations" => governance::revocations,
    get "/v1/proposals" => governance::proposals,
    get "/v1/proposals/{id}" => governance::proposal,
    get "/v1/acl" => governance::acl,
    get "/v1/params" => governance::params,
    get "/v1/audit" => governance::audit,
    get "/v1/contracts" => contracts::list,
    post "/v1/contracts/check" => contracts::check,
    get "/v1/contracts/{name}" => contracts::show,
    post "/v1/contracts/{name}/query" => contracts::query,
    get "/v1/contracts/{name}/state/{key}" => contracts::state,
    get "/v1/openapi.json" => handlers::openapi,
    get "/v1/stream" => handlers::stream,
    get "/metrics" => handlers::metrics,
}

/// The API's routes ([`ROUTES`]), with JSON answers for unknown routes and wrong methods, the
/// request timeout and, for requests served by [`serve_on`], the per-client rate limit.
pub fn router(ctx: RpcContext) -> Router {
    app(ctx).0
}

fn app(ctx: RpcContext) -> (Router, Arc<limits::Guard>) {
    let guard = Arc::new(limits::Guard::new(ctx.limits.clone()));
    let ctx = Arc::new(ctx);
    // Refused reads are stored by the server's periodic flush (and by audit queries).
    let _ = guard.ctx.set(ctx.clone());
    let router = routes()
        // The read policy (STD-16.1) on every matched route; an unclassified route is refused.
        .route_layer(axum::middleware::from_fn_with_state((ctx.clone(), guard.clone()), read_access::read_gate))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::Extension(guard.clone()))
        .layer(axum::middleware::from_fn_with_state(guard.clone(), limits::guard))
        .with_state(ctx);
    (router, guard)
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

/// Serves the API on an already-bound listener until `shutdown` resolves, within
/// [`RpcContext::limits`]: at most `max_connections` connections, each closed when it takes
/// longer than `header_read_timeout_ms` to send a request's headers. The requests in flight then
/// finish.
///
/// # Errors
/// I/O errors serving.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    ctx: RpcContext,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, guard) = app(ctx);
    limits::serve(listener, router, guard, None, shutdown).await
}

/// Serves the API over TLCP (STD-9.2) on `listener` until `shutdown`, with the same limits as
/// [`serve_on`]: each connection's handshake runs in its own task within the connection cap and
/// [`fdl_channel::HANDSHAKE_TIMEOUT`]. A client that presents a certificate has it attached to
/// each of its requests as a [`ClientCertificate`].
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve_tlcp_on(
    listener: tokio::net::TcpListener,
    ctx: RpcContext,
    server: fdl_channel::TlcpServer,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, guard) = app(ctx);
    limits::serve(listener, router, guard, Some(std::sync::Arc::new(server)), shutdown).await
}
