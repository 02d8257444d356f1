//! Misbehaving validators (STD-11.2, STD-11.4): four validators on 127.0.0.1, one of them (org4)
//! runs the test build's `FDL_BYZANTINE` mode (docs/testing.md). Whatever it does, the three
//! honest validators keep finalizing, never fork, and stay within bounded memory and disk.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::build_tx;
use common::net::TestNet;
use common::wait::{wait_for, wait_for_or, wait_until_or};
use fdl_crypto::{Address, Hash, KeyPair, Suite};
use fdl_types::{Payload, SignedTx};

/// The misbehaving validator.
const BYZ: usize = 3;
/// The honest validators.
const HONEST: [usize; 3] = [0, 1, 2];
const LONG: Duration = Duration::from_secs(120);

/// Four validators (and `observers` observers, not started) with fast blocks; org1..org3 honest,
/// org4 started with `FDL_BYZANTINE=mode`.
fn start_with(mode: &str, observers: usize) -> TestNet {
    let mut net = TestNet::init(4, observers, Suite::Sm, |g| {
        g.params.empty_block_interval_ms = 50;
        g.params.block_interval_ms = 50;
    });
    for i in HONEST {
        net.spawn(i);
    }
    net.spawn_with_env(BYZ, &[("FDL_BYZANTINE", mode)]);
    wait_until_or(
        Duration::from_secs(30),
        "org4 says it misbehaves",
        || net.log(BYZ).contains("misbehaves on purpose"),
        || net.log(BYZ),
    );
    net
}

fn max_height(net: &TestNet, nodes: &[usize]) -> u64 {
    nodes.iter().filter_map(|&i| net.height(i)).max().unwrap_or(0)
}

/// Waits until every honest validator has finalized `k` blocks past the highest honest height
/// now, within `within`; returns that height.
fn honest_advance(net: &TestNet, k: u64, within: Duration) -> u64 {
    let target = max_height(net, &HONEST) + k;
    for i in HONEST {
        net.wait_height(i, target, within);
    }
    target
}

/// Lines of node `i`'s log that contain every one of `needles`.
fn log_count(net: &TestNet, i: usize, needles: &[&str]) -> usize {
    net.log(i).lines().filter(|l| needles.iter().all(|n| l.contains(n))).count()
}

/// The misbehaving node is still running (it did not merely crash).
fn assert_byzantine_alive(net: &mut TestNet) {
    let child = net.nodes[BYZ].child.as_mut().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "org4 exited; log:\n{}", net.log(BYZ));
}

fn wait_committed(net: &TestNet, i: usize, id: &Hash) -> u64 {
    wait_for(LONG, &format!("transaction {id} is committed on node {i}"), || {
        net.rt.block_on(net.client(i).tx(id)).ok().and_then(|v| v.height)
    })
}

/// A funded payer, whose certificate is registered on chain by a first committed transfer.
fn funded_payer(net: &TestNet) -> (KeyPair, u64) {
    let chain = net.genesis.chain_id.clone();
    let payer = KeyPair::generate(Suite::Sm);
    net.certify(&payer, "org1");
    let expiry = net.height(0).unwrap() + 100_000;
    let fund =
        build_tx(&net.issuer, &chain, expiry, Payload::Issue { to: payer.address(), amount: 1_000_000 }).unwrap();
    net.rt.block_on(net.client(0).submit_batch(std::slice::from_ref(&fund))).unwrap();
    wait_committed(net, 0, &fund.id());
    let first = transfer(net, &payer, expiry, "first");
    net.rt.block_on(net.client(0).submit_batch(std::slice::from_ref(&first))).unwrap();
    wait_committed(net, 0, &first.id());
    (payer, expiry)
}

/// A transfer that carries the payer's certificate (see `common::build_tx`).
fn transfer(net: &TestNet, payer: &KeyPair, expiry: u64, memo: &str) -> SignedTx {
    let payload = Payload::Transfer { to: Address([7; 20]), amount: 1, memo: memo.into() };
    build_tx(payer, &net.genesis.chain_id, expiry, payload).unwrap()
}

