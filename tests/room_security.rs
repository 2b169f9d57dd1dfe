//! Rooms that belong to someone: a password set by the first person in, "Lock room", and the
//! host removing a participant — all enforced by the server.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn the_first_person_sets_the_password_and_everyone_after_needs_it() {
    let server = TestServer::start().await;
    let mut ann = server.client().await;
    ann.send(json!({"type":"join","room":"secret","name":"Ann","password":"open sesame"}))
        .await;
    let joined = ann.expect("joined").await;
    assert_eq!(joined["host"], ann.id.as_str());

    let mut ben = server.client().await;
    ben.send(json!({"type":"join","room":"secret","name":"Ben"}))
        .await;
    let err = ben.expect_error("wrong_password").await;
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("needs a password")
    );
    ben.send(json!({"type":"join","room":"secret","name":"Ben","password":"open sesamE"}))
        .await;
    ben.expect_error("wrong_password").await;
    ann.expect_silence().await;
    ben.send(json!({"type":"join","room":"secret","name":"Ben","password":"open sesame"}))
        .await;
    assert_eq!(ben.expect("joined").await["host"], ann.id.as_str());
    ann.expect("peer_joined").await;

    // When the room empties it is gone, and so is its password.
    for c in [&mut ann, &mut ben] {
        c.send(json!({"type":"leave"})).await;
    }
    ann.expect("left").await;
    let mut cat = server.client().await;
    cat.send(json!({"type":"join","room":"secret","name":"Cat"}))
        .await;
    cat.expect("joined").await;
}

#[tokio::test]
async fn only_the_host_locks_and_a_locked_room_admits_nobody() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("r", "Ann").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    ann.expect("peer_joined").await;

    ben.send(json!({"type":"lock","locked":true})).await;
    ben.expect_error("not_host").await;
    ann.send(json!({"type":"lock","locked":true})).await;
    let host = ann.id.clone();
    for c in [&mut ann, &mut ben] {
        let state = c.expect("room_state").await;
        assert_eq!(state["locked"], true);
        assert_eq!(state["host"], host.as_str());
    }
    let mut cat = server.client().await;
    cat.send(json!({"type":"join","room":"r","name":"Cat"}))
        .await;
    cat.expect_error("room_locked").await;

    ann.send(json!({"type":"lock","locked":false})).await;
    ann.expect("room_state").await;
    ben.expect("room_state").await;
    cat.send(json!({"type":"join","room":"r","name":"Cat"}))
        .await;
    assert_eq!(cat.expect("joined").await["locked"], false);
}

#[tokio::test]
async fn the_host_removes_a_participant() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("r", "Ann").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    let (mut cat, _) = server.joined("r", "Cat").await;
    for _ in 0..2 {
        ann.expect("peer_joined").await;
    }
    ben.expect("peer_joined").await;

    cat.send(json!({"type":"remove","peer":ben.id})).await;
    cat.expect_error("not_host").await;
    ann.send(json!({"type":"remove","peer":ann.id})).await;
    ann.expect_error("not_a_peer").await;
    ann.send(json!({"type":"remove","peer":"nobody"})).await;
    ann.expect_error("not_a_peer").await;

    ann.send(json!({"type":"remove","peer":ben.id})).await;
    assert_eq!(ben.expect("removed").await["room"], "r");
    assert_eq!(ann.expect("peer_left").await["peer"], ben.id.as_str());
    assert_eq!(cat.expect("peer_left").await["peer"], ben.id.as_str());
    // Ben is out: nothing he sends reaches the room.
    ben.send(json!({"type":"signal","to":ann.id,"candidate":null}))
        .await;
    ben.expect_error("not_a_peer").await;
    ann.expect_silence().await;
}

#[tokio::test]
async fn when_the_host_leaves_the_longest_present_member_takes_over() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("r", "Ann").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    let (mut cat, _) = server.joined("r", "Cat").await;
    for _ in 0..2 {
        ann.expect("peer_joined").await;
    }
    ben.expect("peer_joined").await;
    ann.send(json!({"type":"lock","locked":true})).await;
    for c in [&mut ben, &mut cat] {
        c.expect("room_state").await;
    }
    ann.send(json!({"type":"leave"})).await;
    let next = ben.id.clone();
    for c in [&mut ben, &mut cat] {
        c.expect("peer_left").await;
        let state = c.expect("room_state").await;
        assert_eq!(state["host"], next.as_str());
        assert_eq!(state["locked"], true, "the lock stays");
    }
    ben.send(json!({"type":"lock","locked":false})).await;
    assert_eq!(cat.expect("room_state").await["locked"], false);
}
