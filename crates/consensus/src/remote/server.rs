//! The signer's server: a Unix socket (mode 0600) accepting connections from processes of the
//! same user that prove the token, and answering their typed requests.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use fdl_crypto::{Address, PublicKey, Signer as FdlSigner};
use tokio::net::{UnixListener, UnixStream};

use super::{
    RemoteError, Token,
    auth::nonce,
    signing_bytes,
    state::{Decision, SignState},
    wire::{Handshake, Refusal, Request, Response, VERSION, read_frame, write_frame},
};

/// How long a connecting client has to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Most connections served at once (a node keeps one; the rest wait or are refused).
const MAX_CONNECTIONS: usize = 16;

/// What a signer serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The Unix socket to create (mode 0600).
    pub socket: PathBuf,
    /// The shared secret.
    pub token: Token,
    /// The double-sign state file (and its lock `STATE.lock`).
    pub state: PathBuf,
    /// The chain whose messages it signs.
    pub chain_id: String,
}

struct Inner {
    chain_id: String,
    key: Arc<dyn FdlSigner>,
    public_key: PublicKey,
    public_bytes: Vec<u8>,
    address: Address,
    token: Token,
    uid: u32,
    state: Mutex<SignState>,
}

/// A bound signer, ready to serve.
pub struct SignerServer {
    listener: UnixListener,
    socket: PathBuf,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SignerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerServer({}, {})", self.inner.address, self.socket.display())
    }
}

fn socket_err(path: &Path, why: impl std::fmt::Display) -> RemoteError {
    RemoteError::Socket { path: path.display().to_string(), why: why.to_string() }
}

impl SignerServer {
    /// Opens the state (taking its lock) and creates the socket. Must run inside a Tokio
    /// runtime.
    ///
    /// # Errors
    /// [`RemoteError::State`] when the state is locked, corrupt or another chain's or key's;
    /// [`RemoteError::Socket`] when the socket's path is in use by a live signer, is not a
    /// socket, or cannot be bound.
    pub fn bind(cfg: ServerConfig, key: Arc<dyn FdlSigner>) -> Result<SignerServer, RemoteError> {
        let public_key = key.public_key();
        let address = public_key.address();
        let state = SignState::open(&cfg.state, &cfg.chain_id, address)?;
        let path = cfg.socket.clone();
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => {
                use std::os::unix::fs::FileTypeExt as _;
                if !meta.file_type().is_socket() {
                    return Err(socket_err(&path, "exists and is not a socket"));
                }
                if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                    return Err(socket_err(&path, "another signer is listening on it"));
                }
                std::fs::remove_file(&path).map_err(|e| socket_err(&path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(socket_err(&path, e)),
        }
        let listener = UnixListener::bind(&path).map_err(|e| socket_err(&path, e))?;
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| socket_err(&path, e))?;
        // The socket file is ours: its owner is this process's user.
        let uid = std::fs::metadata(&path).map_err(|e| socket_err(&path, e))?.uid();
        let public_bytes = public_key.to_bytes();
        let inner = Inner {
            chain_id: cfg.chain_id,
            key,
            public_key,
            public_bytes,
            address,
            token: cfg.token,
            uid,
            state: Mutex::new(state),
        };
        Ok(SignerServer { listener, socket: path, inner: Arc::new(inner) })
    }

