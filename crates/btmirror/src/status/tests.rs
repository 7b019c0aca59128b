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
fn table_shows_web_seeds_in_use_or_failing_with_the_reason() {
    use daemon::control::protocol::WebSeedStatus;
    let mut r = sample();
    let ws = |url: &str, state: &str, error: Option<&str>| WebSeedStatus {
        url: url.into(),
        state: state.into(),
        downloaded: 1 << 20,
        error: error.map(Into::into),
        ..WebSeedStatus::default()
    };
    r.torrents[1].web_seeds = vec![
        ws("http://a/", "active", None),
        ws("http://b/", "idle", None),
        ws(
            "http://c/",
            "banned",
            Some("3 pieces failed the hash check"),
        ),
    ];
    let t = format_table(&r);
    assert!(t.contains("web seed http://a/: active, 1.0 MiB"), "{t}");
    assert!(!t.contains("http://b/"), "idle ones are left out:\n{t}");
    assert!(
        t.contains("web seed http://c/: banned, 1.0 MiB at 0 B/s (3 pieces failed the hash check)"),
        "{t}"
    );
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

#[test]
fn long_names_are_cut_only_to_fit_a_terminal() {
    let mut r = sample();
    let long = "debian-13.0.0-amd64-DVD-1-with-firmware-and-extras.iso";
    r.torrents[0].name = long.to_owned();
    // A pipe: nothing cut. A wide terminal: nothing cut. A narrow one: cut at 32.
    assert_eq!(super::name_width(&r, None), long.len());
    assert_eq!(super::name_width(&r, Some(200)), long.len());
    assert_eq!(super::name_width(&r, Some(80)), 32);
    assert_eq!(super::name_width(&r, Some(130)), 40);
    let text = super::format_table_with(&r, super::name_width(&r, Some(200)));
    assert!(text.contains(long), "{text}");
    assert!(!format_table(&r).contains(long));
}

/// The table with the narrowest name column.
fn format_table(report: &StatusReport) -> String {
    super::format_table_with(report, super::NAME_WIDTH)
}
