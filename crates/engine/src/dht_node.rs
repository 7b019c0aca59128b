//! The session's DHT task (BEP 5, BEP 32): drives the sans-IO [`dht::Node`] on the shared UDP
//! socket. It receives the KRPC datagrams `udp.rs` routes to it, sends through the socket's
//! sender, sleeps until the node's next timeout, and serves the torrents' requests:
//! get_peers lookups (with an announce of our port), nodes learnt from peers' `port` messages,
//! and the table's good nodes for the daemon to save.
//!
//! Torrents ask for lookups on their own schedule (at start, when starving, then every
//! [`REANNOUNCE`]); this task runs at most [`CONCURRENT_LOOKUPS`] of them at once and queues
//! the rest (one entry per info-hash), so thousands of torrents spread themselves out and the
//! node's outgoing rate limit holds. Nothing is sent before the node knows of a node: no
//! bootstrap address is built in.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use metainfo::InfoHash;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::udp::{Datagram, DatagramKind, UdpEndpoint, UdpSender};

/// Lookups for torrents running at once at the base query rate; the rest wait in line. At a
/// higher rate more run at once (a lookup waits on its slowest answers, not on the rate).
pub(crate) const CONCURRENT_LOOKUPS: usize = 8;
/// Most lookups for torrents running at once.
const MAX_CONCURRENT_LOOKUPS: usize = 64;
/// The outgoing query rate with few torrents (queries a second).
const BASE_QUERY_RATE: f64 = 50.0;
/// The highest outgoing query rate, whatever the number of torrents (queries a second).
const MAX_QUERY_RATE: f64 = 400.0;
/// Headroom of the rate over what the announces need, so the queue drains.
const RATE_MARGIN: f64 = 1.3;
/// Queries one announce is taken to cost until enough have finished to measure it.
const QUERIES_PER_ANNOUNCE: f64 = 24.0;
/// How often the query rate is fitted to the announcing torrents.
const RATE_REVIEW: Duration = Duration::from_secs(10);
/// Info-hashes waiting for a lookup at most (one per torrent or metadata fetch).
const MAX_PENDING: usize = 20_000;
/// KRPC datagrams that may wait between the router and the task.
const INBOX: usize = 512;
/// How often a torrent that is not starving looks up and announces again (plus jitter).
pub(crate) const REANNOUNCE: Duration = Duration::from_secs(25 * 60);
/// The first look again of a starving download; doubled up to [`MAX_STARVING_STEP`].
pub(crate) const STARVING_STEP: Duration = Duration::from_secs(20);
/// The longest pause between the lookups of a starving download.
pub(crate) const MAX_STARVING_STEP: Duration = Duration::from_secs(10 * 60);

/// The DHT at a glance, for `status` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DhtStats {
    /// Nodes in the IPv4 routing table.
    pub nodes_v4: usize,
    /// Nodes in the IPv6 routing table.
    pub nodes_v6: usize,
    /// Lookups running for torrents.
    pub lookups: usize,
    /// Lookups waiting for a free slot.
    pub queued_lookups: usize,
    /// Peers the lookups found (counted per lookup).
    pub peers_found: u64,
    /// Announces (get_peers lookup, then announce_peer) that finished.
    pub announces: u64,
    /// The outgoing query limit now (queries a second), fitted to the announcing torrents.
    pub query_rate: u64,
    /// KRPC datagrams sent.
    pub sent: u64,
    /// KRPC datagrams received.
    pub received: u64,
    /// Info-hashes and peers stored for other nodes.
    pub stored: (usize, usize),
}

impl DhtStats {
    /// `"bootstrapping"` while the tables are empty, `"ready"` once they hold a node.
    pub fn state(&self) -> &'static str {
        if self.nodes_v4 + self.nodes_v6 == 0 {
            "bootstrapping"
        } else {
            "ready"
        }
    }
}

/// What torrents and the session ask of the DHT task.
#[derive(Debug)]
enum DhtCommand {
    AddNode(SocketAddr),
    GetPeers {
        info_hash: InfoHash,
        /// The port to announce (`None`: look up only).
        announce: Option<u16>,
        /// A download or a metadata fetch: ahead of the seeds' re-announces in the queue.
        urgent: bool,
        peers: mpsc::Sender<Vec<SocketAddr>>,
    },
    Nodes(oneshot::Sender<DhtSaved>),
}

