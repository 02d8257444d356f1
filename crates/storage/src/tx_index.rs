//! The index of transaction ids: id → position (height, index in the block), in a file of its
//! own beside the ledger (ADR 0018), written in sorted runs by generation (ADR 0019).
//!
//! Ids are hashes, so a B-tree keyed by them alone takes each block's inserts on as many pages as
//! the block has transactions, anywhere in a tree that grows with the chain: the cost of indexing
//! a block grew threefold from 0.5 to 5 million transactions. Here instead:
//! - Indexed blocks are first held in memory (at most [`Limits::flush_txs`] ids or
//!   [`Limits::flush_blocks`] blocks), where look-ups find them at once, and then written in one
//!   durable transaction, sorted by id.
//! - Each entry's key starts with its *generation* (4 bytes, big-endian): the index is a run of
//!   generations of about [`Limits::generation_txs`] entries each, and a write touches only the
//!   pages of the newest, which stays small however long the chain.
//! - A look-up does not know an id's generation: each generation has a Bloom filter of its ids in
//!   memory, and only the generations whose filter may hold the id are read. A sealed
//!   generation's filter is stored beside it; the newest one's is rebuilt from its entries when
//!   the file is opened.
//!
//! What is only in memory is derived data: a node that stops loses it, and opening the store
//! indexes those blocks again from the ledger (`RedbStore::open`).

use std::collections::HashMap;

use fdl_crypto::Hash;
use parking_lot::{Mutex, RwLock};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::{StorageError, TxLocation};

/// Entries. Key: generation (4, big-endian) || id (32). Value: height (8, big-endian) || index in
/// the block (4, big-endian).
const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index_runs");
/// The Bloom filters of sealed generations, by generation.
const FILTERS: TableDefinition<u32, &[u8]> = TableDefinition::new("tx_index_filters");
/// The entries of format 1 (one B-tree keyed by id), dropped when a file of that format is opened.
const FORMAT_1_ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
/// The file's metadata.
const META: TableDefinition<&str, u64> = TableDefinition::new("index_meta");
/// The highest height whose ids are in the file.
const META_HEIGHT: &str = "height";
/// The format of the file: absent (1) or [`FORMAT`].
const META_FORMAT: &str = "format";
/// The newest generation.
const META_GENERATION: &str = "generation";
/// Entries of the newest generation.
const META_GENERATION_TXS: &str = "generation_txs";
/// The format this build writes: 2, sorted runs by generation with their filters.
const FORMAT: u64 = 2;

/// Bits of a Bloom filter per entry it is sized for (a false positive rate of about 0.1 %).
const FILTER_BITS_PER_TX: usize = 16;
/// Bits set per id, each in the same 512-bit block.
const FILTER_PROBES: usize = 8;
/// Bytes of a filter block (one cache line).
const FILTER_BLOCK_BYTES: usize = 64;

/// The sizes of the index's parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Entries of a generation before the next one starts (a write never splits a block's ids).
    pub generation_txs: u64,
    /// Ids held in memory before they are written.
    pub flush_txs: usize,
    /// Blocks held in memory before they are written (so that a quiet chain's index also reaches
    /// the disk, and a restart indexes few blocks again).
    pub flush_blocks: usize,
}

impl Limits {
    /// The node's sizes: generations of 524,288 ids (a filter of 1 MiB each), written every
    /// 262,144 ids or 256 blocks. A write rewrites about every page of the newest generation, so
    /// its cost per id is the generation's size over the write's: with generations of 1,048,576
    /// ids written every 65,536, the indexer's cost per transaction doubled between the first and
    /// the tenth half-million transactions (ADR 0019).
    pub(crate) const DEFAULT: Limits = Limits { generation_txs: 1 << 19, flush_txs: 1 << 18, flush_blocks: 256 };
}

/// A blocked Bloom filter of ids: an id selects one 512-bit block and sets [`FILTER_PROBES`] bits
/// in it, all taken from the id's own bytes (ids are hashes, so their bits are uniform; a client
/// that grinds ids to collide only makes its own look-ups read the file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    bytes: Vec<u8>,
}

