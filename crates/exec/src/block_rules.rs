//! The rules a block must satisfy to be executed and voted for, as a pure function: the caller
//! supplies the parent state, the parent's header facts, the node set and parameters in force,
//! its clock and a lookup of the transaction index; the answer is the execution outcome or a
//! typed [`BlockInvalid`]. Signatures are checked before, in parallel, by the caller's verifier
//! pool; the state root is checked after, by the caller that computes it
//! ([`check_roots`]).

use std::collections::HashSet;

use fdl_crypto::{Address, Hash, PublicKey, Suite};
use fdl_types::{Block, ChainParams, Genesis, NodeRole, NodeSpec};
use thiserror::Error;

use crate::{BlockOutcome, ExecError, StateView, TxRejection, check_tx_for_block, execute_block};

/// How far ahead of the local clock a block's timestamp may be.
pub const MAX_CLOCK_DRIFT_MS: u64 = 10_000;

/// Why a block is refused; the proposer (or whoever relayed it) is at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlockInvalid {
    /// The header names another chain.
    #[error("chain id {got}, expected {expected}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The header's.
        got: String,
    },
    /// The block is not the child of the tip.
    #[error("block {height} does not extend the tip {tip}")]
    NotNext {
        /// The header's height.
        height: u64,
        /// The local tip.
        tip: u64,
    },
    /// The named proposer is not a validator of the set in force.
    #[error("proposer {proposer} is not a validator")]
    ProposerNotValidator {
        /// The header's proposer.
        proposer: Address,
    },
    /// The timestamp goes back in time, or too far ahead of the local clock.
    #[error("timestamp {timestamp_ms} out of range {min_ms}..={max_ms}")]
    Timestamp {
        /// The header's time.
        timestamp_ms: u64,
        /// The parent's time.
        min_ms: u64,
        /// The local clock plus the allowed drift.
        max_ms: u64,
    },
    /// Too many transactions, or a count that differs from the header's.
    #[error("{count} transactions (header says {header}, at most {max})")]
    TxCount {
        /// Transactions in the body.
        count: usize,
        /// The header's count.
        header: u32,
        /// The chain's limit.
        max: u32,
    },
    /// The transactions do not hash to the header's root.
    #[error("transaction root mismatch")]
    TxRoot,
    /// A transaction breaks a rule.
    #[error("transaction {id}: {reason}")]
    Tx {
        /// The transaction's id.
        id: Hash,
        /// The rule.
        reason: TxRejection,
    },
    /// A transaction appears twice in the block.
    #[error("transaction {id} appears twice")]
    Duplicate {
        /// The transaction's id.
        id: Hash,
    },
    /// A transaction is already on chain.
    #[error("transaction {id} is already on chain")]
    AlreadyOnChain {
        /// The transaction's id.
        id: Hash,
    },
    /// Executing the block gives another state root than the header's.
    #[error("state root {computed} differs from the header's {header}")]
    StateRoot {
        /// The root computed here.
        computed: Hash,
        /// The header's.
        header: Hash,
    },
    /// Executing the block gives other receipts than the header's root commits to.
    #[error("receipts root mismatch")]
    ReceiptsRoot,
    /// More transactions carrying contract code than a block may hold.
    #[error("{count} transactions carry contract code, at most {max} may")]
    TooManyCodeTxs {
        /// How many.
        count: usize,
        /// The bound ([`crate::MAX_CODE_TXS_PER_BLOCK`]).
        max: usize,
    },
}

impl BlockInvalid {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            BlockInvalid::WrongChain { .. } => "wrong_chain",
            BlockInvalid::NotNext { .. } => "not_next",
            BlockInvalid::ProposerNotValidator { .. } => "proposer_not_validator",
            BlockInvalid::Timestamp { .. } => "timestamp",
            BlockInvalid::TxCount { .. } => "tx_count",
            BlockInvalid::TxRoot => "tx_root",
            BlockInvalid::Tx { .. } => "tx",
            BlockInvalid::Duplicate { .. } => "duplicate_tx",
            BlockInvalid::AlreadyOnChain { .. } => "already_on_chain",
            BlockInvalid::StateRoot { .. } => "state_root",
            BlockInvalid::ReceiptsRoot => "receipts_root",
            BlockInvalid::TooManyCodeTxs { .. } => "too_many_code_txs",
        }
    }
}

/// What a block is judged against.
pub struct BlockContext<'a> {
    /// The chain's genesis.
    pub genesis: &'a Genesis,
    /// The parent's height.
    pub parent_height: u64,
    /// The parent's hash.
    pub parent_hash: Hash,
    /// The parent's time.
    pub parent_time_ms: u64,
    /// The node set in force after the parent.
    pub nodes: &'a [NodeSpec],
    /// The parameters in force after the parent.
    pub params: &'a ChainParams,
    /// The local clock.
    pub now_ms: u64,
}

