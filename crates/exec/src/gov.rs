//! The native `gov` module (STD-17): committee proposals and votes, the access-control policy,
//! chain parameters and the node set (validators and observers) as chain state.
//!
//! The committee is one seat per member institution that holds one; any `admin` certificate of
//! that institution casts its vote, once per proposal. A proposal passes when more than
//! `gov_threshold_num / gov_threshold_den` of the seats approve (default more than 2/3). It applies
//! in the transaction that passes it when its activation height has come, else at the end of the
//! block at its activation height; a validator-set change applied in block `h` is the set that
//! decides `h + 1`. Votes are counted when cast, and again at the end of any block that changed
//! the seats or the threshold: every open proposal is then tallied against the new rule.

use std::collections::BTreeMap;

use fdl_crypto::{Address, PublicKey, Suite};
use fdl_pki::Role;
pub use fdl_schema::{
    AclRule, Proposal, ProposalState, ProposalStatus,
    keys::{NEXT_PROPOSAL_KEY, NODES_KEY, OPEN_KEY, PARAMS_KEY, PENDING_KEY, RETALLY_KEY},
    read::{acl, next_proposal, nodes, params, proposal},
};
use fdl_schema::{Marker, keys};
use fdl_types::{ChainParams, Event, GovAction, NodeRole, NodeSpec, StatusCode};

use crate::{
    AccountKind, ExecError, Overlay, StateView, account_key, decode_account, encode_account,
    identity::{self, MemberRecord, RevocationRecord},
};

/// The parameters `SetParam` may change.
pub const PARAMS: [&str; 12] = [
    "block_interval_ms",
    "max_block_txs",
    "max_tx_bytes",
    "max_expiry_window",
    "empty_block_interval_ms",
    "min_validators",
    "gov_threshold_num",
    "gov_threshold_den",
    "key_reset_lock_blocks",
    "max_voting_blocks",
    "propose_timeout_ms",
    "vote_timeout_ms",
];

pub use fdl_schema::METHODS;

/// The state key of a proposal.
pub fn proposal_key(id: u64) -> Vec<u8> {
    keys::proposal(id).into_key()
}

/// The state key of a method's access rule.
pub fn acl_key(method: &str) -> Vec<u8> {
    keys::acl(method).into_key()
}

/// The policy written at genesis: reads are open to everyone (they are not transactions);
/// payments for clients and administrators; issuing and burning additionally only by the
/// issuer; governance proposals by administrators and the regulator; votes and revocation lists
/// by administrators.
pub fn default_acl() -> Vec<(&'static str, AclRule)> {
    let rule = |roles: &[&str]| AclRule { roles: roles.iter().map(|r| (*r).to_string()).collect(), orgs: vec![] };
    vec![
        ("bank.transfer", rule(&["client", "admin"])),
        ("bank.issue", rule(&["client", "admin"])),
        ("bank.burn", rule(&["client", "admin"])),
        ("gov.propose", rule(&["admin", "regulator"])),
        ("gov.vote", rule(&["admin"])),
        ("pki.publish_crl", rule(&["admin"])),
    ]
}

/// The nodes that take part after the state `view`: listed, and (on a chain with member
/// institutions) holding a certificate from a current member that is not revoked and is valid
/// at the latest block's time. Deterministic in the state, so every node computes the same
/// validator set; a node whose certificate lapses or is revoked stops voting and is
/// disconnected (STD-9.1, STD-13.3).
///
/// # Errors
/// Store failure or corrupt state.
pub fn active_nodes(view: &dyn StateView) -> Result<Vec<NodeSpec>, ExecError> {
    let all = nodes(view)?;
    if !identity::permissioned(view)? {
        return Ok(all);
    }
    let now_s = fdl_schema::read::time_ms(view)? / 1000;
    let mut out = Vec::with_capacity(all.len());
    for n in &all {
        if node_active(view, n, now_s)? {
            out.push(n.clone());
        }
    }
    // Never an empty validator set: if every validator's certificate has lapsed (or been
    // revoked), the listed validators keep deciding blocks so that governance can rotate their
    // certificates, instead of the chain halting for good.
    if !out.iter().any(|n| n.role == NodeRole::Validator) {
        out.extend(all.into_iter().filter(|n| n.role == NodeRole::Validator));
    }
    Ok(out)
}

/// Most voting power one node may hold (the total of a set stays far below `u64::MAX`).
pub const MAX_NODE_POWER: u64 = fdl_types::genesis::MAX_VALIDATOR_POWER;

