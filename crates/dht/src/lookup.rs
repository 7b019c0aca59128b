//! One iterative lookup (Kademlia): query the closest known nodes, alpha at a time, learn closer
//! ones from their answers, and stop when the k closest of each address family have answered or
//! failed. A get_peers lookup remembers each responder's token for the announce that follows.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::NodeId;
use crate::table::K;

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Candidates kept per lookup (the farthest unqueried ones are dropped beyond this).
const MAX_CANDIDATES: usize = 64;
/// Queries one lookup may send in total (it always terminates).
const MAX_QUERIES: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight,
    Responded { token: Option<Vec<u8>> },
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    /// `None` for a bootstrap address whose id we learn from its answer.
    id: Option<NodeId>,
    /// Its distance to the target (kept: lookups sort by it all the time).
    dist: Option<NodeId>,
    addr: SocketAddr,
    state: State,
}

/// The state of one lookup's search.
#[derive(Debug)]
pub(crate) struct Search {
    target: NodeId,
    candidates: Vec<Candidate>,
    seen: HashSet<SocketAddr>,
    in_flight: usize,
    sent: usize,
}

impl Search {
    pub fn new(target: NodeId) -> Self {
        Search {
            target,
            candidates: Vec::new(),
            seen: HashSet::new(),
            in_flight: 0,
            sent: 0,
        }
    }

