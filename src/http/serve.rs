//! The HTTP server loop, in place of `axum::serve`, which has no timeouts: a client could
//! open connections and send a request one byte a minute (or nothing at all), each holding a
//! task and a file descriptor for ever ("slowloris").
//!
//! Each accepted connection gets `TCP_NODELAY`, then (under TLS) a handshake that must finish
//! within `header_read_timeout`, then hyper's HTTP/1.1 connection with:
//! - `header_read_timeout` for the request line and headers of every request, counted from
//!   when the server starts waiting for them: a connection that sends nothing, half a request
//!   line, or stays idle between keep-alive requests is closed when it runs out;
//! - `slow_client_timeout` for a request body that stops arriving, or a response the client
//!   stops reading (the socket's send buffer stays full): the connection is closed.
//!
//! WebSocket upgrades work as before (`with_upgrades`); an upgraded connection is the
//! signaling session's, with its own ping/idle timeout, and only the write stall limit stays.
//!
//! Shutdown: when the token is cancelled the loop stops accepting, every connection finishes
//! the request it is serving and closes (idle keep-alive connections at once), and the future
//! returned by [`serve`] resolves once they all have. Upgraded WebSockets are not waited for:
//! they belong to the hub, which has its own drain.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::tls::CertStore;

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Longest wait for a request's line and headers (and for the TLS handshake).
    pub header_read_timeout: Duration,
    /// Longest a request body may pause, or a response wait for the client to read it.
    pub slow_client_timeout: Duration,
    /// HTTPS with this certificate store (reloadable), or plain HTTP when `None`.
    pub tls: Option<Arc<CertStore>>,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            header_read_timeout: Duration::from_secs(10),
            slow_client_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// Serve `router` on `listener` until `shutdown` is cancelled and the connections in flight
/// have finished. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServeSettings,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                if !is_per_connection(&e) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        // Signaling frames are small and latency-bound: without TCP_NODELAY, Nagle's
        // algorithm meeting delayed ACKs held each relayed frame for ~40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        connections.spawn(connection(
            tcp,
            peer,
            router.clone(),
            settings.clone(),
            shutdown.clone(),
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Accept errors that concern one connection only (the next accept may well succeed).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    settings: ServeSettings,
    shutdown: CancellationToken,
) {
    let tcp = StallGuard::new(tcp, settings.slow_client_timeout);
    match &settings.tls {
        None => http(tcp, peer, router, &settings, shutdown).await,
        Some(store) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(store.config());
            let handshake =
                tokio::time::timeout(settings.header_read_timeout, acceptor.accept(tcp));
            let tls = tokio::select! {
                () = shutdown.cancelled() => return,
                done = handshake => match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            http(tls, peer, router, &settings, shutdown).await
        }
    }
}

async fn http<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    settings: &ServeSettings,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = settings.slow_client_timeout;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(|body| axum::body::Body::new(SlowBody::new(body, body_timeout)));
        let mut router = router.clone();
        async move {
            let response = tower_service::Service::call(&mut router, request).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            // Finish the request in flight (if any), then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets and malformed requests: the client's doing, not worth a warning.
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}

/// A request body that fails when no data arrives for `timeout` while the handler waits for
/// more (a client sending its body in a trickle, or not at all after the headers).
struct SlowBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl SlowBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        SlowBody {
            inner,
            timeout,
            sleep: None,
        }
    }
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no request body data for {0:?}")]
pub struct BodyStalled(Duration);

impl hyper::body::Body for SlowBody {
    type Data = hyper::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(BodyStalled(timeout).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose writes fail once one has waited `timeout` without the client taking any
/// data (it stopped reading: the send buffer is full). Reads are untouched: an idle socket is
/// fine, the header timeout and the signaling idle timeout deal with silence.
struct StallGuard<T> {
    inner: T,
    timeout: Duration,
    /// Set while a write is pending; cleared when one makes progress.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuard<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        StallGuard {
            inner,
            timeout,
            deadline: None,
        }
    }

    /// After the inner write returned `Pending`: start (or check) the stall clock.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.timeout;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client stopped reading",
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.stalled(cx),
            done => {
                self.deadline = None;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stalled(cx),
            done => {
                self.deadline = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => match self.stalled(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => Poll::Ready(r.map(|_| ())),
            },
            done => {
                self.deadline = None;
                done
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
