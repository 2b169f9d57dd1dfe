//! Session resumption: a client whose connection drops comes back with the token from its
//! last `welcome` and continues unnoticed; a deliberate close or an expired grace does not.

mod common;

use std::time::Duration;

use common::{Client, TestServer};
use serde_json::{Value, json};

async fn room_of_two(server: &TestServer) -> (Client, Client, Value) {
    let (ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    let mut ann = Client {
        ws,
        id: String::new(),
    };
    let welcome = ann.expect("welcome").await;
    ann.id = welcome["id"].as_str().unwrap().to_owned();
    assert_eq!(welcome["resumed"], false);
    assert_eq!(welcome["resume"].as_str().map(str::len), Some(43));
    ann.send(json!({"type":"join","room":"r","name":"Ann"}))
        .await;
    ann.expect("joined").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    ann.expect("peer_joined").await;
    ben.ping().await;
    (ann, ben, welcome)
}

#[tokio::test]
async fn a_dropped_connection_resumes_the_same_session_with_what_was_sent_meanwhile() {
    let server = TestServer::start_with(|c| c.resume_grace = Duration::from_secs(20)).await;
    let (ann, mut ben, welcome) = room_of_two(&server).await;
    let ann_id = ann.id.clone();
    drop(ann); // no close frame: the network went away

    // While Ann is away, Ben keeps signaling to her; nobody is told she left.
    ben.send(json!({"type":"signal","to":ann_id,"candidate":{"candidate":"while-away"}}))
        .await;
    ben.expect_silence().await;

    let token = welcome["resume"].as_str().unwrap();
    let (mut ann, again) = server.connect_with(&format!("resume={token}")).await;
    assert_eq!(again["resumed"], true);
    assert_eq!(again["id"], ann_id.as_str());
    assert_ne!(again["resume"], welcome["resume"], "a new token each time");
    let queued = ann.expect("signal").await;
    assert_eq!(queued["candidate"]["candidate"], "while-away");
    // Still in the room: signals flow both ways.
    ann.send(json!({"type":"signal","to":ben.id,"candidate":null}))
        .await;
    assert_eq!(ben.expect("signal").await["from"], ann_id.as_str());
    ben.expect_silence().await;

    // The old token is spent.
    let (_, stale) = server.connect_with(&format!("resume={token}")).await;
    assert_eq!(stale["resumed"], false);
}

#[tokio::test]
async fn a_resume_takes_over_a_half_open_connection() {
    let server = TestServer::start_with(|c| c.resume_grace = Duration::from_secs(20)).await;
    let (mut ann, mut ben, welcome) = room_of_two(&server).await;
    let token = welcome["resume"].as_str().unwrap();
    // The old connection still looks alive to the server (a phone that changed networks).
    let (mut ann2, again) = server.connect_with(&format!("resume={token}")).await;
    assert_eq!(again["resumed"], true);
    assert_eq!(again["id"], ann.id.as_str());
    ann.expect_close(4000).await;
    ann2.send(json!({"type":"chat","text":"back"})).await;
    assert_eq!(ben.expect("chat").await["text"], "back");
    ben.expect_silence().await;
}

#[tokio::test]
async fn after_the_grace_period_the_session_is_gone() {
    let server = TestServer::start().await; // resume_grace is 1 s in tests
    let (ann, mut ben, welcome) = room_of_two(&server).await;
    let ann_id = ann.id.clone();
    drop(ann);
    assert_eq!(ben.expect("peer_left").await["peer"], ann_id.as_str());
    let token = welcome["resume"].as_str().unwrap();
    let (fresh, w) = server.connect_with(&format!("resume={token}")).await;
    assert_eq!(w["resumed"], false);
    assert_ne!(fresh.id, ann_id);
    assert_eq!(server.server.resumable.parked(), 0);
}

#[tokio::test]
async fn a_deliberate_close_is_leaving_at_once() {
    let server = TestServer::start_with(|c| c.resume_grace = Duration::from_secs(20)).await;
    let (mut ann, mut ben, welcome) = room_of_two(&server).await;
    let ann_id = ann.id.clone();
    ann.ws.close(None).await.unwrap();
    assert_eq!(ben.expect("peer_left").await["peer"], ann_id.as_str());
    let token = welcome["resume"].as_str().unwrap();
    let (_, w) = server.connect_with(&format!("resume={token}")).await;
    assert_eq!(w["resumed"], false);
}

#[tokio::test]
async fn garbage_resume_tokens_get_a_fresh_session() {
    let server = TestServer::start().await;
    for token in ["", "x", &"y".repeat(5000), "%00%ff"] {
        let (_, w) = server.connect_with(&format!("resume={token}")).await;
        assert_eq!(w["resumed"], false);
    }
}