/// The handle torrents and the session hold. Cheap to clone; every call is non-blocking.
/// What a DHT node keeps across restarts (the daemon's `dht_nodes` file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhtSaved {
    /// Good nodes of the routing tables, best first.
    pub nodes: Vec<SocketAddr>,
    /// Our public IP as the nodes that answered report it (BEP 42), when they agree.
    pub external_ip: Option<IpAddr>,
}

#[derive(Clone, Debug)]
pub(crate) struct DhtHandle {
    tx: mpsc::Sender<DhtCommand>,
    stats: watch::Receiver<DhtStats>,
    /// The UDP port we answer KRPC on (sent in `port` messages).
    pub port: u16,
    /// The node's id.
    pub id: dht::NodeId,
}

impl DhtHandle {
    /// Tells the node of a node (saved, bootstrap, or a peer's `port` message).
    pub fn add_node(&self, addr: SocketAddr) {
        let _ = self.tx.try_send(DhtCommand::AddNode(addr));
    }

    /// Asks for a get_peers lookup of `info_hash` (and an announce of `announce`); the peers
    /// found are sent to `peers` as they come. A lookup already queued or running for this
    /// info-hash is not started twice; an `urgent` one (a download wanting peers) goes ahead
    /// of the others in the queue.
    pub fn get_peers(
        &self,
        info_hash: InfoHash,
        announce: Option<u16>,
        urgent: bool,
        peers: mpsc::Sender<Vec<SocketAddr>>,
    ) {
        let _ = self.tx.try_send(DhtCommand::GetPeers {
            info_hash,
            announce,
            urgent,
            peers,
        });
    }

    /// The good nodes of the routing tables, best first, and our public address as the nodes
    /// report it (empty when the task is gone).
    pub async fn nodes(&self) -> DhtSaved {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(DhtCommand::Nodes(tx)).await.is_err() {
            return DhtSaved::default();
        }
        rx.await.unwrap_or_default()
    }

    pub fn stats(&self) -> DhtStats {
        *self.stats.borrow()
    }
}

/// Starts the DHT task on `udp` (a plain `tokio::spawn`: it ends with `cancel`). `saved` are
/// added at once; `bootstrap` (`host:port`) are resolved and added as they resolve.
pub(crate) fn start(
    udp: &UdpEndpoint,
    listen: SocketAddr,
    saved: &[SocketAddr],
    external_ip: Option<IpAddr>,
    bootstrap: &[String],
    cancel: CancellationToken,
) -> DhtHandle {
    let mut cfg = dht::Config::default();
    // The address the nodes reported at the last run: a BEP 42 node id for it from the start
    // (loopback and private addresses are exempt and keep a random one).
    cfg.public_ip = external_ip;
    // A socket bound to IPv4 cannot reach IPv6 nodes.
    cfg.ipv6 = listen.is_ipv6();
    let now = std::time::Instant::now();
    let mut node = dht::Node::new(cfg, now);
    node.add_own_addr(listen);
    node.add_own_addr(SocketAddr::from(([127, 0, 0, 1], listen.port())));
    node.add_own_addr(SocketAddr::from((
        std::net::Ipv6Addr::LOCALHOST,
        listen.port(),
    )));
    let inbox = udp
        .route(DatagramKind::Krpc, INBOX)
        .unwrap_or_else(|| mpsc::channel(1).1);
    let (tx, rx) = mpsc::channel(1024);
    let (stats_tx, stats) = watch::channel(DhtStats::default());
    let handle = DhtHandle {
        tx: tx.clone(),
        stats,
        port: listen.port(),
        id: node.id(),
    };
    for a in saved {
        node.add_node(*a);
    }
    let task = DhtTask::new(node, udp.sender(), inbox, rx, stats_tx);
    let span = tracing::info_span!("dht");
    tokio::spawn(tracing::Instrument::instrument(
        task.run(cancel.clone()),
        span,
    ));
    if !bootstrap.is_empty() {
        let names = bootstrap.to_vec();
        tokio::spawn(async move {
            for name in names {
                let resolved = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = tokio::net::lookup_host(name.as_str()) => r,
                };
                match resolved {
                    Ok(addrs) => {
                        for a in addrs.filter(|a| a.is_ipv4() || listen.is_ipv6()) {
                            let _ = tx.send(DhtCommand::AddNode(a)).await;
                        }
                    }
                    Err(e) => debug!(node = %name, error = %e, "DHT bootstrap node not resolved"),
                }
            }
        });
    }
    handle
}

