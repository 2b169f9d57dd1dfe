//! Signaling: protocol types, the per-connection session and the room/call hub.

pub mod hub;
pub mod names;
pub mod outbox;
pub mod protocol;
pub mod rate;
pub mod resume;
pub mod session;

pub use hub::{CallEvent, Hub, HubSettings, HubStats, SignedIn};
pub use resume::{Detached, Resumable};
pub use session::Session;
