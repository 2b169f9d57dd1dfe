//! `confer-bench`: a signaling load generator that speaks Confer's protocol.
//!
//! It opens N WebSocket clients against a server on this machine (or starts one in its own
//! process), pairs them in rooms of two and runs a realistic negotiation in each pair: an
//! offer and an answer of about 4 KB of SDP and trickle ICE candidates each way. Every relayed
//! payload carries its send time (`"x-sent-us"`, microseconds since the generator started),
//! which the server passes through untouched, so the receiver measures relay latency.
//! `--mode idle` instead holds N connected clients (answering the server's pings) and reports
//! the server's memory per client. See docs/benchmarks.md.

mod sdp;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout_at;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Ws = WebSocketStream<TcpStream>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Every pair negotiates at once.
    Burst,
    /// Pairs start negotiating at `--rate` negotiations per second.
    Paced,
    /// Hold connected clients for `--hold` seconds; measure memory per client.
    Idle,
}

#[derive(Parser, Debug)]
#[command(
    name = "confer-bench",
    about = "Signaling load generator for Confer (loopback only)"
)]
struct Args {
    /// Server WebSocket URL, e.g. ws://127.0.0.1:8080/ws. Without it, a server is started
    /// inside this process (then CPU and RSS figures include the generator).
    #[arg(long)]
    url: Option<String>,
    /// Another node of the same cluster: the second client of every pair connects there, so
    /// every relayed message crosses the bus (with --url).
    #[arg(long)]
    peer_url: Option<String>,
    /// Number of WebSocket clients (at most 50,000; paired for burst and paced).
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    #[arg(long, value_enum, default_value = "burst")]
    mode: Mode,
    /// Negotiations offered per second in paced mode.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds to hold the clients in idle mode.
    #[arg(long, default_value_t = 20)]
    hold: u64,
    /// Hard cap on the whole run, in seconds.
    #[arg(long, default_value_t = 300)]
    duration: u64,
    /// Longest any one phase (connect, join, negotiate) may take, in seconds.
    #[arg(long, default_value_t = 60)]
    phase_timeout: u64,
    /// After the last negotiation started, how long to wait for outstanding messages.
    #[arg(long, default_value_t = 5)]
    drain: u64,
    /// Trickle ICE candidates sent by each side.
    #[arg(long, default_value_t = 10)]
    candidates: u32,
    /// WebSocket handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// The server's process id, for CPU and RSS figures (with --url).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Send times are microseconds since this instant (one clock for sender and receiver).
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[derive(Serialize, Default, Debug)]
struct Report {
    mode: Option<Mode>,
    url: String,
    server: String,
    clients_requested: usize,
    clients_connected: usize,
    connect_seconds: f64,
    nofile_limit: u64,
    // Relay (burst / paced).
    pairs_negotiating: usize,
    offered_rate: Option<f64>,
    messages_expected: u64,
    messages_received: u64,
    messages_lost: u64,
    relay_seconds: f64,
    messages_per_second: f64,
    latency_us: Option<Latency>,
    // Resources.
    server_rss_before_kb: Option<u64>,
    server_rss_connected_kb: Option<u64>,
    server_rss_after_kb: Option<u64>,
    server_cpu_seconds: Option<f64>,
    server_cpu_us_per_message: Option<f64>,
    generator_cpu_seconds: Option<f64>,
    generator_cpu_relay_seconds: Option<f64>,
    generator_cpu_us_per_message: Option<f64>,
    // Idle.
    hold_seconds: Option<f64>,
    clients_held: Option<usize>,
    server_rss_per_client_bytes: Option<f64>,
    errors: u64,
    error_samples: Vec<String>,
    notes: Vec<String>,
}

#[derive(Serialize, Debug)]
struct Latency {
    samples: usize,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

/// Errors counted across tasks, with the first few kept for the report.
#[derive(Default)]
struct Errors {
    count: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

impl Errors {
    fn add(&self, what: impl std::fmt::Display) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < 5 {
            s.push(what.to_string());
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    EPOCH.get_or_init(Instant::now);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    // Do not wait for lingering client tasks of a timed-out phase.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    if args.clients == 0 || args.clients > 50_000 {
        bail!("--clients must be between 1 and 50,000");
    }
    if args.mode != Mode::Idle && args.clients < 2 {
        bail!("--clients must be at least 2 to form a pair");
    }
    if args.mode == Mode::Paced && !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a positive number");
    }
    let start = Instant::now();
    let global_deadline = start + Duration::from_secs(args.duration);
    let phase = |now: Instant| (now + Duration::from_secs(args.phase_timeout)).min(global_deadline);
    let mut report = Report {
        mode: Some(args.mode),
        clients_requested: args.clients,
        ..Report::default()
    };

