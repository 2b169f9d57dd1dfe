//! One client's session, independent of the transport that carries its frames.
//!
//! A transport (WebSocket today, HTTP fallback later) opens a [`Session`], feeds it the text
//! frames it receives, forwards what arrives on the [`Inbox`] and drops the session when the
//! connection ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hub::{Hub, Inbox, SignedIn, outbox};
use super::names::clean_name;
use super::protocol::{ClientMsg, ErrorCode, PeerId, decode};
use super::rate::TokenBucket;
use crate::store::Store;

/// How long a guest's name check may wait for the accounts database.
const ACCOUNT_CHECK_WAIT: Duration = Duration::from_secs(1);

pub struct Session {
    hub: Arc<Hub>,
    id: PeerId,
    /// Messages this client may still send now.
    bucket: TokenBucket,
    /// When the client was last told it is over its rate (told at most once a second).
    warned_at: Option<Instant>,
    /// Accounts, to keep guests off names that belong to registered users.
    store: Option<Store>,
    signed_in: bool,
}

impl Session {
    /// Open a session; `welcome` is already queued on the returned inbox. `host` is the
    /// request's `Host` header, used in TURN URLs.
    pub fn open(
        hub: Arc<Hub>,
        store: Option<Store>,
        user: Option<SignedIn>,
        host: Option<&str>,
        resume_token: &str,
    ) -> (Session, Inbox) {
        let (outbox, inbox) = outbox();
        let signed_in = user.is_some();
        let id = hub.connect(outbox, user, host, resume_token);
        (Session::new(hub, store, id, signed_in), inbox)
    }

    fn new(hub: Arc<Hub>, store: Option<Store>, id: PeerId, signed_in: bool) -> Session {
        Session {
            bucket: hub.message_bucket(),
            hub,
            id,
            warned_at: None,
            store,
            signed_in,
        }
    }

    /// Continue here a session another node held, if `token` names one.
    pub fn adopt(
        hub: Arc<Hub>,
        store: Option<Store>,
        token: &str,
        host: Option<&str>,
        new_token: &str,
    ) -> Option<(Session, Inbox)> {
        let (outbox, inbox) = outbox();
        let (id, signed_in) = hub.adopt(token, outbox, host, new_token)?;
        Some((Session::new(hub, store, id, signed_in), inbox))
    }

    pub fn id(&self) -> &PeerId {
        &self.id
    }

    /// This session continues on a new transport: the `welcome` to send before anything else.
    pub fn resumed(&self, host: Option<&str>, resume_token: &str) -> Option<String> {
        self.hub.welcome_again(&self.id, host, resume_token)
    }

    /// Handle one text frame from the client. Frames over the message rate are dropped
    /// without being parsed.
    pub async fn handle_text(&mut self, text: &str) {
        if !self.bucket.take() {
            let now = Instant::now();
            if self
                .warned_at
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
            {
                self.warned_at = Some(now);
                self.hub.reject(
                    &self.id,
                    ErrorCode::RateLimited,
                    "Too many messages: some were dropped. Slow down.".to_owned(),
                );
            }
            return;
        }
        match decode(text) {
            Ok(msg) => {
                if let Some(name) = self.guest_name(&msg)
                    && self.belongs_to_an_account(name).await
                {
                    self.hub.reject(
                        &self.id,
                        ErrorCode::NameTaken,
                        format!("{name} belongs to a registered user. Sign in to use it."),
                    );
                    return;
                }
                self.hub.handle(&self.id, msg)
            }
            Err(err) => self.hub.reject(&self.id, err.code(), err.to_string()),
        }
    }

    /// The name a guest wants to use in this message, if any.
    fn guest_name<'m>(&self, msg: &'m ClientMsg) -> Option<&'m str> {
        if self.signed_in {
            return None;
        }
        match msg {
            ClientMsg::Register { name } => Some(name),
            ClientMsg::Join {
                name: Some(name), ..
            } => Some(name),
            _ => None,
        }
    }

    /// Whether `name` is an account's username. If the database cannot answer, guests go on
    /// (calls must keep working while accounts are down); the hub still rejects bad names.
    async fn belongs_to_an_account(&self, name: &str) -> bool {
        let (Some(store), Some(name)) = (&self.store, clean_name(name)) else {
            return false;
        };
        // A database that does not answer must not hold up a join.
        let check = tokio::time::timeout(ACCOUNT_CHECK_WAIT, store.username_exists(&name));
        match check.await {
            Ok(Ok(exists)) => exists,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot check a guest name against accounts");
                false
            }
            Err(_) => {
                tracing::warn!("the accounts database is slow; guest name not checked");
                false
            }
        }
    }
}

impl Drop for Session {
    /// However the transport ends — clean close, error, panic — the others are told.
    fn drop(&mut self) {
        self.hub.disconnect(&self.id);
    }
}
