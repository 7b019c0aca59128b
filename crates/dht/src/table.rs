//! The Kademlia routing table of one address family (BEP 5): k-buckets over the 160-bit id
//! space, only the bucket holding our own id splits, a replacement cache per bucket, and node
//! states good / questionable / bad.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::NodeId;

/// Nodes per bucket (k).
pub const K: usize = 8;
/// A node not heard from for this long is questionable, and a bucket unchanged this long is
/// refreshed.
pub const QUESTIONABLE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Consecutive failed queries after which a node is bad.
const BAD_AFTER_FAILS: u8 = 2;
/// Replacement candidates kept per bucket.
const REPLACEMENTS: usize = 8;

/// A node's standing (BEP 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Answered us within the last 15 minutes.
    Good,
    /// Silent for 15 minutes, not (yet) failing.
    Questionable,
    /// Failed to answer several queries in a row.
    Bad,
}

/// One node in the table.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub last_response: Instant,
    pub fails: u8,
}

impl Entry {
    fn state(&self, now: Instant) -> NodeState {
        if self.fails >= BAD_AFTER_FAILS {
            NodeState::Bad
        } else if now.saturating_duration_since(self.last_response) >= QUESTIONABLE_AFTER
            || self.fails > 0
        {
            NodeState::Questionable
        } else {
            NodeState::Good
        }
    }
}

#[derive(Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    replacements: Vec<Entry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Bucket {
            nodes: Vec::with_capacity(K),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// What became of a node we heard from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// Already in the table; refreshed.
    Refreshed,
    /// Added to a bucket.
    Added,
    /// The bucket is full: kept as a replacement; the caller should ping this questionable
    /// node, whose failure makes room.
    Replacement(Option<(NodeId, SocketAddr)>),
    /// Refused (our own id, or another id already at that address).
    Refused,
}

/// A routing table.
#[derive(Debug)]
pub(crate) struct Table {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl Table {
    pub fn new(own: NodeId, now: Instant) -> Self {
        Table {
            own,
            buckets: vec![Bucket::new(now)],
        }
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own
            .common_prefix_len(id)
            .min(self.buckets.len().saturating_sub(1))
    }

    /// Number of nodes in buckets.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Number of buckets.
    #[cfg(test)]
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Whether `id` is in the table.
    pub fn contains(&self, id: &NodeId) -> bool {
        let b = &self.buckets[self.index(id)];
        b.nodes.iter().any(|e| e.id == *id)
    }

    /// Whether a verified node with `id` would get a bucket slot right now.
    pub fn has_room_for(&self, now: Instant, id: &NodeId) -> bool {
        if *id == self.own {
            return false;
        }
        let i = self.index(id);
        let b = &self.buckets[i];
        b.nodes.len() < K
            || (i + 1 == self.buckets.len() && self.buckets.len() < 160)
            || b.nodes.iter().any(|e| e.state(now) == NodeState::Bad)
    }

    /// Records that the node `id` at `addr` answered a query of ours.
    pub fn heard_from(&mut self, now: Instant, id: NodeId, addr: SocketAddr) -> Insert {
        if id == self.own {
            return Insert::Refused;
        }
        loop {
            let count = self.buckets.len();
            let i = self.index(&id);
            let bucket = &mut self.buckets[i];
            if let Some(e) = bucket.nodes.iter_mut().find(|e| e.id == id) {
                if e.addr != addr {
                    // Another address claims a known id: keep the one we know.
                    return Insert::Refused;
                }
                e.last_response = now;
                e.fails = 0;
                bucket.last_changed = now;
                return Insert::Refreshed;
            }
            if bucket.nodes.iter().any(|e| e.addr == addr) {
                return Insert::Refused;
            }
            let entry = Entry {
                id,
                addr,
                last_response: now,
                fails: 0,
            };
            if bucket.nodes.len() < K {
                bucket.replacements.retain(|e| e.id != id);
                bucket.nodes.push(entry);
                bucket.last_changed = now;
                return Insert::Added;
            }
            if i + 1 == count && count < 160 {
                self.split_last(now);
                continue;
            }
            if let Some(bad) = bucket
                .nodes
                .iter_mut()
                .find(|e| e.state(now) == NodeState::Bad)
            {
                *bad = entry;
                bucket.last_changed = now;
                return Insert::Added;
            }
            bucket.replacements.retain(|e| e.id != id && e.addr != addr);
            if bucket.replacements.len() >= REPLACEMENTS {
                bucket.replacements.remove(0);
            }
            bucket.replacements.push(entry);
            let ping = bucket
                .nodes
                .iter()
                .filter(|e| e.state(now) == NodeState::Questionable)
                .min_by_key(|e| e.last_response)
                .map(|e| (e.id, e.addr));
            return Insert::Replacement(ping);
        }
    }

