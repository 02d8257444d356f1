//! An FDL node: opens the store, applies genesis, runs the mempool, the block producer and the
//! API, and shuts down cleanly.
//!
//! Block production sits behind [`Chain`]: `build_block` (filter, execute, compute roots) and
//! `commit_block` (one atomic write, then notify). The one-validator [`SoloProducer`] drives it
//! today; the BFT issue drives the same two calls from Malachite's host loop.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod api_runtime;
mod bft;
mod chain;
mod config;
mod pipeline;
mod producer;
mod prune;
mod tunnel;

use std::{net::SocketAddr, sync::Arc};

use fdl_consensus::{ValidatorKey, remote::RemoteClient};
use fdl_crypto::KeyPair;
use fdl_mempool::{Mempool, MempoolConfig};
use fdl_rpc::{Metrics, RpcContext};
use fdl_state::StateDb;
use fdl_storage::{RedbStore, Store};
use fdl_types::{Genesis, NodeRole};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, watch};

pub use chain::{BlockRefused, Chain, ProposedBlock};
pub use config::{
    DEFAULT_KEEP_VERSIONS, MIN_KEEP_VERSIONS, NodeConfig, P2pConfig, PeerConfig, PruneConfig, SignerConfig,
    generate_network_key, read_network_key,
};
pub use fdl_consensus::{network_peer_id, remote};
pub use fdl_exec::block_rules::BlockInvalid;
pub use fdl_node_api::ChainParts;
pub use producer::SoloProducer;
pub use tunnel::{PeerRefused, admit_peer};

