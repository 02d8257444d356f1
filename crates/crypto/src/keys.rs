//! Keys, signatures and the [`Signer`] seam.

use std::{fmt, path::Path};

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rand_core::UnwrapErr;
use serde::{Deserialize, Serialize};
use sm2::dsa::signature::{Signer as _, Verifier as _};

use crate::{Address, CryptoError, Suite};

/// The SM2 distinguishing identifier every FDL signature uses (the GB/T 35276 default).
pub const SM2_DEFAULT_DISTID: &str = "1234567812345678";
/// Largest encoded public key (SM2 SEC1 uncompressed).
pub const MAX_PUBLIC_KEY_LEN: usize = 65;
/// Largest encoded signature (SM2 DER: two 33-byte integers plus headers).
pub const MAX_SIGNATURE_LEN: usize = 72;

/// A public key of either suite.
#[derive(Clone)]
pub enum PublicKey {
    /// An SM2 key bound to the default distinguishing id.
    Sm2(Box<sm2::dsa::VerifyingKey>),
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.suite() == other.suite() && self.to_bytes() == other.to_bytes()
    }
}
impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}:{})", self.suite(), hex::encode(self.to_bytes()))
    }
}

impl PublicKey {
    /// The suite this key belongs to.
    pub fn suite(&self) -> Suite {
        match self {
            PublicKey::Sm2(_) => Suite::Sm,
            PublicKey::Ed25519(_) => Suite::Intl,
        }
    }

    /// Canonical bytes: SEC1 uncompressed (65 bytes) for SM2, 32 bytes for Ed25519.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Sm2(k) => k.to_sec1_bytes().into_vec(),
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
        }
    }

    /// Parses canonical bytes for `suite`, refusing points off the curve, the identity and
    /// non-canonical encodings.
    ///
    /// # Errors
    /// [`CryptoError::MalformedPublicKey`] when the bytes are not a valid key.
    pub fn from_bytes(suite: Suite, bytes: &[u8]) -> Result<Self, CryptoError> {
        match suite {
            Suite::Sm => {
                if bytes.len() != 65 || bytes[0] != 0x04 {
                    return Err(CryptoError::MalformedPublicKey("SM2 key must be 65-byte SEC1 uncompressed".into()));
                }
                let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, bytes)
                    .map_err(|_| CryptoError::MalformedPublicKey("not a point on SM2".into()))?;
                Ok(PublicKey::Sm2(Box::new(vk)))
            }
            Suite::Intl => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadLength {
                    what: "Ed25519 public key",
                    expected: 32,
                    got: bytes.len(),
                })?;
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&arr)
                    .map_err(|e| CryptoError::MalformedPublicKey(e.to_string()))?;
                check_ed25519_key(&vk)?;
                Ok(PublicKey::Ed25519(vk))
            }
        }
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        Address::of(self)
    }

    /// Verifies `sig` over `msg` (SM2: with SM3 and the default user id; Ed25519: strict).
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] if it does not verify, [`CryptoError::SuiteMismatch`] if the
    /// signature is of the other suite.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        match (self, sig) {
            (PublicKey::Sm2(_), Signature::Sm2(_)) if crate::sm2v::reference_mode() => self.verify_reference(msg, sig),
            (PublicKey::Sm2(k), Signature::Sm2(der)) => {
                let s = parse_sm2_der(der)?;
                let (r, s): ([u8; 32], [u8; 32]) = (s.r_bytes().into(), s.s_bytes().into());
                if crate::sm2v::verify(&k.to_sec1_bytes(), msg, &r, &s) {
                    Ok(())
                } else {
                    Err(CryptoError::BadSignature)
                }
            }
            (PublicKey::Ed25519(k), Signature::Ed25519(bytes)) => verify_ed25519(k, msg, bytes),
            _ => Err(CryptoError::SuiteMismatch { expected: self.suite(), got: sig.suite() }),
        }
    }

    /// Verifies with the reference implementation (RustCrypto `sm2` for SM2; the same Ed25519
    /// code for Ed25519), bypassing the fast SM2 verifier: for differential tests and benchmarks.
    ///
    /// # Errors
    /// As [`PublicKey::verify`].
    pub fn verify_reference(&self, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
        match (self, sig) {
            (PublicKey::Sm2(k), Signature::Sm2(der)) => {
                let s = parse_sm2_der(der)?;
                k.verify(msg, &s).map_err(|_| CryptoError::BadSignature)
            }
            _ => self.verify(msg, sig),
        }
    }

    /// Parses a SubjectPublicKeyInfo PEM (as `openssl pkey -pubout` writes), either suite.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] when it is neither an SM2 nor an Ed25519 public key.
    pub fn from_spki_pem(pem: &str) -> Result<Self, CryptoError> {
        if let Ok(pk) = <sm2::PublicKey as sm2::pkcs8::DecodePublicKey>::from_public_key_pem(pem) {
            let vk = sm2::dsa::VerifyingKey::new(SM2_DEFAULT_DISTID, pk)
                .map_err(|_| CryptoError::BadKeyFile("invalid SM2 public key".into()))?;
            return Ok(PublicKey::Sm2(Box::new(vk)));
        }
        if let Ok(vk) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            check_ed25519_key(&vk).map_err(|e| CryptoError::BadKeyFile(e.to_string()))?;
            return Ok(PublicKey::Ed25519(vk));
        }
        Err(CryptoError::BadKeyFile("not an SM2 or Ed25519 SubjectPublicKeyInfo PEM".into()))
    }

    /// Encodes as a SubjectPublicKeyInfo PEM that OpenSSL 3 reads.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] if encoding fails (it does not for valid keys).
    pub fn to_spki_pem(&self) -> Result<String, CryptoError> {
        let le = sm2::pkcs8::LineEnding::LF;
        match self {
            PublicKey::Sm2(k) => {
                let pk = sm2::PublicKey::from_affine(*k.as_affine())
                    .map_err(|_| CryptoError::BadKeyFile("invalid SM2 key".into()))?;
                sm2::pkcs8::EncodePublicKey::to_public_key_pem(&pk, le)
                    .map_err(|e| CryptoError::BadKeyFile(e.to_string()))
            }
            PublicKey::Ed25519(k) => k.to_public_key_pem(le).map_err(|e| CryptoError::BadKeyFile(e.to_string())),
        }
    }
}

