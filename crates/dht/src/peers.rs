//! The peers other nodes announced to us: bounded per info-hash and in info-hashes, expiring.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::NodeId;

/// Bounded store of announced peers.
#[derive(Debug)]
pub(crate) struct PeerStore {
    torrents: HashMap<NodeId, Vec<(SocketAddr, Instant)>>,
    max_per_hash: usize,
    max_hashes: usize,
    ttl: Duration,
}

impl PeerStore {
    pub fn new(max_per_hash: usize, max_hashes: usize, ttl: Duration) -> Self {
        PeerStore {
            torrents: HashMap::new(),
            max_per_hash,
            max_hashes,
            ttl,
        }
    }

    /// Stores (or refreshes) `peer` for `info_hash`. A new info-hash is refused when the store
    /// holds `max_hashes` already; a full list drops its oldest peer. Returns whether stored.
    pub fn insert(&mut self, now: Instant, info_hash: NodeId, peer: SocketAddr) -> bool {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.max_hashes {
            self.expire(now);
            if self.torrents.len() >= self.max_hashes {
                return false;
            }
        }
        let list = self.torrents.entry(info_hash).or_default();
        if let Some(p) = list.iter_mut().find(|(a, _)| *a == peer) {
            p.1 = now;
            return true;
        }
        if list.len() >= self.max_per_hash
            && let Some(oldest) = list
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(i, _)| i)
        {
            list.swap_remove(oldest);
        }
        list.push((peer, now));
        true
    }

    /// Up to `max` live peers of `info_hash`, a random sample when there are more.
    pub fn get(
        &self,
        now: Instant,
        info_hash: &NodeId,
        max: usize,
        rng: &mut fastrand::Rng,
    ) -> Vec<SocketAddr> {
        let Some(list) = self.torrents.get(info_hash) else {
            return Vec::new();
        };
        let mut live: Vec<SocketAddr> = list
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(*t) < self.ttl)
            .map(|(a, _)| *a)
            .collect();
        if live.len() > max {
            rng.shuffle(&mut live);
            live.truncate(max);
        }
        live
    }

    /// Drops expired peers and empty info-hashes.
    pub fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.torrents.retain(|_, list| {
            list.retain(|(_, t)| now.saturating_duration_since(*t) < ttl);
            !list.is_empty()
        });
    }

    /// Number of info-hashes and of peers in total.
    pub fn size(&self) -> (usize, usize) {
        (
            self.torrents.len(),
            self.torrents.values().map(Vec::len).sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], i))
    }

    #[test]
    fn bounded_and_expiring() {
        let now = Instant::now();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut s = PeerStore::new(3, 2, Duration::from_secs(1800));
        let (a, b, c) = (NodeId([1; 20]), NodeId([2; 20]), NodeId([3; 20]));
        for i in 1..=5 {
            assert!(s.insert(now, a, peer(i)));
        }
        assert_eq!(s.get(now, &a, 10, &mut rng).len(), 3);
        assert!(s.insert(now, b, peer(1)));
        assert!(!s.insert(now, c, peer(1)), "info-hash limit");
        assert_eq!(s.get(now, &a, 2, &mut rng).len(), 2);
        let later = now + Duration::from_secs(1800);
        assert!(s.get(later, &a, 10, &mut rng).is_empty());
        assert!(s.insert(later, c, peer(1)), "expired hashes make room");
        assert_eq!(s.size(), (1, 1));
    }
}
