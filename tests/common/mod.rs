//! Test helpers: a real server on 127.0.0.1:0 and a WebSocket client that speaks the protocol.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use confer::config::Config;

/// How long any single expected message may take before the test fails.
const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub server: confer::Server,
    data_dir: std::path::PathBuf,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = std::env::temp_dir().join(format!(
            "confer-test-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            ring_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        tweak(&mut config);
        let server = confer::start(config).await.expect("server starts");
        TestServer { server, data_dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.server.addr)
    }

    /// Connect a client and consume its `welcome`.
    pub async fn client(&self) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(self.ws_url())
            .await
            .expect("websocket connects");
        let mut client = Client {
            ws,
            id: String::new(),
        };
        let welcome = client.expect("welcome").await;
        client.id = welcome["id"].as_str().expect("welcome.id").to_owned();
        client
    }

    /// A client that joined `room` under `name`; returns it with its `joined` frame.
    pub async fn joined(&self, room: &str, name: &str) -> (Client, Value) {
        let mut c = self.client().await;
        c.send(json!({"type":"join","room":room,"name":name})).await;
        let joined = c.expect("joined").await;
        (c, joined)
    }

    /// A client registered under `name`.
    pub async fn registered(&self, name: &str) -> Client {
        let mut c = self.client().await;
        c.send(json!({"type":"register","name":name})).await;
        c.expect("registered").await;
        c
    }

    /// A plain HTTP/1.1 GET; returns (status, headers+body text).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr()).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
            .await
            .expect("response in time")
            .unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.task.abort();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub id: String,
}

/// What the next thing from the server was.
#[derive(Debug)]
pub enum Next {
    Frame(Value),
    Closed(Option<CloseFrame>),
    Nothing,
}

impl Client {
    pub async fn send(&mut self, msg: Value) {
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.unwrap();
    }

    /// The next text frame or close, waiting at most `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Next {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return Next::Nothing,
                Ok(None) => return Next::Closed(None),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Next::Frame(
                        serde_json::from_str(t.as_str()).expect("server sends JSON"),
                    );
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Next::Closed(frame),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) => return Next::Closed(None),
            }
        }
    }

    /// The next frame, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        match self.next_within(WAIT).await {
            Next::Frame(v) if v["type"] == kind => v,
            other => panic!("expected {kind}, got {other:?}"),
        }
    }

    /// The next frame, which must be an error with `code`.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.expect("error").await;
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        v
    }

    /// Nothing arrives for a short while (for "must not be relayed" checks).
    pub async fn expect_silence(&mut self) {
        match self.next_within(Duration::from_millis(300)).await {
            Next::Nothing => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }

    /// The server closes the connection with `code`.
    pub async fn expect_close(&mut self, code: u16) {
        loop {
            match self.next_within(WAIT).await {
                Next::Closed(Some(frame)) => {
                    assert_eq!(u16::from(frame.code), code, "{frame:?}");
                    return;
                }
                Next::Frame(_) => continue,
                other => panic!("expected close {code}, got {other:?}"),
            }
        }
    }

    /// A round trip proving the connection still works.
    pub async fn ping(&mut self) {
        self.send(json!({"type":"ping"})).await;
        self.expect("pong").await;
    }
}
