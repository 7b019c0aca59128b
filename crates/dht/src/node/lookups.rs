//! Starting lookups: bootstrap, the caller's get_peers/find_node, bucket refreshes.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Lookup, LookupId, Node, Phase, normalize};
use crate::NodeId;
use crate::lookup::Search;
use crate::table::K;

impl Node {
    /// Tells the node about a node by address only (bootstrap list, saved nodes, BEP 5 `port`
    /// messages). While the tables are nearly empty this starts a bootstrap (a find_node lookup
    /// of our own id through it); later the node is just pinged and added if it answers.
    pub fn add_node(&mut self, addr: SocketAddr) {
        let addr = normalize(addr);
        if !self.usable(&addr) || self.own_addrs.contains(&addr) {
            return;
        }
        let table = if addr.is_ipv4() { &self.v4 } else { &self.v6 };
        if table.len() >= K {
            self.queue_ping(None, addr);
            return;
        }
        // Kept for bootstrapping again should the tables empty out.
        if !self.bootstrap.contains(&addr) && self.bootstrap.len() < 64 {
            self.bootstrap.push(addr);
        }
        self.rebootstrap = None;
        self.bootstrap_through(Some(addr));
    }

    /// Adds `addr` to the running bootstrap lookup (a find_node of our own id), or starts one
    /// seeded with the table and the bootstrap addresses.
    pub(super) fn bootstrap_through(&mut self, addr: Option<SocketAddr>) {
        let own = self.id;
        let running = self.lookups.iter_mut().find(|(_, l)| {
            !l.user && l.search.target() == own && matches!(l.phase, Phase::Searching)
        });
        let lookup = match running {
            Some((_, l)) => l,
            None => {
                let id = self.new_lookup(own, None, false);
                let Some(l) = self.lookups.get_mut(&id) else {
                    return;
                };
                for a in &self.bootstrap {
                    l.search.add(None, *a);
                }
                l
            }
        };
        if let Some(addr) = addr {
            lookup.search.add(None, addr);
        }
    }

    /// After a bootstrap lookup. While the tables stay below k nodes, try again with back-off
    /// (5 s doubling to 5 min; the first nodes of a new network know nobody yet). Once they
    /// hold k nodes, each bucket that is not full is refreshed right away (BEP 5 refreshes
    /// only after 15 minutes; a table filled by the lookup of our own id alone knows little of
    /// the far half of the id space, and lookups there then stall).
    pub(super) fn bootstrap_finished(&mut self) {
        if self.v4.len() + self.v6.len() >= K {
            self.rebootstrap = None;
            let mut targets = self.v4.sparse_bucket_targets(&mut self.rng);
            if self.v6.len() > 0 {
                targets.extend(self.v6.sparse_bucket_targets(&mut self.rng));
            }
            for target in targets {
                self.new_lookup(target, None, false);
            }
            return;
        }
        if self.bootstrap.is_empty() {
            self.rebootstrap = None;
            return;
        }
        let backoff = match self.rebootstrap {
            Some((_, b)) => (b * 2).min(Duration::from_secs(300)),
            None => Duration::from_secs(5),
        };
        self.rebootstrap = Some((self.now + backoff, backoff));
    }

    /// Starts a get_peers lookup for `info_hash`, then (with `announce = Some(port)`) an
    /// announce_peer to the closest nodes (`Some(0)`: announce with `implied_port`, for a
    /// shared UDP/uTP port). `None` when too many lookups are running.
    pub fn start_get_peers(
        &mut self,
        info_hash: NodeId,
        announce: Option<u16>,
    ) -> Option<LookupId> {
        if self.user_lookups() >= self.cfg.max_lookups {
            return None;
        }
        Some(self.new_lookup(info_hash, Some(announce), true))
    }

    /// Starts a find_node lookup for `target`. `None` when too many lookups are running.
    pub fn start_find_node(&mut self, target: NodeId) -> Option<LookupId> {
        if self.user_lookups() >= self.cfg.max_lookups {
            return None;
        }
        Some(self.new_lookup(target, None, true))
    }

    fn user_lookups(&self) -> usize {
        self.lookups.values().filter(|l| l.user).count()
    }

    pub(super) fn new_lookup(
        &mut self,
        target: NodeId,
        get_peers: Option<Option<u16>>,
        user: bool,
    ) -> LookupId {
        self.lookups_dirty = true;
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let mut search = Search::new(target);
        let now = self.now;
        for (nid, addr) in self
            .v4
            .closest(now, &target, 2 * K)
            .into_iter()
            .chain(self.v6.closest(now, &target, 2 * K))
        {
            search.add(Some(nid), addr);
        }
        if self.v4.len() + self.v6.len() == 0 {
            for addr in &self.bootstrap {
                search.add(None, *addr);
            }
        }
        self.lookups.insert(
            id,
            Lookup {
                search,
                get_peers,
                user,
                phase: Phase::Searching,
                peers: HashSet::new(),
            },
        );
        id
    }
}
