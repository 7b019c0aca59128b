//! Rendering tests on ratatui's `TestBackend`.

use super::columns::MIN_NAME;
use super::*;
use daemon::fixtures::sample;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SOCKET: &str = "/state/control.sock";

fn draw_text(
    report: Option<&StatusReport>,
    link: &Link,
    view: &mut View,
    w: u16,
    h: u16,
) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, report, link, view, SOCKET)).unwrap();
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

fn find<'a>(lines: &'a [String], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", lines.join("\n")))
}

#[test]
fn full_screen_at_80x24() {
    let r = sample();
    let mut view = View::default();
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 80, 24);
    let all = lines.join("\n");
    assert!(
        lines[0].starts_with("btmirror 0.1.0  port 6881  /state/control.sock"),
        "{all}"
    );
    assert!(
        lines[1].starts_with("down") && lines[1].contains("1.0 MiB this session"),
        "{all}"
    );
    assert!(
        lines[2].starts_with("up") && lines[2].contains("3.0 MiB this session, 1.4 GiB lifetime"),
        "{all}"
    );
    assert!(
        lines[3].starts_with("3 torrents: 1 downloading, 1 seeding, 1 error"),
        "{all}"
    );
    for col in [
        "NAME", "STATE", "PROGRESS", "DOWN", "UP", "P/S", "UPLOAD", "RATIO", "ETA",
    ] {
        assert!(lines[4].contains(col), "column {col} missing: {}", lines[4]);
    }
    // Sorted by name: broken, debian, snapshot.
    assert!(
        lines[5].starts_with("broken.torrent") && lines[5].contains("error"),
        "{all}"
    );
    assert!(
        lines[5].contains("invalid torrent: truncated at byte 12"),
        "the reason shows: {all}"
    );
    let debian = find(&lines, "debian-13.iso");
    assert!(
        debian.contains("seeding") && debian.contains("100%") && debian.contains("200K/s"),
        "{debian}"
    );
    assert!(
        debian.contains("4/0") && debian.contains("3.0M") && debian.contains("2.00"),
        "{debian}"
    );
    let snap = find(&lines, "snapshot-2026.tar");
    assert!(
        snap.contains("downloading") && snap.contains(" 25%") && snap.contains("3s"),
        "{snap}"
    );
    assert!(
        lines[23].contains("q quit") && lines[23].contains("sort:name"),
        "{all}"
    );
    assert!(lines[23].contains("1-3 of 3"), "{}", lines[23]);
    assert_eq!(view.page, 18, "24 lines less 5 of header and 1 of footer");
}

#[test]
fn narrow_and_tiny_terminals_do_not_panic() {
    let r = sample();
    for (w, h) in [
        (0, 0),
        (1, 1),
        (10, 3),
        (20, 5),
        (40, 6),
        (60, 10),
        (79, 24),
        (200, 60),
    ] {
        let mut view = View {
            scroll: 99,
            ..View::default()
        };
        let lines = draw_text(Some(&r), &Link::Lost("x\ny".into()), &mut view, w, h);
        assert_eq!(lines.len(), usize::from(h));
        let _ = draw_text(None, &Link::Connecting, &mut View::default(), w, h);
    }
}

#[test]
fn narrow_terminal_drops_columns_but_keeps_name_and_state() {
    let r = sample();
    let lines = draw_text(Some(&r), &Link::Live, &mut View::default(), 40, 12);
    let debian = find(&lines, "debian-13.iso");
    assert!(debian.contains("seeding"), "{}", lines.join("\n"));
    assert!(
        !lines[4].contains("RATIO"),
        "ratio is dropped first: {}",
        lines[4]
    );
    let (name, cols) = layout_columns(40);
    assert!(name >= MIN_NAME);
    let end = cols.last().map_or(name, |c| c.2 + c.3);
    assert!(end <= 40, "columns fit: {cols:?}");
    let (name, cols) = layout_columns(5);
    assert!(cols.is_empty() && name == 5);
}

#[test]
fn lost_daemon_keeps_figures_and_says_so() {
    let r = sample();
    let lines = draw_text(
        Some(&r),
        &Link::Lost("no btmirror daemon is listening".into()),
        &mut View::default(),
        80,
        24,
    );
    assert!(
        lines[3].starts_with("daemon gone (figures stale), retrying each second: no btmirror"),
        "{}",
        lines[3]
    );
    find(&lines, "debian-13.iso");
    let lines = draw_text(
        None,
        &Link::Lost("nope".into()),
        &mut View::default(),
        80,
        24,
    );
    find(&lines, "the daemon is not answering");
    let lines = draw_text(Some(&r), &Link::Reconnected, &mut View::default(), 80, 24);
    assert!(
        lines[3].starts_with("daemon is back, reconnected  3 torrents"),
        "{}",
        lines[3]
    );
    let lines = draw_text(None, &Link::Connecting, &mut View::default(), 80, 24);
    assert!(
        lines[0].starts_with("btmirror top  /state/control.sock"),
        "{}",
        lines[0]
    );
    assert!(lines[3].starts_with("connecting"), "{}", lines[3]);
    find(&lines, "waiting for the daemon");
}

