//! `fdl query status|block|tx|account`. The reads of ledger data (`account`, `tx`,
//! `block --verify`) are verified against a trust anchor, the genesis, by the SDK's light client
//! (STD-11.2, ADR 0011): a read that cannot be proven says so and exits 1.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use fdl_crypto::{Address, Hash};
use fdl_sdk::{Client, LightClient, SdkError, TrustAnchor, TrustedHeader, verify_header};

use crate::util::print_json;

/// `fdl query`.
#[derive(Args)]
pub struct QueryArgs {
    #[command(subcommand)]
    what: What,
    /// Node API URL (default: the devnet's first node).
    #[arg(long, global = true)]
    rpc: Option<String>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Trust anchor of verified reads: this genesis file (default: the genesis `fdl init`,
    /// `fdl genesis` or `fdl devnet` last recorded on this machine).
    #[arg(long, global = true, conflicts_with = "genesis_hash")]
    genesis: Option<PathBuf>,
    /// Trust anchor of verified reads: this genesis hash (hex); the node's genesis must match it.
    #[arg(long, global = true)]
    genesis_hash: Option<Hash>,
    #[command(flatten)]
    reader: crate::util::ReadKey,
}

#[derive(Subcommand)]
enum What {
    /// Chain id, suite, height, node id, peers.
    Status,
    /// A block (default: the latest).
    Block {
        /// Height.
        height: Option<u64>,
        /// Check the header hash, every transaction's signature and the tx root, and that the commit
        /// certificate carries valid signatures of more than two thirds of the voting power of the
        /// validator set proven from the trust anchor (--genesis, --genesis-hash).
        #[arg(long)]
        verify: bool,
    },
    /// A transaction by hash, proven to be in a block verified from the trust anchor.
    Tx {
        /// Transaction hash.
        hash: Hash,
    },
    /// An account's balance, checked with its Merkle proof against the state root of a block
    /// verified from the trust anchor.
    Account {
        /// Address.
        address: Address,
    },
}

fn api_error(e: SdkError, json: bool) -> anyhow::Result<i32> {
    match e {
        SdkError::Api { code, message, status, .. } => {
            if json {
                print_json(&serde_json::json!({"code": code, "message": message, "http_status": status}))?;
            } else {
                eprintln!("{code}: {message}");
            }
            Ok(1)
        }
        other => Err(other.into()),
    }
}

/// The light client of the trust anchor the flags name, else the recorded default.
async fn light_client(a: &QueryArgs, client: &Client) -> Result<LightClient, String> {
    let anchor = if let Some(p) = &a.genesis {
        let g = fdl_types::Genesis::load(p).map_err(|e| e.to_string())?;
        TrustAnchor::from_genesis(g).map_err(|e| e.to_string())?
    } else if let Some(h) = &a.genesis_hash {
        TrustAnchor::fetch(client, h).await.map_err(|e| e.to_string())?
    } else if let Some(r) = crate::util::trust_record() {
        match fdl_types::Genesis::load(&r.genesis) {
            Ok(g) if g.hash() == r.genesis_hash => TrustAnchor::from_genesis(g).map_err(|e| e.to_string())?,
            _ => TrustAnchor::fetch(client, &r.genesis_hash).await.map_err(|e| e.to_string())?,
        }
    } else {
        return Err(
            "no trust anchor: pass --genesis FILE or --genesis-hash HEX (fdl init and fdl devnet record one)".into()
        );
    };
    LightClient::new(&anchor).map_err(|e| e.to_string())
}

/// Reports a read that did not verify; exit code 1.
fn not_verified(what: &str, e: &str, json: bool) -> anyhow::Result<i32> {
    if json {
        print_json(&serde_json::json!({"verified": false, "error": format!("{what}: {e}")}))?;
    } else {
        eprintln!("{what} is NOT verified: {e}");
    }
    Ok(1)
}

/// An SDK failure of a verified read: API errors as usual, anything else as not verified.
fn read_failed(what: &str, e: SdkError, json: bool) -> anyhow::Result<i32> {
    match e {
        SdkError::Api { code, message, status, .. } if json => {
            let out = serde_json::json!({"code": code, "message": message, "http_status": status, "verified": false});
            print_json(&out)?;
            Ok(1)
        }
        e @ SdkError::Api { .. } => api_error(e, json),
        e => not_verified(what, &e.to_string(), json),
    }
}

/// The line a verified read ends with.
fn verified_line(t: &TrustedHeader) -> String {
    format!(
        "verified against genesis {} at height {} (commit by {} of {} voting power)",
        &t.genesis_hash().to_hex()[..16],
        t.height(),
        t.signed_power(),
        t.total_power()
    )
}

/// The JSON fields of a verified read.
fn verified_json(t: &TrustedHeader) -> serde_json::Value {
    serde_json::json!({
        "verified": true,
        "genesis_hash": t.genesis_hash(),
        "verified_height": t.height(),
        "signed_power": t.signed_power(),
        "total_power": t.total_power(),
    })
}

/// `value` (an object) with the fields of `extra` added.
fn merged(value: impl serde::Serialize, extra: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(value)?;
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    Ok(v)
}

/// Runs `fdl query`.
pub async fn run(a: QueryArgs) -> anyhow::Result<i32> {
    let client = crate::util::read_client(&a.rpc, &a.reader)?;
    let status = match client.status().await {
        Ok(s) => s,
        Err(e) => return api_error(e, a.json),
    };
    match a.what {
        What::Status => {
            if a.json {
                print_json(&status)?;
            } else {
                println!("chain       {} ({} suite)", status.chain_id, status.suite);
                println!("height      {}  ({})", status.height, status.latest_block_hash);
                println!("node        {} ({}, {})", status.node_name, status.role, status.node_id);
                println!("validators  {}", status.validators);
                let c = &status.consensus;
                println!("peers       {} connected ({} configured)", c.peers, status.peers.len());
                println!("round       {}", c.round);
                println!(
                    "sync        {} (peers at {}, {} behind, {} blocks synced)",
                    if c.syncing { "catching up" } else { "in step" },
                    c.peer_height,
                    c.sync_lag,
                    c.synced_blocks
                );
                println!("finality    {} ms (last block)", c.last_finality_ms);
                if c.evidence > 0 {
                    println!("evidence    {} equivocation(s): GET /v1/evidence", c.evidence);
                }
                println!("mempool     {}", status.mempool_size);
            }
        }
        What::Block { height, verify } => {
            let b = match client.block(height).await {
                Ok(b) => b,
                Err(e) => return api_error(e, a.json),
            };
            let what = format!("block {}", b.header.height);
            let trust = if verify {
                let mut lc = match light_client(&a, &client).await {
                    Ok(lc) => lc,
                    Err(e) => return not_verified(&what, &e, a.json),
                };
                match lc.verify_block(&client, &b).await {
                    Ok(t) => Some(t),
                    Err(e) => return read_failed(&what, e, a.json),
                }
            } else {
                verify_header(&b.header, status.suite)?;
                None
            };
            if a.json {
                let extra = match &trust {
                    Some(t) => verified_json(t),
                    None => serde_json::json!({"verified": false}),
                };
                print_json(&merged(&b, extra)?)?;
            } else {
                let h = &b.header;
                println!("block {}  {}", h.height, h.hash);
                println!("  parent      {}", h.parent_hash);
                println!("  time        {}", crate::fmt::utc_ms(h.timestamp_ms));
                println!("  proposer    {}", h.proposer);
                println!("  txs         {}  (root {})", h.tx_count, h.tx_root);
                println!("  state root  {}", h.state_root);
                println!("  receipts    {}", h.receipts_root);
                if let Some(c) = &b.commit {
                    println!("  commit      round {}, {} signature(s)", c.round, c.signatures.len());
                }
                if let Some(t) = &trust {
                    println!("  verified    header hash, transactions and the commit: {}", verified_line(t));
                }
                for t in b.txs.iter().take(20) {
                    println!("  tx {} {} {} -> {}", t.hash, t.method, t.amount, t.to.as_deref().unwrap_or("-"));
                }
                if b.txs.len() > 20 {
                    println!("  ... {} more", b.txs.len() - 20);
                }
            }
        }
        What::Tx { hash } => {
            let what = format!("transaction {hash}");
            let mut lc = match light_client(&a, &client).await {
                Ok(lc) => lc,
                Err(e) => return not_verified(&what, &e, a.json),
            };
            let v = match lc.tx(&client, &hash).await {
                Ok(v) => v,
                Err(e) => return read_failed(&what, e, a.json),
            };
            let t = &v.view;
            if a.json {
                print_json(&merged(t, verified_json(&v.trust))?)?;
            } else {
                println!("transaction {}  {}", t.hash, t.status);
                if let (Some(h), Some(i)) = (t.height, t.index) {
                    println!("  block {h}, index {i}");
                }
                if let Some(tx) = &t.tx {
                    println!(
                        "  {} from {} amount {} to {}",
                        tx.method,
                        tx.sender,
                        tx.amount,
                        tx.to.as_deref().unwrap_or("-")
                    );
                }
                if let Some(r) = &t.receipt {
                    println!("  result {} (code {}), cost {}", r.status, r.code, r.cost);
                    for e in &r.events {
                        println!("  event {} {:?}", e.kind, e.attrs);
                    }
                }
                println!("  in block {}: {}", v.trust.hash(), verified_line(&v.trust));
            }
        }
        What::Account { address } => {
            let what = format!("account {address}");
            let mut lc = match light_client(&a, &client).await {
                Ok(lc) => lc,
                Err(e) => return not_verified(&what, &e, a.json),
            };
            let v = match lc.account(&client, &address).await {
                Ok(v) => v,
                Err(e) => return read_failed(&what, e, a.json),
            };
            let acct = &v.account;
            if a.json {
                let out = serde_json::json!({
                    "address": acct.address.to_hex(),
                    "balance": acct.balance.to_string(),
                    "sent": acct.sent,
                    "exists": acct.exists,
                    "height": acct.header.height,
                    "state_root": acct.header.state_root,
                    "proof_verified": true,
                });
                print_json(&merged(out, verified_json(&v.trust))?)?;
            } else {
                println!("account   {}", acct.address);
                println!("balance   {}", acct.balance);
                println!("sent      {} transaction(s)", acct.sent);
                println!(
                    "proof     {} under state root {} of block {}",
                    if acct.exists { "present" } else { "absent" },
                    acct.header.state_root,
                    acct.header.height
                );
                println!("{}", verified_line(&v.trust));
            }
        }
    }
    Ok(0)
}

/// `fdl member`.
#[derive(clap::Args)]
pub struct MemberArgs {
    #[command(subcommand)]
    cmd: MemberCmd,
    /// Node API URL (default: the devnet's first node).
    #[arg(long, global = true)]
    rpc: Option<String>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    reader: crate::util::ReadKey,
}

#[derive(clap::Subcommand)]
enum MemberCmd {
    /// The member institutions, their CAs and their certified validators and observers, with
    /// the certificates that expire soon flagged.
    List {
        /// Flag certificates that expire within this many days.
        #[arg(long, default_value_t = crate::fmt::DEFAULT_EXPIRY_WARNING_DAYS)]
        expiring_within_days: u64,
    },
}

/// "valid until DATE (expires in N days)", with a warning when that is within `days`; counts the
/// flagged certificates in `flagged`.
fn validity(not_after: u64, now: u64, days: u64, flagged: &mut usize) -> String {
    use crate::fmt::{expires_within, expiry, utc};
    let mut s = format!("valid until {} ({})", utc(not_after), expiry(not_after, now));
    if expires_within(not_after, now, days) {
        *flagged += 1;
        s.push_str(&format!("  <- WARNING: expires within {days} days"));
    }
    s
}

/// Runs `fdl member`.
pub async fn member(a: MemberArgs) -> anyhow::Result<i32> {
    let client = crate::util::read_client(&a.rpc, &a.reader)?;
    match a.cmd {
        MemberCmd::List { expiring_within_days: days } => {
            let members = match client.members().await {
                Ok(m) => m,
                Err(e) => return api_error(e, a.json),
            };
            if a.json {
                print_json(&members)?;
            } else {
                let now = crate::fmt::now_secs();
                let mut flagged = 0;
                for m in &members {
                    println!("{}  CA {} (serial {})", m.name, m.ca.common_name, m.ca.serial);
                    println!("  {:<22} {}", "CA certificate", validity(m.ca.not_after, now, days, &mut flagged));
                    for n in &m.nodes {
                        let cert = n.certificate.as_ref().map_or("no certificate".to_string(), |c| {
                            format!(
                                "certified {}, {}",
                                c.role.as_deref().unwrap_or("-"),
                                validity(c.not_after, now, days, &mut flagged)
                            )
                        });
                        println!("  {:<12} {:<9} {}", n.name, n.role, cert);
                    }
                }
                if flagged > 0 {
                    println!("warning: {flagged} certificate(s) expire within {days} days: rotate them before then");
                }
            }
        }
    }
    Ok(0)
}
