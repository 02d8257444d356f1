//! Smart contracts as the ledger's transactions and governance actions carry them (STD-12.1 to
//! 12.4): the deploy and upgrade specifications, per-method access rules, and the names and
//! bounds every node checks before it decodes further. The engine's ABI is in
//! `docs/contracts-abi.md`; the lifecycle in `docs/contracts.md`.

use fdl_crypto::{Address, Hash};
use serde::{Deserialize, Serialize};

use crate::{
    codec::{Decode, DecodeError, Encode, Reader, put_bytes, put_count},
    gov::{MAX_ACL_ENTRIES, MAX_GOV_NAME, hex_bytes},
};

/// Longest contract name.
pub const MAX_CONTRACT_NAME: usize = 64;
/// Longest method name.
pub const MAX_METHOD_NAME: usize = 64;
/// Largest module a transaction may carry (the hard bound; the chain parameter `max_code_bytes`
/// is at most this). A transaction carrying code may be up to the hard transaction bound of
/// 64 KiB, whatever `max_tx_bytes` says (ADR 0013).
pub const MAX_CODE_LEN: usize = 61_440;
/// Longest argument or migration argument text (JSON).
pub const MAX_ARGS_LEN: usize = 16_384;
/// Most access rules of one contract.
pub const MAX_RULES: usize = 64;
/// Longest review author.
pub const MAX_REVIEW_AUTHOR: usize = 128;
/// The method name of a contract-wide access rule: it applies to every method without a rule of
/// its own.
pub const ANY_METHOD: &str = "*";

/// Which engine runs a contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VmKind {
    /// WebAssembly on wasmi (Rust contracts).
    #[default]
    Wasm,
    /// EVM bytecode on revm (Solidity contracts; `docs/contracts-evm.md`).
    Evm,
}

impl VmKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            VmKind::Wasm => "wasm",
            VmKind::Evm => "evm",
        }
    }

    /// The engine called `name` (`wasm`, `evm`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "wasm" => Some(VmKind::Wasm),
            "evm" => Some(VmKind::Evm),
            _ => None,
        }
    }

    fn tag(self) -> u8 {
        match self {
            VmKind::Wasm => 1,
            VmKind::Evm => 2,
        }
    }

    fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        match tag {
            1 => Ok(VmKind::Wasm),
            2 => Ok(VmKind::Evm),
            tag => Err(DecodeError::BadTag { what: "vm kind", tag }),
        }
    }
}

/// Whether `name` is a valid contract name: `[a-z][a-z0-9_.-]*`, at most 64 bytes. A dot
/// separates an institution's namespace (`org1.invoices`) from the rest.
pub fn valid_contract_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_CONTRACT_NAME
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-'))
}

/// Whether `name` is a valid method name: `[a-z_][a-z0-9_]*`, at most 64 bytes (the ABI's
/// export names).
pub fn valid_method_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_METHOD_NAME
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Whether `method` may name a method in an access rule: a WebAssembly method name, an EVM
/// function's ABI name (`[A-Za-z_$][A-Za-z0-9_$]*`) or its 4-byte selector (`0x` and 8 lowercase
/// hex digits), or `*`.
pub fn valid_rule_method(method: &str) -> bool {
    let b = method.as_bytes();
    if method == ANY_METHOD {
        return true;
    }
    if let Some(hex) = method.strip_prefix("0x") {
        return hex.len() == 8 && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    }
    !b.is_empty()
        && b.len() <= MAX_METHOD_NAME
        && (b[0].is_ascii_alphabetic() || matches!(b[0], b'_' | b'$'))
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$'))
}

/// The rule that governs an EVM call with 4-byte `selector` (hex, `0x…`) of the function the ABI
/// calls `name` (when the version's ABI names it): a rule for the selector, else one for the
/// name, else the `*` rule.
pub fn evm_rule_for<'a>(rules: &'a [MethodRule], selector: &str, name: Option<&str>) -> Option<&'a MethodRule> {
    rules
        .iter()
        .find(|r| r.method == selector)
        .or_else(|| name.and_then(|n| rules.iter().find(|r| r.method == n)))
        .or_else(|| rules.iter().find(|r| r.method == ANY_METHOD))
}

/// Longest ABI (JSON text) a deploy or upgrade of an EVM contract may carry.
pub const MAX_ABI_LEN: usize = 32_768;
/// Longest call data of an EVM call.
pub const MAX_CALLDATA_LEN: usize = 16_384;

/// The review report a deploy or upgrade may cite (STD-12.3): the report's hash and author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    /// Hash of the report document.
    #[schema(value_type = String)]
    pub hash: Hash,
    /// Who reviewed (a person or firm).
    pub author: String,
}

/// Who may call a method of a contract (STD-12.2): a caller passes when each non-empty list
/// names it. A contract calling another is the caller with role `contract`, its owner
/// institution and its contract address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MethodRule {
    /// The method, or `*` for every method without a rule of its own.
    pub method: String,
    /// Roles allowed (empty: any role).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Institutions allowed (empty: any institution).
    #[serde(default)]
    pub orgs: Vec<String>,
    /// Accounts allowed (empty: any account).
    #[serde(default)]
    #[schema(value_type = Vec<crate::schema::AddressHex>)]
    pub accounts: Vec<Address>,
}

