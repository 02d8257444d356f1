//! Mempool admission and lifecycle: admission verdicts and their API codes, capacity
//! back-pressure, FIFO batches that drop expired transactions, waking receipt subscribers, and
//! one verdict per input (in order) for batch admission.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_exec::TxRejection;
use fdl_mempool::{AdmitError, FAIR_SHARE_FLOOR, Mempool, MempoolConfig, Source};
use fdl_storage::{RedbStore, Store};
use fdl_types::{ChainParams, Encode, Genesis, GenesisValidator, Payload, Receipt, SignedTx, StatusCode, TxBody};

const CHAIN: &str = "fdl-mempool-test";

struct Fixture {
    _dir: tempfile::TempDir,
    pool: Mempool,
    key: KeyPair,
}

fn fixture(capacity: usize) -> Fixture {
    fixture_with(capacity, ChainParams::default().max_block_txs)
}

/// A pool whose blocks hold `max_block_txs` (the admission budget before any commit).
fn fixture_with(capacity: usize, max_block_txs: u32) -> Fixture {
    fixture_full(capacity, max_block_txs, 2)
}

/// A pool with `verify_threads` signature verifiers.
fn fixture_full(capacity: usize, max_block_txs: u32, verify_threads: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("ledger.redb")).unwrap());
    let key = KeyPair::generate(Suite::Sm);
    let validator = KeyPair::generate(Suite::Sm);
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: CHAIN.into(),
        suite: Suite::Sm,
        genesis_time_ms: 0,
        issuer: key.address(),
        validators: vec![GenesisValidator {
            name: "v0".into(),
            public_key: hex::encode(validator.public_key().to_bytes()),
            power: 1,
            ..Default::default()
        }],
        members: vec![],
        regulator: None,
        observers: vec![],
        balances: vec![],
        params: ChainParams { max_block_txs, ..ChainParams::default() },
    };
    genesis.validate().unwrap();
    let config = MempoolConfig { capacity, verify_threads, verify_queue: 64, ..MempoolConfig::default() };
    let pool = Mempool::new(Arc::new(genesis), store, config).unwrap();
    Fixture { _dir: dir, pool, key }
}

fn body(key: &KeyPair, nonce: u64, expiry_height: u64) -> TxBody {
    TxBody {
        chain_id: CHAIN.into(),
        signer: key.public_key(),
        credential: fdl_types::Credential::None,
        nonce,
        expiry_height,
        payload: Payload::Transfer { to: Address([7; 20]), amount: 10, memo: String::new() },
    }
}

fn tx(key: &KeyPair, nonce: u64, expiry_height: u64) -> SignedTx {
    body(key, nonce, expiry_height).sign(key).unwrap()
}

/// A transaction whose signature is a valid signature by the signer — over another body.
fn badly_signed(key: &KeyPair, nonce: u64) -> SignedTx {
    let other = tx(key, nonce.wrapping_add(1_000_000), 50);
    SignedTx::new(body(key, nonce, 50), other.signature)
}

fn receipt(id: fdl_crypto::Hash) -> Receipt {
    Receipt { tx_id: id, status: StatusCode::Ok, events: vec![], cost: 123, output: vec![] }
}