    // Both ends of every connection live in this process when the server does.
    let fds = if args.url.is_none() { 2 } else { 1 } * args.clients as u64 + 1024;
    report.nofile_limit = raise_nofile(fds);
    if report.nofile_limit < fds {
        report.notes.push(format!(
            "open-files limit is {} but {fds} are needed: expect connect errors",
            report.nofile_limit
        ));
    }

    // The server: given by URL, or started here.
    let mut _in_process = None;
    let (url, pid) = match &args.url {
        Some(url) => (url.clone(), args.server_pid),
        None => {
            let data_dir =
                std::env::temp_dir().join(format!("confer-bench-{}", std::process::id()));
            let config = confer::config::Config {
                listen: "127.0.0.1:0".parse()?,
                data_dir: data_dir.clone(),
                turn_listen: None,
                // Every generated client comes from loopback: lift the per-address cap.
                max_connections_per_ip: usize::MAX,
                ..confer::config::Config::default()
            };
            let server = confer::start(config)
                .await
                .context("starting the in-process server")?;
            let url = format!("ws://{}/ws", server.addr);
            _in_process = Some(InProcess {
                _server: server,
                data_dir,
            });
            report.notes.push(
                "server runs inside the generator process: its CPU and RSS figures include the \
                 generator, and the generator's CPU figures the server (use --url and \
                 --server-pid for the server alone)"
                    .into(),
            );
            (url, Some(std::process::id()))
        }
    };
    let target = resolve_loopback(&url).await?;
    report.url = url.clone();
    report.server = match (&args.url, pid) {
        (None, _) => "in-process".into(),
        (Some(_), Some(pid)) => format!("pid {pid}"),
        (Some(_), None) => "external (no --server-pid: no CPU or RSS figures)".into(),
    };
    let errors = Arc::new(Errors::default());
    report.server_rss_before_kb = pid.and_then(rss_kb);

    // Connect.
    let t = Instant::now();
    let peer = match &args.peer_url {
        Some(peer) => {
            report
                .notes
                .push(format!("second client of each pair on {peer}"));
            Some((peer.clone(), resolve_loopback(peer).await?))
        }
        None => None,
    };
    let clients = connect_all(args, (&url, target), peer, phase(t), &errors).await;
    report.connect_seconds = t.elapsed().as_secs_f64();
    report.clients_connected = clients.len();
    report.server_rss_connected_kb = pid.and_then(rss_kb);

    match args.mode {
        Mode::Idle => idle(args, clients, pid, global_deadline, &errors, &mut report).await,
        Mode::Burst | Mode::Paced => {
            relay(
                args,
                clients,
                pid,
                phase,
                global_deadline,
                &errors,
                &mut report,
            )
            .await
        }
    }
    report.server_rss_after_kb = pid.and_then(rss_kb);
    report.generator_cpu_seconds = cpu_seconds(std::process::id());
    report.errors = errors.count.load(Ordering::Relaxed);
    report.error_samples = errors.samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(report)
}

struct InProcess {
    _server: confer::Server,
    data_dir: std::path::PathBuf,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The server's address from `ws://host:port/path`; refuses anything not on loopback.
async fn resolve_loopback(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("ws://")
        .context("the URL must start with ws:// (loopback only, no TLS)")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(authority)
        .await
        .with_context(|| format!("cannot resolve {authority} (give host:port)"))?
        .collect();
    let Some(addr) = addrs.first().copied() else {
        bail!("{authority} resolves to no address");
    };
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!("refusing {bad}: confer-bench only talks to loopback addresses");
    }
    Ok(addr)
}

/// Connect `--clients` clients, each through its `welcome`. Returns the ones that made it.
async fn connect_all(
    args: &Args,
    (url, target): (&str, SocketAddr),
    peer: Option<(String, SocketAddr)>,
    deadline: Instant,
    errors: &Arc<Errors>,
) -> Vec<(Ws, String)> {
    let permits = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let permits = permits.clone();
        let (url, target) = match &peer {
            Some((peer_url, peer_target)) if i % 2 == 1 => (peer_url.clone(), *peer_target),
            _ => (url.to_owned(), target),
        };
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            match timeout_at(deadline.into(), connect_one(&url, target, i)).await {
                Ok(Ok(c)) => Some(c),
                Ok(Err(e)) => {
                    errors.add(format!("connect: {e:#}"));
                    None
                }
                Err(_) => {
                    errors.add("connect: phase timed out");
                    None
                }
            }
        }));
    }
    let mut clients = Vec::with_capacity(args.clients);
    for t in tasks {
        if let Ok(Some(c)) = t.await {
            clients.push(c);
        }
    }
    clients
}

