//! SM2 public-key encryption (GB/T 32918.4), used later for key envelopes.
//!
//! Ciphertexts use the ASN.1 DER form of GM/T 0009 (GB/T 35276) that OpenSSL 3 (`openssl pkeyutl
//! -encrypt` with an SM2 key) and GmSSL read and write:
//!
//! ```text
//! SM2Cipher ::= SEQUENCE {
//!     xCoordinate  INTEGER,      -- x of C1
//!     yCoordinate  INTEGER,      -- y of C1
//!     hash         OCTET STRING, -- C3 = SM3(x2 || M || y2), 32 bytes
//!     cipherText   OCTET STRING  -- C2, as long as the message
//! }
//! ```

use rand_core::UnwrapErr;

use crate::{CryptoError, KeyPair, PublicKey};

/// Encrypts `msg` (at least one byte) to an SM2 public key with SM3 as the hash.
///
/// The output is the DER `SM2Cipher` structure (module docs), so that `openssl pkeyutl -decrypt`
/// decrypts it.
///
/// # Errors
/// [`CryptoError::SuiteMismatch`] for a non-SM2 key, [`CryptoError::Encrypt`] on failure (also for
/// an empty message, which SM2 encryption does not define).
pub fn sm2_encrypt(to: &PublicKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let PublicKey::Sm2(vk) = to else {
        return Err(CryptoError::SuiteMismatch { expected: crate::Suite::Sm, got: to.suite() });
    };
    let ek = sm2::pke::EncryptingKey::from_affine(*vk.as_affine())
        .map_err(|_| CryptoError::Encrypt("invalid key".into()))?;
    let mut rng = UnwrapErr(getrandom::SysRng);
    ek.encrypt_der(&mut rng, msg).map_err(|e| CryptoError::Encrypt(e.to_string()))
}

/// Decrypts a DER `SM2Cipher` (module docs), as made by [`sm2_encrypt`] or by
/// `openssl pkeyutl -encrypt`.
///
/// # Errors
/// [`CryptoError::SuiteMismatch`] for a non-SM2 key, [`CryptoError::Decrypt`] when the bytes are
/// not such a ciphertext, were altered, or were made for another key.
pub fn sm2_decrypt(key: &KeyPair, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let KeyPair::Sm2(sk) = key else {
        return Err(CryptoError::SuiteMismatch { expected: crate::Suite::Sm, got: key.suite() });
    };
    let dk = sm2::pke::DecryptingKey::from_nonzero_scalar(*sk.as_nonzero_scalar()).map_err(|_| CryptoError::Decrypt)?;
    dk.decrypt_der(ciphertext).map_err(|_| CryptoError::Decrypt)
}
