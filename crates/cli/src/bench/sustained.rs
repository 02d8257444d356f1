//! `fdl bench --duration S --rate R`: a sustained load, offered at R tx/s for S seconds.
//!
//! A refused transaction (`mempool_full` or `overloaded`, per transaction in a batch answer or
//! for the whole request with HTTP 429) is not retried: it counts as refused, with the time its
//! answer took. Replay protection in this chain is by transaction id and expiry, not by
//! per-account sequence numbers (`TxBody::nonce` in `crates/types/src/tx.rs` only makes bodies
//! differ), so a refused transaction blocks nothing its account sends later.
//!
//! The transfers are signed by background threads into a bounded queue that is filled before
//! the clock starts: up to `--presign-max` transactions, so a run of R×S at most that is signed
//! entirely ahead and the signer takes no CPU from the nodes during it. Beyond that the threads
//! keep signing during the run, and a batch whose slot comes before its transactions are signed
//! is counted (`sign_starved_batches`): the offered rate then falls short of the intended one,
//! and the record says by how much.
//!
//! The run is cut into windows of [`WINDOW_S`] seconds by submission time; each window's line is
//! printed on stderr [`LIVE_DELAY`] after it closes, so most of its transactions have committed
//! by then, and the final record recomputes them once the drain is over.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use fdl_crypto::{Hash, KeyPair};
use fdl_sdk::{Client, SdkError, build_certified_tx};
use fdl_types::{SignedTx, api::StreamMessageView};
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::{Mode, credential, percentile};

/// The length of a reporting window, in seconds.
pub(super) const WINDOW_S: f64 = 10.0;
/// How long after a window closes its line is printed on stderr.
const LIVE_DELAY: Duration = Duration::from_secs(5);
/// The drain after the run ends once no admitted transaction has been seen committed for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(15);
/// A batch sent this long after its slot is late: every client was still waiting for an answer.
const LATE: Duration = Duration::from_millis(100);
/// The answers that mean "the node is full or overloaded": the transaction is refused, not retried.
const REFUSAL_CODES: [&str; 2] = ["mempool_full", "overloaded"];

/// What became of one offered transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Fate {
    /// Admitted, and seen committed this many seconds after the start of the run (if it was).
    Admitted {
        /// When its block arrived on the stream, in seconds from the start.
        committed_s: Option<f64>,
    },
    /// Refused as `mempool_full` or `overloaded`; the answer took this many milliseconds.
    Refused {
        /// From sending the request to its answer.
        answer_ms: f64,
    },
    /// Refused for another reason, or the request failed.
    Failed,
}

/// One offered transaction: when it was sent, in seconds from the start of the run, and its fate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Offer {
    /// When its request was sent.
    pub sent_s: f64,
    /// What became of it.
    pub fate: Fate,
}

/// One window of the run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Window {
    /// Its start, in seconds from the start of the run.
    pub start_s: f64,
    /// Its end.
    pub end_s: f64,
    /// Transactions sent in it.
    pub offered: usize,
    /// Of those, admitted.
    pub admitted: usize,
    /// Of those, refused as full or overloaded.
    pub refused: usize,
    /// Of those, refused otherwise or lost to a failed request.
    pub failed: usize,
    /// Of those admitted, seen committed (at any time).
    pub committed: usize,
    /// Admitted transactions (of any window) seen committed during this window, per second.
    pub committed_tps: f64,
    /// Median submit-to-commit latency of this window's committed transactions, in ms.
    pub latency_ms_p50: f64,
    /// Their 99th percentile.
    pub latency_ms_p99: f64,
}

impl Window {
    /// The window as a JSON object (rates rounded to 1 tx/s, latencies to 0.1 ms).
    pub(super) fn to_json(&self) -> Value {
        let span = (self.end_s - self.start_s).max(1e-9);
        json!({
            "start_s": self.start_s,
            "end_s": self.end_s,
            "offered": self.offered,
            "offered_tps": (self.offered as f64 / span).round(),
            "admitted": self.admitted,
            "refused": self.refused,
            "failed": self.failed,
            "committed": self.committed,
            "committed_tps": self.committed_tps.round(),
            "latency_ms_p50": round1(self.latency_ms_p50),
            "latency_ms_p99": round1(self.latency_ms_p99),
        })
    }

