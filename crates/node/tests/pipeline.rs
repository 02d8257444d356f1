//! The pipelined commit (issue 15, item 2): a committed block is written by the writer thread
//! while the next block is built on it; nothing outside the chain sees the block, and no
//! signature is made on top of it, before it is durable; a failed write stops the chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite};
use fdl_mempool::{Mempool, MempoolConfig};
use fdl_node::{Chain, ChainParts};
use fdl_rpc::Metrics;
use fdl_state::StateDb;
use fdl_storage::{
    AuditWrite, BlockWrite, PruneProgress, RedbStore, StateNode, StateValue, StorageError, Store, TxLocation, ValueAt,
};
use fdl_types::{
    Block, BlockHeader, ChainParams, Commit, Encode, Genesis, GenesisValidator, Payload, Receipt, SignedTx, TxBody,
};
use parking_lot::{Condvar, Mutex};

const CHAIN: &str = "fdl-pipeline-test";

/// What the gated store does with block writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Closed,
    Open,
    Fail,
}

/// A store whose block writes, and separately its indexing of transaction ids, wait for a gate
/// (a slow disk) or fail (a broken one).
struct GatedStore {
    inner: RedbStore,
    gate: Mutex<Gate>,
    index_gate: Mutex<Gate>,
    moved: Condvar,
    /// The versions of the state-tree nodes read from this store, in order.
    node_reads: Mutex<Vec<u64>>,
}

impl GatedStore {
    fn set(&self, g: Gate) {
        *self.gate.lock() = g;
        self.moved.notify_all();
    }

    fn set_index(&self, g: Gate) {
        *self.index_gate.lock() = g;
        self.moved.notify_all();
    }

    fn pass(&self, gate: &Mutex<Gate>) -> Result<(), StorageError> {
        let mut g = gate.lock();
        while *g == Gate::Closed {
            self.moved.wait(&mut g);
        }
        if *g == Gate::Fail {
            return Err(StorageError::Db("disk full".into()));
        }
        Ok(())
    }
}

