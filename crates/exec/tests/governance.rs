//! The identity and governance modules executed directly (STD-13, STD-17): thresholds set by
//! governance itself, activation heights, the minimum validator count, expired proposals,
//! lapsed and foreign node certificates, an open chain without members, and deterministic
//! execution.

mod common;

use std::collections::BTreeMap;

use common::{certify, genesis, institutions, now_ms};
use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_exec::gov::{GovRefusal, ProposalState};
use fdl_exec::{ExecError, StateView, execute_block, genesis_writes, gov};
use fdl_types::{
    ChainParam, ChainParams, Credential, Genesis, GenesisValidator, GovAction, Payload, Receipt, Role, SignedTx, TxBody,
};

/// The refusal code of a receipt: the `code` of its `gov.refused` or `gov.failed` event.
fn code(r: &Receipt) -> Option<&str> {
    r.events
        .iter()
        .filter(|e| e.kind == "gov.refused" || e.kind == "gov.failed")
        .find_map(|e| e.attrs.iter().find(|(k, _)| k == "code"))
        .map(|(_, v)| v.as_str())
}

/// The code of `refusal`, built from its variant (so a renamed code fails here).
fn code_of(refusal: &GovRefusal) -> Option<&'static str> {
    Some(refusal.code())
}

#[derive(Default, Clone)]
struct Mem(BTreeMap<Vec<u8>, Vec<u8>>);

impl StateView for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.0.get(key).cloned())
    }
}

struct Chain {
    state: Mem,
    height: u64,
    nonce: u64,
    admins: Vec<(KeyPair, Vec<u8>)>,
    /// Each institution's CA certificate and key.
    cas: Vec<(Vec<u8>, KeyPair)>,
    /// Added to the wall clock for block times (to let certificates lapse).
    skew_ms: u64,
}

impl Chain {
    /// Four institutions, each with a CA, a certified validator and an administrator.
    fn new(min_validators: u32) -> Chain {
        Self::with_node_days(min_validators, 30)
    }

    /// As [`Chain::new`], with org4's validator certificate valid for `org4_days` days.
    fn with_node_days(min_validators: u32, org4_days: u32) -> Chain {
        let (members, validators, cas) = institutions(4, |i| if i == 4 { org4_days } else { 30 });
        let admins = cas.iter().map(|ca| certify(ca, Role::Admin)).map(|a| (a.key, a.cert)).collect();
        let g = genesis(members, validators, None, ChainParams { min_validators, ..ChainParams::default() });
        let mut state = Mem::default();
        for (k, v) in genesis_writes(&g).expect("genesis writes") {
            if let Some(v) = v {
                state.0.insert(k, v);
            }
        }
        Chain { state, height: 0, nonce: 0, admins, cas, skew_ms: 0 }
    }

    fn tx(&mut self, admin: usize, payload: Payload) -> SignedTx {
        self.nonce += 1;
        let (k, c) = &self.admins[admin];
        TxBody {
            chain_id: "t".into(),
            signer: k.public_key(),
            credential: Credential::Certificate(c.clone()),
            nonce: self.nonce,
            expiry_height: self.height + 100,
            payload,
        }
        .sign(k)
        .expect("sign")
    }

    /// Executes one block; returns its receipts and block events.
    fn block(&mut self, txs: &[SignedTx]) -> (Vec<Receipt>, Vec<fdl_types::Event>) {
        self.height += 1;
        let t = now_ms() + self.skew_ms;
        let out = execute_block(&self.state, self.height, t, txs).expect("execute");
        // Execution is a pure function of the parent state, the block and its time.
        let again = execute_block(&self.state, self.height, t, txs).expect("execute");
        assert!(out.writes == again.writes && out.receipts == again.receipts, "execution is not deterministic");
        for (k, v) in out.writes {
            match v {
                Some(v) => self.state.0.insert(k, v),
                None => self.state.0.remove(&k),
            };
        }
        (out.receipts, out.block_events)
    }