#[test]
fn an_equivocating_proposer_forks_nothing_and_the_honest_validators_keep_finalizing() {
    let mut net = start_with("equivocate", 0);
    net.wait_height(0, 2, LONG);
    // org4 proposes at round 0 of every fourth height: 16 heights give it four turns.
    let h = honest_advance(&net, 16, LONG);
    assert!(
        log_count(&net, BYZ, &["byzantine: equivocated"]) >= 2,
        "org4 sent two blocks for one height and round at least twice; log:\n{}",
        net.log(BYZ)
    );
    net.assert_same_chain(&HONEST, h);
    let evidence = net.rt.block_on(net.client(0).evidence()).unwrap_or_default();
    println!("equivocation evidence recorded by org1: {}", evidence.len());
    assert_byzantine_alive(&mut net);
}

#[test]
fn a_proposal_with_a_swapped_credential_is_refused_and_a_fresh_node_syncs_to_the_tip() {
    // org4, when it proposes, replaces each transaction's carried certificate by its hash and
    // keeps the signature made over the certificate form: same transaction id, bytes the
    // signature does not cover. Every honest validator must refuse such a block, even though
    // it admitted (and verified) the original transaction, so that the chain holds only
    // transactions whose signatures verify, and a node syncing from genesis (which checks every
    // signature) reaches the tip.
    let mut net = start_with("swap-credential", 1);
    let observer = 4;
    net.wait_height(0, 2, LONG);
    let (payer, expiry) = funded_payer(&net);
    let mut sent = Vec::new();
    let start = Instant::now();
    // Transfers keep arriving until org4 has proposed a swapped block twice.
    while log_count(&net, BYZ, &["byzantine: swapped the credential form"]) < 2 {
        assert!(start.elapsed() < LONG, "org4 never proposed a swapped block; log:\n{}", net.log(BYZ));
        let batch: Vec<SignedTx> =
            (0..3).map(|n| transfer(&net, &payer, expiry, &format!("t{}-{n}", sent.len()))).collect();
        net.rt.block_on(net.client(0).submit_batch(&batch)).unwrap();
        sent.extend(batch);
        std::thread::sleep(Duration::from_millis(150));
    }
    for tx in &sent {
        wait_committed(&net, 0, &tx.id());
    }
    let tip = honest_advance(&net, 2, LONG);
    // A node that joins now syncs every block from genesis, checking every signature.
    net.spawn(observer);
    net.wait_height(observer, tip, Duration::from_secs(60));
    net.assert_same_chain(&[0, 1, 2, observer], tip);
    for i in HONEST {
        assert!(
            log_count(&net, i, &["invalid proposal", "bad signature"]) >= 1,
            "{} refused org4's block for its bad signature; log:\n{}",
            net.nodes[i].name,
            net.log(i)
        );
    }
    assert_byzantine_alive(&mut net);
}

/// The highest resident memory (KiB) and data directory size (bytes) of the honest validators,
/// sampled while `busy` holds, with the heights they finalized in that time.
struct Sampled {
    rss_kib: u64,
    data_bytes: u64,
    from_height: u64,
    to_height: u64,
    secs: f64,
}

