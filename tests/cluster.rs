//! Several `confer` processes sharing Redis (signaling) and PostgreSQL (accounts).
//!
//! Redis comes from `CONFER_TEST_REDIS` (default redis://127.0.0.1:6379; the test command
//! starts one when none runs), each test under its own key prefix, deleted afterwards. The
//! Redis-restart test runs its own `redis-server` on a free port so it can stop it.
//! PostgreSQL comes from `CONFER_TEST_POSTGRES`, one database per test, dropped afterwards.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Client, Next};

fn redis_url() -> String {
    std::env::var("CONFER_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn postgres_admin() -> String {
    std::env::var("CONFER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn unique(tag: &str) -> String {
    use rand::Rng;
    format!(
        "confer_test_{tag}_{}_{}",
        std::process::id(),
        rand::rng().random_range(0..1_000_000u32)
    )
}

/// A PostgreSQL database for one test.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn create(tag: &str) -> Database {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let name = unique(tag);
        let admin = postgres_admin();
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .expect("PostgreSQL is reachable (the test command starts it)");
        let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"));
        sqlx::query(create).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Database {
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_now(self) {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&postgres_admin())
            .await
            .unwrap();
        let sql = sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

/// Delete every key under `prefix`.
async fn clean_redis(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// One `confer` process.
struct Node {
    child: Child,
    addr: String,
    data_dir: PathBuf,
}

impl Node {
    fn start(redis: &str, prefix: &str, database: &str) -> Node {
        let data_dir = std::env::temp_dir().join(unique("node"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_confer"))
            .args(["--listen", "127.0.0.1:0", "--turn-listen", "off"])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--redis-url", redis, "--redis-prefix", prefix])
            .args(["--database-url", database])
            .args(["--ring-timeout", "3", "--resume-grace", "30"])
            .args(["--drain-timeout", "5"])
            .env("CONFER_LOG", "confer=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("confer starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("confer prints its address")
                .expect("readable stdout");
            if let Some(rest) = line.split("(listening on ").nth(1) {
                break rest.trim_end_matches(')').to_owned();
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            addr,
            data_dir,
        }
    }

    fn ws(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn client(&self) -> Client {
        Client::connect(&self.ws()).await.0
    }

    async fn joined(&self, room: &str, name: &str) -> (Client, Value) {
        let mut c = self.client().await;
        c.send(json!({"type":"join","room":room,"name":name})).await;
        let joined = c.expect("joined").await;
        (c, joined)
    }

    async fn registered(&self, name: &str) -> Client {
        let mut c = self.client().await;
        c.send(json!({"type":"register","name":name})).await;
        c.expect("registered").await;
        c
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Wait for the process to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    async fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        http_post(&self.addr, path, &body).await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Account pages wait up to 5 s for a database that does not answer: leave room for that.
const HTTP_WAIT: Duration = Duration::from_secs(10);

async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let addr = addr.parse().expect("node address");
    match common::try_request(addr, "GET", path, None, None, &[], HTTP_WAIT).await {
        Some(r) => (r.status, r.body),
        None => (0, String::new()), // nobody listens (a stopping node)
    }
}

async fn http_post(addr: &str, path: &str, body: &Value) -> (u16, Value) {
    let origin = format!("http://{addr}");
    let addr = addr.parse().expect("node address");
    let body = body.to_string();
    let extra = [("Origin", origin.as_str())];
    match common::try_request(addr, "POST", path, Some(&body), None, &extra, HTTP_WAIT).await {
        Some(r) => (r.status, r.json()),
        None => (0, Value::Null),
    }
}

/// The next frame of `kind`, skipping others, within `limit`.
async fn wait_for(client: &mut Client, kind: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_within(left).await {
            Next::Frame(v) if v["type"] == kind => return v,
            Next::Frame(_) => continue,
            other => panic!("expected {kind} within {limit:?}, got {other:?}"),
        }
    }
}

/// Nothing of `kind` arrives within `limit` (other frames are skipped).
async fn never(client: &mut Client, kind: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match client.next_within(left).await {
            Next::Frame(v) if v["type"] == kind => panic!("unexpected {v}"),
            Next::Frame(_) | Next::Nothing => continue,
            Next::Closed(c) => panic!("connection closed: {c:?}"),
        }
    }
}

fn offer() -> Value {
    json!({"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"})
}

/// A signal from `from` reaches `to` across nodes, stamped with the sender.
async fn signal_reaches(from: &mut Client, to: &mut Client) {
    from.send(json!({"type":"signal","to":to.id,"description":offer()}))
        .await;
    let got = wait_for(to, "signal", Duration::from_secs(5)).await;
    assert_eq!(got["from"], from.id.as_str());
    assert_eq!(got["description"]["type"], "offer");
}

/// Three nodes over one Redis and one PostgreSQL database.
struct Cluster {
    nodes: Vec<Node>,
    prefix: String,
    redis: String,
    db: Option<Database>,
}

impl Cluster {
    async fn start(tag: &str, redis: &str) -> Cluster {
        let prefix = unique(tag);
        let db = Database::create(tag).await;
        let nodes = (0..3)
            .map(|_| Node::start(redis, &prefix, &db.url))
            .collect();
        Cluster {
            nodes,
            prefix,
            redis: redis.to_owned(),
            db: Some(db),
        }
    }

    async fn stop(mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        clean_redis(&self.redis, &self.prefix).await;
        if let Some(db) = self.db.take() {
            db.drop_now().await;
        }
    }
}

impl Drop for Cluster {
    /// A test that failed before `stop` still leaves nothing behind in Redis or PostgreSQL.
    fn drop(&mut self) {
        let Some(db) = self.db.take() else {
            return; // stopped properly
        };
        for node in &mut self.nodes {
            node.kill();
        }
        let (redis, prefix) = (self.redis.clone(), self.prefix.clone());
        // Inside a panicking test's runtime: clean up on a runtime of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    clean_redis(&redis, &prefix).await;
                    db.drop_now().await;
                });
            }
        })
        .join();
    }
}

#[tokio::test]
async fn rooms_calls_and_accounts_work_across_nodes() {
    let cluster = Cluster::start("xnode", &redis_url()).await;
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];

    // A room whose members sit on three nodes.
    let (mut ann, _) = a.joined("standup", "Ann").await;
    let (mut ben, joined) = b.joined("standup", "Ben").await;
    assert_eq!(joined["peers"][0]["name"], "Ann");
    assert_eq!(joined["host"], ann.id.as_str());
    let seen = wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    assert_eq!(seen["peer"]["id"], ben.id.as_str());
    assert_eq!(seen["peer"]["polite"], true);
    signal_reaches(&mut ben, &mut ann).await;
    signal_reaches(&mut ann, &mut ben).await;
    let (mut cat, joined) = c.joined("standup", "Cat").await;
    assert_eq!(joined["peers"].as_array().unwrap().len(), 2);
    wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    wait_for(&mut ben, "peer_joined", Duration::from_secs(5)).await;

    // Chat and media state reach everyone.
    cat.send(json!({"type":"chat","text":"hello from C"})).await;
    for who in [&mut ann, &mut ben] {
        let chat = wait_for(who, "chat", Duration::from_secs(5)).await;
        assert_eq!(chat["text"], "hello from C");
        assert_eq!(chat["name"], "Cat");
    }
    ann.send(json!({"type":"media","audio":false,"video":true,"screen":false}))
        .await;
    let media = wait_for(&mut cat, "media", Duration::from_secs(5)).await;
    assert_eq!(media["from"], ann.id.as_str());
    assert_eq!(media["audio"], false);

    // Someone in another room is out of reach.
    let (mut eve, _) = c.joined("other", "Eve").await;
    eve.send(json!({"type":"signal","to":ann.id,"description":offer()}))
        .await;
    wait_for(&mut eve, "error", Duration::from_secs(5)).await;

    // Leaving is seen everywhere; the host role passes on.
    ann.send(json!({"type":"leave"})).await;
    wait_for(&mut ann, "left", Duration::from_secs(5)).await;
    let left = wait_for(&mut cat, "peer_left", Duration::from_secs(5)).await;
    assert_eq!(left["peer"], ann.id.as_str());
    let state = wait_for(&mut ben, "room_state", Duration::from_secs(5)).await;
    assert_eq!(state["host"], ben.id.as_str());

    // Calls by name across nodes: decline, answer, busy, missed.
    let mut dan = a.registered("Dan").await;
    let mut fay = b.registered("Fay").await;
    dan.send(json!({"type":"call","user":"fay"})).await;
    wait_for(&mut dan, "calling", Duration::from_secs(5)).await;
    let ring = wait_for(&mut fay, "incoming_call", Duration::from_secs(5)).await;
    fay.send(json!({"type":"decline","call":ring["call"]}))
        .await;
    wait_for(&mut dan, "call_declined", Duration::from_secs(5)).await;

    dan.send(json!({"type":"call","user":"Fay"})).await;
    let ring = wait_for(&mut fay, "incoming_call", Duration::from_secs(5)).await;
    assert_eq!(ring["from"]["name"], "Dan");
    fay.send(json!({"type":"accept","call":ring["call"]})).await;
    wait_for(&mut dan, "call_accepted", Duration::from_secs(5)).await;
    wait_for(&mut fay, "call_accepted", Duration::from_secs(5)).await;
    signal_reaches(&mut fay, &mut dan).await;
    fay.send(json!({"type":"chat","text":"no channel yet"}))
        .await;
    wait_for(&mut dan, "chat", Duration::from_secs(5)).await;

    let mut gus = c.registered("Gus").await;
    gus.send(json!({"type":"call","user":"Dan"})).await;
    wait_for(&mut gus, "busy", Duration::from_secs(5)).await;

    dan.send(json!({"type":"hangup"})).await;
    let ended = wait_for(&mut fay, "call_ended", Duration::from_secs(5)).await;
    assert_eq!(ended["reason"], "hangup");

    gus.send(json!({"type":"call","user":"Fay"})).await;
    wait_for(&mut fay, "incoming_call", Duration::from_secs(5)).await;
    wait_for(&mut gus, "call_missed", Duration::from_secs(8)).await;
    wait_for(&mut fay, "call_missed", Duration::from_secs(2)).await;

    // A name is taken cluster-wide.
    let mut other = c.client().await;
    other.send(json!({"type":"register","name":"DAN"})).await;
    let err = wait_for(&mut other, "error", Duration::from_secs(5)).await;
    assert_eq!(err["code"], "name_taken");

    // One account database: sign up on one node, sign in on another.
    let (status, _) = a
        .post(
            "/api/account/signup",
            json!({"username":"hana","email":"hana@example.org","password":"correct horse battery","confirm":"correct horse battery"}),
        )
        .await;
    assert_eq!(status, 201, "sign up");
    let (status, me) = c
        .post(
            "/api/account/signin",
            json!({"login":"hana","password":"correct horse battery"}),
        )
        .await;
    assert_eq!(status, 200, "sign in on another node: {me}");

    // Every node reports itself ready, and its metrics.
    let mut all_metrics = String::new();
    for node in &cluster.nodes {
        let (status, body) = node.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"bus\":\"connected\""), "{body}");
        let (status, metrics) = node.get("/metrics").await;
        assert_eq!(status, 200);
        assert!(metrics.contains("confer_bus_received_total"), "{metrics}");
        assert!(metrics.contains("confer_connections"), "{metrics}");
        all_metrics.push_str(&metrics);
    }
    // Messages are counted by type on the node that received them.
    for kind in ["join", "signal", "chat"] {
        let line = format!("confer_messages_total{{type=\"{kind}\"}}");
        assert!(all_metrics.contains(&line), "{line} in {all_metrics}");
    }
    drop((ann, ben, cat, dan, eve, fay, gus, other));
    cluster.stop().await;
}

