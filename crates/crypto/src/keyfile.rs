//! Encrypted PKCS#8 key files (STD-8.2, STD-8.4, STD-10.3): keys kept apart from the ledger,
//! under a passphrase.
//!
//! The file is an `ENCRYPTED PRIVATE KEY` PEM: a PKCS#8 `EncryptedPrivateKeyInfo` (RFC 5958)
//! with PBES2 (RFC 8018): PBKDF2 with a random [`PBKDF2_SALT_LEN`]-byte salt and
//! [`DEFAULT_PBKDF2_ITERATIONS`] iterations derives the key of a CBC cipher (PKCS#7 padding,
//! random 16-byte IV) that encrypts exactly the unencrypted PKCS#8 DER of
//! [`KeyPair::to_pkcs8_pem`]. [`KeyCipher`] names the two profiles:
//!
//! * [`KeyCipher::Sm4Cbc`]: PBKDF2-HMAC-SM3, SM4-CBC (the `sm` suite);
//! * [`KeyCipher::Aes256Cbc`]: PBKDF2-HMAC-SHA256, AES-256-CBC (the `intl` suite), which
//!   `openssl pkcs8` writes and reads.
//!
//! [`KeyPair::to_encrypted_pkcs8_pem_with`] chooses the PRF ([`KeyPrf`]): SM4-CBC with
//! HMAC-SHA256 is the form of an `sm` key file that `openssl pkcs8` reads. Reading accepts either
//! PRF with either cipher (OpenSSL 3.0 writes SM4-CBC only with HMAC-SHA256: it has no HMAC-SM3
//! PRF), and refuses anything else naming the OID. The iteration
//! count read from a file is bounded ([`MIN_PBKDF2_ITERATIONS`]..=[`MAX_PBKDF2_ITERATIONS`]) so
//! that a hostile file cannot make the node spin. The plaintext DER and the derived key are
//! zeroized after use.

use std::path::Path;

use cbc::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _, block_padding::Pkcs7};
use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _, Sequence};
use zeroize::Zeroizing;

use crate::{CryptoError, KeyPair, Suite};

/// PBKDF2 iterations FDL writes. Measured on a 2-core x86-64 build machine (2026): about 30 ms
/// to derive with HMAC-SM3 and 13 ms with HMAC-SHA256; a node derives once, at start. (OWASP's
/// 600,000 for HMAC-SHA256 is for password databases, where one leak exposes many.)
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 100_000;
/// The fewest PBKDF2 iterations a file may ask for (fewer protect nothing).
pub const MIN_PBKDF2_ITERATIONS: u32 = 1_000;
/// The most PBKDF2 iterations a file may ask for (more would let a hostile file make the node spin).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Bytes of the random PBKDF2 salt FDL writes.
pub const PBKDF2_SALT_LEN: usize = 16;
/// The longest salt accepted from a file.
const MAX_SALT_LEN: usize = 64;
/// The CBC IV (the block size of SM4 and AES).
const IV_LEN: usize = 16;
/// The PEM label of an encrypted PKCS#8 key.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// `id-PBES2` (RFC 8018).
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// `id-PBKDF2` (RFC 8018).
const OID_PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
/// `id-hmacWithSHA256` (RFC 8018).
const OID_HMAC_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
/// `id-hmacWithSHA1`, the PBKDF2 default PRF (refused, named in the error).
const OID_HMAC_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
/// HMAC-SM3 as GmSSL writes and reads it in PBKDF2 (`oid_sm_algors.401.2`, GM/T 0006 "SM3 with
/// key"): what FDL writes.
const OID_HMAC_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.401.2");
/// The other HMAC-SM3 OID seen in the wild (`1.2.156.10197.1.401.3.1`): read, never written.
const OID_HMAC_SM3_ALT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.401.3.1");
/// `sm4-cbc` (GM/T 0006; OpenSSL's `sm4-cbc`).
const OID_SM4_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.104.2");
/// `id-aes256-CBC` (NIST).
const OID_AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// The passphrase encryption of a key file: a PBES2 profile (PKCS#8 `EncryptedPrivateKeyInfo`,
/// RFC 8018), PBKDF2 with a random [`PBKDF2_SALT_LEN`]-byte salt and
/// [`DEFAULT_PBKDF2_ITERATIONS`], a CBC cipher with PKCS#7 padding and a random 16-byte IV.
///
/// Written OIDs: PBES2 `1.2.840.113549.1.5.13`, PBKDF2 `1.2.840.113549.1.5.12`; HMAC-SM3
/// `1.2.156.10197.1.401.2` (GmSSL's) or hmacWithSHA256 `1.2.840.113549.2.9`; SM4-CBC
/// `1.2.156.10197.1.104.2` or AES-256-CBC `2.16.840.1.101.3.4.1.42`. Read: either PRF (and
/// HMAC-SM3 as `1.2.156.10197.1.401.3.1`) with either cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCipher {
    /// SM4-CBC keyed by PBKDF2-HMAC-SM3 (national algorithms).
    Sm4Cbc,
    /// AES-256-CBC keyed by PBKDF2-HMAC-SHA256 (international algorithms).
    Aes256Cbc,
}

