//! Room and call state, behind one lock.
//!
//! Every node keeps a full replica of the rooms, calls and names and changes it only by
//! applying [`Command`]s in the order the [bus](crate::bus) gives them, so all replicas agree.
//! A node delivers only frames for its own connections (`State::local`).
//!
//! Every operation is short and never awaits while holding the lock: outgoing frames are
//! pushed into each peer's bounded queue without waiting, and a peer whose queue is full is
//! told to disconnect (see [`Outbox`]) rather than letting its backlog grow.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::names::{clean_name, name_key, valid_chat, valid_room};
use super::protocol::{
    CLIENT_TYPES, CallId, ClientMsg, EndReason, ErrorCode, MediaState, PeerId, PeerInfo, RawJson,
    ServerMsg,
};
use super::rate::TokenBucket;
use crate::bus::{Bus, Command, Entry, MemoryBus, NodeId, Published, unix_millis};
use crate::config::{Config, IceServer, IceTransportPolicy};
use crate::store::CallOutcome;
use crate::turn::TurnCredentials;

/// Someone signed in with an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

pub use super::outbox::{Inbox, Kick, OUTBOX_CAPACITY, OUTBOX_MAX_BYTES, Outbox, outbox};

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

/// One session anywhere in the cluster.
struct Peer {
    /// The node holding its connection.
    node: NodeId,
    /// Digest of the token it may resume with.
    resume: String,
    /// Display name in the current room or call.
    name: String,
    /// The name this peer can be called by, if it registered one.
    registered: Option<String>,
    /// The account, when signed in.
    user_id: Option<i64>,
    room: Option<String>,
    /// Log position at which it joined its room: rooms order members by it.
    joined: u64,
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
    /// Unix milliseconds when it started ringing.
    started: u64,
}

/// A session as it travels in snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub id: PeerId,
    pub node: NodeId,
    pub resume: String,
    pub name: String,
    pub registered: Option<String>,
    pub user_id: Option<i64>,
    pub room: Option<String>,
    pub joined: u64,
    pub media: MediaState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub name: String,
    pub password: Option<String>,
    pub locked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: CallId,
    pub caller: PeerId,
    pub callee: PeerId,
    pub active: bool,
    pub started: u64,
}

/// Sessions, rooms and calls, as snapshots and repairs carry them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSnapshot {
    pub peers: Vec<PeerRecord>,
    pub rooms: Vec<RoomRecord>,
    pub calls: Vec<CallRecord>,
}

struct State {
    /// This node.
    me: NodeId,
    peers: HashMap<PeerId, Peer>,
    /// Room name → members in the order they joined.
    rooms: HashMap<String, Room>,
    /// Lower-cased registered name → peer.
    names: HashMap<String, PeerId>,
    calls: HashMap<CallId, Call>,
    /// Queues of the connections this node holds.
    local: HashMap<PeerId, Outbox>,
    events: Option<mpsc::Sender<CallEvent>>,
    /// Whether the command being applied was made on this node: only that node writes the
    /// call log and starts timers for it.
    made_here: bool,
    /// Log position of the command being applied.
    position: u64,
    /// Work for after the lock is released.
    after: Vec<AfterApply>,
}

/// What applying a command asks of the hub once the lock is released.
enum AfterApply {
    StartRingTimer(CallId),
    Publish(Command),
}

/// Counts for health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    /// Sessions in the whole cluster.
    pub peers: usize,
    /// Connections on this node.
    pub local: usize,
    pub rooms: usize,
    /// Sessions in a room.
    pub participants: usize,
    pub calls: usize,
}

pub struct Hub {
    state: Mutex<State>,
    settings: HubSettings,
    bus: Arc<dyn Bus>,
    /// One node on its own: commands are applied as they are made.
    single_node: bool,
    /// Positions for commands applied without the shared log.
    local_positions: AtomicU64,
}

impl Hub {
    /// A hub on its own (one node); call-log events go to `events` when given.
    pub fn new(settings: HubSettings, events: Option<mpsc::Sender<CallEvent>>) -> Arc<Hub> {
        Hub::with_bus(settings, events, Arc::new(MemoryBus::new()))
    }