impl Filter {
    /// An empty filter sized for `entries` ids.
    fn sized_for(entries: u64) -> Filter {
        let bits = (entries.max(1) as usize).saturating_mul(FILTER_BITS_PER_TX);
        let blocks = bits.div_ceil(FILTER_BLOCK_BYTES * 8).max(1);
        Filter { bytes: vec![0; blocks * FILTER_BLOCK_BYTES] }
    }

    /// A stored filter, if its length is whole blocks.
    fn from_bytes(bytes: &[u8]) -> Option<Filter> {
        (!bytes.is_empty() && bytes.len().is_multiple_of(FILTER_BLOCK_BYTES)).then(|| Filter { bytes: bytes.to_vec() })
    }

    /// The offset of `id`'s block and its bit positions within the block.
    fn probes(&self, id: &Hash) -> (usize, [u16; FILTER_PROBES]) {
        let blocks = (self.bytes.len() / FILTER_BLOCK_BYTES) as u128;
        let mut head = [0u8; 8];
        head.copy_from_slice(&id.0[..8]);
        // Multiply-shift: a uniform 64-bit value onto 0..blocks without a division.
        let block = ((u128::from(u64::from_le_bytes(head)) * blocks) >> 64) as usize;
        let mut bits = [0u16; FILTER_PROBES];
        for (i, b) in bits.iter_mut().enumerate() {
            *b = u16::from_le_bytes([id.0[8 + 2 * i], id.0[9 + 2 * i]]) & 511;
        }
        (block * FILTER_BLOCK_BYTES, bits)
    }

    fn insert(&mut self, id: &Hash) {
        let (base, bits) = self.probes(id);
        for b in bits {
            self.bytes[base + usize::from(b / 8)] |= 1 << (b % 8);
        }
    }

    fn may_contain(&self, id: &Hash) -> bool {
        let (base, bits) = self.probes(id);
        bits.iter().all(|&b| self.bytes[base + usize::from(b / 8)] & (1 << (b % 8)) != 0)
    }
}

/// What the index holds in memory.
#[derive(Debug)]
struct State {
    /// Ids indexed but not yet written, with their positions.
    buffer: HashMap<Hash, TxLocation>,
    /// Blocks in `buffer`.
    buffered_blocks: usize,
    /// The highest height indexed (written or in `buffer`).
    height: u64,
    /// The highest height written to the file.
    written: u64,
    /// The filter of each generation, the newest last (its number is the position).
    filters: Vec<Filter>,
    /// Entries of the newest generation in the file.
    generation_txs: u64,
}

/// The index of transaction ids (see the module documentation).
pub(crate) struct TxIndex {
    db: Database,
    limits: Limits,
    state: RwLock<State>,
    /// One writer at a time (the node's indexer; the catch-up when the store opens).
    writer: Mutex<()>,
    /// Whether dropping the index writes what it holds in memory (not in tests of a crash).
    flush_on_drop: bool,
}

impl Drop for TxIndex {
    /// A store closed cleanly writes what it holds in memory, so the next start has nothing to
    /// index again; a failure here only means it will.
    fn drop(&mut self) {
        if self.flush_on_drop
            && let Err(e) = self.flush()
        {
            tracing::warn!(error = %e, "could not write the last indexed blocks; they are indexed again at the next start");
        }
    }
}

fn db_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Db(e.to_string())
}

fn entry_key(generation: u32, id: &Hash) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..4].copy_from_slice(&generation.to_be_bytes());
    k[4..].copy_from_slice(&id.0);
    k
}

fn encode_location(l: TxLocation) -> [u8; 12] {
    let mut v = [0u8; 12];
    v[..8].copy_from_slice(&l.height.to_be_bytes());
    v[8..].copy_from_slice(&l.index.to_be_bytes());
    v
}

fn decode_location(b: &[u8]) -> Result<TxLocation, StorageError> {
    let mut r = fdl_types::Reader::new(b);
    (|| Ok::<_, fdl_types::DecodeError>(TxLocation { height: r.u64("height")?, index: r.u32("index")? }))()
        .map_err(|source| StorageError::Corrupt { what: "tx index", source })
}

