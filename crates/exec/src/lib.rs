//! FDL's execution layer: a pure function from (state view, block) to (receipts, state writes).
//!
//! Execution never touches storage, the network or the clock: it reads through [`StateView`] and
//! returns the writes, which the node commits atomically with the block. Native modules come
//! first; today that is `bank`, a digital-cash ledger with an issuer named in genesis.
//!
//! Block validity is checked before execution: [`check_tx_for_block`] covers chain id, suite, size,
//! expiry and amount; the caller checks replays and duplicates (transaction index) and signatures
//! (verifier pool). Execution outcomes (insufficient balance, unauthorized issue…) are receipts,
//! not errors, so a valid block always executes.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

pub mod bank;
pub mod block_rules;
pub mod contract;
pub mod gov;
pub mod identity;

use std::collections::BTreeMap;

use fdl_crypto::Address;
pub use fdl_schema::{
    Account, AccountKind, SchemaError as ExecError, StateView, StateWrite, decode_account, encode_account,
    keys::{ISSUER_KEY, SUITE_KEY, SUPPLY_KEY, SYS_HEIGHT_KEY, SYS_TIME_KEY, account_key},
    read::account as read_account,
};
use fdl_schema::{keys, write};
use fdl_types::{ChainParams, Event, Genesis, NodeRole, NodeSpec, Payload, Receipt, Role, SignedTx, StatusCode};
use thiserror::Error;

pub use identity::IdentityCache;

/// Why a transaction cannot be in a block at a given height (or admitted to the mempool).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxRejection {
    /// The transaction names another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The transaction's.
        got: String,
    },
    /// The signer's key is of the other suite.
    #[error("wrong suite: the chain uses {expected}")]
    WrongSuite {
        /// This chain's suite.
        expected: fdl_crypto::Suite,
    },
    /// The expiry height has passed.
    #[error("expired: expiry height {expiry} is below {height}")]
    Expired {
        /// The transaction's expiry height.
        expiry: u64,
        /// The height it would be included at.
        height: u64,
    },
    /// The expiry lies too far ahead.
    #[error("expiry height {expiry} is more than {window} blocks beyond {height}")]
    ExpiryTooFar {
        /// The transaction's expiry height.
        expiry: u64,
        /// The current height.
        height: u64,
        /// The allowed window.
        window: u64,
    },
    /// Already included in a block (or twice in this one).
    #[error("transaction already executed")]
    Replayed,
    /// Too big.
    #[error("transaction of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Zero amount.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Refused by the identity rules: the credential or the sending account (the code says which).
    #[error("{}", .0.describe())]
    Refused(StatusCode),
}

/// Checks everything about a transaction that does not need balances: chain id, suite, size,
/// expiry window and amount. Replay and signature are checked by the caller (they need the
/// transaction index and a thread pool respectively).
///
/// # Errors
/// The [`TxRejection`] that applies.
pub fn check_tx_for_block(
    tx: &SignedTx,
    encoded_len: usize,
    genesis: &Genesis,
    params: &ChainParams,
    height: u64,
) -> Result<(), TxRejection> {
    if tx.body.chain_id != genesis.chain_id {
        return Err(TxRejection::WrongChain { expected: genesis.chain_id.clone(), got: tx.body.chain_id.clone() });
    }
    if tx.body.signer.suite() != genesis.suite {
        return Err(TxRejection::WrongSuite { expected: genesis.suite });
    }
    let limit = tx_size_limit(&tx.body.payload, params);
    if encoded_len > limit {
        return Err(TxRejection::TooLarge { size: encoded_len, limit });
    }
    if tx.body.expiry_height < height {
        return Err(TxRejection::Expired { expiry: tx.body.expiry_height, height });
    }
    if tx.body.expiry_height > height.saturating_add(params.max_expiry_window) {
        return Err(TxRejection::ExpiryTooFar {
            expiry: tx.body.expiry_height,
            height,
            window: params.max_expiry_window,
        });
    }
    if bank::is_bank(&tx.body.payload) && bank::amount_of(&tx.body.payload) == 0 {
        return Err(TxRejection::ZeroAmount);
    }
    Ok(())
}

/// The largest encoding a transaction with `payload` may have: `max_tx_bytes`, except that a
/// transaction carrying contract code may be as large as the hard bound (ADR 0013).
pub fn tx_size_limit(payload: &Payload, params: &ChainParams) -> usize {
    if payload.carries_code() { fdl_types::block::MAX_TX_BYTES_HARD } else { params.max_tx_bytes as usize }
}

