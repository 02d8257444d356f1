//! The block rules, without a node: each rule refuses with its own [`BlockInvalid`] variant,
//! and a valid block executes.

use std::collections::BTreeMap;

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite};
use fdl_exec::{
    ExecError, StateView, TxRejection,
    block_rules::{BlockContext, BlockInvalid, MAX_CLOCK_DRIFT_MS, check_and_execute, check_header, check_roots},
    genesis_writes,
};
use fdl_types::{
    Block, BlockHeader, ChainParams, Credential, Genesis, GenesisValidator, NodeRole, NodeSpec, Payload, SignedTx,
    TxBody,
};

struct Mem(BTreeMap<Vec<u8>, Vec<u8>>);

impl StateView for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.0.get(key).cloned())
    }
}

struct Fixture {
    genesis: Genesis,
    state: Mem,
    nodes: Vec<NodeSpec>,
    params: ChainParams,
    proposer: KeyPair,
    issuer: KeyPair,
}

const PARENT_MS: u64 = 1_000_000;

fn fixture() -> Fixture {
    let proposer = KeyPair::ed25519_from_seed(&[9; 32]);
    let issuer = KeyPair::ed25519_from_seed(&[1; 32]);
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: "rules".into(),
        suite: Suite::Intl,
        genesis_time_ms: PARENT_MS,
        issuer: issuer.address(),
        validators: vec![GenesisValidator {
            name: "v".into(),
            public_key: hex::encode(proposer.public_key().to_bytes()),
            power: 1,
            ..GenesisValidator::default()
        }],
        members: vec![],
        regulator: None,
        observers: vec![],
        balances: vec![],
        params: ChainParams::default(),
    };
    let state =
        Mem(genesis_writes(&genesis).expect("genesis").into_iter().filter_map(|(k, v)| Some((k, v?))).collect());
    let nodes = vec![NodeSpec {
        name: "v".into(),
        org: String::new(),
        role: NodeRole::Validator,
        public_key: proposer.public_key().to_bytes(),
        power: 1,
        peer_id: String::new(),
        p2p: String::new(),
        rpc: String::new(),
        certificate: vec![],
    }];
    Fixture { params: genesis.params.clone(), genesis, state, nodes, proposer, issuer }
}

impl Fixture {
    fn ctx(&self) -> BlockContext<'_> {
        BlockContext {
            genesis: &self.genesis,
            parent_height: 0,
            parent_hash: Hash::ZERO,
            parent_time_ms: PARENT_MS,
            nodes: &self.nodes,
            params: &self.params,
            now_ms: PARENT_MS + 1_000,
        }
    }

    fn issue(&self, nonce: u64, amount: u128) -> SignedTx {
        TxBody {
            chain_id: "rules".into(),
            signer: self.issuer.public_key(),
            credential: Credential::None,
            nonce,
            expiry_height: 10,
            payload: Payload::Issue { to: Address([5; 20]), amount },
        }
        .sign(&self.issuer)
        .expect("sign")
    }

    fn block(&self, txs: Vec<SignedTx>) -> Block {
        let header = BlockHeader {
            chain_id: "rules".into(),
            height: 1,
            parent_hash: Hash::ZERO,
            timestamp_ms: PARENT_MS + 500,
            proposer: self.proposer.address(),
            tx_count: txs.len() as u32,
            tx_root: Block::compute_tx_root(Suite::Intl, &txs),
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
        };
        Block { header, txs }
    }

    fn judge(&self, block: &Block, on_chain: bool) -> Result<(), BlockInvalid> {
        check_and_execute(&self.ctx(), &self.state, block, &|_| Ok(on_chain)).expect("no store failure").map(|_| ())
    }
}

#[test]
fn a_valid_block_executes_and_its_roots_are_checked() {
    let f = fixture();
    let block = f.block(vec![f.issue(1, 10)]);
    let outcome = check_and_execute(&f.ctx(), &f.state, &block, &|_| Ok(false)).expect("store").expect("valid");
    assert_eq!(outcome.receipts.len(), 1);
    // The header above commits to zero roots: the root check names the state root first.
    let computed = Hash([3; 32]);
    assert_eq!(
        check_roots(Suite::Intl, &block, computed, &outcome),
        Err(BlockInvalid::StateRoot { computed, header: Hash::ZERO })
    );
    let mut good = block.clone();
    good.header.receipts_root = Block::compute_receipts_root(Suite::Intl, &outcome.receipts);
    good.header.state_root = computed;
    assert_eq!(check_roots(Suite::Intl, &good, computed, &outcome), Ok(()));
    good.header.receipts_root = Hash::ZERO;
    assert_eq!(check_roots(Suite::Intl, &good, computed, &outcome), Err(BlockInvalid::ReceiptsRoot));
}

