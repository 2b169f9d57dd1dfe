//! Allocation state (RFC 8656 §5–§12): lifetimes, permissions, channel bindings and quotas.
//! No I/O here: the server owns the sockets and keeps one relay handle `R` per allocation.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// Most permissions and channels one allocation may hold.
pub const MAX_PERMISSIONS: usize = 256;
pub const MAX_CHANNELS: usize = 256;

/// Channel numbers: RFC 8656 narrowed them to 0x4000..=0x4FFF, but RFC 5766 clients (coturn's
/// own tools among them) still pick from 0x4000..=0x7FFF, so accept the older range.
pub const CHANNEL_MIN: u16 = 0x4000;
pub const CHANNEL_MAX: u16 = 0x7FFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The client's side of an allocation: who talks to us, where, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub transport: Transport,
}

pub struct Allocation<R> {
    /// The REST username that created it; later requests must use the same one.
    pub username: String,
    /// The part of the username that names the user, for quotas.
    pub user: String,
    /// The transaction that created it, to answer a retransmitted Allocate the same way.
    pub transaction_id: [u8; 12],
    pub relayed: SocketAddr,
    pub relay: R,
    expires: Instant,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, (SocketAddr, Instant)>,
    channel_of_peer: HashMap<SocketAddr, u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// Not in 0x4000..=0x7FFF.
    BadNumber,
    /// The number is bound to another peer, or the peer to another number.
    Conflict,
    /// Too many channels.
    Full,
}

/// The lifetime to grant for a requested one: the default when absent or shorter, at most the
/// maximum. Zero is handled by the caller (it deletes).
pub fn grant_lifetime(requested: Option<u32>) -> Duration {
    let requested = requested.map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(u64::from(s)));
    requested.clamp(DEFAULT_LIFETIME, MAX_LIFETIME)
}

impl<R> Allocation<R> {
    pub fn new(
        username: String,
        user: String,
        transaction_id: [u8; 12],
        relayed: SocketAddr,
        relay: R,
        lifetime: Duration,
        now: Instant,
    ) -> Allocation<R> {
        Allocation {
            username,
            user,
            transaction_id,
            relayed,
            relay,
            expires: now + lifetime,
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_of_peer: HashMap::new(),
        }
    }

    pub fn refresh(&mut self, lifetime: Duration, now: Instant) {
        self.expires = now + lifetime;
    }

    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires.saturating_duration_since(now)
    }

    /// Install or refresh a permission for `ip`. False when the allocation holds too many.
    pub fn permit(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.permissions.contains_key(&ip) && self.permissions.len() >= MAX_PERMISSIONS {
            self.prune(now);
            if self.permissions.len() >= MAX_PERMISSIONS {
                return false;
            }
        }
        self.permissions.insert(ip, now + PERMISSION_LIFETIME);
        true
    }

    pub fn is_permitted(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.get(&ip).is_some_and(|t| *t > now)
    }

    /// Bind (or refresh) `channel` to `peer`; also installs a permission for the peer's address.
    pub fn bind_channel(
        &mut self,
        channel: u16,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(), BindError> {
        if !(CHANNEL_MIN..=CHANNEL_MAX).contains(&channel) {
            return Err(BindError::BadNumber);
        }
        self.prune(now);
        let number_taken = self.channels.get(&channel).is_some_and(|(p, _)| *p != peer);
        let peer_taken = self
            .channel_of_peer
            .get(&peer)
            .is_some_and(|c| *c != channel);
        if number_taken || peer_taken {
            return Err(BindError::Conflict);
        }
        if !self.channels.contains_key(&channel) && self.channels.len() >= MAX_CHANNELS {
            return Err(BindError::Full);
        }
        if !self.permit(peer.ip(), now) {
            return Err(BindError::Full);
        }
        self.channels
            .insert(channel, (peer, now + CHANNEL_LIFETIME));
        self.channel_of_peer.insert(peer, channel);
        Ok(())
    }

    pub fn channel_peer(&self, channel: u16, now: Instant) -> Option<SocketAddr> {
        self.channels
            .get(&channel)
            .filter(|(_, t)| *t > now)
            .map(|(p, _)| *p)
    }

    pub fn channel_for(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        let channel = *self.channel_of_peer.get(&peer)?;
        self.channel_peer(channel, now).map(|_| channel)
    }

    /// Forget expired permissions and channels.
    pub fn prune(&mut self, now: Instant) {
        self.permissions.retain(|_, t| *t > now);
        self.channels.retain(|_, (_, t)| *t > now);
        let channels = &self.channels;
        self.channel_of_peer.retain(|_, c| channels.contains_key(c));
    }
}

/// Why an allocation cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaError {
    /// This user holds `user_quota` allocations already (486).
    User,
    /// The server holds `max_total` allocations (508).
    Server,
}

/// Every allocation of one server, by five-tuple, with per-user counts.
pub struct Table<R> {
    allocations: HashMap<FiveTuple, Allocation<R>>,
    per_user: HashMap<String, usize>,
    pub user_quota: usize,
    pub max_total: usize,
}

impl<R> Table<R> {
    pub fn new(user_quota: usize, max_total: usize) -> Table<R> {
        Table {
            allocations: HashMap::new(),
            per_user: HashMap::new(),
            user_quota,
            max_total,
        }
    }

