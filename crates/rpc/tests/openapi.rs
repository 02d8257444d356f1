//! The generated OpenAPI document against the router and the server's real answers: every route
//! of `fdl_rpc::ROUTES` is documented with its method (and nothing else is), and example answers
//! of every view, serialized as the server serializes them, validate against the schema the
//! document gives for that answer. The validator below covers the subset of JSON Schema utoipa
//! emits and refuses any keyword it does not know, so nothing in the document is silently skipped.

use std::collections::{BTreeMap, BTreeSet};

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite};
use fdl_types::{
    AccountKind, Block, BlockHeader, ChainParams, Commit, CommitSig, Credential, Event, GovAction, NodeRole, NodeSpec,
    Payload, Receipt, StatusCode, TxBody,
    api::{
        AccountView, AclRuleView, AclView, AuditListView, AuditView, BatchItemView, BatchResultView, BlockView,
        CertView, ConsensusStatusView, ErrorView, EvidenceView, GenesisView, HeaderView, MemberNodeView, MemberView,
        ParamsView, ProposalListView, ProposalView, ProvenEntryView, RegisteredCertView, RevocationListView,
        RevocationView, RevokedView, StatusView, StreamEventView, StreamMessageView, SubmitView, TxStatusView, TxView,
        ValidatorSetProofView, ValidatorView, ValidatorsView,
    },
};
use serde_json::{Value, json};

fn doc() -> Value {
    serde_json::from_str(fdl_rpc::openapi::json()).expect("the document is JSON")
}

// ---------------------------------------------------------------------------------------------
// A validator for the JSON Schema subset utoipa emits (OpenAPI 3.1).

/// Keywords that only describe.
const ANNOTATIONS: [&str; 7] =
    ["description", "title", "examples", "example", "deprecated", "default", "contentMediaType"];

/// Checks `v` against `schema`, resolving `$ref`s in `doc`. Objects are strict: a property the
/// schema does not list is an error unless `additionalProperties` allows it (the server must not
/// send fields the document does not have).
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{at}: no value is allowed here")),
        Value::Object(s) => s,
        _ => return Err(format!("{at}: the schema is not an object: {schema}")),
    };
    for k in s.keys() {
        let known = ANNOTATIONS.contains(&k.as_str())
            || [
                "$ref",
                "type",
                "format",
                "enum",
                "const",
                "pattern",
                "minimum",
                "maximum",
                "minLength",
                "maxLength",
                "items",
                "prefixItems",
                "minItems",
                "maxItems",
                "properties",
                "required",
                "additionalProperties",
                "propertyNames",
                "oneOf",
                "anyOf",
                "allOf",
            ]
            .contains(&k.as_str());
        if !known {
            return Err(format!("{at}: the validator does not know the keyword {k:?}"));
        }
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").ok_or_else(|| format!("{at}: unsupported $ref {r}"))?;
        let target = doc["components"]["schemas"].get(name).ok_or_else(|| format!("{at}: dangling $ref {r}"))?;
        validate(doc, target, v, at)?;
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(doc, sub, v, at)?;
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|sub| validate(doc, sub, v, at).is_ok())
    {
        return Err(format!("{at}: matches none of anyOf"));
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = one.iter().filter_map(|sub| validate(doc, sub, v, at).err()).collect();
        match one.len() - errors.len() {
            1 => {}
            0 => return Err(format!("{at}: matches none of oneOf: {}", errors.join(" | "))),
            n => return Err(format!("{at}: matches {n} branches of oneOf")),
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type {t}")),
        };
        if !types.iter().any(|t| is_type(v, t)) {
            return Err(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {e:?}"));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{at}: {v} is not {c}"));
    }
    match v {
        Value::String(text) => {
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                let re = regex::Regex::new(p).map_err(|e| format!("{at}: bad pattern {p}: {e}"))?;
                if !re.is_match(text) {
                    return Err(format!("{at}: {text:?} does not match {p}"));
                }
            }
            let len = text.chars().count() as u64;
            if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m)
                || s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m)
            {
                return Err(format!("{at}: {text:?} has the wrong length"));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if s.get("minimum").and_then(Value::as_f64).is_some_and(|m| x < m)
                || s.get("maximum").and_then(Value::as_f64).is_some_and(|m| x > m)
            {
                return Err(format!("{at}: {n} is out of range"));
            }
            let fits = match s.get("format").and_then(Value::as_str) {
                Some("int32") => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                Some("int64") => n.as_i64().is_some(),
                _ => true,
            };
            if !fits {
                return Err(format!("{at}: {n} does not fit its format"));
            }
        }
        Value::Array(items) => {
            let prefix = s.get("prefixItems").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            for (i, item) in items.iter().enumerate() {
                let at = format!("{at}[{i}]");
                match (prefix.get(i), s.get("items")) {
                    (Some(p), _) => validate(doc, p, item, &at)?,
                    (None, Some(items_schema)) => validate(doc, items_schema, item, &at)?,
                    (None, None) => {}
                }
            }
            let n = items.len() as u64;
            if s.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m)
                || s.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m)
            {
                return Err(format!("{at}: {n} items is the wrong count"));
            }
        }
        Value::Object(fields) => {
            for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                if !fields.contains_key(r) {
                    return Err(format!("{at}: the required field {r:?} is missing"));
                }
            }
            if let Some(names) = s.get("propertyNames") {
                for k in fields.keys() {
                    validate(doc, names, &Value::String(k.clone()), &format!("{at} key {k:?}"))?;
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            let extra = s.get("additionalProperties");
            for (k, fv) in fields {
                let at = format!("{at}.{k}");
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(p), _) => validate(doc, p, fv, &at)?,
                    (None, Some(e)) => validate(doc, e, fv, &at)?,
                    // A map schema without properties (`type: object` alone) takes anything.
                    (None, None) if props.is_none() => {}
                    (None, None) => return Err(format!("{at}: not in the schema")),
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// The schema of the `status` answer of `method path` (JSON unless `content_type` says otherwise).
fn response_schema<'d>(doc: &'d Value, method: &str, path: &str, status: u16, content_type: &str) -> &'d Value {
    let r = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(r.is_object(), "{method} {path} does not document {status}");
    let s = &r["content"][content_type]["schema"];
    assert!(s.is_object(), "{method} {path} {status} has no {content_type} schema");
    s
}

