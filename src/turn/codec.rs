//! STUN messages (RFC 8489) with the TURN attributes (RFC 8656), and ChannelData framing.
//!
//! Decoding never trusts lengths: every read is bounds-checked and anything malformed is an
//! error, which callers answer by dropping the packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

pub const MAGIC_COOKIE: u32 = 0x2112_A442;
const FINGERPRINT_XOR: u32 = 0x5354_554e;
pub const HEADER_LEN: usize = 20;

/// STUN methods used by a TURN server.
pub mod method {
    pub const BINDING: u16 = 0x001;
    pub const ALLOCATE: u16 = 0x003;
    pub const REFRESH: u16 = 0x004;
    pub const SEND: u16 = 0x006;
    pub const DATA: u16 = 0x007;
    pub const CREATE_PERMISSION: u16 = 0x008;
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// Attribute types.
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    pub const EVEN_PORT: u16 = 0x0018;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const DONT_FRAGMENT: u16 = 0x001A;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const RESERVATION_TOKEN: u16 = 0x0022;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }
}

fn message_type(method: u16, class: Class) -> u16 {
    let c = class.bits();
    (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((c & 0b01) << 4)
        | ((c & 0b10) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let class = match ((t >> 7) & 0b10) | ((t >> 4) & 0b01) {
        0b00 => Class::Request,
        0b01 => Class::Indication,
        0b10 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("too short")]
    Truncated,
    #[error("not a STUN message")]
    NotStun,
    #[error("malformed attribute")]
    BadAttribute,
    #[error("FINGERPRINT does not match")]
    BadFingerprint,
}

/// A decoded (or to-be-encoded) STUN message. Attributes keep their order and raw values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub method: u16,
    pub class: Class,
    pub transaction_id: [u8; 12],
    pub attributes: Vec<(u16, Vec<u8>)>,
    /// Where MESSAGE-INTEGRITY starts in the decoded bytes, if it was present.
    integrity_at: Option<usize>,
    /// Whether the decoded message carried a (valid) FINGERPRINT.
    pub had_fingerprint: bool,
}

/// Whether `buf` starts like a STUN message (the two top bits are 0 and the cookie is there).
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN && buf[0] & 0xC0 == 0 && buf[4..8] == MAGIC_COOKIE.to_be_bytes()
}

