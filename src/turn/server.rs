//! The network side: one UDP socket and one TCP listener on the same port, one relay UDP
//! socket per allocation, and the request handling of RFC 8656.
//!
//! Handling a packet is synchronous and short (the table lock is never held across an
//! await). Malformed packets are dropped without an answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinHandle};

use super::allocation::{
    Allocation, BindError, FiveTuple, QuotaError, Table, Transport, grant_lifetime,
};
use super::codec::{
    ChannelData, Class, HEADER_LEN, Message, attr, is_channel_data, method, stream_frame_len,
};
use super::credentials::{long_term_key, parse_username, password, unix_now, username_valid};
use super::policy::PeerPolicy;

/// How long a NONCE stays valid before the client must retry with a fresh one (438).
pub const NONCE_LIFETIME: Duration = Duration::from_secs(1800);
/// Most simultaneous TCP connections.
pub const MAX_TCP_CONNECTIONS: usize = 2048;
/// A TCP connection without an allocation that stays silent this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(60);
/// Frames queued towards one TCP client before new ones are dropped.
const TCP_QUEUE: usize = 512;

/// What the TURN server needs from the configuration.
#[derive(Debug, Clone)]
pub struct TurnSettings {
    pub listen: SocketAddr,
    pub secret: String,
    pub realm: String,
    pub policy: PeerPolicy,
    /// The address to advertise in XOR-RELAYED-ADDRESS (behind NAT).
    pub public_ip: Option<IpAddr>,
    /// Allocations one user (the id in the REST username) may hold at once.
    pub user_quota: usize,
    /// Allocations the whole server may hold at once.
    pub max_allocations: usize,
}

impl TurnSettings {
    pub fn new(listen: SocketAddr, secret: String) -> TurnSettings {
        TurnSettings {
            listen,
            secret,
            realm: "confer".to_owned(),
            policy: PeerPolicy::default(),
            public_ip: None,
            user_quota: 10,
            max_allocations: 1000,
        }
    }
}

/// A running TURN server.
pub struct TurnServer {
    /// The bound address: UDP and TCP share the port.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl TurnServer {
    /// Bind UDP and TCP on `settings.listen` (the same port for both) and serve.
    pub async fn start(settings: TurnSettings) -> std::io::Result<TurnServer> {
        let (udp, tcp) = bind_pair(settings.listen).await?;
        let addr = udp.local_addr()?;
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::new(settings.user_quota, settings.max_allocations)),
            settings,
            udp: Arc::new(udp),
            local: addr,
            nonce_key: rand::random(),
        });
        let tasks = vec![
            tokio::spawn(udp_loop(shared.clone())),
            tokio::spawn(tcp_loop(shared.clone(), tcp)),
            tokio::spawn(sweep(Arc::downgrade(&shared))),
        ];
        Ok(TurnServer {
            addr,
            shared,
            tasks,
        })
    }

    /// Allocations alive now.
    pub fn allocations(&self) -> usize {
        self.shared.lock().len()
    }
}

impl Drop for TurnServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Bind UDP and TCP to the same address; with port 0, retry until both get the same port.
async fn bind_pair(listen: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last_error = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(listen).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if listen.port() == 0 => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("cannot bind TURN ports")))
}

/// Send a STUN Binding request to `addr` over UDP and wait briefly for the answer.
pub async fn self_check(addr: SocketAddr) -> bool {
    let target = if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
            SocketAddr::V6(_) => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        }
    } else {
        addr
    };
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let Ok(socket) = UdpSocket::bind(local).await else {
        return false;
    };
    let request = Message::new(method::BINDING, Class::Request, rand::random());
    if socket
        .send_to(&request.encode(None, true), target)
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 1500];
    let answer = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await;
    let Ok(Ok((n, _))) = answer else {
        return false;
    };
    Message::decode(&buf[..n])
        .is_ok_and(|m| m.class == Class::Success && m.transaction_id == request.transaction_id)
}

/// Where frames for one client go: a UDP address, or a TCP connection's write queue.
#[derive(Clone)]
enum ClientLink {
    Udp {
        socket: Arc<UdpSocket>,
        to: SocketAddr,
    },
    Tcp(mpsc::Sender<Vec<u8>>),
}

