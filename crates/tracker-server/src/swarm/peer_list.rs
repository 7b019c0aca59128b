//! A dense peer list with O(1) lookup by address, for one half (seeders or leechers) of a swarm.

use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::time::Instant;

/// One peer as the tracker remembers it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer {
    pub addr: SocketAddr,
    pub peer_id: [u8; 20],
    pub last_seen: Instant,
    /// Position in the table's announce order (its key in the per-address index).
    pub seq: u64,
}

/// A list of peers with O(1) lookup, insert and removal (swap-remove plus an index map), and a
/// dense vector so a random window of it is cheap to hand out.
#[derive(Debug, Default)]
pub(super) struct PeerList {
    pub peers: Vec<Peer>,
    index: HashMap<SocketAddr, usize>,
}

impl PeerList {
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn insert(&mut self, peer: Peer) {
        self.index.insert(peer.addr, self.peers.len());
        self.peers.push(peer);
    }

    pub fn remove(&mut self, addr: &SocketAddr) -> Option<Peer> {
        let i = self.index.remove(addr)?;
        if i >= self.peers.len() {
            return None;
        }
        let peer = self.peers.swap_remove(i);
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.addr, i);
        }
        Some(peer)
    }

    /// Drops peers last seen before `cutoff`, handing each to `gone`.
    pub fn expire(&mut self, cutoff: Instant, mut gone: impl FnMut(Peer)) {
        let mut i = 0;
        while let Some(p) = self.peers.get(i) {
            if p.last_seen < cutoff {
                let addr = p.addr;
                if let Some(p) = self.remove(&addr) {
                    gone(p);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Removes every peer, handing each to `gone`.
    pub fn drain(&mut self, mut gone: impl FnMut(Peer)) {
        self.index.clear();
        self.peers.drain(..).for_each(&mut gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn addr(last: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), port)
    }

    #[test]
    fn peer_list_swap_remove_keeps_index() {
        let now = Instant::now();
        let mut l = PeerList::default();
        for i in 1..=4 {
            l.insert(Peer {
                addr: addr(i, 1),
                peer_id: [0; 20],
                last_seen: now,
                seq: 0,
            });
        }
        assert!(l.remove(&addr(1, 1)).is_some());
        assert!(l.remove(&addr(1, 1)).is_none());
        for i in 2..=4 {
            assert_eq!(l.peers[l.index[&addr(i, 1)]].addr, addr(i, 1));
        }
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn expire_drops_only_old_peers() {
        let t0 = Instant::now();
        let mut l = PeerList::default();
        for i in 1..=6 {
            let last_seen = t0 + std::time::Duration::from_secs(u64::from(i % 2));
            l.insert(Peer {
                addr: addr(i, 1),
                peer_id: [0; 20],
                last_seen,
                seq: 0,
            });
        }
        let mut gone = 0;
        l.expire(t0 + std::time::Duration::from_secs(1), |_| gone += 1);
        assert_eq!(gone, 3);
        let mut left: Vec<_> = l.peers.iter().map(|p| p.addr).collect();
        left.sort();
        assert_eq!(left, vec![addr(1, 1), addr(3, 1), addr(5, 1)]);
        assert_eq!(l.index.len(), 3);
    }
}