/// Whether a 32-byte Ed25519 point encoding is canonical in y: y (the low 255 bits,
/// little-endian) is below p = 2^255 - 19. The other non-canonical form, x = 0 with the sign bit
/// set, only exists for the two small-order points with x = 0, which are refused as small-order.
fn ed25519_y_canonical(b: &[u8; 32]) -> bool {
    // y >= p exactly when y is 2^255 - 19 + d for d in 0..19: every byte 0xff except the top one
    // (0x7f without the sign bit) and the lowest one (at least 0xed).
    let top_is_max = b[31] & 0x7f == 0x7f && b[1..31].iter().all(|x| *x == 0xff);
    !(top_is_max && b[0] >= 0xed)
}

/// The key rules of FDL's one Ed25519 acceptance rule (ADR 0010): a canonical encoding and not
/// of small order.
fn check_ed25519_key(vk: &ed25519_dalek::VerifyingKey) -> Result<(), CryptoError> {
    if !ed25519_y_canonical(vk.as_bytes()) {
        return Err(CryptoError::MalformedPublicKey("non-canonical Ed25519 key encoding".into()));
    }
    if vk.is_weak() {
        return Err(CryptoError::MalformedPublicKey("weak (small-order) Ed25519 key".into()));
    }
    Ok(())
}

/// FDL's one Ed25519 acceptance rule (ADR 0010), used by [`PublicKey::verify`] and
/// [`verify_batch`] alike: `verify_strict` (canonical `s < L`, canonical R, neither R nor A of
/// small order, the cofactorless equation `R = [s]B - [k]A` compared as encodings) plus a
/// canonical encoding of A.
fn verify_ed25519(k: &ed25519_dalek::VerifyingKey, msg: &[u8], sig: &[u8; 64]) -> Result<(), CryptoError> {
    if !ed25519_y_canonical(k.as_bytes()) {
        return Err(CryptoError::BadSignature);
    }
    let s = ed25519_dalek::Signature::from_bytes(sig);
    k.verify_strict(msg, &s).map_err(|_| CryptoError::BadSignature)
}

fn parse_sm2_der(der: &[u8]) -> Result<sm2::dsa::Signature, CryptoError> {
    let sig = sm2::dsa::Signature::from_der(der)
        .map_err(|_| CryptoError::MalformedSignature("not a DER SM2 signature".into()))?;
    // Only the one canonical DER form is accepted, so a transaction's bytes cannot be varied.
    if sig.to_der().as_bytes() != der {
        return Err(CryptoError::MalformedSignature("non-canonical DER".into()));
    }
    Ok(sig)
}