#[test]
fn header_rules_each_have_their_variant() {
    let f = fixture();
    let base = f.block(vec![]);
    let mut b = base.clone();
    b.header.chain_id = "other".into();
    assert!(matches!(check_header(&f.ctx(), &b), Err(BlockInvalid::WrongChain { .. })));
    let mut b = base.clone();
    b.header.height = 2;
    assert_eq!(check_header(&f.ctx(), &b), Err(BlockInvalid::NotNext { height: 2, tip: 0 }));
    let mut b = base.clone();
    b.header.parent_hash = Hash([1; 32]);
    assert!(matches!(check_header(&f.ctx(), &b), Err(BlockInvalid::NotNext { .. })));
    let mut b = base.clone();
    b.header.proposer = Address([1; 20]);
    assert_eq!(check_header(&f.ctx(), &b), Err(BlockInvalid::ProposerNotValidator { proposer: Address([1; 20]) }));
    let mut b = base.clone();
    b.header.timestamp_ms = PARENT_MS - 1;
    assert!(matches!(check_header(&f.ctx(), &b), Err(BlockInvalid::Timestamp { .. })));
    let mut b = base.clone();
    b.header.timestamp_ms = PARENT_MS + 1_000 + MAX_CLOCK_DRIFT_MS + 1;
    assert!(matches!(check_header(&f.ctx(), &b), Err(BlockInvalid::Timestamp { .. })));
    let mut b = base.clone();
    b.header.tx_count = 1;
    assert!(matches!(check_header(&f.ctx(), &b), Err(BlockInvalid::TxCount { count: 0, header: 1, .. })));
    let mut b = f.block(vec![f.issue(1, 10)]);
    b.header.tx_root = Hash::ZERO;
    assert_eq!(check_header(&f.ctx(), &b), Err(BlockInvalid::TxRoot));
    assert_eq!(check_header(&f.ctx(), &base), Ok(()));
}

#[test]
fn transaction_rules_each_have_their_variant() {
    let f = fixture();
    let tx = f.issue(1, 10);
    let id = tx.id();
    assert_eq!(f.judge(&f.block(vec![tx.clone(), tx.clone()]), false), Err(BlockInvalid::Duplicate { id }));
    assert_eq!(f.judge(&f.block(vec![tx.clone()]), true), Err(BlockInvalid::AlreadyOnChain { id }));
    let zero = f.issue(2, 0);
    assert_eq!(
        f.judge(&f.block(vec![zero.clone()]), false),
        Err(BlockInvalid::Tx { id: zero.id(), reason: TxRejection::ZeroAmount })
    );
    let mut p = f.params.clone();
    p.max_block_txs = 1;
    let ctx = BlockContext { params: &p, ..f.ctx() };
    let two = f.block(vec![f.issue(3, 1), f.issue(4, 1)]);
    assert!(matches!(check_header(&ctx, &two), Err(BlockInvalid::TxCount { count: 2, max: 1, .. })));
}

#[test]
fn codes_are_stable_and_distinct() {
    let all = [
        BlockInvalid::WrongChain { expected: String::new(), got: String::new() },
        BlockInvalid::NotNext { height: 0, tip: 0 },
        BlockInvalid::ProposerNotValidator { proposer: Address::default() },
        BlockInvalid::Timestamp { timestamp_ms: 0, min_ms: 0, max_ms: 0 },
        BlockInvalid::TxCount { count: 0, header: 0, max: 0 },
        BlockInvalid::TxRoot,
        BlockInvalid::Tx { id: Hash::ZERO, reason: TxRejection::Replayed },
        BlockInvalid::Duplicate { id: Hash::ZERO },
        BlockInvalid::AlreadyOnChain { id: Hash::ZERO },
        BlockInvalid::StateRoot { computed: Hash::ZERO, header: Hash::ZERO },
        BlockInvalid::ReceiptsRoot,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(BlockInvalid::code).collect();
    assert_eq!(codes.len(), all.len());
}
