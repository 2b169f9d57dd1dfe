//! Confer: a self-hosted video calling server in one binary.

pub mod auth;
pub mod bus;
pub mod config;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod signaling;
pub mod store;
pub mod tls;
pub mod turn;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use config::Config;
use signaling::{CallEvent, Hub, HubSettings};
use store::Store;

/// A server bound to its address and running in the background.
pub struct Server {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub resumable: Arc<signaling::Resumable>,
    pub store: Store,
    pub task: JoinHandle<std::io::Result<()>>,
    /// The embedded STUN/TURN server's bound address (UDP and TCP), unless `turn_listen = off`.
    pub turn_addr: Option<SocketAddr>,
    /// The embedded STUN/TURN server; it stops when this is dropped.
    pub turn: Option<Arc<turn::TurnServer>>,
    /// SHA-256 fingerprint of the certificate served at start (HTTPS); `None` for plain HTTP.
    /// After a SIGHUP reload, `tls` has the current one.
    pub tls_fingerprint: Option<String>,
    /// The certificate being served, when serving HTTPS (`reload()` swaps it).
    pub tls: Option<Arc<tls::CertStore>>,
    /// Cancel to stop accepting; `task` ends once the requests in flight are done.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The Redis bus, when several nodes share the work.
    pub redis: Option<Arc<bus::RedisBus>>,
    /// Set to `true` to ask every connection to move elsewhere (graceful shutdown).
    draining: tokio::sync::watch::Sender<bool>,
    drain_timeout: std::time::Duration,
}

impl Server {
    /// Graceful shutdown: refuse new connections, ask every client to reconnect (to another
    /// node, where its session resumes), wait until they have moved or `drain_timeout`
    /// passed, then end what is left and leave the bus.
    pub async fn drain(&self) {
        let _ = self.draining.send(true);
        self.shutdown.cancel();
        let Some(redis) = &self.redis else {
            // One node: nowhere to move to; give close frames a moment to go out.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            return;
        };
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        while self.hub.stats().local > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let left = self.hub.local_peers();
        tracing::info!(
            remaining = left.len(),
            "drained; ending sessions that did not move"
        );
        for peer in &left {
            self.hub.disconnect(peer);
        }
        redis.flush(std::time::Duration::from_secs(2)).await;
        redis.leave().await;
    }

    /// The URL a person on this machine opens.
    pub fn local_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if self.addr.is_ipv6() {
            format!("[{}]", self.addr.ip())
        } else {
            self.addr.ip().to_string()
        };
        format!("{}://{ip}:{}/", self.scheme(), self.addr.port())
    }

    /// `https` under TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_fingerprint.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// URLs on this machine's non-loopback addresses (for phones on the same network), when
    /// listening on all addresses.
    pub fn lan_urls(&self) -> Vec<String> {
        if !self.addr.ip().is_unspecified() {
            return Vec::new();
        }
        tls::lan_addresses()
            .into_iter()
            .filter(|ip| self.addr.is_ipv6() || ip.is_ipv4())
            .map(|ip| {
                let host = match ip {
                    std::net::IpAddr::V4(v4) => v4.to_string(),
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                };
                format!("{}://{host}:{}/", self.scheme(), self.addr.port())
            })
            .collect()
    }
}

/// Connections the kernel queues before `accept`. The standard library's 128 (what tokio
/// uses) overflows when a few hundred clients reconnect at once, after a node restarts,
/// and each refused handshake is retried only a second later. The kernel caps it at
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Open the database, bind `config.listen` and serve in a background task.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let store = Store::open(config.database_url.as_deref(), &config.data_dir)
        .await
        .context("cannot open the database")?;
    let mailer = mail::Mailer::new(
        config.smtp_url.as_deref(),
        &config.mail_from,
        &config.data_dir,
    )
    .context("cannot set up email")?;
    if let Some(dir) = mailer.dev_mailbox() {
        tracing::info!(
            "no smtp_url set: account emails are logged and written to {}",
            dir.display()
        );
    }
    tls::install_crypto_provider();
    let tls = tls::load(&config.tls, &config.data_dir).await?;
    if let Some(loaded) = &tls {
        tracing::info!(
            "HTTPS with {} ({}), SHA-256 fingerprint {}",
            loaded.cert_path.display(),
            if loaded.generated {
                "self-signed, generated now"
            } else {
                "loaded"
            },
            loaded.fingerprint
        );
    }
    let listener =
        listen(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;

    let (events, event_rx) = mpsc::channel(signaling::hub::CALL_EVENT_BACKLOG);
    tokio::spawn(record_calls(store.clone(), event_rx));
    tokio::spawn(purge_expired(store.clone()));
    let mut hub_settings = HubSettings::from(&config);
    let turn = start_turn(&config, &mut hub_settings).await?;
    let (hub, redis) = match &config.redis_url {
        None => (Hub::new(hub_settings, Some(events)), None),
        Some(url) => {
            let redis = bus::RedisBus::new(url, &config.redis_prefix)?;
            let hub = Hub::with_bus(hub_settings, Some(events), redis.clone());
            redis.start(&hub).await;
            (hub, Some(redis))
        }
    };
    let metrics = metrics::install();
    let (draining, draining_rx) = tokio::sync::watch::channel(false);
    let drain_timeout = config.drain_timeout;
    let resumable = Arc::new(signaling::Resumable::default());
    let connections = http::conn_limit::ConnectionLimiter::new(config.max_connections_per_ip);
    let state = http::AppState {
        config: Arc::new(config),
        hub: hub.clone(),
        store: store.clone(),
        mailer,
        limits: Arc::new(auth::rate_limit::AccountLimits::default()),
        fallback: http::fallback::FallbackSessions::default(),
        resumable: resumable.clone(),
        connections,
        turn: turn.clone(),
        metrics,
        draining: draining_rx,
    };
    if let Some(loaded) = &tls {
        tls::reload_on_sighup(loaded.config.clone())?;
    }
    let serve_settings = http::serve::ServeSettings {
        header_read_timeout: state.config.header_read_timeout,
        slow_client_timeout: state.config.slow_client_timeout,
        tls: tls.as_ref().map(|t| t.config.clone()),
    };
    let app = http::router(state);
    let tls_fingerprint = tls.as_ref().map(|t| t.fingerprint.clone());
    let shutdown = tokio_util::sync::CancellationToken::new();
    // TCP_NODELAY, timeouts and TLS: see src/http/serve.rs.
    let task = tokio::spawn(http::serve::serve(
        listener,
        app,
        serve_settings,
        shutdown.clone(),
    ));
    Ok(Server {
        addr,
        hub,
        resumable,
        store,
        task,
        turn_addr: turn.as_ref().map(|t| t.addr),
        turn,
        tls_fingerprint,
        tls: tls.map(|t| t.config),
        shutdown,
        redis,
        draining,
        drain_timeout,
    })
}

