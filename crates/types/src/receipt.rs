//! Receipts: the outcome of one transaction in a block.

use fdl_crypto::Hash;
use serde::{Deserialize, Serialize};

use crate::codec::{Decode, DecodeError, Encode, Reader, put_bytes, put_count};

/// Most events one receipt may carry.
pub const MAX_EVENTS: usize = 64;
/// Most attributes per event.
pub const MAX_ATTRS: usize = 16;
/// Longest event kind, attribute key or attribute value (a contract event's JSON data is one
/// value, so this bounds the chain parameter `max_event_bytes`).
pub const MAX_EVENT_FIELD: usize = 1024;
/// Longest return data of a contract call in a receipt.
pub const MAX_OUTPUT: usize = 65_536;

/// Outcome of a transaction that was included in a block. Codes are stable: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    /// Executed; its effects are in the state.
    Ok,
    /// The sender's balance is below the amount.
    InsufficientBalance,
    /// Amount zero.
    ZeroAmount,
    /// A balance or the supply would overflow.
    Overflow,
    /// The sender may not call this method (e.g. `bank.issue` by anyone but the issuer).
    Unauthorized,
    /// Transfer to oneself.
    SelfTransfer,
    /// The chain requires a certificate and the transaction carries none.
    CertificateRequired,
    /// The certificate hash is not registered on chain.
    CertificateUnknown,
    /// The certificate is revoked.
    CertificateRevoked,
    /// The certificate is outside its validity period (or replaced by a key reset).
    CertificateExpired,
    /// The certificate is not from a member CA, not for the signer's key, or malformed.
    CertificateInvalid,
    /// The sending account is frozen.
    AccountFrozen,
    /// The sending account is in a key-reset lock window.
    AccountLocked,
    /// The access-control policy does not allow the signer's role or institution to call the method.
    PermissionDenied,
    /// A governance proposal or vote is not acceptable (see the receipt's event for why).
    ProposalInvalid,
    /// The contract failed: its own error, a trap or a limit (the `contract.failed` event has the code and message); nothing it wrote remains.
    ContractFailed,
    /// The call used up its fuel; nothing it wrote remains.
    OutOfFuel,
    /// No contract (or no such version) by that name.
    UnknownContract,
    /// The contract has no such method.
    UnknownMethod,
    /// The contract is frozen.
    ContractFrozen,
    /// The contract is retired.
    ContractRetired,
    /// The block's fuel was used up before this call; send it again.
    BlockFuelExhausted,
    /// A deploy whose module fails the static checks, whose name is taken or outside the deployer's namespace, or whose `init` failed.
    ContractRejected,
}

impl StatusCode {
    /// The stable numeric code.
    pub const fn code(self) -> u16 {
        match self {
            StatusCode::Ok => 0,
            StatusCode::InsufficientBalance => 1,
            StatusCode::ZeroAmount => 2,
            StatusCode::Overflow => 3,
            StatusCode::Unauthorized => 4,
            StatusCode::SelfTransfer => 5,
            StatusCode::CertificateRequired => 6,
            StatusCode::CertificateUnknown => 7,
            StatusCode::CertificateRevoked => 8,
            StatusCode::CertificateExpired => 9,
            StatusCode::CertificateInvalid => 10,
            StatusCode::AccountFrozen => 11,
            StatusCode::AccountLocked => 12,
            StatusCode::PermissionDenied => 13,
            StatusCode::ProposalInvalid => 14,
            StatusCode::ContractFailed => 15,
            StatusCode::OutOfFuel => 16,
            StatusCode::UnknownContract => 17,
            StatusCode::UnknownMethod => 18,
            StatusCode::ContractFrozen => 19,
            StatusCode::ContractRetired => 20,
            StatusCode::BlockFuelExhausted => 21,
            StatusCode::ContractRejected => 22,
        }
    }

