//! `fdl contract`: smart contracts in Rust (STD-12.1 to 12.4) — scaffold, build, check, deploy by
//! committee vote (or directly into an institution's namespace where the chain allows it),
//! upgrade, freeze, unfreeze, retire, access rules, list, show, call and query.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use fdl_crypto::Suite;
use fdl_sdk::SdkError;
use fdl_types::{
    ChainParams, DeploySpec, GovAction, MethodRule, Payload, Review, UpgradeSpec, VmKind,
    api::{ContractCheckView, ContractQueryRequest, ContractView},
};

use crate::{
    gov::{Signing, Timing, propose_with, send_with},
    util::print_json,
};

/// `fdl contract`.
#[derive(Args)]
pub struct ContractArgs {
    #[command(subcommand)]
    cmd: ContractCmd,
}

#[derive(Subcommand)]
enum ContractCmd {
    /// Scaffold a contract crate that builds offline (the SDK is copied in beside it).
    New {
        /// The crate's name (also its directory).
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build a contract crate to WebAssembly; prints the module's path and code hash.
    Build {
        /// The crate's directory (default: the current directory).
        dir: Option<PathBuf>,
        /// The chain's suite, for the code hash (`sm` or `intl`).
        #[arg(long, default_value = "sm")]
        suite: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the static checks every node runs at deploy.
    Check {
        /// The module (`.wasm`).
        file: PathBuf,
        /// The chain's suite, for the code hash.
        #[arg(long, default_value = "sm")]
        suite: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deploy a contract: a committee proposal (your institution votes yes), or with `--direct`
    /// a deploy into your institution's namespace (`ORG.NAME`) where the chain's policy allows it.
    #[command(group(clap::ArgGroup::new("code").required(true).args(["wasm", "evm", "sol"])))]
    Deploy {
        /// The contract's name.
        name: String,
        /// The module (a Rust contract).
        #[arg(long)]
        wasm: Option<PathBuf>,
        #[command(flatten)]
        evm: EvmCode,
        /// Per-method access rules: a JSON file with a list of `{"method", "roles", "orgs", "accounts"}`.
        #[arg(long)]
        access: Option<PathBuf>,
        /// Allow calls to re-enter the contract.
        #[arg(long)]
        allow_reentry: bool,
        /// Arguments of the module's `init` entry (JSON).
        #[arg(long, default_value = "")]
        init_args: String,
        /// The review report's file (its hash is recorded).
        #[arg(long, requires = "review_author")]
        review: Option<PathBuf>,
        /// Who reviewed.
        #[arg(long)]
        review_author: Option<String>,
        /// Deploy directly (no vote) into your institution's namespace.
        #[arg(long)]
        direct: bool,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Propose a new version (storage is kept; its `migrate` entry runs, or for a Solidity
    /// contract the new version's constructor).
    #[command(group(clap::ArgGroup::new("code").required(true).args(["wasm", "evm", "sol"])))]
    Upgrade {
        /// The contract.
        name: String,
        /// The new module (a Rust contract).
        #[arg(long)]
        wasm: Option<PathBuf>,
        #[command(flatten)]
        evm: EvmCode,
        /// Arguments of the module's `migrate` entry (JSON).
        #[arg(long, default_value = "")]
        migrate_args: String,
        /// The review report's file.
        #[arg(long, requires = "review_author")]
        review: Option<PathBuf>,
        /// Who reviewed.
        #[arg(long)]
        review_author: Option<String>,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Propose to freeze a contract (no calls until unfrozen); the regulator may too.
    Freeze {
        /// The contract.
        name: String,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Propose to unfreeze a contract.
    Unfreeze {
        /// The contract.
        name: String,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Propose to retire a contract for good (its state stays readable).
    Retire {
        /// The contract.
        name: String,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Propose new access rules for a contract.
    Access {
        /// The contract.
        name: String,
        /// A JSON file with a list of `{"method", "roles", "orgs", "accounts"}` (`"*"`: every method).
        #[arg(long)]
        rules: PathBuf,
        /// Allow calls to re-enter the contract.
        #[arg(long)]
        allow_reentry: bool,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// List the deployed contracts.
    List {
        /// Node API URL.
        #[arg(long)]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reader: crate::util::ReadKey,
    },
    /// Show a contract: status, owner, access rules, versions.
    Show {
        /// The contract.
        name: String,
        /// Node API URL.
        #[arg(long)]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reader: crate::util::ReadKey,
    },
    /// Call a method in a transaction.
    Call {
        /// The contract.
        name: String,
        /// The method (for a Solidity contract: the function's name, signature or selector).
        method: String,
        /// The arguments: a JSON object (a Solidity contract also takes a JSON array, in the
        /// order of the function's parameters; they are encoded with its ABI).
        #[arg(long)]
        args: Option<String>,
        /// The version (default: the current one).
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// The most fuel (for a Solidity contract: gas) the call may use (default: the chain's
        /// `max_tx_fuel` or `max_tx_gas`).
        #[arg(long, alias = "gas", default_value_t = 0)]
        fuel: u64,
        /// The ABI file of a Solidity contract (default: the ABI the node has for it).
        #[arg(long)]
        abi: Option<PathBuf>,
        #[command(flatten)]
        signing: Signing,
    },
    /// Call a method read-only against the latest final state (no transaction).
    Query {
        /// The contract.
        name: String,
        /// The method (for a Solidity contract: the function's name, signature or selector).
        method: String,
        /// The arguments: a JSON object (a Solidity contract also takes a JSON array).
        #[arg(long)]
        args: Option<String>,
        /// The version (default: the current one).
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// The account the query runs as.
        #[arg(long)]
        caller: Option<String>,
        /// Node API URL.
        #[arg(long)]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reader: crate::util::ReadKey,
    },
}

/// A Solidity contract's code: compiled bytecode with its ABI, or a source file compiled with
/// solc (installed by `scripts/setup.sh`).
#[derive(Args)]
struct EvmCode {
    /// The creation bytecode (a Solidity contract): solc's `.bin` output, hex.
    #[arg(long, requires = "abi_file")]
    evm: Option<PathBuf>,
    /// The contract's ABI (solc's `.abi` output), with `--evm`.
    #[arg(long = "abi", id = "abi_file")]
    abi: Option<PathBuf>,
    /// A Solidity source file: compiled with solc first.
    #[arg(long)]
    sol: Option<PathBuf>,
    /// Which contract of the source file (default: the only one, or the one named like the file).
    #[arg(long)]
    sol_contract: Option<String>,
    /// The constructor's arguments (a JSON array or object, encoded with the ABI).
    #[arg(long = "args")]
    ctor_args: Option<String>,
}

impl EvmCode {
    /// The creation code (with the constructor's arguments appended) and the ABI text, when a
    /// Solidity contract was given.
    fn load(&self) -> anyhow::Result<Option<(Vec<u8>, String)>> {
        let (code, abi) = if let Some(bin) = &self.evm {
            let text = std::fs::read_to_string(bin).with_context(|| format!("reading {}", bin.display()))?;
            let code = hex::decode(text.trim().trim_start_matches("0x"))
                .with_context(|| format!("{}: expected solc's .bin output (hex)", bin.display()))?;
            let abi_path = self.abi.as_ref().ok_or_else(|| anyhow::anyhow!("--evm needs --abi FILE.abi"))?;
            let abi = std::fs::read_to_string(abi_path).with_context(|| format!("reading {}", abi_path.display()))?;
            (code, abi)
        } else if let Some(sol) = &self.sol {
            // The compiler the repository's setup installed: looked for from the source's
            // directory up, then from the current directory up.
            let here = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let near = sol.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf));
            let solc = match near.map(|d| fdl_vm_evm::solc::find(&d)) {
                Some(Ok(found)) => found,
                _ => fdl_vm_evm::solc::find(&here)?,
            };
            let all = fdl_vm_evm::solc::compile(&solc, sol, fdl_vm_evm::SOLC_EVM_VERSION)?;
            let c = fdl_vm_evm::solc::pick(all, sol, self.sol_contract.as_deref())?;
            (c.bytecode, c.abi)
        } else {
            return Ok(None);
        };
        let parsed = fdl_vm_evm::abi::Abi::parse(&abi).map_err(|e| anyhow::anyhow!("the ABI: {e}"))?;
        let args = match &self.ctor_args {
            Some(a) => serde_json::from_str(a).with_context(|| format!("--args {a:?} is not JSON"))?,
            None => serde_json::Value::Null,
        };
        let ctor = parsed.encode_constructor(&args).map_err(|e| anyhow::anyhow!("constructor arguments: {e}"))?;
        let mut code = code;
        code.extend_from_slice(&ctor);
        Ok(Some((code, abi)))
    }
}

fn suite_of(s: &str) -> anyhow::Result<Suite> {
    s.parse().map_err(|_| anyhow::anyhow!("suite {s}: expected sm or intl"))
}

fn args_json(args: &str) -> anyhow::Result<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(args).with_context(|| format!("--args {args:?} is not JSON (quote it for the shell)"))?;
    anyhow::ensure!(v.is_object(), "--args must be a JSON object, e.g. '{{\"owner\": \"ab12...\"}}'");
    Ok(v)
}

fn read_wasm(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the module {}", path.display()))
}

fn review_of(file: &Option<PathBuf>, author: &Option<String>, suite: Suite) -> anyhow::Result<Option<Review>> {
    match (file, author) {
        (Some(f), Some(a)) => {
            let bytes = std::fs::read(f).with_context(|| format!("reading the review {}", f.display()))?;
            Ok(Some(Review { hash: fdl_crypto::hash(suite, &bytes), author: a.clone() }))
        }
        _ => Ok(None),
    }
}

fn rules_of(file: &Option<PathBuf>) -> anyhow::Result<Vec<MethodRule>> {
    let Some(f) = file else { return Ok(vec![]) };
    let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: expected a list of access rules", f.display()))
}

/// The static checks, as every node runs them with the default limits.
fn check(code: &[u8], suite: Suite) -> ContractCheckView {
    let code_hash = fdl_crypto::hash(suite, code);
    match fdl_exec::contract::check_static(code, &ChainParams::default()) {
        Ok(info) => ContractCheckView {
            ok: true,
            code_hash,
            code_size: code.len(),
            methods: info.methods,
            has_init: info.has_init,
            has_migrate: info.has_migrate,
            error_code: None,
            error: None,
        },
        Err((code_str, why)) => ContractCheckView {
            ok: false,
            code_hash,
            code_size: code.len(),
            methods: vec![],
            has_init: false,
            has_migrate: false,
            error_code: Some(code_str),
            error: Some(why),
        },
    }
}

/// The `.wasm` cargo produced for the crate at `dir`.
fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    anyhow::ensure!(manifest.is_file(), "{} has no Cargo.toml: give the contract crate's directory", dir.display());
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--target", "wasm32-unknown-unknown", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest);
    // Small, panic-free modules: the chain refuses floating point and bounds code size.
    for c in [
        "profile.release.opt-level=\"z\"",
        "profile.release.lto=true",
        "profile.release.panic=\"abort\"",
        "profile.release.codegen-units=1",
        "profile.release.strip=true",
        "profile.release.debug=false",
        // A 64 KiB stack instead of rustc's 1 MiB default: the module's memory stays small.
        "target.wasm32-unknown-unknown.rustflags=[\"-C\", \"link-arg=-zstack-size=65536\"]",
    ] {
        cmd.args(["--config", c]);
    }
    let out = cmd.stderr(std::process::Stdio::inherit()).output().context("running cargo (is it installed?)")?;
    anyhow::ensure!(
        out.status.success(),
        "cargo build failed (the wasm target: rustup target add wasm32-unknown-unknown, or scripts/setup.sh)"
    );
    let mut wasm = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let kinds = v["target"]["kind"].as_array().cloned().unwrap_or_default();
        if !kinds.iter().any(|k| k == "cdylib") {
            continue;
        }
        for f in v["filenames"].as_array().cloned().unwrap_or_default() {
            if let Some(f) = f.as_str().filter(|f| f.ends_with(".wasm")) {
                wasm = Some(PathBuf::from(f));
            }
        }
    }
    wasm.ok_or_else(|| anyhow::anyhow!("cargo built no .wasm: is the crate a cdylib (crate-type = [\"cdylib\"])?"))
}

fn print_check(file: &str, v: &ContractCheckView) {
    if v.ok {
        println!("{file}: passes the deploy checks ({} bytes, code hash {})", v.code_size, v.code_hash.to_hex());
        println!("  methods: {}", v.methods.join(", "));
        if v.has_init || v.has_migrate {
            println!(
                "  entries: {}{}",
                if v.has_init { "init " } else { "" },
                if v.has_migrate { "migrate" } else { "" }
            );
        }
    } else {
        println!(
            "{file}: refused: {}: {}",
            v.error_code.as_deref().unwrap_or("invalid"),
            v.error.as_deref().unwrap_or_default()
        );
    }
}

fn print_contract(c: &ContractView) {
    println!("contract {} ({}), owner {}, {}", c.name, c.vm.as_str(), c.owner, c.status);
    println!("  address {}  current version {}  deployed at height {}", c.address, c.current, c.created);
    if c.access.is_empty() {
        println!("  access: open to every caller the chain's contract.call rule admits");
    }
    for r in &c.access {
        let list = |v: &[String]| if v.is_empty() { "any".to_string() } else { v.join(",") };
        let accounts: Vec<String> = r.accounts.iter().map(|a| a.to_hex()).collect();
        println!("  access {}: roles {} orgs {} accounts {}", r.method, list(&r.roles), list(&r.orgs), list(&accounts));
    }
    for v in &c.versions {
        println!(
            "  v{}: code {} ({} bytes) by {} at height {}{}",
            v.version,
            v.code_hash.to_hex(),
            v.code_size,
            v.deployer,
            v.height,
            if v.proposal > 0 { format!(", proposal {}", v.proposal) } else { String::new() }
        );
        println!("      methods: {}", v.methods.join(", "));
    }
}

fn api_error(e: SdkError) -> anyhow::Result<i32> {
    match e {
        SdkError::Api { code, message, .. } => {
            eprintln!("{code}: {message}");
            Ok(1)
        }
        e => Err(e.into()),
    }
}

/// The module at `wasm` when it passes the deploy checks; `None` (the refusal printed) when it
/// does not.
fn checked_wasm(wasm: Option<PathBuf>, suite: Suite) -> anyhow::Result<Option<Vec<u8>>> {
    let wasm = wasm.ok_or_else(|| anyhow::anyhow!("give --wasm, --evm or --sol"))?;
    let code = read_wasm(&wasm)?;
    let v = check(&code, suite);
    if !v.ok {
        print_check(&wasm.display().to_string(), &v);
        return Ok(None);
    }
    Ok(Some(code))
}

/// The ABI of a Solidity contract: from `file`, else the one the node has.
fn evm_abi(c: &ContractView, file: Option<&Path>) -> anyhow::Result<fdl_vm_evm::abi::Abi> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        None => match &c.abi {
            Some(v) => v.to_string(),
            None => anyhow::bail!("the node has no ABI for {}: give it with --abi FILE.abi", c.name),
        },
    };
    fdl_vm_evm::abi::Abi::parse(&text).map_err(|e| anyhow::anyhow!("the ABI of {}: {e}", c.name))
}

/// Sends an EVM call and reports it, with its return value decoded with the ABI.
async fn send_evm(s: &Signing, payload: Payload, abi: &fdl_vm_evm::abi::Abi, method: &str) -> anyhow::Result<i32> {
    let Some(path) = &s.key else {
        anyhow::bail!("--key is required: the signer's key (e.g. an institution's admin.pem)")
    };
    let key: std::sync::Arc<dyn fdl_crypto::Signer> =
        crate::keysrc::load_signer(path).with_context(|| format!("loading the key {}", path.display()))?.into();
    let cert = crate::tx::load_cert(path, s.signer_cert.as_deref())?;
    let client = crate::util::client(&s.rpc)?.with_read_key(key.clone(), cert.clone());
    let decode = |r: &fdl_types::api::ReceiptView| {
        let bytes = hex::decode(&r.output_hex).ok()?;
        abi.decode_output(method, &bytes).ok()
    };
    let flags = crate::tx::Flags { wait: s.wait, json: s.json };
    crate::tx::send_and_decode(&client, key.as_ref(), cert.as_deref(), payload, flags, Some(&decode)).await
}

/// Runs `fdl contract`.
///
/// # Errors
/// Bad arguments, unreadable files, or a node that cannot be reached.
pub async fn contract(a: ContractArgs) -> anyhow::Result<i32> {
    match a.cmd {
        ContractCmd::New { name, dir } => {
            let at = crate::scaffold::create(&name, dir.as_deref())?;
            println!("created {}", at.display());
            println!("next: fdl contract build {}", at.display());
            Ok(0)
        }
        ContractCmd::Build { dir, suite, json } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let wasm = build(&dir)?;
            let code = read_wasm(&wasm)?;
            let v = check(&code, suite_of(&suite)?);
            if json {
                print_json(&serde_json::json!({
                    "wasm": wasm, "code_hash": v.code_hash.to_hex(), "code_size": v.code_size, "check": v
                }))?;
            } else {
                println!("{}", wasm.display());
                print_check(&wasm.display().to_string(), &v);
            }
            Ok(if v.ok { 0 } else { 1 })
        }
        ContractCmd::Check { file, suite, json } => {
            let v = check(&read_wasm(&file)?, suite_of(&suite)?);
            if json {
                print_json(&v)?;
            } else {
                print_check(&file.display().to_string(), &v);
            }
            Ok(if v.ok { 0 } else { 1 })
        }
        ContractCmd::Deploy {
            name,
            wasm,
            evm,
            access,
            allow_reentry,
            init_args,
            review,
            review_author,
            direct,
            signing,
            timing,
        } => {
            anyhow::ensure!(
                fdl_types::contract::valid_contract_name(&name),
                "contract name {name:?}: lower-case letters, digits, '_', '-', '.', starting with a letter"
            );
            if !init_args.is_empty() {
                args_json(&init_args)?;
            }
            let client = crate::gov::signing_client(&signing)?;
            let suite = client.status().await?.suite;
            let spec = if let Some((code, abi)) = evm.load()? {
                anyhow::ensure!(init_args.is_empty(), "a Solidity contract takes its constructor arguments as --args");
                DeploySpec {
                    name,
                    vm: VmKind::Evm,
                    code,
                    review: review_of(&review, &review_author, suite)?,
                    access: rules_of(&access)?,
                    allow_reentry,
                    init_args,
                    abi,
                }
            } else {
                let Some(code) = checked_wasm(wasm, suite)? else { return Ok(1) };
                DeploySpec {
                    name,
                    vm: VmKind::Wasm,
                    code,
                    review: review_of(&review, &review_author, suite)?,
                    access: rules_of(&access)?,
                    allow_reentry,
                    init_args,
                    abi: String::new(),
                }
            };
            if direct {
                send_with(&signing, Payload::Deploy { spec }).await
            } else {
                propose_with(GovAction::DeployContract { spec }, &signing, &timing).await
            }
        }
        ContractCmd::Upgrade { name, wasm, evm, migrate_args, review, review_author, signing, timing } => {
            let client = crate::gov::signing_client(&signing)?;
            let suite = client.status().await?.suite;
            let spec = if let Some((code, abi)) = evm.load()? {
                anyhow::ensure!(
                    migrate_args.is_empty(),
                    "a Solidity contract takes its constructor arguments as --args"
                );
                UpgradeSpec { name, code, review: review_of(&review, &review_author, suite)?, migrate_args, abi }
            } else {
                let Some(code) = checked_wasm(wasm, suite)? else { return Ok(1) };
                UpgradeSpec {
                    name,
                    code,
                    review: review_of(&review, &review_author, suite)?,
                    migrate_args,
                    abi: String::new(),
                }
            };
            propose_with(GovAction::UpgradeContract { spec }, &signing, &timing).await
        }
        ContractCmd::Freeze { name, signing, timing } => {
            propose_with(GovAction::FreezeContract { name }, &signing, &timing).await
        }
        ContractCmd::Unfreeze { name, signing, timing } => {
            propose_with(GovAction::UnfreezeContract { name }, &signing, &timing).await
        }
        ContractCmd::Retire { name, signing, timing } => {
            propose_with(GovAction::RetireContract { name }, &signing, &timing).await
        }
        ContractCmd::Access { name, rules, allow_reentry, signing, timing } => {
            let access = rules_of(&Some(rules))?;
            propose_with(GovAction::SetContractAccess { name, access, allow_reentry }, &signing, &timing).await
        }
        ContractCmd::List { rpc, json, reader } => {
            let client = crate::util::read_client(&rpc, &reader)?;
            match client.contracts().await {
                Ok(v) if json => print_json(&v).map(|()| 0),
                Ok(v) => {
                    if v.is_empty() {
                        println!("no contracts deployed");
                    }
                    for c in &v {
                        println!("{}  v{}  {}  owner {}  {}", c.name, c.current, c.status, c.owner, c.address);
                    }
                    Ok(0)
                }
                Err(e) => api_error(e),
            }
        }
        ContractCmd::Show { name, rpc, json, reader } => {
            let client = crate::util::read_client(&rpc, &reader)?;
            match client.contract(&name).await {
                Ok(v) if json => print_json(&v).map(|()| 0),
                Ok(v) => {
                    print_contract(&v);
                    Ok(0)
                }
                Err(e) => api_error(e),
            }
        }
        ContractCmd::Call { name, method, args, version, fuel, abi, signing } => {
            let client = crate::gov::signing_client(&signing)?;
            let target = client.contract(&name).await;
            if let Ok(c) = &target
                && c.vm == VmKind::Evm
            {
                let abi = evm_abi(c, abi.as_deref())?;
                let args = match &args {
                    Some(a) => serde_json::from_str(a).with_context(|| format!("--args {a:?} is not JSON"))?,
                    None => serde_json::Value::Array(vec![]),
                };
                let data = abi.encode_call(&method, &args).map_err(|e| anyhow::anyhow!("{method}: {e}"))?;
                let payload = Payload::EvmCall { contract: name, version, data, gas: fuel };
                return send_evm(&signing, payload, &abi, &method).await;
            }
            let args = args.unwrap_or_else(|| "{}".into());
            args_json(&args)?;
            let payload = Payload::Call { contract: name, version, method, args, fuel };
            send_with(&signing, payload).await
        }
        ContractCmd::Query { name, method, args, version, caller, rpc, json, reader } => {
            let client = crate::util::read_client(&rpc, &reader)?;
            let args: Option<serde_json::Value> = match &args {
                Some(a) => Some(serde_json::from_str(a).with_context(|| format!("--args {a:?} is not JSON"))?),
                None => None,
            };
            // A Rust contract takes an object; only a Solidity one also takes an array.
            if let Some(a) = &args
                && !a.is_object()
                && !client.contract(&name).await.is_ok_and(|c| c.vm == VmKind::Evm)
            {
                args_json(&a.to_string())?;
            }
            let req = ContractQueryRequest { method, args, data: None, version, caller, fuel: 0 };
            match client.contract_query(&name, &req).await {
                Ok(v) => {
                    if json {
                        print_json(&v)?;
                    } else if v.code == 0 {
                        match &v.result {
                            Some(r) => println!("{r}"),
                            None => println!("(no return value)"),
                        }
                    } else {
                        println!("{} (code {}), fuel used {}", v.status, v.code, v.fuel_used);
                        for e in &v.events {
                            let attrs: Vec<String> = e.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            println!("  {} {}", e.kind, attrs.join(" "));
                        }
                    }
                    Ok(if v.code == 0 { 0 } else { 1 })
                }
                Err(e) => api_error(e),
            }
        }
    }
}
