//! The node network over TLCP (STD-9.1, 9.2; `docs/adr/0016-tlcp-channels.md`).
//!
//! A node's network port speaks only mutually authenticated TLCP. Behind it, two kinds of stream
//! travel, told apart by the first byte the dialer sends after the handshake:
//! - [`STREAM_CONSENSUS`]: Malachite's libp2p connection, unchanged. libp2p listens on a loopback
//!   port of its own; each peer has a local endpoint on loopback that libp2p dials and that this
//!   module carries to the peer's network port over TLCP.
//! - [`STREAM_TXS`]: client transactions forwarded between nodes, in length-prefixed batches.
//!
//! A peer is admitted only when its signing certificate chains to a member institution's current
//! CA, is valid now, is not revoked, and names a node of the current node set (its `CN`, `O` and
//! role). Every live connection is checked again when the chain moves, so a node removed or
//! revoked by governance is cut off within a block.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use fdl_channel::{ClientAuth, SecureStream, TlcpClient, TlcpIdentity, TlcpServer};
use parking_lot::Mutex;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    task::AbortHandle,
};

use crate::chain::Chain;

/// First byte of a stream that carries Malachite's libp2p connection.
pub const STREAM_CONSENSUS: u8 = 1;
/// First byte of a stream that carries forwarded client transactions.
pub const STREAM_TXS: u8 = 2;
/// Largest batch frame of forwarded transactions.
pub const MAX_TX_FRAME: usize = 16 * 1024 * 1024;
/// Most transactions in one forwarded batch.
pub const MAX_TX_BATCH: usize = 4_096;
/// How long a dialer has, after the handshake, to say which stream it opens.
const KIND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often live connections are checked against the member set.
const RECHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Most concurrent handshakes in progress on the network port.
const MAX_PENDING_HANDSHAKES: usize = 64;

/// Why a peer was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum PeerRefused {
    /// No certificate, or one that cannot be read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The certificate's institution is not a member, or its CA does not sign it.
    #[error("not a member's certificate: {0}")]
    NotMember(String),
    /// The certificate is revoked.
    #[error("certificate {serial} of {org} is revoked")]
    Revoked {
        /// Institution.
        org: String,
        /// Serial.
        serial: String,
    },
    /// The certificate names no active node of the chain's node set.
    #[error("{0} is not an active node of this chain")]
    NotANode(String),
    /// The peer is another node than the one dialed.
    #[error("dialed {expected} but {found} answered")]
    WrongNode {
        /// Who was dialed.
        expected: String,
        /// Who answered.
        found: String,
    },
    /// The state could not be read.
    #[error("state: {0}")]
    State(String),
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Admits a peer by its TLCP signing certificate: the node's name when it is an active node of
/// the chain at its current height.
///
/// # Errors
/// The [`PeerRefused`] reason.
pub fn admit_peer(chain: &Chain, cert: Option<&[u8]>, expected: Option<&str>) -> Result<String, PeerRefused> {
    let der = cert.ok_or_else(|| PeerRefused::Certificate("none presented".into()))?;
    let info = fdl_pki::parse(der).map_err(|e| PeerRefused::Certificate(e.to_string()))?;
    let height = chain.height();
    let view = chain.view_at(height);
    let member = fdl_schema::read::member(&view, &info.org)
        .map_err(|e| PeerRefused::State(e.to_string()))?
        .ok_or_else(|| PeerRefused::NotMember(format!("{} is not a member institution", info.org)))?;
    let info = fdl_pki::verify(der, &member.ca_cert, now()).map_err(|e| PeerRefused::NotMember(e.to_string()))?;
    if fdl_schema::read::revocation(&view, &info.org, &info.serial)
        .map_err(|e| PeerRefused::State(e.to_string()))?
        .is_some()
    {
        return Err(PeerRefused::Revoked { org: info.org, serial: info.serial });
    }
    let nodes = chain.nodes_at(height).map_err(|e| PeerRefused::State(e.to_string()))?;
    let node = nodes
        .iter()
        .find(|n| n.name == info.common_name && n.org == info.org && Some(n.role.role()) == info.role)
        .ok_or_else(|| PeerRefused::NotANode(format!("{} of {}", info.common_name, info.org)))?;
    if let Some(expected) = expected
        && expected != node.name
    {
        return Err(PeerRefused::WrongNode { expected: expected.into(), found: node.name.clone() });
    }
    Ok(node.name.clone())
}

/// A live tunnelled connection, checked again as the chain moves.
struct Live {
    cert: Vec<u8>,
    node: String,
    abort: AbortHandle,
}

