//! Session resumption: a client whose connection drops may come back with the token from its
//! last `welcome` and continue the same session (same id, room, call, queued frames), so the
//! others see nothing.
//!
//! Every session is registered under its current token while its transport runs (`Live`), so
//! a reconnecting client can take it over even before the server noticed the old connection
//! is dead (a phone switching networks leaves a half-open socket behind). When a transport is
//! lost, its session is `Parked` until a deadline and then dropped, which announces the
//! departure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::hub::Inbox;
use super::session::Session;

/// A session without a transport.
pub struct Detached {
    pub session: Session,
    pub inbox: Inbox,
}

/// How a running transport is asked to hand its session over.
pub type HandoverRequest = oneshot::Sender<Detached>;

enum Slot {
    Live(mpsc::Sender<HandoverRequest>),
    Parked(Detached),
}

/// How long a claim waits for a live transport to let go of its session.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Resumable {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Resumable {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a running transport under `token`; it must watch the returned receiver and
    /// hand its session over when asked.
    pub fn register_live(&self, token: &str) -> mpsc::Receiver<HandoverRequest> {
        let (tx, rx) = mpsc::channel(1);
        self.lock().insert(token.to_owned(), Slot::Live(tx));
        rx
    }

    /// The session ended for good (a deliberate close): forget its token.
    pub fn forget(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Keep a session whose transport was lost until `deadline`, then drop it.
    pub fn park(self: &Arc<Self>, token: String, detached: Detached, deadline: Instant) {
        if deadline <= Instant::now() {
            return; // dropping `detached` ends the session now
        }
        self.lock().insert(token.clone(), Slot::Parked(detached));
        let registry = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            if let Some(registry) = registry.upgrade() {
                let expired = {
                    let mut slots = registry.lock();
                    match slots.get(&token) {
                        Some(Slot::Parked(_)) => slots.remove(&token),
                        _ => None,
                    }
                };
                drop(expired); // outside the lock: dropping a session talks to the hub
            }
        });
    }

    /// Take over the session registered under `token`, parked or still live.
    pub async fn claim(&self, token: &str) -> Option<Detached> {
        let slot = self.lock().remove(token)?;
        match slot {
            Slot::Parked(detached) => Some(detached),
            Slot::Live(handover) => {
                let (tx, rx) = oneshot::channel();
                handover.send(tx).await.ok()?;
                tokio::time::timeout(HANDOVER_WAIT, rx).await.ok()?.ok()
            }
        }
    }

    /// Sessions waiting to be resumed.
    pub fn parked(&self) -> usize {
        self.lock()
            .values()
            .filter(|s| matches!(s, Slot::Parked(_)))
            .count()
    }
}

/// A session ready for a transport.
pub struct Attached {
    pub session: Session,
    pub inbox: Inbox,
    /// The token the client may resume with next time.
    pub token: String,
    /// For a resumed session, the `welcome` to send before the queued frames (a new session
    /// has its `welcome` first in the inbox already).
    pub welcome: Option<String>,
}

/// Continue the session of `resume` when it can still be had — on this node, else one
/// another node held (`adopt`) — or open a new one with `open`.
pub async fn attach(
    registry: &Resumable,
    resume: Option<&str>,
    host: Option<&str>,
    adopt: impl FnOnce(&str, &str) -> Option<(Session, Inbox)>,
    open: impl FnOnce(&str) -> (Session, Inbox),
) -> Attached {
    let token = crate::auth::token::generate();
    if let Some(old) = resume
        && let Some(Detached { session, inbox }) = registry.claim(old).await
        && let Some(welcome) = session.resumed(host, &token)
    {
        return Attached {
            session,
            inbox,
            token,
            welcome: Some(welcome),
        };
    }
    if let Some(old) = resume
        && let Some((session, inbox)) = adopt(old, &token)
    {
        // Its `welcome` is first in the inbox already.
        return Attached {
            session,
            inbox,
            token,
            welcome: None,
        };
    }
    let (session, inbox) = open(&token);
    Attached {
        session,
        inbox,
        token,
        welcome: None,
    }
}
