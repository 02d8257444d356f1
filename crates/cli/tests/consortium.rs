//! The consortium network through real processes on 127.0.0.1: four validators agree under
//! load, and the chain survives the faults of STD-11.2 (fewer than a third of the validators
//! down, paused or restarted) without forking; observers follow without voting.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use common::build_tx;
use common::net::TestNet;
use common::wait::{keep_checking_for, wait_for, wait_for_or, wait_stable, wait_until_or};
use fdl_crypto::{Address, Hash, KeyPair, Suite};
use fdl_types::{Payload, SignedTx};

const LONG: Duration = Duration::from_secs(120);
/// One consensus round with no proposal: the propose timeout and both vote timeouts
/// [`TestNet::init`] sets.
const ROUND: Duration = Duration::from_millis(1_000 + 300 + 300);

fn max_height(net: &TestNet, nodes: &[usize]) -> u64 {
    nodes.iter().filter_map(|&i| net.height(i)).max().unwrap_or(0)
}

/// Waits until every listed node has reached the same height `>= at_least`; returns it.
fn converge(net: &TestNet, nodes: &[usize], at_least: u64) -> u64 {
    let start = Instant::now();
    loop {
        let target = max_height(net, nodes).max(at_least);
        for &i in nodes {
            net.wait_height(i, target, LONG);
        }
        let hs: Vec<u64> = nodes.iter().filter_map(|&i| net.height(i)).collect();
        if hs.len() == nodes.len() && hs.iter().all(|&h| h >= target) {
            return target;
        }
        assert!(start.elapsed() < LONG, "nodes never converged");
    }
}

/// Waits until a tx is committed on node `i`; returns its height.
fn wait_committed(net: &TestNet, i: usize, id: &Hash) -> u64 {
    wait_for(LONG, &format!("transaction {id} is committed on node {i}"), || {
        net.rt.block_on(net.client(i).tx(id)).ok().and_then(|v| v.height)
    })
}

fn signers_of(net: &TestNet, i: usize, h: u64) -> Vec<String> {
    let b = net.block(i, h).unwrap();
    b.commit.unwrap().signatures.iter().map(|s| s.address.clone()).collect()
}

fn address_of_node(net: &TestNet, i: usize) -> String {
    let key = KeyPair::read_pem_file(&net.dir.path().join(&net.nodes[i].name).join("validator.pem")).unwrap();
    key.address().to_hex()
}

#[test]
fn four_validators_agree_on_2000_transfers_sent_to_all_apis() {
    let net = TestNet::start(4, 0, Suite::Sm);
    let chain = net.genesis.chain_id.clone();
    let accounts: Vec<KeyPair> = (0..20).map(|_| KeyPair::generate(Suite::Sm)).collect();
    for (i, a) in accounts.iter().enumerate() {
        net.certify(a, &format!("org{}", i % 4 + 1));
    }
    let expiry = net.height(0).unwrap() + 10_000;
    let issues: Vec<SignedTx> = accounts
        .iter()
        .map(|a| build_tx(&net.issuer, &chain, expiry, Payload::Issue { to: a.address(), amount: 1_000_000 }).unwrap())
        .collect();
    let items = net.rt.block_on(net.client(1).submit_batch(&issues)).unwrap();
    assert!(items.iter().all(|i| i.hash.is_some()), "{items:?}");
    for tx in &issues {
        wait_committed(&net, 2, &tx.id());
    }
    // 2,000 transfers, round-robin over the four APIs.
    let mut expected: HashMap<Address, i128> = accounts.iter().map(|a| (a.address(), 1_000_000)).collect();
    let mut per_node: Vec<Vec<SignedTx>> = vec![Vec::new(); 4];
    for n in 0..2_000usize {
        let from = &accounts[n % accounts.len()];
        let to = accounts[(n * 7 + 3) % accounts.len()].address();
        let amount = (n % 13 + 1) as u128;
        *expected.get_mut(&from.address()).unwrap() -= amount as i128;
        *expected.get_mut(&to).unwrap() += amount as i128;
        let memo = format!("t{n}");
        per_node[n % 4].push(build_tx(from, &chain, expiry, Payload::Transfer { to, amount, memo }).unwrap());
    }
    for (i, txs) in per_node.iter().enumerate() {
        for chunk in txs.chunks(250) {
            let items = net.rt.block_on(net.client(i).submit_batch(chunk)).unwrap();
            assert!(items.iter().all(|it| it.hash.is_some()), "node {i} refused: {items:?}");
        }
    }
    let mut top = 0;
    for (i, txs) in per_node.iter().enumerate() {
        for tx in txs {
            top = top.max(wait_committed(&net, (i + 1) % 4, &tx.id()));
        }
    }
    let h = converge(&net, &[0, 1, 2, 3], top);
    net.assert_same_chain(&[0, 1, 2, 3], h);
    let mut total = 0u128;
    for (k, (addr, want)) in expected.iter().enumerate() {
        let acct = net.rt.block_on(net.client(k % 4).account(addr, Suite::Sm)).unwrap();
        assert_eq!(acct.balance as i128, *want, "balance of {addr}");
        total += acct.balance;
    }
    assert_eq!(total, 20 * 1_000_000, "transfers conserve the money supply");
}

