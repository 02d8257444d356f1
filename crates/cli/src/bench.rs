//! `fdl bench`: a signed payment load against a running chain.
//!
//! It funds `--accounts` accounts from the issuer, pre-signs `--txs` transfers between them,
//! measures the single-core signature-verify rate on the same transactions (the crypto bound),
//! then submits the transfers in batches from `--clients` concurrent clients (optionally paced
//! to `--rate` tx/s) and timestamps each commit from the node's WebSocket stream. It reports, one
//! per line on stderr with its progress, and as one JSON line on stdout (the record scripts keep;
//! `--json` leaves only that): suite, validators, txs, duration_s, tps, latency_ms_p50, latency_ms_p99,
//! sig_verify_per_s_core (the node's verifier on a key it has not seen), the cached-key and
//! reference (RustCrypto) rates, and sig_verify_per_s_machine (the same verifier on every core at
//! once) measured in the same run. Every validator checks every signature and a devnet's
//! validators share this machine, so the crypto bound is the machine rate divided by the number
//! of validators (the single-core rate for one validator); `bound_ratio` is tps over it.
//!
//! Without `--rpc`, the clients spread their requests over every node of the last devnet.
//!
//! With `--accounts-file FILE` the sending accounts are kept in FILE and reused by later runs
//! (`bench/accounts.rs`), so a series of runs grows the chain's history without growing its
//! state (docs/benchmarks.md, "Ninth sitting").
//!
//! With `--contract NAME` the transfers are calls of the token contract NAME (`contracts/token`:
//! `mint`, `transfer`) instead of native payments, so the two are compared in one sitting. The
//! accounts are funded by `mint` calls of the last devnet's org1 administrator; when NAME is not
//! deployed yet, it is deployed from `--wasm` by a vote of the devnet's institutions. The record
//! then also has `fuel_per_call` (one transfer's fuel) and the first node's module cache hits
//! and misses during the run. With `--sol FILE` as well, NAME is a Solidity token (`mint(address,
//! uint256)`, `transfer(address,uint256)`: `contracts/solidity/Token.sol`), compiled and deployed
//! from FILE when it is not deployed yet; `fuel_per_call` is then the gas of one transfer and the
//! cache counts are the EVM code cache's.
//!
//! With `--duration S` (and `--rate R`) the run is sustained instead: R tx/s are offered for S
//! seconds, refusals are counted and not retried, and throughput and latency are reported per
//! 10-second window so a decay shows (`bench/sustained.rs`). Either way the record ends with every
//! node's height, resident memory and database size, read from its `/metrics` after the run.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Args;
use fdl_crypto::{Hash, KeyPair, Signer as _, Suite};
use fdl_sdk::{Client, build_certified_tx};
use fdl_types::{Credential, Payload, SignedTx, api::StreamMessageView};
use futures_util::StreamExt as _;
use serde_json::json;

use crate::util::{last_devnet, rpc_url, runtime};

mod accounts;
mod sustained;

/// Transactions signed for the verify-rate measurements when the run signs its own (`--duration`).
const VERIFY_SAMPLE: usize = 2_000;

/// `fdl bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Node API URL (default: the devnet's first node).
    #[arg(long)]
    rpc: Option<String>,
    /// Transfers to send.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// Sending accounts.
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Keep the sending accounts (keys, and certificates per CA) in this file and reuse them in
    /// later runs; created when absent. A growth series then adds history, not accounts. The file
    /// holds private keys in the clear (mode 0600): for test chains only.
    #[arg(long, value_name = "FILE")]
    accounts_file: Option<PathBuf>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Transactions per HTTP request.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// Offered load in tx/s (default: as fast as the node accepts).
    #[arg(long)]
    rate: Option<f64>,
    /// Offer `--rate` tx/s for this many seconds instead of sending `--txs`: refusals are counted,
    /// not retried, and throughput and latency are reported per 10-second window.
    #[arg(long, requires = "rate", value_name = "S")]
    duration: Option<f64>,
    /// With `--duration`: most transfers signed before the clock starts (about 0.5 KiB each in
    /// memory); beyond it they are signed during the run, on the cores the nodes use.
    #[arg(long, default_value_t = 1_500_000, requires = "duration")]
    presign_max: usize,
    /// The issuer's key (default: the last devnet's issuer key); its certificate is the same
    /// path with `.crt`.
    #[arg(long)]
    issuer_key: Option<PathBuf>,
    /// The CA that certifies the bench's sending accounts as clients (default: the last
    /// devnet's `org1/ca`).
    #[arg(long)]
    ca_dir: Option<PathBuf>,
    /// Give up waiting for commits after this many seconds.
    #[arg(long, default_value_t = 180)]
    timeout_s: u64,
    /// Print the results as one JSON line (the numbers `docs/benchmarks.md` reports).
    #[arg(long)]
    json: bool,
    /// Transfer through this token contract (`contracts/token`) instead of native payments.
    #[arg(long)]
    contract: Option<String>,
    /// The token module to deploy when `--contract` names no deployed contract.
    #[arg(long, default_value = "target/wasm32-unknown-unknown/release/fdl_token.wasm")]
    wasm: PathBuf,
    /// With `--contract`: the token is this Solidity source's (deployed from it if absent).
    #[arg(long, requires = "contract")]
    sol: Option<PathBuf>,
}

