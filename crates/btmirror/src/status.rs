//! `btmirror status [--json]`: one-shot status of a running daemon, and the status types
//! (design.md, "Status as JSON") that the daemon fills in and `status`/`top` read over the
//! control socket.
//!
//! The JSON key names are the contract: scripts rely on them. Extra fields (the lifetime byte
//! counters) are allowed by the design ("add freely"); readers tolerate missing extras so that
//! an older daemon still answers a newer client.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cli::StatusArgs;
use crate::{control, paths, units};

/// The whole status of a running daemon, as `btmirror status --json` prints it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// One entry per torrent in the watched directories.
    pub torrents: Vec<TorrentStatus>,
    /// Sums over all torrents.
    pub totals: Totals,
    /// The port the daemon listens on for peers.
    pub listen_port: u16,
    /// The daemon's version (`x.y.z`).
    pub version: String,
}

/// One torrent's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TorrentStatus {
    /// The torrent's name (or the `.torrent` file name when it cannot be parsed).
    pub name: String,
    /// The info-hash as 40 lowercase hex digits; empty when the `.torrent` is unparseable.
    pub info_hash: String,
    /// Path of the `.torrent` file.
    pub torrent_file: String,
    /// One of `checking`, `downloading`, `seeding`, `paused`, `error`.
    pub state: String,
    /// Fraction of the data present and verified, 0.0..=1.0.
    pub progress: f64,
    /// Total size of the data in bytes.
    pub size: u64,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// Current download rate in bytes per second.
    pub download_rate: u64,
    /// Current upload rate in bytes per second.
    pub upload_rate: u64,
    /// Connected peers (seeds included).
    pub peers: u32,
    /// Connected peers that have the whole torrent.
    pub seeds: u32,
    /// Why the torrent is in the `error` state, else `null`.
    pub error: Option<String>,
    /// Bytes uploaded over the torrent's whole life (persisted across restarts).
    #[serde(default)]
    pub lifetime_uploaded: u64,
    /// Bytes downloaded over the torrent's whole life (persisted across restarts).
    #[serde(default)]
    pub lifetime_downloaded: u64,
    /// Why the last announce failed (every tracker), else `null`; the torrent keeps trying.
    #[serde(default)]
    pub tracker_error: Option<String>,
}

/// Sums over all torrents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Current upload rate in bytes per second.
    pub upload_rate: u64,
    /// Current download rate in bytes per second.
    pub download_rate: u64,
    /// Bytes uploaded over the whole life of the current torrents.
    #[serde(default)]
    pub lifetime_uploaded: u64,
    /// Bytes downloaded over the whole life of the current torrents.
    #[serde(default)]
    pub lifetime_downloaded: u64,
}

impl Totals {
    /// The sums of `torrents`' counters and rates (saturating).
    pub fn sum(torrents: &[TorrentStatus]) -> Self {
        torrents.iter().fold(Self::default(), |t, s| Self {
            uploaded: t.uploaded.saturating_add(s.uploaded),
            downloaded: t.downloaded.saturating_add(s.downloaded),
            upload_rate: t.upload_rate.saturating_add(s.upload_rate),
            download_rate: t.download_rate.saturating_add(s.download_rate),
            lifetime_uploaded: t.lifetime_uploaded.saturating_add(s.lifetime_uploaded),
            lifetime_downloaded: t.lifetime_downloaded.saturating_add(s.lifetime_downloaded),
        })
    }
}

impl TorrentStatus {
    /// The status of a running torrent from the engine's handle; `lifetime` is (uploaded,
    /// downloaded) before this run.
    pub fn from_handle(
        h: &engine::TorrentHandle,
        torrent_file: String,
        lifetime: (u64, u64),
    ) -> Self {
        let s = h.stats();
        let meta = h.metainfo();
        Self {
            name: meta.info.name.clone(),
            info_hash: meta.info_hash.to_hex(),
            torrent_file,
            state: s.state.as_str().to_owned(),
            progress: s.progress.clamp(0.0, 1.0),
            size: s.size,
            downloaded: s.downloaded,
            uploaded: s.uploaded,
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            peers: s.peers,
            seeds: s.seeds,
            error: s.error,
            lifetime_uploaded: lifetime.0.saturating_add(s.uploaded),
            lifetime_downloaded: lifetime.1.saturating_add(s.downloaded),
            tracker_error: s.tracker_error,
        }
    }