/// Each client's WebSocket buffers. tungstenite's defaults (128 KiB each) suit a few busy
/// connections, not thousands: it zero-fills the free part of the read buffer before every
/// read (a 128 KiB memset per read, and a 128 KiB allocation per client). A frame larger than
/// the buffer is still read whole (the buffer grows to the frame); 8 KiB holds an offer and a
/// few candidates, so one read still takes several frames when the server batches them. No
/// write buffering: every message is one frame, written and flushed at once, as a browser
/// sends it.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
}

async fn connect_one(url: &str, target: SocketAddr, i: usize) -> anyhow::Result<(Ws, String)> {
    // One source address has about 28,000 ephemeral ports, and the previous run's sockets
    // hold theirs in TIME_WAIT for a minute: spread large runs over 127.0.0.1, 127.0.0.2, …
    // (all loopback), and let a bind take a port that only a closed socket still holds.
    let socket = match target.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let s = TcpSocket::new_v4()?;
            s.set_reuseaddr(true)?;
            s.bind(SocketAddr::from((
                Ipv4Addr::new(127, 0, 0, 1 + (i / 10_000) as u8),
                0,
            )))?;
            s
        }
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let tcp = socket.connect(target).await?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config())).await?;
    let welcome = next_text(&mut ws).await?;
    let v: serde_json::Value = serde_json::from_str(&welcome)?;
    let id = match (v["type"].as_str(), v["id"].as_str()) {
        (Some("welcome"), Some(id)) => id.to_owned(),
        _ => bail!("expected welcome, got {:.200}", welcome.as_str()),
    };
    Ok((ws, id))
}

/// The next text frame (pings are answered by tungstenite as we read). The text is the
/// frame's payload as tungstenite read it, not a copy.
async fn next_text(ws: &mut Ws) -> anyhow::Result<Utf8Bytes> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Close(f))) => bail!("closed by server: {f:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection closed"),
        }
    }
}

fn frame_type(text: &str) -> Option<&str> {
    // Server frames start with {"type":"…" (serde writes the tag first).
    let rest = text.split_once("\"type\":\"")?.1;
    rest.split('"').next()
}

fn sent_us(text: &str) -> Option<u64> {
    // The send time is the payload's last field: search from the end, not through the SDP.
    let rest = text.rsplit_once("\"x-sent-us\":")?.1;
    let digits: &str = &rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())];
    digits.parse().ok()
}