    /// The window's line on stderr.
    fn line(&self) -> String {
        let span = (self.end_s - self.start_s).max(1e-9);
        format!(
            "bench: [{:>4.0}-{:>4.0} s] offered {:>6.0}/s  admitted {:>7}  refused {:>7}  failed {:>4}  \
             committed {:>6.0}/s  latency p50 {:>6.0} ms  p99 {:>6.0} ms",
            self.start_s,
            self.end_s,
            self.offered as f64 / span,
            self.admitted,
            self.refused,
            self.failed,
            self.committed_tps,
            self.latency_ms_p50,
            self.latency_ms_p99,
        )
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The window `[start_s, end_s)`: counts of the transactions sent in it, their latencies, and the
/// commits (of admitted transactions sent at any time) that fell in it.
pub(super) fn window(offers: &[Offer], start_s: f64, end_s: f64) -> Window {
    let inside = |t: f64| t >= start_s && t < end_s;
    let mut w = Window {
        start_s,
        end_s,
        offered: 0,
        admitted: 0,
        refused: 0,
        failed: 0,
        committed: 0,
        committed_tps: 0.0,
        latency_ms_p50: 0.0,
        latency_ms_p99: 0.0,
    };
    let mut lat = Vec::new();
    let mut commits_here = 0usize;
    for o in offers {
        if let Fate::Admitted { committed_s: Some(c) } = o.fate
            && inside(c)
        {
            commits_here += 1;
        }
        if !inside(o.sent_s) {
            continue;
        }
        w.offered += 1;
        match o.fate {
            Fate::Admitted { committed_s } => {
                w.admitted += 1;
                if let Some(c) = committed_s {
                    w.committed += 1;
                    lat.push((c - o.sent_s).max(0.0) * 1_000.0);
                }
            }
            Fate::Refused { .. } => w.refused += 1,
            Fate::Failed => w.failed += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    w.committed_tps = commits_here as f64 / (end_s - start_s).max(1e-9);
    w.latency_ms_p50 = percentile(&lat, 0.50);
    w.latency_ms_p99 = percentile(&lat, 0.99);
    w
}

/// The run `[0, run_s)` cut into windows of `window_s` (the last one shorter when `run_s` is not
/// a multiple of it).
pub(super) fn windows(offers: &[Offer], run_s: f64, window_s: f64) -> Vec<Window> {
    let n = (run_s / window_s).ceil().max(0.0) as usize;
    (0..n).map(|k| window(offers, k as f64 * window_s, ((k + 1) as f64 * window_s).min(run_s))).collect()
}

/// What a sustained run needs from the common setup.
pub(super) struct Setup {
    /// The funded (and, with certificates, registered) sending accounts.
    pub keys: Arc<Vec<KeyPair>>,
    /// Their certificates, if the chain requires them.
    pub certs: Arc<Option<Vec<Vec<u8>>>>,
    /// The chain id.
    pub chain_id: String,
    /// The expiry height of every transfer.
    pub expiry: u64,
    /// What the transfers are.
    pub mode: Mode,
    /// The APIs the clients spread over.
    pub targets: Vec<Client>,
    /// The WebSocket stream that timestamps commits.
    pub ws_url: String,
    /// Offered load, tx/s.
    pub rate: f64,
    /// Length of the run, seconds.
    pub duration_s: f64,
    /// Transactions per request.
    pub batch: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Most transactions signed ahead of the clock (and held in memory).
    pub presign_max: usize,
    /// Longest drain wait after the run.
    pub timeout: Duration,
}

/// A transaction as sent: its id, when, and the verdict.
struct Sent {
    id: Hash,
    at: Instant,
    verdict: Verdict,
}

enum Verdict {
    Admitted,
    Refused(f64),
    Failed,
}

/// Counters the clients share.
#[derive(Default)]
struct Counters {
    sign_starved_batches: AtomicU64,
    sign_starved_us: AtomicU64,
    late_batches: AtomicU64,
    refused_requests: AtomicU64,
    stream_lagged_blocks: AtomicU64,
    failure_noted: AtomicBool,
}

/// What the run measured, for the record.
pub(super) struct Outcome {
    /// The record's fields.
    pub fields: Map<String, Value>,
    /// Transactions admitted but never seen committed, plus failed ones.
    pub unfinished: usize,
    /// The first admitted transaction seen committed (its receipt gives a contract call's fuel).
    pub first_committed: Option<Hash>,
}

/// Signs `total` transfers on every core into `tx`, `batch` at a time; counts them in `signed`.
fn spawn_signers(
    s: &Setup,
    total: usize,
    tx: mpsc::Sender<Vec<SignedTx>>,
    signed: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<anyhow::Result<()>>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let next = Arc::new(AtomicUsize::new(0));
    let batches = total.div_ceil(s.batch);
    (0..threads)
        .map(|_| {
            let (keys, certs, chain_id, mode) = (s.keys.clone(), s.certs.clone(), s.chain_id.clone(), s.mode.clone());
            let (tx, signed, next, expiry, batch) = (tx.clone(), signed.clone(), next.clone(), s.expiry, s.batch);
            std::thread::spawn(move || -> anyhow::Result<()> {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return Ok(());
                    }
                    let lo = b * batch;
                    let hi = (lo + batch).min(total);
                    let txs = (lo..hi)
                        .map(|i| {
                            let from = &keys[i % keys.len()];
                            let to = keys[(i + 1) % keys.len()].address();
                            let cred = credential(&certs, i % keys.len(), from.suite(), false);
                            build_certified_tx(from, cred, &chain_id, expiry, mode.transfer(to, ""))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    signed.fetch_add(txs.len(), Ordering::Relaxed);
                    if tx.blocking_send(txs).is_err() {
                        // The run is over: what is left is not needed.
                        return Ok(());
                    }
                }
            })
        })
        .collect()
}

/// Timestamps every transaction of every block the stream delivers.
fn spawn_watcher(
    mut ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    commits: Arc<Mutex<HashMap<Hash, Instant>>>,
    counters: Arc<Counters>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let now = Instant::now();
            let Ok(text) = msg.into_text() else { continue };
            match fdl_sdk::parse_stream_message(&text) {
                Ok(StreamMessageView::Block { tx_hashes, .. }) => {
                    let mut c = commits.lock().expect("invariant: no panics while holding the lock");
                    for id in tx_hashes {
                        c.entry(id).or_insert(now);
                    }
                }
                Ok(StreamMessageView::Lagged { skipped_blocks }) => {
                    counters.stream_lagged_blocks.fetch_add(skipped_blocks, Ordering::Relaxed);
                }
                Err(_) => {}
            }
        }
        eprintln!("bench: the block stream closed; later commits are not seen");
    })
}

/// The offers so far, in seconds from `start`.
fn offers(start: Instant, sent: &Mutex<Vec<Sent>>, commits: &Mutex<HashMap<Hash, Instant>>) -> Vec<Offer> {
    let sent = sent.lock().expect("invariant: no panics while holding the lock");
    let commits = commits.lock().expect("invariant: no panics while holding the lock");
    let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    sent.iter()
        .map(|s| Offer {
            sent_s: secs(s.at),
            fate: match s.verdict {
                Verdict::Admitted => Fate::Admitted { committed_s: commits.get(&s.id).map(|c| secs(*c)) },
                Verdict::Refused(ms) => Fate::Refused { answer_ms: ms },
                Verdict::Failed => Fate::Failed,
            },
        })
        .collect()
}

/// Records the answer to one batch request sent at `at` that took `answer_ms`.
fn record(
    batch: &[SignedTx],
    answer: Result<Vec<fdl_types::api::BatchItemView>, SdkError>,
    at: Instant,
    answer_ms: f64,
    sent: &Mutex<Vec<Sent>>,
    failures: &Mutex<BTreeMap<String, u64>>,
    counters: &Counters,
) {
    let mut fails: Vec<String> = Vec::new();
    let verdicts: Vec<Verdict> = match answer {
        Ok(results) => {
            let mut v: Vec<Verdict> = results
                .into_iter()
                .map(|r| match r.code {
                    None => Verdict::Admitted,
                    Some(c) if REFUSAL_CODES.contains(&c.as_str()) => Verdict::Refused(answer_ms),
                    Some(c) => {
                        fails.push(c);
                        Verdict::Failed
                    }
                })
                .collect();
            while v.len() < batch.len() {
                fails.push("no_verdict".into());
                v.push(Verdict::Failed);
            }
            if v.iter().all(|x| matches!(x, Verdict::Refused(_))) {
                counters.refused_requests.fetch_add(1, Ordering::Relaxed);
            }
            v
        }
        Err(e)
            if matches!(e, SdkError::Api { status: 429, .. })
                || e.code().is_some_and(|c| REFUSAL_CODES.contains(&c)) =>
        {
            counters.refused_requests.fetch_add(1, Ordering::Relaxed);
            batch.iter().map(|_| Verdict::Refused(answer_ms)).collect()
        }
        Err(e) => {
            if !counters.failure_noted.swap(true, Ordering::Relaxed) {
                eprintln!("bench: a request failed (its transactions count as failed; only the first is shown): {e}");
            }
            let code = e.code().unwrap_or("transport").to_string();
            fails.extend(batch.iter().map(|_| code.clone()));
            batch.iter().map(|_| Verdict::Failed).collect()
        }
    };
    if !fails.is_empty() {
        let mut f = failures.lock().expect("invariant: no panics while holding the lock");
        for c in fails {
            *f.entry(c).or_default() += 1;
        }
    }
    let mut s = sent.lock().expect("invariant: no panics while holding the lock");
    s.extend(batch.iter().zip(verdicts).map(|(t, verdict)| Sent { id: t.id(), at, verdict }));
}

/// Runs the sustained load and returns its record's fields.
///
/// # Errors
/// The stream cannot be opened, or signing fails.
pub(super) async fn run(s: Setup) -> anyhow::Result<Outcome> {
    let intended = (s.rate * s.duration_s).round() as usize;
    if intended == 0 {
        anyhow::bail!("--rate × --duration offers no transaction");
    }
    let ahead = intended.min(s.presign_max.max(s.batch));
    let (tx, rx) = mpsc::channel::<Vec<SignedTx>>(ahead.div_ceil(s.batch).max(1));
    let signed = Arc::new(AtomicUsize::new(0));
    let sign_start = Instant::now();
    let signers = spawn_signers(&s, intended, tx, signed.clone());
    eprintln!(
        "bench: signing {ahead} of {intended} transfers ahead ({} tx/s for {} s){}",
        s.rate,
        s.duration_s,
        if ahead < intended { "; the rest while the run goes" } else { "" }
    );
    let mut last_note = Instant::now();
    while signed.load(Ordering::Relaxed) < ahead {
        if signers.iter().all(std::thread::JoinHandle::is_finished) {
            break;
        }
        if last_note.elapsed() > Duration::from_secs(10) {
            eprintln!("bench: {} signed", signed.load(Ordering::Relaxed));
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let presigned = signed.load(Ordering::Relaxed);
    let sign_rate = presigned as f64 / sign_start.elapsed().as_secs_f64().max(1e-9);
    if signers.iter().all(std::thread::JoinHandle::is_finished) && presigned < intended {
        for h in signers {
            h.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
        }
        anyhow::bail!("the signing threads stopped after {presigned} of {intended} transfers");
    }
    eprintln!("bench: {presigned} signed at {sign_rate:.0} tx/s on all cores; offering {} tx/s", s.rate);
    if presigned < intended && sign_rate < s.rate {
        eprintln!(
            "bench: warning: signing ({sign_rate:.0} tx/s) is slower than the offered rate: the sender will starve \
             once the {presigned} signed ahead are sent (raise --presign-max)"
        );
    }

    let commits: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::new(Mutex::new(HashMap::with_capacity(intended)));
    let counters = Arc::new(Counters::default());
    let (ws, _) =
        tokio_tungstenite::connect_async(&s.ws_url).await.with_context(|| format!("connecting {}", s.ws_url))?;
    let watcher = spawn_watcher(ws, commits.clone(), counters.clone());

    let sent: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::with_capacity(intended)));
    let failures: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let batches = intended.div_ceil(s.batch);
    let pace_s = s.batch as f64 / s.rate;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(s.duration_s);
    let next = Arc::new(AtomicUsize::new(0));
    let mut reporter = {
        let (sent, commits, duration_s) = (sent.clone(), commits.clone(), s.duration_s);
        tokio::spawn(async move {
            let n = (duration_s / WINDOW_S).ceil() as usize;
            for k in 0..n {
                let end = ((k + 1) as f64 * WINDOW_S).min(duration_s);
                tokio::time::sleep_until((start + Duration::from_secs_f64(end) + LIVE_DELAY).into()).await;
                let o = offers(start, &sent, &commits);
                eprintln!("{}", window(&o, k as f64 * WINDOW_S, end).line());
            }
        })
    };
    let mut workers = Vec::with_capacity(s.clients);
    for w in 0..s.clients {
        let client = s.targets[w % s.targets.len()].clone();
        let (rx, sent, failures, counters, next) =
            (rx.clone(), sent.clone(), failures.clone(), counters.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= batches {
                    return;
                }
                let slot = start + Duration::from_secs_f64(k as f64 * pace_s);
                if slot >= deadline {
                    return;
                }
                tokio::time::sleep_until(slot.into()).await;
                let batch = {
                    let mut rx = rx.lock().await;
                    match rx.try_recv() {
                        Ok(b) => b,
                        Err(mpsc::error::TryRecvError::Disconnected) => return,
                        Err(mpsc::error::TryRecvError::Empty) => {
                            let t = Instant::now();
                            let b = rx.recv().await;
                            counters.sign_starved_batches.fetch_add(1, Ordering::Relaxed);
                            counters.sign_starved_us.fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                            match b {
                                Some(b) => b,
                                None => return,
                            }
                        }
                    }
                };
                let at = Instant::now();
                if at >= deadline {
                    return;
                }
                if at.saturating_duration_since(slot) > LATE {
                    counters.late_batches.fetch_add(1, Ordering::Relaxed);
                }
                let answer = client.submit_batch(&batch).await;
                let answer_ms = at.elapsed().as_secs_f64() * 1_000.0;
                record(&batch, answer, at, answer_ms, &sent, &failures, &counters);
            }
        }));
    }
    for w in workers {
        w.await.context("a client task failed")?;
    }
    let sending_s = start.elapsed().as_secs_f64();
    // Closing the queue stops the signing threads.
    drop(rx);
    for h in signers {
        let joined = tokio::task::spawn_blocking(move || h.join()).await?;
        joined.map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
    }

    // Drain: wait for every admitted transaction's block, while commits keep coming.
    let admitted_ids: Vec<Hash> = {
        let sent = sent.lock().expect("invariant: no panics while holding the lock");
        sent.iter().filter(|s| matches!(s.verdict, Verdict::Admitted)).map(|s| s.id).collect()
    };
    let drain_start = Instant::now();
    let mut last_seen = (0usize, Instant::now());
    loop {
        let seen = {
            let c = commits.lock().expect("invariant: no panics while holding the lock");
            admitted_ids.iter().filter(|id| c.contains_key(id)).count()
        };
        if seen == admitted_ids.len() || drain_start.elapsed() > s.timeout || watcher.is_finished() {
            break;
        }
        if seen > last_seen.0 {
            last_seen = (seen, Instant::now());
        } else if last_seen.1.elapsed() > DRAIN_IDLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = tokio::time::timeout(LIVE_DELAY, &mut reporter).await;
    reporter.abort();
    watcher.abort();

    let all = offers(start, &sent, &commits);
    let first_committed = {
        let sent = sent.lock().expect("invariant: no panics while holding the lock");
        let commits = commits.lock().expect("invariant: no panics while holding the lock");
        sent.iter().find(|s| matches!(s.verdict, Verdict::Admitted) && commits.contains_key(&s.id)).map(|s| s.id)
    };
    let wins = windows(&all, s.duration_s, WINDOW_S);
    let mut lat = Vec::new();
    let mut refusal_ms = Vec::new();
    let (mut admitted, mut failed, mut last_commit) = (0usize, 0usize, 0.0f64);
    for o in &all {
        match o.fate {
            Fate::Admitted { committed_s } => {
                admitted += 1;
                if let Some(c) = committed_s {
                    lat.push((c - o.sent_s).max(0.0) * 1_000.0);
                    last_commit = last_commit.max(c);
                }
            }
            Fate::Refused { answer_ms } => refusal_ms.push(answer_ms),
            Fate::Failed => failed += 1,
        }
    }
    lat.sort_by(f64::total_cmp);
    refusal_ms.sort_by(f64::total_cmp);
    let committed = lat.len();
    let duration = last_commit.max(1e-6);
    let tps = committed as f64 / duration;
    let offered = all.len();
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let failures = failures.lock().expect("invariant: no panics while holding the lock").clone();
    eprintln!(
        "bench: offered {offered} of {intended} in {sending_s:.1} s ({:.0} tx/s of {} intended); admitted {admitted}, \
         refused {} (p99 {:.1} ms), failed {failed}; committed {committed} ({tps:.0} tps), never committed {}",
        offered as f64 / s.duration_s,
        s.rate,
        refusal_ms.len(),
        percentile(&refusal_ms, 0.99),
        admitted - committed,
    );
    let fields = json!({
        "txs": committed,
        "duration_s": (duration * 1000.0).round() / 1000.0,
        "tps": tps.round(),
        "latency_ms_p50": round1(percentile(&lat, 0.50)),
        "latency_ms_p99": round1(percentile(&lat, 0.99)),
        "latency_ms_max": round1(lat.last().copied().unwrap_or(0.0)),
        "run_s": s.duration_s,
        "window_s": WINDOW_S,
        "windows": wins.iter().map(Window::to_json).collect::<Vec<_>>(),
        "intended_txs": intended,
        "offered_txs": offered,
        "offered_tps": (offered as f64 / s.duration_s).round(),
        "admitted": admitted,
        "refused": refusal_ms.len(),
        "refused_requests": c(&counters.refused_requests),
        "refusal_ms_p50": round1(percentile(&refusal_ms, 0.50)),
        "refusal_ms_p99": round1(percentile(&refusal_ms, 0.99)),
        "refusal_ms_max": round1(refusal_ms.last().copied().unwrap_or(0.0)),
        "failed": failed,
        "failed_codes": failures,
        "committed": committed,
        "never_committed": admitted - committed,
        "presigned_txs": presigned,
        "sign_per_s_machine": sign_rate.round(),
        "sign_starved_batches": c(&counters.sign_starved_batches),
        "sign_starved_ms": c(&counters.sign_starved_us) / 1_000,
        "late_batches": c(&counters.late_batches),
        "stream_lagged_blocks": c(&counters.stream_lagged_blocks),
    });
    let fields = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(Outcome { fields, unfinished: admitted - committed + failed, first_committed })
}