fn node_active(view: &dyn StateView, n: &NodeSpec, now_s: u64) -> Result<bool, ExecError> {
    let Some(m) = identity::member(view, &n.org)? else { return Ok(false) };
    // Checked against the institution's current CA, so a rotated CA retires its old certificates.
    let Ok(info) = fdl_pki::verify(&n.certificate, &m.ca_cert, now_s) else { return Ok(false) };
    if info.org != n.org || info.public_key.to_bytes() != n.public_key {
        return Ok(false);
    }
    Ok(identity::revocation(view, &info.org, &info.serial)?.is_none())
}

use crate::event as ev;

/// The outcome of a `gov.*` call: a status and its events.
pub(crate) type Outcome = (StatusCode, Vec<Event>);

fn refuse(proposer: &Address, org: &str, why: String) -> Outcome {
    (
        StatusCode::ProposalInvalid,
        vec![ev("gov.refused", vec![("account", proposer.to_hex()), ("org", org.into()), ("reason", why)])],
    )
}

fn committee(view: &dyn StateView) -> Result<Vec<String>, ExecError> {
    Ok(identity::members(view)?.into_iter().filter(|m| m.committee).map(|m| m.name).collect())
}

/// Checks that an action could apply now (so that a proposal is refused early instead of
/// failing when it passes); the same check runs again when it is applied.
fn check_action(
    view: &dyn StateView,
    action: &GovAction,
    suite: Suite,
    now_s: u64,
) -> Result<Result<(), String>, ExecError> {
    let p = params(view)?;
    let nodes = nodes(view)?;
    let active = active_nodes(view)?;
    let validators = active.iter().filter(|n| n.role == NodeRole::Validator).count();
    Ok(match action {
        GovAction::AddMember { name, ca_cert, .. } => {
            if identity::member(view, name)?.is_some() {
                Err(format!("{name} is already a member"))
            } else {
                match fdl_pki::parse(ca_cert) {
                    Ok(i) if i.is_ca && &i.org == name && i.public_key.suite() == suite => {
                        fdl_pki::verify(ca_cert, ca_cert, now_s).map(|_| ()).map_err(|e| format!("CA certificate: {e}"))
                    }
                    Ok(i) => Err(format!("not a {suite} CA certificate of {name} (O={}, CA={})", i.org, i.is_ca)),
                    Err(e) => Err(format!("CA certificate: {e}")),
                }
            }
        }
        GovAction::RemoveMember { name } => {
            if identity::member(view, name)?.is_none() {
                Err(format!("{name} is not a member"))
            } else if nodes.iter().any(|n| &n.org == name) {
                Err(format!("{name} still runs nodes: remove them first"))
            } else {
                Ok(())
            }
        }
        GovAction::AddNode { node } => check_node(view, node, &nodes, suite, now_s)?,
        GovAction::RemoveNode { name } => match nodes.iter().find(|n| &n.name == name) {
            None => Err(format!("no node {name}")),
            Some(n)
                if n.role == NodeRole::Validator
                    && active.iter().any(|a| &a.name == name)
                    && validators <= p.min_validators as usize =>
            {
                Err(format!("removing {name} would leave fewer than {} validators", p.min_validators))
            }
            Some(_) => Ok(()),
        },
        GovAction::RotateNodeCert { name, certificate } => match nodes.iter().find(|n| &n.name == name) {
            None => Err(format!("no node {name}")),
            Some(n) => {
                let mut next = n.clone();
                next.certificate.clone_from(certificate);
                match fdl_pki::parse(certificate) {
                    Ok(info) => next.public_key = info.public_key.to_bytes(),
                    Err(e) => return Ok(Err(format!("certificate: {e}"))),
                }
                let others: Vec<NodeSpec> = nodes.iter().filter(|o| &o.name != name).cloned().collect();
                check_node(view, &next, &others, suite, now_s)?
            }
        },
        GovAction::RotateCa { org, ca_cert } => {
            if identity::member(view, org)?.is_none() {
                Err(format!("{org} is not a member"))
            } else {
                match fdl_pki::parse(ca_cert) {
                    Ok(i) if i.is_ca && &i.org == org => {
                        match fdl_pki::verify(ca_cert, ca_cert, now_s) {
                            Err(e) => Err(format!("CA certificate: {e}")),
                            Ok(_) => {
                                // Node certificates that do not verify under the new CA retire
                                // with the old one (a renewal with the same key keeps them).
                                let staying = active
                                    .iter()
                                    .filter(|n| n.role == NodeRole::Validator)
                                    .filter(|n| {
                                        &n.org != org || fdl_pki::verify(&n.certificate, ca_cert, now_s).is_ok()
                                    })
                                    .count();
                                if staying < validators && staying < p.min_validators as usize {
                                    Err(format!(
                                        "the new CA of {org} does not certify its validators, and retiring them would \
                                         leave fewer than {} validators",
                                        p.min_validators
                                    ))
                                } else {
                                    Ok(())
                                }
                            }
                        }
                    }
                    Ok(_) => Err(format!("not a CA certificate of {org}")),
                    Err(e) => Err(format!("CA certificate: {e}")),
                }
            }
        }
        GovAction::RevokeCert { org, serial } => {
            let serial_l = serial.to_ascii_lowercase();
            let hits_validator = active.iter().any(|n| {
                n.role == NodeRole::Validator
                    && &n.org == org
                    && fdl_pki::parse(&n.certificate).is_ok_and(|i| i.serial == serial_l)
            });
            if identity::member(view, org)?.is_none() {
                Err(format!("{org} is not a member"))
            } else if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
                Err("serial must be hex".into())
            } else if hits_validator && validators <= p.min_validators as usize {
                Err(format!(
                    "revoking this validator's certificate would leave fewer than {} validators",
                    p.min_validators
                ))
            } else {
                Ok(())
            }
        }
        GovAction::SetParam { name, value } => {
            let mut next = p.clone();
            set_param(&mut next, name, *value).and_then(|()| check_params(&next, validators))
        }
        GovAction::SetAcl { method, roles, .. } => {
            if !METHODS.contains(&method.as_str()) {
                Err(format!("no method {method}"))
            } else if let Some(r) = roles.iter().find(|r| r.parse::<Role>().is_err()) {
                Err(format!("no role {r}"))
            } else {
                Ok(())
            }
        }
        GovAction::Freeze { account } | GovAction::Unfreeze { account } => {
            if crate::read_account(view, account)?.is_none() { Err(format!("no account {account}")) } else { Ok(()) }
        }
        GovAction::ForcedTransfer { from, to, amount } => {
            if from == to || *amount == 0 {
                Err("a forced transfer needs two accounts and a positive amount".into())
            } else if crate::read_account(view, from)?.is_none() {
                Err(format!("no account {from}"))
            } else {
                Ok(())
            }
        }
        GovAction::ResetKey { account, certificate } => match crate::read_account(view, account)? {
            None => Err(format!("no account {account}")),
            Some(a) => match fdl_pki::parse(certificate) {
                Err(e) => Err(format!("certificate: {e}")),
                Ok(info) => {
                    match identity::check_new_certificate(view, certificate, &info.public_key.to_bytes(), now_s, 0)? {
                        Ok(rec) if !a.org.is_empty() && rec.org != a.org => {
                            Err(format!("the new certificate is from {}, the account belongs to {}", rec.org, a.org))
                        }
                        Ok(_) => Ok(()),
                        Err(s) => Err(format!("certificate refused: {}", s.as_str())),
                    }
                }
            },
        },
        GovAction::SetAccountKind { account, kind } => {
            if AccountKind::parse(kind).is_none() {
                Err(format!("account kind {kind}: expected normal, admin or special"))
            } else if crate::read_account(view, account)?.is_none() {
                Err(format!("no account {account}"))
            } else {
                Ok(())
            }
        }
    })
}