    fn propose(&mut self, admin: usize, action: GovAction, activation_height: u64) -> (u64, Receipt) {
        let p = Payload::Propose { action, deadline: self.height + 10, activation_height, note: String::new() };
        let tx = self.tx(admin, p);
        let r = self.block(&[tx]).0.remove(0);
        let id = r
            .events
            .iter()
            .find(|e| e.kind == "gov.proposed")
            .and_then(|e| e.attrs.iter().find(|(k, _)| k == "proposal"))
            .map(|(_, v)| v.parse().expect("id"))
            .unwrap_or(0);
        (id, r)
    }

    fn vote(&mut self, admin: usize, id: u64, approve: bool) -> Receipt {
        let tx = self.tx(admin, Payload::Vote { proposal: id, approve });
        self.block(&[tx]).0.remove(0)
    }

    fn status(&self, id: u64) -> ProposalState {
        gov::proposal(&self.state, id).expect("read").expect("exists").state_at(self.height)
    }

    fn validators(&self) -> usize {
        gov::active_nodes(&self.state).expect("nodes").len()
    }
}

#[test]
fn the_threshold_is_set_by_governance_itself_and_open_proposals_follow_it() {
    let mut c = Chain::new(1);
    // Default more than 2/3: two of four seats do not pass.
    let (id, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 100 }, 0);
    c.vote(1, id, true);
    assert_eq!(c.status(id), ProposalState::Open);
    // Lower the threshold to more than 1/3 (three seats, by the current rule).
    let (t1, _) = c.propose(0, GovAction::SetParam { name: ChainParam::GovThresholdNum, value: 1 }, 0);
    c.vote(1, t1, true);
    c.vote(2, t1, true);
    assert_eq!(c.status(t1), ProposalState::Applied);
    // The open proposal is re-tallied at that block's end against the new threshold: its two
    // seats of four are now more than 1/3, so it passes without another vote.
    assert_eq!(c.status(id), ProposalState::Applied);
    assert_eq!(gov::params(&c.state).expect("params").max_block_txs, 100);
    let (t2, _) = c.propose(0, GovAction::SetParam { name: ChainParam::GovThresholdDen, value: 4 }, 0);
    c.vote(1, t2, true);
    assert_eq!(c.status(t2), ProposalState::Applied, "one third then needs two seats of four");
    assert_eq!(gov::params(&c.state).expect("params").gov_threshold_den, 4);
    // Now two seats pass a proposal.
    let (id2, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 200 }, 0);
    c.vote(3, id2, true);
    assert_eq!(c.status(id2), ProposalState::Applied);
    assert_eq!(gov::params(&c.state).expect("params").max_block_txs, 200);
    // A threshold of 1 or more is refused.
    let (_, r) = c.propose(0, GovAction::SetParam { name: ChainParam::GovThresholdNum, value: 4 }, 0);
    assert_eq!(r.status.as_str(), "proposal_invalid");
    assert_eq!(code(&r), code_of(&GovRefusal::BadThreshold));
    // A value too large for its field is refused as out of range.
    let (_, r) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: u64::MAX }, 0);
    assert_eq!(code(&r), code_of(&GovRefusal::ParamOutOfRange { param: ChainParam::MaxBlockTxs }));
}

#[test]
fn a_passed_change_waits_for_its_activation_height() {
    let mut c = Chain::new(1);
    let at = c.height + 6;
    let (id, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxExpiryWindow, value: 50 }, at);
    c.vote(1, id, true);
    c.vote(2, id, true);
    assert_eq!(c.status(id), ProposalState::Passed);
    assert_eq!(gov::params(&c.state).expect("params").max_expiry_window, ChainParams::default().max_expiry_window);
    let mut applied_at = None;
    while c.height < at + 1 {
        let (_, events) = c.block(&[]);
        if events.iter().any(|e| e.kind == "gov.applied") {
            applied_at = Some(c.height);
        }
    }
    assert_eq!(applied_at, Some(at), "applied at the end of the activation height's block");
    assert_eq!(c.status(id), ProposalState::Applied);
    assert_eq!(fdl_schema::read::activations(&c.state, at), Ok(vec![]), "its queue is gone");
    assert_eq!(gov::params(&c.state).expect("params").max_expiry_window, 50);
}

