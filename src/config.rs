//! Layered configuration: built-in defaults < `confer.toml` < `CONFER_*` environment < flags.
//!
//! Clap reads flags and their `CONFER_*` variables (flags win); the TOML file fills what
//! neither set; the defaults fill the rest.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::turn::Cidr;

/// How browsers may gather ICE candidates (`RTCConfiguration.iceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// Relay candidates only: participants never learn each other's addresses.
    Relay,
}

/// The `tls` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain HTTP (behind a TLS-terminating proxy, or on localhost only).
    Off,
    /// HTTPS with a certificate generated once and kept in `data_dir/tls`.
    SelfSigned,
}

/// How the server speaks HTTPS, resolved from `tls`, `tls_cert` and `tls_key`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tls {
    #[default]
    Off,
    /// Generate (once) and use `data_dir/tls/cert.pem` and `data_dir/tls/key.pem`.
    SelfSigned,
    /// A real certificate chain and its private key, both PEM.
    Files { cert: PathBuf, key: PathBuf },
}

impl Tls {
    pub fn enabled(&self) -> bool {
        *self != Tls::Off
    }
}

/// One entry of `RTCConfiguration.iceServers`, sent to browsers as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Settings for `confer serve`, as flags and environment variables.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). A missing default file is fine; a missing named file is an error.
    #[arg(long, global = true, env = "CONFER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address for HTTP and WebSocket [default: 0.0.0.0:8080]
    #[arg(long, global = true, env = "CONFER_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for the database, generated secrets, certificates and the dev mailbox [default: ./data]
    #[arg(long, global = true, env = "CONFER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://user:pass@host/db` for PostgreSQL, or `sqlite://path` [default: confer.db in data_dir]
    #[arg(long, global = true, env = "CONFER_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// The address people use to reach this server, for links in emails, e.g.
    /// `https://meet.example.org` [default: taken from each request]
    #[arg(long, global = true, env = "CONFER_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Outgoing mail server: `smtps://user:pass@host:465`, `smtp://user:pass@host:587`
    /// (STARTTLS), `smtp://host:25?tls=none` (plain) [default: none; mail goes to the dev
    /// mailbox in data_dir/mail]
    #[arg(long, global = true, env = "CONFER_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// Sender of account emails [default: Confer <confer@localhost>]
    #[arg(long, global = true, env = "CONFER_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// Most participants in one mesh room [default: 8]
    #[arg(long, global = true, env = "CONFER_ROOM_CAPACITY", value_name = "N")]
    pub room_capacity: Option<usize>,
    /// Allow joining rooms and calling by name without an account [default: true]
    #[arg(long, global = true, env = "CONFER_GUESTS", value_name = "BOOL")]
    pub guests: Option<bool>,
    /// STUN/TURN servers for browsers: a JSON array of RTCIceServer objects, or comma-separated
    /// URLs such as `stun:stun.example.org:3478` [default: none]
    #[arg(long, global = true, env = "CONFER_ICE_SERVERS", value_name = "LIST")]
    pub ice_servers: Option<String>,
    /// `all`, or `relay` to force every call through TURN [default: all]
    #[arg(
        long,
        global = true,
        env = "CONFER_ICE_TRANSPORT_POLICY",
        value_name = "POLICY"
    )]
    pub ice_transport_policy: Option<IceTransportPolicy>,
    /// Seconds a call by name rings before it is missed [default: 30]
    #[arg(long, global = true, env = "CONFER_RING_TIMEOUT", value_name = "SECS")]
    pub ring_timeout: Option<u64>,
    /// Seconds after a client's last sign of life during which it may resume its session
    /// after a lost connection, unnoticed by the others; 0 turns resumption off [default: 30]
    #[arg(long, global = true, env = "CONFER_RESUME_GRACE", value_name = "SECS")]
    pub resume_grace: Option<u64>,
    /// Signaling connections one client address may hold at once [default: 50]
    #[arg(
        long,
        global = true,
        env = "CONFER_MAX_CONNECTIONS_PER_IP",
        value_name = "N"
    )]
    pub max_connections_per_ip: Option<usize>,
    /// Largest SDP in a relayed session description, in bytes [default: 32768]
    #[arg(
        long,
        global = true,
        env = "CONFER_MAX_SDP_BYTES",
        value_name = "BYTES"
    )]
    pub max_sdp_bytes: Option<usize>,
    /// ICE candidates one peer may send another per negotiation [default: 100]
    #[arg(long, global = true, env = "CONFER_MAX_CANDIDATES", value_name = "N")]
    pub max_candidates: Option<u32>,
    /// Messages a client may send per second on average [default: 50]
    #[arg(long, global = true, env = "CONFER_MESSAGE_RATE", value_name = "N")]
    pub message_rate: Option<u32>,
    /// Messages a client may send in a burst above the average rate [default: 200]
    #[arg(long, global = true, env = "CONFER_MESSAGE_BURST", value_name = "N")]
    pub message_burst: Option<u32>,
    /// Seconds between WebSocket pings to each client [default: 10]
    #[arg(long, global = true, env = "CONFER_PING_INTERVAL", value_name = "SECS")]
    pub ping_interval: Option<u64>,
    /// Seconds of silence (not even a pong) after which a client is dropped; checked at each ping, so a vanished client is noticed within idle_timeout + ping_interval [default: 20]
    #[arg(long, global = true, env = "CONFER_IDLE_TIMEOUT", value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Seconds a connection has to send a request's line and headers (also the TLS handshake,
    /// and the wait for the next request on a kept-alive connection) before it is closed [default: 10]
    #[arg(
        long,
        global = true,
        env = "CONFER_HEADER_READ_TIMEOUT",
        value_name = "SECS"
    )]
    pub header_read_timeout: Option<u64>,
    /// Seconds a request body may pause, or a response wait for the client to read it, before
    /// the connection is closed [default: 30]
    #[arg(
        long,
        global = true,
        env = "CONFER_SLOW_CLIENT_TIMEOUT",
        value_name = "SECS"
    )]
    pub slow_client_timeout: Option<u64>,
    /// Threads that run connections [default: one per CPU core]
    #[arg(long, global = true, env = "CONFER_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Address of the embedded STUN/TURN server (UDP and TCP), or `off` [default: 0.0.0.0:3478]
    #[arg(
        long,
        global = true,
        env = "CONFER_TURN_LISTEN",
        value_name = "ADDR|off"
    )]
    pub turn_listen: Option<String>,
    /// Shared secret for TURN REST credentials (the same as coturn's static-auth-secret)
    /// [default: generated once and kept in data_dir/turn_secret]
    #[arg(long, global = true, env = "CONFER_TURN_SECRET", value_name = "SECRET")]
    pub turn_secret: Option<String>,
    /// TURN realm [default: confer]
    #[arg(long, global = true, env = "CONFER_TURN_REALM", value_name = "REALM")]
    pub turn_realm: Option<String>,
    /// Let TURN relay to loopback, private and link-local addresses (tests, LANs) [default: false]
    #[arg(
        long,
        global = true,
        env = "CONFER_TURN_ALLOW_LOOPBACK",
        value_name = "BOOL"
    )]
    pub turn_allow_loopback: Option<bool>,
    /// Comma-separated CIDRs TURN may always relay to, e.g. `10.8.0.0/16` [default: none]
    #[arg(
        long,
        global = true,
        env = "CONFER_TURN_ALLOWED_PEERS",
        value_name = "CIDRS"
    )]
    pub turn_allowed_peers: Option<String>,
    /// Public address for relayed candidates and TURN URLs when behind NAT [default: the
    /// listen address if specific, else the host browsers use to reach the HTTP server]
    #[arg(long, global = true, env = "CONFER_TURN_PUBLIC_IP", value_name = "IP")]
    pub turn_public_ip: Option<IpAddr>,
    /// Seconds a TURN credential handed to a browser stays valid [default: 86400]
    #[arg(
        long,
        global = true,
        env = "CONFER_TURN_CREDENTIAL_TTL",
        value_name = "SECS"
    )]
    pub turn_credential_ttl: Option<u64>,
    /// `off`, or `self-signed` to serve HTTPS with a certificate generated once into
    /// data_dir/tls; setting tls_cert and tls_key serves HTTPS with them instead [default: off]
    #[arg(long, global = true, env = "CONFER_TLS", value_name = "MODE")]
    pub tls: Option<TlsMode>,
    /// Certificate chain (PEM) for HTTPS; needs tls_key [default: none]
    #[arg(long, global = true, env = "CONFER_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of tls_cert [default: none]
    #[arg(long, global = true, env = "CONFER_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Comma-separated CIDRs of reverse proxies / load balancers whose `X-Forwarded-For`
    /// names the client (for per-address limits), e.g. `10.0.0.0/24` [default: none]
    #[arg(
        long,
        global = true,
        env = "CONFER_TRUSTED_PROXIES",
        value_name = "CIDRS"
    )]
    pub trusted_proxies: Option<String>,
    /// Redis for several nodes, e.g. redis://127.0.0.1:6379/0; unset = one node [default: unset]
    #[arg(long, global = true, env = "CONFER_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this cluster uses [default: confer]
    #[arg(
        long,
        global = true,
        env = "CONFER_REDIS_PREFIX",
        value_name = "PREFIX"
    )]
    pub redis_prefix: Option<String>,
    /// Log format: `text` or `json` (one JSON object per line) [default: text]
    #[arg(long, global = true, env = "CONFER_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Seconds a stopping server (SIGTERM) gives clients to move to another node [default: 10]
    #[arg(long, global = true, env = "CONFER_DRAIN_TIMEOUT", value_name = "SECS")]
    pub drain_timeout: Option<u64>,
}

