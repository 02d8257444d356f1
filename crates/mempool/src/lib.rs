//! FDL's mempool: admission and the pool of transactions waiting for a block.
//!
//! Admission checks, in order of cost: size, decoding (bounded), chain id and suite, expiry window,
//! amount, replay (the transaction index and the pool), then the signature — on a dedicated
//! thread pool, off the async runtime, many transactions per job. The pool is bounded; when it or
//! the verifier queue is full, admission fails with [`AdmitError::Full`] and the API answers 429
//! (back-pressure instead of unbounded memory).
//!
//! Admission also keeps latency bounded (see `docs/architecture.md`, "Admission under load"): a
//! client's transaction is admitted only while the transactions admitted and not yet committed
//! ([`Mempool::pending`]: waiting, taken into a proposal, or in a decided block being written; a
//! new one commits after all of them) are fewer than the chain can commit in
//! [`MempoolConfig::target_wait`] at the commit rate measured over the last blocks (the budget is
//! four fifths of that, so that with its reserve the pool holds exactly that much); beyond that it
//! is refused at once with [`AdmitError::Overloaded`] and a retry hint, before any signature is
//! verified; a client's request that does not fit whole is refused whole, so no refusal waits for
//! the verification of the part that would fit, and once no sender can fit any more (the budget
//! and its reserve are full) a request is refused before anything in it is decoded. Within that
//! budget each sender may hold at most a fair share (the budget divided by
//! the senders waiting, never less than [`FAIR_SHARE_FLOOR`]), and a sender with fewer than that
//! floor waiting may use a reserve above the budget, so one flooding sender cannot starve others.
//! Transactions a peer forwarded were admitted by that peer and only meet the hard capacity. A
//! signature is verified once per node whatever path the transaction takes (client, peer, block).
//!
//! The pool also owns the lifecycle of a pending transaction: [`Mempool::on_committed`] removes
//! included transactions and wakes whoever waits for their receipts.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod verify;

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use fdl_crypto::{Address, Hash};
use fdl_exec::{IdentityCache, check_tx_for_block};
use fdl_state::StateDb;
use fdl_storage::Store;
use fdl_types::{ChainParams, Decode, DecodeError, Genesis, Receipt, SignedTx, StatusCode};
use parking_lot::{Mutex, RwLock};
use thiserror::Error;
use tokio::sync::{Notify, oneshot};

pub use fdl_exec::TxRejection;
pub use verify::VerifyPool;

/// Mempool limits.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub capacity: usize,
    /// Threads verifying signatures.
    pub verify_threads: usize,
    /// Most verification jobs queued before admission answers "full".
    pub verify_queue: usize,
    /// The longest a client's transaction should wait in the pool: admission refuses clients'
    /// transactions beyond what the chain commits in this time at its measured rate.
    pub target_wait: Duration,
}

/// A sender with fewer transactions than this waiting is always within its fair share, and may
/// use the reserve above the pool's budget.
pub const FAIR_SHARE_FLOOR: usize = 64;

/// How far back the commit rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Most signature digests remembered from block validation (see [`Mempool::verify_block_txs`]).
const RECENTLY_VERIFIED: usize = 65_536;

/// Where a transaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client of this node: admission control applies.
    Client,
    /// A peer forwarded it after admitting it itself: only the hard capacity applies.
    Peer,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            capacity: 50_000,
            verify_threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            verify_queue: 1_024,
            target_wait: Duration::from_millis(1_000),
        }
    }
}

/// Why a transaction was not admitted. Each maps to a stable API code ([`AdmitError::code`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// The bytes are not a transaction.
    #[error("malformed transaction: {0}")]
    Malformed(#[from] DecodeError),
    /// Refused by a validity rule (chain id, expiry, replay, size, amount).
    #[error(transparent)]
    Rejected(#[from] TxRejection),
    /// Already waiting in the pool.
    #[error("transaction already pending")]
    AlreadyPending,
    /// The pool or the verifier queue is full: retry later.
    #[error("mempool full ({capacity} transactions): retry later")]
    Full {
        /// The pool capacity.
        capacity: usize,
    },
    /// The node has more waiting than it can commit within its target wait (or the sender has
    /// more than its fair share of it): retry after the hint.
    #[error("node overloaded: {waiting} transactions wait, about {wait_ms} ms of work; retry in {retry_after_ms} ms")]
    Overloaded {
        /// Transactions waiting in the pool.
        waiting: usize,
        /// The expected wait of the pool at the measured commit rate, in ms.
        wait_ms: u64,
        /// When a retry is likely to be admitted, in ms.
        retry_after_ms: u64,
    },
    /// A contract call whose arguments are not a JSON object (they would only fail in the
    /// contract; refused at the door instead).
    #[error("contract call arguments must be a JSON object: {0}")]
    InvalidArgs(String),
    /// The store failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A contract call's arguments: a JSON object (an empty text stands for `{}`).
///
/// # Errors
/// [`AdmitError::InvalidArgs`] with the parser's reason.
pub fn check_args(args: &str) -> Result<(), AdmitError> {
    if args.is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<serde_json::Value>(args) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(AdmitError::InvalidArgs("not an object".into())),
        Err(e) => Err(AdmitError::InvalidArgs(e.to_string())),
    }
}

impl AdmitError {
    /// Whether this refusal is back-pressure (429: the same transaction may be admitted later).
    pub fn is_throttle(&self) -> bool {
        matches!(self, AdmitError::Full { .. } | AdmitError::Overloaded { .. })
    }

    /// The retry hint of a throttle, in ms.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            AdmitError::Overloaded { retry_after_ms, .. } => Some(*retry_after_ms),
            AdmitError::Full { .. } => Some(1_000),
            _ => None,
        }
    }

    /// The stable error code used by the API.
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::Malformed(_) => "malformed_transaction",
            AdmitError::Rejected(r) => match r {
                TxRejection::WrongChain { .. } => "wrong_chain_id",
                TxRejection::WrongSuite { .. } => "wrong_suite",
                TxRejection::Expired { .. } => "expired",
                TxRejection::ExpiryTooFar { .. } => "expiry_too_far",
                TxRejection::Replayed => "replayed",
                TxRejection::TooLarge { .. } => "transaction_too_large",
                TxRejection::ZeroAmount => "zero_amount",
                TxRejection::BadSignature => "bad_signature",
                TxRejection::Refused(code) => code.as_str(),
            },
            AdmitError::AlreadyPending => "already_pending",
            AdmitError::Full { .. } => "mempool_full",
            AdmitError::Overloaded { .. } => "overloaded",
            AdmitError::InvalidArgs(_) => "invalid_args",
            AdmitError::Internal(_) => "internal",
        }
    }
}

