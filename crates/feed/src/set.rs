//! Every feed of the daemon: set from the configuration (again at each reload), run when due.

use std::path::{Path, PathBuf};
use std::time::Instant;

use url::Url;

use crate::config::FeedConfig;
use crate::error::FeedError;
use crate::feed::Feed;
use crate::fetch::Fetcher;
use crate::report::{FeedStatus, FetchReport};

/// The daemon's feeds, with their records in one state directory.
#[derive(Debug)]
pub struct FeedSet {
    state_dir: PathBuf,
    feeds: Vec<Feed>,
}

/// A feed the configuration asks for that could not be set up.
#[derive(Debug)]
pub struct ConfigError {
    /// The feed's URL.
    pub url: Url,
    /// Why.
    pub error: FeedError,
}

impl FeedSet {
    /// No feeds yet; records go to `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            feeds: Vec::new(),
        }
    }

    /// Makes the set exactly `configs`: a feed with the URL and directory of a running one
    /// takes its new settings and keeps its record and schedule; a new one is due at once; a
    /// feed no longer configured stops, and its files stay. Feeds that cannot be set up (a
    /// second feed of one URL into one directory, an unreadable record) are returned.
    pub fn configure(&mut self, configs: Vec<FeedConfig>) -> Vec<ConfigError> {
        let mut old = std::mem::take(&mut self.feeds);
        let mut errors = Vec::new();
        for config in configs {
            let same = |f: &Feed| f.config().url == config.url && f.config().into == config.into;
            if self.feeds.iter().any(same) {
                errors.push(ConfigError {
                    url: config.url.clone(),
                    error: FeedError::Duplicate {
                        url: config.url.to_string(),
                        into: config.into.clone(),
                    },
                });
                continue;
            }
            let url = config.url.clone();
            let feed = match old.iter().position(same) {
                Some(i) => {
                    let mut feed = old.swap_remove(i);
                    feed.reconfigure(config).map(|()| feed)
                }
                None => Feed::new(config, &self.state_dir),
            };
            match feed {
                Ok(feed) => self.feeds.push(feed),
                Err(error) => errors.push(ConfigError { url, error }),
            }
        }
        errors
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The feeds, in configuration order.
    pub fn feeds(&self) -> &[Feed] {
        &self.feeds
    }

    /// When the next feed is due (`None` without feeds).
    pub fn next_due(&self) -> Option<Instant> {
        self.feeds.iter().map(Feed::next_fetch).min()
    }

    /// Runs every feed that is due, one after the other, and says how each went.
    pub async fn run_due(
        &mut self,
        client: &Fetcher,
    ) -> Vec<(Url, Result<FetchReport, FeedError>)> {
        let now = Instant::now();
        let mut out = Vec::new();
        for feed in self.feeds.iter_mut().filter(|f| f.next_fetch() <= now) {
            let result = feed.run_once(client).await;
            out.push((feed.config().url.clone(), result));
        }
        out
    }

    /// How every feed stands.
    pub fn statuses(&self) -> Vec<FeedStatus> {
        self.feeds.iter().map(Feed::status).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(url: &str, into: &str) -> FeedConfig {
        FeedConfig::new(Url::parse(url).expect("url"), into)
    }

    #[test]
    fn configure_keeps_adds_drops_and_refuses_duplicates() {
        let state = tempfile::tempdir().expect("tempdir");
        let mut set = FeedSet::new(state.path());
        assert_eq!(set.next_due(), None);
        let errors = set.configure(vec![
            config("http://127.0.0.1:1/a.rss", "/t/a"),
            config("http://127.0.0.1:1/b.rss", "/t/b"),
            config("http://127.0.0.1:1/a.rss", "/t/a"),
            config("http://127.0.0.1:1/a.rss", "/t/other"),
        ]);
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0].error, FeedError::Duplicate { .. }));
        assert_eq!(set.feeds().len(), 3);
        assert!(set.next_due().is_some_and(|t| t <= Instant::now()));

        // A reload: `a` gets a new interval and keeps its schedule, `b` goes, `c` comes.
        let due_a = set.feeds()[0].next_fetch();
        let mut a = config("http://127.0.0.1:1/a.rss", "/t/a");
        a.interval = Duration::from_secs(600);
        let errors = set.configure(vec![a, config("http://127.0.0.1:1/c.rss", "/t/c")]);
        assert!(errors.is_empty());
        let urls: Vec<&str> = set.feeds().iter().map(|f| f.config().url.path()).collect();
        assert_eq!(urls, ["/a.rss", "/c.rss"]);
        assert_eq!(set.feeds()[0].next_fetch(), due_a);
        assert_eq!(set.feeds()[0].config().interval, Duration::from_secs(600));
        assert_eq!(set.statuses().len(), 2);
        assert_eq!(set.statuses()[0].files_held, 0);
    }

    #[test]
    fn a_bad_glob_is_reported_and_the_feed_left_out() {
        let state = tempfile::tempdir().expect("tempdir");
        let mut set = FeedSet::new(state.path());
        let mut bad = config("http://127.0.0.1:1/a.rss", "/t/a");
        bad.match_glob = Some("[".into());
        let errors = set.configure(vec![bad]);
        assert!(matches!(errors[0].error, FeedError::Pattern { .. }));
        assert!(set.feeds().is_empty());
    }
}
