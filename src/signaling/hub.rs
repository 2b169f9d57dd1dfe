//! Room and call state for one node, behind one lock.
//!
//! Every operation is short and never awaits while holding the lock: outgoing frames are
//! pushed into each peer's bounded queue with `try_send`, and a peer whose queue is full is
//! told to disconnect (see [`Outbox`]) rather than letting its backlog grow.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, mpsc};

use super::names::{clean_name, name_key, valid_chat, valid_room};
use super::protocol::{
    CallId, ClientMsg, EndReason, ErrorCode, MediaState, PeerId, PeerInfo, RawJson, ServerMsg,
};
use super::rate::TokenBucket;
use crate::config::{Config, IceServer, IceTransportPolicy};
use crate::store::CallOutcome;
use crate::turn::TurnCredentials;

/// Someone signed in with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: i64,
    pub username: String,
}

/// One side of a call, for the call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub user_id: Option<i64>,
}

/// What happened to calls by name, for the call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    Started {
        call: CallId,
        caller: Party,
        callee: Party,
    },
    Answered {
        call: CallId,
    },
    Ended {
        call: CallId,
        outcome: CallOutcome,
    },
}

/// Call-log events waiting to be written before new ones are dropped (with a warning).
pub const CALL_EVENT_BACKLOG: usize = 4096;

/// Frames queued for one connection before it counts as a slow consumer.
/// A burst into one recipient (say eight people joining a mesh at once, each sending an
/// offer and tens of candidates) stays well below this.
pub const OUTBOX_CAPACITY: usize = 1024;
/// Bytes queued for one connection before it counts as a slow consumer: with frames of up
/// to 64 KiB, counting frames alone would not bound memory.
pub const OUTBOX_MAX_BYTES: usize = 1 << 20;

/// The sending half of one connection's outgoing queue.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<String>,
    overflow: Arc<Notify>,
    queued_bytes: Arc<AtomicUsize>,
}

/// The receiving half, owned by the transport.
pub struct Inbox {
    frames: mpsc::Receiver<String>,
    /// Notified when the queue overflowed: the transport must close the connection.
    pub overflow: Arc<Notify>,
    queued_bytes: Arc<AtomicUsize>,
}

impl Inbox {
    /// The next frame to send; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<String> {
        let frame = self.frames.recv().await?;
        self.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }

    /// The next frame if one is queued already.
    pub fn try_recv(&mut self) -> Option<String> {
        let frame = self.frames.try_recv().ok()?;
        self.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }
}

/// A bounded queue of outgoing frames for one connection.
pub fn outbox() -> (Outbox, Inbox) {
    let (tx, frames) = mpsc::channel(OUTBOX_CAPACITY);
    let overflow = Arc::new(Notify::new());
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            overflow: overflow.clone(),
            queued_bytes: queued_bytes.clone(),
        },
        Inbox {
            frames,
            overflow,
            queued_bytes,
        },
    )
}

impl Outbox {
    /// Queue a frame; a full queue (frames or bytes) marks the connection as too slow.
    fn push(&self, frame: String) {
        let len = frame.len();
        // Count first, so the receiver never subtracts bytes not yet added.
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if before + len > OUTBOX_MAX_BYTES {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.overflow.notify_one();
            return;
        }
        if let Err(e) = self.tx.try_send(frame) {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            if matches!(e, mpsc::error::TrySendError::Full(_)) {
                self.overflow.notify_one();
            }
        }
    }
}

/// Settings the hub needs from the configuration.
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub room_capacity: usize,
    pub guests: bool,
    pub ring_timeout: Duration,
    pub ice_servers: Vec<IceServer>,
    pub ice_transport_policy: IceTransportPolicy,
    /// Mints credentials for the embedded TURN server, listed first in `welcome.ice_servers`.
    pub turn: Option<TurnCredentials>,
    /// The shared secret and lifetime for TURN REST credentials, also minted for configured
    /// `turn:`/`turns:` servers that have no username of their own (an external coturn with
    /// `use-auth-secret`).
    pub turn_rest: Option<(String, std::time::Duration)>,
    /// Messages per second and burst allowed to each connection.
    pub message_rate: u32,
    pub message_burst: u32,
    /// Largest `sdp` in a relayed session description.
    pub max_sdp_bytes: usize,
    /// ICE candidates one peer may send another per negotiation.
    pub max_candidates: u32,
}