/// A signature of either suite: DER `SEQUENCE { r, s }` for SM2, 64 bytes for Ed25519.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signature {
    /// An SM2 signature in DER.
    Sm2(Vec<u8>),
    /// An Ed25519 signature.
    Ed25519(#[serde(with = "sig64")] [u8; 64]),
}

mod sig64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}:{})", self.suite(), hex::encode(self.as_bytes()))
    }
}

impl Signature {
    /// The suite this signature belongs to.
    pub fn suite(&self) -> Suite {
        match self {
            Signature::Sm2(_) => Suite::Sm,
            Signature::Ed25519(_) => Suite::Intl,
        }
    }

    /// The encoded bytes (DER for SM2, raw 64 bytes for Ed25519).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Signature::Sm2(v) => v,
            Signature::Ed25519(b) => b,
        }
    }

    /// Wraps encoded bytes as a signature of `suite`, checking only the length bound and, for SM2,
    /// that the bytes are canonical DER.
    ///
    /// # Errors
    /// [`CryptoError::MalformedSignature`] or [`CryptoError::BadLength`].
    pub fn from_bytes(suite: Suite, bytes: &[u8]) -> Result<Self, CryptoError> {
        match suite {
            Suite::Sm => {
                if bytes.len() > MAX_SIGNATURE_LEN {
                    return Err(CryptoError::BadLength {
                        what: "SM2 DER signature",
                        expected: MAX_SIGNATURE_LEN,
                        got: bytes.len(),
                    });
                }
                parse_sm2_der(bytes)?;
                Ok(Signature::Sm2(bytes.to_vec()))
            }
            Suite::Intl => {
                let arr: [u8; 64] = bytes.try_into().map_err(|_| CryptoError::BadLength {
                    what: "Ed25519 signature",
                    expected: 64,
                    got: bytes.len(),
                })?;
                Ok(Signature::Ed25519(arr))
            }
        }
    }
}

/// Anything that can sign for one key: a key file today, an HSM later (STD-8.2).
pub trait Signer: Send + Sync {
    /// The public key whose signatures this signer makes.
    fn public_key(&self) -> PublicKey;
    /// Signs `msg` (SM2: hashes `Z || msg` with SM3 using the default user id).
    ///
    /// # Errors
    /// Backend failures (a software key does not fail).
    fn sign(&self, msg: &[u8]) -> Result<Signature, CryptoError>;
}

/// A software key pair held in memory, read from or written to a PKCS#8 PEM file.
#[derive(Clone)]
pub enum KeyPair {
    /// SM2 key.
    Sm2(Box<sm2::dsa::SigningKey>),
    /// Ed25519 key.
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({:?})", self.public_key())
    }
}

