//! JSON views of the API's responses, shared by the server and the SDK so that both sides agree
//! on one shape. Amounts are decimal strings (u128 does not fit JSON numbers portably).

use std::collections::BTreeMap;

use fdl_crypto::{Address, Hash, Suite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    Block, BlockHeader, ChainParams, Commit, Encode, Event, GovAction, Payload, Receipt, SignedTx,
    schema::{AddressHex, HashHex, SuiteName},
};

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeaderView {
    /// Block hash.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// Chain id.
    pub chain_id: String,
    /// Height.
    pub height: u64,
    /// Parent hash.
    #[schema(value_type = HashHex)]
    pub parent_hash: Hash,
    /// Timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// Proposer address.
    #[schema(value_type = AddressHex)]
    pub proposer: String,
    /// Transactions in the block.
    pub tx_count: u32,
    /// Transactions root.
    #[schema(value_type = HashHex)]
    pub tx_root: Hash,
    /// State root after the block.
    #[schema(value_type = HashHex)]
    pub state_root: Hash,
    /// Receipts root.
    #[schema(value_type = HashHex)]
    pub receipts_root: Hash,
    /// The canonical header encoding in hex: hash it to check `hash`.
    pub encoded: String,
}

impl HeaderView {
    /// The view of `h` under `suite`.
    pub fn new(h: &BlockHeader, suite: Suite) -> Self {
        HeaderView {
            hash: h.hash(suite),
            chain_id: h.chain_id.clone(),
            height: h.height,
            parent_hash: h.parent_hash,
            timestamp_ms: h.timestamp_ms,
            proposer: h.proposer.to_hex(),
            tx_count: h.tx_count,
            tx_root: h.tx_root,
            state_root: h.state_root,
            receipts_root: h.receipts_root,
            encoded: hex::encode(h.encode()),
        }
    }
}

/// A transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxView {
    /// Transaction id.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// Chain id.
    pub chain_id: String,
    /// Signer public key (hex).
    pub signer: String,
    /// Sender address.
    #[schema(value_type = AddressHex)]
    pub sender: String,
    /// Client nonce.
    pub nonce: u64,
    /// Expiry height.
    pub expiry_height: u64,
    /// `module.method`.
    pub method: String,
    /// Recipient, when the method has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<AddressHex>, nullable = false)]
    pub to: Option<String>,
    /// Amount (decimal string).
    pub amount: String,
    /// Memo, for transfers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub memo: Option<String>,
    /// The hash of the signer's certificate (carried or registered), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<HashHex>, nullable = false)]
    pub certificate: Option<String>,
    /// The payload of a governance or PKI method, as JSON.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub details: Option<serde_json::Value>,
    /// Signature (hex; DER for SM2).
    pub signature: String,
    /// The canonical transaction encoding in hex.
    pub encoded: String,
}

impl TxView {
    /// The view of `tx`.
    pub fn new(tx: &SignedTx) -> Self {
        let mut details = None;
        let (to, amount, memo) = match &tx.body.payload {
            Payload::Transfer { to, amount, memo } => (Some(to.to_hex()), *amount, Some(memo.clone())),
            Payload::Issue { to, amount } => (Some(to.to_hex()), *amount, None),
            Payload::Burn { amount } => (None, *amount, None),
            Payload::Propose { action, deadline, activation_height, note } => {
                details = Some(serde_json::json!({
                    "action": action, "deadline": deadline, "activation_height": activation_height, "note": note
                }));
                (None, 0, None)
            }
            Payload::Vote { proposal, approve } => {
                details = Some(serde_json::json!({ "proposal": proposal, "approve": approve }));
                (None, 0, None)
            }
            Payload::PublishCrl { crl } => {
                details = Some(serde_json::json!({ "crl": hex::encode(crl) }));
                (None, 0, None)
            }
            Payload::Call { contract, version, method, args, fuel } => {
                let args = serde_json::from_str::<serde_json::Value>(args).unwrap_or_else(|_| args.clone().into());
                details = Some(serde_json::json!({
                    "contract": contract, "version": version, "method": method, "args": args, "fuel": fuel
                }));
                (None, 0, None)
            }
            Payload::Deploy { spec } => {
                details = Some(serde_json::json!({
                    "name": spec.name, "vm": spec.vm, "code_size": spec.code.len(),
                    "code_hash": fdl_crypto::hash(tx.body.signer.suite(), &spec.code).to_hex(),
                    "review": spec.review, "access": spec.access, "allow_reentry": spec.allow_reentry,
                    "init_args": spec.init_args,
                }));
                (None, 0, None)
            }
            Payload::EvmCall { contract, version, data, gas } => {
                let selector = data.get(..4).map(|s| format!("0x{}", hex::encode(s)));
                details = Some(serde_json::json!({
                    "contract": contract, "version": version, "selector": selector,
                    "data": format!("0x{}", hex::encode(data)), "gas": gas
                }));
                (None, 0, None)
            }
        };
        TxView {
            hash: tx.id(),
            chain_id: tx.body.chain_id.clone(),
            signer: hex::encode(tx.body.signer.to_bytes()),
            sender: tx.sender().to_hex(),
            nonce: tx.body.nonce,
            expiry_height: tx.body.expiry_height,
            method: tx.body.payload.method().into(),
            to,
            amount: amount.to_string(),
            memo,
            certificate: tx.body.credential.cert_hash(tx.body.signer.suite()).map(|h| h.to_hex()),
            details,
            signature: hex::encode(tx.signature.as_bytes()),
            encoded: hex::encode(tx.encode()),
        }
    }
}

