//! `fdl tx issue|transfer|burn`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use fdl_crypto::{Address, KeyPair};
use fdl_sdk::{Client, SdkError};
use fdl_types::Payload;

use crate::util::{print_json, rpc_url};

/// `fdl tx`.
#[derive(Args)]
pub struct TxArgs {
    #[command(subcommand)]
    kind: TxKind,
}

#[derive(Args)]
struct Common {
    /// The sender's key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// Amount in the smallest unit.
    #[arg(long)]
    amount: u128,
    /// Wait until committed; exit status 0 only if it committed and succeeded.
    #[arg(long)]
    wait: bool,
    /// Node API URL (default: the devnet's first node).
    #[arg(long)]
    rpc: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum TxKind {
    /// Mint new money into an account (issuer only).
    Issue {
        /// Recipient address.
        #[arg(long)]
        to: Address,
        #[command(flatten)]
        common: Common,
    },
    /// Move money to another account.
    Transfer {
        /// Recipient address.
        #[arg(long)]
        to: Address,
        /// A note stored with the transfer.
        #[arg(long, default_value = "")]
        memo: String,
        #[command(flatten)]
        common: Common,
    },
    /// Destroy money from the issuer's own balance (issuer only).
    Burn {
        #[command(flatten)]
        common: Common,
    },
}

/// Runs `fdl tx`.
pub async fn run(a: TxArgs) -> anyhow::Result<i32> {
    let (payload, c) = match a.kind {
        TxKind::Issue { to, common } => (Payload::Issue { to, amount: common.amount }, common),
        TxKind::Transfer { to, memo, common } => (Payload::Transfer { to, amount: common.amount, memo }, common),
        TxKind::Burn { common } => (Payload::Burn { amount: common.amount }, common),
    };
    let key = KeyPair::read_pem_file(&c.key).with_context(|| format!("loading the key {}", c.key.display()))?;
    let client = Client::new(&rpc_url(&c.rpc))?;
    match client.send(&key, payload, c.wait).await {
        Ok(v) => {
            let ok = v.receipt.as_ref().is_some_and(|r| r.code == 0);
            if c.json {
                print_json(&v)?;
            } else {
                println!("transaction {}", v.hash);
                match (&v.receipt, v.height) {
                    (Some(r), Some(h)) => println!("committed at height {h}: {}", r.status),
                    _ => println!("status {}", v.status),
                }
            }
            Ok(if !c.wait || ok { 0 } else { 1 })
        }
        Err(SdkError::Api { code, message, status, .. }) => {
            if c.json {
                print_json(&serde_json::json!({"code": code, "message": message, "http_status": status}))?;
            } else {
                eprintln!("refused: {code}: {message}");
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
