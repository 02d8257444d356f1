//! `fdl`: the one command a user of FDL meets — keys, genesis, a node, a local devnet,
//! transactions, queries and the benchmark.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod bench;
mod ca;
mod contract;
mod devnet;
mod fmt;
mod gov;
mod keys;
mod keysrc;
mod network;
mod query;
mod scaffold;
mod signer;
mod tx;
mod util;
mod workdir;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// FDL — a financial distributed ledger on SM2/SM3/SM4.
#[derive(Parser)]
#[command(name = "fdl", version, about)]
struct Cli {
    /// The chain's CA bundle (PEM): reach a node's API over TLCP (`--rpc https://HOST:PORT`) and
    /// check its certificate against it. Default: `FDL_CA`, else the last devnet's `ca-bundle.pem`.
    #[arg(long, global = true, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// A directory holding this client's TLCP pair (`sign.pem`, `sign.key`, `enc.pem`, `enc.key`),
    /// presented to the node so it knows who reads (the read policy). Default: `FDL_TLCP_DIR`.
    #[arg(long, global = true, value_name = "DIR")]
    tlcp_dir: Option<PathBuf>,
    /// The passphrase of encrypted key files, read from FILE (else FDL_KEY_PASSPHRASE, else a
    /// prompt on a terminal).
    #[arg(long, global = true, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a key pair (PKCS#8 PEM, readable by OpenSSL 3) and print its address.
    Keygen(keys::KeygenArgs),
    /// Key files and HSM keys: encrypt, decrypt, pkcs11 import|generate|list.
    Key(keysrc::KeyArgs),
    /// Sign a file: a DER signature (SM2 with SM3 and id 1234567812345678, or Ed25519).
    Sign(keys::SignArgs),
    /// Verify a file's signature with a public key (SPKI PEM) or private key file.
    Verify(keys::VerifyArgs),
    /// Create a chain (one validator, or --validators N on 127.0.0.1), or with --org one
    /// institution's node for a multi-host network.
    Init(devnet::InitArgs),
    /// An institution's certificate authority: init, issue (with a role), revoke, verify.
    Ca(ca::CaArgs),
    /// Merge the institutions' public parts (member.json) into a genesis.
    Genesis(network::GenesisArgs),
    /// Fill a node config's peer list from the members' public parts.
    Peers(network::PeersArgs),
    /// Run a node.
    Node(devnet::NodeArgs),
    /// Hold a validator's key in its own process and sign the node's votes and proposals over a
    /// local socket, never two different ones for the same height, round and step (`init`
    /// writes the channel's token).
    Signer(signer::SignerArgs),
    /// Start (or restart) a local network on 127.0.0.1 and keep it running until Ctrl-C.
    Devnet(devnet::DevnetArgs),
    /// Send a transaction.
    Tx(tx::TxArgs),
    /// Query the ledger.
    Query(query::QueryArgs),
    /// The consortium's member institutions.
    Member(query::MemberArgs),
    /// Committee governance: propose, vote, show, list (STD-17).
    Gov(gov::GovArgs),
    /// Account measures: freeze and unfreeze by committee vote (STD-13.2).
    Account(gov::AccountArgs),
    /// The audit log of identity, account, permission and governance events (STD-13.4).
    Audit(gov::AuditArgs),
    /// Drive a signed payment load and print throughput and latency (--json: one JSON line).
    Bench(bench::BenchArgs),
    /// Smart contracts in Rust: new, build, check, deploy, upgrade, freeze, unfreeze, retire,
    /// access, list, show, call, query.
    Contract(contract::ContractArgs),
}

fn main() {
    let cli = Cli::parse();
    util::set_channel(cli.ca, cli.tlcp_dir);
    keysrc::set_passphrase_file(cli.passphrase_file);
    let result = match cli.cmd {
        Cmd::Key(a) => keysrc::run(a),
        Cmd::Keygen(a) => keys::keygen(a),
        Cmd::Sign(a) => keys::sign(a),
        Cmd::Verify(a) => keys::verify(a),
        Cmd::Init(a) => devnet::init(a),
        Cmd::Ca(a) => ca::run(a),
        Cmd::Genesis(a) => network::genesis(a),
        Cmd::Peers(a) => network::peers(a),
        Cmd::Node(a) => devnet::node(a),
        Cmd::Signer(a) => signer::run(a),
        Cmd::Devnet(a) => devnet::devnet(a),
        Cmd::Tx(a) => util::runtime().and_then(|rt| rt.block_on(tx::run(a))),
        Cmd::Query(a) => util::runtime().and_then(|rt| rt.block_on(query::run(a))),
        Cmd::Member(a) => util::runtime().and_then(|rt| rt.block_on(query::member(a))),
        Cmd::Gov(a) => util::runtime().and_then(|rt| rt.block_on(gov::gov(a))),
        Cmd::Account(a) => util::runtime().and_then(|rt| rt.block_on(gov::account(a))),
        Cmd::Audit(a) => util::runtime().and_then(|rt| rt.block_on(gov::audit(a))),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Contract(a) => util::runtime().and_then(|rt| rt.block_on(contract::contract(a))),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            std::process::exit(2);
        }
    }
}

/// What the user most likely needs to do about `e`, when that is clear.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    let unreachable = e.chain().any(|c| matches!(c.downcast_ref(), Some(fdl_sdk::SdkError::Transport { .. })));
    unreachable.then_some(
        "is the node running? Start a local devnet with `cargo run --release -- devnet` (in the \
         repository), or name a running node with --rpc URL (or FDL_RPC)",
    )
}

/// Where `fdl devnet` records the devnet it last started, so other commands find it by default.
pub(crate) fn last_devnet_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".fdl").join("devnet.json"))
}