fn ids(txs: &[SignedTx]) -> Vec<fdl_crypto::Hash> {
    txs.iter().map(SignedTx::id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_tx_is_admitted_and_counted() {
    let f = fixture(100);
    assert!(f.pool.is_empty());
    let t = tx(&f.key, 1, 50);
    let id = f.pool.admit(&t.encode()).await.expect("a valid transaction is admitted");
    assert_eq!(id, t.id());
    assert_eq!(f.pool.len(), 1);
    assert!(f.pool.contains(&id));
    assert_eq!(f.pool.capacity(), 100);
    assert_eq!(f.pool.height(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_is_already_pending() {
    let f = fixture(100);
    let t = tx(&f.key, 1, 50);
    f.pool.admit(&t.encode()).await.unwrap();
    let e = f.pool.admit(&t.encode()).await.expect_err("same bytes twice");
    assert_eq!(e, AdmitError::AlreadyPending);
    assert_eq!(e.code(), "already_pending");
    // The same body signed again (SM2 signatures are randomized) has the same id: still a duplicate.
    let resigned = body(&f.key, 1, 50).sign(&f.key).unwrap();
    assert_ne!(resigned.encode(), t.encode(), "SM2 re-signing gives new bytes");
    assert_eq!(f.pool.admit(&resigned.encode()).await, Err(AdmitError::AlreadyPending));
    assert_eq!(f.pool.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_pool_refuses_with_mempool_full() {
    let f = fixture(2);
    for n in 0..2 {
        f.pool.admit(&tx(&f.key, n, 50).encode()).await.unwrap();
    }
    let extra = tx(&f.key, 99, 50);
    let e = f.pool.admit(&extra.encode()).await.expect_err("pool at capacity");
    assert_eq!(e, AdmitError::Full { capacity: 2 });
    assert_eq!(e.code(), "mempool_full");
    assert_eq!(f.pool.len(), 2);
    assert!(!f.pool.contains(&extra.id()));

    // Room again once a block takes and commits them.
    let taken = f.pool.take_batch(10, 1);
    assert_eq!(taken.len(), 2);
    let receipts: Vec<Receipt> = taken.iter().map(|t| receipt(t.id())).collect();
    f.pool.on_committed(1, &receipts);
    assert_eq!(f.pool.admit(&extra.encode()).await, Ok(extra.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_refused() {
    let f = fixture(100);
    let t = badly_signed(&f.key, 1);
    assert!(t.verify().is_err(), "fixture: the signature must not verify");
    let e = f.pool.admit(&t.encode()).await.expect_err("bad signature");
    assert_eq!(e, AdmitError::Rejected(TxRejection::BadSignature));
    assert_eq!(e.code(), "bad_signature");
    assert!(f.pool.is_empty());
    assert!(!f.pool.contains(&t.id()));
    // The refusal does not poison the id: the correctly signed body is still admitted.
    let good = body(&f.key, 1, 50).sign(&f.key).unwrap();
    assert_eq!(good.id(), t.id());
    assert_eq!(f.pool.admit(&good.encode()).await, Ok(good.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_batch_is_fifo_and_drops_expired() {
    let f = fixture(100);
    let t1 = tx(&f.key, 1, 10);
    let t2 = tx(&f.key, 2, 2); // expires before height 3
    let t3 = tx(&f.key, 3, 10);
    let t4 = tx(&f.key, 4, 3); // still valid at height 3 (expiry is inclusive)
    let t5 = tx(&f.key, 5, 10);
    for t in [&t1, &t2, &t3, &t4, &t5] {
        f.pool.admit(&t.encode()).await.unwrap();
    }
    let dropped_rx = f.pool.subscribe(t2.id());
    assert_eq!(f.pool.len(), 5);

    let first = f.pool.take_batch(3, 3);
    assert_eq!(ids(&first), ids(&[t1.clone(), t3.clone(), t4.clone()]), "oldest first, expired t2 skipped");
    assert!(!f.pool.contains(&t2.id()), "an expired transaction is forgotten");
    assert!(dropped_rx.await.is_err(), "a waiter on a dropped transaction sees its channel closed");
    for t in [&t1, &t3, &t4] {
        assert!(f.pool.contains(&t.id()), "taken but uncommitted transactions stay known");
    }
    assert_eq!(f.pool.len(), 1);

    let rest = f.pool.take_batch(3, 3);
    assert_eq!(ids(&rest), ids(&[t5]));
    assert!(f.pool.take_batch(3, 3).is_empty());
    assert!(f.pool.is_empty());
}

/// A proposal that lost its round is put back, but one of its transactions was meanwhile
/// included by the decided block (another validator's, still being written): it must not be
/// queued again, or a later batch would drop it as expired and close its waiter although the
/// chain holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_of_a_decided_block_is_not_put_back() {
    let f = fixture(100);
    let included = tx(&f.key, 1, 3);
    let other = tx(&f.key, 2, 10);
    for t in [&included, &other] {
        f.pool.admit(&t.encode()).await.unwrap();
    }
    let mut waiter = f.pool.subscribe(included.id());
    let proposal = f.pool.take_batch(10, 3);
    assert_eq!(proposal.len(), 2);
    // The decided block at height 3 holds `included`; our proposal is returned.
    f.pool.on_included(std::slice::from_ref(&included));
    f.pool.put_back(proposal);
    // The next block (height 4) takes only the other one, and `included` is not dropped as expired.
    assert_eq!(ids(&f.pool.take_batch(10, 4)), ids(std::slice::from_ref(&other)));
    assert!(f.pool.contains(&included.id()), "still waiting for its block's commit");
    assert!(waiter.try_recv().is_err_and(|e| e == tokio::sync::oneshot::error::TryRecvError::Empty));
    // Its block commits: the waiter gets the receipt.
    f.pool.on_committed(3, &[receipt(included.id())]);
    assert_eq!(waiter.await.unwrap().tx_id, included.id());
    assert!(!f.pool.contains(&included.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_committed_wakes_subscriber_and_forgets() {
    let f = fixture(100);
    let t = tx(&f.key, 1, 10);
    let other = tx(&f.key, 2, 10);
    f.pool.admit(&t.encode()).await.unwrap();
    f.pool.admit(&other.encode()).await.unwrap();
    let rx = f.pool.subscribe(t.id());
    let rx2 = f.pool.subscribe(t.id());
    let taken = f.pool.take_batch(1, 1);
    assert_eq!(ids(&taken), vec![t.id()]);

    let r = receipt(t.id());
    f.pool.on_committed(1, std::slice::from_ref(&r));
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx)
        .await
        .expect("the subscriber is woken")
        .expect("with the receipt");
    assert_eq!(got, r);
    assert_eq!(rx2.await.unwrap(), r, "every subscriber gets the receipt");
    assert!(!f.pool.contains(&t.id()), "the committed id is forgotten");
    assert!(f.pool.contains(&other.id()), "others stay");
    assert_eq!(f.pool.len(), 1);
    assert_eq!(f.pool.height(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admit_many_gives_one_verdict_per_input_in_order() {
    let f = fixture(100);
    let good1 = tx(&f.key, 1, 50);
    let good2 = tx(&f.key, 2, 50);
    let bad_sig = badly_signed(&f.key, 3);
    let wrong_chain = TxBody { chain_id: "another-chain".into(), ..body(&f.key, 4, 50) }.sign(&f.key).unwrap();
    let zero = TxBody {
        payload: Payload::Transfer { to: Address([7; 20]), amount: 0, memo: String::new() },
        ..body(&f.key, 5, 50)
    }
    .sign(&f.key)
    .unwrap();
    let expired = tx(&f.key, 6, 0);
    let garbage = vec![0xde, 0xad, 0xbe, 0xef];
    let oversize = vec![0u8; 4096];

    let inputs: Vec<Vec<u8>> = vec![
        good1.encode(),
        garbage,
        bad_sig.encode(),
        good2.encode(),
        good1.encode(), // duplicate inside the same batch
        wrong_chain.encode(),
        zero.encode(),
        expired.encode(),
        oversize,
    ];
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let verdicts = f.pool.admit_many(&refs).await;
    assert_eq!(verdicts.len(), inputs.len(), "one verdict per input");

    let codes: Vec<Result<fdl_crypto::Hash, &str>> =
        verdicts.iter().map(|v| v.as_ref().map(|h| *h).map_err(AdmitError::code)).collect();
    assert_eq!(
        codes,
        vec![
            Ok(good1.id()),
            Err("malformed_transaction"),
            Err("bad_signature"),
            Ok(good2.id()),
            Err("already_pending"),
            Err("wrong_chain_id"),
            Err("zero_amount"),
            Err("expired"),
            Err("transaction_too_large"),
        ]
    );
    assert_eq!(f.pool.len(), 2);
    assert_eq!(ids(&f.pool.take_batch(10, 1)), vec![good1.id(), good2.id()], "admitted in input order");

    // An empty batch has no verdicts.
    assert!(f.pool.admit_many(&[]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_clears_a_dropped_transaction_and_closes_its_waiters() {
    let f = fixture(100);
    let t = tx(&f.key, 1, 10);
    f.pool.admit(&t.encode()).await.unwrap();
    let rx = f.pool.subscribe(t.id());
    let taken = f.pool.take_batch(10, 1);
    assert_eq!(ids(&taken), vec![t.id()]);
    assert!(f.pool.contains(&t.id()), "taken but not committed: still known");
    f.pool.forget(&[t.id()]);
    assert!(!f.pool.contains(&t.id()), "a dropped transaction must not stay pending forever");
    assert!(rx.await.is_err(), "its waiters are told it will not commit");
    // It may be submitted again (the store decides whether it is a replay).
    f.pool.admit(&t.encode()).await.unwrap();
}

/// Verify once per node: a block's transactions that this pool verified at admission (same id
/// and same signature) are not verified again; others are, and bad ones are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_signatures_are_verified_once_per_node() {
    let f = fixture(100);
    let admitted = tx(&f.key, 1, 10);
    f.pool.admit(&admitted.encode()).await.unwrap();
    let unseen = tx(&f.key, 2, 10);
    let forged = badly_signed(&f.key, 3);
    // The admitted body with another valid signature (SM2 signatures are randomized): the id
    // matches but the bytes differ, so it must be checked.
    let resigned = body(&f.key, 1, 10).sign(&f.key).unwrap();
    assert_eq!(resigned.id(), admitted.id());
    assert_ne!(resigned.signature, admitted.signature);

    let report = f.pool.verify_block_txs(&[admitted.clone(), unseen.clone()]).await.unwrap();
    assert_eq!(report.checked, 1, "the admitted transaction is not verified again");
    assert!(report.bad.is_empty());

    // `unseen` was verified in the first block: remembered, whatever path it takes next.
    let report = f.pool.verify_block_txs(&[admitted.clone(), forged, resigned, unseen]).await.unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.bad, vec![1], "the forged signature is reported by index");
}

/// Issue 11, item 1: the "already verified" shortcut is keyed by exactly the bytes that were
/// verified. A proposer that swaps an admitted transaction's credential form (the carried
/// certificate for its hash, or back) keeps the id and the signature, but the signature no
/// longer covers the bytes: the block's copy must be verified, and fail (STD-11.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_credential_is_verified_again_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("ledger.redb")).unwrap());
    let ca_key = KeyPair::generate(Suite::Sm);
    let ca = fdl_pki::create_ca("bank-a", &ca_key, 30).unwrap();
    let user = KeyPair::generate(Suite::Sm);
    let cert = fdl_pki::issue(&ca, &ca_key, &user.public_key(), "alice", fdl_pki::Role::Client, 30).unwrap();
    let validator = KeyPair::generate(Suite::Sm);
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: CHAIN.into(),
        suite: Suite::Sm,
        genesis_time_ms: 0,
        issuer: ca_key.address(),
        validators: vec![GenesisValidator {
            name: "v0".into(),
            public_key: hex::encode(validator.public_key().to_bytes()),
            power: 1,
            ..Default::default()
        }],
        members: vec![fdl_types::GenesisMember {
            name: "bank-a".into(),
            ca_cert: fdl_pki::to_pem(&ca).unwrap(),
            committee: true,
        }],
        regulator: None,
        observers: vec![],
        balances: vec![],
        params: ChainParams::default(),
    };
    // The member CA must be in state: write genesis as a node does on first start.
    let state = fdl_state::StateDb::new(store.clone(), Suite::Sm);
    let p = state.prepare(&fdl_exec::genesis_writes(&genesis).unwrap(), 0).unwrap();
    store.write_genesis(fdl_crypto::Hash([1; 32]), p.nodes, p.values).unwrap();
    let config = MempoolConfig { capacity: 100, verify_threads: 2, verify_queue: 64, ..MempoolConfig::default() };
    let pool = Mempool::new(Arc::new(genesis), store, config).unwrap();

    let mut carried = body(&user, 1, 10);
    carried.credential = fdl_types::Credential::Certificate(cert.clone());
    let admitted = carried.clone().sign(&user).unwrap();
    pool.admit(&admitted.encode()).await.unwrap();
    // The same body with the certificate's hash instead, and the same signature.
    let mut hashed = carried;
    hashed.credential = fdl_types::Credential::Registered(fdl_types::cert_hash(Suite::Sm, &cert));
    let swapped = SignedTx::new(hashed, admitted.signature.clone());
    assert_eq!(swapped.id(), admitted.id(), "the id normalizes the credential");
    assert!(swapped.verify().is_err(), "the signature does not cover the swapped bytes");

    let report = pool.verify_block_txs(std::slice::from_ref(&admitted)).await.unwrap();
    assert_eq!(report.checked, 0, "the admitted bytes are not verified again");
    let report = pool.verify_block_txs(&[admitted, swapped]).await.unwrap();
    assert_eq!(report.checked, 1, "the swapped form is verified");
    assert_eq!(report.bad, vec![1], "and refused");
}

/// Subscribing to a transaction that is no longer pending yields a closed receiver at once, not
/// a waiter nothing will ever wake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_a_transaction_not_pending_closes_at_once() {
    let f = fixture(100);
    let t = tx(&f.key, 1, 10);
    assert!(f.pool.subscribe(t.id()).await.is_err(), "never admitted");
    f.pool.admit(&t.encode()).await.unwrap();
    f.pool.on_committed(1, &[receipt(t.id())]);
    assert!(f.pool.subscribe(t.id()).await.is_err(), "already committed");
}

fn encoded(txs: &[SignedTx]) -> Vec<Vec<u8>> {
    txs.iter().map(Encode::encode).collect()
}

async fn admit_all(pool: &Mempool, txs: &[SignedTx], source: Source) -> Vec<Result<fdl_crypto::Hash, AdmitError>> {
    let raw = encoded(txs);
    let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
    pool.admit_many_from(&refs, source).await
}

/// Issue 15, item 1: beyond what the chain commits in the target wait, a client's transaction is
/// refused at once (`overloaded`, with a retry hint), one flooding sender holds at most its fair
/// share, another sender still gets in, and a peer's forwarded transactions meet only the hard
/// capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_pool_refuses_clients_fairly_with_a_retry_hint() {
    // No commit measured yet: the budget and its reserve are one block (160 and 40), a sender's
    // share is the budget over the senders waiting (at least the floor), and senders under the
    // floor have the reserve.
    let f = fixture_with(10_000, 200);
    const { assert!(FAIR_SHARE_FLOOR < 200) };
    let flood: Vec<SignedTx> = (0..300).map(|n| tx(&f.key, n, 50)).collect();
    let verdicts = admit_all(&f.pool, &flood, Source::Client).await;
    let admitted = verdicts.iter().filter(|v| v.is_ok()).count();
    assert_eq!(admitted, 160, "one sender alone gets the whole budget, no more");
    let refused: Vec<&AdmitError> = verdicts.iter().filter_map(|v| v.as_ref().err()).collect();
    assert_eq!(refused.len(), 140);
    for e in &refused {
        assert_eq!(e.code(), "overloaded", "{e}");
        assert!(e.is_throttle());
        let hint = e.retry_after_ms().unwrap();
        assert!((100..=30_000).contains(&hint), "{hint}");
    }
    assert!(f.pool.expected_wait_ms() > 0);

    // Another sender gets in although the budget is spent: it is under the floor (the reserve).
    let other = KeyPair::generate(Suite::Sm);
    let polite: Vec<SignedTx> = (0..10).map(|n| tx(&other, n, 50)).collect();
    assert!(admit_all(&f.pool, &polite, Source::Client).await.iter().all(Result::is_ok));
    // The flooder is now over its share (half the budget): refused.
    let more = admit_all(&f.pool, &[tx(&f.key, 1_000, 50)], Source::Client).await;
    assert_eq!(more[0].as_ref().unwrap_err().code(), "overloaded");

    // A peer's forwarded transactions were admitted by the peer: only the capacity applies.
    let third = KeyPair::generate(Suite::Sm);
    let forwarded: Vec<SignedTx> = (0..100).map(|n| tx(&third, n, 50)).collect();
    assert!(admit_all(&f.pool, &forwarded, Source::Peer).await.iter().all(Result::is_ok));
    assert_eq!(f.pool.len(), 270);

    // Blocks commit: the measured rate raises the budget again, and the flooder gets room.
    let taken = f.pool.take_batch(310, 1);
    let receipts: Vec<Receipt> = taken.iter().map(|t| receipt(t.id())).collect();
    f.pool.on_committed(1, &receipts);
    assert!(f.pool.is_empty());
    let again = admit_all(&f.pool, &flood[200..260], Source::Client).await;
    assert!(again.iter().all(Result::is_ok), "{again:?}");
}

/// A new transaction commits after every one admitted before it, including those already taken
/// into a proposal or included in a decided block that is still being written: they count
/// against the admission budget until their block commits. (Counting only those still waiting
/// let the blocks in flight add up to two blocks of wait beyond the budget under overload.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_in_blocks_not_yet_committed_count_against_the_budget() {
    // Before any commit the budget and its reserve are one block: 160 and 40 of 200.
    let f = fixture_with(10_000, 200);
    let flood: Vec<SignedTx> = (0..160).map(|n| tx(&f.key, n, 50)).collect();
    assert!(admit_all(&f.pool, &flood, Source::Client).await.iter().all(Result::is_ok));
    // Another sender's 60 (under the fair-share floor, so the reserve applies) do not fit on
    // top of those 160 wherever they are: waiting, proposed, or decided and being written.
    let other = KeyPair::generate(Suite::Sm);
    let late: Vec<SignedTx> = (0..60).map(|n| tx(&other, n, 50)).collect();
    let overloaded = |v: &[Result<fdl_crypto::Hash, AdmitError>]| {
        v.iter().all(|v| v.as_ref().is_err_and(|e| e.code() == "overloaded"))
    };
    let verdicts = admit_all(&f.pool, &late, Source::Client).await;
    assert!(overloaded(&verdicts), "{verdicts:?}");
    // The proposer takes them all: none waits any more, yet none has committed.
    let proposal = f.pool.take_batch(200, 1);
    assert_eq!(proposal.len(), 160);
    assert!(f.pool.is_empty());
    assert_eq!(f.pool.pending(), 160);
    let verdicts = admit_all(&f.pool, &late, Source::Client).await;
    assert!(overloaded(&verdicts), "a proposal's transactions still count: {verdicts:?}");
    assert!(f.pool.expected_wait_ms() > 0, "the expected wait counts the proposal");
    f.pool.on_included(&proposal);
    assert_eq!(f.pool.pending(), 160);
    let verdicts = admit_all(&f.pool, &late, Source::Client).await;
    assert!(overloaded(&verdicts), "a decided block's transactions still count: {verdicts:?}");
    // Committed: room again.
    let receipts: Vec<Receipt> = proposal.iter().map(|t| receipt(t.id())).collect();
    f.pool.on_committed(1, &receipts);
    assert_eq!(f.pool.pending(), 0);
    let verdicts = admit_all(&f.pool, &late, Source::Client).await;
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
}

/// Issue 15, item 1 ("every excess transaction refused within 50 ms"): a request that does not
/// fit the budget whole is refused whole before any signature is verified, so its refusals are
/// not held until the part that fits is verified on saturated cores; once the budget and its
/// reserve are full, a client's request is refused before it is even decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_budget_is_refused_whole_before_any_signature_is_checked() {
    // Before any commit the budget and its reserve are one block (160 and 40); senders of 60
    // stay within the floor.
    let f = fixture_with(10_000, 200);
    let keys: Vec<KeyPair> = (0..6).map(|_| KeyPair::generate(Suite::Sm)).collect();
    let first: Vec<SignedTx> = keys[..3].iter().flat_map(|k| (0..60).map(move |n| tx(k, n, 50))).collect();
    assert!(admit_all(&f.pool, &first, Source::Client).await.iter().all(Result::is_ok));
    assert_eq!((f.pool.len(), f.pool.signatures_verified()), (180, 180));
    // 180 wait: the next 180 from three new senders would fit in part (up to the reserve).
    let second: Vec<SignedTx> = keys[3..].iter().flat_map(|k| (0..60).map(move |n| tx(k, n, 50))).collect();
    let verdicts = admit_all(&f.pool, &second, Source::Client).await;
    assert!(verdicts.iter().all(|v| v.as_ref().is_err_and(|e| e.code() == "overloaded")), "{verdicts:?}");
    assert_eq!(f.pool.signatures_verified(), 180, "refused before verification");
    assert_eq!(f.pool.len(), 180);
    // A request that fits whole is admitted.
    let small: Vec<SignedTx> = keys[3..].iter().flat_map(|k| (0..5).map(move |n| tx(k, n, 50))).collect();
    assert!(admit_all(&f.pool, &small, Source::Client).await.iter().all(Result::is_ok));
    assert_eq!(f.pool.len(), 195);
    // A new small sender fills the reserve (a quarter of the budget) up to 200.
    let last = KeyPair::generate(Suite::Sm);
    let reserve: Vec<SignedTx> = (0..5).map(|n| tx(&last, n, 50)).collect();
    assert!(admit_all(&f.pool, &reserve, Source::Client).await.iter().all(Result::is_ok));
    assert_eq!(f.pool.len(), 200);
    // Now nothing can fit: a request is refused before it is even decoded (garbage included).
    let garbage: &[u8] = b"not a transaction";
    let verdicts = f.pool.admit_many_from(&[garbage, garbage], Source::Client).await;
    assert!(verdicts.iter().all(|v| v.as_ref().is_err_and(|e| e.code() == "overloaded")), "{verdicts:?}");
    // A peer's forwarded transaction still meets only the capacity (and is decoded).
    let forwarded = f.pool.admit_many_from(&[garbage], Source::Peer).await;
    assert_eq!(forwarded[0].as_ref().unwrap_err().code(), "malformed_transaction");
}

/// A request larger than the pool could ever hold for clients (the budget and its reserve) is
/// not refused whole, or it would never get in: what fits is admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_larger_than_the_whole_budget_gets_what_fits() {
    let f = fixture_with(10_000, 200);
    let keys: Vec<KeyPair> = (0..5).map(|_| KeyPair::generate(Suite::Sm)).collect();
    let big: Vec<SignedTx> = keys.iter().flat_map(|k| (0..60).map(move |n| tx(k, n, 50))).collect();
    let verdicts = admit_all(&f.pool, &big, Source::Client).await;
    assert_eq!(verdicts.iter().filter(|v| v.is_ok()).count(), 200, "the budget of 160 and its reserve of 40");
    assert!(verdicts[200..].iter().all(|v| v.as_ref().is_err_and(|e| e.code() == "overloaded")));
}

/// Issue 15, item 1: a block that includes transactions a peer's forwarded copy is still having
/// verified waits for that verification instead of verifying them a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_waits_for_the_admission_verifying_its_transactions_instead_of_verifying_twice() {
    let f = Arc::new(fixture_full(10_000, ChainParams::default().max_block_txs, 1));
    // One verifier thread, kept busy by a first batch, so the second one waits in its queue.
    let first: Vec<SignedTx> = (0..5_000).map(|n| tx(&f.key, n, 50)).collect();
    let second: Vec<SignedTx> = (10_000..10_200).map(|n| tx(&f.key, n, 50)).collect();
    let in_flight = |n: usize| {
        let f = f.clone();
        async move {
            let t0 = std::time::Instant::now();
            while f.pool.verifying() < n && t0.elapsed() < std::time::Duration::from_secs(10) {
                tokio::task::yield_now().await;
            }
            f.pool.verifying()
        }
    };
    let (a, b) = (f.clone(), f.clone());
    let ha = tokio::spawn(async move { admit_all(&a.pool, &first, Source::Peer).await });
    assert_eq!(in_flight(5_000).await, 5_000, "the first admission is verifying");
    let second_c = second.clone();
    let hb = tokio::spawn(async move { admit_all(&b.pool, &second_c, Source::Peer).await });
    assert_eq!(in_flight(5_200).await, 5_200, "the second admission waits behind it");
    // The block with the second batch arrives now: it waits for the admission, and verifies nothing.
    let report = f.pool.verify_block_txs(&second).await.unwrap();
    assert_eq!(report, fdl_mempool::BlockSigReport { bad: vec![], checked: 0 }, "verified by the admission");
    assert!(ha.await.unwrap().iter().chain(hb.await.unwrap().iter()).all(Result::is_ok));
    assert_eq!(f.pool.signatures_verified(), 5_200, "each signature once");
    assert_eq!(f.pool.verifying(), 0);
}

/// Issue 15, item 1: a transaction is verified once per node whatever path it arrives by: one
/// verified in a block is not verified again when a client or a peer sends it, and a forwarded
/// copy of one already pending is not verified again either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_is_verified_once_per_node_whatever_the_path() {
    let f = fixture(100);
    let a = tx(&f.key, 1, 50);
    let b = tx(&f.key, 2, 50);
    let report = f.pool.verify_block_txs(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(report.checked, 1);
    assert_eq!(f.pool.signatures_verified(), 1);
    // The block's transaction then arrives from a client: admitted without a second check.
    assert!(admit_all(&f.pool, std::slice::from_ref(&a), Source::Client).await[0].is_ok());
    assert_eq!(f.pool.signatures_verified(), 1);
    // A new one is verified once; a peer forwarding it again meets "already pending" first.
    assert!(admit_all(&f.pool, std::slice::from_ref(&b), Source::Peer).await[0].is_ok());
    assert_eq!(f.pool.signatures_verified(), 2);
    let again = admit_all(&f.pool, &[a, b], Source::Peer).await;
    assert!(again.iter().all(|v| v == &Err(AdmitError::AlreadyPending)), "{again:?}");
    assert_eq!(f.pool.signatures_verified(), 2);
}
