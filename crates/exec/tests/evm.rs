//! Solidity contracts executed through `execute_block` (EVM on revm, `crates/exec/src/contract/evm.rs`):
//! deploy by committee vote, calls and their receipts (events, revert reasons, gas), storage in
//! the authenticated state, access rules by name and selector, the lifecycle (freeze, unfreeze,
//! retire, upgrade over kept storage), bad creation code and ABIs, denied opcodes, gas limits,
//! calls between contracts, determinism and FDL's precompiles.
//!
//! The contracts are `contracts/solidity/Token.sol` and `InvoiceRegistry.sol`, and the small
//! contracts of [`EXTRA_SOL`] written for these tests; each source is compiled once per test
//! binary with the repository's solcjs (`./scripts/setup.sh` installs it: without it the tests
//! fail).

mod common;

use std::cell::Cell;
use std::path::Path;
use std::sync::LazyLock;

use common::{Actor, Chain, assert_writes_as_baseline, attr, event, get};
use fdl_crypto::{Address, Suite};
use fdl_exec::contract::{CallOutcome, contract_address, evm};
use fdl_exec::gov::ProposalState;
use fdl_exec::{BlockOutcome, StateView};
use fdl_schema::{ContractRecord, ContractStatus, keys};
use fdl_types::{
    ChainParams, DeploySpec, Event, GovAction, MethodRule, Payload, Receipt, Role, StatusCode, UpgradeSpec, VmKind,
};
use fdl_vm_evm::SOLC_EVM_VERSION;
use fdl_vm_evm::abi::{Abi, selector};
use fdl_vm_evm::solc::{self, Compiled};
use serde_json::Value;

// ---- the contracts ---------------------------------------------------------------------------

/// The test contracts, compiled beside copies of `Fdl.sol` and `Token.sol`.
///
/// * `TokenV2`: `Token` with `version()` (returns 2) and `supplyAtUpgrade`, which its constructor
///   (the upgrade's migration) sets from the kept `totalSupply`; new state only after Token's.
/// * `TokenReset`: `Token` whose constructor (the upgrade's migration) clears the kept
///   `totalSupply` and the balance of `0xaa…aa` (writes zero).
/// * `Caller`: calls a token through an interface (`balanceVia`, `mintVia`, `tryMint`).
/// * `Probe`: `whoami` (the identity precompile on `msg.sender`), `hashAbc` (SM3 of "abc"),
///   `spin` (writes and loops until out of gas).
/// * `Bomb`: has SELFDESTRUCT in its runtime code.
const EXTRA_SOL: &str = r#"// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Fdl} from "./Fdl.sol";
import {Token} from "./Token.sol";

contract TokenV2 is Token {
    uint256 public supplyAtUpgrade;

    constructor() {
        supplyAtUpgrade = totalSupply;
    }

    function version() external pure returns (uint256) {
        return 2;
    }
}

