//! The announce loop of one torrent: `started`, periodic re-announces at the tracker's interval
//! (BEP 12 tiers, back-off on failure), `completed` when the download finishes, and `stopped`
//! when the torrent stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metainfo::{InfoHash, Metainfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use tracker::client::{AnnounceRequest, Backoff, Event, Tiers};

use crate::ctx::SessionCtx;

/// How long the final `stopped` (and a pending `completed`) may take.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Transfer totals the tracker is told about.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    /// Connected peers (a download with few is starving and asks again soon).
    pub peers: usize,
}

impl Progress {
    fn starving(&self) -> bool {
        self.left > 0 && self.peers < crate::STARVING_PEERS
    }
}

/// When a starving download asks its trackers again: after `step` (1, 2, 4 … minutes, see
/// [`StarvingBackoff`]) but never sooner than the tracker's `min interval` allows, and never
/// later than the regular announce.
#[derive(Debug)]
struct StarvingBackoff {
    first: Duration,
    step: Duration,
}

impl StarvingBackoff {
    fn new(first: Duration) -> Self {
        Self { first, step: first }
    }

    /// The delay before the next early announce, given the tracker's last `min interval` and
    /// the regular delay; the step doubles for the next one.
    fn next(&mut self, min_interval: Duration, regular: Duration) -> Duration {
        let d = self.step.max(min_interval).min(regular);
        self.step = (self.step * 2).min(regular.max(self.first));
        d
    }

    /// No longer starving: the next starving spell starts at the first step again.
    fn reset(&mut self) {
        self.step = self.first;
    }
}

/// The running announce task of a torrent.
#[derive(Debug)]
pub(crate) struct Announcer {
    cancel: CancellationToken,
    /// One announce loop per 20-byte hash of the torrent (a hybrid joins two swarms).
    joins: Vec<JoinHandle<()>>,
    /// The last announce error, `None` after a success.
    pub error: watch::Receiver<Option<String>>,
}

impl Announcer {
    /// Starts announcing, under every hash of [`Metainfo::swarm_hashes`] (the error shown is
    /// the first one's). `progress` is read before every announce; `completed` turning true
    /// sends `completed`; peers go to `peers`.
    pub(crate) fn spawn(
        tasks: &TaskTracker,
        ctx: Arc<SessionCtx>,
        meta: Arc<Metainfo>,
        progress: watch::Receiver<Progress>,
        completed: watch::Receiver<bool>,
        peers: mpsc::Sender<Vec<SocketAddr>>,
    ) -> Self {
        let cancel = CancellationToken::new();
        let (err_tx, error) = watch::channel(None);
        let mut err_tx = Some(err_tx);
        let joins = meta
            .swarm_hashes()
            .into_iter()
            .map(|info_hash| {
                let err_tx = err_tx.take().unwrap_or_else(|| watch::channel(None).0);
                let task = AnnounceLoop {
                    ctx: ctx.clone(),
                    meta: meta.clone(),
                    info_hash,
                    progress: progress.clone(),
                    completed: completed.clone(),
                    peers: peers.clone(),
                    cancel: cancel.clone(),
                    err_tx,
                };
                crate::spawn::spawn_in(tasks, "announce", tracing::Span::current(), task.run())
            })
            .collect();
        Self {
            cancel,
            joins,
            error,
        }
    }

    /// Sends `stopped` (after a pending `completed`) and waits for the task to end.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        let all = futures_util::future::join_all(self.joins);
        let _ = tokio::time::timeout(STOP_DEADLINE + Duration::from_secs(1), all).await;
    }
}

/// The state of one torrent's announce loop.
struct AnnounceLoop {
    ctx: Arc<SessionCtx>,
    meta: Arc<Metainfo>,
    /// The hash announced (one of the torrent's `swarm_hashes`).
    info_hash: InfoHash,
    progress: watch::Receiver<Progress>,
    completed: watch::Receiver<bool>,
    peers: mpsc::Sender<Vec<SocketAddr>>,
    cancel: CancellationToken,
    err_tx: watch::Sender<Option<String>>,
}

