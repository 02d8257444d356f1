//! The one-validator block producer: a block when a batch fills or the interval passes with
//! transactions waiting, and an empty heartbeat block when nothing happens for a while.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::{Chain, NodeError};

/// Drives [`Chain`] with the local validator as the only proposer and voter.
pub struct SoloProducer {
    chain: Arc<Chain>,
}

impl SoloProducer {
    /// A producer for `chain`.
    pub fn new(chain: Arc<Chain>) -> Self {
        SoloProducer { chain }
    }

    /// Produces blocks until `shutdown` is true.
    ///
    /// # Errors
    /// Fatal errors from building or committing a block.
    pub async fn run(self, shutdown: &mut watch::Receiver<bool>) -> Result<(), NodeError> {
        let params = self.chain.mempool().params();
        let interval = Duration::from_millis(params.block_interval_ms);
        let heartbeat = Duration::from_millis(params.empty_block_interval_ms.max(params.block_interval_ms));
        let max = params.max_block_txs as usize;
        let mut last_block = Instant::now();
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let mempool = self.chain.mempool().clone();
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = mempool.batch_ready() => {}
                changed = shutdown.changed() => match changed {
                    Ok(()) => continue,
                    // The sender is gone: nobody can ask for a shutdown any more, so stop now.
                    Err(_) => return Ok(()),
                },
            }
            let waiting = !mempool.is_empty();
            if !waiting && last_block.elapsed() < heartbeat {
                continue;
            }
            let chain = self.chain.clone();
            let started = Instant::now();
            tokio::task::spawn_blocking(move || {
                let txs = chain.mempool().take_batch(max, chain.height() + 1);
                let p = chain.build_block(txs)?;
                // Built while the previous block was written; signed only once it is durable.
                chain.wait_durable()?;
                let commit = chain.sign_commit(&p)?;
                chain.commit_block(p, commit, started)
            })
            .await
            .map_err(|e| NodeError::Invariant(format!("block task panicked: {e}")))??;
            last_block = Instant::now();
        }
    }
}