/// A receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptView {
    /// Transaction id.
    #[schema(value_type = HashHex)]
    pub tx_hash: Hash,
    /// Stable status string (`ok`, `insufficient_balance`, ...).
    pub status: String,
    /// Stable numeric status code (0 = ok).
    pub code: u16,
    /// Events.
    pub events: Vec<Event>,
    /// Cost units charged (contract calls: the fuel used).
    pub cost: u64,
    /// A contract call's return value (JSON; a string when the bytes are not JSON), if any. For
    /// an EVM call, `GET /v1/transactions/{hash}` gives its return value decoded with the
    /// contract's ABI (and nothing when it cannot: the bytes are in `output_hex`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub output: Option<serde_json::Value>,
    /// The return data exactly as in the receipt (hex; what the receipts root commits to).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub output_hex: String,
}

/// A contract's return bytes as JSON: parsed when they are JSON, else the text (lossy UTF-8).
pub fn output_json(bytes: &[u8]) -> Option<serde_json::Value> {
    if bytes.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(bytes).unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned().into()))
}

impl ReceiptView {
    /// The view of `r`.
    pub fn new(r: &Receipt) -> Self {
        ReceiptView {
            tx_hash: r.tx_id,
            status: r.status.as_str().into(),
            code: r.status.code(),
            events: r.events.clone(),
            cost: r.cost,
            output: output_json(&r.output),
            output_hex: hex::encode(&r.output),
        }
    }
}

/// One signature of a commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitSigView {
    /// Validator public key (hex).
    pub validator: String,
    /// Validator address.
    #[schema(value_type = AddressHex)]
    pub address: String,
    /// Signature (hex).
    pub signature: String,
}

/// A commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommitView {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Block hash.
    #[schema(value_type = HashHex)]
    pub block_hash: Hash,
    /// Signatures.
    pub signatures: Vec<CommitSigView>,
}

impl CommitView {
    /// The view of `c`.
    pub fn new(c: &Commit) -> Self {
        CommitView {
            height: c.height,
            round: c.round,
            block_hash: c.block_hash,
            signatures: c
                .signatures
                .iter()
                .map(|s| CommitSigView {
                    validator: hex::encode(s.validator.to_bytes()),
                    address: s.validator.address().to_hex(),
                    signature: hex::encode(s.signature.as_bytes()),
                })
                .collect(),
        }
    }
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// The header.
    pub header: HeaderView,
    /// Transactions.
    pub txs: Vec<TxView>,
    /// The commit certificate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub commit: Option<CommitView>,
}

impl BlockView {
    /// The view of `b`.
    pub fn new(b: &Block, commit: Option<&Commit>, suite: Suite) -> Self {
        BlockView {
            header: HeaderView::new(&b.header, suite),
            txs: b.txs.iter().map(TxView::new).collect(),
            commit: commit.map(CommitView::new),
        }
    }
}