/// The two functions of a Solidity token the bench calls.
const SOL_TOKEN_ABI: &str = r#"[
 {"type":"function","name":"mint","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]}
]"#;

/// The call data of `method(to, amount)` of a Solidity token.
fn sol_call(method: &str, to: fdl_crypto::Address, amount: u64) -> Vec<u8> {
    let abi = fdl_vm_evm::abi::Abi::parse(SOL_TOKEN_ABI).expect("invariant: the bench's fixed ABI parses");
    abi.encode_call(method, &json!([format!("0x{}", to.to_hex()), amount]))
        .expect("invariant: an address and an integer fit (address,uint256)")
}

/// What the measured transactions are.
#[derive(Clone)]
enum Mode {
    /// Native `bank.transfer`.
    Native,
    /// `transfer` of a token contract.
    Contract(String),
    /// `transfer(address,uint256)` of a Solidity token.
    Evm(String),
}

impl Mode {
    fn transfer(&self, to: fdl_crypto::Address, memo: &str) -> Payload {
        match self {
            Mode::Native => Payload::Transfer { to, amount: 1, memo: memo.into() },
            Mode::Contract(name) => Payload::Call {
                contract: name.clone(),
                version: 0,
                method: "transfer".into(),
                args: format!("{{\"to\":\"{}\",\"amount\":1}}", to.to_hex()),
                fuel: 0,
            },
            Mode::Evm(name) => {
                Payload::EvmCall { contract: name.clone(), version: 0, data: sol_call("transfer", to, 1), gas: 0 }
            }
        }
    }
}

/// The first node's module cache counters (hits, misses), from `/metrics`.
async fn module_cache(client: &Client, mode: &Mode) -> Option<(u64, u64)> {
    let text = client.metrics().await.ok()?;
    let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<u64>().ok()));
    let prefix = if matches!(mode, Mode::Evm(_)) { "fdl_evm_code_cache" } else { "fdl_contract_module_cache" };
    Some((value(&format!("{prefix}_hits_total "))?, value(&format!("{prefix}_misses_total "))?))
}

