//! The chain harness the execution tests share: state in memory, four institutions with their
//! CAs and certified validators at genesis, certified actors, transactions, blocks (executed
//! twice: execution must be deterministic) and committee votes.
//!
//! Each test binary uses part of it (`mod common;`).
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Bound;

use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_exec::gov::ProposalState;
use fdl_exec::{BlockOutcome, ExecError, StateView, execute_block, genesis_writes, gov};
use fdl_types::{
    ChainParams, Credential, Event, Genesis, GenesisMember, GenesisValidator, GovAction, Payload, Receipt, Role,
    SignedTx, StatusCode, TxBody,
};

/// State in memory, with the ordered key iteration execution merges its overlays over
/// (`StateView::next_key`, ADR 0013).
#[derive(Default, Clone)]
pub struct Mem {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// How many times execution asked for the next key.
    pub nexts: Cell<u64>,
}

impl StateView for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.map.get(key).cloned())
    }

    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, ExecError> {
        self.nexts.set(self.nexts.get() + 1);
        let from = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        Ok(self.map.range((from, Bound::Unbounded)).next().map(|(k, _)| k.clone()).filter(|k| k.starts_with(prefix)))
    }
}

impl Mem {
    pub fn apply(&mut self, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for (k, v) in writes {
            match v {
                Some(v) => self.map.insert(k.clone(), v.clone()),
                None => self.map.remove(k),
            };
        }
    }
}

/// Block time: from "now", so that certificates issued for the test are valid.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64
}

/// An institution's CA certificate and key.
pub type Ca = (Vec<u8>, KeyPair);

/// A key and the certificate that names its institution and role.
pub struct Actor {
    pub key: KeyPair,
    pub cert: Vec<u8>,
}

impl Actor {
    pub fn address(&self) -> Address {
        self.key.public_key().address()
    }
}

/// A new key certified by `ca` with `role` (for 30 days).
pub fn certify(ca: &Ca, role: Role) -> Actor {
    let key = KeyPair::generate(Suite::Intl);
    let cert = fdl_pki::issue(&ca.0, &ca.1, &key.public_key(), role.as_str(), role, 30).expect("cert");
    Actor { key, cert }
}

/// Four institutions `org1`..`org4` for a genesis, each with a CA and a certified validator
/// (`org{i}`'s validator certificate valid for `validator_days(i)` days); the first `seats` hold
/// a committee seat. The members, the validators and each institution's CA.
pub fn institutions(
    seats: usize,
    validator_days: impl Fn(usize) -> u32,
) -> (Vec<GenesisMember>, Vec<GenesisValidator>, Vec<Ca>) {
    let suite = Suite::Intl;
    let (mut members, mut validators, mut cas) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=4 {
        let org = format!("org{i}");
        let ca_key = KeyPair::generate(suite);
        let ca = fdl_pki::create_ca(&org, &ca_key, 30).expect("ca");
        let v = KeyPair::generate(suite);
        let vc = fdl_pki::issue(&ca, &ca_key, &v.public_key(), &org, Role::Validator, validator_days(i)).expect("cert");
        members.push(GenesisMember {
            name: org.clone(),
            ca_cert: fdl_pki::to_pem(&ca).expect("pem"),
            committee: i <= seats,
        });
        validators.push(GenesisValidator {
            name: org.clone(),
            public_key: hex::encode(v.public_key().to_bytes()),
            power: 1,
            org: Some(org),
            peer_id: None,
            certificate: Some(fdl_pki::to_pem(&vc).expect("pem")),
        });
        cas.push((ca, ca_key));
    }
    (members, validators, cas)
}

/// A validated genesis of chain `t` (suite Intl) with these institutions.
pub fn genesis(
    members: Vec<GenesisMember>,
    validators: Vec<GenesisValidator>,
    regulator: Option<&str>,
    params: ChainParams,
) -> Genesis {
    let g = Genesis {
        read_policy: Default::default(),
        chain_id: "t".into(),
        suite: Suite::Intl,
        genesis_time_ms: 0,
        issuer: Address([1; 20]),
        members,
        regulator: regulator.map(Into::into),
        validators,
        observers: vec![],
        balances: vec![],
        params,
    };
    g.validate().expect("genesis");
    g
}

/// Four institutions (`org1`..`org4`), each with a CA, a certified validator and an
/// administrator (`admins[i]` is `org{i+1}`'s); `org4` is also the regulator.
pub struct Chain {
    pub state: Mem,
    pub height: u64,
    pub start_ms: u64,
    pub nonce: Cell<u64>,
    pub cas: Vec<Ca>,
    pub admins: Vec<Actor>,
}

impl Chain {
    pub fn new() -> Chain {
        Chain::with_params(ChainParams::default())
    }

    pub fn with_params(params: ChainParams) -> Chain {
        Chain::build(params, 4)
    }

    /// Four institutions of which the first `seats` hold a committee seat.
    pub fn build(params: ChainParams, seats: usize) -> Chain {
        let (members, validators, cas) = institutions(seats, |_| 30);
        let g = genesis(members, validators, Some("org4"), params);
        let mut state = Mem::default();
        state.apply(&genesis_writes(&g).expect("genesis writes"));
        let mut chain = Chain { state, height: 0, start_ms: now_ms(), nonce: Cell::new(0), cas, admins: vec![] };
        chain.admins = (0..4).map(|i| chain.actor(i, Role::Admin)).collect();
        chain
    }

