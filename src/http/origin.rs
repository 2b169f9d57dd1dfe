//! Cross-site request checks: a page on another site must not act with our users' cookies.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether `Origin` (when present) names this host. Browsers always send `Origin` on
/// WebSocket upgrades and cross-site POSTs; non-browser clients may send none.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(|h| h.to_str()),
    ) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

/// `Sec-Fetch-Site`, when the browser sends it, must say the request came from our own pages.
fn same_site_fetch(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").map(|v| v.to_str()) {
        None => true,
        Some(Ok(site)) => matches!(site, "same-origin" | "none"),
        Some(Err(_)) => false,
    }
}

/// Middleware refusing cross-site state-changing requests with `403`.
pub async fn reject_cross_site(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let from_our_pages = same_site_fetch(request.headers()) && same_origin(request.headers());
    if !(safe || from_our_pages) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": "Cross-site requests are not allowed."})),
        )
            .into_response();
    }
    next.run(request).await
}
