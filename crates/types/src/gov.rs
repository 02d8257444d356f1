//! Governance actions (STD-17): what a committee proposal changes once it passes.

use fdl_crypto::Address;
use serde::{Deserialize, Serialize};

use crate::{
    chain_param::ChainParam,
    codec::{Decode, DecodeError, Encode, Reader, put_bytes, put_count},
    contract::{DeploySpec, MethodRule, UpgradeSpec, decode_rules, encode_rules, get_name},
    read_policy::ReadResource,
    tx::MAX_CERT_LEN,
};

/// Longest name (institution, node, method, parameter) in a governance action.
pub const MAX_GOV_NAME: usize = 64;
/// Longest network address or URL in a governance action.
pub const MAX_GOV_ADDR: usize = 128;
/// Most roles or institutions in one access rule.
pub const MAX_ACL_ENTRIES: usize = 32;
/// Longest public key bytes in a node entry.
const MAX_KEY: usize = 128;

/// Whether a node votes: in the chain's node set, and in a node's configuration file
/// (`role = "validator"`, the default, or `"observer"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Votes in consensus.
    #[default]
    Validator,
    /// Follows and verifies every block, never votes.
    Observer,
}

impl NodeRole {
    /// `validator` or `observer`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Validator => "validator",
            NodeRole::Observer => "observer",
        }
    }
}

/// An account's type (STD-13.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// An ordinary account.
    #[default]
    Normal,
    /// An administrator's account.
    Admin,
    /// A special-purpose account (e.g. a settlement or escrow account) set by governance.
    Special,
}

impl AccountKind {
    /// Every kind, in tag order.
    pub const ALL: [AccountKind; 3] = [AccountKind::Normal, AccountKind::Admin, AccountKind::Special];

    /// `normal`, `admin` or `special`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Normal => "normal",
            AccountKind::Admin => "admin",
            AccountKind::Special => "special",
        }
    }

    /// Parses `normal`, `admin` or `special`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The byte that stands for it in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            AccountKind::Normal => 0,
            AccountKind::Admin => 1,
            AccountKind::Special => 2,
        }
    }

    /// The kind a tag stands for.
    pub fn from_tag(t: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == t)
    }
}

/// A node as the chain records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeSpec {
    /// Its name, unique on the chain.
    pub name: String,
    /// The institution running it.
    pub org: String,
    /// Validator or observer.
    pub role: NodeRole,
    /// Its consensus key, canonical bytes.
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
    pub public_key: Vec<u8>,
    /// Voting power (0 for an observer).
    pub power: u64,
    /// Its network (libp2p) peer id.
    pub peer_id: String,
    /// Its consensus address, `host:port` (empty if not published).
    pub p2p: String,
    /// Its API URL for transaction forwarding (empty if not published).
    pub rpc: String,
    /// Its certificate (DER), issued by its institution's CA for its role.
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
    pub certificate: Vec<u8>,
}

/// Hex (de)serialization of byte fields in JSON state records.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as hex.
    ///
    /// # Errors
    /// As the serializer.
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    /// Deserializes hex into bytes.
    ///
    /// # Errors
    /// Bad hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// A `u128` as a decimal string in JSON (JSON numbers cannot carry it exactly, and tagged
