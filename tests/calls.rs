//! Calls by name over real WebSockets: answer, decline, cancel, busy, missed, offline.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn registered_names_are_unique_case_insensitively_and_freed_on_disconnect() {
    let server = TestServer::start().await;
    let ann = server.registered("Ann").await;
    let mut other = server.client().await;
    other.send(json!({"type":"register","name":"aNN"})).await;
    other.expect_error("name_taken").await;
    other.send(json!({"type":"register","name":"   "})).await;
    other.expect_error("invalid_name").await;
    drop(ann);
    // The server notices the closed socket; retry briefly until the name is free.
    for attempt in 0..50 {
        other.send(json!({"type":"register","name":"ann"})).await;
        let v = other.next_within(std::time::Duration::from_secs(5)).await;
        match v {
            common::Next::Frame(f) if f["type"] == "registered" => return,
            common::Next::Frame(f) if f["code"] == "name_taken" && attempt < 49 => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_answered_call_negotiates_like_a_two_person_room_and_hangs_up() {
    let server = TestServer::start().await;
    let mut ann = server.registered("ann").await;
    let mut ben = server.registered("ben").await;

    ann.send(json!({"type":"call","user":"BEN"})).await;
    let calling = ann.expect("calling").await;
    let call = calling["call"].as_str().unwrap().to_owned();
    assert_eq!(calling["user"], "ben");
    let incoming = ben.expect("incoming_call").await;
    assert_eq!(incoming["call"], call.as_str());
    assert_eq!(incoming["from"]["name"], "ann");
    assert_eq!(incoming["from"]["id"], ann.id.as_str());

    // Before the answer, no media negotiation may pass.
    ann.send(json!({"type":"signal","to":ben.id,"candidate":null}))
        .await;
    ann.expect_error("not_a_peer").await;

    ben.send(json!({"type":"accept","call":call})).await;
    let a = ann.expect("call_accepted").await;
    let b = ben.expect("call_accepted").await;
    assert_eq!(a["peer"]["id"], ben.id.as_str());
    assert_eq!(a["peer"]["polite"], true, "the caller is polite");
    assert_eq!(b["peer"]["id"], ann.id.as_str());
    assert_eq!(b["peer"]["polite"], false, "the callee is impolite");

    ben.send(json!({"type":"signal","to":ann.id,"description":{"type":"offer","sdp":"v=0"}}))
        .await;
    assert_eq!(ann.expect("signal").await["from"], ben.id.as_str());
    ann.send(json!({"type":"chat","text":"hi ben"})).await;
    assert_eq!(ben.expect("chat").await["text"], "hi ben");

    ann.send(json!({"type":"hangup"})).await;
    let ended = ben.expect("call_ended").await;
    assert_eq!(ended["reason"], "hangup");
    assert_eq!(ann.expect("call_ended").await["call"], call.as_str());

    // After the call, signaling between them stops and both can be called again.
    ann.send(json!({"type":"signal","to":ben.id,"candidate":null}))
        .await;
    ann.expect_error("not_a_peer").await;
    ann.send(json!({"type":"call","user":"ben"})).await;
    ann.expect("calling").await;
    ben.expect("incoming_call").await;
}

#[tokio::test]
async fn a_declined_call_tells_the_caller() {
    let server = TestServer::start().await;
    let mut ann = server.registered("ann").await;
    let mut ben = server.registered("ben").await;
    ann.send(json!({"type":"call","user":"ben"})).await;
    let call = ann.expect("calling").await["call"].clone();
    ben.expect("incoming_call").await;
    ben.send(json!({"type":"decline","call":call})).await;
    assert_eq!(ann.expect("call_declined").await["call"], call);
    assert_eq!(ben.expect("call_ended").await["reason"], "declined");
}

#[tokio::test]
async fn a_cancelled_call_stops_ringing() {
    let server = TestServer::start().await;
    let mut ann = server.registered("ann").await;
    let mut ben = server.registered("ben").await;
    ann.send(json!({"type":"call","user":"ben"})).await;
    let call = ann.expect("calling").await["call"].clone();
    ben.expect("incoming_call").await;
    ann.send(json!({"type":"cancel","call":call})).await;
    assert_eq!(ben.expect("call_cancelled").await["call"], call);
    assert_eq!(ann.expect("call_ended").await["reason"], "cancelled");
    // Answering a cancelled call is refused.
    ben.send(json!({"type":"accept","call":call})).await;
    ben.expect_error("no_such_call").await;
}

#[tokio::test]
async fn an_unanswered_call_is_missed_for_both_after_the_ring_timeout() {
    let server = TestServer::start().await; // ring_timeout is 1 s in tests
    let mut ann = server.registered("ann").await;
    let mut ben = server.registered("ben").await;
    ann.send(json!({"type":"call","user":"ben"})).await;
    let call = ann.expect("calling").await["call"].clone();
    ben.expect("incoming_call").await;
    assert_eq!(ann.expect("call_missed").await["call"], call);
    assert_eq!(ben.expect("call_missed").await["call"], call);
    ben.send(json!({"type":"accept","call":call})).await;
    ben.expect_error("no_such_call").await;
}

#[tokio::test]
async fn a_callee_in_a_call_or_room_is_busy() {
    let server = TestServer::start().await;
    let mut ann = server.registered("ann").await;
    let mut ben = server.registered("ben").await;
    let mut cat = server.registered("cat").await;
    ann.send(json!({"type":"call","user":"ben"})).await;
    ann.expect("calling").await;
    ben.expect("incoming_call").await;

    // Ben is being rung: busy for Cat. Ann is ringing out: busy too.
    cat.send(json!({"type":"call","user":"ben"})).await;
    assert_eq!(cat.expect("busy").await["user"], "ben");
    cat.send(json!({"type":"call","user":"ann"})).await;
    cat.expect("busy").await;
    ben.expect_silence().await;

    // Someone in a room is busy as well.
    let mut dan = server.registered("dan").await;
    dan.send(json!({"type":"join","room":"r"})).await;
    assert_eq!(dan.expect("joined").await["you"]["name"], "dan");
    cat.send(json!({"type":"call","user":"dan"})).await;
    cat.expect("busy").await;

    // A caller in a room cannot call out.
    dan.send(json!({"type":"call","user":"cat"})).await;
    dan.expect_error("already_in_call").await;
}

#[tokio::test]
async fn calling_errors_are_clear() {
    let server = TestServer::start().await;
    let mut ann = server.registered("ann").await;
    ann.send(json!({"type":"call","user":"nobody"})).await;
    let err = ann.expect_error("user_offline").await;
    assert!(err["message"].as_str().unwrap().contains("nobody"));
    ann.send(json!({"type":"call","user":"Ann"})).await;
    ann.expect_error("cannot_call_self").await;
    ann.send(json!({"type":"accept","call":"made-up"})).await;
    ann.expect_error("no_such_call").await;
    ann.send(json!({"type":"hangup"})).await;
    ann.expect_error("no_such_call").await;

    let mut anonymous = server.client().await;
    anonymous.send(json!({"type":"call","user":"ann"})).await;
    anonymous.expect_error("register_first").await;
}

#[tokio::test]
async fn a_disconnect_ends_the_call_for_the_other_side() {
    // Without resumption a lost connection ends the session at once.
    let server = TestServer::start_with(|c| c.resume_grace = std::time::Duration::ZERO).await;
    let mut ann = server.registered("ann").await;
    let mut ben = server.registered("ben").await;
    ann.send(json!({"type":"call","user":"ben"})).await;
    let call = ann.expect("calling").await["call"].clone();
    ben.expect("incoming_call").await;
    ben.send(json!({"type":"accept","call":call})).await;
    ann.expect("call_accepted").await;
    ben.expect("call_accepted").await;
    drop(ben);
    let ended = ann.expect("call_ended").await;
    assert_eq!(ended["reason"], "disconnected");

    // A caller who vanishes while ringing cancels the call.
    let mut cat = server.registered("cat").await;
    let mut dan = server.registered("dan").await;
    dan.send(json!({"type":"call","user":"cat"})).await;
    dan.expect("calling").await;
    cat.expect("incoming_call").await;
    drop(dan);
    cat.expect("call_cancelled").await;
}

#[tokio::test]
async fn guests_false_refuses_guests() {
    let server = TestServer::start_with(|c| c.guests = false).await;
    let mut c = server.client().await;
    c.send(json!({"type":"register","name":"ann"})).await;
    c.expect_error("sign_in_required").await;
    c.send(json!({"type":"join","room":"r"})).await;
    c.expect_error("sign_in_required").await;
    c.send(json!({"type":"call","user":"ben"})).await;
    c.expect_error("sign_in_required").await;
}