    /// A new key certified by institution `org` (0-based) with `role`.
    pub fn actor(&self, org: usize, role: Role) -> Actor {
        certify(&self.cas[org], role)
    }

    pub fn tx(&self, who: &Actor, payload: Payload) -> SignedTx {
        self.nonce.set(self.nonce.get() + 1);
        TxBody {
            chain_id: "t".into(),
            signer: who.key.public_key(),
            credential: Credential::Certificate(who.cert.clone()),
            nonce: self.nonce.get(),
            expiry_height: self.height + 100,
            payload,
        }
        .sign(&who.key)
        .expect("sign")
    }

    /// Executes `txs` as the next block over the current state, without committing it.
    pub fn exec(&self, txs: &[SignedTx]) -> BlockOutcome {
        let h = self.height + 1;
        execute_block(&self.state, h, self.start_ms + h * 1_000, txs).expect("execute")
    }

    /// Executes `txs` as the next block (twice: execution must be deterministic) and commits it.
    pub fn block(&mut self, txs: &[SignedTx]) -> Vec<Receipt> {
        let out = self.exec(txs);
        assert_eq!(out, self.exec(txs), "execution is not deterministic");
        self.state.apply(&out.writes);
        self.height += 1;
        out.receipts
    }

    pub fn send(&mut self, who: &Actor, payload: Payload) -> Receipt {
        let tx = self.tx(who, payload);
        self.block(&[tx]).remove(0)
    }

    pub fn propose_by(&mut self, who: &Actor, action: GovAction) -> (u64, Receipt) {
        let p = Payload::Propose { action, deadline: self.height + 10, activation_height: 0, note: String::new() };
        let r = self.send(who, p);
        let id = attr(&r, "gov.proposed", "proposal").map(|v| v.parse().expect("id")).unwrap_or(0);
        (id, r)
    }

    /// Proposes `action` by `org`'s administrator.
    pub fn propose(&mut self, org: usize, action: GovAction) -> (u64, Receipt) {
        let tx = self.tx(
            &self.admins[org],
            Payload::Propose { action, deadline: self.height + 10, activation_height: 0, note: String::new() },
        );
        let r = self.block(&[tx]).remove(0);
        let id = attr(&r, "gov.proposed", "proposal").map(|v| v.parse().expect("id")).unwrap_or(0);
        (id, r)
    }

    /// `org`'s administrator votes yes on proposal `id`.
    pub fn vote(&mut self, org: usize, id: u64) -> Receipt {
        let tx = self.tx(&self.admins[org], Payload::Vote { proposal: id, approve: true });
        self.block(&[tx]).remove(0)
    }

    pub fn status(&self, id: u64) -> ProposalState {
        gov::proposal(&self.state, id).expect("read").expect("exists").state_at(self.height)
    }

    /// The other institutions vote yes on proposal `id` until it is decided; the receipt of the
    /// vote that decided it.
    pub fn carry(&mut self, id: u64, proposer: usize) -> Receipt {
        for org in (0..4).filter(|o| *o != proposer) {
            let r = self.vote(org, id);
            assert_eq!(r.status, StatusCode::Ok, "{r:?}");
            if self.status(id) != ProposalState::Open {
                return r;
            }
        }
        panic!("proposal {id} was not decided");
    }

    /// Proposes `action` by `org`'s administrator and votes it through; the receipt of the vote
    /// that passed and applied it.
    pub fn pass_by(&mut self, org: usize, action: GovAction) -> Receipt {
        let (id, r) = self.propose(org, action);
        assert_eq!(r.status, StatusCode::Ok, "{r:?}");
        let r = self.carry(id, org);
        assert_eq!(self.status(id), ProposalState::Applied, "{r:?}");
        r
    }

    /// As [`Chain::pass_by`], by org1's administrator.
    pub fn pass(&mut self, action: GovAction) -> Receipt {
        self.pass_by(0, action)
    }
}

/// The first event of a receipt of `kind`.
pub fn event<'a>(r: &'a Receipt, kind: &str) -> Option<&'a Event> {
    r.events.iter().find(|e| e.kind == kind)
}

/// An attribute of an event.
pub fn get<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The attribute `key` of the first event of a receipt of `kind`.
pub fn attr<'a>(r: &'a Receipt, kind: &str, key: &str) -> Option<&'a str> {
    event(r, kind).and_then(|e| get(e, key))
}

/// Asserts that `payload` by `who` ends with `status` and writes exactly what `baseline` (a
/// payload that runs nothing, which must end with `baseline_status`) writes; the failing receipt.
pub fn assert_writes_as_baseline(
    c: &Chain,
    who: &Actor,
    payload: Payload,
    status: StatusCode,
    baseline: Payload,
    baseline_status: StatusCode,
) -> Receipt {
    let failing = c.exec(&[c.tx(who, payload)]);
    let baseline = c.exec(&[c.tx(who, baseline)]);
    assert_eq!(baseline.receipts[0].status, baseline_status);
    let r = failing.receipts[0].clone();
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(failing.writes, baseline.writes, "the failed call left writes behind");
    r
}
