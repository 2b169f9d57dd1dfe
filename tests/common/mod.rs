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
            // Short, so that a dropped test client is announced as gone quickly.
            resume_grace: Duration::from_secs(1),
            turn_listen: Some("127.0.0.1:0".parse().unwrap()),
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
        self.connect_with("").await.0
    }

    /// Connect with a query string (e.g. `resume=…`); returns the client and its `welcome`.
    pub async fn connect_with(&self, query: &str) -> (Client, Value) {
        Client::connect(&format!("{}?{query}", self.ws_url())).await
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

    /// An HTTP/1.1 request with optional JSON body, cookie and extra headers.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        cookie: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Response {
        try_request(self.addr(), method, path, body, cookie, extra, WAIT)
            .await
            .expect("the server accepts the connection and answers")
    }

    pub async fn post(&self, path: &str, body: Value, cookie: Option<&str>) -> Response {
        self.request("POST", path, Some(&body.to_string()), cookie, &[])
            .await
    }

    /// Create an account through the API; returns its session cookie (`name=value`).
    pub async fn sign_up(&self, username: &str, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/account/signup",
                json!({"username":username,"email":email,"password":password,"confirm":password}),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.session_cookie().expect("a session cookie")
    }

    /// Connect a WebSocket client carrying a cookie.
    pub async fn client_with_cookie(&self, cookie: &str) -> (Client, Value) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = Client {
            ws,
            id: String::new(),
        };
        let welcome = client.expect("welcome").await;
        client.id = welcome["id"].as_str().unwrap().to_owned();
        (client, welcome)
    }

    /// The newest message in the dev mailbox.
    pub fn last_mail(&self) -> Option<String> {
        let dir = self.data_dir.join("mail");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        std::fs::read_to_string(files.last()?).ok()
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

/// An HTTP/1.1 request to `addr` with optional JSON body, cookie and extra headers, answered
/// within `wait`; `None` when nothing accepts the connection, or the connection is reset
/// before an answer (a listener closing with the request still in its accept queue).
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
    wait: Duration,
) -> Option<Response> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(wait, stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .ok()?;
    Some(Response::parse(&raw))
}

/// Two well-behaved people in a room, to check after each abuse that they still talk.
pub async fn bystanders(server: &TestServer) -> (Client, Client) {
    let (mut ann, _) = server.joined("calm", "Ann").await;
    let (ben, _) = server.joined("calm", "Ben").await;
    ann.expect("peer_joined").await;
    (ann, ben)
}

/// The two bystanders still reach each other.
pub async fn still_talking(ann: &mut Client, ben: &mut Client) {
    ann.send(json!({"type":"signal","to":ben.id,"candidate":{"candidate":"c"}}))
        .await;
    assert_eq!(ben.expect("signal").await["from"], ann.id.as_str());
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `confer_session=...` from Set-Cookie, when a new session was set.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .find(|c| c.starts_with("confer_session=") && c.len() > "confer_session=".len())
            .map(str::to_owned)
    }
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
    /// Connect to a signaling URL and consume the `welcome`; returns the client and it.
    pub async fn connect(url: &str) -> (Client, Value) {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut client = Client {
            ws,
            id: String::new(),
        };
        let welcome = client.expect("welcome").await;
        client.id = welcome["id"].as_str().expect("welcome.id").to_owned();
        (client, welcome)
    }

    /// The connection ends (however) within a few seconds; frames before that are skipped.
    pub async fn expect_closed_soon(&mut self) {
        loop {
            match self.next_within(WAIT).await {
                Next::Closed(_) => return,
                Next::Frame(_) => continue,
                Next::Nothing => panic!("connection still open"),
            }
        }
    }

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
