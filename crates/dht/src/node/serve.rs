//! Answering other nodes' queries.

use std::net::SocketAddr;

use super::Node;

/// Answers waiting for the caller to send them; more are dropped (the caller is not polling).
const MAX_OUTBOX: usize = 1024;
use crate::NodeId;
use crate::id::bep42_exempt;
use crate::krpc::{Body, ErrorReply, Message, Query, QueryKind, Response, Want, code};

impl Node {
    /// Answers query `q` from `from` (rate-limited per IP) and considers adding the querier.
    pub(super) fn serve(&mut self, from: SocketAddr, tid: Vec<u8>, read_only: bool, q: Query) {
        if q.id == self.id {
            self.stats.refused_self += 1;
            return;
        }
        if self.cfg.read_only {
            return;
        }
        if !self.inbound.allow(self.now, from.ip()) {
            self.stats.rate_limited += 1;
            return;
        }
        let body = match &q.kind {
            QueryKind::Ping => Body::Response(Response::new(self.id)),
            QueryKind::FindNode { target } => {
                let mut r = Response::new(self.id);
                self.fill_nodes(&mut r, target, from, q.want);
                Body::Response(r)
            }
            QueryKind::GetPeers { info_hash } => {
                let mut r = Response::new(self.id);
                r.token = Some(self.tokens.make(from.ip()));
                r.values = self.peers.get(
                    self.now,
                    info_hash,
                    self.cfg.max_values_per_reply,
                    &mut self.rng,
                );
                self.fill_nodes(&mut r, info_hash, from, q.want);
                Body::Response(r)
            }
            QueryKind::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if self.tokens.check(from.ip(), token) {
                    let port = if *implied_port { from.port() } else { *port };
                    self.peers
                        .insert(self.now, *info_hash, SocketAddr::new(from.ip(), port));
                    Body::Response(Response::new(self.id))
                } else {
                    self.stats.bad_tokens += 1;
                    Body::Error(ErrorReply {
                        code: code::PROTOCOL,
                        message: "bad token".into(),
                    })
                }
            }
            QueryKind::Other(_) => Body::Error(ErrorReply {
                code: code::METHOD_UNKNOWN,
                message: "method unknown".into(),
            }),
        };
        self.stats.queries_answered += 1;
        let reply = Message {
            tid,
            version: Some(self.cfg.version.clone()),
            observed_addr: Some(from),
            read_only: false,
            body,
        };
        if self.outbox.len() < MAX_OUTBOX {
            self.outbox.push_back((from, reply.encode()));
        }
        if !read_only {
            self.consider_querier(from, q.id);
        }
    }

    /// The k closest nodes to `target` from the tables the querier wants (its own family when
    /// it says nothing).
    /// Loopback/LAN nodes are only given to loopback/LAN queriers.
    fn fill_nodes(&self, r: &mut Response, target: &NodeId, from: SocketAddr, want: Want) {
        let from_local = bep42_exempt(from.ip());
        let shareable = |a: &SocketAddr| from_local || !bep42_exempt(a.ip());
        let (v4, v6) = if want.v4 || want.v6 {
            (want.v4, want.v6)
        } else {
            (from.is_ipv4(), from.is_ipv6())
        };
        if v4 {
            r.nodes = self
                .v4
                .closest(self.now, target, crate::table::K)
                .into_iter()
                .filter(|(_, a)| shareable(a))
                .filter_map(|(id, a)| match a {
                    SocketAddr::V4(a) => Some((id, a)),
                    SocketAddr::V6(_) => None,
                })
                .collect();
        }
        if v6 {
            r.nodes6 = self
                .v6
                .closest(self.now, target, crate::table::K)
                .into_iter()
                .filter(|(_, a)| shareable(a))
                .filter_map(|(id, a)| match a {
                    SocketAddr::V6(a) => Some((id, a)),
                    SocketAddr::V4(_) => None,
                })
                .collect();
        }
    }

    /// A querier refreshes its entry; an unknown one is pinged (verified) when its bucket has
    /// room, so a spoofed source address never enters the table.
    fn consider_querier(&mut self, from: SocketAddr, id: NodeId) {
        let now = self.now;
        let table = if from.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        if table.contains(&id) {
            table.heard_from(now, id, from);
        } else if table.has_room_for(now, &id) {
            self.queue_ping(Some(id), from);
        }
    }
}