    /// A hub whose commands travel over `bus`.
    pub fn with_bus(
        settings: HubSettings,
        events: Option<mpsc::Sender<CallEvent>>,
        bus: Arc<dyn Bus>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State {
                me: bus.node().clone(),
                peers: HashMap::new(),
                rooms: HashMap::new(),
                names: HashMap::new(),
                calls: HashMap::new(),
                local: HashMap::new(),
                events,
                made_here: false,
                position: 0,
                after: Vec::new(),
            }),
            settings,
            single_node: bus.health() == crate::bus::BusHealth::Local,
            bus,
            local_positions: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that is
        // worse than refusing every later client, so keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn node(&self) -> &NodeId {
        self.bus.node()
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// A fresh message-rate bucket for a new connection.
    pub fn message_bucket(&self) -> TokenBucket {
        TokenBucket::new(self.settings.message_rate, self.settings.message_burst)
    }

    pub fn stats(&self) -> HubStats {
        let s = self.lock();
        HubStats {
            peers: s.peers.len(),
            local: s.local.len(),
            rooms: s.rooms.len(),
            participants: s.rooms.values().map(|r| r.members.len()).sum(),
            calls: s.calls.len(),
        }
    }

    /// Nodes other than this one that hold sessions.
    pub fn other_nodes(&self) -> HashSet<NodeId> {
        let s = self.lock();
        s.peers
            .values()
            .filter(|p| p.node != s.me)
            .map(|p| p.node.clone())
            .collect()
    }

    /// Sessions whose connection is on this node.
    pub fn local_peers(&self) -> Vec<PeerId> {
        self.lock().local.keys().cloned().collect()
    }

    /// Send a command through the bus; on one node (or cut off) it is applied right away.
    pub fn submit(self: &Arc<Self>, command: Command) {
        if self.single_node {
            // The common case needs no envelope.
            self.apply_command(command, true, self.local_position());
            return;
        }
        let entry = Entry::new(self.node(), command);
        if let Published::ApplyHere(entry) = self.bus.publish(entry) {
            self.apply_here(entry);
        }
    }

    /// Positions order room members; keep local ones comparable with log positions.
    fn local_position(&self) -> u64 {
        let n = self.local_positions.fetch_add(1, Ordering::Relaxed);
        if self.single_node {
            return n; // nothing else to be ordered against
        }
        (unix_millis() << 20) | (n & 0xF_FFFF)
    }

    /// Apply an entry made here that did not go through the shared log.
    pub fn apply_here(self: &Arc<Self>, entry: Entry) {
        self.apply_command(entry.command, true, self.local_position());
    }

    /// Apply one entry of the log, at `position`.
    pub fn apply(self: &Arc<Self>, entry: Entry, position: u64) {
        let made_here = entry.origin == *self.node();
        self.apply_command(entry.command, made_here, position);
    }

    fn apply_command(self: &Arc<Self>, command: Command, made_here: bool, position: u64) {
        let after = {
            let mut s = self.lock();
            s.made_here = made_here;
            s.position = position;
            s.apply(command, &self.settings);
            std::mem::take(&mut s.after)
        };
        for work in after {
            match work {
                AfterApply::StartRingTimer(call) => self.start_ring_timer(call),
                AfterApply::Publish(command) => self.submit(command),
            }
        }
    }

    /// The whole replica, for a node that just joined.
    pub fn snapshot(&self) -> ReplicaSnapshot {
        self.lock().snapshot(None)
    }

    /// What this node's own sessions are, for the others to adopt after an outage.
    pub fn own_sessions(&self) -> ReplicaSnapshot {
        let s = self.lock();
        let me = s.me.clone();
        s.snapshot(Some(&me))
    }

    /// Replace the replica by `snapshot`, keeping this node's own sessions as they are, and
    /// tell local members of rooms who came and went meanwhile.
    pub fn load_snapshot(&self, snapshot: ReplicaSnapshot) {
        self.lock().load(snapshot);
    }

    /// Register a new connection and send it `welcome`. A signed-in person is callable under
    /// their username at once (taking it over from an older tab of theirs). `host` is the
    /// `Host` the browser used, for TURN URLs when no public address is configured.
    pub fn connect(
        self: &Arc<Self>,
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
        self.lock().local.insert(id.clone(), outbox);
        self.submit(Command::Connect {
            peer: id.clone(),
            node: self.node().clone(),
            user,
            resume: crate::auth::token::digest(resume_token),
        });
        id
    }