    pub fn len(&self) -> usize {
        self.allocations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.allocations.is_empty()
    }

    pub fn check_quota(&self, user: &str) -> Result<(), QuotaError> {
        if self.per_user.get(user).copied().unwrap_or(0) >= self.user_quota {
            return Err(QuotaError::User);
        }
        if self.allocations.len() >= self.max_total {
            return Err(QuotaError::Server);
        }
        Ok(())
    }

    /// Add an allocation; the caller checked the quota and that the tuple is free.
    pub fn insert(&mut self, tuple: FiveTuple, allocation: Allocation<R>) {
        *self.per_user.entry(allocation.user.clone()).or_default() += 1;
        if let Some(old) = self.allocations.insert(tuple, allocation) {
            self.forget_user(&old.user);
        }
    }

    pub fn get(&self, tuple: &FiveTuple) -> Option<&Allocation<R>> {
        self.allocations.get(tuple)
    }

    pub fn get_mut(&mut self, tuple: &FiveTuple) -> Option<&mut Allocation<R>> {
        self.allocations.get_mut(tuple)
    }

    pub fn remove(&mut self, tuple: &FiveTuple) -> Option<Allocation<R>> {
        let gone = self.allocations.remove(tuple)?;
        self.forget_user(&gone.user);
        Some(gone)
    }

    fn forget_user(&mut self, user: &str) {
        if let Some(n) = self.per_user.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(user);
            }
        }
    }

    /// Remove expired allocations (returned, so their relays close when dropped) and prune
    /// the permissions and channels of the others.
    pub fn expire(&mut self, now: Instant) -> Vec<Allocation<R>> {
        let dead: Vec<FiveTuple> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(t, _)| *t)
            .collect();
        for a in self.allocations.values_mut() {
            a.prune(now);
        }
        dead.iter().filter_map(|t| self.remove(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(port: u16) -> FiveTuple {
        FiveTuple {
            client: SocketAddr::from(([192, 0, 2, 1], port)),
            server: SocketAddr::from(([192, 0, 2, 2], 3478)),
            transport: Transport::Udp,
        }
    }

    fn alloc(user: &str, now: Instant) -> Allocation<()> {
        Allocation::new(
            format!("9999999999:{user}"),
            user.to_owned(),
            [0; 12],
            SocketAddr::from(([192, 0, 2, 2], 50000)),
            (),
            DEFAULT_LIFETIME,
            now,
        )
    }

    #[test]
    fn lifetimes_are_clamped() {
        assert_eq!(grant_lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(grant_lifetime(Some(30)), DEFAULT_LIFETIME);
        assert_eq!(grant_lifetime(Some(1200)), Duration::from_secs(1200));
        assert_eq!(grant_lifetime(Some(100_000)), MAX_LIFETIME);
    }

    #[test]
    fn permissions_and_channels_expire() {
        let now = Instant::now();
        let mut a = alloc("u", now);
        let peer: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        assert!(!a.is_permitted(peer.ip(), now));
        assert!(a.permit(peer.ip(), now));
        assert!(a.is_permitted(peer.ip(), now + Duration::from_secs(299)));
        assert!(!a.is_permitted(peer.ip(), now + PERMISSION_LIFETIME));

        assert_eq!(a.bind_channel(0x3FFF, peer, now), Err(BindError::BadNumber));
        assert_eq!(a.bind_channel(0x8000, peer, now), Err(BindError::BadNumber));
        assert_eq!(a.bind_channel(0x4000, peer, now), Ok(()));
        assert_eq!(a.bind_channel(0x4000, peer, now), Ok(()), "refresh is fine");
        let other: SocketAddr = "198.51.100.8:4000".parse().unwrap();
        assert_eq!(a.bind_channel(0x4000, other, now), Err(BindError::Conflict));
        assert_eq!(a.bind_channel(0x4001, peer, now), Err(BindError::Conflict));
        assert_eq!(a.channel_peer(0x4000, now), Some(peer));
        assert_eq!(a.channel_for(peer, now), Some(0x4000));
        let later = now + CHANNEL_LIFETIME;
        assert_eq!(a.channel_peer(0x4000, later), None);
        a.prune(later);
        assert_eq!(a.bind_channel(0x4001, peer, later), Ok(()));
    }

    #[test]
    fn quotas_and_expiry() {
        let now = Instant::now();
        let mut t: Table<()> = Table::new(2, 3);
        t.check_quota("a").unwrap();
        t.insert(tuple(1), alloc("a", now));
        t.insert(tuple(2), alloc("a", now));
        assert_eq!(t.check_quota("a"), Err(QuotaError::User));
        t.insert(tuple(3), alloc("b", now));
        assert_eq!(t.check_quota("c"), Err(QuotaError::Server));
        assert!(t.remove(&tuple(1)).is_some());
        t.check_quota("a").unwrap();
        t.get_mut(&tuple(2))
            .unwrap()
            .refresh(Duration::from_secs(3600), now);
        let gone = t.expire(now + DEFAULT_LIFETIME);
        assert_eq!(gone.len(), 1);
        assert_eq!(t.len(), 1);
        assert!(t.get(&tuple(2)).is_some());
        assert_eq!(t.expire(now + MAX_LIFETIME).len(), 1);
        assert!(t.is_empty());
        t.check_quota("a").unwrap();
    }
}