#[test]
fn a_validator_down_for_1000_blocks_catches_up_and_votes_again() {
    // Fast empty blocks so that 1,000 heights pass in seconds.
    let mut net = TestNet::init(4, 0, Suite::Sm, |g| {
        g.params.empty_block_interval_ms = 10;
        g.params.block_interval_ms = 10;
    });
    // Every fourth height waits out the propose timeout of the missing proposer.
    net.set_timeouts(200, 50);
    for i in 0..4 {
        net.spawn(i);
    }
    net.wait_height(3, 2, LONG);
    net.kill9(3);
    let down_at = max_height(&net, &[0, 1, 2]);
    let target = down_at + 1_000;
    net.wait_height(0, target, Duration::from_secs(600));
    net.spawn(3);
    let started = Instant::now();
    net.wait_height(3, target, Duration::from_secs(300));
    let catch_up = started.elapsed();
    let status = net.rt.block_on(net.client(3).status()).unwrap();
    assert!(status.consensus.synced_blocks >= 900, "it synced: {:?}", status.consensus);
    assert!(net.log(3).contains("catching up from peers"), "sync progress is logged");
    // It votes again: its precommit appears in a later certificate.
    let me = address_of_node(&net, 3);
    let from = net.height(0).unwrap();
    let deadline = Instant::now() + LONG;
    let mut h = from;
    loop {
        net.wait_height(0, h + 1, LONG);
        h += 1;
        if signers_of(&net, 0, h).contains(&me) {
            break;
        }
        assert!(Instant::now() < deadline, "org4 never signed a certificate after catching up");
    }
    eprintln!("caught up 1,000 blocks in {catch_up:?}");
    let h = converge(&net, &[0, 1, 2, 3], h);
    // Checking every height of a long chain over HTTP is slow: the tail suffices after sync
    // checked each certificate.
    for height in [down_at, down_at + 500, target, h] {
        let a = net.block(0, height).unwrap().header.hash;
        assert_eq!(net.block(3, height).unwrap().header.hash, a, "block {height}");
    }
}

