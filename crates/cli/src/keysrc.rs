//! Where a command's private key comes from (STD-8.2, STD-8.4, STD-10.3): the one loader every
//! command that takes a private key uses, and `fdl key encrypt|decrypt|pkcs11 ...`.
//!
//! A key is named by a path to a PKCS#8 PEM file, plain or encrypted (`ENCRYPTED PRIVATE KEY`),
//! or by a PKCS#11 URI (`pkcs11:token=..;object=..?module-path=..&pin-source=file:..`, see
//! `fdl_crypto::pkcs11`). The passphrase of an encrypted file comes from, in this order:
//! `--passphrase-file FILE`, the environment variable `FDL_KEY_PASSPHRASE`, a prompt when stdin is
//! a terminal; with none of them the command fails naming the three.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use fdl_crypto::pkcs11::{Pkcs11Signer, Pkcs11Token, Pkcs11Uri, is_pkcs11_uri};
use fdl_crypto::{CryptoError, KeyCipher, KeyPair, KeyPrf, Signer, Suite};
use serde_json::json;
use zeroize::Zeroizing;

use crate::util::print_json;

/// The environment variable holding a key passphrase (the node reads the same one).
pub const ENV_KEY_PASSPHRASE: &str = fdl_node::ENV_KEY_PASSPHRASE;

static PASSPHRASE_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records the global `--passphrase-file` (called once, from `main`).
pub fn set_passphrase_file(p: Option<PathBuf>) {
    let _ = PASSPHRASE_FILE.set(p);
}

fn passphrase_file() -> Option<&'static Path> {
    PASSPHRASE_FILE.get().and_then(|p| p.as_deref())
}

/// Where a passphrase will come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassSource {
    /// `--passphrase-file`.
    File,
    /// `FDL_KEY_PASSPHRASE`.
    Env,
    /// A prompt on the terminal.
    Tty,
}

/// The first passphrase source available, if any.
pub fn pass_source() -> Option<PassSource> {
    if passphrase_file().is_some() {
        Some(PassSource::File)
    } else if std::env::var(ENV_KEY_PASSPHRASE).is_ok_and(|v| !v.is_empty()) {
        Some(PassSource::Env)
    } else if std::io::stdin().is_terminal() {
        Some(PassSource::Tty)
    } else {
        None
    }
}

/// The message of the typed error when no source exists.
fn no_source(what: &str) -> CryptoError {
    CryptoError::PassphraseRequired(format!(
        "{what}: give it with --passphrase-file FILE, the environment variable {ENV_KEY_PASSPHRASE}, \
         or run the command on a terminal to be prompted"
    ))
}

/// A passphrase for `what`, from the first source available; `confirm` asks twice on a terminal
/// (for a new encryption).
///
/// # Errors
/// [`CryptoError::PassphraseRequired`] naming the sources when there is none; an unreadable
/// passphrase file; an empty passphrase or a mismatched confirmation.
pub fn passphrase(what: &str, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    let pass = match pass_source() {
        Some(PassSource::File) => {
            let Some(p) = passphrase_file() else { return Err(no_source(what).into()) };
            let mut text = Zeroizing::new(
                std::fs::read_to_string(p).with_context(|| format!("reading the passphrase file {}", p.display()))?,
            );
            while text.ends_with('\n') || text.ends_with('\r') {
                text.pop();
            }
            text
        }
        Some(PassSource::Env) => Zeroizing::new(std::env::var(ENV_KEY_PASSPHRASE).unwrap_or_default()),
        Some(PassSource::Tty) => {
            let p = Zeroizing::new(
                rpassword::prompt_password(format!("passphrase for {what}: ")).context("reading the passphrase")?,
            );
            if confirm {
                let again = Zeroizing::new(rpassword::prompt_password("again: ").context("reading the passphrase")?);
                if *again != *p {
                    bail!("the two passphrases differ");
                }
            }
            p
        }
        None => return Err(no_source(what).into()),
    };
    if pass.is_empty() {
        bail!("the passphrase for {what} is empty");
    }
    Ok(pass)
}

/// Reads a PKCS#8 PEM key file, plain or encrypted (asking for the passphrase only when it is
/// encrypted). The text is zeroized after use.
///
/// # Errors
/// An unreadable or bad file, a missing or wrong passphrase.
pub fn load_keypair(path: &Path) -> anyhow::Result<KeyPair> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).with_context(|| format!("reading the key {}", path.display()))?);
    if !text.trim_start().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return KeyPair::from_pkcs8_pem(&text).with_context(|| format!("the key {}", path.display()));
    }
    let pass = passphrase(&path.display().to_string(), false)?;
    KeyPair::from_encrypted_pkcs8_pem(&text, pass.as_bytes()).with_context(|| format!("the key {}", path.display()))
}

