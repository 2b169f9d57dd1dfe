//! The embedded TURN server against a small TURN client written here on the project's codec:
//! allocations, permissions, Send/Data indications and channels over UDP and TCP, and the
//! error codes for bad credentials, expired credentials, forbidden peers and quotas.
//! All traffic stays on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use confer::config::Config;
use confer::turn::codec::{ChannelData, Class, Message, attr, method, stream_frame_len};
use confer::turn::credentials::{long_term_key, mint, password, unix_now};

const SECRET: &str = "test-secret";
const WAIT: Duration = Duration::from_secs(5);

async fn server(allow_loopback: bool) -> common::TestServer {
    common::TestServer::start_with(|c: &mut Config| {
        c.turn_secret = Some(SECRET.to_owned());
        c.turn_allow_loopback = allow_loopback;
    })
    .await
}

fn turn_addr(s: &common::TestServer) -> SocketAddr {
    s.server.turn_addr.expect("TURN is on")
}

enum Conn {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream, Vec<u8>),
}

impl Conn {
    async fn udp(to: SocketAddr) -> Conn {
        Conn::Udp(UdpSocket::bind("127.0.0.1:0").await.unwrap(), to)
    }

    async fn tcp(to: SocketAddr) -> Conn {
        Conn::Tcp(TcpStream::connect(to).await.unwrap(), Vec::new())
    }

    async fn send(&mut self, bytes: &[u8]) {
        match self {
            Conn::Udp(s, to) => {
                s.send_to(bytes, *to).await.unwrap();
            }
            Conn::Tcp(s, _) => s.write_all(bytes).await.unwrap(),
        }
    }

    /// The next STUN message or ChannelData frame from the server.
    async fn recv(&mut self) -> Vec<u8> {
        tokio::time::timeout(WAIT, self.recv_inner())
            .await
            .expect("an answer from the TURN server in time")
    }

    async fn recv_inner(&mut self) -> Vec<u8> {
        match self {
            Conn::Udp(s, _) => {
                let mut buf = vec![0u8; 65536];
                let (n, _) = s.recv_from(&mut buf).await.unwrap();
                buf.truncate(n);
                buf
            }
            Conn::Tcp(s, buf) => loop {
                if let Some(Ok(len)) = stream_frame_len(buf)
                    && buf.len() >= len
                {
                    return buf.drain(..len).collect();
                }
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "TURN server closed the TCP connection");
                buf.extend_from_slice(&chunk[..n]);
            },
        }
    }

    fn is_tcp(&self) -> bool {
        matches!(self, Conn::Tcp(..))
    }
}

/// A TURN client with long-term credentials.
struct Client {
    conn: Conn,
    username: String,
    password: String,
    realm: Option<String>,
    nonce: Option<String>,
    /// Frames that arrived while waiting for a response.
    pending: Vec<Vec<u8>>,
}

impl Client {
    async fn new(conn: Conn, username: &str, password: &str) -> Client {
        Client {
            conn,
            username: username.to_owned(),
            password: password.to_owned(),
            realm: None,
            nonce: None,
            pending: Vec::new(),
        }
    }

    /// Valid credentials for `user`.
    async fn valid(conn: Conn, user: &str) -> Client {
        let (u, p) = mint(SECRET, user, Duration::from_secs(3600), unix_now());
        Client::new(conn, &u, &p).await
    }

    fn key(&self) -> Option<[u8; 16]> {
        self.realm
            .as_ref()
            .map(|r| long_term_key(&self.username, r, &self.password))
    }

