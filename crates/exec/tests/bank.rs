//! Bank module behaviour: issuer-only minting, checked arithmetic, conservation of supply.

use std::collections::BTreeMap;

use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_exec::{ExecError, SUPPLY_KEY, StateView, account_key, decode_account, execute_block, genesis_writes};
use fdl_types::{ChainParams, Genesis, Payload, SignedTx, StatusCode, TxBody};
use proptest::prelude::*;

#[derive(Default)]
struct Mem(BTreeMap<Vec<u8>, Vec<u8>>);

impl StateView for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.0.get(key).cloned())
    }
}

impl Mem {
    fn apply(&mut self, w: BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for (k, v) in w {
            match v {
                Some(v) => self.0.insert(k, v),
                None => self.0.remove(&k),
            };
        }
    }
    fn balance(&self, a: &Address) -> u128 {
        let k = account_key(a);
        self.0.get(&k).map(|b| decode_account(&k, b).expect("account").balance).unwrap_or(0)
    }
    fn supply(&self) -> u128 {
        u128::from_be_bytes(self.0[SUPPLY_KEY].as_slice().try_into().expect("16 bytes"))
    }
}

fn genesis(issuer: Address) -> Genesis {
    Genesis {
        read_policy: Default::default(),
        chain_id: "t".into(),
        suite: Suite::Intl,
        genesis_time_ms: 0,
        issuer,
        validators: vec![],
        members: vec![],
        regulator: None,
        observers: vec![],
        balances: vec![],
        params: ChainParams::default(),
    }
}

fn tx(k: &KeyPair, nonce: u64, payload: Payload) -> SignedTx {
    TxBody {
        chain_id: "t".into(),
        signer: k.public_key(),
        credential: fdl_types::Credential::None,
        nonce,
        expiry_height: 10,
        payload,
    }
    .sign(k)
    .expect("sign")
}

fn setup() -> (Mem, KeyPair, KeyPair, KeyPair) {
    let issuer = KeyPair::ed25519_from_seed(&[1; 32]);
    let a = KeyPair::ed25519_from_seed(&[2; 32]);
    let b = KeyPair::ed25519_from_seed(&[3; 32]);
    let mut m = Mem::default();
    m.apply(genesis_writes(&genesis(issuer.address())).expect("genesis"));
    (m, issuer, a, b)
}

#[test]
fn issue_transfer_and_refusals() {
    let (mut m, issuer, a, b) = setup();
    let txs = vec![
        tx(&issuer, 1, Payload::Issue { to: a.address(), amount: 1000 }),
        tx(&a, 1, Payload::Transfer { to: b.address(), amount: 250, memo: String::new() }),
        tx(&a, 2, Payload::Transfer { to: b.address(), amount: 5000, memo: String::new() }),
        tx(&a, 3, Payload::Issue { to: a.address(), amount: 1 }),
        tx(&a, 4, Payload::Transfer { to: a.address(), amount: 1, memo: String::new() }),
        tx(&issuer, 2, Payload::Burn { amount: 1 }),
    ];
    let out = execute_block(&m, 1, 5, &txs).expect("exec");
    let codes: Vec<_> = out.receipts.iter().map(|r| r.status).collect();
    assert_eq!(
        codes,
        vec![
            StatusCode::Ok,
            StatusCode::Ok,
            StatusCode::InsufficientBalance,
            StatusCode::Unauthorized,
            StatusCode::SelfTransfer,
            StatusCode::InsufficientBalance
        ]
    );
    assert_eq!(out.receipts[1].events[0].kind, "bank.transferred");
    assert!(out.receipts[2].events.is_empty());
    m.apply(out.writes);
    assert_eq!(m.balance(&a.address()), 750);
    assert_eq!(m.balance(&b.address()), 250);
    assert_eq!(m.supply(), 1000);
    let k = account_key(&a.address());
    assert_eq!(decode_account(&k, &m.0[&k]).expect("acct").sent, 4, "every included tx counts");
}

#[test]
fn overflow_is_refused_not_wrapped() {
    let (mut m, issuer, a, _) = setup();
    let txs = vec![
        tx(&issuer, 1, Payload::Issue { to: a.address(), amount: u128::MAX }),
        tx(&issuer, 2, Payload::Issue { to: a.address(), amount: 1 }),
    ];
    let out = execute_block(&m, 1, 0, &txs).expect("exec");
    assert_eq!(out.receipts[0].status, StatusCode::Ok);
    assert_eq!(out.receipts[1].status, StatusCode::Overflow);
    m.apply(out.writes);
    assert_eq!(m.balance(&a.address()), u128::MAX);
    assert_eq!(m.supply(), u128::MAX);
}

#[test]
fn same_input_same_writes() {
    let (m, issuer, a, _) = setup();
    let txs = vec![tx(&issuer, 1, Payload::Issue { to: a.address(), amount: 9 })];
    assert_eq!(execute_block(&m, 1, 0, &txs).expect("x"), execute_block(&m, 1, 0, &txs).expect("y"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn balances_always_sum_to_supply(ops in proptest::collection::vec((0usize..4, 0usize..4, 0u128..2_000), 1..40)) {
        let (mut m, issuer, a, b) = setup();
        let c = KeyPair::generate(Suite::Intl);
        let keys = [&issuer, &a, &b, &c];
        let mut txs = vec![tx(&issuer, 0, Payload::Issue { to: a.address(), amount: 5_000 })];
        for (i, (from, to, amount)) in ops.iter().enumerate() {
            txs.push(tx(keys[*from], i as u64 + 1, Payload::Transfer { to: keys[*to].address(), amount: *amount, memo: String::new() }));
        }
        let out = execute_block(&m, 1, 0, &txs).expect("exec");
        m.apply(out.writes);
        let total: u128 = keys.iter().map(|k| m.balance(&k.address())).sum();
        prop_assert_eq!(total, m.supply());
        prop_assert_eq!(m.supply(), 5_000);
    }
}