/// The same settings as they appear in `confer.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    room_capacity: Option<usize>,
    guests: Option<bool>,
    ice_servers: Option<Vec<IceServer>>,
    ice_transport_policy: Option<IceTransportPolicy>,
    ring_timeout: Option<u64>,
    ping_interval: Option<u64>,
    idle_timeout: Option<u64>,
    header_read_timeout: Option<u64>,
    slow_client_timeout: Option<u64>,
    workers: Option<usize>,
    resume_grace: Option<u64>,
    message_rate: Option<u32>,
    message_burst: Option<u32>,
    max_connections_per_ip: Option<usize>,
    max_sdp_bytes: Option<usize>,
    max_candidates: Option<u32>,
    turn_listen: Option<String>,
    turn_secret: Option<String>,
    turn_realm: Option<String>,
    turn_allow_loopback: Option<bool>,
    turn_allowed_peers: Option<Vec<Cidr>>,
    turn_public_ip: Option<IpAddr>,
    turn_credential_ttl: Option<u64>,
    tls: Option<TlsMode>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    trusted_proxies: Option<Vec<Cidr>>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    log_format: Option<LogFormat>,
    drain_timeout: Option<u64>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub room_capacity: usize,
    pub guests: bool,
    pub ice_servers: Vec<IceServer>,
    pub ice_transport_policy: IceTransportPolicy,
    pub ring_timeout: Duration,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub header_read_timeout: Duration,
    pub slow_client_timeout: Duration,
    /// Runtime worker threads; `None` = one per CPU core.
    pub workers: Option<usize>,
    pub resume_grace: Duration,
    pub message_rate: u32,
    pub message_burst: u32,
    pub max_connections_per_ip: usize,
    pub max_sdp_bytes: usize,
    pub max_candidates: u32,
    /// The embedded STUN/TURN server's address; `None` when `turn_listen = "off"`.
    pub turn_listen: Option<SocketAddr>,
    /// `None`: generated once and kept in `data_dir/turn_secret` (resolved at start).
    pub turn_secret: Option<String>,
    pub turn_realm: String,
    pub turn_allow_loopback: bool,
    pub turn_allowed_peers: Vec<Cidr>,
    pub turn_public_ip: Option<IpAddr>,
    pub turn_credential_ttl: Duration,
    pub tls: Tls,
    pub trusted_proxies: Vec<Cidr>,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub log_format: LogFormat,
    pub drain_timeout: Duration,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            public_url: None,
            smtp_url: None,
            mail_from: "Confer <confer@localhost>".to_owned(),
            room_capacity: 8,
            guests: true,
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            ring_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            slow_client_timeout: Duration::from_secs(30),
            workers: None,
            resume_grace: Duration::from_secs(30),
            message_rate: 50,
            message_burst: 200,
            max_connections_per_ip: 50,
            max_sdp_bytes: 32 * 1024,
            max_candidates: 100,
            turn_listen: Some(SocketAddr::from(([0, 0, 0, 0], 3478))),
            turn_secret: None,
            turn_realm: "confer".to_owned(),
            turn_allow_loopback: false,
            turn_allowed_peers: Vec::new(),
            turn_public_ip: None,
            turn_credential_ttl: Duration::from_secs(86400),
            tls: Tls::Off,
            trusted_proxies: Vec::new(),
            redis_url: None,
            redis_prefix: "confer".to_owned(),
            log_format: LogFormat::Text,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error(
        "ice_servers must be a JSON array of {{\"urls\": ...}} objects or comma-separated URLs: {0}"
    )]
    IceServers(String),
    #[error("turn_listen must be an address such as 0.0.0.0:3478, or off: {0:?}")]
    TurnListen(String),
    #[error("turn_allowed_peers: {0}")]
    TurnAllowedPeers(#[from] crate::turn::policy::CidrError),
    #[error("trusted_proxies: {0}")]
    TrustedProxies(crate::turn::policy::CidrError),
    #[error("turn_secret and turn_realm must not be empty")]
    TurnEmpty,
    #[error("{0}")]
    Tls(&'static str),
    #[error("{0} must be at least {1}")]
    TooSmall(&'static str, u64),
}

impl Config {
    /// Whether cookies must be `Secure`: the server is reached over HTTPS (directly, or
    /// through a TLS-terminating proxy named in `public_url`).
    pub fn secure_cookies(&self) -> bool {
        self.tls.enabled()
            || self
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
    }
}

const DEFAULT_CONFIG_FILE: &str = "confer.toml";

/// A comma-separated list of CIDRs.
fn parse_cidrs(text: &str) -> Result<Vec<Cidr>, crate::turn::policy::CidrError> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::parse)
        .collect()
}

