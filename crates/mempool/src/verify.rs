//! A fixed pool of threads that verify transaction signatures, fed by a bounded queue.

use crossbeam_channel::{Sender, TrySendError, bounded};
use fdl_crypto::{PublicKey, Signature, verify_batch};
use fdl_types::SignedTx;
use tokio::sync::oneshot;

struct Job {
    txs: Vec<SignedTx>,
    reply: oneshot::Sender<Vec<bool>>,
}

/// Signature verification off the async runtime: `threads` workers, at most `queue` jobs waiting.
pub struct VerifyPool {
    jobs: Sender<Job>,
}

impl VerifyPool {
    /// Starts the workers. They stop when the pool is dropped.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (tx, rx) = bounded::<Job>(queue.max(1));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("fdl-verify-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        let _ = job.reply.send(verify_all(&job.txs));
                    }
                })
                .expect("invariant: the OS can start a verifier thread at startup");
        }
        VerifyPool { jobs: tx }
    }

    /// Verifies `txs`; one verdict each. `None` when the queue is full (back-pressure).
    pub async fn verify(&self, txs: Vec<SignedTx>) -> Option<Vec<bool>> {
        let (reply, rx) = oneshot::channel();
        match self.jobs.try_send(Job { txs, reply }) {
            Ok(()) => rx.await.ok(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => None,
        }
    }
}

/// Verifies a batch synchronously (Ed25519 batches use batch verification).
pub fn verify_all(txs: &[SignedTx]) -> Vec<bool> {
    let msgs: Vec<Vec<u8>> = txs.iter().map(|t| t.body.signing_bytes()).collect();
    let items: Vec<(&PublicKey, &[u8], &Signature)> =
        txs.iter().zip(&msgs).map(|(t, m)| (&t.body.signer, m.as_slice(), &t.signature)).collect();
    verify_batch(&items)
}
