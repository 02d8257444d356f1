//! `fdl ca init|issue|revoke|verify`: an institution's certificate authority (STD-13.1, 13.3).
//!
//! A CA directory holds:
//! - `ca.pem`: the root certificate;
//! - `ca-key.pem`: its key (PKCS#8, mode 0600, to be kept offline);
//! - `revoked.json`: the revoked serials;
//! - `crl.pem`: the signed revocation list, re-issued on every revocation with an increasing CRL
//!   number.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use fdl_crypto::{KeyPair, PublicKey, Signer, Suite};
use fdl_pki::{Revoked, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::util::print_json;

/// `fdl ca`.
#[derive(Args)]
pub struct CaArgs {
    #[command(subcommand)]
    cmd: CaCmd,
}

#[derive(Subcommand)]
enum CaCmd {
    /// Create an institution's root CA in a directory.
    Init {
        /// The institution's name (the certificates' O).
        #[arg(long)]
        org: String,
        /// The CA directory to create.
        #[arg(long)]
        dir: PathBuf,
        /// Crypto suite.
        #[arg(long, default_value = "sm")]
        suite: Suite,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Issue a member certificate for a key, with its role.
    Issue {
        /// The CA directory.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The member's role.
        #[arg(long)]
        role: Role,
        /// The member's name (CN).
        #[arg(long)]
        cn: String,
        /// The member's key: a private key (PKCS#8 PEM) or a public key (SPKI PEM) file.
        #[arg(long, required_unless_present = "tlcp", conflicts_with = "tlcp")]
        key: Option<PathBuf>,
        /// Where to write the certificate (PEM).
        #[arg(long, required_unless_present = "tlcp", conflicts_with = "tlcp")]
        out: Option<PathBuf>,
        /// Instead: issue a TLCP pair (GB/T 38636) into this directory: two fresh SM2 keys and
        /// their certificates with the same subject, `sign.pem`/`sign.key` for signing and
        /// `enc.pem`/`enc.key` for key exchange (a node's network and API channels, or a
        /// client's). An `sm` CA only.
        #[arg(long, value_name = "DIR")]
        tlcp: Option<PathBuf>,
        /// DNS names for the TLCP pair's subject alternative name (clients check a server's).
        #[arg(long, requires = "tlcp")]
        dns: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Revoke a certificate issued by this CA and re-issue the revocation list (crl.pem).
    Revoke {
        /// The CA directory.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The certificate to revoke (PEM).
        cert: PathBuf,
    },
    /// Check a certificate against a CA (and its revocation list, if given).
    Verify {
        /// The CA certificate (PEM).
        #[arg(long)]
        ca: PathBuf,
        /// The revocation list (PEM), optional.
        #[arg(long)]
        crl: Option<PathBuf>,
        /// The certificate (PEM).
        cert: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Default, Serialize, Deserialize)]
struct RevokedFile {
    crl_number: u64,
    revoked: Vec<RevokedEntry>,
}

#[derive(Serialize, Deserialize)]
struct RevokedEntry {
    serial: String,
    at: u64,
    cn: String,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn read_cert(p: &Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    fdl_pki::from_pem(&text).with_context(|| p.display().to_string())
}

fn read_public(p: &Path) -> anyhow::Result<PublicKey> {
    if let Ok(k) = crate::keysrc::load_keypair(p) {
        return Ok(k.public_key());
    }
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    PublicKey::from_spki_pem(&text).with_context(|| format!("{} is neither a private nor a public key", p.display()))
}

fn write_crl(dir: &Path, ca: &[u8], key: &KeyPair, file: &RevokedFile) -> anyhow::Result<()> {
    let list: Vec<Revoked> = file.revoked.iter().map(|r| Revoked { serial: r.serial.clone(), at: r.at }).collect();
    let crl = fdl_pki::create_crl(ca, key, &list, file.crl_number)?;
    std::fs::write(dir.join("crl.pem"), fdl_pki::crl_to_pem(&crl)?)?;
    std::fs::write(dir.join("revoked.json"), serde_json::to_string_pretty(file)?)?;
    Ok(())
}

/// Runs `fdl ca`.
pub fn run(a: CaArgs) -> anyhow::Result<i32> {
    match a.cmd {
        CaCmd::Init { org, dir, suite, days } => {
            if dir.join("ca.pem").exists() {
                bail!("{} already holds a CA", dir.display());
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let key = KeyPair::generate(suite);
            let ca = fdl_pki::create_ca(&org, &key, days)?;
            key.write_pem_file(&dir.join("ca-key.pem"))?;
            std::fs::write(dir.join("ca.pem"), fdl_pki::to_pem(&ca)?)?;
            write_crl(&dir, &ca, &key, &RevokedFile { crl_number: 1, revoked: vec![] })?;
            println!("CA of {org} in {}: ca.pem, ca-key.pem (keep offline), crl.pem", dir.display());
            Ok(0)
        }
        CaCmd::Issue { ca_dir, role, cn, tlcp: Some(dir), dns, days, .. } => {
            let ca = read_cert(&ca_dir.join("ca.pem"))?;
            let ca_key = KeyPair::read_pem_file(&ca_dir.join("ca-key.pem"))?;
            if ca_key.suite() != Suite::Sm {
                bail!("TLCP pairs are SM2: {} is not an sm CA", ca_dir.display());
            }
            let files = fdl_channel::TlcpFiles::in_dir(&dir);
            if let Some(p) = [files.sign_cert.clone(), files.sign_key.clone(), dir.join("enc.pem"), dir.join("enc.key")]
                .into_iter()
                .find(|p| p.exists())
            {
                bail!("{} exists; refusing to overwrite", p.display());
            }
            crate::network::issue_tlcp_pair(&dir, &ca, &ca_key, &cn, role, &dns, days)?;
            let info = fdl_pki::parse(&fdl_pki::from_pem(&std::fs::read_to_string(&files.sign_cert)?)?)?;
            println!(
                "issued a TLCP pair for {} ({role} of {}) in {}: sign.pem/sign.key (serial {}), enc.pem/enc.key, valid until {}",
                info.common_name,
                info.org,
                dir.display(),
                info.serial,
                crate::fmt::utc(info.not_after)
            );
            Ok(0)
        }
        CaCmd::Issue { ca_dir, role, cn, key: Some(key), out: Some(out), days, .. } => {
            if out.exists() {
                bail!("{} exists; refusing to overwrite", out.display());
            }
            let ca = read_cert(&ca_dir.join("ca.pem"))?;
            let ca_key = crate::keysrc::load_keypair(&ca_dir.join("ca-key.pem"))?;
            let subject = read_public(&key)?;
            let cert = fdl_pki::issue(&ca, &ca_key, &subject, &cn, role, days)?;
            std::fs::write(&out, fdl_pki::to_pem(&cert)?)?;
            let info = fdl_pki::parse(&cert)?;
            println!(
                "issued {} ({role} of {}), serial {}, valid until {}, to {}",
                info.common_name,
                info.org,
                info.serial,
                crate::fmt::utc(info.not_after),
                out.display()
            );
            Ok(0)
        }
        CaCmd::Issue { .. } => bail!("give --key and --out, or --tlcp DIR"),
        CaCmd::Revoke { ca_dir, cert } => {
            let ca = read_cert(&ca_dir.join("ca.pem"))?;
            let ca_key = crate::keysrc::load_keypair(&ca_dir.join("ca-key.pem"))?;
            let der = read_cert(&cert)?;
            let info = fdl_pki::parse(&der)?;
            if info.issuer_common_name != fdl_pki::parse(&ca)?.common_name {
                bail!("{} was not issued by this CA", cert.display());
            }
            let path = ca_dir.join("revoked.json");
            let mut file: RevokedFile = match std::fs::read_to_string(&path) {
                Ok(t) => serde_json::from_str(&t).with_context(|| path.display().to_string())?,
                Err(_) => RevokedFile::default(),
            };
            if file.revoked.iter().any(|r| r.serial == info.serial) {
                println!("{} (serial {}) is already revoked", info.common_name, info.serial);
                return Ok(0);
            }
            file.revoked.push(RevokedEntry { serial: info.serial.clone(), at: now(), cn: info.common_name.clone() });
            file.crl_number += 1;
            write_crl(&ca_dir, &ca, &ca_key, &file)?;
            println!(
                "revoked {} (serial {}); published {} (CRL number {})",
                info.common_name,
                info.serial,
                ca_dir.join("crl.pem").display(),
                file.crl_number
            );
            Ok(0)
        }
        CaCmd::Verify { ca, crl, cert, json } => {
            let ca_der = read_cert(&ca)?;
            let der = read_cert(&cert)?;
            let verdict = fdl_pki::verify(&der, &ca_der, now());
            let info = match verdict {
                Ok(i) => i,
                Err(e) => {
                    if json {
                        print_json(&json!({ "valid": false, "reason": e.to_string() }))?;
                    } else {
                        println!("invalid: {e}");
                    }
                    return Ok(1);
                }
            };
            if let Some(crl) = crl {
                let text = std::fs::read_to_string(&crl).with_context(|| format!("reading {}", crl.display()))?;
                let crl_der = fdl_pki::crl_from_pem(&text)?;
                let revoked = fdl_pki::verify_crl(&crl_der, &ca_der, now())?;
                if revoked.iter().any(|r| r.serial == info.serial) {
                    if json {
                        print_json(&json!({ "valid": false, "reason": "revoked", "serial": info.serial }))?;
                    } else {
                        println!("invalid: revoked (serial {})", info.serial);
                    }
                    return Ok(1);
                }
            }
            if json {
                print_json(&json!({
                    "valid": true,
                    "cn": info.common_name,
                    "org": info.org,
                    "role": info.role.map(|r| r.as_str()),
                    "serial": info.serial,
                    "not_after": info.not_after,
                    "address": info.public_key.address().to_hex(),
                }))?;
            } else {
                println!(
                    "valid: {} ({}) of {}, serial {}, key address {}",
                    info.common_name,
                    info.role.map_or("no role", |r| r.as_str()),
                    info.org,
                    info.serial,
                    info.public_key.address()
                );
                println!(
                    "valid until {} ({})",
                    crate::fmt::utc(info.not_after),
                    crate::fmt::expiry(info.not_after, crate::fmt::now_secs())
                );
            }
            Ok(0)
        }
    }
}