impl ClientLink {
    /// Send without waiting; on congestion the frame is dropped, as UDP would.
    fn send(&self, frame: Vec<u8>) {
        match self {
            ClientLink::Udp { socket, to } => {
                let _ = socket.try_send_to(&frame, *to);
            }
            ClientLink::Tcp(tx) => {
                let _ = tx.try_send(frame);
            }
        }
    }

    fn is_stream(&self) -> bool {
        matches!(self, ClientLink::Tcp(_))
    }
}

/// The relay socket of one allocation; its receive task stops when this is dropped.
struct Relay {
    socket: Arc<UdpSocket>,
    task: AbortHandle,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    settings: TurnSettings,
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    table: Mutex<Table<Relay>>,
    nonce_key: [u8; 32],
}

/// An authenticated request: its username and long-term key.
struct Authed {
    username: String,
    key: [u8; 16],
}

type Reply = Option<Vec<u8>>;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table<Relay>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handle one STUN message or ChannelData frame from a client; returns the answer.
    fn handle(self: &Arc<Self>, tuple: FiveTuple, link: &ClientLink, buf: &[u8]) -> Reply {
        if is_channel_data(buf) {
            self.channel_data(&tuple, buf);
            return None;
        }
        let msg = Message::decode(buf).ok()?;
        match (msg.class, msg.method) {
            (Class::Request, method::BINDING) => {
                let mut r = msg.reply(Class::Success);
                r.add_xor_address(attr::XOR_MAPPED_ADDRESS, tuple.client);
                Some(r.encode(None, msg.had_fingerprint))
            }
            (Class::Indication, method::SEND) => {
                self.send_indication(&tuple, &msg);
                None
            }
            (
                Class::Request,
                method::ALLOCATE
                | method::REFRESH
                | method::CREATE_PERMISSION
                | method::CHANNEL_BIND,
            ) => Some(self.request(tuple, link, &msg, buf)),
            (Class::Request, _) => Some(error(&msg, 400, "Unknown method", None)),
            _ => None,
        }
    }

    fn request(
        self: &Arc<Self>,
        tuple: FiveTuple,
        link: &ClientLink,
        msg: &Message,
        raw: &[u8],
    ) -> Vec<u8> {
        let unknown: Vec<u16> = msg
            .attributes
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| *k < 0x8000 && !KNOWN.contains(k))
            .collect();
        if !unknown.is_empty() {
            let mut r = msg.reply(Class::Error);
            r.add_error(420, "Unknown Attribute");
            let list: Vec<u8> = unknown.iter().flat_map(|k| k.to_be_bytes()).collect();
            r.add(attr::UNKNOWN_ATTRIBUTES, list);
            return r.encode(None, msg.had_fingerprint);
        }
        let auth = match self.authenticate(msg, raw) {
            Ok(auth) => auth,
            Err(reply) => return reply,
        };
        match msg.method {
            method::ALLOCATE => self.allocate(tuple, link, msg, &auth),
            method::REFRESH => self.refresh(&tuple, msg, &auth),
            method::CREATE_PERMISSION => self.create_permission(&tuple, msg, &auth),
            _ => self.channel_bind(&tuple, msg, &auth),
        }
    }

    /// The long-term credential mechanism (RFC 8489 §9.2) with REST usernames.
    fn authenticate(&self, msg: &Message, raw: &[u8]) -> Result<Authed, Vec<u8>> {
        let challenge = |code: u16, reason: &str| {
            let mut r = msg.reply(Class::Error);
            r.add_error(code, reason)
                .add(attr::REALM, self.settings.realm.as_bytes())
                .add(attr::NONCE, self.new_nonce(unix_now()));
            r.encode(None, msg.had_fingerprint)
        };
        if !msg.has_integrity() {
            return Err(challenge(401, "Unauthorized"));
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            msg.get_str(attr::USERNAME),
            msg.get_str(attr::REALM),
            msg.get_str(attr::NONCE),
        ) else {
            return Err(error(msg, 400, "Bad Request", None));
        };
        if !self.nonce_valid(nonce, unix_now()) {
            return Err(challenge(438, "Stale Nonce"));
        }
        if realm != self.settings.realm || !username_valid(username, unix_now()) {
            return Err(challenge(401, "Unauthorized"));
        }
        let key = long_term_key(username, realm, &password(&self.settings.secret, username));
        if !msg.verify_integrity(raw, &key) {
            return Err(challenge(401, "Unauthorized"));
        }
        Ok(Authed {
            username: username.to_owned(),
            key,
        })
    }

    /// A nonce that carries its own expiry and a MAC: `<16 hex expiry><16 hex mac>`.
    fn new_nonce(&self, now: u64) -> String {
        let expiry = now + NONCE_LIFETIME.as_secs();
        format!("{expiry:016x}{}", self.nonce_mac(expiry))
    }

    fn nonce_mac(&self, expiry: u64) -> String {
        let mut mac = match Hmac::<Sha1>::new_from_slice(&self.nonce_key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(&expiry.to_be_bytes());
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn nonce_valid(&self, nonce: &str, now: u64) -> bool {
        if nonce.len() != 32 || !nonce.is_ascii() {
            return false;
        }
        let (expiry, mac) = nonce.split_at(16);
        let Ok(expiry) = u64::from_str_radix(expiry, 16) else {
            return false;
        };
        expiry > now && self.nonce_mac(expiry) == mac
    }

    fn allocate(
        self: &Arc<Self>,
        tuple: FiveTuple,
        link: &ClientLink,
        msg: &Message,
        auth: &Authed,
    ) -> Vec<u8> {
        let key = Some(&auth.key[..]);
        let now = Instant::now();
        let mut table = self.lock();
        if let Some(existing) = table.get(&tuple) {
            if existing.transaction_id == msg.transaction_id && existing.username == auth.username {
                // A retransmission: answer as before.
                return allocate_success(
                    msg,
                    existing.relayed,
                    tuple.client,
                    existing.remaining(now),
                    &auth.key,
                );
            }
            return error(msg, 437, "Allocation Mismatch", key);
        }
        let Some(transport) = msg.get(attr::REQUESTED_TRANSPORT) else {
            return error(msg, 400, "Bad Request: no REQUESTED-TRANSPORT", key);
        };
        if transport.first() != Some(&17) {
            return error(msg, 442, "Unsupported Transport Protocol", key);
        }
        let advertised = self.advertised_ip(&tuple);
        if let Some(family) = msg.get(attr::REQUESTED_ADDRESS_FAMILY) {
            let wanted_v6 = match family.first() {
                Some(1) => false,
                Some(2) => true,
                _ => return error(msg, 400, "Bad Request", key),
            };
            if wanted_v6 != advertised.is_ipv6() {
                return error(msg, 440, "Address Family not Supported", key);
            }
        }
        let user = match parse_username(&auth.username) {
            Some((_, user)) if !user.is_empty() => user.to_owned(),
            _ => auth.username.clone(),
        };
        match table.check_quota(&user) {
            Ok(()) => {}
            Err(QuotaError::User) => return error(msg, 486, "Allocation Quota Reached", key),
            Err(QuotaError::Server) => return error(msg, 508, "Insufficient Capacity", key),
        }
        let lifetime = grant_lifetime(msg.get_u32(attr::LIFETIME));
        let Ok(socket) = self.relay_socket(advertised) else {
            return error(msg, 508, "Insufficient Capacity", key);
        };
        let Ok(port) = socket.local_addr().map(|a| a.port()) else {
            return error(msg, 508, "Insufficient Capacity", key);
        };
        let relayed = SocketAddr::new(advertised, port);
        let socket = Arc::new(socket);
        let task = tokio::spawn(relay_loop(
            Arc::downgrade(self),
            tuple,
            socket.clone(),
            link.clone(),
        ))
        .abort_handle();
        let allocation = Allocation::new(
            auth.username.clone(),
            user,
            msg.transaction_id,
            relayed,
            Relay { socket, task },
            lifetime,
            now,
        );
        table.insert(tuple, allocation);
        metrics::counter!("confer_turn_allocations_total").increment(1);
        tracing::debug!(client = %tuple.client, %relayed, "TURN allocation");
        allocate_success(msg, relayed, tuple.client, lifetime, &auth.key)
    }

    /// The address put in XOR-RELAYED-ADDRESS.
    fn advertised_ip(&self, tuple: &FiveTuple) -> IpAddr {
        if let Some(ip) = self.settings.public_ip {
            return ip;
        }
        if !tuple.server.ip().is_unspecified() {
            return tuple.server.ip();
        }
        // Listening on every address over UDP: use the one the kernel routes to the client.
        route_source(tuple.client).unwrap_or(tuple.client.ip())
    }

    fn relay_socket(&self, advertised: IpAddr) -> std::io::Result<UdpSocket> {
        let listen = self.settings.listen.ip();
        let any: IpAddr = if advertised.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        // Relayed packets must leave from the address the allocation advertised: peers'
        // permissions are keyed on it. On a host with several addresses a socket bound to
        // "any" lets the kernel pick another one. Behind NAT (public_ip) the advertised
        // address is not local, so bind to "any" and let the NAT map it.
        let socket = if !listen.is_unspecified() {
            std::net::UdpSocket::bind((listen, 0))?
        } else if self.settings.public_ip.is_none() {
            std::net::UdpSocket::bind((advertised, 0))
                .or_else(|_| std::net::UdpSocket::bind((any, 0)))?
        } else {
            std::net::UdpSocket::bind((any, 0))?
        };
        socket.set_nonblocking(true)?;
        UdpSocket::from_std(socket)
    }

    fn refresh(&self, tuple: &FiveTuple, msg: &Message, auth: &Authed) -> Vec<u8> {
        let key = Some(&auth.key[..]);
        let mut table = self.lock();
        let Some(allocation) = table.get_mut(tuple) else {
            return error(msg, 437, "Allocation Mismatch", key);
        };
        if allocation.username != auth.username {
            return error(msg, 441, "Wrong Credentials", key);
        }
        let requested = msg.get_u32(attr::LIFETIME);
        let granted = if requested == Some(0) {
            table.remove(tuple);
            Duration::ZERO
        } else {
            let lifetime = grant_lifetime(requested);
            allocation.refresh(lifetime, Instant::now());
            lifetime
        };
        let mut r = msg.reply(Class::Success);
        r.add_u32(attr::LIFETIME, granted.as_secs() as u32);
        r.encode(key, msg.had_fingerprint)
    }

    fn create_permission(&self, tuple: &FiveTuple, msg: &Message, auth: &Authed) -> Vec<u8> {
        let key = Some(&auth.key[..]);
        let mut peers = Vec::new();
        for value in msg.get_all(attr::XOR_PEER_ADDRESS) {
            match super::codec::Message::decode_xor_peer(value, &msg.transaction_id) {
                Some(peer) => peers.push(peer),
                None => return error(msg, 400, "Bad Request: bad XOR-PEER-ADDRESS", key),
            }
        }
        if peers.is_empty() {
            return error(msg, 400, "Bad Request: no XOR-PEER-ADDRESS", key);
        }
        let now = Instant::now();
        let mut table = self.lock();
        let Some(allocation) = table.get_mut(tuple) else {
            return error(msg, 437, "Allocation Mismatch", key);
        };
        if allocation.username != auth.username {
            return error(msg, 441, "Wrong Credentials", key);
        }
        if peers
            .iter()
            .any(|p| p.is_ipv6() != allocation.relayed.is_ipv6())
        {
            return error(msg, 443, "Peer Address Family Mismatch", key);
        }
        if peers.iter().any(|p| !self.settings.policy.permits(p.ip())) {
            return error(msg, 403, "Forbidden", key);
        }
        for peer in &peers {
            if !allocation.permit(peer.ip(), now) {
                return error(msg, 508, "Insufficient Capacity", key);
            }
        }
        msg.reply(Class::Success).encode(key, msg.had_fingerprint)
    }

    fn channel_bind(&self, tuple: &FiveTuple, msg: &Message, auth: &Authed) -> Vec<u8> {
        let key = Some(&auth.key[..]);
        let channel = match msg.get(attr::CHANNEL_NUMBER) {
            Some(v) if v.len() == 4 => u16::from_be_bytes([v[0], v[1]]),
            _ => return error(msg, 400, "Bad Request: no CHANNEL-NUMBER", key),
        };
        let Some(peer) = msg.get_xor_address(attr::XOR_PEER_ADDRESS) else {
            return error(msg, 400, "Bad Request: no XOR-PEER-ADDRESS", key);
        };
        let mut table = self.lock();
        let Some(allocation) = table.get_mut(tuple) else {
            return error(msg, 437, "Allocation Mismatch", key);
        };
        if allocation.username != auth.username {
            return error(msg, 441, "Wrong Credentials", key);
        }
        if peer.is_ipv6() != allocation.relayed.is_ipv6() {
            return error(msg, 443, "Peer Address Family Mismatch", key);
        }
        if !self.settings.policy.permits(peer.ip()) {
            return error(msg, 403, "Forbidden", key);
        }
        match allocation.bind_channel(channel, peer, Instant::now()) {
            Ok(()) => msg.reply(Class::Success).encode(key, msg.had_fingerprint),
            Err(BindError::BadNumber | BindError::Conflict) => {
                error(msg, 400, "Bad Request: channel in use or invalid", key)
            }
            Err(BindError::Full) => error(msg, 508, "Insufficient Capacity", key),
        }
    }

    fn send_indication(&self, tuple: &FiveTuple, msg: &Message) {
        let (Some(peer), Some(data)) = (
            msg.get_xor_address(attr::XOR_PEER_ADDRESS),
            msg.get(attr::DATA),
        ) else {
            return;
        };
        let table = self.lock();
        if let Some(a) = table.get(tuple)
            && a.is_permitted(peer.ip(), Instant::now())
            && a.relay.socket.try_send_to(data, peer).is_ok()
        {
            relayed_bytes("to_peer", data.len());
        }
    }

    fn channel_data(&self, tuple: &FiveTuple, buf: &[u8]) {
        let Ok(cd) = ChannelData::decode(buf) else {
            return;
        };
        let now = Instant::now();
        let table = self.lock();
        if let Some(a) = table.get(tuple)
            && let Some(peer) = a.channel_peer(cd.channel, now)
            && a.is_permitted(peer.ip(), now)
            && a.relay.socket.try_send_to(cd.data, peer).is_ok()
        {
            relayed_bytes("to_peer", cd.data.len());
        }
    }
}

/// Count bytes relayed in one direction (`to_peer` or `to_client`).
fn relayed_bytes(direction: &'static str, n: usize) {
    metrics::counter!("confer_turn_relayed_bytes_total", "direction" => direction)
        .increment(n as u64);
}

/// Attributes this server understands in requests (others below 0x8000 get 420).
const KNOWN: &[u16] = &[
    attr::MAPPED_ADDRESS,
    attr::USERNAME,
    attr::MESSAGE_INTEGRITY,
    attr::ERROR_CODE,
    attr::UNKNOWN_ATTRIBUTES,
    attr::CHANNEL_NUMBER,
    attr::LIFETIME,
    attr::XOR_PEER_ADDRESS,
    attr::DATA,
    attr::REALM,
    attr::NONCE,
    attr::XOR_RELAYED_ADDRESS,
    attr::REQUESTED_ADDRESS_FAMILY,
    attr::EVEN_PORT,
    attr::REQUESTED_TRANSPORT,
    attr::DONT_FRAGMENT,
    attr::XOR_MAPPED_ADDRESS,
    attr::RESERVATION_TOKEN,
    attr::PRIORITY,
    attr::USE_CANDIDATE,
];

fn error(msg: &Message, code: u16, reason: &str, key: Option<&[u8]>) -> Vec<u8> {
    let mut r = msg.reply(Class::Error);
    r.add_error(code, reason);
    r.encode(key, msg.had_fingerprint)
}

fn allocate_success(
    msg: &Message,
    relayed: SocketAddr,
    client: SocketAddr,
    lifetime: Duration,
    key: &[u8],
) -> Vec<u8> {
    let mut r = msg.reply(Class::Success);
    r.add_xor_address(attr::XOR_RELAYED_ADDRESS, relayed)
        .add_u32(attr::LIFETIME, lifetime.as_secs() as u32)
        .add_xor_address(attr::XOR_MAPPED_ADDRESS, client);
    r.encode(Some(key), msg.had_fingerprint)
}

/// The local address the kernel would use to reach `to` (no packet is sent).
fn route_source(to: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(to).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

async fn udp_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match shared.udp.recv_from(&mut buf).await {
            Ok(got) => got,
            // ICMP errors from earlier sends surface here on some systems; keep serving.
            Err(_) => continue,
        };
        let tuple = FiveTuple {
            client: from,
            server: shared.local,
            transport: Transport::Udp,
        };
        let link = ClientLink::Udp {
            socket: shared.udp.clone(),
            to: from,
        };
        if let Some(reply) = shared.handle(tuple, &link, &buf[..n]) {
            let _ = shared.udp.send_to(&reply, from).await;
        }
    }
}

