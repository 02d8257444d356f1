//! Why a governance call is refused, or a passed proposal fails when it applies (STD-17).
//!
//! Each reason is a variant with a stable `snake_case` [`GovRefusal::code`] (the `code` attribute
//! of the `gov.refused` and `gov.failed` events, for programs) and an English
//! [`Display`](std::fmt::Display) (the `reason` attribute, and a failed proposal's stored
//! `failure`, for people). Codes never change meaning; a new reason is a new variant.

use fdl_crypto::{Address, Suite};
use fdl_schema::ProposalState;
use fdl_types::{ChainParam, Role, StatusCode};
use thiserror::Error;

/// Why a governance proposal or vote is refused, or a passed proposal fails to apply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GovRefusal {
    // --- Proposals and votes ---
    /// The deadline lies outside the voting window.
    #[error("deadline must be {from}..={to}")]
    DeadlineOutOfRange {
        /// The earliest deadline (the current height).
        from: u64,
        /// The latest (the current height plus `max_voting_blocks`).
        to: u64,
    },
    /// A regulator certificate from an institution that is not the chain's regulator.
    #[error("{org} is not the chain's regulator institution")]
    NotRegulator {
        /// The proposer's institution.
        org: String,
    },
    /// The regulator proposed something other than an intervention.
    #[error("the regulator proposes only freezes, unfreezes and forced transfers")]
    RegulatorOnlyInterventions,
    /// The proposer's role may not propose.
    #[error("a {role} may not propose")]
    RoleMayNotPropose {
        /// The proposer's role.
        role: Role,
    },
    /// A measure on an account that no institution has registered yet.
    #[error("account {account} has no registrar institution yet")]
    NoRegistrar {
        /// The account.
        account: Address,
    },
    /// A measure on an account registered by another institution.
    #[error("account {account} is registered by {registrar}, not {org}")]
    WrongRegistrar {
        /// The account.
        account: Address,
        /// Its registrar institution.
        registrar: String,
        /// The proposer's institution.
        org: String,
    },
    /// A vote on a proposal that does not exist.
    #[error("no proposal {id}")]
    NoProposal {
        /// The proposal's number.
        id: u64,
    },
    /// A vote on a proposal that no longer takes votes.
    #[error("proposal {id} is {}", state.as_str())]
    NotOpen {
        /// The proposal's number.
        id: u64,
        /// What it is now.
        state: ProposalState,
    },
    /// A vote from an institution without a committee seat.
    #[error("{org} holds no committee seat")]
    NoSeat {
        /// The voter's institution.
        org: String,
    },
    /// A second vote of one institution on one proposal.
    #[error("{org} has already voted on proposal {id}")]
    AlreadyVoted {
        /// The voter's institution.
        org: String,
        /// The proposal's number.
        id: u64,
    },

    // --- Members and certificates ---
    /// Admitting an institution that is already a member.
    #[error("{name} is already a member")]
    AlreadyMember {
        /// The institution.
        name: String,
    },
    /// An institution that is not a member.
    #[error("{name} is not a member")]
    NotMember {
        /// The institution.
        name: String,
    },
    /// Removing an institution that still runs nodes.
    #[error("{name} still runs nodes: remove them first")]
    StillRunsNodes {
        /// The institution.
        name: String,
    },
    /// A CA certificate that does not parse or verify.
    #[error("CA certificate: {reason}")]
    BadCaCertificate {
        /// What is wrong with it.
        reason: String,
    },
    /// A new member's CA certificate that is not a CA of that institution in the chain's suite.
    #[error("not a {suite} CA certificate of {name} (O={subject_org}, CA={is_ca})")]
    WrongCaCertificate {
        /// The institution to admit.
        name: String,
        /// The chain's suite.
        suite: Suite,
        /// The certificate's `O`.
        subject_org: String,
        /// Whether it is a CA certificate at all.
        is_ca: bool,
    },
    /// A rotated CA certificate that is not a CA certificate of the institution.
    #[error("not a CA certificate of {org}")]
    NotCaOf {
        /// The institution.
        org: String,
    },
    /// A new CA that does not certify the institution's validators, which would then retire
    /// below the minimum.
    #[error(
        "the new CA of {org} does not certify its validators, and retiring them would leave fewer than {min} \
         validators"
    )]
    CaRotationBelowMinValidators {
        /// The institution.
        org: String,
        /// The minimum validator count.
        min: u32,
    },
    /// A serial number that is not a hex serial (`fdl_pki::canonical_serial` refuses it).
    #[error("serial must be hex (as `openssl x509 -serial` prints it), at most 20 bytes")]
    SerialNotHex,
    /// Revoking a validator's certificate would leave too few validators.
    #[error("revoking this validator's certificate would leave fewer than {min} validators")]
    RevocationBelowMinValidators {
        /// The minimum validator count.
        min: u32,
    },
    /// A certificate that does not parse or verify.
    #[error("certificate: {reason}")]
    BadCertificate {
        /// What is wrong with it.
        reason: String,
    },

    // --- Nodes ---
    /// A node that is not listed.
    #[error("no node {name}")]
    NoNode {
        /// The node's name.
        name: String,
    },
    /// Removing a validator would leave too few.
    #[error("removing {name} would leave fewer than {min} validators")]
    RemovalBelowMinValidators {
        /// The node's name.
        name: String,
        /// The minimum validator count.
        min: u32,
    },
    /// A node name that is empty or already used.
    #[error("node name {name:?} is empty or taken")]
    NodeNameTaken {
        /// The node's name.
        name: String,
    },
    /// A node key or peer id that another node uses.
    #[error("the node's key or peer id is already used")]
    NodeKeyTaken,
    /// A node key not of the chain's suite.
    #[error("the node key is not a {suite} key")]
    NodeKeySuite {
        /// The chain's suite.
        suite: Suite,
    },
    /// A validator's power outside `1..=max`.
    #[error("a validator's power must be 1..={max}")]
    PowerOutOfRange {
        /// The largest power allowed.
        max: u64,
    },
    /// A node without a peer id on a chain whose nodes all have one.
    #[error("the node needs a network peer id, as every other node has one")]
    NoPeerId,
    /// A node certificate for another role.
    #[error("the certificate's role is not {want}")]
    WrongCertificateRole {
        /// The role the node needs.
        want: Role,
    },
    /// A node certificate for another key.
    #[error("the certificate is for another key")]
    CertificateForAnotherKey,
    /// A revoked node certificate.
    #[error("the certificate is revoked")]
    CertificateRevoked,

    // --- Parameters ---
    /// A value that does not fit the parameter's field.
    #[error("{param} out of range")]
    ParamOutOfRange {
        /// The parameter.
        param: ChainParam,
    },
    /// The governance threshold is not a fraction strictly between 0 and 1.
    #[error("the threshold must be a fraction strictly between 0 and 1")]
    BadThreshold,
    /// `min_validators` outside `1..=max`.
    #[error("min_validators must be 1..={max}")]
    MinValidatorsOutOfRange {
        /// The current validator count.
        max: usize,
    },
    /// Zero block interval, or a block transaction count of zero or above the hard bound.
    #[error("block_interval_ms and max_block_txs must be positive and bounded")]
    BlockLimitsOutOfRange,
    /// `max_tx_bytes` outside its bounds.
    #[error("max_tx_bytes out of range")]
    MaxTxBytesOutOfRange,
    /// Transactions per block times their size exceeds the block size bound.
    #[error("max_block_txs x max_tx_bytes exceeds the block size bound")]
    BlockBytesOutOfRange,
    /// A consensus timeout neither 0 nor within 100..=60000 ms.
    #[error("consensus timeouts must be 0 (each node's own) or 100..=60000 ms")]
    TimeoutOutOfRange,
    /// A zero expiry window, or a voting window outside its bounds.
    #[error("max_expiry_window must be positive and max_voting_blocks 1..=100000000")]
    WindowOutOfRange,

    // --- Access rules ---
    /// An access rule for a method that does not exist.
    #[error("no method {method}")]
    NoMethod {
        /// The method named.
        method: String,
    },
    /// An access rule naming a role that does not exist.
    #[error("no role {role}")]
    NoRole {
        /// The role named.
        role: String,
    },
    /// A read policy rule that names no principal, an unknown one, one twice, or too many.
    #[error("bad read policy: {reason}")]
    BadReadPolicy {
        /// What is wrong.
        reason: String,
    },

    // --- Accounts ---
    /// An account that does not exist.
    #[error("no account {account}")]
    NoAccount {
        /// The account.
        account: Address,
    },
    /// A forced transfer to the same account or of nothing.
    #[error("a forced transfer needs two accounts and a positive amount")]
    BadForcedTransfer,
    /// A new key's certificate from another institution than the account's.
    #[error("the new certificate is from {cert_org}, the account belongs to {account_org}")]
    CertificateFromOtherOrg {
        /// The certificate's institution.
        cert_org: String,
        /// The account's institution.
        account_org: String,
    },
    /// A new key's certificate refused by the identity rules.
    #[error("certificate refused: {}", status.as_str())]
    CertificateRefused {
        /// The identity status that refuses it.
        status: StatusCode,
    },
    // --- Contracts ---
    /// a contract named {name} exists already.
    #[error("a contract named {name} exists already")]
    ContractExists {
        /// The name.
        name: String,
    },
    /// no contract named {name}.
    #[error("no contract named {name}")]
    NoContract {
        /// The name.
        name: String,
    },
    /// the module fails the static checks: {reason}.
    #[error("the module fails the static checks: {reason}")]
    ContractCheckFailed {
        /// Why.
        reason: String,
    },
    /// the module's {entry} entry failed: {code}: {message}.
    #[error("the module's {entry} entry failed: {code}: {message}")]
    ContractInitFailed {
        /// `init` or `migrate`.
        entry: &'static str,
        /// The failure's code.
        code: String,
        /// Its message.
        message: String,
    },
    /// contract {name} is {status}: {what} does not apply.
    #[error("contract {name} is {status}: {what} does not apply")]
    ContractStatusForbids {
        /// The contract.
        name: String,
        /// Its status.
        status: &'static str,
        /// The action.
        what: &'static str,
    },
    /// contract limits: {reason}.
    #[error("contract limits: {reason}")]
    ContractLimitsOutOfRange {
        /// Which limit.
        reason: String,
    },
    /// access rule: {reason}.
    #[error("access rule: {reason}")]
    BadContractRule {
        /// Why.
        reason: String,
    },
}

