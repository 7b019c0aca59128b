//! Answers to our queries, failures, and lookups moving on.

use std::net::SocketAddr;

use super::{Event, Node, Phase, Purpose, Queued, Txn};
use crate::NodeId;
use crate::id::bep42_exempt;
use crate::krpc::{QueryKind, Response};
use crate::table::Insert;

impl Node {
    /// Takes the transaction `tid` if it was sent to `from`.
    fn take_txn(&mut self, from: SocketAddr, tid: &[u8]) -> Option<Txn> {
        let key = u16::from_be_bytes(<[u8; 2]>::try_from(tid).ok()?);
        if self.txns.get(&key).is_some_and(|t| t.addr == from) {
            self.txns.remove(&key)
        } else {
            None
        }
    }

    /// Handles an answer; false when it matched no query of ours or came from the wrong node.
    pub(super) fn on_response(&mut self, from: SocketAddr, tid: &[u8], r: Response) -> bool {
        let Some(txn) = self.take_txn(from, tid) else {
            self.stats.unexpected += 1;
            return false;
        };
        if r.id == self.id || txn.id.is_some_and(|id| id != r.id) {
            // Our own id, or another id than the one we asked: not the node we meant.
            self.stats.refused_self += u64::from(r.id == self.id);
            self.query_failed(txn, true);
            return false;
        }
        let now = self.now;
        let table = if from.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        if let Insert::Replacement(Some((id, addr))) = table.heard_from(now, r.id, from) {
            self.queue_ping(Some(id), addr);
        }
        match txn.purpose {
            Purpose::Ping => {}
            Purpose::Lookup(lid) => self.lookup_response(lid, from, r),
            Purpose::Announce(lid) => self.announce_answered(lid, true),
        }
        true
    }

    pub(super) fn on_error(&mut self, from: SocketAddr, tid: &[u8]) {
        let Some(txn) = self.take_txn(from, tid) else {
            self.stats.unexpected += 1;
            return;
        };
        // The node is alive but refused: not a routing failure.
        self.query_failed(txn, false);
    }

    /// A query failed; `timeout` also counts against the node in the routing table.
    pub(super) fn query_failed(&mut self, txn: Txn, timeout: bool) {
        if timeout {
            let now = self.now;
            if txn.addr.is_ipv4() {
                self.v4.failed(now, txn.id, txn.addr);
            } else {
                self.v6.failed(now, txn.id, txn.addr);
            }
        }
        match txn.purpose {
            Purpose::Ping => {}
            Purpose::Lookup(lid) => {
                if let Some(l) = self.lookups.get_mut(&lid) {
                    l.search.failed(txn.addr);
                    self.lookups_dirty = true;
                }
            }
            Purpose::Announce(lid) => self.announce_answered(lid, false),
        }
    }

    fn lookup_response(&mut self, lid: crate::LookupId, from: SocketAddr, r: Response) {
        let nodes: Vec<(NodeId, SocketAddr)> = r
            .nodes
            .iter()
            .map(|(id, a)| (*id, SocketAddr::V4(*a)))
            .chain(r.nodes6.iter().map(|(id, a)| (*id, SocketAddr::V6(*a))))
            .collect();
        let mut refused = 0;
        let mut accepted = Vec::with_capacity(nodes.len());
        let from_local = bep42_exempt(from.ip());
        for (id, addr) in nodes {
            if id == self.id || self.own_addrs.contains(&addr) {
                refused += 1;
            } else if !from_local && bep42_exempt(addr.ip()) {
                // A public node pointing us at loopback or LAN addresses.
                self.stats.refused_local += 1;
            } else if self.usable(&addr) {
                accepted.push((id, addr));
            }
        }
        self.stats.refused_self += refused;
        let Some(l) = self.lookups.get_mut(&lid) else {
            return;
        };
        self.lookups_dirty = true;
        for (id, addr) in accepted {
            l.search.add(Some(id), addr);
        }
        l.search.responded(from, r.id, r.token);
        if l.get_peers.is_some() {
            let mut new = Vec::new();
            for p in r.values {
                if !from_local && bep42_exempt(p.ip()) {
                    self.stats.refused_local += 1;
                } else if p.port() != 0 && !p.ip().is_unspecified() && l.peers.insert(p) {
                    new.push(p);
                }
            }
            if l.user && !new.is_empty() {
                self.events.push_back(Event::Peers {
                    lookup: lid,
                    info_hash: l.search.target(),
                    from,
                    peers: new,
                });
            }
        }
    }

    fn announce_answered(&mut self, lid: crate::LookupId, ok: bool) {
        let Some(l) = self.lookups.get_mut(&lid) else {
            return;
        };
        if let Phase::Announcing { pending, acked } = &mut l.phase {
            *pending = pending.saturating_sub(1);
            *acked += usize::from(ok);
            if *pending == 0 {
                let acked = *acked;
                let info_hash = l.search.target();
                self.lookups.remove(&lid);
                self.events.push_back(Event::AnnounceDone {
                    lookup: lid,
                    info_hash,
                    acked,
                });
            }
        }
    }

    /// Finishes converged lookups: reports them and starts their announces.
    pub(super) fn advance_lookups(&mut self) {
        if !std::mem::take(&mut self.lookups_dirty) {
            return;
        }
        let done: Vec<crate::LookupId> = self
            .lookups
            .iter()
            .filter(|(_, l)| matches!(l.phase, Phase::Searching) && l.search.converged())
            .map(|(k, _)| *k)
            .collect();
        for lid in done {
            let Some(l) = self.lookups.get_mut(&lid) else {
                continue;
            };
            let target = l.search.target();
            if l.user {
                self.events.push_back(Event::LookupDone {
                    lookup: lid,
                    target,
                    responders: l.search.responders(),
                    peers: l.peers.len(),
                });
            }
            let Some(Some(port)) = l.get_peers else {
                let bootstrap = !l.user && target == self.id;
                self.lookups.remove(&lid);
                if bootstrap {
                    self.bootstrap_finished();
                }
                continue;
            };
            self.start_announce(lid, target, port);
        }
    }

    fn start_announce(&mut self, lid: crate::LookupId, info_hash: NodeId, port: u16) {
        let Some(l) = self.lookups.get_mut(&lid) else {
            return;
        };
        let targets = l.search.announce_targets();
        l.phase = Phase::Announcing {
            pending: targets.len(),
            acked: 0,
        };
        if targets.is_empty() {
            self.lookups.remove(&lid);
            self.events.push_back(Event::AnnounceDone {
                lookup: lid,
                info_hash,
                acked: 0,
            });
            return;
        }
        for (id, addr, token) in targets {
            // Announces go ahead of pings: they finish work the caller asked for.
            self.queued.push_front(Queued {
                addr,
                id: Some(id),
                kind: QueryKind::AnnouncePeer {
                    info_hash,
                    port,
                    implied_port: port == 0,
                    token,
                },
                purpose: Purpose::Announce(lid),
            });
        }
    }
}
