//! FDL's cryptography: the two suites a chain can be built on, chosen once at genesis (STD-8.1).
//!
//! * [`Suite::Sm`] (the default): SM2 signatures over SM3 with the standard user id
//!   `1234567812345678`, DER-encoded as OpenSSL and GmSSL expect (GB/T 32918.2); SM2 public-key
//!   encryption (GB/T 32918.4) with the DER ciphertext OpenSSL uses; SM3 hashing (GB/T 32905);
//!   SM4-GCM authenticated encryption (GB/T 32907).
//! * [`Suite::Intl`]: Ed25519 (strict verification, ADR 0010), SHA-256 and AES-256-GCM, for non-regulated use.
//!
//! Keys are PKCS#8 PEM files that OpenSSL 3 reads, optionally encrypted under a passphrase
//! (PBES2, [`KeyCipher`]); public keys are SPKI. Signing goes through the
//! [`Signer`] trait so that a hardware security module can hold the key (STD-8.2): with the
//! `pkcs11` feature, [`pkcs11::Pkcs11Signer`] signs with a key in a PKCS#11 token.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod address;
mod aead;
mod error;
mod hash;
mod keyfile;
mod keys;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
mod pke;
pub mod sm2v;
mod suite;

pub use address::{ADDRESS_LEN, Address};
pub use aead::{AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN, open, seal};
pub use error::CryptoError;
pub use hash::{HASH_LEN, Hash, Hasher, hash, hash_tagged};
pub use keyfile::{
    DEFAULT_PBKDF2_ITERATIONS, KeyCipher, KeyPrf, MAX_PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS, PBKDF2_SALT_LEN,
};
pub use keys::{
    KeyPair, MAX_PUBLIC_KEY_LEN, MAX_SIGNATURE_LEN, PublicKey, SM2_DEFAULT_DISTID, Signature, Signer,
    check_private_key_file, sm2_digest, verify_batch,
};
pub use pke::{sm2_decrypt, sm2_encrypt};
pub use suite::Suite;

/// Fills `buf` from the operating system's random source (STD-8.4).
///
/// # Errors
/// [`CryptoError::Random`] when the operating system refuses.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}
