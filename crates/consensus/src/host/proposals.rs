//! Proposals by height and round: this node's own (built once, kept on disk so a restart proposes
//! the same block again), the peers' it validated, complete ones for future heights, and the
//! blocks behind them for re-streaming.

use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use bytes::Bytes;
use fdl_crypto::Hash;
use malachitebft_app_channel::{
    Channels, NetworkMsg,
    app::types::{
        ProposedValue,
        core::{Round, Validity},
    },
};

use super::{
    Host, Ledger, LedgerError,
    auth::{Refusal, authenticate, sign_parts},
    closed, io_fatal, round_number,
    streams::{Assembled, proposal_parts, stream_messages},
};
use crate::context::{BlockValue, FdlContext, Height};

/// Proposal streams processed per height and round (the proposer's, plus one conflicting one,
/// which is enough for the engine to record an equivocation).
pub(super) const MAX_STREAMS_PER_ROUND: u8 = 2;
/// Most complete proposals buffered for future heights.
pub(super) const MAX_FUTURE_PROPOSALS: usize = 8;
/// How many heights past the next one a complete proposal may be for and still be buffered.
pub(super) const FUTURE_HEIGHTS: u64 = 2;
/// Share of the propose timeout the ledger may wait for transactions when it builds this node's
/// block.
const BUILD_SHARE_OF_PROPOSE_TIMEOUT: f32 = 0.5;
/// Extension of the files that hold proposed blocks.
const BLOCK_EXT: &str = "block";
/// Extension of a file being written, before it is renamed.
const TMP_EXT: &str = "tmp";

/// Proposals and their blocks, in memory and in the proposal directory.
pub(super) struct ProposalStore {
    /// Where own proposals (`{height}-{round}.block`) and validated peers' blocks
    /// (`{height}-peer-{hash}.block`) are kept until their height is decided.
    dir: PathBuf,
    /// Our proposals by (height, round): the same request gets the same value.
    own: HashMap<(u64, u32), BlockValue>,
    /// Encoded blocks seen this height, by hash (for re-streaming).
    bodies: HashMap<Hash, Bytes>,
    /// Complete proposals for future heights, validated when their height starts.
    future: Vec<Assembled>,
    /// Validated proposals by (height, round).
    received: HashMap<(u64, u32), Vec<ProposedValue<FdlContext>>>,
    /// Streams processed per (height, round).
    processed: HashMap<(u64, u32), u8>,
}

impl ProposalStore {
    /// An empty store over the proposal directory `dir`.
    pub(super) fn new(dir: PathBuf) -> Self {
        ProposalStore {
            dir,
            own: HashMap::new(),
            bodies: HashMap::new(),
            future: Vec::new(),
            received: HashMap::new(),
            processed: HashMap::new(),
        }
    }

    /// This node's proposal for (`height`, `round`), when made since the start.
    pub(super) fn own(&self, height: u64, round: u32) -> Option<BlockValue> {
        self.own.get(&(height, round)).copied()
    }

    /// Records this node's proposal for (`height`, `round`) and its block.
    pub(super) fn keep_own(&mut self, height: u64, round: u32, hash: Hash, body: Bytes) {
        self.own.insert((height, round), BlockValue(hash));
        self.bodies.insert(hash, body);
    }

    /// Keeps a block for re-streaming, unless one with this hash is kept already.
    pub(super) fn keep_body(&mut self, hash: Hash, body: Bytes) {
        self.bodies.entry(hash).or_insert(body);
    }

    /// The block `hash`, when kept.
    pub(super) fn body(&self, hash: &Hash) -> Option<Bytes> {
        self.bodies.get(hash).cloned()
    }

    /// Whether the block `hash` is kept.
    pub(super) fn has_body(&self, hash: &Hash) -> bool {
        self.bodies.contains_key(hash)
    }

    /// The file of this node's proposal for (`height`, `round`).
    pub(super) fn own_path(&self, height: u64, round: u32) -> PathBuf {
        self.dir.join(format!("{height}-{round}.{BLOCK_EXT}"))
    }