#[test]
fn two_of_four_down_stops_finality_without_fork_then_resumes() {
    let mut net = TestNet::start(4, 0, Suite::Sm);
    net.kill9(2);
    net.kill9(3);
    // What was in flight at the kill lands within a round: wait until neither survivor's height
    // has moved for longer than a round's timeouts.
    wait_stable(LONG, ROUND, "org1 and org2 stop finalizing blocks", || (net.height(0), net.height(1)));
    let h = max_height(&net, &[0, 1]);
    // Checked throughout five seconds, several rounds' worth.
    let (mut a, mut b) = (0, 0);
    keep_checking_for(Duration::from_secs(5), || {
        (a, b) = (net.height(0).unwrap(), net.height(1).unwrap());
        assert!(a <= h && b <= h, "no block may be finalized with half the validators: {h} -> {a}, {b}");
    });
    // Neither node reports a block the other lacks, beyond one in flight at the kill.
    let top = a.min(b);
    assert!(a.max(b) - top <= 1, "heights {a} and {b}");
    net.assert_same_chain(&[0, 1], top);
    net.spawn(2);
    let resumed = converge(&net, &[0, 1, 2], h + 3);
    net.assert_same_chain(&[0, 1, 2], resumed);
}

#[test]
fn all_four_killed_at_once_resume_from_the_last_final_block() {
    let mut net = TestNet::start(4, 0, Suite::Intl);
    net.wait_height(0, 4, LONG);
    let before: Vec<u64> = (0..4).map(|i| net.height(i).unwrap()).collect();
    for i in 0..4 {
        net.kill9(i);
    }
    for i in 0..4 {
        net.spawn(i);
    }
    for (i, h) in before.iter().enumerate() {
        // A final block survives SIGKILL: each node restarts at or above what it reported.
        assert!(net.wait_height(i, *h, LONG) >= *h);
    }
    let h0 = net.wait_height(0, 1, LONG);
    let resumed = converge(&net, &[0, 1, 2, 3], h0 + 3);
    net.assert_same_chain(&[0, 1, 2, 3], resumed);
}

#[test]
fn a_paused_validator_does_not_stop_the_others_and_catches_up() {
    let net = TestNet::start(4, 0, Suite::Sm);
    net.signal(1, "STOP");
    let h = max_height(&net, &[0, 2, 3]);
    for i in [0, 2, 3] {
        net.wait_height(i, h + 5, LONG);
    }
    net.signal(1, "CONT");
    let all = converge(&net, &[0, 1, 2, 3], h + 6);
    net.assert_same_chain(&[0, 1, 2, 3], all);
}

#[test]
fn an_observer_follows_the_chain_and_never_votes() {
    let net = TestNet::start(4, 1, Suite::Sm);
    let h = net.wait_height(4, 8, LONG);
    let h = converge(&net, &[0, 1, 2, 3, 4], h);
    net.assert_same_chain(&[0, 1, 2, 3, 4], h);
    let observer = address_of_node(&net, 4);
    for height in 1..=h {
        assert!(!signers_of(&net, 4, height).contains(&observer), "the observer signed block {height}");
    }
    let status = net.rt.block_on(net.client(4).status()).unwrap();
    assert_eq!(status.role, "observer");
    // The members: four banks with a validator each, and the regulator with its observer, each
    // node certified for its role by its institution's CA.
    let members = net.rt.block_on(net.client(4).members()).unwrap();
    assert_eq!(members.len(), 5, "{members:?}");
    for m in &members {
        assert_eq!(m.nodes.len(), 1);
        let n = &m.nodes[0];
        let cert = n.certificate.as_ref().unwrap();
        assert_eq!((cert.org.as_str(), cert.role.as_deref()), (m.name.as_str(), Some(n.role.as_str())));
    }
    assert!(members.iter().any(|m| m.name == "regulator" && m.nodes[0].role == "observer"));
    let (code, out, err) = common::fdl(&["member", "list", "--rpc", &net.nodes[0].rpc]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("org3") && out.contains("certified validator"), "{out}");
}

