//! The HTTP fallback transport for signaling, for networks where WebSockets are blocked:
//! server-sent events carry frames down, POST requests carry frames up. It drives the same
//! [`Session`] as the WebSocket transport.
//!
//! `GET /signal/events` opens a session. Its first event is named `session` and carries a
//! secret token; every later event is a protocol frame. `POST /signal/send?token=…` delivers
//! one client frame to that session. The session ends when the event stream closes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;

use axum::extract::{Query, State};

use super::client_ip::ClientIp;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::AppState;
use super::conn_limit::ConnectionSlot;
use super::ws::{MAX_FRAME_BYTES, ResumeQuery};
use crate::auth::token;
use crate::signaling::SignedIn;
use crate::signaling::resume::{Attached, Detached, HandoverRequest, Resumable};

/// Client frames waiting for one session before further POSTs are refused with 429.
const INBOUND_BACKLOG: usize = 64;
/// Comment lines keep proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Open fallback sessions: token → the queue of frames posted to it.
#[derive(Default, Clone)]
pub struct FallbackSessions {
    inboxes: Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>,
}

impl FallbackSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<String>>> {
        self.inboxes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the token when the stream (and with it the session) goes away.
struct Registration {
    sessions: FallbackSessions,
    token: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.token);
    }
}

/// What the event stream owns. When the stream goes away (the client closed it or the
/// network dropped, which look the same here), the session is parked for resumption.
struct StreamState {
    live: Option<Detached>,
    handover: mpsc::Receiver<HandoverRequest>,
    resume_token: String,
    resumable: Arc<Resumable>,
    grace: Duration,
    posted: mpsc::Receiver<String>,
    /// The server is stopping: end the stream, keeping the session for a resume elsewhere.
    draining: tokio::sync::watch::Receiver<bool>,
    first: Option<String>,
    /// A resumed session's `welcome`, sent right after the `session` event.
    welcome: Option<String>,
    /// This connection's place among its address's connections.
    _slot: ConnectionSlot,
    _registration: Registration,
}

impl Drop for StreamState {
    fn drop(&mut self) {
        if let Some(detached) = self.live.take() {
            let token = std::mem::take(&mut self.resume_token);
            self.resumable.forget(&token);
            self.resumable
                .park(token, detached, Instant::now() + self.grace);
        }
    }
}

pub async fn events(
    State(app): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<ResumeQuery>,
    ClientIp(client): ClientIp,
) -> Response {
    let slot = match super::ws::admit(&app, client) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let user: Option<SignedIn> = super::accounts::signed_in(&app, &jar).await;
    let host = super::ws::request_host(&headers);
    let (
        Attached {
            session,
            inbox,
            token: resume_token,
            welcome,
        },
        handover,
    ) = app
        .attach_session(user, host.as_deref(), query.resume.as_deref())
        .await;
    let token = token::generate();
    let (tx, posted) = mpsc::channel(INBOUND_BACKLOG);
    app.fallback.lock().insert(token.clone(), tx);
    let state = StreamState {
        live: Some(Detached { session, inbox }),
        handover,
        resume_token,
        resumable: app.resumable.clone(),
        grace: app.config.resume_grace,
        posted,
        draining: app.draining.clone(),
        first: Some(token.clone()),
        welcome,
        _slot: slot,
        _registration: Registration {
            sessions: app.fallback.clone(),
            token,
        },
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if let Some(token) = st.first.take() {
            let event = Event::default().event("session").data(token);
            return Some((Ok::<_, Infallible>(event), st));
        }
        if let Some(welcome) = st.welcome.take() {
            return Some((Ok(Event::default().data(welcome)), st));
        }
        loop {
            let live = st.live.as_mut()?;
            let kicked = live.inbox.kicked();
            tokio::select! {
                frame = live.inbox.recv() => {
                    let frame = frame?;
                    return Some((Ok(Event::default().data(frame)), st));
                }
                Some(text) = st.posted.recv() => live.session.handle_text(&text).await,
                // Ending the stream parks the session (see `Drop`); the client reconnects.
                _ = super::ws::until_draining(&mut st.draining) => return None,
                why = kicked => {
                    tracing::debug!(peer = %live.session.id(), ?why, "closing fallback stream");
                    // Too slow is a broken rule, not a lost connection: no resumption; a
                    // session that moved to another node lives on there.
                    let ended = st.live.take();
                    st.resumable.forget(&st.resume_token);
                    drop(ended);
                    return None;
                }
                Some(request) = st.handover.recv() => {
                    if let Some(detached) = st.live.take() {
                        let _ = request.send(detached);
                    }
                    return None;
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

#[derive(Deserialize)]
pub struct SendQuery {
    token: String,
}

pub async fn send(
    State(app): State<AppState>,
    Query(query): Query<SendQuery>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_FRAME_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "frame larger than 64 KiB").into_response();
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "frames are UTF-8 JSON text").into_response();
    };
    let Some(tx) = app.fallback.lock().get(&query.token).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            "no such signaling session; open a new one",
        )
            .into_response();
    };
    match tx.try_send(text) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, "too many frames in flight").into_response()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            (StatusCode::NOT_FOUND, "the signaling session has ended").into_response()
        }
    }
}