#[test]
fn the_validator_count_never_falls_below_the_minimum() {
    let mut c = Chain::new(3);
    let (a, _) = c.propose(0, GovAction::RemoveNode { name: "org4".into() }, 0);
    c.vote(1, a, true);
    c.vote(2, a, true);
    assert_eq!(c.status(a), ProposalState::Applied);
    assert_eq!(c.validators(), 3);
    let (_, r) = c.propose(0, GovAction::RemoveNode { name: "org3".into() }, 0);
    assert_eq!(r.status.as_str(), "proposal_invalid");
    assert_eq!(code(&r), code_of(&GovRefusal::RemovalBelowMinValidators { name: "org3".into(), min: 3 }), "{r:?}");
    // Two removals proposed while both were allowed: the second fails when applied.
    let mut c = Chain::new(3);
    let (x, _) = c.propose(0, GovAction::RemoveNode { name: "org4".into() }, 0);
    let (y, _) = c.propose(0, GovAction::RemoveNode { name: "org3".into() }, 0);
    let mut last = Vec::new();
    for id in [x, y] {
        c.vote(1, id, true);
        last.push(c.vote(2, id, true));
    }
    assert_eq!(code(&last[1]), Some("removal_below_min_validators"), "{:?}", last[1]);
    let failure = gov::proposal(&c.state, y).expect("read").expect("exists").failure;
    let why = GovRefusal::RemovalBelowMinValidators { name: "org3".into(), min: 3 };
    assert_eq!(failure, Some(why.to_string()), "the stored failure is the refusal's text");
    assert_eq!(c.status(x), ProposalState::Applied);
    assert_eq!(c.status(y), ProposalState::Failed);
    assert_eq!(c.validators(), 3);
}

#[test]
fn votes_after_the_deadline_do_not_count_and_enough_noes_reject() {
    let mut c = Chain::new(1);
    let (id, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 }, 0);
    for _ in 0..11 {
        c.block(&[]);
    }
    assert_eq!(c.status(id), ProposalState::Expired);
    let r = c.vote(1, id, true);
    assert_eq!(r.status.as_str(), "proposal_invalid");
    assert_eq!(code(&r), code_of(&GovRefusal::NotOpen { id, state: ProposalState::Expired }));
    assert_eq!(code(&c.vote(1, id + 100, true)), Some("no_proposal"));
    // A no from two seats of four makes passing impossible: rejected.
    let (id, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 }, 0);
    c.vote(1, id, false);
    assert_eq!(c.status(id), ProposalState::Open);
    c.vote(2, id, false);
    assert_eq!(c.status(id), ProposalState::Rejected);
}