    /// Send a request (authenticated once a realm and nonce are known) and return the
    /// response; a 401 or 438 challenge is answered once with the new nonce.
    async fn request(&mut self, mut build: impl FnMut(&mut Message)) -> Message {
        for _ in 0..3 {
            let mut msg = Message::new(0, Class::Request, rand::random());
            build(&mut msg);
            let key = self.key();
            if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
                msg.add(attr::USERNAME, self.username.as_bytes())
                    .add(attr::REALM, realm.as_bytes())
                    .add(attr::NONCE, nonce.as_bytes());
            }
            let bytes = msg.encode(key.as_ref().map(|k| &k[..]), true);
            self.conn.send(&bytes).await;
            let response = self.response_to(&msg).await;
            let code = response.error_code().map(|(c, _)| c);
            let challenged = matches!(code, Some(401) | Some(438))
                && (self.nonce.is_none() || code == Some(438));
            if challenged {
                self.realm = response.get_str(attr::REALM).map(str::to_owned);
                self.nonce = response.get_str(attr::NONCE).map(str::to_owned);
                assert!(
                    self.realm.is_some() && self.nonce.is_some(),
                    "401 carries REALM and NONCE"
                );
                continue;
            }
            return response;
        }
        panic!("challenged again and again");
    }

    async fn response_to(&mut self, request: &Message) -> Message {
        loop {
            let frame = self.conn.recv().await;
            if let Ok(m) = Message::decode(&frame)
                && m.transaction_id == request.transaction_id
            {
                assert!(m.class == Class::Success || m.class == Class::Error);
                if let Some(key) = self.key()
                    && m.has_integrity()
                {
                    assert!(m.verify_integrity(&frame, &key), "response integrity");
                }
                return m;
            }
            self.pending.push(frame);
        }
    }

    /// The next frame from the server that is not a response.
    async fn next_data(&mut self) -> Vec<u8> {
        if !self.pending.is_empty() {
            return self.pending.remove(0);
        }
        self.conn.recv().await
    }

    async fn allocate(&mut self) -> Result<SocketAddr, u16> {
        let r = self
            .request(|m| {
                m.method = method::ALLOCATE;
                m.add(attr::REQUESTED_TRANSPORT, [17, 0, 0, 0]);
            })
            .await;
        match r.class {
            Class::Success => Ok(r
                .get_xor_address(attr::XOR_RELAYED_ADDRESS)
                .expect("XOR-RELAYED-ADDRESS")),
            _ => Err(r.error_code().expect("ERROR-CODE").0),
        }
    }

    async fn simple(&mut self, method_: u16, extra: impl Fn(&mut Message)) -> Result<Message, u16> {
        let r = self
            .request(|m| {
                m.method = method_;
                extra(m);
            })
            .await;
        match r.class {
            Class::Success => Ok(r),
            _ => Err(r.error_code().expect("ERROR-CODE").0),
        }
    }

    async fn create_permission(&mut self, peer: SocketAddr) -> Result<Message, u16> {
        self.simple(method::CREATE_PERMISSION, |m| {
            m.add_xor_address(attr::XOR_PEER_ADDRESS, peer);
        })
        .await
    }

    async fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> Result<Message, u16> {
        self.simple(method::CHANNEL_BIND, |m| {
            let mut v = channel.to_be_bytes().to_vec();
            v.extend_from_slice(&[0, 0]);
            m.add(attr::CHANNEL_NUMBER, v);
            m.add_xor_address(attr::XOR_PEER_ADDRESS, peer);
        })
        .await
    }

    async fn refresh(&mut self, lifetime: u32) -> Result<Message, u16> {
        self.simple(method::REFRESH, |m| {
            m.add_u32(attr::LIFETIME, lifetime);
        })
        .await
    }

    async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut m = Message::new(method::SEND, Class::Indication, rand::random());
        m.add_xor_address(attr::XOR_PEER_ADDRESS, peer)
            .add(attr::DATA, data);
        self.conn.send(&m.encode(None, true)).await;
    }

    async fn send_channel_data(&mut self, channel: u16, data: &[u8]) {
        let frame = ChannelData { channel, data }.encode(self.conn.is_tcp());
        self.conn.send(&frame).await;
    }
}

async fn peer_socket() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

async fn peer_recv(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, peer.recv_from(&mut buf))
        .await
        .expect("the peer receives relayed data in time")
        .unwrap();
    buf.truncate(n);
    (buf, from)
}

async fn binding(conn: &mut Conn) -> SocketAddr {
    let req = Message::new(method::BINDING, Class::Request, rand::random());
    conn.send(&req.encode(None, true)).await;
    let raw = conn.recv().await;
    let resp = Message::decode(&raw).expect("a STUN answer");
    assert_eq!(resp.class, Class::Success);
    assert_eq!(resp.transaction_id, req.transaction_id);
    resp.get_xor_address(attr::XOR_MAPPED_ADDRESS)
        .expect("XOR-MAPPED-ADDRESS")
}

#[tokio::test]
async fn binding_over_udp_and_tcp() {
    let s = server(false).await;
    let addr = turn_addr(&s);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let mut udp = Conn::udp(addr).await;
    let local = match &udp {
        Conn::Udp(sock, _) => sock.local_addr().unwrap(),
        Conn::Tcp(..) => unreachable!(),
    };
    assert_eq!(binding(&mut udp).await, local);
    let mut tcp = Conn::tcp(addr).await;
    let local = match &tcp {
        Conn::Tcp(sock, _) => sock.local_addr().unwrap(),
        Conn::Udp(..) => unreachable!(),
    };
    assert_eq!(binding(&mut tcp).await, local);
    // Junk is dropped, and the server keeps answering.
    udp.send(b"\x00\x01\x00\x08garbage-garbage-garbage").await;
    udp.send(&[0xFF; 3]).await;
    binding(&mut udp).await;
}