async fn tcp_loop(shared: Arc<Shared>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(got) => got,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        tokio::spawn(tcp_connection(shared.clone(), stream, from, slot));
    }
}

async fn tcp_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    from: SocketAddr,
    _slot: OwnedSemaphorePermit,
) {
    let Ok(server) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let tuple = FiveTuple {
        client: from,
        server,
        transport: Transport::Tcp,
    };
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    let write_task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let link = ClientLink::Tcp(tx);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'conn: loop {
        // Handle every complete frame in the buffer.
        loop {
            let len = match stream_frame_len(&buf) {
                None => break,
                Some(Err(_)) => break 'conn,
                Some(Ok(len)) => len,
            };
            if len < 4 || (buf[0] < 0x40 && len < HEADER_LEN) {
                break 'conn;
            }
            if buf.len() < len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..len).collect();
            if let Some(reply) = shared.handle(tuple, &link, &frame) {
                link.send(reply);
            }
        }
        match tokio::time::timeout(TCP_IDLE, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) if shared.lock().get(&tuple).is_some() => {}
            Err(_) => break,
        }
    }
    // The allocation lives only as long as its TCP connection.
    shared.lock().remove(&tuple);
    drop(link);
    let _ = tokio::time::timeout(Duration::from_secs(2), write_task).await;
}