/// Asserts that `example` (serialized with serde, as the server sends it) is a valid `status`
/// answer of `method path`.
fn check<T: serde::Serialize>(doc: &Value, method: &str, path: &str, status: u16, example: &T) {
    let v = serde_json::to_value(example).expect("serializes");
    let schema = response_schema(doc, method, path, status, "application/json");
    if let Err(e) = validate(doc, schema, &v, "$") {
        panic!("{method} {path} {status}: the example does not validate: {e}\n{v:#}");
    }
}

// ---------------------------------------------------------------------------------------------
// Examples: realistic values of every view.

const CHAIN: &str = "fdl-example";

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

fn signed_tx(kp: &KeyPair, nonce: u64, payload: Payload) -> fdl_types::SignedTx {
    TxBody {
        chain_id: CHAIN.into(),
        signer: kp.public_key(),
        credential: Credential::Registered(h(0xce)),
        nonce,
        expiry_height: 500,
        payload,
    }
    .sign(kp)
    .expect("signs")
}

fn block_and_commit(kp: &KeyPair) -> (Block, Commit) {
    let txs = vec![
        signed_tx(kp, 1, Payload::Transfer { to: Address([7; 20]), amount: u128::MAX, memo: "rent".into() }),
        signed_tx(kp, 2, Payload::Burn { amount: 5 }),
        signed_tx(kp, 3, Payload::Vote { proposal: 4, approve: true }),
        signed_tx(
            kp,
            4,
            Payload::Propose {
                action: GovAction::Freeze { account: Address([3; 20]) },
                deadline: 90,
                activation_height: 95,
                note: "fraud".into(),
            },
        ),
        signed_tx(kp, 5, Payload::PublishCrl { crl: vec![0x30, 0x82, 0x01] }),
    ];
    let suite = kp.public_key().suite();
    let header = BlockHeader {
        chain_id: CHAIN.into(),
        height: 12,
        parent_hash: h(0x11),
        timestamp_ms: 1_760_000_000_000,
        proposer: kp.public_key().address(),
        tx_count: txs.len() as u32,
        tx_root: Block::compute_tx_root(suite, &txs),
        state_root: h(0x22),
        receipts_root: h(0x33),
    };
    let hash = header.hash(suite);
    let signature = kp.sign(&Commit::signing_bytes(CHAIN, 12, 0, &hash)).expect("signs");
    let commit = Commit {
        height: 12,
        round: 0,
        block_hash: hash,
        signatures: vec![CommitSig { validator: kp.public_key(), signature }],
    };
    (Block { header, txs }, commit)
}