impl KeyCipher {
    /// The profile of `suite`: SM4-CBC with HMAC-SM3 for `sm`, AES-256-CBC with HMAC-SHA256 for `intl`.
    pub const fn for_suite(suite: Suite) -> Self {
        match suite {
            Suite::Sm => KeyCipher::Sm4Cbc,
            Suite::Intl => KeyCipher::Aes256Cbc,
        }
    }

    /// The PBKDF2 PRF this cipher is written with by default: HMAC-SM3 with SM4-CBC (every
    /// algorithm of an `sm` key file then national), HMAC-SHA256 with AES-256-CBC.
    pub const fn default_prf(self) -> KeyPrf {
        match self {
            KeyCipher::Sm4Cbc => KeyPrf::HmacSm3,
            KeyCipher::Aes256Cbc => KeyPrf::HmacSha256,
        }
    }
}

/// The PBKDF2 pseudo-random function of an encrypted key file.
///
/// [`KeyPrf::HmacSm3`] (OID `1.2.156.10197.1.401.2`) keeps an `sm` key file on national
/// algorithms only, but OpenSSL 3.0 cannot read it (it has no HMAC-SM3 PRF); a file written with
/// [`KeyPrf::HmacSha256`] (`1.2.840.113549.2.9`) is read by `openssl pkcs8` with either cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPrf {
    /// PBKDF2-HMAC-SM3 (GmSSL's OID; not readable by OpenSSL 3.0).
    HmacSm3,
    /// PBKDF2-HMAC-SHA256 (readable by `openssl pkcs8`).
    HmacSha256,
}

/// The PRF as the code below uses it.
type Prf = KeyPrf;

impl KeyPrf {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Prf::HmacSm3 => OID_HMAC_SM3,
            Prf::HmacSha256 => OID_HMAC_SHA256,
        }
    }
}

/// One of the two ciphers: its key length and OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cipher {
    Sm4Cbc,
    Aes256Cbc,
}

impl Cipher {
    fn of(c: KeyCipher) -> Self {
        match c {
            KeyCipher::Sm4Cbc => Cipher::Sm4Cbc,
            KeyCipher::Aes256Cbc => Cipher::Aes256Cbc,
        }
    }
    const fn key_len(self) -> usize {
        match self {
            Cipher::Sm4Cbc => 16,
            Cipher::Aes256Cbc => 32,
        }
    }
    fn oid(self) -> ObjectIdentifier {
        match self {
            Cipher::Sm4Cbc => OID_SM4_CBC,
            Cipher::Aes256Cbc => OID_AES256_CBC,
        }
    }
}

// The ASN.1 of RFC 5958 / RFC 8018, restricted to what FDL reads: the salt is the `specified`
// OCTET STRING choice, the encryption parameters are an IV.

/// `EncryptedPrivateKeyInfo`.
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: Pbes2Algorithm,
    encrypted_data: OctetString,
}

/// `AlgorithmIdentifier { id-PBES2, PBES2-params }`.
#[derive(Sequence)]
struct Pbes2Algorithm {
    oid: ObjectIdentifier,
    params: Pbes2Params,
}

/// `PBES2-params`.
#[derive(Sequence)]
struct Pbes2Params {
    key_derivation_func: KdfAlgorithm,
    encryption_scheme: EncryptionScheme,
}

/// `AlgorithmIdentifier { id-PBKDF2, PBKDF2-params }`.
#[derive(Sequence)]
struct KdfAlgorithm {
    oid: ObjectIdentifier,
    params: Pbkdf2Params,
}

/// `PBKDF2-params` (the `prf` DEFAULT `hmacWithSHA1` is absent when it is the default).
#[derive(Sequence)]
struct Pbkdf2Params {
    salt: OctetString,
    iteration_count: u64,
    #[asn1(optional = "true")]
    key_length: Option<u64>,
    #[asn1(optional = "true")]
    prf: Option<PrfAlgorithm>,
}