/// Whether `buf` starts like ChannelData (channel numbers 0x4000..=0x7FFF).
pub fn is_channel_data(buf: &[u8]) -> bool {
    buf.len() >= 4 && (0x40..=0x7F).contains(&buf[0])
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn padded(len: usize) -> usize {
    (len + 3) & !3
}

/// How many bytes the STUN message or ChannelData frame at the start of `buf` takes on a
/// stream transport (ChannelData is padded to 4 bytes there). `None` until 4 bytes are there;
/// `Some(Err)` when the bytes are neither.
pub fn stream_frame_len(buf: &[u8]) -> Option<Result<usize, DecodeError>> {
    let len = usize::from(be16(buf, 2)?);
    Some(match buf[0] {
        0x00..=0x3F => Ok(HEADER_LEN + len),
        0x40..=0x7F => Ok(4 + padded(len)),
        _ => Err(DecodeError::NotStun),
    })
}

impl Message {
    pub fn new(method: u16, class: Class, transaction_id: [u8; 12]) -> Message {
        Message {
            method,
            class,
            transaction_id,
            attributes: Vec::new(),
            integrity_at: None,
            had_fingerprint: false,
        }
    }

    /// A response of `class` to this request, with the same method and transaction.
    pub fn reply(&self, class: Class) -> Message {
        Message::new(self.method, class, self.transaction_id)
    }

    /// Decode one message occupying all of `buf` (trailing bytes are an error on UDP).
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Truncated);
        }
        if !is_stun(buf) {
            return Err(DecodeError::NotStun);
        }
        let t = be16(buf, 0).ok_or(DecodeError::Truncated)?;
        let len = usize::from(be16(buf, 2).ok_or(DecodeError::Truncated)?);
        if len % 4 != 0 || buf.len() != HEADER_LEN + len {
            return Err(DecodeError::Truncated);
        }
        let (method, class) = split_type(t);
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&buf[8..20]);
        let mut msg = Message::new(method, class, transaction_id);
        let mut at = HEADER_LEN;
        while at < buf.len() {
            let kind = be16(buf, at).ok_or(DecodeError::BadAttribute)?;
            let vlen = usize::from(be16(buf, at + 2).ok_or(DecodeError::BadAttribute)?);
            let value = buf
                .get(at + 4..at + 4 + vlen)
                .ok_or(DecodeError::BadAttribute)?;
            let next = at + 4 + padded(vlen);
            if next > buf.len() {
                return Err(DecodeError::BadAttribute);
            }
            if kind == attr::FINGERPRINT {
                let expected = be32(value, 0).ok_or(DecodeError::BadAttribute)?;
                if vlen != 4 || next != buf.len() || fingerprint(&buf[..at]) != expected {
                    return Err(DecodeError::BadFingerprint);
                }
                msg.had_fingerprint = true;
            } else if msg.integrity_at.is_none() {
                // Attributes after MESSAGE-INTEGRITY (other than FINGERPRINT) are ignored.
                if kind == attr::MESSAGE_INTEGRITY {
                    if vlen != 20 {
                        return Err(DecodeError::BadAttribute);
                    }
                    msg.integrity_at = Some(at);
                }
                msg.attributes.push((kind, value.to_vec()));
            }
            at = next;
        }
        Ok(msg)
    }

    pub fn get(&self, kind: u16) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_all(&self, kind: u16) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_str(&self, kind: u16) -> Option<&str> {
        std::str::from_utf8(self.get(kind)?).ok()
    }

    pub fn get_u32(&self, kind: u16) -> Option<u32> {
        let v = self.get(kind)?;
        if v.len() != 4 {
            return None;
        }
        be32(v, 0)
    }

    /// Decode one XOR-encoded address value of this message's transaction.
    pub fn decode_xor_peer(value: &[u8], transaction_id: &[u8; 12]) -> Option<SocketAddr> {
        decode_xor_address(value, transaction_id)
    }

    pub fn get_xor_address(&self, kind: u16) -> Option<SocketAddr> {
        decode_xor_address(self.get(kind)?, &self.transaction_id)
    }

    /// The ERROR-CODE as (code, reason).
    pub fn error_code(&self) -> Option<(u16, String)> {
        let v = self.get(attr::ERROR_CODE)?;
        if v.len() < 4 {
            return None;
        }
        let code = u16::from(v[2] & 0x07) * 100 + u16::from(v[3]);
        Some((code, String::from_utf8_lossy(&v[4..]).into_owned()))
    }

    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some()
    }

    /// Check MESSAGE-INTEGRITY against `raw`, the bytes this message was decoded from.
    pub fn verify_integrity(&self, raw: &[u8], key: &[u8]) -> bool {
        let (Some(at), Some(tag)) = (self.integrity_at, self.get(attr::MESSAGE_INTEGRITY)) else {
            return false;
        };
        let Some(head) = raw.get(..at) else {
            return false;
        };
        let mut mac = match Hmac::<Sha1>::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => return false,
        };
        // The length in the header covers everything up to and including MESSAGE-INTEGRITY.
        let covered = (at + 24 - HEADER_LEN) as u16;
        mac.update(&head[..2]);
        mac.update(&covered.to_be_bytes());
        mac.update(&head[4..]);
        mac.verify_slice(tag).is_ok()
    }

    pub fn add(&mut self, kind: u16, value: impl Into<Vec<u8>>) -> &mut Self {
        self.attributes.push((kind, value.into()));
        self
    }

    pub fn add_u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.add(kind, value.to_be_bytes())
    }

    pub fn add_xor_address(&mut self, kind: u16, addr: SocketAddr) -> &mut Self {
        let value = encode_xor_address(addr, &self.transaction_id);
        self.add(kind, value)
    }

    pub fn add_error(&mut self, code: u16, reason: &str) -> &mut Self {
        let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        self.add(attr::ERROR_CODE, v)
    }

    /// Encode, appending MESSAGE-INTEGRITY when `key` is given and FINGERPRINT when asked.
    pub fn encode(&self, key: Option<&[u8]>, with_fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&message_type(self.method, self.class).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction_id);
        for (kind, value) in &self.attributes {
            if *kind == attr::MESSAGE_INTEGRITY || *kind == attr::FINGERPRINT {
                continue;
            }
            push_attr(&mut out, *kind, value);
        }
        if let Some(key) = key {
            set_len(&mut out, 24);
            let tag = match Hmac::<Sha1>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(&out);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => vec![0; 20],
            };
            push_attr(&mut out, attr::MESSAGE_INTEGRITY, &tag);
        }
        if with_fingerprint {
            set_len(&mut out, 8);
            let crc = fingerprint(&out);
            push_attr(&mut out, attr::FINGERPRINT, &crc.to_be_bytes());
        }
        set_len(&mut out, 0);
        out
    }
}