/// Why a node could not start or had to stop.
#[derive(Debug, Error)]
pub enum NodeError {
    /// Bad or unreadable configuration.
    #[error("config: {0}")]
    Config(String),
    /// The genesis file is unusable or differs from the one the data directory was made with.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The validator key is unusable.
    #[error("validator key: {0}")]
    Key(String),
    /// A private key file (validator or network key) that group or others may access: the node
    /// refuses to use it. The message names the file and the `chmod 600` fix.
    #[error("key file: {0}")]
    KeyFile(#[source] fdl_crypto::CryptoError),
    /// A key file (validator or network key) inside the node's data directory: keys are kept
    /// apart from the ledger (STD-8.2), so a copy or backup of the data never carries them.
    #[error(
        "key file {key} is inside the data directory {data_dir}: keep keys apart from the ledger (move the key and set its path in the node config)"
    )]
    KeyInDataDir {
        /// The key file.
        key: String,
        /// The data directory.
        data_dir: String,
    },
    /// The store failed (fatal).
    #[error("storage: {0}")]
    Storage(#[from] fdl_storage::StorageError),
    /// The state failed (fatal).
    #[error("state: {0}")]
    State(#[from] fdl_state::StateError),
    /// Execution failed (fatal).
    #[error("execution: {0}")]
    Exec(#[from] fdl_exec::ExecError),
    /// An invariant broke: the node stops rather than limp on.
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// Network I/O.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A listening address of the node's configuration cannot be bound (taken by another
    /// process, or not an address of this machine).
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the node serves there (the API, the network port).
        what: &'static str,
        /// Why the bind failed.
        #[source]
        source: std::io::Error,
    },
}

/// A running node's handles.
pub struct RunningNode {
    /// The chain.
    pub chain: Arc<Chain>,
    /// The API's bound address.
    pub rpc_addr: SocketAddr,
}

/// The environment variable holding the passphrase of an encrypted validator key (when the
/// config names no `validator_key_passphrase_file`); the `fdl` command reads it too.
pub const ENV_KEY_PASSPHRASE: &str = "FDL_KEY_PASSPHRASE";

fn key_file_err(e: fdl_crypto::CryptoError) -> NodeError {
    match e {
        e @ fdl_crypto::CryptoError::KeyFileExposed { .. } => NodeError::KeyFile(e),
        e => NodeError::Key(e.to_string()),
    }
}

/// Reads the node's validator key, refusing (on Unix) a file that group or others may access.
/// An encrypted key (`ENCRYPTED PRIVATE KEY`) is decrypted with the passphrase of
/// `FDL_KEY_PASSPHRASE`; see [`load_validator_key_with`].
///
/// # Errors
/// [`NodeError::KeyFile`] for such a file, [`NodeError::Key`] for an unreadable or bad key, or an
/// encrypted key without its passphrase.
pub fn load_validator_key(path: &std::path::Path) -> Result<KeyPair, NodeError> {
    load_validator_key_with(path, None)
}

/// Reads the node's validator key (plain or encrypted PKCS#8 PEM), refusing (on Unix) a key file
/// or passphrase file that group or others may access. The passphrase of an encrypted key is the
/// content of `passphrase_file` (one trailing newline dropped) when given, else the value of
/// `FDL_KEY_PASSPHRASE`. The PEM text, the passphrase and the decrypted DER are zeroized after use.
///
/// # Errors
/// [`NodeError::KeyFile`] for an exposed file; [`NodeError::Key`] for an unreadable or bad key,
/// a wrong passphrase, or an encrypted key without a passphrase (naming both sources).
pub fn load_validator_key_with(
    path: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
) -> Result<KeyPair, NodeError> {
    fdl_crypto::check_private_key_file(path).map_err(key_file_err)?;
    let passphrase: Option<zeroize::Zeroizing<String>> = match passphrase_file {
        Some(pf) => {
            fdl_crypto::check_private_key_file(pf).map_err(key_file_err)?;
            let mut text = zeroize::Zeroizing::new(
                std::fs::read_to_string(pf)
                    .map_err(|e| NodeError::Key(format!("passphrase file {}: {e}", pf.display())))?,
            );
            while text.ends_with('\n') || text.ends_with('\r') {
                text.pop();
            }
            Some(text)
        }
        None => std::env::var(ENV_KEY_PASSPHRASE).ok().filter(|p| !p.is_empty()).map(zeroize::Zeroizing::new),
    };
    KeyPair::read_pem_file_with(path, passphrase.as_ref().map(|p| p.as_bytes())).map_err(|e| match e {
        fdl_crypto::CryptoError::PassphraseRequired(m) => NodeError::Key(format!(
            "{m}: set validator_key_passphrase_file in the node config, or {ENV_KEY_PASSPHRASE}"
        )),
        e => NodeError::Key(format!("{}: {e}", path.display())),
    })
}

/// Where `p` really is: canonical when it exists, else its absolute form.
fn real_path(p: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// Refuses a validator or network key file that resolves (symbolic links followed) inside the
/// data directory (STD-8.2: keys apart from the ledger).
///
/// # Errors
/// [`NodeError::KeyInDataDir`] naming the key and the directory.
pub fn check_keys_outside_data(config: &NodeConfig) -> Result<(), NodeError> {
    let data = real_path(&config.data_path());
    let channel_keys =
        |f: Option<fdl_channel::TlcpFiles>| f.into_iter().flat_map(|f| std::iter::once(f.sign_key).chain(f.enc_key));
    let p2p_files = config.p2p.as_ref().and_then(|p| p.tlcp.as_ref()).map(|f| f.resolved(&config.base_dir));
    let keys = std::iter::once(config.validator_key_path())
        .chain(config.network_key_path())
        .chain(channel_keys(p2p_files))
        .chain(channel_keys(config.rpc_tlcp_files()));
    for key in keys {
        let k = real_path(&key);
        if k.starts_with(&data) {
            return Err(NodeError::KeyInDataDir {
                key: key.display().to_string(),
                data_dir: data.display().to_string(),
            });
        }
    }
    Ok(())
}

/// The node's validator key: its key file, or (with a `[signer]` section) a connection to its
/// remote signer, which announces the public key (STD-8.2, ADR 0015).
///
/// # Errors
/// [`NodeError::KeyFile`] or [`NodeError::Key`] for the key file; [`NodeError::Key`] when the
/// signer's token is unusable or the signer cannot be reached or authenticated.
pub async fn validator_key(config: &NodeConfig, chain_id: &str) -> Result<ValidatorKey, NodeError> {
    let Some((socket, token)) = config.signer_paths() else {
        let passphrase_file = config.validator_key_passphrase_path();
        let key = load_validator_key_with(&config.validator_key_path(), passphrase_file.as_deref())?;
        return Ok(ValidatorKey::Local(Arc::new(key)));
    };
    let token = remote::Token::read(&token).map_err(|e| NodeError::Key(format!("remote signer: {e}")))?;
    let chain_id = chain_id.to_string();
    let path = socket.clone();
    let client = tokio::task::spawn_blocking(move || RemoteClient::connect(&path, token, &chain_id))
        .await
        .map_err(|e| NodeError::Invariant(format!("signer connection task: {e}")))?
        .map_err(|e| NodeError::Key(format!("remote signer: {e}")))?;
    tracing::info!(signer = %socket.display(), validator = %client.address(), "the validator key is held by a remote signer");
    Ok(ValidatorKey::Remote(Arc::new(client)))
}

/// Runs a node until `shutdown` flips to true. Returns when the producer and API have stopped.
///
/// # Errors
/// [`NodeError`] when startup fails or a fatal error stops the node.
pub async fn run(config: NodeConfig, mut shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
    let genesis = Arc::new(Genesis::load(&config.genesis_path()).map_err(|e| NodeError::Genesis(e.to_string()))?);
    check_keys_outside_data(&config)?;
    let key = validator_key(&config, &genesis.chain_id).await?;
    let own = key.public_key();
    if own.suite() != genesis.suite {
        return Err(NodeError::Key(format!("key is {} but the chain uses {}", own.suite(), genesis.suite)));
    }
    check_certificates(&genesis)?;
    let network_seed = match &config.p2p {
        Some(_) => Some(read_network_key(&config.network_key_path().unwrap_or_default())?),
        None if genesis.validators.len() > 1 || config.role == NodeRole::Observer => {
            return Err(NodeError::Config(
                "the genesis has several validators: the config needs a [p2p] section to reach them".into(),
            ));
        }
        None => None,
    };
    fdl_crypto::sm2v::set_cache_limit(config.sig_cache_mb.saturating_mul(1024 * 1024));
    if std::env::var("FDL_SM2_VERIFIER").is_ok_and(|v| v == "reference") {
        tracing::warn!("FDL_SM2_VERIFIER=reference: SM2 signatures are checked by the slower reference verifier");
        fdl_crypto::sm2v::set_reference_mode(true);
    }
    fdl_crypto::sm2v::warm_up();
    std::fs::create_dir_all(config.data_path())?;
    let db_path = ledger_path(&config);
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&db_path)?);
    let state = StateDb::new(store.clone(), genesis.suite);
    let mempool = Arc::new(
        Mempool::new(
            genesis.clone(),
            store.clone(),
            MempoolConfig {
                capacity: config.mempool_capacity,
                target_wait: std::time::Duration::from_millis(config.mempool_target_wait_ms),
                ..MempoolConfig::default()
            },
        )
        .map_err(|e| NodeError::Config(e.to_string()))?,
    );
    let refusals = mempool.clone();
    let (blocks, _) = broadcast::channel(fdl_rpc::STREAM_BUFFER);
    let metrics = Arc::new(Metrics::default());
    // Only this call sets it, once, on a fresh `Metrics`.
    let _ = metrics.db_path.set(db_path);
    // Configured peers' APIs, by network peer id: where client transactions are forwarded.
    let peer_rpcs: Vec<(String, String)> = config
        .p2p
        .iter()
        .flat_map(|p| p.peers.iter().filter_map(|p| p.rpc.clone().map(|r| (p.peer_id.clone(), r))))
        .collect();
    let (relay_tx, relay_rx) = mpsc::channel(1024);
    metrics.state_oldest_version.store(store.oldest_version(), std::sync::atomic::Ordering::Relaxed);
    let pruner = config.prune.keep().map(|keep| {
        tracing::info!(
            keep_versions = keep,
            oldest = store.oldest_version(),
            "pruning state older than the kept versions"
        );
        tokio::spawn(prune::prune_task(store.clone(), metrics.clone(), keep, shutdown.clone()))
    });
    if pruner.is_none() {
        tracing::info!("archive node: the state of every version is kept");
    }
    let parts = ChainParts { genesis: genesis.clone(), store, state, mempool, blocks, metrics: metrics.clone() };
    let chain = Arc::new(Chain::open_with(parts.clone(), key.clone())?);
    let tunnel = open_tunnel(&config, &genesis, &chain)?;
    let ctx = RpcContext {
        parts,
        ledger: chain.clone(),
        node_name: config.name.clone(),
        node_id: own.address(),
        peers: Arc::new(parking_lot::RwLock::new(
            config.p2p.iter().flat_map(|p| p.peers.iter().map(|p| p.name.clone())).collect(),
        )),
        role: config.role.as_str().into(),
        cert_expiry_warning_days: config.cert_expiry_warning_days,
        relay: (!peer_rpcs.is_empty() || tunnel.is_some()).then_some(relay_tx),
        limits: api_limits(&config),
    };
    let nodes = chain.nodes_at(chain.height())?;
    let joining = config.p2p.as_ref().is_some_and(|p| p.joining);
    let own_peer =
        network_seed.as_ref().map(|s| network_peer_id(s)).transpose().map_err(|e| NodeError::Key(e.to_string()))?;
    check_membership(&config, &genesis, &nodes, &own, own_peer.as_deref(), joining)?;
    if !config.rpc_listen.ip().is_loopback() {
        return Err(NodeError::Config(format!(
            "rpc_listen {} is not a loopback address: plain HTTP is served on loopback only; serve remote clients over TLCP (TLS 1.3 under intl) with rpc_tlcp_listen (STD-9.2)",
            config.rpc_listen
        )));
    }
    let secure = match config.rpc_tlcp_listen {
        Some(addr) => {
            let files = config.rpc_tlcp_files().ok_or_else(|| {
                NodeError::Config("rpc_tlcp_listen needs a TLCP pair: [rpc_tlcp] or [p2p.tlcp]".into())
            })?;
            let id = fdl_channel::TlcpIdentity::load(&files).map_err(|e| NodeError::Config(e.to_string()))?;
            let server = fdl_channel::TlcpServer::new(&id, fdl_channel::ClientAuth::Optional)
                .map_err(|e| NodeError::Config(e.to_string()))?;
            Some((listen(addr, "API over TLCP").await?, server))
        }
        None => None,
    };
    let listener = listen(config.rpc_listen, "API").await?;
    let rpc_addr = listener.local_addr()?;
    tracing::info!(node = %config.name, role = config.role.as_str(), chain_id = %genesis.chain_id,
        suite = %genesis.suite, %rpc_addr, height = chain.height(), "node started");
    // Admission refusals go to the node's own store in the background, off the commit path.
    let flusher = tokio::spawn(flush_refusals_task(refusals.clone(), shutdown.clone()));
    // The API serves on threads of its own, so its answers do not queue behind consensus and
    // the network on the main runtime's workers (`api_runtime`).
    let mut secure_rpc = match secure {
        Some((l, server)) => {
            if let Ok(a) = l.local_addr() {
                tracing::info!(listen = %a, "API over TLCP");
            }
            let ctx = ctx.clone();
            Some(api_runtime::spawn("fdl-api-tlcp", l, shutdown.clone(), move |l, stop| {
                fdl_rpc::serve_tlcp_on(l, ctx, server, stop)
            })?)
        }
        None => None,
    };
    let mut rpc =
        api_runtime::spawn("fdl-api", listener, shutdown.clone(), move |l, stop| fdl_rpc::serve_on(l, ctx, stop))?;
    let result = match (&config.p2p, network_seed) {
        (Some(p2p), Some(seed)) => {
            let own = own_peer.clone().unwrap_or_default();
            if let Some(t) = &tunnel {
                let listener = listen(p2p.listen, "network port").await?;
                tracing::info!(listen = %p2p.listen, "network port: TLCP (TLS 1.3 under intl) only");
                let (forwarded_tx, forwarded_rx) = mpsc::channel(256);
                tokio::spawn(t.clone().serve(listener, forwarded_tx, shutdown.clone()));
                tokio::spawn(tunnel::admit_forwarded(forwarded_rx, chain.mempool().clone()));
                let configured = p2p.peers.iter().map(|p| (p.peer_id.clone(), p.addr)).collect();
                tokio::spawn(t.clone().relay_task(relay_rx, own.clone(), configured));
            } else if !peer_rpcs.is_empty() {
                tokio::spawn(bft::relay_task(relay_rx, chain.clone(), own.clone(), peer_rpcs));
            }
            run_bft(&config, p2p, *seed, &genesis, chain.clone(), metrics, key, own, tunnel, shutdown).await
        }
        _ => SoloProducer::new(chain.clone()).run(&mut shutdown).await,
    };
    if let Err(e) = &result {
        // A fatal error stops the whole node: an API that admits transactions no block will ever
        // include would only mislead clients.
        tracing::error!(error = %e, "consensus or block production failed; stopping the node");
        rpc.abort();
        if let Some(s) = &mut secure_rpc {
            s.abort();
        }
    }
    if let Err(e) = rpc.join().await {
        tracing::warn!(error = %e, "the API stopped with an error");
    }
    if let Some(s) = secure_rpc
        && let Err(e) = s.join().await
    {
        tracing::warn!(error = %e, "the API over TLCP stopped with an error");
    }
    flusher.abort();
    if let Some(p) = pruner {
        // It stops between two transactions when told to; a batch in flight finishes first. After
        // a fatal error nobody flips the shutdown signal: stop it here (a prune transaction is
        // atomic, so one cut short is simply done again at the next start).
        if result.is_err() {
            p.abort();
        }
        let _ = p.await;
    }
    // The admission refusals not yet stored; closing the store makes them durable.
    if let Err(e) = refusals.flush_refusals() {
        tracing::error!(error = %e, "could not store the last admission refusals");
    }
    // The block being written, if any, reaches the disk (and the index) before the node stops.
    let result = match (result, chain.wait_settled()) {
        (Ok(()), Err(e)) => Err(e),
        (r, _) => r,
    };
    tracing::info!(height = chain.height(), "node stopped");
    result
}