#[test]
fn an_open_chain_accepts_keys_without_certificates_but_no_governance() {
    let k = KeyPair::generate(Suite::Intl);
    let g = Genesis {
        read_policy: Default::default(),
        chain_id: "t".into(),
        suite: Suite::Intl,
        genesis_time_ms: 0,
        issuer: k.public_key().address(),
        members: vec![],
        regulator: None,
        validators: vec![GenesisValidator {
            name: "v".into(),
            public_key: hex::encode(KeyPair::generate(Suite::Intl).public_key().to_bytes()),
            power: 1,
            ..Default::default()
        }],
        observers: vec![],
        balances: vec![],
        params: ChainParams::default(),
    };
    let mut state = Mem::default();
    for (key, v) in genesis_writes(&g).expect("writes") {
        if let Some(v) = v {
            state.0.insert(key, v);
        }
    }
    let mk = |nonce, payload| {
        TxBody {
            chain_id: "t".into(),
            signer: k.public_key(),
            credential: Credential::None,
            nonce,
            expiry_height: 9,
            payload,
        }
        .sign(&k)
        .expect("sign")
    };
    let issue = mk(1, Payload::Issue { to: Address([2; 20]), amount: 5 });
    let prop = mk(
        2,
        Payload::Propose {
            action: GovAction::Freeze { account: Address([2; 20]) },
            deadline: 5,
            activation_height: 0,
            note: String::new(),
        },
    );
    let out = execute_block(&state, 1, now_ms(), &[issue, prop]).expect("execute");
    assert_eq!(out.receipts[0].status.as_str(), "ok");
    assert_eq!(out.receipts[1].status.as_str(), "permission_denied");
}

#[test]
fn receipts_of_long_governance_events_still_decode() {
    use fdl_types::{Decode, Encode};
    let mut c = Chain::new(1);
    // Thirty-two institutions of 64 bytes: the `acl.set` event's list far exceeds an event field.
    let orgs: Vec<String> = (0..32).map(|i| format!("{i:02}{}", "é".repeat(31))).collect();
    let action = GovAction::SetAcl { method: "bank.transfer".into(), roles: vec!["client".into()], orgs };
    let (id, r) = c.propose(0, action, 0);
    assert_eq!(r.status.as_str(), "ok", "{r:?}");
    c.vote(1, id, true);
    let r = c.vote(2, id, true);
    assert!(r.events.iter().any(|e| e.kind == "acl.set"), "{r:?}");
    assert_eq!(Receipt::decode(&r.encode()).expect("a stored receipt decodes"), r);
}

/// A node certificate for `org`'s validator slot, issued by CA `ca` (index) for a fresh key.
fn node_spec(c: &Chain, name: &str, org: &str, ca: usize, days: u32) -> fdl_types::NodeSpec {
    let key = KeyPair::generate(Suite::Intl);
    let (ca_cert, ca_key) = &c.cas[ca];
    let cert = fdl_pki::issue(ca_cert, ca_key, &key.public_key(), name, Role::Validator, days).expect("cert");
    fdl_types::NodeSpec {
        name: name.into(),
        org: org.into(),
        role: fdl_types::NodeRole::Validator,
        public_key: key.public_key().to_bytes(),
        power: 1,
        peer_id: String::new(),
        p2p: String::new(),
        rpc: String::new(),
        certificate: cert,
    }
}

#[test]
fn lapsed_and_foreign_node_certificates_do_not_count() {
    // STD-9.1, 13.3: org4's validator certificate is valid for one day.
    let mut c = Chain::with_node_days(3, 1);
    c.block(&[]);
    assert_eq!(c.validators(), 4);
    // Two days later its certificate has lapsed: the set drops to three, with no vote.
    c.skew_ms = 2 * 86_400_000;
    c.block(&[]);
    assert_eq!(c.validators(), 3);
    let names: Vec<String> = gov::active_nodes(&c.state).expect("nodes").into_iter().map(|n| n.name).collect();
    assert!(!names.contains(&"org4".to_string()), "{names:?}");
    // A certificate from another institution's CA, or an expired one, is refused at proposal.
    let foreign = node_spec(&c, "org1-b", "org1", 1, 30);
    let (_, r) = c.propose(0, GovAction::AddNode { node: foreign }, 0);
    assert_eq!(r.status.as_str(), "proposal_invalid", "{r:?}");
    assert_eq!(code(&r), Some("bad_certificate"), "{r:?}");
    let lapsed = node_spec(&c, "org4", "org4", 3, 1);
    let (_, r) = c.propose(3, GovAction::RotateNodeCert { name: "org4".into(), certificate: lapsed.certificate }, 0);
    assert_eq!(r.status.as_str(), "proposal_invalid", "{r:?}");
    assert_eq!(code(&r), Some("bad_certificate"), "{r:?}");
    // Renewing it by vote brings the node back.
    let fresh = node_spec(&c, "org4", "org4", 3, 30);
    let (id, r) = c.propose(3, GovAction::RotateNodeCert { name: "org4".into(), certificate: fresh.certificate }, 0);
    assert_eq!(r.status.as_str(), "ok", "{r:?}");
    for admin in 0..3 {
        c.vote(admin, id, true);
    }
    assert_eq!(c.status(id), ProposalState::Applied);
    assert_eq!(c.validators(), 4);
    // Forty days on, every certificate has lapsed: the listed validators keep deciding, so
    // that the committee can still rotate them, instead of the chain halting for good.
    c.skew_ms = 40 * 86_400_000;
    c.block(&[]);
    assert_eq!(c.validators(), 4);
}

