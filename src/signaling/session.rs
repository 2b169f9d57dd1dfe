//! One client's session, independent of the transport that carries its frames.
//!
//! A transport (WebSocket today, HTTP fallback later) opens a [`Session`], feeds it the text
//! frames it receives, forwards what arrives on the [`Inbox`] and closes the session when
//! the connection ends.

use std::sync::Arc;

use super::hub::{Hub, Inbox, outbox};
use super::protocol::{PeerId, decode};

pub struct Session {
    hub: Arc<Hub>,
    id: PeerId,
}

impl Session {
    /// Open a session; `welcome` is already queued on the returned inbox.
    pub fn open(hub: Arc<Hub>) -> (Session, Inbox) {
        let (outbox, inbox) = outbox();
        let id = hub.connect(outbox);
        (Session { hub, id }, inbox)
    }

    pub fn id(&self) -> &PeerId {
        &self.id
    }

    /// Handle one text frame from the client.
    pub fn handle_text(&self, text: &str) {
        match decode(text) {
            Ok(msg) => self.hub.handle(&self.id, msg),
            Err(err) => self.hub.reject(&self.id, err.code(), err.to_string()),
        }
    }
}

impl Drop for Session {
    /// However the transport ends — clean close, error, panic — the others are told.
    fn drop(&mut self) {
        self.hub.disconnect(&self.id);
    }
}