contract TokenReset is Token {
    constructor() {
        totalSupply = 0;
        balanceOf[address(bytes20(hex"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))] = 0;
    }
}

interface IToken {
    function balanceOf(address who) external view returns (uint256);
    function mint(address to, uint256 amount) external;
}

contract Caller {
    function balanceVia(address token, address who) external view returns (uint256) {
        return IToken(token).balanceOf(who);
    }

    function mintVia(address token, address to, uint256 amount) external {
        IToken(token).mint(to, amount);
    }

    function tryMint(address token, address to, uint256 amount) external returns (bool ok) {
        try IToken(token).mint(to, amount) {
            ok = true;
        } catch {
            ok = false;
        }
    }
}

contract Probe {
    uint256 public spins;

    function whoami() external view returns (string memory org, string memory role) {
        return Fdl.identityOf(msg.sender);
    }

    function hashAbc() external view returns (bytes32) {
        return Fdl.sm3(bytes("abc"));
    }

    function spin() external {
        while (true) {
            spins += 1;
        }
    }
}

contract Bomb {
    function boom() external {
        selfdestruct(payable(msg.sender));
    }
}
"#;

struct Contracts {
    token: Compiled,
    invoices: Compiled,
    token_v2: Compiled,
    token_reset: Compiled,
    caller: Compiled,
    probe: Compiled,
    bomb: Compiled,
}

/// Every contract, compiled once per test binary (three sources, compiled in parallel).
static SOL: LazyLock<Contracts> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let solc = solc::find(&root).unwrap_or_else(|e| panic!("{e} (run ./scripts/setup.sh once)"));
    let src = root.join("contracts/solidity");
    let dir = tempfile::tempdir().expect("temp dir");
    for f in ["Fdl.sol", "Token.sol"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy the source");
    }
    let extra = dir.path().join("Extra.sol");
    std::fs::write(&extra, EXTRA_SOL).expect("write Extra.sol");
    let build = |file: &Path| {
        solc::compile(&solc, file, SOLC_EVM_VERSION).unwrap_or_else(|e| panic!("compiling {}: {e}", file.display()))
    };
    let (token_file, invoices_file) = (src.join("Token.sol"), src.join("InvoiceRegistry.sol"));
    let (token, invoices, extras) = std::thread::scope(|s| {
        let t = s.spawn(|| build(&token_file));
        let i = s.spawn(|| build(&invoices_file));
        let e = build(&extra);
        (t.join().expect("Token.sol"), i.join().expect("InvoiceRegistry.sol"), e)
    });
    let one = |all: &Vec<Compiled>, file: &Path, name: &str| {
        solc::pick(all.clone(), file, Some(name)).unwrap_or_else(|e| panic!("{e}"))
    };
    Contracts {
        token: one(&token, &token_file, "Token"),
        invoices: one(&invoices, &invoices_file, "InvoiceRegistry"),
        token_v2: one(&extras, &extra, "TokenV2"),
        token_reset: one(&extras, &extra, "TokenReset"),
        caller: one(&extras, &extra, "Caller"),
        probe: one(&extras, &extra, "Probe"),
        bomb: one(&extras, &extra, "Bomb"),
    }
});

fn abi_of(c: &Compiled) -> Abi {
    Abi::parse(&c.abi).unwrap_or_else(|e| panic!("{}'s ABI: {e}", c.name))
}

// ---- ABI words, by hand (independent of the ABI module's JSON conventions) ------------------

type W = [u8; 32];

fn w_addr(a: &Address) -> W {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn w_u(v: u128) -> W {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// Call data: the signature's selector and the words.
fn cd(sig: &str, words: &[W]) -> Vec<u8> {
    let mut d = selector(sig).to_vec();
    for w in words {
        d.extend_from_slice(w);
    }
    d
}

fn mint(to: &Address, amount: u128) -> Vec<u8> {
    cd("mint(address,uint256)", &[w_addr(to), w_u(amount)])
}

fn transfer(to: &Address, amount: u128) -> Vec<u8> {
    cd("transfer(address,uint256)", &[w_addr(to), w_u(amount)])
}

fn balance_of(who: &Address) -> Vec<u8> {
    cd("balanceOf(address)", &[w_addr(who)])
}

/// A JSON number as the ABI module gives it: a number, or a decimal or `0x` string.
fn num(v: &Value) -> u128 {
    match v {
        Value::Number(n) => u128::from(n.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(h) => u128::from_str_radix(h, 16),
            None => s.parse(),
        }
        .unwrap_or_else(|e| panic!("not a number {s:?}: {e}")),
        other => panic!("not a number: {other}"),
    }
}

/// Whether a JSON address is `a` (any case, with or without `0x`).
fn is_addr(v: &Value, a: &Address) -> bool {
    v.as_str().is_some_and(|s| s.trim_start_matches("0x").eq_ignore_ascii_case(&hex::encode(a.0)))
}

// ---- the chain (the harness is `common`) -------------------------------------------------------

impl Chain {
    /// An EVM call of the current version of `contract` by `who`, in its own block.
    fn evm(&mut self, who: &Actor, contract: &str, data: Vec<u8>) -> Receipt {
        self.send(who, evm_call(contract, data, 0))
    }

    /// As [`Chain::evm`], by `org`'s administrator.
    fn admin_evm(&mut self, org: usize, contract: &str, data: Vec<u8>) -> Receipt {
        let tx = self.tx(&self.admins[org], evm_call(contract, data, 0));
        self.block(&[tx]).remove(0)
    }

    /// A read-only call of `contract` (version 0: current) as `caller`.
    fn query(&self, contract: &str, version: u32, data: &[u8], caller: &Address) -> CallOutcome {
        evm::query(&self.state, contract, version, data, caller, 0).expect("query")
    }

    fn balance(&self, contract: &str, who: &Address) -> u128 {
        let out = self.query(contract, 0, &balance_of(who), &Address([9; 20]));
        assert_eq!(out.status, StatusCode::Ok, "{out:?}");
        num(&abi_of(&SOL.token).decode_output("balanceOf", &out.output).expect("decode balanceOf"))
    }

    /// Proposes `action` by org1's administrator and votes until decided: the proposal must fail
    /// when it applies; the deciding vote's receipt.
    fn pass_failing(&mut self, action: GovAction) -> Receipt {
        let (id, r) = self.propose(0, action);
        assert_eq!(r.status, StatusCode::Ok, "{r:?}");
        let r = self.carry(id, 0);
        assert_eq!(self.status(id), ProposalState::Failed, "{r:?}");
        r
    }

    /// Deploys `compiled` as `name` by committee vote (org1 proposes).
    fn deploy(&mut self, name: &str, compiled: &Compiled) -> Receipt {
        let r = self.pass(GovAction::DeployContract { spec: evm_spec(name, compiled) });
        assert_eq!(attr(&r, "contract.deployed", "contract"), Some(name), "{r:?}");
        r
    }

    fn record(&self, name: &str) -> Option<ContractRecord> {
        keys::contract(name).read(&self.state).expect("read")
    }
}

fn evm_spec(name: &str, c: &Compiled) -> DeploySpec {
    DeploySpec {
        name: name.into(),
        vm: VmKind::Evm,
        code: c.bytecode.clone(),
        review: None,
        access: vec![],
        allow_reentry: false,
        init_args: String::new(),
        abi: c.abi.clone(),
    }
}

fn evm_call(contract: &str, data: Vec<u8>, gas: u64) -> Payload {
    Payload::EvmCall { contract: contract.into(), version: 0, data, gas }
}

/// An upgrade of `name` to `compiled` (its constructor is the migration).
fn evm_upgrade(name: &str, compiled: &Compiled) -> UpgradeSpec {
    UpgradeSpec {
        name: name.into(),
        code: compiled.bytecode.clone(),
        review: None,
        migrate_args: String::new(),
        abi: compiled.abi.clone(),
    }
}

/// The `contract.event` of a receipt named `name`: its `contract` and decoded `data`.
fn log_event(events: &[Event], name: &str) -> (String, Value) {
    let e = events
        .iter()
        .find(|e| e.kind == "contract.event" && get(e, "name") == Some(name))
        .unwrap_or_else(|| panic!("no contract.event {name} in {events:?}"));
    let data = serde_json::from_str(get(e, "data").expect("data")).expect("data is JSON");
    (get(e, "contract").expect("contract").to_string(), data)
}

/// The keys a block wrote under the contract prefixes (registry, code, storage).
fn contract_writes(out: &BlockOutcome) -> Vec<String> {
    out.writes
        .keys()
        .filter(|k| {
            k.starts_with(b"ctr/") || k.starts_with(b"cta/") || k.starts_with(b"code/") || k.starts_with(b"cs/")
        })
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

/// Asserts that `payload` by `who` ends with `status` and writes exactly what an EVM call of a
/// contract that does not exist writes (the sender's account): nothing of any contract's.
fn assert_fails_writing_nothing(c: &Chain, who: &Actor, payload: Payload, status: StatusCode) -> Receipt {
    let baseline = evm_call("nobody", vec![], 0);
    assert_writes_as_baseline(c, who, payload, status, baseline, StatusCode::UnknownContract)
}

/// A chain with `Token` deployed as `soltoken` by org1 (so org1's administrators mint).
fn token_chain() -> Chain {
    let mut c = Chain::new();
    c.deploy("soltoken", &SOL.token);
    c
}

// ---- 1. Token: deploy by vote, mint, transfer, events, reverts, gas ---------------------------

#[test]
fn token_deployed_by_vote_mints_transfers_and_reverts_with_reasons() {
    let mut c = Chain::new();
    let (id, r) = c.propose(0, GovAction::DeployContract { spec: evm_spec("soltoken", &SOL.token) });
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert!(c.record("soltoken").is_none(), "nothing before the vote passes");
    let r = c.carry(id, 0);
    assert_eq!(c.status(id), ProposalState::Applied, "{r:?}");
    assert_eq!(attr(&r, "contract.deployed", "vm"), Some("evm"));
    assert_eq!(attr(&r, "contract.deployed", "org"), Some("org1"));
    let address = contract_address(Suite::Intl, "soltoken");
    assert_eq!(attr(&r, "contract.deployed", "address"), Some(address.to_hex().as_str()));
    let rec = c.record("soltoken").expect("record");
    assert_eq!((rec.vm, rec.status, rec.current, rec.owner.as_str()), (VmKind::Evm, ContractStatus::Active, 1, "org1"));
    // The constructor recorded the proposer's institution.
    let out = c.query("soltoken", 0, &cd("institution()", &[]), &Address([9; 20]));
    assert_eq!(abi_of(&SOL.token).decode_output("institution", &out.output).expect("decode"), Value::from("org1"));

    let a = c.actor(0, Role::Client);
    let b = c.actor(1, Role::Client);

    // org1's administrator mints 1000 to A; the receipt's cost is the gas the call used.
    let tx = c.tx(&c.admins[0], evm_call("soltoken", mint(&a.address(), 1000), 0));
    let expected_gas = c.query("soltoken", 0, &mint(&a.address(), 1000), &c.admins[0].address()).fuel_used;
    let r = c.block(&[tx]).remove(0);
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert!(r.cost > 21_000 && r.cost < ChainParams::default().max_tx_gas, "cost {}", r.cost);
    assert_eq!(r.cost, expected_gas, "the receipt's cost is the gas used");
    let (contract, data) = log_event(&r.events, "Transfer");
    assert_eq!(contract, "soltoken");
    assert!(is_addr(&data["from"], &Address([0; 20])), "{data}");
    assert!(is_addr(&data["to"], &a.address()), "{data}");
    assert_eq!(num(&data["value"]), 1000);

    // A transfers 250 to B.
    let r = c.evm(&a, "soltoken", transfer(&b.address(), 250));
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(abi_of(&SOL.token).decode_output("transfer", &r.output).expect("decode"), Value::Bool(true));
    let (_, data) = log_event(&r.events, "Transfer");
    assert!(is_addr(&data["from"], &a.address()) && is_addr(&data["to"], &b.address()), "{data}");
    assert_eq!(num(&data["value"]), 250);
    assert_eq!((c.balance("soltoken", &a.address()), c.balance("soltoken", &b.address())), (750, 250));
    let out = c.query("soltoken", 0, &cd("totalSupply()", &[]), &a.address());
    assert_eq!(num(&abi_of(&SOL.token).decode_output("totalSupply", &out.output).expect("decode")), 1000);

    // A client may not mint: the revert reason is the failure's message.
    let r = assert_fails_writing_nothing(
        &c,
        &a,
        evm_call("soltoken", mint(&a.address(), 5), 0),
        StatusCode::ContractFailed,
    );
    assert_eq!(attr(&r, "contract.failed", "code"), Some("revert"));
    let msg = attr(&r, "contract.failed", "message").expect("message");
    assert!(msg.contains("only an administrator"), "{msg}");

    // An overdraft reverts and writes nothing; it still used gas.
    let r = assert_fails_writing_nothing(
        &c,
        &a,
        evm_call("soltoken", transfer(&b.address(), 10_000), 0),
        StatusCode::ContractFailed,
    );
    assert_eq!(attr(&r, "contract.failed", "message"), Some("transfer: insufficient balance"), "{r:?}");
    assert!(r.cost > 21_000, "cost {}", r.cost);
    assert!(!r.events.iter().any(|e| e.kind == "contract.event"), "a revert emits nothing");
    let r = c.evm(&a, "soltoken", transfer(&b.address(), 10_000));
    assert_eq!(r.status, StatusCode::ContractFailed);
    assert_eq!((c.balance("soltoken", &a.address()), c.balance("soltoken", &b.address())), (750, 250));
}

// ---- 2. storage in the authenticated state ----------------------------------------------------

#[test]
fn token_storage_is_in_the_state_under_cs_name_slot() {
    let mut c = token_chain();
    let a = Address([0xaa; 20]);
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a, 750)).status, StatusCode::Ok);
    // Token's layout: name 0, symbol 1, totalSupply 2, institution 3, balanceOf 4, allowance 5.
    let mut preimage = w_addr(&a).to_vec();
    preimage.extend_from_slice(&w_u(4));
    let slot = fdl_vm_evm::keccak256(&preimage);
    let key = keys::contract_storage_key("soltoken", &slot);
    assert_eq!(c.state.map.get(&key), Some(&w_u(750).to_vec()), "A's balance slot");
    let key = keys::contract_storage_key("soltoken", &w_u(2));
    assert_eq!(c.state.map.get(&key), Some(&w_u(750).to_vec()), "totalSupply");
    let prefix = keys::contract_storage_key("soltoken", b"");
    let n = c.state.next_key(&prefix, None).expect("next").expect("a cs/soltoken/ key");
    assert!(n.starts_with(b"cs/soltoken/"), "{}", String::from_utf8_lossy(&n));
    // Every slot is a 32-byte key with a 32-byte value.
    for (k, v) in c.state.map.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
        assert_eq!((k.len() - prefix.len(), v.len()), (32, 32), "{}", hex::encode(k));
    }
}