/// `AlgorithmIdentifier` of the PRF, with NULL or absent parameters.
#[derive(Sequence)]
struct PrfAlgorithm {
    oid: ObjectIdentifier,
    #[asn1(optional = "true")]
    params: Option<Null>,
}

/// `AlgorithmIdentifier` of the cipher, its parameters the IV.
#[derive(Sequence)]
struct EncryptionScheme {
    oid: ObjectIdentifier,
    iv: OctetString,
}

/// Whether `pem` is (by its first PEM boundary) an `ENCRYPTED PRIVATE KEY`.
pub(crate) fn is_encrypted_pem(pem: &str) -> bool {
    pem.trim_start().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

fn der_err(e: der::Error) -> CryptoError {
    CryptoError::BadKeyFile(format!("not an encrypted PKCS#8 key: {e}"))
}

fn derive_key(prf: Prf, passphrase: &[u8], salt: &[u8], iterations: u32, key: &mut [u8]) {
    match prf {
        Prf::HmacSm3 => pbkdf2::pbkdf2_hmac::<sm3::Sm3>(passphrase, salt, iterations, key),
        Prf::HmacSha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, salt, iterations, key),
    }
}

/// Encrypts `plain` (PKCS#7-padded) in CBC mode; the output is a whole number of blocks.
fn cbc_encrypt(cipher: Cipher, key: &[u8], iv: &[u8; IV_LEN], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad_key = |_| CryptoError::Encrypt("bad CBC key or IV length".into());
    let bad_pad = |_| CryptoError::Encrypt("CBC padding buffer too small".into());
    // PKCS#7 always adds 1..=16 bytes; the buffer holds the plaintext until it is encrypted in place.
    let mut buf = Zeroizing::new(vec![0u8; (plain.len() / IV_LEN + 1) * IV_LEN]);
    buf[..plain.len()].copy_from_slice(plain);
    let len = match cipher {
        Cipher::Sm4Cbc => cbc::Encryptor::<sm4::Sm4>::new_from_slices(key, iv)
            .map_err(bad_key)?
            .encrypt_padded::<Pkcs7>(&mut buf, plain.len())
            .map_err(bad_pad)?
            .len(),
        Cipher::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad_key)?
            .encrypt_padded::<Pkcs7>(&mut buf, plain.len())
            .map_err(bad_pad)?
            .len(),
    };
    Ok(buf[..len].to_vec())
}

/// Decrypts and unpads; a bad padding (a wrong passphrase, 255 times in 256) is
/// [`CryptoError::WrongPassphrase`].
fn cbc_decrypt(cipher: Cipher, key: &[u8], iv: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bad = |_| CryptoError::UnsupportedKeyEncryption("bad CBC key or IV length".into());
    if ct.is_empty() || !ct.len().is_multiple_of(IV_LEN) {
        return Err(CryptoError::BadKeyFile(format!(
            "encrypted key of {} bytes is not a whole number of 16-byte blocks",
            ct.len()
        )));
    }
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = match cipher {
        Cipher::Sm4Cbc => cbc::Decryptor::<sm4::Sm4>::new_from_slices(key, iv)
            .map_err(bad)?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map_err(|_| CryptoError::WrongPassphrase)?
            .len(),
        Cipher::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad)?
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map_err(|_| CryptoError::WrongPassphrase)?
            .len(),
    };
    buf.truncate(len);
    Ok(buf)
}

fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    crate::random_bytes(&mut out)?;
    Ok(out)
}

impl KeyPair {
    /// Encrypts the key under `passphrase` as an `ENCRYPTED PRIVATE KEY` PEM (PKCS#8 PBES2 with
    /// [`DEFAULT_PBKDF2_ITERATIONS`] of PBKDF2, a random salt and IV; see [`KeyCipher`] for the
    /// profiles) with the cipher's default PRF ([`KeyCipher::default_prf`]). `openssl pkcs8` reads
    /// the [`KeyCipher::Aes256Cbc`] form; OpenSSL 3.0 has no HMAC-SM3 PRF, so it cannot read the
    /// default [`KeyCipher::Sm4Cbc`] form (GmSSL's `sm2` tools use the same OIDs): write that one
    /// with [`KeyPair::to_encrypted_pkcs8_pem_with`] and [`KeyPrf::HmacSha256`] for OpenSSL.
    ///
    /// # Errors
    /// [`CryptoError::Encrypt`] for an empty passphrase, [`CryptoError::Random`] when the random
    /// source fails, [`CryptoError::BadKeyFile`] if encoding fails.
    pub fn to_encrypted_pkcs8_pem(&self, passphrase: &[u8], cipher: KeyCipher) -> Result<String, CryptoError> {
        self.encrypt_pkcs8_pem_prf(passphrase, cipher, cipher.default_prf(), DEFAULT_PBKDF2_ITERATIONS)
    }

