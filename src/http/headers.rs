//! Security headers on every response: a strict Content-Security-Policy, `nosniff`, no
//! referrer, camera/microphone/display-capture for our own origin only, and HSTS under TLS.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// What the middleware needs to know about the server.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    /// Served over HTTPS directly: send `Strict-Transport-Security`.
    pub hsts: bool,
}

/// One year; no `includeSubDomains` (other services may share the domain) and no `preload`.
const HSTS: &str = "max-age=31536000";

const PERMISSIONS: &str = "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), geolocation=(), payment=(), usb=()";

/// The policy for the client in `web/`: ES modules and the stylesheet from our origin, no
/// inline script or style, no eval; WebSocket `/ws`, EventSource and fetch to our origin.
fn content_security_policy(host: Option<&str>) -> String {
    // `'self'` covers ws:/wss: to our own host in current browsers (CSP level 3); older
    // Safari needs them spelled out, so name this host when the request says which it is.
    let sockets = match host {
        Some(host) => format!(" ws://{host} wss://{host}"),
        None => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
         connect-src 'self'{sockets}; font-src 'self'; object-src 'none'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}

/// The request's `Host`, if it is a plain `host[:port]` (letters, digits, `.-:[]`) that can go
/// into a header unchanged.
fn plain_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    plain.then_some(host)
}

pub async fn add(
    State(settings): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let csp = content_security_policy(plain_host(request.headers()));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        headers.entry(name).or_insert(value);
    };
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        set(header::CONTENT_SECURITY_POLICY, csp);
    }
    set(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    set(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS),
    );
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if settings.hsts {
        set(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_could_break_the_header_are_left_out() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("192.168.1.5:8443"));
        assert_eq!(plain_host(&h), Some("192.168.1.5:8443"));
        h.insert(header::HOST, HeaderValue::from_static("evil; script-src *"));
        assert_eq!(plain_host(&h), None);
        let csp = content_security_policy(None);
        assert!(csp.contains("connect-src 'self';"));
        assert!(!csp.contains("unsafe"));
    }
}
