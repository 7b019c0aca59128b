//! What a fetch did, and how a feed stands: for the daemon's log, `status` and metrics.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use url::Url;

/// A `.torrent` a fetch wrote into the feed's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Its file name.
    pub name: String,
    /// Where it came from.
    pub url: Url,
}

/// Why a taken link was not written, or a held file not removed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A file of that name is in the directory and this feed did not write it.
    OperatorFile,
    /// This feed wrote it, but it was edited since: left alone, and no longer the feed's.
    ChangedSinceWritten,
    /// This feed wrote it, but it was removed or renamed since: not fetched again.
    GoneSinceWritten,
    /// Fetching it failed (retried at the next fetch).
    Download(String),
    /// What the server sent is not a valid `.torrent` (retried at the next fetch).
    NotATorrent(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::OperatorFile => {
                f.write_str("a file of that name exists that this feed did not write")
            }
            SkipReason::ChangedSinceWritten => {
                f.write_str("edited since this feed wrote it: left alone")
            }
            SkipReason::GoneSinceWritten => {
                f.write_str("removed or renamed since this feed wrote it: not fetched again")
            }
            SkipReason::Download(e) => write!(f, "download failed: {e}"),
            SkipReason::NotATorrent(e) => write!(f, "not a valid .torrent: {e}"),
        }
    }
}

/// A link or held file a fetch left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file name.
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

/// A magnet link a fetch took. Not written yet: the daemon writes `.magnet` files once it can
/// fetch metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MagnetLink {
    /// The `.magnet` file name it would get.
    pub name: String,
    /// The magnet URI.
    pub uri: Url,
}

/// What one successful fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// The server answered 304 Not Modified: nothing was looked at or changed.
    pub not_modified: bool,
    /// Files written (new, or replacing this feed's own file of that name).
    pub written: Vec<Written>,
    /// Files this feed wrote and no longer lists, removed (`remove = true`).
    pub removed: Vec<String>,
    /// Links and files left alone, with reasons.
    pub skipped: Vec<Skipped>,
    /// Taken links whose file this feed already holds, as written: nothing to do.
    pub unchanged: Vec<String>,
    /// Taken magnet links.
    pub magnets: Vec<MagnetLink>,
}

/// How a feed stands, for `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedStatus {
    /// The feed's URL.
    pub url: Url,
    /// Its directory.
    pub into: PathBuf,
    /// When a fetch last succeeded (also from earlier runs of the daemon).
    pub last_success: Option<SystemTime>,
    /// The error of the last fetch, when it failed, and when.
    pub last_error: Option<(SystemTime, String)>,
    /// Fetches failed in a row.
    pub failures: u32,
    /// How many files in its directory the feed holds (wrote and still lists or keeps).
    pub files_held: usize,
    /// When it fetches next.
    pub next_fetch: SystemTime,
}