    /// Splits the last bucket (the one holding our own id) in two.
    fn split_last(&mut self, now: Instant) {
        let depth = self.buckets.len() - 1;
        let own = self.own;
        let mut deeper = Bucket::new(now);
        if let Some(last) = self.buckets.last_mut() {
            let (stay, go): (Vec<Entry>, Vec<Entry>) = last
                .nodes
                .drain(..)
                .partition(|e| own.common_prefix_len(&e.id) == depth);
            last.nodes = stay;
            deeper.nodes = go;
            let (stay, go): (Vec<Entry>, Vec<Entry>) = last
                .replacements
                .drain(..)
                .partition(|e| own.common_prefix_len(&e.id) == depth);
            last.replacements = stay;
            deeper.replacements = go;
        }
        self.buckets.push(deeper);
    }

    /// Records a query to `addr` that went unanswered. A node that turns bad is replaced by the
    /// newest replacement candidate, if any.
    pub fn failed(&mut self, now: Instant, id: Option<NodeId>, addr: SocketAddr) {
        let Some(id) = id.or_else(|| self.find_by_addr(addr)) else {
            return;
        };
        let i = self.index(&id);
        let bucket = &mut self.buckets[i];
        bucket.replacements.retain(|e| e.addr != addr);
        let Some(pos) = bucket
            .nodes
            .iter()
            .position(|e| e.id == id && e.addr == addr)
        else {
            return;
        };
        let entry = &mut bucket.nodes[pos];
        entry.fails = entry.fails.saturating_add(1);
        if entry.state(now) == NodeState::Bad
            && let Some(fresh) = bucket.replacements.pop()
        {
            bucket.nodes[pos] = fresh;
            bucket.last_changed = now;
        }
    }

    fn find_by_addr(&self, addr: SocketAddr) -> Option<NodeId> {
        self.buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .find(|e| e.addr == addr)
            .map(|e| e.id)
    }

    /// The state of the node `id`, when it is in the table.
    #[cfg(test)]
    pub fn state_of(&self, now: Instant, id: &NodeId) -> Option<NodeState> {
        self.buckets[self.index(id)]
            .nodes
            .iter()
            .find(|e| e.id == *id)
            .map(|e| e.state(now))
    }

    /// Up to `n` nodes that are not bad, closest to `target` first.
    pub fn closest(&self, now: Instant, target: &NodeId, n: usize) -> Vec<(NodeId, SocketAddr)> {
        let mut all: Vec<(NodeId, SocketAddr)> = self
            .buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| e.state(now) != NodeState::Bad)
            .map(|e| (e.id, e.addr))
            .collect();
        all.sort_by_cached_key(|(id, _)| id.distance(target));
        all.truncate(n);
        all
    }

