//! Canonical codec properties over every transaction payload (every governance action inside a
//! proposal), every credential form, and receipts, block headers, blocks and commits:
//!
//! * decoding the encoding of an arbitrary value never fails and gives the value back, and the
//!   value re-encodes to the same bytes;
//! * transaction ids and block hashes are stable across the round trip and are the documented
//!   tagged hashes (a carried certificate and its registered hash give the same id);
//! * every strict prefix of an encoding is refused as truncated, and an encoding with bytes
//!   appended is refused with exactly that many trailing bytes;
//! * every length bound is enforced by the decoder (the value at the bound decodes, one more is
//!   refused), although the encoder writes whatever it is given;
//! * arbitrary and mutated bytes never panic a decoder, and whatever decodes re-encodes to the
//!   same bytes; a mutated transaction never verifies.
//!
//! Every enum the strategies build has an exhaustive `match` in `variant names` below, with no
//! wildcard arm: a new variant does not compile until it is named there, and then
//! `strategies_cover_every_variant` fails until a strategy generates it (it compares the
//! variants generated with the tags the decoder knows).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{collections::BTreeSet, fmt::Debug, sync::LazyLock};

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite, hash_tagged};
use fdl_types::{
    Block, BlockHeader, Commit, CommitSig, Credential, Decode, DecodeError, DeploySpec, Encode, Event, GovAction,
    MethodRule, NodeRole, NodeSpec, Payload, Receipt, Review, SignedTx, StatusCode, TxBody, UpgradeSpec, VmKind,
    block::{BLOCK_TAG, MAX_COMMIT_SIGS, MAX_TX_BYTES_HARD},
    cert_hash,
    contract::{MAX_ARGS_LEN, MAX_CODE_LEN, MAX_REVIEW_AUTHOR},
    gov::{MAX_ACL_ENTRIES, MAX_GOV_ADDR, MAX_GOV_NAME},
    receipt::{MAX_ATTRS, MAX_EVENT_FIELD, MAX_EVENTS},
    tx::{MAX_CERT_LEN, MAX_CHAIN_ID_LEN, MAX_CRL_LEN, MAX_MEMO_LEN, TX_ID_TAG},
};
use proptest::{
    prelude::*,
    sample::Index,
    strategy::{BoxedStrategy, ValueTree},
    test_runner::TestRunner,
};

/// The bound on a node entry's public key (`gov.rs` keeps it private); `bounds_are_enforced`
/// checks that it is the decoder's.
const NODE_KEY_MAX: usize = 128;

// ---- variant names ---------------------------------------------------------------------------
// No wildcard arms: a new variant is a compile error here until it is named.

fn payload_variant(p: &Payload) -> &'static str {
    match p {
        Payload::Transfer { .. } => "transfer",
        Payload::Issue { .. } => "issue",
        Payload::Burn { .. } => "burn",
        Payload::Propose { .. } => "propose",
        Payload::Vote { .. } => "vote",
        Payload::PublishCrl { .. } => "publish_crl",
        Payload::Call { .. } => "call",
        Payload::Deploy { .. } => "deploy",
        Payload::EvmCall { .. } => "evm_call",
    }
}

fn gov_variant(a: &GovAction) -> &'static str {
    match a {
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

fn credential_variant(c: &Credential) -> &'static str {
    match c {
        Credential::None => "none",
        Credential::Certificate(_) => "certificate",
        Credential::Registered(_) => "registered",
    }
}

fn role_variant(r: NodeRole) -> &'static str {
    match r {
        NodeRole::Validator => "validator",
        NodeRole::Observer => "observer",
    }
}

fn status_variant(s: StatusCode) -> &'static str {
    match s {
        StatusCode::Ok
        | StatusCode::InsufficientBalance
        | StatusCode::ZeroAmount
        | StatusCode::Overflow
        | StatusCode::Unauthorized
        | StatusCode::SelfTransfer
        | StatusCode::CertificateRequired
        | StatusCode::CertificateUnknown
        | StatusCode::CertificateRevoked
        | StatusCode::CertificateExpired
        | StatusCode::CertificateInvalid
        | StatusCode::AccountFrozen
        | StatusCode::AccountLocked
        | StatusCode::PermissionDenied
        | StatusCode::ProposalInvalid
        | StatusCode::ContractFailed
        | StatusCode::OutOfFuel
        | StatusCode::UnknownContract
        | StatusCode::UnknownMethod
        | StatusCode::ContractFrozen
        | StatusCode::ContractRetired
        | StatusCode::BlockFuelExhausted
        | StatusCode::ContractRejected => s.as_str(),
    }
}