    /// Continue here a session held by another node (that node died or the client's new
    /// connection reached this one): `token` is the resume token from its last `welcome`.
    /// Returns its id and whether it is signed in.
    pub fn adopt(
        self: &Arc<Self>,
        token: &str,
        outbox: Outbox,
        host: Option<&str>,
        new_token: &str,
    ) -> Option<(PeerId, bool)> {
        let digest = crate::auth::token::digest(token);
        let (id, welcome, signed_in) = {
            let mut s = self.lock();
            let (id, peer) = s
                .peers
                .iter()
                .find(|(_, p)| p.node != s.me && same_secret(&p.resume, &digest))?;
            let id = id.clone();
            let user = peer.user_id.and(peer.registered.clone());
            let signed_in = peer.user_id.is_some();
            let welcome = self.welcome(&id, user, peer.user_id, host, new_token, true);
            s.local.insert(id.clone(), outbox.clone());
            (id, welcome, signed_in)
        };
        outbox.push(welcome.to_json());
        self.submit(Command::Moved {
            peer: id.clone(),
            node: self.node().clone(),
            resume: crate::auth::token::digest(new_token),
        });
        Some((id, signed_in))
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

    /// The `welcome` for a session resumed on this node: its old id, a new resume token and
    /// fresh TURN credentials. The transport sends it ahead of the frames queued while the
    /// client was away.
    pub fn welcome_again(
        self: &Arc<Self>,
        id: &PeerId,
        host: Option<&str>,
        resume_token: &str,
    ) -> Option<String> {
        let welcome = {
            let s = self.lock();
            let peer = s.peers.get(id)?;
            let user = peer.user_id.and(peer.registered.clone());
            self.welcome(id, user, peer.user_id, host, resume_token, true)
        };
        // Other nodes must know the new token, should the next reconnection land there.
        self.submit(Command::Moved {
            peer: id.clone(),
            node: self.node().clone(),
            resume: crate::auth::token::digest(resume_token),
        });
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

    /// The connection is gone: leave its room, end its call, free its name — unless its
    /// session has moved to another node meanwhile.
    pub fn disconnect(self: &Arc<Self>, id: &PeerId) {
        self.lock().local.remove(id);
        self.submit(Command::Disconnect {
            peer: id.clone(),
            node: self.node().clone(),
        });
    }

    /// Carry out one decoded client message.
    pub fn handle(self: &Arc<Self>, id: &PeerId, msg: ClientMsg) {
        count_message(msg.kind());
        if matches!(msg, ClientMsg::Ping) {
            // Liveness is this node's business only.
            self.lock().send(id, &ServerMsg::Pong);
            return;
        }
        let call = matches!(msg, ClientMsg::Call { .. }).then(random_id);
        // Only these need the time; the bulk (`signal`) skips the clock read.
        let timed = matches!(
            msg,
            ClientMsg::Call { .. } | ClientMsg::Accept { .. } | ClientMsg::Chat { .. }
        );
        self.submit(Command::Client {
            peer: id.clone(),
            msg,
            call,
            at: if timed { unix_millis() } else { 0 },
        });
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
                hub.submit(Command::RingExpired { call });
            }
        });
    }
}