impl From<&Config> for HubSettings {
    fn from(c: &Config) -> Self {
        HubSettings {
            room_capacity: c.room_capacity,
            guests: c.guests,
            ring_timeout: c.ring_timeout,
            ice_servers: c.ice_servers.clone(),
            ice_transport_policy: c.ice_transport_policy,
            // Set by `confer::start` once the TURN server runs and its secret is known.
            turn: None,
            turn_rest: None,
            message_rate: c.message_rate,
            message_burst: c.message_burst,
            max_sdp_bytes: c.max_sdp_bytes,
            max_candidates: c.max_candidates,
        }
    }
}

struct Peer {
    outbox: Outbox,
    /// Display name in the current room or call.
    name: String,
    /// The name this peer can be called by, if it registered one.
    registered: Option<String>,
    /// The account, when signed in.
    user_id: Option<i64>,
    room: Option<String>,
    call: Option<CallId>,
    media: MediaState,
    /// ICE candidates sent to each peer since the last description sent to it.
    candidates_sent: HashMap<PeerId, u32>,
}

/// A mesh room. Its host is the member present longest (`members[0]`).
#[derive(Default)]
struct Room {
    /// Members in the order they joined.
    members: Vec<PeerId>,
    /// Set by the first person in; everyone after must give it.
    password: Option<String>,
    /// While locked, nobody new may join.
    locked: bool,
}

impl Room {
    fn host(&self) -> Option<&PeerId> {
        self.members.first()
    }
}

/// Longest room password, in characters.
const MAX_ROOM_PASSWORD_CHARS: usize = 128;

struct Call {
    caller: PeerId,
    callee: PeerId,
    active: bool,
}

#[derive(Default)]
struct State {
    peers: HashMap<PeerId, Peer>,
    /// Room name → members in the order they joined.
    rooms: HashMap<String, Room>,
    /// Lower-cased registered name → peer.
    names: HashMap<String, PeerId>,
    calls: HashMap<CallId, Call>,
    events: Option<mpsc::Sender<CallEvent>>,
}

/// Counts for health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    pub peers: usize,
    pub rooms: usize,
    pub calls: usize,
}

pub struct Hub {
    state: Mutex<State>,
    settings: HubSettings,
}