// ---- strategies ------------------------------------------------------------------------------

/// Signers of both suites (fixed, so that failures reproduce).
static KEYS: LazyLock<Vec<KeyPair>> = LazyLock::new(|| {
    vec![
        KeyPair::sm2_from_scalar(&[0x11; 32]).unwrap(),
        KeyPair::sm2_from_scalar(&[0x22; 32]).unwrap(),
        KeyPair::ed25519_from_seed(&[1; 32]),
        KeyPair::ed25519_from_seed(&[2; 32]),
    ]
});

fn key() -> impl Strategy<Value = &'static KeyPair> {
    any::<Index>().prop_map(|i| &KEYS[i.index(KEYS.len())])
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn fit(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

/// Text of at most `max` bytes: any characters (multi-byte and control ones included), empty,
/// or exactly `max` bytes long.
fn text(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::collection::vec(any::<char>(), 0..24).prop_map(move |c| fit(c.into_iter().collect(), max)),
        1 => Just(String::new()),
        1 => prop::collection::vec(any::<char>(), max..=max).prop_map(move |c| {
            // Pad to exactly `max` bytes after cutting at a character boundary.
            let mut s = fit(c.into_iter().collect(), max);
            while s.len() < max {
                s.push('x');
            }
            s
        }),
    ]
    .boxed()
}

/// Bytes of at most `max`: short, empty, or exactly `max` long.
fn blob(max: usize) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..96),
        1 => Just(Vec::new()),
        1 => any::<u8>().prop_map(move |b| vec![b; max]),
    ]
    .boxed()
}

fn node_role() -> impl Strategy<Value = NodeRole> {
    prop_oneof![Just(NodeRole::Validator), Just(NodeRole::Observer)]
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        (text(MAX_GOV_NAME), text(MAX_GOV_NAME), node_role(), blob(NODE_KEY_MAX), any::<u64>()),
        (text(MAX_GOV_ADDR), text(MAX_GOV_ADDR), text(MAX_GOV_ADDR), blob(MAX_CERT_LEN)),
    )
        .prop_map(|((name, org, role, public_key, power), (peer_id, p2p, rpc, certificate))| NodeSpec {
            name,
            org,
            role,
            public_key,
            power,
            peer_id,
            p2p,
            rpc,
            certificate,
        })
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => prop::collection::vec(text(MAX_GOV_NAME), 0..4),
        1 => prop::collection::vec(text(MAX_GOV_NAME), MAX_ACL_ENTRIES..=MAX_ACL_ENTRIES),
    ]
}

/// A contract name of the decoder's form.
fn contract_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,63}"
}

fn method_rule() -> impl Strategy<Value = MethodRule> {
    (
        "[a-z_][a-z0-9_]{0,63}|\\*|0x[0-9a-f]{8}|[A-Za-z_$][A-Za-z0-9_$]{0,20}",
        names(),
        names(),
        prop::collection::vec(address(), 0..3),
    )
        .prop_map(|(method, roles, orgs, accounts)| MethodRule { method, roles, orgs, accounts })
}

fn review() -> impl Strategy<Value = Option<Review>> {
    prop::option::of((hash(), text(MAX_REVIEW_AUTHOR)).prop_map(|(hash, author)| Review { hash, author }))
}

fn deploy_spec() -> impl Strategy<Value = DeploySpec> {
    (
        contract_name(),
        blob(MAX_CODE_LEN),
        review(),
        prop::collection::vec(method_rule(), 0..3),
        any::<bool>(),
        text(MAX_ARGS_LEN),
        prop::option::of(text(64)),
    )
        .prop_map(|(name, code, review, access, allow_reentry, init_args, abi)| DeploySpec {
            name,
            vm: if abi.is_some() { VmKind::Evm } else { VmKind::Wasm },
            code,
            review,
            access,
            allow_reentry,
            init_args,
            abi: abi.unwrap_or_default(),
        })
}