/// enums cannot buffer it).
pub mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as a decimal string.
    ///
    /// # Errors
    /// As the serializer.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Deserializes a decimal string.
    ///
    /// # Errors
    /// Not a decimal `u128`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What a passed proposal does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum GovAction {
    /// Admit an institution with its root CA (STD-17.1).
    AddMember {
        /// The institution's name (its certificates' `O`).
        name: String,
        /// Its root CA certificate, DER.
        #[serde(with = "hex_bytes")]
        #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
        ca_cert: Vec<u8>,
        /// Whether it holds a committee seat.
        committee: bool,
    },
    /// Remove an institution; its nodes must have been removed first.
    RemoveMember {
        /// The institution.
        name: String,
    },
    /// Add a validator or an observer.
    AddNode {
        /// The node.
        node: NodeSpec,
    },
    /// Remove a node; the validator count never falls below the minimum.
    RemoveNode {
        /// The node's name.
        name: String,
    },
    /// Replace a node's certificate (renewal, or a new key).
    RotateNodeCert {
        /// The node's name.
        name: String,
        /// The new certificate, DER, from the node's institution's CA.
        #[serde(with = "hex_bytes")]
        #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
        certificate: Vec<u8>,
    },
    /// Replace an institution's root CA certificate.
    RotateCa {
        /// The institution.
        org: String,
        /// The new CA certificate, DER.
        #[serde(with = "hex_bytes")]
        #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
        ca_cert: Vec<u8>,
    },
    /// Revoke a certificate by its institution and serial number.
    RevokeCert {
        /// The issuing institution.
        org: String,
        /// The serial number, hex.
        serial: String,
    },
    /// Set a chain parameter (see [`crate::chain_param::TABLE`] for the names).
    SetParam {
        /// The parameter (its name on the wire and in JSON).
        name: ChainParam,
        /// Its new value.
        value: u64,
    },
    /// Set the access rule of a method (STD-16.1): who may call it.
    SetAcl {
        /// `module.method`, e.g. `bank.transfer`.
        method: String,
        /// Roles allowed (empty: none).
        roles: Vec<String>,
        /// Institutions allowed (empty: any).
        orgs: Vec<String>,
    },
    /// Freeze an account: it can no longer send (STD-13.2, STD-17.2).
    Freeze {
        /// The account.
        #[schema(value_type = crate::schema::AddressHex)]
        account: Address,
    },
    /// Unfreeze an account.
    Unfreeze {
        /// The account.
        #[schema(value_type = crate::schema::AddressHex)]
        account: Address,
    },
    /// Move funds from an account without its signature (STD-17.2).
    ForcedTransfer {
        /// The account debited.
        #[schema(value_type = crate::schema::AddressHex)]
        from: Address,
        /// The account credited.
        #[schema(value_type = crate::schema::AddressHex)]
        to: Address,
        /// The amount (a decimal string in JSON).
        #[serde(with = "u128_string")]
        #[schema(value_type = String, pattern = "^[0-9]+$")]
        amount: u128,
    },
    /// Give an account a new key, keeping its id, after the lock window (STD-13.3).
    ResetKey {
        /// The account.
        #[schema(value_type = crate::schema::AddressHex)]
        account: Address,
        /// The new certificate, DER, from the account's institution.
        #[serde(with = "hex_bytes")]
        #[schema(value_type = String, pattern = "^([0-9a-f]{2})*$")]
        certificate: Vec<u8>,
    },
    /// Set an account's type: `normal`, `admin` or `special` (STD-13.2).
    SetAccountKind {
        /// The account.
        #[schema(value_type = crate::schema::AddressHex)]
        account: Address,
        /// The type (its name on the wire and in JSON).
        kind: AccountKind,
    },
    /// Deploy a contract (STD-12.1): its first version.
    DeployContract {
        /// What to deploy.
        spec: DeploySpec,
    },
    /// Install a new version of a contract, keeping its storage (STD-12.3).
    UpgradeContract {
        /// The new version.
        spec: UpgradeSpec,
    },
    /// Freeze a contract: no calls until unfrozen (the committee, or the regulator's intervention).
    FreezeContract {
        /// The contract.
        name: String,
    },
    /// Unfreeze a contract.
    UnfreezeContract {
        /// The contract.
        name: String,
    },
    /// Retire a contract for good: no further calls, its state stays readable.
    RetireContract {
        /// The contract.
        name: String,
    },
    /// Replace a contract's access rules (STD-12.2).
    SetContractAccess {
        /// The contract.
        name: String,
        /// The new rules (they replace all the old ones).
        access: Vec<MethodRule>,
        /// Whether calls may re-enter the contract.
        #[serde(default)]
        allow_reentry: bool,
    },
    /// Set who may read a resource of the API (STD-16.1): its principals replace the old ones.
    SetReadPolicy {
        /// The resource (see [`ReadResource`]).
        resource: ReadResource,
        /// The principals allowed: `public`, `member`, roles, and for `accounts` also `owner`
        /// and `registrar` ([`crate::read_policy::check_allow`]).
        allow: Vec<String>,
    },
}