impl Hub {
    /// A hub; call-log events go to `events` when given.
    pub fn new(settings: HubSettings, events: Option<mpsc::Sender<CallEvent>>) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State {
                events,
                ..State::default()
            }),
            settings,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that is
        // worse than refusing every later client, so keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh message-rate bucket for a new connection.
    pub fn message_bucket(&self) -> TokenBucket {
        TokenBucket::new(self.settings.message_rate, self.settings.message_burst)
    }

    pub fn stats(&self) -> HubStats {
        let s = self.lock();
        HubStats {
            peers: s.peers.len(),
            rooms: s.rooms.len(),
            calls: s.calls.len(),
        }
    }

    /// Register a new connection and send it `welcome`. A signed-in person is callable under
    /// their username at once (taking it over from an older tab of theirs). `host` is the
    /// `Host` the browser used, for TURN URLs when no public address is configured.
    pub fn connect(
        &self,
        outbox: Outbox,
        user: Option<SignedIn>,
        host: Option<&str>,
        resume_token: &str,
    ) -> PeerId {
        let id = random_id();
        let username = user.as_ref().map(|u| u.username.clone());
        let account = user.as_ref().map(|u| u.user_id);
        let welcome = self.welcome(&id, username, account, host, resume_token, false);
        outbox.push(welcome.to_json());
        let mut s = self.lock();
        if let Some(user) = &user
            && let Some(previous) = s.names.insert(name_key(&user.username), id.clone())
            && let Some(p) = s.peers.get_mut(&previous)
        {
            p.registered = None;
        }
        s.peers.insert(
            id.clone(),
            Peer {
                outbox,
                name: user
                    .as_ref()
                    .map_or_else(|| "Guest".to_owned(), |u| u.username.clone()),
                registered: user.as_ref().map(|u| u.username.clone()),
                user_id: user.map(|u| u.user_id),
                room: None,
                call: None,
                media: MediaState::default(),
                candidates_sent: HashMap::new(),
            },
        );
        id
    }

    fn welcome(
        &self,
        id: &PeerId,
        user: Option<String>,
        account: Option<i64>,
        host: Option<&str>,
        resume_token: &str,
        resumed: bool,
    ) -> ServerMsg {
        ServerMsg::Welcome {
            id: id.clone(),
            user,
            ice_servers: self.ice_servers(id, account, host),
            ice_transport_policy: self.settings.ice_transport_policy,
            resume: Some(resume_token.to_owned()),
            resumed,
            version: 1,
        }
    }

    /// The `welcome` for a resumed session: its old id, a new resume token and fresh TURN
    /// credentials. The transport sends it ahead of the frames queued while the client was
    /// away.
    pub fn welcome_again(
        &self,
        id: &PeerId,
        host: Option<&str>,
        resume_token: &str,
    ) -> Option<String> {
        let s = self.lock();
        let peer = s.peers.get(id)?;
        let user = peer.user_id.and(peer.registered.clone());
        let welcome = self.welcome(id, user, peer.user_id, host, resume_token, true);
        Some(welcome.to_json())
    }

    /// The embedded TURN server with fresh credentials (named after the account, or the
    /// connection for guests), then the configured servers.
    fn ice_servers(&self, id: &PeerId, account: Option<i64>, host: Option<&str>) -> Vec<IceServer> {
        let mut list = Vec::with_capacity(self.settings.ice_servers.len() + 1);
        if let Some(turn) = &self.settings.turn {
            let who = account.map_or_else(|| id.clone(), |a| a.to_string());
            list.push(turn.ice_server(host, &who));
        }
        let who = account.map_or_else(|| id.clone(), |a| a.to_string());
        list.extend(
            self.settings
                .ice_servers
                .iter()
                .map(|server| self.with_rest_credentials(server, &who)),
        );
        list
    }

    /// A configured TURN server without credentials of its own gets REST credentials minted
    /// with the shared secret; everything else is handed out as configured.
    fn with_rest_credentials(&self, server: &IceServer, who: &str) -> IceServer {
        let is_turn = server
            .urls
            .iter()
            .any(|u| u.starts_with("turn:") || u.starts_with("turns:"));
        match &self.settings.turn_rest {
            Some((secret, ttl)) if is_turn && server.username.is_none() => {
                let now = crate::turn::credentials::unix_now();
                let (username, credential) = crate::turn::credentials::mint(secret, who, *ttl, now);
                IceServer {
                    urls: server.urls.clone(),
                    username: Some(username),
                    credential: Some(credential),
                }
            }
            _ => server.clone(),
        }
    }

    /// The connection is gone: leave its room, end its call, free its name.
    pub fn disconnect(&self, id: &PeerId) {
        let mut s = self.lock();
        s.leave_room(id);
        s.end_call(id, EndReason::Disconnected);
        if let Some(peer) = s.peers.remove(id)
            && let Some(name) = peer.registered
        {
            let key = name_key(&name);
            if s.names.get(&key) == Some(id) {
                s.names.remove(&key);
            }
        }
    }

    /// Carry out one decoded client message.
    pub fn handle(self: &Arc<Self>, id: &PeerId, msg: ClientMsg) {
        let mut s = self.lock();
        if !s.peers.contains_key(id) {
            return;
        }
        let result = match msg {
            ClientMsg::Register { name } => s.register(id, &name, &self.settings),
            ClientMsg::Join {
                room,
                name,
                password,
            } => s.join(id, &room, name, password, &self.settings),
            ClientMsg::Lock { locked } => s.lock_room(id, locked),
            ClientMsg::Remove { peer } => s.remove_from_room(id, &peer),
            ClientMsg::Leave => s.leave(id),
            ClientMsg::Signal {
                to,
                description,
                candidate,
            } => s.relay_signal(id, &to, description, candidate, &self.settings),
            ClientMsg::Call { user } => s.call(id, &user, &self.settings).map(|call| {
                if let Some(call) = call {
                    self.start_ring_timer(call);
                }
            }),
            ClientMsg::Accept { call } => s.accept(id, &call),
            ClientMsg::Decline { call } => s.refuse(id, &call, Refusal::Decline),
            ClientMsg::Cancel { call } => s.refuse(id, &call, Refusal::Cancel),
            ClientMsg::Hangup => s.hangup(id),
            ClientMsg::Chat { text } => s.chat(id, text),
            ClientMsg::Media(media) => s.media(id, media),
            ClientMsg::Ping => {
                s.send(id, &ServerMsg::Pong);
                Ok(())
            }
        };
        if let Err((code, message)) = result {
            s.send(id, &ServerMsg::error(code, message));
        }
    }

    /// Send an error frame for a message that could not be decoded.
    pub fn reject(&self, id: &PeerId, code: ErrorCode, message: String) {
        self.lock().send(id, &ServerMsg::error(code, message));
    }

    fn start_ring_timer(self: &Arc<Self>, call: CallId) {
        let hub = Arc::downgrade(self);
        let timeout = self.settings.ring_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(hub) = hub.upgrade() {
                hub.lock().ring_expired(&call);
            }
        });
    }
}

