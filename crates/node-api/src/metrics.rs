use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use fdl_types::api::EvidenceView;
use parking_lot::Mutex;

/// The node's counters and gauges, rendered in the Prometheus text format at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Latest committed height.
    pub height: AtomicU64,
    /// Transactions committed since start.
    pub txs_committed: AtomicU64,
    /// Transactions admitted to the mempool since start.
    pub txs_admitted: AtomicU64,
    /// Transactions refused at admission since start.
    pub txs_refused: AtomicU64,
    /// Admissions refused because the pool was full (HTTP 429).
    pub txs_throttled: AtomicU64,
    /// Blocks committed since start.
    pub blocks_committed: AtomicU64,
    /// Time to build and commit the last block, in microseconds.
    pub last_block_commit_us: AtomicU64,
    /// Transactions in the last block.
    pub last_block_txs: AtomicU64,
    /// Current consensus round.
    pub round: AtomicU64,
    /// Connected consensus peers.
    pub peers_connected: AtomicU64,
    /// Time from the last block's timestamp to its finalization here, in milliseconds.
    pub last_finality_ms: AtomicU64,
    /// Height peers have committed, as the consensus loop last reported it from verified
    /// messages of more than a third of the voting power (sync lag = this - height).
    pub peer_height: AtomicU64,
    /// Blocks received through sync since start.
    pub synced_blocks: AtomicU64,
    /// Voting power that signed the last certificate.
    pub live_power: AtomicU64,
    /// Total voting power.
    pub total_power: AtomicU64,
    /// 1 when the last certificate had only the minimum quorum of power (one more fault stops the chain).
    pub at_min_quorum: AtomicU64,
    /// Precommits missing from certificates since start, per validator address.
    pub missed_votes: Mutex<BTreeMap<String, u64>>,
    /// The oldest state version this node keeps (0: nothing pruned).
    pub state_oldest_version: AtomicU64,
    /// State-tree nodes deleted by pruning since start.
    pub state_pruned_nodes: AtomicU64,
    /// Equivocation evidence recorded since start.
    pub evidence: Mutex<Vec<EvidenceView>>,
    /// The node's database file, set once the node has opened it: its size is reported as
    /// `fdl_db_size_bytes`, read when the metrics are rendered (one `stat`, so a scrape costs
    /// nothing the node does not already do).
    pub db_path: OnceLock<PathBuf>,
}