impl GovAction {
    /// The contract an action acts on, if any: the audit log files the proposal under it too.
    pub fn contract_name(&self) -> Option<&str> {
        match self {
            GovAction::DeployContract { spec } => Some(&spec.name),
            GovAction::UpgradeContract { spec } => Some(&spec.name),
            GovAction::FreezeContract { name }
            | GovAction::UnfreezeContract { name }
            | GovAction::RetireContract { name }
            | GovAction::SetContractAccess { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The account a measure acts on (freeze, unfreeze, forced transfer from, key reset, account
    /// type), if any: the audit log files the proposal under that account too.
    pub fn target_account(&self) -> Option<Address> {
        match self {
            GovAction::Freeze { account }
            | GovAction::Unfreeze { account }
            | GovAction::ForcedTransfer { from: account, .. }
            | GovAction::ResetKey { account, .. }
            | GovAction::SetAccountKind { account, .. } => Some(*account),
            _ => None,
        }
    }

    /// A short name of the action, for events and listings.
    pub fn kind(&self) -> &'static str {
        match self {
            GovAction::AddMember { .. } => "add_member",
            GovAction::RemoveMember { .. } => "remove_member",
            GovAction::AddNode { .. } => "add_node",
            GovAction::RemoveNode { .. } => "remove_node",
            GovAction::RotateNodeCert { .. } => "rotate_node_cert",
            GovAction::RotateCa { .. } => "rotate_ca",
            GovAction::RevokeCert { .. } => "revoke_cert",
            GovAction::SetParam { .. } => "set_param",
            GovAction::SetAcl { .. } => "set_acl",
            GovAction::Freeze { .. } => "freeze",
            GovAction::Unfreeze { .. } => "unfreeze",
            GovAction::ForcedTransfer { .. } => "forced_transfer",
            GovAction::ResetKey { .. } => "reset_key",
            GovAction::SetAccountKind { .. } => "set_account_kind",
            GovAction::DeployContract { .. } => "deploy_contract",
            GovAction::UpgradeContract { .. } => "upgrade_contract",
            GovAction::FreezeContract { .. } => "freeze_contract",
            GovAction::UnfreezeContract { .. } => "unfreeze_contract",
            GovAction::RetireContract { .. } => "retire_contract",
            GovAction::SetContractAccess { .. } => "set_contract_access",
            GovAction::SetReadPolicy { .. } => "set_read_policy",
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_strs(out: &mut Vec<u8>, v: &[String]) {
    put_count(out, v.len());
    for s in v {
        put_str(out, s);
    }
}

fn get_strs(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<String>, DecodeError> {
    let n = r.count(MAX_ACL_ENTRIES, what)?;
    (0..n).map(|_| r.string(MAX_GOV_NAME, what)).collect()
}

/// A parameter by its name: an unknown name does not decode.
fn get_param(r: &mut Reader<'_>) -> Result<ChainParam, DecodeError> {
    let name = r.string(MAX_GOV_NAME, "param")?;
    ChainParam::parse(&name).ok_or_else(|| DecodeError::Invalid {
        what: "param",
        reason: format!("no parameter {name}; known: {}", ChainParam::names()),
    })
}

/// An account kind by its name: an unknown name does not decode.
fn get_kind(r: &mut Reader<'_>) -> Result<AccountKind, DecodeError> {
    let name = r.string(MAX_GOV_NAME, "account kind")?;
    AccountKind::parse(&name).ok_or_else(|| DecodeError::Invalid {
        what: "account kind",
        reason: format!("{name}: expected normal, admin or special"),
    })
}

impl Encode for NodeSpec {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.name);
        put_str(out, &self.org);
        out.push(match self.role {
            NodeRole::Validator => 1,
            NodeRole::Observer => 2,
        });
        put_bytes(out, &self.public_key);
        out.extend_from_slice(&self.power.to_be_bytes());
        put_str(out, &self.peer_id);
        put_str(out, &self.p2p);
        put_str(out, &self.rpc);
        put_bytes(out, &self.certificate);
    }
}

impl Decode for NodeSpec {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NodeSpec {
            name: r.string(MAX_GOV_NAME, "node.name")?,
            org: r.string(MAX_GOV_NAME, "node.org")?,
            role: match r.u8("node.role")? {
                1 => NodeRole::Validator,
                2 => NodeRole::Observer,
                tag => return Err(DecodeError::BadTag { what: "node.role", tag }),
            },
            public_key: r.bytes(MAX_KEY, "node.public_key")?.to_vec(),
            power: r.u64("node.power")?,
            peer_id: r.string(MAX_GOV_ADDR, "node.peer_id")?,
            p2p: r.string(MAX_GOV_ADDR, "node.p2p")?,
            rpc: r.string(MAX_GOV_ADDR, "node.rpc")?,
            certificate: r.bytes(MAX_CERT_LEN, "node.certificate")?.to_vec(),
        })
    }
}

impl Encode for GovAction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            GovAction::AddMember { name, ca_cert, committee } => {
                out.push(1);
                put_str(out, name);
                put_bytes(out, ca_cert);
                out.push(u8::from(*committee));
            }
            GovAction::RemoveMember { name } => {
                out.push(2);
                put_str(out, name);
            }
            GovAction::AddNode { node } => {
                out.push(3);
                node.encode_to(out);
            }
            GovAction::RemoveNode { name } => {
                out.push(4);
                put_str(out, name);
            }
            GovAction::RotateNodeCert { name, certificate } => {
                out.push(5);
                put_str(out, name);
                put_bytes(out, certificate);
            }
            GovAction::RotateCa { org, ca_cert } => {
                out.push(6);
                put_str(out, org);
                put_bytes(out, ca_cert);
            }
            GovAction::RevokeCert { org, serial } => {
                out.push(7);
                put_str(out, org);
                put_str(out, serial);
            }
            GovAction::SetParam { name, value } => {
                out.push(8);
                put_str(out, name.name());
                out.extend_from_slice(&value.to_be_bytes());
            }
            GovAction::SetAcl { method, roles, orgs } => {
                out.push(9);
                put_str(out, method);
                put_strs(out, roles);
                put_strs(out, orgs);
            }
            GovAction::Freeze { account } => {
                out.push(10);
                out.extend_from_slice(&account.0);
            }
            GovAction::Unfreeze { account } => {
                out.push(11);
                out.extend_from_slice(&account.0);
            }
            GovAction::ForcedTransfer { from, to, amount } => {
                out.push(12);
                out.extend_from_slice(&from.0);
                out.extend_from_slice(&to.0);
                out.extend_from_slice(&amount.to_be_bytes());
            }
            GovAction::ResetKey { account, certificate } => {
                out.push(13);
                out.extend_from_slice(&account.0);
                put_bytes(out, certificate);
            }
            GovAction::SetAccountKind { account, kind } => {
                out.push(14);
                out.extend_from_slice(&account.0);
                put_str(out, kind.as_str());
            }
            GovAction::DeployContract { spec } => {
                out.push(15);
                spec.encode_to(out);
            }
            GovAction::UpgradeContract { spec } => {
                out.push(16);
                spec.encode_to(out);
            }
            GovAction::FreezeContract { name } => {
                out.push(17);
                put_str(out, name);
            }
            GovAction::UnfreezeContract { name } => {
                out.push(18);
                put_str(out, name);
            }
            GovAction::RetireContract { name } => {
                out.push(19);
                put_str(out, name);
            }
            GovAction::SetContractAccess { name, access, allow_reentry } => {
                out.push(20);
                put_str(out, name);
                encode_rules(access, out);
                out.push(u8::from(*allow_reentry));
            }
            GovAction::SetReadPolicy { resource, allow } => {
                out.push(21);
                put_str(out, resource.as_str());
                put_strs(out, allow);
            }
        }
    }
}