#[test]
fn removing_institutions_re_tallies_open_proposals() {
    let mut c = Chain::new(1);
    let pass = |c: &mut Chain, action: GovAction, voters: &[usize]| {
        let (id, r) = c.propose(0, action, 0);
        assert_eq!(r.status.as_str(), "ok", "{r:?}");
        for &v in voters {
            c.vote(v, id, true);
        }
        assert_eq!(c.status(id), ProposalState::Applied);
    };
    // Two institutions will leave: their nodes go first.
    pass(&mut c, GovAction::RemoveNode { name: "org4".into() }, &[1, 2]);
    pass(&mut c, GovAction::RemoveNode { name: "org3".into() }, &[1, 2]);
    // Two yes of four seats: open.
    let (p, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 }, 0);
    c.vote(1, p, true);
    assert_eq!(c.status(p), ProposalState::Open);
    // The index of open proposals holds it once (closed ones were pruned, a vote adds nothing).
    let open = fdl_schema::read::open_proposals(&c.state).expect("open set");
    assert_eq!(open, vec![p]);
    pass(&mut c, GovAction::RemoveMember { name: "org4".into() }, &[1, 2]);
    assert_eq!(c.status(p), ProposalState::Open, "two of three seats are not more than 2/3");
    // Removing the third seat leaves two, both of which said yes: the open proposal passes at
    // the end of that block, without another vote.
    pass(&mut c, GovAction::RemoveMember { name: "org3".into() }, &[1, 2]);
    assert_eq!(c.status(p), ProposalState::Applied);
    assert_eq!(gov::params(&c.state).expect("params").max_block_txs, 10);
}

#[test]
fn rotating_a_ca_never_retires_validators_below_the_minimum() {
    let mut c = Chain::new(4);
    // A new CA for org4 with a new key: it does not certify org4's validator, which would retire
    // it and leave three of a minimum of four.
    let new_key = KeyPair::generate(Suite::Intl);
    let new_ca = fdl_pki::create_ca("org4", &new_key, 30).expect("ca");
    let (_, r) = c.propose(0, GovAction::RotateCa { org: "org4".into(), ca_cert: new_ca.clone() }, 0);
    assert_eq!(r.status.as_str(), "proposal_invalid", "{r:?}");
    assert_eq!(code(&r), code_of(&GovRefusal::CaRotationBelowMinValidators { org: "org4".into(), min: 4 }), "{r:?}");
    // A renewal with the same key keeps its certificates: allowed, and the set stays whole.
    let (old_ca, old_key) = c.cas[3].clone();
    let renewed = fdl_pki::create_ca("org4", &old_key, 60).expect("renewed ca");
    assert_ne!(renewed, old_ca);
    let (id, r) = c.propose(0, GovAction::RotateCa { org: "org4".into(), ca_cert: renewed }, 0);
    assert_eq!(r.status.as_str(), "ok", "{r:?}");
    c.vote(1, id, true);
    c.vote(2, id, true);
    assert_eq!(c.status(id), ProposalState::Applied);
    assert_eq!(c.validators(), 4);
    // With a minimum of three, the new-key rotation passes and retires org4's validator.
    let mut c = Chain::new(3);
    let (id, r) = c.propose(0, GovAction::RotateCa { org: "org4".into(), ca_cert: new_ca }, 0);
    assert_eq!(r.status.as_str(), "ok", "{r:?}");
    c.vote(1, id, true);
    c.vote(2, id, true);
    assert_eq!(c.status(id), ProposalState::Applied);
    assert_eq!(c.validators(), 3);
}

