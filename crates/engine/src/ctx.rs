//! What a session and its torrents share: the settings the binary passes in ([`SessionConfig`],
//! [`AddOptions`]) and the context every torrent task holds ([`SessionCtx`]). It depends on no
//! other engine module except the rate limiter, the budgets and the leaf modules `encryption`,
//! `transport`, `udp` and `dht_node`, so session, torrent, peer and announcer code all
//! import it without importing each other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metainfo::{Bitfield, PeerId};
use storage::FdCache;
use tokio::sync::Semaphore;

use crate::addr_limit::AddrLimits;
use crate::budget::ByteBudget;
use crate::dht_node::DhtHandle;
use crate::encryption::{EncryptionPolicy, SetupCounters};
use crate::ratelimit::RateLimiter;
use crate::read_cache::ReadCache;
use crate::transport::Transports;
use crate::udp::UdpEndpoint;

/// Session-wide settings.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Where to listen for peers (port 0 = any free port).
    pub listen: SocketAddr,
    /// Port to announce to trackers when it differs from the listen port (port forwarding).
    pub announce_port: Option<u16>,
    /// Open peer connections across all torrents.
    pub max_connections: usize,
    /// Open peer connections per torrent.
    pub max_peers_per_torrent: usize,
    /// Regular unchoke slots per torrent (plus one optimistic).
    pub upload_slots: usize,
    /// Global upload limit in bytes/s (0 = unlimited).
    pub max_upload_rate: u64,
    /// Global download limit in bytes/s (0 = unlimited).
    pub max_download_rate: u64,
    /// Torrents checking their data at the same time.
    pub check_concurrency: usize,
    /// Threads one data check uses.
    pub check_threads: usize,
    /// Pieces hashed at once while downloading.
    pub verify_concurrency: usize,
    /// Bytes of piece buffers one downloading torrent may hold (pieces being received, hashed
    /// and written); at least one piece. When the disk lags no new piece is started.
    pub piece_buffer_bytes: usize,
    /// Bytes of whole pieces cached for uploading, shared by all torrents of the session.
    pub read_cache_bytes: usize,
    /// Piece reads from disk for uploading in flight at once, across the session (each peer
    /// also has at most a few in flight; more wanted pieces get a read-ahead hint meanwhile).
    pub max_disk_reads: usize,
    /// Open data files across all torrents.
    pub max_open_files: usize,
    /// How often trackers are asked for peers at least (their `interval` is used when shorter).
    pub max_announce_interval: Duration,
    /// How often connected peers are told about our other peers (BEP 11; never for private
    /// torrents).
    pub pex_interval: Duration,
    /// A peer that sends nothing for this long is dropped.
    pub peer_idle_timeout: Duration,
    /// How long an incoming connection may take to send the first 48 bytes of its handshake
    /// (its MSE handshake, if any, included).
    pub handshake_timeout: Duration,
    /// Open connections one IP address may hold (incoming, across torrents).
    pub max_connections_per_ip: usize,
    /// Incoming connections from one IP address that have not sent their handshake yet.
    pub max_half_open_per_ip: usize,
    /// Bytes of queued upload blocks one connection may pin; its further requests wait.
    pub peer_upload_buffer: usize,
    /// Bytes the read caches and upload queues of the whole process may hold together.
    pub upload_memory: usize,
    /// Download from the web seeds (BEP 19 `url-list`, BEP 17 `httpseeds`) of torrents.
    pub web_seeds: bool,
    /// Web seeds one torrent fetches from at once.
    pub max_web_seeds_per_torrent: usize,
    /// Web seed requests across all torrents at once.
    pub max_web_seed_requests: usize,
    /// A web seed request with no data for this long fails (and the web seed backs off).
    pub web_seed_timeout: Duration,
    /// Message Stream Encryption (MSE/PE) of peer connections, both ways.
    pub encryption: EncryptionPolicy,
    /// Which transports peers are accepted and dialled over.
    pub transports: Transports,
    /// uTP settings for the shared UDP socket.
    pub utp: utp::Config,
    /// A download with fewer connected peers than [`STARVING_PEERS`](crate::STARVING_PEERS)
    /// asks its trackers again after this long, then after twice as long, and so on (never
    /// below the tracker's `min interval`, never beyond its `interval`).
    pub starving_reannounce: Duration,
    /// Run a DHT node (BEP 5, BEP 32) on the shared UDP socket: public torrents announce to it
    /// and look for peers there; private torrents (BEP 27) never use it.
    pub dht: bool,
    /// DHT nodes to bootstrap from, `host:port` (resolved at start). **Empty by default**: the
    /// public routers are the daemon's default, never the engine's, so a session built from
    /// `SessionConfig::default()` sends no DHT datagram until it is told of a node.
    pub dht_bootstrap: Vec<String>,
    /// DHT nodes saved from an earlier run, tried first.
    pub dht_nodes: Vec<SocketAddr>,
    /// Our public IP as the DHT reported it at an earlier run: the node id is a BEP 42 id for
    /// it from the start (see [`crate::DhtSaved`]).
    pub dht_external_ip: Option<std::net::IpAddr>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            announce_port: None,
            max_connections: 500,
            max_peers_per_torrent: 50,
            upload_slots: 8,
            max_upload_rate: 0,
            max_download_rate: 0,
            check_concurrency: 1,
            check_threads: cpus,
            verify_concurrency: cpus,
            piece_buffer_bytes: 32 << 20,
            read_cache_bytes: 64 << 20,
            max_disk_reads: 32,
            max_open_files: 256,
            max_announce_interval: Duration::from_secs(30 * 60),
            pex_interval: Duration::from_secs(60),
            peer_idle_timeout: Duration::from_secs(180),
            handshake_timeout: Duration::from_secs(5),
            max_connections_per_ip: 16,
            max_half_open_per_ip: 8,
            peer_upload_buffer: 1 << 20,
            upload_memory: 256 << 20,
            web_seeds: true,
            max_web_seeds_per_torrent: 4,
            max_web_seed_requests: 32,
            web_seed_timeout: Duration::from_secs(30),
            encryption: EncryptionPolicy::default(),
            transports: Transports::default(),
            utp: utp::Config::default(),
            starving_reannounce: Duration::from_secs(60),
            dht: true,
            dht_bootstrap: Vec::new(),
            dht_nodes: Vec::new(),
            dht_external_ip: None,
        }
    }
}

