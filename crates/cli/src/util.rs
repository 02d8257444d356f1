//! Shared helpers: the runtime, the default RPC URL, the devnet record.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The default API address of a devnet's first node.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:8700";

/// A devnet's record, written to `DIR/devnet.json` (and copied to `~/.fdl/devnet.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevnetRecord {
    /// Chain id.
    pub chain_id: String,
    /// Suite.
    pub suite: fdl_crypto::Suite,
    /// The issuer's key file.
    pub issuer_key: PathBuf,
    /// The devnet directory.
    pub dir: PathBuf,
    /// Nodes.
    pub nodes: Vec<DevnetNode>,
    /// The genesis file (the light client's trust anchor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,
    /// The genesis hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<fdl_crypto::Hash>,
}

/// The trust anchor verified reads use by default: the genesis of the chain `fdl init`,
/// `fdl genesis` or `fdl devnet` last made or started on this machine (`~/.fdl/trust.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustRecord {
    /// Chain id, for messages.
    pub chain_id: String,
    /// The genesis file.
    pub genesis: PathBuf,
    /// Its hash: the anchor itself, used to fetch the genesis from the node when the file is gone.
    pub genesis_hash: fdl_crypto::Hash,
}

/// Where the default trust anchor is recorded.
pub fn trust_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".fdl").join("trust.json"))
}

/// Records `genesis` (at `path`) as the default trust anchor of verified reads. Best effort: a
/// machine without a home directory simply has no default.
pub fn record_trust(path: &Path, genesis: &fdl_types::Genesis) {
    let Some(file) = trust_file() else { return };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let record = TrustRecord { chain_id: genesis.chain_id.clone(), genesis: path, genesis_hash: genesis.hash() };
    let Ok(text) = serde_json::to_string_pretty(&record) else { return };
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Written aside and renamed, so a concurrent reader never sees half a record.
    let tmp = file.with_extension(format!("json.{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The recorded default trust anchor, if readable.
pub fn trust_record() -> Option<TrustRecord> {
    let text = std::fs::read_to_string(trust_file()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// One node of a devnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevnetNode {
    /// Name.
    pub name: String,
    /// `validator` or `observer`.
    pub role: String,
    /// API URL.
    pub rpc: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Process id.
    pub pid: u32,
}

/// A multi-threaded tokio runtime.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// The devnet last started on this machine, if its record is readable.
pub fn last_devnet() -> Option<DevnetRecord> {
    let p = crate::last_devnet_file()?;
    read_record(&p).ok()
}

/// Reads a devnet record.
pub fn read_record(p: &Path) -> anyhow::Result<DevnetRecord> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

/// The RPC URL: the flag, else `FDL_RPC`, else the last devnet's first node, else the default.
/// The channel settings of this run (`--ca`, `--tlcp-dir`), set once by `main`.
static CHANNEL: std::sync::OnceLock<(Option<PathBuf>, Option<PathBuf>)> = std::sync::OnceLock::new();

/// Records the global `--ca` and `--tlcp-dir` options.
pub fn set_channel(ca: Option<PathBuf>, tlcp_dir: Option<PathBuf>) {
    let _ = CHANNEL.set((ca, tlcp_dir));
}

/// A client of the node at `flag`'s URL ([`rpc_url`]): plain HTTP for `http://`, TLCP for
/// `https://` with the CA bundle (`--ca`, `FDL_CA`, else the last devnet's) and the client's TLCP
/// pair when one is given (`--tlcp-dir`, `FDL_TLCP_DIR`).
pub fn client(flag: &Option<String>) -> anyhow::Result<fdl_sdk::Client> {
    let url = rpc_url(flag);
    if !url.starts_with("https://") {
        return Ok(fdl_sdk::Client::new(&url)?);
    }
    let (ca, dir) = CHANNEL.get().cloned().unwrap_or_default();
    let ca = ca
        .or_else(|| std::env::var_os("FDL_CA").map(PathBuf::from))
        .or_else(|| last_devnet().map(|d| d.dir.join("ca-bundle.pem")))
        .ok_or_else(|| anyhow::anyhow!("{url} is a TLCP API: name the chain's CA bundle with --ca FILE (or FDL_CA)"))?;
    let pem = std::fs::read_to_string(&ca).with_context(|| format!("reading the CA bundle {}", ca.display()))?;
    let cas = fdl_sdk::ca_bundle_from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
    let identity = match dir.or_else(|| std::env::var_os("FDL_TLCP_DIR").map(PathBuf::from)) {
        Some(d) => Some(fdl_channel::TlcpIdentity::load(&fdl_channel::TlcpFiles::in_dir(&d))?),
        None => None,
    };
    Ok(fdl_sdk::Client::with_tlcp(&url, cas, identity.as_ref())?)
}

/// The API URL: the flag, else `FDL_RPC`, else the last devnet's first node, else the default.
pub fn rpc_url(flag: &Option<String>) -> String {
    if let Some(u) = flag {
        return u.clone();
    }
    if let Ok(u) = std::env::var("FDL_RPC") {
        return u;
    }
    if let Some(n) = last_devnet().and_then(|d| d.nodes.first().map(|n| n.rpc.clone())) {
        return n;
    }
    DEFAULT_RPC.to_string()
}

/// `--key` and `--cert` of a command that only reads: who reads (STD-16.1).
#[derive(clap::Args, Clone, Default)]
pub struct ReadKey {
    /// Sign the reads with this key (PKCS#8 PEM) so the node knows who reads: the node's read
    /// policy may require a role (the audit log: auditor, regulator, admin). Without it the
    /// reads are anonymous. Signed reads are accepted on the node's own host (loopback).
    #[arg(long = "key", global = true)]
    pub key: Option<PathBuf>,
    /// The key's certificate (PEM); default: the key's file name with `.crt`, if it exists.
    #[arg(long = "cert", global = true, requires = "key")]
    pub cert: Option<PathBuf>,
}

/// A client of the node at `rpc`, signing its reads with the key of `k` when it names one.
///
/// # Errors
/// An unreadable key or certificate, or a bad URL.
pub fn read_client(rpc: &Option<String>, k: &ReadKey) -> anyhow::Result<fdl_sdk::Client> {
    let client = client(rpc)?;
    let Some(path) = &k.key else { return Ok(client) };
    let key = crate::keysrc::load_signer(path).with_context(|| format!("loading the key {}", path.display()))?;
    let cert = crate::tx::load_cert(path, k.cert.as_deref())?;
    Ok(client.with_read_key(key.into(), cert))
}

/// Prints `value` as one JSON line.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// An amount in the smallest unit, from the command line: a positive integer. Read as text (and
/// checked here) so that `-5`, `0` or `1.5` get this message rather than an argument-parsing one.
pub fn parse_amount(text: &str) -> anyhow::Result<u128> {
    match text.trim().parse::<u128>() {
        Ok(n) if n > 0 => Ok(n),
        _ => anyhow::bail!("amount must be a positive integer in the smallest unit (e.g. --amount 1000), got `{text}`"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn amounts_are_positive_integers() {
        assert_eq!(parse_amount("1000").unwrap(), 1000);
        for bad in ["0", "-5", "1.5", "", "abc", "-0"] {
            let e = parse_amount(bad).unwrap_err().to_string();
            assert!(e.starts_with("amount must be a positive integer"), "{bad}: {e}");
        }
    }
}
