//! What a block's index inserts cost as the index grows (ADR 0018): each "block" inserts
//! `PER_BLOCK` 40-byte keys in one durable redb write transaction, either random (transaction
//! ids) or ordered by a shared prefix (expiry, then id), and the mean time per block is printed
//! for every 100 blocks.
//!
//! ```text
//! cargo run --release -p fdl-storage --example index_inserts -- random 1000
//! cargo run --release -p fdl-storage --example index_inserts -- ordered 1000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("t");
const PER_BLOCK: u64 = 5_000;

/// xorshift64*: enough to scatter keys, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("random", String::as_str).to_string();
    let blocks: u64 = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.redb");
    let db = Database::create(&path).expect("create");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut write, mut read) = (0f64, 0f64);
    let mut keys = Vec::with_capacity(PER_BLOCK as usize);
    for b in 0..blocks {
        keys.clear();
        for _ in 0..PER_BLOCK {
            let mut k = [0u8; 40];
            if mode == "random" {
                rng.fill(&mut k);
            } else {
                k[..8].copy_from_slice(&(b + 100).to_be_bytes());
                rng.fill(&mut k[8..]);
            }
            keys.push(k);
        }
        let t0 = Instant::now();
        {
            // The replay checks: every key looked up (absent) first.
            let r = db.begin_read().expect("read");
            if let Ok(t) = r.open_table(T) {
                for k in &keys {
                    assert!(t.get(k.as_slice()).expect("get").is_none());
                }
            }
        }
        let looked = t0.elapsed().as_secs_f64();
        let mut tx = db.begin_write().expect("write");
        tx.set_durability(Durability::Immediate).expect("durability");
        {
            let mut t = tx.open_table(T).expect("table");
            for (i, k) in keys.iter().enumerate() {
                t.insert(k.as_slice(), (b * PER_BLOCK + i as u64).to_be_bytes().as_slice()).expect("insert");
            }
        }
        tx.commit().expect("commit");
        write += t0.elapsed().as_secs_f64() - looked;
        read += looked;
        if (b + 1) % 100 == 0 {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            println!(
                "{mode}: {:>9} entries: {:6.1} ms per block to insert, {:5.1} ms to look up; file {} MiB",
                (b + 1) * PER_BLOCK,
                write * 10.0,
                read * 10.0,
                size >> 20
            );
            write = 0.0;
            read = 0.0;
        }
    }
}