#[tokio::test]
async fn a_killed_node_disappears_and_its_clients_resume_elsewhere() {
    let mut cluster = Cluster::start("kill", &redis_url()).await;
    let (mut ann, ann_welcome) = Client::connect(&cluster.nodes[0].ws()).await;
    ann.send(json!({"type":"join","room":"r","name":"Ann"}))
        .await;
    ann.expect("joined").await;
    let (cat, _) = cluster.nodes[0].joined("r", "Cat").await;
    let dan = cluster.nodes[0].registered("Dan").await;
    let (mut ben, _) = cluster.nodes[1].joined("r", "Ben").await;
    for _ in 0..2 {
        wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    }
    let token = ann_welcome["resume"].as_str().unwrap().to_owned();
    let (ann_id, cat_id) = (ann.id.clone(), cat.id.clone());

    let killed_at = Instant::now();
    cluster.nodes[0].kill();
    drop((cat, dan));

    // Ann's client notices and reconnects through the "load balancer" to node C.
    ann.expect_closed_soon().await;
    let (mut ann, welcome) =
        Client::connect(&format!("{}?resume={token}", cluster.nodes[2].ws())).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert_eq!(welcome["id"], ann_id.as_str());

    // Cat, who did not come back, is announced as left within 10 s; Ann is not.
    let deadline = Duration::from_secs(10).saturating_sub(killed_at.elapsed());
    let left = wait_for(&mut ben, "peer_left", deadline).await;
    assert_eq!(left["peer"], cat_id.as_str());
    assert!(killed_at.elapsed() <= Duration::from_secs(10));
    // The call goes on: Ann and Ben still reach each other.
    signal_reaches(&mut ann, &mut ben).await;
    signal_reaches(&mut ben, &mut ann).await;
    never(&mut ben, "peer_left", Duration::from_secs(1)).await;

    // Dan's name is free again.
    let mut dan2 = cluster.nodes[1].client().await;
    dan2.send(json!({"type":"register","name":"Dan"})).await;
    wait_for(&mut dan2, "registered", Duration::from_secs(5)).await;

    drop((ann, ben, dan2));
    cluster.stop().await;
}