impl Metrics {
    /// Renders the Prometheus text exposition, with the mempool size and peer count supplied by
    /// the caller (they live elsewhere).
    pub fn render(&self, mempool_size: usize, peers: usize) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::with_capacity(1024);
        let mut line = |name: &str, kind: &str, help: &str, v: u64| {
            s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
        };
        line("fdl_height", "gauge", "Latest committed block height.", g(&self.height));
        line("fdl_blocks_committed_total", "counter", "Blocks committed since start.", g(&self.blocks_committed));
        line("fdl_txs_committed_total", "counter", "Transactions committed since start.", g(&self.txs_committed));
        line("fdl_txs_admitted_total", "counter", "Transactions admitted to the mempool.", g(&self.txs_admitted));
        line("fdl_txs_refused_total", "counter", "Transactions refused at admission.", g(&self.txs_refused));
        line("fdl_txs_throttled_total", "counter", "Admissions refused with 429 (pool full).", g(&self.txs_throttled));
        line(
            "fdl_last_block_commit_microseconds",
            "gauge",
            "Build and commit time of the last block.",
            g(&self.last_block_commit_us),
        );
        line("fdl_last_block_txs", "gauge", "Transactions in the last block.", g(&self.last_block_txs));
        line("fdl_mempool_size", "gauge", "Transactions waiting in the mempool.", mempool_size as u64);
        line("fdl_peers", "gauge", "Connected peers.", peers as u64);
        line("fdl_consensus_round", "gauge", "Current consensus round.", g(&self.round));
        line("fdl_consensus_peers", "gauge", "Connected consensus peers.", g(&self.peers_connected));
        line(
            "fdl_finality_milliseconds",
            "gauge",
            "Time from the last block's timestamp to its finalization.",
            g(&self.last_finality_ms),
        );
        line(
            "fdl_sync_lag_blocks",
            "gauge",
            "Blocks behind the highest height seen from peers.",
            g(&self.peer_height).saturating_sub(g(&self.height)),
        );
        line("fdl_synced_blocks_total", "counter", "Blocks received through sync.", g(&self.synced_blocks));
        line("fdl_live_voting_power", "gauge", "Voting power in the last commit certificate.", g(&self.live_power));
        line("fdl_total_voting_power", "gauge", "Total voting power.", g(&self.total_power));
        line(
            "fdl_at_minimum_quorum",
            "gauge",
            "1 when live validators have fallen to the minimum quorum (STD-11.3).",
            g(&self.at_min_quorum),
        );
        line(
            "fdl_state_oldest_version",
            "gauge",
            "Oldest state version kept (0: nothing pruned).",
            g(&self.state_oldest_version),
        );
        line(
            "fdl_state_pruned_nodes_total",
            "counter",
            "State-tree nodes deleted by pruning since start.",
            g(&self.state_pruned_nodes),
        );
        line("fdl_evidence_total", "counter", "Equivocations recorded.", self.evidence.lock().len() as u64);
        line(
            "fdl_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the node process (0 where it cannot be read).",
            resident_memory_bytes(),
        );
        line(
            "fdl_db_size_bytes",
            "gauge",
            "Size of the node's database files (the ledger and, beside it, its index of transaction ids).",
            self.db_path.get().map_or(0, |p| file_size(p) + file_size(&p.with_extension("txindex.redb"))),
        );
        let c = fdl_crypto::sm2v::cache_stats();
        line(
            "fdl_sm2_key_cache_hits_total",
            "counter",
            "SM2 verifications that used a cached key table.",
            c.table_hits,
        );
        line("fdl_sm2_key_tables_built_total", "counter", "SM2 key tables built (second sighting).", c.tables_built);
        line("fdl_sm2_key_cache_misses_total", "counter", "SM2 verifications of keys not in the cache.", c.misses);
        {
            let missed = self.missed_votes.lock();
            s.push_str("# HELP fdl_missed_votes_total Precommits missing from commit certificates, per validator.\n");
            s.push_str("# TYPE fdl_missed_votes_total counter\n");
            for (v, n) in missed.iter() {
                s.push_str(&format!("fdl_missed_votes_total{{validator=\"{v}\"}} {n}\n"));
            }
        }
        s
    }
}

/// The resident memory of this process in bytes: `VmRSS` of `/proc/self/status` on Linux (the
/// resident page count of `/proc/self/statm` times the page size, already in kB so no page-size
/// call is needed); 0 elsewhere or when it cannot be read.
fn resident_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status").map_or(0, |s| parse_vm_rss(&s))
}

/// The `VmRSS:` line of a `/proc/PID/status` text, in bytes (0 when absent or malformed).
fn parse_vm_rss(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// The size of the file at `path` in bytes (0 when it cannot be read).
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_parsed_in_bytes() {
        let status = "Name:\tfdl\nVmPeak:\t  999 kB\nVmRSS:\t   1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), 1234 * 1024);
        assert_eq!(parse_vm_rss("Name:\tfdl\n"), 0);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), 0);
    }

    #[test]
    fn the_gauges_are_rendered() {
        let file = std::env::temp_dir().join(format!("fdl-metrics-{}", std::process::id()));
        std::fs::write(&file, [0u8; 4096]).expect("write a temporary file");
        let m = Metrics::default();
        let text = m.render(0, 0);
        assert!(text.contains("\nfdl_db_size_bytes 0\n"), "no database known yet: 0\n{text}");
        m.db_path.set(file.clone()).expect("set once");
        let text = m.render(0, 0);
        std::fs::remove_file(&file).expect("remove the temporary file");
        assert!(text.contains("\nfdl_db_size_bytes 4096\n"), "{text}");
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("fdl_process_resident_memory_bytes "))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("the resident memory gauge");
        if cfg!(target_os = "linux") {
            assert!(rss > 0, "a running process has resident memory");
        }
    }
}
