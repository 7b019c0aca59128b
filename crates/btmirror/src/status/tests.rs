//! Tests of the readable table.

use super::*;
use daemon::fixtures::sample;

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
fn one_torrent_is_singular() {
    // Issue 15, "Smaller": no "1 torrents".
    let report = StatusReport {
        torrents: vec![daemon::control::protocol::TorrentStatus {
            name: "a.iso".into(),
            state: "seeding".into(),
            ..Default::default()
        }],
        ..StatusReport::default()
    };
    let text = format_table(&report);
    assert!(text.contains("\n1 torrent (1 seeding)"), "{text}");
}