/// The outcome of [`Mempool::verify_block_txs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSigReport {
    /// Indexes of transactions whose signatures do not verify.
    pub bad: Vec<usize>,
    /// How many signatures were verified (the others were verified at admission).
    pub checked: usize,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<SignedTx>,
    /// Every transaction admitted and not yet committed or dropped, with the
    /// [`SignedTx::verified_digest`] of the bytes whose signature was verified (an id covers
    /// neither the signature nor the credential's form) and its sender.
    ids: HashMap<Hash, (Hash, Address)>,
    /// How many of `ids` each sender has.
    senders: HashMap<Address, usize>,
    waiters: HashMap<Hash, Vec<oneshot::Sender<Receipt>>>,
    /// Pending transactions a decided block includes (see [`Mempool::on_included`]): they wait
    /// for that block's commit, and [`Mempool::put_back`] must not queue them again.
    included: HashSet<Hash>,
}

impl Inner {
    fn insert(&mut self, tx: SignedTx) -> bool {
        match self.ids.entry(tx.id()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                let sender = tx.sender();
                slot.insert((tx.verified_digest(), sender));
                *self.senders.entry(sender).or_default() += 1;
                self.queue.push_back(tx);
                true
            }
        }
    }

    /// Forgets a transaction (committed, dropped or expired); returns its waiters.
    fn remove(&mut self, id: &Hash) -> Option<Vec<oneshot::Sender<Receipt>>> {
        self.included.remove(id);
        if let Some((_, sender)) = self.ids.remove(id)
            && let std::collections::hash_map::Entry::Occupied(mut n) = self.senders.entry(sender)
        {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
        self.waiters.remove(id)
    }
}

/// The commit rate while busy, over the last [`RATE_WINDOW`]: the transactions of the blocks
/// that carried some, over the time each of those blocks took since the previous commit. Empty
/// heartbeat blocks and idle gaps do not dilute it, so a burst after a quiet spell is measured at
/// the rate the chain then commits, not averaged with the silence.
#[derive(Default)]
struct DrainMeter {
    /// (commit time, transactions, time since the previous commit), blocks with transactions only.
    blocks: VecDeque<(Instant, usize, Duration)>,
    last: Option<Instant>,
}

impl DrainMeter {
    fn record(&mut self, now: Instant, txs: usize) {
        let took = self.last.map_or(Duration::ZERO, |l| now.saturating_duration_since(l));
        self.last = Some(now);
        if txs > 0 {
            self.blocks.push_back((now, txs, took));
        }
        while self.blocks.front().is_some_and(|(t, _, _)| now.saturating_duration_since(*t) > RATE_WINDOW) {
            self.blocks.pop_front();
        }
    }

    /// Transactions per second committed while busy (at least half a second of block time is
    /// assumed, so one quick block does not read as a huge rate); `None` when nothing was
    /// committed in the window.
    fn rate(&self, now: Instant) -> Option<f64> {
        let (mut txs, mut took) = (0usize, Duration::ZERO);
        for (_, n, d) in self.blocks.iter().filter(|(t, _, _)| now.saturating_duration_since(*t) <= RATE_WINDOW) {
            txs += n;
            took += *d;
        }
        (txs > 0).then(|| txs as f64 / took.as_secs_f64().max(0.5))
    }
}