impl Config {
    /// Resolve the configuration from flags/environment and the config file.
    pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        Config::merge(args, file)
    }

    fn merge(args: &ServeArgs, file: FileConfig) -> Result<Config, ConfigError> {
        let d = Config::default();
        let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map(Duration::from_secs).unwrap_or(default)
        };
        let ice_servers = match &args.ice_servers {
            Some(text) => parse_ice_servers(text)?,
            None => file.ice_servers.unwrap_or(d.ice_servers),
        };
        let turn_listen = match args.turn_listen.as_ref().or(file.turn_listen.as_ref()) {
            None => d.turn_listen,
            Some(text) => parse_turn_listen(text)?,
        };
        let turn_allowed_peers = match &args.turn_allowed_peers {
            Some(text) => parse_cidrs(text)?,
            None => file.turn_allowed_peers.unwrap_or(d.turn_allowed_peers),
        };
        let trusted_proxies = match &args.trusted_proxies {
            Some(text) => parse_cidrs(text).map_err(ConfigError::TrustedProxies)?,
            None => file.trusted_proxies.unwrap_or_default(),
        };
        let tls = resolve_tls(
            args.tls.or(file.tls),
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        )?;
        let config = Config {
            tls,
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or(d.data_dir),
            database_url: args.database_url.clone().or(file.database_url),
            public_url: args
                .public_url
                .clone()
                .or(file.public_url)
                .map(|u| u.trim_end_matches('/').to_owned()),
            smtp_url: args.smtp_url.clone().or(file.smtp_url),
            mail_from: args
                .mail_from
                .clone()
                .or(file.mail_from)
                .unwrap_or(d.mail_from),
            room_capacity: args
                .room_capacity
                .or(file.room_capacity)
                .unwrap_or(d.room_capacity),
            guests: args.guests.or(file.guests).unwrap_or(d.guests),
            ice_servers,
            ice_transport_policy: args
                .ice_transport_policy
                .or(file.ice_transport_policy)
                .unwrap_or(d.ice_transport_policy),
            ring_timeout: secs(args.ring_timeout, file.ring_timeout, d.ring_timeout),
            ping_interval: secs(args.ping_interval, file.ping_interval, d.ping_interval),
            idle_timeout: secs(args.idle_timeout, file.idle_timeout, d.idle_timeout),
            header_read_timeout: secs(
                args.header_read_timeout,
                file.header_read_timeout,
                d.header_read_timeout,
            ),
            slow_client_timeout: secs(
                args.slow_client_timeout,
                file.slow_client_timeout,
                d.slow_client_timeout,
            ),
            workers: args.workers.or(file.workers).or(d.workers),
            resume_grace: secs(args.resume_grace, file.resume_grace, d.resume_grace),
            message_rate: args
                .message_rate
                .or(file.message_rate)
                .unwrap_or(d.message_rate),
            message_burst: args
                .message_burst
                .or(file.message_burst)
                .unwrap_or(d.message_burst),
            max_connections_per_ip: args
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(d.max_connections_per_ip),
            max_sdp_bytes: args
                .max_sdp_bytes
                .or(file.max_sdp_bytes)
                .unwrap_or(d.max_sdp_bytes),
            max_candidates: args
                .max_candidates
                .or(file.max_candidates)
                .unwrap_or(d.max_candidates),
            turn_listen,
            turn_secret: args.turn_secret.clone().or(file.turn_secret),
            turn_realm: args
                .turn_realm
                .clone()
                .or(file.turn_realm)
                .unwrap_or(d.turn_realm),
            turn_allow_loopback: args
                .turn_allow_loopback
                .or(file.turn_allow_loopback)
                .unwrap_or(d.turn_allow_loopback),
            turn_allowed_peers,
            turn_public_ip: args.turn_public_ip.or(file.turn_public_ip),
            turn_credential_ttl: secs(
                args.turn_credential_ttl,
                file.turn_credential_ttl,
                d.turn_credential_ttl,
            ),
            trusted_proxies,
            redis_url: args
                .redis_url
                .clone()
                .or(file.redis_url)
                .filter(|u| !u.is_empty()),
            redis_prefix: args
                .redis_prefix
                .clone()
                .or(file.redis_prefix)
                .unwrap_or(d.redis_prefix),
            log_format: args.log_format.or(file.log_format).unwrap_or(d.log_format),
            drain_timeout: secs(args.drain_timeout, file.drain_timeout, d.drain_timeout),
        };
        if config.turn_realm.is_empty() || config.turn_secret.as_deref() == Some("") {
            return Err(ConfigError::TurnEmpty);
        }
        if config.room_capacity < 2 {
            return Err(ConfigError::TooSmall("room_capacity", 2));
        }
        if config.workers == Some(0) {
            return Err(ConfigError::TooSmall("workers", 1));
        }
        for (name, value) in [
            ("ring_timeout", config.ring_timeout),
            ("ping_interval", config.ping_interval),
            ("idle_timeout", config.idle_timeout),
            ("header_read_timeout", config.header_read_timeout),
            ("slow_client_timeout", config.slow_client_timeout),
            ("turn_credential_ttl", config.turn_credential_ttl),
        ] {
            if value.is_zero() {
                return Err(ConfigError::TooSmall(name, 1));
            }
        }
        Ok(config)
    }
}

