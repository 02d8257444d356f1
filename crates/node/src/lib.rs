//! An FDL node: opens the store, applies genesis, runs the mempool, the block producer and the
//! API, and shuts down cleanly.
//!
//! Block production sits behind [`Chain`]: `build_block` (filter, execute, compute roots) and
//! `commit_block` (one atomic write, then notify). The one-validator [`SoloProducer`] drives it
//! today; the BFT issue drives the same two calls from Malachite's host loop.

mod chain;
mod config;
mod producer;

use std::{net::SocketAddr, sync::Arc};

use fdl_crypto::{KeyPair, Signer};
use fdl_mempool::{Mempool, MempoolConfig};
use fdl_rpc::{Metrics, RpcContext};
use fdl_state::StateDb;
use fdl_storage::{RedbStore, Store};
use fdl_types::Genesis;
use thiserror::Error;
use tokio::sync::{broadcast, watch};

pub use chain::{Chain, ProposedBlock};
pub use config::NodeConfig;
pub use producer::SoloProducer;

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
}

/// A running node's handles.
pub struct RunningNode {
    /// The chain.
    pub chain: Arc<Chain>,
    /// The API's bound address.
    pub rpc_addr: SocketAddr,
}

/// Runs a node until `shutdown` flips to true. Returns when the producer and API have stopped.
///
/// # Errors
/// [`NodeError`] when startup fails or a fatal error stops the node.
pub async fn run(config: NodeConfig, mut shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
    let genesis = Arc::new(Genesis::load(&config.genesis_path()).map_err(|e| NodeError::Genesis(e.to_string()))?);
    let key = KeyPair::read_pem_file(&config.validator_key_path()).map_err(|e| NodeError::Key(e.to_string()))?;
    if key.suite() != genesis.suite {
        return Err(NodeError::Key(format!("key is {} but the chain uses {}", key.suite(), genesis.suite)));
    }
    let own = key.public_key();
    let mut listed = false;
    for v in &genesis.validators {
        listed |= genesis.validator_key(v).map_err(|e| NodeError::Genesis(e.to_string()))? == own;
    }
    if !listed {
        return Err(NodeError::Key(format!("the key of {} is not a validator in the genesis", own.address())));
    }
    fdl_crypto::sm2v::set_cache_limit(config.sig_cache_mb.saturating_mul(1024 * 1024));
    fdl_crypto::sm2v::warm_up();
    std::fs::create_dir_all(config.data_path())?;
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&config.data_path().join("ledger.redb"))?);
    let state = StateDb::new(store.clone(), genesis.suite);
    let mempool = Arc::new(
        Mempool::new(
            genesis.clone(),
            store.clone(),
            MempoolConfig { capacity: config.mempool_capacity, ..MempoolConfig::default() },
        )
        .map_err(|e| NodeError::Config(e.to_string()))?,
    );
    let (blocks, _) = broadcast::channel(fdl_rpc::STREAM_BUFFER);
    let metrics = Arc::new(Metrics::default());
    let signer: Arc<dyn Signer> = Arc::new(key);
    let ctx = RpcContext {
        genesis: genesis.clone(),
        store,
        state,
        mempool,
        blocks,
        metrics,
        node_name: config.name.clone(),
        node_id: signer.public_key().address(),
        peers: Arc::new(parking_lot::RwLock::new(Vec::new())),
    };
    let chain = Arc::new(Chain::open(&ctx, signer)?);
    let listener = tokio::net::TcpListener::bind(config.rpc_listen).await?;
    let rpc_addr = listener.local_addr()?;
    tracing::info!(node = %config.name, chain_id = %genesis.chain_id, suite = %genesis.suite, %rpc_addr,
        height = chain.height(), "node started");
    let mut rpc_shutdown = shutdown.clone();
    let rpc = tokio::spawn(fdl_rpc::serve_on(listener, ctx, async move {
        let _ = rpc_shutdown.wait_for(|s| *s).await;
    }));
    let producer = SoloProducer::new(chain.clone());
    let result = producer.run(&mut shutdown).await;
    if let Err(e) = &result {
        // A fatal error stops the whole node: an API that admits transactions no block will ever
        // include would only mislead clients.
        tracing::error!(error = %e, "block production failed; stopping the node");
        rpc.abort();
    }
    let _ = rpc.await;
    tracing::info!(height = chain.height(), "node stopped");
    result
}