/// Signature digests verified in blocks not yet committed (a bounded FIFO set).
#[derive(Default)]
struct VerifiedSet {
    set: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl VerifiedSet {
    fn insert(&mut self, d: Hash) {
        if self.set.insert(d) {
            self.order.push_back(d);
            if self.order.len() > RECENTLY_VERIFIED
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

/// The admission budget of the pool at one instant (see the crate documentation).
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Transactions admitted and not yet committed the pool may hold for clients: four fifths
    /// of the commit rate times the target wait, so that with its reserve (a quarter more) a
    /// full pool waits the target wait, and never less than four fifths of a block, so that
    /// with its reserve a full block's worth can always be admitted.
    limit: usize,
    /// The commit rate used, tx/s.
    rate: f64,
    /// The pool's hard capacity.
    capacity: usize,
}

impl Budget {
    fn new(rate: Option<f64>, target_wait: Duration, block: usize, capacity: usize) -> Self {
        let block = block.max(1);
        let rate = rate.unwrap_or(0.0);
        // The floor applies to the budget with its reserve: a floor of a whole block under the
        // budget alone kept a quarter of a block more waiting than a full block needs, which was
        // 170 ms of latency at the overload p99 on four validators (`docs/benchmarks.md`).
        let floor = block - block / 5;
        // The budget with its reserve holds the target wait: sized by the wait alone, a full
        // pool waited a quarter longer, which put the overload p99 latency over its target.
        let limit = ((rate * target_wait.as_secs_f64() * 0.8) as usize).max(floor).min(capacity);
        Budget { limit, rate: rate.max(block as f64 / 10.0), capacity }
    }

    /// The pool's expected wait with `waiting` transactions, in ms.
    fn wait_ms(&self, waiting: usize) -> u64 {
        (waiting as f64 * 1_000.0 / self.rate) as u64
    }

    /// A refusal with a retry hint: how long the excess over the budget takes to commit (at
    /// least 100 ms, at most 30 s).
    fn refuse(&self, waiting: usize) -> AdmitError {
        if waiting >= self.capacity {
            return AdmitError::Full { capacity: self.capacity };
        }
        let excess = waiting.saturating_sub(self.limit).max(self.limit / 10).max(1);
        AdmitError::Overloaded {
            waiting,
            wait_ms: self.wait_ms(waiting),
            retry_after_ms: self.wait_ms(excess).clamp(100, 30_000),
        }
    }

    /// Whether no client transaction fits any more, whatever its sender: the pool holds the
    /// budget and its reserve (or its capacity).
    fn exhausted(&self, waiting: usize) -> bool {
        waiting >= self.most()
    }

    /// The most client transactions the pool holds: the budget and its reserve, within the
    /// capacity.
    fn most(&self) -> usize {
        (self.limit + self.limit / 4).min(self.capacity)
    }

    /// Whether one more client transaction from a sender with `mine` waiting fits, with
    /// `waiting` in the pool and `senders` distinct senders waiting (this one included).
    fn admits(&self, waiting: usize, mine: usize, senders: usize) -> Fit {
        let share = (self.limit / senders.max(1)).max(FAIR_SHARE_FLOOR);
        if mine >= share {
            return Fit::OverShare;
        }
        // The reserve: a quarter of the budget, for senders below the floor.
        let limit = if mine < FAIR_SHARE_FLOOR { self.limit + self.limit / 4 } else { self.limit };
        if waiting < limit.min(self.capacity) { Fit::Fits } else { Fit::OverBudget }
    }
}

/// Whether a client transaction fits the admission budget ([`Budget::admits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Admitted (its signature is verified next).
    Fits,
    /// Its sender already holds its fair share of the budget.
    OverShare,
    /// The pool holds what the chain commits in the target wait.
    OverBudget,
}

/// Most admission refusals waiting in memory to be stored (the node stores them every second,
/// before every audit query and when it stops). Repeated refusals of one sender for one reason
/// are counted in one record, so only a flood from more distinct senders than this in between
/// loses the oldest, and the loss is logged.
pub const MAX_PENDING_REFUSALS: usize = 10_000;

/// Most senders no member CA vouches for (no certificate, an unknown or a foreign one) that get
/// a record of their own between two stores; the rest count per reason (see `PendingRefusals`).
pub const MAX_UNVOUCHED_RECORDS: usize = 1_000;

/// Most admission refusals kept in the node's store for the audit log (the oldest go first).
pub const MAX_STORED_REFUSALS: u64 = 1_000_000;

/// Transactions refused at admission by the identity rules (revoked, expired, foreign or
/// unknown certificate, frozen or locked account). Such a transaction never reaches a block, so
/// the node keeps the last [`MAX_STORED_REFUSALS`] records in its own store for the audit log
/// (STD-13.4). One record counts the refusals of one sender for one reason between two stores
/// (about a second): a sender resubmitting a refused transaction in a loop adds one record per
/// store, not one per attempt, and cannot push other senders' refusals out of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// When the first of them happened (local clock, ms since the Unix epoch).
    pub time_ms: u64,
    /// When the last of them happened.
    pub last_ms: u64,
    /// How many refusals the record counts (at least 1).
    pub count: u64,
    /// The chain height at the first.
    pub height: u64,
    /// The id of the last refused transaction.
    pub tx_id: Hash,
    /// The signer key's address.
    pub account: Address,
    /// The method the last one called.
    pub method: &'static str,
    /// Why.
    pub code: StatusCode,
}

/// Refusals not yet stored, one record per (sender, reason), oldest first.
#[derive(Default)]
struct PendingRefusals {
    order: VecDeque<(Address, &'static str)>,
    by_key: HashMap<(Address, &'static str), Refusal>,
    /// Refusals lost to an overflow since the last store.
    dropped: u64,
    /// Distinct senders no member CA vouches for, recorded one by one since the last store.
    unvouched: usize,
}

impl PendingRefusals {
    /// The record a refusal counts in: per sender and reason. Where no member CA vouches for
    /// the signer (no certificate, an unknown one, or one that is not a member's), keys cost
    /// nothing to make: beyond [`MAX_UNVOUCHED_RECORDS`] such senders between two stores, the
    /// rest count per reason alone (in a record that keeps its first sender's address), so a
    /// flood from throwaway keys cannot push members' refusals out.
    fn key(&mut self, r: &Refusal) -> (Address, &'static str) {
        let key = (r.account, r.code.as_str());
        let unvouched = matches!(
            r.code,
            StatusCode::CertificateRequired | StatusCode::CertificateUnknown | StatusCode::CertificateInvalid
        );
        if !unvouched || self.by_key.contains_key(&key) {
            return key;
        }
        if self.unvouched < MAX_UNVOUCHED_RECORDS {
            self.unvouched += 1;
            return key;
        }
        (Address([0; 20]), r.code.as_str())
    }

    fn add(&mut self, r: Refusal) {
        let key = self.key(&r);
        if let Some(agg) = self.by_key.get_mut(&key) {
            agg.count = agg.count.saturating_add(r.count);
            agg.last_ms = agg.last_ms.max(r.last_ms);
            agg.tx_id = r.tx_id;
            agg.method = r.method;
            return;
        }
        if self.order.len() >= MAX_PENDING_REFUSALS
            && let Some(oldest) = self.order.pop_front()
        {
            let lost = self.by_key.remove(&oldest).map_or(1, |r| r.count);
            self.dropped = self.dropped.saturating_add(lost);
        }
        self.order.push_back(key);
        self.by_key.insert(key, r);
    }

    fn take(&mut self) -> (Vec<Refusal>, u64) {
        let mut by_key = std::mem::take(&mut self.by_key);
        let batch = self.order.drain(..).filter_map(|k| by_key.remove(&k)).collect();
        self.unvouched = 0;
        (batch, std::mem::take(&mut self.dropped))
    }
}

impl Refusal {
    /// The refusal as an audit record (kind `identity.refused_at_admission`, `local: true`).
    pub fn audit_view(&self) -> fdl_types::api::AuditView {
        fdl_types::api::AuditView {
            height: self.height,
            time_ms: self.time_ms,
            tx: Some(self.tx_id),
            kind: "identity.refused_at_admission".into(),
            account: Some(self.account.to_hex()),
            org: None,
            status: Some(self.code.as_str().into()),
            attrs: vec![
                ("account".into(), self.account.to_hex()),
                ("method".into(), self.method.into()),
                ("reason".into(), self.code.as_str().into()),
                ("count".into(), self.count.to_string()),
                ("last_ms".into(), self.last_ms.to_string()),
            ],
            local: true,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Accepted identities by (certificate hash, signer address), valid for one identity epoch.
type IdentityMemo = HashMap<(Hash, Address), fdl_exec::identity::Admitted>;

/// The mempool.
pub struct Mempool {
    genesis: Arc<Genesis>,
    store: Arc<dyn Store>,
    state: StateDb,
    params: RwLock<ChainParams>,
    /// Accepted identities, with the height they were read at and the identity epoch they hold
    /// for: a sender's later transactions skip the state reads until governance or a revocation
    /// list changes identity state (the epoch moves).
    identity: Mutex<(u64, u64, IdentityMemo)>,
    /// Refusals not yet stored, and how many a flood made the pool drop since the last store.
    refusals: Mutex<PendingRefusals>,
    /// Held while a batch of refusals is taken and stored: a flush that returns has stored every
    /// refusal made before it began (an audit query sees them), and a failed write is retried by
    /// the next flush.
    flush_lock: Mutex<()>,
    config: MempoolConfig,
    height: AtomicU64,
    inner: Mutex<Inner>,
    /// The commit rate, for the admission budget.
    drain: Mutex<DrainMeter>,
    /// Digests verified in blocks not yet committed: a transaction that arrives by another path
    /// meanwhile is not verified again.
    verified: Mutex<VerifiedSet>,
    verifier: VerifyPool,
    /// Signatures this pool verified (admission and blocks).
    verified_total: AtomicU64,
    batch_ready: Notify,
    /// Digests ([`SignedTx::verified_digest`]) of transactions an admission is verifying right
    /// now, with how many admissions verify each: a block that includes one waits for that
    /// verification instead of doing it twice ([`Mempool::verify_block_txs`]).
    in_flight: Mutex<HashMap<Hash, usize>>,
    /// Woken whenever an admission's verification settles (its transactions leave `in_flight`).
    settled: Notify,
}

/// Most time a block's verification waits for admissions verifying some of its transactions
/// before it verifies them itself. The admissions' jobs are ahead of the block's in the
/// verifier's queue, so waiting for them is normally no slower than verifying.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);

/// Transactions an admission is verifying ([`Mempool::in_flight`]), until dropped.
struct InFlight<'a> {
    pool: &'a Mempool,
    digests: Vec<Hash>,
}

impl<'a> InFlight<'a> {
    fn new(pool: &'a Mempool, txs: &[SignedTx]) -> Self {
        let digests: Vec<Hash> = txs.iter().map(SignedTx::verified_digest).collect();
        if digests.is_empty() {
            return InFlight { pool, digests };
        }
        let mut m = pool.in_flight.lock();
        for d in &digests {
            *m.entry(*d).or_default() += 1;
        }
        InFlight { pool, digests }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.digests.is_empty() {
            return;
        }
        {
            let mut m = self.pool.in_flight.lock();
            for d in &self.digests {
                if let std::collections::hash_map::Entry::Occupied(mut e) = m.entry(*d) {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
        }
        self.pool.settled.notify_waiters();
    }
}

impl Mempool {
    /// A pool for the chain of `genesis`, checking replays against `store`.
    ///
    /// # Errors
    /// [`AdmitError::Internal`] if the store cannot report its height.
    pub fn new(genesis: Arc<Genesis>, store: Arc<dyn Store>, config: MempoolConfig) -> Result<Self, AdmitError> {
        let height = store.latest_height().map_err(|e| AdmitError::Internal(e.to_string()))?;
        let verifier = VerifyPool::new(config.verify_threads, config.verify_queue);
        let state = StateDb::new(store.clone(), genesis.suite);
        let params = Self::read_params(&state, height).unwrap_or_else(|| genesis.params.clone());
        Ok(Mempool {
            genesis,
            store,
            state,
            params: RwLock::new(params),
            identity: Mutex::new((height, u64::MAX, HashMap::new())),
            refusals: Mutex::new(PendingRefusals::default()),
            flush_lock: Mutex::new(()),
            config,
            height: AtomicU64::new(height),
            inner: Mutex::new(Inner::default()),
            drain: Mutex::new(DrainMeter::default()),
            verified: Mutex::new(VerifiedSet::default()),
            verifier,
            verified_total: AtomicU64::new(0),
            batch_ready: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            settled: Notify::new(),
        })
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Transactions admitted and not yet committed: those waiting, those taken into a proposal
    /// and those a decided block includes. A new transaction commits after all of them, so the
    /// admission budget counts them all (see the crate documentation).
    pub fn pending(&self) -> usize {
        self.inner.lock().ids.len()
    }

    /// The pool's capacity.
    pub fn capacity(&self) -> usize {
        self.config.capacity
    }

    /// Whether `id` is waiting in the pool (or taken into a block not yet committed).
    pub fn contains(&self, id: &Hash) -> bool {
        self.inner.lock().ids.contains_key(id)
    }

    /// Resolves when a full block's worth of transactions is waiting.
    pub async fn batch_ready(&self) {
        self.batch_ready.notified().await;
    }

    /// Admits one encoded transaction.
    ///
    /// # Errors
    /// The [`AdmitError`] that applies.
    pub async fn admit(&self, bytes: &[u8]) -> Result<Hash, AdmitError> {
        self.admit_many(&[bytes]).await.into_iter().next().unwrap_or(Err(AdmitError::Internal("no verdict".into())))
    }

    /// Admits many encoded transactions from a client with one verification job; one verdict
    /// each, in order.
    pub async fn admit_many(&self, raw: &[&[u8]]) -> Vec<Result<Hash, AdmitError>> {
        self.admit_many_from(raw, Source::Client).await
    }

    /// The admission budget now: four fifths of the measured commit rate times the target wait.
    fn budget(&self) -> Budget {
        let rate = self.drain.lock().rate(Instant::now());
        Budget::new(rate, self.config.target_wait, self.params.read().max_block_txs as usize, self.config.capacity)
    }

    /// The pool's expected wait at the measured commit rate, in ms (a gauge for operators).
    pub fn expected_wait_ms(&self) -> u64 {
        self.budget().wait_ms(self.pending())
    }

    /// The refusal every client transaction meets while the pool holds its budget and the
    /// reserve: no sender can fit, so nothing needs decoding to know it.
    fn refusal_before_decoding(&self) -> Option<AdmitError> {
        let budget = self.budget();
        let waiting = self.pending();
        budget.exhausted(waiting).then(|| budget.refuse(waiting))
    }

    /// Refuses, in place, the candidates over the admission budget (clients only; cheap: no
    /// signature has been checked yet).
    ///
    /// A request that does not fit the budget whole is refused whole: admitting part of it would
    /// hold its refusals until the admitted part's signatures are verified, on cores that are
    /// saturated exactly when the pool is over budget, and excess must be refused at once. Only a
    /// sender over its fair share is refused alone, so one flooding sender in a gateway's batch
    /// does not shut out the batch's other senders; and a request larger than the pool could ever
    /// hold for clients gets what fits, or it would never get in.
    fn apply_budget(
        &self,
        candidates: Vec<(usize, SignedTx)>,
        verdicts: &mut [Result<Hash, AdmitError>],
    ) -> Vec<(usize, SignedTx)> {
        let budget = self.budget();
        let never_whole = candidates.len() > budget.most();
        let inner = self.inner.lock();
        let mut waiting = inner.ids.len();
        let mut extra: HashMap<Address, usize> = HashMap::new();
        let mut kept = Vec::with_capacity(candidates.len());
        let mut over_budget: Option<AdmitError> = None;
        for (i, tx) in candidates {
            let sender = tx.sender();
            let held = inner.senders.get(&sender).copied().unwrap_or(0);
            let mine = held + extra.get(&sender).copied().unwrap_or(0);
            let senders = inner.senders.len()
                + extra.keys().filter(|a| !inner.senders.contains_key(a)).count()
                + usize::from(mine == 0);
            match budget.admits(waiting, mine, senders) {
                Fit::Fits => {
                    waiting += 1;
                    *extra.entry(sender).or_default() += 1;
                    kept.push((i, tx));
                }
                Fit::OverShare => verdicts[i] = Err(budget.refuse(waiting)),
                Fit::OverBudget => {
                    let refusal = over_budget.get_or_insert_with(|| budget.refuse(waiting));
                    verdicts[i] = Err(refusal.clone());
                }
            }
        }
        if let Some(refusal) = over_budget.filter(|_| !never_whole) {
            for (i, _) in kept.drain(..) {
                verdicts[i] = Err(refusal.clone());
            }
        }
        kept
    }

    /// Admits many encoded transactions from `source` with one verification job; one verdict
    /// each, in order.
    pub async fn admit_many_from(&self, raw: &[&[u8]], source: Source) -> Vec<Result<Hash, AdmitError>> {
        if source == Source::Client
            && let Some(refusal) = self.refusal_before_decoding()
        {
            // Nothing of this request can fit: refused whole before anything is decoded or
            // hashed, so a client retrying a refused batch costs the node next to nothing.
            return vec![Err(refusal); raw.len()];
        }
        let next_height = self.height.load(Ordering::Acquire).saturating_add(1);
        let mut verdicts: Vec<Result<Hash, AdmitError>> = Vec::with_capacity(raw.len());
        let mut candidates: Vec<(usize, SignedTx)> = Vec::new();
        for (i, bytes) in raw.iter().enumerate() {
            match self.precheck(bytes, next_height) {
                Ok(tx) => {
                    verdicts.push(Ok(tx.id()));
                    candidates.push((i, tx));
                }
                Err(e) => verdicts.push(Err(e)),
            }
        }
        if source == Source::Client && !candidates.is_empty() {
            candidates = self.apply_budget(candidates, &mut verdicts);
        }
        if candidates.is_empty() {
            return verdicts;
        }
        if self.len().saturating_add(candidates.len()) > self.config.capacity {
            for (i, _) in &candidates {
                verdicts[*i] = Err(AdmitError::Full { capacity: self.config.capacity });
            }
            return verdicts;
        }
        // Signatures this node already verified in a block are not verified again.
        let known: Vec<bool> = {
            let v = self.verified.lock();
            candidates.iter().map(|(_, t)| !v.set.is_empty() && v.set.contains(&t.verified_digest())).collect()
        };
        let txs: Vec<SignedTx> =
            candidates.iter().zip(&known).filter(|(_, k)| !**k).map(|((_, t), _)| t.clone()).collect();
        // Until this admission has settled (its transactions pooled or refused), a block
        // including them waits for this verification rather than repeating it.
        let _in_flight = InFlight::new(self, &txs);
        let checked = if txs.is_empty() {
            Vec::new()
        } else {
            self.verified_total.fetch_add(txs.len() as u64, Ordering::Relaxed);
            let Some(ok) = self.verifier.verify(txs).await else {
                for (i, _) in &candidates {
                    verdicts[*i] = Err(AdmitError::Full { capacity: self.config.capacity });
                }
                return verdicts;
            };
            ok
        };
        let mut checked = checked.into_iter();
        let ok: Vec<bool> = known.iter().map(|k| *k || checked.next().unwrap_or(false)).collect();
        // Only signed transactions reach the identity check (and its audit record); it reads
        // state, so it runs before the pool's lock is taken.
        let checked: Vec<((usize, SignedTx), Result<(), AdmitError>)> = candidates
            .into_iter()
            .zip(ok)
            .map(|((i, tx), good)| {
                let v = if good {
                    self.check_identity(&tx, next_height)
                } else {
                    Err(AdmitError::Rejected(TxRejection::BadSignature))
                };
                ((i, tx), v)
            })
            .collect();
        let mut ready = false;
        {
            let mut inner = self.inner.lock();
            for ((i, tx), v) in checked {
                if let Err(e) = v {
                    verdicts[i] = Err(e);
                } else if inner.queue.len() >= self.config.capacity {
                    verdicts[i] = Err(AdmitError::Full { capacity: self.config.capacity });
                } else if !inner.insert(tx) {
                    verdicts[i] = Err(AdmitError::AlreadyPending);
                }
            }
            if inner.queue.len() >= self.params.read().max_block_txs as usize {
                ready = true;
            }
        }
        if ready {
            self.batch_ready.notify_one();
        }
        verdicts
    }

    fn precheck(&self, bytes: &[u8], next_height: u64) -> Result<SignedTx, AdmitError> {
        let params = self.params.read().clone();
        // Only a transaction carrying contract code may exceed `max_tx_bytes` (ADR 0013); the
        // payload-specific bound is checked right after decoding.
        let limit = fdl_types::block::MAX_TX_BYTES_HARD.max(params.max_tx_bytes as usize);
        let too_large = |limit: usize| TxRejection::TooLarge { size: bytes.len(), limit };
        if bytes.len() > limit {
            return Err(too_large(limit).into());
        }
        let tx = match SignedTx::decode(bytes) {
            Ok(tx) => tx,
            // Over `max_tx_bytes` and not a transaction: refused for its size, as before contracts.
            Err(_) if bytes.len() > params.max_tx_bytes as usize => {
                return Err(too_large(params.max_tx_bytes as usize).into());
            }
            Err(e) => return Err(e.into()),
        };
        check_tx_for_block(&tx, bytes.len(), &self.genesis, &params, next_height)?;
        if let fdl_types::Payload::Call { args, .. } = &tx.body.payload {
            check_args(args)?;
        }
        if self.contains(&tx.id()) {
            return Err(AdmitError::AlreadyPending);
        }
        match self.store.tx_location(&tx.id()) {
            Ok(Some(_)) => return Err(TxRejection::Replayed.into()),
            Ok(None) => {}
            Err(e) => return Err(AdmitError::Internal(e.to_string())),
        }
        Ok(tx)
    }

    /// The identity rules against the latest committed state and the local clock (STD-13.1,
    /// 13.3): a registered or carried certificate from a member CA, in its validity period, not
    /// revoked, for an account neither frozen nor locked. Refusals are kept for the audit log.
    fn check_identity(&self, tx: &SignedTx, next_height: u64) -> Result<(), AdmitError> {
        let version = next_height.saturating_sub(1);
        let now = now_ms();
        let key =
            (tx.body.credential.cert_hash(tx.body.signer.suite()).unwrap_or(Hash::ZERO), tx.body.signer.address());
        let view = self.state.at(version);
        let memo = {
            let mut guard = self.identity.lock();
            if guard.0 != version {
                let epoch = fdl_exec::identity::epoch(&view).map_err(|e| AdmitError::Internal(e.to_string()))?;
                if epoch != guard.1 {
                    guard.2.clear();
                }
                guard.0 = version;
                guard.1 = epoch;
            }
            guard.2.get(&key).copied()
        };
        let verdict = match memo {
            // The memo holds until the epoch moves; validity and the lock window are re-checked.
            Some(a) if now / 1000 > a.not_after => Err(StatusCode::CertificateExpired),
            Some(a) if next_height < a.locked_until => Err(StatusCode::AccountLocked),
            Some(_) => Ok(()),
            None => {
                // State reads happen outside the lock: admission runs on many API threads.
                let mut cache = IdentityCache::default();
                let v = fdl_exec::identity::check_credential(&view, &mut cache, tx, now, next_height)
                    .map_err(|e| AdmitError::Internal(e.to_string()))?;
                // Only certificates already registered on chain: a carried certificate is accepted
                // here, but a later hash-only transaction must wait until it is registered.
                if let Ok(a) = v
                    && a.registered
                {
                    let mut guard = self.identity.lock();
                    if guard.0 == version {
                        guard.2.insert(key, a);
                    }
                }
                v.map(|_| ())
            }
        };
        if let Err(code) = verdict {
            self.refusals.lock().add(Refusal {
                time_ms: now,
                last_ms: now,
                count: 1,
                height: version,
                tx_id: tx.id(),
                account: tx.body.signer.address(),
                method: tx.body.payload.method(),
                code,
            });
            // Per transaction at debug level: a flood of refused transactions must not flood the
            // log too. Each stored batch is counted at info level.
            tracing::debug!(tx = %tx.id(), account = %tx.body.signer.address(), code = code.as_str(), "transaction refused at admission");
            return Err(TxRejection::Refused(code).into());
        }
        Ok(())
    }

    /// Stores the admission refusals kept in memory since the last call (in the node's own
    /// store, not on chain: [`Store::local_audit`] reads them back, oldest first).
    ///
    /// # Errors
    /// The store's failure; the refusals are then kept for the next call.
    pub fn flush_refusals(&self) -> Result<(), fdl_storage::StorageError> {
        let _flushing = self.flush_lock.lock();
        let (batch, dropped) = {
            let mut r = self.refusals.lock();
            if r.order.is_empty() {
                return Ok(());
            }
            r.take()
        };
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "admission refusals arrived faster than they could be stored; the oldest were dropped"
            );
        }
        let records: Vec<(u64, fdl_storage::AuditWrite)> = batch
            .iter()
            .filter_map(|r| {
                let view = r.audit_view();
                let record = serde_json::to_vec(&view).ok()?;
                Some((r.time_ms, fdl_storage::AuditWrite { keys: view.index_keys(), record }))
            })
            .collect();
        if let Err(e) = self.store.append_local_audit(&records, MAX_STORED_REFUSALS) {
            // Kept for the next call (merged with the newer ones), within the bound.
            let mut r = self.refusals.lock();
            let mut newer = std::mem::take(&mut *r);
            for old in batch {
                r.add(old);
            }
            let (newer_batch, newer_dropped) = newer.take();
            for n in newer_batch {
                r.add(n);
            }
            r.dropped = r.dropped.saturating_add(dropped).saturating_add(newer_dropped);
            return Err(e);
        }
        tracing::info!(refusals = records.len(), "admission refusals stored in the audit log");
        Ok(())
    }

    /// The chain parameters in force (read from state after every block).
    pub fn params(&self) -> ChainParams {
        self.params.read().clone()
    }

    fn read_params(state: &StateDb, height: u64) -> Option<ChainParams> {
        let view = state.at(height);
        fdl_exec::gov::params(&view).ok()
    }

    /// Takes up to `max` transactions for a block at `height`, oldest first, dropping expired
    /// ones. Taken transactions stay known to the pool (for replay checks and waiters) until
    /// [`Mempool::on_committed`].
    pub fn take_batch(&self, max: usize, height: u64) -> Vec<SignedTx> {
        let mut inner = self.inner.lock();
        let mut out = Vec::with_capacity(max.min(inner.queue.len()));
        while out.len() < max {
            let Some(tx) = inner.queue.pop_front() else { break };
            if tx.body.expiry_height < height {
                inner.remove(&tx.id());
                continue;
            }
            out.push(tx);
        }
        out
    }

    /// Returns transactions that were taken but not included (e.g. a failed proposal) to the
    /// front of the queue.
    pub fn put_back(&self, txs: Vec<SignedTx>) {
        let mut inner = self.inner.lock();
        for tx in txs.into_iter().rev() {
            // Only transactions still pending go back: one committed or dropped meanwhile is gone,
            // and one a decided block includes waits for that block's commit (queued again, it
            // could be dropped as expired and its waiter told so although the block holds it).
            let id = tx.id();
            if inner.ids.contains_key(&id) && !inner.included.contains(&id) {
                inner.queue.push_front(tx);
            }
        }
    }

    /// Forgets transactions a block builder dropped as invalid at its height (expired, already
    /// included, duplicated), closing their waiters, so they do not stay "pending" forever.
    pub fn forget(&self, ids: &[Hash]) {
        if ids.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        for id in ids {
            inner.remove(id);
        }
    }

    /// Checks the signatures of a block's transactions, once per node: a transaction whose exact
    /// bytes (body, credential form and signature, see [`SignedTx::verified_digest`]) this pool
    /// already verified at admission is not verified again; the rest
    /// are verified on the pool's threads, off the async runtime. Returns the indexes of the
    /// transactions whose signatures fail (empty when the block's signatures are all good) and
    /// how many were actually checked.
    ///
    /// # Errors
    /// [`AdmitError::Full`] when the verifier queue is full (the caller retries).
    pub async fn verify_block_txs(&self, txs: &[SignedTx]) -> Result<BlockSigReport, AdmitError> {
        let not_yet_verified = |only: &[usize]| -> Vec<usize> {
            let inner = self.inner.lock();
            let verified = self.verified.lock();
            only.iter()
                .copied()
                .filter(|&i| {
                    let d = txs[i].verified_digest();
                    inner.ids.get(&txs[i].id()).is_none_or(|(v, _)| *v != d) && !verified.set.contains(&d)
                })
                .collect()
        };
        let mut unchecked = not_yet_verified(&(0..txs.len()).collect::<Vec<_>>());
        if self.wait_for_admissions(txs, &unchecked).await {
            // Those admissions have settled: what they verified and pooled needs no second check.
            unchecked = not_yet_verified(&unchecked);
        }
        if unchecked.is_empty() {
            return Ok(BlockSigReport { bad: vec![], checked: 0 });
        }
        let batch: Vec<SignedTx> = unchecked.iter().map(|&i| txs[i].clone()).collect();
        self.verified_total.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let verdicts = self.verifier.verify(batch).await.ok_or(AdmitError::Full { capacity: self.config.capacity })?;
        {
            let mut verified = self.verified.lock();
            for (&i, _) in unchecked.iter().zip(&verdicts).filter(|(_, ok)| **ok) {
                verified.insert(txs[i].verified_digest());
            }
        }
        let bad = unchecked.iter().zip(verdicts).filter(|(_, ok)| !ok).map(|(&i, _)| i).collect();
        Ok(BlockSigReport { bad, checked: unchecked.len() })
    }

    /// Waits (at most [`IN_FLIGHT_WAIT`]) until no admission is verifying any of `txs[which]`.
    /// Returns whether there was any to wait for. A peer's forwarded copy of a transaction often
    /// arrives just before the block that includes it; verifying it twice, on cores already
    /// saturated, is what this avoids.
    async fn wait_for_admissions(&self, txs: &[SignedTx], which: &[usize]) -> bool {
        let deadline = tokio::time::Instant::now() + IN_FLIGHT_WAIT;
        let mut waited = false;
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Registered before the check, so a settlement between the check and the wait is not missed.
            settled.as_mut().enable();
            let busy = {
                let m = self.in_flight.lock();
                !m.is_empty() && which.iter().any(|&i| m.contains_key(&txs[i].verified_digest()))
            };
            if !busy {
                return waited;
            }
            waited = true;
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return true;
            }
        }
    }

    /// Takes a decided block's transactions out of the queue, so the next block does not take
    /// them again while this one is written; they stay known (for replay checks and waiters)
    /// until [`Mempool::on_committed`].
    pub fn on_included(&self, txs: &[SignedTx]) {
        if txs.is_empty() {
            return;
        }
        let ids: HashSet<Hash> = txs.iter().map(SignedTx::id).collect();
        let mut inner = self.inner.lock();
        if inner.queue.iter().any(|t| ids.contains(&t.id())) {
            inner.queue.retain(|t| !ids.contains(&t.id()));
        }
        // Only pending ones are remembered: their commit forgets them again, so the set stays
        // within the pool's capacity.
        let Inner { ids: pending, included, .. } = &mut *inner;
        included.extend(ids.into_iter().filter(|id| pending.contains_key(id)));
    }

    /// Records a committed block: forgets its transactions and hands their receipts to waiters.
    pub fn on_committed(&self, height: u64, receipts: &[Receipt]) {
        if let Some(p) = Self::read_params(&self.state, height) {
            *self.params.write() = p;
        }
        self.height.store(height, Ordering::Release);
        self.drain.lock().record(Instant::now(), receipts.len());
        let mut inner = self.inner.lock();
        for r in receipts {
            if let Some(ws) = inner.remove(&r.tx_id) {
                for w in ws {
                    let _ = w.send(r.clone());
                }
            }
        }
        if !receipts.is_empty() {
            // Under BFT another node's block may include transactions still queued here.
            let Inner { queue, ids, .. } = &mut *inner;
            queue.retain(|tx| ids.contains_key(&tx.id()));
        }
    }

    /// Registers interest in a transaction's receipt. The receiver yields the receipt when the
    /// transaction is committed; it is closed if the transaction is dropped (expired). Callers
    /// must check the store after registering, in case it committed just before.
    pub fn subscribe(&self, id: Hash) -> oneshot::Receiver<Receipt> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock();
        // Not pending any more (committed or dropped): a closed receiver, not a waiter that
        // nothing will ever wake.
        if inner.ids.contains_key(&id) {
            inner.waiters.entry(id).or_default().push(tx);
        }
        rx
    }

    /// How many transactions admissions are verifying right now.
    pub fn verifying(&self) -> usize {
        self.in_flight.lock().len()
    }

    /// How many signatures this pool has verified (at admission and in blocks).
    pub fn signatures_verified(&self) -> u64 {
        self.verified_total.load(Ordering::Relaxed)
    }

    /// Latest committed height known to the pool.
    pub fn height(&self) -> u64 {
        self.height.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_rate_counts_busy_blocks_only() {
        let t0 = Instant::now();
        let mut m = DrainMeter::default();
        assert_eq!(m.rate(t0), None);
        // Idle heartbeats, then a burst: 5,000 per block every 250 ms.
        for i in 0..8 {
            m.record(t0 + Duration::from_secs(i), 0);
        }
        assert_eq!(m.rate(t0 + Duration::from_secs(8)), None);
        for i in 1..=8 {
            m.record(t0 + Duration::from_secs(7) + Duration::from_millis(250 * i), 5_000);
        }
        let r = m.rate(t0 + Duration::from_secs(9)).expect("busy");
        assert!((19_000.0..=21_000.0).contains(&r), "{r}");
        // Beyond the window it is forgotten.
        m.record(t0 + Duration::from_secs(30), 0);
        assert_eq!(m.rate(t0 + Duration::from_secs(30)), None);
    }

    #[test]
    fn the_budget_with_its_reserve_is_the_rate_times_the_wait_and_at_least_a_block() {
        let b = Budget::new(Some(20_000.0), Duration::from_millis(1_000), 5_000, 50_000);
        assert_eq!((b.limit, b.most()), (16_000, 20_000), "with its reserve, the target wait");
        let b = Budget::new(None, Duration::from_millis(1_000), 5_000, 50_000);
        assert_eq!((b.limit, b.most()), (4_000, 5_000), "with its reserve, one block");
        let b = Budget::new(Some(4_400.0), Duration::from_millis(1_000), 5_000, 50_000);
        assert_eq!((b.limit, b.most()), (4_000, 5_000), "the floor: a block with its reserve");
        let b = Budget::new(Some(7_000.0), Duration::from_millis(1_000), 5_000, 50_000);
        assert_eq!((b.limit, b.most()), (5_600, 7_000));
        let b = Budget::new(Some(1e9), Duration::from_millis(1_000), 5_000, 50_000);
        assert_eq!(b.limit, 50_000, "never above the capacity");
        // A lone sender may take the budget; with others waiting, a share; small senders a reserve.
        let b = Budget::new(Some(1_250.0), Duration::from_millis(1_000), 100, 50_000);
        assert_eq!(b.admits(999, 999, 1), Fit::Fits);
        assert_eq!(b.admits(1_000, 999, 1), Fit::OverBudget);
        assert_eq!(b.admits(500, 500, 2), Fit::OverShare, "over half the budget with two senders");
        assert_eq!(b.admits(1_100, 10, 3), Fit::Fits, "a small sender uses the reserve");
        assert_eq!(b.admits(1_250, 10, 3), Fit::OverBudget, "the reserve is a quarter of the budget");
        match b.refuse(1_200) {
            AdmitError::Overloaded { waiting, wait_ms, retry_after_ms } => {
                assert_eq!((waiting, wait_ms), (1_200, 960));
                assert_eq!(retry_after_ms, 160, "the excess over the budget at the rate");
            }
            other => panic!("{other:?}"),
        }
    }

    fn refusal(account: u8, code: StatusCode, t: u64) -> Refusal {
        Refusal {
            time_ms: t,
            last_ms: t,
            count: 1,
            height: 3,
            tx_id: Hash([account; 32]),
            account: Address([account; 20]),
            method: "bank.transfer",
            code,
        }
    }

    #[test]
    fn repeated_refusals_of_a_sender_for_a_reason_are_counted_in_one_record() {
        let mut p = PendingRefusals::default();
        for t in 0..100_000 {
            p.add(refusal(1, StatusCode::CertificateRequired, 1_000 + t));
        }
        p.add(refusal(2, StatusCode::CertificateRevoked, 5_000));
        p.add(refusal(1, StatusCode::AccountFrozen, 6_000));
        let (batch, dropped) = p.take();
        assert_eq!(dropped, 0);
        assert_eq!(batch.len(), 3, "{batch:?}");
        assert_eq!((batch[0].count, batch[0].time_ms, batch[0].last_ms), (100_000, 1_000, 100_999));
        assert_eq!((batch[1].account, batch[1].count), (Address([2; 20]), 1));
        assert_eq!((batch[2].code, batch[2].count), (StatusCode::AccountFrozen, 1));
        let view = batch[0].audit_view();
        assert!(view.attrs.contains(&("count".into(), "100000".into())), "{view:?}");
        assert_eq!(p.take().0.len(), 0, "taken once");
    }

    /// Keys are free to make: refusals of signers no member CA vouches for count per reason,
    /// so a flood from fresh keys leaves a member's genuine refusal in the log.
    #[test]
    fn a_flood_from_throwaway_keys_does_not_push_out_a_members_refusal() {
        let mut p = PendingRefusals::default();
        p.add(refusal(200, StatusCode::CertificateRevoked, 1));
        let codes = [StatusCode::CertificateRequired, StatusCode::CertificateUnknown, StatusCode::CertificateInvalid];
        for i in 0..100_000u32 {
            let mut r = refusal(1, codes[i as usize % 3], 2 + u64::from(i));
            r.account.0[..4].copy_from_slice(&i.to_be_bytes());
            p.add(r);
        }
        let (batch, dropped) = p.take();
        assert_eq!(dropped, 0, "nothing lost");
        assert_eq!(batch.len(), 1 + MAX_UNVOUCHED_RECORDS + 3, "beyond the budget, one record per reason");
        assert_eq!((batch[0].account, batch[0].code), (Address([200; 20]), StatusCode::CertificateRevoked));
        assert_eq!(batch[1..].iter().map(|r| r.count).sum::<u64>(), 100_000);
        assert_eq!(p.take().0.len(), 0);
        // The budget starts again after a store.
        p.add(refusal(9, StatusCode::CertificateRequired, 1));
        assert_eq!(p.unvouched, 1);
    }

    #[test]
    fn only_more_distinct_senders_than_the_bound_drop_the_oldest() {
        let mut p = PendingRefusals::default();
        for i in 0..MAX_PENDING_REFUSALS as u32 + 2 {
            let mut r = refusal(0, StatusCode::CertificateRevoked, u64::from(i));
            r.account.0[..4].copy_from_slice(&i.to_be_bytes());
            r.count = 2;
            p.add(r);
        }
        let (batch, dropped) = p.take();
        assert_eq!(batch.len(), MAX_PENDING_REFUSALS);
        assert_eq!(dropped, 4, "two records of two refusals each");
        assert_eq!(batch[0].time_ms, 2, "the oldest went first");
    }
}