/// The ledger database file of a node.
pub fn ledger_path(config: &NodeConfig) -> std::path::PathBuf {
    config.data_path().join("ledger.redb")
}

/// Compacts the ledger database of a stopped node (`fdl node --compact`): the pages pruning
/// freed go back to the file system. Returns the file's size before and after, in bytes.
///
/// # Errors
/// [`NodeError::Storage`] when the file cannot be opened (a running node holds it) or the
/// compaction fails.
pub fn compact_ledger(config: &NodeConfig) -> Result<(u64, u64), NodeError> {
    Ok(RedbStore::compact_file(&ledger_path(config))?)
}

/// The API's limits of `config`, with the peers' API hosts (given as IP addresses) exempt from
/// the rate limit: they forward client transactions in bursts.
fn api_limits(config: &NodeConfig) -> fdl_rpc::ApiLimits {
    let mut limits = config.api.clone();
    let peer_hosts = config.p2p.iter().flat_map(|p| p.peers.iter()).filter_map(|p| p.rpc.as_deref()).filter_map(url_ip);
    for ip in peer_hosts {
        if !limits.rate_limit_exempt.contains(&ip) {
            limits.rate_limit_exempt.push(ip);
        }
    }
    limits
}

/// The host of an `http://host:port/...` URL when it is an IP address.
fn url_ip(url: &str) -> Option<std::net::IpAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h).parse().ok()
}

