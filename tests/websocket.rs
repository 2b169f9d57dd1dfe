//! The WebSocket layer as clients meet it: the opening handshake, framing the way browsers
//! and odd clients send it (fragments, several frames per packet, a byte at a time), control
//! frames, and the close codes for broken framing. Raw TCP where a WebSocket library would
//! refuse to send what the test needs.

mod common;

use std::time::Duration;

use common::{TestServer, bystanders, still_talking};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};

const WAIT: Duration = Duration::from_secs(5);

/// A WebSocket spoken byte by byte over TCP.
struct RawClient {
    tcp: TcpStream,
    /// Bytes read and not yet parsed into frames.
    buf: Vec<u8>,
}

/// A frame from the server: opcode and payload.
#[derive(Debug)]
struct ServerFrame {
    opcode: u8,
    payload: Vec<u8>,
}

impl ServerFrame {
    fn json(&self) -> Value {
        assert_eq!(self.opcode, 1, "a text frame");
        serde_json::from_slice(&self.payload).expect("JSON text")
    }

    fn close_code(&self) -> u16 {
        assert_eq!(self.opcode, 8, "a close frame, got {self:?}");
        u16::from_be_bytes([self.payload[0], self.payload[1]])
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl RawClient {
    async fn connect(server: &TestServer) -> RawClient {
        let (mut client, head) = Self::handshake(server, &request(server, &[])).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=")
        );
        assert_eq!(client.next().await.json()["type"], "welcome");
        client
    }

    /// Send `request`, return the client and the response head.
    async fn handshake(server: &TestServer, request: &str) -> (RawClient, String) {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut client = RawClient {
            tcp,
            buf: Vec::new(),
        };
        let head = loop {
            if let Some(end) = client.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&client.buf[..end]).into_owned();
                client.buf.drain(..end + 4);
                break head;
            }
            client.read_some().await;
        };
        (client, head)
    }

    async fn read_some(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("the server answers in time")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next frame from the server (unmasked, never fragmented by this server).
    async fn next(&mut self) -> ServerFrame {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return frame;
            }
            assert!(
                self.read_some().await > 0,
                "connection closed before a frame"
            );
        }
    }

    /// The next frame that is not a `ping` from the server's keep-alive.
    async fn next_non_ping(&mut self) -> ServerFrame {
        loop {
            let frame = self.next().await;
            if frame.opcode != 9 {
                return frame;
            }
        }
    }
}

fn request(server: &TestServer, extra: &[&str]) -> String {
    let mut r = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n",
        server.addr()
    );
    for h in extra {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r
}

