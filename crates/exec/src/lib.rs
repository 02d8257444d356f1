//! FDL's execution layer: a pure function from (state view, block) to (receipts, state writes).
//!
//! Execution never touches storage, the network or the clock: it reads through [`StateView`] and
//! returns the writes, which the node commits atomically with the block. Native modules come
//! first; today that is `bank`, a digital-cash ledger with an issuer named in genesis.
//!
//! Block validity is checked before execution: [`check_tx_for_block`] covers chain id, suite, size,
//! expiry and amount; the caller checks replays and duplicates (transaction index) and signatures
//! (verifier pool). Execution outcomes (insufficient balance, unauthorized issue…) are receipts,
//! not errors, so a valid block always executes.

pub mod bank;
mod keys;

use std::collections::BTreeMap;

use fdl_crypto::Address;
use fdl_types::{ChainParams, Genesis, Receipt, SignedTx};
use thiserror::Error;

pub use keys::{
    Account, ISSUER_KEY, SUPPLY_KEY, SYS_HEIGHT_KEY, SYS_TIME_KEY, account_key, decode_account, encode_account,
};

/// Read access to the state as of the parent block.
pub trait StateView {
    /// The value of `key`, or `None` if absent.
    ///
    /// # Errors
    /// [`ExecError::State`] when the underlying store fails.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError>;
}

/// Failures that stop execution of a whole block. Any of these means the node cannot go on
/// safely (a store failure or a corrupt value); client mistakes are receipts instead.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ExecError {
    /// Reading state failed.
    #[error("state read failed: {0}")]
    State(String),
    /// A stored value did not decode.
    #[error("corrupt state value at {key}: {reason}")]
    Corrupt {
        /// The key, hex.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Why a transaction cannot be in a block at a given height (or admitted to the mempool).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxRejection {
    /// The transaction names another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The transaction's.
        got: String,
    },
    /// The signer's key is of the other suite.
    #[error("wrong suite: the chain uses {expected}")]
    WrongSuite {
        /// This chain's suite.
        expected: fdl_crypto::Suite,
    },
    /// The expiry height has passed.
    #[error("expired: expiry height {expiry} is below {height}")]
    Expired {
        /// The transaction's expiry height.
        expiry: u64,
        /// The height it would be included at.
        height: u64,
    },
    /// The expiry lies too far ahead.
    #[error("expiry height {expiry} is more than {window} blocks beyond {height}")]
    ExpiryTooFar {
        /// The transaction's expiry height.
        expiry: u64,
        /// The current height.
        height: u64,
        /// The allowed window.
        window: u64,
    },
    /// Already included in a block (or twice in this one).
    #[error("transaction already executed")]
    Replayed,
    /// Too big.
    #[error("transaction of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Zero amount.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// Checks everything about a transaction that does not need balances: chain id, suite, size,
/// expiry window and amount. Replay and signature are checked by the caller (they need the
/// transaction index and a thread pool respectively).
///
/// # Errors
/// The [`TxRejection`] that applies.
pub fn check_tx_for_block(
    tx: &SignedTx,
    encoded_len: usize,
    genesis: &Genesis,
    height: u64,
) -> Result<(), TxRejection> {
    let params: &ChainParams = &genesis.params;
    if tx.body.chain_id != genesis.chain_id {
        return Err(TxRejection::WrongChain { expected: genesis.chain_id.clone(), got: tx.body.chain_id.clone() });
    }
    if tx.body.signer.suite() != genesis.suite {
        return Err(TxRejection::WrongSuite { expected: genesis.suite });
    }
    if encoded_len > params.max_tx_bytes as usize {
        return Err(TxRejection::TooLarge { size: encoded_len, limit: params.max_tx_bytes as usize });
    }
    if tx.body.expiry_height < height {
        return Err(TxRejection::Expired { expiry: tx.body.expiry_height, height });
    }
    if tx.body.expiry_height > height.saturating_add(params.max_expiry_window) {
        return Err(TxRejection::ExpiryTooFar {
            expiry: tx.body.expiry_height,
            height,
            window: params.max_expiry_window,
        });
    }
    if bank::amount_of(&tx.body.payload) == 0 {
        return Err(TxRejection::ZeroAmount);
    }
    Ok(())
}

/// What executing a block produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// The state writes (`None` deletes), sorted by key.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// A view with this block's writes layered over the parent state.
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a dyn StateView) -> Self {
        Overlay { base, writes: BTreeMap::new() }
    }

    /// Reads through the overlay.
    ///
    /// # Errors
    /// As [`StateView::get`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    /// Records a write.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Takes the recorded writes.
    pub fn into_writes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.writes
    }
}

/// Executes `txs` (already checked for block validity) at `height` over the parent state.
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn execute_block(
    parent: &dyn StateView,
    height: u64,
    timestamp_ms: u64,
    txs: &[SignedTx],
) -> Result<BlockOutcome, ExecError> {
    let mut ov = Overlay::new(parent);
    let issuer = keys::read_issuer(&ov)?;
    let mut receipts = Vec::with_capacity(txs.len());
    for tx in txs {
        receipts.push(bank::execute(&mut ov, &issuer, tx)?);
    }
    ov.put(SYS_HEIGHT_KEY.to_vec(), height.to_be_bytes().to_vec());
    ov.put(SYS_TIME_KEY.to_vec(), timestamp_ms.to_be_bytes().to_vec());
    Ok(BlockOutcome { receipts, writes: ov.into_writes() })
}

/// The state writes that genesis makes (version 0): issuer, initial balances and supply.
///
/// # Errors
/// [`ExecError::Corrupt`] if initial balances overflow the supply.
pub fn genesis_writes(genesis: &Genesis) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, ExecError> {
    let mut w = BTreeMap::new();
    w.insert(ISSUER_KEY.to_vec(), Some(genesis.issuer.0.to_vec()));
    let mut supply: u128 = 0;
    for (addr, amount) in &genesis.balances {
        supply = supply.checked_add(*amount).ok_or_else(|| ExecError::Corrupt {
            key: "genesis balances".into(),
            reason: "total overflows u128".into(),
        })?;
        w.insert(account_key(addr), Some(encode_account(&Account { balance: *amount, sent: 0 })));
    }
    w.insert(SUPPLY_KEY.to_vec(), Some(supply.to_be_bytes().to_vec()));
    w.insert(SYS_HEIGHT_KEY.to_vec(), Some(0u64.to_be_bytes().to_vec()));
    w.insert(SYS_TIME_KEY.to_vec(), Some(genesis.genesis_time_ms.to_be_bytes().to_vec()));
    Ok(w)
}

/// Reads an account, absent accounts reading as zero.
///
/// # Errors
/// [`ExecError`] on store failure or a corrupt value.
pub fn read_account(view: &dyn StateView, addr: &Address) -> Result<Option<Account>, ExecError> {
    let key = account_key(addr);
    view.get(&key)?.map(|b| decode_account(&key, &b)).transpose()
}
