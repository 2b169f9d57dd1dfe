//! The WebSocket transport for signaling sessions.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};

use axum::extract::{Query, State};

use super::client_ip::ClientIp;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;

use super::AppState;
use super::conn_limit::ConnectionSlot;
use crate::signaling::SignedIn;
use crate::signaling::hub::Kick;
use crate::signaling::resume::{Attached, Detached, HandoverRequest};

/// Largest frame or message a client may send.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Bytes tungstenite reads from the socket at once. It zero-fills this much before every
/// read, so it is resident memory for every idle connection and a memset per read: its
/// default (128 KiB) cost 128 KiB per connection. Candidates and most other frames fit in
/// 1 KiB; a 5 KB offer takes a few more reads (the frame's full length is reserved once its
/// header is known), which measured no dearer than zero-filling 4 KiB per read.
pub const READ_BUFFER_BYTES: usize = 1024;
/// Outgoing frames are coalesced up to this size before tungstenite writes them to the
/// socket (a flush always writes). Its default (128 KiB) would let one busy connection keep
/// a buffer of that size for good.
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Queued frames written before one flush.
const MAX_BATCH: usize = 32;

/// Close codes (RFC 6455 §7.4.1 and the private range), documented in docs/protocol.md.
pub mod close_code {
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The server is stopping: reconnect (to another node) and resume.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The session was resumed on another connection.
    pub const RESUMED_ELSEWHERE: u16 = 4000;
}

/// The query both signaling transports accept.
#[derive(Deserialize)]
pub struct ResumeQuery {
    /// The token from the last `welcome`, to continue that session.
    pub resume: Option<String>,
}

pub async fn upgrade(
    State(app): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(query): Query<ResumeQuery>,
    ClientIp(client): ClientIp,
    ws: WebSocketUpgrade,
) -> Response {
    if !super::origin::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    let slot = match admit(&app, client) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let user = super::accounts::signed_in(&app, &jar).await;
    let host = request_host(&headers);
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            serve(socket, app, user, host, query.resume).await;
            drop(slot);
        })
}

/// Whether a signaling transport (WebSocket or event stream) may open for `client`: not while
/// the server is stopping, nor beyond `max_connections_per_ip`.
pub fn admit(app: &AppState, client: std::net::IpAddr) -> Result<ConnectionSlot, Refusal> {
    if *app.draining.borrow() {
        return Err(Refusal::Draining);
    }
    app.connections.acquire(client).ok_or(Refusal::TooMany)
}

/// Why a signaling transport may not open.
pub enum Refusal {
    Draining,
    TooMany,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Draining => (
                StatusCode::SERVICE_UNAVAILABLE,
                "this server is stopping; try again",
            )
                .into_response(),
            Refusal::TooMany => too_many_connections(),
        }
    }
}

/// The answer when one address holds `max_connections_per_ip` connections already.
fn too_many_connections() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        "too many connections from your address; close some tabs and try again",
    )
        .into_response()
}

/// The host the browser used reaches this machine: TURN URLs use it by default.
pub fn request_host(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
}

/// How a connection ended, which decides what becomes of its session.
enum End {
    /// The client closed the socket: it is leaving.
    Closed,
    /// The server closes it for a broken rule: the session ends too.
    Refused(u16, &'static str),
    /// The connection was lost: keep the session for a while for the client to resume.
    Lost,
    /// Another connection resumed this session.
    HandedOver(HandoverRequest),
    /// The server is stopping: the client reconnects elsewhere and resumes.
    Draining,
}

async fn serve(
    socket: WebSocket,
    app: AppState,
    user: Option<SignedIn>,
    host: Option<String>,
    resume: Option<String>,
) {
    let (
        Attached {
            mut session,
            mut inbox,
            token,
            welcome,
        },
        mut handover,
    ) = app
        .attach_session(user, host.as_deref(), resume.as_deref())
        .await;
    let (mut sink, mut stream) = socket.split();
    if let Some(welcome) = welcome {
        let _ = sink.send(Message::Text(welcome.into())).await;
    }
    let mut ping = tokio::time::interval(app.config.ping_interval);
    ping.tick().await;
    let mut last_heard = Instant::now();

    let kicked = inbox.kicked();
    tokio::pin!(kicked);
    let mut draining = app.draining.clone();
    let end = loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    session.handle_text(text.as_str()).await;
                }
                Some(Ok(Message::Binary(_))) => {
                    break End::Refused(close_code::UNSUPPORTED_DATA, "only text frames are accepted");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_heard = Instant::now(),
                Some(Ok(Message::Close(_))) => break End::Closed,
                None => break End::Lost,
                Some(Err(err)) => {
                    tracing::debug!(peer = %session.id(), error = %err, "websocket read error");
                    if is_oversize(err) {
                        break End::Refused(close_code::TOO_BIG, "frame larger than 64 KiB");
                    }
                    break End::Lost;
                }
            },
            Some(frame) = inbox.recv() => {
                // Whatever else is queued already goes out in the same write (one syscall
                // for a burst of candidates instead of one each), at most a bounded batch.
                let mut sent = sink.feed(Message::Text(frame.into())).await;
                for _ in 1..MAX_BATCH {
                    let Some(frame) = inbox.try_recv() else { break };
                    if sent.is_err() {
                        break;
                    }
                    sent = sink.feed(Message::Text(frame.into())).await;
                }
                if sent.is_err() || sink.flush().await.is_err() {
                    break End::Lost;
                }
            }
            why = &mut kicked => break match why {
                Kick::Overflow => End::Refused(close_code::POLICY, "too many unread messages"),
                Kick::Moved => End::Refused(close_code::RESUMED_ELSEWHERE, "resumed on another connection"),
            },
            Some(request) = handover.recv() => break End::HandedOver(request),
            _ = until_draining(&mut draining) => break End::Draining,
            _ = ping.tick() => {
                if last_heard.elapsed() > app.config.idle_timeout {
                    tracing::debug!(peer = %session.id(), "no sign of life");
                    break End::Lost;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break End::Lost;
                }
            }
        }
    };
    let close = match end {
        End::HandedOver(request) => {
            // Whoever asked gets the session; if they gave up meanwhile, it simply ends.
            let _ = request.send(Detached { session, inbox });
            Some((
                close_code::RESUMED_ELSEWHERE,
                "resumed on another connection",
            ))
        }
        End::Draining => {
            // Keep the session until the client resumed it elsewhere (or the drain ends).
            app.resumable.forget(&token);
            let deadline = Instant::now() + app.config.drain_timeout;
            app.resumable
                .park(token, Detached { session, inbox }, deadline);
            Some((close_code::SERVICE_RESTART, "server restarting; reconnect"))
        }
        End::Lost => {
            app.resumable.forget(&token);
            let deadline = last_heard + app.config.resume_grace;
            app.resumable
                .park(token, Detached { session, inbox }, deadline);
            None
        }
        End::Closed => {
            app.resumable.forget(&token);
            drop(session);
            None
        }
        End::Refused(code, reason) => {
            app.resumable.forget(&token);
            // Leave rooms and calls before the (possibly slow) close handshake.
            drop(session);
            Some((code, reason))
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    } else {
        let _ = sink.close().await;
    }
}

/// Resolves once the server starts draining (never if the sender is gone).
pub async fn until_draining(draining: &mut tokio::sync::watch::Receiver<bool>) {
    if draining.wait_for(|d| *d).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether a read failed because a frame or message exceeded [`MAX_FRAME_BYTES`].
fn is_oversize(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}