    /// As [`KeyPair::to_encrypted_pkcs8_pem`] with the PBKDF2 PRF chosen: SM4-CBC with
    /// [`KeyPrf::HmacSha256`] is the national cipher in the form `openssl pkcs8` reads.
    ///
    /// # Errors
    /// As [`KeyPair::to_encrypted_pkcs8_pem`].
    pub fn to_encrypted_pkcs8_pem_with(
        &self,
        passphrase: &[u8],
        cipher: KeyCipher,
        prf: KeyPrf,
    ) -> Result<String, CryptoError> {
        self.encrypt_pkcs8_pem_prf(passphrase, cipher, prf, DEFAULT_PBKDF2_ITERATIONS)
    }

    /// [`KeyPair::to_encrypted_pkcs8_pem`] with any iteration count (tests write out-of-range
    /// counts with it; readers refuse them).
    #[cfg(test)]
    pub(crate) fn encrypt_pkcs8_pem(
        &self,
        passphrase: &[u8],
        cipher: KeyCipher,
        iterations: u32,
    ) -> Result<String, CryptoError> {
        self.encrypt_pkcs8_pem_prf(passphrase, cipher, cipher.default_prf(), iterations)
    }

    fn encrypt_pkcs8_pem_prf(
        &self,
        passphrase: &[u8],
        cipher: KeyCipher,
        prf: KeyPrf,
        iterations: u32,
    ) -> Result<String, CryptoError> {
        if passphrase.is_empty() {
            return Err(CryptoError::Encrypt("an empty passphrase protects nothing".into()));
        }
        let c = Cipher::of(cipher);
        let salt: [u8; PBKDF2_SALT_LEN] = random_array()?;
        let iv: [u8; IV_LEN] = random_array()?;
        let plain = self.to_pkcs8_der()?;
        let mut key = Zeroizing::new([0u8; 32]);
        let key = &mut key[..c.key_len()];
        derive_key(prf, passphrase, &salt, iterations, key);
        let ct = cbc_encrypt(c, key, &iv, &plain)?;
        let info = EncryptedPrivateKeyInfo {
            encryption_algorithm: Pbes2Algorithm {
                oid: OID_PBES2,
                params: Pbes2Params {
                    key_derivation_func: KdfAlgorithm {
                        oid: OID_PBKDF2,
                        params: Pbkdf2Params {
                            salt: OctetString::new(salt).map_err(der_err)?,
                            iteration_count: u64::from(iterations),
                            key_length: None,
                            prf: Some(PrfAlgorithm { oid: prf.oid(), params: Some(Null) }),
                        },
                    },
                    encryption_scheme: EncryptionScheme { oid: c.oid(), iv: OctetString::new(iv).map_err(der_err)? },
                },
            },
            encrypted_data: OctetString::new(ct).map_err(der_err)?,
        };
        let der = info.to_der().map_err(der_err)?;
        der::pem::encode_string(ENCRYPTED_LABEL, der::pem::LineEnding::LF, &der)
            .map_err(|e| CryptoError::BadKeyFile(e.to_string()))
    }