impl Store for GatedStore {
    fn latest_height(&self) -> Result<u64, StorageError> {
        self.inner.latest_height()
    }
    fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        self.inner.block(height)
    }
    fn block_header(&self, height: u64) -> Result<Option<BlockHeader>, StorageError> {
        self.inner.block_header(height)
    }
    fn commit(&self, height: u64) -> Result<Option<Commit>, StorageError> {
        self.inner.commit(height)
    }
    fn height_of_block(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        self.inner.height_of_block(hash)
    }
    fn tx_location(&self, id: &Hash) -> Result<Option<TxLocation>, StorageError> {
        self.inner.tx_location(id)
    }
    fn receipt(&self, id: &Hash) -> Result<Option<Receipt>, StorageError> {
        self.inner.receipt(id)
    }
    fn index_txs(&self, height: u64, ids: &[Hash]) -> Result<(), StorageError> {
        self.pass(&self.index_gate)?;
        self.inner.index_txs(height, ids)
    }
    fn write_ledger(&self, write: BlockWrite<'_>) -> Result<(), StorageError> {
        self.pass(&self.gate)?;
        self.inner.write_ledger(write)
    }
    fn write_genesis(&self, h: Hash, nodes: Vec<StateNode>, values: Vec<StateValue>) -> Result<(), StorageError> {
        self.inner.write_genesis(h, nodes, values)
    }
    fn genesis_hash(&self) -> Result<Option<Hash>, StorageError> {
        self.inner.genesis_hash()
    }
    fn state_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.node_reads.lock().push(fdl_state::node_key_version(key).unwrap());
        self.inner.state_node(key)
    }
    fn state_value(&self, kh: &[u8; 32], max_version: u64) -> Result<ValueAt, StorageError> {
        self.inner.state_value(kh, max_version)
    }

    fn state_value_at(&self, kh: &[u8; 32], leaf_version: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.state_value_at(kh, leaf_version)
    }
    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>, version: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.next_key(prefix, after, version)
    }
    fn audit(&self, from: u64, to: u64, visit: &mut dyn FnMut(u64, &[u8]) -> bool) -> Result<(), StorageError> {
        self.inner.audit(from, to, visit)
    }
    fn audit_by_key(
        &self,
        key: &[u8],
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.inner.audit_by_key(key, from, to, visit)
    }
    fn append_local_audit(&self, records: &[(u64, AuditWrite)], keep: u64) -> Result<(), StorageError> {
        self.inner.append_local_audit(records, keep)
    }
    fn local_audit(
        &self,
        key: Option<&[u8]>,
        from_ms: u64,
        to_ms: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.inner.local_audit(key, from_ms, to_ms, visit)
    }
    fn prune(&self, keep_from: u64, budget: usize) -> Result<PruneProgress, StorageError> {
        self.inner.prune(keep_from, budget)
    }
    fn oldest_version(&self) -> u64 {
        self.inner.oldest_version()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    gated: Arc<GatedStore>,
    parts: ChainParts,
    chain: Chain,
    issuer: KeyPair,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let issuer = KeyPair::generate(Suite::Sm);
    let validator = KeyPair::generate(Suite::Sm);
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: CHAIN.into(),
        suite: Suite::Sm,
        genesis_time_ms: 0,
        issuer: issuer.address(),
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
        params: ChainParams::default(),
    };
    genesis.validate().unwrap();
    let genesis = Arc::new(genesis);
    let gated = Arc::new(GatedStore {
        inner: RedbStore::open(&dir.path().join("ledger.redb")).unwrap(),
        gate: Mutex::new(Gate::Open),
        index_gate: Mutex::new(Gate::Open),
        moved: Condvar::new(),
        node_reads: Mutex::new(Vec::new()),
    });
    let store: Arc<dyn Store> = gated.clone();
    let config = MempoolConfig { capacity: 1_000, verify_threads: 1, verify_queue: 16, ..MempoolConfig::default() };
    let mempool = Arc::new(Mempool::new(genesis.clone(), store.clone(), config).unwrap());
    let (blocks, _) = tokio::sync::broadcast::channel(16);
    let parts = ChainParts {
        genesis,
        store: store.clone(),
        state: StateDb::new(store, Suite::Sm),
        mempool,
        blocks,
        metrics: Arc::new(Metrics::default()),
    };
    let signer: Arc<dyn Signer> = Arc::new(validator);
    let chain = Chain::open(parts.clone(), signer).unwrap();
    Fixture { _dir: dir, gated, parts, chain, issuer }
}

fn issue(issuer: &KeyPair, nonce: u64, to: Address) -> SignedTx {
    TxBody {
        chain_id: CHAIN.into(),
        signer: issuer.public_key(),
        credential: fdl_types::Credential::None,
        nonce,
        expiry_height: 100,
        payload: Payload::Issue { to, amount: 1_000 },
    }
    .sign(issuer)
    .unwrap()
}

fn balance(chain: &Chain, version: u64, who: &Address) -> u128 {
    fdl_schema::read::account(&chain.view_at(version), who).unwrap().map_or(0, |a| a.balance)
}