#[allow(clippy::too_many_arguments)]
async fn relay(
    args: &Args,
    clients: Vec<(Ws, String)>,
    pid: Option<u32>,
    phase: impl Fn(Instant) -> Instant,
    global_deadline: Instant,
    errors: &Arc<Errors>,
    report: &mut Report,
) {
    // Join: each pair in its own room.
    let run_id = std::process::id();
    let join_deadline = phase(Instant::now());
    let mut it = clients.into_iter();
    let mut joins = Vec::new();
    let mut p = 0usize;
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        let room = format!("bench-{run_id}-{p}");
        p += 1;
        let errors = errors.clone();
        joins.push(tokio::spawn(async move {
            match timeout_at(join_deadline.into(), join_pair(a, b, &room)).await {
                Ok(Ok(pair)) => Some(pair),
                Ok(Err(e)) => {
                    errors.add(format!("join: {e:#}"));
                    None
                }
                Err(_) => {
                    errors.add("join: phase timed out");
                    None
                }
            }
        }));
    }
    let mut pairs = Vec::new();
    for j in joins {
        if let Ok(Some(pair)) = j.await {
            pairs.push(pair);
        }
    }
    report.pairs_negotiating = pairs.len();
    let per_pair = 2 * (1 + args.candidates as u64);
    report.messages_expected = per_pair * pairs.len() as u64;

    // Every frame of the relay phase is built now, before the clock starts: sending only
    // stamps the time.
    let mut scripts = Vec::with_capacity(pairs.len());
    for (k, pair) in pairs.iter().enumerate() {
        scripts.push(Script::new(
            &pair.a_id,
            &pair.b_id,
            k as u64,
            args.candidates,
        ));
    }

    // Negotiate.
    let cpu0 = pid.and_then(cpu_seconds);
    let own0 = own_cpu_seconds();
    let t0 = Instant::now();
    let spread = match args.mode {
        Mode::Paced => {
            report.offered_rate = Some(args.rate);
            Duration::from_secs_f64(pairs.len() as f64 / args.rate)
        }
        _ => Duration::ZERO,
    };
    let deadline = (phase(t0) + spread).min(global_deadline);
    let received = Arc::new(AtomicU64::new(0));
    let last_us = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(pairs.len());
    for (k, (pair, script)) in pairs.into_iter().zip(scripts).enumerate() {
        let start = match args.mode {
            Mode::Paced => Some(t0 + Duration::from_secs_f64(k as f64 / args.rate)),
            _ => None,
        };
        let (errors, received, last_us) = (errors.clone(), received.clone(), last_us.clone());
        tasks.push(tokio::spawn(async move {
            if let Some(start) = start {
                tokio::time::sleep_until(start.into()).await;
            }
            let mut lat = Vec::with_capacity(per_pair as usize);
            let r = negotiate(pair, script, deadline, &mut lat, &received).await;
            if let Err(e) = r {
                errors.add(format!("negotiate: {e:#}"));
            }
            if !lat.is_empty() {
                last_us.fetch_max(now_us(), Ordering::Relaxed);
            }
            lat
        }));
    }
    // Wait for every pair, but no longer than the drain after the phase's end.
    let wait_until = deadline + Duration::from_secs(args.drain);
    let mut latencies = Vec::with_capacity(report.messages_expected as usize);
    for t in tasks {
        match timeout_at(wait_until.into(), t).await {
            Ok(Ok(lat)) => latencies.extend(lat),
            Ok(Err(e)) => errors.add(format!("task: {e}")),
            Err(_) => break,
        }
    }
    let cpu1 = pid.and_then(cpu_seconds);
    let own1 = own_cpu_seconds();
    let received = received.load(Ordering::Relaxed);
    report.messages_received = received;
    report.messages_lost = report.messages_expected.saturating_sub(received);
    let t0_us = t0
        .duration_since(*EPOCH.get_or_init(Instant::now))
        .as_micros() as u64;
    let end_us = last_us.load(Ordering::Relaxed).max(t0_us + 1);
    report.relay_seconds = (end_us - t0_us) as f64 / 1e6;
    report.messages_per_second = received as f64 / report.relay_seconds;
    latencies.sort_unstable();
    report.latency_us = percentiles(&latencies);
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        report.server_cpu_seconds = Some(c1 - c0);
        if received > 0 {
            report.server_cpu_us_per_message = Some((c1 - c0) * 1e6 / received as f64);
        }
    }
    if let (Some(c0), Some(c1)) = (own0, own1) {
        report.generator_cpu_relay_seconds = Some(c1 - c0);
        if received > 0 {
            report.generator_cpu_us_per_message = Some((c1 - c0) * 1e6 / received as f64);
        }
    }
}

struct Pair {
    a: Ws,
    a_id: String,
    b: Ws,
    b_id: String,
}

