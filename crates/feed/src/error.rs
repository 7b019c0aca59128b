//! Errors of parsing and of fetching a feed.

use std::io;
use std::path::PathBuf;

use crate::parse::FeedKind;

/// Why a fetched document yields no links.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("the document is empty")]
    Empty,
    /// Not markup, and not a list of URLs either.
    #[error("not a feed: {0}")]
    NotAFeed(String),
    /// An RSS or Atom document that is not well-formed XML.
    #[error("malformed XML")]
    Xml(#[source] quick_xml::Error),
    /// An RSS or Atom document that ends inside an item.
    #[error("the XML document ends inside an item")]
    Truncated,
    /// A well-formed document without a single link.
    #[error("the {0} document has no links")]
    NoLinks(FeedKind),
}

/// Why one fetch of a feed failed. Nothing in the feed's directory changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The server answered with a status other than 200 (or 304 to a conditional GET).
    #[error("{url}: HTTP {status}")]
    Http {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The request failed: no connection, a timeout, too many redirects, a broken body.
    #[error("{url}: {source}")]
    Transport {
        /// The URL fetched.
        url: String,
        /// What reqwest says.
        #[source]
        source: reqwest::Error,
    },
    /// The body is larger than the limit for its kind.
    #[error("{url}: larger than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The feed's document yields no links.
    #[error("{url}: {source}")]
    Parse {
        /// The URL fetched.
        url: String,
        /// Why.
        #[source]
        source: ParseError,
    },
    /// The feed has links, but none is a torrent or a magnet its `match` takes. Treated as a
    /// failure so that a page that changed beyond recognition removes nothing.
    #[error("{url}: none of its {links} links is a torrent this feed takes")]
    NothingSelected {
        /// The URL fetched.
        url: String,
        /// How many links the document has.
        links: usize,
    },
    /// A file in the feed's directory or its state directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
    /// The match pattern is not a valid glob.
    #[error("bad match pattern {pattern:?}: {source}")]
    Pattern {
        /// The pattern given.
        pattern: String,
        /// Why it is invalid.
        #[source]
        source: glob::PatternError,
    },
    /// Two feeds of one URL into one directory.
    #[error("{url} into {}: configured twice", into.display())]
    Duplicate {
        /// The URL.
        url: String,
        /// The directory.
        into: PathBuf,
    },
    /// A background task of the fetch panicked or was cancelled.
    #[error("a background task of the feed failed: {0}")]
    Task(String),
}

impl FeedError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| FeedError::Io { path, source }
    }
}

/// `e` and its sources, as one line (`a: b: c`), each source once: the text `status` shows and
/// the log line of a failed fetch, where "error sending request" alone would hide "connection
/// refused".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_name_every_cause_once() {
        let e = FeedError::Parse {
            url: "http://x/".into(),
            source: ParseError::NotAFeed("line 1 is not a URL".into()),
        };
        assert_eq!(chain(&e), "http://x/: not a feed: line 1 is not a URL");
        let e = FeedError::Io {
            path: "/t".into(),
            source: io::Error::other(ParseError::Truncated),
        };
        assert_eq!(chain(&e), "/t: the XML document ends inside an item");
    }
}
