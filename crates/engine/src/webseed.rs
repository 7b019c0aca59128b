//! Web seeds (BEP 19, and BEP 17 `httpseeds` used the same way): HTTP servers holding the
//! torrent's files, each a source with every piece. The torrent task owns a [`WebSeeds`]: it
//! decides which web seeds work (a handful at once, under a per-torrent and a session-wide cap),
//! backs off failing ones, drops those answering 404/410 and bans those whose pieces fail the
//! hash check. The HTTP work is in `webseed/fetch.rs`, the answer checks in `response.rs`.

mod fetch;
pub(crate) mod response;
mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::PeerKey;
use crate::error::{WebSeedError, error_chain};
use crate::spawn::spawn_cancellable;
use crate::stats::WebSeedStats;
use crate::torrent::event::Event;
use crate::torrent::shared::TorrentShared;

/// Keys of web seeds (as piece contributors) start here; peer keys stay far below.
pub(crate) const WEB_SEED_KEYS: PeerKey = 1 << 62;

/// A web seed whose pieces failed the hash check this many times is banned.
pub(crate) const MAX_HASH_STRIKES: u32 = 3;

/// About this many bytes per range request.
const RUN_BYTES: u64 = 8 << 20;

/// The first back-off after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// A running web seed is judged on its rate only after this long.
const SLOW_GRACE: Duration = Duration::from_secs(20);

/// The running web seed to replace (index, smoothed rate): the slowest, when it gets less than
/// a tenth of the fastest.
fn slowest_to_replace(running: &[(usize, u64)]) -> Option<usize> {
    let fastest = running.iter().map(|(_, r)| *r).max()?;
    let (i, slowest) = running.iter().min_by_key(|(_, r)| *r)?;
    (running.len() > 1 && slowest.saturating_mul(10) < fastest).then_some(*i)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Ready,
    BackedOff(Instant),
    Dropped,
    Banned,
}

/// A web seed's fetch loop that runs.
#[derive(Debug)]
struct Running {
    token: CancellationToken,
    /// Its slot under the session's cap.
    _permit: OwnedSemaphorePermit,
    started: Instant,
}

#[derive(Debug)]
struct Seed {
    base: String,
    key: PeerKey,
    health: Health,
    /// Failed requests in a row.
    failures: u32,
    strikes: u32,
    running: Option<Running>,
    downloaded: Arc<AtomicU64>,
    last_downloaded: u64,
    rate: u64,
    last_error: Option<String>,
}

/// The web seeds of one torrent.
#[derive(Debug, Default)]
pub(crate) struct WebSeeds {
    seeds: Vec<Seed>,
}

