//! One torrent's swarm: its seeders and leechers, completed count and per-address counts.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use super::peer_list::{Peer, PeerList};
use super::{Family, PeerEntry, ScrapeFile};

/// One torrent's swarm.
#[derive(Debug)]
pub(super) struct Swarm {
    seeders: PeerList,
    leechers: PeerList,
    /// Completed downloads seen (persisted when the count is kept, see [`Swarm::real`]).
    pub downloaded: u64,
    /// When this swarm's peers are next checked for expiry.
    pub next_sweep: Instant,
    /// Stored peers per IP address.
    per_ip: HashMap<IpAddr, u32>,
    /// The first IP address ever stored here.
    first_ip: Option<IpAddr>,
    /// Whether peers from two different IP addresses were ever stored: one host alone cannot
    /// make a swarm whose completed count is kept.
    pub real: bool,
    /// The swarm's key in the table's idle queue while it has no peers: (seq, counted).
    pub idle_key: Option<(u64, bool)>,
}

impl Swarm {
    pub fn new(now: Instant) -> Self {
        Swarm {
            seeders: PeerList::default(),
            leechers: PeerList::default(),
            downloaded: 0,
            next_sweep: now,
            per_ip: HashMap::new(),
            first_ip: None,
            real: false,
            idle_key: None,
        }
    }

    /// Stored peers.
    pub fn len(&self) -> usize {
        self.seeders.len() + self.leechers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Peers stored from `ip`.
    pub fn count_of(&self, ip: &IpAddr) -> u32 {
        self.per_ip.get(ip).copied().unwrap_or(0)
    }

    /// Stores `peer` (not present yet) as a seeder or leecher; `true` when this made the
    /// swarm [`real`](Swarm::real).
    pub fn insert(&mut self, peer: Peer, seeder: bool) -> bool {
        let ip = peer.addr.ip();
        *self.per_ip.entry(ip).or_insert(0) += 1;
        let was_real = self.real;
        match self.first_ip {
            None => self.first_ip = Some(ip),
            Some(first) if first != ip => self.real = true,
            Some(_) => {}
        }
        if seeder {
            self.seeders.insert(peer);
        } else {
            self.leechers.insert(peer);
        }
        self.real && !was_real
    }

    fn forget_ip(per_ip: &mut HashMap<IpAddr, u32>, ip: IpAddr) {
        if let Some(n) = per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
    }

    /// Removes the peer at `addr`: the peer and whether it was a seeder.
    pub fn remove(&mut self, addr: &SocketAddr) -> Option<(Peer, bool)> {
        let (peer, seeder) = match self.seeders.remove(addr) {
            Some(p) => (p, true),
            None => (self.leechers.remove(addr)?, false),
        };
        Self::forget_ip(&mut self.per_ip, addr.ip());
        Some((peer, seeder))
    }

    /// Drops peers unseen for `timeout` when a check is due, handing each to `gone`.
    pub fn sweep_if_due(&mut self, now: Instant, timeout: Duration, mut gone: impl FnMut(Peer)) {
        if now < self.next_sweep {
            return;
        }
        if let Some(cutoff) = now.checked_sub(timeout) {
            let per_ip = &mut self.per_ip;
            let mut drop = |p: Peer| {
                Self::forget_ip(per_ip, p.addr.ip());
                gone(p);
            };
            self.seeders.expire(cutoff, &mut drop);
            self.leechers.expire(cutoff, &mut drop);
        }
        self.next_sweep = now + timeout / 8;
    }

    /// Gives back the memory of the peer lists of a swarm without peers (an idle swarm may
    /// wait long for eviction).
    pub fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.seeders = PeerList::default();
            self.leechers = PeerList::default();
            self.per_ip = HashMap::new();
        }
    }

    /// Removes every peer, handing each to `gone`.
    pub fn clear(&mut self, mut gone: impl FnMut(Peer)) {
        self.seeders.drain(&mut gone);
        self.leechers.drain(&mut gone);
        self.per_ip.clear();
    }

    pub fn counts(&self) -> ScrapeFile {
        ScrapeFile {
            complete: count(self.seeders.len()),
            incomplete: count(self.leechers.len()),
            downloaded: self.downloaded,
        }
    }

    /// Up to `n` peers other than `me`, starting at a random point of the seeders-then-leechers
    /// sequence (seeders are skipped when `me` is a seeder), ignoring peers older than `cutoff`.
    /// Looks at no more than `4 n` (at least 256) entries, so a swarm of mostly the other
    /// address family cannot make an announce scan it whole.
    pub fn select(
        &self,
        me: SocketAddr,
        me_seeder: bool,
        n: usize,
        family: Family,
        cutoff: Instant,
    ) -> Vec<PeerEntry> {
        let seeders: &[Peer] = if me_seeder { &[] } else { &self.seeders.peers };
        let leechers: &[Peer] = &self.leechers.peers;
        let total = seeders.len() + leechers.len();
        let mut out = Vec::with_capacity(n.min(total));
        if n == 0 || total == 0 {
            return out;
        }
        let start = fastrand::usize(..total);
        let budget = n.saturating_mul(4).max(256).min(total);
        for k in 0..budget {
            if out.len() >= n {
                break;
            }
            let i = (start + k) % total;
            let peer = if i < seeders.len() {
                seeders.get(i)
            } else {
                leechers.get(i - seeders.len())
            };
            let Some(p) = peer else { continue };
            if p.addr != me && p.last_seen >= cutoff && family.admits(&p.addr) {
                out.push(PeerEntry {
                    addr: p.addr,
                    peer_id: p.peer_id,
                });
            }
        }
        out
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