impl KeyPair {
    /// Generates a fresh key for `suite` from the operating system's random source.
    pub fn generate(suite: Suite) -> Self {
        let mut rng = UnwrapErr(getrandom::SysRng);
        match suite {
            Suite::Sm => {
                let sk = <sm2::SecretKey as sm2::elliptic_curve::Generate>::generate_from_rng(&mut rng);
                KeyPair::Sm2(Box::new(
                    sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTID, &sk)
                        .expect("invariant: a random non-zero scalar is a valid SM2 key"),
                ))
            }
            Suite::Intl => KeyPair::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(&mut rng))),
        }
    }

    /// Builds an SM2 key from its 32-byte secret scalar (for tests and vectors).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] if the scalar is zero or not below the group order.
    pub fn sm2_from_scalar(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let sk = sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_DISTID, bytes)
            .map_err(|_| CryptoError::BadKeyFile("invalid SM2 scalar".into()))?;
        Ok(KeyPair::Sm2(Box::new(sk)))
    }

    /// Builds an Ed25519 key from its 32-byte seed (for tests and vectors).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        KeyPair::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// The key's suite.
    pub fn suite(&self) -> Suite {
        match self {
            KeyPair::Sm2(_) => Suite::Sm,
            KeyPair::Ed25519(_) => Suite::Intl,
        }
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Parses a PKCS#8 PEM private key of either suite (as `openssl genpkey` writes).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] when the text is not such a key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        if crate::keyfile::is_encrypted_pem(pem) {
            return Err(CryptoError::PassphraseRequired("an ENCRYPTED PRIVATE KEY: read it with a passphrase".into()));
        }
        if let Ok(sk) = <sm2::SecretKey as sm2::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem) {
            let k = sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTID, &sk)
                .map_err(|_| CryptoError::BadKeyFile("invalid SM2 private key".into()))?;
            return Ok(KeyPair::Sm2(Box::new(k)));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(KeyPair::Ed25519(Box::new(k)));
        }
        Err(CryptoError::BadKeyFile("not a PKCS#8 PEM SM2 or Ed25519 private key (-----BEGIN PRIVATE KEY-----)".into()))
    }

    /// Encodes as PKCS#8 PEM that OpenSSL 3 reads: for SM2 an `id-ecPublicKey` key on the SM2 curve
    /// (an ECPrivateKey holding the public key too), for Ed25519 the PKCS#8 v1 form of RFC 8410.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<String, CryptoError> {
        let le = sm2::pkcs8::LineEnding::LF;
        let pem = match self {
            KeyPair::Sm2(k) => {
                let sk = sm2::SecretKey::from_bytes(&k.to_bytes())
                    .map_err(|_| CryptoError::BadKeyFile("invalid SM2 key".into()))?;
                sm2::pkcs8::EncodePrivateKey::to_pkcs8_pem(&sk, le)
                    .map_err(|e| CryptoError::BadKeyFile(e.to_string()))?
            }
            KeyPair::Ed25519(k) => {
                // PKCS#8 v1 (RFC 8410) without the optional public key, as `openssl genpkey`
                // writes it: OpenSSL 3.0 cannot read the v2 (RFC 5958) form that
                // `SigningKey::to_pkcs8_pem` produces.
                let v1 = ed25519_dalek::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None };
                v1.to_pkcs8_pem(le).map_err(|e| CryptoError::BadKeyFile(e.to_string()))?
            }
        };
        Ok(pem.to_string())
    }

    /// The unencrypted PKCS#8 DER of the key: exactly what [`KeyPair::to_pkcs8_pem`] wraps in PEM.
    pub(crate) fn to_pkcs8_der(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        let doc = match self {
            KeyPair::Sm2(k) => {
                let sk = sm2::SecretKey::from_bytes(&k.to_bytes())
                    .map_err(|_| CryptoError::BadKeyFile("invalid SM2 key".into()))?;
                sm2::pkcs8::EncodePrivateKey::to_pkcs8_der(&sk).map_err(|e| CryptoError::BadKeyFile(e.to_string()))?
            }
            KeyPair::Ed25519(k) => {
                let v1 = ed25519_dalek::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None };
                v1.to_pkcs8_der().map_err(|e| CryptoError::BadKeyFile(e.to_string()))?
            }
        };
        Ok(zeroize::Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// Parses an unencrypted PKCS#8 DER private key of either suite.
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(sk) = <sm2::SecretKey as sm2::pkcs8::DecodePrivateKey>::from_pkcs8_der(der) {
            let k = sm2::dsa::SigningKey::new(SM2_DEFAULT_DISTID, &sk)
                .map_err(|_| CryptoError::BadKeyFile("invalid SM2 private key".into()))?;
            return Ok(KeyPair::Sm2(Box::new(k)));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(KeyPair::Ed25519(Box::new(k)));
        }
        Err(CryptoError::BadKeyFile("not a PKCS#8 SM2 or Ed25519 private key".into()))
    }

    /// Reads a PKCS#8 PEM key file.
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] naming the file when it cannot be read or parsed.
    pub fn read_pem_file(path: &Path) -> Result<Self, CryptoError> {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())))?,
        );
        Self::from_pkcs8_pem(&text).map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())))
    }

    /// Reads a PKCS#8 PEM private key file after checking, on Unix, that only its owner may access
    /// it ([`check_private_key_file`]): what a node does with its own key.
    ///
    /// # Errors
    /// [`CryptoError::KeyFileExposed`] for a file that group or others may access, else as
    /// [`KeyPair::read_pem_file`].
    pub fn read_private_pem_file(path: &Path) -> Result<Self, CryptoError> {
        check_private_key_file(path)?;
        Self::read_pem_file(path)
    }

    /// Writes the key as a PKCS#8 PEM file readable only by its owner (mode 0600 on Unix, also
    /// when the file already exists with wider permissions).
    ///
    /// # Errors
    /// [`CryptoError::BadKeyFile`] when the file cannot be written.
    pub fn write_pem_file(&self, path: &Path) -> Result<(), CryptoError> {
        let pem = zeroize::Zeroizing::new(self.to_pkcs8_pem()?);
        write_private(path, pem.as_bytes()).map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())))
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // `mode` applies only when the file is created: narrow an existing file's permissions too,
    // before the key is written into it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(data)
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

