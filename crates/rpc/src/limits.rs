//! What one client may take of the API: connections, time to send a request, WebSocket
//! subscriptions and requests per second. The server refuses beyond them with a JSON
//! [`ErrorView`](fdl_types::api::ErrorView) (503, or 429 with `Retry-After`), so a flood of clients
//! costs the node bounded memory and threads, and consensus, which shares the runtime, never waits.

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use fdl_types::api::ErrorView;
use governor::{Quota, RateLimiter, clock::Clock};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
};

use crate::{ApiError, WAIT_TIMEOUT};

/// The API's limits, the `[api]` section of a node's config. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiLimits {
    /// Most open client connections (WebSocket subscribers included). One more is answered 503
    /// `too_many_connections` and closed; beyond a small margin, it is closed unanswered.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers, in milliseconds; an idle
    /// keep-alive connection is closed after it too.
    pub header_read_timeout_ms: u64,
    /// Longest one request may take, body upload included, in milliseconds (408
    /// `request_timeout`). At least `?wait=commit`'s 30 s.
    pub request_timeout_ms: u64,
    /// Most WebSocket subscribers of `/v1/stream`; one more is answered 503 `too_many_subscribers`.
    pub max_stream_subscribers: usize,
    /// Requests per second one client (an IPv4 address, an IPv6 /64) may send on average; 0
    /// turns the rate limit off. Beyond it: 429 `rate_limited` with `Retry-After`.
    pub rate_limit_per_sec: u32,
    /// Requests one client may send at once above its rate.
    pub rate_limit_burst: u32,
    /// Clients the rate limit does not apply to (default: this host). A node adds its peers' API
    /// hosts given as IP addresses, which forward transactions to it.
    pub rate_limit_exempt: Vec<IpAddr>,
    /// Most audit records one `/v1/audit` query reads (not only returns); the answer says
    /// `truncated` beyond it.
    pub max_audit_scan: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_connections: 1_024,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_stream_subscribers: 256,
            rate_limit_per_sec: 100,
            rate_limit_burst: 200,
            rate_limit_exempt: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(Ipv6Addr::LOCALHOST)],
            max_audit_scan: 100_000,
        }
    }
}

impl ApiLimits {
    /// Checks the limits make sense.
    ///
    /// # Errors
    /// A message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("api.max_connections must be positive".into());
        }
        if self.header_read_timeout_ms == 0 {
            return Err("api.header_read_timeout_ms must be positive".into());
        }
        if self.request_timeout_ms < WAIT_TIMEOUT.as_millis() as u64 {
            return Err(format!(
                "api.request_timeout_ms must be at least {} (the longest ?wait=commit)",
                WAIT_TIMEOUT.as_millis()
            ));
        }
        if self.rate_limit_per_sec > 0 && self.rate_limit_burst == 0 {
            return Err("api.rate_limit_burst must be positive when the rate limit is on".into());
        }
        if self.max_audit_scan == 0 {
            return Err("api.max_audit_scan must be positive".into());
        }
        Ok(())
    }

    fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.max(1))
    }
}

/// How many connections over [`ApiLimits::max_connections`] are answered 503 at once; any more
/// are closed unanswered.
const REFUSING: usize = 64;
/// Longest the server spends answering a connection it refuses.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
/// How often refused reads are stored in the node's audit store.
const REFUSAL_FLUSH: Duration = Duration::from_secs(1);
/// How often the rate limiter forgets clients it has not seen lately.
const LIMITER_SWEEP: Duration = Duration::from_secs(60);

type KeyedLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

/// Most store reads, scans and certificate checks of the API running at once on the runtime's
/// blocking threads, which consensus uses too: more requests wait for their turn.
const BLOCKING_READS: usize = 8;

/// The runtime state of the limits, shared by every connection and request.
pub(crate) struct Guard {
    pub(crate) limits: ApiLimits,
    limiter: Option<KeyedLimiter>,
    /// Permits of `/v1/stream` subscribers.
    pub(crate) subscribers: Arc<Semaphore>,
    /// Permits of blocking reads.
    reads: Semaphore,
    /// Repeated expensive reads.
    pub(crate) cache: crate::cache::ReadCache,
    /// The read policy's caches, pending refusals and counters.
    pub(crate) read_gate: crate::read_access::ReadGate,
    /// What the server's periodic flush of refused reads stores through.
    pub(crate) ctx: std::sync::OnceLock<Arc<crate::RpcContext>>,
}