    /// Writes this node's block for (`height`, `round`) durably: to a temporary file, synced,
    /// renamed, and the directory synced.
    pub(super) fn write_own(&self, height: u64, round: u32, body: &[u8]) -> Result<(), LedgerError> {
        let path = self.own_path(height, round);
        std::fs::create_dir_all(&self.dir).map_err(|e| io_fatal("proposal dir", e))?;
        let tmp = path.with_extension(TMP_EXT);
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(|e| io_fatal("proposal file", e))?;
            f.write_all(body).map_err(|e| io_fatal("proposal file", e))?;
            f.sync_all().map_err(|e| io_fatal("proposal file", e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io_fatal("proposal file", e))?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io_fatal("proposal dir", e))?;
        Ok(())
    }

    /// Keeps a validated peer's block on disk too (best effort, no fsync): after a crash of every
    /// validator, any node that locked on this block can re-stream it.
    pub(super) fn write_peer_block(&self, height: u64, hash: Hash, data: &[u8]) {
        let path = self.dir.join(format!("{height}-peer-{hash}.{BLOCK_EXT}"));
        if !path.exists() && std::fs::create_dir_all(&self.dir).is_ok() {
            let _ = std::fs::write(&path, data);
        }
    }

    /// The stored block files of `height`, own and peers'.
    pub(super) fn stored_files(&self, height: u64) -> Vec<PathBuf> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let prefix = format!("{height}-");
        let suffix = format!(".{BLOCK_EXT}");
        dir.flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
            })
            .collect()
    }

    /// Deletes stored proposals at or below `height`.
    pub(super) fn prune_files(&self, height: u64) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return };
        for e in dir.flatten() {
            let name = e.file_name();
            let h = name.to_str().and_then(|n| n.split('-').next()).and_then(|h| h.parse::<u64>().ok());
            if h.is_some_and(|h| h <= height) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// The validated proposals of (`height`, `round`).
    pub(super) fn received(&self, height: u64, round: u32) -> Vec<ProposedValue<FdlContext>> {
        self.received.get(&(height, round)).cloned().unwrap_or_default()
    }

    /// Counts a stream for (`height`, `round`); false when [`MAX_STREAMS_PER_ROUND`] were already
    /// processed.
    pub(super) fn admit(&mut self, height: u64, round: u32) -> bool {
        let seen = self.processed.entry((height, round)).or_default();
        if *seen >= MAX_STREAMS_PER_ROUND {
            return false;
        }
        *seen += 1;
        true
    }

    /// Records a validated proposal.
    pub(super) fn record(&mut self, pv: ProposedValue<FdlContext>) {
        self.received.entry((pv.height.0, round_number(pv.round))).or_default().push(pv);
    }

    /// Buffers a proposal for a future height, unless [`MAX_FUTURE_PROPOSALS`] are buffered.
    pub(super) fn buffer_future(&mut self, a: Assembled) {
        if self.future.len() < MAX_FUTURE_PROPOSALS {
            self.future.push(a);
        }
    }

    /// Forgets everything at or below the decided `height`: proposals, counts, all kept blocks,
    /// and the stored files.
    pub(super) fn forget_through(&mut self, height: u64) {
        self.own.retain(|(h, _), _| *h > height);
        self.received.retain(|(h, _), _| *h > height);
        self.processed.retain(|(h, _), _| *h > height);
        self.bodies.clear();
        self.prune_files(height);
    }

    /// Takes the buffered proposals for `next`, and drops those below it.
    pub(super) fn take_future(&mut self, next: u64) -> Vec<Assembled> {
        let (ready, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.future).into_iter().partition(|a| a.height.0 == next);
        self.future = later.into_iter().filter(|a| a.height.0 > next).collect();
        ready
    }
}