/// How often a node stores the admission refusals it has kept in memory.
pub const REFUSAL_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Stores admission refusals every [`REFUSAL_FLUSH_INTERVAL`] until `shutdown` flips.
async fn flush_refusals_task(pool: Arc<Mempool>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(REFUSAL_FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let p = pool.clone();
        match tokio::task::spawn_blocking(move || p.flush_refusals()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "could not store admission refusals; kept for the next attempt"),
            Err(e) => tracing::error!(error = %e, "the refusal writer stopped"),
            Ok(Ok(())) => {}
        }
    }
}

/// The node's TLCP tunnel when its `[p2p]` section names a TLCP pair.
fn open_tunnel(
    config: &NodeConfig,
    genesis: &Genesis,
    chain: &Arc<Chain>,
) -> Result<Option<Arc<tunnel::Tunnel>>, NodeError> {
    let Some(p2p) = &config.p2p else { return Ok(None) };
    let Some(files) = &p2p.tlcp else {
        if genesis.suite == fdl_crypto::Suite::Sm {
            tracing::warn!(
                "no [p2p.tlcp] pair: the network port uses libp2p Noise, not TLCP (STD-9.1); see docs/operations.md"
            );
        }
        return Ok(None);
    };
    let id = fdl_channel::TlcpIdentity::load(&files.resolved(&config.base_dir))
        .map_err(|e| NodeError::Config(e.to_string()))?;
    if id.suite() != genesis.suite {
        return Err(NodeError::Config(format!(
            "the [p2p.tlcp] identity is not of the chain's {} suite",
            genesis.suite
        )));
    }
    let inner = tunnel::Tunnel::free_loopback()?;
    let t = tunnel::Tunnel::new(&id, chain.clone(), inner).map_err(|e| NodeError::Config(e.to_string()))?;
    Ok(Some(Arc::new(t)))
}

