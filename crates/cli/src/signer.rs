//! `fdl signer`: the validator's key in its own process (JR/T 0184 STD-8.2, 8.4; ADR 0015).

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use fdl_node::remote::{ServerConfig, SignerServer, Token};

/// `fdl signer`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SignerArgs {
    #[command(subcommand)]
    cmd: Option<SignerCmd>,
    /// The validator's private key: a PKCS#8 PEM file (plain or encrypted, mode 0600) or a
    /// PKCS#11 URI (`pkcs11:token=...;object=...`).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The Unix socket to listen on (created with mode 0600; its directory should be the
    /// operator's own).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The channel's token file (64 hex digits, mode 0600); written if it does not exist.
    #[arg(long)]
    token: Option<PathBuf>,
    /// The double-sign state file (and its lock `STATE.lock`); created on first start.
    #[arg(long)]
    state: Option<PathBuf>,
    /// The chain whose votes and proposals it signs.
    #[arg(long)]
    chain_id: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Subcommand)]
enum SignerCmd {
    /// Write a new random token file (mode 0600) for a signer and its node.
    Init {
        /// The token file to write (never over an existing one).
        #[arg(long)]
        token: PathBuf,
    },
}

/// Loads the signer's key: a key file (plain or encrypted, owner-only) or a PKCS#11 URI.
fn load_key(path: &std::path::Path) -> anyhow::Result<Arc<dyn fdl_crypto::Signer>> {
    if !crate::keysrc::is_uri(path) {
        // A key file the signer holds must be its owner's alone (STD-8.4).
        fdl_crypto::check_private_key_file(path)?;
    }
    let key =
        crate::keysrc::load_signer(path).with_context(|| format!("loading the validator key {}", path.display()))?;
    Ok(Arc::from(key))
}

/// Runs `fdl signer`.
pub fn run(a: SignerArgs) -> anyhow::Result<i32> {
    if let Some(SignerCmd::Init { token }) = a.cmd {
        Token::generate(&token)?;
        println!(
            "wrote a new signer token to {} (mode 0600); give the node's [signer] section the same file",
            token.display()
        );
        return Ok(0);
    }
    let need = |v: Option<PathBuf>, flag: &str| v.with_context(|| format!("fdl signer needs --{flag}"));
    let key_path = need(a.key, "key")?;
    let socket = need(a.socket, "socket")?;
    let token_path = need(a.token, "token")?;
    let state = need(a.state, "state")?;
    let chain_id = a.chain_id.context("fdl signer needs --chain-id")?;
    crate::devnet::init_logging(a.log_json);
    let key = load_key(&key_path)?;
    let token = if token_path.exists() {
        Token::read(&token_path)?
    } else {
        let t = Token::generate(&token_path)?;
        println!("wrote a new signer token to {} (mode 0600)", token_path.display());
        t
    };
    let public = key.public_key();
    let rt = crate::util::runtime()?;
    rt.block_on(async move {
        let cfg = ServerConfig { socket: socket.clone(), token, state: state.clone(), chain_id: chain_id.clone() };
        let server = SignerServer::bind(cfg, key)?;
        println!(
            "fdl signer: validator {} ({}) of chain {chain_id} listening on {}; state {} (highest height signed {})",
            public.address(),
            public.suite(),
            socket.display(),
            state.display(),
            server.highest()
        );
        server
            .serve(async {
                crate::devnet::wait_for_signal().await;
                tracing::info!("signer stopping");
            })
            .await;
        anyhow::Ok(())
    })?;
    Ok(0)
}
