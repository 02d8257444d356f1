//! revm's view of chain state: a `Database` over the [`Host`], and the analyzed-bytecode cache.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

use revm::bytecode::Bytecode;
use revm::database_interface::{DBErrorMarker, Database};
use revm::primitives::{Address, B256, Bytes, StorageKey, StorageValue, U256};
use revm::state::AccountInfo;

use crate::types::{Address20, CacheStats, ContractCode, Host, HostError, Word};

/// Entries of the analyzed-bytecode cache.
pub(crate) const CACHE_CAPACITY: usize = 64;

/// A bounded LRU of analyzed bytecode, keyed by code hash.
#[derive(Default)]
pub(crate) struct CodeCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<Word, (Bytecode, u64)>,
    tick: u64,
    hits: u64,
    misses: u64,
}

impl CodeCache {
    /// The analyzed form of `code` (jump table computed once per hash).
    pub(crate) fn get(&self, code: &ContractCode) -> Bytecode {
        // A poisoned lock only means another thread panicked while holding it; the map stays
        // consistent (every update is a single insert/remove), so keep using it.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((bytecode, used)) = inner.entries.get_mut(&code.keccak) {
            *used = tick;
            let bytecode = bytecode.clone();
            inner.hits += 1;
            return bytecode;
        }
        inner.misses += 1;
        // Always legacy: FDL has no EIP-7702 delegation, and 0xEF-prefixed code then simply
        // halts on the invalid opcode.
        let bytecode = Bytecode::new_legacy(Bytes::copy_from_slice(&code.code));
        if inner.entries.len() >= CACHE_CAPACITY {
            // Ticks are unique, so the least recently used entry is unique: no order leaks.
            if let Some(oldest) = inner.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k) {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(code.keccak, (bytecode.clone(), tick));
        bytecode
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        CacheStats { hits: inner.hits, misses: inner.misses, entries: inner.entries.len() }
    }
}

/// The error revm carries for a failed host read.
#[derive(Debug)]
pub(crate) struct DbError(pub HostError);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DbError {}
impl DBErrorMarker for DbError {}

/// The `Database` revm reads through: contract code and storage from the [`Host`]. Every balance
/// is zero, a contract's nonce is 1, an address without code is an empty account.
pub(crate) struct HostDb<'h> {
    pub(crate) host: &'h mut dyn Host,
    /// The code of one address, given by the run instead of the host (the pinned version).
    override_code: Option<(Address20, ContractCode)>,
    cache: &'h CodeCache,
    /// Code handed to revm in this run, by hash (for `code_by_hash`).
    codes: BTreeMap<B256, Bytecode>,
    /// The first host error of the run (one raised where revm cannot carry it, e.g. a precompile).
    pub(crate) error: Option<HostError>,
}

impl<'h> HostDb<'h> {
    pub(crate) fn new(
        host: &'h mut dyn Host,
        cache: &'h CodeCache,
        override_code: Option<(Address20, ContractCode)>,
    ) -> Self {
        Self { host, override_code, cache, codes: BTreeMap::new(), error: None }
    }

    /// Keeps the first host error.
    pub(crate) fn record(&mut self, e: HostError) {
        self.error.get_or_insert(e);
    }
}

impl Database for HostDb<'_> {
    type Error = DbError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        let addr: Address20 = address.into_array();
        let code = match &self.override_code {
            Some((a, code)) if *a == addr => Some(code.clone()),
            _ => self.host.code_at(&addr).map_err(|e| {
                self.error.get_or_insert(e.clone());
                DbError(e)
            })?,
        };
        let Some(code) = code else { return Ok(None) };
        let hash = B256::from(code.keccak);
        let bytecode = self.cache.get(&code);
        self.codes.insert(hash, bytecode.clone());
        Ok(Some(AccountInfo::new(U256::ZERO, 1, hash, bytecode)))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, DbError> {
        Ok(self.codes.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage(&mut self, address: Address, index: StorageKey) -> Result<StorageValue, DbError> {
        let addr: Address20 = address.into_array();
        let slot: Word = index.to_be_bytes();
        let value = self.host.storage(&addr, &slot).map_err(|e| {
            self.error.get_or_insert(e.clone());
            DbError(e)
        })?;
        Ok(U256::from_be_bytes(value))
    }

    /// `BLOCKHASH` answers zero for every block: FDL's block hashes are not EVM hashes, and a
    /// contract must not use them as randomness.
    fn block_hash(&mut self, _number: u64) -> Result<B256, DbError> {
        Ok(B256::ZERO)
    }
}
