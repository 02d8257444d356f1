//! `fdl tx issue|transfer|burn`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use fdl_crypto::{Address, Signer};
use fdl_sdk::{Client, SdkError};
use fdl_types::Payload;

use crate::util::{parse_amount, print_json};

/// `fdl tx`.
#[derive(Args)]
pub struct TxArgs {
    #[command(subcommand)]
    kind: TxKind,
}

#[derive(Args)]
struct Common {
    /// The sender's key: a PKCS#8 PEM file (plain or encrypted) or a PKCS#11 URI.
    #[arg(long)]
    key: PathBuf,
    /// The sender's certificate (PEM); default: the key's file name with `.crt`, if it exists.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Amount in the smallest unit: a positive integer.
    #[arg(long, allow_hyphen_values = true)]
    amount: String,
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
        TxKind::Issue { to, common } => (Payload::Issue { to, amount: parse_amount(&common.amount)? }, common),
        TxKind::Transfer { to, memo, common } => {
            (Payload::Transfer { to, amount: parse_amount(&common.amount)?, memo }, common)
        }
        TxKind::Burn { common } => (Payload::Burn { amount: parse_amount(&common.amount)? }, common),
    };
    let key = crate::keysrc::load_signer(&c.key).with_context(|| format!("loading the key {}", c.key.display()))?;
    let cert = load_cert(&c.key, c.cert.as_deref())?;
    let client = crate::util::client(&c.rpc)?;
    send_and_report(&client, key.as_ref(), cert.as_deref(), payload, c.wait, c.json).await
}

/// The certificate (DER) to sign with: `cert` if given, else the key's path with `.crt` when
/// that file exists (not for a PKCS#11 URI), else none (an open chain).
pub fn load_cert(key: &Path, cert: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let path = match cert {
        Some(p) => p.to_path_buf(),
        None if crate::keysrc::is_uri(key) => return Ok(None),
        None => {
            let p = key.with_extension("crt");
            if !p.exists() {
                return Ok(None);
            }
            p
        }
    };
    let pem = std::fs::read_to_string(&path).with_context(|| format!("reading the certificate {}", path.display()))?;
    Ok(Some(fdl_pki::from_pem(&pem).with_context(|| format!("{} is not a PEM certificate", path.display()))?))
}

/// Sends a transaction and prints the outcome; exit status 0 only if it was accepted (and,
/// with `wait`, committed with status ok).
pub async fn send_and_report(
    client: &Client,
    key: &dyn Signer,
    cert: Option<&[u8]>,
    payload: Payload,
    wait: bool,
    json: bool,
) -> anyhow::Result<i32> {
    send_and_decode(client, key, cert, payload, Flags { wait, json }, None).await
}

/// Decodes a receipt's return data (an EVM call's, with its ABI) into the value printed.
pub(crate) type Decoder<'a> = &'a dyn Fn(&fdl_types::api::ReceiptView) -> Option<serde_json::Value>;

/// As [`send_and_report`]; with `decode`, the receipt's return value is what it answers (a
/// top-level `result` with `--json`, `returned ...` in text).
pub(crate) async fn send_and_decode(
    client: &Client,
    key: &dyn Signer,
    cert: Option<&[u8]>,
    payload: Payload,
    c: Flags,
    decode: Option<Decoder<'_>>,
) -> anyhow::Result<i32> {
    match client.send_as(key, cert, payload, c.wait).await {
        Ok(v) => {
            let ok = v.receipt.as_ref().is_some_and(|r| r.code == 0);
            let decoded = match (decode, &v.receipt) {
                (Some(d), Some(r)) if r.code == 0 => d(r),
                _ => None,
            };
            // A proposal's number, when the transaction made one (for scripts: `.proposal`).
            let proposal = v.receipt.as_ref().and_then(|r| {
                r.events.iter().filter(|e| e.kind == "gov.proposed").find_map(|e| {
                    e.attrs.iter().find(|(k, _)| k == "proposal").and_then(|(_, v)| v.parse::<u64>().ok())
                })
            });
            // A contract's new version, when the transaction deployed or upgraded one.
            let version = v.receipt.as_ref().and_then(|r| {
                r.events
                    .iter()
                    .filter(|e| e.kind == "contract.deployed" || e.kind == "contract.upgraded")
                    .find_map(|e| e.attrs.iter().find(|(k, _)| k == "version").and_then(|(_, v)| v.parse::<u64>().ok()))
            });
            if c.json {
                let mut j = serde_json::to_value(&v)?;
                if let Some(o) = j.as_object_mut() {
                    if let Some(p) = proposal {
                        o.insert("proposal".into(), p.into());
                    }
                    if let Some(n) = version {
                        o.insert("version".into(), n.into());
                    }
                    if let Some(r) = &decoded {
                        o.insert("result".into(), r.clone());
                    }
                }
                print_json(&j)?;
            } else {
                println!("transaction {}", v.hash);
                match (&v.receipt, v.height) {
                    (Some(r), Some(h)) => {
                        println!("committed at height {h}: {}", r.status);
                        if let Some(p) = proposal {
                            println!("proposal {p}");
                        }
                        if let Some(n) = version {
                            println!("contract version {n} installed");
                        }
                        if r.output.is_some() || r.events.iter().any(|e| e.kind.starts_with("contract.")) {
                            println!("fuel used {}", r.cost);
                        }
                        match (&decoded, &r.output) {
                            (Some(d), _) if !d.is_null() => println!("returned {d}"),
                            (None, Some(out)) if decode.is_none() => println!("returned {out}"),
                            _ => {}
                        }
                        for e in &r.events {
                            let attrs: Vec<String> = e.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            println!("  {} {}", e.kind, attrs.join(" "));
                        }
                    }
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

/// Whether to wait for the commit, and to print JSON.
pub(crate) struct Flags {
    /// Wait until committed.
    pub wait: bool,
    /// Print JSON.
    pub json: bool,
}