/// Every governance action (see `gov_variant`).
fn gov_action() -> BoxedStrategy<GovAction> {
    let name = || text(MAX_GOV_NAME);
    prop_oneof![
        (name(), blob(MAX_CERT_LEN), any::<bool>()).prop_map(|(name, ca_cert, committee)| GovAction::AddMember {
            name,
            ca_cert,
            committee
        }),
        name().prop_map(|name| GovAction::RemoveMember { name }),
        node_spec().prop_map(|node| GovAction::AddNode { node }),
        name().prop_map(|name| GovAction::RemoveNode { name }),
        (name(), blob(MAX_CERT_LEN)).prop_map(|(name, certificate)| GovAction::RotateNodeCert { name, certificate }),
        (name(), blob(MAX_CERT_LEN)).prop_map(|(org, ca_cert)| GovAction::RotateCa { org, ca_cert }),
        (name(), name()).prop_map(|(org, serial)| GovAction::RevokeCert { org, serial }),
        (prop::sample::select(fdl_types::chain_param::TABLE.map(|d| d.param).to_vec()), any::<u64>())
            .prop_map(|(name, value)| GovAction::SetParam { name, value }),
        (name(), names(), names()).prop_map(|(method, roles, orgs)| GovAction::SetAcl { method, roles, orgs }),
        address().prop_map(|account| GovAction::Freeze { account }),
        address().prop_map(|account| GovAction::Unfreeze { account }),
        (address(), address(), any::<u128>()).prop_map(|(from, to, amount)| GovAction::ForcedTransfer {
            from,
            to,
            amount
        }),
        (address(), blob(MAX_CERT_LEN)).prop_map(|(account, certificate)| GovAction::ResetKey { account, certificate }),
        (address(), prop::sample::select(fdl_types::AccountKind::ALL.to_vec()))
            .prop_map(|(account, kind)| GovAction::SetAccountKind { account, kind }),
        deploy_spec().prop_map(|spec| GovAction::DeployContract { spec }),
        (contract_name(), blob(MAX_CODE_LEN), review(), text(MAX_ARGS_LEN), text(64)).prop_map(
            |(name, code, review, migrate_args, abi)| GovAction::UpgradeContract {
                spec: UpgradeSpec { name, code, review, migrate_args, abi }
            }
        ),
        contract_name().prop_map(|name| GovAction::FreezeContract { name }),
        contract_name().prop_map(|name| GovAction::UnfreezeContract { name }),
        contract_name().prop_map(|name| GovAction::RetireContract { name }),
        (contract_name(), prop::collection::vec(method_rule(), 0..3), any::<bool>())
            .prop_map(|(name, access, allow_reentry)| GovAction::SetContractAccess { name, access, allow_reentry }),
        (
            prop::sample::select(fdl_types::ReadResource::ALL.to_vec()),
            prop::sample::subsequence(vec!["public", "member", "admin", "auditor", "regulator", "client"], 1..6)
        )
            .prop_map(|(resource, allow)| GovAction::SetReadPolicy {
                resource,
                allow: allow.into_iter().map(String::from).collect()
            }),
    ]
    .boxed()
}

/// Every payload (see `payload_variant`), with every governance action inside `Propose`.
fn payload() -> BoxedStrategy<Payload> {
    prop_oneof![
        1 => (address(), any::<u128>(), text(MAX_MEMO_LEN)).prop_map(|(to, amount, memo)| Payload::Transfer {
            to,
            amount,
            memo
        }),
        1 => (address(), any::<u128>()).prop_map(|(to, amount)| Payload::Issue { to, amount }),
        1 => any::<u128>().prop_map(|amount| Payload::Burn { amount }),
        // Weighted so that each governance action comes up about as often as a bank payload.
        4 => (gov_action(), any::<u64>(), any::<u64>(), text(MAX_MEMO_LEN)).prop_map(
            |(action, deadline, activation_height, note)| Payload::Propose { action, deadline, activation_height, note }
        ),
        1 => (any::<u64>(), any::<bool>()).prop_map(|(proposal, approve)| Payload::Vote { proposal, approve }),
        1 => blob(MAX_CRL_LEN).prop_map(|crl| Payload::PublishCrl { crl }),
        1 => (contract_name(), any::<u32>(), "[a-z_][a-z0-9_]{0,63}", text(MAX_ARGS_LEN), any::<u64>()).prop_map(
            |(contract, version, method, args, fuel)| Payload::Call { contract, version, method, args, fuel }
        ),
        1 => deploy_spec().prop_map(|spec| Payload::Deploy { spec }),
        1 => (contract_name(), any::<u32>(), blob(fdl_types::contract::MAX_CALLDATA_LEN), any::<u64>())
            .prop_map(|(contract, version, data, gas)| Payload::EvmCall { contract, version, data, gas }),
    ]
    .boxed()
}

/// Every credential form (see `credential_variant`).
fn credential() -> BoxedStrategy<Credential> {
    prop_oneof![
        Just(Credential::None),
        blob(MAX_CERT_LEN).prop_map(Credential::Certificate),
        hash().prop_map(Credential::Registered),
    ]
    .boxed()
}

