//! Starting from a magnet link: the info dictionary is fetched from peers with BEP 9
//! (`ut_metadata`) before the torrent can run.
//!
//! [`MetadataFetch`] is the handle; its task gathers peers (the magnet's `x.pe`, its trackers,
//! asked again with back-off while it has too few, and [`MetadataFetch::add_peers`]), talks
//! to a few of them at once (`exchange.rs`), and ends with the first info dictionary that
//! hashes to the info-hash (the v1 one, or for a `btmh`-only link the v2 one: the swarm is then
//! found under its first 20 bytes), wrapped in a `.torrent` with the magnet's trackers and web seeds.

mod exchange;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metainfo::InfoHash;
use metainfo::magnet::Magnet;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};
use tracker::client::{AnnounceRequest, Event, Tiers};

use crate::ctx::SessionCtx;

/// Peers asked for the metadata at the same time.
const PARALLEL_PEERS: usize = 4;
/// Tracker re-announces while the fetch has no peer to try: 1, 2, 4 … minutes, up to this.
const MAX_ANNOUNCE_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// How a metadata fetch is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchProgress {
    /// Peers known (tried or not).
    pub peers_known: usize,
    /// Peers being asked now.
    pub peers_active: usize,
    /// Peers that failed or sent bad metadata.
    pub peers_failed: usize,
    /// The last tracker error, `None` after a success.
    pub tracker_error: Option<String>,
}

/// Why a metadata fetch ended without metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The magnet has no info-hash (a parsed [`Magnet`] always has one).
    #[error("the magnet link has no info-hash")]
    NoHash,
    /// Stopped before the metadata arrived (shutdown or [`MetadataFetch::stop`]).
    #[error("the metadata fetch was stopped")]
    Stopped,
}

/// Commands to the fetch task.
#[derive(Debug)]
enum Command {
    AddPeers(Vec<SocketAddr>),
}

/// A running metadata fetch. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MetadataFetch {
    info_hash: InfoHash,
    magnet: Arc<Magnet>,
    cmd: mpsc::Sender<Command>,
    progress: watch::Receiver<FetchProgress>,
    result: watch::Receiver<Option<Result<Arc<Vec<u8>>, FetchError>>>,
    cancel: CancellationToken,
}

impl MetadataFetch {
    /// The torrent's info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The magnet link it started from.
    pub fn magnet(&self) -> &Magnet {
        &self.magnet
    }

    /// How it is doing.
    pub fn progress(&self) -> FetchProgress {
        self.progress.borrow().clone()
    }

    /// More peers to ask (from the DHT, PEX, a user).
    pub async fn add_peers(&self, addrs: Vec<SocketAddr>) {
        let _ = self.cmd.send(Command::AddPeers(addrs)).await;
    }

    /// Stops the fetch; [`wait`](Self::wait) then returns [`FetchError::Stopped`].
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// True once it ended (with metadata or not).
    pub fn is_finished(&self) -> bool {
        self.result.borrow().is_some()
    }

    /// Waits for the end: the `.torrent` file's bytes (the fetched info dictionary with the
    /// magnet's trackers and web seeds; its info-hash is the magnet's), or why not.
    pub async fn wait(&self) -> Result<Arc<Vec<u8>>, FetchError> {
        let mut rx = self.result.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or(Err(FetchError::Stopped)),
            Err(_) => Err(FetchError::Stopped),
        }
    }
}