type Outcome<T = ()> = Result<T, (ErrorCode, String)>;

fn fail<T>(code: ErrorCode, message: impl Into<String>) -> Outcome<T> {
    Err((code, message.into()))
}

enum Refusal {
    Decline,
    Cancel,
}

impl State {
    /// With `guests = false`, people who are not signed in may only connect.
    fn refuse_guest(&self, id: &PeerId, settings: &HubSettings) -> Outcome {
        if !settings.guests && self.peers.get(id).is_some_and(|p| p.user_id.is_none()) {
            return fail(
                ErrorCode::SignInRequired,
                "Please sign in: this server does not admit guests.",
            );
        }
        Ok(())
    }

    fn log(&self, event: CallEvent) {
        if let Some(events) = &self.events
            && events.try_send(event).is_err()
        {
            tracing::warn!("call log is not keeping up; an entry was dropped");
        }
    }

    fn party(&self, id: &PeerId) -> Party {
        let peer = self.peers.get(id);
        Party {
            name: peer
                .and_then(|p| p.registered.clone())
                .or_else(|| peer.map(|p| p.name.clone()))
                .unwrap_or_default(),
            user_id: peer.and_then(|p| p.user_id),
        }
    }

    fn send(&self, to: &PeerId, msg: &ServerMsg) {
        if let Some(peer) = self.peers.get(to) {
            peer.outbox.push(msg.to_json());
        }
    }