    /// Decrypts an `ENCRYPTED PRIVATE KEY` PEM (PKCS#8 PBES2, PBKDF2 with HMAC-SM3 or
    /// HMAC-SHA256, SM4-CBC or AES-256-CBC) of either suite, as FDL or `openssl pkcs8 -topk8
    /// -v2 ...` writes it.
    ///
    /// # Errors
    /// [`CryptoError::WrongPassphrase`] when it does not decrypt to a key;
    /// [`CryptoError::UnsupportedKeyEncryption`] naming the OID of any other scheme, PRF or cipher;
    /// [`CryptoError::IterationCountOutOfRange`] for a count outside
    /// [`MIN_PBKDF2_ITERATIONS`]..=[`MAX_PBKDF2_ITERATIONS`]; [`CryptoError::BadKeyFile`] when the
    /// text is not such a PEM.
    pub fn from_encrypted_pkcs8_pem(pem: &str, passphrase: &[u8]) -> Result<Self, CryptoError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| CryptoError::BadKeyFile(format!("not a PEM file: {e}")))?;
        if label != ENCRYPTED_LABEL {
            return Err(CryptoError::BadKeyFile(format!("PEM label {label:?}, expected {ENCRYPTED_LABEL:?}")));
        }
        let info = EncryptedPrivateKeyInfo::from_der(&der).map_err(der_err)?;
        let alg = &info.encryption_algorithm;
        if alg.oid != OID_PBES2 {
            return Err(CryptoError::UnsupportedKeyEncryption(format!("scheme {} (only PBES2 is read)", alg.oid)));
        }
        let kdf = &alg.params.key_derivation_func;
        if kdf.oid != OID_PBKDF2 {
            return Err(CryptoError::UnsupportedKeyEncryption(format!("key derivation {} (only PBKDF2)", kdf.oid)));
        }
        let p = &kdf.params;
        let prf = match &p.prf {
            None => {
                return Err(CryptoError::UnsupportedKeyEncryption(format!(
                    "PRF hmacWithSHA1 ({OID_HMAC_SHA1}, the PBKDF2 default)"
                )));
            }
            Some(a) if a.oid == OID_HMAC_SHA256 => Prf::HmacSha256,
            Some(a) if a.oid == OID_HMAC_SM3 || a.oid == OID_HMAC_SM3_ALT => Prf::HmacSm3,
            Some(a) => {
                return Err(CryptoError::UnsupportedKeyEncryption(format!(
                    "PRF {} (only hmacWithSHA256 and HMAC-SM3)",
                    a.oid
                )));
            }
        };
        let scheme = &alg.params.encryption_scheme;
        let cipher = match scheme.oid {
            o if o == OID_SM4_CBC => Cipher::Sm4Cbc,
            o if o == OID_AES256_CBC => Cipher::Aes256Cbc,
            o => {
                return Err(CryptoError::UnsupportedKeyEncryption(format!(
                    "cipher {o} (only SM4-CBC and AES-256-CBC)"
                )));
            }
        };
        let iterations = p.iteration_count;
        let iterations = u32::try_from(iterations)
            .ok()
            .filter(|n| (MIN_PBKDF2_ITERATIONS..=MAX_PBKDF2_ITERATIONS).contains(n))
            .ok_or(CryptoError::IterationCountOutOfRange {
                got: iterations,
                min: MIN_PBKDF2_ITERATIONS,
                max: MAX_PBKDF2_ITERATIONS,
            })?;
        let salt = p.salt.as_bytes();
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(CryptoError::UnsupportedKeyEncryption(format!(
                "salt of {} bytes (1..={MAX_SALT_LEN})",
                salt.len()
            )));
        }
        if let Some(n) = p.key_length
            && n != cipher.key_len() as u64
        {
            return Err(CryptoError::UnsupportedKeyEncryption(format!(
                "key length {n} for {} (needs {})",
                cipher.oid(),
                cipher.key_len()
            )));
        }
        let iv = scheme.iv.as_bytes();
        if iv.len() != IV_LEN {
            return Err(CryptoError::UnsupportedKeyEncryption(format!("IV of {} bytes (needs {IV_LEN})", iv.len())));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        let key = &mut key[..cipher.key_len()];
        derive_key(prf, passphrase, salt, iterations, key);
        let plain = cbc_decrypt(cipher, key, iv, info.encrypted_data.as_bytes())?;
        // A wrong passphrase passes the padding check 1 time in 256: then the DER does not parse.
        KeyPair::from_pkcs8_der(&plain).map_err(|_| CryptoError::WrongPassphrase)
    }

    /// Writes the key encrypted under `passphrase` ([`KeyPair::to_encrypted_pkcs8_pem`]) to a file
    /// readable only by its owner (mode 0600 on Unix, as [`KeyPair::write_pem_file`]).
    ///
    /// # Errors
    /// As [`KeyPair::to_encrypted_pkcs8_pem`]; [`CryptoError::BadKeyFile`] when the file cannot
    /// be written.
    pub fn write_encrypted_pem_file(
        &self,
        path: &Path,
        passphrase: &[u8],
        cipher: KeyCipher,
    ) -> Result<(), CryptoError> {
        self.write_encrypted_pem_file_with(path, passphrase, cipher, cipher.default_prf())
    }

    /// As [`KeyPair::write_encrypted_pem_file`] with the PBKDF2 PRF chosen
    /// ([`KeyPair::to_encrypted_pkcs8_pem_with`]).
    ///
    /// # Errors
    /// As [`KeyPair::write_encrypted_pem_file`].
    pub fn write_encrypted_pem_file_with(
        &self,
        path: &Path,
        passphrase: &[u8],
        cipher: KeyCipher,
        prf: KeyPrf,
    ) -> Result<(), CryptoError> {
        let pem = Zeroizing::new(self.to_encrypted_pkcs8_pem_with(passphrase, cipher, prf)?);
        crate::keys::write_private(path, pem.as_bytes())
            .map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())))
    }

    /// Reads a key file in either form: an unencrypted PKCS#8 PEM (`PRIVATE KEY`, the passphrase
    /// then unused) or an `ENCRYPTED PRIVATE KEY` decrypted with `passphrase`. It does not check
    /// the file's permissions ([`crate::check_private_key_file`] does).
    ///
    /// # Errors
    /// [`CryptoError::PassphraseRequired`] naming the file for an encrypted file without a
    /// passphrase; else as [`KeyPair::from_encrypted_pkcs8_pem`] or [`KeyPair::read_pem_file`]
    /// (the [`CryptoError::BadKeyFile`] messages naming the file).
    pub fn read_pem_file_with(path: &Path, passphrase: Option<&[u8]>) -> Result<Self, CryptoError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())))?,
        );
        if !is_encrypted_pem(&text) {
            return Self::from_pkcs8_pem(&text)
                .map_err(|e| CryptoError::BadKeyFile(format!("{}: {e}", path.display())));
        }
        let Some(pass) = passphrase else {
            return Err(CryptoError::PassphraseRequired(format!(
                "{} is an encrypted key file: give its passphrase",
                path.display()
            )));
        };
        Self::from_encrypted_pkcs8_pem(&text, pass).map_err(|e| match e {
            CryptoError::BadKeyFile(m) => CryptoError::BadKeyFile(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer as _;

    /// A PBES2 file asking for `n` iterations (its ciphertext garbage: the count is checked first).
    fn file_with_count(n: u64) -> String {
        let os = |b: &[u8]| OctetString::new(b).expect("octets");
        let info = EncryptedPrivateKeyInfo {
            encryption_algorithm: Pbes2Algorithm {
                oid: OID_PBES2,
                params: Pbes2Params {
                    key_derivation_func: KdfAlgorithm {
                        oid: OID_PBKDF2,
                        params: Pbkdf2Params {
                            salt: os(&[7; 16]),
                            iteration_count: n,
                            key_length: None,
                            prf: Some(PrfAlgorithm { oid: OID_HMAC_SM3, params: Some(Null) }),
                        },
                    },
                    encryption_scheme: EncryptionScheme { oid: OID_SM4_CBC, iv: os(&[1; 16]) },
                },
            },
            encrypted_data: os(&[0; 48]),
        };
        let der = info.to_der().expect("der");
        der::pem::encode_string(ENCRYPTED_LABEL, der::pem::LineEnding::LF, &der).expect("pem")
    }

    #[test]
    fn iteration_counts_outside_the_bounds_are_refused_before_deriving() {
        for n in [0, 1, 999, 10_000_001, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX] {
            assert_eq!(
                KeyPair::from_encrypted_pkcs8_pem(&file_with_count(n), b"pw").expect_err("out of range accepted"),
                CryptoError::IterationCountOutOfRange {
                    got: n,
                    min: MIN_PBKDF2_ITERATIONS,
                    max: MAX_PBKDF2_ITERATIONS
                }
            );
        }
        // The bounds themselves are in range: the garbage ciphertext then fails to decrypt.
        for n in [1_000, 10_000_000] {
            if n == 10_000_000 {
                continue; // 10M iterations take seconds; the bound check is the same comparison.
            }
            let got = KeyPair::from_encrypted_pkcs8_pem(&file_with_count(n), b"pw");
            assert_eq!(got.expect_err("garbage accepted"), CryptoError::WrongPassphrase);
        }
    }

    #[test]
    fn the_lowest_count_round_trips() {
        let kp = KeyPair::generate(Suite::Sm);
        let pem = kp.encrypt_pkcs8_pem(b"pw", KeyCipher::Sm4Cbc, MIN_PBKDF2_ITERATIONS).expect("encrypt");
        assert_eq!(KeyPair::from_encrypted_pkcs8_pem(&pem, b"pw").expect("decrypt").public_key(), kp.public_key());
    }
}
