//! Proposals by height and round: this node's own (built once, kept on disk so a restart proposes
//! the same block again), the peers' it validated, complete ones for future heights, and the
//! blocks behind them for re-streaming.
//!
//! The work a proposer can cause is bounded: a stream is admitted only for a (height, round) in
//! the [`Window`] (the next height from the current round to [`ROUNDS_AHEAD`] past it, or a round
//! up to [`ROUNDS_AHEAD`] of the [`FUTURE_HEIGHTS`] after it) and only when its `Init` names that
//! round's proposer; once authenticated, at most [`MAX_PROPOSALS_PER_ROUND`] distinct blocks per
//! round are validated (the same block again is not counted). When the engine starts a round,
//! everything this store keeps in memory for earlier rounds of the height is freed. The on-disk
//! copies of validated blocks stay until the height is decided: a later round can still decide
//! such a block (late precommits) or re-propose it with a proof-of-lock round, and after a crash
//! the file is the only copy; they are bounded by [`MAX_PROPOSALS_PER_ROUND`] per round.

use std::{
    collections::{BTreeMap, HashMap},
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
use crate::context::{BlockValue, FdlContext, Height, ValidatorAddress, proposer_index};

/// Distinct authentic proposals validated per height and round: the proposer's, plus one
/// conflicting one, which is enough for the engine to record an equivocation. The same block
/// again (a re-stream after the proposer's restart, another relay) is not counted.
pub(super) const MAX_PROPOSALS_PER_ROUND: usize = 2;
/// Rounds past the current one whose proposals are admitted: peers may be a round or two ahead
/// (the engine itself catches up on a later round's votes); farther rounds are refused at `Init`.
pub(super) const ROUNDS_AHEAD: u32 = 2;
/// How many heights past the next one a complete proposal may be for and still be buffered (only
/// rounds 0 to [`ROUNDS_AHEAD`] of them).
pub(super) const FUTURE_HEIGHTS: u64 = 2;
/// Most (height, round) slots buffered for future heights: every admissible one.
const FUTURE_SLOTS: usize = FUTURE_HEIGHTS as usize * (ROUNDS_AHEAD as usize + 1);
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
    /// Encoded blocks of the current round and later ones, by hash (for re-streaming), with the
    /// (height, round) they were kept for.
    bodies: HashMap<Hash, ((u64, u32), Bytes)>,
    /// Authentic proposals for future heights by (height, round), with their data's hash,
    /// validated when their height starts.
    future: BTreeMap<(u64, u32), Vec<(Hash, Assembled)>>,
    /// Validated proposals by (height, round).
    received: HashMap<(u64, u32), Vec<ProposedValue<FdlContext>>>,
    /// The distinct proposals (data hash, proof-of-lock round) admitted per (height, round).
    processed: HashMap<(u64, u32), Vec<(Hash, Round)>>,
    /// The (height, round) the engine is in, as of its last `StartedRound`.
    current: (u64, u32),
}

/// The heights and rounds whose proposal streams are admitted, given the next height and the
/// engine's current round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Window {
    /// The next height (the ledger's height + 1).
    pub next: u64,
    /// The engine's round at `next` (0 before it started it).
    pub round: u32,
}

impl Window {
    /// Whether a proposal for (`height`, `round`) is admitted: the next height from the current
    /// round to [`ROUNDS_AHEAD`] past it, or rounds 0 to [`ROUNDS_AHEAD`] of the
    /// [`FUTURE_HEIGHTS`] after it. Rounds left behind, the nil round and farther ones are not.
    pub(super) fn admits(&self, height: Height, round: Round) -> bool {
        let Some(r) = round.as_u32() else { return false };
        if height.0 == self.next {
            r >= self.round && r - self.round <= ROUNDS_AHEAD
        } else {
            height.0 > self.next && height.0 - self.next <= FUTURE_HEIGHTS && r <= ROUNDS_AHEAD
        }
    }
}

/// What [`ProposalStore::admit`] decided about an authentic proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// A new proposal for its round: validate it.
    New,
    /// This block was already admitted for the round (nothing to do).
    Known,
    /// The round had [`MAX_PROPOSALS_PER_ROUND`] distinct proposals already.
    Full,
}

impl ProposalStore {
    /// An empty store over the proposal directory `dir`.
    pub(super) fn new(dir: PathBuf) -> Self {
        ProposalStore {
            dir,
            own: HashMap::new(),
            bodies: HashMap::new(),
            future: BTreeMap::new(),
            received: HashMap::new(),
            processed: HashMap::new(),
            current: (0, 0),
        }
    }