fn body_with(
    signer: &KeyPair,
    chain_id: String,
    credential: Credential,
    nonce: u64,
    expiry: u64,
    p: Payload,
) -> TxBody {
    TxBody { chain_id, signer: signer.public_key(), credential, nonce, expiry_height: expiry, payload: p }
}

/// A signed transaction of either suite with any credential and payload.
fn signed_tx() -> BoxedStrategy<SignedTx> {
    (key(), text(MAX_CHAIN_ID_LEN), credential(), any::<u64>(), any::<u64>(), payload())
        .prop_map(|(k, chain, cred, nonce, expiry, p)| body_with(k, chain, cred, nonce, expiry, p).sign(k).unwrap())
        .boxed()
}

fn header(txs: &[SignedTx], suite: Suite) -> impl Strategy<Value = BlockHeader> + use<> {
    let tx_count = u32::try_from(txs.len()).unwrap();
    let tx_root = Block::compute_tx_root(suite, txs);
    (text(MAX_CHAIN_ID_LEN), any::<u64>(), hash(), any::<u64>(), address(), hash(), hash()).prop_map(
        move |(chain_id, height, parent_hash, timestamp_ms, proposer, state_root, receipts_root)| BlockHeader {
            chain_id,
            height,
            parent_hash,
            timestamp_ms,
            proposer,
            tx_count,
            tx_root,
            state_root,
            receipts_root,
        },
    )
}

/// A block of up to three arbitrary transactions (each small enough for a block).
fn block() -> BoxedStrategy<(Block, Suite)> {
    let fits = signed_tx().prop_filter("fits in a block", |tx| tx.encode().len() <= MAX_TX_BYTES_HARD);
    (prop::collection::vec(fits, 0..4), prop_oneof![Just(Suite::Sm), Just(Suite::Intl)])
        .prop_flat_map(|(txs, suite)| {
            header(&txs, suite).prop_map(move |header| (Block { header, txs: txs.clone() }, suite))
        })
        .boxed()
}

fn commit() -> BoxedStrategy<Commit> {
    let sig = (key(), prop::collection::vec(any::<u8>(), 0..64))
        .prop_map(|(k, msg)| CommitSig { validator: k.public_key(), signature: k.sign(&msg).unwrap() });
    (any::<u64>(), any::<u32>(), hash(), prop::collection::vec(sig, 0..4))
        .prop_map(|(height, round, block_hash, signatures)| Commit { height, round, block_hash, signatures })
        .boxed()
}

fn all_statuses() -> Vec<StatusCode> {
    vec![
        StatusCode::Ok,
        StatusCode::InsufficientBalance,
        StatusCode::ZeroAmount,
        StatusCode::Overflow,
        StatusCode::Unauthorized,
        StatusCode::SelfTransfer,
        StatusCode::CertificateRequired,
        StatusCode::CertificateUnknown,
        StatusCode::CertificateRevoked,
        StatusCode::CertificateExpired,
        StatusCode::CertificateInvalid,
        StatusCode::AccountFrozen,
        StatusCode::AccountLocked,
        StatusCode::PermissionDenied,
        StatusCode::ProposalInvalid,
        StatusCode::ContractFailed,
        StatusCode::OutOfFuel,
        StatusCode::UnknownContract,
        StatusCode::UnknownMethod,
        StatusCode::ContractFrozen,
        StatusCode::ContractRetired,
        StatusCode::BlockFuelExhausted,
        StatusCode::ContractRejected,
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let field = || text(MAX_EVENT_FIELD);
    (field(), prop::collection::vec((field(), field()), 0..4)).prop_map(|(kind, attrs)| Event { kind, attrs })
}

fn receipt() -> BoxedStrategy<Receipt> {
    (
        hash(),
        prop::sample::select(all_statuses()),
        prop::collection::vec(event(), 0..4),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(tx_id, status, events, cost, output)| Receipt { tx_id, status, events, cost, output })
        .boxed()
}

// ---- the codec properties, for any type ------------------------------------------------------

/// Where to cut an encoding of `len` bytes: everywhere when short, else the ends and `picks`.
fn cut_points(len: usize, picks: &[Index]) -> Vec<usize> {
    if len <= 512 {
        return (0..len).collect();
    }
    let mut cuts: Vec<usize> = picks.iter().map(|i| i.index(len)).collect();
    cuts.extend([0, 1, len / 2, len - 1]);
    cuts
}

/// Round trip, canonical re-encoding, refused truncations and refused extensions.
fn codec_laws<T: Encode + Decode + PartialEq + Debug>(
    v: &T,
    picks: &[Index],
    extra: &[u8],
) -> Result<Vec<u8>, TestCaseError> {
    let bytes = v.encode();
    let back = T::decode(&bytes).map_err(|e| TestCaseError::fail(format!("the encoding does not decode: {e}")))?;
    prop_assert_eq!(&back, v);
    prop_assert_eq!(back.encode(), bytes.clone(), "re-encoding differs");
    for cut in cut_points(bytes.len(), picks) {
        match T::decode(&bytes[..cut]) {
            Err(DecodeError::Eof { .. } | DecodeError::TooLong { .. }) => {}
            other => prop_assert!(false, "prefix of {} of {} bytes: {:?}", cut, bytes.len(), other),
        }
    }
    if !extra.is_empty() {
        let mut longer = bytes.clone();
        longer.extend_from_slice(extra);
        prop_assert_eq!(T::decode(&longer), Err(DecodeError::Trailing(extra.len())));
    }
    Ok(bytes)
}

/// Mutated bytes never panic the decoder; what decodes re-encodes to the mutated bytes.
fn canonical_after_mutation<T: Encode + Decode>(bytes: &[u8], at: Index, xor: u8) -> Result<Option<T>, TestCaseError> {
    let mut m = bytes.to_vec();
    if m.is_empty() {
        return Ok(None);
    }
    let i = at.index(m.len());
    m[i] ^= xor.max(1);
    match T::decode(&m) {
        Ok(v) => {
            prop_assert_eq!(v.encode(), m, "a mutated encoding decoded to a value that re-encodes differently");
            Ok(Some(v))
        }
        Err(_) => Ok(None),
    }
}

fn extra() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..9)
}