/// Allocate, permit, Send → peer, peer → Data indication, ChannelBind, ChannelData both ways.
async fn relay_round_trip(tcp: bool) {
    let s = server(true).await;
    let conn = if tcp {
        Conn::tcp(turn_addr(&s)).await
    } else {
        Conn::udp(turn_addr(&s)).await
    };
    let mut c = Client::valid(conn, "alice").await;
    let relayed = c.allocate().await.expect("allocation");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    let (peer, peer_addr) = peer_socket().await;

    // Without a permission nothing passes.
    c.send_indication(peer_addr, b"too early").await;
    c.create_permission(peer_addr).await.expect("permission");
    c.send_indication(peer_addr, b"hello peer").await;
    let (got, from) = peer_recv(&peer).await;
    assert_eq!(got, b"hello peer");
    assert_eq!(from, relayed);

    peer.send_to(b"hello client", relayed).await.unwrap();
    let frame = c.next_data().await;
    let data = Message::decode(&frame).expect("a Data indication");
    assert_eq!((data.method, data.class), (method::DATA, Class::Indication));
    assert_eq!(
        data.get_xor_address(attr::XOR_PEER_ADDRESS),
        Some(peer_addr)
    );
    assert_eq!(data.get(attr::DATA), Some(&b"hello client"[..]));

    c.channel_bind(0x4001, peer_addr)
        .await
        .expect("channel bind");
    c.send_channel_data(0x4001, b"over the channel").await;
    let (got, _) = peer_recv(&peer).await;
    assert_eq!(got, b"over the channel");
    peer.send_to(b"back on the channel!", relayed)
        .await
        .unwrap();
    let frame = c.next_data().await;
    let cd = ChannelData::decode(&frame).expect("ChannelData");
    assert_eq!(cd.channel, 0x4001);
    assert_eq!(cd.data, b"back on the channel!");

    // A second allocation on the same five-tuple is a mismatch.
    assert_eq!(c.allocate().await, Err(437));
    // Refresh keeps it; lifetime 0 frees it.
    let r = c.refresh(1200).await.expect("refresh");
    assert_eq!(r.get_u32(attr::LIFETIME), Some(1200));
    assert_eq!(s.server.turn.as_ref().unwrap().allocations(), 1);
    let r = c.refresh(0).await.expect("delete");
    assert_eq!(r.get_u32(attr::LIFETIME), Some(0));
    assert_eq!(s.server.turn.as_ref().unwrap().allocations(), 0);
    assert_eq!(c.refresh(600).await.err(), Some(437));
    assert_eq!(c.create_permission(peer_addr).await.err(), Some(437));
}

#[tokio::test]
async fn relay_over_udp() {
    relay_round_trip(false).await;
}

#[tokio::test]
async fn relay_over_tcp() {
    relay_round_trip(true).await;
}

#[tokio::test]
async fn bad_and_expired_credentials_get_401() {
    let s = server(true).await;
    let addr = turn_addr(&s);
    let (username, _) = mint(SECRET, "bob", Duration::from_secs(3600), unix_now());
    let mut c = Client::new(Conn::udp(addr).await, &username, "wrong password").await;
    assert_eq!(c.allocate().await, Err(401));

    let expired = format!("{}:bob", unix_now() - 10);
    let mut c = Client::new(Conn::udp(addr).await, &expired, &password(SECRET, &expired)).await;
    assert_eq!(c.allocate().await, Err(401));

    let other = format!("{}:bob", unix_now() + 60);
    let mut c = Client::new(
        Conn::udp(addr).await,
        &other,
        &password("other secret", &other),
    )
    .await;
    assert_eq!(c.allocate().await, Err(401));

    // Another user's valid credentials on an existing allocation: 441.
    let mut c = Client::valid(Conn::udp(addr).await, "bob").await;
    c.allocate().await.expect("allocation");
    let (u, p) = mint(SECRET, "mallory", Duration::from_secs(3600), unix_now());
    c.username = u;
    c.password = p;
    assert_eq!(c.refresh(600).await.err(), Some(441));
}

#[tokio::test]
async fn forbidden_peer_gets_403() {
    let s = server(false).await;
    let mut c = Client::valid(Conn::udp(turn_addr(&s)).await, "carol").await;
    c.allocate().await.expect("allocation");
    let (_peer, peer_addr) = peer_socket().await;
    assert_eq!(c.create_permission(peer_addr).await.err(), Some(403));
    assert_eq!(c.channel_bind(0x4000, peer_addr).await.err(), Some(403));
    for forbidden in [
        "10.0.0.1:5000",
        "0.0.0.0:5000",
        "224.0.0.1:5000",
        "169.254.1.1:80",
    ] {
        assert_eq!(
            c.create_permission(forbidden.parse().unwrap()).await.err(),
            Some(403),
            "{forbidden}"
        );
    }
}