/// When genesis lists member institutions, checks that every validator and observer holds a
/// certificate from its institution's CA, valid now, for its key and its role (STD-9.1, 13.1).
fn check_certificates(genesis: &Genesis) -> Result<(), NodeError> {
    if genesis.members.is_empty() {
        return Ok(());
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let nodes =
        genesis.validators.iter().map(|v| (&v.name, &v.org, &v.public_key, &v.certificate, NodeRole::Validator)).chain(
            genesis.observers.iter().map(|o| (&o.name, &o.org, &o.public_key, &o.certificate, NodeRole::Observer)),
        );
    for (name, org, key, cert, node_role) in nodes {
        let role = node_role.role();
        let bad = |why: String| NodeError::Genesis(format!("node {name}: {why}"));
        let org = org.as_ref().ok_or_else(|| bad("no institution".into()))?;
        let member = genesis
            .members
            .iter()
            .find(|m| &m.name == org)
            .ok_or_else(|| bad(format!("{org} is not a member institution")))?;
        let cert = cert.as_ref().ok_or_else(|| bad("no certificate".into()))?;
        let ca = fdl_pki::from_pem(&member.ca_cert).map_err(|e| bad(format!("CA of {org}: {e}")))?;
        let der = fdl_pki::from_pem(cert).map_err(|e| bad(e.to_string()))?;
        let info = fdl_pki::verify(&der, &ca, now).map_err(|e| bad(e.to_string()))?;
        if info.role != Some(role) {
            return Err(bad(format!("its certificate's role is {:?}, not {role}", info.role)));
        }
        if !hex::encode(info.public_key.to_bytes()).eq_ignore_ascii_case(key) {
            return Err(bad("its certificate is for another key".into()));
        }
        if &info.org != org {
            return Err(bad(format!("its certificate names {}, not {org}", info.org)));
        }
    }
    Ok(())
}

/// Checks that this node and its configured peers are members (STD-9.1, STD-11.1): the node's
/// key and network key, and every peer's network id, must be listed in the genesis or in the
/// node set of the latest state (governance changes it). A node being admitted (`joining`)
/// starts anyway: it syncs, and votes once its admission takes effect.
fn check_membership(
    config: &NodeConfig,
    genesis: &Genesis,
    nodes: &[fdl_types::NodeSpec],
    own: &fdl_crypto::PublicKey,
    own_peer: Option<&str>,
    joining: bool,
) -> Result<(), NodeError> {
    let own_bytes = own.to_bytes();
    let want = config.role;
    let listed = nodes.iter().any(|n| n.public_key == own_bytes && n.role == want);
    if !listed && !joining {
        return Err(NodeError::Key(format!(
            "the key of {} is not a{} {} of this chain (genesis or governance); set joining = true in [p2p] while its admission is voted",
            own.address(),
            if want == NodeRole::Observer { "n" } else { "" },
            want.as_str()
        )));
    }
    let Some(p2p) = &config.p2p else { return Ok(()) };
    let mut ids: Vec<&str> = nodes.iter().map(|n| n.peer_id.as_str()).filter(|p| !p.is_empty()).collect();
    ids.extend(genesis.validators.iter().filter_map(|v| v.peer_id.as_deref()));
    ids.extend(genesis.observers.iter().filter_map(|o| o.peer_id.as_deref()));
    if let Some(own_peer) = own_peer
        && !ids.is_empty()
        && !ids.contains(&own_peer)
        && !joining
    {
        return Err(NodeError::Key(format!(
            "the network key {} gives peer id {own_peer}, which the genesis does not list; the other members will refuse it",
            config.network_key_path().unwrap_or_default().display()
        )));
    }
    for peer in &p2p.peers {
        if !ids.contains(&peer.peer_id.as_str()) {
            return Err(NodeError::Config(format!(
                "peer {} ({}) is not a node listed in the genesis; only members may connect",
                peer.name, peer.peer_id
            )));
        }
    }
    if !listed {
        tracing::warn!("this node is not yet a member: it syncs, and takes part once its admission takes effect");
    }
    Ok(())
}

/// Binds one of the node's listening addresses; the error names the address and its use.
async fn listen(addr: std::net::SocketAddr, what: &'static str) -> Result<tokio::net::TcpListener, NodeError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| NodeError::Listen { addr, what, source })
}

#[allow(clippy::too_many_arguments)]
async fn run_bft(
    config: &NodeConfig,
    p2p: &P2pConfig,
    seed: [u8; 32],
    genesis: &Genesis,
    chain: Arc<Chain>,
    metrics: Arc<Metrics>,
    key: ValidatorKey,
    own_peer: String,
    tunnel: Option<Arc<tunnel::Tunnel>>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let mut peers: Vec<fdl_consensus::PeerAddr> =
        p2p.peers.iter().map(|p| fdl_consensus::PeerAddr { addr: p.addr, peer_id: p.peer_id.clone() }).collect();
    let listen = match &tunnel {
        // libp2p listens and dials on loopback; the tunnel carries it over TLCP.
        Some(t) => {
            for p in &mut peers {
                p.addr = t.local_endpoint(&p.peer_id, p.addr)?;
            }
            t.inner()
        }
        None => p2p.listen,
    };
    let timeouts = (
        std::time::Duration::from_millis(p2p.propose_timeout_ms),
        std::time::Duration::from_millis(p2p.vote_timeout_ms),
    );
    let configured: Vec<fdl_consensus::PeerAddr> =
        p2p.peers.iter().map(|p| fdl_consensus::PeerAddr { addr: p.addr, peer_id: p.peer_id.clone() }).collect();
    let ledger = Arc::new(bft::BftLedger::new(chain, metrics, configured, own_peer, timeouts, tunnel));
    let cfg = fdl_consensus::ConsensusConfig {
        moniker: config.name.clone(),
        listen,
        peers,
        network_seed: seed,
        wal_path: config.data_path().join("consensus.wal"),
        proposal_dir: config.data_path().join("proposals"),
        address: key.public_key().address(),
        signer: (config.role == NodeRole::Validator).then_some(key),
        propose_timeout: std::time::Duration::from_millis(p2p.propose_timeout_ms),
        vote_timeout: std::time::Duration::from_millis(p2p.vote_timeout_ms),
    };
    let ctx = fdl_consensus::FdlContext::new(&genesis.chain_id, genesis.suite);
    let handle = fdl_consensus::start(ctx, cfg, ledger, shutdown)
        .await
        .map_err(|e| NodeError::Invariant(format!("consensus: {e}")))?;
    handle
        .task
        .await
        .map_err(|e| NodeError::Invariant(format!("consensus task panicked: {e}")))?
        .map_err(|e| NodeError::Invariant(format!("consensus: {e}")))
}

#[cfg(test)]
mod tests {
    use super::url_ip;

    #[test]
    fn peer_api_hosts_given_as_addresses_are_found() {
        assert_eq!(url_ip("http://10.0.0.7:8545"), Some([10, 0, 0, 7].into()));
        assert_eq!(url_ip("http://10.0.0.7:8545/v1"), Some([10, 0, 0, 7].into()));
        assert_eq!(url_ip("http://[::1]:8545/"), Some(std::net::Ipv6Addr::LOCALHOST.into()));
        assert_eq!(url_ip("https://node-2.example:443"), None);
        assert_eq!(url_ip("10.0.0.8"), Some([10, 0, 0, 8].into()));
    }
}
