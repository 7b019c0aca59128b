//! The node: a state machine over datagrams and time. The caller owns the socket and the clock:
//! it feeds [`Node::handle_datagram`], sends what [`Node::poll_transmit`] yields, wakes up at
//! [`Node::next_timeout`], and reads [`Node::poll_event`].

mod lookups;
mod replies;
mod serve;
mod transmit;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::id::{NodeId, bep42_exempt, bep42_id};
use crate::krpc::{Body, Message, QueryKind};
use crate::lookup::Search;
use crate::peers::PeerStore;
use crate::ratelimit::{PerIpLimiter, TokenBucket};
use crate::table::Table;
use crate::token::Tokens;

/// Identifies a lookup started with [`Node::start_get_peers`] or [`Node::start_find_node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// What a node reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A node answered a get_peers lookup with peers not reported before for this lookup
    /// (late answers may still bring some after `LookupDone`, until `AnnounceDone`).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// Its info-hash.
        info_hash: NodeId,
        /// The node that sent them.
        from: SocketAddr,
        /// The new peers.
        peers: Vec<SocketAddr>,
    },
    /// A lookup converged (or ran out of nodes to ask).
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// Its info-hash or target.
        target: NodeId,
        /// Nodes that answered.
        responders: usize,
        /// Distinct peers found.
        peers: usize,
    },
    /// The announce after a get_peers lookup finished.
    AnnounceDone {
        /// The lookup.
        lookup: LookupId,
        /// Its info-hash.
        info_hash: NodeId,
        /// Nodes that accepted the announce.
        acked: usize,
    },
}

/// Counters, for tests and status pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Queries dropped by the per-IP limit.
    pub rate_limited: u64,
    /// Answers whose transaction id (or sender) matched no query of ours.
    pub unexpected: u64,
    /// Messages or nodes refused for claiming our id or address.
    pub refused_self: u64,
    /// Loopback/LAN nodes or peers that a public node sent us (dropped).
    pub refused_local: u64,
    /// announce_peer queries with a bad or expired token.
    pub bad_tokens: u64,
    /// Queries answered.
    pub queries_answered: u64,
    /// Queries sent.
    pub queries_sent: u64,
    /// Queries that timed out.
    pub timeouts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Ping,
    Lookup(LookupId),
    Announce(LookupId),
}

#[derive(Debug)]
struct Txn {
    addr: SocketAddr,
    id: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
}

/// A query waiting for send capacity.
#[derive(Debug)]
struct Queued {
    addr: SocketAddr,
    id: Option<NodeId>,
    kind: QueryKind,
    purpose: Purpose,
}

#[derive(Debug)]
enum Phase {
    Searching,
    Announcing { pending: usize, acked: usize },
}

#[derive(Debug)]
struct Lookup {
    search: Search,
    /// `Some` for get_peers; the inner value is the port to announce.
    get_peers: Option<Option<u16>>,
    /// Started by the caller (events) rather than a refresh or bootstrap (silent).
    user: bool,
    phase: Phase,
    peers: HashSet<SocketAddr>,
}

/// Most pings waiting for send capacity (verifying new nodes is best effort).
const MAX_QUEUED: usize = 256;
/// How often expired peers and idle rate-limit entries are dropped.
const HOUSEKEEPING: Duration = Duration::from_secs(60);

/// A DHT node with an IPv4 and an IPv6 routing table (BEP 5, BEP 32).
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    id: NodeId,
    rng: fastrand::Rng,
    secret_rng: fastrand::Rng,
    now: Instant,
    v4: Table,
    v6: Table,
    tokens: Tokens,
    peers: PeerStore,
    inbound: PerIpLimiter,
    outbound: TokenBucket,
    txns: BTreeMap<u16, Txn>,
    next_tid: u16,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    queued: VecDeque<Queued>,
    lookups: BTreeMap<LookupId, Lookup>,
    next_lookup: u64,
    served_lookup: LookupId,
    events: VecDeque<Event>,
    own_addrs: HashSet<SocketAddr>,
    bootstrap: Vec<SocketAddr>,
    next_housekeeping: Instant,
    /// Recent BEP 42 `ip` fields of answers: (responder, the address it saw us at).
    external_votes: VecDeque<(IpAddr, SocketAddr)>,
    /// Some lookup changed since [`Node::advance_lookups`] last looked.
    lookups_dirty: bool,
    /// A batch of queries is going out (see [`Node::poll_transmit`]).
    sending: bool,
    /// Queries allowed in flight (see [`Node::set_query_rate`]).
    max_in_flight: usize,
    /// When to bootstrap again while the tables hold fewer than k nodes, and the back-off.
    rebootstrap: Option<(Instant, Duration)>,
    stats: Stats,
}