/// A transaction's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxStatusView {
    /// Transaction id.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// `pending` or `committed`.
    pub status: String,
    /// Block height, when committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub height: Option<u64>,
    /// Index in the block, when committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub index: Option<u32>,
    /// The transaction, when committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub tx: Option<TxView>,
    /// The receipt, when committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub receipt: Option<ReceiptView>,
    /// The receipt's inclusion proof against the block's receipts root, when committed: the
    /// sibling hashes from its leaf up (`fdl_types::merkle::root_from_path`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Vec<HashHex>>, nullable = false)]
    pub receipt_path: Option<Vec<Hash>>,
}

/// An account with the proof of its state against a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// Address.
    #[schema(value_type = AddressHex)]
    pub address: String,
    /// Balance (decimal string, smallest unit).
    pub balance: String,
    /// Transactions from this account executed so far (its replay state).
    pub sent: u64,
    /// Account type: `normal`, `admin` or `special` (STD-13.2).
    #[serde(default)]
    #[schema(required = true)]
    pub kind: String,
    /// Whether it is frozen.
    #[serde(default)]
    #[schema(required = true)]
    pub frozen: bool,
    /// After a key reset, the height from which the new key may send.
    #[serde(default)]
    #[schema(required = true)]
    pub locked_until: u64,
    /// The institution that registered it (empty until its first certified transaction).
    #[serde(default)]
    #[schema(required = true)]
    pub org: String,
    /// The address of the key that sends for it (absent until registered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AddressHex>, nullable = false)]
    pub key: Option<String>,
    /// Height the state is read at.
    pub height: u64,
    /// The header whose `state_root` the proof is against.
    pub header: HeaderView,
    /// The state key (hex).
    pub state_key: String,
    /// The raw state value (hex), absent for an unknown account.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub value: Option<String>,
    /// The Merkle proof (hex, borsh-encoded sparse Merkle proof).
    pub proof: String,
}

/// Node status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// Chain id.
    pub chain_id: String,
    /// Crypto suite.
    #[schema(value_type = SuiteName)]
    pub suite: Suite,
    /// Latest committed height.
    pub height: u64,
    /// Latest block hash.
    #[schema(value_type = HashHex)]
    pub latest_block_hash: Hash,
    /// Latest block time.
    pub latest_block_time_ms: u64,
    /// This node's id (validator address).
    #[schema(value_type = AddressHex)]
    pub node_id: String,
    /// This node's name.
    pub node_name: String,
    /// Connected peers.
    pub peers: Vec<String>,
    /// Number of validators.
    pub validators: usize,
    /// Transactions in the mempool.
    pub mempool_size: usize,
    /// `validator` or `observer`.
    #[serde(default)]
    #[schema(required = true)]
    pub role: String,
    /// Consensus and sync progress.
    #[serde(default)]
    #[schema(required = true)]
    pub consensus: ConsensusStatusView,
}

/// Consensus and sync progress of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsensusStatusView {
    /// Current round at the next height.
    pub round: u64,
    /// Connected consensus peers.
    pub peers: u64,
    /// Highest height seen from peers.
    pub peer_height: u64,
    /// Blocks behind `peer_height`.
    pub sync_lag: u64,
    /// True while the node is more than two blocks behind.
    pub syncing: bool,
    /// Blocks received through sync since start.
    pub synced_blocks: u64,
    /// Milliseconds from the last block's timestamp to its finalization here.
    pub last_finality_ms: u64,
    /// Equivocations recorded.
    pub evidence: u64,
}

/// A validator that signed two different proposals or votes for one height and round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// The validator's address.
    pub validator: String,
    /// `proposal`, `prevote` or `precommit`.
    pub kind: String,
    /// The two conflicting values (block hashes or `nil`).
    pub values: Vec<String>,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmitView {
    /// Transaction id.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// `pending` or `committed`.
    pub status: String,
    /// Height, when committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub height: Option<u64>,
    /// Receipt, when committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub receipt: Option<ReceiptView>,
}

/// One verdict of a batch submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchItemView {
    /// Transaction id when admitted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<HashHex>, nullable = false)]
    pub hash: Option<Hash>,
    /// Error code when refused.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub code: Option<String>,
    /// Error message when refused.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub message: Option<String>,
}

