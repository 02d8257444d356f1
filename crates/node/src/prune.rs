//! The background pruner: deletes the state only versions older than the kept ones need, in
//! small transactions between which it sleeps, so block commits are never held up for long
//! (`docs/operations.md`, "Pruning and compaction"; `docs/adr/0017-pruning-and-compaction.md`).

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use fdl_node_api::Metrics;
use fdl_storage::Store;
use tokio::sync::watch;

/// Stale index entries one prune transaction processes at most.
pub(crate) const PRUNE_BUDGET: usize = 20_000;
/// The pause between two prune transactions while there is a backlog.
const BETWEEN_BATCHES: Duration = Duration::from_millis(50);
/// How often the pruner looks for new versions to prune once it has caught up.
const IDLE: Duration = Duration::from_secs(1);

/// Prunes the state below `tip - keep` as blocks commit, until `shutdown` flips. A store error is
/// logged and retried later: pruning is housekeeping, never a reason to stop the node.
pub(crate) async fn prune_task(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    keep: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    // The target of the last prune that finished (`None`: go on with the recorded one first).
    let mut done_at: Option<u64> = None;
    let mut logged_at = 0u64;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let s = store.clone();
        let batch = tokio::task::spawn_blocking(move || {
            let target = s.latest_height()?.saturating_sub(keep).max(s.oldest_version());
            if done_at == Some(target) {
                return Ok(None);
            }
            s.prune(target, PRUNE_BUDGET).map(Some)
        })
        .await;
        let pause = match batch {
            Ok(Ok(Some(p))) => {
                metrics.state_oldest_version.store(p.pruned_below, Ordering::Relaxed);
                metrics.state_pruned_nodes.fetch_add(p.nodes as u64, Ordering::Relaxed);
                if p.done {
                    if logged_at == 0 || p.pruned_below >= logged_at.saturating_add(1_000) {
                        tracing::info!(oldest = p.pruned_below, "state pruned: older versions are no longer kept");
                        logged_at = p.pruned_below.max(1);
                    }
                    done_at = Some(p.pruned_below);
                    IDLE
                } else {
                    tracing::debug!(oldest = p.pruned_below, entries = p.entries, "state prune batch");
                    BETWEEN_BATCHES
                }
            }
            Ok(Ok(None)) => IDLE,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "state pruning failed; retrying later");
                IDLE
            }
            Err(e) => {
                tracing::error!(error = %e, "the state pruner stopped");
                return;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
