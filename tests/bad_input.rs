//! Hostile and broken input gets a clear error or a documented close, and never disturbs a
//! call running alongside.

mod common;

use common::{TestServer, bystanders, still_talking};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_frames_get_error_frames() {
    let server = TestServer::start().await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let mut bad = server.client().await;
    for (frame, code) in [
        ("not json at all", "invalid_message"),
        ("{\"type\":", "invalid_message"),
        ("[1,2,3]", "invalid_message"),
        ("{\"no_type\":1}", "invalid_message"),
        ("{\"type\":\"explode\"}", "unknown_type"),
        ("{\"type\":7}", "invalid_message"),
        ("{\"type\":\"join\"}", "invalid_message"),
        ("{\"type\":\"join\",\"room\":42}", "invalid_message"),
        ("{\"type\":\"signal\",\"to\":\"x\"}", "invalid_message"),
        ("{\"type\":\"join\",\"room\":\"a b/../c\"}", "invalid_room"),
        (
            "{\"type\":\"join\",\"room\":\"ok\",\"name\":\"\\u0000\"}",
            "invalid_name",
        ),
        ("{\"type\":\"chat\",\"text\":\"hi\"}", "not_in_room"),
        ("{\"type\":\"leave\"}", "not_in_room"),
        (&"[".repeat(10_000), "invalid_message"),
    ] {
        bad.send_raw(Message::text(frame.to_owned())).await;
        bad.expect_error(code).await;
    }
    // Still usable after all that.
    bad.ping().await;
    still_talking(&mut ann, &mut ben).await;
}

#[tokio::test]
async fn a_second_join_and_a_signal_to_a_stranger_are_refused() {
    let server = TestServer::start().await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let (mut eve, _) = server.joined("elsewhere", "Eve").await;
    eve.send(json!({"type":"join","room":"calm","name":"Eve"}))
        .await;
    eve.expect_error("already_in_room").await;
    eve.send(json!({"type":"signal","to":ann.id,"description":{"type":"offer","sdp":"x"}}))
        .await;
    eve.expect_error("not_a_peer").await;
    ann.expect_silence().await;
    still_talking(&mut ann, &mut ben).await;
}

#[tokio::test]
async fn binary_frames_close_with_1003() {
    let server = TestServer::start().await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let (mut bad, _) = server.joined("calm", "Bad").await;
    ann.expect("peer_joined").await;
    ben.expect("peer_joined").await;
    bad.send_raw(Message::binary(vec![0u8, 159, 146, 150]))
        .await;
    bad.expect_close(1003).await;
    assert_eq!(ann.expect("peer_left").await["peer"], bad.id.as_str());
    ben.expect("peer_left").await;
    still_talking(&mut ann, &mut ben).await;
}

