//! The channel's shared secret and the challenge-response both sides run before any request.
//!
//! The token is 32 random bytes (64 hex digits in a file only its owner may read). Each side
//! sends a fresh 32-byte nonce; the server proves knowledge of the token with
//! HMAC-SM3(token, "FDL/SIGNER/server/v1" ‖ client nonce ‖ server nonce), the client with the
//! same MAC under the label "FDL/SIGNER/client/v1". Neither MAC can be replayed on another
//! connection (fresh nonces) or reflected to the other side (distinct labels).

use std::path::Path;

use hmac::{KeyInit as _, Mac as _};

use super::RemoteError;

/// The shared secret of a signer and its node.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

type HmacSm3 = hmac::Hmac<sm3::Sm3>;

const SERVER_LABEL: &[u8] = b"FDL/SIGNER/server/v1";
const CLIENT_LABEL: &[u8] = b"FDL/SIGNER/client/v1";

impl Token {
    /// A token from its 32 bytes.
    pub fn from_bytes(b: [u8; 32]) -> Token {
        Token(b)
    }

    /// Reads a token file (64 hex digits), refusing one that group or others may access.
    ///
    /// # Errors
    /// [`RemoteError::Token`] naming the file.
    pub fn read(path: &Path) -> Result<Token, RemoteError> {
        fdl_crypto::check_private_key_file(path).map_err(|e| RemoteError::Token(e.to_string()))?;
        let text = std::fs::read_to_string(path).map_err(|e| RemoteError::Token(format!("{}: {e}", path.display())))?;
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RemoteError::Token(format!("{}: not 64 hex digits", path.display())));
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| RemoteError::Token(format!("{}: not 64 hex digits", path.display())))?;
        }
        Ok(Token(out))
    }

    /// Writes a new random token file (mode 0600, never over an existing file).
    ///
    /// # Errors
    /// [`RemoteError::Token`] when the file exists or cannot be written.
    pub fn generate(path: &Path) -> Result<Token, RemoteError> {
        let mut b = [0u8; 32];
        fdl_crypto::random_bytes(&mut b).map_err(|e| RemoteError::Token(e.to_string()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path).map_err(|e| RemoteError::Token(format!("{}: {e}", path.display())))?;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        std::io::Write::write_all(&mut f, format!("{hex}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| RemoteError::Token(format!("{}: {e}", path.display())))?;
        Ok(Token(b))
    }

    fn mac(&self, label: &[u8], client: &[u8; 32], server: &[u8; 32]) -> Option<HmacSm3> {
        // HMAC takes keys of any length: this does not fail.
        let mut m = HmacSm3::new_from_slice(&self.0).ok()?;
        m.update(label);
        m.update(client);
        m.update(server);
        Some(m)
    }

    fn proof(&self, label: &[u8], client: &[u8; 32], server: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        if let Some(m) = self.mac(label, client, server) {
            out.copy_from_slice(&m.finalize().into_bytes());
        }
        out
    }

    fn check(&self, label: &[u8], client: &[u8; 32], server: &[u8; 32], mac: &[u8; 32]) -> bool {
        self.mac(label, client, server).is_some_and(|m| m.verify_slice(mac).is_ok())
    }

    /// The server's proof for the nonces.
    pub(crate) fn server_mac(&self, client: &[u8; 32], server: &[u8; 32]) -> [u8; 32] {
        self.proof(SERVER_LABEL, client, server)
    }

    /// The client's proof for the nonces.
    pub(crate) fn client_mac(&self, client: &[u8; 32], server: &[u8; 32]) -> [u8; 32] {
        self.proof(CLIENT_LABEL, client, server)
    }

    /// Checks the server's proof (in constant time).
    pub(crate) fn check_server(&self, client: &[u8; 32], server: &[u8; 32], mac: &[u8; 32]) -> bool {
        self.check(SERVER_LABEL, client, server, mac)
    }

    /// Checks the client's proof (in constant time).
    pub(crate) fn check_client(&self, client: &[u8; 32], server: &[u8; 32], mac: &[u8; 32]) -> bool {
        self.check(CLIENT_LABEL, client, server, mac)
    }
}

/// A fresh random nonce.
pub(crate) fn nonce() -> Result<[u8; 32], RemoteError> {
    let mut n = [0u8; 32];
    fdl_crypto::random_bytes(&mut n).map_err(|e| RemoteError::Transport(format!("random nonce: {e}")))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_proves_the_token_and_proofs_do_not_cross() {
        let t = Token::from_bytes([1; 32]);
        let other = Token::from_bytes([2; 32]);
        let (c, s) = ([3; 32], [4; 32]);
        assert!(t.check_server(&c, &s, &t.server_mac(&c, &s)));
        assert!(t.check_client(&c, &s, &t.client_mac(&c, &s)));
        assert!(!t.check_client(&c, &s, &t.server_mac(&c, &s)), "a server proof passes as a client's");
        assert!(!t.check_client(&c, &s, &other.client_mac(&c, &s)), "another token's proof accepted");
        assert!(!t.check_client(&c, &[5; 32], &t.client_mac(&c, &s)), "a proof for other nonces accepted");
    }
}