fn receipt(tx: Hash) -> Receipt {
    Receipt {
        tx_id: tx,
        status: StatusCode::Ok,
        events: vec![Event {
            kind: "bank.transferred".into(),
            attrs: vec![("from".into(), "aa".repeat(20)), ("amount".into(), "10".into())],
        }],
        cost: 120,
        output: vec![],
    }
}

fn header_view(kp: &KeyPair) -> HeaderView {
    let (b, _) = block_and_commit(kp);
    HeaderView::new(&b.header, kp.public_key().suite())
}

fn account_view(kp: &KeyPair, known: bool) -> AccountView {
    AccountView {
        address: Address([7; 20]).to_hex(),
        balance: if known { u128::MAX.to_string() } else { "0".into() },
        sent: 3,
        kind: AccountKind::Admin.as_str().into(),
        frozen: known,
        locked_until: 0,
        org: if known { "Bank A".into() } else { String::new() },
        key: known.then(|| Address([8; 20]).to_hex()),
        height: 12,
        header: header_view(kp),
        state_key: "0161".into(),
        value: known.then(|| "00ff".into()),
        proof: "0a0b".into(),
    }
}

fn cert_view(role: Option<&str>) -> CertView {
    CertView {
        common_name: "node-1".into(),
        org: "Bank A".into(),
        role: role.map(str::to_string),
        serial: "1f".into(),
        not_before: 1_700_000_000,
        not_after: 1_800_000_000,
    }
}

fn node_spec() -> NodeSpec {
    NodeSpec {
        name: "node-4".into(),
        org: "Bank B".into(),
        role: NodeRole::Observer,
        public_key: vec![4; 65],
        power: 0,
        peer_id: "12D3KooW".into(),
        p2p: "10.0.0.4:7000".into(),
        rpc: String::new(),
        certificate: vec![0x30, 0x82],
    }
}

fn every_gov_action() -> Vec<GovAction> {
    let a = Address([5; 20]);
    vec![
        GovAction::AddMember { name: "Bank C".into(), ca_cert: vec![0x30, 0x82], committee: true },
        GovAction::RemoveMember { name: "Bank C".into() },
        GovAction::AddNode { node: node_spec() },
        GovAction::RemoveNode { name: "node-4".into() },
        GovAction::RotateNodeCert { name: "node-1".into(), certificate: vec![1, 2, 3] },
        GovAction::RotateCa { org: "Bank A".into(), ca_cert: vec![0xab] },
        GovAction::RevokeCert { org: "Bank A".into(), serial: "1f".into() },
        GovAction::SetParam { name: fdl_types::ChainParam::MaxBlockTxs, value: 5000 },
        GovAction::SetAcl { method: "bank.issue".into(), roles: vec!["issuer".into()], orgs: vec![] },
        GovAction::Freeze { account: a },
        GovAction::Unfreeze { account: a },
        GovAction::ForcedTransfer { from: a, to: Address([6; 20]), amount: u128::MAX },
        GovAction::ResetKey { account: a, certificate: vec![0x30] },
        GovAction::SetAccountKind { account: a, kind: fdl_types::AccountKind::Special },
    ]
}

fn proposal(id: u64, action: GovAction, decided: bool) -> ProposalView {
    ProposalView {
        id,
        action,
        proposer: Address([9; 20]),
        org: "Bank A".into(),
        note: "quarterly change".into(),
        created: 10,
        deadline: 60,
        activation_height: 70,
        votes: BTreeMap::from([("Bank A".into(), true), ("Bank B".into(), false)]),
        status: if decided { "applied".into() } else { "open".into() },
        decided: decided.then_some(40),
        applied: decided.then_some(70),
        failure: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn the_document_lists_exactly_the_routes_of_the_router() {
    let doc = doc();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut routes: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, method) in fdl_rpc::ROUTES {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} is not in the document"));
        assert!(item.get(*method).is_some(), "{method} {path} is not in the document");
        assert!(routes.insert((path.to_string(), method.to_string())), "{method} {path} is listed twice");
    }
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .filter(|m| ["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(&m.as_str()))
                .map(move |m| (p.clone(), m.clone()))
        })
        .collect();
    assert_eq!(documented, routes, "the document and the router disagree");
    // Every operation names its answers, and every `$ref` in the document resolves.
    for (p, m) in &routes {
        let op = &doc["paths"][p][m];
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{m} {p} has no responses");
        assert!(op["operationId"].is_string(), "{m} {p} has no operationId");
    }
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.push(r.to_string());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").expect("a schema ref");
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling {r}");
    }
}