impl MethodRule {
    /// Whether a caller with this role, institution and address passes the rule.
    pub fn allows(&self, role: &str, org: &str, address: &Address) -> bool {
        (self.roles.is_empty() || self.roles.iter().any(|r| r == role))
            && (self.orgs.is_empty() || self.orgs.iter().any(|o| o == org))
            && (self.accounts.is_empty() || self.accounts.contains(address))
    }
}

/// The rule that governs `method` among `rules`: its own, else the `*` rule, else none (open
/// to every caller the chain's `contract.call` rule admits).
pub fn rule_for<'a>(rules: &'a [MethodRule], method: &str) -> Option<&'a MethodRule> {
    rules.iter().find(|r| r.method == method).or_else(|| rules.iter().find(|r| r.method == ANY_METHOD))
}

/// A contract to deploy: by a committee proposal ([`crate::GovAction::DeployContract`]) or, when
/// the chain's policy allows, by an institution's administrator into its own namespace
/// ([`crate::Payload::Deploy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploySpec {
    /// The contract's name.
    pub name: String,
    /// The engine.
    #[serde(default)]
    pub vm: VmKind,
    /// The module (WebAssembly bytes; hex in JSON).
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
    pub code: Vec<u8>,
    /// The review report, if any.
    #[serde(default)]
    pub review: Option<Review>,
    /// Per-method access rules.
    #[serde(default)]
    pub access: Vec<MethodRule>,
    /// Whether a call may re-enter this contract while it is already on the call stack.
    #[serde(default)]
    pub allow_reentry: bool,
    /// Arguments of the module's `init` entry (JSON text; empty: `{}`). EVM contracts take
    /// their constructor's arguments ABI-encoded at the end of `code`, so this is empty.
    #[serde(default)]
    pub init_args: String,
    /// The contract's ABI (JSON text) for an EVM contract: the node decodes events, query
    /// arguments and results with it. Empty for WebAssembly.
    #[serde(default)]
    pub abi: String,
}

/// A new version of a deployed contract ([`crate::GovAction::UpgradeContract`]); its storage is
/// kept, and the new module's `migrate` entry runs with `migrate_args`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpgradeSpec {
    /// The contract's name.
    pub name: String,
    /// The module of the new version (hex in JSON).
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
    pub code: Vec<u8>,
    /// The review report, if any.
    #[serde(default)]
    pub review: Option<Review>,
    /// Arguments of the module's `migrate` entry (JSON text; empty: `{}`). Empty for EVM
    /// contracts: the new version's creation code (constructor and arguments) is its migration.
    #[serde(default)]
    pub migrate_args: String,
    /// The new version's ABI (JSON text), for an EVM contract.
    #[serde(default)]
    pub abi: String,
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_review(out: &mut Vec<u8>, review: &Option<Review>) {
    match review {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            out.extend_from_slice(&r.hash.0);
            put_str(out, &r.author);
        }
    }
}

fn get_review(r: &mut Reader<'_>) -> Result<Option<Review>, DecodeError> {
    match r.u8("review")? {
        0 => Ok(None),
        1 => Ok(Some(Review {
            hash: Hash(r.array("review hash")?),
            author: r.string(MAX_REVIEW_AUTHOR, "review author")?,
        })),
        tag => Err(DecodeError::BadTag { what: "review", tag }),
    }
}

fn get_bool(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(DecodeError::BadTag { what, tag }),
    }
}

/// Reads a contract name and checks its form.
pub(crate) fn get_name(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let name = r.string(MAX_CONTRACT_NAME, "contract name")?;
    if valid_contract_name(&name) {
        Ok(name)
    } else {
        Err(DecodeError::Invalid { what: "contract name", reason: format!("{name:?} is not [a-z][a-z0-9_.-]*") })
    }
}

/// Reads a method name and checks its form.
pub(crate) fn get_method(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let name = r.string(MAX_METHOD_NAME, "method name")?;
    if valid_method_name(&name) {
        Ok(name)
    } else {
        Err(DecodeError::Invalid { what: "method name", reason: format!("{name:?} is not [a-z_][a-z0-9_]*") })
    }
}

impl Encode for MethodRule {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.method);
        for list in [&self.roles, &self.orgs] {
            put_count(out, list.len());
            for s in list {
                put_str(out, s);
            }
        }
        put_count(out, self.accounts.len());
        for a in &self.accounts {
            out.extend_from_slice(&a.0);
        }
    }
}

