//! What a block's state value writes cost as the history grows, in two layouts (the growth
//! measurement of issue 15, `docs/benchmarks.md`): each "block" writes `PER_BLOCK` values of keys
//! drawn from a state that gains `NEW_PER_BLOCK` keys per block, in one durable redb write
//! transaction, and the mean time per block is printed for every 100 blocks.
//!
//! - `history`: the store's layout, one table keyed `key hash ‖ version` (every version of every
//!   key; a block's keys land at random places of a table that grows by as many per block);
//! - `split`: the newest value of each key in a table keyed by key hash (overwritten in place,
//!   sized by the state), and the versions appended to a table keyed `version ‖ key hash`.
//!
//! ```text
//! cargo run --release -p fdl-storage --example state_values -- history 1350
//! cargo run --release -p fdl-storage --example state_values -- split 1350
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use redb::{Database, Durability, TableDefinition};

const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history");
const LATEST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("latest");
/// Distinct keys a block writes (the growth run's 5,000 transfers among 2,000 accounts).
const PER_BLOCK: u64 = 2_000;
/// Keys the state gains per block (2,000 accounts per round of about 135 blocks).
const NEW_PER_BLOCK: u64 = 15;
/// The state's keys at the start (genesis and the first round's accounts).
const START_KEYS: u64 = 4_000;
/// An encoded account value.
const VALUE: [u8; 60] = [7; 60];

/// The 32-byte key hash of key `i` (splitmix64 of the index: uniform, no dependency).
fn key_hash(i: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let split = match args.get(1).map(String::as_str) {
        None | Some("history") => false,
        Some("split") => true,
        Some(other) => {
            eprintln!("unknown layout {other:?}: use `history` or `split`, then the number of blocks");
            std::process::exit(2);
        }
    };
    let blocks: u64 = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(1_350);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::create(dir.path().join("state.redb")).expect("create");
    let mut total = 0f64;
    let mut picked = 0u64;
    for version in 1..=blocks {
        let keys = START_KEYS + version * NEW_PER_BLOCK;
        let t0 = Instant::now();
        let mut tx = db.begin_write().expect("write");
        tx.set_durability(Durability::Immediate).expect("durability");
        {
            let mut history = tx.open_table(HISTORY).expect("table");
            let mut latest = tx.open_table(LATEST).expect("table");
            for _ in 0..PER_BLOCK {
                // A fixed stride through the state: a block's keys spread over all of it.
                picked = (picked + 7_919) % keys;
                let kh = key_hash(picked);
                if split {
                    let mut v = Vec::with_capacity(8 + VALUE.len());
                    v.extend_from_slice(&version.to_be_bytes());
                    v.extend_from_slice(&VALUE);
                    latest.insert(kh.as_slice(), v.as_slice()).expect("insert");
                    let mut k = [0u8; 40];
                    k[..8].copy_from_slice(&version.to_be_bytes());
                    k[8..].copy_from_slice(&kh);
                    history.insert(k.as_slice(), VALUE.as_slice()).expect("insert");
                } else {
                    let mut k = [0u8; 40];
                    k[..32].copy_from_slice(&kh);
                    k[32..].copy_from_slice(&version.to_be_bytes());
                    history.insert(k.as_slice(), VALUE.as_slice()).expect("insert");
                }
            }
        }
        tx.commit().expect("commit");
        total += t0.elapsed().as_secs_f64();
        if version % 100 == 0 {
            println!(
                "{} blocks ({} values, {} keys): {:.1} ms per block",
                version,
                version * PER_BLOCK,
                keys,
                total * 1e3 / 100.0
            );
            total = 0.0;
        }
    }
}