/// An API error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorView {
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
    /// With `account_not_found`: the empty account and the proof of its absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub account: Option<Box<AccountView>>,
}

/// `POST /v1/transactions/batch`: one verdict per submitted transaction, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResultView {
    /// The verdicts.
    pub results: Vec<BatchItemView>,
}

/// One event in a block message of the WebSocket stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamEventView {
    /// The transaction that emitted it.
    #[schema(value_type = HashHex)]
    pub tx_hash: Hash,
    /// Its kind.
    pub kind: String,
    /// Its attributes, in order.
    pub attrs: Vec<(String, String)>,
}

/// A message of the WebSocket stream `GET /v1/stream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessageView {
    /// A committed block.
    Block {
        /// Its height.
        height: u64,
        /// Its hash.
        #[schema(value_type = HashHex)]
        hash: Hash,
        /// Its header.
        header: Box<HeaderView>,
        /// Its transactions' hashes, in order.
        #[schema(value_type = Vec<HashHex>)]
        tx_hashes: Vec<Hash>,
        /// Its transactions' events (empty unless `?events=true`).
        events: Vec<StreamEventView>,
    },
    /// The subscriber fell behind; this many blocks were skipped.
    Lagged {
        /// Blocks not sent.
        skipped_blocks: u64,
    },
}

/// One validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidatorView {
    /// Name.
    pub name: String,
    /// Public key (hex, canonical bytes).
    pub public_key: String,
    /// Address.
    #[schema(value_type = AddressHex)]
    pub address: String,
    /// Voting power.
    pub power: u64,
}

/// The validator set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidatorsView {
    /// Validators.
    pub validators: Vec<ValidatorView>,
    /// The height whose state lists them (they decide the next block).
    #[serde(default)]
    #[schema(required = true)]
    pub height: u64,
    /// Sum of the voting power.
    pub total_power: u64,
}

/// The chain's genesis document, which a light client checks against the genesis hash it trusts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GenesisView {
    /// The genesis hash ([`crate::Genesis::hash`]).
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// The genesis document, as `fdl init` and `fdl genesis` write it.
    #[schema(value_type = Object)]
    pub genesis: serde_json::Value,
}

/// One state entry with its Merkle proof against a header's state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProvenEntryView {
    /// The state key (hex).
    pub key: String,
    /// The value (hex), absent when the proof shows the key absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub value: Option<String>,
    /// The Merkle proof (hex, as in `AccountView::proof`).
    pub proof: String,
}

/// The state entries the validator set deciding block `height` is computed from, each proven
/// against the state root of block `height - 1` (the set of block `h` is the one in the state
/// after block `h - 1`). A light client recomputes the set from them by the chain's own rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidatorSetProofView {
    /// The block the set decides.
    pub height: u64,
    /// Every state entry the rule reads, in the order it reads them.
    pub entries: Vec<ProvenEntryView>,
}

/// What a certificate says, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertView {
    /// Subject `CN`.
    pub common_name: String,
    /// Subject `O`.
    pub org: String,
    /// The role (`OU`), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub role: Option<String>,
    /// Serial, hex.
    pub serial: String,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
}

/// A node of a member institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberNodeView {
    /// Node name.
    pub name: String,
    /// `validator` or `observer`.
    pub role: String,
    /// Public key, hex.
    pub public_key: String,
    /// Network peer id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub peer_id: Option<String>,
    /// Its certificate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub certificate: Option<CertView>,
}

/// A member institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// Institution name.
    pub name: String,
    /// Its root CA.
    pub ca: CertView,
    /// Its validators and observers.
    pub nodes: Vec<MemberNodeView>,
    /// Whether it holds a governance committee seat.
    #[serde(default)]
    #[schema(required = true)]
    pub committee: bool,
    /// The height it was admitted at (0: genesis).
    #[serde(default)]
    #[schema(required = true)]
    pub since: u64,
}