#[test]
fn an_equivocating_validator_causes_no_fork_and_is_recorded_as_evidence() {
    // A Byzantine org4: two processes hold its consensus key (a misconfigured fail-over, the
    // classic double-signing fault). The second runs in the observer's slot: same peers, its
    // own network key, but org4's validator key and role. Whenever org4 proposes or votes, two
    // different messages may go out for one height and round.
    let mut net = TestNet::init(4, 1, Suite::Sm, |g| {
        g.params.empty_block_interval_ms = 50;
        g.params.block_interval_ms = 50;
    });
    let twin = net.dir.path().join("observer1");
    std::fs::copy(net.dir.path().join("org4").join("validator.pem"), twin.join("validator.pem")).unwrap();
    let mut cfg = fdl_node::NodeConfig::load(&twin.join("node.toml")).unwrap();
    cfg.role = fdl_types::NodeRole::Validator;
    cfg.save(&twin.join("node.toml")).unwrap();
    for i in 0..5 {
        net.spawn(i);
    }
    let honest = [0, 1, 2];
    // Run until evidence shows up on an honest node (bounded).
    let evidence = wait_for_or(
        LONG,
        "org1 records equivocation evidence",
        || {
            let ev: Vec<serde_json::Value> = net
                .rt
                .block_on(async { reqwest::get(format!("{}/v1/evidence", net.nodes[0].rpc)).await?.json().await })
                .unwrap_or_default();
            (!ev.is_empty()).then_some(ev)
        },
        || format!("logs of org1:\n{}", net.log(0)),
    );
    let org4 = address_of_node(&net, 3);
    assert!(evidence.iter().any(|e| e["validator"] == org4.as_str()), "evidence names org4: {evidence:?}");
    let status = net.rt.block_on(net.client(0).status()).unwrap();
    assert!(status.consensus.evidence >= 1);
    // No fork among the honest validators, and the chain keeps going.
    let h = converge(&net, &honest, status.height + 3);
    net.assert_same_chain(&honest, h);
}

#[test]
fn a_validator_killed_at_random_instants_never_signs_twice() {
    // SIGKILL org2 five times at arbitrary moments while transfers flow; each time it restarts
    // from its write-ahead log. No node may record an equivocation, and the chains agree.
    let mut net = TestNet::start(4, 0, Suite::Sm);
    let chain = net.genesis.chain_id.clone();
    let payer = KeyPair::generate(Suite::Sm);
    net.certify(&payer, "org2");
    let expiry = net.height(0).unwrap() + 100_000;
    let fund =
        build_tx(&net.issuer, &chain, expiry, Payload::Issue { to: payer.address(), amount: 1_000_000 }).unwrap();
    net.rt.block_on(net.client(0).submit_batch(std::slice::from_ref(&fund))).unwrap();
    wait_committed(&net, 0, &fund.id());
    let mut sent = Vec::new();
    for round in 0..5u64 {
        let txs: Vec<SignedTx> = (0..100)
            .map(|n| {
                let to = Address([(n % 250) as u8 + 1; 20]);
                let memo = format!("r{round}n{n}");
                build_tx(&payer, &chain, expiry, Payload::Transfer { to, amount: 1, memo }).unwrap()
            })
            .collect();
        net.rt.block_on(net.client(((round as usize) % 2) * 2).submit_batch(&txs)).unwrap();
        sent.extend(txs);
        // Not a wait for anything: the kill instant, varied from round to round so that it falls
        // anywhere in a height's propose/vote/commit cycle (or while org2 still restarts).
        std::thread::sleep(Duration::from_millis(150 + 137 * round));
        net.kill9(1);
        net.spawn(1);
    }
    for tx in &sent {
        wait_committed(&net, 3, &tx.id());
    }
    let h = converge(&net, &[0, 1, 2, 3], net.height(3).unwrap());
    net.assert_same_chain(&[0, 1, 2, 3], h);
    for i in 0..4 {
        let ev: Vec<serde_json::Value> = net
            .rt
            .block_on(async { reqwest::get(format!("{}/v1/evidence", net.nodes[i].rpc)).await?.json().await })
            .unwrap();
        assert!(ev.is_empty(), "{} recorded equivocation: {ev:?}", net.nodes[i].name);
    }
}