struct Running {
    started: std::time::Instant,
    info_hash: InfoHash,
    announce: bool,
    peers: mpsc::Sender<Vec<SocketAddr>>,
}

struct Pending {
    info_hash: InfoHash,
    announce: Option<u16>,
    peers: mpsc::Sender<Vec<SocketAddr>>,
}

struct DhtTask {
    node: dht::Node,
    sender: UdpSender,
    inbox: mpsc::Receiver<Datagram>,
    commands: mpsc::Receiver<DhtCommand>,
    stats_tx: watch::Sender<DhtStats>,
    running: HashMap<dht::LookupId, Running>,
    pending: VecDeque<Pending>,
    peers_found: u64,
    announces: u64,
    sent: u64,
    received: u64,
    /// Info-hashes that asked for an announce, and when they last did: their number sets the
    /// query rate (see [`DhtTask::fit_rate`]).
    announcers: HashMap<InfoHash, std::time::Instant>,
    next_rate_review: std::time::Instant,
    /// `(queries sent, lookups finished)` when the rate was last fitted, for the cost of one.
    rate_sample: (u64, u64),
    lookups_done: u64,
    queries_per_announce: f64,
}

impl DhtTask {
    fn new(
        node: dht::Node,
        sender: UdpSender,
        inbox: mpsc::Receiver<Datagram>,
        commands: mpsc::Receiver<DhtCommand>,
        stats_tx: watch::Sender<DhtStats>,
    ) -> Self {
        DhtTask {
            node,
            sender,
            inbox,
            commands,
            stats_tx,
            running: HashMap::new(),
            pending: VecDeque::new(),
            peers_found: 0,
            announces: 0,
            sent: 0,
            received: 0,
            announcers: HashMap::new(),
            next_rate_review: std::time::Instant::now() + RATE_REVIEW,
            rate_sample: (0, 0),
            lookups_done: 0,
            queries_per_announce: QUERIES_PER_ANNOUNCE,
        }
    }

    /// Lookups allowed to run at once: a lookup lasts a few round trips whatever the rate, so
    /// more run at once at a higher rate (8 at the base rate, at most 64).
    fn concurrent(&self) -> usize {
        ((self.node.query_rate() / BASE_QUERY_RATE * CONCURRENT_LOOKUPS as f64) as usize)
            .clamp(CONCURRENT_LOOKUPS, MAX_CONCURRENT_LOOKUPS)
    }

    fn receive(&mut self, now: std::time::Instant, d: Datagram) {
        self.received += 1;
        self.node.handle_datagram(now, d.from, &d.payload);
    }