async fn join_pair(a: (Ws, String), b: (Ws, String), room: &str) -> anyhow::Result<Pair> {
    let (mut a, a_id) = a;
    let (mut b, b_id) = b;
    let join = format!(r#"{{"type":"join","room":"{room}","name":"bench"}}"#);
    a.send(Message::text(join.clone())).await?;
    expect(&mut a, "joined").await?;
    b.send(Message::text(join)).await?;
    expect(&mut b, "joined").await?;
    expect(&mut a, "peer_joined").await?;
    Ok(Pair { a, a_id, b, b_id })
}

async fn expect(ws: &mut Ws, ty: &str) -> anyhow::Result<()> {
    let text = next_text(ws).await?;
    if frame_type(&text) != Some(ty) {
        bail!("expected {ty}, got {:.200}", text.as_str());
    }
    Ok(())
}

/// One relayed `signal` frame, built before the relay phase. The send time is the last field
/// of its payload, so sending copies `head`, appends the digits and closes the two objects:
/// the frame is the same, byte for byte, as one formatted whole at send time.
struct Outgoing {
    head: String,
}

impl Outgoing {
    fn description(to: &str, kind: &str, sdp_json: &str) -> Self {
        Self {
            head: format!(
                r#"{{"type":"signal","to":"{to}","description":{{"type":"{kind}","sdp":{sdp_json},"x-sent-us":"#
            ),
        }
    }

    fn candidate(to: &str, candidate_json: &str, n: u32) -> Self {
        Self {
            head: format!(
                r#"{{"type":"signal","to":"{to}","candidate":{{"candidate":{candidate_json},"sdpMid":"{mid}","sdpMLineIndex":{mid},"x-sent-us":"#,
                mid = n % 2
            ),
        }
    }

    fn stamped(&self, sent_us: u64) -> Message {
        let mut frame = String::with_capacity(self.head.len() + 24);
        frame.push_str(&self.head);
        let _ = write!(frame, "{sent_us}}}}}");
        Message::text(frame)
    }
}

/// Everything a pair sends: A's offer and candidates (to B), B's answer and candidates (to A).
struct Script {
    offer: Outgoing,
    a_cands: Vec<Outgoing>,
    answer: Outgoing,
    b_cands: Vec<Outgoing>,
}

impl Script {
    /// `seed` varies the SDP and candidates between pairs.
    fn new(a_id: &str, b_id: &str, seed: u64, candidates: u32) -> Self {
        let json = |s: String| serde_json::Value::String(s).to_string();
        let description = |to: &str, kind: &str, seed: u64| {
            Outgoing::description(to, kind, &json(sdp::session_description(kind, seed)))
        };
        let cands = |to: &str, seed: u64| {
            (0..candidates)
                .map(|n| Outgoing::candidate(to, &json(sdp::candidate(n, seed)), n))
                .collect()
        };
        Self {
            offer: description(b_id, "offer", seed * 2),
            a_cands: cands(b_id, seed * 2),
            answer: description(a_id, "answer", seed * 2 + 1),
            b_cands: cands(a_id, seed * 2 + 1),
        }
    }
}

/// A (polite, first in the room) offers and trickles its candidates; B answers as soon as
/// the offer arrives and trickles its own. Returns when each side has everything.
async fn negotiate(
    pair: Pair,
    script: Script,
    deadline: Instant,
    lat: &mut Vec<u64>,
    received: &AtomicU64,
) -> anyhow::Result<()> {
    let Pair { mut a, mut b, .. } = pair;
    // Each side expects the other's description and candidates.
    let (from_a, from_b) = (1 + script.a_cands.len(), 1 + script.b_cands.len());
    let deadline: tokio::time::Instant = deadline.into();
    let work = async {
        send(&mut a, &script.offer).await?;
        send_all(&mut a, &script.a_cands).await?;
        // B: the offer first, then answer at once, then the rest of A's candidates.
        let mut got_b = 0;
        let mut answered = false;
        while got_b < from_a {
            let text = next_text(&mut b).await?;
            got_b += take_signal(&text, lat, received)?;
            if !answered && text.contains(r#""type":"offer""#) {
                send(&mut b, &script.answer).await?;
                send_all(&mut b, &script.b_cands).await?;
                answered = true;
            }
        }
        let mut got_a = 0;
        while got_a < from_b {
            let text = next_text(&mut a).await?;
            got_a += take_signal(&text, lat, received)?;
        }
        anyhow::Ok(())
    };
    let result = match tokio::time::timeout_at(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("timed out")),
    };
    let _ = tokio::time::timeout_at(deadline, async {
        let _ = a.close(None).await;
        let _ = b.close(None).await;
    })
    .await;
    result
}

/// Count a relayed `signal` and record its latency; fail on an `error` frame.
fn take_signal(text: &str, lat: &mut Vec<u64>, received: &AtomicU64) -> anyhow::Result<usize> {
    match frame_type(text) {
        Some("signal") => {
            let now = now_us();
            if let Some(sent) = sent_us(text) {
                lat.push(now.saturating_sub(sent));
            }
            received.fetch_add(1, Ordering::Relaxed);
            Ok(1)
        }
        Some("error") => bail!("server error: {text:.200}"),
        _ => Ok(0),
    }
}

