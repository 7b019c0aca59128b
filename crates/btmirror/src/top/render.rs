//! Drawing `btmirror top`: pure functions from a [`StatusReport`] and a [`View`] to a ratatui
//! frame, so that layouts are tested on ratatui's `TestBackend`.
//!
//! Screen, top to bottom: a title line (version, port, socket), a download line and an upload
//! line (rate, this session, lifetime), counts by state (or what is wrong with the connection),
//! the column header, one line per torrent, and a footer with the keys. Columns that do not fit are dropped, least
//! important first, so that the name keeps at least [`columns::MIN_NAME`] cells.

use daemon::control::protocol::{StatusReport, TorrentStatus, state_counts};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use self::columns::{Col, Placed, layout_columns, sort_column};
use super::model::{Link, SortKey, View};
use crate::status;
use crate::units;

/// Lines above the torrent list (title, down, up, connection, column header).
const HEADER_LINES: u16 = 5;

/// A one-line area.
fn line_at(x: u16, y: u16, width: u16) -> Rect {
    Rect {
        x,
        y,
        width,
        height: 1,
    }
}

/// Draws the whole screen; records the list's height in `view.page` and keeps the scroll
/// position in range. `socket` is the control socket path, for the connection line.
pub fn draw(
    frame: &mut Frame<'_>,
    report: Option<&StatusReport>,
    link: &Link,
    view: &mut View,
    socket: &str,
) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let head_h = area.height.min(HEADER_LINES - 1);
    draw_header(
        frame,
        Rect {
            height: head_h,
            ..area
        },
        report,
        link,
        socket,
    );
    let rest = area.height.saturating_sub(head_h);
    if rest == 0 {
        return;
    }
    let footer_y = area.y + area.height - 1;
    let (name_w, cols) = layout_columns(area.width);
    let list_y = area.y + head_h + 1;
    let list_h = footer_y.saturating_sub(list_y);
    view.page = usize::from(list_h);

    let rows = report.map(|r| view.rows(r)).unwrap_or_default();
    view.clamp(rows.len());
    if rest >= 2 {
        let bar = line_at(area.x, area.y + head_h, area.width);
        draw_column_bar(frame, bar, name_w, &cols, view.sort);
    }
    if list_h > 0 {
        let list = Rect {
            x: area.x,
            y: list_y,
            width: area.width,
            height: list_h,
        };
        let empty = empty_message(report, link, view);
        let shown = rows.iter().skip(view.scroll).copied();
        draw_list(frame, list, shown, empty, name_w, &cols);
    }
    let total = report.map_or(0, |r| r.torrents.len());
    frame.render_widget(
        Paragraph::new(footer_line(view, rows.len(), total)),
        line_at(area.x, footer_y, area.width),
    );
}

/// The header in `area`: title, down and up totals, the connection line.
fn draw_header(
    frame: &mut Frame<'_>,
    area: Rect,
    report: Option<&StatusReport>,
    link: &Link,
    socket: &str,
) {
    let down = report.map(|r| {
        let t = &r.totals;
        (t.download_rate, t.downloaded, t.lifetime_downloaded)
    });
    let up = report.map(|r| {
        let t = &r.totals;
        (t.upload_rate, t.uploaded, t.lifetime_uploaded)
    });
    let header: Vec<Line<'_>> = vec![
        title_line(report, socket),
        totals_line("down", down),
        totals_line("up  ", up),
        link_line(link, report),
    ];
    frame.render_widget(Paragraph::new(header), area);
}

/// The reversed column titles on the line `bar`, the sorted column underlined.
fn draw_column_bar(frame: &mut Frame<'_>, bar: Rect, name_w: u16, cols: &[Placed], sort: SortKey) {
    frame.render_widget(
        Paragraph::new("").style(Style::new().add_modifier(Modifier::REVERSED)),
        bar,
    );
    let style = Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let sorted = sort_column(sort);
    let mark = |col: Option<Col>| {
        if col == sorted {
            style
                .remove_modifier(Modifier::REVERSED)
                .add_modifier(Modifier::UNDERLINED)
        } else {
            style
        }
    };
    cell(frame, bar.x, bar.y, name_w, "NAME", mark(None));
    for &(col, title, x, w) in cols {
        let text = if title == "STATE" {
            title.to_owned()
        } else {
            format!("{title:>width$}", width = usize::from(w))
        };
        cell(frame, bar.x + x, bar.y, w, &text, mark(Some(col)));
    }
}