/// Add one to `confer_messages_total{type=kind}`. The counters are looked up once: the
/// `counter!` macro with a label finds its key in the recorder's registry on every call,
/// which cost as much as relaying the message's JSON.
fn count_message(kind: &'static str) {
    static COUNTERS: OnceLock<Vec<(&'static str, metrics::Counter)>> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        CLIENT_TYPES
            .iter()
            .map(|&t| (t, metrics::counter!("confer_messages_total", "type" => t)))
            .collect()
    });
    if let Some((_, counter)) = counters.iter().find(|(t, _)| *t == kind) {
        counter.increment(1);
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
        if !self.made_here {
            return; // the node where it happened writes it
        }
        if let CallEvent::Ended { outcome, .. } = &event {
            metrics::counter!("confer_calls_total", "outcome" => outcome.as_str()).increment(1);
        }
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

    /// Queue a frame for `to` if its connection is on this node; other nodes deliver theirs.
    fn send(&self, to: &PeerId, msg: &ServerMsg) {
        if let Some(outbox) = self.local.get(to) {
            if let ServerMsg::Error { code, .. } = msg {
                metrics::counter!("confer_errors_total", "code" => code.as_str()).increment(1);
            }
            outbox.push(msg.to_json());
        }
    }

    /// Send one frame to several peers, serializing it once.
    fn send_all<'a>(&self, to: impl IntoIterator<Item = &'a PeerId>, msg: &ServerMsg) {
        let mut frame = None;
        for id in to {
            if let Some(outbox) = self.local.get(id) {
                let frame = frame.get_or_insert_with(|| msg.to_json());
                outbox.push(frame.clone());
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
    /// An iterator, so the relay's check and the broadcasts build no list.
    fn companions<'a>(&'a self, id: &'a PeerId) -> impl Iterator<Item = &'a PeerId> + 'a {
        let peer = self.peers.get(id);
        let room = peer.and_then(|p| p.room.as_ref());
        let members = room
            .and_then(|r| self.rooms.get(r))
            .map_or(&[][..], |r| r.members.as_slice());
        let partner = peer
            .filter(|_| room.is_none())
            .and_then(|p| p.call.as_ref())
            .and_then(|c| self.calls.get(c))
            .filter(|call| call.active)
            .map(|call| other_party(call, id));
        members.iter().filter(move |p| *p != id).chain(partner)
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
        let position = self.position;
        let peer = self.peer_mut(id)?;
        peer.name = display;
        peer.room = Some(room.to_owned());
        peer.joined = position;
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
        if !self.companions(id).any(|p| p == to) {
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
    fn call(
        &mut self,
        id: &PeerId,
        user: &str,
        call_id: Option<CallId>,
        at: u64,
        settings: &HubSettings,
    ) -> Outcome<Option<CallId>> {
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
        let Some(call_id) = call_id else {
            return fail(ErrorCode::Internal, "call without an id");
        };
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
                started: at,
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

    fn accept(&mut self, id: &PeerId, call_id: &CallId, at: u64) -> Outcome {
        let Some(call) = self.calls.get_mut(call_id) else {
            return fail(ErrorCode::NoSuchCall, "That call is over.");
        };
        if &call.callee != id || call.active {
            return fail(ErrorCode::NoSuchCall, "That call is not ringing for you.");
        }
        call.active = true;
        let caller = call.caller.clone();
        if self.made_here {
            let setup = at.saturating_sub(call.started) as f64 / 1000.0;
            metrics::histogram!("confer_call_answer_seconds").record(setup);
        }
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

    fn chat(&mut self, id: &PeerId, text: String, at: u64) -> Outcome {
        if !valid_chat(&text) {
            return fail(
                ErrorCode::InvalidChat,
                "A chat message needs 1 to 2000 characters.",
            );
        }
        let peer = self.peer(id)?;
        if peer.room.is_none() && self.companions(id).next().is_none() {
            return fail(ErrorCode::NotInRoom, "You are not in a room or call.");
        }
        let msg = ServerMsg::Chat {
            from: id.clone(),
            name: peer.name.clone(),
            text,
            at,
        };
        self.send_all(self.companions(id), &msg);
        Ok(())
    }

    fn media(&mut self, id: &PeerId, media: MediaState) -> Outcome {
        self.peer_mut(id)?.media = media;
        self.send_all(
            self.companions(id),
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

/// 16 random characters from a 32-letter alphabet: 80 bits, unguessable and URL-safe.
fn random_id() -> String {
    random_name(16)
}

/// `len` random characters from an unambiguous, URL-safe 32-letter alphabet (5 bits each).
pub(crate) fn random_name(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Applying commands: the only way the replica changes.
impl State {
    fn apply(&mut self, command: Command, settings: &HubSettings) {
        match command {
            Command::Connect {
                peer,
                node,
                user,
                resume,
            } => self.connect(peer, node, user, resume),
            Command::Client {
                peer,
                msg,
                call,
                at,
            } => self.client(&peer, msg, call, at, settings),
            Command::Disconnect { peer, node } => {
                if self.peers.get(&peer).is_some_and(|p| p.node == node) {
                    self.drop_peer(&peer);
                }
            }
            Command::Moved { peer, node, resume } => self.moved(&peer, node, resume),
            Command::RingExpired { call } => self.ring_expired(&call),
            Command::NodeGone { node } => self.node_gone(&node),
            Command::Repair { node, state } => self.repair(&node, *state),
            // The bus handles these itself.
            Command::Hello { .. } | Command::Snapshot { .. } => {}
        }
    }

    fn connect(&mut self, id: PeerId, node: NodeId, user: Option<SignedIn>, resume: String) {
        if self.peers.contains_key(&id) {
            return;
        }
        if let Some(user) = &user
            && let Some(previous) = self.names.insert(name_key(&user.username), id.clone())
            && let Some(p) = self.peers.get_mut(&previous)
        {
            p.registered = None;
        }
        self.peers.insert(
            id,
            Peer {
                node,
                resume,
                name: user
                    .as_ref()
                    .map_or_else(|| "Guest".to_owned(), |u| u.username.clone()),
                registered: user.as_ref().map(|u| u.username.clone()),
                user_id: user.map(|u| u.user_id),
                room: None,
                joined: 0,
                call: None,
                media: MediaState::default(),
                candidates_sent: HashMap::new(),
            },
        );
    }

    fn client(
        &mut self,
        id: &PeerId,
        msg: ClientMsg,
        call: Option<CallId>,
        at: u64,
        settings: &HubSettings,
    ) {
        if !self.peers.contains_key(id) {
            return;
        }
        let result = match msg {
            ClientMsg::Register { name } => self.register(id, &name, settings),
            ClientMsg::Join {
                room,
                name,
                password,
            } => self.join(id, &room, name, password, settings),
            ClientMsg::Lock { locked } => self.lock_room(id, locked),
            ClientMsg::Remove { peer } => self.remove_from_room(id, &peer),
            ClientMsg::Leave => self.leave(id),
            ClientMsg::Signal {
                to,
                description,
                candidate,
            } => self.relay_signal(id, &to, description, candidate, settings),
            ClientMsg::Call { user } => self.call(id, &user, call, at, settings).map(|call| {
                if let Some(call) = call
                    && self.made_here
                {
                    self.after.push(AfterApply::StartRingTimer(call));
                }
            }),
            ClientMsg::Accept { call } => self.accept(id, &call, at),
            ClientMsg::Decline { call } => self.refuse(id, &call, Refusal::Decline),
            ClientMsg::Cancel { call } => self.refuse(id, &call, Refusal::Cancel),
            ClientMsg::Hangup => self.hangup(id),
            ClientMsg::Chat { text } => self.chat(id, text, at),
            ClientMsg::Media(media) => self.media(id, media),
            // Answered by `Hub::handle` on the connection's node; never a command.
            ClientMsg::Ping => Ok(()),
        };
        if let Err((code, message)) = result {
            self.send(id, &ServerMsg::error(code, message));
        }
    }

    /// The session continues on `node`. If it was held here, its old connection is told
    /// to close.
    fn moved(&mut self, id: &PeerId, node: NodeId, resume: String) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        if peer.node == self.me
            && node != self.me
            && let Some(outbox) = self.local.remove(id)
        {
            outbox.kick(Kick::Moved);
        }
        peer.node = node;
        peer.resume = resume;
    }

    fn node_gone(&mut self, node: &NodeId) {
        if *node == self.me {
            // Declared dead while alive (cut off too long): say again what we hold.
            let state = self.snapshot(Some(&self.me.clone()));
            self.after.push(AfterApply::Publish(Command::Repair {
                node: self.me.clone(),
                state: Box::new(state),
            }));
            return;
        }
        let gone: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| &p.node == node)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.drop_peer(id);
        }
    }

    /// The session is over: leave its room, end its call, free its name.
    fn drop_peer(&mut self, id: &PeerId) {
        self.leave_room(id);
        self.end_call(id, EndReason::Disconnected);
        self.local.remove(id);
        if let Some(peer) = self.peers.remove(id)
            && let Some(name) = peer.registered
        {
            let key = name_key(&name);
            if self.names.get(&key) == Some(id) {
                self.names.remove(&key);
            }
        }
    }

    fn record(&self, id: &PeerId, p: &Peer) -> PeerRecord {
        PeerRecord {
            id: id.clone(),
            node: p.node.clone(),
            resume: p.resume.clone(),
            name: p.name.clone(),
            registered: p.registered.clone(),
            user_id: p.user_id,
            room: p.room.clone(),
            joined: p.joined,
            media: p.media,
        }
    }

    /// Sessions (all, or those of one node), with their rooms and calls.
    fn snapshot(&self, node: Option<&NodeId>) -> ReplicaSnapshot {
        let peers: Vec<PeerRecord> = self
            .peers
            .iter()
            .filter(|(_, p)| node.is_none_or(|n| &p.node == n))
            .map(|(id, p)| self.record(id, p))
            .collect();
        let selected: HashSet<&PeerId> = peers.iter().map(|p| &p.id).collect();
        let room_names: HashSet<&String> = peers.iter().filter_map(|p| p.room.as_ref()).collect();
        let rooms = room_names
            .into_iter()
            .filter_map(|name| {
                self.rooms.get(name).map(|r| RoomRecord {
                    name: name.clone(),
                    password: r.password.clone(),
                    locked: r.locked,
                })
            })
            .collect();
        let calls = self
            .calls
            .iter()
            .filter(|(_, c)| selected.contains(&c.caller) || selected.contains(&c.callee))
            .map(|(id, c)| CallRecord {
                id: id.clone(),
                caller: c.caller.clone(),
                callee: c.callee.clone(),
                active: c.active,
                started: c.started,
            })
            .collect();
        ReplicaSnapshot {
            peers,
            rooms,
            calls,
        }
    }

    /// Install a peer from a record, without telling anyone.
    fn install(&mut self, rec: PeerRecord) {
        if let Some(name) = &rec.registered {
            self.names
                .entry(name_key(name))
                .or_insert_with(|| rec.id.clone());
        }
        let room = rec.room.clone();
        self.peers.insert(
            rec.id.clone(),
            Peer {
                node: rec.node,
                resume: rec.resume,
                name: rec.name,
                registered: rec.registered,
                user_id: rec.user_id,
                room: rec.room,
                joined: rec.joined,
                call: None,
                media: rec.media,
                candidates_sent: HashMap::new(),
            },
        );
        if let Some(room) = room {
            self.add_member(&room, &rec.id);
        }
    }

    /// Put `id` into `room`'s member list in join order.
    fn add_member(&mut self, room: &str, id: &PeerId) {
        let joined = self.peers.get(id).map_or(0, |p| p.joined);
        let peers = &self.peers;
        let entry = self.rooms.entry(room.to_owned()).or_default();
        if entry.members.contains(id) {
            return;
        }
        let at = entry
            .members
            .iter()
            .position(|m| peers.get(m).is_some_and(|p| p.joined > joined))
            .unwrap_or(entry.members.len());
        entry.members.insert(at, id.clone());
    }

    fn install_calls(&mut self, calls: Vec<CallRecord>) {
        for c in calls {
            let both = [&c.caller, &c.callee]
                .iter()
                .all(|p| self.peers.get(*p).is_some_and(|p| p.call.is_none()));
            if !both || self.calls.contains_key(&c.id) {
                continue;
            }
            for party in [&c.caller, &c.callee] {
                if let Some(p) = self.peers.get_mut(party) {
                    p.call = Some(c.id.clone());
                }
            }
            self.calls.insert(
                c.id,
                Call {
                    caller: c.caller,
                    callee: c.callee,
                    active: c.active,
                    started: c.started,
                },
            );
        }
    }

    fn room_metadata(&mut self, rooms: &[RoomRecord]) {
        for r in rooms {
            let room = self.rooms.entry(r.name.clone()).or_default();
            room.password = r.password.clone();
            room.locked = r.locked;
        }
    }

    /// Who each local session sees in its room, for announcing differences.
    fn local_views(&self) -> HashMap<PeerId, (String, Vec<PeerId>)> {
        self.local
            .keys()
            .filter_map(|id| {
                let room = self.peers.get(id)?.room.clone()?;
                let members = self.rooms.get(&room)?.members.clone();
                Some((id.clone(), (room, members)))
            })
            .collect()
    }

    /// Tell local sessions who came and went in their rooms since `before`.
    fn announce_changes(&self, before: HashMap<PeerId, (String, Vec<PeerId>)>) {
        for (id, (room, members)) in self.local_views() {
            let old = before
                .get(&id)
                .filter(|(r, _)| *r == room)
                .map(|(_, m)| m.clone())
                .unwrap_or_default();
            for gone in old.iter().filter(|m| !members.contains(m) && *m != &id) {
                self.send(&id, &ServerMsg::PeerLeft { peer: gone.clone() });
            }
            let my_joined = self.peers.get(&id).map_or(0, |p| p.joined);
            for new in members.iter().filter(|m| !old.contains(m) && *m != &id) {
                let polite = self.peers.get(new).is_some_and(|p| my_joined < p.joined);
                if let Some(peer) = self.info(new, polite) {
                    self.send(&id, &ServerMsg::PeerJoined { peer });
                }
            }
        }
    }

    /// `node` says what its sessions are after being cut off: adopt it.
    fn repair(&mut self, node: &NodeId, state: ReplicaSnapshot) {
        if *node == self.me {
            return; // our own replica is where it came from
        }
        let before = self.local_views();
        let listed: HashSet<PeerId> = state.peers.iter().map(|p| p.id.clone()).collect();
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| &p.node == node || listed.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        // Calls touching that node end unless the repair lists them again.
        let listed_calls: HashSet<&CallId> = state.calls.iter().map(|c| &c.id).collect();
        let ended: Vec<PeerId> = self
            .calls
            .iter()
            .filter(|(id, c)| {
                !listed_calls.contains(id)
                    && (stale.contains(&c.caller) || stale.contains(&c.callee))
            })
            .map(|(_, c)| c.caller.clone())
            .collect();
        for caller in &ended {
            self.end_call(caller, EndReason::Disconnected);
        }
        // Remove the node's sessions quietly, then install what it says; the difference is
        // announced below.
        for id in &stale {
            self.remove_quietly(id);
        }
        self.room_metadata(&state.rooms);
        for rec in state.peers {
            self.install(rec);
        }
        // Calls whose parties kept their call: re-link them.
        let kept: Vec<(CallId, PeerId, PeerId)> = self
            .calls
            .iter()
            .map(|(id, c)| (id.clone(), c.caller.clone(), c.callee.clone()))
            .collect();
        for (cid, caller, callee) in kept {
            if !self.peers.contains_key(&caller) || !self.peers.contains_key(&callee) {
                self.calls.remove(&cid);
                continue;
            }
            for party in [&caller, &callee] {
                if let Some(p) = self.peers.get_mut(party) {
                    p.call = Some(cid.clone());
                }
            }
        }
        self.install_calls(state.calls);
        self.rooms.retain(|_, r| !r.members.is_empty());
        self.announce_changes(before);
    }

    /// Take a session out of the maps without telling anyone (its call, if any, stays).
    fn remove_quietly(&mut self, id: &PeerId) {
        if let Some(peer) = self.peers.remove(id) {
            if let Some(room) = &peer.room
                && let Some(r) = self.rooms.get_mut(room)
            {
                r.members.retain(|m| m != id);
            }
            if let Some(name) = peer.registered {
                let key = name_key(&name);
                if self.names.get(&key) == Some(id) {
                    self.names.remove(&key);
                }
            }
        }
    }

    /// Replace the replica by a snapshot from another node, keeping this node's sessions.
    fn load(&mut self, snapshot: ReplicaSnapshot) {
        let before = self.local_views();
        let own = self.snapshot(Some(&self.me.clone()));
        self.peers.clear();
        self.rooms.clear();
        self.names.clear();
        self.calls.clear();
        let me = self.me.clone();
        self.room_metadata(&snapshot.rooms);
        for rec in snapshot.peers.into_iter().filter(|p| p.node != me) {
            self.install(rec);
        }
        self.room_metadata(&own.rooms);
        for rec in own.peers {
            self.install(rec);
        }
        self.install_calls(own.calls);
        self.install_calls(snapshot.calls);
        self.rooms.retain(|_, r| !r.members.is_empty());
        self.announce_changes(before);
    }
}
