//! The bus for several nodes: one Redis stream is the shared log.
//!
//! Keys, all under the configured prefix `P`:
//! - `P:log` — the stream of [`Entry`]s (trimmed to about [`LOG_LENGTH`] entries);
//! - `P:node:<id>` — a node's liveness key, renewed every second with a five-second TTL.
//!
//! A node (re)connecting appends `Hello`; a node already in sync answers with a `Snapshot` of
//! its replica as of that point in the log, and the newcomer applies it and then everything
//! after its `Hello`. A node that was cut off also appends a `Repair` saying what its own
//! sessions are, since the others could not hear about them meanwhile. While Redis is
//! unreachable, every command is applied on this node only: people connected to the same
//! node go on talking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use super::{Bus, BusHealth, Command, Entry, NodeId, Published, new_node_id, unix_millis};
use crate::signaling::Hub;

/// Entries kept in the stream; a node further behind than this after an outage resyncs.
pub const LOG_LENGTH: usize = 100_000;
/// How long a node's liveness key lives without renewal.
const NODE_TTL: Duration = Duration::from_secs(5);
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long after (re)connecting before silent nodes are declared gone: everyone needs a
/// heartbeat to renew keys a restarted Redis forgot.
const GONE_GRACE: Duration = Duration::from_secs(6);
/// How long a joining node waits for a snapshot.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(3);
/// Entries written per round trip.
const WRITE_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid redis_url: {0}")]
    Url(#[source] redis::RedisError),
}

const CONNECTED: u8 = 0;
const SYNCING: u8 = 1;
const UNREACHABLE: u8 = 2;

pub struct RedisBus {
    node: NodeId,
    prefix: String,
    client: redis::Client,
    health: AtomicU8,
    tx: mpsc::UnboundedSender<Entry>,
    rx: Mutex<mpsc::UnboundedReceiver<Entry>>,
    /// Entries handed to the writer and not yet written.
    pending: AtomicUsize,
    hub: OnceLock<Weak<Hub>>,
}