#[test]
fn a_node_refuses_peers_and_network_keys_the_genesis_does_not_list() {
    let net = TestNet::init(4, 0, Suite::Sm, |_| {});
    let cfg_path = &net.nodes[0].config;
    let original = std::fs::read_to_string(cfg_path).unwrap();
    // A peer id that no member holds.
    let stranger = "12D3KooWLRPJAA5o6Z6GHNs9Zo2D3Fvb2VtGN7E3k7Bq4MrtjPC7";
    let mut cfg = fdl_node::NodeConfig::load(cfg_path).unwrap();
    cfg.p2p.as_mut().unwrap().peers[0].peer_id = stranger.into();
    cfg.save(cfg_path).unwrap();
    let out = std::process::Command::new(common::FDL)
        .args(["node", "--config", cfg_path.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("not a node listed in the genesis"), "{err}");
    // A network key the genesis does not list.
    std::fs::write(cfg_path, &original).unwrap();
    let key = net.dir.path().join("org1").join("network.key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let out = std::process::Command::new(common::FDL)
        .args(["node", "--config", cfg_path.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("which the genesis does not list"), "{err}");
}

/// A validator whose network port is taken exits at once with an error naming the address and
/// its use (it said only "address in use").
#[test]
fn a_validator_whose_network_port_is_taken_exits_naming_it() {
    let net = TestNet::init(4, 0, Suite::Sm, |_| {});
    let cfg_path = &net.nodes[0].config;
    let listen = fdl_node::NodeConfig::load(cfg_path).unwrap().p2p.unwrap().listen;
    let _taken = std::net::TcpListener::bind(listen).unwrap();
    let mut child = std::process::Command::new(common::FDL)
        .args(["node", "--config", cfg_path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = common::wait::poll(Duration::from_secs(30), || child.try_wait().unwrap());
    if exited.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(exited.is_some_and(|s| !s.success()), "the node did not exit: {err}");
    assert!(err.contains(&format!("cannot listen on {listen} (network port)")), "{err}");
}

#[test]
fn four_institutions_set_up_by_hand_with_init_genesis_and_peers() {
    // The multi-host procedure of docs/operations.md, with each "host" a directory and a port.
    let _serial = common::net::serial();
    let root = tempfile::tempdir().unwrap();
    let base = common::net::low_port_base(8);
    let mut members = Vec::new();
    let mut configs = Vec::new();
    for i in 0..4u16 {
        let org = format!("bank{}", (b'A' + i as u8) as char);
        let dir = root.path().join(&org).join("node");
        let (code, out, err) = common::fdl(&[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--org",
            &org,
            "--suite",
            "sm",
            "--rpc-listen",
            &format!("127.0.0.1:{}", base + i),
            "--p2p-listen",
            &format!("127.0.0.1:{}", base + 50 + i),
            "--advertise",
            "127.0.0.1",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        members.push(dir.join("member.json").to_str().unwrap().to_string());
        configs.push(dir.join("node.toml"));
    }
    let genesis = root.path().join("genesis.json");
    let issuer = root.path().join("issuer.pem");
    // Every read open: the test reads the nodes without keys.
    let mut args =
        vec!["genesis", "--chain-id", "bank-consortium-1", "--out", genesis.to_str().unwrap(), "--public-reads", "all"];
    args.extend(["--issuer-key", issuer.to_str().unwrap()]);
    args.extend(members.iter().map(String::as_str));
    let (code, out, err) = common::fdl(&args);
    assert_eq!(code, 0, "{out}{err}");
    let mut children = Vec::new();
    for (i, cfg) in configs.iter().enumerate() {
        // Each institution copies the genesis next to its node directory.
        std::fs::copy(&genesis, cfg.parent().unwrap().parent().unwrap().join("genesis.json")).unwrap();
        let mut args = vec!["peers", "--config", cfg.to_str().unwrap()];
        args.extend(members.iter().map(String::as_str));
        let (code, out, err) = common::fdl(&args);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("3 peers"), "{out}");
        let log = std::fs::File::create(root.path().join(format!("node{i}.log"))).unwrap();
        children.push(common::net::KillOnDrop(
            std::process::Command::new(common::FDL)
                .args(["node", "--config", cfg.to_str().unwrap()])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let clients: Vec<fdl_sdk::Client> =
        (0..4).map(|i| fdl_sdk::Client::new(&format!("http://127.0.0.1:{}", base + i)).unwrap()).collect();
    let heights =
        || -> Vec<u64> { clients.iter().filter_map(|c| rt.block_on(c.status()).ok().map(|s| s.height)).collect() };
    wait_until_or(
        LONG,
        "all four institutions have final blocks",
        || {
            let hs = heights();
            hs.len() == 4 && hs.iter().all(|&h| h >= 3)
        },
        || format!("heights {:?}", heights()),
    );
    // Anyone holding the genesis checks a block's certificate against its own copy.
    let (code, out, err) = common::fdl(&[
        "query",
        "block",
        "3",
        "--verify",
        "--rpc",
        &format!("http://127.0.0.1:{}", base + 2),
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let status = rt.block_on(clients[0].status()).unwrap();
    assert_eq!(status.chain_id, "bank-consortium-1");
    assert_eq!(status.validators, 4);
    drop(children);
}

#[test]
fn nodes_refuse_a_genesis_whose_validators_are_not_certified_by_their_institution() {
    // The devnet's genesis lists each institution's CA and each node's certificate.
    let net = TestNet::init(4, 0, Suite::Sm, |_| {});
    // Four banks and the regulator (which runs no node here and holds no committee seat).
    assert_eq!(net.genesis.members.len(), 5);
    assert_eq!(net.genesis.regulator.as_deref(), Some("regulator"));
    assert!(net.genesis.validators.iter().all(|v| v.certificate.is_some()));
    let start = |g: &fdl_types::Genesis| {
        std::fs::write(net.dir.path().join("genesis.json"), serde_json::to_string_pretty(g).unwrap()).unwrap();
        let out = std::process::Command::new(common::FDL)
            .args(["node", "--config", net.nodes[0].config.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A certificate from a foreign CA that uses org2's name.
    let foreign_key = KeyPair::generate(Suite::Sm);
    let foreign_ca = fdl_pki::create_ca("org2", &foreign_key, 10).unwrap();
    let org2_key =
        fdl_crypto::PublicKey::from_bytes(Suite::Sm, &hex::decode(&net.genesis.validators[1].public_key).unwrap())
            .unwrap();
    let forged = fdl_pki::issue(&foreign_ca, &foreign_key, &org2_key, "org2", fdl_pki::Role::Validator, 10).unwrap();
    let mut g = net.genesis.clone();
    g.validators[1].certificate = Some(fdl_pki::to_pem(&forged).unwrap());
    let err = start(&g);
    assert!(err.contains("node org2") && err.contains("not signed by this CA"), "{err}");
    // A genuine certificate, but for the observer role.
    let ca_dir = net.dir.path().join("org2").join("ca");
    let ca = fdl_pki::from_pem(&std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap()).unwrap();
    let ca_key = KeyPair::read_pem_file(&ca_dir.join("ca-key.pem")).unwrap();
    let observer_cert = fdl_pki::issue(&ca, &ca_key, &org2_key, "org2", fdl_pki::Role::Observer, 10).unwrap();
    g.validators[1].certificate = Some(fdl_pki::to_pem(&observer_cert).unwrap());
    let err = start(&g);
    assert!(err.contains("role"), "{err}");
    // No certificate at all.
    g.validators[1].certificate = None;
    let err = start(&g);
    assert!(err.contains("no certificate"), "{err}");
}

/// Issue 15: a client flooding one node is refused at once (429 `overloaded`, with a retry hint)
/// beyond what the chain commits in the target wait, another client still gets in, every
/// admitted transaction commits, and the four validators keep finalizing one chain.
#[test]
fn a_flood_is_refused_at_once_while_others_get_in_and_the_chain_keeps_finalizing() {
    // Small blocks: the budget before any measured commit is one block.
    let mut net = TestNet::init(4, 0, Suite::Sm, |g| g.params.max_block_txs = 100);
    for i in 0..4 {
        net.spawn(i);
    }
    for i in 0..4 {
        net.wait_height(i, 2, LONG);
    }
    let chain = net.genesis.chain_id.clone();
    let (flooder, polite) = (KeyPair::generate(Suite::Sm), KeyPair::generate(Suite::Sm));
    net.certify(&flooder, "org1");
    net.certify(&polite, "org2");
    let expiry = net.height(0).unwrap() + 10_000;
    let funding: Vec<SignedTx> = [&flooder, &polite]
        .iter()
        .map(|a| build_tx(&net.issuer, &chain, expiry, Payload::Issue { to: a.address(), amount: 1_000_000 }).unwrap())
        .collect();
    net.rt.block_on(net.client(0).submit_batch(&funding)).unwrap();
    for tx in &funding {
        wait_committed(&net, 0, &tx.id());
    }
    let to = Address([9; 20]);
    let flood: Vec<SignedTx> = (0..1_000)
        .map(|n| {
            build_tx(&flooder, &chain, expiry, Payload::Transfer { to, amount: 1, memo: format!("f{n}") }).unwrap()
        })
        .collect();
    let before = net.height(0).unwrap();
    let (mut admitted, mut overloaded) = (Vec::new(), 0usize);
    for chunk in flood.chunks(250) {
        let items = net.rt.block_on(net.client(0).submit_batch(chunk)).unwrap();
        for (tx, it) in chunk.iter().zip(&items) {
            match it.code.as_deref() {
                None => admitted.push(tx.id()),
                Some("overloaded") => {
                    overloaded += 1;
                    assert!(it.message.as_deref().unwrap_or("").contains("retry in"), "{it:?}");
                }
                Some(other) => panic!("unexpected refusal {other}: {it:?}"),
            }
        }
    }
    assert!(overloaded >= 500, "the flood beyond the budget is refused: {overloaded} of 1000");
    assert!(!admitted.is_empty(), "the budget is used");
    // A whole batch over the budget is a 429 with Retry-After.
    let body = serde_json::json!({ "txs": flood[900..].iter().map(|t| hex::encode(fdl_types::Encode::encode(t))).collect::<Vec<_>>() });
    let r = net.rt.block_on(async {
        reqwest::Client::new().post(format!("{}/v1/transactions/batch", net.nodes[0].rpc)).json(&body).send().await
    });
    let r = r.unwrap();
    if r.status() == 429 {
        assert!(r.headers().get("retry-after").is_some(), "{:?}", r.headers());
    }
    // Another sender still gets in while the flooder is over its share, and is committed.
    let mine: Vec<SignedTx> = (0..5)
        .map(|n| build_tx(&polite, &chain, expiry, Payload::Transfer { to, amount: 2, memo: format!("p{n}") }).unwrap())
        .collect();
    let items = net.rt.block_on(net.client(0).submit_batch(&mine)).unwrap();
    assert!(items.iter().all(|it| it.hash.is_some()), "the other sender is admitted: {items:?}");
    let mut top = 0;
    for tx in &mine {
        top = top.max(wait_committed(&net, 2, &tx.id()));
    }
    for id in &admitted {
        top = top.max(wait_committed(&net, 3, id));
    }
    let h = converge(&net, &[0, 1, 2, 3], top.max(before + 3));
    net.assert_same_chain(&[0, 1, 2, 3], h);
    let m = net
        .rt
        .block_on(async { reqwest::get(format!("{}/metrics", net.nodes[0].rpc)).await.unwrap().text().await.unwrap() });
    let throttled: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("fdl_txs_throttled_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(throttled >= overloaded as u64, "{throttled} < {overloaded}");
}