fn check_node(
    view: &dyn StateView,
    node: &NodeSpec,
    others: &[NodeSpec],
    suite: Suite,
    now_s: u64,
) -> Result<Result<(), String>, ExecError> {
    let Some(m) = identity::member(view, &node.org)? else {
        return Ok(Err(format!("{} is not a member", node.org)));
    };
    if node.name.is_empty() || others.iter().any(|o| o.name == node.name) {
        return Ok(Err(format!("node name {:?} is empty or taken", node.name)));
    }
    if others.iter().any(|o| o.public_key == node.public_key || (!node.peer_id.is_empty() && o.peer_id == node.peer_id))
    {
        return Ok(Err("the node's key or peer id is already used".into()));
    }
    if PublicKey::from_bytes(suite, &node.public_key).is_err() {
        return Ok(Err(format!("the node key is not a {suite} key")));
    }
    if node.role == NodeRole::Validator && (node.power == 0 || node.power > MAX_NODE_POWER) {
        return Ok(Err(format!("a validator's power must be 1..={MAX_NODE_POWER}")));
    }
    if others.iter().any(|o| !o.peer_id.is_empty()) && node.peer_id.is_empty() {
        return Ok(Err("the node needs a network peer id, as every other node has one".into()));
    }
    let want = match node.role {
        NodeRole::Validator => Role::Validator,
        NodeRole::Observer => Role::Observer,
    };
    Ok(match fdl_pki::verify(&node.certificate, &m.ca_cert, now_s) {
        Err(e) => Err(format!("certificate: {e}")),
        Ok(info) if info.role != Some(want) => Err(format!("the certificate's role is not {}", want.as_str())),
        Ok(info) if info.public_key.to_bytes() != node.public_key => Err("the certificate is for another key".into()),
        Ok(info) if identity::revocation(view, &info.org, &info.serial)?.is_some() => {
            Err("the certificate is revoked".into())
        }
        Ok(_) => Ok(()),
    })
}

