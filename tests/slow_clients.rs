//! Slow and stalled HTTP clients (src/http/serve.rs): cut off by the header-read and
//! slow-client timeouts, while everyone else is served; and shutdown through the token.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bound for things that must happen eventually; a test fails rather than hangs. Not a
/// measurement: nothing here asserts how long anything took.
const EVENTUALLY: Duration = Duration::from_secs(30);

async fn short_timeouts() -> TestServer {
    TestServer::start_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.slow_client_timeout = Duration::from_secs(1);
    })
    .await
}

/// Reads until the server closes the connection; returns what it sent first.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(EVENTUALLY, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server never closed the stalled connection"
    );
    got
}

#[tokio::test]
async fn half_a_request_line_is_cut_off_while_a_normal_request_is_served() {
    let server = short_timeouts().await;
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    stalled.write_all(b"GET / HT").await.unwrap();
    // Also one that sends nothing at all.
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();

    // Meanwhile, on another connection, a whole request is answered.
    let (status, body) = server.get("/").await;
    assert_eq!(status, 200, "{body}");

    let got = read_until_closed(&mut stalled).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "a half request must not be answered as if complete: {got:?}"
    );
    read_until_closed(&mut silent).await;
    // The server is still fine afterwards.
    assert_eq!(server.get("/").await.0, 200);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = short_timeouts().await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr());
    stream.write_all(request.as_bytes()).await.unwrap();
    // The answer comes, the connection stays open for the next request, which never comes.
    let got = read_until_closed(&mut stream).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_is_cut_off() {
    let server = short_timeouts().await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /api/account/signin HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"login\":",
        server.addr()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let got = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.starts_with("HTTP/1.1 2"),
        "a stalled body is not a request: {text}"
    );
}

#[tokio::test]
async fn a_slowloris_does_not_stop_a_websocket_call() {
    let server = short_timeouts().await;
    // Many connections, each sending a little of a request and then a header line now and
    // then, never finishing: the classic slowloris.
    let mut loris = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        loris.push(s);
    }
    let trickle = tokio::spawn(async move {
        for round in 0.. {
            for s in loris.iter_mut() {
                let _ = s.write_all(format!("X-{round}: y\r\n").as_bytes()).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            if round > 20 {
                break;
            }
        }
        loris
    });

    // A call still works: two people join a room and relay signaling to each other.
    let (mut ann, _) = server.joined("loris", "Ann").await;
    let (mut ben, _) = server.joined("loris", "Ben").await;
    ann.expect("peer_joined").await;
    ann.send(json!({"type":"signal","to":ben.id,"description":{"type":"offer","sdp":"v=0"}}))
        .await;
    assert_eq!(ben.expect("signal").await["from"], ann.id.as_str());
    ben.send(json!({"type":"signal","to":ann.id,"description":{"type":"answer","sdp":"v=0"}}))
        .await;
    assert_eq!(ann.expect("signal").await["from"], ben.id.as_str());
    // And plain HTTP too.
    assert_eq!(server.get("/").await.0, 200);

    // Every slowloris connection is eventually closed by the server, trickle or not.
    let mut loris = trickle.await.unwrap();
    for s in loris.iter_mut() {
        let got = read_until_closed(s).await;
        assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    }
    // The call survived the whole time.
    ann.send(json!({"type":"chat","text":"still here"})).await;
    assert_eq!(ben.expect("chat").await["text"], "still here");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_requests_finish() {
    let server = TestServer::start().await;
    let addr = server.addr();
    // A request on its way: the handler is waiting for the body (it asked for it: the
    // server sent "100 Continue"), which has not been sent yet.
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"login":"nobody","password":"wrong-password"}"#;
    let head = format!(
        "POST /api/account/signin HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    let mut cont = [0u8; 25];
    in_flight.read_exact(&mut cont).await.unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    // An idle kept-alive connection.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    server.server.shutdown.cancel();
    // The request in flight still gets its answer.
    in_flight.write_all(body.as_bytes()).await.unwrap();
    let got = read_until_closed(&mut in_flight).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    // The idle one is closed, and the serve task ends.
    read_until_closed(&mut idle).await;
    let ended = tokio::time::timeout(EVENTUALLY, async {
        while !server.server.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the serve task did not end after shutdown");
    // Nobody new gets in.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_cut_off() {
    let server = TestServer::start_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.tls = confer::config::Tls::SelfSigned;
    })
    .await;
    // Connected, half a ClientHello record header, then nothing.
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    read_until_closed(&mut stalled).await;
    read_until_closed(&mut silent).await;
}