    /// The id searched for.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// Adds a node to ask, unless its address was seen already.
    pub fn add(&mut self, id: Option<NodeId>, addr: SocketAddr) {
        if self.seen.contains(&addr) {
            return;
        }
        self.seen.insert(addr);
        let dist = id.map(|id| id.distance(&self.target));
        let new = Candidate {
            id,
            dist,
            addr,
            state: State::Fresh,
        };
        let pos = self.candidates.partition_point(|c| match (c.dist, dist) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a <= b,
        });
        self.candidates.insert(pos, new);
        if self.candidates.len() > MAX_CANDIDATES
            && let Some(far) = self
                .candidates
                .iter()
                .rposition(|c| c.state == State::Fresh)
        {
            self.candidates.remove(far);
        }
    }

    /// Indices of the `K` closest candidates of each family that have not failed.
    fn closest_live(&self) -> Vec<usize> {
        let mut v4 = 0;
        let mut v6 = 0;
        let mut out = Vec::new();
        for (i, c) in self.candidates.iter().enumerate() {
            if c.id.is_none() || c.state == State::Failed {
                continue;
            }
            let n = if c.addr.is_ipv4() { &mut v4 } else { &mut v6 };
            if *n < K {
                *n += 1;
                out.push(i);
            }
        }
        out
    }

    /// Whether [`Search::next_query`] would give a node now.
    pub fn can_send(&self) -> bool {
        self.in_flight < ALPHA
            && self.sent < MAX_QUERIES
            && (self
                .candidates
                .iter()
                .any(|c| c.id.is_none() && c.state == State::Fresh)
                || self.next_fresh().is_some())
    }

    /// The next node to query, if the lookup may send one now (marks it in flight).
    pub fn next_query(&mut self) -> Option<(Option<NodeId>, SocketAddr)> {
        if self.in_flight >= ALPHA || self.sent >= MAX_QUERIES {
            return None;
        }
        let pick = self
            .candidates
            .iter()
            .position(|c| c.id.is_none() && c.state == State::Fresh)
            .or_else(|| {
                self.closest_live()
                    .into_iter()
                    .find(|&i| self.candidates[i].state == State::Fresh)
            })?;
        let c = &mut self.candidates[pick];
        c.state = State::InFlight;
        self.in_flight += 1;
        self.sent += 1;
        Some((c.id, c.addr))
    }

    fn find_in_flight(&mut self, addr: SocketAddr) -> Option<&mut Candidate> {
        self.candidates
            .iter_mut()
            .find(|c| c.addr == addr && c.state == State::InFlight)
    }

    /// `addr` answered as node `id`; `token` from a get_peers answer.
    pub fn responded(&mut self, addr: SocketAddr, id: NodeId, token: Option<Vec<u8>>) {
        let Some(pos) = self
            .candidates
            .iter()
            .position(|c| c.addr == addr && c.state == State::InFlight)
        else {
            return;
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        let mut c = self.candidates.remove(pos);
        let d = id.distance(&self.target);
        c.id = Some(id);
        c.dist = Some(d);
        c.state = State::Responded { token };
        let at = self.candidates.partition_point(|x| match x.dist {
            None => true,
            Some(xd) => xd <= d,
        });
        self.candidates.insert(at, c);
    }

    /// The query to `addr` failed (timeout or error reply).
    pub fn failed(&mut self, addr: SocketAddr) {
        if let Some(c) = self.find_in_flight(addr) {
            c.state = State::Failed;
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Done: no bootstrap address still pending, and the k closest live nodes of each family
    /// have all answered (or nothing is left to ask, or the query budget is spent).
    pub fn converged(&self) -> bool {
        let pending_unknown = self
            .candidates
            .iter()
            .any(|c| c.id.is_none() && matches!(c.state, State::Fresh | State::InFlight));
        if pending_unknown {
            return false;
        }
        if self.in_flight == 0 && (self.sent >= MAX_QUERIES || self.next_fresh().is_none()) {
            return true;
        }
        self.closest_live()
            .into_iter()
            .all(|i| matches!(self.candidates[i].state, State::Responded { .. }))
    }

    fn next_fresh(&self) -> Option<usize> {
        self.closest_live()
            .into_iter()
            .find(|&i| self.candidates[i].state == State::Fresh)
    }

    /// The k closest responders of each family that gave a token: where to announce.
    pub fn announce_targets(&self) -> Vec<(NodeId, SocketAddr, Vec<u8>)> {
        let mut v4 = 0;
        let mut v6 = 0;
        let mut out = Vec::new();
        for c in &self.candidates {
            let (Some(id), State::Responded { token: Some(token) }) = (c.id, &c.state) else {
                continue;
            };
            let n = if c.addr.is_ipv4() { &mut v4 } else { &mut v6 };
            if *n < K {
                *n += 1;
                out.push((id, c.addr, token.clone()));
            }
        }
        out
    }

    /// Number of nodes that answered.
    pub fn responders(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| matches!(c.state, State::Responded { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 6881))
    }

    #[test]
    fn queries_alpha_at_a_time_closest_first_and_converges() {
        let target = NodeId([0; 20]);
        let mut s = Search::new(target);
        for i in 1..=20u8 {
            let mut id = [0u8; 20];
            id[0] = i;
            s.add(Some(NodeId(id)), addr(i));
        }
        assert!(s.can_send());
        let first: Vec<_> = (0..5).filter_map(|_| s.next_query()).collect();
        assert_eq!(first.len(), ALPHA);
        assert!(!s.can_send(), "alpha queries in flight");
        assert_eq!(first[0].1, addr(1));
        assert!(!s.converged());
        for round in 0..10 {
            for (id, a) in s.clone_in_flight() {
                s.responded(a, id, Some(vec![round]));
            }
            while s.next_query().is_some() {}
        }
        assert!(s.converged());
        let targets = s.announce_targets();
        assert_eq!(targets.len(), K);
        assert_eq!(targets[0].1, addr(1));
    }

    impl Search {
        fn clone_in_flight(&self) -> Vec<(NodeId, SocketAddr)> {
            self.candidates
                .iter()
                .filter(|c| c.state == State::InFlight)
                .filter_map(|c| Some((c.id?, c.addr)))
                .collect()
        }
    }

    #[test]
    fn unknown_bootstrap_nodes_first_and_failures_end_it() {
        let mut s = Search::new(NodeId([0; 20]));
        s.add(None, addr(1));
        assert_eq!(s.next_query(), Some((None, addr(1))));
        assert!(!s.converged());
        s.failed(addr(1));
        assert!(s.converged(), "nothing left to ask");
    }
}