/// Each node's height, sync lag, resident memory and database size from its `/metrics`, read
/// from all at once; with the lowest and highest height and the gap between them (a node that
/// fell behind shows as a gap of more than a block or two).
pub(super) async fn footprints(nodes: &[String]) -> Map<String, Value> {
    let reads = nodes.iter().map(|url| async move {
        let text = match Client::new(url) {
            Ok(c) => c.metrics().await,
            Err(e) => Err(e),
        };
        (url, text)
    });
    let mut out = Vec::with_capacity(nodes.len());
    let mut heights = Vec::with_capacity(nodes.len());
    for (url, text) in futures_util::future::join_all(reads).await {
        let node = match text {
            Ok(t) => {
                let height = gauge(&t, "fdl_height");
                heights.extend(height);
                json!({
                    "rpc": url,
                    "height": height,
                    "sync_lag_blocks": gauge(&t, "fdl_sync_lag_blocks"),
                    "resident_memory_bytes": gauge(&t, "fdl_process_resident_memory_bytes"),
                    "db_size_bytes": gauge(&t, "fdl_db_size_bytes"),
                })
            }
            Err(e) => json!({ "rpc": url, "error": e.to_string() }),
        };
        let mib = |k: &str| node[k].as_u64().map_or("?".to_string(), |b| format!("{:.1} MiB", b as f64 / 1_048_576.0));
        eprintln!(
            "bench: node {url}: height {}, sync lag {}, resident memory {}, database {}",
            node["height"],
            node["sync_lag_blocks"],
            mib("resident_memory_bytes"),
            mib("db_size_bytes")
        );
        out.push(node);
    }
    let (min, max) = (heights.iter().min().copied(), heights.iter().max().copied());
    let mut m = Map::new();
    m.insert("nodes".into(), Value::Array(out));
    m.insert("height_min".into(), json!(min));
    m.insert("height_max".into(), json!(max));
    m.insert("height_lag".into(), json!(min.zip(max).map(|(a, b)| b - a)));
    m
}

