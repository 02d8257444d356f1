//! What an FDL node shares with its API server, below both (the way reth keeps its `*-api`
//! crates under their implementations): the committed-block broadcast item, the metrics, and
//! [`Ledger`], the reads that need the execution rules (which nodes are active depends on
//! certificate checks the API does not link).
//!
//! The node's chain opens without the API; the API server is handed an `Arc<dyn Ledger>`.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod metrics;

use std::sync::Arc;

use fdl_crypto::Hash;
use fdl_mempool::Mempool;
use fdl_schema::SchemaError;
use fdl_state::StateDb;
use fdl_storage::Store;
use fdl_types::{Block, Genesis, NodeSpec, Receipt};
use tokio::sync::broadcast;

pub use metrics::Metrics;

/// A block as it was committed, broadcast to subscribers.
#[derive(Debug, Clone)]
pub struct CommittedBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: Hash,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
}

/// What a chain is opened over: shared handles that the API server reads as well.
#[derive(Clone)]
pub struct ChainParts {
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
}

/// Reads of the ledger that apply the chain's rules, not only its stored bytes.
pub trait Ledger: Send + Sync {
    /// The active node set (validators and observers with a current, unrevoked certificate)
    /// after block `version`, i.e. the set that decides block `version + 1`.
    ///
    /// # Errors
    /// Store failure or corrupt state.
    fn nodes_at(&self, version: u64) -> Result<Vec<NodeSpec>, SchemaError>;

    /// The state keys [`Ledger::nodes_at`] reads at `version`, in the order it reads them: with
    /// their values (proven against the state root of block `version`) a light client computes
    /// the same set by the same rule.
    ///
    /// # Errors
    /// Store failure or corrupt state.
    fn node_set_keys(&self, version: u64) -> Result<Vec<Vec<u8>>, SchemaError>;

    /// A read-only contract call against the state after block `version` (STD-12.2): the
    /// outcome's status, return data, events and fuel used; its writes are discarded.
    ///
    /// # Errors
    /// Store failure or corrupt state.
    fn contract_query(&self, version: u64, q: &ContractQuery<'_>) -> Result<QueryOutcome, SchemaError>;

    /// The static checks every node runs at deploy, with the parameters after block `version`:
    /// what they found, or the failed check's code and reason.
    ///
    /// # Errors
    /// Store failure or corrupt state.
    fn contract_check(&self, version: u64, code: &[u8]) -> Result<Result<ModuleCheck, (String, String)>, SchemaError>;

    /// The contract engine's module cache: hits, misses and modules held.
    fn contract_cache(&self) -> (u64, u64, usize);

    /// The EVM engine's cache of analyzed contract code: hits, misses and codes held.
    fn evm_cache(&self) -> (u64, u64, usize) {
        (0, 0, 0)
    }
}

/// What the deploy checks found in a module that passes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleCheck {
    /// The public methods, sorted (not `init` or `migrate`).
    pub methods: Vec<String>,
    /// Whether the module has an `init` entry (run once, at deploy).
    pub has_init: bool,
    /// Whether the module has a `migrate` entry (run once, at upgrade).
    pub has_migrate: bool,
}

/// A read-only contract call.
pub struct ContractQuery<'a> {
    /// The contract.
    pub contract: &'a str,
    /// Its version (0: current).
    pub version: u32,
    /// The method.
    pub method: &'a str,
    /// The arguments (JSON text).
    pub args: &'a str,
    /// The account it runs as.
    pub caller: fdl_crypto::Address,
    /// The fuel limit (0: the chain's `max_tx_fuel`); for an EVM call, the gas limit (0: the
    /// chain's `max_tx_gas`).
    pub fuel: u64,
    /// For an EVM contract: the call data (selector and ABI-encoded arguments), in place of
    /// `method` and `args`.
    pub data: Option<&'a [u8]>,
}

/// What a read-only contract call produced.
pub struct QueryOutcome {
    /// The status.
    pub status: fdl_types::StatusCode,
    /// The return data.
    pub output: Vec<u8>,
    /// Its events, or why it failed.
    pub events: Vec<fdl_types::Event>,
    /// The fuel used.
    pub fuel_used: u64,
}