/// Event kinds that go to the audit log (STD-13.4, STD-16.1): every identity, account,
/// credential, permission and governance change, refusals included.
/// `contract.` covers the lifecycle (STD-12.3), refusals and failures, and contracts' own events
/// (`contract.event`), indexed by contract so they are queryable by contract and time.
pub const AUDIT_PREFIXES: [&str; 10] =
    ["identity.", "account.", "acl.", "gov.", "pki.", "member.", "node.", "param.", "contract.", "api."];

/// Whether an event kind is audited.
pub fn is_audit_kind(kind: &str) -> bool {
    AUDIT_PREFIXES.iter().any(|p| kind.starts_with(p))
}

/// Every kind of audit record: the audited events execution emits, and this node's own
/// `identity.refused_at_admission` and `api.refused` (reads its API refused, STD-16.1). `GET /v1/audit?kind=` takes one of them or one of
/// [`AUDIT_PREFIXES`].
pub const AUDIT_KINDS: [&str; 41] = [
    "identity.registered",
    "identity.refused",
    "identity.refused_at_admission",
    "account.refused",
    "account.frozen",
    "account.unfrozen",
    "account.forced_transfer",
    "account.forced_transfer_failed",
    "account.key_reset",
    "account.kind_set",
    "acl.denied",
    "acl.set",
    "acl.read_policy_set",
    "api.refused",
    "gov.proposed",
    "gov.voted",
    "gov.refused",
    "gov.passed",
    "gov.rejected",
    "gov.applied",
    "gov.failed",
    "pki.crl_published",
    "pki.crl_refused",
    "pki.revoked",
    "member.added",
    "member.removed",
    "member.ca_rotated",
    "node.added",
    "node.removed",
    "node.certificate_rotated",
    "param.set",
    "contract.deployed",
    "contract.upgraded",
    "contract.frozen",
    "contract.unfrozen",
    "contract.retired",
    "contract.access_set",
    "contract.rejected",
    "contract.refused",
    "contract.failed",
    "contract.event",
];

/// Whether `kind` is a filter `GET /v1/audit` knows: an audit kind ([`AUDIT_KINDS`]) or a
/// prefix of them ([`AUDIT_PREFIXES`]).
pub fn is_known_audit_filter(kind: &str) -> bool {
    AUDIT_KINDS.contains(&kind) || AUDIT_PREFIXES.contains(&kind)
}

/// One audit record: an audited event with where and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// Block height (for a refusal at admission: the height at the time).
    pub height: u64,
    /// Block time (for a refusal at admission: the node's clock), ms since the Unix epoch.
    pub time_ms: u64,
    /// The transaction, if the event came from one (governance applied at a block's end has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashHex>, nullable = false)]
    pub tx: Option<Hash>,
    /// Event kind, e.g. `acl.denied`, `account.frozen`, `gov.voted`.
    pub kind: String,
    /// The account concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub account: Option<String>,
    /// The institution concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub org: Option<String>,
    /// The transaction's status code string, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<String>,
    /// All the event's attributes.
    pub attrs: Vec<(String, String)>,
    /// True for a refusal at this node's admission or API (in the node's own store, not on chain).
    #[serde(default)]
    #[schema(required = true)]
    pub local: bool,
}

impl AuditView {
    /// The record of `event` in block `height` at `time_ms`.
    pub fn of_event(height: u64, time_ms: u64, tx: Option<Hash>, status: Option<&str>, event: &Event) -> Self {
        let get = |k: &str| event.attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        AuditView {
            height,
            time_ms,
            tx,
            kind: event.kind.clone(),
            account: get("account"),
            org: get("org"),
            status: status.map(str::to_string),
            attrs: event.attrs.clone(),
            local: false,
        }
    }

    /// The keys the audit log indexes this record by: its account, the account a governance
    /// measure targets (attribute `target`), and its institution.
    pub fn index_keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::with_capacity(3);
        if let Some(a) = &self.account {
            keys.push(audit_account_key(a));
        }
        if let Some(t) = self.target()
            && self.account.as_deref() != Some(t)
        {
            keys.push(audit_account_key(t));
        }
        if let Some(o) = &self.org {
            keys.push(audit_org_key(o));
        }
        if let Some((_, c)) = self.attrs.iter().find(|(k, _)| k == "contract") {
            keys.push(audit_contract_key(c));
        }
        keys
    }
}

