//! Which stored peers each IP address holds, across all swarms, oldest first: what the
//! per-address budget counts and evicts from.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use metainfo::InfoHash;

/// Per IP address: its stored peers by announce order (`seq`), with their swarm.
#[derive(Debug, Default)]
pub(super) struct IpIndex {
    by_ip: HashMap<IpAddr, BTreeMap<u64, (InfoHash, SocketAddr)>>,
    total: usize,
}

impl IpIndex {
    /// Peers stored in all swarms.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Peers `ip` has stored.
    pub fn count(&self, ip: &IpAddr) -> usize {
        self.by_ip.get(ip).map_or(0, BTreeMap::len)
    }

    /// The least recently announced peer of `ip`: its `seq`, swarm and address.
    pub fn oldest(&self, ip: &IpAddr) -> Option<(u64, InfoHash, SocketAddr)> {
        let (seq, (ih, addr)) = self.by_ip.get(ip)?.first_key_value()?;
        Some((*seq, *ih, *addr))
    }

    /// Records a stored peer.
    pub fn insert(&mut self, seq: u64, info_hash: InfoHash, addr: SocketAddr) {
        let entries = self.by_ip.entry(addr.ip()).or_default();
        if entries.insert(seq, (info_hash, addr)).is_none() {
            self.total += 1;
        }
    }

    /// Forgets a stored peer (the address's entry goes when it holds none).
    pub fn remove(&mut self, ip: &IpAddr, seq: u64) {
        let Some(entries) = self.by_ip.get_mut(ip) else {
            return;
        };
        if entries.remove(&seq).is_some() {
            self.total -= 1;
        }
        if entries.is_empty() {
            self.by_ip.remove(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_oldest_per_ip() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:2".parse().expect("addr");
        let c: SocketAddr = "127.0.0.2:1".parse().expect("addr");
        let mut ix = IpIndex::default();
        ix.insert(5, InfoHash([1; 20]), a);
        ix.insert(3, InfoHash([2; 20]), b);
        ix.insert(4, InfoHash([1; 20]), c);
        assert_eq!(
            (ix.count(&a.ip()), ix.count(&c.ip()), ix.total()),
            (2, 1, 3)
        );
        assert_eq!(ix.oldest(&a.ip()), Some((3, InfoHash([2; 20]), b)));
        ix.remove(&a.ip(), 3);
        ix.remove(&a.ip(), 3);
        assert_eq!(ix.oldest(&a.ip()), Some((5, InfoHash([1; 20]), a)));
        ix.remove(&c.ip(), 4);
        assert_eq!((ix.count(&c.ip()), ix.total()), (0, 1));
        assert!(!ix.by_ip.contains_key(&c.ip()));
    }
}