/// Most transactions carrying contract code in one block (each may be up to 64 KiB).
pub const MAX_CODE_TXS_PER_BLOCK: usize = 8;

/// State writes by key (`None` deletes), in key order.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What executing a block produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// The state writes (`None` deletes), sorted by key.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Events of the block itself rather than of one transaction: governance changes applied
    /// at the block's end (their effects are in the state root; the events go to the audit log).
    pub block_events: Vec<Event>,
}

/// A view with this block's writes layered over the parent state.
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl StateView for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Overlay::get(self, key)
    }

    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, ExecError> {
        merged_next(self.base, &[&self.writes], prefix, after)
    }
}

/// The next key with `prefix` after `after` in `layers` of writes (the last on top) over `base`:
/// a key written in a layer is present as its top-most write says; otherwise as `base` says.
///
/// # Errors
/// As [`StateView::next_key`] of `base`.
pub(crate) fn merged_next(
    base: &dyn StateView,
    layers: &[&BTreeMap<Vec<u8>, Option<Vec<u8>>>],
    prefix: &[u8],
    after: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, ExecError> {
    use std::ops::Bound;
    let mut cursor: Option<Vec<u8>> = after.map(<[u8]>::to_vec);
    let mut from_base = base.next_key(prefix, cursor.as_deref())?;
    loop {
        // The smallest candidate: the base's next key, or any key written in a layer.
        let lower = match &cursor {
            Some(c) if c.as_slice() >= prefix => Bound::Excluded(c.clone()),
            _ => Bound::Included(prefix.to_vec()),
        };
        let mut best = from_base.clone();
        for layer in layers {
            if let Some((k, _)) = layer.range((lower.clone(), Bound::Unbounded)).next()
                && k.starts_with(prefix)
                && best.as_ref().is_none_or(|b| k < b)
            {
                best = Some(k.clone());
            }
        }
        let Some(key) = best else { return Ok(None) };
        let written = layers.iter().rev().find_map(|l| l.get(&key));
        match written {
            Some(Some(_)) | None => return Ok(Some(key)),
            Some(None) => {
                // Deleted above the base: skip it, and move the base on if it was the base's.
                if from_base.as_deref() == Some(key.as_slice()) {
                    from_base = base.next_key(prefix, Some(&key))?;
                }
                cursor = Some(key);
            }
        }
    }
}

impl StateWrite for Overlay<'_> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        Overlay::put(self, key, value);
    }
    fn delete(&mut self, key: Vec<u8>) {
        Overlay::delete(self, key);
    }
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a dyn StateView) -> Self {
        Overlay { base, writes: BTreeMap::new() }
    }

    /// Reads through the overlay.
    ///
    /// # Errors
    /// As [`StateView::get`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    /// Records a write.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Records a deletion.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Records every write of `writes` (another overlay's, or a contract call's).
    pub fn extend(&mut self, writes: Writes) {
        self.writes.extend(writes);
    }

    /// Takes the recorded writes.
    pub fn into_writes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.writes
    }
}

/// Executes `txs` (already checked for block validity) at `height` over the parent state.
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn execute_block(
    parent: &dyn StateView,
    height: u64,
    timestamp_ms: u64,
    txs: &[SignedTx],
) -> Result<BlockOutcome, ExecError> {
    let mut ov = Overlay::new(parent);
    let issuer = fdl_schema::read::issuer(&ov)?;
    let mut cache = IdentityCache::default();
    let mut receipts = Vec::with_capacity(txs.len());
    let params = fdl_schema::read::params(&ov)?;
    let evm_chain_id = contract::evm::chain_id_of(&ov)?;
    let mut block = BlockCtx { fuel_left: params.max_block_fuel, gas_left: params.max_block_gas, evm_chain_id, params };
    for tx in txs {
        receipts.push(execute_tx(&mut ov, &mut cache, &issuer, tx, height, timestamp_ms, &mut block)?);
    }
    let block_events = gov::end_block(&mut ov, height, timestamp_ms / 1000)?;
    keys::height().write(&mut ov, &height);
    keys::time_ms().write(&mut ov, &timestamp_ms);
    Ok(BlockOutcome { receipts, writes: ov.into_writes(), block_events })
}