// ---- 3. access rules --------------------------------------------------------------------------

#[test]
fn access_rules_match_evm_methods_by_name_and_by_selector() {
    let mut c = token_chain();
    let a = Address([0xaa; 20]);
    let only_org2_admins = |method: &str| {
        vec![MethodRule {
            method: method.into(),
            roles: vec!["admin".into()],
            orgs: vec!["org2".into()],
            ..MethodRule::default()
        }]
    };

    // By ABI name.
    c.pass(GovAction::SetContractAccess {
        name: "soltoken".into(),
        access: only_org2_admins("mint"),
        allow_reentry: false,
    });
    let r = c.admin_evm(0, "soltoken", mint(&a, 1));
    assert_eq!(r.status, StatusCode::PermissionDenied, "{r:?}");
    assert_eq!(r.cost, 0, "a refused call runs nothing");
    // org2's administrator passes the rule (and Token then refuses it: it is not org1's).
    let r = c.admin_evm(1, "soltoken", mint(&a, 1));
    assert_eq!(r.status, StatusCode::ContractFailed, "{r:?}");
    assert!(attr(&r, "contract.failed", "message").expect("message").contains("only an administrator of org1"));
    // Other methods have no rule.
    assert_eq!(c.admin_evm(0, "soltoken", transfer(&a, 0)).status, StatusCode::Ok);
    // Queries are checked too.
    assert_eq!(c.query("soltoken", 0, &mint(&a, 1), &c.admins[0].address()).status, StatusCode::PermissionDenied);

    // By selector: mint(address,uint256) is 0x40c10f19.
    let sel = format!("0x{}", hex::encode(selector("mint(address,uint256)")));
    assert_eq!(sel, "0x40c10f19");
    c.pass(GovAction::SetContractAccess {
        name: "soltoken".into(),
        access: only_org2_admins(&sel),
        allow_reentry: false,
    });
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a, 1)).status, StatusCode::PermissionDenied);
    // A selector rule wins over a name rule and a `*` rule.
    let rules = vec![
        MethodRule { method: "*".into(), orgs: vec!["org3".into()], ..MethodRule::default() },
        MethodRule { method: "mint".into(), orgs: vec!["org2".into()], ..MethodRule::default() },
        MethodRule { method: sel.clone(), orgs: vec!["org1".into()], ..MethodRule::default() },
    ];
    c.pass(GovAction::SetContractAccess { name: "soltoken".into(), access: rules, allow_reentry: false });
    let r = c.admin_evm(0, "soltoken", mint(&a, 7));
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    // balanceOf falls under `*` too: org3's administrator may read it, a stranger may not.
    let out = c.query("soltoken", 0, &balance_of(&a), &c.admins[2].address());
    assert_eq!(num(&abi_of(&SOL.token).decode_output("balanceOf", &out.output).expect("decode")), 7);
    assert_eq!(c.query("soltoken", 0, &balance_of(&a), &Address([9; 20])).status, StatusCode::PermissionDenied);
    // transfer falls under `*` (org3 only).
    assert_eq!(c.admin_evm(0, "soltoken", transfer(&a, 0)).status, StatusCode::PermissionDenied);
    assert_eq!(c.admin_evm(2, "soltoken", transfer(&a, 0)).status, StatusCode::Ok);

    // A deploy may carry its rules.
    let spec = DeploySpec { access: only_org2_admins("mint"), ..evm_spec("guarded", &SOL.token) };
    c.pass(GovAction::DeployContract { spec });
    assert_eq!(c.admin_evm(0, "guarded", mint(&a, 1)).status, StatusCode::PermissionDenied);
}

