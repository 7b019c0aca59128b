//! The torrent task: checks the data, then runs the swarm — peer table, connections, choking,
//! stats — until stopped.

mod connect;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use metainfo::{Metainfo, PeerId};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::Command;
use super::event::Event;
use super::shared::TorrentShared;
use crate::PeerKey;
use crate::announce::{Announcer, Progress};
use crate::choker::{ChokeView, Choker, RECHOKE_INTERVAL};
use crate::ctx::SessionCtx;
use crate::error::{PeerError, TorrentError, error_chain};
use crate::peer::{PeerCommand, PeerCounters};
use crate::stats::{TorrentState, TorrentStats};

/// Dialing a peer and exchanging handshakes may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Peer addresses that failed this often are forgotten.
const MAX_CONNECT_FAILURES: u32 = 5;
/// How often a busy torrent updates rates, connects peers and publishes stats.
const TICK: Duration = Duration::from_secs(1);
/// The same for an idle torrent (no peers, nothing to connect to).
const IDLE_TICK: Duration = Duration::from_secs(15);
/// A peer whose data failed this many hash checks is banned (at once when it was the only source).
const MAX_STRIKES: u32 = 3;

struct PeerEntry {
    addr: SocketAddr,
    peer_id: PeerId,
    cmd: mpsc::UnboundedSender<PeerCommand>,
    counters: Arc<PeerCounters>,
    am_choking: bool,
    rate_down: u64,
    rate_up: u64,
    last_down: u64,
    last_up: u64,
    dial_addr: Option<SocketAddr>,
    /// Where the peer accepts connections (the dial address, or its BEP 10 `p` for inbound).
    listen_addr: Option<SocketAddr>,
    /// It speaks `ut_pex`.
    pex: bool,
    /// The addresses we last told it about.
    pex_sent: HashSet<SocketAddr>,
}

#[derive(Default)]
struct Candidate {
    failures: u32,
    next_try: Option<Instant>,
    connected: bool,
    is_seed: bool,
}

pub(crate) struct TorrentTask {
    ctx: Arc<SessionCtx>,
    meta: Arc<Metainfo>,
    shared: Arc<TorrentShared>,
    cmd_rx: mpsc::Receiver<Command>,
    events_rx: mpsc::Receiver<Event>,
    stats_tx: watch::Sender<TorrentStats>,
    cancel: CancellationToken,
    peers_cancel: CancellationToken,
    /// The session's task tree (the announcer runs there).
    tasks: TaskTracker,
    peer_tasks: TaskTracker,
    peers: HashMap<PeerKey, PeerEntry>,
    next_key: PeerKey,
    candidates: HashMap<SocketAddr, Candidate>,
    queue: VecDeque<SocketAddr>,
    connecting: usize,
    banned_addrs: HashSet<SocketAddr>,
    banned_ids: HashSet<PeerId>,
    strikes: HashMap<PeerId, u32>,
    choker: Choker,
    rng: fastrand::Rng,
    state: TorrentState,
    error: Option<String>,
    hash_failures: u32,
    rate_down: u64,
    rate_up: u64,
    last_totals: (u64, u64),
    progress_tx: watch::Sender<Progress>,
    completed_tx: watch::Sender<bool>,
    /// The fsync after the last piece is running.
    syncing: bool,
    tracker_error: Option<watch::Receiver<Option<String>>>,
    next_pex: Instant,
    next_rechoke: Instant,
}

/// What the torrent task is built from, once the data check is done.
pub(crate) struct TaskParts {
    pub meta: Arc<Metainfo>,
    pub shared: Arc<TorrentShared>,
    pub cmd_rx: mpsc::Receiver<Command>,
    pub events_rx: mpsc::Receiver<Event>,
    pub stats_tx: watch::Sender<TorrentStats>,
    pub cancel: CancellationToken,
    /// The session's task tree, for the announcer.
    pub tasks: TaskTracker,
}