/// An event, cut to the receipt codec's bounds (attribute count and field lengths, at a UTF-8
/// boundary): values built from client input (names, reasons, lists) must never make a stored
/// receipt undecodable. Every module builds its events here.
pub(crate) fn event(kind: &str, attrs: Vec<(&str, String)>) -> Event {
    use fdl_types::receipt::{MAX_ATTRS, MAX_EVENT_FIELD};
    let cut = |mut s: String| {
        if s.len() > MAX_EVENT_FIELD {
            let mut end = MAX_EVENT_FIELD;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        s
    };
    Event {
        kind: cut(kind.to_string()),
        attrs: attrs.into_iter().take(MAX_ATTRS).map(|(k, v)| (cut(k.to_string()), cut(v))).collect(),
    }
}

/// What the transactions of one block share: the parameters as the block began, and the fuel
/// its contract calls have left (a block never exceeds `max_block_fuel`).
struct BlockCtx {
    params: ChainParams,
    fuel_left: u64,
    /// The gas its EVM calls have left (a block never exceeds `max_block_gas`).
    gas_left: u64,
    /// The EVM's `block.chainid`.
    evm_chain_id: u64,
}

/// Executes one transaction: its credential (STD-13.1), its account's state (frozen, locked,
/// STD-13.2/13.3), the access-control policy (STD-16.1), then the method. Every refusal is a
/// receipt with a stable code and an audit event (STD-13.4).
fn execute_tx(
    ov: &mut Overlay<'_>,
    cache: &mut IdentityCache,
    issuer: &Address,
    tx: &SignedTx,
    height: u64,
    time_ms: u64,
    block: &mut BlockCtx,
) -> Result<Receipt, ExecError> {
    let mut cost = bank::NATIVE_BASE_COST.saturating_add(tx.encoded().len() as u64);
    let done =
        |status: StatusCode, events: Vec<Event>| Receipt { tx_id: tx.id(), status, events, cost, output: vec![] };
    let method = tx.body.payload.method();
    let signer = tx.body.signer.address();
    let sender = match identity::resolve_sender(ov, cache, tx, time_ms, height)? {
        Ok(s) => s,
        Err(code) => {
            let attrs = vec![("account", signer.to_hex()), ("method", method.into()), ("reason", code.as_str().into())];
            return Ok(done(code, vec![event("identity.refused", attrs)]));
        }
    };
    let mut events = Vec::new();
    let akey = account_key(&sender.account);
    let mut acct = match ov.get(&akey)? {
        Some(b) => decode_account(&akey, &b)?,
        None => Account::default(),
    };
    if let Some((hash, rec)) = &sender.register {
        identity::put_cert(ov, hash, rec);
        if acct.key == Address::default() {
            acct.key = signer;
        }
        if acct.org.is_empty() {
            acct.org.clone_from(&rec.org);
            if rec.role == Role::Admin.as_str() {
                acct.kind = AccountKind::Admin;
            }
        }
        ov.put(akey.clone(), encode_account(&acct));
        cache.clear();
        events.push(event(
            "identity.registered",
            vec![
                ("account", sender.account.to_hex()),
                ("org", rec.org.clone()),
                ("role", rec.role.clone()),
                ("certificate", hash.to_hex()),
                ("serial", rec.serial.clone()),
            ],
        ));
    }
    let who = |reason: &str| {
        vec![
            ("account", sender.account.to_hex()),
            ("org", sender.org.clone()),
            ("method", method.to_string()),
            ("reason", reason.to_string()),
        ]
    };
    if let Some(role) = sender.role {
        if let Err(code) = identity::account_gate(&acct, &signer, height) {
            events.push(event("account.refused", who(code.as_str())));
            return Ok(done(code, events));
        }
        let allowed = match cache.acl.get(method) {
            Some(r) => r.clone(),
            None => {
                let r = gov::acl(ov, method)?;
                cache.acl.insert(method, r.clone());
                r
            }
        };
        if !allowed.is_some_and(|r| r.allows(role.as_str(), &sender.org)) {
            let mut attrs = who("permission_denied");
            attrs.push(("role", role.as_str().into()));
            events.push(event("acl.denied", attrs));
            return Ok(done(StatusCode::PermissionDenied, events));
        }
    }
    acct.sent = acct.sent.saturating_add(1);
    ov.put(akey, encode_account(&acct));
    // Governance needs a certified member (an open chain has none).
    let denied = || {
        let attrs = who("governance needs a certified member");
        done(StatusCode::PermissionDenied, vec![event("acl.denied", attrs)])
    };
    let mut output = Vec::new();
    let (status, mut out) = match &tx.body.payload {
        Payload::Transfer { .. } | Payload::Issue { .. } | Payload::Burn { .. } => {
            bank::apply(ov, issuer, &sender.account, &tx.body.payload)?
        }
        Payload::Propose { action, deadline, activation_height, note } => {
            let Some(call) = gov_call(&sender, height, time_ms, tx) else { return Ok(denied()) };
            cache.clear();
            let out = gov::propose(ov, &call, action, *deadline, *activation_height, note)?;
            gov_done(ov, out)?
        }
        Payload::Vote { proposal, approve } => {
            let Some(call) = gov_call(&sender, height, time_ms, tx) else { return Ok(denied()) };
            cache.clear();
            let out = gov::vote(ov, &call, *proposal, *approve)?;
            gov_done(ov, out)?
        }
        Payload::PublishCrl { crl } => {
            let Some(call) = gov_call(&sender, height, time_ms, tx) else { return Ok(denied()) };
            cache.clear();
            let out = identity::publish_crl(ov, &call, crl)?;
            gov_done(ov, out)?
        }
        Payload::Call { contract, version, method, args, fuel } => {
            let req = contract::CallRequest {
                contract,
                version: *version,
                method,
                args,
                caller: contract::account_identity(&sender.account, &sender.org, sender.role),
                fuel: contract::tx_fuel(*fuel, &block.params),
                height,
                time_ms,
            };
            let out = contract::call_tx(ov, &req, &block.params, &mut block.fuel_left)?;
            output = out.output;
            cost = out.fuel_used;
            (out.status, out.events)
        }
        Payload::EvmCall { contract, version, data, gas } => {
            let ctx = contract::evm::EvmCtx {
                signer: sender.account,
                org: sender.org.clone(),
                role: sender.role,
                height,
                time_ms,
                chain_id: block.evm_chain_id,
            };
            let req = contract::evm::EvmCallRequest {
                contract,
                version: *version,
                data,
                gas: contract::evm::tx_gas(*gas, &block.params),
            };
            let out = contract::evm::call_tx(ov, &req, &ctx, &block.params, &mut block.gas_left)?;
            output = out.output;
            cost = out.fuel_used;
            (out.status, out.events)
        }
        Payload::Deploy { spec } => {
            // `init` may use up to `max_tx_fuel` (an EVM constructor `max_tx_gas`): the block
            // must have that much left, and pays what it used (a block never exceeds its
            // `max_block_fuel` or `max_block_gas`).
            let evm = spec.vm == fdl_types::VmKind::Evm;
            let (need, left, unit) = if evm {
                (block.params.max_tx_gas, block.gas_left, "gas for the constructor")
            } else {
                (block.params.max_tx_fuel, block.fuel_left, "fuel for init")
            };
            if need > left {
                let attrs = vec![
                    ("contract", spec.name.clone()),
                    ("code", StatusCode::BlockFuelExhausted.as_str().to_string()),
                    ("reason", format!("a deploy needs {need} {unit}, the block has {left} left")),
                ];
                (StatusCode::BlockFuelExhausted, vec![event("contract.rejected", attrs)])
            } else {
                let by = contract::Installer {
                    account: sender.account,
                    org: &sender.org,
                    role: sender.role,
                    proposal: 0,
                    height,
                    time_ms,
                    fuel_used: std::cell::Cell::new(0),
                };
                let out = contract::deploy_direct(ov, spec, &by)?;
                let used = by.fuel_used.get();
                if evm {
                    block.gas_left = block.gas_left.saturating_sub(used);
                } else {
                    block.fuel_left = block.fuel_left.saturating_sub(used);
                }
                cost = cost.saturating_add(used);
                out
            }
        }
    };
    events.append(&mut out);
    events.truncate(fdl_types::receipt::MAX_EVENTS);
    output.truncate(fdl_types::receipt::MAX_OUTPUT);
    Ok(Receipt { tx_id: tx.id(), status, events, cost, output })
}

/// The context of a governance call by `sender`; `None` without a role (an open chain).
fn gov_call<'a>(sender: &'a identity::Sender, height: u64, time_ms: u64, tx: &SignedTx) -> Option<gov::Call<'a>> {
    Some(gov::Call {
        account: &sender.account,
        org: &sender.org,
        role: sender.role?,
        height,
        now_s: time_ms / 1000,
        suite: tx.body.signer.suite(),
    })
}