// ---- 4. freeze, unfreeze, retire --------------------------------------------------------------

#[test]
fn a_frozen_token_refuses_calls_until_unfrozen_and_a_retired_one_for_good() {
    let mut c = token_chain();
    let a = c.actor(0, Role::Client);
    c.pass(GovAction::FreezeContract { name: "soltoken".into() });
    let admin = &c.admins[0];
    let r = assert_fails_writing_nothing(
        &c,
        admin,
        evm_call("soltoken", mint(&a.address(), 1), 0),
        StatusCode::ContractFrozen,
    );
    assert_eq!(r.cost, 0);
    assert_eq!(c.query("soltoken", 0, &balance_of(&a.address()), &a.address()).status, StatusCode::ContractFrozen);
    c.pass(GovAction::UnfreezeContract { name: "soltoken".into() });
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a.address(), 3)).status, StatusCode::Ok);
    assert_eq!(c.balance("soltoken", &a.address()), 3);
    c.pass(GovAction::RetireContract { name: "soltoken".into() });
    let admin = &c.admins[0];
    assert_fails_writing_nothing(
        &c,
        admin,
        evm_call("soltoken", mint(&a.address(), 1), 0),
        StatusCode::ContractRetired,
    );
    assert_eq!(c.record("soltoken").expect("record").status, ContractStatus::Retired);
}