#[test]
fn every_example_answer_validates() {
    let doc = doc();
    for suite in [Suite::Sm, Suite::Intl] {
        let kp = KeyPair::generate(suite);
        let (block, commit) = block_and_commit(&kp);
        let tx = &block.txs[0];

        // Transactions.
        let pending = SubmitView { hash: tx.id(), status: "pending".into(), height: None, receipt: None };
        check(&doc, "post", "/v1/transactions", 202, &pending);
        let committed = SubmitView {
            hash: tx.id(),
            status: "committed".into(),
            height: Some(12),
            receipt: Some(fdl_types::api::ReceiptView::new(&receipt(tx.id()))),
        };
        check(&doc, "post", "/v1/transactions", 200, &committed);
        let batch = BatchResultView {
            results: vec![
                BatchItemView { hash: Some(tx.id()), code: None, message: None },
                BatchItemView {
                    hash: None,
                    code: Some("malformed_transaction".into()),
                    message: Some("not hex".into()),
                },
            ],
        };
        check(&doc, "post", "/v1/transactions/batch", 200, &batch);
        check(&doc, "post", "/v1/transactions/batch", 429, &batch);
        for t in &block.txs {
            let status = TxStatusView {
                hash: t.id(),
                status: "committed".into(),
                height: Some(12),
                index: Some(0),
                tx: Some(TxView::new(t)),
                receipt: Some(fdl_types::api::ReceiptView::new(&receipt(t.id()))),
                receipt_path: Some(vec![h(1), h(2)]),
            };
            check(&doc, "get", "/v1/transactions/{hash}", 200, &status);
        }
        let still_pending = TxStatusView {
            hash: tx.id(),
            status: "pending".into(),
            height: None,
            index: None,
            tx: None,
            receipt: None,
            receipt_path: None,
        };
        check(&doc, "get", "/v1/transactions/{hash}", 200, &still_pending);

        // Blocks.
        check(&doc, "get", "/v1/blocks/latest", 200, &BlockView::new(&block, Some(&commit), suite));
        check(&doc, "get", "/v1/blocks/{height}", 200, &BlockView::new(&block, None, suite));
        let empty = Block { header: block.header.clone(), txs: vec![] };
        check(&doc, "get", "/v1/blocks/{height}", 200, &BlockView::new(&empty, Some(&commit), suite));

        // Accounts, and the error with the proof of absence.
        check(&doc, "get", "/v1/accounts/{address}", 200, &account_view(&kp, true));
        let absent = ErrorView {
            code: "account_not_found".into(),
            message: "no account; the proof shows its absence".into(),
            account: Some(Box::new(account_view(&kp, false))),
        };
        check(&doc, "get", "/v1/accounts/{address}", 404, &absent);

        // The node.
        let status = StatusView {
            chain_id: CHAIN.into(),
            suite,
            height: 12,
            latest_block_hash: h(1),
            latest_block_time_ms: 1_760_000_000_000,
            node_id: kp.public_key().address().to_hex(),
            node_name: "node-1".into(),
            peers: vec!["node-2".into()],
            validators: 4,
            mempool_size: 17,
            role: "validator".into(),
            consensus: ConsensusStatusView {
                round: 1,
                peers: 3,
                peer_height: 12,
                syncing: false,
                ..Default::default()
            },
        };
        check(&doc, "get", "/v1/status", 200, &status);
        let evidence = vec![EvidenceView {
            height: 9,
            round: 2,
            validator: Address([1; 20]).to_hex(),
            kind: "prevote".into(),
            values: vec![h(4).to_hex(), "nil".into()],
        }];
        check(&doc, "get", "/v1/evidence", 200, &evidence);
        check(&doc, "get", "/v1/evidence", 200, &Vec::<EvidenceView>::new());

        // The stream: both kinds of message, against the schema of the 101 answer.
        let block_msg = StreamMessageView::Block {
            height: 12,
            hash: block.header.hash(suite),
            header: Box::new(HeaderView::new(&block.header, suite)),
            tx_hashes: block.txs.iter().map(fdl_types::SignedTx::id).collect(),
            events: vec![StreamEventView {
                tx_hash: tx.id(),
                kind: "bank.transferred".into(),
                attrs: vec![("to".into(), "07".repeat(20))],
            }],
        };
        check(&doc, "get", "/v1/stream", 101, &block_msg);
        check(&doc, "get", "/v1/stream", 101, &StreamMessageView::Lagged { skipped_blocks: 300 });
    }
}

