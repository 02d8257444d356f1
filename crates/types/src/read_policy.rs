//! The API read policy (STD-16.1, STD-13.1): who may read what through a node's API.
//!
//! Every read route of the API belongs to one [`ReadResource`]; per resource, the chain state
//! holds the principals allowed to read it (`readpol/{resource}`, written at genesis and changed
//! only by a governance proposal, [`crate::GovAction::SetReadPolicy`]). A principal is one of:
//!
//! - `public`: anyone, including an anonymous caller;
//! - `member`: any caller with a valid member certificate (of a current member's CA, unrevoked,
//!   unexpired), whatever its role;
//! - a role (`admin`, `client`, `validator`, `observer`, `regulator`, `auditor`): a member caller
//!   whose certificate carries that role;
//! - for [`ReadResource::Accounts`] only, `owner` (the caller is the account read: its key or
//!   the account its certificate is registered for) and `registrar` (a member caller of the
//!   institution that registered the account).
//!
//! A caller proves who it is by its certificate on the channel (TLCP/TLS), or on loopback by a
//! signed request: the headers [`KEY_HEADER`], [`TIME_HEADER`] and [`SIGNATURE_HEADER`], the
//! signature over [`request_message`].

use std::fmt;

use fdl_crypto::Address;
use serde::{Deserialize, Serialize};

use crate::{Role, codec::put_bytes};

/// Any caller, anonymous included.
pub const PUBLIC: &str = "public";
/// Any caller with a valid member certificate.
pub const MEMBER: &str = "member";
/// The account read (for `accounts` only).
pub const OWNER: &str = "owner";
/// A member of the institution that registered the account read (for `accounts` only).
pub const REGISTRAR: &str = "registrar";
/// Most principals in one resource's rule.
pub const MAX_READ_ALLOW: usize = 16;

/// The header of a signed request carrying the caller's key: its certificate (DER, hex), or
/// only its public key (canonical bytes, hex), which makes it an account holder without a role.
pub const KEY_HEADER: &str = "x-fdl-key";
/// The header of a signed request carrying its time, Unix seconds.
pub const TIME_HEADER: &str = "x-fdl-time";
/// The header of a signed request carrying the signature (hex) over [`request_message`].
pub const SIGNATURE_HEADER: &str = "x-fdl-signature";
/// The header every answer of a governed route carries: the chain id a signed request signs.
pub const CHAIN_ID_HEADER: &str = "x-fdl-chain-id";
/// How far a signed request's time may be from the node's clock, in seconds.
pub const MAX_REQUEST_SKEW_S: u64 = 60;
/// Longest [`KEY_HEADER`] value (hex of a certificate of at most 4 KiB).
pub const MAX_KEY_HEADER: usize = 8 * 1024;
/// Longest [`SIGNATURE_HEADER`] value (hex of an SM2 DER or Ed25519 signature).
pub const MAX_SIGNATURE_HEADER: usize = 2 * 80;
/// Longest path and query a signed request may sign.
pub const MAX_SIGNED_PATH: usize = 4 * 1024;
/// The domain tag of a signed read request: nothing else FDL signs starts with it.
pub const REQUEST_TAG: &[u8] = b"FDL/API-REQUEST/v1";

/// What a read route serves. Its name (`as_str`) is its name in governance and in genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadResource {
    /// `GET /v1/status`.
    Status,
    /// Blocks, transactions with their receipts and proofs, validator-set proofs, and the
    /// WebSocket stream of blocks and events.
    Blocks,
    /// An account's details and its proof.
    Accounts,
    /// The audit log (`GET /v1/audit`).
    Audit,
    /// Proposals, the access rules, the chain parameters, the genesis document.
    Governance,
    /// Member institutions, the node set, registered certificates, revocations.
    Members,
    /// Contracts: the list, a contract's record, its storage, read-only queries, module checks.
    Contracts,
    /// Evidence of validator misbehaviour.
    Evidence,
}

impl ReadResource {
    /// Every resource.
    pub const ALL: [ReadResource; 8] = [
        ReadResource::Status,
        ReadResource::Blocks,
        ReadResource::Accounts,
        ReadResource::Audit,
        ReadResource::Governance,
        ReadResource::Members,
        ReadResource::Contracts,
        ReadResource::Evidence,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadResource::Status => "status",
            ReadResource::Blocks => "blocks",
            ReadResource::Accounts => "accounts",
            ReadResource::Audit => "audit",
            ReadResource::Governance => "governance",
            ReadResource::Members => "members",
            ReadResource::Contracts => "contracts",
            ReadResource::Evidence => "evidence",
        }
    }

    /// The resource named `s`.
    ///
    /// # Errors
    /// A message listing the names.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!("{s:?} is not a read resource; the resources: {}", Self::ALL.map(|r| r.as_str()).join(", "))
        })
    }

    /// The rule of a chain whose genesis says nothing of this resource (`fdl init`'s chains):
    /// the audit log to auditors, regulators and administrators; an account to its owner, its
    /// registrar institution, regulators and administrators; the rest to members.
    pub fn strict_default(self) -> &'static [&'static str] {
        match self {
            ReadResource::Audit => &["auditor", "regulator", "admin"],
            ReadResource::Accounts => &[OWNER, REGISTRAR, "regulator", "admin"],
            _ => &[MEMBER],
        }
    }
}

