//! The daemon's feeds (issue 14): one task owns the [`FeedSet`], fetches each feed when it is
//! due, takes new `[[feed]]` tables on reload, and publishes how every feed stands for the
//! status and the metrics. The feeds write into watch dirs; the watcher picks the files up
//! like any other, so the feeds and the reconciler share nothing else.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use feed::{FeedConfig, FeedSet, FeedStatus, Fetcher};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::control::protocol::FeedReport;

/// Directory of the feeds' records inside the state directory.
pub const FEEDS_DIR: &str = "feeds";
/// How long to sleep when there are no feeds (a reload wakes the task anyway).
const IDLE: Duration = Duration::from_secs(3600);

/// How every feed stands, as the feed task last published it.
pub type Statuses = Arc<Mutex<Vec<FeedStatus>>>;

/// The feeds' part of the status report.
pub fn reports(statuses: &Statuses) -> Vec<FeedReport> {
    let list = statuses.lock().unwrap_or_else(PoisonError::into_inner);
    list.iter().map(report).collect()
}

/// Seconds since the epoch.
fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One feed's status as the status JSON has it.
fn report(s: &FeedStatus) -> FeedReport {
    FeedReport {
        url: s.url.to_string(),
        into: s.into.display().to_string(),
        last_success: s.last_success.map(unix),
        last_error: s.last_error.as_ref().map(|(_, e)| e.clone()),
        last_error_at: s.last_error.as_ref().map(|(t, _)| unix(*t)),
        failures: s.failures,
        files_held: s.files_held,
        next_fetch: unix(s.next_fetch),
    }
}

/// Runs the feeds of `configs` (and of every later value sent on it) until `cancel`, with their
/// records in `state_dir/feeds`.
pub async fn run(
    state_dir: PathBuf,
    mut configs: watch::Receiver<Vec<FeedConfig>>,
    statuses: Statuses,
    cancel: CancellationToken,
) {
    let agent = concat!("btmirror/", env!("CARGO_PKG_VERSION"));
    let fetcher = match Fetcher::new(agent) {
        Ok(f) => f,
        Err(e) => {
            warn!(
                "feeds are off: cannot set up the HTTP client: {}",
                feed::error_chain(&e)
            );
            return;
        }
    };
    let mut set = FeedSet::new(state_dir.join(FEEDS_DIR));
    configure(&mut set, configs.borrow_and_update().clone());
    loop {
        publish(&set, &statuses);
        let due = set.next_due().map_or_else(
            || tokio::time::Instant::now() + IDLE,
            tokio::time::Instant::from_std,
        );
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = configs.changed() => {
                if changed.is_err() {
                    break;
                }
                configure(&mut set, configs.borrow_and_update().clone());
            }
            () = tokio::time::sleep_until(due) => {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    results = set.run_due(&fetcher) => log_results(&set, results),
                }
            }
        }
    }
}

/// Applies a configuration, logging the feeds that cannot run.
fn configure(set: &mut FeedSet, configs: Vec<FeedConfig>) {
    let before: Vec<String> = set
        .feeds()
        .iter()
        .map(|f| f.config().url.to_string())
        .collect();
    for e in set.configure(configs) {
        warn!(url = %e.url, "feed not started: {}", feed::error_chain(&e.error));
    }
    for gone in before.iter().filter(|u| {
        !set.feeds()
            .iter()
            .any(|f| f.config().url.as_str() == u.as_str())
    }) {
        info!(url = %gone, "feed removed from the configuration: stopped; its files stay");
    }
}

/// Logs how each fetch went: a failure once when it starts (then at debug level), a success
/// that changed something at info level.
fn log_results(
    set: &FeedSet,
    results: Vec<(url::Url, Result<feed::FetchReport, feed::FeedError>)>,
) {
    for (url, result) in results {
        let failures = set
            .feeds()
            .iter()
            .find(|f| f.config().url == url)
            .map_or(0, |f| f.status().failures);
        match result {
            Ok(r) if !r.written.is_empty() || !r.removed.is_empty() => info!(
                %url,
                written = r.written.len(),
                removed = r.removed.len(),
                "feed fetched"
            ),
            Ok(_) => debug!(%url, "feed fetched: nothing new"),
            Err(e) if failures <= 1 => warn!(
                %url,
                "feed fetch failed (retried with back-off; the directory is unchanged): {}",
                feed::error_chain(&e)
            ),
            Err(e) => debug!(%url, failures, "feed fetch failed again: {}", feed::error_chain(&e)),
        }
    }
}

/// Stores how every feed stands for the status.
fn publish(set: &FeedSet, statuses: &Statuses) {
    *statuses.lock().unwrap_or_else(PoisonError::into_inner) = set.statuses();
}