impl AuditView {
    /// The account a governance measure targets (attribute `target`), if any.
    pub fn target(&self) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == "target").map(|(_, v)| v.as_str())
    }

    /// Whether the record concerns `account` (hex, with or without `0x`, any case): as its
    /// account or as the target of a measure.
    pub fn concerns(&self, account: &str) -> bool {
        let a = account.trim_start_matches("0x");
        self.account.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(a))
            || self.target().is_some_and(|x| x.eq_ignore_ascii_case(a))
    }
}

/// The audit index key of an account (hex, with or without `0x`, any case).
pub fn audit_account_key(account: &str) -> Vec<u8> {
    let hex = account.trim_start_matches("0x").to_ascii_lowercase();
    let mut k = b"a:".to_vec();
    k.extend_from_slice(hex.as_bytes());
    k
}

/// The audit index key of a contract (its lifecycle, refusals, failures and events).
pub fn audit_contract_key(contract: &str) -> Vec<u8> {
    let mut k = b"c:".to_vec();
    k.extend_from_slice(contract.as_bytes());
    k
}

/// The audit index key of an institution.
pub fn audit_org_key(org: &str) -> Vec<u8> {
    let mut k = b"o:".to_vec();
    k.extend_from_slice(org.as_bytes());
    k
}

/// `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditListView {
    /// Matching records, oldest first.
    pub records: Vec<AuditView>,
    /// True when more matched than the limit.
    pub truncated: bool,
}

/// `GET /v1/certificates/{hash}`: a registered certificate and whether it is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisteredCertView {
    /// The certificate's hash under the chain's suite.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// The account it sends for.
    #[schema(value_type = AddressHex)]
    pub account: Address,
    /// Its institution.
    pub org: String,
    /// Its role.
    pub role: String,
    /// Subject common name.
    pub common_name: String,
    /// Serial number, hex.
    pub serial: String,
    /// Validity start, Unix seconds.
    pub not_before: u64,
    /// Validity end, Unix seconds.
    pub not_after: u64,
    /// The subject key, canonical bytes hex.
    pub public_key: String,
    /// The height it was registered at.
    pub registered: u64,
    /// Its revocation, if revoked.
    #[schema(required = true)]
    pub revoked: Option<RevokedView>,
    /// The certificate, PEM.
    pub pem: String,
}

/// When and how a certificate was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokedView {
    /// The height it took effect at.
    pub height: u64,
    /// `crl` (published by the institution) or `governance:N` (by proposal number).
    pub by: String,
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationView {
    /// The institution whose CA issued it.
    pub org: String,
    /// Its serial number, lower-case hex.
    pub serial: String,
    /// The height it took effect at.
    pub height: u64,
    /// `crl` or `governance:N`.
    pub by: String,
}

/// `GET /v1/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationListView {
    /// The state version read.
    pub height: u64,
    /// The revocations of the page asked for (`from`, `limit`), oldest first.
    pub revocations: Vec<RevocationView>,
}

/// A governance proposal as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// Its number.
    pub id: u64,
    /// What it does.
    pub action: GovAction,
    /// The account that proposed it.
    #[schema(value_type = AddressHex)]
    pub proposer: Address,
    /// The proposer's institution.
    pub org: String,
    /// Free text.
    pub note: String,
    /// The height it was made at.
    pub created: u64,
    /// Last height at which votes count.
    pub deadline: u64,
    /// Height from which it applies.
    pub activation_height: u64,
    /// Votes by institution (`true`: approve).
    pub votes: BTreeMap<String, bool>,
    /// `open`, `expired`, `passed`, `applied`, `failed` or `rejected`, at the height read.
    pub status: String,
    /// When it passed or was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub decided: Option<u64>,
    /// When it was applied (or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub applied: Option<u64>,
    /// Why applying it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure: Option<String>,
}

/// `GET /v1/proposals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProposalListView {
    /// The state version read.
    pub height: u64,
    /// Proposals, newest first.
    pub proposals: Vec<ProposalView>,
}

/// Who may call a method: signers of a listed role from a listed institution (any when `orgs`
/// is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclRuleView {
    /// Roles allowed.
    pub roles: Vec<String>,
    /// Institutions allowed; empty means any.
    pub orgs: Vec<String>,
}

