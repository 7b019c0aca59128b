//! The daemon's status: the design's status JSON built from the registry (served on the
//! control socket) and the one-line summary sent to systemd as `STATUS=`.

use std::path::Path;

use super::reconcile::{Registry, Slot};
use super::totals::Transferred;
use crate::control::protocol::{
    DhtStatus, EncryptionStatus, StatusReport, TorrentStatus, Totals, WatchDirError, state_counts,
};
use crate::units::format_rate;

/// The status of every `.torrent` file in the watch directories.
pub fn build(reg: &Registry, session: &engine::Session) -> StatusReport {
    let torrents: Vec<TorrentStatus> = reg
        .entries
        .iter()
        .map(|(path, e)| match &e.slot {
            Slot::Pending => unparsed(path, "checking", None),
            Slot::Failed(reason) => unparsed(path, "error", Some(reason.clone())),
            Slot::Fetching(f) => fetching(path, f),
            Slot::Running(r) => {
                TorrentStatus::from_handle(&r.handle, path.display().to_string(), r.lifetime)
            }
        })
        .collect();
    StatusReport {
        totals: totals(reg, &torrents),
        torrents,
        listen_port: session.listen_addr().port(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        encryption: EncryptionStatus::from_session(session),
        feeds: Vec::new(),
        watch_errors: reg
            .dir_errors
            .iter()
            .map(|(d, e)| WatchDirError {
                dir: d.display().to_string(),
                error: e.clone(),
            })
            .collect(),
        dht: DhtStatus::from_session(session),
    }
}

/// The sums over `torrents` plus the bytes of the torrents stopped during this run; the
/// lifetime counters are the daemon's (kept across restarts), not the current torrents'.
fn totals(reg: &Registry, torrents: &[TorrentStatus]) -> Totals {
    let mut t = Totals::sum(torrents);
    let run = reg.retired.plus(Transferred {
        uploaded: t.uploaded,
        downloaded: t.downloaded,
    });
    t.uploaded = run.uploaded;
    t.downloaded = run.downloaded;
    let life = reg.lifetime_before.plus(run);
    t.lifetime_uploaded = life.uploaded;
    t.lifetime_downloaded = life.downloaded;
    t
}

/// The daemon's lifetime bytes now: before this run, plus this run's (running and stopped
/// torrents).
pub fn lifetime(reg: &Registry) -> Transferred {
    let run = reg
        .entries
        .values()
        .filter_map(|e| match &e.slot {
            Slot::Running(r) => Some(Transferred::from(&r.handle.stats())),
            _ => None,
        })
        .fold(reg.retired, Transferred::plus);
    reg.lifetime_before.plus(run)
}

/// A `.magnet` whose metadata is being fetched: state `metadata`, named after its `dn` (else
/// the file), with its info-hash and the peers being asked.
fn fetching(path: &Path, f: &engine::MetadataFetch) -> TorrentStatus {
    let p = f.progress();
    let mut t = unparsed(path, "metadata", None);
    if let Some(dn) = &f.magnet().name {
        t.name.clone_from(dn);
    }
    t.info_hash = f.info_hash().to_hex();
    t.peers = u32::try_from(p.peers_active).unwrap_or(u32::MAX);
    t.tracker_error = p.tracker_error;
    t
}

/// A `.torrent` that is not running: named after its file, no info-hash.
fn unparsed(path: &Path, state: &str, error: Option<String>) -> TorrentStatus {
    TorrentStatus {
        name: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        torrent_file: path.display().to_string(),
        state: state.to_owned(),
        error,
        ..TorrentStatus::default()
    }
}

/// `12 seeding, 2 downloading; up 1.2 MiB/s, down 300 KiB/s` (for systemd's `STATUS=`).
pub fn summary(report: &StatusReport) -> String {
    format!(
        "{}; up {}, down {}",
        state_counts(&report.torrents),
        format_rate(report.totals.upload_rate),
        format_rate(report.totals.download_rate)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsed_files_show_their_name_and_reason() {
        let t = unparsed(Path::new("/t/a.torrent"), "error", Some("bad".into()));
        assert_eq!(t.name, "a.torrent");
        assert_eq!(t.info_hash, "");
        assert_eq!(t.torrent_file, "/t/a.torrent");
        assert_eq!(t.error.as_deref(), Some("bad"));
        let r = StatusReport {
            torrents: vec![
                t.clone(),
                t,
                unparsed(Path::new("b.torrent"), "checking", None),
            ],
            ..StatusReport::default()
        };
        let s = summary(&r);
        assert!(s.starts_with("1 checking, 2 error; up "), "{s}");
    }
}
