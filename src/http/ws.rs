//! The WebSocket transport for signaling sessions.

use axum::extract::{Query, State};

use super::client_ip::ClientIp;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tokio::time::Instant;

use super::AppState;
use super::conn_limit::ConnectionSlot;
use crate::signaling::SignedIn;
use crate::signaling::hub::Kick;
use crate::signaling::resume::{Attached, Detached, HandoverRequest};
use crate::signaling::session::Session;
use crate::websocket::{FrameError, Incoming, Upgraded, WsConn, WsUpgrade, close_code};

/// Largest frame or message a client may send.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Queued frames written before one flush.
const MAX_BATCH: usize = 32;

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
    ws: WsUpgrade,
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
    ws.on_upgrade(move |socket| async move {
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
    /// The client closed the socket (with this code): it is leaving.
    Closed(Option<u16>),
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
    socket: Upgraded,
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
    let mut conn = WsConn::new(socket, MAX_FRAME_BYTES);
    if let Some(welcome) = welcome {
        conn.writer.text(&welcome);
        let _ = conn.flush().await;
    }
    let mut ping = tokio::time::interval(app.config.ping_interval);
    ping.tick().await;
    let mut last_heard = Instant::now();

    let kicked = inbox.kicked();
    tokio::pin!(kicked);
    let mut draining = app.draining.clone();
    let end = loop {
        tokio::select! {
            read = conn.read_more() => match read {
                Ok(0) => break End::Lost,
                Ok(_) => {
                    last_heard = Instant::now();
                    if let Some(end) = take_frames(&mut conn, &mut session).await {
                        break end;
                    }
                }
                Err(err) => {
                    tracing::debug!(peer = %session.id(), error = %err, "websocket read error");
                    break End::Lost;
                }
            },
            Some(frame) = inbox.recv() => {
                // Whatever else is queued already goes out in the same write (one syscall
                // for a burst of candidates instead of one each), at most a bounded batch.
                conn.writer.text(&frame);
                for _ in 1..MAX_BATCH {
                    let Some(frame) = inbox.try_recv() else { break };
                    conn.writer.text(&frame);
                }
                if conn.flush().await.is_err() {
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
                conn.writer.ping();
                if conn.flush().await.is_err() {
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
        End::Closed(code) => {
            app.resumable.forget(&token);
            drop(session);
            // Answer the client's close with its own code (RFC 6455 §5.5.1).
            Some((code.unwrap_or(close_code::NORMAL), ""))
        }
        End::Refused(code, reason) => {
            app.resumable.forget(&token);
            // Leave rooms and calls before the (possibly slow) close handshake.
            drop(session);
            Some((code, reason))
        }
    };
    if let Some((code, reason)) = close {
        conn.writer.close(code, reason);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            conn.flush().await?;
            conn.shutdown().await
        })
        .await;
    }
}

/// Handle every complete message read so far; `Some` when the connection must end.
async fn take_frames(conn: &mut WsConn<Upgraded>, session: &mut Session) -> Option<End> {
    let end = loop {
        match conn.reader.next_message() {
            Ok(None) => break None,
            Ok(Some(Incoming::Text(text))) => session.handle_text(text).await,
            Ok(Some(Incoming::Ping(payload))) => conn.writer.pong(payload),
            Ok(Some(Incoming::Pong)) => {}
            Ok(Some(Incoming::Binary)) => {
                break Some(End::Refused(
                    close_code::UNSUPPORTED_DATA,
                    "only text frames are accepted",
                ));
            }
            Ok(Some(Incoming::Close(code))) => break Some(End::Closed(code)),
            Err(err) => {
                tracing::debug!(peer = %session.id(), error = %err, "websocket frame refused");
                let reason = match err {
                    FrameError::TooBig => "frame larger than 64 KiB",
                    FrameError::NotUtf8 => "text frames must be UTF-8",
                    FrameError::Protocol(why) => why,
                };
                break Some(End::Refused(err.close_code(), reason));
            }
        }
    };
    // Pongs go out now; frames for the client come through the inbox.
    if end.is_none() && !conn.writer.is_empty() && conn.flush().await.is_err() {
        return Some(End::Lost);
    }
    end
}

/// Resolves once the server starts draining (never if the sender is gone).
pub async fn until_draining(draining: &mut tokio::sync::watch::Receiver<bool>) {
    if draining.wait_for(|d| *d).await.is_err() {
        std::future::pending::<()>().await;
    }
}
