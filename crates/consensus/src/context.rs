//! FDL's Malachite [`Context`]: heights, block-hash values, proposals, votes, proposal parts and
//! the validator set.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use fdl_crypto::{Address, Hash, PublicKey, Suite};
use malachitebft_core_types as mc;
use mc::{NilOrVal, Round, SignedExtension, VoteType, VotingPower};

use crate::signing::{FdlPublicKey, FdlScheme};

/// A block height (0 is the genesis state, 1 the first block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's consensus address: FDL's account address of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorAddress(pub Address);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Address for ValidatorAddress {}

/// The value consensus decides: the hash of an FDL block. The block itself travels as proposal
/// parts and is stored by the node, keyed by this hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockValue(pub Hash);

impl fmt::Display for BlockValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Value for BlockValue {
    type Id = BlockValue;

    fn id(&self) -> BlockValue {
        *self
    }
}

/// A proposal: the proposer's claim that `value` is the block for (`height`, `round`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block's hash.
    pub value: BlockValue,
    /// The proof-of-lock round (`Round::Nil` when none).
    pub pol_round: Round,
    /// The proposer.
    pub proposer: ValidatorAddress,
}

impl mc::Proposal<FdlContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockValue {
        &self.value
    }
    fn take_value(self) -> BlockValue {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockValue>,
    /// The voter.
    pub voter: ValidatorAddress,
    /// A vote extension (FDL does not use them; kept for the trait).
    pub extension: Option<SignedExtension<FdlContext>>,
}

// Equality ignores the extension, as the trait requires for write-ahead-log replay.
impl PartialEq for Vote {
    fn eq(&self, o: &Self) -> bool {
        self.vote_type == o.vote_type
            && self.height == o.height
            && self.round == o.round
            && self.value == o.value
            && self.voter == o.voter
    }
}
impl Eq for Vote {}

impl mc::Vote<FdlContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockValue> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockValue> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.voter
    }
    fn extension(&self) -> Option<&SignedExtension<FdlContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<FdlContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<FdlContext>) -> Self {
        Vote { extension: Some(extension), ..self }
    }
}

/// One piece of a streamed block proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    /// Opens the stream: which height, round and proposer the block is for.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Proof-of-lock round of a re-proposal.
        pol_round: Round,
        /// The proposer.
        proposer: ValidatorAddress,
    },
    /// A chunk of the encoded block.
    Data(Bytes),
    /// Closes the stream with the proposer's signature over [`crate::part_signing_bytes`].
    Fin(Bytes),
}

impl mc::ProposalPart<FdlContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// A validator: its key, address and voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// The address (derived from the key).
    pub address: ValidatorAddress,
    /// The consensus key.
    pub public_key: FdlPublicKey,
    /// Voting power.
    pub power: VotingPower,
}

impl Validator {
    /// A validator for `key` with `power`.
    pub fn new(key: PublicKey, power: VotingPower) -> Self {
        Validator { address: ValidatorAddress(key.address()), public_key: FdlPublicKey(key), power }
    }
}

impl mc::Validator<FdlContext> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }
    fn public_key(&self) -> &FdlPublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validator set of a height, sorted by power (descending) then address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// A set from validators in any order; duplicates of an address keep the first.
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by(|a, b| b.power.cmp(&a.power).then(a.address.cmp(&b.address)));
        validators.dedup_by(|a, b| a.address == b.address);
        ValidatorSet { validators: Arc::new(validators) }
    }

    /// The validators in canonical order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<FdlContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.power).fold(0u64, u64::saturating_add)
    }
    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// FDL's consensus context: the chain id and suite every signature is bound to.
#[derive(Clone, Debug)]
pub struct FdlContext {
    /// The chain id (part of every signed consensus message).
    pub chain_id: Arc<str>,
    /// The crypto suite.
    pub suite: Suite,
}

impl FdlContext {
    /// A context for one chain.
    pub fn new(chain_id: &str, suite: Suite) -> Self {
        FdlContext { chain_id: Arc::from(chain_id), suite }
    }
}

/// Round-robin proposer: validator `(height - 1 + round) mod n` in canonical order. Every node
/// computes the same proposer from the same set.
pub fn proposer_index(count: usize, height: Height, round: Round) -> usize {
    if count == 0 {
        return 0;
    }
    let r = u64::from(round.as_u32().unwrap_or(0));
    let i = height.0.saturating_sub(1).wrapping_add(r) % count as u64;
    i as usize
}

impl mc::Context for FdlContext {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = mc::LinearTimeouts;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = FdlScheme;

    fn select_proposer<'a>(&self, set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        let i = proposer_index(set.validators.len(), height, round);
        // The engine never runs a height with an empty set (the node refuses one at start).
        &set.validators[i]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer: address }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockValue>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote { vote_type: VoteType::Prevote, height, round, value, voter: address, extension: None }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockValue>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote { vote_type: VoteType::Precommit, height, round, value, voter: address, extension: None }
    }
}