impl GovRefusal {
    /// Every code, in declaration order (for documentation and uniqueness tests).
    pub const CODES: [&'static str; 52] = [
        "deadline_out_of_range",
        "bad_read_policy",
        "not_regulator",
        "regulator_only_interventions",
        "role_may_not_propose",
        "no_registrar",
        "wrong_registrar",
        "no_proposal",
        "not_open",
        "no_seat",
        "already_voted",
        "already_member",
        "not_member",
        "still_runs_nodes",
        "bad_ca_certificate",
        "wrong_ca_certificate",
        "not_ca_of",
        "ca_rotation_below_min_validators",
        "serial_not_hex",
        "revocation_below_min_validators",
        "bad_certificate",
        "no_node",
        "removal_below_min_validators",
        "node_name_taken",
        "node_key_taken",
        "node_key_suite",
        "power_out_of_range",
        "no_peer_id",
        "wrong_certificate_role",
        "certificate_for_another_key",
        "certificate_revoked",
        "param_out_of_range",
        "bad_threshold",
        "min_validators_out_of_range",
        "block_limits_out_of_range",
        "max_tx_bytes_out_of_range",
        "block_bytes_out_of_range",
        "timeout_out_of_range",
        "window_out_of_range",
        "no_method",
        "no_role",
        "no_account",
        "bad_forced_transfer",
        "certificate_from_other_org",
        "certificate_refused",
        "contract_exists",
        "no_contract",
        "contract_check_failed",
        "contract_init_failed",
        "contract_status",
        "contract_limits_out_of_range",
        "bad_contract_rule",
    ];

