//! A `[[feed]]` table of the daemon's configuration.
//!
//! ```toml
//! [[feed]]
//! url = "https://cdimage.debian.org/debian-cd/current/amd64/bt-cd/"
//! into = "/srv/torrents/debian"
//! match = "*-amd64-netinst.iso.torrent"
//! keep = 2            # or "all" (the default)
//! interval = "6h"     # or "30m", "1h30m", a number of seconds; default 1 h
//! remove = true       # remove what this feed wrote and no longer lists; default false
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use url::Url;

/// The default fetch interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest interval accepted: feeds are other people's servers.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// One feed: where to fetch, what to take, where to put it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The feed: an RSS or Atom feed, an HTML page (a directory index), or a text list of URLs.
    #[serde(deserialize_with = "de_url")]
    pub url: Url,
    /// The directory the `.torrent` files are written to (one of the daemon's watch dirs).
    pub into: PathBuf,
    /// A glob on the file name (`*-amd64-*.iso.torrent`); `None` takes every torrent and magnet.
    #[serde(rename = "match", default, deserialize_with = "de_glob")]
    pub match_glob: Option<String>,
    /// How many entries to hold.
    #[serde(default)]
    pub keep: Keep,
    /// How often to fetch (jittered).
    #[serde(default = "default_interval", deserialize_with = "de_interval")]
    pub interval: Duration,
    /// Remove a `.torrent` this feed wrote once the feed no longer lists it (or no longer
    /// selects it).
    #[serde(default)]
    pub remove: bool,
}

impl FeedConfig {
    /// A feed of `url` into `into` with the defaults: every torrent, hourly, nothing removed.
    pub fn new(url: Url, into: impl Into<PathBuf>) -> Self {
        Self {
            url,
            into: into.into(),
            match_glob: None,
            keep: Keep::All,
            interval: DEFAULT_INTERVAL,
            remove: false,
        }
    }
}

/// How many of the feed's entries to hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    /// Every entry the feed lists (and `match` takes).
    #[default]
    All,
    /// The newest N: by the feed's dates when every entry has one, else by position.
    Newest(usize),
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}

/// An http(s) URL.
fn de_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let s = String::deserialize(d)?;
    let url = Url::parse(&s).map_err(|e| de::Error::custom(format!("url {s:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(de::Error::custom(format!(
            "url {s:?}: only http:// and https:// feeds can be fetched"
        )));
    }
    Ok(url)
}

/// A glob that compiles.
fn de_glob<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    glob::Pattern::new(&s).map_err(|e| de::Error::custom(format!("match {s:?}: {e}")))?;
    Ok(Some(s))
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Keep;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""all" or a number of newest entries (1 or more)"#)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Keep, E> {
                match s {
                    "all" => Ok(Keep::All),
                    _ => Err(E::custom(format!(
                        r#"keep = {s:?}: say "all" or a number of newest entries"#
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Keep, E> {
                match usize::try_from(n) {
                    Ok(n) if n > 0 => Ok(Keep::Newest(n)),
                    _ => Err(E::custom(format!(
                        r#"keep = {n}: keep at least 1 entry (or "all")"#
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Keep, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses an interval: `90` (seconds), `90s`, `30m`, `6h`, `1d`, or sums like `1h30m`.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty interval".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{s:?}: unknown unit {c:?} (use s, m, h or d)")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{s:?}: a number must come before {c:?}"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{s:?}: too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!("{s:?}: a number without a unit at the end"));
    }
    Ok(Duration::from_secs(total))
}

/// An interval of at least [`MIN_INTERVAL`], as a string or a number of seconds.
fn de_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(r#"an interval such as "1h", "30m", "1h30m" or a number of seconds"#)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            let d = parse_interval(s).map_err(|e| E::custom(format!("interval {e}")))?;
            check_interval(d)
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
            let secs = u64::try_from(n)
                .map_err(|_| E::custom(format!("interval = {n}: must not be negative")))?;
            check_interval(Duration::from_secs(secs))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
            check_interval(Duration::from_secs(n))
        }
    }
    d.deserialize_any(V)
}

/// Refuses intervals below [`MIN_INTERVAL`].
fn check_interval<E: de::Error>(d: Duration) -> Result<Duration, E> {
    if d < MIN_INTERVAL {
        return Err(E::custom(format!(
            "interval of {} s is too short: at least {} s (feeds are other people's servers)",
            d.as_secs(),
            MIN_INTERVAL.as_secs()
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
