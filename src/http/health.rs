//! `/readyz` for load balancers and `/metrics` for Prometheus.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::bus::BusHealth;

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    database: &'static str,
    bus: BusHealth,
    draining: bool,
}

/// 200 when this node can take new clients: database and bus reachable, not shutting down.
pub async fn ready(State(app): State<AppState>) -> Response {
    let database_ok = tokio::time::timeout(Duration::from_secs(2), app.store.ping())
        .await
        .unwrap_or(false);
    let bus = app.hub.bus().health();
    let draining = *app.draining.borrow();
    let ready = database_ok && matches!(bus, BusHealth::Local | BusHealth::Connected) && !draining;
    let body = Readiness {
        ready,
        database: if database_ok { "ok" } else { "unreachable" },
        bus,
        draining,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let Some(handle) = &app.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not available").into_response();
    };
    crate::metrics::record_gauges(&app);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
