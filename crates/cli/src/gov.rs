//! `fdl gov propose|vote|show|list`, `fdl account freeze|unfreeze|show` and `fdl audit`:
//! committee governance (STD-17), account measures (STD-13.2) and the audit log (STD-13.4).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use fdl_crypto::Address;
use fdl_sdk::SdkError;
use fdl_types::{
    AccountKind, ChainParam, GovAction, NodeRole, NodeSpec, Payload,
    api::{AuditQuery, ProposalView},
};

use crate::{
    network::MemberNode,
    tx::{load_cert, send_and_report},
    util::{parse_amount, print_json},
};

/// Who signs, and where to send.
#[derive(Args, Clone)]
pub struct Signing {
    /// The signer's key (an institution's `admin.pem`, or the regulator's key).
    #[arg(long, global = true)]
    pub(crate) key: Option<PathBuf>,
    /// The signer's certificate; default: the key's file name with `.crt`. (Not `--cert`: that
    /// names the certificate an action is about, as in `rotate-cert`, `revoke` and `reset-key`.)
    #[arg(long = "signer-cert", global = true)]
    pub(crate) signer_cert: Option<PathBuf>,
    /// Node API URL (default: the devnet's first node).
    #[arg(long, global = true)]
    pub(crate) rpc: Option<String>,
    /// Wait until committed.
    #[arg(long, global = true)]
    pub(crate) wait: bool,
    /// Print JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// When a proposal closes and applies.
#[derive(Args, Clone)]
pub struct Timing {
    /// Blocks the vote stays open.
    #[arg(long, global = true, default_value_t = 10_000)]
    voting_blocks: u64,
    /// The height from which the change applies (default: as soon as it passes).
    #[arg(long, global = true, default_value_t = 0)]
    activation_height: u64,
    /// Why (stored with the proposal).
    #[arg(long, global = true, default_value = "")]
    note: String,
}

/// `fdl gov`.
#[derive(Args)]
pub struct GovArgs {
    #[command(subcommand)]
    cmd: GovCmd,
}

#[derive(Subcommand)]
enum GovCmd {
    /// Make a committee proposal (your institution votes yes).
    Propose {
        #[command(subcommand)]
        action: ActionCmd,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Vote on an open proposal for your institution.
    Vote {
        /// The proposal number.
        id: u64,
        /// Vote yes.
        #[arg(long, conflicts_with = "no")]
        yes: bool,
        /// Vote no.
        #[arg(long)]
        no: bool,
        #[command(flatten)]
        signing: Signing,
    },
    /// Publish your institution's CA revocation list (from `fdl ca revoke`) on chain: every
    /// certificate it lists is refused from then on (STD-13.3). No vote: a CA revokes its own.
    PublishCrl {
        /// The CRL (PEM), e.g. `ca/crl.pem`.
        #[arg(long)]
        crl: PathBuf,
        #[command(flatten)]
        signing: Signing,
    },
    /// One proposal with its votes and outcome.
    Show {
        /// The proposal number.
        id: u64,
        /// Node API URL.
        #[arg(long)]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reader: crate::util::ReadKey,
    },
    /// Every proposal, newest first.
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
}

#[derive(Subcommand, Clone)]
enum ActionCmd {
    /// Admit an institution with its root CA certificate.
    AddMember {
        /// The institution's name.
        #[arg(long)]
        name: String,
        /// Its CA certificate (PEM).
        #[arg(long)]
        ca: PathBuf,
        /// Without a committee seat (e.g. a regulator).
        #[arg(long)]
        no_seat: bool,
    },
    /// Remove an institution (after its nodes).
    RemoveMember {
        /// The institution's name.
        #[arg(long)]
        name: String,
    },
    /// Add the validator or observer described by its `member.json` (from `fdl init --org`).
    AddNode {
        /// The node's public part.
        #[arg(long)]
        member: PathBuf,
        /// Voting power (validators).
        #[arg(long, default_value_t = 1)]
        power: u64,
    },
    /// Remove a node.
    RemoveNode {
        /// The node's name.
        #[arg(long)]
        name: String,
    },
    /// Replace a node's certificate (PEM).
    RotateCert {
        /// The node's name.
        #[arg(long)]
        name: String,
        /// The new certificate.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Replace an institution's root CA certificate (PEM).
    RotateCa {
        /// The institution.
        #[arg(long)]
        org: String,
        /// The new CA certificate.
        #[arg(long)]
        ca: PathBuf,
    },
    /// Revoke a certificate (given as a file, or by institution and serial).
    Revoke {
        /// The certificate (PEM).
        #[arg(long, conflicts_with_all = ["org", "serial"])]
        cert: Option<PathBuf>,
        /// The issuing institution.
        #[arg(long, requires = "serial")]
        org: Option<String>,
        /// The serial number in hex, as `openssl x509 -serial` prints it (`serial=` prefix, case,
        /// colons and leading zeros do not matter).
        #[arg(long, requires = "org")]
        serial: Option<String>,
    },
    /// Set a chain parameter.
    SetParam {
        /// Its name (see `GET /v1/params`).
        #[arg(long)]
        name: String,
        /// Its value.
        #[arg(long)]
        value: u64,
    },
    /// Set who may call a method.
    SetAcl {
        /// `module.method`.
        #[arg(long)]
        method: String,
        /// Roles allowed, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Institutions allowed, comma-separated (default any).
        #[arg(long, value_delimiter = ',')]
        orgs: Vec<String>,
    },
    /// Set who may read a resource of the API (STD-16.1): status, blocks, accounts, audit,
    /// governance, members, contracts or evidence.
    SetReadPolicy {
        /// The resource.
        #[arg(long)]
        resource: String,
        /// Principals allowed, comma-separated: public, member, a role (admin, client, validator,
        /// observer, regulator, auditor), and for accounts owner and registrar.
        #[arg(long, value_delimiter = ',', required = true)]
        allow: Vec<String>,
    },
    /// Freeze an account.
    Freeze {
        /// The account.
        #[arg(long)]
        account: Address,
    },
    /// Unfreeze an account.
    Unfreeze {
        /// The account.
        #[arg(long)]
        account: Address,
    },
    /// Move funds out of an account without its signature.
    ForcedTransfer {
        /// From.
        #[arg(long)]
        from: Address,
        /// To.
        #[arg(long)]
        to: Address,
        /// Amount in the smallest unit: a positive integer.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
    },
    /// Give an account a new key (certificate, PEM) after the lock window.
    ResetKey {
        /// The account.
        #[arg(long)]
        account: Address,
        /// The new key's certificate.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Set an account's type: normal, admin or special.
    SetAccountKind {
        /// The account.
        #[arg(long)]
        account: Address,
        /// The type.
        #[arg(long)]
        kind: String,
    },
}

fn read_der(p: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    fdl_pki::from_pem(&pem).with_context(|| format!("{} is not a PEM certificate", p.display()))
}

fn action_of(cmd: ActionCmd) -> anyhow::Result<GovAction> {
    Ok(match cmd {
        ActionCmd::AddMember { name, ca, no_seat } => {
            GovAction::AddMember { name, ca_cert: read_der(&ca)?, committee: !no_seat }
        }
        ActionCmd::RemoveMember { name } => GovAction::RemoveMember { name },
        ActionCmd::AddNode { member, power } => {
            let text = std::fs::read_to_string(&member).with_context(|| format!("reading {}", member.display()))?;
            let m: MemberNode =
                serde_json::from_str(&text).with_context(|| format!("{} is not a member.json", member.display()))?;
            let role = m.role;
            GovAction::AddNode {
                node: NodeSpec {
                    name: m.name,
                    org: m.org,
                    role,
                    public_key: hex::decode(&m.public_key).context("member.json public_key")?,
                    power: if role == NodeRole::Validator { power } else { 0 },
                    peer_id: m.peer_id,
                    p2p: m.p2p.to_string(),
                    rpc: m.rpc,
                    certificate: fdl_pki::from_pem(&m.certificate)?,
                },
            }
        }
        ActionCmd::RemoveNode { name } => GovAction::RemoveNode { name },
        ActionCmd::RotateCert { name, cert } => GovAction::RotateNodeCert { name, certificate: read_der(&cert)? },
        ActionCmd::RotateCa { org, ca } => GovAction::RotateCa { org, ca_cert: read_der(&ca)? },
        ActionCmd::Revoke { cert, org, serial } => match (cert, org, serial) {
            (Some(c), _, _) => {
                let info = fdl_pki::parse(&read_der(&c)?)?;
                GovAction::RevokeCert { org: info.org, serial: info.serial }
            }
            (None, Some(org), Some(serial)) => {
                GovAction::RevokeCert { org, serial: fdl_pki::canonical_serial(&serial)? }
            }
            _ => anyhow::bail!("give --cert, or --org and --serial"),
        },
        ActionCmd::SetParam { name, value } => {
            let Some(name) = ChainParam::parse(&name) else {
                anyhow::bail!("no parameter {name}; known: {}", ChainParam::names())
            };
            GovAction::SetParam { name, value }
        }
        ActionCmd::SetAcl { method, roles, orgs } => GovAction::SetAcl { method, roles, orgs },
        ActionCmd::SetReadPolicy { resource, allow } => {
            let resource = fdl_types::ReadResource::parse(&resource).map_err(|e| anyhow::anyhow!(e))?;
            fdl_types::read_policy::check_allow(resource, &allow).map_err(|e| anyhow::anyhow!(e))?;
            GovAction::SetReadPolicy { resource, allow }
        }
        ActionCmd::Freeze { account } => GovAction::Freeze { account },
        ActionCmd::Unfreeze { account } => GovAction::Unfreeze { account },
        ActionCmd::ForcedTransfer { from, to, amount } => {
            GovAction::ForcedTransfer { from, to, amount: parse_amount(&amount)? }
        }
        ActionCmd::ResetKey { account, cert } => GovAction::ResetKey { account, certificate: read_der(&cert)? },
        ActionCmd::SetAccountKind { account, kind } => {
            let Some(kind) = AccountKind::parse(&kind) else {
                anyhow::bail!("account kind {kind}: expected normal, admin or special")
            };
            GovAction::SetAccountKind { account, kind }
        }
    })
}

/// Signs `payload` with the signer of `s`, sends it and reports.
///
/// # Errors
/// A missing or unreadable key, or a node that cannot be reached.
pub(crate) async fn send_with(s: &Signing, payload: Payload) -> anyhow::Result<i32> {
    let Some(path) = &s.key else {
        anyhow::bail!("--key is required: the signer's key (e.g. an institution's admin.pem)")
    };
    let key: std::sync::Arc<dyn fdl_crypto::Signer> =
        crate::keysrc::load_signer(path).with_context(|| format!("loading the key {}", path.display()))?.into();
    let cert = load_cert(path, s.signer_cert.as_deref())?;
    // The signer's reads (status, receipts) are signed too: a chain's read policy may not let
    // anonymous callers read them.
    let client = crate::util::client(&s.rpc)?.with_read_key(key.clone(), cert.clone());
    send_and_report(&client, key.as_ref(), cert.as_deref(), payload, s.wait, s.json).await
}

/// A client of the signer's node whose reads are signed with the signer's key, when `s` names
/// one (else anonymous).
///
/// # Errors
/// An unreadable key or certificate.
pub(crate) fn signing_client(s: &Signing) -> anyhow::Result<fdl_sdk::Client> {
    let client = crate::util::client(&s.rpc)?;
    let Some(path) = &s.key else { return Ok(client) };
    let key = crate::keysrc::load_signer(path).with_context(|| format!("loading the key {}", path.display()))?;
    let cert = load_cert(path, s.signer_cert.as_deref())?;
    Ok(client.with_read_key(key.into(), cert))
}

/// Proposes `action` (deadline from `t`), signed by the signer of `s`.
///
/// # Errors
/// As [`send_with`].
pub(crate) async fn propose_with(action: GovAction, s: &Signing, t: &Timing) -> anyhow::Result<i32> {
    let client = signing_client(s)?;
    let height = client.status().await?.height;
    let payload = Payload::Propose {
        action,
        deadline: height.saturating_add(t.voting_blocks),
        activation_height: t.activation_height,
        note: t.note.clone(),
    };
    send_with(s, payload).await
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

fn print_proposal(p: &ProposalView) {
    let votes: Vec<String> =
        p.votes.iter().map(|(org, yes)| format!("{org}={}", if *yes { "yes" } else { "no" })).collect();
    println!(
        "#{} {} by {} ({}): {}; votes {}; deadline {}{}",
        p.id,
        p.action.kind(),
        p.org,
        p.proposer,
        p.status,
        if votes.is_empty() { "none".into() } else { votes.join(" ") },
        p.deadline,
        p.failure.as_ref().map(|f| format!("; failed: {f}")).unwrap_or_default(),
    );
}

/// One proposal in full: its fields, its action's details and every institution's vote.
fn show_proposal(p: &ProposalView) -> anyhow::Result<()> {
    println!("proposal #{}  {}", p.id, p.status);
    println!("  action      {}", p.action.kind());
    // The action's own fields, one per line, from its JSON form (long hex, as certificates,
    // shortened: `--json` has them in full).
    if let serde_json::Value::Object(fields) = serde_json::to_value(&p.action)? {
        for (k, v) in fields.into_iter().filter(|(k, _)| k != "action") {
            let mut text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if text.len() > 80 {
                let n = text.len();
                text = format!("{}... ({n} characters)", text.chars().take(64).collect::<String>());
            }
            println!("    {k:<12} {text}");
        }
    }
    println!("  proposer    {} ({})", p.proposer, p.org);
    if !p.note.is_empty() {
        println!("  note        {}", p.note);
    }
    println!("  created     block {}", p.created);
    println!("  deadline    block {} (votes count until then)", p.deadline);
    if p.activation_height > 0 {
        println!("  activation  block {}", p.activation_height);
    }
    for (org, yes) in &p.votes {
        println!("  vote        {org:<10} {}", if *yes { "yes" } else { "no" });
    }
    if let Some(h) = p.decided {
        println!("  decided     block {h}");
    }
    if let Some(h) = p.applied {
        println!("  applied     block {h}");
    }
    if let Some(f) = &p.failure {
        println!("  failure     {f}");
    }
    Ok(())
}

/// Runs `fdl gov`.
pub async fn gov(a: GovArgs) -> anyhow::Result<i32> {
    match a.cmd {
        GovCmd::Propose { action, signing, timing } => propose_with(action_of(action)?, &signing, &timing).await,
        GovCmd::Vote { id, yes, no, signing } => {
            if yes == no {
                anyhow::bail!("vote --yes or --no");
            }
            send_with(&signing, Payload::Vote { proposal: id, approve: yes }).await
        }
        GovCmd::PublishCrl { crl, signing } => {
            let pem = std::fs::read_to_string(&crl).with_context(|| format!("reading {}", crl.display()))?;
            let der = fdl_pki::crl_from_pem(&pem).with_context(|| format!("{} is not a PEM CRL", crl.display()))?;
            send_with(&signing, Payload::PublishCrl { crl: der }).await
        }
        GovCmd::Show { id, rpc, json, reader } => {
            let client = crate::util::read_client(&rpc, &reader)?;
            match client.proposal(id).await {
                Ok(v) if json => {
                    print_json(&v)?;
                    Ok(0)
                }
                Ok(v) => {
                    show_proposal(&v)?;
                    Ok(0)
                }
                Err(e) => api_error(e),
            }
        }
        GovCmd::List { rpc, json, reader } => {
            let client = crate::util::read_client(&rpc, &reader)?;
            match client.proposals().await {
                Ok(v) if json => {
                    print_json(&v)?;
                    Ok(0)
                }
                Ok(v) => {
                    if v.proposals.is_empty() {
                        println!("no proposals (at height {})", v.height);
                    }
                    for p in &v.proposals {
                        print_proposal(p);
                    }
                    Ok(0)
                }
                Err(e) => api_error(e),
            }
        }
    }
}

/// `fdl account`.
#[derive(Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    cmd: AccountCmd,
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Propose freezing an account (the registrar institution's admin, or the regulator); the
    /// committee's vote applies it.
    Freeze {
        /// The account.
        account: Address,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
    /// Propose unfreezing an account; the committee's vote applies it.
    Unfreeze {
        /// The account.
        account: Address,
        #[command(flatten)]
        signing: Signing,
        #[command(flatten)]
        timing: Timing,
    },
}

/// Runs `fdl account`.
pub async fn account(a: AccountArgs) -> anyhow::Result<i32> {
    match a.cmd {
        AccountCmd::Freeze { account, signing, timing } => {
            propose_with(GovAction::Freeze { account }, &signing, &timing).await
        }
        AccountCmd::Unfreeze { account, signing, timing } => {
            propose_with(GovAction::Unfreeze { account }, &signing, &timing).await
        }
    }
}

/// `fdl audit`: the audit log, filtered.
#[derive(Args)]
pub struct AuditArgs {
    /// Records of this contract (its lifecycle, refusals, failures and events).
    #[arg(long)]
    contract: Option<String>,
    /// Only this account.
    #[arg(long)]
    account: Option<Address>,
    /// Only this institution.
    #[arg(long)]
    org: Option<String>,
    /// Only this event kind, or a prefix ending in `.` (e.g. `account.`).
    #[arg(long)]
    kind: Option<String>,
    /// From this time (ms since the Unix epoch).
    #[arg(long)]
    from_ms: Option<u64>,
    /// To this time.
    #[arg(long)]
    to_ms: Option<u64>,
    /// From this block height.
    #[arg(long)]
    from_height: Option<u64>,
    /// To this block height.
    #[arg(long)]
    to_height: Option<u64>,
    /// At most this many records (the node answers at most 1,000).
    #[arg(long)]
    limit: Option<usize>,
    /// Leave out this node's own admission refusals (only on-chain records).
    #[arg(long)]
    no_local: bool,
    /// Node API URL.
    #[arg(long)]
    rpc: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    reader: crate::util::ReadKey,
}

/// Runs `fdl audit`.
pub async fn audit(a: AuditArgs) -> anyhow::Result<i32> {
    let q = AuditQuery {
        account: a.account.map(|x| x.to_hex()),
        org: a.org,
        kind: a.kind,
        from_ms: a.from_ms,
        to_ms: a.to_ms,
        from_height: a.from_height,
        to_height: a.to_height,
        limit: a.limit,
        local: a.no_local.then_some(false),
        contract: a.contract,
    };
    let client = crate::util::read_client(&a.rpc, &a.reader)?;
    match client.audit(&q).await {
        Ok(v) if a.json => {
            print_json(&v)?;
            Ok(0)
        }
        Ok(v) => {
            println!("{:<7} {:<24} {:<22} {:<10} {:<18} details", "height", "time (UTC)", "kind", "org", "status");
            for r in &v.records {
                let attrs: Vec<String> = r
                    .attrs
                    .iter()
                    .filter(|(k, _)| k != "org" && k != "status")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!(
                    "{:<7} {:<24} {:<22} {:<10} {:<18} {}{}",
                    r.height,
                    crate::fmt::utc_ms(r.time_ms),
                    r.kind,
                    r.org.as_deref().unwrap_or("-"),
                    r.status.as_deref().unwrap_or("-"),
                    attrs.join(" "),
                    if r.local { " (this node's admission)" } else { "" },
                );
            }
            println!(
                "{} record(s){}",
                v.records.len(),
                if v.truncated { "; more matched: narrow the query or raise --limit" } else { "" }
            );
            Ok(0)
        }
        Err(e) => api_error(e),
    }
}
