//! `fdl keygen`, `fdl sign`, `fdl verify`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use fdl_crypto::{KeyPair, PublicKey, Signature, Signer, Suite};
use serde_json::json;

use crate::util::print_json;

/// `fdl keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Crypto suite.
    #[arg(long, default_value = "sm")]
    suite: Suite,
    /// Private key file to write (PKCS#8 PEM, mode 0600). Refuses to overwrite.
    #[arg(long)]
    out: PathBuf,
    /// Also write the public key (SPKI PEM) here.
    #[arg(long)]
    pub_out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Write the key unencrypted even when a passphrase source exists (--passphrase-file,
    /// FDL_KEY_PASSPHRASE or a terminal).
    #[arg(long, visible_alias = "no-encrypt")]
    plain: bool,
    #[command(flatten)]
    enc: crate::keysrc::EncryptOpts,
}

/// Generates a key.
pub fn keygen(a: KeygenArgs) -> anyhow::Result<i32> {
    if a.out.exists() {
        bail!("{} exists; refusing to overwrite a key", a.out.display());
    }
    let kp = KeyPair::generate(a.suite);
    let source = if a.plain { None } else { crate::keysrc::pass_source() };
    if source.is_some() {
        let pass = crate::keysrc::passphrase(&format!("the new key {}", a.out.display()), true)?;
        let (cipher, prf) = a.enc.resolve(a.suite);
        kp.write_encrypted_pem_file_with(&a.out, pass.as_bytes(), cipher, prf)?;
    } else {
        kp.write_pem_file(&a.out)?;
        if !a.plain {
            eprintln!(
                "warning: {} is not encrypted (no passphrase: --passphrase-file, {} or a terminal); encrypt it with `fdl key encrypt {}`",
                a.out.display(),
                crate::keysrc::ENV_KEY_PASSPHRASE,
                a.out.display()
            );
        }
    }
    let pk = kp.public_key();
    if let Some(p) = &a.pub_out {
        std::fs::write(p, pk.to_spki_pem()?).with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        print_json(&json!({
            "address": pk.address().to_hex(),
            "public_key": hex::encode(pk.to_bytes()),
            "suite": a.suite,
            "key_file": a.out,
        }))?;
    } else {
        println!("address     {}", pk.address());
        println!("public key  {}", hex::encode(pk.to_bytes()));
        println!("key file    {} ({} suite)", a.out.display(), a.suite);
    }
    Ok(0)
}

/// `fdl sign`.
#[derive(Args)]
pub struct SignArgs {
    /// Private key: a PKCS#8 PEM file (plain or encrypted) or a PKCS#11 URI.
    #[arg(long)]
    key: PathBuf,
    /// File to sign.
    #[arg(long = "in")]
    input: PathBuf,
    /// Where to write the signature (DER for SM2, 64 raw bytes for Ed25519).
    #[arg(long)]
    out: PathBuf,
}

/// Signs a file.
pub fn sign(a: SignArgs) -> anyhow::Result<i32> {
    let kp = crate::keysrc::load_signer(&a.key)?;
    let data = std::fs::read(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    let sig = kp.sign(&data)?;
    std::fs::write(&a.out, sig.as_bytes()).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("signed {} bytes with {}; signature in {}", data.len(), kp.public_key().address(), a.out.display());
    Ok(0)
}

/// `fdl verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// Public key (SPKI PEM), or a private key file.
    #[arg(long = "pub")]
    public: PathBuf,
    /// The signed file.
    #[arg(long = "in")]
    input: PathBuf,
    /// The signature file.
    #[arg(long)]
    sig: PathBuf,
}

/// Verifies a signature; exit status 0 only when it verifies.
pub fn verify(a: VerifyArgs) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&a.public).with_context(|| format!("reading {}", a.public.display()))?;
    let pk = match PublicKey::from_spki_pem(&text) {
        Ok(pk) => pk,
        Err(_) => crate::keysrc::load_keypair(&a.public)
            .with_context(|| format!("{}: not a public or private key PEM", a.public.display()))?
            .public_key(),
    };
    let data = std::fs::read(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    let sig_bytes = std::fs::read(&a.sig).with_context(|| format!("reading {}", a.sig.display()))?;
    let verdict = Signature::from_bytes(pk.suite(), &sig_bytes).and_then(|s| pk.verify(&data, &s));
    match verdict {
        Ok(()) => {
            println!("Signature Verified Successfully");
            Ok(0)
        }
        Err(e) => {
            println!("Signature Verification Failure: {e}");
            Ok(1)
        }
    }
}
