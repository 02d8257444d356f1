//! `fdl query status|block|tx|account`.

use clap::{Args, Subcommand};
use fdl_crypto::{Address, Hash};
use fdl_sdk::{Client, SdkError, verify_header};

use crate::util::{print_json, rpc_url};

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
        /// certificate carries valid signatures of more than two thirds of the validators' power.
        #[arg(long)]
        verify: bool,
        /// With --verify: take the validator set from this genesis file instead of asking the node.
        #[arg(long)]
        genesis: Option<std::path::PathBuf>,
    },
    /// A transaction by hash.
    Tx {
        /// Transaction hash.
        hash: Hash,
    },
    /// An account's balance, checked against the state root with its Merkle proof.
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

/// Runs `fdl query`.
pub async fn run(a: QueryArgs) -> anyhow::Result<i32> {
    let client = Client::new(&rpc_url(&a.rpc))?;
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
        What::Block { height, verify, genesis } => {
            let b = match client.block(height).await {
                Ok(b) => b,
                Err(e) => return api_error(e, a.json),
            };
            if verify {
                let set = match &genesis {
                    Some(p) => fdl_sdk::ValidatorSet::from_genesis(&fdl_types::Genesis::load(p)?)?,
                    None => client.validators_at(status.suite, Some(b.header.height)).await?,
                };
                let report = fdl_sdk::verify_block_view(&b, status.suite, &set);
                if let Err(e) = report {
                    eprintln!("block {} does NOT verify: {e}", b.header.height);
                    return Ok(1);
                }
            } else {
                verify_header(&b.header, status.suite)?;
            }
            if a.json {
                print_json(&b)?;
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
                if verify {
                    println!("  verified    header hash, transactions and a commit by more than 2/3 of the validators");
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
            let t = match client.tx(&hash).await {
                Ok(t) => t,
                Err(e) => return api_error(e, a.json),
            };
            if a.json {
                print_json(&t)?;
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
            }
        }
        What::Account { address } => {
            let acct = match client.account(&address, status.suite).await {
                Ok(v) => v,
                Err(e) => return api_error(e, a.json),
            };
            if a.json {
                print_json(&serde_json::json!({
                    "address": acct.address.to_hex(),
                    "balance": acct.balance.to_string(),
                    "sent": acct.sent,
                    "exists": acct.exists,
                    "height": acct.header.height,
                    "state_root": acct.header.state_root,
                    "proof_verified": true,
                }))?;
            } else {
                println!("account   {}", acct.address);
                println!("balance   {}", acct.balance);
                println!("sent      {} transaction(s)", acct.sent);
                println!(
                    "proof     verified: {} under state root {} of block {}",
                    if acct.exists { "present" } else { "absent" },
                    acct.header.state_root,
                    acct.header.height
                );
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
    let client = Client::new(&rpc_url(&a.rpc))?;
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
