//! The tracker server behind `btmirror tracker`: HTTP announce/scrape (BEP 3, 23, 48), the UDP
//! tracker protocol (BEP 15) on the same port number, an optional allowed dir, a statistics page
//! and persisted completed-download counts.
//!
//! Depends on `tracker` for the wire formats it shares with the client (bencoded answers,
//! compact peers, UDP packet layouts: [`tracker::wire`]), on `metainfo` and `bencode`; nothing
//! of the engine links it.
//!
//! Shape: one [`Swarms`](swarm::Swarms) table behind a `std::sync::Mutex` (never held across an
//! await), shared by the HTTP connection tasks, the UDP loops and one maintenance task (expiry
//! sweeps, allowed-dir rescans, state saves). A peer's IP is always the remote address of its
//! connection or datagram; the `ip` parameter is ignored, so nobody can point a swarm at a third
//! party (behind a reverse proxy every peer would get the proxy's address: don't proxy it).

mod allowed;
mod connid;
mod http;
pub mod query;
mod state;
mod stats;
mod swarm;
mod tasks;
mod udp;
mod write_deadline;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use metainfo::InfoHash;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use state::StateError;
pub use swarm::Limits;

use allowed::AllowedDir;
use connid::ConnIds;
use swarm::{Announce, AnnounceReply, Refusal, ScrapeFile, Stats, Swarms};

/// Most rows the statistics page and `/stats.json` list (totals still cover everything).
const MAX_STATS_ROWS: usize = 10_000;
/// Most torrents a scrape without `info_hash` reports.
const MAX_SCRAPE_ALL: usize = 1_000;

/// Settings for [`Server::bind`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen: TCP (HTTP) and UDP on the same address and port number. Port 0 picks a
    /// free port that is free for both.
    pub listen: SocketAddr,
    /// When set, only info-hashes of the valid `.torrent` files in this directory are tracked.
    pub allowed_dir: Option<PathBuf>,
    /// Where completed-download counts persist across restarts (none: not persisted).
    pub state_file: Option<PathBuf>,
    /// The `interval` told to clients; peers silent for two intervals are dropped.
    pub interval: Duration,
    /// The `min interval` told to HTTP clients.
    pub min_interval: Duration,
    /// Cap on `numwant` (the default, when a client does not ask, is 50 or this cap if lower).
    pub max_numwant: u32,
    /// Most HTTP connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// An HTTP connection whose answer cannot be written for this long (the client does not
    /// read) is closed.
    pub write_timeout: Duration,
    /// How often the allowed dir is rescanned (besides [`ReloadHandle::reload`]).
    pub rescan_interval: Duration,
    /// How often changed completed counts are written to the state file.
    pub save_interval: Duration,
    /// The swarm table's budgets: torrents, peers per swarm, per address and in total.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 6969)),
            allowed_dir: None,
            state_file: None,
            interval: Duration::from_secs(30 * 60),
            min_interval: Duration::from_secs(5 * 60),
            max_numwant: 200,
            max_connections: 1024,
            write_timeout: Duration::from_secs(10),
            rescan_interval: Duration::from_secs(30),
            save_interval: Duration::from_secs(5 * 60),
            limits: Limits::default(),
        }
    }
}

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCP or UDP socket could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The allowed dir could not be read.
    #[error("reading the allowed dir {}", dir.display())]
    AllowedDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but could not be loaded.
    #[error("loading the state file {}", path.display())]
    LoadState {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: StateError,
    },
    /// The state file could not be written.
    #[error("saving the state file {}", path.display())]
    SaveState {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: StateError,
    },
    /// The system random generator failed (connection-id key).
    #[error("the system random number generator failed")]
    Random,
    /// A blocking helper task panicked or was cancelled.
    #[error("a server task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// What the request handlers share: the swarm table and the fixed answers' parameters.
#[derive(Debug)]
pub(crate) struct Shared {
    swarms: Mutex<Swarms>,
    conn_ids: ConnIds,
    interval: Duration,
    min_interval: Duration,
    max_numwant: u32,
}