impl fmt::Display for ReadResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a rule for `resource`: 1 to [`MAX_READ_ALLOW`] principals, each known (a role,
/// `public`, `member`, and for `accounts` also `owner` and `registrar`), none twice.
///
/// # Errors
/// A message naming the first problem.
pub fn check_allow(resource: ReadResource, allow: &[String]) -> Result<(), String> {
    if allow.is_empty() {
        return Err(format!("the rule of {resource} names no principal (name at least one, e.g. admin)"));
    }
    if allow.len() > MAX_READ_ALLOW {
        return Err(format!("the rule of {resource} names {} principals, at most {MAX_READ_ALLOW}", allow.len()));
    }
    for (i, p) in allow.iter().enumerate() {
        let known = p == PUBLIC
            || p == MEMBER
            || p.parse::<Role>().is_ok()
            || (resource == ReadResource::Accounts && (p == OWNER || p == REGISTRAR));
        if !known {
            let extra = if resource == ReadResource::Accounts { ", owner, registrar" } else { "" };
            return Err(format!(
                "{p:?} is not a principal of {resource}; expected public, member, admin, client, validator, \
                 observer, regulator, auditor{extra}"
            ));
        }
        if allow[..i].contains(p) {
            return Err(format!("{p:?} appears twice in the rule of {resource}"));
        }
    }
    Ok(())
}

/// Who is calling, as the API resolved it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The address of the key that signed the request or holds the channel's certificate
    /// (`None`: anonymous).
    pub key: Option<Address>,
    /// The account that key acts for, when its certificate is registered on chain for another
    /// account (after a key reset); else the key's address.
    pub account: Option<Address>,
    /// Its membership: the role and institution of a valid member certificate.
    pub member: Option<(Role, String)>,
}

impl Caller {
    /// An anonymous caller.
    pub fn anonymous() -> Self {
        Caller::default()
    }

    /// How the audit log names it: `anonymous`, `key`, or `<role>@<institution>`.
    pub fn describe(&self) -> String {
        match (&self.member, &self.key) {
            (Some((role, org)), _) => format!("{role}@{org}"),
            (None, Some(_)) => "key".into(),
            (None, None) => "anonymous".into(),
        }
    }
}

/// The account a read of `accounts` is about: its address, the key that may send for it, and
/// the institution that registered it (empty when none has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTarget {
    /// The account's address.
    pub address: Address,
    /// The key that may send for it (zero when none is registered).
    pub key: Address,
    /// Its registrar institution.
    pub registrar: String,
}

/// Whether `caller` may read under `allow`; `target` is the account read, for `accounts`.
pub fn allows(allow: &[String], caller: &Caller, target: Option<&AccountTarget>) -> bool {
    allow.iter().any(|p| match p.as_str() {
        PUBLIC => true,
        MEMBER => caller.member.is_some(),
        OWNER => target.is_some_and(|t| {
            caller.account == Some(t.address)
                || caller.key == Some(t.address)
                || (t.key != Address::default() && caller.key == Some(t.key))
        }),
        REGISTRAR => target.is_some_and(|t| {
            !t.registrar.is_empty() && caller.member.as_ref().is_some_and(|(_, org)| *org == t.registrar)
        }),
        role => caller.member.as_ref().is_some_and(|(r, _)| r.as_str() == role),
    })
}

/// Whether any principal of `allow` needs to know the account read (`owner`, `registrar`).
pub fn needs_target(allow: &[String]) -> bool {
    allow.iter().any(|p| p == OWNER || p == REGISTRAR)
}