/// Set the header length to the current body length plus `extra` bytes still to come.
fn set_len(out: &mut [u8], extra: usize) {
    let len = (out.len() - HEADER_LEN + extra) as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
}

fn push_attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(padded(out.len()), 0);
}

fn fingerprint(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes) ^ FINGERPRINT_XOR
}

fn encode_xor_address(addr: SocketAddr, tid: &[u8; 12]) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut v = Vec::with_capacity(20);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.extend_from_slice(&[0, 1]);
            v.extend_from_slice(&port.to_be_bytes());
            v.extend_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            v.extend_from_slice(&[0, 2]);
            v.extend_from_slice(&port.to_be_bytes());
            let mask = xor_mask(tid);
            v.extend(ip.octets().iter().zip(mask).map(|(a, m)| a ^ m));
        }
    }
    v
}

fn xor_mask(tid: &[u8; 12]) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(tid);
    mask
}

fn decode_xor_address(v: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    let port = be16(v, 2)? ^ (MAGIC_COOKIE >> 16) as u16;
    match (v.first()?, v.get(1)?, v.len()) {
        (0, 1, 8) => {
            let ip = Ipv4Addr::from(be32(v, 4)? ^ MAGIC_COOKIE);
            Some(SocketAddr::new(ip.into(), port))
        }
        (0, 2, 20) => {
            let mut octets = [0u8; 16];
            for (i, (a, m)) in v[4..20].iter().zip(xor_mask(tid)).enumerate() {
                octets[i] = a ^ m;
            }
            Some(SocketAddr::new(Ipv6Addr::from(octets).into(), port))
        }
        _ => None,
    }
}