/// Where libp2p listens behind the tunnel, in order of preference. The port is chosen here but
/// bound by libp2p only when the consensus engine starts, and a port free on 127.0.0.1 may in
/// the meantime be given to an outgoing connection, which all leave from 127.0.0.1 (the API's
/// clients, the tunnel's own dials): libp2p's listen then fails and the engine runs without a
/// network. On Linux all of 127.0.0.0/8 is loopback and no connection leaves from 127.77.0.1,
/// so a port chosen there stays free; systems with 127.0.0.1 alone (macOS) fall back to it.
/// The consensus start-up checks the address once more just before the engine binds it.
const INNER_HOSTS: [std::net::Ipv4Addr; 2] = [std::net::Ipv4Addr::new(127, 77, 0, 1), std::net::Ipv4Addr::LOCALHOST];

/// The TLCP side of the node network.
pub struct Tunnel {
    server: TlcpServer,
    client: TlcpClient,
    chain: Arc<Chain>,
    inner: SocketAddr,
    locals: Mutex<HashMap<String, (SocketAddr, SocketAddr, AbortHandle)>>,
    live: Mutex<Vec<Live>>,
    pending: Arc<tokio::sync::Semaphore>,
}

impl Tunnel {
    /// A tunnel with the node's TLCP identity, carrying consensus to libp2p's `inner` address.
    ///
    /// # Errors
    /// [`fdl_channel::ChannelError`] when the identity is refused.
    pub fn new(
        identity: &TlcpIdentity,
        chain: Arc<Chain>,
        inner: SocketAddr,
    ) -> Result<Self, fdl_channel::ChannelError> {
        Ok(Tunnel {
            server: TlcpServer::new(identity, ClientAuth::Required)?,
            client: TlcpClient::new(Some(identity))?,
            chain,
            inner,
            locals: Mutex::new(HashMap::new()),
            live: Mutex::new(Vec::new()),
            pending: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES)),
        })
    }

    /// Where libp2p listens, on loopback, for the consensus streams this tunnel carries in.
    pub fn inner(&self) -> SocketAddr {
        self.inner
    }

    /// A free loopback address for libp2p to listen on, on [`INNER_HOSTS`]' first address this
    /// machine has.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn free_loopback() -> std::io::Result<SocketAddr> {
        let mut last = None;
        for host in INNER_HOSTS {
            match std::net::TcpListener::bind((host, 0)) {
                Ok(l) => return l.local_addr(),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no loopback address")))
    }

    fn register(&self, cert: Vec<u8>, node: String, abort: AbortHandle) {
        let mut live = self.live.lock();
        live.retain(|l| !l.abort.is_finished());
        live.push(Live { cert, node, abort });
    }

    /// Serves the network port until `shutdown`: TLCP handshakes, admission, then the stream.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        txs: mpsc::Sender<Vec<Vec<u8>>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let recheck = tokio::spawn(self.clone().recheck_task(shutdown.clone()));
        loop {
            let (tcp, from) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "network port: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stopped(&mut shutdown) => break,
            };
            let Ok(permit) = self.pending.clone().try_acquire_owned() else {
                tracing::warn!(%from, "network port: too many handshakes in progress; connection dropped");
                continue;
            };
            let me = self.clone();
            let txs = txs.clone();
            let task = tokio::spawn(async move {
                let accepted = me.server.accept(tcp).await;
                drop(permit);
                let mut stream = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::info!(%from, error = %e, "network port: refused a connection");
                        return;
                    }
                };
                let cert = stream.peer_certificate();
                let node = match admit_peer(&me.chain, cert.as_deref(), None) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(%from, error = %e, "network port: refused a peer");
                        return;
                    }
                };
                let mut kind = [0u8; 1];
                if tokio::time::timeout(KIND_TIMEOUT, stream.read_exact(&mut kind)).await.is_err() {
                    return;
                }
                let handler = match kind[0] {
                    STREAM_CONSENSUS => {
                        let Ok(mut inner) = TcpStream::connect(me.inner).await else {
                            tracing::warn!("network port: the consensus engine is not listening");
                            return;
                        };
                        let _ = inner.set_nodelay(true);
                        tokio::spawn(async move {
                            let _ = tokio::io::copy_bidirectional(&mut stream, &mut inner).await;
                        })
                    }
                    STREAM_TXS => tokio::spawn(receive_txs(stream, node.clone(), txs)),
                    other => {
                        tracing::warn!(%from, %node, kind = other, "network port: unknown stream kind");
                        return;
                    }
                };
                me.register(cert.unwrap_or_default(), node, handler.abort_handle());
                let _ = handler.await;
            });
            drop(task);
        }
        recheck.abort();
        for l in self.live.lock().drain(..) {
            l.abort.abort();
        }
        for (_, (_, _, a)) in self.locals.lock().drain() {
            a.abort();
        }
    }

    /// The loopback address libp2p dials for the peer `peer_id` whose network port is `remote`
    /// (created on first use; moved when the peer's address changes).
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub fn local_endpoint(self: &Arc<Self>, peer_id: &str, remote: SocketAddr) -> std::io::Result<SocketAddr> {
        let mut locals = self.locals.lock();
        if let Some((r, local, task)) = locals.get(peer_id) {
            if *r == remote && !task.is_finished() {
                return Ok(*local);
            }
            task.abort();
        }
        let std_listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let listener = TcpListener::from_std(std_listener)?;
        let me = self.clone();
        let peer = peer_id.to_string();
        let task = tokio::spawn(async move {
            loop {
                let mut libp2p = match listener.accept().await {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(error = %e, "tunnel endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let me = me.clone();
                let peer = peer.clone();
                tokio::spawn(async move {
                    let expected = me.node_name_of(&peer);
                    match me.dial(remote, expected.as_deref(), STREAM_CONSENSUS).await {
                        Ok((mut stream, node)) => {
                            let cert = stream.peer_certificate().unwrap_or_default();
                            let task = tokio::spawn(async move {
                                let _ = libp2p.set_nodelay(true);
                                let _ = tokio::io::copy_bidirectional(&mut libp2p, &mut stream).await;
                            });
                            me.register(cert, node, task.abort_handle());
                            let _ = task.await;
                        }
                        Err(e) => tracing::debug!(%peer, %remote, error = %e, "could not reach a peer"),
                    }
                });
            }
        });
        locals.insert(peer_id.to_string(), (remote, local, task.abort_handle()));
        Ok(local)
    }

    fn node_name_of(&self, peer_id: &str) -> Option<String> {
        let nodes = self.chain.nodes_at(self.chain.height()).ok()?;
        nodes.iter().find(|n| n.peer_id == peer_id).map(|n| n.name.clone())
    }

    /// Dials a peer's network port, checks who answers, and opens a stream of `kind`.
    async fn dial(
        &self,
        remote: SocketAddr,
        expected: Option<&str>,
        kind: u8,
    ) -> Result<(SecureStream<TcpStream>, String), String> {
        let tcp = tokio::time::timeout(fdl_channel::HANDSHAKE_TIMEOUT, TcpStream::connect(remote))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let mut stream = self.client.connect(tcp).await.map_err(|e| e.to_string())?;
        let node =
            admit_peer(&self.chain, stream.peer_certificate().as_deref(), expected).map_err(|e| e.to_string())?;
        stream.write_all(&[kind]).await.map_err(|e| e.to_string())?;
        Ok((stream, node))
    }

    /// Ends every live connection whose peer is no longer admitted (removed, revoked, expired).
    async fn recheck_task(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut seen = self.chain.height();
        let mut tick = tokio::time::interval(RECHECK_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopped(&mut shutdown) => return,
            }
            let h = self.chain.height();
            if h == seen {
                continue;
            }
            seen = h;
            let mut live = self.live.lock();
            live.retain(|l| !l.abort.is_finished());
            for l in live.iter() {
                if let Err(e) = admit_peer(&self.chain, Some(&l.cert), Some(&l.node)) {
                    tracing::warn!(node = %l.node, error = %e, "disconnected a peer no longer admitted");
                    l.abort.abort();
                }
            }
        }
    }

    /// Forwards batches of client transactions to every other active node over the node network
    /// (one TLCP stream per peer, opened on demand and again after a drop). A peer that is down
    /// misses the batch: the transaction stays in this node's pool.
    /// A node's network address is the one the node set publishes, else the configured peer's
    /// (`configured`: peer id and address).
    pub async fn relay_task(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Vec<Vec<u8>>>,
        own_peer: String,
        configured: Vec<(String, SocketAddr)>,
    ) {
        let mut writers: HashMap<String, mpsc::Sender<Arc<Vec<u8>>>> = HashMap::new();
        while let Some(first) = rx.recv().await {
            let mut batch = first;
            let until = tokio::time::Instant::now() + Duration::from_millis(5);
            while batch.len() < MAX_TX_BATCH {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(more)) => batch.extend(more),
                    _ => break,
                }
            }
            batch.truncate(MAX_TX_BATCH);
            let frame = Arc::new(encode_batch(&batch));
            let Ok(nodes) = self.chain.nodes_at(self.chain.height()) else { continue };
            for n in nodes.iter().filter(|n| !n.peer_id.is_empty() && n.peer_id != own_peer) {
                let published = n.p2p.parse::<SocketAddr>().ok();
                let Some(addr) =
                    published.or_else(|| configured.iter().find(|(p, _)| *p == n.peer_id).map(|(_, a)| *a))
                else {
                    continue;
                };
                let key = format!("{}@{addr}", n.name);
                let tx = writers.entry(key).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(64);
                    tokio::spawn(self.clone().writer(addr, n.name.clone(), rx));
                    tx
                });
                // A full queue means the peer is slow or down: it misses this batch.
                let _ = tx.try_send(frame.clone());
            }
        }
    }

    async fn writer(self: Arc<Self>, addr: SocketAddr, node: String, mut rx: mpsc::Receiver<Arc<Vec<u8>>>) {
        let mut stream: Option<SecureStream<TcpStream>> = None;
        let mut retry_at = tokio::time::Instant::now();
        while let Some(frame) = rx.recv().await {
            if stream.is_none() && tokio::time::Instant::now() >= retry_at {
                match self.dial(addr, Some(&node), STREAM_TXS).await {
                    Ok((s, _)) => stream = Some(s),
                    Err(e) => {
                        tracing::debug!(%node, error = %e, "transaction forwarding: peer unreachable");
                        retry_at = tokio::time::Instant::now() + Duration::from_secs(1);
                    }
                }
            }
            if let Some(s) = stream.as_mut()
                && write_frame(s, &frame).await.is_err()
            {
                stream = None;
            }
        }
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// One batch: a count, then each transaction with its length (all u32, big-endian).
pub fn encode_batch(txs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + txs.iter().map(|t| t.len() + 4).sum::<usize>());
    out.extend_from_slice(&u32::try_from(txs.len()).unwrap_or(u32::MAX).to_be_bytes());
    for t in txs {
        out.extend_from_slice(&u32::try_from(t.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(t);
    }
    out
}

/// Reads a batch back; `None` for anything malformed or over the bounds.
pub fn decode_batch(frame: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (count, mut rest) = frame.split_first_chunk::<4>()?;
    let count = u32::from_be_bytes(*count) as usize;
    if count > MAX_TX_BATCH {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, r) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > r.len() {
            return None;
        }
        out.push(r[..len].to_vec());
        rest = &r[len..];
    }
    rest.is_empty().then_some(out)
}

async fn write_frame<S: AsyncWrite + Unpin>(s: &mut S, frame: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(frame.len()).map_err(|_| std::io::Error::other("frame too large"))?;
    s.write_all(&len.to_be_bytes()).await?;
    s.write_all(frame).await?;
    s.flush().await
}

/// Reads batches of forwarded transactions from a peer until it closes or sends garbage.
async fn receive_txs<S: AsyncRead + Unpin>(mut s: S, node: String, txs: mpsc::Sender<Vec<Vec<u8>>>) {
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_TX_FRAME {
            tracing::warn!(%node, len, "transaction forwarding: frame over the bound; stream closed");
            return;
        }
        let mut frame = vec![0u8; len];
        if s.read_exact(&mut frame).await.is_err() {
            return;
        }
        let Some(batch) = decode_batch(&frame) else {
            tracing::warn!(%node, "transaction forwarding: malformed batch; stream closed");
            return;
        };
        // Backpressure: a full admission queue slows the peer's stream down, it never grows.
        if txs.send(batch).await.is_err() {
            return;
        }
    }
}

