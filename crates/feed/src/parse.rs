//! Parsing a fetched feed into links, telling the four kinds apart by content (never by URL or
//! `Content-Type` alone, which servers get wrong): an RSS (2.0 or 1.0) or Atom document by its
//! root element, any other markup as HTML, and text whose every line is a URL as a plain list.
//! Everything else is [`ParseError::NotAFeed`]; a document without a single link is
//! [`ParseError::NoLinks`]. Pure functions over bytes: no I/O.

mod date;
mod html;
mod text;
mod xml;

use std::collections::HashSet;
use std::fmt;

use percent_encoding::percent_decode_str;
use url::Url;

pub use crate::error::ParseError;

/// What kind of document a feed turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedKind {
    /// RSS 2.0 (or RSS 1.0 / RDF): `<item>`s with `<link>` and `<enclosure>`.
    Rss,
    /// Atom: `<entry>`s with `<link href>`.
    Atom,
    /// An HTML page: a web server's directory index or a hand-made download page.
    Html,
    /// A plain text list of URLs, one a line (`#` comments and blank lines allowed).
    Text,
}

impl fmt::Display for FeedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedKind::Rss => "RSS",
            FeedKind::Atom => "Atom",
            FeedKind::Html => "HTML",
            FeedKind::Text => "text list",
        })
    }
}

/// What a link points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkKind {
    /// An http(s) URL of a `.torrent` (by its name, or by the feed's
    /// `type="application/x-bittorrent"`).
    Torrent,
    /// A `magnet:` URI with a BitTorrent info-hash (`xt=urn:btih:` or `urn:btmh:`).
    Magnet,
    /// Anything else: a web page, a parent directory, a sort order link, another scheme.
    Other,
}

/// One link found in a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The absolute URL (relative links resolved against the page's final URL).
    pub url: Url,
    /// What it points at.
    pub kind: LinkKind,
    /// The file name it would be written under: `NAME.torrent` for a torrent (the URL's last
    /// path segment, decoded and made safe), `NAME.magnet` for a magnet (its `dn`, else its
    /// info-hash); empty for [`LinkKind::Other`].
    pub name: String,
    /// Its date in the feed (Unix seconds, UTC), when the feed gives one.
    pub date: Option<i64>,
    /// Its position among the document's links (0 = first).
    pub order: usize,
}

/// A parsed feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// What the document was.
    pub kind: FeedKind,
    /// Its links in document order, each URL once.
    pub links: Vec<Link>,
}

impl Parsed {
    /// True when, lacking dates, the first link is the newest: feeds list newest first, while
    /// directory indexes and URL lists are sorted by name, so that later versions come last.
    pub fn newest_first(&self) -> bool {
        matches!(self.kind, FeedKind::Rss | FeedKind::Atom)
    }
}

/// A link as a parser found it, before resolution and classification.
#[derive(Debug, Default)]
pub(crate) struct RawLink {
    /// The URL as written (entities already decoded).
    pub href: String,
    /// The feed says it is a torrent (`type="application/x-bittorrent"`).
    pub torrent_type: bool,
    /// Its date, if any.
    pub date: Option<i64>,
    /// A title to name it by when the URL's own name says nothing (`download.php?id=3`).
    pub title: Option<String>,
}

/// Parses `body`, fetched from `base` (its final URL, after redirects), into links.
pub fn parse(body: &[u8], base: &Url) -> Result<Parsed, ParseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(ParseError::Empty)?;
    let body = &body[start..];
    let (kind, base, raw) = if body.first() == Some(&b'<') {
        match xml::root_kind(body) {
            Some(kind) => (kind, base.clone(), xml::parse(body, kind)?),
            None => {
                let (base, raw) = html::parse(body, base);
                (FeedKind::Html, base, raw)
            }
        }
    } else {
        (FeedKind::Text, base.clone(), text::parse(body, base)?)
    };
    let links = resolve(raw, &base);
    if links.is_empty() {
        return Err(ParseError::NoLinks(kind));
    }
    Ok(Parsed { kind, links })
}

