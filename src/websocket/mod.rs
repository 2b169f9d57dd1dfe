//! The server side of WebSocket (RFC 6455), made for many small, mostly idle connections:
//! the handshake as an axum extractor ([`upgrade`]), framing without I/O ([`frame`]) and a
//! connection that reads and writes frames in batches ([`conn`]). No extensions (no
//! compression) and no subprotocols are negotiated.

pub mod conn;
pub mod frame;
pub mod upgrade;

/// Close codes (RFC 6455 §7.4.1 and the private range), documented in docs/protocol.md.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The server is stopping: reconnect (to another node) and resume.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The session was resumed on another connection.
    pub const RESUMED_ELSEWHERE: u16 = 4000;
}

pub use conn::WsConn;
pub use frame::{FrameError, Incoming};
pub use upgrade::{Upgraded, WsUpgrade};