/// Starts fetching the metadata of `magnet`.
pub(crate) fn spawn(
    ctx: Arc<SessionCtx>,
    magnet: Magnet,
    cancel: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<MetadataFetch, FetchError> {
    let info_hash = magnet.swarm_hash().ok_or(FetchError::NoHash)?;
    let magnet = Arc::new(magnet);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (progress_tx, progress) = watch::channel(FetchProgress::default());
    let (result_tx, result) = watch::channel(None);
    let fetch = FetchTask {
        ctx,
        info_hash,
        magnet: magnet.clone(),
        cmd_rx,
        progress_tx,
        cancel: cancel.clone(),
        known: HashSet::new(),
        queue: VecDeque::new(),
        failed: 0,
        tasks: tasks.clone(),
    };
    let name = magnet.name.clone().unwrap_or_default();
    let span = tracing::info_span!("metadata", %name, hash = %&info_hash.to_hex()[..8]);
    crate::spawn::spawn_in(tasks, "metadata fetch", span, async move {
        let r = fetch.run().await;
        result_tx.send_replace(Some(r));
    });
    Ok(MetadataFetch {
        info_hash,
        magnet,
        cmd: cmd_tx,
        progress,
        result,
        cancel,
    })
}

/// The task's state.
struct FetchTask {
    ctx: Arc<SessionCtx>,
    info_hash: InfoHash,
    magnet: Arc<Magnet>,
    cmd_rx: mpsc::Receiver<Command>,
    progress_tx: watch::Sender<FetchProgress>,
    cancel: CancellationToken,
    known: HashSet<SocketAddr>,
    queue: VecDeque<SocketAddr>,
    failed: usize,
    tasks: tokio_util::task::TaskTracker,
}

type Exchange = (SocketAddr, Result<Vec<u8>, exchange::ExchangeError>);

impl FetchTask {
    async fn run(mut self) -> Result<Arc<Vec<u8>>, FetchError> {
        self.add(self.magnet.peers.clone());
        let trackers: Vec<Vec<String>> = self
            .magnet
            .trackers
            .iter()
            .map(|t| vec![t.clone()])
            .collect();
        let mut tiers = Tiers::new(trackers);
        let (peers_tx, mut peers_rx) = mpsc::channel(8);
        let (err_tx, mut err_rx) = watch::channel(None);
        let announcer = (!tiers.is_empty()).then(|| {
            let req = self.announce_request();
            let ctx = self.ctx.clone();
            let cancel = self.cancel.clone();
            let span = tracing::Span::current();
            crate::spawn::spawn_in(&self.tasks, "metadata announce", span, async move {
                announce_while_fetching(&ctx, &mut tiers, req, peers_tx, err_tx, cancel).await;
            })
        });
        let mut active: JoinSet<Exchange> = JoinSet::new();
        // BEP 5: a public magnet also looks for peers in the DHT, at once and then after 20 s,
        // 40 s … up to 5 minutes while the metadata is missing.
        let (dht_tx, mut dht_rx) = mpsc::channel(16);
        let mut next_dht = tokio::time::Instant::now();
        let mut dht_step = crate::dht_node::STARVING_STEP;
        let result = loop {
            self.dial_some(&mut active);
            self.publish(active.len(), err_rx.borrow().clone());
            let dht_due = async {
                match &self.ctx.dht {
                    Some(_) => tokio::time::sleep_until(next_dht).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.cancel.cancelled() => break Err(FetchError::Stopped),
                () = dht_due => {
                    if let Some(d) = &self.ctx.dht {
                        d.get_peers(self.info_hash, None, true, dht_tx.clone());
                    }
                    next_dht = tokio::time::Instant::now() + dht_step;
                    dht_step = (dht_step * 2).min(Duration::from_secs(300));
                }
                Some(peers) = dht_rx.recv() => self.add(peers),
                Some(cmd) = self.cmd_rx.recv() => match cmd {
                    Command::AddPeers(a) => self.add(a),
                },
                Some(peers) = peers_rx.recv() => self.add(peers),
                Ok(()) = err_rx.changed() => {}
                Some(done) = active.join_next(), if !active.is_empty() => match done {
                    Ok((addr, Ok(info))) => {
                        info!(%addr, bytes = info.len(), "metadata fetched");
                        break Ok(Arc::new(metainfo::torrent_from_metadata(&info, &self.magnet)));
                    }
                    Ok((addr, Err(e))) => {
                        debug!(%addr, error = %crate::error_chain(&e), "no metadata from this peer");
                        self.failed += 1;
                    }
                    Err(e) => {
                        debug!(error = %e, "metadata exchange task failed");
                        self.failed += 1;
                    }
                },
            }
        };
        active.shutdown().await;
        if let Some(a) = announcer {
            a.abort();
        }
        result
    }

    fn add(&mut self, addrs: Vec<SocketAddr>) {
        for a in addrs {
            let a = SocketAddr::new(a.ip().to_canonical(), a.port());
            if a.port() != 0 && a != self.ctx.listen_addr && self.known.insert(a) {
                self.queue.push_back(a);
            }
        }
    }

    fn dial_some(&mut self, active: &mut JoinSet<Exchange>) {
        while active.len() < PARALLEL_PEERS
            && let Some(addr) = self.queue.pop_front()
        {
            let hash = exchange::Wanted {
                info_hash: self.info_hash,
                v2: match self.magnet.info_hash {
                    Some(_) => None,
                    None => self.magnet.info_hash_v2,
                },
            };
            let (id, port) = (self.ctx.peer_id, self.ctx.announce_port);
            let ctx = self.ctx.clone();
            active.spawn(async move {
                let r = exchange::fetch_from(addr, hash, id, port, &ctx).await;
                (addr, r)
            });
        }
    }

    fn publish(&self, active: usize, tracker_error: Option<String>) {
        self.progress_tx.send_if_modified(|p| {
            let new = FetchProgress {
                peers_known: self.known.len(),
                peers_active: active,
                peers_failed: self.failed,
                tracker_error,
            };
            let changed = *p != new;
            *p = new;
            changed
        });
    }

    fn announce_request(&self) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.ctx.peer_id,
            port: self.ctx.announce_port,
            uploaded: 0,
            downloaded: 0,
            // Unknown until the metadata is in; any positive number says "leecher".
            left: 1,
            event: Event::Started,
            numwant: Some(80),
            key: fastrand::u32(..),
        }
    }
}

/// Announces, then again after 1, 2, 4 … minutes (never below the tracker's `min interval`,
/// at most its `interval`) until cancelled: a fetch is always starving for peers.
async fn announce_while_fetching(
    ctx: &SessionCtx,
    tiers: &mut Tiers,
    mut req: AnnounceRequest,
    peers: mpsc::Sender<Vec<SocketAddr>>,
    errors: watch::Sender<Option<String>>,
    cancel: CancellationToken,
) {
    let mut step = Duration::from_secs(60);
    loop {
        let delay = match Box::pin(tiers.announce(&ctx.tracker, &req)).await {
            Ok((url, resp)) => {
                debug!(%url, peers = resp.peers.len(), "announced for metadata");
                errors.send_replace(None);
                req.event = Event::None;
                let _ = peers.send(resp.peers).await;
                let floor = resp.min_interval.unwrap_or(Duration::ZERO);
                step.max(floor).min(resp.interval.max(floor))
            }
            Err(e) => {
                errors.send_replace(Some(e.to_string()));
                step
            }
        };
        step = (step * 2).min(MAX_ANNOUNCE_BACKOFF);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
