//! The WebSocket transport for signaling sessions.

use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use futures_util::{SinkExt, StreamExt};

use super::AppState;
use crate::signaling::{Session, SignedIn};

/// Largest frame or message a client may send.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Close codes (RFC 6455 §7.4.1), documented in docs/protocol.md.
pub mod close_code {
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

pub async fn upgrade(
    State(app): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ws: WebSocketUpgrade,
) -> Response {
    if !super::origin::same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    // A database outage must not stop calls: the person is then treated as a guest.
    let user = match super::accounts::current_user(&app, &jar).await {
        Ok(user) => user.map(|u| SignedIn {
            user_id: u.id,
            username: u.username,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the session cookie");
            None
        }
    };
    // The host the browser used reaches this machine: TURN URLs use it by default.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve(socket, app, user, host))
}

async fn serve(socket: WebSocket, app: AppState, user: Option<SignedIn>, host: Option<String>) {
    let (session, mut inbox) = Session::open(
        app.hub.clone(),
        Some(app.store.clone()),
        user,
        host.as_deref(),
    );
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(app.config.ping_interval);
    ping.tick().await;
    let mut last_heard = Instant::now();

    let close = loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    session.handle_text(text.as_str()).await;
                }
                Some(Ok(Message::Binary(_))) => {
                    break Some((close_code::UNSUPPORTED_DATA, "only text frames are accepted"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_heard = Instant::now(),
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(err)) => {
                    tracing::debug!(peer = %session.id(), error = %err, "websocket read error");
                    if is_oversize(err) {
                        break Some((close_code::TOO_BIG, "frame larger than 64 KiB"));
                    }
                    break None;
                }
            },
            Some(frame) = inbox.frames.recv() => {
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break None;
                }
            }
            _ = inbox.overflow.notified() => {
                break Some((close_code::POLICY, "too many unread messages"));
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > app.config.idle_timeout {
                    tracing::debug!(peer = %session.id(), "no sign of life, dropping");
                    break None;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
        }
    };
    // Leave rooms and calls before the (possibly slow) close handshake.
    drop(session);
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

/// Whether a read failed because a frame or message exceeded [`MAX_FRAME_BYTES`].
fn is_oversize(err: axum::Error) -> bool {
    err.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}
