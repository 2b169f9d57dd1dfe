//! HTTP: the router, the embedded web client and the WebSocket endpoint.

pub mod assets;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::config::Config;
use crate::signaling::Hub;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/r/{room}", get(assets::index))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(get(assets::file))
        .with_state(state)
}