#[test]
fn every_governance_example_answer_validates() {
    let doc = doc();
    let members = vec![MemberView {
        name: "Bank A".into(),
        ca: cert_view(None),
        nodes: vec![
            MemberNodeView {
                name: "node-1".into(),
                role: "validator".into(),
                public_key: "04".repeat(65),
                peer_id: Some("12D3KooW".into()),
                certificate: Some(cert_view(Some("validator"))),
            },
            MemberNodeView {
                name: "node-5".into(),
                role: "observer".into(),
                public_key: "04".repeat(65),
                peer_id: None,
                certificate: None,
            },
        ],
        committee: true,
        since: 0,
    }];
    check(&doc, "get", "/v1/members", 200, &members);
    let validators = ValidatorsView {
        validators: vec![ValidatorView {
            name: "node-1".into(),
            public_key: "04".repeat(65),
            address: Address([1; 20]).to_hex(),
            power: 10,
        }],
        height: 12,
        total_power: 10,
    };
    check(&doc, "get", "/v1/validators", 200, &validators);
    let proof = ValidatorSetProofView {
        height: 13,
        entries: vec![
            ProvenEntryView { key: "6e6f646573".into(), value: Some("00ff".into()), proof: "0a0b".into() },
            ProvenEntryView { key: "7265766f6b6564".into(), value: None, proof: "0a0c".into() },
        ],
    };
    check(&doc, "get", "/v1/validators/{height}/proof", 200, &proof);
    let genesis = fdl_types::Genesis {
        read_policy: Default::default(),
        chain_id: "c".into(),
        suite: Suite::Sm,
        genesis_time_ms: 1,
        issuer: Address([1; 20]),
        members: vec![],
        regulator: None,
        validators: vec![],
        observers: vec![],
        balances: vec![(Address([2; 20]), 5)],
        params: ChainParams::default(),
    };
    let gv =
        GenesisView { hash: genesis.hash(), genesis: serde_json::to_value(&genesis).expect("a genesis serializes") };
    check(&doc, "get", "/v1/genesis", 200, &gv);
    for revoked in [None, Some(RevokedView { height: 30, by: "governance:3".into() })] {
        let cert = RegisteredCertView {
            hash: h(0xce),
            account: Address([2; 20]),
            org: "Bank A".into(),
            role: "client".into(),
            common_name: "alice".into(),
            serial: "2a".into(),
            not_before: 1_700_000_000,
            not_after: 1_800_000_000,
            public_key: "04".repeat(65),
            registered: 5,
            revoked,
            pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        };
        check(&doc, "get", "/v1/certificates/{hash}", 200, &cert);
    }
    let revocations = RevocationListView {
        height: 12,
        revocations: vec![RevocationView { org: "Bank A".into(), serial: "2a".into(), height: 30, by: "crl".into() }],
    };
    check(&doc, "get", "/v1/revocations", 200, &revocations);
    let proposals: Vec<ProposalView> =
        every_gov_action().into_iter().enumerate().map(|(i, a)| proposal(i as u64 + 1, a, i % 2 == 0)).collect();
    for p in &proposals {
        check(&doc, "get", "/v1/proposals/{id}", 200, p);
    }
    let mut failed = proposal(99, GovAction::RemoveNode { name: "node-1".into() }, true);
    failed.status = "failed".into();
    failed.failure = Some("too few validators".into());
    check(&doc, "get", "/v1/proposals/{id}", 200, &failed);
    check(&doc, "get", "/v1/proposals", 200, &ProposalListView { height: 12, proposals });
    let acl = AclView {
        height: 12,
        rules: BTreeMap::from([
            ("bank.issue".into(), Some(AclRuleView { roles: vec!["issuer".into()], orgs: vec!["Bank A".into()] })),
            ("bank.burn".into(), None),
        ]),
    };
    check(&doc, "get", "/v1/acl", 200, &acl);
    check(&doc, "get", "/v1/params", 200, &ParamsView { height: 12, params: ChainParams::default() });
    let audit = AuditListView {
        records: vec![
            AuditView::of_event(
                12,
                1_760_000_000_000,
                Some(h(5)),
                Some("permission_denied"),
                &Event { kind: "acl.denied".into(), attrs: vec![("account".into(), "05".repeat(20))] },
            ),
            AuditView {
                height: 13,
                time_ms: 1_760_000_001_000,
                tx: None,
                kind: "identity.refused_at_admission".into(),
                account: None,
                org: Some("Bank B".into()),
                status: None,
                attrs: vec![],
                local: true,
            },
        ],
        truncated: false,
    };
    check(&doc, "get", "/v1/audit", 200, &audit);
}