/// Receive from peers on one allocation's relay socket and pass permitted traffic on to the
/// client, as ChannelData when a channel is bound, else as a Data indication.
async fn relay_loop(
    shared: Weak<Shared>,
    tuple: FiveTuple,
    socket: Arc<UdpSocket>,
    link: ClientLink,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(_) => continue,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let frame = {
            let table = shared.lock();
            let Some(a) = table.get(&tuple) else {
                return;
            };
            if !a.is_permitted(peer.ip(), now) {
                continue;
            }
            match a.channel_for(peer, now) {
                Some(channel) => ChannelData {
                    channel,
                    data: &buf[..n],
                }
                .encode(link.is_stream()),
                None => {
                    let mut m = Message::new(method::DATA, Class::Indication, rand::random());
                    m.add_xor_address(attr::XOR_PEER_ADDRESS, peer)
                        .add(attr::DATA, &buf[..n]);
                    m.encode(None, false)
                }
            }
        };
        link.send(frame);
        relayed_bytes("to_client", n);
    }
}

/// Drop expired allocations (closing their relays) and stale permissions once a second.
async fn sweep(shared: Weak<Shared>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let expired = shared.lock().expire(Instant::now());
        drop(expired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nonces_expire_and_cannot_be_forged() {
        let server = TurnServer::start(TurnSettings::new(
            "127.0.0.1:0".parse().unwrap(),
            "s".into(),
        ))
        .await
        .unwrap();
        let shared = &server.shared;
        let now = unix_now();
        let nonce = shared.new_nonce(now);
        assert!(shared.nonce_valid(&nonce, now));
        assert!(shared.nonce_valid(&nonce, now + NONCE_LIFETIME.as_secs() - 1));
        assert!(!shared.nonce_valid(&nonce, now + NONCE_LIFETIME.as_secs()));
        let forged = format!("{:016x}{}", now + 999_999, &nonce[16..]);
        assert!(!shared.nonce_valid(&forged, now));
        assert!(!shared.nonce_valid("short", now));
        assert!(!shared.nonce_valid("ééééééééééééééééé", now));
        assert!(self_check(server.addr).await);
    }
}