#[tokio::test]
async fn sigterm_moves_clients_to_another_node_and_exits() {
    let mut cluster = Cluster::start("drain", &redis_url()).await;
    let (mut ann, ann_welcome) = Client::connect(&cluster.nodes[0].ws()).await;
    ann.send(json!({"type":"join","room":"r","name":"Ann"}))
        .await;
    ann.expect("joined").await;
    let (mut ben, _) = cluster.nodes[1].joined("r", "Ben").await;
    wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    let token = ann_welcome["resume"].as_str().unwrap().to_owned();

    cluster.nodes[0].terminate();
    // Told to reconnect (1012), Ann resumes on node B.
    ann.expect_close(1012).await;
    let (status, body) = cluster.nodes[0].get("/readyz").await;
    assert!(status == 503 || status == 0, "{status} {body}");
    let (mut ann, welcome) =
        Client::connect(&format!("{}?resume={token}", cluster.nodes[1].ws())).await;
    assert_eq!(welcome["resumed"], true);
    signal_reaches(&mut ben, &mut ann).await;
    assert!(
        cluster.nodes[0].wait_exit(Duration::from_secs(10)),
        "the stopping node exits once its clients moved"
    );
    never(&mut ben, "peer_left", Duration::from_secs(1)).await;
    drop((ann, ben));
    cluster.stop().await;
}