impl Shared {
    fn new(
        cfg: &ServerConfig,
        allowed: Option<std::collections::HashMap<InfoHash, Arc<str>>>,
    ) -> Result<Self, Error> {
        // Sub-second intervals only make sense in tests; clients are told at least 1 s.
        let interval = cfg.interval.max(Duration::from_millis(100));
        Ok(Shared {
            swarms: Mutex::new(Swarms::new(interval * 2, cfg.limits, allowed)),
            conn_ids: ConnIds::new(Instant::now()).map_err(|_| Error::Random)?,
            interval,
            min_interval: cfg.min_interval.min(interval),
            max_numwant: cfg.max_numwant,
        })
    }

    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        match Shared::new(&ServerConfig::default(), None) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// The table; a poisoned lock is taken over (every method leaves it consistent).
    fn swarms(&self) -> MutexGuard<'_, Swarms> {
        self.swarms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `interval` and `min interval` in whole seconds (at least 1) for the answers.
    fn interval_secs(&self) -> (u32, u32) {
        let secs = |d: Duration| u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX);
        (secs(self.interval), secs(self.min_interval))
    }

    /// How many peers to hand out for a request that asked for `wanted`.
    fn numwant(&self, wanted: Option<u32>) -> usize {
        let n = wanted.unwrap_or(50).min(self.max_numwant);
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    fn announce(&self, a: &Announce, now: Instant) -> Result<AnnounceReply, Refusal> {
        self.swarms().announce(a, now)
    }

    /// Scrape entries for `hashes` (all tracked torrents, capped, when empty); torrents that
    /// are not allowed are left out.
    fn scrape(&self, hashes: &[InfoHash], now: Instant) -> Vec<(InfoHash, ScrapeFile)> {
        let mut swarms = self.swarms();
        let all;
        let hashes = if hashes.is_empty() {
            all = swarms.scrape_all_keys(MAX_SCRAPE_ALL);
            &all[..]
        } else {
            hashes
        };
        hashes
            .iter()
            .filter_map(|ih| Some((*ih, swarms.scrape(ih, now)?)))
            .collect()
    }

    fn scrape_one(&self, ih: &InfoHash, now: Instant) -> Option<ScrapeFile> {
        self.swarms().scrape(ih, now)
    }

    fn stats(&self) -> Stats {
        let mut stats = self.swarms().stats();
        stats.sort_and_cap(MAX_STATS_ROWS);
        stats
    }
}

/// A bound tracker, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    cfg: ServerConfig,
    shared: Arc<Shared>,
    tcp: TcpListener,
    udp: Arc<UdpSocket>,
    local_addr: SocketAddr,
    allowed_dir: Option<AllowedDir>,
    reload: Arc<Notify>,
}

/// Triggers an allowed-dir rescan of a running server (what SIGHUP does). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReloadHandle {
    notify: Arc<Notify>,
}

impl ReloadHandle {
    /// Asks the server to rescan its allowed dir now (coalesced if one is already pending).
    pub fn reload(&self) {
        self.notify.notify_one();
    }
}

impl Server {
    /// Scans the allowed dir, loads the state file and binds TCP and UDP.
    pub async fn bind(cfg: ServerConfig) -> Result<Server, Error> {
        let (allowed_dir, allowed) = match &cfg.allowed_dir {
            Some(dir) => {
                let mut ad = AllowedDir::new(dir.clone());
                let (ad, res) = tokio::task::spawn_blocking(move || {
                    let r = ad.scan();
                    (ad, r)
                })
                .await
                .map_err(Error::Task)?;
                let set = res.map_err(|source| Error::AllowedDir {
                    dir: dir.clone(),
                    source,
                })?;
                tracing::info!(dir = %dir.display(), torrents = set.len(), "allowed dir scanned");
                (Some(ad), Some(set))
            }
            None => (None, None),
        };
        let shared = Shared::new(&cfg, allowed)?;
        if let Some(path) = cfg.state_file.clone() {
            let p = path.clone();
            let counts = tokio::task::spawn_blocking(move || state::load(&p))
                .await
                .map_err(Error::Task)?
                .map_err(|source| Error::LoadState { path, source })?;
            shared.swarms().load_downloaded(counts, Instant::now());
        }
        let (tcp, udp) = bind_pair(cfg.listen).await?;
        let local_addr = tcp.local_addr().map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;
        tracing::info!(%local_addr, "tracker listening (http and udp)");
        Ok(Server {
            cfg,
            shared: Arc::new(shared),
            tcp,
            udp: Arc::new(udp),
            local_addr,
            allowed_dir,
            reload: Arc::new(Notify::new()),
        })
    }

    /// The bound address (TCP and UDP share it).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that triggers allowed-dir rescans while the server runs.
    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle {
            notify: self.reload.clone(),
        }
    }

    /// Serves until `shutdown` is cancelled, then closes connections and saves the state file.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        tasks::run(self, shutdown).await
    }
}

/// Binds TCP and then UDP on the same port number; with port 0, retries until a port is free
/// for both.
async fn bind_pair(addr: SocketAddr) -> Result<(TcpListener, UdpSocket), Error> {
    let mut attempts = 0;
    loop {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = tcp
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        match UdpSocket::bind(local).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < 20 =>
            {
                attempts += 1;
            }
            Err(source) => {
                return Err(Error::Bind {
                    addr: local,
                    source,
                });
            }
        }
    }
}
