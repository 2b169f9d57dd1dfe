//! The web client is served from the binary; cross-site WebSocket upgrades are refused.

mod common;

use common::TestServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[tokio::test]
async fn pages_and_assets_are_served_from_the_binary() {
    let server = TestServer::start().await;
    let (status, home) = server.get("/").await;
    assert_eq!(status, 200);
    assert!(home.to_lowercase().contains("content-type: text/html"));
    assert!(home.contains("<script") && home.contains("type=\"module\""));
    let (status, room) = server.get("/r/blue-fox-42").await;
    assert_eq!(status, 200);
    assert!(room.contains("<script"));
    let (status, js) = server.get("/js/app.js").await;
    assert_eq!(status, 200);
    assert!(js.to_lowercase().contains("javascript"));
    assert_eq!(server.get("/no/such/file.js").await.0, 404);
    assert_eq!(server.get("/../Cargo.toml").await.0, 404);
    assert_eq!(server.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn cross_origin_websocket_upgrades_are_refused() {
    let server = TestServer::start().await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let mut same = server.ws_url().into_client_request().unwrap();
    let origin = format!("http://{}", server.addr());
    same.headers_mut()
        .insert("Origin", HeaderValue::from_str(&origin).unwrap());
    assert!(tokio_tungstenite::connect_async(same).await.is_ok());
}

#[tokio::test]
async fn security_headers_on_pages_without_hsts_over_plain_http() {
    let server = TestServer::start().await;
    let response = server.request("GET", "/", None, None, &[]).await;
    assert_eq!(response.status, 200);
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let csp = header("content-security-policy").expect("CSP");
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "media-src 'self' blob: mediastream:",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
    assert!(
        header("permissions-policy")
            .unwrap()
            .contains("camera=(self)")
    );
    assert_eq!(
        header("cross-origin-opener-policy").as_deref(),
        Some("same-origin")
    );
    assert_eq!(header("strict-transport-security"), None);
}