/// One frame, flushed at once (one WebSocket frame per message, as a browser sends it).
async fn send(ws: &mut Ws, frame: &Outgoing) -> anyhow::Result<()> {
    ws.send(frame.stamped(now_us())).await?;
    Ok(())
}

async fn send_all(ws: &mut Ws, frames: &[Outgoing]) -> anyhow::Result<()> {
    for frame in frames {
        send(ws, frame).await?;
    }
    Ok(())
}

async fn idle(
    args: &Args,
    clients: Vec<(Ws, String)>,
    pid: Option<u32>,
    global_deadline: Instant,
    errors: &Arc<Errors>,
    report: &mut Report,
) {
    let t0 = Instant::now();
    let until = (t0 + Duration::from_secs(args.hold)).min(global_deadline);
    let mut tasks = Vec::with_capacity(clients.len());
    for (mut ws, _) in clients {
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            // Read (which answers the server's pings) until the hold ends.
            loop {
                match timeout_at(until.into(), ws.next()).await {
                    Err(_) => break true,
                    Ok(Some(Ok(Message::Close(f)))) => {
                        errors.add(format!("idle: closed by server: {f:?}"));
                        break false;
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => {
                        errors.add(format!("idle: {e}"));
                        break false;
                    }
                    Ok(None) => {
                        errors.add("idle: connection closed");
                        break false;
                    }
                }
            }
        }));
    }
    // Sample the server's memory while everyone is still held.
    tokio::time::sleep_until((until - Duration::from_millis(500).min(until - t0)).into()).await;
    let rss_held = pid.and_then(rss_kb);
    let mut held = 0;
    for t in tasks {
        if let Ok(true) = t.await {
            held += 1;
        }
    }
    report.hold_seconds = Some(t0.elapsed().as_secs_f64());
    report.clients_held = Some(held);
    if let (Some(before), Some(during)) = (report.server_rss_before_kb, rss_held)
        && held > 0
    {
        report.server_rss_per_client_bytes =
            Some(during.saturating_sub(before) as f64 * 1024.0 / held as f64);
    }
    report.server_rss_connected_kb = rss_held.or(report.server_rss_connected_kb);
}

fn percentiles(sorted: &[u64]) -> Option<Latency> {
    if sorted.is_empty() {
        return None;
    }
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    Some(Latency {
        samples: sorted.len(),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: sorted[sorted.len() - 1],
    })
}

/// Raise the soft (and if need be hard) open-files limit to `want`; returns the soft limit.
fn raise_nofile(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur >= want {
            return r.rlim_cur;
        }
        let wanted = libc::rlimit {
            rlim_cur: want as libc::rlim_t,
            rlim_max: r.rlim_max.max(want as libc::rlim_t),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            // Not allowed to raise the hard limit: take what it allows.
            let capped = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &capped);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

/// utime + stime of a process, in seconds (from /proc/<pid>/stat).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some((utime + stime) as f64 / hz)
}

/// utime + stime of this process, in seconds, to the microsecond (getrusage; /proc/self/stat
/// counts in clock ticks, too coarse for a relay phase of a few seconds).
fn own_cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(u.ru_utime) + secs(u.ru_stime))
}