/// Start the embedded STUN/TURN server unless it is off, and tell the hub how to mint
/// credentials for it.
async fn start_turn(
    config: &Config,
    hub: &mut HubSettings,
) -> anyhow::Result<Option<Arc<turn::TurnServer>>> {
    let Some(listen) = config.turn_listen else {
        tracing::info!("embedded TURN server is off (turn_listen = off)");
        // An external coturn sharing the secret still gets credentials minted for it.
        hub.turn_rest = config
            .turn_secret
            .clone()
            .map(|secret| (secret, config.turn_credential_ttl));
        return Ok(None);
    };
    let secret = match &config.turn_secret {
        Some(secret) => secret.clone(),
        None => turn::credentials::load_or_create_secret(&config.data_dir)
            .context("cannot read or create data_dir/turn_secret")?,
    };
    let mut settings = turn::TurnSettings::new(listen, secret.clone());
    settings.realm = config.turn_realm.clone();
    settings.public_ip = config.turn_public_ip;
    settings.policy = turn::PeerPolicy {
        allow_loopback: config.turn_allow_loopback,
        allowed: config.turn_allowed_peers.clone(),
    };
    let server = turn::TurnServer::start(settings).await.with_context(|| {
        format!(
            "cannot listen on {listen} for STUN/TURN (set turn_listen to another address, or off)"
        )
    })?;
    let addr = server.addr;
    let credentials = turn::TurnCredentials {
        secret,
        ttl: config.turn_credential_ttl,
        port: addr.port(),
        host: config
            .turn_public_ip
            .or_else(|| (!listen.ip().is_unspecified()).then_some(listen.ip())),
    };
    let host = match credentials.host {
        Some(_) => credentials.url_host(None),
        None => "<host of the page>".to_owned(),
    };
    let mut urls = vec![
        format!("stun:{host}:{}", addr.port()),
        format!("turn:{host}:{}?transport=udp", addr.port()),
        format!("turn:{host}:{}?transport=tcp", addr.port()),
    ];
    urls.extend(
        config
            .ice_servers
            .iter()
            .flat_map(|s| s.urls.iter().cloned()),
    );
    tracing::info!(
        "STUN/TURN on {addr} (UDP and TCP); browsers get ICE servers {}",
        urls.join(", ")
    );
    hub.turn_rest = Some((credentials.secret.clone(), config.turn_credential_ttl));
    hub.turn = Some(credentials);
    if !turn::self_check(addr).await {
        tracing::warn!(
            "the TURN port {addr} does not answer a STUN Binding request over UDP; calls \
             across NATs may fail (firewall?)"
        );
    }
    Ok(Some(Arc::new(server)))
}

/// Write call-log events to the database, one at a time, in order.
async fn record_calls(store: Store, mut events: mpsc::Receiver<CallEvent>) {
    while let Some(event) = events.recv().await {
        let result = match &event {
            CallEvent::Started {
                call,
                caller,
                callee,
            } => {
                store
                    .log_call_started(
                        call,
                        (&caller.name, caller.user_id),
                        (&callee.name, callee.user_id),
                    )
                    .await
            }
            CallEvent::Answered { call } => store.log_call_answered(call).await,
            CallEvent::Ended { call, outcome } => store.log_call_ended(call, *outcome).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, ?event, "cannot write the call log");
        }
    }
}

/// Sweep expired sessions and reset links once an hour.
async fn purge_expired(store: Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        match store.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "purged expired sessions and reset links"),
            Err(e) => tracing::warn!(error = %e, "cannot purge expired sessions"),
        }
    }
}