/// The value of the unlabelled metric `name` in a Prometheus text exposition.
fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(sent_s: f64, committed_s: Option<f64>) -> Offer {
        Offer { sent_s, fate: Fate::Admitted { committed_s } }
    }

    #[test]
    fn percentile_is_nearest_rank_and_empty_is_zero() {
        assert_eq!(percentile(&[], 0.99), 0.0);
        assert_eq!(percentile(&[7.0], 0.5), 7.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
    }

    #[test]
    fn windows_count_by_submission_and_commit_time() {
        let offers = [
            // Window 0: three admitted (two committed, one in window 1), one refused, one failed.
            admitted(1.0, Some(1.5)),
            admitted(2.0, Some(3.0)),
            admitted(9.0, Some(11.0)),
            Offer { sent_s: 4.0, fate: Fate::Refused { answer_ms: 3.0 } },
            Offer { sent_s: 5.0, fate: Fate::Failed },
            // Window 1: one admitted never committed, one committed in the partial last window.
            admitted(12.0, None),
            admitted(19.5, Some(21.0)),
            // Window 2 (20..25): a commit after the run ends counts nowhere.
            admitted(24.0, Some(26.0)),
        ];
        let w = windows(&offers, 25.0, 10.0);
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].start_s, w[0].end_s), (0.0, 10.0));
        assert_eq!((w[0].offered, w[0].admitted, w[0].refused, w[0].failed, w[0].committed), (5, 3, 1, 1, 3));
        assert_eq!(w[0].committed_tps, 0.2, "two commits in ten seconds");
        assert_eq!(w[0].latency_ms_p50, 1_000.0);
        assert_eq!(w[0].latency_ms_p99, 2_000.0);
        assert_eq!((w[1].offered, w[1].admitted, w[1].committed), (2, 2, 1));
        assert_eq!(w[1].committed_tps, 0.1, "the commit at 11 s of a transaction sent in window 0");
        assert_eq!(w[1].latency_ms_p99, 1_500.0);
        assert_eq!((w[2].start_s, w[2].end_s), (20.0, 25.0));
        assert_eq!((w[2].offered, w[2].committed), (1, 1));
        assert_eq!(w[2].committed_tps, 0.2, "one commit in the five seconds of the last window");
        let j = w[2].to_json();
        assert_eq!(j["offered_tps"], 0.0);
        assert_eq!(j["latency_ms_p50"], 2_000.0);
    }

    #[test]
    fn an_empty_window_is_zero() {
        let w = window(&[], 0.0, 10.0);
        assert_eq!((w.offered, w.committed, w.committed_tps, w.latency_ms_p99), (0, 0, 0.0, 0.0));
        assert!(windows(&[], 0.0, 10.0).is_empty());
    }

    #[test]
    fn gauges_are_read_by_exact_name() {
        let text = "# TYPE fdl_height gauge\nfdl_height 42\nfdl_height_x 7\nfdl_db_size_bytes 4096\n";
        assert_eq!(gauge(text, "fdl_height"), Some(42));
        assert_eq!(gauge(text, "fdl_db_size_bytes"), Some(4096));
        assert_eq!(gauge(text, "fdl_process_resident_memory_bytes"), None);
        assert_eq!(gauge("fdl_height lots\n", "fdl_height"), None);
    }
}
