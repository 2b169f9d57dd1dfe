//! The embedded STUN/TURN server (RFC 8489 STUN, RFC 8656 TURN over UDP and TCP, UDP relays)
//! with coturn-compatible TURN REST credentials.

pub mod allocation;
pub mod codec;
pub mod credentials;
pub mod policy;
pub mod server;

pub use credentials::TurnCredentials;
pub use policy::{Cidr, PeerPolicy};
pub use server::{TurnServer, TurnSettings, self_check};
