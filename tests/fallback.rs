//! The HTTP fallback transport: server-sent events down, POST up, same protocol and session
//! core as the WebSocket — a fallback client and a WebSocket client share a room.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A minimal event-stream reader over HTTP/1.1 chunked encoding.
struct EventStream {
    reader: BufReader<TcpStream>,
    buffer: String,
}

impl EventStream {
    async fn open(server: &TestServer) -> EventStream {
        Self::open_at(server, "/signal/events").await
    }

    async fn open_at(server: &TestServer, path: &str) -> EventStream {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            server.addr()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let head = head.to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        EventStream {
            reader,
            buffer: String::new(),
        }
    }

    async fn read_chunk(&mut self) {
        let mut size = String::new();
        self.reader.read_line(&mut size).await.unwrap();
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data).await.unwrap();
        data.truncate(size);
        self.buffer.push_str(&String::from_utf8(data).unwrap());
    }

    /// The next event as (name, data), skipping keep-alive comments.
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = Vec::new();
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.trim_start().to_owned());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, data.join("\n"));
            }
            tokio::time::timeout(Duration::from_secs(5), self.read_chunk())
                .await
                .expect("an event in time");
        }
    }

    async fn expect(&mut self, kind: &str) -> Value {
        let (name, data) = self.next().await;
        assert_eq!(name, "message");
        let frame: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(frame["type"], kind, "{frame}");
        frame
    }
}

async fn send(server: &TestServer, token: &str, frame: Value) -> u16 {
    server
        .request(
            "POST",
            &format!("/signal/send?token={token}"),
            Some(&frame.to_string()),
            None,
            &[],
        )
        .await
        .status
}

#[tokio::test]
async fn a_fallback_client_and_a_websocket_client_share_a_room() {
    let server = TestServer::start().await;
    let mut events = EventStream::open(&server).await;
    let (name, token) = events.next().await;
    assert_eq!(name, "session");
    assert_eq!(token.len(), 43);
    let welcome = events.expect("welcome").await;
    let ann_id = welcome["id"].as_str().unwrap().to_owned();

    assert_eq!(
        send(
            &server,
            &token,
            json!({"type":"join","room":"r","name":"Ann"})
        )
        .await,
        204
    );
    assert_eq!(events.expect("joined").await["you"]["id"], ann_id.as_str());

    let (mut ben, joined) = server.joined("r", "Ben").await;
    assert_eq!(joined["peers"][0]["id"], ann_id.as_str());
    assert_eq!(
        events.expect("peer_joined").await["peer"]["id"],
        ben.id.as_str()
    );

    ben.send(json!({"type":"signal","to":ann_id,"description":{"type":"offer","sdp":"v=0"}}))
        .await;
    let offer = events.expect("signal").await;
    assert_eq!(offer["from"], ben.id.as_str());
    assert_eq!(offer["description"]["sdp"], "v=0");
    let status = send(
        &server,
        &token,
        json!({"type":"signal","to":ben.id,"description":{"type":"answer","sdp":"v=0"}}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(ben.expect("signal").await["from"], ann_id.as_str());

    // Errors come back over the event stream like over a WebSocket.
    assert_eq!(send(&server, &token, json!({"type":"dance"})).await, 204);
    assert_eq!(events.expect("error").await["code"], "unknown_type");

    // Closing the event stream ends the session.
    drop(events);
    assert_eq!(ben.expect("peer_left").await["peer"], ann_id.as_str());
    let mut gone = 0;
    for _ in 0..50 {
        gone = send(&server, &token, json!({"type":"ping"})).await;
        if gone == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gone, 404, "the token dies with its stream");
}

#[tokio::test]
async fn bad_posts_are_refused_without_disturbing_the_session() {
    let server = TestServer::start().await;
    let mut events = EventStream::open(&server).await;
    let (_, token) = events.next().await;
    events.expect("welcome").await;

    assert_eq!(
        send(&server, "not-a-token", json!({"type":"ping"})).await,
        404
    );
    let huge = format!("{{\"type\":\"chat\",\"text\":\"{}\"}}", "x".repeat(70_000));
    let r = server
        .request(
            "POST",
            &format!("/signal/send?token={token}"),
            Some(&huge),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 413);
    let r = server
        .request(
            "POST",
            &format!("/signal/send?token={token}"),
            Some("{\"type\":\"ping\"}"),
            None,
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        server
            .request("POST", "/signal/send", Some("{}"), None, &[])
            .await
            .status,
        400
    );

    assert_eq!(send(&server, &token, json!({"type":"ping"})).await, 204);
    events.expect("pong").await;
}

#[tokio::test]
async fn an_event_stream_session_resumes_after_the_stream_drops() {
    let server = TestServer::start_with(|c| c.resume_grace = Duration::from_secs(20)).await;
    let mut events = EventStream::open(&server).await;
    let (_, token) = events.next().await;
    let welcome = events.expect("welcome").await;
    let ann_id = welcome["id"].as_str().unwrap().to_owned();
    send(
        &server,
        &token,
        json!({"type":"join","room":"r","name":"Ann"}),
    )
    .await;
    events.expect("joined").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    events.expect("peer_joined").await;

    drop(events);
    ben.send(json!({"type":"chat","text":"are you there?"}))
        .await;
    ben.expect_silence().await;

    let resume = welcome["resume"].as_str().unwrap();
    let mut events =
        EventStream::open_at(&server, &format!("/signal/events?resume={resume}")).await;
    let (name, new_token) = events.next().await;
    assert_eq!(name, "session");
    let again = events.expect("welcome").await;
    assert_eq!(again["resumed"], true);
    assert_eq!(again["id"], ann_id.as_str());
    assert_eq!(events.expect("chat").await["text"], "are you there?");
    send(&server, &new_token, json!({"type":"chat","text":"yes"})).await;
    assert_eq!(ben.expect("chat").await["text"], "yes");
}