/// A ChannelData message: a channel number and application data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelData<'a> {
    pub channel: u16,
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Decode from `buf`, which may carry padding after the data (as on TCP).
    pub fn decode(buf: &'a [u8]) -> Result<ChannelData<'a>, DecodeError> {
        if !is_channel_data(buf) {
            return Err(DecodeError::NotStun);
        }
        let channel = be16(buf, 0).ok_or(DecodeError::Truncated)?;
        let len = usize::from(be16(buf, 2).ok_or(DecodeError::Truncated)?);
        let data = buf.get(4..4 + len).ok_or(DecodeError::Truncated)?;
        Ok(ChannelData { channel, data })
    }

    /// Encode; `pad` rounds the frame up to a multiple of 4 bytes (required on TCP).
    pub fn encode(&self, pad: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + padded(self.data.len()));
        out.extend_from_slice(&self.channel.to_be_bytes());
        out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
        out.extend_from_slice(self.data);
        if pad {
            out.resize(padded(out.len()), 0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 5769 §2.1: sample request with short-term credentials.
    const SAMPLE_REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];

    // RFC 5769 §2.2: sample IPv4 response.
    const SAMPLE_IPV4_RESPONSE: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

    #[test]
    fn rfc5769_sample_request() {
        let m = Message::decode(&SAMPLE_REQUEST).unwrap();
        assert_eq!((m.method, m.class), (method::BINDING, Class::Request));
        assert_eq!(m.get_str(attr::USERNAME), Some("evtj:h6vY"));
        assert_eq!(m.get_str(attr::SOFTWARE), Some("STUN test client"));
        assert_eq!(m.get_u32(attr::PRIORITY), Some(0x6e00_01ff));
        assert!(m.had_fingerprint);
        assert!(m.verify_integrity(&SAMPLE_REQUEST, PASSWORD));
        assert!(!m.verify_integrity(&SAMPLE_REQUEST, b"VOkJxbRl1RmTxUk/WvJxB"));
    }

    #[test]
    fn rfc5769_sample_ipv4_response() {
        let m = Message::decode(&SAMPLE_IPV4_RESPONSE).unwrap();
        assert_eq!((m.method, m.class), (method::BINDING, Class::Success));
        assert_eq!(
            m.get_xor_address(attr::XOR_MAPPED_ADDRESS),
            Some("192.0.2.1:32853".parse().unwrap())
        );
        assert!(m.verify_integrity(&SAMPLE_IPV4_RESPONSE, PASSWORD));
        // Our encoder produces the same XOR-MAPPED-ADDRESS value.
        let ours = encode_xor_address("192.0.2.1:32853".parse().unwrap(), &m.transaction_id);
        assert_eq!(ours, [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]);
    }

    #[test]
    fn round_trip_with_integrity_and_fingerprint() {
        let tid = [7u8; 12];
        let mut m = Message::new(method::ALLOCATE, Class::Success, tid);
        m.add_xor_address(
            attr::XOR_RELAYED_ADDRESS,
            "203.0.113.5:50000".parse().unwrap(),
        )
        .add_xor_address(
            attr::XOR_MAPPED_ADDRESS,
            "[2001:db8::1]:40000".parse().unwrap(),
        )
        .add_u32(attr::LIFETIME, 600)
        .add(attr::USERNAME, "abc")
        .add_error(438, "Stale Nonce");
        let bytes = m.encode(Some(b"key"), true);
        let d = Message::decode(&bytes).unwrap();
        assert_eq!((d.method, d.class), (method::ALLOCATE, Class::Success));
        assert_eq!(
            d.get_xor_address(attr::XOR_RELAYED_ADDRESS),
            Some("203.0.113.5:50000".parse().unwrap())
        );
        assert_eq!(
            d.get_xor_address(attr::XOR_MAPPED_ADDRESS),
            Some("[2001:db8::1]:40000".parse().unwrap())
        );
        assert_eq!(d.get_u32(attr::LIFETIME), Some(600));
        assert_eq!(d.get_str(attr::USERNAME), Some("abc"));
        assert_eq!(d.error_code(), Some((438, "Stale Nonce".to_owned())));
        assert!(d.had_fingerprint);
        assert!(d.verify_integrity(&bytes, b"key"));
        assert!(!d.verify_integrity(&bytes, b"other"));
        // Every message type survives the split/join of method and class bits.
        for method in [1u16, 3, 4, 6, 7, 8, 9, 0xFFF] {
            for class in [
                Class::Request,
                Class::Indication,
                Class::Success,
                Class::Error,
            ] {
                assert_eq!(split_type(message_type(method, class)), (method, class));
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let good = Message::new(method::BINDING, Class::Request, [1; 12]).encode(None, true);
        for cut in 0..good.len() {
            assert!(Message::decode(&good[..cut]).is_err());
        }
        let mut flipped = good.clone();
        flipped[24] ^= 0xFF;
        assert_eq!(Message::decode(&flipped), Err(DecodeError::BadFingerprint));
        // An attribute whose length runs past the end.
        let mut bad = Message::new(method::BINDING, Class::Request, [1; 12]).encode(None, false);
        bad.extend_from_slice(&[0x00, 0x06, 0x00, 0xFF]);
        let len = (bad.len() - HEADER_LEN) as u16;
        bad[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(Message::decode(&bad), Err(DecodeError::BadAttribute));
        // Pseudo-random junk never panics.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut buf = good.clone();
            for b in buf.iter_mut() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if x.is_multiple_of(7) {
                    *b = (x >> 16) as u8;
                }
            }
            let _ = Message::decode(&buf);
            let _ = ChannelData::decode(&buf);
            let _ = stream_frame_len(&buf);
        }
    }

    #[test]
    fn channel_data_framing() {
        let cd = ChannelData {
            channel: 0x4001,
            data: b"hello",
        };
        let udp = cd.encode(false);
        assert_eq!(udp, [0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o']);
        let tcp = cd.encode(true);
        assert_eq!(tcp.len(), 12);
        assert_eq!(stream_frame_len(&tcp), Some(Ok(12)));
        assert_eq!(ChannelData::decode(&tcp).unwrap(), cd);
        assert!(ChannelData::decode(&udp[..6]).is_err());
        assert!(!is_stun(&udp));
        assert!(is_channel_data(&udp));
        assert_eq!(
            stream_frame_len(&[0x80, 0, 0, 0]),
            Some(Err(DecodeError::NotStun))
        );
        assert_eq!(stream_frame_len(&[0x00, 0x01]), None);
    }
}