fn meta(t: &impl ReadableTable<&'static str, u64>, key: &str) -> Result<u64, StorageError> {
    Ok(t.get(key).map_err(db_err)?.map_or(0, |g| g.value()))
}

impl TxIndex {
    /// Opens (or creates) the index file at `path`. A file of another format is emptied: the
    /// store indexes the ledger's blocks into it again.
    pub(crate) fn open(path: &std::path::Path, limits: Limits) -> Result<TxIndex, StorageError> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        let (height, generation, generation_txs) = {
            let mut m = tx.open_table(META).map_err(db_err)?;
            let entries = tx.open_table(ENTRIES).map_err(db_err)?.len().map_err(db_err)?;
            // Every sealed generation holds at least one entry: a newest generation beyond the
            // entries is a damaged file (and would size the filters to load by it).
            let damaged = meta(&m, META_GENERATION)? > entries;
            if meta(&m, META_FORMAT)? != FORMAT || damaged {
                if damaged {
                    tracing::warn!("the transaction index is damaged: indexing the ledger again");
                } else if meta(&m, META_HEIGHT)? > 0 {
                    tracing::info!("the transaction index is of an older format: indexing the ledger again");
                }
                for (k, v) in [(META_HEIGHT, 0), (META_GENERATION, 0), (META_GENERATION_TXS, 0), (META_FORMAT, FORMAT)]
                {
                    m.insert(k, v).map_err(db_err)?;
                }
                drop(m);
                for t in [FORMAT_1_ENTRIES, ENTRIES] {
                    tx.delete_table(t).map_err(db_err)?;
                }
                tx.delete_table(FILTERS).map_err(db_err)?;
                m = tx.open_table(META).map_err(db_err)?;
            }
            (meta(&m, META_HEIGHT)?, meta(&m, META_GENERATION)?, meta(&m, META_GENERATION_TXS)?)
        };
        tx.open_table(ENTRIES).map_err(db_err)?;
        tx.open_table(FILTERS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        let generation = u32::try_from(generation).map_err(|_| corrupt("generation beyond u32"))?;
        let index = TxIndex {
            db,
            limits,
            state: RwLock::new(State {
                buffer: HashMap::new(),
                buffered_blocks: 0,
                height,
                written: height,
                filters: Vec::new(),
                generation_txs,
            }),
            writer: Mutex::new(()),
            flush_on_drop: true,
        };
        let filters = index.load_filters(generation)?;
        index.state.write().filters = filters;
        Ok(index)
    }