impl Decode for GovAction {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8("gov action")? {
            1 => GovAction::AddMember {
                name: r.string(MAX_GOV_NAME, "member name")?,
                ca_cert: r.bytes(MAX_CERT_LEN, "ca certificate")?.to_vec(),
                committee: match r.u8("committee")? {
                    0 => false,
                    1 => true,
                    tag => return Err(DecodeError::BadTag { what: "committee", tag }),
                },
            },
            2 => GovAction::RemoveMember { name: r.string(MAX_GOV_NAME, "member name")? },
            3 => GovAction::AddNode { node: NodeSpec::decode_from(r)? },
            4 => GovAction::RemoveNode { name: r.string(MAX_GOV_NAME, "node name")? },
            5 => GovAction::RotateNodeCert {
                name: r.string(MAX_GOV_NAME, "node name")?,
                certificate: r.bytes(MAX_CERT_LEN, "certificate")?.to_vec(),
            },
            6 => GovAction::RotateCa {
                org: r.string(MAX_GOV_NAME, "org")?,
                ca_cert: r.bytes(MAX_CERT_LEN, "ca certificate")?.to_vec(),
            },
            7 => {
                GovAction::RevokeCert { org: r.string(MAX_GOV_NAME, "org")?, serial: r.string(MAX_GOV_NAME, "serial")? }
            }
            8 => GovAction::SetParam { name: get_param(r)?, value: r.u64("param value")? },
            9 => GovAction::SetAcl {
                method: r.string(MAX_GOV_NAME, "method")?,
                roles: get_strs(r, "roles")?,
                orgs: get_strs(r, "orgs")?,
            },
            10 => GovAction::Freeze { account: Address(r.array("account")?) },
            11 => GovAction::Unfreeze { account: Address(r.array("account")?) },
            12 => GovAction::ForcedTransfer {
                from: Address(r.array("from")?),
                to: Address(r.array("to")?),
                amount: r.u128("amount")?,
            },
            13 => GovAction::ResetKey {
                account: Address(r.array("account")?),
                certificate: r.bytes(MAX_CERT_LEN, "certificate")?.to_vec(),
            },
            14 => GovAction::SetAccountKind { account: Address(r.array("account")?), kind: get_kind(r)? },
            15 => GovAction::DeployContract { spec: DeploySpec::decode_from(r)? },
            16 => GovAction::UpgradeContract { spec: UpgradeSpec::decode_from(r)? },
            17 => GovAction::FreezeContract { name: get_name(r)? },
            18 => GovAction::UnfreezeContract { name: get_name(r)? },
            19 => GovAction::RetireContract { name: get_name(r)? },
            20 => GovAction::SetContractAccess {
                name: get_name(r)?,
                access: decode_rules(r)?,
                allow_reentry: match r.u8("allow reentry")? {
                    0 => false,
                    1 => true,
                    tag => return Err(DecodeError::BadTag { what: "allow reentry", tag }),
                },
            },
            21 => {
                let resource = r.string(MAX_GOV_NAME, "read resource")?;
                let resource = ReadResource::parse(&resource)
                    .map_err(|reason| DecodeError::Invalid { what: "read resource", reason })?;
                let allow = get_strs(r, "read principals")?;
                crate::read_policy::check_allow(resource, &allow)
                    .map_err(|reason| DecodeError::Invalid { what: "read principals", reason })?;
                GovAction::SetReadPolicy { resource, allow }
            }
            tag => return Err(DecodeError::BadTag { what: "gov action", tag }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_truncation_fails() {
        let node = NodeSpec {
            name: "org5-node".into(),
            org: "org5".into(),
            role: NodeRole::Validator,
            public_key: vec![4; 65],
            power: 1,
            peer_id: "12D3Koo".into(),
            p2p: "127.0.0.1:1".into(),
            rpc: "http://127.0.0.1:2".into(),
            certificate: vec![0x30, 1, 2],
        };
        let a = Address([7; 20]);
        let all = vec![
            GovAction::AddMember { name: "org5".into(), ca_cert: vec![1, 2, 3], committee: true },
            GovAction::RemoveMember { name: "org5".into() },
            GovAction::AddNode { node },
            GovAction::RemoveNode { name: "n".into() },
            GovAction::RotateNodeCert { name: "n".into(), certificate: vec![9] },
            GovAction::RotateCa { org: "o".into(), ca_cert: vec![8] },
            GovAction::RevokeCert { org: "o".into(), serial: "01ab".into() },
            GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 },
            GovAction::SetAcl { method: "bank.transfer".into(), roles: vec!["client".into()], orgs: vec![] },
            GovAction::Freeze { account: a },
            GovAction::Unfreeze { account: a },
            GovAction::ForcedTransfer { from: a, to: Address([1; 20]), amount: 5 },
            GovAction::ResetKey { account: a, certificate: vec![3] },
            GovAction::SetAccountKind { account: a, kind: AccountKind::Special },
            GovAction::SetReadPolicy { resource: ReadResource::Audit, allow: vec!["auditor".into(), "public".into()] },
        ];
        for act in all {
            let b = act.encode();
            assert_eq!(GovAction::decode(&b).expect("decodes"), act);
            for cut in 0..b.len() {
                assert!(GovAction::decode(&b[..cut]).is_err(), "{} truncated at {cut}", act.kind());
            }
            let json = serde_json::to_string(&act).expect("json");
            assert_eq!(serde_json::from_str::<GovAction>(&json).expect("json back"), act);
        }
    }