impl TorrentTask {
    pub(crate) fn new(parts: TaskParts) -> Self {
        let TaskParts {
            meta,
            shared,
            cmd_rx,
            events_rx,
            stats_tx,
            cancel,
            tasks,
        } = parts;
        let complete = shared.picker().is_complete();
        let peers_cancel = cancel.child_token();
        Self {
            ctx: shared.ctx.clone(),
            meta,
            shared,
            cmd_rx,
            events_rx,
            stats_tx,
            cancel,
            peers_cancel,
            tasks,
            peer_tasks: TaskTracker::new(),
            peers: HashMap::new(),
            next_key: 1,
            candidates: HashMap::new(),
            queue: VecDeque::new(),
            connecting: 0,
            banned_addrs: HashSet::new(),
            banned_ids: HashSet::new(),
            strikes: HashMap::new(),
            choker: Choker::new(),
            rng: fastrand::Rng::new(),
            state: if complete {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            },
            error: None,
            hash_failures: 0,
            rate_down: 0,
            rate_up: 0,
            last_totals: (0, 0),
            progress_tx: watch::channel(Progress::default()).0,
            completed_tx: watch::channel(complete).0,
            syncing: false,
            tracker_error: None,
            next_pex: Instant::now() + Duration::from_secs(1),
            next_rechoke: Instant::now() + RECHOKE_INTERVAL,
        }
    }