// ---- 5. upgrade over kept storage -------------------------------------------------------------

#[test]
fn an_upgrade_keeps_storage_and_the_old_version_stays_callable() {
    let mut c = token_chain();
    let a = Address([0xaa; 20]);
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a, 600)).status, StatusCode::Ok);
    let v2 = &SOL.token_v2;
    let spec = evm_upgrade("soltoken", v2);
    let r = c.pass(GovAction::UpgradeContract { spec });
    assert_eq!(attr(&r, "contract.upgraded", "version"), Some("2"), "{r:?}");
    let rec = c.record("soltoken").expect("record");
    assert_eq!((rec.current, rec.versions), (2, 2));
    assert_eq!(c.balance("soltoken", &a), 600, "balances are kept");
    let v2abi = abi_of(v2);
    let out = c.query("soltoken", 0, &cd("version()", &[]), &a);
    assert_eq!(out.status, StatusCode::Ok, "{out:?}");
    assert_eq!(num(&v2abi.decode_output("version", &out.output).expect("decode")), 2);
    // Version 1 has no version() (its dispatcher reverts) but still answers balanceOf.
    let out = c.query("soltoken", 1, &cd("version()", &[]), &a);
    assert_eq!(out.status, StatusCode::ContractFailed, "{out:?}");
    let out = c.query("soltoken", 1, &balance_of(&a), &a);
    assert_eq!(num(&abi_of(&SOL.token).decode_output("balanceOf", &out.output).expect("decode")), 600);
    // A transaction pinned to version 1 writes the shared storage.
    let tx =
        c.tx(&c.admins[0], Payload::EvmCall { contract: "soltoken".into(), version: 1, data: mint(&a, 1), gas: 0 });
    assert_eq!(c.block(&[tx])[0].status, StatusCode::Ok);
    assert_eq!(c.balance("soltoken", &a), 601);
}

/// The upgrade's constructor is its migration: it reads the kept storage.
#[test]
fn an_upgrade_constructor_reads_the_kept_storage() {
    let mut c = token_chain();
    assert_eq!(c.admin_evm(0, "soltoken", mint(&Address([0xaa; 20]), 600)).status, StatusCode::Ok);
    let v2 = &SOL.token_v2;
    let spec = evm_upgrade("soltoken", v2);
    c.pass(GovAction::UpgradeContract { spec });
    let out = c.query("soltoken", 0, &cd("supplyAtUpgrade()", &[]), &Address([9; 20]));
    assert_eq!(out.status, StatusCode::Ok, "{out:?}");
    assert_eq!(num(&abi_of(v2).decode_output("supplyAtUpgrade", &out.output).expect("decode")), 600);
}

/// A migration that clears kept slots (writes zero) removes their keys from the state.
#[test]
fn an_upgrade_constructor_that_clears_a_kept_slot_removes_its_key() {
    let mut c = token_chain();
    let a = Address([0xaa; 20]);
    let b = Address([0xbb; 20]);
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a, 600)).status, StatusCode::Ok);
    assert_eq!(c.admin_evm(0, "soltoken", mint(&b, 5)).status, StatusCode::Ok);
    // Token's layout: totalSupply 2, balanceOf 4.
    let supply_key = keys::contract_storage_key("soltoken", &w_u(2));
    let mut preimage = w_addr(&a).to_vec();
    preimage.extend_from_slice(&w_u(4));
    let a_key = keys::contract_storage_key("soltoken", &fdl_vm_evm::keccak256(&preimage));
    assert_eq!(c.state.map.get(&supply_key), Some(&w_u(605).to_vec()), "totalSupply before");
    assert_eq!(c.state.map.get(&a_key), Some(&w_u(600).to_vec()), "A's balance before");

    let r = c.pass(GovAction::UpgradeContract { spec: evm_upgrade("soltoken", &SOL.token_reset) });
    assert_eq!(attr(&r, "contract.upgraded", "version"), Some("2"), "{r:?}");
    assert_eq!(c.record("soltoken").expect("record").current, 2);
    assert!(!c.state.map.contains_key(&supply_key), "the cleared totalSupply's key is still in the state");
    assert!(!c.state.map.contains_key(&a_key), "the cleared balance's key is still in the state");
    let out = c.query("soltoken", 0, &cd("totalSupply()", &[]), &Address([9; 20]));
    assert_eq!(out.status, StatusCode::Ok, "{out:?}");
    assert_eq!(num(&abi_of(&SOL.token_reset).decode_output("totalSupply", &out.output).expect("decode")), 0);
    assert_eq!(c.balance("soltoken", &a), 0, "A's balance was cleared");
    // What the migration did not touch is kept.
    assert_eq!(c.balance("soltoken", &b), 5, "B's balance is kept");
}

// ---- 6. InvoiceRegistry -----------------------------------------------------------------------