    /// The validator's address.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// The validator's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.inner.public_key
    }

    /// The highest height in the state file.
    pub fn highest(&self) -> u64 {
        self.inner.state.lock().map(|s| s.highest()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes; then closes every connection, removes the socket and
    /// returns (the state's lock is released once the server is dropped).
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "signer: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if connections.len() >= MAX_CONNECTIONS {
                tracing::warn!("signer: too many connections; one refused");
                continue;
            }
            let inner = self.inner.clone();
            connections.spawn(async move {
                if let Err(e) = serve_connection(inner, stream).await {
                    match e {
                        RemoteError::Transport(_) => tracing::debug!(error = %e, "signer: connection closed"),
                        e => tracing::warn!(error = %e, "signer: connection refused or closed"),
                    }
                }
            });
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn serve_connection(inner: Arc<Inner>, mut stream: UnixStream) -> Result<(), RemoteError> {
    let cred = stream.peer_cred().map_err(RemoteError::io)?;
    if cred.uid() != inner.uid {
        let _ = write_frame(&mut stream, &Handshake::Denied("another user".into()).encode()).await;
        return Err(RemoteError::Unauthenticated(format!("a process of uid {} connected", cred.uid())));
    }
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&inner, &mut stream))
        .await
        .map_err(|_| RemoteError::Unauthenticated("handshake timed out".into()))??;
    loop {
        let frame = read_frame(&mut stream).await?;
        let req = match Request::decode(&frame) {
            Ok(r) => r,
            Err(e) => {
                let refusal = Response::Refused(Refusal::BadRequest(e.to_string()));
                write_frame(&mut stream, &refusal.encode()).await?;
                return Err(e);
            }
        };
        let inner2 = inner.clone();
        let resp = tokio::task::spawn_blocking(move || answer(&inner2, &req))
            .await
            .unwrap_or_else(|e| Response::Refused(Refusal::Internal(format!("signing task failed: {e}"))));
        write_frame(&mut stream, &resp.encode()).await?;
    }
}

async fn handshake(inner: &Inner, stream: &mut UnixStream) -> Result<(), RemoteError> {
    let deny = |why: &str| Handshake::Denied(why.to_string()).encode();
    let (version, client_nonce) = match Handshake::decode(&read_frame(stream).await?)? {
        Handshake::Hello { version, nonce } => (version, nonce),
        _ => {
            let _ = write_frame(stream, &deny("expected hello")).await;
            return Err(RemoteError::Unauthenticated("no hello".into()));
        }
    };
    if version != VERSION {
        let _ = write_frame(stream, &deny(&format!("protocol version {VERSION} only"))).await;
        return Err(RemoteError::Unauthenticated(format!("protocol version {version}")));
    }
    let server_nonce = nonce()?;
    let mac = inner.token.server_mac(&client_nonce, &server_nonce);
    write_frame(stream, &Handshake::Challenge { nonce: server_nonce, mac }.encode()).await?;
    match Handshake::decode(&read_frame(stream).await?)? {
        Handshake::Auth { mac } if inner.token.check_client(&client_nonce, &server_nonce, &mac) => {
            write_frame(stream, &Handshake::Welcome.encode()).await
        }
        _ => {
            let _ = write_frame(stream, &deny("wrong token")).await;
            Err(RemoteError::Unauthenticated("a client without the token".into()))
        }
    }
}

/// Answers one request: checks it, records it in the state (durably) and only then signs.
fn answer(inner: &Inner, req: &Request) -> Response {
    if *req == Request::PublicKey {
        return Response::PublicKey(inner.public_bytes.clone());
    }
    let (slot, bytes) = match signing_bytes(req, &inner.chain_id, inner.address, &inner.public_bytes) {
        Ok(x) => x,
        Err(r) => {
            tracing::warn!(refusal = %r, "signer: request refused");
            return Response::Refused(r);
        }
    };
    // The lock is held until the signature is made: requests are answered one at a time, so two
    // connections cannot both pass the check for the same slot.
    let Ok(mut state) = inner.state.lock() else {
        return Response::Refused(Refusal::Internal("the state lock is poisoned".into()));
    };
    if let Some(slot) = slot {
        match state.record(slot, &bytes) {
            Ok(Decision::New) => {
                tracing::debug!(height = slot.0, round = slot.1, step = %slot.2, "signer: signing")
            }
            Ok(Decision::Again) => {
                tracing::debug!(height = slot.0, round = slot.1, step = %slot.2, "signer: the same message signed again")
            }
            Err(r) => {
                tracing::warn!(refusal = %r, code = r.code(), "signer: request refused");
                return Response::Refused(r);
            }
        }
    }
    match inner.key.sign(&bytes) {
        Ok(sig) => Response::Signature(sig.as_bytes().to_vec()),
        Err(e) => Response::Refused(Refusal::Internal(format!("the key failed: {e}"))),
    }
}
