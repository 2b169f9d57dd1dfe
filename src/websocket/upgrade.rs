//! The opening handshake (RFC 6455 §4.2) as an axum extractor: check the request, answer
//! `101 Switching Protocols`, and run the connection on the upgraded stream.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

/// The byte stream of an upgraded connection.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// A request to open a WebSocket.
pub struct WsUpgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

/// Why a request cannot become a WebSocket.
#[derive(Debug)]
pub struct NotAWebSocket(StatusCode, &'static str);

impl IntoResponse for NotAWebSocket {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = NotAWebSocket;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAWebSocket> {
        let refuse = |why| Err(NotAWebSocket(StatusCode::BAD_REQUEST, why));
        if parts.method != Method::GET {
            return Err(NotAWebSocket(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket opens with GET",
            ));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return refuse("the Connection header must include \"upgrade\"");
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return refuse("the Upgrade header must be \"websocket\"");
        }
        if !has_token(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return refuse("only WebSocket version 13 is spoken here");
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return refuse("the Sec-WebSocket-Key header is missing");
        };
        let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return Err(NotAWebSocket(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded",
            ));
        };
        Ok(WsUpgrade { key, on_upgrade })
    }
}

impl WsUpgrade {
    /// Answer the handshake and run `serve` on the upgraded stream in a task of its own.
    pub fn on_upgrade<F, Fut>(self, serve: F) -> Response
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(TokioIo::new(upgraded)).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (
                    header::SEC_WEBSOCKET_ACCEPT,
                    accept_key(self.key.as_bytes()),
                ),
            ],
        )
            .into_response()
    }
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// `Sec-WebSocket-Accept`: base64(SHA-1(key + the RFC's GUID)).
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::try_from(encoded).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn header_tokens_are_matched_in_lists() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(has_token(&h, header::CONNECTION, "upgrade"));
        assert!(!has_token(&h, header::UPGRADE, "websocket"));
    }
}