/// Builds, signs and commits the next block from the pool.
fn next_block(f: &Fixture) -> Hash {
    let txs = f.chain.mempool().take_batch(100, f.chain.height() + 1);
    let p = f.chain.build_block(txs).unwrap();
    let hash = p.hash;
    let commit = f.chain.sign_commit(&p).unwrap();
    f.chain.commit_block(p, commit, Instant::now()).unwrap();
    hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_block_is_built_while_the_previous_one_is_written() {
    let f = fixture();
    let (alice, bob) = (Address([1; 20]), Address([2; 20]));
    let t1 = issue(&f.issuer, 1, alice);
    f.parts.mempool.admit(&t1.encode()).await.unwrap();
    let mut receipt = f.parts.mempool.subscribe(t1.id());
    let mut stream = f.parts.blocks.subscribe();

    // A slow disk: block 1's write waits, yet committing it returns at once.
    f.gated.set(Gate::Closed);
    next_block(&f);
    assert_eq!(f.chain.height(), 1, "the tip moved");
    assert_eq!(f.parts.store.latest_height().unwrap(), 0, "nothing is on disk yet");
    assert!(f.parts.mempool.contains(&t1.id()), "the pool forgets it only once it is durable");
    assert!(receipt.try_recv().is_err(), "no receipt before the block is durable");
    assert!(stream.try_recv().is_err(), "no subscriber sees it before it is durable");
    assert_eq!(f.parts.metrics.height.load(std::sync::atomic::Ordering::Relaxed), 0);

    // Block 2 is built and executed on block 1's state, served from memory.
    assert_eq!(balance(&f.chain, 1, &alice), 1_000);
    assert!(f.chain.store().tx_location(&t1.id()).unwrap().is_some());
    let t2 = issue(&f.issuer, 2, bob);
    f.parts.mempool.admit(&t2.encode()).await.unwrap();
    let txs = f.chain.mempool().take_batch(100, 2);
    assert_eq!(txs.len(), 1, "block 1's transaction is not taken again");
    let p2 = f.chain.build_block(txs).unwrap();
    assert_eq!(p2.block.header.height, 2);

    // Nothing is signed on top of block 1 until it is durable.
    let waited = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let t = Instant::now();
            f.chain.wait_durable().unwrap();
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(!h.is_finished(), "block 1 is not durable yet");
        f.gated.set(Gate::Open);
        h.join().unwrap()
    });
    assert!(waited >= Duration::from_millis(200));
    f.chain.wait_settled().unwrap();
    assert_eq!(f.parts.store.latest_height().unwrap(), 1);
    assert_eq!(receipt.await.unwrap().tx_id, t1.id());
    assert_eq!(stream.try_recv().unwrap().block.header.height, 1);
    assert!(!f.parts.mempool.contains(&t1.id()));

    let commit = f.chain.sign_commit(&p2).unwrap();
    let root2 = p2.block.header.state_root;
    f.chain.commit_block(p2, commit, Instant::now()).unwrap();
    f.chain.wait_durable().unwrap();
    assert_eq!(f.parts.store.latest_height().unwrap(), 2);
    assert_eq!(f.parts.state.root(2).unwrap(), root2, "the durable state is the one block 2 was built on");
    assert_eq!(balance(&f.chain, 2, &bob), 1_000);
    // A chain opened on the disk alone agrees (its opening checks the root against the header).
    let again = Chain::open(f.parts.clone(), Arc::new(KeyPair::generate(Suite::Sm))).unwrap();
    assert_eq!(again.height(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_stops_the_chain() {
    let f = fixture();
    f.gated.set(Gate::Fail);
    next_block(&f);
    let e = f.chain.wait_durable().expect_err("the write failed");
    assert!(e.to_string().contains("disk full"), "{e}");
    let p = f.chain.build_block(vec![]).unwrap();
    let commit = f.chain.sign_commit(&p).unwrap();
    assert!(f.chain.commit_block(p, commit, Instant::now()).is_err(), "no block after a failed write");
    assert_eq!(f.parts.store.latest_height().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_block_waiting_for_its_index_is_still_found_and_announced_once_indexed() {
    let f = fixture();
    let t1 = issue(&f.issuer, 1, Address([1; 20]));
    f.parts.mempool.admit(&t1.encode()).await.unwrap();
    let mut receipt = f.parts.mempool.subscribe(t1.id());

    // A slow index: block 1 is durable, its ids not yet indexed.
    f.gated.set_index(Gate::Closed);
    next_block(&f);
    f.chain.wait_durable().unwrap();
    assert_eq!(f.parts.store.latest_height().unwrap(), 1, "durable in the ledger");
    assert_eq!(f.parts.store.tx_location(&t1.id()).unwrap(), None, "not in the index yet");
    assert_eq!(f.chain.store().tx_location(&t1.id()).unwrap().map(|l| l.height), Some(1), "the chain still finds it");
    assert_eq!(f.chain.store().receipt(&t1.id()).unwrap().map(|r| r.tx_id), Some(t1.id()));
    assert!(receipt.try_recv().is_err(), "no receipt before its index is written");
    // It is neither admitted again nor taken into the next block, which commits meanwhile.
    assert!(f.parts.mempool.admit(&t1.encode()).await.is_err(), "a replay of it is refused");
    assert!(f.chain.mempool().take_batch(100, 2).is_empty());
    let p2 = f.chain.build_block(vec![t1.clone()]).unwrap();
    assert!(p2.block.txs.is_empty(), "the builder knows it is included");
    next_block(&f);
    f.chain.wait_durable().unwrap();
    assert_eq!(f.parts.store.latest_height().unwrap(), 2);
    assert!(f.parts.mempool.contains(&t1.id()), "still waiting to be announced");

    f.gated.set_index(Gate::Open);
    f.chain.wait_settled().unwrap();
    assert_eq!(receipt.await.unwrap().tx_id, t1.id());
    assert_eq!(f.parts.store.tx_location(&t1.id()).unwrap().map(|l| l.height), Some(1));
    assert!(!f.parts.mempool.contains(&t1.id()));

    // A failed index write stops the chain like a failed block write.
    f.gated.set_index(Gate::Fail);
    next_block(&f);
    let e = f.chain.wait_settled().expect_err("the index write failed");
    assert!(e.to_string().contains("disk full"), "{e}");
    let p = f.chain.build_block(vec![]).unwrap();
    let commit = f.chain.sign_commit(&p).unwrap();
    assert!(f.chain.commit_block(p, commit, Instant::now()).is_err(), "no block after a failed index write");
}

/// Building a block reads the tree nodes of the last durable blocks from memory (they never
/// change once durable), and older ones from the store, with the same result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_nodes_of_recent_durable_blocks_are_read_from_memory() {
    let f = fixture();
    let (alice, bob) = (Address([1; 20]), Address([2; 20]));
    let mut nonce = 0;
    let mut pay = |to: Address| {
        nonce += 1;
        issue(&f.issuer, nonce, to)
    };
    // Block 1 writes alice's and bob's leaves; blocks 2 to 9 only bob's.
    for to in [alice, bob] {
        f.parts.mempool.admit(&pay(to).encode()).await.unwrap();
    }
    next_block(&f);
    for _ in 2..=9 {
        f.parts.mempool.admit(&pay(bob).encode()).await.unwrap();
        next_block(&f);
    }
    f.chain.wait_settled().unwrap();
    assert_eq!(f.parts.store.latest_height().unwrap(), 9);

    // Block 10 pays bob again: every node on its path is from blocks 2 to 9, in memory.
    f.gated.node_reads.lock().clear();
    f.parts.mempool.admit(&pay(bob).encode()).await.unwrap();
    next_block(&f);
    f.chain.wait_settled().unwrap();
    let reads = std::mem::take(&mut *f.gated.node_reads.lock());
    assert!(reads.iter().all(|v| *v < 2), "nodes of the last durable blocks come from memory: {reads:?}");

    // Block 11 pays alice, whose leaf is from block 1, more than `RECENT_NODE_BLOCKS` blocks
    // back: read from the store, and the result is the same as from memory.
    f.parts.mempool.admit(&pay(alice).encode()).await.unwrap();
    next_block(&f);
    f.chain.wait_settled().unwrap();
    let reads = std::mem::take(&mut *f.gated.node_reads.lock());
    assert!(reads.contains(&1), "alice's leaf of block 1 is read from the store: {reads:?}");
    assert_eq!(balance(&f.chain, 11, &alice), 2_000);
    assert_eq!(balance(&f.chain, 11, &bob), 10_000);
    // A chain opened on the disk alone checks the tip's root against its header.
    let again = Chain::open(f.parts.clone(), Arc::new(KeyPair::generate(Suite::Sm))).unwrap();
    assert_eq!(again.height(), 11);
}