/// The signer a `--key` names: a PKCS#11 URI, or a key file ([`load_keypair`]).
///
/// # Errors
/// As [`load_keypair`], or the PKCS#11 module's typed errors.
pub fn load_signer(key: &Path) -> anyhow::Result<Box<dyn Signer>> {
    if let Some(uri) = key.to_str().filter(|s| is_pkcs11_uri(s)) {
        let uri = Pkcs11Uri::parse(uri)?;
        let label = uri.object.clone().unwrap_or_default();
        let s = Pkcs11Signer::open(&uri).with_context(|| format!("the PKCS#11 key {label:?}"))?;
        return Ok(Box::new(s));
    }
    Ok(Box::new(load_keypair(key)?))
}

/// Whether `key` names a PKCS#11 key rather than a file.
pub fn is_uri(key: &Path) -> bool {
    key.to_str().is_some_and(is_pkcs11_uri)
}

/// `--cipher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CipherArg {
    /// SM4-CBC (default for SM2 keys).
    Sm4,
    /// AES-256-CBC (default for Ed25519 keys).
    Aes256,
}

/// `--prf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrfArg {
    /// PBKDF2-HMAC-SM3 (default with SM4; OpenSSL 3.0 cannot read it).
    Sm3,
    /// PBKDF2-HMAC-SHA256 (default with AES-256; `openssl pkcs8` reads it with either cipher).
    Sha256,
}

/// The encryption options of `fdl keygen` and `fdl key encrypt`.
#[derive(Args, Debug, Clone, Copy)]
pub struct EncryptOpts {
    /// Cipher of the encrypted key file (default: sm4 for an SM2 key, aes256 for Ed25519).
    #[arg(long, value_enum)]
    pub cipher: Option<CipherArg>,
    /// PBKDF2 PRF (default: sm3 with sm4, sha256 with aes256). `--prf sha256` makes an SM4 file
    /// that `openssl pkcs8` reads.
    #[arg(long, value_enum)]
    pub prf: Option<PrfArg>,
}

impl EncryptOpts {
    /// The cipher and PRF for a key of `suite`.
    pub fn resolve(self, suite: Suite) -> (KeyCipher, KeyPrf) {
        let cipher = match self.cipher {
            Some(CipherArg::Sm4) => KeyCipher::Sm4Cbc,
            Some(CipherArg::Aes256) => KeyCipher::Aes256Cbc,
            None => KeyCipher::for_suite(suite),
        };
        let prf = match self.prf {
            Some(PrfArg::Sm3) => KeyPrf::HmacSm3,
            Some(PrfArg::Sha256) => KeyPrf::HmacSha256,
            None => cipher.default_prf(),
        };
        (cipher, prf)
    }
}

/// Writes `data` to `path` atomically (a temporary file in the same directory, mode 0600, renamed
/// over it).
pub fn write_atomic_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("a temporary file in {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Encrypts, in place, every plain PKCS#8 key file (`*.pem` holding `PRIVATE KEY`) under `dir`,
/// each with its suite's default profile; returns how many.
///
/// # Errors
/// An unreadable directory or file, or a write failure.
pub fn encrypt_tree(dir: &Path, pass: &str) -> anyhow::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            n += encrypt_tree(&p, pass)?;
            continue;
        }
        if p.extension().is_none_or(|x| x != "pem") {
            continue;
        }
        let text = Zeroizing::new(std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?);
        if !text.trim_start().starts_with("-----BEGIN PRIVATE KEY-----") {
            continue;
        }
        let kp = KeyPair::from_pkcs8_pem(&text).with_context(|| p.display().to_string())?;
        let cipher = KeyCipher::for_suite(kp.suite());
        let pem = Zeroizing::new(kp.to_encrypted_pkcs8_pem(pass.as_bytes(), cipher)?);
        write_atomic_private(&p, pem.as_bytes())?;
        n += 1;
    }
    Ok(n)
}

/// `fdl key`.
#[derive(Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    cmd: KeyCmd,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Encrypt a plain PKCS#8 key file under a passphrase (in place unless --out).
    Encrypt {
        /// The plain key file.
        input: PathBuf,
        /// Where to write the encrypted key (default: over the input, atomically).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        enc: EncryptOpts,
    },
    /// Decrypt an encrypted key file to a plain PKCS#8 PEM (in place unless --out).
    Decrypt {
        /// The encrypted key file.
        input: PathBuf,
        /// Where to write the plain key (default: over the input, atomically).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Keys in a hardware security module (PKCS#11): import, generate, list.
    Pkcs11(Pkcs11Args),
}

#[derive(Args)]
struct Pkcs11Args {
    #[command(subcommand)]
    cmd: Pkcs11Cmd,
}