/// Deploys the token `name` from `wasm` by a vote of the last devnet's institutions, unless it is
/// deployed already.
async fn contract_ready(
    client: &Client,
    name: &str,
    wasm: &std::path::Path,
    sol: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if client.contract(name).await.is_ok() {
        return Ok(());
    }
    let d = last_devnet().context("the contract is not deployed and there is no devnet to deploy it with")?;
    let (vm, code, abi) = match sol {
        Some(file) => {
            let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let solc = fdl_vm_evm::solc::find(&here)?;
            let all = fdl_vm_evm::solc::compile(&solc, file, fdl_vm_evm::SOLC_EVM_VERSION)?;
            let c = fdl_vm_evm::solc::pick(all, file, None)?;
            (fdl_types::VmKind::Evm, c.bytecode, c.abi)
        }
        None => {
            let code = std::fs::read(wasm).with_context(|| {
                format!("reading {} (build it: fdl contract build contracts/token)", wasm.display())
            })?;
            (fdl_types::VmKind::Wasm, code, String::new())
        }
    };
    let spec = fdl_types::DeploySpec {
        name: name.to_string(),
        vm,
        code,
        review: None,
        access: vec![],
        allow_reentry: false,
        init_args: String::new(),
        abi,
    };
    let status = client.status().await?;
    let admin = |org: &str| -> anyhow::Result<(KeyPair, Option<Vec<u8>>)> {
        let path = d.dir.join(org).join("admin.pem");
        Ok((crate::keysrc::load_keypair(&path)?, crate::tx::load_cert(&path, None)?))
    };
    let (k, cert) = admin("org1")?;
    let action = fdl_types::GovAction::DeployContract { spec };
    let payload =
        Payload::Propose { action, deadline: status.height + 1_000, activation_height: 0, note: "fdl bench".into() };
    let v = client.send_as(&k, cert.as_deref(), payload, true).await?;
    let id = v
        .receipt
        .iter()
        .flat_map(|r| r.events.iter())
        .filter(|e| e.kind == "gov.proposed")
        .find_map(|e| e.attrs.iter().find(|(k, _)| k == "proposal").and_then(|(_, v)| v.parse::<u64>().ok()))
        .context("the deploy proposal was refused")?;
    for n in 2..=d.nodes.len() {
        if client.contract(name).await.is_ok() {
            break;
        }
        let (k, cert) = admin(&format!("org{n}"))?;
        client.send_as(&k, cert.as_deref(), Payload::Vote { proposal: id, approve: true }, true).await?;
    }
    client.contract(name).await.with_context(|| format!("{name} is not deployed after the vote"))?;
    eprintln!("bench: deployed {name} by proposal {id}");
    Ok(())
}

/// Runs the benchmark.
pub fn run(a: BenchArgs) -> anyhow::Result<i32> {
    runtime()?.block_on(bench(a))
}

fn issuer_key(a: &BenchArgs) -> anyhow::Result<(KeyPair, Option<Vec<u8>>)> {
    let path = match &a.issuer_key {
        Some(p) => p.clone(),
        None => last_devnet().map(|d| d.issuer_key).context(
            "no --issuer-key and no devnet record in ~/.fdl/devnet.json: start `fdl devnet` or pass --issuer-key",
        )?,
    };
    Ok((crate::keysrc::load_keypair(&path)?, crate::tx::load_cert(&path, None)?))
}

/// Client certificates for the bench's accounts, from the CA in `--ca-dir` (or the last
/// devnet's org1). `None` when no CA is found (an open chain needs none).
/// With an accounts file, the certificates it keeps from this CA are reused, and new ones kept.
fn certify(
    a: &BenchArgs,
    suite: Suite,
    keys: &[KeyPair],
    kept: Option<&mut accounts::Accounts>,
) -> anyhow::Result<Option<Vec<Vec<u8>>>> {
    let dir = match &a.ca_dir {
        Some(d) => d.clone(),
        None => match last_devnet() {
            Some(d) => d.dir.join("org1").join("ca"),
            None => return Ok(None),
        },
    };
    if !dir.join("ca.pem").exists() {
        return Ok(None);
    }
    let ca = fdl_pki::from_pem(&std::fs::read_to_string(dir.join("ca.pem"))?)?;
    let ca_id = fdl_types::cert_hash(suite, &ca).to_hex();
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if let Some(certs) = kept.as_ref().map(|k| k.certs(&ca_id, now_s)).transpose()?.flatten() {
        return Ok(Some(certs));
    }
    let ca_key = crate::keysrc::load_keypair(&dir.join("ca-key.pem"))?;
    let certs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| fdl_pki::issue(&ca, &ca_key, &k.public_key(), &format!("bench{i}"), fdl_pki::Role::Client, 30))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(k) = kept {
        k.keep_certs(&ca_id, &certs);
    }
    Ok(Some(certs))
}

fn credential(certs: &Option<Vec<Vec<u8>>>, i: usize, suite: Suite, first_use: bool) -> Credential {
    match certs {
        None => Credential::None,
        Some(c) if first_use => Credential::Certificate(c[i].clone()),
        Some(c) => Credential::Registered(fdl_types::cert_hash(suite, &c[i])),
    }
}

