//! A bounded cache of per-key verification state: the parsed key and its Z for every key seen,
//! and a [`KeyTable`] for keys seen at least twice (a table costs about two verifications to
//! build, so building it for a key used once would slow the new-key case down).
//!
//! Two generations approximate LRU in O(1): lookups promote entries into the young generation;
//! when the young one reaches half the memory limit it becomes the old one and the previous old
//! generation is dropped. Memory stays below the limit plus one entry.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use parking_lot::Mutex;

use super::{FastKey, KeyTable, verify_prehash, verify_prehash_with_table};

/// Default memory limit of the key cache (64 MiB: about 3,900 keys with tables).
pub const DEFAULT_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// Bytes charged for an entry without a table (key, Z, map overhead).
const SMALL_ENTRY_BYTES: usize = 256;

#[derive(Clone)]
struct Entry {
    key: Arc<FastKey>,
    table: Option<Arc<KeyTable>>,
}

impl Entry {
    fn bytes(&self) -> usize {
        SMALL_ENTRY_BYTES + if self.table.is_some() { KeyTable::size_bytes() } else { 0 }
    }
}

#[derive(Default)]
struct Generations {
    young: HashMap<[u8; 65], Entry>,
    young_bytes: usize,
    old: HashMap<[u8; 65], Entry>,
}

/// Counters of the cache's behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Verifications that used a cached table.
    pub table_hits: u64,
    /// Verifications of keys seen before but without a table yet (the table is then built).
    pub tables_built: u64,
    /// Verifications of keys never seen (or evicted).
    pub misses: u64,
}

pub(crate) struct KeyCache {
    limit: AtomicUsize,
    gens: Mutex<Generations>,
    table_hits: AtomicU64,
    tables_built: AtomicU64,
    misses: AtomicU64,
}

pub(crate) fn global() -> &'static KeyCache {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    CACHE.get_or_init(|| KeyCache::new(DEFAULT_LIMIT_BYTES))
}

/// Sets the memory limit of the process-wide key cache (a node sets it from its config; 0
/// disables caching). Takes effect at the next generation change.
pub fn set_cache_limit(bytes: usize) {
    let c = global();
    c.limit.store(bytes, Ordering::Relaxed);
    if bytes == 0 {
        *c.gens.lock() = Generations::default();
    }
}

/// The process-wide cache's counters.
pub fn cache_stats() -> CacheStats {
    global().stats()
}

enum Found {
    Table(Arc<FastKey>, Arc<KeyTable>),
    SeenOnce(Arc<FastKey>),
    New,
}

impl KeyCache {
    pub(crate) fn new(limit: usize) -> Self {
        KeyCache {
            limit: AtomicUsize::new(limit),
            gens: Mutex::new(Generations::default()),
            table_hits: AtomicU64::new(0),
            tables_built: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            table_hits: self.table_hits.load(Ordering::Relaxed),
            tables_built: self.tables_built.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn lookup(&self, id: &[u8; 65]) -> Found {
        let mut g = self.gens.lock();
        let entry = match g.young.get(id) {
            Some(e) => e.clone(),
            None => match g.old.remove(id) {
                Some(e) => {
                    self.insert_locked(&mut g, *id, e.clone());
                    e
                }
                None => return Found::New,
            },
        };
        match entry.table {
            Some(t) => Found::Table(entry.key, t),
            None => Found::SeenOnce(entry.key),
        }
    }

    fn insert_locked(&self, g: &mut Generations, id: [u8; 65], e: Entry) {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return;
        }
        let bytes = e.bytes();
        if let Some(prev) = g.young.insert(id, e) {
            g.young_bytes = g.young_bytes.saturating_sub(prev.bytes());
        }
        g.young_bytes += bytes;
        if g.young_bytes >= limit / 2 {
            g.old = std::mem::take(&mut g.young);
            g.young_bytes = 0;
        }
    }

    fn insert(&self, id: [u8; 65], e: Entry) {
        let mut g = self.gens.lock();
        self.insert_locked(&mut g, id, e);
    }

    /// Verifies through the cache; see the module docs for the policy.
    pub(crate) fn verify(&self, key_bytes: &[u8], msg: &[u8], r: &[u8; 32], s: &[u8; 32]) -> bool {
        let Ok(id) = <[u8; 65]>::try_from(key_bytes) else { return false };
        // The cheap range checks (r, s in [1, n-1], r + s != n) come first: a garbage signature
        // must not make this key's entry, let alone its table (two or three verifications' work).
        if super::scalars(r, s).is_none() {
            return false;
        }
        match self.lookup(&id) {
            Found::Table(key, table) => {
                self.table_hits.fetch_add(1, Ordering::Relaxed);
                verify_prehash_with_table(&table, &key.digest(msg), r, s)
            }
            Found::SeenOnce(key) => {
                self.tables_built.fetch_add(1, Ordering::Relaxed);
                let table = Arc::new(KeyTable::build(&key));
                let ok = verify_prehash_with_table(&table, &key.digest(msg), r, s);
                self.insert(id, Entry { key, table: Some(table) });
                ok
            }
            Found::New => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let Ok(key) = FastKey::from_sec1(&id) else { return false };
                let ok = verify_prehash(&key, &key.digest(msg), r, s);
                self.insert(id, Entry { key: Arc::new(key), table: None });
                ok
            }
        }
    }
}