    /// Its stable `snake_case` code.
    pub fn code(&self) -> &'static str {
        match self {
            GovRefusal::DeadlineOutOfRange { .. } => "deadline_out_of_range",
            GovRefusal::NotRegulator { .. } => "not_regulator",
            GovRefusal::RegulatorOnlyInterventions => "regulator_only_interventions",
            GovRefusal::RoleMayNotPropose { .. } => "role_may_not_propose",
            GovRefusal::NoRegistrar { .. } => "no_registrar",
            GovRefusal::WrongRegistrar { .. } => "wrong_registrar",
            GovRefusal::NoProposal { .. } => "no_proposal",
            GovRefusal::NotOpen { .. } => "not_open",
            GovRefusal::NoSeat { .. } => "no_seat",
            GovRefusal::AlreadyVoted { .. } => "already_voted",
            GovRefusal::AlreadyMember { .. } => "already_member",
            GovRefusal::NotMember { .. } => "not_member",
            GovRefusal::StillRunsNodes { .. } => "still_runs_nodes",
            GovRefusal::BadCaCertificate { .. } => "bad_ca_certificate",
            GovRefusal::WrongCaCertificate { .. } => "wrong_ca_certificate",
            GovRefusal::NotCaOf { .. } => "not_ca_of",
            GovRefusal::CaRotationBelowMinValidators { .. } => "ca_rotation_below_min_validators",
            GovRefusal::SerialNotHex => "serial_not_hex",
            GovRefusal::RevocationBelowMinValidators { .. } => "revocation_below_min_validators",
            GovRefusal::BadCertificate { .. } => "bad_certificate",
            GovRefusal::NoNode { .. } => "no_node",
            GovRefusal::RemovalBelowMinValidators { .. } => "removal_below_min_validators",
            GovRefusal::NodeNameTaken { .. } => "node_name_taken",
            GovRefusal::NodeKeyTaken => "node_key_taken",
            GovRefusal::NodeKeySuite { .. } => "node_key_suite",
            GovRefusal::PowerOutOfRange { .. } => "power_out_of_range",
            GovRefusal::NoPeerId => "no_peer_id",
            GovRefusal::WrongCertificateRole { .. } => "wrong_certificate_role",
            GovRefusal::CertificateForAnotherKey => "certificate_for_another_key",
            GovRefusal::CertificateRevoked => "certificate_revoked",
            GovRefusal::ParamOutOfRange { .. } => "param_out_of_range",
            GovRefusal::BadThreshold => "bad_threshold",
            GovRefusal::MinValidatorsOutOfRange { .. } => "min_validators_out_of_range",
            GovRefusal::BlockLimitsOutOfRange => "block_limits_out_of_range",
            GovRefusal::MaxTxBytesOutOfRange => "max_tx_bytes_out_of_range",
            GovRefusal::BlockBytesOutOfRange => "block_bytes_out_of_range",
            GovRefusal::TimeoutOutOfRange => "timeout_out_of_range",
            GovRefusal::WindowOutOfRange => "window_out_of_range",
            GovRefusal::NoMethod { .. } => "no_method",
            GovRefusal::NoRole { .. } => "no_role",
            GovRefusal::BadReadPolicy { .. } => "bad_read_policy",
            GovRefusal::NoAccount { .. } => "no_account",
            GovRefusal::BadForcedTransfer => "bad_forced_transfer",
            GovRefusal::CertificateFromOtherOrg { .. } => "certificate_from_other_org",
            GovRefusal::CertificateRefused { .. } => "certificate_refused",
            GovRefusal::ContractExists { .. } => "contract_exists",
            GovRefusal::NoContract { .. } => "no_contract",
            GovRefusal::ContractCheckFailed { .. } => "contract_check_failed",
            GovRefusal::ContractInitFailed { .. } => "contract_init_failed",
            GovRefusal::ContractStatusForbids { .. } => "contract_status",
            GovRefusal::ContractLimitsOutOfRange { .. } => "contract_limits_out_of_range",
            GovRefusal::BadContractRule { .. } => "bad_contract_rule",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_listed() {
        for (i, c) in GovRefusal::CODES.iter().enumerate() {
            assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
            assert!(!GovRefusal::CODES[..i].contains(c), "{c} twice");
        }
        let samples = [
            GovRefusal::AlreadyMember { name: "org5".into() },
            GovRefusal::NotOpen { id: 3, state: ProposalState::Expired },
            GovRefusal::ParamOutOfRange { param: ChainParam::MaxBlockTxs },
            GovRefusal::CertificateRefused { status: StatusCode::CertificateRevoked },
            GovRefusal::BadReadPolicy { reason: "empty".into() },
        ];
        for r in &samples {
            assert!(GovRefusal::CODES.contains(&r.code()), "{r:?}");
        }
        assert_eq!(samples[0].to_string(), "org5 is already a member");
        assert_eq!(samples[1].to_string(), "proposal 3 is expired");
        assert_eq!(samples[2].to_string(), "max_block_txs out of range");
    }
}
