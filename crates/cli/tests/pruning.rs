//! State pruning on a real node (`docs/operations.md`, "Pruning and compaction"): a pruned height
//! answers 410 `version_pruned`, recent proofs verify, a SIGKILL while the node prunes loses
//! nothing final, and `fdl node --compact` shrinks a stopped node's file.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::Duration,
};

use common::{FDL, TestNode, build_tx, fdl, wait};
use fdl_crypto::{KeyPair, Suite};
use fdl_types::{Genesis, Payload};

/// Starts the node with `fdl node --prune <prune>` and waits for its API.
fn spawn_with(node: &mut TestNode, prune: &str) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(node.dir.path().join("node.log")).unwrap();
    let child = Command::new(FDL)
        .args(["node", "--config", node.config().to_str().unwrap(), "--prune", prune])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    node.child = Some(child);
    node.wait_height(1, Duration::from_secs(30));
}

#[test]
fn a_pruning_node_refuses_pruned_heights_proves_recent_ones_and_survives_a_kill_while_pruning() {
    let mut node = TestNode::init(Suite::Sm);
    // Fast blocks, so hundreds of heights pass in seconds.
    let gpath = node.dir.path().join("genesis.json");
    let mut g = Genesis::load(&gpath).unwrap();
    g.params.block_interval_ms = 10;
    g.params.empty_block_interval_ms = 10;
    std::fs::write(&gpath, serde_json::to_string_pretty(&g).unwrap()).unwrap();
    node.genesis = g;
    let (code, _, err) = fdl(&["node", "--config", node.config().to_str().unwrap(), "--prune", "99"]);
    assert_eq!(code, 2, "a keep below the minimum must be refused");
    assert!(err.contains("minimum of 100"), "{err}");

    // An archive run first: a history of transfers that the pruning run then has to catch up on.
    spawn_with(&mut node, "archive");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = node.client();
    let chain_id = node.genesis.chain_id.clone();
    let to: Vec<_> = (0..12).map(|_| KeyPair::generate(Suite::Sm).address()).collect();
    let mut expected: BTreeMap<_, u128> = BTreeMap::new();
    for round in 0..25u128 {
        for (i, a) in to.iter().enumerate() {
            let amount = 1 + round * 10 + i as u128;
            let t = build_tx(&node.issuer, &chain_id, 100_000, Payload::Issue { to: *a, amount }).unwrap();
            rt.block_on(client.submit(&t, i + 1 == to.len())).unwrap();
            *expected.entry(*a).or_default() += amount;
        }
    }
    let archived = node.wait_height(350, Duration::from_secs(120));
    let early = rt.block_on(client.validators_at(Suite::Sm, Some(5)));
    assert!(early.is_ok(), "an archive node answers old heights: {early:?}");
    node.stop();

    // Now pruning, keeping 100 versions: old heights answer 410, recent proofs verify.
    spawn_with(&mut node, "100");
    let tip = node.wait_height(archived + 150, Duration::from_secs(120));
    let oldest = wait::wait_for_or(
        Duration::from_secs(30),
        "the node prunes",
        || {
            let m = rt.block_on(client.metrics()).ok()?;
            let line = m.lines().find(|l| l.starts_with("fdl_state_oldest_version "))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok().filter(|&o| o + 100 >= tip)
        },
        || node.log(),
    );
    for height in [2, oldest] {
        match rt.block_on(client.validator_set_proof(height)) {
            Err(fdl_sdk::SdkError::Api { status, code, message, .. }) => {
                assert_eq!((status, code.as_str()), (410, "version_pruned"), "{message}");
                assert!(message.contains("keeps the state after block"), "{message}");
            }
            other => panic!("height {height} answered {other:?}"),
        }
    }
    match rt.block_on(client.validators_at(Suite::Sm, Some(3))) {
        Err(fdl_sdk::SdkError::Api { status: 410, code, .. }) => assert_eq!(code, "version_pruned"),
        other => panic!("a pruned ?height answered {other:?}"),
    }
    let recent = rt.block_on(client.status()).unwrap().height - 10;
    let proof = rt.block_on(client.validator_set_proof(recent)).unwrap();
    let root = rt.block_on(client.block(Some(recent - 1))).unwrap().header.state_root;
    for e in &proof.entries {
        let key = hex::decode(&e.key).unwrap();
        let value = e.value.as_ref().map(|v| hex::decode(v).unwrap());
        fdl_state::verify_proof(Suite::Sm, &root, &key, value.as_deref(), &hex::decode(&e.proof).unwrap())
            .expect("a recent proof verifies");
    }
    // Blocks are not pruned.
    assert_eq!(rt.block_on(client.block(Some(2))).unwrap().header.height, 2);

    // SIGKILL while it prunes (every new block gives it a version to prune), then restart: the
    // node checks its state root against the tip's header on start, and the chain goes on.
    let before = rt.block_on(client.status()).unwrap().height;
    let header = rt.block_on(client.block(Some(before))).unwrap().header;
    node.kill9();
    spawn_with(&mut node, "100");
    // A new client: the old one's pooled connection died with the process.
    let client = node.client();
    let after = rt.block_on(client.block(Some(before))).unwrap_or_else(|e| panic!("{e}; log:\n{}", node.log()));
    assert_eq!(after.header.state_root, header.state_root);
    node.wait_height(before + 20, Duration::from_secs(60));
    for (a, want) in &expected {
        let acct = rt.block_on(client.account(a, Suite::Sm)).unwrap();
        assert_eq!(acct.balance, *want, "the balance of {a}, with a proof against the new tip");
    }
    let log = node.log();
    assert!(log.contains("state pruned"), "{log}");

    // Offline compaction gives the freed pages back.
    node.stop();
    let (code, out, err) = fdl(&["node", "--config", node.config().to_str().unwrap(), "--compact"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("size before") && out.contains("size after"), "{out}");
    spawn_with(&mut node, "100");
    let client = node.client();
    node.wait_height(before + 30, Duration::from_secs(60));
    let acct = rt.block_on(client.account(to.first().unwrap(), Suite::Sm)).unwrap();
    assert_eq!(acct.balance, expected[to.first().unwrap()]);
}