fn sample_while(net: &TestNet, mut busy: impl FnMut() -> bool, limit: Duration) -> Sampled {
    let started = Instant::now();
    let from_height = HONEST.iter().filter_map(|&i| net.height(i)).min().unwrap_or(0);
    let (mut rss_kib, mut data_bytes) = (0, 0);
    loop {
        for i in HONEST {
            rss_kib = rss_kib.max(net.rss_kib(i).unwrap_or(0));
            data_bytes = data_bytes.max(net.data_bytes(i));
        }
        if !busy() {
            break;
        }
        assert!(started.elapsed() < limit, "still busy after {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let to_height = HONEST.iter().filter_map(|&i| net.height(i)).min().unwrap_or(0);
    Sampled { rss_kib, data_bytes, from_height, to_height, secs: started.elapsed().as_secs_f64() }
}

#[test]
fn a_flood_of_proposals_leaves_the_honest_validators_finalizing_within_bounded_memory_and_disk() {
    // org4 streams 20,000 proposals (2,000 a second) for rounds it is, or claims to be, the
    // proposer of, once the chain is at height 4.
    let mut net = start_with("flood,total=20000,rate=2000,after=4", 0);
    net.wait_height(0, 3, LONG);
    let before = sample_while(&net, || false, LONG);
    wait_until_or(LONG, "org4 starts flooding", || net.log(BYZ).contains("flooding proposals"), || net.log(BYZ));
    let during = sample_while(&net, || !net.log(BYZ).contains("byzantine: flood done"), LONG);
    println!(
        "flood of 20,000: honest heights {}..{} in {:.1} s; peak RSS {} KiB (before {}), data {} bytes (before {}); \
         log of org1 {} bytes",
        during.from_height,
        during.to_height,
        during.secs,
        during.rss_kib,
        before.rss_kib,
        during.data_bytes,
        before.data_bytes,
        net.log(0).len()
    );
    assert!(during.secs >= 5.0, "the flood lasted {:.1} s", during.secs);
    // Honest validators kept finalizing during the flood (slower: see docs/benchmarks.md).
    assert!(
        during.to_height >= during.from_height + 3,
        "honest heights {}..{} over {:.1} s of flood",
        during.from_height,
        during.to_height,
        during.secs
    );
    // Bounded: the flood is 20,000 proposals. Measured growth under this flood is
    // 59-77 MiB in debug builds (gossip buffers and allocator arenas; a bound of 64 MiB made the
    // test fail now and then on a clean machine). A node that kept 8 KiB for each proposal
    // would grow by 160 MiB.
    assert!(
        during.rss_kib <= before.rss_kib + 128 * 1024,
        "honest RSS grew from {} KiB to {} KiB",
        before.rss_kib,
        during.rss_kib
    );
    assert!(
        during.data_bytes <= before.data_bytes + 16 * 1024 * 1024,
        "honest data grew from {} to {} bytes",
        before.data_bytes,
        during.data_bytes
    );
    let h = honest_advance(&net, 3, LONG);
    net.assert_same_chain(&HONEST, h);
    assert_byzantine_alive(&mut net);
}

#[test]
fn garbage_on_every_consensus_channel_forks_nothing_and_the_honest_validators_keep_finalizing() {
    let mut net = start_with("garbage", 0);
    net.wait_height(0, 2, LONG);
    let h = honest_advance(&net, 16, LONG);
    assert!(log_count(&net, BYZ, &["byzantine: sending garbage"]) >= 1, "org4 sent garbage; log:\n{}", net.log(BYZ));
    net.assert_same_chain(&HONEST, h);
    assert_byzantine_alive(&mut net);
}

#[test]
fn a_silent_validator_stops_nothing_and_signs_no_certificate() {
    let mut net = start_with("silent", 0);
    net.wait_height(0, 2, LONG);
    let h = honest_advance(&net, 12, LONG);
    net.assert_same_chain(&HONEST, h);
    let key = KeyPair::read_pem_file(&net.dir.path().join("org4").join("validator.pem")).unwrap();
    let org4 = key.address().to_hex();
    for height in 1..=h {
        let b = net.block(0, height).unwrap();
        let signers: Vec<String> = b.commit.unwrap().signatures.iter().map(|s| s.address.clone()).collect();
        assert!(!signers.contains(&org4), "org4 signed the certificate of block {height}");
    }
    assert_byzantine_alive(&mut net);
}

/// Finality and memory of the honest validators with and without a flood: printed, and
/// recorded in docs/benchmarks.md. About two minutes; run with
/// `cargo test -p fdl-cli --test byzantine -- --ignored --nocapture flood_figures`.
#[test]
#[ignore = "a measurement of about two minutes (docs/benchmarks.md)"]
fn flood_figures_honest_finality_and_memory_with_and_without_100k_proposals() {
    let mut report = Vec::new();
    for flood in [false, true] {
        let mut net = TestNet::init(4, 0, Suite::Sm, |g| {
            g.params.empty_block_interval_ms = 50;
            g.params.block_interval_ms = 50;
        });
        for i in HONEST {
            net.spawn(i);
        }
        let mode = "flood,total=100000,rate=2500,after=6";
        if flood {
            net.spawn_with_env(BYZ, &[("FDL_BYZANTINE", mode)]);
        } else {
            net.spawn(BYZ);
        }
        net.wait_height(0, 2, LONG);
        let (payer, expiry) = funded_payer(&net);
        if flood {
            wait_until_or(
                LONG,
                "org4 starts flooding",
                || net.log(BYZ).contains("flooding proposals"),
                || net.log(BYZ),
            );
        }
        // Transfers one after the other, each waiting for its commit, while the flood lasts
        // (or for 40 s without one).
        let started = Instant::now();
        let from = max_height(&net, &HONEST);
        let cpu0: f64 = HONEST.iter().filter_map(|&i| net.cpu_secs(i)).sum();
        let mut latencies = Vec::new();
        let (mut rss_kib, mut data_bytes) = (0, 0);
        loop {
            let busy = if flood {
                !net.log(BYZ).contains("byzantine: flood done")
            } else {
                started.elapsed() < Duration::from_secs(40)
            };
            if !busy {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "the flood never ended");
            let tx = transfer(&net, &payer, expiry, &format!("m{}", latencies.len()));
            let t = Instant::now();
            net.rt.block_on(net.client(0).submit(&tx, false)).unwrap();
            wait_committed(&net, 0, &tx.id());
            latencies.push(t.elapsed().as_secs_f64() * 1_000.0);
            for i in HONEST {
                rss_kib = rss_kib.max(net.rss_kib(i).unwrap_or(0));
                data_bytes = data_bytes.max(net.data_bytes(i));
            }
        }
        let to = max_height(&net, &HONEST);
        let secs = started.elapsed().as_secs_f64();
        let cpu = HONEST.iter().filter_map(|&i| net.cpu_secs(i)).sum::<f64>() - cpu0;
        let log_mib = HONEST.iter().map(|&i| net.log(i).len()).max().unwrap_or(0) as f64 / (1024.0 * 1024.0);
        latencies.sort_by(f64::total_cmp);
        let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        // Block time: the median gap between consecutive honest block timestamps.
        let mut gaps: Vec<u64> = (from + 1..=to)
            .filter_map(|h| Some(net.block(0, h)?.header.timestamp_ms - net.block(0, h - 1)?.header.timestamp_ms))
            .collect();
        gaps.sort_unstable();
        let line = format!(
            "{:<28} transfers {:>4}  submit-to-commit p50 {:>6.0} ms  p95 {:>6.0} ms  block gap p50 {:>4} ms  \
             heights {from}..{to} in {secs:.0} s  honest peak RSS {:>4} MiB  data {:>5.1} MiB  log {log_mib:.1} MiB  \
             honest CPU {cpu:.0} s",
            if flood { "flood of 100,000 proposals" } else { "no flood" },
            latencies.len(),
            p(0.5),
            p(0.95),
            gaps.get(gaps.len() / 2).copied().unwrap_or(0),
            rss_kib / 1024,
            data_bytes as f64 / (1024.0 * 1024.0),
        );
        println!("{line}");
        report.push(line);
        if flood {
            let h = honest_advance(&net, 2, LONG);
            net.assert_same_chain(&HONEST, h);
            assert_byzantine_alive(&mut net);
        }
    }
    println!("\n{}", report.join("\n"));
}

/// The test build's `fdl` carries the misbehaviour; an unparsable mode stops the node instead of
/// running it honestly.
#[test]
fn an_unknown_byzantine_mode_stops_the_node() {
    let mut net = TestNet::init(4, 0, Suite::Sm, |_| {});
    net.spawn_with_env(BYZ, &[("FDL_BYZANTINE", "equivocat")]);
    let log = net.log_path(BYZ);
    let child = net.nodes[BYZ].child.as_mut().unwrap();
    let status = wait_for_or(
        Duration::from_secs(30),
        "org4 exits",
        || child.try_wait().unwrap(),
        || std::fs::read_to_string(&log).unwrap_or_default(),
    );
    assert!(!status.success());
    assert!(net.log(BYZ).contains("unknown mode"), "log:\n{}", net.log(BYZ));
}
