//! TURN REST credentials in coturn's format (`use-auth-secret`):
//! `username = "<unix expiry>:<user id>"`, `password = base64(HMAC-SHA1(secret, username))`,
//! and the long-term key `MD5(username:realm:password)` of RFC 8489 §9.2.2.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::config::IceServer;

/// The password for `username` under `secret` (the secret's bytes as written, like coturn).
pub fn password(secret: &str, username: &str) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(username.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The long-term credential key `MD5(username ":" realm ":" password)`.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let digest = Md5::digest(format!("{username}:{realm}:{password}").as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest);
    key
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The parts of a REST username: its expiry (Unix seconds) and the user it names.
pub fn parse_username(username: &str) -> Option<(u64, &str)> {
    let (expiry, user) = match username.split_once(':') {
        Some((e, u)) => (e, u),
        None => (username, ""),
    };
    Some((expiry.parse().ok()?, user))
}

/// Whether `username` is well formed and not expired at `now` (Unix seconds).
pub fn username_valid(username: &str, now: u64) -> bool {
    parse_username(username).is_some_and(|(expiry, _)| expiry > now)
}

/// A username and password for `user`, valid for `ttl` from `now`.
pub fn mint(secret: &str, user: &str, ttl: Duration, now: u64) -> (String, String) {
    let username = format!("{}:{user}", now.saturating_add(ttl.as_secs()));
    let password = password(secret, &username);
    (username, password)
}

/// Read `data_dir/turn_secret`, or make one (32 random bytes, base64) and keep it there.
pub fn load_or_create_secret(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("turn_secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let bytes: [u8; 32] = rand::random();
    let secret = BASE64.encode(bytes);
    write_private(&path, &secret)?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Mints the `ice_servers` entry for the embedded TURN server, per connection.
#[derive(Debug, Clone)]
pub struct TurnCredentials {
    pub secret: String,
    pub ttl: Duration,
    pub port: u16,
    /// The address put in TURN URLs when set; otherwise the host the browser used for HTTP.
    pub host: Option<IpAddr>,
}

impl TurnCredentials {
    /// The host for URLs: the configured address, else `request_host` (a `Host` header,
    /// with or without port), else 127.0.0.1.
    pub fn url_host(&self, request_host: Option<&str>) -> String {
        match (self.host, request_host.and_then(host_of)) {
            (Some(IpAddr::V6(ip)), _) => format!("[{ip}]"),
            (Some(ip), _) => ip.to_string(),
            (None, Some(host)) => host.to_owned(),
            (None, None) => "127.0.0.1".to_owned(),
        }
    }

    /// The `RTCIceServer` for `user`: STUN, TURN over UDP and TURN over TCP.
    pub fn ice_server(&self, request_host: Option<&str>, user: &str) -> IceServer {
        let host = self.url_host(request_host);
        let port = self.port;
        let (username, credential) = mint(&self.secret, user, self.ttl, unix_now());
        IceServer {
            urls: vec![
                format!("stun:{host}:{port}"),
                format!("turn:{host}:{port}?transport=udp"),
                format!("turn:{host}:{port}?transport=tcp"),
            ],
            username: Some(username),
            credential: Some(credential),
        }
    }
}

/// The host part of a `Host` header value (`name`, `name:port`, `[v6]:port`), if it is sane.
fn host_of(header: &str) -> Option<&str> {
    let header = header.trim();
    let host = if header.starts_with('[') {
        &header[..=header.find(']')?]
    } else {
        header.split(':').next()?
    };
    let sane = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    sane.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_coturn_rest_format() {
        // Computed independently with:
        // printf %s 1700000000:alice | openssl dgst -sha1 -hmac north-wind -binary | base64
        assert_eq!(
            password("north-wind", "1700000000:alice"),
            "Oko4dt8u/EbTRjRUJWQDFm/zTCc="
        );
        let key = long_term_key("1700000000:alice", "confer", "Oko4dt8u/EbTRjRUJWQDFm/zTCc=");
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "11bac8cacf07c81112979d4b3f879bb6");
    }

    #[test]
    fn minting_and_expiry() {
        let (username, pass) = mint("s", "42", Duration::from_secs(100), 1000);
        assert_eq!(username, "1100:42");
        assert_eq!(pass, password("s", "1100:42"));
        assert_eq!(parse_username(&username), Some((1100, "42")));
        assert!(username_valid(&username, 1099));
        assert!(!username_valid(&username, 1100));
        assert!(!username_valid("alice", 0));
        assert!(!username_valid(":alice", 0));
        assert_eq!(parse_username("1234"), Some((1234, "")));
    }

    #[test]
    fn url_host_choices() {
        let mut c = TurnCredentials {
            secret: "s".into(),
            ttl: Duration::from_secs(60),
            port: 3478,
            host: None,
        };
        assert_eq!(
            c.url_host(Some("meet.example.org:8080")),
            "meet.example.org"
        );
        assert_eq!(c.url_host(Some("[::1]:8080")), "[::1]");
        assert_eq!(c.url_host(Some("bad host/")), "127.0.0.1");
        assert_eq!(c.url_host(None), "127.0.0.1");
        c.host = Some("203.0.113.9".parse().unwrap());
        assert_eq!(c.url_host(Some("x.example")), "203.0.113.9");
        let s = c.ice_server(None, "peer1");
        assert_eq!(s.urls[1], "turn:203.0.113.9:3478?transport=udp");
        assert_eq!(s.urls[2], "turn:203.0.113.9:3478?transport=tcp");
        assert!(s.username.unwrap().ends_with(":peer1"));
    }

    #[test]
    fn secret_is_generated_once() {
        let dir =
            std::env::temp_dir().join(format!("confer-turn-secret-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = load_or_create_secret(&dir).unwrap();
        let b = load_or_create_secret(&dir).unwrap();
        assert_eq!(a, b);
        assert_eq!(BASE64.decode(&a).unwrap().len(), 32);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