impl RedisBus {
    /// A bus on `url` (`redis://host:port/db`), keys under `prefix`. Nothing connects yet.
    pub fn new(url: &str, prefix: &str) -> Result<Arc<RedisBus>, BusError> {
        let client = redis::Client::open(url).map_err(BusError::Url)?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Arc::new(RedisBus {
            node: new_node_id(),
            prefix: prefix.to_owned(),
            client,
            health: AtomicU8::new(UNREACHABLE),
            tx,
            rx: Mutex::new(rx),
            pending: AtomicUsize::new(0),
            hub: OnceLock::new(),
        }))
    }

    fn log_key(&self) -> String {
        format!("{}:log", self.prefix)
    }

    fn node_key(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    fn set_health(&self, h: u8) {
        self.health.store(h, Ordering::Relaxed);
        metrics::gauge!("confer_bus_connected").set(if h == CONNECTED { 1.0 } else { 0.0 });
    }

    /// Connect and catch up (waiting at most a few seconds), then keep the link up in the
    /// background, reconnecting whenever it breaks.
    pub async fn start(self: &Arc<Self>, hub: &Arc<Hub>) {
        let _ = self.hub.set(Arc::downgrade(hub));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let bus = self.clone();
        tokio::spawn(async move { bus.run(ready_tx).await });
        if tokio::time::timeout(SNAPSHOT_WAIT + Duration::from_secs(2), ready_rx)
            .await
            .is_err()
        {
            tracing::warn!("Redis is not reachable yet; serving this node's own sessions");
        }
    }

    fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.get().and_then(Weak::upgrade)
    }

    async fn run(self: Arc<Self>, ready: tokio::sync::oneshot::Sender<()>) {
        let mut ready = Some(ready);
        let mut first = true;
        let mut backoff = Duration::from_millis(200);
        loop {
            let result = self.session(first, &mut ready).await;
            let Some(_) = self.hub() else { return };
            self.set_health(UNREACHABLE);
            match result {
                Ok(()) => return,
                Err(e) => {
                    if backoff <= Duration::from_millis(200) {
                        tracing::warn!(error = %e, "lost the Redis bus; local sessions go on, reconnecting");
                    }
                }
            }
            self.apply_unwritten().await;
            first = false;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn connect(&self, timeout: Duration) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// One connected stretch: sync, then write, read and beat until something fails.
    async fn session(
        &self,
        first: bool,
        ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> redis::RedisResult<()> {
        let mut conn = self.connect(Duration::from_secs(2)).await?;
        let mut reader = self.connect(Duration::from_secs(5)).await?;
        self.set_health(SYNCING);
        self.beat(&mut conn).await?;
        let others = self.alive_nodes(&mut conn).await?;
        let mut last: String = if others.is_empty() {
            let newest: redis::Value = redis::cmd("XREVRANGE")
                .arg(self.log_key())
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut conn)
                .await?;
            newest_id(&newest).unwrap_or_else(|| "0-0".to_owned())
        } else {
            let hello = Entry::new(
                &self.node,
                Command::Hello {
                    node: self.node.clone(),
                },
            );
            self.xadd(&mut conn, &[hello])
                .await?
                .pop()
                .unwrap_or_default()
        };
        let Some(hub) = self.hub() else {
            return Ok(());
        };
        if !others.is_empty() {
            last = self.catch_up(&mut reader, &hub, last).await?;
        }
        if !first || !hub.local_peers().is_empty() {
            // The others could not hear about this node's sessions meanwhile.
            self.publish(Entry::new(
                &self.node,
                Command::Repair {
                    node: self.node.clone(),
                    state: Box::new(hub.own_sessions()),
                },
            ));
        }
        drop(hub);
        self.set_health(CONNECTED);
        tracing::info!(node = %self.node, nodes = others.len() + 1, "connected to the Redis bus");
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        let since = Instant::now();
        tokio::select! {
            r = self.write(conn.clone()) => r,
            r = self.read(reader, last) => r,
            r = self.watch(conn, since) => r,
        }
    }

    /// After a `Hello` at `hello`: load the first snapshot answering it, then apply what came
    /// after. Returns the last position read.
    async fn catch_up(
        &self,
        reader: &mut MultiplexedConnection,
        hub: &Arc<Hub>,
        hello: String,
    ) -> redis::RedisResult<String> {
        let deadline = Instant::now() + SNAPSHOT_WAIT;
        let mut last = hello.clone();
        let mut later = Vec::new();
        let mut loaded = false;
        while !loaded && Instant::now() < deadline {
            for (id, entry) in self.xread(reader, &last, 500).await? {
                last = id.clone();
                match entry.command {
                    Command::Snapshot {
                        hello: ref h,
                        state,
                    } if *h == hello && !loaded => {
                        hub.load_snapshot(*state);
                        loaded = true;
                    }
                    _ => later.push((id, entry)),
                }
            }
        }
        if !loaded {
            tracing::warn!("no node answered with a snapshot; starting from this node's view");
        }
        for (id, entry) in later {
            self.deliver(hub, &id, entry);
        }
        Ok(last)
    }

    fn deliver(&self, hub: &Arc<Hub>, id: &str, entry: Entry) {
        metrics::counter!("confer_bus_received_total", "kind" => entry.kind()).increment(1);
        let lag = unix_millis().saturating_sub(entry.made) as f64 / 1000.0;
        metrics::histogram!("confer_bus_lag_seconds").record(lag);
        if let Command::Hello { node } = &entry.command {
            if *node != self.node && self.health.load(Ordering::Relaxed) == CONNECTED {
                // The replica as of this point in the log, for the newcomer.
                self.publish(Entry::new(
                    &self.node,
                    Command::Snapshot {
                        hello: id.to_owned(),
                        state: Box::new(hub.snapshot()),
                    },
                ));
            }
            return;
        }
        hub.apply(entry, position(id));
    }

    async fn read(
        &self,
        mut reader: MultiplexedConnection,
        mut last: String,
    ) -> redis::RedisResult<()> {
        loop {
            let entries = self.xread(&mut reader, &last, 1000).await?;
            let Some(hub) = self.hub() else {
                return Ok(());
            };
            for (id, entry) in entries {
                last = id.clone();
                self.deliver(&hub, &id, entry);
            }
        }
    }

    async fn xread(
        &self,
        reader: &mut MultiplexedConnection,
        after: &str,
        block_ms: u64,
    ) -> redis::RedisResult<Vec<(String, Entry)>> {
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(512)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(self.log_key())
            .arg(after)
            .query_async(reader)
            .await?;
        let mut out = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for item in key.ids {
                let Some(redis::Value::BulkString(bytes)) = item.map.get("e") else {
                    continue;
                };
                match serde_json::from_slice::<Entry>(bytes) {
                    Ok(entry) => out.push((item.id, entry)),
                    Err(e) => {
                        tracing::warn!(error = %e, id = %item.id, "unreadable bus entry skipped")
                    }
                }
            }
        }
        Ok(out)
    }

    async fn xadd(
        &self,
        conn: &mut MultiplexedConnection,
        entries: &[Entry],
    ) -> redis::RedisResult<Vec<String>> {
        let mut pipe = redis::pipe();
        for entry in entries {
            let json = serde_json::to_string(entry).unwrap_or_default();
            pipe.cmd("XADD")
                .arg(self.log_key())
                .arg("MAXLEN")
                .arg("~")
                .arg(LOG_LENGTH)
                .arg("*")
                .arg("e")
                .arg(json);
        }
        let ids: Vec<String> = pipe.query_async(conn).await?;
        for entry in entries {
            metrics::counter!("confer_bus_published_total", "kind" => entry.kind()).increment(1);
        }
        Ok(ids)
    }

    async fn write(&self, mut conn: MultiplexedConnection) -> redis::RedisResult<()> {
        let mut rx = self.rx.lock().await;
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        loop {
            if rx.recv_many(&mut batch, WRITE_BATCH).await == 0 {
                return Ok(());
            }
            let n = batch.len();
            if let Err(e) = self.xadd(&mut conn, &batch).await {
                // Not written (or not known to be): apply here so local sessions go on.
                self.set_health(UNREACHABLE);
                if let Some(hub) = self.hub() {
                    for entry in batch.drain(..) {
                        hub.apply_here(entry);
                    }
                }
                self.pending.fetch_sub(n, Ordering::Relaxed);
                return Err(e);
            }
            batch.clear();
            self.pending.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Entries queued when the link broke are applied here, in order.
    async fn apply_unwritten(&self) {
        let mut rx = self.rx.lock().await;
        let hub = self.hub();
        while let Ok(entry) = rx.try_recv() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            if let Some(hub) = &hub {
                hub.apply_here(entry);
            }
        }
    }

    async fn beat(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let _: () = redis::cmd("SET")
            .arg(self.node_key(&self.node))
            .arg(unix_millis())
            .arg("PX")
            .arg(NODE_TTL.as_millis() as u64)
            .query_async(conn)
            .await?;
        Ok(())
    }

    async fn alive_nodes(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<Vec<NodeId>> {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:node:*", self.prefix))
            .query_async(conn)
            .await?;
        let mine = self.node_key(&self.node);
        let at = self.node_key("").len();
        Ok(keys
            .into_iter()
            .filter(|k| *k != mine)
            .filter_map(|k| k.get(at..).map(str::to_owned))
            .collect())
    }

    /// Renew this node's key; declare nodes whose key expired gone.
    async fn watch(
        &self,
        mut conn: MultiplexedConnection,
        since: Instant,
    ) -> redis::RedisResult<()> {
        let mut declared: HashMap<NodeId, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            self.beat(&mut conn).await?;
            let Some(hub) = self.hub() else {
                return Ok(());
            };
            if since.elapsed() < GONE_GRACE {
                continue;
            }
            for node in hub.other_nodes() {
                let alive: bool = redis::cmd("EXISTS")
                    .arg(self.node_key(&node))
                    .query_async(&mut conn)
                    .await?;
                let recently = declared.get(&node).is_some_and(|t| t.elapsed() < NODE_TTL);
                if !alive && !recently {
                    tracing::info!(%node, "node stopped answering; its sessions are over");
                    declared.insert(node.clone(), Instant::now());
                    hub.submit(Command::NodeGone { node });
                }
            }
        }
    }

    /// Wait (at most `limit`) until everything published has been written.
    pub async fn flush(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.pending.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Remove this node's liveness key: it is leaving on purpose.
    pub async fn leave(&self) {
        if let Ok(mut conn) = self.connect(Duration::from_secs(1)).await {
            let _: redis::RedisResult<()> = redis::cmd("DEL")
                .arg(self.node_key(&self.node))
                .query_async(&mut conn)
                .await;
        }
    }
}

impl Bus for RedisBus {
    fn node(&self) -> &NodeId {
        &self.node
    }

    fn publish(&self, entry: Entry) -> Published {
        if self.health.load(Ordering::Relaxed) == UNREACHABLE {
            return Published::ApplyHere(entry);
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        match self.tx.send(entry) {
            Ok(()) => Published::Queued,
            Err(e) => {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                Published::ApplyHere(e.0)
            }
        }
    }

    fn health(&self) -> BusHealth {
        match self.health.load(Ordering::Relaxed) {
            CONNECTED => BusHealth::Connected,
            SYNCING => BusHealth::Syncing,
            _ => BusHealth::Unreachable,
        }
    }
}

/// The id of the newest entry in an `XREVRANGE … COUNT 1` reply.
fn newest_id(reply: &redis::Value) -> Option<String> {
    let redis::Value::Array(items) = reply else {
        return None;
    };
    let redis::Value::Array(first) = items.first()? else {
        return None;
    };
    match first.first()? {
        redis::Value::BulkString(id) => String::from_utf8(id.clone()).ok(),
        redis::Value::SimpleString(id) => Some(id.clone()),
        _ => None,
    }
}

/// A stream id `ms-seq` as one number that sorts the same way.
fn position(id: &str) -> u64 {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    let ms: u64 = ms.parse().unwrap_or(0);
    let seq: u64 = seq.parse().unwrap_or(0);
    (ms << 20) | (seq & 0xF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_sort_like_stream_ids() {
        assert!(position("1700000000000-0") < position("1700000000000-1"));
        assert!(position("1700000000000-999") < position("1700000000001-0"));
        assert_eq!(position("garbage"), 0);
    }
}