#[tokio::test]
async fn tcp_allocation_is_refused_and_quota_is_enforced() {
    let s = server(true).await;
    let addr = turn_addr(&s);
    let mut c = Client::valid(Conn::udp(addr).await, "dave").await;
    let r = c
        .request(|m| {
            m.method = method::ALLOCATE;
            m.add(attr::REQUESTED_TRANSPORT, [6, 0, 0, 0]);
        })
        .await;
    assert_eq!(r.error_code().map(|e| e.0), Some(442));

    // The default quota is 10 allocations per user; the 11th is refused.
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut c = Client::valid(Conn::udp(addr).await, "erin").await;
        c.allocate().await.expect("within quota");
        clients.push(c);
    }
    let mut extra = Client::valid(Conn::udp(addr).await, "erin").await;
    assert_eq!(extra.allocate().await, Err(486));
    // Someone else is not affected, and freeing one makes room again.
    let mut other = Client::valid(Conn::udp(addr).await, "frank").await;
    other.allocate().await.expect("other user");
    clients[0].refresh(0).await.expect("freed");
    extra.allocate().await.expect("room again");
}

#[tokio::test]
async fn welcome_lists_the_embedded_turn_server_first() {
    let s = common::TestServer::start_with(|c: &mut Config| {
        c.turn_secret = Some(SECRET.to_owned());
        c.ice_servers = vec![confer::config::IceServer {
            urls: vec!["stun:stun.example.org:3478".into()],
            username: None,
            credential: None,
        }];
    })
    .await;
    let port = turn_addr(&s).port();
    let (ws, _) = tokio_tungstenite::connect_async(s.ws_url()).await.unwrap();
    let mut client = common::Client {
        ws,
        id: String::new(),
    };
    let welcome = client.expect("welcome").await;
    let servers = welcome["ice_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let urls: Vec<&str> = servers[0]["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&format!("turn:127.0.0.1:{port}?transport=udp").as_str()),
        "{urls:?}"
    );
    assert!(urls.contains(&format!("turn:127.0.0.1:{port}?transport=tcp").as_str()));
    assert!(urls.contains(&format!("stun:127.0.0.1:{port}").as_str()));
    let username = servers[0]["username"].as_str().unwrap();
    let credential = servers[0]["credential"].as_str().unwrap();
    assert_eq!(credential, password(SECRET, username));
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, welcome["id"].as_str().unwrap());
    let expiry: u64 = expiry.parse().unwrap();
    assert!(expiry > unix_now() + 86000 && expiry <= unix_now() + 86400);
    assert_eq!(servers[1]["urls"][0], "stun:stun.example.org:3478");

    // Those credentials work.
    let mut c = Client::new(Conn::udp(turn_addr(&s)).await, username, credential).await;
    c.allocate()
        .await
        .expect("allocation with welcome credentials");
}

#[tokio::test]
async fn turn_listen_off_disables_it() {
    let s = common::TestServer::start_with(|c: &mut Config| c.turn_listen = None).await;
    assert!(s.server.turn_addr.is_none());
    let (ws, _) = tokio_tungstenite::connect_async(s.ws_url()).await.unwrap();
    let mut client = common::Client {
        ws,
        id: String::new(),
    };
    let welcome = client.expect("welcome").await;
    assert_eq!(welcome["ice_servers"], serde_json::json!([]));
}

#[tokio::test]
async fn an_external_coturn_gets_credentials_from_the_shared_secret() {
    let s = common::TestServer::start_with(|c: &mut Config| {
        c.turn_listen = None;
        c.turn_secret = Some(SECRET.to_owned());
        c.ice_servers = vec![
            confer::config::IceServer {
                urls: vec!["turn:coturn.example.org:3478?transport=udp".into()],
                username: None,
                credential: None,
            },
            confer::config::IceServer {
                urls: vec!["turn:other.example.org:3478".into()],
                username: Some("static".into()),
                credential: Some("kept".into()),
            },
        ];
    })
    .await;
    let (ws, _) = tokio_tungstenite::connect_async(s.ws_url()).await.unwrap();
    let mut client = common::Client {
        ws,
        id: String::new(),
    };
    let welcome = client.expect("welcome").await;
    let servers = welcome["ice_servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{servers:?}");
    let username = servers[0]["username"].as_str().expect("minted username");
    assert_eq!(
        servers[0]["credential"].as_str().unwrap(),
        password(SECRET, username),
        "coturn with static-auth-secret accepts it"
    );
    assert!(username.ends_with(&format!(":{}", welcome["id"].as_str().unwrap())));
    assert_eq!(servers[1]["username"], "static");
    assert_eq!(servers[1]["credential"], "kept");
}
