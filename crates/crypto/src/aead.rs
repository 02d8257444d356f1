//! Authenticated encryption: SM4-GCM under `sm`, AES-256-GCM under `intl`.

use aes_gcm::aead::{Aead, KeyInit, Payload};

use crate::{CryptoError, Suite};

/// Nonce length for both GCM modes.
pub const AEAD_NONCE_LEN: usize = 12;
/// Tag length appended to every ciphertext.
pub const AEAD_TAG_LEN: usize = 16;

/// Key length for a suite's AEAD: 16 bytes (SM4) or 32 bytes (AES-256).
#[allow(non_snake_case)]
pub const fn AEAD_KEY_LEN(suite: Suite) -> usize {
    match suite {
        Suite::Sm => 16,
        Suite::Intl => 32,
    }
}

type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

fn check(suite: Suite, key: &[u8], nonce: &[u8]) -> Result<(), CryptoError> {
    if key.len() != AEAD_KEY_LEN(suite) {
        return Err(CryptoError::BadLength { what: "AEAD key", expected: AEAD_KEY_LEN(suite), got: key.len() });
    }
    if nonce.len() != AEAD_NONCE_LEN {
        return Err(CryptoError::BadLength { what: "AEAD nonce", expected: AEAD_NONCE_LEN, got: nonce.len() });
    }
    Ok(())
}

/// Encrypts and authenticates `plaintext` with associated data `aad`; returns ciphertext || tag.
///
/// # Errors
/// [`CryptoError::BadLength`] for a wrong key or nonce length.
pub fn seal(suite: Suite, key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check(suite, key, nonce)?;
    let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(nonce).map_err(|_| CryptoError::BadLength {
        what: "AEAD nonce",
        expected: AEAD_NONCE_LEN,
        got: nonce.len(),
    })?;
    let payload = Payload { msg: plaintext, aad };
    let out = match suite {
        Suite::Sm => Sm4Gcm::new_from_slice(key).map_err(|_| CryptoError::Decrypt)?.encrypt(&nonce, payload),
        Suite::Intl => {
            aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Decrypt)?.encrypt(&nonce, payload)
        }
    };
    out.map_err(|_| CryptoError::Encrypt("AEAD".into()))
}

/// Checks and decrypts ciphertext || tag produced by [`seal`].
///
/// # Errors
/// [`CryptoError::Decrypt`] when anything was altered or the key is wrong.
pub fn open(suite: Suite, key: &[u8], nonce: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check(suite, key, nonce)?;
    let nonce = aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(nonce).map_err(|_| CryptoError::BadLength {
        what: "AEAD nonce",
        expected: AEAD_NONCE_LEN,
        got: nonce.len(),
    })?;
    let payload = Payload { msg: ciphertext, aad };
    let out = match suite {
        Suite::Sm => Sm4Gcm::new_from_slice(key).map_err(|_| CryptoError::Decrypt)?.decrypt(&nonce, payload),
        Suite::Intl => {
            aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Decrypt)?.decrypt(&nonce, payload)
        }
    };
    out.map_err(|_| CryptoError::Decrypt)
}