    /// The filters of generations `0..=newest`: the stored ones of sealed generations, and from
    /// the entries the newest one's and any stored one that is missing or malformed.
    fn load_filters(&self, newest: u32) -> Result<Vec<Filter>, StorageError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let stored = tx.open_table(FILTERS).map_err(db_err)?;
        let entries = tx.open_table(ENTRIES).map_err(db_err)?;
        let mut out = Vec::with_capacity(newest as usize + 1);
        for g in 0..=newest {
            let kept = if g < newest {
                stored.get(g).map_err(db_err)?.and_then(|b| Filter::from_bytes(b.value()))
            } else {
                None
            };
            let filter = match kept {
                Some(f) => f,
                None => {
                    if g < newest {
                        tracing::warn!(generation = g, "a filter of the transaction index is missing: rebuilding it");
                    }
                    let from = entry_key(g, &Hash([0; 32]));
                    let to = entry_key(g, &Hash([0xff; 32]));
                    let ids: Vec<Hash> = entries
                        .range(from.as_slice()..=to.as_slice())
                        .map_err(db_err)?
                        .map(|e| {
                            let (k, _) = e.map_err(db_err)?;
                            let mut id = [0u8; 32];
                            id.copy_from_slice(&k.value()[4..]);
                            Ok(Hash(id))
                        })
                        .collect::<Result<_, StorageError>>()?;
                    let mut f = Filter::sized_for(self.limits.generation_txs.max(ids.len() as u64));
                    ids.iter().for_each(|id| f.insert(id));
                    f
                }
            };
            out.push(filter);
        }
        Ok(out)
    }

    /// The highest height indexed.
    pub(crate) fn height(&self) -> u64 {
        self.state.read().height
    }

    /// The highest height whose ids are in the file (the rest is only in memory).
    #[cfg(test)]
    pub(crate) fn written_height(&self) -> u64 {
        self.state.read().written
    }

    /// Empties the index (it covers no block).
    pub(crate) fn reset(&self) -> Result<(), StorageError> {
        let _w = self.writer.lock();
        let tx = self.db.begin_write().map_err(db_err)?;
        tx.delete_table(ENTRIES).map_err(db_err)?;
        tx.delete_table(FILTERS).map_err(db_err)?;
        tx.open_table(ENTRIES).map_err(db_err)?;
        tx.open_table(FILTERS).map_err(db_err)?;
        {
            let mut m = tx.open_table(META).map_err(db_err)?;
            for k in [META_HEIGHT, META_GENERATION, META_GENERATION_TXS] {
                m.insert(k, 0).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        let mut s = self.state.write();
        *s = State {
            buffer: HashMap::new(),
            buffered_blocks: 0,
            height: 0,
            written: 0,
            filters: vec![Filter::sized_for(self.limits.generation_txs)],
            generation_txs: 0,
        };
        Ok(())
    }

    /// Indexes the ids of the block at `height`, in their order in the block; `latest` is the
    /// ledger's height. A height already indexed is skipped.
    pub(crate) fn index(&self, height: u64, ids: &[Hash], latest: u64) -> Result<(), StorageError> {
        let _w = self.writer.lock();
        let full = {
            let mut s = self.state.write();
            if height <= s.height {
                return Ok(());
            }
            if height != s.height + 1 || height > latest {
                return Err(StorageError::OutOfOrder { expected_after: s.height.min(latest), got: height });
            }
            for (i, id) in ids.iter().enumerate() {
                s.buffer.insert(*id, TxLocation { height, index: i as u32 });
            }
            s.height = height;
            s.buffered_blocks += 1;
            s.buffer.len() >= self.limits.flush_txs || s.buffered_blocks >= self.limits.flush_blocks
        };
        if full { self.write_buffer() } else { Ok(()) }
    }

    /// Writes what is held in memory to the file, in one durable transaction.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        let _w = self.writer.lock();
        self.write_buffer()
    }

    /// Writes the buffer (the caller holds `writer`). Readers stay correct throughout: the
    /// filters learn the ids before the transaction commits, and the buffer lets go of them only
    /// after, and a look-up reads the buffer before it opens its read transaction.
    fn write_buffer(&self) -> Result<(), StorageError> {
        let (mut entries, height, generation, seal) = {
            let s = self.state.read();
            if s.buffered_blocks == 0 {
                return Ok(());
            }
            let entries: Vec<(Hash, TxLocation)> = s.buffer.iter().map(|(k, v)| (*k, *v)).collect();
            let seal = s.generation_txs > 0 && s.generation_txs + entries.len() as u64 > self.limits.generation_txs;
            (entries, s.height, (s.filters.len() - 1) as u32, seal)
        };
        entries.sort_unstable_by_key(|e| e.0.0);
        let generation = if seal { generation + 1 } else { generation };
        {
            let mut s = self.state.write();
            if seal {
                let size = self.limits.generation_txs.max(entries.len() as u64);
                s.filters.push(Filter::sized_for(size));
                s.generation_txs = 0;
            }
            let newest = s.filters.last_mut().ok_or_else(|| corrupt("no generation"))?;
            entries.iter().for_each(|(id, _)| newest.insert(id));
        }
        let mut tx = self.db.begin_write().map_err(db_err)?;
        tx.set_durability(Durability::Immediate).map_err(db_err)?;
        let generation_txs = {
            let s = self.state.read();
            if seal {
                let sealed = &s.filters[generation as usize - 1];
                tx.open_table(FILTERS)
                    .map_err(db_err)?
                    .insert(generation - 1, sealed.bytes.as_slice())
                    .map_err(db_err)?;
            }
            s.generation_txs + entries.len() as u64
        };
        {
            let mut t = tx.open_table(ENTRIES).map_err(db_err)?;
            for (id, location) in &entries {
                t.insert(entry_key(generation, id).as_slice(), encode_location(*location).as_slice())
                    .map_err(db_err)?;
            }
            let mut m = tx.open_table(META).map_err(db_err)?;
            m.insert(META_HEIGHT, height).map_err(db_err)?;
            m.insert(META_GENERATION, u64::from(generation)).map_err(db_err)?;
            m.insert(META_GENERATION_TXS, generation_txs).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        let mut s = self.state.write();
        s.generation_txs = generation_txs;
        s.written = height;
        // Only what this write held: nothing else is indexed while the writer lock is held.
        s.buffer.clear();
        s.buffered_blocks = 0;
        Ok(())
    }

    /// Where `id` was included, if it was.
    pub(crate) fn location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError> {
        Ok(self.locations(std::slice::from_ref(id))?.pop().flatten())
    }

    /// Where each of `ids` was included, in order.
    pub(crate) fn locations(&self, ids: &[Hash]) -> Result<Vec<Option<TxLocation>>, StorageError> {
        let mut out = vec![None; ids.len()];
        // (generation, position in `ids`) of the file reads the filters ask for.
        let mut reads: Vec<(u32, usize)> = Vec::new();
        {
            let s = self.state.read();
            for (i, id) in ids.iter().enumerate() {
                if let Some(l) = s.buffer.get(id) {
                    out[i] = Some(*l);
                    continue;
                }
                for (g, f) in s.filters.iter().enumerate().rev() {
                    if f.may_contain(id) {
                        reads.push((g as u32, i));
                    }
                }
            }
        }
        if reads.is_empty() {
            return Ok(out);
        }
        // After the buffer (see `write_buffer`), and in key order.
        reads.sort_unstable_by_key(|&(g, i)| (g, ids[i].0));
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(ENTRIES).map_err(db_err)?;
        for (g, i) in reads {
            if out[i].is_some() {
                continue;
            }
            if let Some(v) = t.get(entry_key(g, &ids[i]).as_slice()).map_err(db_err)? {
                out[i] = Some(decode_location(v.value())?);
            }
        }
        Ok(out)
    }
}

fn corrupt(what: &'static str) -> StorageError {
    StorageError::Corrupt { what: "tx index", source: fdl_types::DecodeError::Eof { what } }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> Hash {
        fdl_crypto::hash(fdl_crypto::Suite::Sm, &n.to_le_bytes())
    }

    /// Drops the index as a crash would: what is only in memory is lost.
    fn crash(mut index: TxIndex) {
        index.flush_on_drop = false;
    }

    const SMALL: Limits = Limits { generation_txs: 10, flush_txs: 4, flush_blocks: 3 };

    fn open(dir: &tempfile::TempDir, limits: Limits) -> TxIndex {
        TxIndex::open(&dir.path().join("index.redb"), limits).expect("open")
    }

    #[test]
    fn the_filter_has_no_false_negatives_and_few_false_positives() {
        let mut f = Filter::sized_for(10_000);
        (0..10_000).for_each(|n| f.insert(&id(n)));
        assert!((0..10_000).all(|n| f.may_contain(&id(n))));
        let false_positives = (10_000..110_000).filter(|&n| f.may_contain(&id(n))).count();
        assert!(false_positives < 500, "{false_positives} of 100,000 (over 0.5 %)");
    }

    /// Blocks of 3 ids: the buffer, written runs and several generations all answer; what was
    /// never indexed is absent; a reopened index finds what was written, with the filters of
    /// sealed generations read back and the newest one rebuilt.
    #[test]
    fn lookups_find_ids_in_memory_in_the_file_and_across_generations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let block = |h: u64| (0..3).map(|i| id(h * 10 + i)).collect::<Vec<_>>();
        {
            let index = open(&dir, SMALL);
            for h in 1..=9 {
                index.index(h, &block(h), 9).expect("index");
            }
            // 9 blocks: written every 2 blocks (6 ids ≥ 4), 3 ids still in memory.
            assert_eq!(index.height(), 9);
            assert_eq!(index.written_height(), 8);
            let all: Vec<Hash> = (1..=9).flat_map(block).collect();
            let found = index.locations(&all).expect("look-up");
            for (n, l) in found.iter().enumerate() {
                assert_eq!(*l, Some(TxLocation { height: n as u64 / 3 + 1, index: (n % 3) as u32 }));
            }
            assert_eq!(index.location(&id(7)).expect("look-up"), None);
            assert!(index.state.read().filters.len() >= 3, "generations of at most 10 ids");
            crash(index);
        }
        let index = open(&dir, SMALL);
        assert_eq!(index.height(), 8, "what was only in memory is indexed again by the store");
        assert_eq!(index.location(&id(83)).expect("look-up"), None, "not written");
        assert_eq!(index.location(&id(82)).expect("look-up"), Some(TxLocation { height: 8, index: 2 }));
        assert_eq!(index.location(&id(11)).expect("look-up"), Some(TxLocation { height: 1, index: 1 }));
        index.index(9, &block(9), 9).expect("index again");
        assert_eq!(index.location(&id(91)).expect("look-up"), Some(TxLocation { height: 9, index: 1 }));
    }

    #[test]
    fn a_missing_or_malformed_filter_is_rebuilt_from_the_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let index = open(&dir, SMALL);
            for h in 1..=12 {
                index.index(h, &[id(h)], 12).expect("index");
                index.flush().expect("flush");
            }
            let tx = index.db.begin_write().expect("write");
            {
                let mut f = tx.open_table(FILTERS).expect("filters");
                assert!(f.len().expect("len") > 0, "a generation was sealed");
                f.insert(0, [1u8; 3].as_slice()).expect("malformed");
            }
            tx.commit().expect("commit");
        }
        let index = open(&dir, SMALL);
        for h in 1..=12 {
            assert_eq!(index.location(&id(h)).expect("look-up"), Some(TxLocation { height: h, index: 0 }));
        }
    }

    #[test]
    fn out_of_order_heights_are_refused_and_indexed_ones_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = open(&dir, SMALL);
        assert!(matches!(index.index(2, &[id(2)], 5), Err(StorageError::OutOfOrder { expected_after: 0, got: 2 })));
        index.index(1, &[id(1)], 5).expect("index");
        index.index(1, &[id(9)], 5).expect("skipped");
        assert_eq!(index.location(&id(9)).expect("look-up"), None);
        assert!(matches!(index.index(6, &[id(6)], 5), Err(StorageError::OutOfOrder { .. })));
        index.reset().expect("reset");
        assert_eq!((index.height(), index.location(&id(1)).expect("look-up")), (0, None));
    }

    /// A file whose newest generation is beyond what its entries could fill (damaged, or
    /// written by a hostile hand) is emptied to be built again, instead of sizing billions of
    /// filters by it.
    #[test]
    fn a_damaged_generation_count_empties_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let index = open(&dir, SMALL);
            index.index(1, &[id(1)], 1).expect("index");
            index.flush().expect("flush");
            let tx = index.db.begin_write().expect("write");
            tx.open_table(META).expect("meta").insert(META_GENERATION, u64::from(u32::MAX)).expect("damage");
            tx.commit().expect("commit");
        }
        let index = open(&dir, SMALL);
        assert_eq!((index.height(), index.state.read().filters.len()), (0, 1));
    }

    #[test]
    fn an_index_of_format_1_is_emptied_to_be_built_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.redb");
        {
            let db = Database::create(&path).expect("create");
            let tx = db.begin_write().expect("write");
            tx.open_table(FORMAT_1_ENTRIES).expect("t").insert(id(1).0.as_slice(), [0u8; 12].as_slice()).expect("i");
            tx.open_table(META).expect("m").insert(META_HEIGHT, 5).expect("h");
            tx.commit().expect("commit");
        }
        let index = TxIndex::open(&path, SMALL).expect("open");
        assert_eq!(index.height(), 0);
        let tx = index.db.begin_read().expect("read");
        assert!(tx.open_table(FORMAT_1_ENTRIES).is_err(), "the old table is dropped");
    }
}
