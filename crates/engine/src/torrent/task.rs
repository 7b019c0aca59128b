//! The torrent task: the I/O shell around the pure [`Swarm`], [`Picker`](crate::picker::Picker)
//! and [`Choker`]. It owns the channels, spawns peers and jobs, keeps the timers, and carries out
//! what the pure parts decide, from the end of the data check until the torrent stops.

mod connect;
mod stats;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use metainfo::Metainfo;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use self::stats::{PeerRates, TorrentRates};
use super::Command;
use super::event::Event;
use super::shared::TorrentShared;
use super::swarm::Swarm;
use crate::PeerKey;
use crate::announce::{Announcer, Progress};
use crate::choker::{self, ChokeView, Choker, RECHOKE_INTERVAL};
use crate::ctx::SessionCtx;
use crate::error::{PeerError, TorrentError, error_chain};
use crate::peer::{PeerCommand, PeerCounters};
use crate::spawn::spawn_in;
use crate::stats::{TorrentState, TorrentStats};
use crate::transport::TransportKind;
use crate::webseed::WebSeeds;

/// Dialing a peer and exchanging handshakes may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a busy torrent updates rates, connects peers and publishes stats.
const TICK: Duration = Duration::from_secs(1);
/// The same for an idle torrent (no peers, nothing to connect to).
const IDLE_TICK: Duration = Duration::from_secs(15);

/// What the task keeps for a connected peer besides the swarm's record.
struct PeerLink {
    /// How the connection is protected (counted in the stats).
    crypto: crate::encryption::Crypto,
    cmd: mpsc::UnboundedSender<PeerCommand>,
    counters: Arc<PeerCounters>,
    am_choking: bool,
    rates: PeerRates,
    transport: TransportKind,
}

impl PeerLink {
    fn send(&self, cmd: PeerCommand) {
        let _ = self.cmd.send(cmd);
    }

    fn interested(&self) -> bool {
        self.counters.peer_interested.load(Ordering::Relaxed)
    }

    fn is_seed(&self) -> bool {
        self.counters.is_seed.load(Ordering::Relaxed)
    }

