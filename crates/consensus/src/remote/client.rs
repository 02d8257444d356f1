//! The node's side of the channel: one connection, re-established with backoff when it drops.
//!
//! The client is blocking (a request is a few hundred microseconds); async callers run it on
//! Tokio's blocking pool. Every signature it returns is checked against the signer's public key
//! over the bytes the client derives itself, so a misconfigured signer cannot slip a wrong
//! signature into a vote.

use std::{
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use fdl_crypto::{Address, PublicKey, Signature, Suite};

use super::{
    RemoteError, Token,
    auth::nonce,
    signing_bytes,
    wire::{Handshake, Request, Response, VERSION, read_frame_sync, write_frame_sync},
};

/// How long the client waits for one answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection attempts per request when the connection is down (backoff doubles from
/// [`FIRST_BACKOFF`], so about 13 s in all: a signer restart fits).
const ATTEMPTS: u32 = 8;

/// The first wait between connection attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A connection to `fdl signer`.
pub struct RemoteClient {
    socket: PathBuf,
    token: Token,
    chain_id: String,
    public_key: PublicKey,
    public_bytes: Vec<u8>,
    conn: Mutex<Option<UnixStream>>,
}

impl std::fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteClient({}, {})", self.public_key.address(), self.socket.display())
    }
}

/// Opens and authenticates one connection.
fn open(socket: &Path, token: &Token) -> Result<UnixStream, RemoteError> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| RemoteError::Transport(format!("cannot reach the signer at {}: {e}", socket.display())))?;
    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(RemoteError::io)?;
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(RemoteError::io)?;
    let client_nonce = nonce()?;
    write_frame_sync(&mut s, &Handshake::Hello { version: VERSION, nonce: client_nonce }.encode())?;
    let (server_nonce, mac) = match Handshake::decode(&read_frame_sync(&mut s)?)? {
        Handshake::Challenge { nonce, mac } => (nonce, mac),
        Handshake::Denied(why) => return Err(RemoteError::Unauthenticated(format!("the signer denied: {why}"))),
        _ => return Err(RemoteError::Malformed("expected a challenge".into())),
    };
    if !token.check_server(&client_nonce, &server_nonce, &mac) {
        return Err(RemoteError::Unauthenticated("the socket's server does not hold the token".into()));
    }
    write_frame_sync(&mut s, &Handshake::Auth { mac: token.client_mac(&client_nonce, &server_nonce) }.encode())?;
    match Handshake::decode(&read_frame_sync(&mut s)?)? {
        Handshake::Welcome => Ok(s),
        Handshake::Denied(why) => Err(RemoteError::Unauthenticated(format!("the signer denied: {why}"))),
        _ => Err(RemoteError::Malformed("expected a welcome".into())),
    }
}

fn exchange(s: &mut UnixStream, req: &Request) -> Result<Response, RemoteError> {
    write_frame_sync(s, &req.encode())?;
    Response::decode(&read_frame_sync(s)?)
}

/// Opens a connection, retrying with backoff while the socket cannot be reached.
fn open_with_backoff(socket: &Path, token: &Token) -> Result<UnixStream, RemoteError> {
    let mut wait = FIRST_BACKOFF;
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        match open(socket, token) {
            Ok(s) => return Ok(s),
            // A wrong token or another user's signer: waiting does not help.
            Err(e @ RemoteError::Unauthenticated(_)) => return Err(e),
            Err(e) => {
                if attempt + 1 < ATTEMPTS {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "signer unreachable");
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| RemoteError::Transport("no attempt".into())))
}

fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, RemoteError> {
    let suite = if bytes.len() == 32 { Suite::Intl } else { Suite::Sm };
    PublicKey::from_bytes(suite, bytes).map_err(|e| RemoteError::Key(format!("the signer's public key: {e}")))
}

impl RemoteClient {
    /// Connects to the signer at `socket` for `chain_id`, proving `token`, and asks for the
    /// validator's public key. Blocks (with backoff) for a few seconds while the signer is not
    /// up.
    ///
    /// # Errors
    /// [`RemoteError`] when the signer cannot be reached or authenticated, or answers badly.
    pub fn connect(socket: &Path, token: Token, chain_id: &str) -> Result<RemoteClient, RemoteError> {
        let mut s = open_with_backoff(socket, &token)?;
        let public_bytes = match exchange(&mut s, &Request::PublicKey)? {
            Response::PublicKey(b) => b,
            Response::Refused(r) => return Err(RemoteError::Refused(r)),
            Response::Signature(_) => return Err(RemoteError::Malformed("a signature for a key request".into())),
        };
        let public_key = decode_public_key(&public_bytes)?;
        Ok(RemoteClient {
            socket: socket.to_path_buf(),
            token,
            chain_id: chain_id.to_string(),
            public_key,
            public_bytes,
            conn: Mutex::new(Some(s)),
        })
    }

    /// The validator's public key (as the signer announced it).
    pub fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }

    /// The validator's address.
    pub fn address(&self) -> Address {
        self.public_key.address()
    }

    /// The chain the client asks signatures for.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Sends `req` and returns the answer, reconnecting (with backoff) once if the connection
    /// has dropped. Re-sending a signing request is safe: the signer signs the same message again.
    ///
    /// # Errors
    /// [`RemoteError`] when the signer cannot be reached or answers badly.
    pub fn request(&self, req: &Request) -> Result<Response, RemoteError> {
        let mut conn =
            self.conn.lock().map_err(|_| RemoteError::Transport("the connection lock is poisoned".into()))?;
        for attempt in 0..2 {
            if conn.is_none() {
                *conn = Some(open_with_backoff(&self.socket, &self.token)?);
            }
            let Some(s) = conn.as_mut() else { continue };
            match exchange(s, req) {
                Ok(r) => return Ok(r),
                Err(e @ (RemoteError::Transport(_) | RemoteError::Malformed(_) | RemoteError::FrameTooLarge(_))) => {
                    *conn = None;
                    if attempt == 1 {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, "signer connection lost; reconnecting");
                }
                Err(e) => return Err(e),
            }
        }
        Err(RemoteError::Transport("unreachable".into()))
    }

    /// Asks the signer to sign `req` and checks the signature over the bytes the client derives.
    ///
    /// # Errors
    /// [`RemoteError::Refused`] with the signer's typed refusal (`conflicting`, `too_old`, ...);
    /// [`RemoteError::Key`] for a signature that does not verify; connection errors.
    pub fn sign(&self, req: &Request) -> Result<Signature, RemoteError> {
        let (_, bytes) = signing_bytes(req, &self.chain_id, self.address(), &self.public_bytes)?;
        match self.request(req)? {
            Response::Signature(b) => {
                let sig = Signature::from_bytes(self.public_key.suite(), &b)
                    .map_err(|e| RemoteError::Key(format!("the signer's signature: {e}")))?;
                self.public_key
                    .verify(&bytes, &sig)
                    .map_err(|_| RemoteError::Key("the signer's signature does not verify".into()))?;
                Ok(sig)
            }
            Response::Refused(r) => Err(RemoteError::Refused(r)),
            Response::PublicKey(_) => Err(RemoteError::Malformed("a key for a signing request".into())),
        }
    }
}
