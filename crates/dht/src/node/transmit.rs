//! Sending queries: round-robin over the lookups, transaction ids, queued pings.

use std::net::SocketAddr;

use super::{LookupId, MAX_QUEUED, Node, Phase, Purpose, Queued, Txn};
use crate::NodeId;
use crate::krpc::{Body, Message, Query, QueryKind, Want};

impl Node {
    /// A query from the lookups, taken round-robin.
    pub(super) fn next_lookup_query(&mut self) -> Option<Queued> {
        let after: Vec<LookupId> = self
            .lookups
            .range(LookupId(self.served_lookup.0 + 1)..)
            .map(|(k, _)| *k)
            .chain(self.lookups.range(..=self.served_lookup).map(|(k, _)| *k))
            .collect();
        for lid in after {
            let Some(l) = self.lookups.get_mut(&lid) else {
                continue;
            };
            if !matches!(l.phase, Phase::Searching) {
                continue;
            }
            if let Some((id, addr)) = l.search.next_query() {
                self.lookups_dirty = true;
                self.served_lookup = lid;
                let target = l.search.target();
                let kind = match l.get_peers {
                    Some(_) => QueryKind::GetPeers { info_hash: target },
                    None => QueryKind::FindNode { target },
                };
                return Some(Queued {
                    addr,
                    id,
                    kind,
                    purpose: Purpose::Lookup(lid),
                });
            }
        }
        None
    }

    pub(super) fn send_query(&mut self, q: Queued) -> (SocketAddr, Vec<u8>) {
        let mut tid = self.next_tid;
        while self.txns.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1 + self.rng.u16(..64));
        let msg = Message {
            tid: tid.to_be_bytes().to_vec(),
            version: Some(self.cfg.version.clone()),
            observed_addr: None,
            read_only: self.cfg.read_only,
            body: Body::Query(Query {
                id: self.id,
                want: Want {
                    v4: self.cfg.ipv4 && self.cfg.ipv6,
                    v6: self.cfg.ipv4 && self.cfg.ipv6,
                },
                kind: q.kind,
            }),
        };
        self.txns.insert(
            tid,
            Txn {
                addr: q.addr,
                id: q.id,
                deadline: self.now + self.cfg.query_timeout,
                purpose: q.purpose,
            },
        );
        self.stats.queries_sent += 1;
        (q.addr, msg.encode())
    }

    pub(super) fn queue_ping(&mut self, id: Option<NodeId>, addr: SocketAddr) {
        if self.queued.len() >= MAX_QUEUED
            || self.queued.iter().any(|q| q.addr == addr)
            || self.txns.values().any(|t| t.addr == addr)
        {
            return;
        }
        self.queued.push_back(Queued {
            addr,
            id,
            kind: QueryKind::Ping,
            purpose: Purpose::Ping,
        });
    }
}
