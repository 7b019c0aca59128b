//! Tests of the status JSON shape (design.md) and the readable table.

use super::*;

/// A report with one seeding, one downloading and one broken torrent.
pub(crate) fn sample() -> StatusReport {
    let torrents = vec![
        TorrentStatus {
            name: "debian-13.iso".into(),
            info_hash: "0123456789abcdef0123456789abcdef01234567".into(),
            torrent_file: "/srv/mirror/debian-13.iso.torrent".into(),
            state: "seeding".into(),
            progress: 1.0,
            size: 700 * 1024 * 1024,
            downloaded: 0,
            uploaded: 3 * 1024 * 1024,
            download_rate: 0,
            upload_rate: 200 * 1024,
            peers: 4,
            seeds: 0,
            error: None,
            lifetime_uploaded: 1400 * 1024 * 1024,
            lifetime_downloaded: 0,
            tracker_error: None,
        },
        TorrentStatus {
            name: "snapshot-2026.tar".into(),
            info_hash: "89abcdef0123456789abcdef0123456789abcdef".into(),
            torrent_file: "/srv/mirror/snapshot-2026.tar.torrent".into(),
            state: "downloading".into(),
            progress: 0.25,
            size: 4096 * 1024,
            downloaded: 1024 * 1024,
            uploaded: 0,
            download_rate: 1024 * 1024,
            upload_rate: 0,
            peers: 2,
            seeds: 1,
            error: None,
            lifetime_uploaded: 0,
            lifetime_downloaded: 1024 * 1024,
            tracker_error: Some(
                "every tracker failed: http://t.example/announce: timed out".into(),
            ),
        },
        TorrentStatus {
            name: "broken.torrent".into(),
            info_hash: String::new(),
            torrent_file: "/srv/mirror/broken.torrent".into(),
            state: "error".into(),
            error: Some("invalid torrent: truncated\nat byte 12".into()),
            ..TorrentStatus::default()
        },
    ];
    let totals = Totals::sum(&torrents);
    StatusReport {
        torrents,
        totals,
        listen_port: 6881,
        version: "0.1.0".into(),
    }
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    k.sort();
    k
}

#[test]
fn json_has_the_design_keys() {
    let v = serde_json::to_value(sample()).unwrap();
    assert_eq!(
        keys(&v),
        sorted(&["torrents", "totals", "listen_port", "version"])
    );
    // The design's keys, plus the lifetime counters it lets us add.
    let torrent_keys = [
        "name",
        "info_hash",
        "torrent_file",
        "state",
        "progress",
        "size",
        "downloaded",
        "uploaded",
        "download_rate",
        "upload_rate",
        "peers",
        "seeds",
        "error",
        "lifetime_uploaded",
        "lifetime_downloaded",
        "tracker_error",
    ];
    for t in v["torrents"].as_array().unwrap() {
        assert_eq!(keys(t), sorted(&torrent_keys));
    }
    let total_keys = [
        "uploaded",
        "downloaded",
        "upload_rate",
        "download_rate",
        "lifetime_uploaded",
        "lifetime_downloaded",
    ];
    assert_eq!(keys(&v["totals"]), sorted(&total_keys));
}

#[test]
fn json_value_types_match_the_design() {
    let v = serde_json::to_value(sample()).unwrap();
    let first = &v["torrents"][0];
    assert!(first["error"].is_null(), "no error is null, not absent");
    assert!(first["progress"].is_f64());
    assert_eq!(first["info_hash"].as_str().unwrap().len(), 40);
    assert_eq!(first["size"], 700 * 1024 * 1024);
    assert!(v["torrents"][2]["error"].is_string());
    assert_eq!(v["listen_port"], 6881);
    assert_eq!(v["version"], "0.1.0");
}

#[test]
fn json_round_trips_and_tolerates_missing_extras() {
    let report = sample();
    let text = serde_json::to_string(&report).unwrap();
    let back: StatusReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    // A daemon that only knows the design's keys still parses.
    let minimal = r#"{"torrents":[{"name":"a","info_hash":"","torrent_file":"a.torrent","state":"paused",
        "progress":0.5,"size":10,"downloaded":1,"uploaded":2,"download_rate":3,"upload_rate":4,
        "peers":5,"seeds":6,"error":null}],
        "totals":{"uploaded":2,"downloaded":1,"upload_rate":4,"download_rate":3},
        "listen_port":1,"version":"9.9.9"}"#;
    let r: StatusReport = serde_json::from_str(minimal).unwrap();
    assert_eq!(r.torrents[0].peers, 5);
    assert_eq!(r.torrents[0].lifetime_uploaded, 0);
    assert_eq!(r.totals.upload_rate, 4);
}