fn sign_all(
    keys: &[KeyPair],
    certs: &Option<Vec<Vec<u8>>>,
    chain_id: &str,
    expiry: u64,
    n: usize,
    mode: &Mode,
) -> anyhow::Result<Vec<SignedTx>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(n))
                        .map(|i| {
                            let from = &keys[i % keys.len()];
                            let to = keys[(i + 1) % keys.len()].address();
                            let cred = credential(certs, i % keys.len(), from.suite(), false);
                            let p = mode.transfer(to, "");
                            build_certified_tx(from, cred, chain_id, expiry, p)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.extend(h.join().map_err(|_| anyhow::anyhow!("signing thread panicked"))??);
        }
        Ok(out)
    })
}

/// Single-core signature-verify rates measured on the bench's own signed transactions.
struct VerifyRates {
    /// The node's verifier for a key it has not seen (SM2: the fast verifier without its cache).
    new_key: f64,
    /// The node's verifier for a repeat sender (SM2: with the per-key table cached).
    cached: f64,
    /// The reference implementation (RustCrypto `sm2`; for Ed25519 the same as the others).
    reference: f64,
}

/// Runs `verify(i)` for i in 0..len, round after round, on this thread for about a second;
/// returns verifies/s.
fn rate(len: usize, verify: impl Fn(usize) -> bool) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(1_000) {
        for i in 0..len {
            assert!(verify(i), "invariant: the bench signed these itself");
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn verify_rates(txs: &[SignedTx]) -> VerifyRates {
    let sample: Vec<(Vec<u8>, SignedTx)> =
        txs.iter().take(2_000).map(|t| (t.body.signing_bytes(), t.clone())).collect();
    let reference = rate(sample.len(), |i| {
        let (m, t) = &sample[i];
        t.body.signer.verify_reference(m, &t.signature).is_ok()
    });
    if t_is_sm2(&sample) {
        fdl_crypto::sm2v::warm_up();
        let new_key = new_key_rate(&sample);
        // Warm the cache (tables are built on a key's second sighting), then measure.
        for (m, t) in sample.iter().chain(sample.iter()) {
            let _ = t.body.signer.verify(m, &t.signature);
        }
        let cached = rate(sample.len(), |i| {
            let (m, t) = &sample[i];
            t.body.signer.verify(m, &t.signature).is_ok()
        });
        VerifyRates { new_key, cached, reference }
    } else {
        VerifyRates { new_key: reference, cached: reference, reference }
    }
}

/// The node's verifier on keys it has not seen (SM2: the fast verifier without its cache), on
/// this thread.
fn new_key_rate(sample: &[(Vec<u8>, SignedTx)]) -> f64 {
    if !t_is_sm2(sample) {
        return rate(sample.len(), |i| {
            let (m, t) = &sample[i];
            t.body.signer.verify(m, &t.signature).is_ok()
        });
    }
    let cases: Vec<Sm2Case<'_>> = sample
        .iter()
        .filter_map(|(m, t)| {
            let (r, s) = sm2_scalars(t.signature.as_bytes())?;
            Some((m.as_slice(), t.body.signer.to_bytes(), r, s))
        })
        .collect();
    rate(cases.len(), |i| {
        let (m, k, r, s) = &cases[i];
        fdl_crypto::sm2v::verify_uncached(k, m, r, s)
    })
}

/// The new-key verify rate of the whole machine: one verifying thread per core, all at once.
fn machine_rate(txs: &[SignedTx]) -> f64 {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let sample: Arc<Vec<(Vec<u8>, SignedTx)>> =
        Arc::new(txs.iter().take(1_000).map(|t| (t.body.signing_bytes(), t.clone())).collect());
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let sample = sample.clone();
            std::thread::spawn(move || new_key_rate(&sample))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
}

/// A message, a SEC1 key, and a signature's r and s.
type Sm2Case<'a> = (&'a [u8], Vec<u8>, [u8; 32], [u8; 32]);

fn t_is_sm2(sample: &[(Vec<u8>, SignedTx)]) -> bool {
    sample.first().is_some_and(|(_, t)| t.body.signer.suite() == Suite::Sm)
}

/// (r, s) of a DER SM2 signature, big-endian, left-padded to 32 bytes.
fn sm2_scalars(der: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    // SEQUENCE { INTEGER r, INTEGER s }, short lengths (an SM2 signature is at most 72 bytes).
    let body = der.get(2..)?;
    let int = |b: &[u8]| -> Option<([u8; 32], usize)> {
        if *b.first()? != 0x02 {
            return None;
        }
        let len = usize::from(*b.get(1)?);
        let v = b.get(2..2 + len)?;
        let v = if v.len() == 33 && v[0] == 0 { &v[1..] } else { v };
        if v.len() > 32 {
            return None;
        }
        let mut out = [0u8; 32];
        out[32 - v.len()..].copy_from_slice(v);
        Some((out, 2 + len))
    };
    let (r, used) = int(body)?;
    let (s, _) = int(body.get(used..)?)?;
    Some((r, s))
}

async fn wait_committed(client: &Client, id: &Hash, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(t) = client.tx(id).await
            && t.status == "committed"
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("transaction {id} not committed within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn submit_all(client: &Client, txs: &[SignedTx]) -> anyhow::Result<()> {
    let mut pending: Vec<SignedTx> = txs.to_vec();
    while !pending.is_empty() {
        let mut retry = Vec::new();
        for chunk in pending.chunks(1_000) {
            let results = match client.submit_batch(chunk).await {
                Ok(r) => r,
                Err(e) if matches!(e.code(), Some("mempool_full" | "overloaded")) => {
                    retry.extend_from_slice(chunk);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for (tx, r) in chunk.iter().zip(results) {
                match r.code.as_deref() {
                    None | Some("already_pending") | Some("replayed") => {}
                    Some("mempool_full" | "overloaded") => retry.push(tx.clone()),
                    Some(other) => bail!("funding refused: {other}: {}", r.message.unwrap_or_default()),
                }
            }
        }
        if !retry.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pending = retry;
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn bench(a: BenchArgs) -> anyhow::Result<i32> {
    if a.txs == 0 || a.accounts < 2 || a.clients == 0 || a.batch == 0 {
        bail!("--txs, --clients and --batch must be positive and --accounts at least 2");
    }
    if let Some(d) = a.duration
        && !(d > 0.0 && d.is_finite() && a.rate.is_some_and(|r| r > 0.0 && r.is_finite()))
    {
        bail!("--duration and --rate must be positive");
    }
    let url = rpc_url(&a.rpc);
    let client = Client::new(&url)?;
    let status = client.status().await.with_context(|| format!("asking {url} for its status"))?;
    let suite: Suite = status.suite;
    let (issuer, issuer_cert) = issuer_key(&a)?;
    if issuer.suite() != suite {
        bail!("the issuer key is {} but the chain uses {}", issuer.suite(), suite);
    }
    eprintln!(
        "bench: {} accounts, {} transfers, {} clients x {} per request, suite {suite}",
        a.accounts, a.txs, a.clients, a.batch
    );
    let mut kept = a.accounts_file.as_deref().map(|p| accounts::Accounts::open(p, suite, a.accounts)).transpose()?;
    let keys: Vec<KeyPair> = match &kept {
        Some(k) => k.keys.clone(),
        None => (0..a.accounts).map(|_| KeyPair::generate(suite)).collect(),
    };
    let certs = certify(&a, suite, &keys, kept.as_mut())?;
    if let (Some(k), Some(path)) = (&kept, &a.accounts_file) {
        k.save(path)?;
    }
    let expiry = status.height.saturating_add(fdl_sdk::DEFAULT_EXPIRY_BLOCKS);
    let issuer_cred = match &issuer_cert {
        Some(der) => client.credential_for(suite, der).await?,
        None => Credential::None,
    };
    let mode = match &a.contract {
        None => Mode::Native,
        Some(name) => {
            contract_ready(&client, name, &a.wasm, a.sol.as_deref()).await?;
            if a.sol.is_some() { Mode::Evm(name.clone()) } else { Mode::Contract(name.clone()) }
        }
    };
    // Native payments are funded by the issuer; contract transfers by org1's administrator's mints.
    let (funder, funder_cred) = match &mode {
        Mode::Native => (issuer, issuer_cred),
        Mode::Contract(_) | Mode::Evm(_) => {
            let d = last_devnet().context("--contract funds the accounts as the last devnet's org1 admin")?;
            let path = d.dir.join("org1").join("admin.pem");
            let key = crate::keysrc::load_keypair(&path)?;
            let cred = match crate::tx::load_cert(&path, None)? {
                Some(der) => client.credential_for(suite, &der).await?,
                None => Credential::None,
            };
            (key, cred)
        }
    };
    let funding: Vec<SignedTx> = keys
        .iter()
        .map(|k| {
            let p = match &mode {
                Mode::Native => Payload::Issue { to: k.address(), amount: 1_000_000_000 },
                Mode::Contract(name) => Payload::Call {
                    contract: name.clone(),
                    version: 0,
                    method: "mint".into(),
                    args: format!("{{\"to\":\"{}\",\"amount\":1000000000}}", k.address().to_hex()),
                    fuel: 0,
                },
                Mode::Evm(name) => Payload::EvmCall {
                    contract: name.clone(),
                    version: 0,
                    data: sol_call("mint", k.address(), 1_000_000_000),
                    gas: 0,
                },
            };
            build_certified_tx(&funder, funder_cred.clone(), &status.chain_id, expiry, p)
        })
        .collect::<Result<_, _>>()?;
    submit_all(&client, &funding).await?;
    if let Some(last) = funding.last() {
        wait_committed(&client, &last.id(), Duration::from_secs(a.timeout_s)).await?;
    }
    if certs.is_some() {
        // Each account's first transaction carries its certificate and registers it; the
        // measured transfers then carry only the certificate's hash.
        let register: Vec<SignedTx> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let to = keys[(i + 1) % keys.len()].address();
                let p = mode.transfer(to, "register");
                build_certified_tx(k, credential(&certs, i, suite, true), &status.chain_id, expiry, p)
            })
            .collect::<Result<_, _>>()?;
        submit_all(&client, &register).await?;
        if let Some(last) = register.last() {
            wait_committed(&client, &last.id(), Duration::from_secs(a.timeout_s)).await?;
        }
        eprintln!("bench: accounts funded and their certificates registered; pre-signing transfers");
    } else {
        eprintln!("bench: accounts funded; pre-signing transfers");
    }
    // A sustained run signs its transfers as it goes; here only the verify-rate sample.
    let sign_start = Instant::now();
    let to_sign = if a.duration.is_some() { VERIFY_SAMPLE } else { a.txs };
    let txs = sign_all(&keys, &certs, &status.chain_id, expiry, to_sign, &mode)?;
    let sign_rate = txs.len() as f64 / sign_start.elapsed().as_secs_f64().max(1e-9);
    let cache_before = module_cache(&client, &mode).await;
    let rates = tokio::task::spawn_blocking({
        let sample: Vec<SignedTx> = txs.iter().take(2_000).cloned().collect();
        move || verify_rates(&sample)
    })
    .await?;
    let sig_rate = rates.new_key;
    let machine = tokio::task::spawn_blocking({
        let sample: Vec<SignedTx> = txs.iter().take(1_000).cloned().collect();
        move || machine_rate(&sample)
    })
    .await?;
    let validators = status.validators.max(1);
    let bound = if validators == 1 { sig_rate } else { machine / validators as f64 };
    eprintln!(
        "bench: verify rate {:.0}/s new key on one core ({machine:.0}/s on all cores), {:.0}/s cached key, \
         {:.0}/s reference; crypto bound for {validators} validator(s) {bound:.0} tx/s; submitting",
        rates.new_key, rates.cached, rates.reference
    );
    // Spread the clients over every node of the devnet unless one API was named.
    let targets: Vec<Client> = match (&a.rpc, last_devnet()) {
        (None, Some(d)) if d.nodes.len() > 1 && d.nodes.iter().any(|n| n.rpc == url) => {
            d.nodes.iter().map(|n| Client::new(&n.rpc)).collect::<Result<_, _>>()?
        }
        _ => vec![client.clone()],
    };
    // Every node of the devnet is asked for its height and footprint at the end.
    let nodes: Vec<String> = match (&a.rpc, last_devnet()) {
        (None, Some(d)) if d.nodes.iter().any(|n| n.rpc == url) => d.nodes.iter().map(|n| n.rpc.clone()).collect(),
        _ => vec![url.clone()],
    };
    let ws_url = format!("{}/v1/stream?events=false", url.replacen("http", "ws", 1));
    if let (Some(duration_s), Some(rate)) = (a.duration, a.rate) {
        let setup = sustained::Setup {
            keys: Arc::new(keys),
            certs: Arc::new(certs),
            chain_id: status.chain_id.clone(),
            expiry,
            mode: mode.clone(),
            targets: targets.clone(),
            ws_url,
            rate,
            duration_s,
            batch: a.batch,
            clients: a.clients,
            presign_max: a.presign_max,
            timeout: Duration::from_secs(a.timeout_s),
        };
        let run = sustained::run(setup).await?;
        let tps = run.fields.get("tps").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        let (fuel_per_call, cache) = contract_costs(&client, &mode, run.first_committed, cache_before).await;
        let mut out = json!({
            "mode": mode_name(&mode),
            "fuel_per_call": fuel_per_call,
            "module_cache": cache,
            "suite": suite,
            "validators": status.validators,
            "sig_verify_per_s_core": sig_rate.round(),
            "sig_verify_per_s_core_cached": rates.cached.round(),
            "sig_verify_per_s_core_rustcrypto": rates.reference.round(),
            "sig_verify_per_s_machine": machine.round(),
            "crypto_bound_tps": bound.round(),
            "bound_ratio": (tps / bound * 100.0).round() / 100.0,
            "nodes_loaded": targets.len(),
            "offered_rate": a.rate,
        });
        if let serde_json::Value::Object(o) = &mut out {
            o.extend(run.fields);
            o.extend(sustained::footprints(&nodes).await);
        }
        print_record(&out, a.json);
        return Ok(if run.unfinished == 0 { 0 } else { 1 });
    }

    // Commit times, from the node's stream.
    let wanted: Arc<HashSet<Hash>> = Arc::new(txs.iter().map(SignedTx::id).collect());
    let committed: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::new(Mutex::new(HashMap::with_capacity(txs.len())));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(&ws_url).await.with_context(|| format!("connecting {ws_url}"))?;
    let watcher = {
        let committed = committed.clone();
        let wanted = wanted.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let now = Instant::now();
                let Ok(text) = msg.into_text() else { continue };
                let Ok(StreamMessageView::Block { tx_hashes, .. }) = fdl_sdk::parse_stream_message(&text) else {
                    continue;
                };
                let mut c = committed.lock().expect("invariant: no panics while holding the lock");
                for id in tx_hashes {
                    if wanted.contains(&id) {
                        c.insert(id, now);
                    }
                }
                if c.len() == wanted.len() {
                    return;
                }
            }
        })
    };

    let queue: Arc<Mutex<VecDeque<Vec<SignedTx>>>> =
        Arc::new(Mutex::new(txs.chunks(a.batch).map(<[SignedTx]>::to_vec).collect()));
    let sent_at: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::new(Mutex::new(HashMap::with_capacity(txs.len())));
    let start = Instant::now();
    let pace = a.rate.map(|r| Duration::from_secs_f64(a.batch as f64 / r.max(1.0)));
    let next_slot = Arc::new(Mutex::new(start));
    let mut workers = Vec::new();
    for w in 0..a.clients {
        let client = targets[w % targets.len()].clone();
        let (queue, sent_at, next_slot) = (queue.clone(), sent_at.clone(), next_slot.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(batch) = queue.lock().expect("invariant: lock").pop_front() else {
                    return Ok::<_, anyhow::Error>(());
                };
                if let Some(p) = pace {
                    let slot = {
                        let mut s = next_slot.lock().expect("invariant: lock");
                        let slot = *s;
                        *s += p;
                        slot
                    };
                    tokio::time::sleep_until(slot.into()).await;
                }
                let mut pending = batch;
                while !pending.is_empty() {
                    let t = Instant::now();
                    let results = match client.submit_batch(&pending).await {
                        Ok(r) => r,
                        Err(e) if matches!(e.code(), Some("mempool_full" | "overloaded")) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let mut retry = Vec::new();
                    {
                        let mut s = sent_at.lock().expect("invariant: lock");
                        for (tx, r) in pending.iter().zip(results) {
                            match r.code.as_deref() {
                                None => {
                                    s.insert(tx.id(), t);
                                }
                                Some("mempool_full" | "overloaded") => retry.push(tx.clone()),
                                Some(code) => bail!("transfer refused: {code}: {}", r.message.unwrap_or_default()),
                            }
                        }
                    }
                    if !retry.is_empty() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    pending = retry;
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let submitted_in = start.elapsed();
    let _ = tokio::time::timeout(Duration::from_secs(a.timeout_s), watcher).await;
    let committed = committed.lock().expect("invariant: lock").clone();
    let sent_at = sent_at.lock().expect("invariant: lock").clone();
    if committed.is_empty() {
        bail!("no transfer was seen committed");
    }
    let last = committed.values().max().copied().unwrap_or(start);
    let duration = last.duration_since(start).as_secs_f64().max(1e-6);
    let mut lat: Vec<f64> = committed
        .iter()
        .filter_map(|(id, c)| sent_at.get(id).map(|s| c.duration_since(*s).as_secs_f64() * 1_000.0))
        .collect();
    lat.sort_by(f64::total_cmp);
    let tps = committed.len() as f64 / duration;
    eprintln!(
        "bench: {} of {} committed in {duration:.2} s (submitted in {:.2} s): {tps:.0} tps, {:.2} of the verify bound",
        committed.len(),
        txs.len(),
        submitted_in.as_secs_f64(),
        tps / bound
    );
    let (fuel_per_call, cache) = contract_costs(&client, &mode, txs.first().map(SignedTx::id), cache_before).await;
    let mut out = json!({
        "mode": mode_name(&mode),
        "fuel_per_call": fuel_per_call,
        "module_cache": cache,
        "suite": suite,
        "validators": status.validators,
        "txs": committed.len(),
        "duration_s": (duration * 1000.0).round() / 1000.0,
        "tps": tps.round(),
        "latency_ms_p50": (percentile(&lat, 0.50) * 10.0).round() / 10.0,
        "latency_ms_p99": (percentile(&lat, 0.99) * 10.0).round() / 10.0,
        "sig_verify_per_s_core": sig_rate.round(),
        "sig_verify_per_s_core_cached": rates.cached.round(),
        "sig_verify_per_s_core_rustcrypto": rates.reference.round(),
        "sig_verify_per_s_machine": machine.round(),
        "crypto_bound_tps": bound.round(),
        "bound_ratio": (tps / bound * 100.0).round() / 100.0,
        "nodes_loaded": targets.len(),
        "offered_rate": a.rate,
        "sign_per_s_machine": sign_rate.round(),
    });
    if let serde_json::Value::Object(o) = &mut out {
        o.extend(sustained::footprints(&nodes).await);
    }
    print_record(&out, a.json);
    Ok(if committed.len() == txs.len() { 0 } else { 1 })
}

/// The record's `mode`.
fn mode_name(mode: &Mode) -> String {
    match mode {
        Mode::Native => "native".to_string(),
        Mode::Contract(n) => format!("contract:{n}"),
        Mode::Evm(n) => format!("evm:{n}"),
    }
}

/// For contract transfers: the fuel (or gas) of the transfer `first` (when given) and the first
/// node's cache hits and misses since `before`.
async fn contract_costs(
    client: &Client,
    mode: &Mode,
    first: Option<Hash>,
    before: Option<(u64, u64)>,
) -> (Option<u64>, Option<serde_json::Value>) {
    match mode {
        Mode::Native => (None, None),
        Mode::Contract(_) | Mode::Evm(_) => {
            let fuel = match first {
                Some(id) => client.tx(&id).await.ok().and_then(|v| v.receipt).map(|r| r.cost),
                None => None,
            };
            let after = module_cache(client, mode).await;
            let delta = match (before, after) {
                (Some((h0, m0)), Some((h1, m1))) => Some(json!({"hits": h1 - h0.min(h1), "misses": m1 - m0.min(m1)})),
                _ => None,
            };
            (fuel, delta)
        }
    }
}

/// Prints the record: one line per field on stderr (unless `json_only`), with the progress
/// lines, and the JSON line on stdout, the record scripts and CI keep (`fdl bench | tail -n 1`).
fn print_record(out: &serde_json::Value, json_only: bool) {
    if !json_only && let serde_json::Value::Object(fields) = out {
        for (k, v) in fields {
            if k == "windows" || k == "nodes" {
                // Printed as lines already, one per window and node.
                continue;
            }
            eprintln!("{k:<36} {v}");
        }
    }
    println!("{out}");
}