fn set_param(p: &mut ChainParams, name: &str, v: u64) -> Result<(), String> {
    let small = |v: u64| u32::try_from(v).map_err(|_| format!("{name} out of range"));
    match name {
        "block_interval_ms" => p.block_interval_ms = v,
        "max_block_txs" => p.max_block_txs = small(v)?,
        "max_tx_bytes" => p.max_tx_bytes = small(v)?,
        "max_expiry_window" => p.max_expiry_window = v,
        "empty_block_interval_ms" => p.empty_block_interval_ms = v,
        "min_validators" => p.min_validators = small(v)?,
        "gov_threshold_num" => p.gov_threshold_num = small(v)?,
        "gov_threshold_den" => p.gov_threshold_den = small(v)?,
        "key_reset_lock_blocks" => p.key_reset_lock_blocks = v,
        "max_voting_blocks" => p.max_voting_blocks = v,
        "propose_timeout_ms" => p.propose_timeout_ms = v,
        "vote_timeout_ms" => p.vote_timeout_ms = v,
        _ => return Err(format!("no parameter {name}; known: {}", PARAMS.join(", "))),
    }
    Ok(())
}

fn check_params(p: &ChainParams, validators: usize) -> Result<(), String> {
    if p.gov_threshold_den == 0 || p.gov_threshold_num >= p.gov_threshold_den || p.gov_threshold_num == 0 {
        return Err("the threshold must be a fraction strictly between 0 and 1".into());
    }
    if p.min_validators == 0 || p.min_validators as usize > validators {
        return Err(format!("min_validators must be 1..={validators}"));
    }
    if p.block_interval_ms == 0 || p.max_block_txs == 0 || p.max_block_txs as usize > fdl_types::block::MAX_BLOCK_TXS {
        return Err("block_interval_ms and max_block_txs must be positive and bounded".into());
    }
    if p.max_tx_bytes < 512 || p.max_tx_bytes as usize > fdl_types::block::MAX_TX_BYTES_HARD {
        return Err("max_tx_bytes out of range".into());
    }
    if u64::from(p.max_block_txs).saturating_mul(u64::from(p.max_tx_bytes)) > fdl_types::genesis::MAX_BLOCK_BYTES {
        return Err("max_block_txs x max_tx_bytes exceeds the block size bound".into());
    }
    let timeout_ok = |t: u64| t == 0 || (100..=60_000).contains(&t);
    if !timeout_ok(p.propose_timeout_ms) || !timeout_ok(p.vote_timeout_ms) {
        return Err("consensus timeouts must be 0 (each node's own) or 100..=60000 ms".into());
    }
    if p.max_expiry_window == 0 || p.max_voting_blocks == 0 || p.max_voting_blocks > 100_000_000 {
        return Err("max_expiry_window must be positive and max_voting_blocks 1..=100000000".into());
    }
    Ok(())
}

/// Context of one governance call.
pub(crate) struct Call<'a> {
    pub account: &'a Address,
    pub org: &'a str,
    pub role: Role,
    pub height: u64,
    pub now_s: u64,
    pub suite: Suite,
}