/// Checks `block` against `ctx` and executes it over the parent state `parent`. `on_chain`
/// answers whether a transaction id is already in a committed block.
///
/// # Errors
/// [`ExecError`] for store failures or corrupt state (the node stops); `Ok(Err(_))` when the
/// block is invalid.
pub fn check_and_execute(
    ctx: &BlockContext<'_>,
    parent: &dyn StateView,
    block: &Block,
    on_chain: &dyn Fn(&Hash) -> Result<bool, ExecError>,
) -> Result<Result<BlockOutcome, BlockInvalid>, ExecError> {
    if let Err(e) = check_header(ctx, block) {
        return Ok(Err(e));
    }
    let h = &block.header;
    let mut seen = HashSet::with_capacity(block.txs.len());
    for tx in &block.txs {
        let id = tx.id();
        if let Err(reason) = check_tx_for_block(tx, tx.encoded().len(), ctx.genesis, ctx.params, h.height) {
            return Ok(Err(BlockInvalid::Tx { id, reason }));
        }
        if !seen.insert(id) {
            return Ok(Err(BlockInvalid::Duplicate { id }));
        }
        if on_chain(&id)? {
            return Ok(Err(BlockInvalid::AlreadyOnChain { id }));
        }
    }
    execute_block(parent, h.height, h.timestamp_ms, &block.txs).map(Ok)
}

/// The header's rules: chain, height and parent, proposer, time, count and transaction root.
///
/// # Errors
/// The first rule broken.
pub fn check_header(ctx: &BlockContext<'_>, block: &Block) -> Result<(), BlockInvalid> {
    let h = &block.header;
    let suite = ctx.genesis.suite;
    if h.chain_id != ctx.genesis.chain_id {
        return Err(BlockInvalid::WrongChain { expected: ctx.genesis.chain_id.clone(), got: h.chain_id.clone() });
    }
    if h.height != ctx.parent_height.saturating_add(1) || h.parent_hash != ctx.parent_hash {
        return Err(BlockInvalid::NotNext { height: h.height, tip: ctx.parent_height });
    }
    // The builder of the block: a later round's proposer may re-propose it (a locked value), and
    // sync names the deciding round's proposer, so only membership (in the set in force at the
    // parent) is checked here.
    let listed = ctx.nodes.iter().any(|n| {
        n.role == NodeRole::Validator
            && PublicKey::from_bytes(suite, &n.public_key).is_ok_and(|k| k.address() == h.proposer)
    });
    if !listed {
        return Err(BlockInvalid::ProposerNotValidator { proposer: h.proposer });
    }
    let max_ms = ctx.now_ms.saturating_add(MAX_CLOCK_DRIFT_MS);
    if h.timestamp_ms < ctx.parent_time_ms || h.timestamp_ms > max_ms {
        return Err(BlockInvalid::Timestamp { timestamp_ms: h.timestamp_ms, min_ms: ctx.parent_time_ms, max_ms });
    }
    if block.txs.len() > ctx.params.max_block_txs as usize || h.tx_count as usize != block.txs.len() {
        return Err(BlockInvalid::TxCount {
            count: block.txs.len(),
            header: h.tx_count,
            max: ctx.params.max_block_txs,
        });
    }
    let code_txs = block.txs.iter().filter(|t| t.body.payload.carries_code()).count();
    if code_txs > crate::MAX_CODE_TXS_PER_BLOCK {
        return Err(BlockInvalid::TooManyCodeTxs { count: code_txs, max: crate::MAX_CODE_TXS_PER_BLOCK });
    }
    if Block::compute_tx_root(suite, &block.txs) != h.tx_root {
        return Err(BlockInvalid::TxRoot);
    }
    Ok(())
}

/// Checks the roots the header commits to against what execution gave.
///
/// # Errors
/// [`BlockInvalid::StateRoot`] or [`BlockInvalid::ReceiptsRoot`].
pub fn check_roots(suite: Suite, block: &Block, state_root: Hash, outcome: &BlockOutcome) -> Result<(), BlockInvalid> {
    let h = &block.header;
    if state_root != h.state_root {
        return Err(BlockInvalid::StateRoot { computed: state_root, header: h.state_root });
    }
    if Block::compute_receipts_root(suite, &outcome.receipts) != h.receipts_root {
        return Err(BlockInvalid::ReceiptsRoot);
    }
    Ok(())
}
