//! The signaling bus: how room and call state changes reach every node.
//!
//! Every state change is a [`Command`]. Nodes do not share memory; each keeps a full replica
//! of the rooms, calls and names (the [`Hub`](crate::signaling::Hub)) and applies the same
//! commands in the same order, so every replica agrees without distributed locks. Each node
//! delivers only the frames addressed to its own connections.
//!
//! One node uses the [`MemoryBus`]: a command is applied the moment it is made. Several nodes
//! use the [`RedisBus`]: commands are appended to one Redis stream, which gives them their
//! total order, and every node reads the stream back. Node liveness is a Redis key with a TTL
//! refreshed every second; a node whose key expired is announced gone by the others.

pub mod memory;
pub mod redis;

use serde::{Deserialize, Serialize};

use crate::signaling::hub::{ReplicaSnapshot, SignedIn};
use crate::signaling::protocol::{CallId, ClientMsg, PeerId};

pub use memory::MemoryBus;
pub use redis::RedisBus;

/// Identifies one running node.
pub type NodeId = String;

/// A state change, applied in log order on every node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// A connection opened on `node`. `resume` is the digest of its resume token.
    Connect {
        peer: PeerId,
        node: NodeId,
        user: Option<SignedIn>,
        resume: String,
    },
    /// A client message. Anything random or time-dependent its effect needs is decided by
    /// the node that received it, so that every replica computes the same result.
    Client {
        peer: PeerId,
        msg: ClientMsg,
        /// The id a `call` gets.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<CallId>,
        /// Unix milliseconds, for messages that need the time (`call`, `accept`, `chat`);
        /// 0 for the others.
        at: u64,
    },
    /// A session ended on `node` (ignored when it has moved to another node meanwhile).
    Disconnect { peer: PeerId, node: NodeId },
    /// A session continues on `node`, with a new resume token.
    Moved {
        peer: PeerId,
        node: NodeId,
        resume: String,
    },
    /// Nobody answered a ringing call in time.
    RingExpired { call: CallId },
    /// `node` stopped renewing its liveness key: its sessions are over.
    NodeGone { node: NodeId },
    /// `node` (re)joined the bus and wants the current state.
    Hello { node: NodeId },
    /// The whole replica as of the `Hello` with log position `hello`.
    Snapshot {
        hello: String,
        state: Box<ReplicaSnapshot>,
    },
    /// After being cut off, `node` states what its own sessions are; every replica adopts it.
    Repair {
        node: NodeId,
        state: Box<ReplicaSnapshot>,
    },
}

/// A command and the node that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub origin: NodeId,
    /// Unix milliseconds when it was made, for the bus lag metric.
    pub made: u64,
    pub command: Command,
}

impl Entry {
    pub fn new(origin: &NodeId, command: Command) -> Entry {
        Entry {
            origin: origin.clone(),
            made: unix_millis(),
            command,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.command {
            Command::Connect { .. } => "connect",
            Command::Client { .. } => "client",
            Command::Disconnect { .. } => "disconnect",
            Command::Moved { .. } => "moved",
            Command::RingExpired { .. } => "ring_expired",
            Command::NodeGone { .. } => "node_gone",
            Command::Hello { .. } => "hello",
            Command::Snapshot { .. } => "snapshot",
            Command::Repair { .. } => "repair",
        }
    }
}

/// What became of a published entry.
pub enum Published {
    /// It is on its way through the shared log and will be applied when read back.
    Queued,
    /// This node is on its own (one node, or the shared log unreachable): apply it here now.
    ApplyHere(Entry),
}

/// Whether the bus can carry commands between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusHealth {
    /// One node; nothing to reach.
    Local,
    /// Connected to the shared log.
    Connected,
    /// Catching up with the others after (re)connecting.
    Syncing,
    /// The shared log is unreachable; local sessions keep working among themselves.
    Unreachable,
}

/// Carries commands to every node in one order.
pub trait Bus: Send + Sync {
    /// This node's id.
    fn node(&self) -> &NodeId;
    /// Offer an entry to the shared log.
    fn publish(&self, entry: Entry) -> Published;
    fn health(&self) -> BusHealth;
}

/// A fresh node id: random, so that a restarted node is a new node.
pub fn new_node_id() -> NodeId {
    crate::signaling::hub::random_name(10)
}

pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