/// A `redis-server` of our own, to stop and start.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
    dir: PathBuf,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(unique("redis"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = OwnRedis {
            port,
            child: None,
            dir,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (the test command installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn nodes_ride_out_a_redis_restart() {
    let mut redis = OwnRedis::start();
    let cluster = Cluster::start("restart", &redis.url()).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (mut ann, _) = a.joined("local", "Ann").await;
    let (mut ben, _) = a.joined("local", "Ben").await;
    wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    let (mut cat, _) = b.joined("shared", "Cat").await;

    redis.stop();
    // Meanwhile people on the same node go on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal_reaches(&mut ann, &mut ben).await;
    let (mut dan, joined) = a.joined("local", "Dan").await;
    assert_eq!(joined["peers"].as_array().unwrap().len(), 2);
    wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    signal_reaches(&mut dan, &mut ann).await;
    let (status, body) = a.get("/readyz").await;
    assert_eq!(status, 503, "not ready without the bus: {body}");

    redis.spawn();
    // Both nodes reconnect by themselves; cross-node signaling works again, and what
    // happened on each node meanwhile is known to the other.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = a.get("/readyz").await;
        let (status_b, _) = b.get("/readyz").await;
        if status == 200 && status_b == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "nodes did not reconnect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut eve, joined) = b.joined("local", "Eve").await;
    assert_eq!(
        joined["peers"].as_array().unwrap().len(),
        3,
        "node B knows who joined on node A during the outage: {joined}"
    );
    wait_for(&mut dan, "peer_joined", Duration::from_secs(5)).await;
    signal_reaches(&mut eve, &mut dan).await;
    signal_reaches(&mut ann, &mut eve).await;
    let (mut fay, _) = a.joined("shared", "Fay").await;
    wait_for(&mut cat, "peer_joined", Duration::from_secs(5)).await;
    signal_reaches(&mut fay, &mut cat).await;
    drop((ann, ben, cat, dan, eve, fay));
    cluster.stop().await;
}

/// A TCP forwarder to PostgreSQL that the test can cut.
struct CuttableProxy {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start(target: String) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = links.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().unwrap().push(link);
            }
        });
        CuttableProxy { addr, task, links }
    }

    /// Stop accepting and break every open connection.
    fn cut(&self) {
        self.task.abort();
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

#[tokio::test]
async fn without_postgres_accounts_say_so_and_guests_keep_calling() {
    let db = Database::create("pgdown").await;
    let admin = postgres_admin();
    let host_port = admin
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let proxy = CuttableProxy::start(host_port.clone()).await;
    let url = db.url.replacen(&host_port, &proxy.addr.to_string(), 1);
    let server = common::TestServer::start_with(|c| c.database_url = Some(url)).await;
    let addr = server.addr().to_string();
    let (status, _) = http_post(
        &addr,
        "/api/account/signup",
        &json!({"username":"ivy","email":"ivy@example.org","password":"correct horse battery","confirm":"correct horse battery"}),
    )
    .await;
    assert_eq!(status, 201);

    proxy.cut();
    let (status, body) = http_post(
        &addr,
        "/api/account/signin",
        &json!({"login":"ivy","password":"correct horse battery"}),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("unavailable")),
        "{body}"
    );
    let (status, ready) = http_get(&addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(ready.contains("\"database\":\"unreachable\""), "{ready}");

    // Guests still meet and signal.
    let (mut ann, _) = server.joined("still-here", "Ann").await;
    let (mut ben, _) = server.joined("still-here", "Ben").await;
    wait_for(&mut ann, "peer_joined", Duration::from_secs(5)).await;
    signal_reaches(&mut ben, &mut ann).await;
    drop((ann, ben, server));
    db.drop_now().await;
}