/// The schema of [`AclView::rules`]: a map whose values are a rule or `null` (utoipa cannot derive
/// a map of `Option`s).
fn acl_rules_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::{
        Ref, RefOr, Schema,
        schema::{ObjectBuilder, OneOfBuilder, Type},
    };
    let rule_or_null = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(Ref::from_schema_name(AclRuleView::name()))
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(RefOr::T(Schema::OneOf(rule_or_null))))
        .description(Some("The rule of each native method (`null`: nobody may call it)."))
        .build()
}

/// `GET /v1/acl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AclView {
    /// The state version read.
    pub height: u64,
    /// The rule of each native method (`null`: nobody may call it).
    #[schema(schema_with = acl_rules_schema)]
    pub rules: BTreeMap<String, Option<AclRuleView>>,
}

/// `GET /v1/params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParamsView {
    /// The state version read.
    pub height: u64,
    /// The chain parameters in force.
    pub params: ChainParams,
}

/// `POST /v1/transactions`: one signed transaction, canonical encoding in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The transaction, hex (an optional `0x` prefix is accepted).
    pub tx: String,
}

/// `POST /v1/transactions/batch`: signed transactions, each hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatchRequest {
    /// The transactions, hex.
    pub txs: Vec<String>,
}

/// Filters of `GET /v1/audit`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records concerning this account (address, hex).
    pub account: Option<String>,
    /// Records of this institution.
    pub org: Option<String>,
    /// An event kind, or a prefix ending in `.` (e.g. `account.`).
    pub kind: Option<String>,
    /// From this time (Unix ms, inclusive).
    pub from_ms: Option<u64>,
    /// To this time (Unix ms, inclusive).
    pub to_ms: Option<u64>,
    /// From this height (inclusive).
    pub from_height: Option<u64>,
    /// To this height (inclusive).
    pub to_height: Option<u64>,
    /// At most this many records (the server caps it).
    pub limit: Option<usize>,
    /// Include the queried node's own admission refusals (default true).
    pub local: Option<bool>,
    /// Records of this contract: its lifecycle, refusals, failures and events.
    #[serde(default)]
    pub contract: Option<String>,
}

impl AuditQuery {
    /// The query string (without `?`), values percent-encoded.
    pub fn to_query_string(&self) -> String {
        let mut q = Vec::new();
        for (name, v) in
            [("account", &self.account), ("org", &self.org), ("kind", &self.kind), ("contract", &self.contract)]
        {
            if let Some(v) = v {
                q.push(format!("{name}={}", percent_encode(v)));
            }
        }
        let numbers = [
            ("from_ms", self.from_ms),
            ("to_ms", self.to_ms),
            ("from_height", self.from_height),
            ("to_height", self.to_height),
            ("limit", self.limit.map(|l| l as u64)),
        ];
        for (name, v) in numbers {
            if let Some(v) = v {
                q.push(format!("{name}={v}"));
            }
        }
        if let Some(l) = self.local {
            q.push(format!("local={l}"));
        }
        q.join("&")
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod query_tests {
    use super::*;

    #[test]
    fn audit_queries_encode_every_filter() {
        assert_eq!(AuditQuery::default().to_query_string(), "");
        let q = AuditQuery {
            org: Some("Bank A&B=1".into()),
            kind: Some("account.".into()),
            from_height: Some(3),
            local: Some(false),
            ..AuditQuery::default()
        };
        assert_eq!(q.to_query_string(), "org=Bank%20A%26B%3D1&kind=account.&from_height=3&local=false");
        assert_eq!(percent_encode("银行"), "%E9%93%B6%E8%A1%8C");
    }
}

/// One version of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractVersionView {
    /// The version number (from 1).
    pub version: u32,
    /// The module's hash.
    #[schema(value_type = HashHex)]
    pub code_hash: Hash,
    /// The module's size in bytes.
    pub code_size: u32,
    /// Who deployed it.
    #[schema(value_type = AddressHex)]
    pub deployer: String,
    /// The proposal that installed it (0: a direct deploy).
    pub proposal: u64,
    /// The height it was installed at.
    pub height: u64,
    /// The review report, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::Review>,
    /// Its methods.
    pub methods: Vec<String>,
}

/// A deployed contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    /// Its name.
    pub name: String,
    /// Its engine (`wasm`).
    pub vm: crate::VmKind,
    /// The institution that owns it.
    pub owner: String,
    /// Its contract address (the caller identity it has when it calls another contract).
    #[schema(value_type = AddressHex)]
    pub address: String,
    /// `active`, `frozen` or `retired`.
    pub status: String,
    /// The version calls run by default.
    pub current: u32,
    /// Per-method access rules.
    pub access: Vec<crate::MethodRule>,
    /// Whether calls may re-enter it.
    pub allow_reentry: bool,
    /// The height of its deploy.
    pub created: u64,
    /// The current version's ABI (JSON), for an EVM contract whose deploy carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub abi: Option<serde_json::Value>,
    /// Every version, oldest first (old versions stay stored and callable by number).
    pub versions: Vec<ContractVersionView>,
}