    /// The admission window when `next` is the next height.
    pub(super) fn window(&self, next: u64) -> Window {
        let (h, r) = self.current;
        Window { next, round: if h == next { r } else { 0 } }
    }

    /// The engine started (`height`, `round`): everything kept in memory for earlier rounds and
    /// heights is freed (validated proposals, counts, own values and blocks). Stored files stay
    /// until the height is decided (see the module doc).
    pub(super) fn enter_round(&mut self, height: u64, round: u32) {
        let now = (height, round);
        self.current = now;
        self.own.retain(|k, _| *k >= now);
        self.received.retain(|k, _| *k >= now);
        self.processed.retain(|k, _| *k >= now);
        self.bodies.retain(|_, (k, _)| *k >= now);
        self.future.retain(|(h, _), _| *h > height);
    }

    /// This node's proposal for (`height`, `round`), when made since the start.
    pub(super) fn own(&self, height: u64, round: u32) -> Option<BlockValue> {
        self.own.get(&(height, round)).copied()
    }

    /// Records this node's proposal for (`height`, `round`) and its block.
    pub(super) fn keep_own(&mut self, height: u64, round: u32, hash: Hash, body: Bytes) {
        self.own.insert((height, round), BlockValue(hash));
        self.bodies.insert(hash, ((height, round), body));
    }

    /// Keeps a block for re-streaming until the engine leaves (`height`, `round`), unless one
    /// with this hash is kept already (then it is kept at least as long).
    pub(super) fn keep_body(&mut self, height: u64, round: u32, hash: Hash, body: Bytes) {
        let e = self.bodies.entry(hash).or_insert(((height, round), body));
        e.0 = e.0.max((height, round));
    }