impl Node {
    /// A node that knows no other node yet: it sends nothing until [`Node::add_node`] or a
    /// lookup gives it somewhere to send.
    pub fn new(cfg: Config, now: Instant) -> Node {
        let mut rng = match cfg.seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        // The token secrets come from their own generator. Unless a test fixes the seed, it is
        // seeded from std's per-process random SipHash keys, never from the generator whose
        // output (transaction ids, node ids) others see.
        let secret_seed = match cfg.seed {
            Some(s) => s ^ 0x5eed_70c3,
            None => {
                use std::hash::BuildHasher;
                std::collections::hash_map::RandomState::new().hash_one(0x70c3_u64)
            }
        };
        let mut secret_rng = fastrand::Rng::with_seed(secret_seed);
        let id = match (cfg.id, cfg.public_ip) {
            (Some(id), _) => id,
            (None, Some(ip)) if cfg.bep42 && !bep42_exempt(ip) => {
                let r = rng.u8(..);
                bep42_id(ip, r, &mut rng)
            }
            _ => NodeId::random(&mut rng),
        };
        let tokens = Tokens::new(now, cfg.token_rotation, &mut secret_rng);
        Node {
            id,
            now,
            v4: Table::new(id, now),
            v6: Table::new(id, now),
            tokens,
            peers: PeerStore::new(cfg.max_peers_per_hash, cfg.max_info_hashes, cfg.peer_ttl),
            inbound: PerIpLimiter::new(
                cfg.per_ip_queries_per_second,
                cfg.per_ip_burst,
                cfg.max_tracked_ips,
            ),
            outbound: TokenBucket::new(now, cfg.queries_per_second, cfg.query_burst),
            txns: BTreeMap::new(),
            next_tid: rng.u16(..),
            outbox: VecDeque::new(),
            queued: VecDeque::new(),
            lookups: BTreeMap::new(),
            next_lookup: 1,
            served_lookup: LookupId(0),
            events: VecDeque::new(),
            own_addrs: HashSet::new(),
            bootstrap: Vec::new(),
            next_housekeeping: now + HOUSEKEEPING,
            rebootstrap: None,
            external_votes: VecDeque::new(),
            lookups_dirty: false,
            sending: false,
            max_in_flight: cfg.max_in_flight,
            stats: Stats::default(),
            rng,
            secret_rng,
            cfg,
        }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Changes the outgoing query rate (queries a second, sustained; twice that as the burst)
    /// and with it the queries allowed in flight (what two seconds at that rate need, never
    /// below [`Config::max_in_flight`]), so a lookup load that grows with the torrents is
    /// served at the pace it needs.
    pub fn set_query_rate(&mut self, per_second: f64) {
        let rate = per_second.max(1.0);
        self.outbound.set_rate(self.now, rate, 2.0 * rate);
        self.max_in_flight = self.cfg.max_in_flight.max((2.0 * rate) as usize);
    }

    /// Tokens needed before the next query goes out. Queries go out in batches of a tenth of a
    /// second's budget, so a node at its rate limit wakes ten times a second, not once per
    /// query; a batch, once begun, goes on while tokens and queries last.
    fn tokens_to_send(&self) -> f64 {
        if self.sending {
            1.0
        } else {
            self.outbound.batch()
        }
    }

    /// The outgoing query rate now (queries a second).
    pub fn query_rate(&self) -> f64 {
        self.outbound.rate()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Nodes in the IPv4 and IPv6 routing tables.
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// Info-hashes and peers stored for others.
    pub fn stored_peers(&self) -> (usize, usize) {
        self.peers.size()
    }

    /// Our public address as the nodes that answered us report it (BEP 42 `ip`): the one most
    /// of the last 32 distinct responders agree on, when at least two do. The daemon can use
    /// it for a BEP 42 node id ([`Config::public_ip`]) at its next start.
    pub fn external_addr(&self) -> Option<SocketAddr> {
        let mut counts: Vec<(SocketAddr, usize)> = Vec::new();
        for (_, seen) in &self.external_votes {
            match counts.iter_mut().find(|(a, _)| a == seen) {
                Some((_, n)) => *n += 1,
                None => counts.push((*seen, 1)),
            }
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .max_by_key(|(_, n)| *n)
            .map(|(a, _)| a)
    }

    fn vote_external(&mut self, responder: SocketAddr, seen: SocketAddr) {
        let voter = responder.ip();
        self.external_votes.retain(|(v, _)| *v != voter);
        if self.external_votes.len() >= 32 {
            self.external_votes.pop_front();
        }
        self.external_votes.push_back((voter, normalize(seen)));
    }

    /// Records an address we are reachable at (bound or learnt): datagrams from it and nodes
    /// claiming it are refused.
    pub fn add_own_addr(&mut self, addr: SocketAddr) {
        self.own_addrs.insert(normalize(addr));
    }

    fn family_enabled(&self, addr: &SocketAddr) -> bool {
        if addr.is_ipv4() {
            self.cfg.ipv4
        } else {
            self.cfg.ipv6
        }
    }

    /// Whether `addr` could be a DHT node we may talk to.
    fn usable(&self, addr: &SocketAddr) -> bool {
        let ip = addr.ip();
        addr.port() != 0
            && !ip.is_unspecified()
            && !ip.is_multicast()
            && !matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
            && self.family_enabled(addr)
    }

    /// Addresses worth saving for the next start, best first.
    pub fn save_nodes(&self) -> Vec<SocketAddr> {
        let mut out = self.v4.addrs(self.now);
        out.extend(self.v6.addrs(self.now));
        out
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] (or [`Node::poll_transmit`]) should next be called.
    pub fn next_timeout(&self) -> Option<Instant> {
        let mut t = self.tokens.next_rotation().min(self.next_housekeeping);
        if let Some((at, _)) = self.rebootstrap {
            t = t.min(at);
        }
        if let Some(d) = self.txns.values().map(|x| x.deadline).min() {
            t = t.min(d);
        }
        if self.v4.len() > 0 {
            t = t.min(self.v4.next_refresh().unwrap_or(t));
        }
        if self.v6.len() > 0 {
            t = t.min(self.v6.next_refresh().unwrap_or(t));
        }
        let wants_send = !self.queued.is_empty()
            || self
                .lookups
                .values()
                .any(|l| matches!(l.phase, Phase::Searching) && l.search.can_send());
        if !self.outbox.is_empty() {
            t = t.min(self.now);
        } else if wants_send && self.txns.len() < self.max_in_flight {
            t = t.min(self.outbound.next_token(self.now, self.tokens_to_send()));
        }
        Some(t)
    }

    /// Expires queries, rotates secrets, refreshes stale buckets and finishes converged lookups.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        let expired: Vec<u16> = self
            .txns
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for tid in expired {
            if let Some(txn) = self.txns.remove(&tid) {
                self.stats.timeouts += 1;
                self.query_failed(txn, true);
            }
        }
        self.tokens.rotate_if_due(now, &mut self.secret_rng);
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.peers.expire(now);
            self.inbound.prune(now);
        }
        let mut refresh = Vec::new();
        if self.v4.len() > 0 {
            refresh.extend(self.v4.refresh_targets(now, &mut self.rng));
        }
        if self.v6.len() > 0 {
            refresh.extend(self.v6.refresh_targets(now, &mut self.rng));
        }
        for target in refresh {
            self.new_lookup(target, None, false);
        }
        if let Some((at, backoff)) = self.rebootstrap
            && now >= at
        {
            // Keep the back-off until this attempt is judged.
            self.rebootstrap = Some((now + Duration::from_secs(3600), backoff));
            self.bootstrap_through(None);
        }
        self.advance_lookups();
    }

    /// The next datagram to send, if any: answers first, then queries as far as the outgoing
    /// rate limit and the in-flight bound allow.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        self.handle_timeout(now);
        if let Some(out) = self.outbox.pop_front() {
            return Some(out);
        }
        let need = self.tokens_to_send();
        if self.txns.len() >= self.max_in_flight || !self.outbound.available(self.now, need) {
            self.sending = false;
            return None;
        }
        let Some(q) = self.queued.pop_front().or_else(|| self.next_lookup_query()) else {
            self.sending = false;
            return None;
        };
        self.sending = true;
        self.outbound.try_take(self.now);
        Some(self.send_query(q))
    }

    /// Feeds one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.now = self.now.max(now);
        let from = normalize(from);
        if self.own_addrs.contains(&from) {
            self.stats.refused_self += 1;
            return;
        }
        if !self.usable(&from) {
            return;
        }
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match msg.body {
            Body::Query(q) => self.serve(from, msg.tid, msg.read_only, q),
            Body::Response(r) => {
                if self.on_response(from, &msg.tid, r)
                    && let Some(seen) = msg.observed_addr
                {
                    self.vote_external(from, seen);
                }
            }
            Body::Error(_) => self.on_error(from, &msg.tid),
        }
        self.advance_lookups();
    }
}

/// IPv4-mapped IPv6 addresses become IPv4 (a dual-stack socket reports them so).
fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests;
