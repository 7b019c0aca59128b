//! The statistics page's data: one row per torrent and the totals.

use std::sync::Arc;

use metainfo::InfoHash;
use serde::Serialize;

/// One row of the statistics page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TorrentStats {
    #[serde(serialize_with = "hex")]
    pub info_hash: InfoHash,
    #[serde(serialize_with = "opt_str")]
    pub name: Option<Arc<str>>,
    pub seeders: u32,
    pub leechers: u32,
    pub completed: u64,
}

fn hex<S: serde::Serializer>(ih: &InfoHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ih.to_hex())
}

fn opt_str<S: serde::Serializer>(name: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(n) => s.serialize_some(&**n),
        None => s.serialize_none(),
    }
}

/// Sums over all rows of the statistics page.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Totals {
    pub torrents: usize,
    pub seeders: u64,
    pub leechers: u64,
    pub completed: u64,
}

/// The statistics page's data (also the `/stats.json` document).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stats {
    pub torrents: Vec<TorrentStats>,
    pub totals: Totals,
}

impl Stats {
    /// Sorts the rows by name, then info-hash, and keeps the first `cap`.
    pub fn sort_and_cap(&mut self, cap: usize) {
        self.torrents.sort_unstable_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| a.info_hash.0.cmp(&b.info_hash.0))
        });
        self.torrents.truncate(cap);
    }
}