/// Admits the transactions peers forwarded into the pool: each is verified once (the pool skips
/// what it already holds), never forwarded again.
pub async fn admit_forwarded(mut rx: mpsc::Receiver<Vec<Vec<u8>>>, pool: Arc<fdl_mempool::Mempool>) {
    while let Some(batch) = rx.recv().await {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let _ = pool.admit_many_from(&refs, fdl_mempool::Source::Peer).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_garbage_is_refused() {
        let txs = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        let frame = encode_batch(&txs);
        assert_eq!(decode_batch(&frame), Some(txs));
        assert_eq!(decode_batch(&frame[..frame.len() - 1]), None, "truncated");
        let mut extra = frame.clone();
        extra.push(0);
        assert_eq!(decode_batch(&extra), None, "trailing bytes");
        assert_eq!(decode_batch(&u32::MAX.to_be_bytes()), None, "a count over the bound");
        let mut lying = 1u32.to_be_bytes().to_vec();
        lying.extend_from_slice(&1000u32.to_be_bytes());
        lying.extend_from_slice(&[0; 10]);
        assert_eq!(decode_batch(&lying), None, "a length beyond the frame");
    }

    /// The port libp2p will listen on behind the tunnel cannot be taken by an outgoing
    /// connection in the meantime: one that holds the same port number on 127.0.0.1 does not
    /// stop a listener on the inner address (on 127.0.0.1 itself it would: "address in use",
    /// and the consensus engine ran without a network).
    #[cfg(target_os = "linux")]
    #[test]
    fn an_outgoing_connection_does_not_take_the_inner_port() {
        let server = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("test setup");
        let client = std::net::TcpStream::connect(server.local_addr().expect("test setup")).expect("test setup");
        let port = client.local_addr().expect("test setup").port();
        let inner = Tunnel::free_loopback().expect("test setup");
        assert_ne!(inner.ip(), std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST));
        assert!(std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_err());
        std::net::TcpListener::bind((inner.ip(), port)).expect("the inner address keeps the port free");
    }
}