    #[test]
    fn typed_names_keep_the_string_encoding_and_unknown_names_do_not_decode() {
        let a = Address([7; 20]);
        let mut want = vec![8];
        put_str(&mut want, "max_block_txs");
        want.extend_from_slice(&10u64.to_be_bytes());
        assert_eq!(GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 }.encode(), want);
        let mut want = vec![14];
        want.extend_from_slice(&a.0);
        put_str(&mut want, "special");
        assert_eq!(GovAction::SetAccountKind { account: a, kind: AccountKind::Special }.encode(), want);
        let json =
            serde_json::to_value(GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 }).expect("json");
        assert_eq!(json["name"], "max_block_txs");
        let json =
            serde_json::to_value(GovAction::SetAccountKind { account: a, kind: AccountKind::Admin }).expect("json");
        assert_eq!(json["kind"], "admin");

        let mut bad = vec![8];
        put_str(&mut bad, "no_such_param");
        bad.extend_from_slice(&1u64.to_be_bytes());
        assert!(matches!(GovAction::decode(&bad), Err(DecodeError::Invalid { what: "param", .. })));
        let mut bad = vec![14];
        bad.extend_from_slice(&a.0);
        put_str(&mut bad, "root");
        assert!(matches!(GovAction::decode(&bad), Err(DecodeError::Invalid { what: "account kind", .. })));

        // A read policy: an unknown resource, an unknown principal, an empty rule do not decode.
        let act = GovAction::SetReadPolicy { resource: ReadResource::Accounts, allow: vec!["owner".into()] };
        let mut want = vec![21];
        put_str(&mut want, "accounts");
        put_strs(&mut want, &["owner".to_string()]);
        assert_eq!(act.encode(), want);
        assert_eq!(serde_json::to_value(&act).expect("json")["resource"], "accounts");
        assert_eq!(act.kind(), "set_read_policy");
        for (res, allow) in
            [("everything", vec!["admin"]), ("audit", vec!["root"]), ("audit", vec![]), ("audit", vec!["owner"])]
        {
            let mut bad = vec![21];
            put_str(&mut bad, res);
            put_strs(&mut bad, &allow.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert!(matches!(GovAction::decode(&bad), Err(DecodeError::Invalid { .. })), "{res} {allow:?}");
        }
    }
}