    /// Records a choke decision and tells the peer.
    fn set_choking(&mut self, choke: bool) {
        self.am_choking = choke;
        self.send(if choke {
            PeerCommand::Choke
        } else {
            PeerCommand::Unchoke
        });
    }
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
    /// The torrent's web seeds.
    pub web: WebSeeds,
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
    /// Peer tasks and handshakes.
    peer_tasks: TaskTracker,
    swarm: Swarm<PeerLink>,
    /// Peers to dial over uTP first (they reached us over uTP, or only uTP worked).
    prefers_utp: std::collections::HashSet<std::net::SocketAddr>,
    choker: Choker,
    rng: fastrand::Rng,
    state: TorrentState,
    error: Option<String>,
    hash_failures: u32,
    rates: TorrentRates,
    progress_tx: watch::Sender<Progress>,
    completed_tx: watch::Sender<bool>,
    /// The fsync after the last piece is running.
    syncing: bool,
    tracker_error: Option<watch::Receiver<Option<String>>>,
    next_pex: Instant,
    next_rechoke: Instant,
    web: WebSeeds,
    /// Where DHT lookups send their peers (the announcer's channel); `None` when the DHT is
    /// off or the torrent is private.
    dht_peers: Option<mpsc::Sender<Vec<std::net::SocketAddr>>>,
    /// The next DHT lookup and announce, and the current pause while starving.
    next_dht: Instant,
    dht_step: Duration,
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
            web,
        } = parts;
        let complete = shared.picker().is_complete();
        if complete {
            // A seed needs no piece hashes; a re-verify reads them again from the .torrent.
            shared.info.pieces.release();
        }
        let ctx = shared.ctx.clone();
        Self {
            swarm: Swarm::new(ctx.peer_id, ctx.listen_addr, ctx.announce_port)
                .with_local_ips(ctx.local_ips.clone()),
            prefers_utp: std::collections::HashSet::new(),
            ctx,
            meta,
            shared,
            cmd_rx,
            events_rx,
            stats_tx,
            peers_cancel: cancel.child_token(),
            cancel,
            tasks,
            peer_tasks: TaskTracker::new(),
            choker: Choker::new(),
            rng: fastrand::Rng::new(),
            state: if complete {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            },
            error: None,
            hash_failures: 0,
            rates: TorrentRates::default(),
            progress_tx: watch::channel(Progress::default()).0,
            completed_tx: watch::channel(complete).0,
            syncing: false,
            tracker_error: None,
            next_pex: Instant::now() + Duration::from_secs(1),
            next_rechoke: Instant::now() + RECHOKE_INTERVAL,
            web,
            dht_peers: None,
            next_dht: Instant::now(),
            dht_step: crate::dht_node::STARVING_STEP,
        }
    }

    /// Runs the swarm until the torrent is stopped, then winds it down.
    pub(crate) async fn run(mut self) {
        self.update_progress();
        let (peers_tx, mut peers_rx) = mpsc::channel(16);
        if self.ctx.dht.is_some() && !self.shared.info.private {
            self.dht_peers = Some(peers_tx.clone());
        }
        let announcer = Announcer::spawn(
            &self.tasks,
            self.ctx.clone(),
            self.meta.clone(),
            self.progress_tx.subscribe(),
            self.completed_tx.subscribe(),
            peers_tx,
        );
        self.tracker_error = Some(announcer.error.clone());
        self.tick_web_seeds();
        self.tick_dht(Instant::now());
        self.publish();
        // A busy torrent ticks every second; an idle one (seeding, nobody connected) only every
        // IDLE_TICK, so thousands of idle torrents cost next to no CPU.
        let mut next_tick = Instant::now() + TICK;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                Some(cmd) = self.cmd_rx.recv() => self.on_command(cmd),
                Some(ev) = self.events_rx.recv() => self.on_event(ev),
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
        self.finish(announcer).await;
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

    async fn finish(&mut self, announcer: Announcer) {
        self.peers_cancel.cancel();
        self.peer_tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.peer_tasks.wait()).await;
        // Let verify/write jobs finish so no good piece is lost, then drain their verdicts.
        self.shared.jobs.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.shared.jobs.wait()).await;
        // (The verify jobs recorded their verdicts in the picker themselves.)
        while let Ok(ev) = self.events_rx.try_recv() {
            if let Event::Synced(Ok(())) = ev {
                self.completed_tx.send_replace(true);
            }
        }
        self.update_progress();
        announcer.stop().await;
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
        self.swarm.clear_peers();
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

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Handshaken(h) => self.on_handshaken(h),
            Event::ConnectFailed(addr) => self.swarm.connect_failed(addr, Instant::now()),
            Event::InterestChanged(key) => self.on_interest(key),
            Event::Closed { key, reason } => self.on_closed(key, reason.as_ref()),
            Event::PieceVerified {
                index,
                result,
                contributors,
            } => self.on_verified(index, result, &contributors),
            Event::CancelElsewhere { from, req } => {
                for (k, p) in self.swarm.peers() {
                    if *k != from {
                        p.link.send(PeerCommand::Cancel(req));
                    }
                }
            }
            Event::Extensions {
                key,
                listen_port,
                pex,
            } => self.swarm.set_extensions(key, listen_port, pex),
            Event::Pex { added, utp } => {
                debug!(
                    peers = added.len(),
                    utp = utp.len(),
                    "peers from peer exchange"
                );
                if !self.shared.info.private {
                    // Flagged as uTP-capable: dialled over uTP first.
                    for a in utp {
                        self.remember_prefers_utp(a);
                    }
                    self.add_candidates(added);
                }
            }
            // The data changed under us (a file deleted or truncated by someone else): stop
            // with the reason rather than serve errors; whoever restarts the torrent (the
            // daemon does after a while) checks the data again and downloads what is missing.
            Event::ReadFailed(e) => self.fail(&e),
            Event::Synced(result) => self.on_synced(result),
            Event::WebSeedDone { key, result } => self.web.on_done(key, result, Instant::now()),
        }
    }

    fn unchoked_count(&self) -> usize {
        self.swarm
            .peers()
            .filter(|(_, p)| !p.link.am_choking)
            .count()
    }

    fn on_interest(&mut self, key: PeerKey) {
        let slots = self.ctx.cfg.upload_slots;
        let unchoked = self.unchoked_count();
        let Some(p) = self.swarm.get_mut(key) else {
            return;
        };
        let link = &mut p.link;
        if let Some(choke) =
            choker::on_interest(link.interested(), link.am_choking, unchoked, slots)
        {
            link.set_choking(choke);
        }
    }

    fn on_closed(&mut self, key: PeerKey, reason: Option<&PeerError>) {
        let Some(p) = self.swarm.remove(key, Instant::now(), PeerLink::is_seed) else {
            return;
        };
        let reason = reason.map_or_else(|| "stopped".to_string(), |e| error_chain(e));
        debug!(addr = %p.addr, reason, "peer disconnected");
        if !p.link.am_choking {
            self.fill_free_slots();
        }
    }

    fn fill_free_slots(&mut self) {
        let views: Vec<ChokeView> = self
            .swarm
            .peers()
            .map(|(k, p)| ChokeView {
                key: *k,
                interested: p.link.interested(),
                rate: 0,
                snubbed: false,
                unchoked: !p.link.am_choking,
            })
            .collect();
        for key in choker::fill_free_slots(&views, self.ctx.cfg.upload_slots) {
            if let Some(p) = self.swarm.get_mut(key) {
                p.link.set_choking(false);
            }
        }
    }

    fn on_verified(
        &mut self,
        index: u32,
        result: Result<bool, TorrentError>,
        contributors: &[PeerKey],
    ) {
        match result {
            Ok(true) => {
                let complete = self.shared.picker().is_complete();
                for (_, p) in self.swarm.peers() {
                    p.link.send(PeerCommand::Have(index));
                }
                if complete && self.state == TorrentState::Downloading && !self.syncing {
                    self.on_complete();
                }
            }
            Ok(false) => {
                self.hash_failures += 1;
                self.web.strike(index, contributors);
                for key in self.swarm.strike(index, contributors) {
                    if let Some(p) = self.swarm.get(key) {
                        p.link
                            .send(PeerCommand::Close(PeerError::BannedAfterHashFailures));
                    }
                }
            }
            Err(e) => self.fail(&e),
        }
        self.update_progress();
    }

    /// Every piece is in: fsync the data as a job (the loop goes on meanwhile); seeding starts
    /// when it reports back.
    fn on_complete(&mut self) {
        self.syncing = true;
        let storage = self.shared.storage.clone();
        let events = self.shared.events.clone();
        let meta = self.meta.clone();
        let span = tracing::Span::current();
        spawn_in(&self.shared.jobs, "completion fsync", span, async move {
            let finish = move || {
                storage.sync()?;
                // BEP 47: executable bits and symlinks once the data is whole. What could not
                // be done (a link that would leave the torrent) is a warning, not a failure.
                match storage.apply_attributes(&meta.file_attrs, &meta.symlinks) {
                    Ok(warnings) => {
                        for w in warnings {
                            tracing::warn!(torrent = %meta.info.name, "{w}");
                        }
                    }
                    Err(e) => tracing::warn!(
                        torrent = %meta.info.name,
                        "file attributes: {}",
                        crate::error_chain(&e)
                    ),
                }
                Ok(())
            };
            let r = match tokio::task::spawn_blocking(finish).await {
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
        self.shared.info.pieces.release();
        self.state = TorrentState::Seeding;
        self.completed_tx.send_replace(true);
        self.publish();
    }

    /// Nothing to do until something happens: no peers, no connection attempts, no traffic.
    fn is_idle(&self) -> bool {
        self.swarm.is_quiet() && self.rates.is_zero() && !self.web.is_busy()
    }

    fn on_tick(&mut self) {
        self.update_rates();
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
        self.swarm.retry_due(now);
        self.connect_some();
        self.tick_web_seeds();
        self.tick_dht(now);
    }

    /// BEP 5: a public torrent (a hybrid under both of its hashes) looks itself up in the DHT
    /// and announces there at start, again
    /// soon while a download is starving (20 s, doubling to 10 min), and otherwise every 25
    /// to 30 minutes. The DHT task queues the lookups of many torrents.
    fn tick_dht(&mut self, now: Instant) {
        let (Some(dht), Some(peers)) = (&self.ctx.dht, &self.dht_peers) else {
            return;
        };
        if now < self.next_dht || !self.accepting() {
            return;
        }
        let starving = self.state == TorrentState::Downloading
            && self.swarm.peers().count() < crate::STARVING_PEERS;
        // A hybrid is in two swarms: looked up and announced under both hashes.
        for hash in self.meta.swarm_hashes() {
            dht.get_peers(hash, Some(self.ctx.announce_port), starving, peers.clone());
        }
        let pause = if starving {
            let step = self.dht_step;
            self.dht_step = (step * 2).min(crate::dht_node::MAX_STARVING_STEP);
            step
        } else {
            self.dht_step = crate::dht_node::STARVING_STEP;
            crate::dht_node::REANNOUNCE + Duration::from_secs(self.rng.u64(..300))
        };
        self.next_dht = now + pause;
    }

    /// Web seed rates; while downloading, web seeds started up to the caps.
    fn tick_web_seeds(&mut self) {
        let downloading = self.state == TorrentState::Downloading && !self.syncing;
        let (shared, tasks, cancel) = (&self.shared, &self.peer_tasks, &self.peers_cancel);
        self.web
            .tick(Instant::now(), downloading, shared, tasks, cancel);
    }

    /// BEP 11: tells every `ut_pex` peer what changed among our peers since the last time.
    fn send_pex(&mut self) {
        for (key, mut msg) in self.swarm.pex_deltas() {
            // Peers that reached us over uTP (or answered only there) get the uTP flag.
            msg.utp = msg
                .added
                .iter()
                .filter(|a| self.prefers_utp.contains(a))
                .copied()
                .collect();
            if let Some(p) = self.swarm.get(key) {
                debug!(addr = %p.addr, added = msg.added.len(), dropped = msg.dropped.len(), "sending peer exchange");
                p.link.send(PeerCommand::Pex(msg));
            }
        }
    }

    fn rechoke(&mut self) {
        let seeding = self.state == TorrentState::Seeding;
        let views: Vec<ChokeView> = self
            .swarm
            .peers()
            .map(|(k, p)| ChokeView {
                key: *k,
                interested: p.link.interested(),
                rate: if seeding {
                    p.link.rates.up
                } else {
                    p.link.rates.down
                },
                snubbed: !seeding && p.link.counters.snubbed.load(Ordering::Relaxed),
                unchoked: !p.link.am_choking,
            })
            .collect();
        let unchoke = self
            .choker
            .rechoke(&views, self.ctx.cfg.upload_slots, &mut self.rng);
        for (k, p) in self.swarm.peers_mut() {
            let want_choked = !unchoke.contains(k);
            if want_choked != p.link.am_choking {
                p.link.set_choking(want_choked);
            }
        }
    }
}