fn parse_server_frame(buf: &[u8]) -> Option<(ServerFrame, usize)> {
    let [b0, b1, ..] = *buf else { return None };
    assert_eq!(b1 & 0x80, 0, "server frames are not masked");
    let (len, at) = match b1 & 0x7F {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some((
        ServerFrame {
            opcode: b0 & 0x0F,
            payload,
        },
        at + len,
    ))
}

/// A client frame: masked unless `masked` is false.
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn text(json: &str) -> Vec<u8> {
    frame(true, 1, json.as_bytes(), true)
}

#[tokio::test]
async fn handshakes_that_are_not_websocket_get_clear_http_errors() {
    let server = TestServer::start().await;
    for (req, status) in [
        (
            request(&server, &[]).replace("Sec-WebSocket-Key: ", "X-Key: "),
            "400",
        ),
        (
            request(&server, &[]).replace("Version: 13", "Version: 8"),
            "400",
        ),
        (
            request(&server, &[]).replace("Upgrade: websocket\r\n", ""),
            "400",
        ),
        (request(&server, &[]).replace("GET /ws", "POST /ws"), "405"),
    ] {
        let (_, head) = RawClient::handshake(&server, &req).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{req:?} → {head}"
        );
    }
    // A client offering compression gets a plain connection (nothing is negotiated).
    let (_, head) = RawClient::handshake(
        &server,
        &request(
            &server,
            &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
}

#[tokio::test]
async fn several_frames_in_one_packet_and_a_frame_byte_by_byte() {
    let server = TestServer::start().await;
    let mut c = RawClient::connect(&server).await;
    // Three pings in one write: three pongs.
    let burst = [
        text(r#"{"type":"ping"}"#),
        text(r#"{"type":"ping"}"#),
        text(r#"{"type":"ping"}"#),
    ]
    .concat();
    c.tcp.write_all(&burst).await.unwrap();
    for _ in 0..3 {
        assert_eq!(c.next_non_ping().await.json()["type"], "pong");
    }
    // A join written one byte at a time, with pauses.
    let join = text(r#"{"type":"join","room":"slow","name":"Sid"}"#);
    for b in &join {
        c.tcp.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(c.next_non_ping().await.json()["type"], "joined");
}

#[tokio::test]
async fn fragmented_messages_are_reassembled_with_control_frames_between() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("frag", "Ann").await;
    let mut ben = server.client().await;
    // A join in three fragments (tungstenite sends them as given), a ping between them.
    let join = r#"{"type":"join","room":"frag","name":"Ben"}"#;
    let (a, rest) = join.split_at(10);
    let (b, c) = rest.split_at(15);
    let parts = [
        Frame::message(a.as_bytes().to_vec(), OpCode::Data(Data::Text), false),
        Frame::message(b.as_bytes().to_vec(), OpCode::Data(Data::Continue), false),
        Frame::message(c.as_bytes().to_vec(), OpCode::Data(Data::Continue), true),
    ];
    let [first, second, third] = parts;
    ben.send_raw(Message::Frame(first)).await;
    ben.send_raw(Message::Ping(b"between".to_vec().into()))
        .await;
    ben.send_raw(Message::Frame(second)).await;
    ben.send_raw(Message::Frame(third)).await;
    ben.expect("joined").await;
    assert_eq!(ann.expect("peer_joined").await["peer"]["name"], "Ben");
}

#[tokio::test]
async fn pings_are_answered_with_their_payload() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    c.ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(WAIT, async {
        loop {
            match c.ws.next().await {
                Some(Ok(Message::Pong(p))) => return p,
                Some(Ok(Message::Ping(_))) => continue,
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    })
    .await
    .expect("a pong in time");
    assert_eq!(&pong[..], b"are you there");
}

#[tokio::test]
async fn a_client_close_is_answered_with_its_code_and_the_others_are_told() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("bye", "Ann").await;
    let (mut ben, _) = server.joined("bye", "Ben").await;
    ann.expect("peer_joined").await;
    ben.ws
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "tab closed".into(),
        })))
        .await
        .unwrap();
    let echoed = tokio::time::timeout(WAIT, async {
        loop {
            match ben.ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected the close answer, got {other:?}"),
            }
        }
    })
    .await
    .expect("the server answers the close");
    assert_eq!(echoed.map(|f| u16::from(f.code)), Some(1001));
    // A deliberate close is leaving: the room is told at once, not after the resume grace.
    assert_eq!(ann.expect("peer_left").await["peer"], ben.id.as_str());
}

#[tokio::test]
async fn broken_framing_closes_with_1002_and_bad_utf8_with_1007() {
    let server = TestServer::start().await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let cases: [(&str, Vec<u8>, u16); 6] = [
        (
            "unmasked",
            frame(true, 1, br#"{"type":"ping"}"#, false),
            1002,
        ),
        (
            "reserved bit",
            {
                let mut f = text(r#"{"type":"ping"}"#);
                f[0] |= 0x40;
                f
            },
            1002,
        ),
        ("unknown opcode", frame(true, 3, b"", true), 1002),
        (
            "continuation out of nowhere",
            frame(true, 0, b"x", true),
            1002,
        ),
        ("long ping", frame(true, 9, &[0; 126], true), 1002),
        (
            "not UTF-8",
            frame(true, 1, &[b'"', 0xff, 0xfe, b'"'], true),
            1007,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut c = RawClient::connect(&server).await;
        c.tcp.write_all(&bytes).await.unwrap();
        assert_eq!(c.next_non_ping().await.close_code(), code, "{what}");
    }
    // The room next door never noticed.
    still_talking(&mut ann, &mut ben).await;
}