fn picks() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 24)
}

/// The id's definition: the tagged hash of the body with a carried certificate replaced by its
/// registered hash.
fn expected_id(body: &TxBody) -> Hash {
    let suite = body.signer.suite();
    let credential = match &body.credential {
        Credential::Certificate(der) => Credential::Registered(cert_hash(suite, der)),
        other => other.clone(),
    };
    hash_tagged(suite, TX_ID_TAG, &TxBody { credential, ..body.clone() }.encode())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn tx_round_trips_with_a_stable_id(
        tx in signed_tx(), picks in picks(), extra in extra(), at in any::<Index>(), xor in any::<u8>(),
    ) {
        let bytes = codec_laws(&tx, &picks, &extra)?;
        let back = SignedTx::decode(&bytes).unwrap();
        prop_assert!(back.verify().is_ok());
        prop_assert_eq!(back.id(), tx.id());
        prop_assert_eq!(tx.id(), tx.body.id());
        prop_assert_eq!(tx.id(), expected_id(&tx.body));
        // The body alone has the same laws, and the signature is not part of the id.
        codec_laws(&tx.body, &picks, &extra)?;
        let k = KEYS.iter().find(|k| k.public_key() == tx.body.signer).unwrap();
        let other_sig = k.sign(b"something else").unwrap();
        prop_assert_eq!(SignedTx::new(tx.body.clone(), other_sig).id(), tx.id());
        // The id changes with the body.
        let bumped = TxBody { nonce: tx.body.nonce.wrapping_add(1), ..tx.body.clone() };
        prop_assert_ne!(bumped.id(), tx.id());
        // A mutated transaction never verifies.
        if let Some(m) = canonical_after_mutation::<SignedTx>(&bytes, at, xor)? {
            prop_assert!(m.verify().is_err(), "a mutated transaction verified");
        }
    }

    #[test]
    fn a_carried_certificate_and_its_hash_give_the_same_id(
        k in key(), der in blob(MAX_CERT_LEN), nonce in any::<u64>(), p in payload(),
    ) {
        let suite = k.suite();
        let carried = body_with(k, "props".into(), Credential::Certificate(der.clone()), nonce, 9, p.clone());
        let hashed = Credential::Registered(cert_hash(suite, &der));
        let registered = body_with(k, "props".into(), hashed, nonce, 9, p.clone());
        let none = body_with(k, "props".into(), Credential::None, nonce, 9, p);
        prop_assert_eq!(carried.id(), registered.id());
        prop_assert_ne!(carried.encode(), registered.encode());
        prop_assert_ne!(none.id(), carried.id());
        for b in [carried, registered, none] {
            let tx = b.sign(k).unwrap();
            prop_assert_eq!(SignedTx::decode(&tx.encode()).unwrap().id(), tx.id());
        }
    }

    #[test]
    fn block_round_trips_with_a_stable_hash(
        (block, suite) in block(), picks in picks(), extra in extra(), at in any::<Index>(), xor in any::<u8>(),
    ) {
        let bytes = codec_laws(&block, &picks, &extra)?;
        codec_laws(&block.header, &picks, &extra)?;
        let back = Block::decode(&bytes).unwrap();
        let h = block.header.hash(suite);
        prop_assert_eq!(back.header.hash(suite), h);
        prop_assert_eq!(h, hash_tagged(suite, BLOCK_TAG, &block.header.encode()));
        prop_assert_eq!(Block::compute_tx_root(suite, &back.txs), back.header.tx_root);
        for (a, b) in back.txs.iter().zip(&block.txs) {
            prop_assert_eq!(a.id(), b.id());
            prop_assert!(a.verify().is_ok());
        }
        // A header that miscounts its transactions is refused.
        let miscounted = Block {
            header: BlockHeader { tx_count: block.header.tx_count.wrapping_add(1), ..block.header.clone() },
            txs: block.txs.clone(),
        };
        let refused = matches!(Block::decode(&miscounted.encode()), Err(DecodeError::Invalid { what: "block", .. }));
        prop_assert!(refused);
        canonical_after_mutation::<Block>(&bytes, at, xor)?;
    }

    #[test]
    fn commit_round_trips(c in commit(), picks in picks(), extra in extra(), at in any::<Index>(), xor in any::<u8>()) {
        let bytes = codec_laws(&c, &picks, &extra)?;
        canonical_after_mutation::<Commit>(&bytes, at, xor)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn payload_round_trips(
        p in payload(), picks in picks(), extra in extra(), at in any::<Index>(), xor in any::<u8>(),
    ) {
        let bytes = codec_laws(&p, &picks, &extra)?;
        canonical_after_mutation::<Payload>(&bytes, at, xor)?;
    }

    #[test]
    fn gov_action_round_trips_in_binary_and_json(
        a in gov_action(), picks in picks(), extra in extra(), at in any::<Index>(), xor in any::<u8>(),
    ) {
        let bytes = codec_laws(&a, &picks, &extra)?;
        canonical_after_mutation::<GovAction>(&bytes, at, xor)?;
        if let GovAction::AddNode { node } = &a {
            codec_laws(node, &picks, &extra)?;
        }
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<GovAction>(&json).unwrap(), a);
    }

    #[test]
    fn receipt_round_trips_in_binary_and_json(
        r in receipt(), picks in picks(), extra in extra(), at in any::<Index>(), xor in any::<u8>(),
    ) {
        let bytes = codec_laws(&r, &picks, &extra)?;
        canonical_after_mutation::<Receipt>(&bytes, at, xor)?;
        let root = Block::compute_receipts_root(Suite::Sm, std::slice::from_ref(&r));
        let back = Receipt::decode(&bytes).unwrap();
        prop_assert_eq!(Block::compute_receipts_root(Suite::Sm, &[back]), root);
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(serde_json::from_str::<Receipt>(&json).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_is_canonical(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        tag in 0u8..16,
    ) {
        fn check<T: Encode + Decode>(b: &[u8]) -> Result<(), TestCaseError> {
            if let Ok(v) = T::decode(b) {
                prop_assert_eq!(v.encode(), b);
            }
            Ok(())
        }
        // As they come, and behind a tag byte the enum decoders know (so that they get past it).
        let mut tagged = vec![tag];
        tagged.extend_from_slice(&bytes);
        for b in [&bytes, &tagged] {
            check::<SignedTx>(b)?;
            check::<TxBody>(b)?;
            check::<Payload>(b)?;
            check::<GovAction>(b)?;
            check::<NodeSpec>(b)?;
            check::<Block>(b)?;
            check::<BlockHeader>(b)?;
            check::<Commit>(b)?;
            check::<Receipt>(b)?;
        }
    }
}

// ---- coverage of the variants ----------------------------------------------------------------

/// The distinct names `name` gives to values of `s` (it returns `None` for values it skips),
/// sampling until `want` are seen or the budget is spent.
fn distinct<T: Debug>(
    s: impl Strategy<Value = T>,
    name: impl Fn(&T) -> Option<&'static str>,
    want: usize,
) -> BTreeSet<&'static str> {
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..20_000 {
        if seen.len() >= want {
            break;
        }
        seen.extend(name(&s.new_tree(&mut runner).unwrap().current()));
    }
    seen
}

/// How many tags the decoder accepts: `refused(tag)` is true when it says the tag is unknown.
fn known_tags(refused: impl Fn(u8) -> bool) -> usize {
    (0..=u8::MAX).filter(|t| !refused(*t)).count()
}

fn unknown(r: Result<impl Debug, DecodeError>, field: &str) -> bool {
    matches!(r, Err(DecodeError::BadTag { what, .. }) if what == field)
}

#[test]
fn strategies_cover_every_variant() {
    let payloads = known_tags(|t| unknown(Payload::decode(&[t]), "payload kind"));
    let actions = known_tags(|t| unknown(GovAction::decode(&[t]), "gov action"));
    // A node entry with an empty name and institution, cut after its role byte.
    let roles = known_tags(|t| unknown(NodeSpec::decode(&[0, 0, 0, 0, 0, 0, 0, 0, t]), "node.role"));
    // A transaction body cut after its credential tag.
    let body = body_with(&KEYS[0], "c".into(), Credential::None, 0, 0, Payload::Burn { amount: 0 });
    let at = 2 + 4 + body.chain_id.len() + 4 + body.signer.to_bytes().len();
    let credentials = known_tags(|t| {
        let mut b = body.encode()[..at].to_vec();
        b.push(t);
        unknown(TxBody::decode(&b), "credential kind")
    });
    let statuses = (0..=u16::MAX).filter_map(StatusCode::from_code).count();
    assert_eq!((payloads, actions, roles, credentials, statuses), (9, 21, 2, 3, 23), "the decoder's tags");

    let seen = distinct(payload(), |p| Some(payload_variant(p)), payloads);
    assert_eq!(seen.len(), payloads, "payload variants generated: {seen:?}");
    let proposed = |p: &Payload| match p {
        Payload::Propose { action, .. } => Some(gov_variant(action)),
        _ => None,
    };
    let seen = distinct(payload(), proposed, actions);
    assert_eq!(seen.len(), actions, "governance actions generated inside Propose: {seen:?}");
    let seen = distinct(gov_action(), |a| Some(gov_variant(a)), actions);
    assert_eq!(seen.len(), actions, "governance actions generated: {seen:?}");
    let node_role = |a: &GovAction| match a {
        GovAction::AddNode { node } => Some(role_variant(node.role)),
        _ => None,
    };
    let seen = distinct(gov_action(), node_role, roles);
    assert_eq!(seen.len(), roles, "node roles generated: {seen:?}");
    let seen = distinct(credential(), |c| Some(credential_variant(c)), credentials);
    assert_eq!(seen.len(), credentials, "credential forms generated: {seen:?}");
    let seen = distinct(receipt(), |r| Some(status_variant(r.status)), statuses);
    assert_eq!(seen.len(), statuses, "statuses generated: {seen:?}");
    // And signed transactions carry every credential form and payload.
    let seen = distinct(signed_tx(), |t| Some(credential_variant(&t.body.credential)), credentials);
    assert_eq!(seen.len(), credentials, "credential forms in signed transactions: {seen:?}");
    let seen = distinct(signed_tx(), |t| Some(payload_variant(&t.body.payload)), payloads);
    assert_eq!(seen.len(), payloads, "payloads in signed transactions: {seen:?}");
}

// ---- bounds ----------------------------------------------------------------------------------

/// Decodes `at` (the value with a field at its bound) and refuses `over` (one past it) as too
/// long.
fn bound<T: Encode + Decode + PartialEq + Debug>(what: &str, at: T, over: T) {
    assert_eq!(T::decode(&at.encode()).as_ref(), Ok(&at), "{what} at its bound");
    match T::decode(&over.encode()) {
        Err(DecodeError::TooLong { .. }) => {}
        other => panic!("{what} past its bound: {other:?}"),
    }
}

#[test]
fn bounds_are_enforced_by_the_decoder() {
    let k = &KEYS[2];
    let tx = |chain_id: String, credential: Credential, p: Payload| {
        body_with(k, chain_id, credential, 1, 2, p).sign(k).unwrap()
    };
    let burn = || Payload::Burn { amount: 1 };
    let s = |n: usize| "s".repeat(n);
    let b = |n: usize| vec![0x30; n];
    bound(
        "chain id",
        tx(s(MAX_CHAIN_ID_LEN), Credential::None, burn()),
        tx(s(MAX_CHAIN_ID_LEN + 1), Credential::None, burn()),
    );
    bound(
        "carried certificate",
        tx(s(1), Credential::Certificate(b(MAX_CERT_LEN)), burn()),
        tx(s(1), Credential::Certificate(b(MAX_CERT_LEN + 1)), burn()),
    );
    let transfer = |memo| Payload::Transfer { to: Address([1; 20]), amount: 1, memo };
    bound("memo", transfer(s(MAX_MEMO_LEN)), transfer(s(MAX_MEMO_LEN + 1)));
    let propose = |action, note| Payload::Propose { action, deadline: 1, activation_height: 0, note };
    let remove = |name| GovAction::RemoveMember { name };
    bound("proposal note", propose(remove(s(1)), s(MAX_MEMO_LEN)), propose(remove(s(1)), s(MAX_MEMO_LEN + 1)));
    bound("crl", Payload::PublishCrl { crl: b(MAX_CRL_LEN) }, Payload::PublishCrl { crl: b(MAX_CRL_LEN + 1) });
    bound("member name", remove(s(MAX_GOV_NAME)), remove(s(MAX_GOV_NAME + 1)));
    let ca = |ca_cert| GovAction::RotateCa { org: s(1), ca_cert };
    bound("ca certificate", ca(b(MAX_CERT_LEN)), ca(b(MAX_CERT_LEN + 1)));
    let acl = |n| GovAction::SetAcl { method: s(1), roles: vec![s(1); n], orgs: vec![] };
    bound("acl entries", acl(MAX_ACL_ENTRIES), acl(MAX_ACL_ENTRIES + 1));
    let node = NodeSpec {
        name: s(1),
        org: s(1),
        role: NodeRole::Observer,
        public_key: b(1),
        power: 0,
        peer_id: s(1),
        p2p: s(1),
        rpc: s(1),
        certificate: b(1),
    };
    bound(
        "node key",
        NodeSpec { public_key: b(NODE_KEY_MAX), ..node.clone() },
        NodeSpec { public_key: b(NODE_KEY_MAX + 1), ..node.clone() },
    );
    bound(
        "node address",
        NodeSpec { rpc: s(MAX_GOV_ADDR), ..node.clone() },
        NodeSpec { rpc: s(MAX_GOV_ADDR + 1), ..node.clone() },
    );
    bound(
        "node certificate",
        NodeSpec { certificate: b(MAX_CERT_LEN), ..node.clone() },
        NodeSpec { certificate: b(MAX_CERT_LEN + 1), ..node },
    );
    let receipt = |events| Receipt { tx_id: Hash::ZERO, status: StatusCode::Ok, events, cost: 0, output: vec![] };
    let ev = |attrs, field: usize| Event { kind: s(field), attrs: vec![(s(field), s(field)); attrs] };
    bound("events", receipt(vec![ev(0, 1); MAX_EVENTS]), receipt(vec![ev(0, 1); MAX_EVENTS + 1]));
    bound("event attributes", receipt(vec![ev(MAX_ATTRS, 1)]), receipt(vec![ev(MAX_ATTRS + 1, 1)]));
    bound("event fields", receipt(vec![ev(1, MAX_EVENT_FIELD)]), receipt(vec![ev(1, MAX_EVENT_FIELD + 1)]));
    let sig = CommitSig { validator: k.public_key(), signature: k.sign(b"c").unwrap() };
    let commit = |n| Commit { height: 1, round: 0, block_hash: Hash::ZERO, signatures: vec![sig.clone(); n] };
    bound("commit signatures", commit(MAX_COMMIT_SIGS), commit(MAX_COMMIT_SIGS + 1));
}

/// A transaction can be valid on its own and still too large for any block: the largest CRL a
/// payload may carry does not fit under the per-transaction bound of a block (chains bound
/// transactions further by `max_tx_bytes`, at most that bound).
#[test]
fn a_transaction_past_the_block_bound_decodes_alone_but_not_in_a_block() {
    let k = &KEYS[2];
    let big = body_with(k, "c".into(), Credential::None, 1, 2, Payload::PublishCrl { crl: vec![0x30; MAX_CRL_LEN] })
        .sign(k)
        .unwrap();
    assert!(big.encode().len() > MAX_TX_BYTES_HARD);
    assert_eq!(SignedTx::decode(&big.encode()).as_ref(), Ok(&big));
    let header = BlockHeader {
        chain_id: "c".into(),
        height: 1,
        parent_hash: Hash::ZERO,
        timestamp_ms: 0,
        proposer: Address([0; 20]),
        tx_count: 1,
        tx_root: Block::compute_tx_root(Suite::Intl, std::slice::from_ref(&big)),
        state_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
    };
    let block = Block { header, txs: vec![big] };
    assert!(matches!(Block::decode(&block.encode()), Err(DecodeError::TooLong { what: "block tx", .. })));
}
