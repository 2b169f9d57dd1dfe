//! Confer: a self-hosted video calling server in one binary.

pub mod config;
pub mod http;
pub mod signaling;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use config::Config;
use signaling::{Hub, HubSettings};

/// A server bound to its address and running in the background.
pub struct Server {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// The URL a person on this machine opens.
    pub fn local_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if self.addr.is_ipv6() {
            format!("[{}]", self.addr.ip())
        } else {
            self.addr.ip().to_string()
        };
        format!("http://{ip}:{}/", self.addr.port())
    }
}

/// Bind `config.listen` and serve in a background task.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let hub = Hub::new(HubSettings::from(&config));
    let state = http::AppState {
        config: Arc::new(config),
        hub: hub.clone(),
    };
    let app = http::router(state);
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Server { addr, hub, task })
}
