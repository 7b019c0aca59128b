//! One `.torrent` of a feed: downloaded, checked to be a torrent, written into place.

use std::path::PathBuf;

use crate::apply;
use crate::error::FeedError;
use crate::feed::blocking;
use crate::fetch::Fetcher;
use crate::parse::Link;
use crate::record::{Held, sha1_hex};
use crate::report::SkipReason;

/// A torrent to fetch.
#[derive(Debug)]
pub(crate) struct Job {
    /// The link.
    pub link: Link,
    /// It replaces the feed's own file of that name.
    pub replace: bool,
    /// The SHA-1 of that file, when replacing.
    pub old_sha1: Option<String>,
}

/// How a download went. A failed download or a body that is not a torrent is a skip
/// (retried at the next fetch); a failure to write is an error.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Written as this.
    Written(Held),
    /// The same bytes as the feed's own file it would replace: only the source URL changed.
    SameBytes,
    /// Not written.
    Skip(SkipReason),
}

/// Downloads, checks and writes `job.link` into `into`.
pub(crate) async fn run(
    client: &Fetcher,
    into: PathBuf,
    job: Job,
) -> (Link, Result<Outcome, FeedError>) {
    let Job {
        link,
        replace,
        old_sha1,
    } = job;
    let bytes = match client.torrent(&link.url).await {
        Ok(b) => b,
        Err(e) => return (link, Ok(Outcome::Skip(SkipReason::Download(e.to_string())))),
    };
    let name = link.name.clone();
    let source = link.url.to_string();
    let outcome = blocking(move || {
        if let Err(e) = metainfo::Metainfo::from_bytes(&bytes) {
            return Ok(Outcome::Skip(SkipReason::NotATorrent(e.to_string())));
        }
        if replace && old_sha1.is_some_and(|old| old == sha1_hex(&bytes)) {
            return Ok(Outcome::SameBytes);
        }
        let written = apply::write(&into, &name, &bytes, &source, replace)
            .map_err(FeedError::io(into.join(&name)))?;
        // `None`: a file of that name appeared since the decision; it is the operator's.
        Ok(written.map_or(Outcome::Skip(SkipReason::OperatorFile), Outcome::Written))
    })
    .await;
    (link, outcome)
}
