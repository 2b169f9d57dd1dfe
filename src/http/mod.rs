//! HTTP: the router, the embedded web client, the accounts API and the WebSocket endpoint.

pub mod accounts;
pub mod assets;
pub mod client_ip;
pub mod conn_limit;
pub mod fallback;
pub mod headers;
pub mod health;
pub mod origin;
pub mod serve;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};

use crate::auth::rate_limit::AccountLimits;
use crate::config::Config;
use crate::mail::Mailer;
use crate::signaling::resume::{Attached, HandoverRequest, attach};
use crate::signaling::{Hub, Resumable, Session, SignedIn};
use crate::store::Store;

/// Largest accepted API request body.
const MAX_API_BODY: usize = 16 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub store: Store,
    pub mailer: Mailer,
    pub limits: Arc<AccountLimits>,
    pub fallback: fallback::FallbackSessions,
    pub resumable: Arc<Resumable>,
    pub connections: conn_limit::ConnectionLimiter,
    /// The embedded TURN server, for its gauges.
    pub turn: Option<Arc<crate::turn::TurnServer>>,
    /// Renders `/metrics`; `None` if another recorder was installed first.
    pub metrics: Option<crate::metrics::Handle>,
    /// Becomes `true` when the server stops: transports ask clients to reconnect elsewhere.
    pub draining: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// The session a transport carries: the one `resume` names if it can still be had, else
    /// a new one; registered so that a later connection can take it over.
    pub async fn attach_session(
        &self,
        user: Option<SignedIn>,
        host: Option<&str>,
        resume: Option<&str>,
    ) -> (Attached, tokio::sync::mpsc::Receiver<HandoverRequest>) {
        let adopt = |old: &str, token: &str| {
            Session::adopt(self.hub.clone(), Some(self.store.clone()), old, host, token)
        };
        let attached = attach(&self.resumable, resume, host, adopt, |token| {
            Session::open(
                self.hub.clone(),
                Some(self.store.clone()),
                user,
                host,
                token,
            )
        })
        .await;
        let handover = self.resumable.register_live(&attached.token);
        (attached, handover)
    }

    /// The base URL for links in emails: `public_url`, else the scheme and host of the request.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.public_url {
            return url.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/account/signup", post(accounts::sign_up))
        .route("/account/signin", post(accounts::sign_in))
        .route("/account/signout", post(accounts::sign_out))
        .route("/account/me", get(accounts::me))
        .route("/account/forgot", post(accounts::forgot))
        .route("/account/reset", post(accounts::reset))
        .route("/account/password", post(accounts::change_password))
        .route("/calls/recent", get(accounts::recent_calls))
        .layer(axum::middleware::from_fn(origin::reject_cross_site))
        .layer(DefaultBodyLimit::max(MAX_API_BODY));
    let fallback_send = Router::new()
        .route("/signal/send", post(fallback::send))
        .layer(axum::middleware::from_fn(origin::reject_cross_site))
        .layer(DefaultBodyLimit::max(ws::MAX_FRAME_BYTES + 1));
    let mut app = Router::new()
        .route("/r/{room}", get(assets::index))
        .route("/ws", get(ws::upgrade))
        .route("/signal/events", get(fallback::events))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .nest("/api", api)
        .merge(fallback_send);
    // Pages of the single-page client.
    for page in [
        "/", "/signin", "/signup", "/forgot", "/reset", "/account", "/calls",
    ] {
        app = app.route(page, get(assets::index));
    }
    let security = headers::SecurityHeaders {
        hsts: state.config.tls.enabled(),
    };
    app.fallback(get(assets::file))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(security, headers::add))
}