impl<L: Ledger> Host<L> {
    /// This node's block for (`height`, `round`): the one it already proposed (also before a
    /// crash), or a new one, written durably before it is proposed.
    pub(super) async fn own_value(
        &mut self,
        height: u64,
        round: u32,
        timeout: Duration,
    ) -> Result<BlockValue, LedgerError> {
        if let Some(v) = self.proposals.own(height, round) {
            return Ok(v);
        }
        let path = self.proposals.own_path(height, round);
        if let Ok(bytes) = std::fs::read(&path) {
            match self.ledger.validate(height, self.address.0, &bytes).await {
                Ok(h) => {
                    tracing::info!(height, round, hash = %h, "re-proposing the block proposed before a restart");
                    self.proposals.keep_own(height, round, h, Bytes::from(bytes));
                    return Ok(BlockValue(h));
                }
                Err(e) => {
                    // The engine may hold this proposal, signed, in its WAL: proposing anything
                    // else for this height and round would be an equivocation.
                    return Err(LedgerError::Fatal(format!("the stored own proposal {}: {e}", path.display())));
                }
            }
        }
        let deadline = Instant::now() + timeout.mul_f32(BUILD_SHARE_OF_PROPOSE_TIMEOUT);
        let (h, body) = self.ledger.propose(height, deadline).await?;
        self.proposals.write_own(height, round, &body)?;
        self.proposals.keep_own(height, round, h, Bytes::from(body));
        Ok(BlockValue(h))
    }

