//! Rates and stats of a torrent: per-peer and torrent rates smoothed on every tick, the totals
//! the announcer reports, and the [`TorrentStats`] snapshot the handle publishes.

use std::sync::atomic::Ordering;

use super::TorrentTask;
use crate::announce::Progress;
use crate::encryption::Crypto;
use crate::peer::PeerCounters;
use crate::stats::TorrentStats;
use crate::transport::TransportKind;

/// One peer's smoothed rates (bytes/s) and the counter values they were last computed from.
#[derive(Debug, Default)]
pub(super) struct PeerRates {
    pub down: u64,
    pub up: u64,
    last_down: u64,
    last_up: u64,
}

impl PeerRates {
    /// One tick's worth of the peer's counters.
    fn update(&mut self, counters: &PeerCounters) {
        let down = counters.downloaded.load(Ordering::Relaxed);
        let up = counters.uploaded.load(Ordering::Relaxed);
        self.down = smooth(self.down, down - self.last_down);
        self.up = smooth(self.up, up - self.last_up);
        self.last_down = down;
        self.last_up = up;
    }
}

/// The torrent's smoothed rates (bytes/s) and the totals they were last computed from.
#[derive(Debug, Default)]
pub(super) struct TorrentRates {
    down: u64,
    up: u64,
    /// (uploaded, downloaded) at the last tick.
    last_totals: (u64, u64),
}

impl TorrentRates {
    /// No traffic either way.
    pub(super) fn is_zero(&self) -> bool {
        self.up == 0 && self.down == 0
    }
}

impl TorrentTask {
    /// Rates (bytes/s), smoothed, of every peer and of the torrent.
    pub(super) fn update_rates(&mut self) {
        for (_, p) in self.swarm.peers_mut() {
            p.link.rates.update(&p.link.counters);
        }
        let (up, down) = self.shared.transferred();
        let r = &mut self.rates;
        r.up = smooth(r.up, up - r.last_totals.0);
        r.down = smooth(r.down, down - r.last_totals.1);
        r.last_totals = (up, down);
    }

    /// What the announcer reports next.
    pub(super) fn update_progress(&self) {
        let (uploaded, downloaded) = self.shared.transferred();
        let left = self.shared.picker().bytes_left();
        self.progress_tx.send_replace(Progress {
            uploaded,
            downloaded,
            left,
            peers: self.swarm.peers().count(),
        });
    }

    /// Publishes a new stats snapshot when anything changed.
    pub(super) fn publish(&self) {
        let (uploaded, downloaded) = self.shared.transferred();
        let (have_count, left) = {
            let p = self.shared.picker();
            (p.have_count(), p.bytes_left())
        };
        let size = self.shared.info.total_length;
        let tracker_error = self.tracker_error.as_ref().and_then(|e| e.borrow().clone());
        let seeds = self.swarm.peers().filter(|(_, p)| p.link.is_seed()).count();
        let (mut encrypted, mut rc4, mut utp) = (0u32, 0u32, 0u32);
        for (_, p) in self.swarm.peers() {
            encrypted += u32::from(p.link.crypto.is_mse());
            rc4 += u32::from(p.link.crypto == Crypto::Rc4);
            utp += u32::from(p.link.transport == TransportKind::Utp);
        }
        let peers = self.swarm.len() as u32;
        self.stats_tx.send_if_modified(|s: &mut TorrentStats| {
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
            s.download_rate = self.rates.down;
            s.upload_rate = self.rates.up;
            s.peers = peers;
            s.peers_utp = utp;
            s.peers_tcp = peers.saturating_sub(utp);
            s.seeds = seeds as u32;
            s.peers_encrypted = encrypted;
            s.peers_rc4 = rc4;
            s.peers_plaintext = peers.saturating_sub(encrypted);
            s.hash_failures = self.hash_failures;
            s.tracker_error = tracker_error.clone();
            s.error = self.error.clone();
            s.web_seeds = self.web.stats(tokio::time::Instant::now());
            *s != before
        });
    }
}

/// Exponential smoothing of a per-second sample.
fn smooth(prev: u64, sample: u64) -> u64 {
    (prev * 3 + sample * 2) / 5
}