#[test]
fn an_invoice_is_reimbursed_once() {
    let mut c = Chain::new();
    c.deploy("invoices", &SOL.invoices);
    let abi = abi_of(&SOL.invoices);
    let clerk = c.actor(0, Role::Client);
    let id = fdl_vm_evm::keccak256(b"invoice 0001");
    let issuer = Address([0x11; 20]);
    let payee = Address([0x22; 20]);
    let r = c.evm(&clerk, "invoices", cd("register(bytes32,address,uint256)", &[id, w_addr(&issuer), w_u(500)]));
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    let (_, data) = log_event(&r.events, "Registered");
    assert_eq!(num(&data["amount"]), 500, "{data}");
    assert!(is_addr(&data["registeredBy"], &clerk.address()), "{data}");

    let reimburse = cd("reimburse(bytes32,address)", &[id, w_addr(&payee)]);
    let r = c.admin_evm(1, "invoices", reimburse.clone());
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    let (_, data) = log_event(&r.events, "Reimbursed");
    assert_eq!(data["org"], Value::from("org2"), "{data}");
    let out = c.query("invoices", 0, &cd("status(bytes32)", &[id]), &payee);
    let status = abi.decode_output("status", &out.output).expect("decode");
    assert_eq!((status[0].clone(), status[1].clone()), (Value::Bool(true), Value::Bool(true)), "{status}");
    assert_eq!(num(&status[2]), 500);
    assert!(is_addr(&status[3], &payee), "{status}");

    // The second reimbursement, by another institution, reverts.
    let admin = &c.admins[2];
    let r = assert_fails_writing_nothing(&c, admin, evm_call("invoices", reimburse, 0), StatusCode::ContractFailed);
    assert_eq!(attr(&r, "contract.failed", "message"), Some("invoice already reimbursed"), "{r:?}");
    let out = c.query("invoices", 0, &cd("reimbursement(bytes32)", &[id]), &payee);
    let who = abi.decode_output("reimbursement", &out.output).expect("decode");
    assert!(is_addr(&who[0], &c.admins[1].address()), "{who}");
    assert_eq!(who[2], Value::from("org2"));
}

// ---- 7. bad input -----------------------------------------------------------------------------

#[test]
fn garbage_creation_code_fails_the_deploy_and_the_chain_continues() {
    let mut c = Chain::new();
    // 0xfe: INVALID; 0x00: STOP, which returns empty runtime code.
    for (code, why) in [(vec![0xfe], "invalid_opcode"), (vec![0x00], "empty"), (vec![0x60, 0x00, 0x56], "invalid_jump")]
    {
        let spec = DeploySpec { code, abi: String::new(), ..evm_spec("junk", &SOL.probe) };
        let r = c.pass_failing(GovAction::DeployContract { spec });
        assert_eq!(attr(&r, "gov.failed", "code"), Some("contract_init_failed"), "{r:?}");
        let reason = attr(&r, "gov.failed", "reason").expect("reason");
        assert!(reason.contains(why), "{why}: {reason}");
        assert!(c.record("junk").is_none());
        assert!(keys::contract_at(&contract_address(Suite::Intl, "junk")).read(&c.state).expect("read").is_none());
    }
    // The chain goes on: the name is still free.
    c.deploy("junk", &SOL.probe);
}

#[test]
fn a_runtime_with_selfdestruct_is_refused_unless_the_chain_allows_it() {
    let mut c = Chain::new();
    let r = c.pass_failing(GovAction::DeployContract { spec: evm_spec("bomb", &SOL.bomb) });
    let reason = attr(&r, "gov.failed", "reason").expect("reason");
    assert!(reason.contains("denied_opcode"), "{reason}");
    assert!(reason.contains("SELFDESTRUCT"), "{reason}");
    assert!(c.record("bomb").is_none());
    // With SELFDESTRUCT allowed (only CREATE, CREATE2 and CALLCODE denied), it deploys.
    let mut c = Chain::with_params(ChainParams { evm_denied_opcodes: 2 | 4 | 8, ..ChainParams::default() });
    c.deploy("bomb", &SOL.bomb);
}

#[test]
fn an_endless_loop_runs_out_of_gas_using_all_of_it_and_writes_nothing() {
    let mut c = Chain::new();
    c.deploy("probe", &SOL.probe);
    let admin = &c.admins[0];
    let r =
        assert_fails_writing_nothing(&c, admin, evm_call("probe", cd("spin()", &[]), 100_000), StatusCode::OutOfFuel);
    assert_eq!(r.cost, 100_000, "out of gas uses the whole limit");
    assert_eq!(attr(&r, "contract.failed", "code"), Some("out_of_gas"));
    // Without a limit the call runs with max_tx_gas.
    let tx = c.tx(&c.admins[0], evm_call("probe", cd("spin()", &[]), 0));
    let r = c.block(&[tx]).remove(0);
    assert_eq!((r.status, r.cost), (StatusCode::OutOfFuel, ChainParams::default().max_tx_gas));
    // An ask above max_tx_gas is cut to it.
    let tx = c.tx(&c.admins[0], evm_call("probe", cd("spin()", &[]), u64::MAX));
    assert_eq!(c.block(&[tx])[0].cost, ChainParams::default().max_tx_gas);
    let out = c.query("probe", 0, &cd("spins()", &[]), &Address([9; 20]));
    assert_eq!(num(&abi_of(&SOL.probe).decode_output("spins", &out.output).expect("decode")), 0);
}