/// A read-only contract call (`POST /v1/contracts/{name}/query`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractQueryRequest {
    /// The method. For an EVM contract: the function's ABI name, its signature
    /// (`transfer(address,uint256)`) or its selector (`0xa9059cbb`).
    #[serde(default)]
    pub method: String,
    /// The arguments (a JSON object; absent: `{}`). For an EVM contract: a JSON array in the
    /// order of the function's parameters, or an object by parameter name, encoded with the
    /// contract's ABI.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub args: Option<serde_json::Value>,
    /// For an EVM contract: the call data (hex), in place of `method` and `args` (for a contract
    /// whose ABI the node does not have).
    #[serde(default)]
    pub data: Option<String>,
    /// The version (absent or 0: the current one).
    #[serde(default)]
    pub version: u32,
    /// The caller the query runs as (an account address; absent: the zero address with no
    /// institution or role). Queries change nothing, so the caller is not authenticated.
    #[serde(default)]
    #[schema(value_type = Option<AddressHex>)]
    pub caller: Option<String>,
    /// The fuel limit (absent or 0: the chain's `max_tx_fuel`); for an EVM contract, the gas
    /// limit (absent or 0: `max_tx_gas`).
    #[serde(default)]
    pub fuel: u64,
}

/// The outcome of a read-only contract call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractQueryView {
    /// The state version it ran against (the latest final height).
    pub height: u64,
    /// Stable status string (`ok`, `contract_failed`, `out_of_fuel`, ...).
    pub status: String,
    /// Stable numeric status code (0 = ok).
    pub code: u16,
    /// The return value (JSON), if any. For an EVM contract, decoded with its ABI: one output
    /// is that value, several an array; integers that fit 64 bits are numbers, larger ones
    /// decimal strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub result: Option<serde_json::Value>,
    /// Events it would have emitted, or why it failed.
    pub events: Vec<Event>,
    /// The fuel it used (for an EVM contract: the gas).
    pub fuel_used: u64,
    /// The raw return data (hex), for an EVM contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_hex: Option<String>,
}

/// What the static checks found in a module (`POST /v1/contracts/check`, `fdl contract check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractCheckView {
    /// Whether every node would accept it at deploy.
    pub ok: bool,
    /// The module's hash under the chain's suite.
    #[schema(value_type = HashHex)]
    pub code_hash: Hash,
    /// Its size in bytes.
    pub code_size: usize,
    /// Its methods (when it passes).
    pub methods: Vec<String>,
    /// Whether it has an `init` entry.
    pub has_init: bool,
    /// Whether it has a `migrate` entry.
    pub has_migrate: bool,
    /// The failed check's stable code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Why it fails, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A value of a contract's storage with its Merkle proof (`GET /v1/contracts/{name}/state/{key}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateValueView {
    /// The contract.
    pub contract: String,
    /// The storage key (hex), as the contract wrote it.
    pub key: String,
    /// Height the state is read at.
    pub height: u64,
    /// The header whose `state_root` the proof is against.
    pub header: HeaderView,
    /// The state key (hex): `cs/{contract}/` followed by the storage key.
    pub state_key: String,
    /// The value (hex), absent when the key is not set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub value: Option<String>,
    /// The Merkle proof (hex, borsh-encoded sparse Merkle proof).
    pub proof: String,
}
