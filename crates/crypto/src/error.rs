use thiserror::Error;

/// Every way a cryptographic operation can fail.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The signature does not verify against the key and message.
    #[error("signature verification failed")]
    BadSignature,
    /// The signature bytes are not a valid encoding for the suite.
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    /// The public key bytes are not a valid key for the suite.
    #[error("malformed public key: {0}")]
    MalformedPublicKey(String),
    /// A private key file that users other than its owner may access (Unix permissions).
    #[error(
        "{path} is accessible by group or others (mode {mode:03o}); a private key must be readable by its owner only: run `chmod 600 {path}`"
    )]
    KeyFileExposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file could not be read or parsed.
    #[error("bad key file: {0}")]
    BadKeyFile(String),
    /// An encrypted key file was given without a passphrase.
    #[error("passphrase required: {0}")]
    PassphraseRequired(String),
    /// An encrypted key file did not decrypt: the passphrase is wrong, or the file was altered.
    #[error("wrong passphrase (or a damaged encrypted key file)")]
    WrongPassphrase,
    /// An encrypted key file uses an algorithm, OID or parameter FDL does not accept.
    #[error("unsupported key encryption: {0}")]
    UnsupportedKeyEncryption(String),
    /// An encrypted key file's PBKDF2 iteration count is outside the accepted range.
    #[error("PBKDF2 iteration count {got} outside the accepted {min}..={max}")]
    IterationCountOutOfRange {
        /// The count in the file.
        got: u64,
        /// The smallest count accepted.
        min: u32,
        /// The largest count accepted.
        max: u32,
    },
    /// The object belongs to one suite and was used with another.
    #[error("suite mismatch: expected {expected}, got {got}")]
    SuiteMismatch {
        /// The suite the caller asked for.
        expected: crate::Suite,
        /// The suite the object belongs to.
        got: crate::Suite,
    },
    /// Wrong length for a key, nonce or other fixed-size input.
    #[error("bad length for {what}: expected {expected}, got {got}")]
    BadLength {
        /// What had the wrong length.
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length supplied.
        got: usize,
    },
    /// Authenticated decryption failed: wrong key, nonce, associated data or tampered ciphertext.
    #[error("decryption failed")]
    Decrypt,
    /// Encryption failed (SM2 public-key encryption can fail on a degenerate key).
    #[error("encryption failed: {0}")]
    Encrypt(String),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// A PKCS#11 URI that FDL cannot use (RFC 7512 subset: `pkcs11:token=..;object=..?module-path=..`).
    #[error("bad PKCS#11 URI: {0}")]
    Pkcs11Uri(String),
    /// The PKCS#11 module could not be loaded or initialized.
    #[error("PKCS#11 module: {0}")]
    Pkcs11Module(String),
    /// No token with the URI's label is present in the module.
    #[error("PKCS#11 token not found: {0}")]
    Pkcs11TokenNotFound(String),
    /// No PIN was given for the token, or the token refused it.
    #[error("PKCS#11 login: {0}")]
    Pkcs11Login(String),
    /// The token holds no key (or no public key) with the URI's object label.
    #[error("PKCS#11 key not found: {0}")]
    Pkcs11KeyNotFound(String),
    /// The key or mechanism is one FDL cannot use with this module (e.g. SM2 without a configured mechanism).
    #[error("PKCS#11 unsupported: {0}")]
    Pkcs11Unsupported(String),
    /// Any other failure the PKCS#11 module reported (the function and its return value).
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    /// An unknown suite name.
    #[error("unknown suite {0:?}: expected \"sm\" or \"intl\"")]
    UnknownSuite(String),
}