/// Resolves, classifies and deduplicates raw links.
fn resolve(raw: Vec<RawLink>, base: &Url) -> Vec<Link> {
    let mut seen = HashSet::new();
    let mut links = Vec::new();
    for r in raw {
        let href = r.href.trim();
        if href.is_empty() || href.starts_with('#') {
            continue;
        }
        let Ok(url) = base.join(href) else { continue };
        if !seen.insert(url.as_str().to_owned()) {
            continue;
        }
        let (kind, name) = classify(&url, r.torrent_type, r.title.as_deref());
        links.push(Link {
            url,
            kind,
            name,
            date: r.date,
            order: links.len(),
        });
    }
    links
}

/// The kind of `url` and the file name it would get.
fn classify(url: &Url, torrent_type: bool, title: Option<&str>) -> (LinkKind, String) {
    match url.scheme() {
        "magnet" => match magnet_name(url) {
            Some(name) => (LinkKind::Magnet, name),
            None => (LinkKind::Other, String::new()),
        },
        "http" | "https" => {
            let last = url
                .path_segments()
                .and_then(|mut s| s.next_back())
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .unwrap_or_default();
            let by_name = last.to_ascii_lowercase().ends_with(".torrent") && last.len() > 8;
            if by_name {
                return (LinkKind::Torrent, safe_name(&last, ".torrent"));
            }
            if torrent_type {
                // `download.php?id=3`: the title names it better than the script does.
                let stem = title.filter(|t| !t.trim().is_empty()).unwrap_or(&last);
                return (LinkKind::Torrent, safe_name(stem, ".torrent"));
            }
            (LinkKind::Other, String::new())
        }
        _ => (LinkKind::Other, String::new()),
    }
}

/// The `.magnet` file name of a magnet URI: its `dn`, else its info-hash; `None` when it has no
/// BitTorrent exact topic.
fn magnet_name(url: &Url) -> Option<String> {
    let mut hash = None;
    let mut dn = None;
    for (k, v) in url.query_pairs() {
        match &*k {
            "xt" => {
                let lower = v.to_ascii_lowercase();
                if let Some(h) = lower
                    .strip_prefix("urn:btih:")
                    .or_else(|| lower.strip_prefix("urn:btmh:"))
                {
                    hash.get_or_insert_with(|| h.to_owned());
                }
            }
            "dn" => {
                dn.get_or_insert_with(|| v.into_owned());
            }
            _ => {}
        }
    }
    let hash = hash.filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))?;
    let stem = dn.filter(|d| !d.trim().is_empty()).unwrap_or(hash);
    Some(safe_name(&stem, ".magnet"))
}

/// Makes `raw` a safe single file name ending in `suffix` (compared ignoring case): no path
/// separators, control characters or leading dots (hidden files are ignored by the watcher), at
/// most 200 bytes.
pub(crate) fn safe_name(raw: &str, suffix: &str) -> String {
    let mut name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let lower = name.to_ascii_lowercase();
    if !lower.ends_with(suffix) {
        // A torrent link named `x.TORRENT` keeps its name; `x.torrent` magnets stay `.magnet`.
        let stem_len = [".torrent", ".magnet"]
            .iter()
            .find(|s| lower.ends_with(*s))
            .map_or(name.len(), |s| name.len() - s.len());
        name.truncate(stem_len);
        name.push_str(suffix);
    }
    let trimmed = name.trim_start_matches(['.', ' ']);
    let mut name = if trimmed.len() <= suffix.len() {
        format!("unnamed{suffix}")
    } else {
        trimmed.to_owned()
    };
    if name.len() > 200 {
        let mut cut = 200 - suffix.len();
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let suffix_part = name[name.len() - suffix.len()..].to_owned();
        name.truncate(cut);
        name.push_str(&suffix_part);
    }
    name
}

#[cfg(test)]
mod tests;
