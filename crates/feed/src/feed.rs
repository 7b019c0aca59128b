//! One feed: its configuration, its record, its schedule, and one fetch ([`Feed::run_once`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use url::Url;

use futures_util::StreamExt as _;

use crate::apply::{self, Decision};
use crate::backoff::next_delay;
use crate::config::{FeedConfig, Keep};
use crate::download::{self, Outcome};
use crate::error::FeedError;
use crate::fetch::{Fetcher, Page};
use crate::parse::{self, Link, LinkKind, Parsed};
use crate::record::{Record, sha1_hex};
use crate::report::{FeedStatus, FetchReport, MagnetLink, SkipReason, Skipped, Written};
use crate::select::{PlanEntry, Selection};

/// How many files are written between saves of the record during one fetch.
const SAVE_EVERY: usize = 50;
/// How many `.torrent` downloads of one feed run at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// A feed kept in step with its directory.
#[derive(Debug)]
pub struct Feed {
    config: FeedConfig,
    selection: Selection,
    record_path: PathBuf,
    record: Record,
    failures: u32,
    /// Recorded files found gone at the last fetch (kept in the record so as not to fetch them
    /// again while the feed lists them, but not held).
    gone: usize,
    last_error: Option<(SystemTime, String)>,
    next_fetch: Instant,
    next_fetch_wall: SystemTime,
}

/// The record file of a feed in `state_dir`: one per URL and directory, so that two feeds of
/// one URL into two directories keep apart, and a reload that only changes `match`, `keep` or
/// `interval` keeps its record.
pub fn record_path(state_dir: &Path, config: &FeedConfig) -> PathBuf {
    let key = format!("{}\n{}", config.url, config.into.display());
    let hex = sha1_hex(key.as_bytes());
    state_dir.join(format!("feed-{}.json", &hex[..16]))
}

