//! Feeds of `.torrent` files kept in step with a watch directory (issue 14).
//!
//! A feed is an RSS 2.0 or Atom feed, an HTML page (a web server's directory index, a download
//! page), or a plain text list of URLs, told apart by content ([`parse::parse`]). Its torrent
//! links are selected by a glob on the file name and a `keep` count ([`Selection`]), fetched
//! ([`Fetcher`]: conditional GETs, size limits, redirect limit, timeouts), checked to be
//! torrents and written into the feed's directory under a temporary hidden name, then linked
//! into place ([`Feed::run_once`]). The feed's own record in a state directory lists what it
//! wrote: a file the operator put in the directory is never touched, a file the feed wrote and
//! someone edited or renamed since is left alone, and with `remove = true` a file the feed
//! wrote and no longer lists is removed. A failed fetch changes nothing and backs off
//! ([`next_delay`]).
//!
//! The daemon owns a [`FeedSet`], sets it from its `[[feed]]` tables ([`FeedConfig`]) at start
//! and at each reload, runs it when [`FeedSet::next_due`] comes, and shows
//! [`FeedSet::statuses`]. `btmirror feed check` is [`plan`].
//!
//! Known limits: the record is saved every 50 files written and at the end of a fetch, so a
//! crash in between leaves up to 50 written files unrecorded (they then count as the
//! operator's: never replaced or removed); a crash in the middle of writing one file leaves a
//! hidden `.NAME.XXXXXXXX.tmp` behind. Feeds of a set run one after the other.

mod apply;
mod backoff;
mod config;
mod download;
mod error;
mod feed;
mod fetch;
pub mod parse;
mod record;
mod report;
mod select;
mod set;

pub use backoff::next_delay;
pub use config::{DEFAULT_INTERVAL, FeedConfig, Keep, MIN_INTERVAL, parse_interval};
pub use error::{FeedError, ParseError, chain as error_chain};
pub use feed::{Feed, plan, record_path};
pub use fetch::{Fetcher, Limits};
pub use report::{FeedStatus, FetchReport, MagnetLink, SkipReason, Skipped, Written};
pub use select::{PlanEntry, Selection, Why};
pub use set::{ConfigError, FeedSet};