/// The bytes a signed request signs: [`REQUEST_TAG`], then the chain id, the method (upper
/// case), the path with its query exactly as sent, and the time (Unix seconds, decimal), each
/// length-prefixed in the project's codec.
pub fn request_message(chain_id: &str, method: &str, path_and_query: &str, time_s: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(REQUEST_TAG.len() + chain_id.len() + method.len() + path_and_query.len() + 40);
    out.extend_from_slice(REQUEST_TAG);
    put_bytes(&mut out, chain_id.as_bytes());
    put_bytes(&mut out, method.to_ascii_uppercase().as_bytes());
    put_bytes(&mut out, path_and_query.as_bytes());
    put_bytes(&mut out, time_s.to_string().as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn resources_round_trip_and_rules_are_checked_strictly() {
        for r in ReadResource::ALL {
            assert_eq!(ReadResource::parse(r.as_str()), Ok(r));
            assert!(check_allow(r, &v(r.strict_default())).is_ok(), "{r}");
            assert!(check_allow(r, &v(&[PUBLIC])).is_ok());
        }
        assert!(ReadResource::parse("everything").is_err());
        assert!(check_allow(ReadResource::Audit, &[]).is_err(), "empty");
        assert!(check_allow(ReadResource::Audit, &v(&["root"])).is_err(), "unknown");
        assert!(check_allow(ReadResource::Audit, &v(&["owner"])).is_err(), "owner outside accounts");
        assert!(check_allow(ReadResource::Blocks, &v(&["registrar"])).is_err());
        assert!(check_allow(ReadResource::Audit, &v(&["admin", "admin"])).is_err(), "twice");
        assert!(check_allow(ReadResource::Audit, &vec!["admin".to_string(); MAX_READ_ALLOW + 1]).is_err());
        assert!(check_allow(ReadResource::Accounts, &v(&["owner", "registrar"])).is_ok());
    }

    #[test]
    fn each_principal_kind_against_each_resource() {
        let a = Address([1; 20]);
        let other = Address([2; 20]);
        let anon = Caller::anonymous();
        let key_only = Caller { key: Some(a), account: Some(a), member: None };
        let member =
            |role: Role, org: &str| Caller { key: Some(a), account: Some(a), member: Some((role, org.into())) };
        let target = |addr: Address, reg: &str| AccountTarget { address: addr, key: addr, registrar: reg.into() };
        for r in ReadResource::ALL {
            let rule = v(r.strict_default());
            let t = target(other, "Bank B");
            let tgt = (r == ReadResource::Accounts).then_some(&t);
            // Anonymous and a bare key read nothing by default.
            assert!(!allows(&rule, &anon, tgt), "{r}");
            assert!(!allows(&rule, &key_only, tgt), "{r}");
            for role in Role::ALL {
                let c = member(role, "Bank A");
                let want = match r {
                    ReadResource::Audit => matches!(role, Role::Auditor | Role::Regulator | Role::Admin),
                    ReadResource::Accounts => matches!(role, Role::Regulator | Role::Admin),
                    _ => true,
                };
                assert_eq!(allows(&rule, &c, tgt), want, "{r} by {role}");
            }
            // `public` lets everyone read.
            assert!(allows(&v(&[PUBLIC]), &anon, tgt));
        }
        let accounts = v(ReadResource::Accounts.strict_default());
        // The owner reads its own account, by key or by registered account.
        assert!(allows(&accounts, &key_only, Some(&target(a, "Bank B"))));
        let reset = AccountTarget { address: other, key: a, registrar: "Bank B".into() };
        assert!(allows(&accounts, &key_only, Some(&reset)), "the account's current key");
        let registered_for = Caller { key: Some(Address([9; 20])), account: Some(other), member: None };
        assert!(allows(&accounts, &registered_for, Some(&target(other, "Bank B"))));
        // A client of the registrar institution reads it; of another, not.
        assert!(allows(&accounts, &member(Role::Client, "Bank B"), Some(&target(other, "Bank B"))));
        assert!(!allows(&accounts, &member(Role::Client, "Bank A"), Some(&target(other, "Bank B"))));
        // An unregistered account has no registrar.
        assert!(!allows(&v(&[REGISTRAR]), &member(Role::Client, ""), Some(&target(other, ""))));
        // Without a target, owner and registrar match nobody.
        assert!(!allows(&v(&[OWNER, REGISTRAR]), &member(Role::Admin, "Bank B"), None));
        assert!(needs_target(&accounts) && !needs_target(&v(&["member"])));
        assert_eq!(member(Role::Auditor, "Bank A").describe(), "auditor@Bank A");
        assert_eq!(key_only.describe(), "key");
        assert_eq!(anon.describe(), "anonymous");
    }

    #[test]
    fn the_signed_message_binds_every_field() {
        let base = request_message("c", "get", "/v1/audit?x=1", 5);
        assert_eq!(base, request_message("c", "GET", "/v1/audit?x=1", 5));
        assert!(base.starts_with(REQUEST_TAG));
        for other in [
            request_message("d", "GET", "/v1/audit?x=1", 5),
            request_message("c", "POST", "/v1/audit?x=1", 5),
            request_message("c", "GET", "/v1/audit?x=2", 5),
            request_message("c", "GET", "/v1/audit?x=1", 6),
        ] {
            assert_ne!(base, other);
        }
    }
}