impl Decode for MethodRule {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let method = r.string(MAX_METHOD_NAME, "rule method")?;
        if !valid_rule_method(&method) {
            return Err(DecodeError::Invalid {
                what: "rule method",
                reason: format!("{method:?} is not a method name"),
            });
        }
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let n = r.count(MAX_ACL_ENTRIES, "rule list")?;
            for _ in 0..n {
                list.push(r.string(MAX_GOV_NAME, "rule entry")?);
            }
        }
        let n = r.count(MAX_ACL_ENTRIES, "rule accounts")?;
        let accounts = (0..n).map(|_| r.array("rule account").map(Address)).collect::<Result<_, _>>()?;
        let [roles, orgs] = lists;
        Ok(MethodRule { method, roles, orgs, accounts })
    }
}

/// Encodes a list of rules.
pub fn encode_rules(rules: &[MethodRule], out: &mut Vec<u8>) {
    put_count(out, rules.len());
    for rule in rules {
        rule.encode_to(out);
    }
}

/// Decodes a list of rules.
///
/// # Errors
/// [`DecodeError`] when the bytes are not a list of at most [`MAX_RULES`] rules.
pub fn decode_rules(r: &mut Reader<'_>) -> Result<Vec<MethodRule>, DecodeError> {
    let n = r.count(MAX_RULES, "access rules")?;
    (0..n).map(|_| MethodRule::decode_from(r)).collect()
}

impl Encode for DeploySpec {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.name);
        out.push(self.vm.tag());
        put_bytes(out, &self.code);
        put_review(out, &self.review);
        encode_rules(&self.access, out);
        out.push(u8::from(self.allow_reentry));
        put_str(out, &self.init_args);
        put_str(out, &self.abi);
    }
}

impl Decode for DeploySpec {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DeploySpec {
            name: get_name(r)?,
            vm: VmKind::from_tag(r.u8("vm kind")?)?,
            code: r.bytes(MAX_CODE_LEN, "contract code")?.to_vec(),
            review: get_review(r)?,
            access: decode_rules(r)?,
            allow_reentry: get_bool(r, "allow reentry")?,
            init_args: r.string(MAX_ARGS_LEN, "init args")?,
            abi: r.string(MAX_ABI_LEN, "abi")?,
        })
    }
}

impl Encode for UpgradeSpec {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.name);
        put_bytes(out, &self.code);
        put_review(out, &self.review);
        put_str(out, &self.migrate_args);
        put_str(out, &self.abi);
    }
}

impl Decode for UpgradeSpec {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UpgradeSpec {
            name: get_name(r)?,
            code: r.bytes(MAX_CODE_LEN, "contract code")?.to_vec(),
            review: get_review(r)?,
            migrate_args: r.string(MAX_ARGS_LEN, "migrate args")?,
            abi: r.string(MAX_ABI_LEN, "abi")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_forms() {
        for ok in ["token", "org1.invoices", "a-b_c.9"] {
            assert!(valid_contract_name(ok), "{ok}");
        }
        for bad in ["", "Token", "9x", ".a", "a b", &"a".repeat(65)] {
            assert!(!valid_contract_name(bad), "{bad}");
        }
        assert!(valid_method_name("balance_of") && valid_method_name("_x"));
        assert!(!valid_method_name("Mint") && !valid_method_name("a-b") && !valid_method_name(""));
    }

    #[test]
    fn a_method_rule_uses_its_own_rule_then_the_wildcard() {
        let own = MethodRule { method: "mint".into(), roles: vec!["admin".into()], ..MethodRule::default() };
        let any = MethodRule { method: "*".into(), orgs: vec!["org1".into()], ..MethodRule::default() };
        let rules = [any.clone(), own.clone()];
        assert_eq!(rule_for(&rules, "mint"), Some(&own));
        assert_eq!(rule_for(&rules, "transfer"), Some(&any));
        assert_eq!(rule_for(&[], "transfer"), None);
        let a = Address([1; 20]);
        assert!(own.allows("admin", "org9", &a) && !own.allows("client", "org1", &a));
        let acct = MethodRule { method: "x".into(), accounts: vec![a], ..MethodRule::default() };
        assert!(acct.allows("client", "", &a) && !acct.allows("client", "", &Address([2; 20])));
    }

    #[test]
    fn specs_round_trip_and_refuse_bad_names() {
        let spec = DeploySpec {
            name: "token".into(),
            vm: VmKind::Wasm,
            code: vec![0, 97, 115, 109],
            review: Some(Review { hash: Hash([7; 32]), author: "audit co".into() }),
            access: vec![MethodRule {
                method: "mint".into(),
                roles: vec!["admin".into()],
                orgs: vec!["org1".into()],
                accounts: vec![Address([3; 20])],
            }],
            allow_reentry: true,
            init_args: "{}".into(),
            abi: String::new(),
        };
        let bytes = spec.encode();
        assert_eq!(DeploySpec::decode(&bytes).expect("decode"), spec);
        let up = UpgradeSpec {
            name: "token".into(),
            code: vec![1, 2],
            review: None,
            migrate_args: String::new(),
            abi: "[]".into(),
        };
        assert_eq!(UpgradeSpec::decode(&up.encode()).expect("decode"), up);
        let bad = DeploySpec { name: "Bad".into(), ..spec };
        assert!(DeploySpec::decode(&bad.encode()).is_err());
    }
}