impl Feed {
    /// A feed with its record read from `state_dir` (created when first saved); the first fetch
    /// is due at once.
    pub fn new(config: FeedConfig, state_dir: &Path) -> Result<Self, FeedError> {
        let selection = Selection::new(config.match_glob.as_deref(), config.keep)?;
        let record_path = record_path(state_dir, &config);
        let record = Record::load(&record_path, config.url.as_str(), &config.into)?;
        Ok(Self {
            config,
            selection,
            record_path,
            record,
            failures: 0,
            gone: 0,
            last_error: None,
            next_fetch: Instant::now(),
            next_fetch_wall: SystemTime::now(),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &FeedConfig {
        &self.config
    }

    /// Applies a changed configuration of the same URL and directory (a reload): the record,
    /// the schedule and the validators stay. A changed `match` or `keep` takes effect at the
    /// next fetch, which is therefore unconditional; so does a changed `remove`.
    pub fn reconfigure(&mut self, config: FeedConfig) -> Result<(), FeedError> {
        let selection = Selection::new(config.match_glob.as_deref(), config.keep)?;
        let c = &self.config;
        if config.match_glob != c.match_glob || config.keep != c.keep || config.remove != c.remove {
            self.record.etag = None;
            self.record.last_modified = None;
        }
        self.config = config;
        self.selection = selection;
        Ok(())
    }

    /// Where its record is kept.
    pub fn record_path(&self) -> &Path {
        &self.record_path
    }

    /// When the next fetch is due.
    pub fn next_fetch(&self) -> Instant {
        self.next_fetch
    }

    /// How it stands.
    pub fn status(&self) -> FeedStatus {
        FeedStatus {
            url: self.config.url.clone(),
            into: self.config.into.clone(),
            last_success: self.record.last_success(),
            last_error: self.last_error.clone(),
            failures: self.failures,
            files_held: self.record.files.len().saturating_sub(self.gone),
            next_fetch: self.next_fetch_wall,
        }
    }

    /// Fetches the feed once and brings its directory in step; schedules the next fetch. On an
    /// error nothing in the directory changed (the record is kept too), and the next fetch
    /// backs off. An error different from the previous one is logged at warn level, repeats
    /// at debug level.
    pub async fn run_once(&mut self, client: &Fetcher) -> Result<FetchReport, FeedError> {
        let result = self.fetch_and_apply(client).await;
        let now = SystemTime::now();
        match &result {
            Ok(report) => {
                self.failures = 0;
                self.last_error = None;
                tracing::debug!(
                    url = %self.config.url,
                    written = report.written.len(),
                    removed = report.removed.len(),
                    not_modified = report.not_modified,
                    "feed fetched"
                );
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let text = crate::error::chain(e);
                if self
                    .last_error
                    .as_ref()
                    .is_none_or(|(_, prev)| *prev != text)
                {
                    tracing::warn!(url = %self.config.url, error = %text, "feed fetch failed");
                } else {
                    tracing::debug!(url = %self.config.url, error = %text, "feed fetch failed again");
                }
                self.last_error = Some((now, text));
            }
        }
        let delay = next_delay(self.config.interval, self.failures, fastrand::f64());
        self.next_fetch = Instant::now() + delay;
        self.next_fetch_wall = now + delay;
        result
    }

    /// The fetch itself.
    async fn fetch_and_apply(&mut self, client: &Fetcher) -> Result<FetchReport, FeedError> {
        if !self.config.into.is_dir() {
            return Err(FeedError::io(&self.config.into)(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the feed's directory does not exist",
            )));
        }
        let url = self.config.url.clone();
        let (body, final_url, validators) =
            match client.page(&url, &self.record.validators()).await? {
                Page::NotModified => {
                    self.record.last_success = Some(unix_now());
                    self.save().await?;
                    return Ok(FetchReport {
                        not_modified: true,
                        ..FetchReport::default()
                    });
                }
                Page::Body {
                    body,
                    url,
                    validators,
                } => (body, url, validators),
            };
        let parsed = parse_blocking(body, final_url, &url).await?;
        let taken: Vec<Link> = self
            .selection
            .plan(&parsed)
            .into_iter()
            .filter(|e| e.taken)
            .map(|e| e.link)
            .collect();
        if taken.is_empty() {
            return Err(FeedError::NothingSelected {
                url: url.to_string(),
                links: parsed.links.len(),
            });
        }
        let mut report = FetchReport::default();
        let (torrents, magnets): (Vec<Link>, Vec<Link>) =
            taken.into_iter().partition(|l| l.kind == LinkKind::Torrent);
        report.magnets = magnets
            .into_iter()
            .map(|l| MagnetLink {
                name: l.name,
                uri: l.url,
            })
            .collect();
        let listed: HashSet<String> = torrents.iter().map(|l| l.name.clone()).collect();
        let decisions = self.decide_all(&torrents).await?;
        let jobs = self.take_decisions(torrents, decisions, &mut report);
        if let Err(e) = self.download_all(client, jobs, &mut report).await {
            // What was written is recorded before giving up.
            let _ = self.save().await;
            return Err(e);
        }
        let (removed, skipped) = self.remove_unlisted(listed).await?;
        self.gone = report
            .skipped
            .iter()
            .filter(|s| s.reason == SkipReason::GoneSinceWritten)
            .count();
        report.removed = removed;
        report.skipped.extend(skipped);
        // A torrent that failed to download is retried at the next fetch, which must therefore
        // not be answered with a 304.
        let retry = report.skipped.iter().any(|s| {
            matches!(
                s.reason,
                SkipReason::Download(_) | SkipReason::NotATorrent(_)
            )
        });
        let validators = if retry {
            Default::default()
        } else {
            validators
        };
        self.record.etag = validators.etag;
        self.record.last_modified = validators.last_modified;
        self.record.last_success = Some(unix_now());
        self.save().await?;
        Ok(report)
    }

    /// Acts on the decisions that need no download (recording them in `report`) and returns
    /// the downloads to make.
    fn take_decisions(
        &mut self,
        torrents: Vec<Link>,
        decisions: Vec<Decision>,
        report: &mut FetchReport,
    ) -> Vec<download::Job> {
        let mut jobs = Vec::new();
        for (link, decision) in torrents.into_iter().zip(decisions) {
            match decision {
                Decision::Have => report.unchanged.push(link.name),
                Decision::Skip { reason, disown } => {
                    if disown {
                        self.record.files.remove(&link.name);
                    }
                    report.skipped.push(Skipped {
                        name: link.name,
                        reason,
                    });
                }
                Decision::Fetch { replace } => {
                    let old_sha1 = self.record.files.get(&link.name).map(|h| h.sha1.clone());
                    jobs.push(download::Job {
                        link,
                        replace,
                        old_sha1,
                    });
                }
            }
        }
        jobs
    }

    /// Removes (with `remove`) or forgets held files the feed no longer lists, on a blocking
    /// thread.
    async fn remove_unlisted(
        &mut self,
        listed: HashSet<String>,
    ) -> Result<(Vec<String>, Vec<Skipped>), FeedError> {
        let mut record = self.record.clone();
        let into = self.config.into.clone();
        let remove = self.config.remove;
        let (record, out) = blocking(move || {
            let r = apply::remove_unlisted(&mut record, &into, &listed, remove);
            r.map(|out| (record, out)).map_err(FeedError::io(into))
        })
        .await?;
        self.record = record;
        Ok(out)
    }

    /// Decides for every taken torrent on a blocking thread (a stat per file).
    async fn decide_all(&self, torrents: &[Link]) -> Result<Vec<Decision>, FeedError> {
        let record = self.record.clone();
        let into = self.config.into.clone();
        let links: Vec<(String, String)> = torrents
            .iter()
            .map(|l| (l.name.clone(), l.url.to_string()))
            .collect();
        blocking(move || {
            links
                .iter()
                .map(|(name, source)| apply::decide(&record, &into, name, source))
                .collect::<Result<Vec<_>, _>>()
                .map_err(FeedError::io(into.clone()))
        })
        .await
    }

    /// Downloads, checks and writes the torrents to fetch, a few at a time, recording each
    /// file written (and saving the record now and then, so that a crash leaves few written
    /// files unrecorded, which would then look like the operator's).
    async fn download_all(
        &mut self,
        client: &Fetcher,
        jobs: Vec<download::Job>,
        report: &mut FetchReport,
    ) -> Result<(), FeedError> {
        let into = self.config.into.clone();
        let mut results = futures_util::stream::iter(
            jobs.into_iter()
                .map(|job| download::run(client, into.clone(), job)),
        )
        .buffer_unordered(PARALLEL_DOWNLOADS);
        let mut since_save = 0;
        while let Some((link, outcome)) = results.next().await {
            let skip = |reason| Skipped {
                name: link.name.clone(),
                reason,
            };
            match outcome? {
                Outcome::Written(held) => {
                    self.record.files.insert(link.name.clone(), held);
                    report.written.push(Written {
                        name: link.name,
                        url: link.url,
                    });
                    since_save += 1;
                    if since_save == SAVE_EVERY {
                        since_save = 0;
                        self.save().await?;
                    }
                }
                Outcome::SameBytes => {
                    if let Some(held) = self.record.files.get_mut(&link.name) {
                        held.source = link.url.to_string();
                    }
                    report.unchanged.push(link.name);
                }
                Outcome::Skip(reason) => report.skipped.push(skip(reason)),
            }
        }
        Ok(())
    }

    /// Saves the record on a blocking thread.
    async fn save(&self) -> Result<(), FeedError> {
        let record = self.record.clone();
        let path = self.record_path.clone();
        blocking(move || record.save(&path)).await
    }
}

/// A dry run of `url` for `btmirror feed check`: every link and what a feed with `match_glob`
/// and `keep` would do with it. Writes nothing.
pub async fn plan(
    client: &Fetcher,
    url: &Url,
    match_glob: Option<&str>,
    keep: Keep,
) -> Result<(Parsed, Vec<PlanEntry>), FeedError> {
    let selection = Selection::new(match_glob, keep)?;
    let (body, final_url) = match client.page(url, &Default::default()).await? {
        Page::Body { body, url, .. } => (body, url),
        // Not sent conditionally, so a 304 is the server's confusion.
        Page::NotModified => {
            return Err(FeedError::Http {
                url: url.to_string(),
                status: 304,
            });
        }
    };
    let parsed = parse_blocking(body, final_url, url).await?;
    let entries = selection.plan(&parsed);
    Ok((parsed, entries))
}

/// Parses on a blocking thread: a large feed takes milliseconds the runtime need not lose.
async fn parse_blocking(body: Vec<u8>, base: Url, url: &Url) -> Result<Parsed, FeedError> {
    let url = url.to_string();
    blocking(move || parse::parse(&body, &base).map_err(|source| FeedError::Parse { url, source }))
        .await
}

/// Runs `f` on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FeedError> + Send + 'static,
) -> Result<T, FeedError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FeedError::Task(e.to_string()))?
}

/// Seconds since the epoch now.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