    /// Send one frame to several peers, serializing it once.
    fn send_all<'a>(&self, to: impl IntoIterator<Item = &'a PeerId>, msg: &ServerMsg) {
        let frame = msg.to_json();
        for id in to {
            if let Some(peer) = self.peers.get(id) {
                peer.outbox.push(frame.clone());
            }
        }
    }

    fn info(&self, id: &PeerId, polite: bool) -> Option<PeerInfo> {
        self.peers.get(id).map(|p| PeerInfo {
            id: id.clone(),
            name: p.name.clone(),
            polite,
            media: p.media,
        })
    }

    fn peer(&self, id: &PeerId) -> Outcome<&Peer> {
        match self.peers.get(id) {
            Some(p) => Ok(p),
            None => fail(ErrorCode::Internal, "unknown connection"),
        }
    }

    fn peer_mut(&mut self, id: &PeerId) -> Outcome<&mut Peer> {
        match self.peers.get_mut(id) {
            Some(p) => Ok(p),
            None => fail(ErrorCode::Internal, "unknown connection"),
        }
    }

    /// Everyone this peer talks to now: its room's other members, or its active call partner.
    fn companions(&self, id: &PeerId) -> Vec<PeerId> {
        let Some(peer) = self.peers.get(id) else {
            return Vec::new();
        };
        if let Some(room) = &peer.room {
            return self
                .rooms
                .get(room)
                .map(|r| r.members.iter().filter(|p| *p != id).cloned().collect())
                .unwrap_or_default();
        }
        match peer.call.as_ref().and_then(|c| self.calls.get(c)) {
            Some(call) if call.active => vec![other_party(call, id).clone()],
            _ => Vec::new(),
        }
    }

    fn register(&mut self, id: &PeerId, raw: &str, settings: &HubSettings) -> Outcome {
        self.refuse_guest(id, settings)?;
        let Some(name) = clean_name(raw) else {
            return fail(
                ErrorCode::InvalidName,
                "A name needs 1 to 32 characters and no control characters.",
            );
        };
        let key = name_key(&name);
        let me = self.peer(id)?;
        if let (Some(_), Some(own)) = (me.user_id, &me.registered)
            && name_key(own) != key
        {
            return fail(
                ErrorCode::InvalidName,
                format!("You are signed in as {own}; that is the name people call."),
            );
        }
        match self.names.get(&key) {
            Some(owner) if owner != id => {
                return fail(
                    ErrorCode::NameTaken,
                    format!("Someone online is already called {name}."),
                );
            }
            _ => {}
        }
        let peer = self.peer_mut(id)?;
        let previous = peer.registered.replace(name.clone());
        if peer.room.is_none() && peer.call.is_none() {
            peer.name = name.clone();
        }
        if let Some(old) = previous {
            self.names.remove(&name_key(&old));
        }
        self.names.insert(key, id.clone());
        self.send(id, &ServerMsg::Registered { name });
        Ok(())
    }

    fn join(
        &mut self,
        id: &PeerId,
        room: &str,
        name: Option<String>,
        password: Option<String>,
        settings: &HubSettings,
    ) -> Outcome {
        self.refuse_guest(id, settings)?;
        if !valid_room(room) {
            return fail(
                ErrorCode::InvalidRoom,
                "A room name needs 1 to 64 letters, digits, '-', '_' or '.'.",
            );
        }
        let peer = self.peer(id)?;
        if peer.room.is_some() {
            return fail(
                ErrorCode::AlreadyInRoom,
                "You are already in a room; leave it first.",
            );
        }
        if peer.call.is_some() {
            return fail(ErrorCode::BusyInCall, "You are in a call; hang up first.");
        }
        let display = match name {
            // Signed-in people appear under their username.
            _ if peer.user_id.is_some() => peer.registered.clone().unwrap_or_default(),
            Some(raw) => match clean_name(&raw) {
                Some(n) => n,
                None => {
                    return fail(
                        ErrorCode::InvalidName,
                        "A name needs 1 to 32 characters and no control characters.",
                    );
                }
            },
            None => peer
                .registered
                .clone()
                .unwrap_or_else(|| "Guest".to_owned()),
        };
        // An empty password is no password.
        let password = password.filter(|p| !p.is_empty());
        if password
            .as_ref()
            .is_some_and(|p| p.chars().count() > MAX_ROOM_PASSWORD_CHARS)
        {
            return fail(
                ErrorCode::WrongPassword,
                "A room password has at most 128 characters.",
            );
        }
        if let Some(existing) = self.rooms.get(room) {
            if existing.locked {
                return fail(ErrorCode::RoomLocked, "This room is locked by its host.");
            }
            if let Some(expected) = &existing.password {
                match &password {
                    None => {
                        return fail(ErrorCode::WrongPassword, "This room needs a password.");
                    }
                    Some(given) if !same_secret(given, expected) => {
                        return fail(ErrorCode::WrongPassword, "Wrong password for this room.");
                    }
                    Some(_) => {}
                }
            }
        }
        let members = self
            .rooms
            .get(room)
            .map(|r| r.members.as_slice())
            .unwrap_or_default();
        if members.len() >= settings.room_capacity {
            self.send(
                id,
                &ServerMsg::RoomFull {
                    room: room.to_owned(),
                    capacity: settings.room_capacity,
                },
            );
            return Ok(());
        }
        // The newcomer is the impolite side of every pair it forms.
        let peers: Vec<PeerInfo> = members.iter().filter_map(|m| self.info(m, false)).collect();
        let existing: Vec<PeerId> = members.to_vec();
        let peer = self.peer_mut(id)?;
        peer.name = display;
        peer.room = Some(room.to_owned());
        let entry = self.rooms.entry(room.to_owned()).or_insert_with(|| Room {
            // The first person in sets the password.
            password,
            ..Room::default()
        });
        entry.members.push(id.clone());
        let host = entry.host().cloned().unwrap_or_else(|| id.clone());
        let locked = entry.locked;
        if let Some(you) = self.info(id, false) {
            self.send(
                id,
                &ServerMsg::Joined {
                    room: room.to_owned(),
                    you,
                    peers,
                    host,
                    locked,
                },
            );
        }
        if let Some(newcomer) = self.info(id, true) {
            self.send_all(&existing, &ServerMsg::PeerJoined { peer: newcomer });
        }
        Ok(())
    }

    fn leave(&mut self, id: &PeerId) -> Outcome {
        match self.leave_room(id) {
            Some(room) => {
                self.send(id, &ServerMsg::Left { room });
                Ok(())
            }
            None => fail(ErrorCode::NotInRoom, "You are not in a room."),
        }
    }

    /// Take the peer out of its room, telling the others; deletes an empty room.
    fn leave_room(&mut self, id: &PeerId) -> Option<String> {
        let room = self.peers.get_mut(id)?.room.take()?;
        let mut remaining = Vec::new();
        let mut state = None;
        if let Some(r) = self.rooms.get_mut(&room) {
            let was_host = r.host() == Some(id);
            r.members.retain(|m| m != id);
            remaining = r.members.clone();
            if was_host && let Some(host) = r.host() {
                state = Some(ServerMsg::RoomState {
                    room: room.clone(),
                    host: host.clone(),
                    locked: r.locked,
                });
            }
        }
        if remaining.is_empty() {
            self.rooms.remove(&room);
        } else {
            self.send_all(&remaining, &ServerMsg::PeerLeft { peer: id.clone() });
            if let Some(state) = state {
                self.send_all(&remaining, &state);
            }
        }
        Some(room)
    }

    /// The room of `id` if `id` is its host.
    fn hosted_room(&self, id: &PeerId) -> Outcome<String> {
        let Some(room) = self.peer(id)?.room.clone() else {
            return fail(ErrorCode::NotInRoom, "You are not in a room.");
        };
        match self.rooms.get(&room) {
            Some(r) if r.host() == Some(id) => Ok(room),
            _ => fail(ErrorCode::NotHost, "Only the room's host can do that."),
        }
    }

    fn lock_room(&mut self, id: &PeerId, locked: bool) -> Outcome {
        let room = self.hosted_room(id)?;
        let Some(r) = self.rooms.get_mut(&room) else {
            return fail(ErrorCode::NotInRoom, "You are not in a room.");
        };
        r.locked = locked;
        let members = r.members.clone();
        let state = ServerMsg::RoomState {
            room,
            host: id.clone(),
            locked,
        };
        self.send_all(&members, &state);
        Ok(())
    }

    fn remove_from_room(&mut self, id: &PeerId, peer: &PeerId) -> Outcome {
        let room = self.hosted_room(id)?;
        let member = self
            .rooms
            .get(&room)
            .is_some_and(|r| r.members.contains(peer));
        if !member || peer == id {
            return fail(ErrorCode::NotAPeer, "That person is not in your room.");
        }
        self.leave_room(peer);
        self.send(peer, &ServerMsg::Removed { room });
        Ok(())
    }

    fn relay_signal(
        &mut self,
        id: &PeerId,
        to: &PeerId,
        description: Option<RawJson>,
        candidate: Option<RawJson>,
        settings: &HubSettings,
    ) -> Outcome {
        if !self.companions(id).contains(to) {
            return fail(
                ErrorCode::NotAPeer,
                "That peer is not in your room or call.",
            );
        }
        if description
            .as_ref()
            .is_some_and(|d| d.sdp_longer_than(settings.max_sdp_bytes))
        {
            return fail(
                ErrorCode::SdpTooLarge,
                format!(
                    "A session description may have at most {} bytes.",
                    settings.max_sdp_bytes
                ),
            );
        }
        let sender = self.peer_mut(id)?;
        if description.is_some() {
            // A new description starts a new negotiation with this peer.
            sender.candidates_sent.remove(to);
        }
        if candidate.as_ref().is_some_and(|c| !c.is_null()) {
            let sent = sender.candidates_sent.entry(to.clone()).or_insert(0);
            if *sent >= settings.max_candidates {
                return fail(
                    ErrorCode::TooManyCandidates,
                    format!(
                        "At most {} ICE candidates per negotiation; send a new description first.",
                        settings.max_candidates
                    ),
                );
            }
            *sent += 1;
        }
        self.send(
            to,
            &ServerMsg::Signal {
                from: id.clone(),
                description,
                candidate,
            },
        );
        Ok(())
    }

    /// Start ringing `user`. Returns the call id when a ring timer must start.
    fn call(&mut self, id: &PeerId, user: &str, settings: &HubSettings) -> Outcome<Option<CallId>> {
        self.refuse_guest(id, settings)?;
        let Some(user) = clean_name(user) else {
            return fail(ErrorCode::InvalidName, "That is not a valid name.");
        };
        let caller = self.peer(id)?;
        if caller.registered.is_none() {
            return fail(
                ErrorCode::RegisterFirst,
                "Choose your name before calling, so the other person knows who calls.",
            );
        }
        if caller.room.is_some() || caller.call.is_some() {
            return fail(
                ErrorCode::AlreadyInCall,
                "You are already in a call or a room.",
            );
        }
        let Some(callee_id) = self.names.get(&name_key(&user)).cloned() else {
            return fail(ErrorCode::UserOffline, format!("{user} is not online."));
        };
        if &callee_id == id {
            return fail(ErrorCode::CannotCallSelf, "You cannot call yourself.");
        }
        let call_id = random_id();
        let callee = self.peer(&callee_id)?;
        let callee_name = callee.registered.clone().unwrap_or(user);
        if callee.room.is_some() || callee.call.is_some() {
            self.log(CallEvent::Started {
                call: call_id.clone(),
                caller: self.party(id),
                callee: self.party(&callee_id),
            });
            self.log(CallEvent::Ended {
                call: call_id.clone(),
                outcome: CallOutcome::Busy,
            });
            self.send(
                id,
                &ServerMsg::Busy {
                    call: call_id,
                    user: callee_name,
                },
            );
            return Ok(None);
        }
        self.log(CallEvent::Started {
            call: call_id.clone(),
            caller: self.party(id),
            callee: self.party(&callee_id),
        });
        self.calls.insert(
            call_id.clone(),
            Call {
                caller: id.clone(),
                callee: callee_id.clone(),
                active: false,
            },
        );
        let caller_name = self.peer(id)?.registered.clone();
        for (who, name) in [(id, caller_name), (&callee_id, Some(callee_name.clone()))] {
            let p = self.peer_mut(who)?;
            p.call = Some(call_id.clone());
            if let Some(name) = name {
                p.name = name;
            }
        }
        self.send(
            id,
            &ServerMsg::Calling {
                call: call_id.clone(),
                user: callee_name,
            },
        );
        if let Some(from) = self.info(id, false) {
            self.send(
                &callee_id,
                &ServerMsg::IncomingCall {
                    call: call_id.clone(),
                    from,
                },
            );
        }
        Ok(Some(call_id))
    }

    fn accept(&mut self, id: &PeerId, call_id: &CallId) -> Outcome {
        let Some(call) = self.calls.get_mut(call_id) else {
            return fail(ErrorCode::NoSuchCall, "That call is over.");
        };
        if &call.callee != id || call.active {
            return fail(ErrorCode::NoSuchCall, "That call is not ringing for you.");
        }
        call.active = true;
        let caller = call.caller.clone();
        self.log(CallEvent::Answered {
            call: call_id.clone(),
        });
        // The caller is polite, the callee impolite.
        if let Some(peer) = self.info(id, true) {
            self.send(
                &caller,
                &ServerMsg::CallAccepted {
                    call: call_id.clone(),
                    peer,
                },
            );
        }
        if let Some(peer) = self.info(&caller, false) {
            self.send(
                id,
                &ServerMsg::CallAccepted {
                    call: call_id.clone(),
                    peer,
                },
            );
        }
        Ok(())
    }

    fn refuse(&mut self, id: &PeerId, call_id: &CallId, how: Refusal) -> Outcome {
        let ringing_for_me = self.calls.get(call_id).is_some_and(|c| {
            !c.active
                && match how {
                    Refusal::Decline => &c.callee == id,
                    Refusal::Cancel => &c.caller == id,
                }
        });
        if !ringing_for_me {
            return fail(ErrorCode::NoSuchCall, "That call is not ringing for you.");
        }
        self.end_call(
            id,
            match how {
                Refusal::Decline => EndReason::Declined,
                Refusal::Cancel => EndReason::Cancelled,
            },
        );
        Ok(())
    }

    fn hangup(&mut self, id: &PeerId) -> Outcome {
        let Some(call_id) = self.peer(id)?.call.clone() else {
            return fail(ErrorCode::NoSuchCall, "You are not in a call.");
        };
        let reason = match self.calls.get(&call_id) {
            Some(c) if !c.active && &c.caller == id => EndReason::Cancelled,
            Some(c) if !c.active => EndReason::Declined,
            _ => EndReason::Hangup,
        };
        self.end_call(id, reason);
        Ok(())
    }

    /// End `id`'s call, if any, telling both sides what happened.
    fn end_call(&mut self, id: &PeerId, reason: EndReason) {
        let Some(call_id) = self.peers.get_mut(id).and_then(|p| p.call.take()) else {
            return;
        };
        let Some(call) = self.calls.remove(&call_id) else {
            return;
        };
        let other = other_party(&call, id).clone();
        if let Some(p) = self.peers.get_mut(&other) {
            p.call = None;
        }
        let caller_vanished_while_ringing = !call.active && &call.caller == id;
        let outcome = match reason {
            _ if call.active => CallOutcome::Answered,
            EndReason::Declined => CallOutcome::Declined,
            EndReason::Cancelled => CallOutcome::Cancelled,
            _ if caller_vanished_while_ringing => CallOutcome::Cancelled,
            _ => CallOutcome::Missed,
        };
        self.log(CallEvent::Ended {
            call: call_id.clone(),
            outcome,
        });
        let call = call_id;
        let to_other = match reason {
            EndReason::Declined => ServerMsg::CallDeclined { call: call.clone() },
            EndReason::Cancelled => ServerMsg::CallCancelled { call: call.clone() },
            EndReason::Disconnected if caller_vanished_while_ringing => {
                ServerMsg::CallCancelled { call: call.clone() }
            }
            _ => ServerMsg::CallEnded {
                call: call.clone(),
                reason,
            },
        };
        self.send(&other, &to_other);
        if reason != EndReason::Disconnected {
            self.send(id, &ServerMsg::CallEnded { call, reason });
        }
    }

    fn ring_expired(&mut self, call_id: &CallId) {
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        if call.active {
            return;
        }
        let parties = [call.caller.clone(), call.callee.clone()];
        self.calls.remove(call_id);
        self.log(CallEvent::Ended {
            call: call_id.clone(),
            outcome: CallOutcome::Missed,
        });
        for p in &parties {
            if let Some(peer) = self.peers.get_mut(p) {
                peer.call = None;
            }
        }
        self.send_all(
            &parties,
            &ServerMsg::CallMissed {
                call: call_id.clone(),
            },
        );
    }

    fn chat(&mut self, id: &PeerId, text: String) -> Outcome {
        if !valid_chat(&text) {
            return fail(
                ErrorCode::InvalidChat,
                "A chat message needs 1 to 2000 characters.",
            );
        }
        let to = self.companions(id);
        let peer = self.peer(id)?;
        if peer.room.is_none() && to.is_empty() {
            return fail(ErrorCode::NotInRoom, "You are not in a room or call.");
        }
        let msg = ServerMsg::Chat {
            from: id.clone(),
            name: peer.name.clone(),
            text,
            at: now_millis(),
        };
        self.send_all(&to, &msg);
        Ok(())
    }

    fn media(&mut self, id: &PeerId, media: MediaState) -> Outcome {
        self.peer_mut(id)?.media = media;
        let to = self.companions(id);
        self.send_all(
            &to,
            &ServerMsg::Media {
                from: id.clone(),
                state: media,
            },
        );
        Ok(())
    }
}

/// Compare two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn other_party<'a>(call: &'a Call, id: &PeerId) -> &'a PeerId {
    if &call.caller == id {
        &call.callee
    } else {
        &call.caller
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// 16 random characters from a 32-letter alphabet: 80 bits, unguessable and URL-safe.
fn random_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