    /// The block `hash`, when kept.
    pub(super) fn body(&self, hash: &Hash) -> Option<Bytes> {
        self.bodies.get(hash).map(|(_, b)| b.clone())
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

    /// Admits an authentic proposal for (`height`, `round`) whose data hashes to `digest`, with
    /// proof-of-lock round `pol_round`: counted when new, up to [`MAX_PROPOSALS_PER_ROUND`].
    pub(super) fn admit(&mut self, height: u64, round: u32, digest: Hash, pol_round: Round) -> Admission {
        let seen = self.processed.entry((height, round)).or_default();
        if seen.contains(&(digest, pol_round)) {
            Admission::Known
        } else if seen.len() >= MAX_PROPOSALS_PER_ROUND {
            Admission::Full
        } else {
            seen.push((digest, pol_round));
            Admission::New
        }
    }

    /// Records a validated proposal.
    pub(super) fn record(&mut self, pv: ProposedValue<FdlContext>) {
        self.received.entry((pv.height.0, round_number(pv.round))).or_default().push(pv);
    }

    /// Buffers an authentic proposal for a future height whose data hashes to `digest`: at most
    /// [`MAX_PROPOSALS_PER_ROUND`] distinct ones per (height, round), so only that round's
    /// proposer fills its slot, and at most every admissible (height, round).
    pub(super) fn buffer_future(&mut self, a: Assembled, digest: Hash) {
        let key = (a.height.0, round_number(a.round));
        if !self.future.contains_key(&key) && self.future.len() >= FUTURE_SLOTS {
            return;
        }
        let slot = self.future.entry(key).or_default();
        if slot.len() < MAX_PROPOSALS_PER_ROUND && !slot.iter().any(|(d, b)| *d == digest && b.pol_round == a.pol_round)
        {
            slot.push((digest, a));
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
        let later = self.future.split_off(&(next + 1, 0));
        let ready = std::mem::replace(&mut self.future, later);
        ready.into_iter().filter(|((h, _), _)| *h == next).flat_map(|(_, v)| v).map(|(_, a)| a).collect()
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
        let round = self.proposals.window(height).round;
        for f in self.proposals.stored_files(height) {
            let Ok(bytes) = std::fs::read(&f) else { continue };
            match self.ledger.validate(height, self.address.0, &bytes).await {
                Ok(h) => self.proposals.keep_body(height, round, h, Bytes::from(bytes)),
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
        let sig = sign_parts(&self.ctx, signer, Height(height), round, pol_round, &self.address, body)
            .await
            .map_err(|e| LedgerError::Fatal(format!("signing proposal parts: {e}")))?;
        let parts = proposal_parts(Height(height), round, pol_round, self.address, body, Bytes::from(sig.0));
        let id = self.stream_ids.next(height, round_number(round));
        for msg in stream_messages(id, parts) {
            channels.network.send(NetworkMsg::PublishProposalPart(msg)).await.map_err(|_| closed())?;
        }
        Ok(())
    }

    /// The hash of `a`'s data when `a` is signed by the proposer of its height and round (see
    /// [`authenticate`]).
    pub(super) fn authentic(&self, a: &Assembled) -> Option<Hash> {
        match authenticate(&self.ctx, &self.validator_set(a.height.0), a) {
            Ok(digest) => Some(digest),
            Err(Refusal::NotProposer) => {
                tracing::debug!(height = a.height.0, round = round_number(a.round), sender = %a.proposer, "proposal parts from a validator that is not the round's proposer ignored");
                None
            }
            Err(Refusal::BadSignature) => {
                tracing::warn!(proposer = %a.proposer, height = a.height.0, "proposal parts with a bad signature ignored");
                None
            }
            Err(Refusal::NilRound | Refusal::NoProposer) => None,
        }
    }

    /// Whether an `Init` for (`height`, `round`) naming `proposer` opens an admissible stream:
    /// within `window`, and naming the round's proposer in the validator set of `height`.
    pub(super) fn expected_init(
        &self,
        window: Window,
        height: Height,
        round: Round,
        proposer: &ValidatorAddress,
    ) -> bool {
        if !window.admits(height, round) {
            return false;
        }
        let set = self.validator_set(height.0);
        let i = proposer_index(set.validators().len(), height, round);
        set.validators().get(i).is_some_and(|v| v.address == *proposer)
    }

    /// Validates an authentic proposal's block, whose data hashes to `digest` (see
    /// [`Host::authentic`]); `None` when the round had its share of proposals, this one was
    /// already validated, or the block does not decode.
    pub(super) async fn process(
        &mut self,
        a: Assembled,
        digest: Hash,
    ) -> Result<Option<ProposedValue<FdlContext>>, LedgerError> {
        let round = round_number(a.round);
        match self.proposals.admit(a.height.0, round, digest, a.pol_round) {
            Admission::New => {}
            Admission::Known => return Ok(None),
            Admission::Full => {
                tracing::warn!(height = a.height.0, round, proposer = %a.proposer, "more proposals for one round than admitted; ignored");
                return Ok(None);
            }
        }
        let validity = match self.ledger.validate(a.height.0, a.proposer.0, &a.data).await {
            Ok(h) => {
                self.proposals.write_peer_block(a.height.0, h, &a.data);
                self.proposals.keep_body(a.height.0, round, h, Bytes::from(a.data));
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

    fn digest(i: u8) -> Hash {
        Hash([i; 32])
    }

    #[test]
    fn a_round_validates_at_most_its_share_of_distinct_proposals() {
        let mut s = ProposalStore::new(temp_dir());
        for i in 0..MAX_PROPOSALS_PER_ROUND as u8 {
            assert_eq!(s.admit(3, 1, digest(i), Round::Nil), Admission::New);
        }
        for i in 0..10 {
            assert_eq!(s.admit(3, 1, digest(100 + i), Round::Nil), Admission::Full, "a flood of other blocks");
        }
        assert_eq!(s.admit(3, 2, digest(9), Round::Nil), Admission::New, "other rounds count apart");
        s.forget_through(3);
        assert_eq!(s.admit(3, 1, digest(7), Round::Nil), Admission::New, "counts are forgotten once decided");
    }

    #[test]
    fn the_same_block_again_does_not_use_up_the_rounds_share() {
        let mut s = ProposalStore::new(temp_dir());
        assert_eq!(s.admit(3, 1, digest(1), Round::Nil), Admission::New);
        // Re-streamed (the proposer restarted, or another relay): known, not counted.
        for _ in 0..5 {
            assert_eq!(s.admit(3, 1, digest(1), Round::Nil), Admission::Known);
        }
        // So a conflicting block from the same proposer is still validated (equivocation evidence).
        assert_eq!(s.admit(3, 1, digest(2), Round::Nil), Admission::New);
        assert_eq!(s.admit(3, 1, digest(3), Round::Nil), Admission::Full);
    }

    #[test]
    fn the_window_admits_the_current_round_and_a_few_after_it() {
        let w = Window { next: 10, round: 4 };
        let ok = |h: u64, r: u32| w.admits(Height(h), Round::new(r));
        assert!(ok(10, 4) && ok(10, 4 + ROUNDS_AHEAD));
        assert!(!ok(10, 3), "a round left behind");
        assert!(!ok(10, 5 + ROUNDS_AHEAD) && !ok(10, u32::MAX - 1), "far-future rounds");
        assert!(ok(11, 0) && ok(10 + FUTURE_HEIGHTS, ROUNDS_AHEAD), "the next heights' first rounds");
        assert!(!ok(11, ROUNDS_AHEAD + 1) && !ok(11 + FUTURE_HEIGHTS, 0) && !ok(9, 0) && !ok(u64::MAX, 0));
        assert!(!w.admits(Height(10), Round::Nil));
        let s = ProposalStore::new(temp_dir());
        assert_eq!(s.window(10), Window { next: 10, round: 0 }, "before the engine started the height");
        let mut s = s;
        s.enter_round(10, 6);
        assert_eq!(s.window(10), Window { next: 10, round: 6 });
        assert_eq!(s.window(11), Window { next: 11, round: 0 });
    }

    #[test]
    fn entering_a_round_frees_what_was_kept_for_earlier_ones() {
        let dir = temp_dir();
        let mut s = ProposalStore::new(dir.clone());
        let pv = |round: u32, i: u8| ProposedValue {
            height: Height(5),
            round: Round::new(round),
            valid_round: Round::Nil,
            proposer: ValidatorAddress(Address([1; 20])),
            value: BlockValue(digest(i)),
            validity: Validity::Valid,
        };
        for round in 0..3u32 {
            let i = round as u8;
            assert_eq!(s.admit(5, round, digest(i), Round::Nil), Admission::New);
            s.record(pv(round, i));
            s.keep_body(5, round, digest(i), Bytes::from(vec![i; 100]));
            s.write_peer_block(5, digest(i), &[i; 100]);
        }
        s.keep_own(5, 1, digest(50), Bytes::from_static(b"own"));
        s.enter_round(5, 2);
        assert!(s.received(5, 0).is_empty() && s.received(5, 1).is_empty());
        assert_eq!(s.received(5, 2).len(), 1);
        assert!(!s.has_body(&digest(0)) && !s.has_body(&digest(1)) && !s.has_body(&digest(50)));
        assert!(s.has_body(&digest(2)));
        assert_eq!(s.own(5, 1), None);
        assert!(s.processed.keys().all(|k| *k >= (5, 2)));
        // The stored copies stay until the height is decided (a later round may still need them).
        assert_eq!(s.stored_files(5).len(), 3);
        // A block kept again for a later round is kept as long as that round.
        s.keep_body(5, 2, digest(9), Bytes::from_static(b"nine"));
        s.keep_body(5, 3, digest(9), Bytes::from_static(b"nine"));
        s.enter_round(5, 3);
        assert!(s.has_body(&digest(9)) && !s.has_body(&digest(2)));
        s.enter_round(6, 0);
        assert!(!s.has_body(&digest(9)), "a new height frees the last one's rounds");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_future_buffer_holds_a_few_proposals_per_round_and_is_released_by_height() {
        let mut s = ProposalStore::new(temp_dir());
        // A proposer floods one future round with distinct blocks, and repeats one.
        for i in 0..10u8 {
            s.buffer_future(assembled(6), digest(i));
            s.buffer_future(assembled(6), digest(0));
        }
        assert_eq!(s.future.values().map(Vec::len).sum::<usize>(), MAX_PROPOSALS_PER_ROUND);
        for h in 6..=7 {
            for r in 0..=ROUNDS_AHEAD + 3 {
                s.buffer_future(Assembled { round: Round::new(r), ..assembled(h) }, digest(1));
            }
        }
        assert!(s.future.len() <= FUTURE_SLOTS);
        s.buffer_future(assembled(5), digest(1));
        let ready = s.take_future(6);
        assert!(!ready.is_empty() && ready.iter().all(|a| a.height.0 == 6));
        assert!(s.future.keys().all(|(h, _)| *h == 7), "lower heights are dropped, higher kept");
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
        s.keep_body(4, 0, Hash([4; 32]), Bytes::from_static(b"other"));
        assert_eq!(s.body(&Hash([4; 32])), Some(Bytes::from_static(b"four")), "the first kept block stays");
        s.forget_through(4);
        assert_eq!(s.own(4, 0), None);
        assert_eq!(s.own(5, 0), Some(BlockValue(Hash([5; 32]))));
        assert!(!s.has_body(&Hash([5; 32])), "all blocks are forgotten at a decision");
    }
}