/// A governance call's outcome; a change moves the identity epoch on (caches keyed on it
/// refresh).
fn gov_done(ov: &mut Overlay<'_>, out: gov::Outcome) -> Result<gov::Outcome, ExecError> {
    if out.0 == StatusCode::Ok {
        identity::bump_epoch(ov)?;
    }
    Ok(out)
}

/// The state writes that genesis makes (version 0): issuer, initial balances, supply, the
/// member institutions and their CAs, the node set, the regulator, the access-control policy
/// and the chain parameters.
///
/// # Errors
/// [`ExecError::Corrupt`] if initial balances overflow the supply or a certificate is unreadable.
pub fn genesis_writes(genesis: &Genesis) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, ExecError> {
    let corrupt = |key: &str, reason: String| ExecError::Corrupt { key: key.into(), reason };
    let empty = Empty;
    let mut w = Overlay::new(&empty);
    keys::issuer().write(&mut w, &genesis.issuer);
    let mut supply: u128 = 0;
    for (addr, amount) in &genesis.balances {
        supply =
            supply.checked_add(*amount).ok_or_else(|| corrupt("genesis balances", "total overflows u128".into()))?;
        keys::account(addr).write(&mut w, &Account { balance: *amount, ..Account::default() });
    }
    keys::supply().write(&mut w, &supply);
    keys::height().write(&mut w, &0);
    keys::time_ms().write(&mut w, &genesis.genesis_time_ms);
    keys::suite().write(&mut w, &genesis.suite);
    keys::chain_id().write(&mut w, &genesis.chain_id);
    keys::params().write(&mut w, &genesis.params);
    let der = |pem: &str, what: &str| fdl_pki::from_pem(pem).map_err(|e| corrupt(what, e.to_string()));
    let mut names = Vec::new();
    for m in &genesis.members {
        let ca_cert = der(&m.ca_cert, &m.name)?;
        let ca_hash = fdl_crypto::hash(genesis.suite, &ca_cert);
        let ca_not_after = fdl_pki::parse(&ca_cert).map_err(|e| corrupt(&m.name, e.to_string()))?.not_after;
        let rec = identity::MemberRecord {
            name: m.name.clone(),
            ca_cert,
            ca_hash,
            ca_not_after,
            committee: m.committee,
            since: 0,
        };
        write::put_member(&mut w, &rec);
        names.push(m.name.clone());
    }
    keys::members().write(&mut w, &names);
    if let Some(r) = &genesis.regulator {
        keys::regulator().write(&mut w, r);
    }
    let node = |name: &str, org: &Option<String>, key: &str, peer: &Option<String>, cert: &Option<String>| {
        Ok::<_, ExecError>(NodeSpec {
            name: name.to_string(),
            org: org.clone().unwrap_or_default(),
            role: NodeRole::Validator,
            public_key: hex::decode(key).map_err(|e| corrupt(name, e.to_string()))?,
            power: 0,
            peer_id: peer.clone().unwrap_or_default(),
            p2p: String::new(),
            rpc: String::new(),
            certificate: cert.as_deref().map(|p| der(p, name)).transpose()?.unwrap_or_default(),
        })
    };
    let mut nodes = Vec::new();
    for v in &genesis.validators {
        let n = node(&v.name, &v.org, &v.public_key, &v.peer_id, &v.certificate)?;
        nodes.push(NodeSpec { power: v.power, ..n });
    }
    for o in &genesis.observers {
        let n = node(&o.name, &o.org, &o.public_key, &o.peer_id, &o.certificate)?;
        nodes.push(NodeSpec { role: NodeRole::Observer, ..n });
    }
    keys::nodes().write(&mut w, &nodes);
    for (method, rule) in gov::default_acl() {
        keys::acl(method).write(&mut w, &rule);
    }
    // The API read policy (STD-16.1): every resource's rule, from genesis or its default.
    for resource in fdl_types::ReadResource::ALL {
        keys::read_policy(resource).write(&mut w, &genesis.read_rule(resource));
    }
    Ok(w.into_writes())
}

/// The empty state genesis is written over.
struct Empty;

impl StateView for Empty {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(None)
    }
}
