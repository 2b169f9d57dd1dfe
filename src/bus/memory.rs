//! The bus of a single node: every command is applied on the spot.

use super::{Bus, BusHealth, Entry, NodeId, Published, new_node_id};

pub struct MemoryBus {
    node: NodeId,
}

impl MemoryBus {
    pub fn new() -> MemoryBus {
        MemoryBus {
            node: new_node_id(),
        }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus for MemoryBus {
    fn node(&self) -> &NodeId {
        &self.node
    }

    fn publish(&self, entry: Entry) -> Published {
        Published::ApplyHere(entry)
    }

    fn health(&self) -> BusHealth {
        BusHealth::Local
    }
}