/// `gov.propose`.
pub(crate) fn propose(
    ov: &mut Overlay<'_>,
    c: &Call<'_>,
    action: &GovAction,
    deadline: u64,
    activation_height: u64,
    note: &str,
) -> Result<Outcome, ExecError> {
    let p = params(ov)?;
    let latest = c.height.saturating_add(p.max_voting_blocks);
    if deadline < c.height || deadline > latest {
        return Ok(refuse(c.account, c.org, format!("deadline must be {}..={latest}", c.height)));
    }
    // Who may propose what: administrators anything; the regulator institution only
    // interventions; measures on an account only its registrar institution (or the regulator).
    let intervention =
        matches!(action, GovAction::Freeze { .. } | GovAction::Unfreeze { .. } | GovAction::ForcedTransfer { .. });
    if c.role == Role::Regulator {
        let regulator = fdl_schema::read::regulator(ov)?;
        if regulator.as_deref() != Some(c.org) {
            return Ok(refuse(c.account, c.org, format!("{} is not the chain's regulator institution", c.org)));
        }
        if !intervention {
            let why = "the regulator proposes only freezes, unfreezes and forced transfers".to_string();
            return Ok(refuse(c.account, c.org, why));
        }
    } else if c.role != Role::Admin {
        return Ok(refuse(c.account, c.org, format!("a {} may not propose", c.role.as_str())));
    }
    if c.role == Role::Admin
        && let GovAction::Freeze { account }
        | GovAction::Unfreeze { account }
        | GovAction::ForcedTransfer { from: account, .. }
        | GovAction::ResetKey { account, .. }
        | GovAction::SetAccountKind { account, .. } = action
    {
        let org = crate::read_account(ov, account)?.map(|a| a.org).unwrap_or_default();
        if org.is_empty() {
            return Ok(refuse(c.account, c.org, format!("account {account} has no registrar institution yet")));
        }
        if org != c.org {
            return Ok(refuse(c.account, c.org, format!("account {account} is registered by {org}, not {}", c.org)));
        }
    }
    if let Err(why) = check_action(ov, action, c.suite, c.now_s)? {
        return Ok(refuse(c.account, c.org, why));
    }
    let id = next_proposal(ov)?;
    keys::next_proposal().write(ov, &(id + 1));
    let mut prop = Proposal {
        id,
        action: action.clone(),
        proposer: *c.account,
        org: c.org.into(),
        note: note.into(),
        created: c.height,
        deadline,
        activation_height,
        votes: BTreeMap::new(),
        status: ProposalStatus::Open,
        decided: None,
        applied: None,
        failure: None,
    };
    let mut attrs = vec![
        ("proposal", id.to_string()),
        ("action", action.kind().into()),
        ("account", c.account.to_hex()),
        ("org", c.org.into()),
    ];
    with_target(&mut attrs, action);
    let mut events = vec![ev("gov.proposed", attrs)];
    // The proposer's institution votes yes when it holds a seat.
    if committee(ov)?.iter().any(|m| m == c.org) {
        prop.votes.insert(c.org.into(), true);
    }
    tally(ov, &mut prop, c.height, c.now_s, &mut events)?;
    keys::proposal(id).write(ov, &prop);
    if prop.status == ProposalStatus::Open {
        // Indexed so that a change of seats or threshold re-tallies it; closed ones are pruned.
        let mut open = Vec::new();
        for other in keys::open().read(ov)?.unwrap_or_default() {
            if proposal(ov, other)?.is_some_and(|p| p.state_at(c.height) == ProposalState::Open) {
                open.push(other);
            }
        }
        open.push(id);
        keys::open().write(ov, &open);
    }
    Ok((StatusCode::Ok, events))
}

/// `gov.vote`.
pub(crate) fn vote(ov: &mut Overlay<'_>, c: &Call<'_>, id: u64, approve: bool) -> Result<Outcome, ExecError> {
    let Some(mut prop) = proposal(ov, id)? else {
        return Ok(refuse(c.account, c.org, format!("no proposal {id}")));
    };
    if prop.status != ProposalStatus::Open || c.height > prop.deadline {
        return Ok(refuse(c.account, c.org, format!("proposal {id} is {}", prop.state_at(c.height).as_str())));
    }
    if !committee(ov)?.iter().any(|m| m == c.org) {
        return Ok(refuse(c.account, c.org, format!("{} holds no committee seat", c.org)));
    }
    if prop.votes.contains_key(c.org) {
        return Ok(refuse(c.account, c.org, format!("{} has already voted on proposal {id}", c.org)));
    }
    prop.votes.insert(c.org.into(), approve);
    let mut events = vec![ev(
        "gov.voted",
        vec![
            ("proposal", id.to_string()),
            ("approve", approve.to_string()),
            ("account", c.account.to_hex()),
            ("org", c.org.into()),
        ],
    )];
    tally(ov, &mut prop, c.height, c.now_s, &mut events)?;
    keys::proposal(id).write(ov, &prop);
    Ok((StatusCode::Ok, events))
}

