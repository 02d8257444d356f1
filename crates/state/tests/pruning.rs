//! Pruning the authenticated state: the kept versions read, prove and hash exactly as before,
//! the pruned ones answer `Pruned`, an interrupted prune continues after reopening, and a full
//! prune leaves no stale entry and no node the tip does not need.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use fdl_crypto::{Hash, Suite};
use fdl_schema::StateView as _;
use fdl_state::{PRUNED_MESSAGE, StateDb, StateError, verify_proof};
use fdl_storage::{BlockWrite, RedbStore, Store};
use fdl_types::{Block, BlockHeader, Commit};

const VERSIONS: u64 = 300;
const KEYS: u64 = 40;

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn key(i: u64) -> Vec<u8> {
    format!("k/{i:03}").into_bytes()
}

/// The writes of version `v`: a deterministic mix of new keys, rewrites, deletions and, every
/// seventh version, nothing at all.
fn writes_at(v: u64) -> Writes {
    let mut w = Writes::new();
    if v > 0 && v.is_multiple_of(7) {
        return w;
    }
    let mut x = v.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
    for _ in 0..(if v == 0 { KEYS } else { 1 + v % 4 }) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = if v == 0 { w.len() as u64 } else { x % KEYS };
        let value = if v > 0 && x.is_multiple_of(5) { None } else { Some(format!("{k}@{v}").into_bytes()) };
        w.insert(key(k), value);
    }
    w
}

fn header(height: u64) -> (Block, Commit) {
    let header = BlockHeader {
        chain_id: "t".into(),
        height,
        parent_hash: Hash::ZERO,
        timestamp_ms: height,
        proposer: fdl_crypto::Address([0; 20]),
        tx_count: 0,
        tx_root: Hash::ZERO,
        state_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
    };
    let commit = Commit { height, round: 0, block_hash: Hash([height as u8; 32]), signatures: vec![] };
    (Block { header, txs: vec![] }, commit)
}

/// What a version reads: its root, every key's value, and the ordered walk of the keys.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    root: Hash,
    values: Vec<Option<Vec<u8>>>,
    ordered: Vec<Vec<u8>>,
}

fn snapshot(state: &StateDb, store: &dyn Store, v: u64) -> Snapshot {
    let values = (0..KEYS).map(|i| state.get(&key(i), v).expect("get")).collect();
    let mut ordered = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    while let Some(k) = store.next_key(b"k/", after.as_deref(), v).expect("next key") {
        ordered.push(k.clone());
        after = Some(k);
    }
    Snapshot { root: state.root(v).expect("root"), values, ordered }
}

/// Builds versions 0..=VERSIONS in a store at `path`; returns each version's snapshot.
fn build(path: &Path, suite: Suite) -> (Arc<RedbStore>, StateDb, Vec<Snapshot>) {
    let store = Arc::new(RedbStore::open(path).expect("open"));
    let state = StateDb::new(store.clone(), suite);
    let mut snaps = Vec::new();
    for v in 0..=VERSIONS {
        let w = writes_at(v);
        let p = state.prepare(&w, v).expect("prepare");
        if v == 0 {
            assert!(p.stale.is_empty());
            store.write_genesis(Hash::ZERO, p.nodes, p.values).expect("genesis");
        } else {
            let (block, commit) = header(v);
            store
                .write_block(BlockWrite {
                    block: &block,
                    block_hash: commit.block_hash,
                    commit: &commit,
                    receipts: &[],
                    state_nodes: &p.nodes,
                    state_values: &p.values,
                    stale_nodes: &p.stale,
                    audit: &[],
                    ordered_keys: &w.iter().map(|(k, v)| (k.clone(), v.is_some())).collect::<Vec<_>>(),
                })
                .expect("write block");
        }
        let s = snapshot(&state, store.as_ref(), v);
        assert_eq!(s.root, p.root);
        snaps.push(s);
    }
    (store, state, snaps)
}

/// Every version from `from` reads as recorded, with proofs that verify against its root.
fn check_kept(state: &StateDb, store: &dyn Store, snaps: &[Snapshot], from: u64) {
    for v in from..=VERSIONS {
        let s = &snaps[v as usize];
        assert_eq!(&snapshot(state, store, v), s, "version {v} changed");
        for i in (0..KEYS).step_by(3) {
            let (value, proof) = state.get_with_proof(&key(i), v).expect("proof");
            assert_eq!(value, s.values[i as usize]);
            verify_proof(state.suite(), &s.root, &key(i), value.as_deref(), &proof).expect("the proof verifies");
        }
    }
}