    /// Targets for buckets unchanged for [`QUESTIONABLE_AFTER`]: a random id in each (their
    /// clocks restart, so each is refreshed once per period).
    pub fn refresh_targets(&mut self, now: Instant, rng: &mut fastrand::Rng) -> Vec<NodeId> {
        let own = self.own;
        let mut out = Vec::new();
        for (depth, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(b.last_changed) >= QUESTIONABLE_AFTER {
                b.last_changed = now;
                out.push(own.random_in_bucket(depth.min(159), rng));
            }
        }
        out
    }

    /// A random id in each bucket with fewer than k nodes (not the last, which the lookup of
    /// our own id covers).
    pub fn sparse_bucket_targets(&self, rng: &mut fastrand::Rng) -> Vec<NodeId> {
        let last = self.buckets.len() - 1;
        (0..last)
            .filter(|&d| self.buckets[d].nodes.len() < K)
            .map(|d| self.own.random_in_bucket(d, rng))
            .collect()
    }

    /// When the next bucket falls due for a refresh.
    pub fn next_refresh(&self) -> Option<Instant> {
        self.buckets
            .iter()
            .map(|b| b.last_changed + QUESTIONABLE_AFTER)
            .min()
    }

    /// Addresses of the nodes, good ones first (for saving across restarts).
    pub fn addrs(&self, now: Instant) -> Vec<SocketAddr> {
        let mut all: Vec<&Entry> = self.buckets.iter().flat_map(|b| b.nodes.iter()).collect();
        all.sort_by_key(|e| (e.state(now) != NodeState::Good, e.fails));
        all.into_iter()
            .filter(|e| e.state(now) != NodeState::Bad)
            .map(|e| e.addr)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from((std::net::Ipv4Addr::from(0x7f00_0000 + i), 6881))
    }

    #[test]
    fn own_bucket_splits_and_others_fill_up() {
        let now = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        let own = NodeId::random(&mut rng);
        let mut t = Table::new(own, now);
        for i in 0..2000 {
            t.heard_from(now, NodeId::random(&mut rng), addr(i + 1));
        }
        assert!(t.bucket_count() > 5, "{}", t.bucket_count());
        assert!(t.len() <= t.bucket_count() * K);
        assert!(t.len() >= (t.bucket_count() - 3) * K, "{}", t.len());
        assert_eq!(t.heard_from(now, own, addr(99_999)), Insert::Refused);
    }

    #[test]
    fn failing_nodes_go_bad_and_are_replaced() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = Table::new(own, now);
        // Ids whose first bit differs from ours all land in bucket 0 once it has split.
        let far = |i: u8| {
            let mut id = [0xff; 20];
            id[19] = i;
            NodeId(id)
        };
        // A near node forces the first split so bucket 0 cannot split again.
        t.heard_from(now, NodeId([0x01; 20]), addr(1000));
        for i in 0..K as u8 {
            assert_eq!(t.heard_from(now, far(i), addr(u32::from(i))), Insert::Added);
        }
        let later = now + QUESTIONABLE_AFTER;
        let extra = far(100);
        let Insert::Replacement(Some((ping, ping_addr))) = t.heard_from(later, extra, addr(100))
        else {
            panic!("expected a replacement with a node to ping");
        };
        assert_eq!(t.state_of(later, &ping), Some(NodeState::Questionable));
        t.failed(later, Some(ping), ping_addr);
        assert!(t.contains(&ping));
        t.failed(later, None, ping_addr);
        assert!(
            !t.contains(&ping),
            "a bad node gives way to its replacement"
        );
        assert!(t.contains(&extra));
    }

    #[test]
    fn refresh_is_due_after_fifteen_minutes() {
        let now = Instant::now();
        let mut rng = fastrand::Rng::with_seed(4);
        let mut t = Table::new(NodeId::random(&mut rng), now);
        assert!(t.refresh_targets(now, &mut rng).is_empty());
        assert_eq!(
            t.refresh_targets(now + QUESTIONABLE_AFTER, &mut rng).len(),
            1
        );
        assert!(
            t.refresh_targets(now + QUESTIONABLE_AFTER, &mut rng)
                .is_empty()
        );
    }
}