    /// The status for a numeric code.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => StatusCode::Ok,
            1 => StatusCode::InsufficientBalance,
            2 => StatusCode::ZeroAmount,
            3 => StatusCode::Overflow,
            4 => StatusCode::Unauthorized,
            5 => StatusCode::SelfTransfer,
            6 => StatusCode::CertificateRequired,
            7 => StatusCode::CertificateUnknown,
            8 => StatusCode::CertificateRevoked,
            9 => StatusCode::CertificateExpired,
            10 => StatusCode::CertificateInvalid,
            11 => StatusCode::AccountFrozen,
            12 => StatusCode::AccountLocked,
            13 => StatusCode::PermissionDenied,
            14 => StatusCode::ProposalInvalid,
            15 => StatusCode::ContractFailed,
            16 => StatusCode::OutOfFuel,
            17 => StatusCode::UnknownContract,
            18 => StatusCode::UnknownMethod,
            19 => StatusCode::ContractFrozen,
            20 => StatusCode::ContractRetired,
            21 => StatusCode::BlockFuelExhausted,
            22 => StatusCode::ContractRejected,
            _ => return None,
        })
    }

    /// A sentence for people: what the code means and what to do.
    pub fn describe(self) -> &'static str {
        match self {
            StatusCode::Ok => "executed",
            StatusCode::InsufficientBalance => "the balance is below the amount",
            StatusCode::ZeroAmount => "the amount must be positive",
            StatusCode::Overflow => "a balance or the supply would overflow",
            StatusCode::Unauthorized => "only the issuer may issue or burn",
            StatusCode::SelfTransfer => "a transfer to oneself",
            StatusCode::CertificateRequired => {
                "this chain accepts only transactions signed by a certified member: have an institution issue a certificate for the key (fdl ca issue) and send with it"
            }
            StatusCode::CertificateUnknown => {
                "the certificate hash is not registered on chain: send the certificate itself with the first transaction"
            }
            StatusCode::CertificateRevoked => "the certificate is revoked",
            StatusCode::CertificateExpired => {
                "the certificate is outside its validity period, or the account's key was reset"
            }
            StatusCode::CertificateInvalid => {
                "the certificate is not from a member institution's CA, not for the signing key, or malformed"
            }
            StatusCode::AccountFrozen => "the account is frozen",
            StatusCode::AccountLocked => "the account is locked after a key reset until the lock window ends",
            StatusCode::PermissionDenied => {
                "the access policy does not allow this role or institution to call the method"
            }
            StatusCode::ProposalInvalid => "the governance proposal or vote was refused (see the event for why)",
            StatusCode::ContractFailed => {
                "the contract call failed and was undone (see the contract.failed event for its code and message)"
            }
            StatusCode::OutOfFuel => {
                "the call ran out of fuel and was undone: send it with more fuel (--fuel) or make it cheaper"
            }
            StatusCode::UnknownContract => "no contract by that name (or no such version)",
            StatusCode::UnknownMethod => "the contract has no such method",
            StatusCode::ContractFrozen => "the contract is frozen: no calls until the committee unfreezes it",
            StatusCode::ContractRetired => "the contract is retired: its state is readable, it takes no calls",
            StatusCode::BlockFuelExhausted => "the block's fuel limit was reached before this call: send it again",
            StatusCode::ContractRejected => "the deploy was refused (see the contract.rejected event for why)",
        }
    }

    /// The stable string code used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Ok => "ok",
            StatusCode::InsufficientBalance => "insufficient_balance",
            StatusCode::ZeroAmount => "zero_amount",
            StatusCode::Overflow => "overflow",
            StatusCode::Unauthorized => "unauthorized",
            StatusCode::SelfTransfer => "self_transfer",
            StatusCode::CertificateRequired => "certificate_required",
            StatusCode::CertificateUnknown => "certificate_unknown",
            StatusCode::CertificateRevoked => "certificate_revoked",
            StatusCode::CertificateExpired => "certificate_expired",
            StatusCode::CertificateInvalid => "certificate_invalid",
            StatusCode::AccountFrozen => "account_frozen",
            StatusCode::AccountLocked => "account_locked",
            StatusCode::PermissionDenied => "permission_denied",
            StatusCode::ProposalInvalid => "proposal_invalid",
            StatusCode::ContractFailed => "contract_failed",
            StatusCode::OutOfFuel => "out_of_fuel",
            StatusCode::UnknownContract => "unknown_contract",
            StatusCode::UnknownMethod => "unknown_method",
            StatusCode::ContractFrozen => "contract_frozen",
            StatusCode::ContractRetired => "contract_retired",
            StatusCode::BlockFuelExhausted => "block_fuel_exhausted",
            StatusCode::ContractRejected => "contract_rejected",
        }
    }
}

/// Something a transaction did that subscribers may care about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// `module.name`, e.g. `bank.transferred`.
    pub kind: String,
    /// Ordered key/value attributes.
    pub attrs: Vec<(String, String)>,
}

/// The outcome of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction's id.
    pub tx_id: Hash,
    /// Outcome.
    pub status: StatusCode,
    /// Events: what the transaction did, or for a refusal, the audit event saying why.
    pub events: Vec<Event>,
    /// Cost units charged (native calls: a fixed cost per method plus bytes; contract calls:
    /// the fuel used).
    pub cost: u64,
    /// A contract call's return data (JSON text; empty for native methods and failures).
    pub output: Vec<u8>,
}

impl Encode for Receipt {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tx_id.0);
        out.extend_from_slice(&self.status.code().to_be_bytes());
        put_count(out, self.events.len());
        for e in &self.events {
            put_bytes(out, e.kind.as_bytes());
            put_count(out, e.attrs.len());
            for (k, v) in &e.attrs {
                put_bytes(out, k.as_bytes());
                put_bytes(out, v.as_bytes());
            }
        }
        out.extend_from_slice(&self.cost.to_be_bytes());
        put_bytes(out, &self.output);
    }
}

impl Decode for Receipt {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tx_id = Hash(r.array("receipt tx id")?);
        let code = r.u16("status")?;
        let status = StatusCode::from_code(code)
            .ok_or(DecodeError::Invalid { what: "status", reason: format!("unknown code {code}") })?;
        let n = r.count(MAX_EVENTS, "events")?;
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let kind = r.string(MAX_EVENT_FIELD, "event kind")?;
            let m = r.count(MAX_ATTRS, "event attrs")?;
            let mut attrs = Vec::with_capacity(m);
            for _ in 0..m {
                attrs.push((r.string(MAX_EVENT_FIELD, "attr key")?, r.string(MAX_EVENT_FIELD, "attr value")?));
            }
            events.push(Event { kind, attrs });
        }
        let cost = r.u64("cost")?;
        let output = r.bytes(MAX_OUTPUT, "output")?.to_vec();
        Ok(Receipt { tx_id, status, events, cost, output })
    }
}