#[test]
fn an_abi_that_does_not_parse_is_refused_when_proposed() {
    let c = Chain::new();
    for abi in ["not json", "{\"type\": 1}", "[{\"type\":\"function\",\"name\":3}]"] {
        let spec = DeploySpec { abi: abi.into(), ..evm_spec("badabi", &SOL.token) };
        let tx = c.tx(
            &c.admins[0],
            Payload::Propose {
                action: GovAction::DeployContract { spec },
                deadline: 5,
                activation_height: 0,
                note: String::new(),
            },
        );
        let out = c.exec(&[tx]);
        let r = &out.receipts[0];
        assert_eq!(r.status, StatusCode::ProposalInvalid, "{abi}: {r:?}");
        assert_eq!(attr(r, "gov.refused", "code"), Some("contract_check_failed"), "{abi}");
        assert!(attr(r, "gov.refused", "reason").expect("reason").contains("ABI"), "{r:?}");
        assert!(contract_writes(&out).is_empty());
    }
}

#[test]
fn evm_calls_of_a_webassembly_or_unknown_contract_are_refused() {
    let mut c = Chain::new();
    let wasm = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "m")))"#).expect("wat");
    let spec = DeploySpec {
        name: "wasmy".into(),
        vm: VmKind::Wasm,
        code: wasm,
        review: None,
        access: vec![],
        allow_reentry: false,
        init_args: String::new(),
        abi: String::new(),
    };
    c.pass(GovAction::DeployContract { spec });
    let admin = &c.admins[0];
    let r = assert_fails_writing_nothing(&c, admin, evm_call("wasmy", cd("m()", &[]), 0), StatusCode::UnknownMethod);
    assert!(attr(&r, "contract.refused", "reason").is_some_and(|s| s.contains("WebAssembly")), "{r:?}");
    assert_fails_writing_nothing(&c, admin, evm_call("nobody2", cd("m()", &[]), 0), StatusCode::UnknownContract);
    assert_eq!(c.query("wasmy", 0, &cd("m()", &[]), &admin.address()).status, StatusCode::UnknownMethod);
    // A version that does not exist.
    c.deploy("probe", &SOL.probe);
    let tx =
        c.tx(&c.admins[0], Payload::EvmCall { contract: "probe".into(), version: 7, data: cd("spins()", &[]), gas: 0 });
    assert_eq!(c.block(&[tx])[0].status, StatusCode::UnknownContract);
}

#[test]
fn a_call_beyond_the_blocks_gas_is_refused() {
    // Each call may use 2,000,000 gas; the block has 10,000 more than one call's limit.
    let params = ChainParams { max_tx_gas: 2_000_000, max_block_gas: 2_010_000, ..ChainParams::default() };
    let mut c = Chain::with_params(params);
    c.deploy("soltoken", &SOL.token);
    let a = Address([0xaa; 20]);
    let txs = [
        c.tx(&c.admins[0], evm_call("soltoken", mint(&a, 1), 0)),
        c.tx(&c.admins[0], evm_call("soltoken", mint(&a, 2), 0)),
        c.tx(&c.admins[0], evm_call("soltoken", mint(&a, 4), 5_000)),
    ];
    let receipts = c.block(&txs);
    assert_eq!(receipts[0].status, StatusCode::Ok, "{:?}", receipts[0]);
    assert!(receipts[0].cost > 10_000);
    assert_eq!(receipts[1].status, StatusCode::BlockFuelExhausted, "{:?}", receipts[1]);
    assert_eq!(receipts[1].cost, 0);
    // A call asking for less than the block has left runs (and here runs out of gas).
    assert_eq!(receipts[2].status, StatusCode::OutOfFuel, "{:?}", receipts[2]);
    assert_eq!(c.balance("soltoken", &a), 1);
    let total: u64 = receipts.iter().map(|r| r.cost).sum();
    assert!(total <= 2_010_000, "the block used {total}");
}

// ---- 8. calls between contracts ---------------------------------------------------------------

#[test]
fn nested_calls_are_checked_against_the_callees_rules_and_status() {
    let mut c = token_chain();
    c.deploy("caller", &SOL.caller);
    let token = contract_address(Suite::Intl, "soltoken");
    let a = Address([0xaa; 20]);
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a, 42)).status, StatusCode::Ok);
    let caller_abi = abi_of(&SOL.caller);

    // Reading through the caller.
    let via = cd("balanceVia(address,address)", &[w_addr(&token), w_addr(&a)]);
    let r = c.admin_evm(0, "caller", via.clone());
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(num(&caller_abi.decode_output("balanceVia", &r.output).expect("decode")), 42);

    // Minting through the caller: the token sees the caller (role `contract`), not an admin.
    let mint_via = cd("mintVia(address,address,uint256)", &[w_addr(&token), w_addr(&a), w_u(1)]);
    let r = c.admin_evm(0, "caller", mint_via.clone());
    assert_eq!(r.status, StatusCode::ContractFailed, "{r:?}");
    assert_eq!(attr(&r, "contract.failed", "message"), Some("mint: only an administrator of org1"), "{r:?}");
    assert!(event(&r, "contract.refused").is_none(), "{r:?}");

    // A rule on mint that admits only administrators refuses the contract before the token runs.
    let rules = vec![MethodRule { method: "mint".into(), roles: vec!["admin".into()], ..MethodRule::default() }];
    c.pass(GovAction::SetContractAccess { name: "soltoken".into(), access: rules, allow_reentry: false });
    let admin = &c.admins[0];
    let r = assert_fails_writing_nothing(&c, admin, evm_call("caller", mint_via, 0), StatusCode::ContractFailed);
    let refused = event(&r, "contract.refused").unwrap_or_else(|| panic!("no contract.refused: {r:?}"));
    assert_eq!(get(refused, "code"), Some("permission_denied"), "{refused:?}");
    assert_eq!(get(refused, "contract"), Some("soltoken"));
    assert_eq!(get(refused, "caller"), Some("caller"));
    assert_eq!(get(refused, "method"), Some("0x40c10f19"));
    // Caught by try/catch: the outer call succeeds, answers false, and the refusal is recorded.
    let try_mint = cd("tryMint(address,address,uint256)", &[w_addr(&token), w_addr(&a), w_u(1)]);
    let r = c.admin_evm(0, "caller", try_mint);
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(caller_abi.decode_output("tryMint", &r.output).expect("decode"), Value::Bool(false));
    assert_eq!(attr(&r, "contract.refused", "code"), Some("permission_denied"), "{r:?}");
    // The administrator itself still mints.
    assert_eq!(c.admin_evm(0, "soltoken", mint(&a, 1)).status, StatusCode::Ok);
    assert_eq!(c.balance("soltoken", &a), 43);

    // A frozen token refuses the nested call.
    c.pass(GovAction::FreezeContract { name: "soltoken".into() });
    let r = c.admin_evm(0, "caller", via);
    assert_eq!(r.status, StatusCode::ContractFailed, "{r:?}");
    assert_eq!(attr(&r, "contract.refused", "code"), Some("contract_frozen"), "{r:?}");
}