/// A parent state that counts the reads execution makes of it.
struct CountingView<'a> {
    state: &'a Mem,
    reads: std::cell::Cell<usize>,
}

impl StateView for CountingView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        self.reads.set(self.reads.get() + 1);
        self.state.get(key)
    }
}

/// Executes `txs` as the next block without committing it: (reads of the parent, keys
/// written, bytes written).
fn cost_of(c: &Chain, txs: &[SignedTx]) -> (usize, usize, usize) {
    let view = CountingView { state: &c.state, reads: std::cell::Cell::new(0) };
    let out = execute_block(&view, c.height + 1, now_ms() + c.skew_ms, txs).expect("execute");
    assert!(out.receipts.iter().all(|r| r.status.as_str() == "ok"), "{:?}", out.receipts);
    let bytes = out.writes.values().map(|v| v.as_ref().map_or(0, Vec::len)).sum();
    (view.reads.get(), out.writes.len(), bytes)
}

#[test]
fn a_new_proposal_costs_the_same_however_many_are_open() {
    let open_one = |c: &mut Chain| {
        let action = GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 };
        let p = Payload::Propose { action, deadline: c.height + 20, activation_height: 0, note: String::new() };
        c.tx(0, p)
    };
    let mut c = Chain::new(1);
    // Register the administrator's certificate first, so each measured block does the same.
    let first = open_one(&mut c);
    c.block(&[first]);
    let mut costs = Vec::new();
    for _ in 0..2 {
        let tx = open_one(&mut c);
        let open = fdl_schema::read::open_proposals(&c.state).expect("open").len();
        let empty_block = cost_of(&c, &[]);
        costs.push((open, cost_of(&c, std::slice::from_ref(&tx)), empty_block));
        // Sixty more open proposals (one seat of four said yes: each stays open).
        let txs: Vec<SignedTx> = (0..60).map(|_| open_one(&mut c)).collect();
        let (receipts, _) = c.block(&txs);
        assert!(receipts.iter().all(|r| r.status.as_str() == "ok"));
    }
    assert_eq!((costs[0].0, costs[1].0), (1, 61));
    assert_eq!(costs[0].1, costs[1].1, "proposing with 61 open cost more than with 1 (reads, keys, bytes)");
    assert_eq!(costs[0].2, costs[1].2, "an empty block with 61 open cost more than with 1");
}

#[test]
fn open_proposals_leave_the_open_set_when_decided_or_past_their_deadline() {
    let mut c = Chain::new(1);
    let set = |c: &Chain| -> Vec<u64> { fdl_schema::read::open_proposals(&c.state).expect("open set") };
    let (a, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 }, 0);
    let (b, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 20 }, 0);
    let (d, _) = c.propose(0, GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 30 }, 0);
    assert_eq!(set(&c), vec![a, b, d]);
    // Decided by votes: b leaves the set from the middle.
    c.vote(1, b, true);
    c.vote(2, b, true);
    assert_eq!(c.status(b), ProposalState::Applied);
    assert_eq!(set(&c), vec![a, d]);
    // a's deadline is 10 blocks after it was made: it stays listed through that block, and the
    // end of that block sweeps it (and its queue) out.
    let deadline = gov::proposal(&c.state, a).expect("read").expect("a").deadline;
    while c.height < deadline {
        c.block(&[]);
    }
    assert_eq!(set(&c), vec![d], "swept at the end of its deadline's block");
    let a_now = gov::proposal(&c.state, a).expect("read").expect("a");
    assert_eq!(a_now.state_at(c.height + 1), ProposalState::Expired, "no later block may vote on it");
    assert_eq!(fdl_schema::read::expiries(&c.state, deadline), Ok(vec![]));
    while c.height <= deadline + 2 {
        c.block(&[]);
    }
    assert!(set(&c).is_empty());
    assert!(
        c.state.0.keys().all(|k| !k.starts_with(b"gov/open/") && !k.starts_with(b"gov/expire/")),
        "no link or queue is left behind"
    );
}