/// Per-torrent options when adding it.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// Pieces known to be present (trusted resume data): skips the initial data check.
    pub have: Option<Bitfield>,
    /// Upload limit for this torrent in bytes/s (0 = unlimited).
    pub max_upload_rate: u64,
    /// Download limit for this torrent in bytes/s (0 = unlimited).
    pub max_download_rate: u64,
    /// Limits this torrent's data check together with the other torrents sharing the semaphore
    /// (the daemon uses one per file system); `None` uses the session's `check_concurrency`.
    pub check_limit: Option<Arc<Semaphore>>,
    /// Web seeds of the operator's own, used besides the torrent's `url-list` (base URLs: a
    /// URL ending in `/` gets the torrent's name appended).
    pub extra_web_seeds: Vec<String>,
}

/// What torrents share, handed to each torrent task.
#[derive(Debug)]
pub(crate) struct SessionCtx {
    pub peer_id: PeerId,
    pub listen_addr: SocketAddr,
    /// Our own IP addresses: the listen address's, or every interface's when listening on
    /// all of them (`::`), so that a tracker handing back our address is not dialled.
    pub local_ips: Arc<std::collections::HashSet<std::net::IpAddr>>,
    /// The shared UDP socket on the listen port (uTP, later the DHT).
    pub udp: UdpEndpoint,
    /// The DHT task, when `SessionConfig::dht` is on.
    pub dht: Option<DhtHandle>,
    pub announce_port: u16,
    pub tracker: tracker::Client,
    pub files: Arc<FdCache>,
    pub conn_limit: Arc<Semaphore>,
    /// Connections and half-open handshakes per incoming address.
    pub addr_limits: Arc<AddrLimits>,
    /// Read caches and queued upload blocks of all torrents, in bytes.
    pub upload_budget: Arc<ByteBudget>,
    pub check_limit: Arc<Semaphore>,
    pub verify_limit: Arc<Semaphore>,
    /// Bounds the session's disk reads for uploading (`SessionConfig::max_disk_reads`).
    pub read_limit: Arc<Semaphore>,
    /// Whole pieces read for uploading, all torrents under one budget.
    pub read_cache: Arc<ReadCache>,
    pub up: Arc<RateLimiter>,
    pub down: Arc<RateLimiter>,
    /// The HTTP client of the web seeds (pooled, keep-alive).
    pub web_http: reqwest::Client,
    /// Web seed requests across all torrents (`max_web_seed_requests`).
    pub web_seed_limit: Arc<Semaphore>,
    pub cfg: SessionConfig,
    /// When each distinct error message was last logged as a warning (see `first_report`).
    pub reported: Mutex<HashMap<String, std::time::Instant>>,
    /// How connection set-ups went (plaintext, MSE, refused, failed).
    pub setups: SetupCounters,
}

impl SessionCtx {
    /// True when `msg` was not reported in the last ten minutes by any torrent (and records it):
    /// the same failure shared by many torrents is logged once.
    pub(crate) fn first_report(&self, msg: &str) -> bool {
        let Ok(mut map) = self.reported.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        map.retain(|_, t| now.duration_since(*t) < Duration::from_secs(600));
        if map.contains_key(msg) {
            return false;
        }
        if map.len() < 1000 {
            map.insert(msg.to_owned(), now);
        }
        true
    }
}