/// `tls_cert` and `tls_key` together mean HTTPS with them; `tls = self-signed` means a
/// generated certificate; anything contradictory is an error rather than a guess.
fn resolve_tls(
    mode: Option<TlsMode>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Tls, ConfigError> {
    match (mode, cert, key) {
        (None | Some(TlsMode::Off), None, None) => Ok(Tls::Off),
        (Some(TlsMode::SelfSigned), None, None) => Ok(Tls::SelfSigned),
        (None, Some(cert), Some(key)) => Ok(Tls::Files { cert, key }),
        (Some(TlsMode::Off), Some(_), Some(_)) => Err(ConfigError::Tls(
            "tls = off contradicts tls_cert and tls_key (unset tls, or the files)",
        )),
        (Some(TlsMode::SelfSigned), Some(_), Some(_)) => Err(ConfigError::Tls(
            "tls = self-signed contradicts tls_cert and tls_key (choose one)",
        )),
        (_, Some(_), None) | (_, None, Some(_)) => Err(ConfigError::Tls(
            "tls_cert and tls_key must be set together",
        )),
    }
}

/// `off` (or `none`, `false`) disables the embedded TURN server; anything else is an address.
fn parse_turn_listen(text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let text = text.trim();
    if ["off", "none", "false"].contains(&text.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ConfigError::TurnListen(text.to_owned()))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// Accepts either a JSON array of `RTCIceServer` objects or a comma-separated list of URLs.
fn parse_ice_servers(text: &str) -> Result<Vec<IceServer>, ConfigError> {
    let text = text.trim();
    if text.starts_with('[') {
        return serde_json::from_str(text).map_err(|e| ConfigError::IceServers(e.to_string()));
    }
    text.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|s| url.starts_with(s));
            if scheme_ok {
                Ok(IceServer {
                    urls: vec![url.to_owned()],
                    username: None,
                    credential: None,
                })
            } else {
                Err(ConfigError::IceServers(format!(
                    "{url:?} is not a stun:, stuns:, turn: or turns: URL"
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_anything() {
        let c = Config::merge(&ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let file: FileConfig = toml::from_str(
            "room_capacity = 4\nguests = false\nlisten = \"127.0.0.1:9000\"\n\
             [[ice_servers]]\nurls = [\"turn:t.example:3478\"]\nusername = \"u\"\ncredential = \"p\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            room_capacity: Some(6),
            ..ServeArgs::default()
        };
        let c = Config::merge(&args, file).unwrap();
        assert_eq!(c.room_capacity, 6);
        assert!(!c.guests);
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.ice_servers[0].username.as_deref(), Some("u"));
    }

    #[test]
    fn ice_servers_from_urls_or_json() {
        let list = parse_ice_servers("stun:a.example:3478, turn:b.example").unwrap();
        assert_eq!(list.len(), 2);
        let json =
            parse_ice_servers(r#"[{"urls":["turn:x"],"username":"u","credential":"c"}]"#).unwrap();
        assert_eq!(json[0].credential.as_deref(), Some("c"));
        assert!(parse_ice_servers("http://nope").is_err());
    }

    #[test]
    fn turn_settings_layer_like_the_others() {
        let c = Config::merge(&ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(c.turn_listen, Some("0.0.0.0:3478".parse().unwrap()));
        assert_eq!(c.turn_realm, "confer");
        assert!(!c.turn_allow_loopback);
        assert_eq!(c.turn_credential_ttl, Duration::from_secs(86400));
        assert_eq!(c.turn_secret, None);

        let file: FileConfig = toml::from_str(
            "turn_listen = \"127.0.0.1:3479\"\nturn_secret = \"file\"\nturn_realm = \"r\"\n\
             turn_allowed_peers = [\"10.8.0.0/16\"]\nturn_public_ip = \"203.0.113.4\"\n\
             turn_credential_ttl = 60\nturn_allow_loopback = true\n",
        )
        .unwrap();
        let c = Config::merge(&ServeArgs::default(), file.clone()).unwrap();
        assert_eq!(c.turn_listen, Some("127.0.0.1:3479".parse().unwrap()));
        assert_eq!(c.turn_secret.as_deref(), Some("file"));
        assert_eq!(c.turn_allowed_peers, vec!["10.8.0.0/16".parse().unwrap()]);
        assert_eq!(c.turn_public_ip, Some("203.0.113.4".parse().unwrap()));
        assert_eq!(c.turn_credential_ttl, Duration::from_secs(60));
        assert!(c.turn_allow_loopback);

        let args = ServeArgs {
            turn_listen: Some("off".into()),
            turn_secret: Some("flag".into()),
            turn_allowed_peers: Some("192.168.0.0/24, fd00::/8".into()),
            ..ServeArgs::default()
        };
        let c = Config::merge(&args, file).unwrap();
        assert_eq!(c.turn_listen, None);
        assert_eq!(c.turn_secret.as_deref(), Some("flag"));
        assert_eq!(c.turn_allowed_peers.len(), 2);

        for bad in [
            ServeArgs {
                turn_listen: Some("3478".into()),
                ..ServeArgs::default()
            },
            ServeArgs {
                turn_allowed_peers: Some("10.0.0.0/40".into()),
                ..ServeArgs::default()
            },
            ServeArgs {
                turn_credential_ttl: Some(0),
                ..ServeArgs::default()
            },
        ] {
            assert!(Config::merge(&bad, FileConfig::default()).is_err());
        }
    }

    #[test]
    fn tls_settings() {
        let c = Config::merge(&ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(c.tls, Tls::Off);
        assert!(!c.secure_cookies());

        let file: FileConfig = toml::from_str("tls = \"self-signed\"\n").unwrap();
        let c = Config::merge(&ServeArgs::default(), file.clone()).unwrap();
        assert_eq!(c.tls, Tls::SelfSigned);
        assert!(c.secure_cookies());

        let args = ServeArgs {
            tls: Some(TlsMode::Off),
            ..ServeArgs::default()
        };
        assert_eq!(Config::merge(&args, file).unwrap().tls, Tls::Off);

        let file: FileConfig =
            toml::from_str("tls_cert = \"/etc/c.pem\"\ntls_key = \"/etc/k.pem\"\n").unwrap();
        let c = Config::merge(&ServeArgs::default(), file.clone()).unwrap();
        assert_eq!(
            c.tls,
            Tls::Files {
                cert: "/etc/c.pem".into(),
                key: "/etc/k.pem".into()
            }
        );
        assert!(c.secure_cookies());
        let args = ServeArgs {
            tls_key: Some("/flag/k.pem".into()),
            ..ServeArgs::default()
        };
        assert_eq!(
            Config::merge(&args, file).unwrap().tls,
            Tls::Files {
                cert: "/etc/c.pem".into(),
                key: "/flag/k.pem".into()
            }
        );

        for bad in [
            "tls_cert = \"c.pem\"\n",
            "tls_key = \"k.pem\"\n",
            "tls = \"self-signed\"\ntls_cert = \"c\"\ntls_key = \"k\"\n",
            "tls = \"off\"\ntls_cert = \"c\"\ntls_key = \"k\"\n",
        ] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(Config::merge(&ServeArgs::default(), file).is_err(), "{bad}");
        }
        assert!(toml::from_str::<FileConfig>("tls = \"on\"\n").is_err());
    }

    #[test]
    fn workers_default_to_the_cores_and_refuse_zero() {
        let c = Config::merge(&ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(c.workers, None);
        let file: FileConfig = toml::from_str("workers = 2\n").unwrap();
        assert_eq!(
            Config::merge(&ServeArgs::default(), file.clone())
                .unwrap()
                .workers,
            Some(2)
        );
        let args = ServeArgs {
            workers: Some(1),
            ..ServeArgs::default()
        };
        assert_eq!(Config::merge(&args, file).unwrap().workers, Some(1));
        let zero = ServeArgs {
            workers: Some(0),
            ..ServeArgs::default()
        };
        assert!(Config::merge(&zero, FileConfig::default()).is_err());
    }

    #[test]
    fn http_timeouts_layer_like_the_others() {
        let c = Config::merge(&ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.slow_client_timeout, Duration::from_secs(30));
        let file: FileConfig =
            toml::from_str("header_read_timeout = 5\nslow_client_timeout = 60\n").unwrap();
        let c = Config::merge(&ServeArgs::default(), file.clone()).unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.slow_client_timeout, Duration::from_secs(60));
        let args = ServeArgs {
            header_read_timeout: Some(3),
            ..ServeArgs::default()
        };
        let c = Config::merge(&args, file).unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.slow_client_timeout, Duration::from_secs(60));
        for bad in [
            ServeArgs {
                header_read_timeout: Some(0),
                ..ServeArgs::default()
            },
            ServeArgs {
                slow_client_timeout: Some(0),
                ..ServeArgs::default()
            },
        ] {
            assert!(Config::merge(&bad, FileConfig::default()).is_err());
        }
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_errors() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
        let args = ServeArgs {
            room_capacity: Some(1),
            ..ServeArgs::default()
        };
        assert!(Config::merge(&args, FileConfig::default()).is_err());
    }
}