    /// Loads the stored proposals for `height` (this node's own and the peers' it validated)
    /// into the kept blocks (after a restart the engine may ask to re-stream a block it locked
    /// on before the crash).
    pub(super) async fn load_stored_proposals(&mut self, height: u64) -> Result<(), LedgerError> {
        for f in self.proposals.stored_files(height) {
            let Ok(bytes) = std::fs::read(&f) else { continue };
            match self.ledger.validate(height, self.address.0, &bytes).await {
                Ok(h) => self.proposals.keep_body(h, Bytes::from(bytes)),
                Err(LedgerError::Fatal(e)) => return Err(LedgerError::Fatal(e)),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Streams `body` as signed proposal parts for (`height`, `round`); observers do not.
    pub(super) async fn publish(
        &mut self,
        channels: &Channels<FdlContext>,
        height: u64,
        round: Round,
        pol_round: Round,
        body: &Bytes,
    ) -> Result<(), LedgerError> {
        let Some(signer) = &self.signer else { return Ok(()) };
        let sig = sign_parts(&self.ctx, signer, Height(height), round, &self.address, body)
            .map_err(|e| LedgerError::Fatal(format!("signing proposal parts: {e}")))?;
        let parts = proposal_parts(Height(height), round, pol_round, self.address, body, Bytes::from(sig.0));
        let id = self.stream_ids.next(height, round_number(round));
        for msg in stream_messages(id, parts) {
            channels.network.send(NetworkMsg::PublishProposalPart(msg)).await.map_err(|_| closed())?;
        }
        Ok(())
    }

    /// True when `a` is signed by the proposer of its height and round (see [`authenticate`]).
    pub(super) fn authentic(&self, a: &Assembled) -> bool {
        match authenticate(&self.ctx, &self.validator_set(a.height.0), a) {
            Ok(()) => true,
            Err(Refusal::NotProposer) => {
                tracing::debug!(height = a.height.0, round = round_number(a.round), sender = %a.proposer, "proposal parts from a validator that is not the round's proposer ignored");
                false
            }
            Err(Refusal::BadSignature) => {
                tracing::warn!(proposer = %a.proposer, height = a.height.0, "proposal parts with a bad signature ignored");
                false
            }
            Err(Refusal::NilRound | Refusal::NoProposer) => false,
        }
    }

    /// Validates an authentic proposal's block (see [`Host::authentic`]); `None` when the round
    /// had its share of streams or the block does not decode.
    pub(super) async fn process(&mut self, a: Assembled) -> Result<Option<ProposedValue<FdlContext>>, LedgerError> {
        if !self.proposals.admit(a.height.0, round_number(a.round)) {
            return Ok(None);
        }
        let validity = match self.ledger.validate(a.height.0, a.proposer.0, &a.data).await {
            Ok(h) => {
                self.proposals.write_peer_block(a.height.0, h, &a.data);
                self.proposals.keep_body(h, Bytes::from(a.data));
                (h, Validity::Valid)
            }
            Err(LedgerError::Invalid { hash: Some(h), reason }) => {
                tracing::warn!(height = a.height.0, proposer = %a.proposer, %reason, "invalid proposal");
                (h, Validity::Invalid)
            }
            Err(e @ (LedgerError::Invalid { hash: None, .. } | LedgerError::Unknown(_))) => {
                tracing::warn!(height = a.height.0, proposer = %a.proposer, error = %e, "undecodable proposal");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let pv = ProposedValue {
            height: a.height,
            round: a.round,
            valid_round: a.pol_round,
            proposer: a.proposer,
            value: BlockValue(validity.0),
            validity: validity.1,
        };
        self.proposals.record(pv.clone());
        Ok(Some(pv))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use fdl_crypto::Address;

    use super::*;
    use crate::context::ValidatorAddress;

    /// A fresh directory under the system's temporary directory.
    fn temp_dir() -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "fdl-consensus-proposals-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn assembled(height: u64) -> Assembled {
        Assembled {
            height: Height(height),
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer: ValidatorAddress(Address([1; 20])),
            data: vec![height as u8],
            signature: Bytes::new(),
        }
    }

    #[test]
    fn a_round_processes_at_most_its_share_of_streams() {
        let mut s = ProposalStore::new(temp_dir());
        for _ in 0..MAX_STREAMS_PER_ROUND {
            assert!(s.admit(3, 1));
        }
        assert!(!s.admit(3, 1));
        assert!(s.admit(3, 2), "other rounds count apart");
        s.forget_through(3);
        assert!(s.admit(3, 1), "counts are forgotten once the height is decided");
    }

    #[test]
    fn the_future_buffer_is_bounded_and_released_by_height() {
        let mut s = ProposalStore::new(temp_dir());
        for i in 0..MAX_FUTURE_PROPOSALS + 3 {
            s.buffer_future(assembled(5 + (i as u64 % 3)));
        }
        assert_eq!(s.future.len(), MAX_FUTURE_PROPOSALS);
        let ready = s.take_future(6);
        assert!(!ready.is_empty() && ready.iter().all(|a| a.height.0 == 6));
        assert!(s.future.iter().all(|a| a.height.0 == 7), "lower heights are dropped, higher kept");
    }

    #[test]
    fn own_proposals_are_written_found_and_pruned() {
        let dir = temp_dir();
        let s = ProposalStore::new(dir.clone());
        s.write_own(4, 0, b"block four").expect("writes");
        s.write_own(5, 1, b"block five").expect("writes");
        s.write_peer_block(5, Hash([2; 32]), b"a peer's block");
        assert_eq!(std::fs::read(s.own_path(4, 0)).expect("reads"), b"block four");
        let mut five = s.stored_files(5);
        five.sort();
        assert_eq!(five.len(), 2, "own and peer's: {five:?}");
        assert!(s.stored_files(6).is_empty());
        s.prune_files(4);
        assert!(!s.own_path(4, 0).exists());
        assert!(s.own_path(5, 1).exists());
        s.prune_files(5);
        assert!(s.stored_files(5).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bodies_and_own_values_are_forgotten_once_decided() {
        let mut s = ProposalStore::new(temp_dir());
        s.keep_own(4, 0, Hash([4; 32]), Bytes::from_static(b"four"));
        s.keep_own(5, 0, Hash([5; 32]), Bytes::from_static(b"five"));
        s.keep_body(Hash([4; 32]), Bytes::from_static(b"other"));
        assert_eq!(s.body(&Hash([4; 32])), Some(Bytes::from_static(b"four")), "the first kept block stays");
        s.forget_through(4);
        assert_eq!(s.own(4, 0), None);
        assert_eq!(s.own(5, 0), Some(BlockValue(Hash([5; 32]))));
        assert!(!s.has_body(&Hash([5; 32])), "all blocks are forgotten at a decision");
    }
}