    /// Upload/download ratio over the torrent's life: uploaded bytes divided by the size
    /// (the data a seeder never downloaded still counts), `None` for an empty torrent.
    pub fn ratio(&self) -> Option<f64> {
        let up = self.lifetime_uploaded.max(self.uploaded);
        let base = self.lifetime_downloaded.max(self.downloaded).max(self.size);
        (base > 0).then(|| up as f64 / base as f64)
    }

    /// Estimated time until the download completes at the current rate; `None` when complete,
    /// stalled, or not downloading.
    pub fn eta(&self) -> Option<std::time::Duration> {
        if self.state != "downloading" || self.download_rate == 0 {
            return None;
        }
        let have = (self.progress.clamp(0.0, 1.0) * self.size as f64) as u64;
        let left = self.size.saturating_sub(have);
        (left > 0).then(|| std::time::Duration::from_secs(left.div_ceil(self.download_rate)))
    }
}

/// `btmirror status [--json]`: asks the daemon over its control socket and prints the answer.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let state_dir = paths::state_dir(args.state_dir.as_deref(), &paths::Env::from_process())?;
    let report = control::query(&paths::control_socket(&state_dir)).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let text = format_table(&report);
        outln!("{}", text.trim_end());
    }
    Ok(())
}

/// Width of the name column in the table (longer names are shortened with `…`).
const NAME_WIDTH: usize = 32;

/// The readable form of a report: one line per torrent, errors on an indented line below,
/// then a totals line.
pub fn format_table(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<NAME_WIDTH$}  {:<11}  {:>6}  {:>10}  {:>12}  {:>12}  {:>7}  {:>10}  {:>6}",
        "NAME", "STATE", "DONE", "SIZE", "DOWN", "UP", "PEERS", "UPLOADED", "RATIO"
    );
    for t in &report.torrents {
        let ratio = t
            .ratio()
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "{:<NAME_WIDTH$}  {:<11}  {:>6}  {:>10}  {:>12}  {:>12}  {:>7}  {:>10}  {:>6}",
            truncate(&t.name, NAME_WIDTH),
            truncate(&t.state, 11),
            format_percent(t.progress),
            units::format_bytes(t.size),
            units::format_rate(t.download_rate),
            units::format_rate(t.upload_rate),
            format!("{}/{}", t.peers, t.seeds),
            units::format_bytes(t.uploaded),
            ratio,
        );
        if let Some(err) = &t.error {
            let _ = writeln!(out, "    error: {}", one_line(err));
        } else if let Some(err) = &t.tracker_error {
            let _ = writeln!(out, "    tracker: {}", one_line(err));
        }
    }
    let totals = &report.totals;
    let _ = writeln!(
        out,
        "{} torrents ({}); down {} up {}; this session {} down, {} up; lifetime {} down, {} up; port {}; btmirror {}",
        report.torrents.len(),
        state_counts(&report.torrents),
        units::format_rate(totals.download_rate),
        units::format_rate(totals.upload_rate),
        units::format_bytes(totals.downloaded),
        units::format_bytes(totals.uploaded),
        units::format_bytes(totals.lifetime_downloaded),
        units::format_bytes(totals.lifetime_uploaded),
        report.listen_port,
        report.version,
    );
    out
}

/// The states in display order.
pub const STATES: [&str; 5] = ["checking", "downloading", "seeding", "paused", "error"];

/// `2 seeding, 1 error`: how many torrents are in each state (states with none are left out;
/// unknown states are counted under their own name). `none` for an empty list.
pub fn state_counts(torrents: &[TorrentStatus]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for t in torrents {
        match parts.iter_mut().find(|(s, _)| *s == t.state) {
            Some((_, n)) => *n += 1,
            None => parts.push((t.state.clone(), 1)),
        }
    }
    parts.sort_by_key(|(s, _)| STATES.iter().position(|k| k == s).unwrap_or(STATES.len()));
    if parts.is_empty() {
        return "none".to_owned();
    }
    parts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `37.5%`, clamped to 0..=100 (`NaN` shows as `0.0%`).
pub fn format_percent(progress: f64) -> String {
    let p = if progress.is_nan() {
        0.0
    } else {
        progress.clamp(0.0, 1.0)
    };
    format!("{:.1}%", p * 100.0)
}

/// `s` shortened to at most `width` characters, ending in `…` when cut; control characters
/// (from hostile torrent names) become `?`.
pub fn truncate(s: &str, width: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() <= width {
        return clean;
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = clean.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// `s` with newlines and other control characters replaced by spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