impl Guard {
    pub(crate) fn new(limits: ApiLimits) -> Self {
        let limiter = NonZeroU32::new(limits.rate_limit_per_sec).map(|rate| {
            let burst = NonZeroU32::new(limits.rate_limit_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let subscribers = Arc::new(Semaphore::new(limits.max_stream_subscribers));
        Guard {
            limits,
            limiter,
            subscribers,
            reads: Semaphore::new(BLOCKING_READS),
            cache: crate::cache::ReadCache::default(),
            read_gate: crate::read_access::ReadGate::default(),
            ctx: std::sync::OnceLock::new(),
        }
    }

    /// Runs `read` (store reads and scans, certificate checks) on a blocking thread, off the
    /// async workers, at most [`BLOCKING_READS`] at once.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = self.reads.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(read).await.map_err(ApiError::internal)?
    }

    /// `Err(wait)` when `peer` is over its rate.
    fn check(&self, peer: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        let peer = peer.to_canonical();
        if self.limits.rate_limit_exempt.iter().any(|e| e.to_canonical() == peer) {
            return Ok(());
        }
        limiter.check_key(&client_key(peer)).map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Stores the refused reads not stored yet (on a blocking thread).
    fn flush_refusals(self: &Arc<Self>) {
        if let Some(ctx) = self.ctx.get().cloned()
            && self.read_gate.pending_len() > 0
        {
            let g = self.clone();
            tokio::task::spawn_blocking(move || g.read_gate.flush(&ctx));
        }
    }

    fn sweep(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// One rate-limit bucket per IPv4 address and per IPv6 /64 (a single host usually holds a whole
/// /64, so per address would give it billions of buckets).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The middleware of every route: the per-client rate limit, then the request timeout.
pub(crate) async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    // Requests that did not come through `serve_on` (tests calling the router) carry no address.
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
        && let Err(wait) = g.check(peer.ip())
    {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests from this client: retry after {} ms", wait.as_millis().max(1)),
        )
        .into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return r;
    }
    let limit = Duration::from_millis(g.limits.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took over {} ms", g.limits.request_timeout_ms),
        )
        .into_response(),
    }
}

/// Serves `app` on `listener` within `guard`'s limits until `shutdown` resolves, then lets the
/// requests in flight finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: axum::Router,
    guard: Arc<Guard>,
    tlcp: Option<Arc<fdl_channel::TlcpServer>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(guard.limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sweep = tokio::time::interval(LIMITER_SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(REFUSAL_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "the API could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = sweep.tick() => {
                guard.sweep();
                continue;
            }
            _ = flush.tick() => {
                guard.flush_refusals();
                continue;
            }
            // Finished connection tasks are reaped as they end, so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            () = &mut shutdown => break,
        };
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                let (app, guard, stop) = (app.clone(), guard.clone(), stop_rx.clone());
                let tlcp = tlcp.clone();
                tasks.spawn(async move {
                    match tlcp {
                        None => serve_connection(stream, peer, None, app, &guard, stop).await,
                        // The handshake runs in the connection's task, bounded in time, under
                        // the connection cap: a slow or hostile client holds one slot at most.
                        Some(server) => match server.accept(stream).await {
                            Ok(secure) => {
                                let cert = secure.peer_certificate().map(|c| crate::ClientCertificate(c.into()));
                                serve_connection(secure, peer, cert, app, &guard, stop).await;
                            }
                            Err(e) => tracing::debug!(error = %e, %peer, "API: TLCP handshake failed"),
                        },
                    }
                    drop(permit);
                });
            }
            Err(_) => match refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    tasks.spawn(async move {
                        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refuse(stream)).await;
                        drop(permit);
                    });
                }
                // A flood: closing costs less than answering.
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(ctx) = guard.ctx.get().cloned() {
        let g = guard.clone();
        let _ = tokio::task::spawn_blocking(move || g.read_gate.flush(&ctx)).await;
    }
    Ok(())
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    cert: Option<crate::ClientCertificate>,
    app: axum::Router,
    guard: &Guard,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(c) = &cert {
            req.extensions_mut().insert(c.clone());
        }
        let mut app = app.clone();
        async move {
            let r: Result<Response, Infallible> =
                tower_service::Service::call(&mut app, req.map(axum::body::Body::new)).await;
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(guard.limits.header_read_timeout());
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::trace!(error = %e, %peer, "API connection ended");
            }
        }
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answers a connection over the cap with 503 `too_many_connections` and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = serde_json::to_string(&ErrorView {
        code: "too_many_connections".into(),
        message: "the node serves as many connections as it allows: retry later".into(),
        account: None,
    })
    .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(body.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    // Read what the client sent (up to a bound) so that closing does not reset the connection
    // before it reads the answer.
    let mut buf = [0u8; 4096];
    let mut left = 64 * 1024usize;
    while left > 0 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn the_defaults_are_valid_and_bad_limits_are_refused() {
        assert!(ApiLimits::default().validate().is_ok());
        for bad in [
            ApiLimits { max_connections: 0, ..Default::default() },
            ApiLimits { header_read_timeout_ms: 0, ..Default::default() },
            ApiLimits { request_timeout_ms: 1_000, ..Default::default() },
            ApiLimits { rate_limit_burst: 0, ..Default::default() },
            ApiLimits { max_audit_scan: 0, ..Default::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let off = ApiLimits { rate_limit_per_sec: 0, rate_limit_burst: 0, ..Default::default() };
        assert!(off.validate().is_ok());
    }

    #[test]
    fn exempt_clients_are_not_limited_and_others_are() {
        let g = Guard::new(ApiLimits { rate_limit_per_sec: 1, rate_limit_burst: 2, ..Default::default() });
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let far: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..10 {
            assert!(g.check(local).is_ok());
            assert!(g.check(mapped).is_ok());
        }
        assert!(g.check(far).is_ok());
        assert!(g.check(far).is_ok());
        let wait = g.check(far).expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
    }
}
