//! Prometheus metrics. Counters and histograms are recorded where things happen (the hub,
//! the bus, the TURN server); gauges are read from the live state when `/metrics` is scraped.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub type Handle = PrometheusHandle;

/// Install the process-wide recorder once (several servers in one test process share it).
pub fn install() -> Option<Handle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_owned()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0,
                    ],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Gauges that describe the state right now.
pub fn record_gauges(app: &crate::http::AppState) {
    let stats = app.hub.stats();
    metrics::gauge!("confer_connections").set(stats.local as f64);
    metrics::gauge!("confer_sessions").set(stats.peers as f64);
    metrics::gauge!("confer_rooms").set(stats.rooms as f64);
    metrics::gauge!("confer_participants").set(stats.participants as f64);
    metrics::gauge!("confer_calls").set(stats.calls as f64);
    metrics::gauge!("confer_resumable_sessions").set(app.resumable.parked() as f64);
    if let Some(turn) = &app.turn {
        metrics::gauge!("confer_turn_allocations").set(turn.allocations() as f64);
    }
}
