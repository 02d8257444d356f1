//! The contract registry and contract storage as stored in state (STD-12.1 to 12.4): one
//! [`ContractRecord`] per name, one [`VersionRecord`] per version (old versions stay readable),
//! the modules by code hash, and each contract's storage under its own prefix.

use fdl_crypto::{Address, Hash};
use fdl_types::{
    Decode, DecodeError, Encode, MethodRule, Reader, Review, VmKind,
    codec::put_count,
    contract::{MAX_CONTRACT_NAME, MAX_METHOD_NAME, MAX_REVIEW_AUTHOR, decode_rules, encode_rules},
};

use crate::value::{MAX_TEXT, get_addr, get_hash, put_str};

/// Whether a contract takes calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContractStatus {
    /// Takes calls.
    #[default]
    Active,
    /// No calls until unfrozen.
    Frozen,
    /// No calls ever again; state stays readable.
    Retired,
}

impl ContractStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Active => "active",
            ContractStatus::Frozen => "frozen",
            ContractStatus::Retired => "retired",
        }
    }
}

/// A deployed contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractRecord {
    /// Its name.
    pub name: String,
    /// Its engine.
    pub vm: VmKind,
    /// The institution that owns it (the deployer's).
    pub owner: String,
    /// Its contract address (`fdl_exec::contract::contract_address`).
    pub address: Address,
    /// The version calls run by default.
    pub current: u32,
    /// How many versions exist (1..=versions).
    pub versions: u32,
    /// Whether it takes calls.
    pub status: ContractStatus,
    /// Per-method access rules.
    pub access: Vec<MethodRule>,
    /// Whether a call may re-enter it.
    pub allow_reentry: bool,
    /// The height of its deploy.
    pub created: u64,
}

/// One version of a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// The version number (from 1).
    pub version: u32,
    /// The module's hash (its bytes under [`crate::keys::code`]).
    pub code_hash: Hash,
    /// The module's size in bytes.
    pub code_size: u32,
    /// Who deployed it: the proposer of the vote, or the administrator who deployed directly.
    pub deployer: Address,
    /// The proposal that installed it (0: a direct deploy).
    pub proposal: u64,
    /// The height it was installed at.
    pub height: u64,
    /// The review report, if any.
    pub review: Option<Review>,
    /// Its methods, as the static checks found them. For an EVM contract, each ABI function as
    /// `0x{selector}:{name}` (see [`evm_method`]).
    pub methods: Vec<String>,
}

/// An EVM version's method entry: `0x{selector}:{name}` (the name cut to fit the bound).
pub fn evm_method(selector: [u8; 4], name: &str) -> String {
    let mut s = String::from("0x");
    for b in selector {
        s.push_str(&format!("{b:02x}"));
    }
    s.push(':');
    for c in name.chars() {
        if s.len() + c.len_utf8() > MAX_METHOD_NAME {
            break;
        }
        s.push(c);
    }
    s
}

/// The ABI name of the function with `selector` (hex, `0x…`) among an EVM version's methods.
pub fn evm_method_name<'a>(methods: &'a [String], selector: &str) -> Option<&'a str> {
    methods.iter().find_map(|m| m.strip_prefix(selector).and_then(|rest| rest.strip_prefix(':')))
}

impl Encode for ContractRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.name);
        put_str(out, self.vm.as_str());
        put_str(out, &self.owner);
        out.extend_from_slice(&self.address.0);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&self.versions.to_be_bytes());
        out.push(match self.status {
            ContractStatus::Active => 0,
            ContractStatus::Frozen => 1,
            ContractStatus::Retired => 2,
        });
        encode_rules(&self.access, out);
        out.push(u8::from(self.allow_reentry));
        out.extend_from_slice(&self.created.to_be_bytes());
    }
}

fn get_bool(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(DecodeError::BadTag { what, tag }),
    }
}

impl Decode for ContractRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = r.string(MAX_CONTRACT_NAME, "contract name")?;
        let vm = match VmKind::parse(&r.string(16, "vm")?) {
            Some(vm) => vm,
            None => return Err(DecodeError::Invalid { what: "vm", reason: "unknown vm".into() }),
        };
        Ok(ContractRecord {
            name,
            vm,
            owner: r.string(MAX_TEXT, "contract owner")?,
            address: get_addr(r, "contract address")?,
            current: r.u32("current version")?,
            versions: r.u32("versions")?,
            status: match r.u8("contract status")? {
                0 => ContractStatus::Active,
                1 => ContractStatus::Frozen,
                2 => ContractStatus::Retired,
                tag => return Err(DecodeError::BadTag { what: "contract status", tag }),
            },
            access: decode_rules(r)?,
            allow_reentry: get_bool(r, "allow reentry")?,
            created: r.u64("created")?,
        })
    }
}

impl Encode for VersionRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.code_hash.0);
        out.extend_from_slice(&self.code_size.to_be_bytes());
        out.extend_from_slice(&self.deployer.0);
        out.extend_from_slice(&self.proposal.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        match &self.review {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                out.extend_from_slice(&r.hash.0);
                put_str(out, &r.author);
            }
        }
        put_count(out, self.methods.len());
        for m in &self.methods {
            put_str(out, m);
        }
    }
}

impl Decode for VersionRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VersionRecord {
            version: r.u32("version")?,
            code_hash: get_hash(r, "code hash")?,
            code_size: r.u32("code size")?,
            deployer: get_addr(r, "deployer")?,
            proposal: r.u64("proposal")?,
            height: r.u64("height")?,
            review: match r.u8("review")? {
                0 => None,
                1 => Some(Review {
                    hash: get_hash(r, "review hash")?,
                    author: r.string(MAX_REVIEW_AUTHOR, "review author")?,
                }),
                tag => return Err(DecodeError::BadTag { what: "review", tag }),
            },
            methods: {
                let n = r.count(4_096, "methods")?;
                (0..n).map(|_| r.string(MAX_METHOD_NAME, "method")).collect::<Result<_, _>>()?
            },
        })
    }
}