#[test]
fn totals_sum_the_torrents() {
    let r = sample();
    assert_eq!(r.totals.uploaded, 3 * 1024 * 1024);
    assert_eq!(r.totals.download_rate, 1024 * 1024);
    assert_eq!(r.totals.upload_rate, 200 * 1024);
    assert_eq!(r.totals.lifetime_uploaded, 1400 * 1024 * 1024);
    let big = TorrentStatus {
        uploaded: u64::MAX,
        ..TorrentStatus::default()
    };
    assert_eq!(Totals::sum(&[big.clone(), big]).uploaded, u64::MAX);
}

#[test]
fn ratio_and_eta() {
    let r = sample();
    let seeding = &r.torrents[0];
    assert!((seeding.ratio().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(seeding.eta(), None, "a seeder has no ETA");
    let dl = &r.torrents[1];
    // 3 MiB left at 1 MiB/s.
    assert_eq!(dl.eta(), Some(std::time::Duration::from_secs(3)));
    assert_eq!(r.torrents[2].ratio(), None, "empty torrent has no ratio");
    let stalled = TorrentStatus {
        download_rate: 0,
        ..dl.clone()
    };
    assert_eq!(stalled.eta(), None);
}

#[test]
fn table_shows_every_torrent_and_totals() {
    let text = format_table(&sample());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert!(lines[1].starts_with("debian-13.iso"), "{text}");
    assert!(lines[1].contains("seeding") && lines[1].contains("100.0%"));
    assert!(lines[1].contains("200.0 KiB/s") && lines[1].contains("4/0"));
    assert!(lines[1].contains("2.00"), "ratio: {}", lines[1]);
    assert!(lines[2].contains("downloading") && lines[2].contains("25.0%"));
    // A failing tracker, on a line of its own under its torrent.
    assert_eq!(
        lines[3],
        "    tracker: every tracker failed: http://t.example/announce: timed out"
    );
    assert!(lines[4].starts_with("broken.torrent") && lines[4].contains("error"));
    // The error reason, on one line of its own.
    assert_eq!(lines[5], "    error: invalid torrent: truncated at byte 12");
    let totals = lines[6];
    assert!(
        totals.starts_with("3 torrents (1 downloading, 1 seeding, 1 error)"),
        "{totals}"
    );
    assert!(totals.contains("port 6881") && totals.contains("1.4 GiB up"));
    assert_eq!(lines.len(), 7);
}

#[test]
fn table_columns_line_up() {
    let text = format_table(&sample());
    let lines: Vec<&str> = text.lines().collect();
    let col = |l: &str, word: &str| l.find(word).unwrap();
    // STATE column starts at the same place on every torrent line.
    let state_at = col(lines[0], "STATE");
    assert_eq!(col(lines[1], "seeding"), state_at);
    assert_eq!(col(lines[2], "downloading"), state_at);
}

#[test]
fn empty_report_table() {
    let text = format_table(&StatusReport::default());
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("0 torrents (none)"), "{text}");
}

#[test]
fn truncate_and_percent() {
    assert_eq!(truncate("abcdef", 4), "abc…");
    assert_eq!(truncate("abc", 4), "abc");
    assert_eq!(truncate("a\x1b[2Jb", 10), "a?[2Jb");
    assert_eq!(truncate("abc", 0), "");
    assert_eq!(truncate("ééééé", 3), "éé…");
    assert_eq!(format_percent(0.375), "37.5%");
    assert_eq!(format_percent(7.0), "100.0%");
    assert_eq!(format_percent(f64::NAN), "0.0%");
    assert_eq!(format_percent(-1.0), "0.0%");
}

#[test]
fn state_counts_in_display_order() {
    let mk = |s: &str| TorrentStatus {
        state: s.into(),
        ..TorrentStatus::default()
    };
    let list = [
        mk("error"),
        mk("seeding"),
        mk("weird"),
        mk("seeding"),
        mk("checking"),
    ];
    assert_eq!(
        state_counts(&list),
        "1 checking, 2 seeding, 1 error, 1 weird"
    );
}