fn check_pruned(state: &StateDb, below: u64) {
    for v in [0, below / 2, below - 1] {
        for r in
            [state.get(&key(1), v).map(|_| ()), state.get_with_proof(&key(1), v).map(|_| ()), state.root(v).map(|_| ())]
        {
            match r {
                Err(StateError::Pruned { version, oldest }) => assert_eq!((version, oldest), (v, below)),
                other => panic!("version {v} below {below} answered {other:?}"),
            }
        }
        let e = state.at(v).next_key(b"k/", None).expect_err("a pruned ordered read");
        assert!(e.to_string().contains(PRUNED_MESSAGE), "{e}");
        let e = state.at(v).get(&key(1)).expect_err("a pruned view read");
        assert!(e.to_string().contains(PRUNED_MESSAGE), "{e}");
    }
}

fn prune_all(store: &dyn Store, keep_from: u64, budget: usize) -> usize {
    let mut calls = 0;
    loop {
        calls += 1;
        let p = store.prune(keep_from, budget).expect("prune");
        assert!(p.entries <= budget);
        if p.done {
            return calls;
        }
    }
}

#[test]
fn kept_versions_read_prove_and_hash_as_before_and_pruned_ones_are_refused() {
    for suite in [Suite::Sm, Suite::Intl] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, state, snaps) = build(&dir.path().join("db"), suite);
        let before = store.state_counts().expect("counts");
        assert!(prune_all(store.as_ref(), 200, 7) > 10, "a tiny budget takes many transactions");
        assert_eq!(store.oldest_version(), 200);
        check_kept(&state, store.as_ref(), &snaps, 200);
        check_pruned(&state, 200);
        let after = store.state_counts().expect("counts");
        assert!(after.nodes < before.nodes && after.values < before.values && after.ordered < before.ordered);
        // A lower target continues nothing and lowers nothing.
        assert_eq!(store.prune(100, 7).expect("prune").pruned_below, 200);
        assert_eq!(store.oldest_version(), 200);
    }
}

#[test]
fn a_prune_interrupted_by_a_restart_continues_and_a_full_prune_leaves_nothing_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let (store, state, snaps) = build(&path, Suite::Sm);
    for _ in 0..3 {
        assert!(!store.prune(250, 5).expect("prune").done);
    }
    drop(state);
    drop(store);
    let store = Arc::new(RedbStore::open(&path).expect("reopen"));
    let state = StateDb::new(store.clone(), Suite::Sm);
    // Whatever the interrupted prune had made durable, the versions it keeps are intact.
    assert!(store.oldest_version() == 250 || store.oldest_version() == 0, "{}", store.oldest_version());
    check_kept(&state, store.as_ref(), &snaps, 250);
    prune_all(store.as_ref(), 250, 5);
    check_kept(&state, store.as_ref(), &snaps, 250);
    check_pruned(&state, 250);

    // Up to the tip: no stale entry is left, and the tree holds exactly the tip's nodes (a tree
    // built from the tip's values alone has the same shape).
    prune_all(store.as_ref(), VERSIONS + 10, 1_000);
    assert_eq!(store.oldest_version(), VERSIONS, "pruning stops at the latest version");
    check_kept(&state, store.as_ref(), &snaps, VERSIONS);
    let counts = store.state_counts().expect("counts");
    assert_eq!(counts.stale, 0, "stale entries leak");
    let tip = &snaps[VERSIONS as usize];
    let fresh_dir = tempfile::tempdir().expect("tempdir");
    let fresh: Arc<dyn Store> = Arc::new(RedbStore::open(&fresh_dir.path().join("db")).expect("open"));
    let fresh_state = StateDb::new(fresh.clone(), Suite::Sm);
    let w: Writes = (0..KEYS).filter_map(|i| tip.values[i as usize].clone().map(|v| (key(i), Some(v)))).collect();
    let p = fresh_state.prepare(&w, 0).expect("prepare");
    assert_eq!(p.root, tip.root, "the same key set gives the same root");
    assert_eq!(counts.nodes, p.nodes.len() as u64, "nodes no version needs are left");
    // One newest version per key ever written (a deletion keeps its marker), one leaf value per
    // present key, one ordered entry per key.
    let present = tip.values.iter().filter(|v| v.is_some()).count() as u64;
    assert_eq!((counts.values, counts.keys), (present, KEYS));
    assert_eq!(counts.ordered, KEYS);
}

#[test]
fn an_archive_store_keeps_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, state, snaps) = build(&dir.path().join("db"), Suite::Intl);
    let counts = store.state_counts().expect("counts");
    drop(state);
    drop(store);
    let store = Arc::new(RedbStore::open(&dir.path().join("db")).expect("reopen"));
    let state = StateDb::new(store.clone(), Suite::Intl);
    assert_eq!(store.oldest_version(), 0);
    assert_eq!(store.state_counts().expect("counts"), counts, "nothing is deleted without a prune");
    check_kept(&state, store.as_ref(), &snaps, 0);
}