    /// Runs the swarm until the torrent is stopped, then winds it down.
    pub(crate) async fn run(mut self) {
        self.update_progress();
        let (peers_tx, mut peers_rx) = mpsc::channel(16);
        let announcer = Announcer::spawn(
            &self.tasks,
            self.ctx.clone(),
            self.meta.clone(),
            self.progress_tx.subscribe(),
            self.completed_tx.subscribe(),
            peers_tx,
        );
        self.tracker_error = Some(announcer.error.clone());
        self.publish();
        // A busy torrent ticks every second; an idle one (seeding, nobody connected) only every
        // IDLE_TICK, so thousands of idle torrents cost next to no CPU.
        let mut next_tick = Instant::now() + TICK;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                Some(cmd) = self.cmd_rx.recv() => self.on_command(cmd),
                Some(ev) = self.events_rx.recv() => self.on_event(ev).await,
                Some(addrs) = peers_rx.recv() => self.add_candidates(addrs),
                _ = tokio::time::sleep_until(next_tick) => {
                    self.on_tick();
                    self.publish();
                    next_tick = Instant::now() + if self.is_idle() { IDLE_TICK } else { TICK };
                }
            }
            next_tick =
                next_tick.min(Instant::now() + if self.is_idle() { IDLE_TICK } else { TICK });
        }
        self.finish(Some(announcer)).await;
    }

    fn fail(&mut self, e: &TorrentError) {
        if self.state == TorrentState::Error {
            return; // the first error is the one worth reporting
        }
        let msg = error_chain(e);
        warn!(error = %msg, "torrent stopped by an error");
        self.state = TorrentState::Error;
        self.error = Some(msg);
        self.peers_cancel.cancel();
        self.publish();
    }

    async fn finish(&mut self, announcer: Option<Announcer>) {
        self.peers_cancel.cancel();
        self.peer_tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.peer_tasks.wait()).await;
        // Let verify/write jobs finish so no good piece is lost, then drain their verdicts.
        self.shared.jobs.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.shared.jobs.wait()).await;
        while let Ok(ev) = self.events_rx.try_recv() {
            match ev {
                Event::PieceVerified { index, result, .. } => {
                    self.shared
                        .picker()
                        .piece_done(index, matches!(result, Ok(true)));
                }
                Event::Synced(Ok(())) => {
                    self.completed_tx.send_replace(true);
                }
                _ => {}
            }
        }
        self.update_progress();
        if let Some(a) = announcer {
            a.stop().await;
        }
        let storage = self.shared.storage.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let r = storage.sync();
            storage.close();
            r
        })
        .await;
        if self.state != TorrentState::Error {
            self.state = TorrentState::Paused;
        }
        self.peers.clear();
        self.publish();
        debug!(torrent = %self.meta.info.name, "torrent stopped");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Incoming(inc) => self.on_incoming(inc),
            Command::SetRateLimits { upload, download } => {
                self.shared.up.set_rate(upload);
                self.shared.down.set_rate(download);
            }
            Command::AddPeers(addrs) => self.add_candidates(addrs),
        }
    }

    fn accepting(&self) -> bool {
        matches!(
            self.state,
            TorrentState::Downloading | TorrentState::Seeding
        )
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Handshaken(r) => self.on_ready(r),
            Event::ConnectFailed(addr) => {
                self.connecting = self.connecting.saturating_sub(1);
                self.connect_failed(addr);
            }
            Event::InterestChanged(key) => self.on_interest(key),
            Event::Closed { key, reason } => self.on_closed(key, reason.as_ref()),
            Event::PieceVerified {
                index,
                result,
                contributors,
                buffer,
            } => {
                self.on_verified(index, result, contributors);
                self.shared.picker().recycle(buffer);
            }
            Event::CancelElsewhere { from, req } => {
                for (k, p) in &self.peers {
                    if *k != from {
                        let _ = p.cmd.send(PeerCommand::Cancel(req));
                    }
                }
            }
            Event::Extensions {
                key,
                listen_port,
                pex,
            } => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.pex = pex;
                    if p.dial_addr.is_none() {
                        p.listen_addr = listen_port.map(|port| SocketAddr::new(p.addr.ip(), port));
                    }
                }
            }
            Event::Pex(addrs) => {
                debug!(peers = addrs.len(), "peers from peer exchange");
                if !self.shared.info.private {
                    self.add_candidates(addrs);
                }
            }
            // The data changed under us (a file deleted or truncated by someone else): stop
            // with the reason rather than serve errors; whoever restarts the torrent (the
            // daemon does after a while) checks the data again and downloads what is missing.
            Event::ReadFailed(e) => self.fail(&e),
            Event::Synced(result) => self.on_synced(result),
        }
    }

    fn unchoked_count(&self) -> usize {
        self.peers.values().filter(|p| !p.am_choking).count()
    }

    fn on_interest(&mut self, key: PeerKey) {
        let slots = self.ctx.cfg.upload_slots + 1;
        let unchoked = self.unchoked_count();
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let interested = p.counters.peer_interested.load(Ordering::Relaxed);
        if interested && p.am_choking && unchoked < slots {
            p.am_choking = false;
            let _ = p.cmd.send(PeerCommand::Unchoke);
        } else if !interested && !p.am_choking {
            p.am_choking = true;
            let _ = p.cmd.send(PeerCommand::Choke);
        }
    }

    fn on_closed(&mut self, key: PeerKey, reason: Option<&PeerError>) {
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        let reason = reason.map_or_else(|| "stopped".to_string(), |e| error_chain(e));
        debug!(addr = %p.addr, reason, "peer disconnected");
        if let Some(c) = p.dial_addr.and_then(|a| self.candidates.get_mut(&a)) {
            c.connected = false;
            c.is_seed = p.counters.is_seed.load(Ordering::Relaxed);
            c.next_try = Some(Instant::now() + Duration::from_secs(30));
        }
        if !p.am_choking {
            self.fill_free_slots();
        }
    }

    fn fill_free_slots(&mut self) {
        let slots = self.ctx.cfg.upload_slots + 1;
        let mut unchoked = self.unchoked_count();
        for p in self.peers.values_mut() {
            if unchoked >= slots {
                break;
            }
            if p.am_choking && p.counters.peer_interested.load(Ordering::Relaxed) {
                p.am_choking = false;
                unchoked += 1;
                let _ = p.cmd.send(PeerCommand::Unchoke);
            }
        }
    }

    fn on_verified(
        &mut self,
        index: u32,
        result: Result<bool, TorrentError>,
        contributors: Vec<PeerKey>,
    ) {
        match result {
            Ok(true) => {
                let complete = {
                    let mut picker = self.shared.picker();
                    picker.piece_done(index, true);
                    picker.is_complete()
                };
                for p in self.peers.values() {
                    let _ = p.cmd.send(PeerCommand::Have(index));
                }
                if complete && self.state == TorrentState::Downloading && !self.syncing {
                    self.on_complete();
                }
            }
            Ok(false) => {
                self.shared.picker().piece_done(index, false);
                self.hash_failures += 1;
                self.strike(index, &contributors);
            }
            Err(e) => {
                self.shared.picker().piece_done(index, false);
                self.fail(&e);
            }
        }
        self.update_progress();
    }

    /// Every piece is in: fsync the data as a job (the loop goes on meanwhile); seeding starts
    /// when it reports back.
    fn on_complete(&mut self) {
        self.syncing = true;
        let storage = self.shared.storage.clone();
        let events = self.shared.events.clone();
        self.shared.jobs.spawn(async move {
            let r = match tokio::task::spawn_blocking(move || storage.sync()).await {
                Ok(r) => r.map_err(TorrentError::Sync),
                // A panicked blocking task leaves the data as it is: seed it anyway.
                Err(_) => Ok(()),
            };
            let _ = events.send(Event::Synced(r)).await;
        });
    }

    fn on_synced(&mut self, result: Result<(), TorrentError>) {
        self.syncing = false;
        if let Err(e) = result {
            self.fail(&e);
            return;
        }
        if self.state != TorrentState::Downloading {
            return;
        }
        info!(torrent = %self.meta.info.name, "download complete, seeding");
        self.state = TorrentState::Seeding;
        self.completed_tx.send_replace(true);
        self.publish();
    }

    fn strike(&mut self, index: u32, contributors: &[PeerKey]) {
        let sole = contributors.len() == 1;
        for key in contributors {
            let Some(p) = self.peers.get(key) else {
                continue;
            };
            let strikes = self.strikes.entry(p.peer_id).or_insert(0);
            *strikes += 1;
            warn!(addr = %p.addr, piece = index, strikes = *strikes, "piece failed its hash check");
            if sole || *strikes >= MAX_STRIKES {
                warn!(addr = %p.addr, "banned peer after hash failures");
                self.banned_ids.insert(p.peer_id);
                if let Some(a) = p.dial_addr {
                    self.banned_addrs.insert(a);
                }
                let _ = p
                    .cmd
                    .send(PeerCommand::Close(PeerError::BannedAfterHashFailures));
            }
        }
    }

    /// Nothing to do until something happens: no peers, no connection attempts, no traffic.
    fn is_idle(&self) -> bool {
        self.peers.is_empty()
            && self.connecting == 0
            && self.queue.is_empty()
            && self.rate_up == 0
            && self.rate_down == 0
    }

    fn on_tick(&mut self) {
        // Rates (bytes/s), smoothed.
        for p in self.peers.values_mut() {
            let down = p.counters.downloaded.load(Ordering::Relaxed);
            let up = p.counters.uploaded.load(Ordering::Relaxed);
            p.rate_down = smooth(p.rate_down, down - p.last_down);
            p.rate_up = smooth(p.rate_up, up - p.last_up);
            p.last_down = down;
            p.last_up = up;
        }
        let (up, down) = self.shared.transferred();
        self.rate_up = smooth(self.rate_up, up - self.last_totals.0);
        self.rate_down = smooth(self.rate_down, down - self.last_totals.1);
        self.last_totals = (up, down);
        self.update_progress();

        let now = Instant::now();
        if now >= self.next_pex && !self.shared.info.private {
            self.next_pex = now + self.ctx.cfg.pex_interval;
            self.send_pex();
        }
        if now >= self.next_rechoke {
            self.next_rechoke = now + RECHOKE_INTERVAL;
            self.rechoke();
            self.shared.cache.evict_idle();
        }
        // Retry candidates whose back-off expired.
        for (addr, c) in self.candidates.iter_mut() {
            if !c.connected && c.next_try.is_some_and(|t| t <= now) {
                c.next_try = None;
                self.queue.push_back(*addr);
            }
        }
        self.connect_some();
    }

    /// BEP 11: tells every `ut_pex` peer which of our peers it has not heard about from us, and
    /// which are gone.
    fn send_pex(&mut self) {
        let current: HashSet<SocketAddr> =
            self.peers.values().filter_map(|p| p.listen_addr).collect();
        for p in self.peers.values_mut().filter(|p| p.pex) {
            let added: Vec<SocketAddr> = current
                .iter()
                .filter(|a| !p.pex_sent.contains(*a) && Some(**a) != p.listen_addr)
                .take(50)
                .copied()
                .collect();
            let dropped: Vec<SocketAddr> = p
                .pex_sent
                .iter()
                .filter(|a| !current.contains(*a))
                .take(50)
                .copied()
                .collect();
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            for a in &added {
                p.pex_sent.insert(*a);
            }
            for a in &dropped {
                p.pex_sent.remove(a);
            }
            debug!(addr = %p.addr, added = added.len(), dropped = dropped.len(), "sending peer exchange");
            let _ = p
                .cmd
                .send(PeerCommand::Pex(wire::PexMessage { added, dropped }));
        }
    }

    fn rechoke(&mut self) {
        let seeding = self.state == TorrentState::Seeding;
        let views: Vec<ChokeView> = self
            .peers
            .iter()
            .map(|(k, p)| ChokeView {
                key: *k,
                interested: p.counters.peer_interested.load(Ordering::Relaxed),
                rate: if seeding { p.rate_up } else { p.rate_down },
                snubbed: !seeding && p.counters.snubbed.load(Ordering::Relaxed),
                unchoked: !p.am_choking,
            })
            .collect();
        let unchoke = self
            .choker
            .rechoke(&views, self.ctx.cfg.upload_slots, &mut self.rng);
        for (k, p) in self.peers.iter_mut() {
            let want_choked = !unchoke.contains(k);
            if want_choked != p.am_choking {
                p.am_choking = want_choked;
                let _ = p.cmd.send(if want_choked {
                    PeerCommand::Choke
                } else {
                    PeerCommand::Unchoke
                });
            }
        }
    }

    fn update_progress(&self) {
        let (uploaded, downloaded) = self.shared.transferred();
        let left = self.shared.picker().bytes_left();
        self.progress_tx.send_replace(Progress {
            uploaded,
            downloaded,
            left,
        });
    }

    fn publish(&self) {
        let (uploaded, downloaded) = self.shared.transferred();
        let (have_count, left) = {
            let p = self.shared.picker();
            (p.have().count(), p.bytes_left())
        };
        let size = self.shared.info.total_length;
        let tracker_error = self.tracker_error.as_ref().and_then(|e| e.borrow().clone());
        self.stats_tx.send_if_modified(|s| {
            let before = s.clone();
            s.state = self.state;
            s.progress = if size == 0 {
                1.0
            } else {
                (size - left) as f64 / size as f64
            };
            s.have_bytes = size - left;
            s.pieces_have = have_count;
            s.downloaded = downloaded;
            s.uploaded = uploaded;
            s.download_rate = self.rate_down;
            s.upload_rate = self.rate_up;
            s.peers = self.peers.len() as u32;
            s.seeds = self
                .peers
                .values()
                .filter(|p| p.counters.is_seed.load(Ordering::Relaxed))
                .count() as u32;
            s.hash_failures = self.hash_failures;
            s.tracker_error = tracker_error.clone();
            s.error = self.error.clone();
            *s != before
        });
    }
}

/// Exponential smoothing of a per-second sample.
fn smooth(prev: u64, sample: u64) -> u64 {
    (prev * 3 + sample * 2) / 5
}