    async fn run(mut self, cancel: CancellationToken) {
        let mut was_empty = true;
        loop {
            self.fit_rate(std::time::Instant::now());
            self.start_lookups();
            self.flush().await;
            self.events();
            self.publish(&mut was_empty);
            let wake = self
                .node
                .next_timeout()
                .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(60))
                .min(self.next_rate_review);
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(cmd) = self.commands.recv() => {
                    self.on_command(cmd);
                    while let Ok(cmd) = self.commands.try_recv() {
                        self.on_command(cmd);
                    }
                }
                Some(d) = self.inbox.recv() => {
                    // Everything that has arrived, then one round of sends and events.
                    let now = std::time::Instant::now();
                    self.receive(now, d);
                    for _ in 0..INBOX {
                        let Ok(d) = self.inbox.try_recv() else { break };
                        self.receive(now, d);
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    self.node.handle_timeout(std::time::Instant::now());
                }
            }
        }
        debug!("DHT task stopped");
    }

    fn on_command(&mut self, cmd: DhtCommand) {
        match cmd {
            DhtCommand::AddNode(a) => self.node.add_node(a),
            DhtCommand::GetPeers {
                info_hash,
                announce,
                urgent,
                peers,
            } => {
                if announce.is_some() {
                    self.announcers.insert(info_hash, std::time::Instant::now());
                }
                if self.running.values().any(|r| r.info_hash == info_hash) {
                    return;
                }
                let mut p = Pending {
                    info_hash,
                    announce,
                    peers,
                };
                if let Some(i) = self.pending.iter().position(|q| q.info_hash == info_hash) {
                    let Some(old) = self.pending.remove(i) else {
                        return;
                    };
                    p.announce = p.announce.or(old.announce);
                    if !urgent {
                        self.pending.insert(i, p);
                        return;
                    }
                } else if self.pending.len() >= MAX_PENDING {
                    return;
                }
                if urgent {
                    self.pending.push_front(p);
                } else {
                    self.pending.push_back(p);
                }
            }
            DhtCommand::Nodes(reply) => {
                let _ = reply.send(DhtSaved {
                    nodes: self.node.save_nodes(),
                    external_ip: self.node.external_addr().map(|a| a.ip()),
                });
            }
        }
    }

    /// Starts queued lookups while slots are free and the tables know somebody.
    fn start_lookups(&mut self) {
        let (v4, v6) = self.node.table_sizes();
        if v4 + v6 == 0 {
            return;
        }
        while self.running.len() < self.concurrent() {
            let Some(p) = self.pending.pop_front() else {
                return;
            };
            if p.peers.is_closed() {
                continue;
            }
            let target = dht::NodeId(p.info_hash.0);
            match self.node.start_get_peers(target, p.announce) {
                Some(id) => {
                    debug!(info_hash = %p.info_hash, "DHT lookup started");
                    self.running.insert(
                        id,
                        Running {
                            started: std::time::Instant::now(),
                            info_hash: p.info_hash,
                            announce: p.announce.is_some(),
                            peers: p.peers,
                        },
                    );
                }
                None => {
                    self.pending.push_front(p);
                    return;
                }
            }
        }
    }

    async fn flush(&mut self) {
        let now = std::time::Instant::now();
        while let Some((to, bytes)) = self.node.poll_transmit(now) {
            self.sent += 1;
            if let Err(e) = self.sender.send_to(&bytes, to).await {
                debug!(%to, error = %e, "DHT send failed");
            }
        }
    }

    fn events(&mut self) {
        while let Some(ev) = self.node.poll_event() {
            match ev {
                dht::Event::Peers { lookup, peers, .. } => {
                    if let Some(r) = self.running.get(&lookup) {
                        self.peers_found += peers.len() as u64;
                        debug!(info_hash = %r.info_hash, peers = peers.len(), "peers from the DHT");
                        let _ = r.peers.try_send(peers);
                    }
                }
                dht::Event::LookupDone {
                    lookup,
                    responders,
                    peers,
                    ..
                } => {
                    self.lookups_done += 1;
                    if let Some(r) = self.running.get(&lookup) {
                        debug!(info_hash = %r.info_hash, responders, peers, "DHT lookup done");
                        // a lookup without an announce ends here
                        if !r.announce {
                            self.running.remove(&lookup);
                        }
                    }
                }
                dht::Event::AnnounceDone { lookup, acked, .. } => {
                    if let Some(r) = self.running.remove(&lookup) {
                        self.announces += 1;
                        debug!(info_hash = %r.info_hash, acked, "DHT announce done");
                    }
                }
                _ => {}
            }
        }
    }

    /// Fits the outgoing query rate to the torrents that announce: each announces once every
    /// [`REANNOUNCE`], at the measured cost of an announce in queries, with
    /// [`RATE_MARGIN`] to spare, between [`BASE_QUERY_RATE`] and [`MAX_QUERY_RATE`]. So 10,000
    /// torrents are all announced within the period, and a daemon of a few torrents sends
    /// no more than before. Torrents that stopped asking are forgotten after two periods.
    fn fit_rate(&mut self, now: std::time::Instant) {
        if now < self.next_rate_review {
            return;
        }
        self.next_rate_review = now + RATE_REVIEW;
        let forget = 2 * REANNOUNCE + Duration::from_secs(300);
        self.announcers
            .retain(|_, at| now.saturating_duration_since(*at) < forget);
        let sent = self.node.stats().queries_sent;
        let (sent0, done0) = self.rate_sample;
        if self.lookups_done >= done0 + 20 {
            // queries per lookup over the last reviews (refreshes and pings included)
            let measured = (sent - sent0) as f64 / (self.lookups_done - done0) as f64;
            self.queries_per_announce = measured.clamp(8.0, 128.0);
            self.rate_sample = (sent, self.lookups_done);
        }
        let need = self.announcers.len() as f64 * self.queries_per_announce
            / REANNOUNCE.as_secs_f64()
            * RATE_MARGIN;
        let rate = need.clamp(BASE_QUERY_RATE, MAX_QUERY_RATE);
        if (rate - self.node.query_rate()).abs() >= 1.0 {
            debug!(
                rate,
                announcers = self.announcers.len(),
                per_announce = self.queries_per_announce,
                "DHT query rate fitted"
            );
            self.node.set_query_rate(rate);
        }
    }

    fn publish(&mut self, was_empty: &mut bool) {
        // A slot is never held for good, whatever the node makes of a lookup.
        self.running
            .retain(|_, r| r.started.elapsed() < Duration::from_secs(300));
        let (v4, v6) = self.node.table_sizes();
        let empty = v4 + v6 == 0;
        if *was_empty && !empty {
            info!(nodes = v4 + v6, "DHT bootstrapped");
        }
        *was_empty = empty;
        let new = DhtStats {
            nodes_v4: v4,
            nodes_v6: v6,
            lookups: self.running.len(),
            queued_lookups: self.pending.len(),
            peers_found: self.peers_found,
            announces: self.announces,
            query_rate: self.node.query_rate().round() as u64,
            sent: self.sent,
            received: self.received,
            stored: self.node.stored_peers(),
        };
        self.stats_tx.send_if_modified(|s| {
            let changed = *s != new;
            *s = new;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn task() -> (DhtTask, UdpEndpoint) {
        let udp = UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), utp::Config::default())
            .await
            .unwrap();
        let task = DhtTask::new(
            dht::Node::new(dht::Config::default(), std::time::Instant::now()),
            udp.sender(),
            mpsc::channel(1).1,
            mpsc::channel(1).1,
            watch::channel(DhtStats::default()).0,
        );
        (task, udp)
    }

    #[tokio::test]
    async fn the_query_rate_follows_the_number_of_announcing_torrents() {
        let (mut t, _udp) = task().await;
        let (peers, _rx) = mpsc::channel(1);
        let now = std::time::Instant::now();
        let announce = |t: &mut DhtTask, n: u32| {
            for i in 0..n {
                let mut h = [0u8; 20];
                h[..4].copy_from_slice(&i.to_be_bytes());
                t.on_command(DhtCommand::GetPeers {
                    info_hash: InfoHash(h),
                    announce: Some(6881),
                    urgent: false,
                    peers: peers.clone(),
                });
            }
        };
        // A few torrents: the base rate and 8 lookups at once.
        announce(&mut t, 100);
        t.fit_rate(now + RATE_REVIEW);
        assert_eq!((t.node.query_rate(), t.concurrent()), (50.0, 8));
        // 10,000 torrents at 24 queries an announce, every 25 minutes, 30 % spare: 208 a second.
        announce(&mut t, 10_000);
        t.fit_rate(now + 2 * RATE_REVIEW);
        assert_eq!(t.node.query_rate().round(), 208.0);
        assert_eq!(t.concurrent(), 33);
        // 110,000: capped.
        announce(&mut t, 100_000);
        t.fit_rate(now + 3 * RATE_REVIEW);
        assert_eq!((t.node.query_rate(), t.concurrent()), (400.0, 64));
        // Torrents that stopped asking are forgotten after two periods: back to the base.
        t.fit_rate(now + 2 * REANNOUNCE + Duration::from_secs(400));
        assert_eq!((t.node.query_rate(), t.concurrent()), (50.0, 8));
    }

    #[tokio::test]
    async fn lookups_queue_once_per_info_hash_and_urgent_ones_first() {
        let (mut t, _udp) = task().await;
        let (peers, _rx) = mpsc::channel(1);
        for (h, urgent) in [(1, false), (2, false), (1, false), (3, true), (2, true)] {
            t.on_command(DhtCommand::GetPeers {
                info_hash: InfoHash([h; 20]),
                announce: Some(6881),
                urgent,
                peers: peers.clone(),
            });
        }
        let order: Vec<u8> = t.pending.iter().map(|p| p.info_hash.0[0]).collect();
        assert_eq!(order, [2, 3, 1]);
        // nobody known: nothing starts and nothing is sent
        t.start_lookups();
        t.flush().await;
        assert!(t.running.is_empty());
        assert_eq!(t.sent, 0);
        let mut was_empty = true;
        t.publish(&mut was_empty);
        let s = *t.stats_tx.borrow();
        assert_eq!(
            (s.queued_lookups, s.sent, s.state()),
            (3, 0, "bootstrapping")
        );
    }
}
