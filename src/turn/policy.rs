//! Which peer addresses a TURN allocation may talk to.
//!
//! An open relay to loopback, private or link-local addresses lets anyone with credentials
//! reach services behind the server (the classic TURN SSRF hole), so those are refused unless
//! `turn_allow_loopback` or an allow-list of CIDRs says otherwise.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address block such as `10.1.0.0/16` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xFFu8 << (8 - rest);
    net[full] & mask == ip[full] & mask
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address block like 10.0.0.0/8 or fd00::/8")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The peer address filter of one TURN server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Allow loopback, private (RFC 1918, fc00::/7), CGNAT and link-local peers.
    pub allow_loopback: bool,
    /// Always allowed, whatever else says.
    pub allowed: Vec<Cidr>,
}

impl PeerPolicy {
    /// Whether an allocation may talk to `ip` (ports do not matter, as in TURN permissions).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.allowed.iter().any(|c| c.contains(ip)) {
            return true;
        }
        match classify(ip) {
            Class::Public => true,
            Class::Internal => self.allow_loopback,
            Class::Never => false,
        }
    }
}

enum Class {
    Public,
    /// Loopback, private, CGNAT, link-local: fine on a LAN or in tests, not on the internet.
    Internal,
    /// Unspecified, multicast, broadcast, reserved and documentation ranges.
    Never,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let o = ip.octets();
    let internal = ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64.0.0/10 CGNAT
        || (o[0] == 198 && (o[1] & 0xFE) == 18); // 198.18.0.0/15 benchmarking
    let never = ip.is_unspecified()
        || o[0] == 0 // 0.0.0.0/8 "this network"
        || ip.is_multicast()
        || ip.is_broadcast()
        || o[0] >= 240 // 240.0.0.0/4 reserved
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 protocol assignments
        || ip.is_documentation();
    if never {
        Class::Never
    } else if internal {
        Class::Internal
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    let never = ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: may reach anything in IPv4
        || s[0] == 0x2002 // 6to4: same
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0); // IPv4-compatible
    let internal = ip.is_loopback()
        || (s[0] & 0xFE00) == 0xFC00 // fc00::/7 unique local
        || (s[0] & 0xFFC0) == 0xFE80 // fe80::/10 link-local
        || (s[0] & 0xFFC0) == 0xFEC0; // fec0::/10 old site-local
    if ip.is_loopback() {
        Class::Internal
    } else if never {
        Class::Never
    } else if internal {
        Class::Internal
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> IpAddr {
        s.parse::<std::net::SocketAddr>().unwrap().ip()
    }

    #[test]
    fn default_policy_refuses_internal_and_odd_addresses() {
        let p = PeerPolicy::default();
        for bad in [
            "127.0.0.1:5000",
            "10.1.2.3:5000",
            "172.16.0.1:5000",
            "192.168.1.1:5000",
            "169.254.1.1:5000",
            "100.64.0.1:5000",
            "0.0.0.0:5000",
            "224.0.0.1:5000",
            "255.255.255.255:5000",
            "240.0.0.1:5000",
            "192.0.2.1:5000",
            "[::1]:5000",
            "[::]:5000",
            "[fd00::1]:5000",
            "[fc00::1]:5000",
            "[fe80::1]:5000",
            "[ff02::1]:5000",
            "[::ffff:127.0.0.1]:5000",
            "[::ffff:10.0.0.1]:5000",
            "[64:ff9b::a00:1]:5000",
            "[2001:db8::1]:5000",
        ] {
            assert!(!p.permits(addr(bad)), "{bad} must be refused");
        }
        for good in [
            "8.8.8.8:5000",
            "100.128.0.1:5000",
            "[2606:4700::1]:443",
            "[::ffff:8.8.8.8]:53",
        ] {
            assert!(p.permits(addr(good)), "{good} must be allowed");
        }
    }

    #[test]
    fn allow_loopback_opens_internal_ranges_only() {
        let p = PeerPolicy {
            allow_loopback: true,
            allowed: Vec::new(),
        };
        for ok in [
            "127.0.0.1:5000",
            "10.0.0.1:1",
            "[::1]:5000",
            "[fd12::1]:9",
            "100.64.1.1:1",
        ] {
            assert!(p.permits(addr(ok)), "{ok}");
        }
        for bad in ["0.0.0.0:5000", "224.0.0.1:5000", "[ff02::1]:5000", "[::]:1"] {
            assert!(!p.permits(addr(bad)), "{bad}");
        }
    }

    #[test]
    fn allow_list_wins() {
        let p = PeerPolicy {
            allow_loopback: false,
            allowed: vec!["10.8.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()],
        };
        assert!(p.permits(addr("10.8.3.4:5000")));
        assert!(!p.permits(addr("10.9.3.4:5000")));
        assert!(p.permits(addr("[fd00::5]:5000")));
        assert!(p.permits(addr("[::ffff:10.8.0.1]:5000")));
        assert!(!p.permits(addr("127.0.0.1:5000")));
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "127.0.0.1".parse::<Cidr>().unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope/8".parse::<Cidr>().is_err());
        let c: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(c.contains("172.31.255.255".parse().unwrap()));
        assert!(!c.contains("172.32.0.0".parse().unwrap()));
    }
}
