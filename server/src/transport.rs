//! The listener's accept loop: HTTP/1.1 connections served by hyper with a header-read
//! timeout, at most `max_connections` of them at once, and a graceful shutdown that stops
//! accepting, lets every connection finish its in-flight request and closes idle ones.
//!
//! `axum::serve` offers neither knob, so this loop replaces it (it is the same loop, built on
//! the same hyper and hyper-util, plus the two limits).

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What a connection may cost the server.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a client has to send a request's headers. The clock runs from the moment the
    /// server is ready for the next request, so an idle kept-alive connection is closed after
    /// this long too.
    pub header_timeout: Duration,
    /// Most connections served at once. Beyond it the server stops accepting: new clients
    /// wait in the kernel's listen queue until a connection closes, and cost the server
    /// nothing meanwhile.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes gracefully: no new
/// connections, in-flight requests run to their end, idle connections close. Returns once
/// every connection is closed (the caller bounds that wait with its grace period).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Tells every connection to finish up.
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a receiver; the sender sees `closed()` once all are gone.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; stop accepting if it ever were.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    pause_after_accept_error(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out as soon as they are written: with Nagle's algorithm the last part of
        // a response could wait for the client's delayed acknowledgement of the one before.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot turn off Nagle's algorithm on a connection");
        }
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.wait_for(|stop| *stop), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    let _ = stop_tx.send(true);
    open_tx.closed().await;
}

/// Errors of one incoming connection (the client gave up) are nothing to wait for; others
/// (out of file descriptors) would spin the loop, so it pauses before accepting again.
async fn pause_after_accept_error(err: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept a connection; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