impl WebSeeds {
    /// The usable (absolute `http(s)`) entries of `urls`, without duplicates.
    pub(crate) fn new<'a>(urls: impl IntoIterator<Item = &'a String>) -> Self {
        let mut seeds: Vec<Seed> = Vec::new();
        for u in urls {
            if !url::is_usable(u) {
                debug!(url = %u, "web seed skipped: not an absolute http(s) URL");
                continue;
            }
            if seeds.iter().any(|s| &s.base == u) {
                continue;
            }
            seeds.push(Seed {
                base: u.clone(),
                key: WEB_SEED_KEYS + seeds.len() as u64,
                health: Health::Ready,
                failures: 0,
                strikes: 0,
                running: None,
                downloaded: Arc::default(),
                last_downloaded: 0,
                rate: 0,
                last_error: None,
            });
        }
        Self { seeds }
    }

    /// True while any web seed is fetching.
    pub(crate) fn is_busy(&self) -> bool {
        self.seeds.iter().any(|s| s.running.is_some())
    }

    /// Once a second: rates, and while downloading, start web seeds up to the caps (those that
    /// failed least first).
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        downloading: bool,
        shared: &Arc<TorrentShared>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) {
        for s in &mut self.seeds {
            let total = s.downloaded.load(Ordering::Relaxed);
            s.rate = (s.rate * 3 + (total - s.last_downloaded) * 2) / 5;
            s.last_downloaded = total;
            if matches!(s.health, Health::BackedOff(t) if t <= now) {
                s.health = Health::Ready;
            }
        }
        let cfg = &shared.ctx.cfg;
        if !downloading || !cfg.web_seeds || shared.picker().is_complete() {
            return;
        }
        self.replace_slowest(now);
        let running = self.seeds.iter().filter(|s| s.running.is_some()).count();
        let mut free = cfg.max_web_seeds_per_torrent.saturating_sub(running);
        let mut order: Vec<usize> = (0..self.seeds.len())
            .filter(|&i| self.seeds[i].health == Health::Ready && self.seeds[i].running.is_none())
            .collect();
        fastrand::shuffle(&mut order);
        order.sort_by_key(|&i| self.seeds[i].failures);
        for i in order {
            if free == 0 {
                break;
            }
            let Ok(permit) = shared.ctx.web_seed_limit.clone().try_acquire_owned() else {
                break;
            };
            free -= 1;
            self.start(i, permit, shared, tasks, cancel);
        }
    }

    /// With web seeds waiting and every slot taken, stops the slowest running one when it is far
    /// slower than the fastest (its pieces go back to the picker; it may run again later).
    fn replace_slowest(&mut self, now: Instant) {
        let waiting = self
            .seeds
            .iter()
            .any(|s| s.health == Health::Ready && s.running.is_none());
        if !waiting {
            return;
        }
        let running: Vec<(usize, u64, Instant)> = self
            .seeds
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.running.as_ref().map(|r| (i, s.rate, r.started)))
            .filter(|(_, _, started)| now.duration_since(*started) >= SLOW_GRACE)
            .collect();
        let rates: Vec<(usize, u64)> = running.iter().map(|(i, r, _)| (*i, *r)).collect();
        if let Some(i) = slowest_to_replace(&rates)
            && let Some(s) = self.seeds.get_mut(i)
            && let Some(r) = s.running.take()
        {
            debug!(url = %s.base, rate = s.rate, "replacing a slow web seed");
            r.token.cancel();
            s.last_error = Some(format!(
                "replaced: {} B/s, far slower than the others",
                s.rate
            ));
            // Another one gets the slot; this one may come back later.
            s.health = Health::BackedOff(now + MAX_BACKOFF);
        }
    }

    fn start(
        &mut self,
        i: usize,
        permit: OwnedSemaphorePermit,
        shared: &Arc<TorrentShared>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) {
        let Some(s) = self.seeds.get_mut(i) else {
            return;
        };
        let token = cancel.child_token();
        s.running = Some(Running {
            token: token.clone(),
            _permit: permit,
            started: Instant::now(),
        });
        let fetcher = fetch::Fetcher {
            shared: shared.clone(),
            key: s.key,
            base: s.base.clone(),
            http: shared.ctx.web_http.clone(),
            downloaded: s.downloaded.clone(),
            run_bytes: RUN_BYTES,
            stall: shared.ctx.cfg.web_seed_timeout,
        };
        let events = shared.events.clone();
        let key = s.key;
        let span = tracing::debug_span!("web_seed", url = %s.base);
        spawn_cancellable(tasks, "web seed", span, token, async move {
            let result = fetcher.run().await;
            let _ = events.send(Event::WebSeedDone { key, result }).await;
        });
    }

    /// A web seed's fetch loop ended: nothing left to fetch, or a failure.
    pub(crate) fn on_done(&mut self, key: PeerKey, result: Result<(), WebSeedError>, now: Instant) {
        let Some(s) = self.seeds.iter_mut().find(|s| s.key == key) else {
            return;
        };
        s.running = None;
        let e = match result {
            Ok(()) => {
                s.failures = 0;
                return;
            }
            Err(e) => e,
        };
        let msg = error_chain(&e);
        s.last_error = Some(msg.clone());
        if s.health == Health::Banned {
            return;
        }
        if let WebSeedError::Gone(_) = e {
            warn!(url = %s.base, error = %msg, "web seed dropped");
            s.health = Health::Dropped;
            return;
        }
        s.failures += 1;
        let backoff = match e {
            WebSeedError::Unavailable {
                retry_after: Some(d),
                ..
            } => d,
            _ => FIRST_BACKOFF
                .saturating_mul(1 << (s.failures - 1).min(8))
                .min(MAX_BACKOFF),
        };
        info!(url = %s.base, error = %msg, retry_in = ?backoff, "web seed failed, backing off");
        s.health = Health::BackedOff(now + backoff);
    }

    /// A piece failed its hash check: a strike for each web seed among its contributors, a ban
    /// at [`MAX_HASH_STRIKES`] (its fetch stops, its pieces come from elsewhere).
    pub(crate) fn strike(&mut self, index: u32, contributors: &[PeerKey]) {
        for s in &mut self.seeds {
            if !contributors.contains(&s.key) || s.health == Health::Banned {
                continue;
            }
            s.strikes += 1;
            warn!(url = %s.base, piece = index, strikes = s.strikes, "web seed piece failed its hash check");
            if s.strikes >= MAX_HASH_STRIKES {
                warn!(url = %s.base, "web seed banned after hash failures");
                s.health = Health::Banned;
                s.last_error = Some(format!("{} pieces failed the hash check", s.strikes));
                if let Some(r) = s.running.take() {
                    r.token.cancel();
                }
            }
        }
    }

    /// What status shows.
    pub(crate) fn stats(&self, now: Instant) -> Vec<WebSeedStats> {
        self.seeds
            .iter()
            .map(|s| WebSeedStats {
                url: s.base.clone(),
                state: match s.health {
                    Health::Banned => "banned",
                    Health::Dropped => "dropped",
                    Health::BackedOff(_) => "backoff",
                    Health::Ready if s.running.is_some() => "active",
                    Health::Ready => "idle",
                },
                downloaded: s.downloaded.load(Ordering::Relaxed),
                download_rate: s.rate,
                hash_failures: s.strikes,
                retry_in: match s.health {
                    Health::BackedOff(t) => Some(t.saturating_duration_since(now)),
                    _ => None,
                },
                error: s.last_error.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_far_slower_web_seed_is_replaced() {
        assert_eq!(slowest_to_replace(&[]), None);
        assert_eq!(
            slowest_to_replace(&[(0, 5)]),
            None,
            "alone it is the best there is"
        );
        assert_eq!(slowest_to_replace(&[(0, 100), (1, 50), (2, 60)]), None);
        assert_eq!(slowest_to_replace(&[(0, 1000), (3, 9), (2, 600)]), Some(3));
    }

    #[test]
    fn only_absolute_unique_urls_become_web_seeds() {
        let urls = [
            "http://a/".to_owned(),
            "rel/x".to_owned(),
            "http://a/".to_owned(),
            "https://b/f".to_owned(),
        ];
        let w = WebSeeds::new(&urls);
        let stats = w.stats(Instant::now());
        let got: Vec<_> = stats.iter().map(|s| (s.url.as_str(), s.state)).collect();
        assert_eq!(got, [("http://a/", "idle"), ("https://b/f", "idle")]);
    }
}