/// Adds the account a measure acts on (`target`), so that the audit log lists the proposal, its
/// outcome and its application under that account too (STD-13.4).
fn with_target(attrs: &mut Vec<(&'static str, String)>, action: &GovAction) {
    if let Some(a) = action.target_account() {
        attrs.push(("target", a.to_hex()));
    }
}

/// Counts the votes of current seats; passes or rejects; applies at once when due.
fn tally(
    ov: &mut Overlay<'_>,
    prop: &mut Proposal,
    height: u64,
    now_s: u64,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    let seats = committee(ov)?;
    let p = params(ov)?;
    let yes = seats.iter().filter(|s| prop.votes.get(*s) == Some(&true)).count() as u64;
    let no = seats.iter().filter(|s| prop.votes.get(*s) == Some(&false)).count() as u64;
    let n = seats.len() as u64;
    let (num, den) = (u64::from(p.gov_threshold_num), u64::from(p.gov_threshold_den));
    let attrs = |prop: &Proposal| {
        let mut a = vec![
            ("proposal", prop.id.to_string()),
            ("action", prop.action.kind().to_string()),
            ("yes", yes.to_string()),
            ("seats", n.to_string()),
        ];
        with_target(&mut a, &prop.action);
        a
    };
    if yes * den > n * num {
        prop.status = ProposalStatus::Passed;
        prop.decided = Some(height);
        events.push(ev("gov.passed", attrs(prop)));
        if prop.activation_height <= height {
            apply(ov, prop, height, now_s, events)?;
        } else {
            let mut pending = keys::pending().read(ov)?.unwrap_or_default();
            pending.push(prop.id);
            keys::pending().write(ov, &pending);
        }
    } else if (n - no.min(n)) * den <= n * num {
        prop.status = ProposalStatus::Rejected;
        prop.decided = Some(height);
        events.push(ev("gov.rejected", attrs(prop)));
    }
    Ok(())
}

/// Applies passed proposals whose activation height has come; called at the end of every block.
/// Returns the events (they go to the audit log with the block).
///
/// # Errors
/// Store failure or corrupt state.
pub(crate) fn end_block(ov: &mut Overlay<'_>, height: u64, now_s: u64) -> Result<Vec<Event>, ExecError> {
    let mut events = Vec::new();
    apply_pending(ov, height, now_s, &mut events)?;
    // Seats or the threshold changed: proposals that now pass (or can no longer pass) are decided
    // without waiting for another vote. Once per block; a change made by this pass itself is
    // taken up at the next block's end.
    if keys::retally().read(ov)?.is_some() {
        keys::retally().delete(ov);
        let mut open = Vec::new();
        for id in keys::open().read(ov)?.unwrap_or_default() {
            let Some(mut prop) = proposal(ov, id)? else { continue };
            if prop.state_at(height) != ProposalState::Open {
                continue;
            }
            tally(ov, &mut prop, height, now_s, &mut events)?;
            keys::proposal(id).write(ov, &prop);
            if prop.status == ProposalStatus::Open {
                open.push(id);
            }
        }
        keys::open().write(ov, &open);
    }
    if !events.is_empty() {
        identity::bump_epoch(ov)?;
    }
    Ok(events)
}

/// Applies passed proposals whose activation height has come.
fn apply_pending(ov: &mut Overlay<'_>, height: u64, now_s: u64, events: &mut Vec<Event>) -> Result<(), ExecError> {
    let pending = keys::pending().read(ov)?.unwrap_or_default();
    if pending.is_empty() {
        return Ok(());
    }
    let mut keep = Vec::new();
    for id in pending {
        let Some(mut prop) = proposal(ov, id)? else { continue };
        if prop.activation_height > height {
            keep.push(id);
            continue;
        }
        apply(ov, &mut prop, height, now_s, events)?;
        keys::proposal(id).write(ov, &prop);
    }
    keys::pending().write(ov, &keep);
    Ok(())
}

fn apply(
    ov: &mut Overlay<'_>,
    prop: &mut Proposal,
    height: u64,
    now_s: u64,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    let suite = params_suite(ov)?;
    let result = match check_action(ov, &prop.action, suite, now_s)? {
        Err(why) => Err(why),
        Ok(()) => {
            do_apply(ov, prop, height, events)?;
            Ok(())
        }
    };
    prop.applied = Some(height);
    match result {
        Ok(()) => {
            prop.status = ProposalStatus::Applied;
            let mut attrs = vec![("proposal", prop.id.to_string()), ("action", prop.action.kind().into())];
            with_target(&mut attrs, &prop.action);
            events.push(ev("gov.applied", attrs));
        }
        Err(why) => {
            prop.status = ProposalStatus::Failed;
            prop.failure = Some(why.clone());
            let mut attrs =
                vec![("proposal", prop.id.to_string()), ("action", prop.action.kind().into()), ("reason", why)];
            with_target(&mut attrs, &prop.action);
            events.push(ev("gov.failed", attrs));
        }
    }
    Ok(())
}

fn params_suite(view: &dyn StateView) -> Result<Suite, ExecError> {
    fdl_schema::read::suite(view)
}

fn do_apply(ov: &mut Overlay<'_>, prop: &Proposal, height: u64, events: &mut Vec<Event>) -> Result<(), ExecError> {
    let pid = prop.id.to_string();
    let reseats = match &prop.action {
        GovAction::AddMember { .. } | GovAction::RemoveMember { .. } => true,
        GovAction::SetParam { name, .. } => name.starts_with("gov_threshold"),
        _ => false,
    };
    if reseats {
        keys::retally().write(ov, &Marker);
    }
    let mut nodes = nodes(ov)?;
    match &prop.action {
        GovAction::AddMember { name, ca_cert, committee } => {
            let mut names = fdl_schema::read::member_names(ov)?;
            names.push(name.clone());
            keys::members().write(ov, &names);
            let rec = MemberRecord {
                name: name.clone(),
                ca_cert: ca_cert.clone(),
                ca_hash: fdl_crypto::hash(params_suite(ov)?, ca_cert),
                ca_not_after: fdl_pki::parse(ca_cert).map(|i| i.not_after).unwrap_or(0),
                committee: *committee,
                since: height,
            };
            identity::put_member(ov, &rec);
            events.push(ev("member.added", vec![("org", name.clone()), ("proposal", pid)]));
        }
        GovAction::RemoveMember { name } => {
            let mut names = fdl_schema::read::member_names(ov)?;
            names.retain(|n| n != name);
            keys::members().write(ov, &names);
            fdl_schema::write::delete_member(ov, name);
            events.push(ev("member.removed", vec![("org", name.clone()), ("proposal", pid)]));
        }
        GovAction::AddNode { node } => {
            nodes.push(node.clone());
            keys::nodes().write(ov, &nodes);
            events.push(ev(
                "node.added",
                vec![
                    ("node", node.name.clone()),
                    ("org", node.org.clone()),
                    ("role", node.role.as_str().into()),
                    ("proposal", pid),
                ],
            ));
        }
        GovAction::RemoveNode { name } => {
            let org = nodes.iter().find(|n| &n.name == name).map(|n| n.org.clone()).unwrap_or_default();
            nodes.retain(|n| &n.name != name);
            keys::nodes().write(ov, &nodes);
            events.push(ev("node.removed", vec![("node", name.clone()), ("org", org), ("proposal", pid)]));
        }
        GovAction::RotateNodeCert { name, certificate } => {
            let mut org = String::new();
            for n in nodes.iter_mut().filter(|n| &n.name == name) {
                n.certificate.clone_from(certificate);
                if let Ok(info) = fdl_pki::parse(certificate) {
                    n.public_key = info.public_key.to_bytes();
                }
                org.clone_from(&n.org);
            }
            keys::nodes().write(ov, &nodes);
            events.push(ev("node.certificate_rotated", vec![("node", name.clone()), ("org", org), ("proposal", pid)]));
        }
        GovAction::RotateCa { org, ca_cert } => {
            if let Some(mut m) = identity::member(ov, org)? {
                m.ca_cert.clone_from(ca_cert);
                m.ca_hash = fdl_crypto::hash(params_suite(ov)?, ca_cert);
                m.ca_not_after = fdl_pki::parse(ca_cert).map(|i| i.not_after).unwrap_or(0);
                identity::put_member(ov, &m);
            }
            events.push(ev("member.ca_rotated", vec![("org", org.clone()), ("proposal", pid)]));
        }
        GovAction::RevokeCert { org, serial } => {
            let rec = RevocationRecord { height, by: format!("governance:{}", prop.id) };
            identity::revoke(ov, org, &serial.to_ascii_lowercase(), rec)?;
            events.push(ev("pki.revoked", vec![("org", org.clone()), ("serial", serial.clone()), ("proposal", pid)]));
        }
        GovAction::SetParam { name, value } => {
            let mut p = params(ov)?;
            // Checked by check_action just before.
            let _ = set_param(&mut p, name, *value);
            keys::params().write(ov, &p);
            events
                .push(ev("param.set", vec![("param", name.clone()), ("value", value.to_string()), ("proposal", pid)]));
        }
        GovAction::SetAcl { method, roles, orgs } => {
            keys::acl(method).write(ov, &AclRule { roles: roles.clone(), orgs: orgs.clone() });
            events.push(ev(
                "acl.set",
                vec![
                    ("method", method.clone()),
                    ("roles", roles.join(",")),
                    ("orgs", orgs.join(",")),
                    ("proposal", pid),
                ],
            ));
        }
        GovAction::Freeze { account } | GovAction::Unfreeze { account } => {
            let frozen = matches!(prop.action, GovAction::Freeze { .. });
            let key = account_key(account);
            if let Some(b) = ov.get(&key)? {
                let mut a = decode_account(&key, &b)?;
                a.frozen = frozen;
                let org = a.org.clone();
                ov.put(key, encode_account(&a));
                let kind = if frozen { "account.frozen" } else { "account.unfrozen" };
                events.push(ev(kind, vec![("account", account.to_hex()), ("org", org), ("proposal", pid)]));
            }
        }
        GovAction::ForcedTransfer { from, to, amount } => {
            let (kf, kt) = (account_key(from), account_key(to));
            let mut a = ov.get(&kf)?.map(|b| decode_account(&kf, &b)).transpose()?.unwrap_or_default();
            let mut b = ov.get(&kt)?.map(|b| decode_account(&kt, &b)).transpose()?.unwrap_or_default();
            match (a.balance.checked_sub(*amount), b.balance.checked_add(*amount)) {
                (Some(x), Some(y)) => {
                    a.balance = x;
                    b.balance = y;
                    let org = a.org.clone();
                    ov.put(kf, encode_account(&a));
                    ov.put(kt, encode_account(&b));
                    events.push(ev(
                        "account.forced_transfer",
                        vec![
                            ("account", from.to_hex()),
                            ("to", to.to_hex()),
                            ("amount", amount.to_string()),
                            ("org", org),
                            ("proposal", pid),
                        ],
                    ));
                }
                _ => events.push(ev(
                    "account.forced_transfer_failed",
                    vec![("account", from.to_hex()), ("reason", "insufficient balance".into()), ("proposal", pid)],
                )),
            }
        }
        GovAction::ResetKey { account, certificate } => {
            let info = fdl_pki::parse(certificate)
                .map_err(|e| ExecError::Corrupt { key: format!("proposal {}", prop.id), reason: e.to_string() })?;
            let suite = info.public_key.suite();
            let lock = params(ov)?.key_reset_lock_blocks;
            let key = account_key(account);
            let mut a = ov.get(&key)?.map(|b| decode_account(&key, &b)).transpose()?.unwrap_or_default();
            a.key = info.public_key.address();
            a.locked_until = height.saturating_add(lock).saturating_add(1);
            if a.org.is_empty() {
                a.org.clone_from(&info.org);
            }
            let org = a.org.clone();
            ov.put(key, encode_account(&a));
            let rec = identity::CertRecord {
                account: *account,
                org: info.org,
                role: info.role.map(|r| r.as_str().to_string()).unwrap_or_default(),
                common_name: info.common_name,
                serial: info.serial,
                not_before: info.not_before,
                not_after: info.not_after,
                public_key: hex::encode(info.public_key.to_bytes()),
                registered: height,
                ca: identity::member_meta(ov, &org)?.map(|m| m.ca_hash).unwrap_or_default(),
                der: certificate.clone(),
            };
            let h = fdl_types::cert_hash(suite, certificate);
            identity::put_cert(ov, &h, &rec);
            events.push(ev(
                "account.key_reset",
                vec![
                    ("account", account.to_hex()),
                    ("org", org),
                    ("certificate", h.to_hex()),
                    ("usable_from", a.locked_until.to_string()),
                    ("proposal", pid),
                ],
            ));
        }
        GovAction::SetAccountKind { account, kind } => {
            let key = account_key(account);
            if let (Some(b), Some(k)) = (ov.get(&key)?, AccountKind::parse(kind)) {
                let mut a = decode_account(&key, &b)?;
                a.kind = k;
                let org = a.org.clone();
                ov.put(key, encode_account(&a));
                events.push(ev(
                    "account.kind_set",
                    vec![("account", account.to_hex()), ("org", org), ("kind", kind.clone()), ("proposal", pid)],
                ));
            }
        }
    }
    Ok(())
}