/// Issues, with OpenSSL and org `ca`'s CA key, a client certificate whose serial has its top bit
/// set; returns its DER and the serial as `openssl x509 -serial` prints it.
fn openssl_client_cert(c: &Chain, ca: usize, dir: &std::path::Path) -> (Vec<u8>, String) {
    let p = |n: &str| dir.join(n).to_str().expect("utf-8").to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).output().expect("OpenSSL 3 must be installed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (ca_cert, ca_key) = &c.cas[ca];
    std::fs::write(p("ca.pem"), fdl_pki::to_pem(ca_cert).expect("pem")).expect("write");
    ca_key.write_pem_file(&dir.join("ca.key")).expect("write key");
    let org = fdl_pki::parse(ca_cert).expect("ca").org;
    run(&["genpkey", "-algorithm", "ED25519", "-out", &p("c.key")]);
    let subj = format!("/O={org}/OU=client/CN=teller");
    run(&["req", "-new", "-key", &p("c.key"), "-subj", &subj, "-out", &p("c.csr")]);
    std::fs::write(p("c.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n").expect("write");
    run(&[
        "x509",
        "-req",
        "-in",
        &p("c.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-set_serial",
        "0x8A1B2C3D4E5F60718293",
        "-days",
        "5",
        "-extfile",
        &p("c.ext"),
        "-out",
        &p("c.pem"),
    ]);
    let printed = run(&["x509", "-in", &p("c.pem"), "-noout", "-serial"]).trim().to_string();
    let der = fdl_pki::from_pem(&std::fs::read_to_string(p("c.pem")).expect("read")).expect("pem");
    (der, printed)
}

#[test]
fn a_revocation_by_the_serial_openssl_prints_revokes_the_certificate() {
    // STD-13.3: OpenSSL prints `serial=8A1B...` for a serial whose DER bytes are 00 8A 1B ...;
    // both that line and its bare hex must revoke the certificate, not some other key.
    let d = tempfile::tempdir().expect("tempdir");
    for (i, with_prefix) in [(0usize, false), (1, true)] {
        let mut c = Chain::new(1);
        let dir = d.path().join(i.to_string());
        std::fs::create_dir_all(&dir).expect("dir");
        let (cert, printed) = openssl_client_cert(&c, 0, &dir);
        assert_eq!(printed, "serial=8A1B2C3D4E5F60718293");
        let info = fdl_pki::verify(&cert, &c.cas[0].0, now_ms() / 1000).expect("valid certificate");
        let typed = if with_prefix { printed.clone() } else { printed.trim_start_matches("serial=").to_string() };
        let (id, r) = c.propose(0, GovAction::RevokeCert { org: "org1".into(), serial: typed.clone() }, 0);
        assert_eq!(r.status.as_str(), "ok", "{typed}: {r:?}");
        for admin in 1..4 {
            c.vote(admin, id, true);
        }
        assert_eq!(c.status(id), ProposalState::Applied);
        let rec = fdl_schema::read::revocation(&c.state, "org1", &info.serial).expect("read");
        assert!(rec.is_some(), "{typed}: the certificate (serial {}) is not revoked", info.serial);
    }
}