#[tokio::test]
async fn oversize_frames_close_with_1009() {
    let server = TestServer::start().await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let mut bad = server.client().await;
    let huge = format!(
        "{{\"type\":\"chat\",\"text\":\"{}\"}}",
        "x".repeat(64 * 1024 + 1)
    );
    bad.send_raw(Message::text(huge)).await;
    bad.expect_close(1009).await;
    still_talking(&mut ann, &mut ben).await;

    // Just under the limit is a normal (if rejected) message.
    let mut fine = server.client().await;
    let big = format!(
        "{{\"type\":\"chat\",\"text\":\"{}\"}}",
        "x".repeat(60 * 1024)
    );
    fine.send_raw(Message::text(big)).await;
    fine.expect_error("invalid_chat").await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_does_not_disturb_others() {
    let server = TestServer::start().await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let mut bad = server.client().await;
    // A text frame carrying bytes that are not UTF-8.
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        vec![0xff, 0xfe, 0xfd],
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    bad.send_raw(Message::Frame(frame)).await;
    bad.expect_close(1007).await;
    still_talking(&mut ann, &mut ben).await;
}

#[tokio::test]
async fn a_message_flood_is_cut_to_the_rate_and_others_keep_talking() {
    use futures_util::SinkExt;
    let server = TestServer::start_with(|c| {
        c.message_rate = 20;
        c.message_burst = 50;
    })
    .await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let mut flooder = server.client().await;
    let start = std::time::Instant::now();
    for _ in 0..3000 {
        flooder
            .ws
            .feed(Message::text(r#"{"type":"ping"}"#))
            .await
            .unwrap();
    }
    flooder.ws.flush().await.unwrap();
    still_talking(&mut ann, &mut ben).await;

    let (mut pongs, mut limited) = (0u32, 0u32);
    loop {
        match flooder
            .next_within(std::time::Duration::from_millis(500))
            .await
        {
            common::Next::Frame(f) if f["type"] == "pong" => pongs += 1,
            common::Next::Frame(f) if f["code"] == "rate_limited" => limited += 1,
            common::Next::Nothing => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let allowed = 50 + (20.0 * start.elapsed().as_secs_f64()).ceil() as u32;
    assert!(
        pongs >= 50 && pongs <= allowed,
        "{pongs} pongs, at most {allowed} allowed"
    );
    assert!(limited >= 1, "the flooder is told");
    assert!(
        limited <= 1 + start.elapsed().as_secs() as u32,
        "told at most once a second"
    );
    // After a pause the flooder may talk again.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    flooder.ping().await;
    still_talking(&mut ann, &mut ben).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_counts_forwarded_addresses() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start_with(|c| {
        c.max_connections_per_ip = 2;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let connect = |xff: &'static str| {
        let mut request = server.ws_url().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    // Six people behind the proxy, two connections each: all fine.
    let mut held = Vec::new();
    for xff in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        for _ in 0..2 {
            held.push(connect(xff).await.expect("under the limit"));
        }
    }
    // A third from one of them is refused; a client naming itself in front is no help.
    for xff in ["198.51.100.1", "203.0.113.50, 198.51.100.1"] {
        match connect(xff).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429)
            }
            other => panic!("expected 429, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn one_address_gets_a_bounded_number_of_connections() {
    let server = TestServer::start_with(|c| c.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(server.client().await);
    }
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    // The fallback transport counts against the same limit.
    let r = server
        .request("GET", "/signal/events", None, None, &[])
        .await;
    assert_eq!(r.status, 429);
    // Closing one frees its place.
    let mut first = held.remove(0);
    first.ws.close(None).await.unwrap();
    drop(first);
    let mut ok = None;
    for _ in 0..100 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(server.ws_url()).await {
            ok = Some(ws);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok.is_some(), "a place came free");
    for c in &mut held {
        c.ping().await;
    }
}

#[tokio::test]
async fn oversized_descriptions_and_endless_candidates_are_refused() {
    let server = TestServer::start_with(|c| {
        c.max_sdp_bytes = 1000;
        c.max_candidates = 5;
    })
    .await;
    let (mut ann, mut ben) = bystanders(&server).await;
    let big = "a=x\r\n".repeat(300);
    ann.send(json!({"type":"signal","to":ben.id,"description":{"type":"offer","sdp":big}}))
        .await;
    ann.expect_error("sdp_too_large").await;
    ben.expect_silence().await;

    for _ in 0..5 {
        ann.send(json!({"type":"signal","to":ben.id,"candidate":{"candidate":"c"}}))
            .await;
        ben.expect("signal").await;
    }
    ann.send(json!({"type":"signal","to":ben.id,"candidate":{"candidate":"c"}}))
        .await;
    ann.expect_error("too_many_candidates").await;
    // End-of-candidates is always fine, and a new description starts a new count.
    ann.send(json!({"type":"signal","to":ben.id,"candidate":null}))
        .await;
    ben.expect("signal").await;
    ann.send(json!({"type":"signal","to":ben.id,"description":{"type":"offer","sdp":"v=0"}}))
        .await;
    ben.expect("signal").await;
    ann.send(json!({"type":"signal","to":ben.id,"candidate":{"candidate":"c"}}))
        .await;
    ben.expect("signal").await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_others_go_on() {
    use futures_util::SinkExt;
    let server = TestServer::start_with(|c| {
        c.message_rate = 100_000;
        c.message_burst = 100_000;
    })
    .await;
    let (mut ann, mut ben) = bystanders(&server).await;
    // Sloth joins and then never reads: its queue and socket buffers fill up.
    let (mut sloth, _) = server.joined("calm", "Sloth").await;
    ann.expect("peer_joined").await;
    ben.expect("peer_joined").await;
    // Ann talks in bursts of 200 (what the default rate limit allows) that Ben keeps up
    // with; Sloth falls behind until its socket buffers and its queue are full.
    let text = "x".repeat(2000);
    for batch in 0..40 {
        for _ in 0..200 {
            ann.ws
                .feed(Message::text(
                    json!({"type":"chat","text":text}).to_string(),
                ))
                .await
                .unwrap();
        }
        ann.ws.flush().await.unwrap();
        let mut chats = 0;
        while chats < 200 {
            match ben.next_within(std::time::Duration::from_secs(10)).await {
                common::Next::Frame(f) if f["type"] == "chat" => chats += 1,
                common::Next::Frame(f) if f["type"] == "peer_left" => {}
                other => panic!("ben got {other:?} in batch {batch}"),
            }
        }
    }
    let sloth_id = sloth.id.clone();
    sloth.expect_close(1008).await;
    // The others are told Sloth left (perhaps already during the batches), and still talk.
    ann.send(json!({"type":"signal","to":ben.id,"candidate":{"candidate":"after"}}))
        .await;
    loop {
        match ben.next_within(std::time::Duration::from_secs(5)).await {
            common::Next::Frame(f) if f["type"] == "peer_left" => {
                assert_eq!(f["peer"], sloth_id.as_str())
            }
            common::Next::Frame(f) if f["type"] == "signal" => {
                assert_eq!(f["candidate"]["candidate"], "after");
                break;
            }
            other => panic!("ben got {other:?}"),
        }
    }
}