#[derive(Subcommand)]
enum Pkcs11Cmd {
    /// Import an Ed25519 key file into the token as a sensitive, non-extractable key.
    Import {
        /// The key file (plain or encrypted).
        keyfile: PathBuf,
        /// `pkcs11:token=..;object=LABEL?module-path=..&pin-source=file:..`
        #[arg(long)]
        uri: String,
        /// Also write the public key (SPKI PEM) here, e.g. for `fdl ca issue --key`.
        #[arg(long)]
        pub_out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate a key pair on the token (intl: Ed25519).
    Generate {
        /// `pkcs11:token=..;object=LABEL?module-path=..&pin-source=file:..`
        #[arg(long)]
        uri: String,
        /// Crypto suite (only intl: PKCS#11 defines no SM2 key generation).
        #[arg(long, default_value = "intl")]
        suite: Suite,
        /// Also write the public key (SPKI PEM) here, e.g. for `fdl ca issue --key`.
        #[arg(long)]
        pub_out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the token's private keys: label, suite and address.
    List {
        /// `pkcs11:token=..?module-path=..&pin-source=file:..` (no object needed)
        #[arg(long)]
        uri: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `fdl key`.
pub fn run(a: KeyArgs) -> anyhow::Result<i32> {
    match a.cmd {
        KeyCmd::Encrypt { input, out, enc } => encrypt(&input, out.as_deref(), enc),
        KeyCmd::Decrypt { input, out } => decrypt(&input, out.as_deref()),
        KeyCmd::Pkcs11(p) => pkcs11(p.cmd),
    }
}

fn is_encrypted(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

fn encrypt(input: &Path, out: Option<&Path>, enc: EncryptOpts) -> anyhow::Result<i32> {
    let text = Zeroizing::new(std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?);
    if is_encrypted(&text) {
        bail!("{} is already encrypted (decrypt it first to change its passphrase)", input.display());
    }
    let kp = KeyPair::from_pkcs8_pem(&text).with_context(|| input.display().to_string())?;
    let (cipher, prf) = enc.resolve(kp.suite());
    let pass = passphrase(&format!("the new encryption of {}", input.display()), true)?;
    let pem = Zeroizing::new(kp.to_encrypted_pkcs8_pem_with(pass.as_bytes(), cipher, prf)?);
    let out = out.unwrap_or(input);
    write_atomic_private(out, pem.as_bytes())?;
    eprintln!("encrypted {} ({cipher:?}, {prf:?}) into {}", kp.address(), out.display());
    Ok(0)
}

fn decrypt(input: &Path, out: Option<&Path>) -> anyhow::Result<i32> {
    let text = Zeroizing::new(std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?);
    if !is_encrypted(&text) {
        bail!("{} is not an encrypted key file", input.display());
    }
    let pass = passphrase(&input.display().to_string(), false)?;
    let kp = KeyPair::from_encrypted_pkcs8_pem(&text, pass.as_bytes())?;
    let pem = Zeroizing::new(kp.to_pkcs8_pem()?);
    let out = out.unwrap_or(input);
    write_atomic_private(out, pem.as_bytes())?;
    eprintln!("decrypted {} into {} (not encrypted: keep it mode 0600)", kp.address(), out.display());
    Ok(0)
}

fn report_key(
    label: &str,
    pk: &fdl_crypto::PublicKey,
    pub_out: Option<&Path>,
    json: bool,
    verb: &str,
) -> anyhow::Result<()> {
    if let Some(p) = pub_out {
        std::fs::write(p, pk.to_spki_pem()?).with_context(|| format!("writing {}", p.display()))?;
    }
    if json {
        print_json(&json!({
            "label": label,
            "address": pk.address().to_hex(),
            "public_key": hex::encode(pk.to_bytes()),
            "suite": pk.suite(),
        }))
    } else {
        println!("{verb} {label:?}: address {} ({} suite)", pk.address(), pk.suite());
        Ok(())
    }
}

fn pkcs11(cmd: Pkcs11Cmd) -> anyhow::Result<i32> {
    match cmd {
        Pkcs11Cmd::Import { keyfile, uri, pub_out, json } => {
            let uri = Pkcs11Uri::parse(&uri)?;
            let label = uri.object_label()?.to_string();
            let kp = load_keypair(&keyfile)?;
            let pk = Pkcs11Token::open(&uri)?.import(&label, &kp)?;
            report_key(&label, &pk, pub_out.as_deref(), json, "imported")?;
            if !json {
                eprintln!(
                    "the key file {} still holds the key: delete it (or keep it encrypted, offline) once the token is backed up",
                    keyfile.display()
                );
            }
        }
        Pkcs11Cmd::Generate { uri, suite, pub_out, json } => {
            let uri = Pkcs11Uri::parse(&uri)?;
            let label = uri.object_label()?.to_string();
            let pk = Pkcs11Token::open(&uri)?.generate(&label, suite)?;
            report_key(&label, &pk, pub_out.as_deref(), json, "generated")?;
        }
        Pkcs11Cmd::List { uri, json } => {
            let uri = Pkcs11Uri::parse(&uri)?;
            let keys = Pkcs11Token::open(&uri)?.list()?;
            if json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({
                            "label": k.label,
                            "address": k.public_key.as_ref().map(|p| p.address().to_hex()),
                            "suite": k.public_key.as_ref().map(fdl_crypto::PublicKey::suite),
                        })
                    })
                    .collect();
                print_json(&json!(rows))?;
            } else {
                for k in &keys {
                    match &k.public_key {
                        Some(pk) => println!("{:<24} {} {}", k.label, pk.suite(), pk.address()),
                        None => println!("{:<24} (no public key object)", k.label),
                    }
                }
            }
        }
    }
    Ok(0)
}
