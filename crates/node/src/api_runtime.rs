//! The API's own async runtime (`docs/architecture.md`, "Admission under load").
//!
//! Consensus, the network's TLCP records and the block pipeline's async parts run on the node's
//! main runtime. Under overload they keep its worker threads busy for tens of milliseconds at a
//! time (a proposal of 5,000 transactions is about 2 MB to encrypt per peer), and an API request
//! that waited behind them was answered late even when the answer was a cheap refusal. The API
//! therefore runs on threads of its own: the operating system's scheduler then shares the cores
//! between the API and the rest, instead of the API queueing behind whatever task holds a worker.

use std::{future::Future, io, pin::Pin, thread};

use tokio::sync::{oneshot, watch};

/// Worker threads of the API runtime.
const API_WORKERS: usize = 2;

/// How long the API runtime gives its remaining tasks (open connections past the graceful
/// stop) once the server has returned.
const API_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// A future that resolves when the API must stop.
pub(crate) type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An API server running on its own runtime and thread ([`spawn`]).
pub(crate) struct ApiServer {
    /// Stops the server at once, as aborting a task does (the node's shutdown signal stops it
    /// gracefully instead).
    abort: Option<oneshot::Sender<()>>,
    /// The server's result, sent when its runtime has stopped.
    done: oneshot::Receiver<io::Result<()>>,
}

impl ApiServer {
    /// Stops the server at once: its future is dropped and the tasks of its runtime (connections,
    /// requests in flight, subscriptions) are cancelled, as `JoinHandle::abort` did when the API
    /// ran on the node's main runtime. For a fatal error, when nothing in flight can finish.
    pub(crate) fn abort(&mut self) {
        if let Some(a) = self.abort.take() {
            let _ = a.send(());
        }
    }

    /// Waits until the server and its runtime have stopped.
    pub(crate) async fn join(self) -> io::Result<()> {
        self.done.await.unwrap_or_else(|_| Err(io::Error::other("the API thread ended without a result")))
    }
}

/// Starts `serve` on a runtime of its own, on a thread named `name`, with `listener` moved to
/// that runtime. `serve` gets the listener and a signal that resolves when `shutdown` flips to
/// true (a graceful stop); [`ApiServer::abort`] drops it instead.
///
/// # Errors
/// When the listener cannot be moved off this runtime or the thread cannot be started.
pub(crate) fn spawn<F, Fut>(
    name: &str,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) -> io::Result<ApiServer>
where
    F: FnOnce(tokio::net::TcpListener, StopSignal) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>>,
{
    // A tokio listener belongs to the reactor of the runtime that made it; its socket (already
    // non-blocking) is handed over to the new runtime.
    let listener = listener.into_std()?;
    let (abort_tx, abort_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel();
    let thread_name = name.to_string();
    thread::Builder::new().name(thread_name.clone()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(API_WORKERS)
            .thread_name(thread_name)
            .enable_all()
            .build();
        let result = match runtime {
            Err(e) => Err(e),
            Ok(runtime) => {
                let result = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    let stop: StopSignal = Box::pin(async move {
                        let _ = shutdown.wait_for(|s| *s).await;
                    });
                    tokio::select! {
                        r = serve(listener, stop) => r,
                        // Aborted (a dropped handle does not abort).
                        Ok(()) = abort_rx => Ok(()),
                    }
                });
                runtime.shutdown_timeout(API_SHUTDOWN_GRACE);
                result
            }
        };
        let _ = done_tx.send(result);
    })?;
    Ok(ApiServer { abort: Some(abort_tx), done: done_rx })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server runs on another thread than the caller's runtime, answers on the listener it
    /// was given, and stops on the shutdown signal with its result.
    #[tokio::test(flavor = "current_thread")]
    async fn serves_on_its_own_thread_and_stops_on_the_signal() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("test setup");
        let addr = listener.local_addr().expect("test setup");
        let (stop_tx, stop_rx) = watch::channel(false);
        let caller = thread::current().id();
        let server = spawn("fdl-api-test", listener, stop_rx, move |l, stop| async move {
            assert_ne!(thread::current().id(), caller);
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    r = l.accept() => {
                        let (mut s, _) = r?;
                        s.write_all(b"hi").await?;
                    }
                    () = &mut stop => return Ok(()),
                }
            }
        })
        .expect("test setup");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("test setup");
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.expect("test setup");
        assert_eq!(&buf, b"hi");
        stop_tx.send(true).expect("test setup");
        server.join().await.expect("test setup");
    }

    /// An aborted server stops at once, even one that would never return by itself (a request
    /// waiting for a commit that will not come), and its runtime's tasks are cancelled.
    #[tokio::test(flavor = "current_thread")]
    async fn abort_stops_the_server_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("test setup");
        let (_stop_tx, stop_rx) = watch::channel(false);
        let (task_tx, task_rx) = oneshot::channel::<()>();
        let mut server = spawn("fdl-api-test", listener, stop_rx, |_l, _stop| async move {
            // A task of the runtime that would run forever; its sender drops when it is cancelled.
            tokio::spawn(async move {
                let _keep = task_tx;
                std::future::pending::<()>().await;
            });
            std::future::pending::<io::Result<()>>().await
        })
        .expect("test setup");
        server.abort();
        let joined = tokio::time::timeout(std::time::Duration::from_secs(10), server.join()).await;
        assert!(matches!(joined, Ok(Ok(()))), "{joined:?}");
        assert!(task_rx.await.is_err(), "the runtime's tasks are cancelled");
    }
}
