//! The server side of WebSocket (RFC 6455), made for many small, mostly idle connections:
//! the handshake as an axum extractor ([`upgrade`]), framing without I/O ([`frame`]) and a
//! connection that reads and writes frames in batches ([`conn`]). No extensions (no
//! compression) and no subprotocols are negotiated.

pub mod conn;
pub mod frame;
pub mod upgrade;

pub use conn::WsConn;
pub use frame::{FrameError, Incoming};
pub use upgrade::{Upgraded, WsUpgrade};