// ---- 9. determinism ---------------------------------------------------------------------------

#[test]
fn a_block_of_evm_calls_executes_identically_twice() {
    let mut c = token_chain();
    c.deploy("probe", &SOL.probe);
    let a = c.actor(0, Role::Client);
    let b = Address([0xbb; 20]);
    let txs = [
        c.tx(&c.admins[0], evm_call("soltoken", mint(&a.address(), 100), 0)),
        c.tx(&a, evm_call("soltoken", transfer(&b, 30), 0)),
        c.tx(&a, evm_call("soltoken", transfer(&b, 1_000), 0)),
        c.tx(&c.admins[1], evm_call("probe", cd("whoami()", &[]), 0)),
        c.tx(&c.admins[1], evm_call("probe", cd("spin()", &[]), 50_000)),
    ];
    let first = c.exec(&txs);
    let second = c.exec(&txs);
    assert_eq!(first.writes, second.writes);
    assert_eq!(first.receipts, second.receipts);
    assert_eq!(first, second);
    let statuses: Vec<StatusCode> = first.receipts.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [StatusCode::Ok, StatusCode::Ok, StatusCode::ContractFailed, StatusCode::Ok, StatusCode::OutOfFuel]
    );
    // The same block over a copy of the state, as another node would run it.
    let copy = Chain {
        state: c.state.clone(),
        height: c.height,
        start_ms: c.start_ms,
        nonce: Cell::new(0),
        cas: vec![],
        admins: vec![],
    };
    assert_eq!(copy.exec(&txs), first);
}

// ---- 10, 11. FDL's precompiles from Solidity --------------------------------------------------

#[test]
fn the_identity_precompile_answers_the_callers_institution_and_role() {
    let mut c = Chain::new();
    c.deploy("probe", &SOL.probe);
    let abi = abi_of(&SOL.probe);
    let whoami = cd("whoami()", &[]);
    let out = c.query("probe", 0, &whoami, &c.admins[0].address());
    assert_eq!(out.status, StatusCode::Ok, "{out:?}");
    assert_eq!(abi.decode_output("whoami", &out.output).expect("decode"), serde_json::json!(["org1", "admin"]));
    // A client, once its account exists; in a transaction, the signer's certificate.
    let client = c.actor(2, Role::Client);
    let r = c.evm(&client, "probe", whoami.clone());
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(abi.decode_output("whoami", &r.output).expect("decode"), serde_json::json!(["org3", "client"]));
    let out = c.query("probe", 0, &whoami, &client.address());
    assert_eq!(abi.decode_output("whoami", &out.output).expect("decode"), serde_json::json!(["org3", "client"]));
    // A stranger is nobody.
    let out = c.query("probe", 0, &whoami, &Address([0x77; 20]));
    assert_eq!(abi.decode_output("whoami", &out.output).expect("decode"), serde_json::json!(["", ""]));
}

#[test]
fn the_sm3_precompile_hashes_from_solidity() {
    let mut c = Chain::new();
    c.deploy("probe", &SOL.probe);
    let out = c.query("probe", 0, &cd("hashAbc()", &[]), &Address([9; 20]));
    assert_eq!(out.status, StatusCode::Ok, "{out:?}");
    let want = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";
    assert_eq!(hex::encode(&out.output), want);
    let decoded = abi_of(&SOL.probe).decode_output("hashAbc", &out.output).expect("decode");
    assert_eq!(decoded.as_str().map(|s| s.trim_start_matches("0x").to_lowercase()).as_deref(), Some(want));
}

/// Prints how long a call that spends `max_tx_gas` in a storage-writing loop takes (the figure
/// behind the `max_block_gas` default in `docs/benchmarks.md`); run with
/// `cargo test --release -p fdl-exec --test evm -- --ignored --nocapture a_full_gas_call`.
#[test]
#[ignore = "a timing, printed; not an assertion"]
fn a_full_gas_call_is_timed() {
    let mut c = Chain::new();
    c.deploy("probe", &SOL.probe);
    let tx = c.tx(&c.admins[0], evm_call("probe", cd("spin()", &[]), 0));
    let t = std::time::Instant::now();
    // `block` executes the block twice (the determinism check): half the time is one run.
    let r = c.block(&[tx]).remove(0);
    assert_eq!(r.status, StatusCode::OutOfFuel);
    println!("a call of {} gas (a storage-writing loop): {:.1} ms", r.cost, t.elapsed().as_secs_f64() * 500.0);
}