/// The torrent lines in `list` (as many of `rows` as fit), or `empty` greyed when there is
/// nothing to list.
fn draw_list<'a>(
    frame: &mut Frame<'_>,
    list: Rect,
    rows: impl Iterator<Item = &'a TorrentStatus>,
    empty: Option<String>,
    name_w: u16,
    cols: &[Placed],
) {
    if let Some(msg) = empty {
        frame.render_widget(
            Paragraph::new(msg).style(Style::new().fg(Color::DarkGray)),
            list,
        );
    }
    for (i, t) in rows.take(usize::from(list.height)).enumerate() {
        let y = list.y + u16::try_from(i).unwrap_or(u16::MAX);
        torrent_line(frame, t, list.x, y, name_w, cols, list.width);
    }
}

/// Renders `text` into one line of `width` cells at (x, y), clipped.
fn cell(frame: &mut Frame<'_>, x: u16, y: u16, width: u16, text: &str, style: Style) {
    let area = frame.area();
    let right = area.x.saturating_add(area.width);
    let width = width.min(right.saturating_sub(x));
    if width == 0 || y >= area.y.saturating_add(area.height) {
        return;
    }
    frame.render_widget(
        Paragraph::new(Span::styled(text.to_owned(), style)),
        Rect {
            x,
            y,
            width,
            height: 1,
        },
    );
}

/// One torrent's line; a torrent in error shows its reason across the columns after STATE.
fn torrent_line(
    frame: &mut Frame<'_>,
    t: &TorrentStatus,
    x0: u16,
    y: u16,
    name_w: u16,
    cols: &[Placed],
    width: u16,
) {
    cell(
        frame,
        x0,
        y,
        name_w,
        &status::truncate(&t.name, usize::from(name_w)),
        Style::new(),
    );
    let state_style = state_style(&t.state);
    if let Some(err) = t.error.as_deref().filter(|_| t.state == "error") {
        let mut x = name_w.saturating_add(1);
        if let Some(&(_, _, sx, sw)) = cols.iter().find(|c| c.0 == Col::State) {
            cell(frame, x0 + sx, y, sw, &t.state, state_style);
            x = sx.saturating_add(sw).saturating_add(1);
        }
        let w = width.saturating_sub(x);
        let text = status::truncate(&one_line(err), usize::from(w));
        cell(
            frame,
            x0.saturating_add(x),
            y,
            w,
            &text,
            Style::new().fg(Color::Red),
        );
        return;
    }
    for &(col, _, x, w) in cols {
        let wu = usize::from(w);
        let (text, style) = match col {
            Col::State => (t.state.clone(), state_style),
            Col::Progress => (progress_bar(t.progress, wu), state_style),
            Col::Down => (
                format!("{:>wu$}", compact_rate(t.download_rate)),
                Style::new(),
            ),
            Col::Up => (
                format!("{:>wu$}", compact_rate(t.upload_rate)),
                Style::new(),
            ),
            Col::Peers => (
                format!("{:>wu$}", format!("{}/{}", t.peers, t.seeds)),
                Style::new(),
            ),
            Col::Uploaded => (format!("{:>wu$}", compact_bytes(t.uploaded)), Style::new()),
            Col::Ratio => (
                format!(
                    "{:>wu$}",
                    t.ratio()
                        .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
                ),
                Style::new(),
            ),
            Col::Eta => (
                format!(
                    "{:>wu$}",
                    t.eta()
                        .map_or_else(|| "-".to_owned(), units::format_duration)
                ),
                Style::new(),
            ),
        };
        cell(frame, x0 + x, y, w, &text, style);
    }
}

/// The colour of a state.
fn state_style(state: &str) -> Style {
    match state {
        "seeding" => Style::new().fg(Color::Green),
        "downloading" => Style::new().fg(Color::Cyan),
        "checking" => Style::new().fg(Color::Yellow),
        "error" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::new().fg(Color::DarkGray),
    }
}

/// `btmirror 0.1.0  port 6881  /var/lib/btmirror/control.sock`.
fn title_line(report: Option<&StatusReport>, socket: &str) -> Line<'static> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let dim = Style::new().fg(Color::DarkGray);
    match report {
        Some(r) => Line::from(vec![
            Span::styled(
                format!("btmirror {}", status::truncate(&r.version, 20)),
                bold,
            ),
            Span::raw(format!("  port {}  ", r.listen_port)),
            Span::styled(socket.to_owned(), dim),
        ]),
        None => Line::from(vec![
            Span::styled("btmirror top  ", bold),
            Span::styled(socket.to_owned(), dim),
        ]),
    }
}

