//! Which links of a parsed feed a feed takes: torrents and magnets, filtered by the `match`
//! glob, one per file name, then the newest N (`keep`).
//!
//! The glob is matched against the name the link would have as a `.torrent` file, so that
//! `*-amd64-*.iso.torrent` takes the magnets of those torrents too: a magnet named
//! `debian-12.5.0-amd64-netinst.iso` is matched as `debian-12.5.0-amd64-netinst.iso.torrent`.
//!
//! Newest: by the feed's dates when every candidate has one, else by position (RSS and Atom
//! list newest first, directory indexes and URL lists last; see [`Parsed::newest_first`]).

use std::collections::HashSet;
use std::fmt;

use crate::config::Keep;
use crate::error::FeedError;
use crate::parse::{Link, LinkKind, Parsed};

/// What a feed takes.
#[derive(Clone, Debug)]
pub struct Selection {
    pattern: Option<glob::Pattern>,
    keep: Keep,
}

/// Why a link is taken or left.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Why {
    /// Taken: the `rank`-th newest taken link (0 = newest).
    Taken {
        /// Its rank among the taken links.
        rank: usize,
    },
    /// Neither an http(s) `.torrent` link nor a BitTorrent magnet.
    NotATorrent,
    /// The `match` glob does not match its name.
    NoMatch(String),
    /// A newer link has the same file name.
    SameName,
    /// Not among the newest `keep`.
    Older {
        /// The `keep` count.
        keep: usize,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Taken { rank: 0 } => f.write_str("taken (newest)"),
            Why::Taken { rank } => write!(f, "taken ({rank} newer)"),
            Why::NotATorrent => f.write_str("not a .torrent or magnet link"),
            Why::NoMatch(p) => write!(f, "name does not match {p:?}"),
            Why::SameName => f.write_str("a newer link has the same file name"),
            Why::Older { keep } => write!(f, "not among the newest {keep}"),
        }
    }
}

/// One link of a dry run and what the feed would do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanEntry {
    /// The link.
    pub link: Link,
    /// True when the feed takes it.
    pub taken: bool,
    /// Why.
    pub why: Why,
}

impl Selection {
    /// Takes what `match_glob` matches (every torrent and magnet when `None`), newest `keep`.
    pub fn new(match_glob: Option<&str>, keep: Keep) -> Result<Self, FeedError> {
        let pattern = match match_glob {
            Some(p) => Some(glob::Pattern::new(p).map_err(|source| FeedError::Pattern {
                pattern: p.to_owned(),
                source,
            })?),
            None => None,
        };
        Ok(Self { pattern, keep })
    }

    /// Decides for every link of `parsed`; the result is in document order.
    pub fn plan(&self, parsed: &Parsed) -> Vec<PlanEntry> {
        let mut why: Vec<Option<Why>> = parsed.links.iter().map(|l| self.refuse(l)).collect();
        let mut ranked: Vec<&Link> = parsed
            .links
            .iter()
            .zip(&why)
            .filter(|(_, w)| w.is_none())
            .map(|(l, _)| l)
            .collect();
        let newest_first = parsed.newest_first();
        let by_position = |a: &&Link, b: &&Link| {
            if newest_first {
                a.order.cmp(&b.order)
            } else {
                b.order.cmp(&a.order)
            }
        };
        if ranked.iter().all(|l| l.date.is_some()) {
            ranked.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| by_position(a, b)));
        } else {
            ranked.sort_by(by_position);
        }
        let mut names = HashSet::new();
        let mut rank = 0;
        for link in ranked {
            let verdict = if !names.insert(link.name.as_str()) {
                Why::SameName
            } else if let Keep::Newest(keep) = self.keep
                && rank >= keep
            {
                Why::Older { keep }
            } else {
                rank += 1;
                Why::Taken { rank: rank - 1 }
            };
            if let Some(slot) = why.get_mut(link.order) {
                *slot = Some(verdict);
            }
        }
        parsed
            .links
            .iter()
            .zip(why)
            .map(|(link, why)| {
                let why = why.unwrap_or(Why::NotATorrent);
                PlanEntry {
                    link: link.clone(),
                    taken: matches!(why, Why::Taken { .. }),
                    why,
                }
            })
            .collect()
    }

    /// Why `link` is not a candidate at all, or `None` when it is.
    fn refuse(&self, link: &Link) -> Option<Why> {
        if !matches!(link.kind, LinkKind::Torrent | LinkKind::Magnet) {
            return Some(Why::NotATorrent);
        }
        let pattern = self.pattern.as_ref()?;
        let as_torrent = match link.kind {
            LinkKind::Magnet => {
                let stem = link.name.strip_suffix(".magnet").unwrap_or(&link.name);
                format!("{stem}.torrent")
            }
            _ => link.name.clone(),
        };
        if pattern.matches(&as_torrent) {
            None
        } else {
            Some(Why::NoMatch(pattern.as_str().to_owned()))
        }
    }
}

#[cfg(test)]
mod tests;