#[test]
fn filter_and_scroll_show_in_footer_and_list() {
    let r = sample();
    let mut view = View {
        filter: "deb".into(),
        ..View::default()
    };
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 80, 24);
    assert!(
        lines[5].starts_with("debian-13.iso"),
        "{}",
        lines.join("\n")
    );
    assert!(!lines.iter().any(|l| l.contains("snapshot")));
    assert!(
        lines[23].contains("\"deb\"") && lines[23].contains("1-1 of 1 (3 in all)"),
        "{}",
        lines[23]
    );
    let mut view = View {
        filter: "zzz".into(),
        ..View::default()
    };
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 80, 24);
    find(&lines, "no torrent name contains \"zzz\"");
    let mut view = View {
        editing: true,
        filter: "sn".into(),
        ..View::default()
    };
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 80, 24);
    assert!(lines[23].starts_with("filter: sn_"), "{}", lines[23]);
    // A page of 2 rows, scrolled to the end.
    let mut view = View {
        scroll: 5,
        ..View::default()
    };
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 80, 8);
    assert_eq!(view.scroll, 1);
    assert!(
        lines[5].starts_with("debian") && lines[6].starts_with("snapshot"),
        "{}",
        lines.join("\n")
    );
    assert!(lines[7].contains("2-3 of 3"), "{}", lines[7]);
}

#[test]
fn progress_bar_and_compact_units() {
    assert_eq!(progress_bar(0.5, 9), "██░░  50%");
    assert_eq!(progress_bar(1.0, 9), "████ 100%");
    assert_eq!(
        progress_bar(0.999, 9),
        "███░  99%",
        "never 100% before done"
    );
    assert_eq!(progress_bar(f64::NAN, 9), "░░░░   0%");
    assert_eq!(progress_bar(0.5, 2), " 50%");
    assert_eq!(compact_bytes(0), "0B");
    assert_eq!(compact_bytes(999), "999B");
    assert_eq!(compact_bytes(1000), "1.0K");
    assert_eq!(compact_bytes(1536), "1.5K");
    assert_eq!(compact_bytes(200 * 1024), "200K");
    assert_eq!(compact_bytes(1023 * 1024), "1.0M");
    assert_eq!(compact_bytes(1400 * 1024 * 1024), "1.4G");
    assert_eq!(compact_bytes(u64::MAX), "16E");
    for n in [0, 999, 1000, 10_239, 1_023_999, 1 << 30, u64::MAX] {
        assert!(
            compact_bytes(n).chars().count() <= 4,
            "{n}: {}",
            compact_bytes(n)
        );
    }
    assert_eq!(compact_rate(1536), "1.5K/s");
}

#[test]
fn the_sorted_column_is_marked() {
    let r = sample();
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut view = View {
        sort: SortKey::Up,
        ..View::default()
    };
    term.draw(|f| draw(f, Some(&r), &Link::Live, &mut view, SOCKET))
        .unwrap();
    let buf = term.backend().buffer();
    let header: String = (0..80).map(|x| buf[(x, 4)].symbol()).collect();
    let up = u16::try_from(header.find("UP ").unwrap()).unwrap();
    let name = u16::try_from(header.find("NAME").unwrap()).unwrap();
    assert!(buf[(up, 4)].modifier.contains(Modifier::UNDERLINED));
    assert!(!buf[(name, 4)].modifier.contains(Modifier::UNDERLINED));
    // The first row is the fastest uploader.
    let first: String = (0..80).map(|x| buf[(x, 5)].symbol()).collect();
    assert!(first.starts_with("debian-13.iso"), "{first}");
}

#[test]
fn web_seeds_show_in_use_of_known_on_a_wide_terminal() {
    use daemon::control::protocol::WebSeedStatus;
    let mut r = sample();
    let seed = |state: &str| WebSeedStatus {
        url: format!("http://{state}.example/"),
        state: state.to_owned(),
        ..WebSeedStatus::default()
    };
    r.torrents[0].web_seeds = vec![seed("active"), seed("banned"), seed("idle")];
    let mut view = View::default();
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 120, 24);
    let all = lines.join("\n");
    assert!(lines[4].contains("WEB"), "{all}");
    let name = &r.torrents[0].name;
    assert!(find(&lines, name).trim_end().ends_with("1/3"), "{all}");
    // Narrow: the WEB column is the first to go.
    let lines = draw_text(Some(&r), &Link::Live, &mut view, 80, 24);
    assert!(!lines[4].contains("WEB"), "{}", lines.join("\n"));
}
