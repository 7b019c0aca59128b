//! Tests of sorting, filtering, scrolling and key handling.

use super::*;
use crossterm::event::KeyEventState;

fn t(name: &str, state: &str, progress: f64, down: u64, up: u64, peers: u32) -> TorrentStatus {
    TorrentStatus {
        name: name.into(),
        torrent_file: format!("/w/{name}.torrent"),
        state: state.into(),
        progress,
        size: 1000,
        download_rate: down,
        upload_rate: up,
        uploaded: up * 10,
        peers,
        ..TorrentStatus::default()
    }
}

fn report() -> StatusReport {
    StatusReport {
        torrents: vec![
            t("bravo", "seeding", 1.0, 0, 50, 3),
            t("Alpha", "downloading", 0.5, 100, 10, 1),
            t("charlie", "error", 0.0, 0, 0, 0),
            t("delta-iso", "checking", 0.2, 0, 0, 7),
        ],
        ..StatusReport::default()
    }
}

fn names(view: &View, r: &StatusReport) -> Vec<String> {
    view.rows(r).iter().map(|t| t.name.clone()).collect()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Press,
        state: KeyEventState::NONE,
    }
}

#[test]
fn default_sort_is_by_name_case_insensitive() {
    let r = report();
    assert_eq!(
        names(&View::default(), &r),
        ["Alpha", "bravo", "charlie", "delta-iso"]
    );
}

#[test]
fn each_sort_column_orders_rows() {
    let r = report();
    let with = |sort| {
        names(
            &View {
                sort,
                ..View::default()
            },
            &r,
        )
    };
    assert_eq!(
        with(SortKey::State),
        ["delta-iso", "Alpha", "bravo", "charlie"]
    );
    assert_eq!(
        with(SortKey::Progress),
        ["charlie", "delta-iso", "Alpha", "bravo"]
    );
    assert_eq!(with(SortKey::Down)[0], "Alpha");
    assert_eq!(
        with(SortKey::Up),
        ["bravo", "Alpha", "charlie", "delta-iso"]
    );
    assert_eq!(with(SortKey::Peers)[0], "delta-iso");
    assert_eq!(with(SortKey::Uploaded)[0], "bravo");
    // Only Alpha is downloading with a rate, so only it has an ETA.
    assert_eq!(with(SortKey::Eta)[0], "Alpha");
    assert_eq!(with(SortKey::Ratio)[0], "bravo");
}

#[test]
fn s_cycles_through_every_column_and_back() {
    let mut v = View::default();
    let mut seen = vec![v.sort];
    for _ in 0..9 {
        assert_eq!(v.on_key(key(KeyCode::Char('s')), 4), Action::Continue);
        seen.push(v.sort);
    }
    assert_eq!(seen.first(), seen.last());
    let mut labels: Vec<&str> = seen[..9].iter().map(|s| s.label()).collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), 9, "every column once");
}

#[test]
fn filter_typing_enter_and_escape() {
    let r = report();
    let mut v = View::default();
    v.on_key(key(KeyCode::Char('/')), 4);
    assert!(v.editing);
    for c in "ALP".chars() {
        v.on_key(key(KeyCode::Char(c)), 4);
    }
    assert_eq!(names(&v, &r), ["Alpha"]);
    // While editing, q and s are text, not commands.
    assert_eq!(v.on_key(key(KeyCode::Char('q')), 1), Action::Continue);
    assert_eq!(v.filter, "ALPq");
    assert_eq!(v.sort, SortKey::Name);
    v.on_key(key(KeyCode::Backspace), 1);
    v.on_key(key(KeyCode::Enter), 1);
    assert!(!v.editing);
    assert_eq!(v.filter, "ALP");
    assert_eq!(names(&v, &r), ["Alpha"]);
    v.on_key(key(KeyCode::Esc), 1);
    assert!(v.filter.is_empty());
    assert_eq!(names(&v, &r).len(), 4);
    // Esc while editing also clears and leaves the prompt.
    v.on_key(key(KeyCode::Char('/')), 4);
    v.on_key(key(KeyCode::Char('z')), 4);
    assert!(names(&v, &r).is_empty());
    v.on_key(key(KeyCode::Esc), 0);
    assert!(!v.editing && v.filter.is_empty());
}

#[test]
fn quit_keys() {
    let mut v = View::default();
    assert_eq!(v.on_key(key(KeyCode::Char('q')), 0), Action::Quit);
    let ctrl_c = KeyEvent {
        modifiers: KeyModifiers::CONTROL,
        ..key(KeyCode::Char('c'))
    };
    v.editing = true;
    assert_eq!(v.on_key(ctrl_c, 0), Action::Quit);
    let release = KeyEvent {
        kind: KeyEventKind::Release,
        ..key(KeyCode::Char('q'))
    };
    v.editing = false;
    assert_eq!(v.on_key(release, 0), Action::Continue);
}

#[test]
fn scrolling_stays_in_range() {
    let mut v = View {
        page: 10,
        ..View::default()
    };
    let rows = 25;
    v.on_key(key(KeyCode::Up), rows);
    assert_eq!(v.scroll, 0);
    v.on_key(key(KeyCode::Down), rows);
    assert_eq!(v.scroll, 1);
    v.on_key(key(KeyCode::PageDown), rows);
    assert_eq!(v.scroll, 11);
    v.on_key(key(KeyCode::PageDown), rows);
    assert_eq!(v.scroll, 15, "the last page ends at the last row");
    v.on_key(key(KeyCode::PageUp), rows);
    assert_eq!(v.scroll, 5);
    v.on_key(key(KeyCode::End), rows);
    assert_eq!(v.scroll, 15);
    v.on_key(key(KeyCode::Home), rows);
    assert_eq!(v.scroll, 0);
    // Fewer rows than a page: no scrolling at all.
    v.on_key(key(KeyCode::PageDown), 3);
    assert_eq!(v.scroll, 0);
    // The list shrinking under a scrolled view pulls it back.
    v.scroll = 15;
    v.clamp(12);
    assert_eq!(v.scroll, 2);
}