/// Refuses a private key file (or other secret) that group or others may read, write or
/// execute: on Unix its mode must be 0600 or narrower. Elsewhere it checks nothing.
///
/// # Errors
/// [`CryptoError::KeyFileExposed`] naming the file and the `chmod 600` fix;
/// [`CryptoError::BadKeyFile`] when its metadata cannot be read.
pub fn check_private_key_file(path: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path).map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFileExposed { path: path.display().to_string(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Zeroizes the secret on drop (STD-8.4). `ed25519_dalek::SigningKey` zeroizes itself (its
/// `zeroize` feature, on by default); `sm2::dsa::SigningKey` 0.14 does not (its secret scalar has
/// no `Drop`), so the boxed SM2 key is overwritten in place with the key of scalar 1 before the
/// box is freed, the write kept by [`std::hint::black_box`].
impl Drop for KeyPair {
    fn drop(&mut self) {
        if let KeyPair::Sm2(k) = self {
            let mut one = [0u8; 32];
            one[31] = 1;
            if let Ok(blank) = sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_DISTID, &one) {
                **k = blank;
                std::hint::black_box(&**k);
            }
        }
    }
}

impl Signer for KeyPair {
    fn public_key(&self) -> PublicKey {
        match self {
            KeyPair::Sm2(k) => PublicKey::Sm2(Box::new(k.verifying_key().clone())),
            KeyPair::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Signature, CryptoError> {
        match self {
            KeyPair::Sm2(k) => {
                let mut rng = UnwrapErr(getrandom::SysRng);
                let sig: sm2::dsa::Signature =
                    sm2::dsa::signature::RandomizedSigner::sign_with_rng(k.as_ref(), &mut rng, msg);
                Ok(Signature::Sm2(sig.to_der().as_bytes().to_vec()))
            }
            KeyPair::Ed25519(k) => Ok(Signature::Ed25519(k.sign(msg).to_bytes())),
        }
    }
}

/// The SM2 curve parameters `a, b, xG, yG` (GB/T 32918.5), each 32 bytes big-endian, as `Z` hashes them.
const SM2_CURVE_ABG: [&str; 4] = [
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
];

/// The digest `e = SM3(Z || msg)` an SM2 signature signs (GB/T 32918.2 §6.1), with
/// `Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)` for the default user id
/// [`SM2_DEFAULT_DISTID`]: what a hardware module that signs a 32-byte digest must be given.
///
/// # Errors
/// [`CryptoError::SuiteMismatch`] for an Ed25519 key.
pub fn sm2_digest(pk: &PublicKey, msg: &[u8]) -> Result<[u8; 32], CryptoError> {
    use sm3::Digest as _;
    let PublicKey::Sm2(k) = pk else {
        return Err(CryptoError::SuiteMismatch { expected: Suite::Sm, got: pk.suite() });
    };
    let point = k.to_sec1_bytes();
    let id = SM2_DEFAULT_DISTID.as_bytes();
    let mut z = sm3::Sm3::new();
    let entl = u16::try_from(id.len() * 8).unwrap_or(u16::MAX);
    z.update(entl.to_be_bytes());
    z.update(id);
    for c in SM2_CURVE_ABG {
        let mut b = [0u8; 32];
        hex::decode_to_slice(c, &mut b).map_err(|e| CryptoError::MalformedPublicKey(e.to_string()))?;
        z.update(b);
    }
    // SEC1 uncompressed: 0x04 || x || y.
    z.update(point.get(1..).unwrap_or_default());
    let mut e = sm3::Sm3::new();
    e.update(z.finalize());
    e.update(msg);
    Ok(e.finalize().into())
}

/// Verifies many `(key, message, signature)` triples, one verdict per triple, in order.
///
/// Each triple is checked on its own with [`PublicKey::verify`], so a signature is accepted here
/// exactly when the single check accepts it, whatever else is in the batch. Ed25519 batch
/// verification is not used: its random-linear-combination check accepts, with a probability that
/// depends on the other items, signatures that the strict single check refuses (mixed-order R or
/// A), and no cheap pre-check closes that gap (ADR 0010).
pub fn verify_batch(items: &[(&PublicKey, &[u8], &Signature)]) -> Vec<bool> {
    items.iter().map(|(k, m, s)| k.verify(m, s).is_ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_both_suites() {
        for suite in [Suite::Sm, Suite::Intl] {
            let kp = KeyPair::generate(suite);
            let sig = kp.sign(b"hello").expect("sign");
            let pk = kp.public_key();
            assert!(pk.verify(b"hello", &sig).is_ok());
            assert_eq!(pk.verify(b"hellp", &sig), Err(CryptoError::BadSignature));
            let pem = kp.to_pkcs8_pem().expect("pem");
            let back = KeyPair::from_pkcs8_pem(&pem).expect("parse");
            assert_eq!(back.public_key(), pk);
            let spki = pk.to_spki_pem().expect("spki");
            assert_eq!(PublicKey::from_spki_pem(&spki).expect("spki parse"), pk);
            let pk2 = PublicKey::from_bytes(suite, &pk.to_bytes()).expect("bytes");
            assert_eq!(pk2, pk);
            let sig2 = Signature::from_bytes(suite, sig.as_bytes()).expect("sig bytes");
            assert_eq!(sig2, sig);
        }
    }

    #[test]
    fn garbled_key_file_is_an_error() {
        assert!(KeyPair::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        assert!(KeyPair::from_pkcs8_pem("").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_owner_only_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let kp = KeyPair::generate(Suite::Sm);
        kp.write_pem_file(&path).expect("write key");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "an existing file keeps mode {mode:o}");
        assert_eq!(KeyPair::read_private_pem_file(&path).expect("read").public_key(), kp.public_key());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_may_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.pem");
        KeyPair::generate(Suite::Intl).write_pem_file(&path).expect("write key");
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = KeyPair::read_private_pem_file(&path).expect_err("exposed key accepted");
            assert_eq!(err, CryptoError::KeyFileExposed { path: path.display().to_string(), mode });
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()) && text.contains("chmod 600"), "{text}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        assert!(KeyPair::read_private_pem_file(&path).is_ok());
    }

    #[test]
    fn sm2_digest_is_what_sm2_signs() {
        use sm2::dsa::signature::hazmat::PrehashSigner as _;
        let kp = KeyPair::generate(Suite::Sm);
        let KeyPair::Sm2(sk) = &kp else { unreachable!("an SM2 key") };
        let pk = kp.public_key();
        let e = sm2_digest(&pk, b"a transaction").expect("digest");
        // A signature over the digest alone verifies as a signature over the message.
        let sig: sm2::dsa::Signature = sk.sign_prehash(&e).expect("sign digest");
        let sig = Signature::Sm2(sig.to_der().as_bytes().to_vec());
        assert!(pk.verify(b"a transaction", &sig).is_ok());
        assert!(pk.verify_reference(b"a transaction", &sig).is_ok());
        assert_eq!(pk.verify(b"another", &sig), Err(CryptoError::BadSignature));
        let ed = KeyPair::generate(Suite::Intl).public_key();
        assert!(matches!(sm2_digest(&ed, b"m"), Err(CryptoError::SuiteMismatch { .. })));
    }

    #[test]
    fn dropping_an_sm2_key_runs_its_zeroizing_drop() {
        // The overwrite cannot be observed after the free without unsafe code; this checks that
        // the blank key the drop writes is a valid key (the `if let` in `drop` takes its branch).
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_DISTID, &one).is_ok());
        drop(KeyPair::generate(Suite::Sm));
    }

    #[test]
    fn batch_flags_the_bad_one() {
        let kps: Vec<_> = (0..4).map(|_| KeyPair::generate(Suite::Intl)).collect();
        let pks: Vec<_> = kps.iter().map(|k| k.public_key()).collect();
        let msgs: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<_> = kps.iter().zip(&msgs).map(|(k, m)| k.sign(m).expect("sign")).collect();
        sigs[2] = kps[2].sign(b"other").expect("sign");
        let items: Vec<_> = (0..4).map(|i| (&pks[i], msgs[i].as_slice(), &sigs[i])).collect();
        assert_eq!(verify_batch(&items), vec![true, true, false, true]);
    }
}