impl AnnounceLoop {
    async fn run(mut self) {
        let mut tiers = Tiers::new(self.meta.tracker_tiers());
        if tiers.is_empty() {
            debug!("no trackers");
            return;
        }
        let key = fastrand::u32(..);
        let mut backoff = Backoff::new();
        let mut event = Event::Started;
        let mut started = false;
        let mut completed_sent = *self.completed.borrow();
        let mut last_error: Option<String> = None;
        let mut starving = StarvingBackoff::new(self.ctx.cfg.starving_reannounce);
        let mut min_interval = Duration::ZERO;
        loop {
            let req = self.request(event, key);
            let result = tokio::select! {
                _ = self.cancel.cancelled() => break,
                // Boxed: the HTTP future is large, and an idle torrent should not carry its
                // space in its task between announces.
                r = Box::pin(tiers.announce(&self.ctx.tracker, &req)) => r,
            };
            let regular = match result {
                Ok((url, resp)) => {
                    if event == Event::Started {
                        started = true;
                    }
                    if last_error.take().is_some() {
                        info!(%url, "tracker reachable again");
                    }
                    if let Some(w) = &resp.warning {
                        warn!(%url, warning = %w, "tracker warning");
                    }
                    debug!(%url, ?event, peers = resp.peers.len(), interval = ?resp.interval, "announced");
                    self.err_tx.send_replace(None);
                    event = Event::None;
                    backoff.reset();
                    let _ = self.peers.send(resp.peers).await;
                    min_interval = resp.min_interval.unwrap_or(Duration::ZERO);
                    resp.interval
                        .clamp(Duration::from_secs(10), self.ctx.cfg.max_announce_interval)
                }
                Err(e) => {
                    let msg = format!("{e}");
                    if last_error.as_deref() != Some(&msg) {
                        // Thousands of torrents on one dead tracker: one warning, not thousands.
                        if self.ctx.first_report(&msg) {
                            warn!(torrent = %self.meta.info.name, error = %msg, "announce failed (same error for other torrents is logged at debug level for 10 minutes)");
                        } else {
                            debug!(error = %msg, "announce failed");
                        }
                        last_error = Some(msg.clone());
                    }
                    self.err_tx.send_replace(Some(msg));
                    backoff.next_delay()
                }
            };
            let due = tokio::time::Instant::now() + regular;
            let mut early = tokio::time::Instant::now() + starving.next(min_interval, regular);
            let progress = self.progress.clone();
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep_until(due) => {}
                () = starving_until(&progress, &mut early, &mut starving, min_interval, regular) => {
                    debug!("too few peers, asking the trackers again early");
                }
                r = self.completed.wait_for(|c| *c), if !completed_sent => {
                    if r.is_ok() && started {
                        event = Event::Completed;
                        completed_sent = true;
                    } else if r.is_ok() {
                        completed_sent = true;
                    }
                }
            }
        }
        // Shutting down: a finished download still gets its `completed`, then `stopped`.
        if started {
            let completed_due =
                !completed_sent && *self.completed.borrow() || event == Event::Completed;
            self.announce_stop(&mut tiers, key, completed_due).await;
        }
    }

    /// The last announces, within [`STOP_DEADLINE`]: `completed` when it is due, then `stopped`.
    async fn announce_stop(&self, tiers: &mut Tiers, key: u32, completed_due: bool) {
        let deadline = tokio::time::Instant::now() + STOP_DEADLINE;
        if completed_due {
            let req = self.request(Event::Completed, key);
            let _ = tokio::time::timeout_at(
                deadline,
                Box::pin(tiers.announce(&self.ctx.tracker, &req)),
            )
            .await;
        }
        let req = self.request(Event::Stopped, key);
        match tokio::time::timeout_at(deadline, Box::pin(tiers.announce(&self.ctx.tracker, &req)))
            .await
        {
            Ok(Ok((url, _))) => debug!(%url, "announced stopped"),
            Ok(Err(e)) => debug!(error = %e, "stopped announce failed"),
            Err(_) => debug!("stopped announce timed out"),
        }
    }

    fn request(&self, event: Event, key: u32) -> AnnounceRequest {
        let p = *self.progress.borrow();
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.ctx.peer_id,
            port: self.ctx.announce_port,
            uploaded: p.uploaded,
            downloaded: p.downloaded,
            left: p.left,
            event,
            numwant: Some(if event == Event::Stopped { 0 } else { 80 }),
            key,
        }
    }
}

/// Returns at the first `early` time at which the download is still starving. Each time it is
/// not, the back-off starts again from its first step.
async fn starving_until(
    progress: &watch::Receiver<Progress>,
    early: &mut tokio::time::Instant,
    starving: &mut StarvingBackoff,
    min_interval: Duration,
    regular: Duration,
) {
    loop {
        tokio::time::sleep_until(*early).await;
        if progress.borrow().starving() {
            return;
        }
        starving.reset();
        *early = tokio::time::Instant::now() + starving.next(min_interval, regular);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starving_backoff_doubles_within_min_interval_and_interval() {
        let m = Duration::from_secs(60);
        let mut b = StarvingBackoff::new(m);
        let regular = Duration::from_secs(1800);
        let steps: Vec<u64> = (0..7)
            .map(|_| b.next(Duration::ZERO, regular).as_secs())
            .collect();
        assert_eq!(steps, [60, 120, 240, 480, 960, 1800, 1800]);
        b.reset();
        assert_eq!(b.next(Duration::from_secs(300), regular).as_secs(), 300);
        assert_eq!(b.next(Duration::from_secs(300), regular).as_secs(), 300);
        assert_eq!(b.next(Duration::from_secs(300), regular).as_secs(), 300);
        assert_eq!(b.next(Duration::from_secs(300), regular).as_secs(), 480);
        let mut short = StarvingBackoff::new(m);
        assert_eq!(
            short
                .next(Duration::ZERO, Duration::from_secs(20))
                .as_secs(),
            20
        );
    }
}