/// Resident set size of a process in KiB (VmRSS in /proc/<pid>/status).
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_table(r: &Report) {
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let optf = |v: Option<f64>, d: usize| v.map_or("-".to_owned(), |v| format!("{v:.d$}"));
    let mode = r.mode.map_or("-", |m| match m {
        Mode::Burst => "burst",
        Mode::Paced => "paced",
        Mode::Idle => "idle",
    });
    println!(
        "confer-bench  mode {mode}  url {}  server {}",
        r.url, r.server
    );
    println!(
        "{:<34} {} / {}",
        "clients connected / requested", r.clients_connected, r.clients_requested
    );
    println!("{:<34} {:.3}", "connect phase (s)", r.connect_seconds);
    println!("{:<34} {}", "open-files limit", r.nofile_limit);
    if r.mode != Some(Mode::Idle) {
        println!("{:<34} {}", "pairs negotiating", r.pairs_negotiating);
        if let Some(rate) = r.offered_rate {
            println!("{:<34} {rate}", "offered negotiations/s");
        }
        println!(
            "{:<34} {} / {}",
            "messages received / expected", r.messages_received, r.messages_expected
        );
        println!("{:<34} {}", "messages lost", r.messages_lost);
        println!("{:<34} {:.3}", "relay phase (s)", r.relay_seconds);
        println!(
            "{:<34} {:.0}",
            "messages relayed per second", r.messages_per_second
        );
        match &r.latency_us {
            Some(l) => println!(
                "{:<34} p50 {}  p90 {}  p99 {}  max {}  (n={})",
                "latency (µs)", l.p50, l.p90, l.p99, l.max, l.samples
            ),
            None => println!("{:<34} -", "latency (µs)"),
        }
        println!(
            "{:<34} {}",
            "server CPU in relay phase (s)",
            optf(r.server_cpu_seconds, 3)
        );
        println!(
            "{:<34} {}",
            "server CPU per message (µs)",
            optf(r.server_cpu_us_per_message, 2)
        );
        println!(
            "{:<34} {}",
            "generator CPU in relay phase (s)",
            optf(r.generator_cpu_relay_seconds, 3)
        );
        println!(
            "{:<34} {}",
            "generator CPU per message (µs)",
            optf(r.generator_cpu_us_per_message, 2)
        );
    } else {
        println!(
            "{:<34} {}",
            "clients held",
            r.clients_held.map_or("-".into(), |v| v.to_string())
        );
        println!("{:<34} {}", "hold (s)", optf(r.hold_seconds, 1));
        println!(
            "{:<34} {}",
            "server RSS per held client (B)",
            optf(r.server_rss_per_client_bytes, 0)
        );
    }
    println!(
        "{:<34} before {}  connected {}  after {}",
        "server RSS (KiB)",
        opt(r.server_rss_before_kb),
        opt(r.server_rss_connected_kb),
        opt(r.server_rss_after_kb)
    );
    println!(
        "{:<34} {}",
        "generator CPU total (s)",
        optf(r.generator_cpu_seconds, 3)
    );
    println!("{:<34} {}", "errors", r.errors);
    for e in &r.error_samples {
        println!("  e.g. {e}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames built ahead are the ones the generator used to format at send time.
    #[test]
    fn prebuilt_frames_are_the_frames_formatted_at_send_time() {
        let (a_id, b_id, seed, candidates) = ("a-17", "b-42", 7u64, 10u32);
        let script = Script::new(a_id, b_id, seed, candidates);
        let text = |m: Message| match m {
            Message::Text(t) => t.as_str().to_owned(),
            other => panic!("not text: {other:?}"),
        };
        let description = |to: &str, kind: &str, seed: u64, sent: u64| {
            let sdp_json = serde_json::to_string(&sdp::session_description(kind, seed)).unwrap();
            format!(
                r#"{{"type":"signal","to":"{to}","description":{{"type":"{kind}","sdp":{sdp_json},"x-sent-us":{sent}}}}}"#
            )
        };
        let candidate = |to: &str, n: u32, seed: u64, sent: u64| {
            let c = serde_json::to_string(&sdp::candidate(n, seed)).unwrap();
            format!(
                r#"{{"type":"signal","to":"{to}","candidate":{{"candidate":{c},"sdpMid":"{mid}","sdpMLineIndex":{mid},"x-sent-us":{sent}}}}}"#,
                mid = n % 2
            )
        };
        for sent in [0, 9, 1_234_567, u64::MAX] {
            let offer = text(script.offer.stamped(sent));
            assert_eq!(offer, description(b_id, "offer", seed * 2, sent));
            assert!(offer.len() > 3500, "{}", offer.len());
            assert_eq!(
                text(script.answer.stamped(sent)),
                description(a_id, "answer", seed * 2 + 1, sent)
            );
            assert_eq!(script.a_cands.len(), candidates as usize);
            assert_eq!(script.b_cands.len(), candidates as usize);
            for n in 0..candidates {
                assert_eq!(
                    text(script.a_cands[n as usize].stamped(sent)),
                    candidate(b_id, n, seed * 2, sent)
                );
                assert_eq!(
                    text(script.b_cands[n as usize].stamped(sent)),
                    candidate(a_id, n, seed * 2 + 1, sent)
                );
            }
            assert_eq!(sent_us(&offer), Some(sent));
        }
    }
}
