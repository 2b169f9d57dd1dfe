//! Rooms over real WebSockets: membership, polite roles, relay rules, capacity, departures.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn welcome_carries_identity_and_ice_configuration() {
    let server = TestServer::start_with(|c| {
        c.ice_servers = vec![confer::config::IceServer {
            urls: vec!["stun:stun.example.org:3478".into()],
            username: None,
            credential: None,
        }]
    })
    .await;
    let (ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    let mut c = common::Client {
        ws,
        id: String::new(),
    };
    let welcome = c.expect("welcome").await;
    assert!(welcome["id"].as_str().is_some_and(|id| id.len() >= 16));
    assert_eq!(welcome["version"], 1);
    assert_eq!(welcome["ice_transport_policy"], "all");
    // The embedded TURN server comes first (see tests/turn.rs), the configured ones follow.
    assert_eq!(
        welcome["ice_servers"][1]["urls"][0],
        "stun:stun.example.org:3478"
    );
}

#[tokio::test]
async fn joined_lists_peers_and_the_newcomer_is_impolite() {
    let server = TestServer::start().await;
    let (mut ann, joined) = server.joined("blue-fox", "Ann").await;
    assert_eq!(joined["room"], "blue-fox");
    assert_eq!(joined["peers"], json!([]));
    assert_eq!(joined["you"]["id"], ann.id.as_str());
    assert_eq!(joined["you"]["name"], "Ann");

    let (mut ben, joined) = server.joined("blue-fox", "Ben").await;
    let peers = joined["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["id"], ann.id.as_str());
    assert_eq!(peers[0]["name"], "Ann");
    assert_eq!(peers[0]["polite"], false, "the newcomer is impolite");

    let pj = ann.expect("peer_joined").await;
    assert_eq!(pj["peer"]["id"], ben.id.as_str());
    assert_eq!(pj["peer"]["name"], "Ben");
    assert_eq!(pj["peer"]["polite"], true, "the older member is polite");

    let (_cat, joined) = server.joined("blue-fox", "Cat").await;
    assert_eq!(joined["peers"].as_array().unwrap().len(), 2);
    ann.expect("peer_joined").await;
    ben.expect("peer_joined").await;
}

#[tokio::test]
async fn signals_are_relayed_untouched_with_a_stamped_from() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("r1", "Ann").await;
    let (mut ben, _) = server.joined("r1", "Ben").await;
    ann.expect("peer_joined").await;

    let description = json!({"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"});
    ben.send(json!({"type":"signal","to":ann.id,"from":"someone-else","description":description}))
        .await;
    let got = ann.expect("signal").await;
    assert_eq!(
        got["from"],
        ben.id.as_str(),
        "server stamps the real sender"
    );
    assert_eq!(got["description"], description);
    assert!(got.get("to").is_none());

    let candidate = json!({"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0});
    ann.send(json!({"type":"signal","to":ben.id,"candidate":candidate}))
        .await;
    assert_eq!(ben.expect("signal").await["candidate"], candidate);

    ann.send(json!({"type":"signal","to":ben.id,"candidate":null}))
        .await;
    let end = ben.expect("signal").await;
    assert!(end["candidate"].is_null() && end.get("candidate").is_some());
}

#[tokio::test]
async fn nothing_is_relayed_across_rooms() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("room-a", "Ann").await;
    let (mut ben, _) = server.joined("room-b", "Ben").await;
    ann.send(json!({"type":"signal","to":ben.id,"description":{"type":"offer","sdp":"x"}}))
        .await;
    ann.expect_error("not_a_peer").await;
    ann.send(json!({"type":"chat","text":"hello?"})).await;
    ben.expect_silence().await;

    // Not in any room at all.
    let mut loner = server.client().await;
    loner
        .send(json!({"type":"signal","to":ben.id,"candidate":null}))
        .await;
    loner.expect_error("not_a_peer").await;
    ben.expect_silence().await;
}

#[tokio::test]
async fn a_full_room_says_so_and_frees_a_place_when_someone_leaves() {
    let server = TestServer::start_with(|c| c.room_capacity = 2).await;
    let (mut ann, _) = server.joined("small", "Ann").await;
    let (_ben, _) = server.joined("small", "Ben").await;
    ann.expect("peer_joined").await;
    let mut cat = server.client().await;
    cat.send(json!({"type":"join","room":"small","name":"Cat"}))
        .await;
    let full = cat.expect("room_full").await;
    assert_eq!(full["capacity"], 2);
    ann.expect_silence().await;

    ann.send(json!({"type":"leave"})).await;
    assert_eq!(ann.expect("left").await["room"], "small");
    cat.send(json!({"type":"join","room":"small","name":"Cat"}))
        .await;
    cat.expect("joined").await;
}

#[tokio::test]
async fn peer_left_on_leave_on_close_and_on_a_dropped_connection() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("r", "Ann").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    let (mut cat, _) = server.joined("r", "Cat").await;
    let (dan, _) = server.joined("r", "Dan").await;
    for _ in 0..3 {
        ann.expect("peer_joined").await;
    }
    for _ in 0..2 {
        ben.expect("peer_joined").await;
    }

    ben.send(json!({"type":"leave"})).await;
    ben.expect("left").await;
    assert_eq!(ann.expect("peer_left").await["peer"], ben.id.as_str());

    let cat_id = cat.id.clone();
    cat.ws.close(None).await.unwrap();
    assert_eq!(ann.expect("peer_left").await["peer"], cat_id.as_str());

    // Dropping the client closes the TCP connection without a close frame.
    let dan_id = dan.id.clone();
    drop(dan);
    assert_eq!(ann.expect("peer_left").await["peer"], dan_id.as_str());
    assert_eq!(server.server.hub.stats().rooms, 1);

    ann.send(json!({"type":"leave"})).await;
    ann.expect("left").await;
    assert_eq!(
        server.server.hub.stats().rooms,
        0,
        "empty rooms are deleted"
    );
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_idle_timeout() {
    let server = TestServer::start_with(|c| {
        c.ping_interval = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let (mut ann, _) = server.joined("r", "Ann").await;
    // Ben never reads again, so his client never answers the server's pings: a half-open peer.
    let (ben, _) = server.joined("r", "Ben").await;
    ann.expect("peer_joined").await;
    let left = tokio::time::timeout(Duration::from_secs(10), ann.expect("peer_left")).await;
    assert_eq!(
        left.expect("peer_left within 10 s")["peer"],
        ben.id.as_str()
    );
    // Ann, who answers pings (her client reads), is still connected.
    ann.ping().await;
    drop(ben);
}

#[tokio::test]
async fn chat_and_media_state_reach_the_others() {
    let server = TestServer::start().await;
    let (mut ann, _) = server.joined("r", "Ann").await;
    let (mut ben, _) = server.joined("r", "Ben").await;
    ann.expect("peer_joined").await;
    ben.send(json!({"type":"chat","text":"<b>hi</b>"})).await;
    let chat = ann.expect("chat").await;
    assert_eq!(chat["text"], "<b>hi</b>");
    assert_eq!(chat["name"], "Ben");
    assert_eq!(chat["from"], ben.id.as_str());
    assert!(chat["at"].as_u64().unwrap() > 1_700_000_000_000);
    ben.expect_silence().await;

    ann.send(json!({"type":"media","audio":false,"video":true,"screen":false}))
        .await;
    let media = ben.expect("media").await;
    assert_eq!(media["from"], ann.id.as_str());
    assert_eq!(media["audio"], false);
    let (_cat, joined) = server.joined("r", "Cat").await;
    let ann_info = joined["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == ann.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        ann_info["media"]["audio"], false,
        "newcomers learn the media state"
    );
}