/// `down 1.0 MiB/s, 3.0 MiB this session, 1.4 GiB lifetime`.
fn totals_line(label: &'static str, v: Option<(u64, u64, u64)>) -> Line<'static> {
    let Some((rate, session, lifetime)) = v else {
        return Line::from(label);
    };
    Line::from(vec![
        Span::styled(label, Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " {:>12}, {} this session, {} lifetime",
            units::format_rate(rate),
            units::format_bytes(session),
            units::format_bytes(lifetime)
        )),
    ])
}

/// The counts by state while the daemon answers, else what is wrong with the connection.
fn link_line(link: &Link, report: Option<&StatusReport>) -> Line<'static> {
    let counts = |r: &StatusReport| {
        format!(
            "{}: {}",
            units::count(
                u64::try_from(r.torrents.len()).unwrap_or(u64::MAX),
                "torrent"
            ),
            state_counts(&r.torrents)
        )
    };
    match (link, report) {
        (Link::Live, Some(r)) => Line::raw(counts(r)),
        (Link::Reconnected, Some(r)) => Line::from(vec![
            Span::styled(
                "daemon is back, reconnected  ",
                Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
            ),
            Span::raw(counts(r)),
        ]),
        (Link::Lost(why), _) => Line::styled(
            format!(
                "daemon gone (figures stale), retrying each second: {}",
                one_line(why)
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        _ => Line::styled("connecting ...", Style::new().fg(Color::Yellow)),
    }
}

/// What the list area says when it has no rows.
fn empty_message(report: Option<&StatusReport>, link: &Link, view: &View) -> Option<String> {
    match report {
        None => Some(match link {
            Link::Lost(_) => "no status yet: the daemon is not answering".to_owned(),
            _ => "waiting for the daemon ...".to_owned(),
        }),
        Some(r) if r.torrents.is_empty() => {
            Some("no torrents in the watched directories".to_owned())
        }
        Some(r) if view.rows(r).is_empty() => {
            Some(format!("no torrent name contains {:?}", view.filter))
        }
        Some(_) => None,
    }
}

/// The footer: the keys, the sort column, the filter and the visible range.
fn footer_line(view: &View, shown: usize, total: usize) -> Line<'static> {
    let key = Style::new().add_modifier(Modifier::REVERSED);
    if view.editing {
        return Line::from(vec![
            Span::styled("filter:", key),
            Span::raw(format!(" {}_  (Enter keeps, Esc clears)", view.filter)),
        ]);
    }
    let mut spans = vec![
        Span::styled("q", key),
        Span::raw(" quit "),
        Span::styled("↑↓", key),
        Span::raw(" scroll "),
        Span::styled("s", key),
        Span::raw(format!(" sort:{} ", view.sort.label())),
        Span::styled("/", key),
    ];
    if view.filter.is_empty() {
        spans.push(Span::raw(" filter "));
    } else {
        spans.push(Span::raw(format!(
            " \"{}\" (Esc clears) ",
            status::truncate(&view.filter, 20)
        )));
    }
    if shown > 0 {
        let last = (view.scroll + view.page.max(1)).min(shown);
        let mut range = format!(" {}-{last} of {shown}", view.scroll + 1);
        if shown != total {
            range.push_str(&format!(" ({total} in all)"));
        }
        spans.push(Span::raw(range));
    }
    Line::from(spans)
}

/// A bar of `width` cells: blocks, then the whole percent (`████░ 80%`), never showing 100%
/// before the torrent is complete.
pub fn progress_bar(progress: f64, width: usize) -> String {
    let p = if progress.is_nan() {
        0.0
    } else {
        progress.clamp(0.0, 1.0)
    };
    let percent = (p * 100.0).floor() as u32;
    let label = format!("{percent:>3}%");
    let bar_w = width.saturating_sub(label.len() + 1);
    let filled = ((p * bar_w as f64).floor() as usize).min(bar_w);
    let mut s = "█".repeat(filled);
    s.push_str(&"░".repeat(bar_w - filled));
    if bar_w > 0 {
        s.push(' ');
    }
    s.push_str(&label);
    s
}

/// A byte count in at most 4 characters: `512B`, `1.5K`, `999M`, `1.4G`.
pub fn compact_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1000 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if v < 999.5 {
            break;
        }
        v /= 1024.0;
        unit = next;
    }
    if v < 9.95 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// A rate in at most 6 characters: `1.5M/s`.
pub fn compact_rate(n: u64) -> String {
    format!("{}/s", compact_bytes(n))
}

/// `s` with control characters (newlines from error messages) replaced by spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

mod columns;
#[cfg(test)]
mod tests;