#[test]
fn every_documented_error_answer_is_an_error_view() {
    let doc = doc();
    let e = ErrorView { code: "internal".into(), message: "store failed".into(), account: None };
    for (path, method) in fdl_rpc::ROUTES {
        let responses = doc["paths"][path][method]["responses"].as_object().expect("responses");
        for (status, r) in responses {
            let code: u16 = status.parse().expect("numeric status");
            if code >= 400
                && r["content"]["application/json"]["schema"]["$ref"] != json!("#/components/schemas/BatchResultView")
            {
                check(&doc, method, path, code, &e);
            }
        }
    }
}

#[test]
fn the_text_and_websocket_routes_say_what_they_send() {
    let doc = doc();
    let metrics = response_schema(&doc, "get", "/metrics", 200, "text/plain; version=0.0.4");
    assert_eq!(metrics["type"], "string");
    let stream = response_schema(&doc, "get", "/v1/stream", 101, "application/json");
    assert_eq!(stream["$ref"], "#/components/schemas/StreamMessageView");
    let submit = &doc["paths"]["/v1/transactions"]["post"]["requestBody"]["content"];
    assert!(submit["application/json"].is_object() && submit["application/octet-stream"].is_object());
}

#[test]
fn the_validator_rejects_what_the_server_never_sends() {
    let doc = doc();
    let kp = KeyPair::generate(Suite::Intl);
    let schema = response_schema(&doc, "get", "/v1/accounts/{address}", 200, "application/json");
    let good = serde_json::to_value(account_view(&kp, true)).expect("serializes");
    validate(&doc, schema, &good, "$").expect("the real view validates");

    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        validate(&doc, schema, &v, "$")
    };
    let missing = mutate(&|v| {
        v.as_object_mut().expect("object").remove("proof");
    });
    assert!(missing.is_err_and(|e| e.contains("required field \"proof\"")));
    let wrong_type = mutate(&|v| v["sent"] = json!("3"));
    assert!(wrong_type.is_err_and(|e| e.contains("not of type")));
    let negative = mutate(&|v| v["height"] = json!(-1));
    assert!(negative.is_err());
    let nested = mutate(&|v| v["header"]["hash"] = json!("0xABC"));
    assert!(nested.is_err_and(|e| e.contains("$.header.hash")));
    let unknown = mutate(&|v| v["extra"] = json!(1));
    assert!(unknown.is_err_and(|e| e.contains("not in the schema")));
    let null = mutate(&|v| v["key"] = Value::Null);
    assert!(null.is_err(), "an optional field is absent, never null");

    // Tagged enums: an unknown tag and a variant missing a field are refused.
    let stream = response_schema(&doc, "get", "/v1/stream", 101, "application/json");
    assert!(validate(&doc, stream, &json!({"type": "lagged", "skipped_blocks": 1}), "$").is_ok());
    assert!(validate(&doc, stream, &json!({"type": "gone", "skipped_blocks": 1}), "$").is_err());
    assert!(validate(&doc, stream, &json!({"type": "block", "height": 1}), "$").is_err());
    // A u128 amount is a decimal string, never a number.
    let proposal_schema = response_schema(&doc, "get", "/v1/proposals/{id}", 200, "application/json");
    let mut p = serde_json::to_value(proposal(
        1,
        GovAction::ForcedTransfer { from: Address([1; 20]), to: Address([2; 20]), amount: 7 },
        false,
    ))
    .expect("serializes");
    validate(&doc, proposal_schema, &p, "$").expect("valid");
    p["action"]["amount"] = json!(7);
    assert!(validate(&doc, proposal_schema, &p, "$").is_err());
    // A `null` ACL rule is allowed, a rule without its roles is not.
    let acl = response_schema(&doc, "get", "/v1/acl", 200, "application/json");
    assert!(validate(&doc, acl, &json!({"height": 1, "rules": {"a.b": null}}), "$").is_ok());
    assert!(validate(&doc, acl, &json!({"height": 1, "rules": {"a.b": {"orgs": []}}}), "$").is_err());
    // An unknown keyword in a schema is an error, not silently skipped.
    assert!(validate(&doc, &json!({"type": "string", "multipleOf": 2}), &json!("x"), "$").is_err());
}
