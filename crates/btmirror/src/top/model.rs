//! What `btmirror top` shows, apart from drawing: the connection state, the sort column, the
//! name filter, the scroll position, and how keys change them. Everything here is pure, so the
//! rules are unit-tested without a terminal.

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use daemon::control::protocol::{STATES, StatusReport, TorrentStatus};

/// The column the torrent list is sorted by; `s` cycles through them in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// By name, A to Z.
    #[default]
    Name,
    /// By state (checking, downloading, seeding, paused, error), then name.
    State,
    /// Least complete first.
    Progress,
    /// Fastest download first.
    Down,
    /// Fastest upload first.
    Up,
    /// Most peers first.
    Peers,
    /// Most uploaded this session first.
    Uploaded,
    /// Highest ratio first.
    Ratio,
    /// Soonest done first; torrents without an ETA last.
    Eta,
}

impl SortKey {
    /// The next column in the cycle.
    pub fn next(self) -> Self {
        match self {
            Self::Name => Self::State,
            Self::State => Self::Progress,
            Self::Progress => Self::Down,
            Self::Down => Self::Up,
            Self::Up => Self::Peers,
            Self::Peers => Self::Uploaded,
            Self::Uploaded => Self::Ratio,
            Self::Ratio => Self::Eta,
            Self::Eta => Self::Name,
        }
    }

    /// The column's label as shown in the footer.
    pub fn label(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::State => "state",
            Self::Progress => "progress",
            Self::Down => "down",
            Self::Up => "up",
            Self::Peers => "peers",
            Self::Uploaded => "uploaded",
            Self::Ratio => "ratio",
            Self::Eta => "eta",
        }
    }

    /// Orders two torrents for this column; ties go by name, then torrent file.
    pub fn compare(self, a: &TorrentStatus, b: &TorrentStatus) -> Ordering {
        let state_rank = |t: &TorrentStatus| {
            STATES
                .iter()
                .position(|s| *s == t.state)
                .unwrap_or(STATES.len())
        };
        let primary = match self {
            Self::Name => Ordering::Equal,
            Self::State => state_rank(a).cmp(&state_rank(b)),
            Self::Progress => a.progress.total_cmp(&b.progress),
            Self::Down => b.download_rate.cmp(&a.download_rate),
            Self::Up => b.upload_rate.cmp(&a.upload_rate),
            Self::Peers => b.peers.cmp(&a.peers),
            Self::Uploaded => b.uploaded.cmp(&a.uploaded),
            Self::Ratio => b
                .ratio()
                .unwrap_or(-1.0)
                .total_cmp(&a.ratio().unwrap_or(-1.0)),
            Self::Eta => match (a.eta(), b.eta()) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        };
        primary
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.torrent_file.cmp(&b.torrent_file))
    }
}

/// How the screen relates to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// No answer yet.
    Connecting,
    /// The last query was answered.
    Live,
    /// The daemon answers again after it went away (shown for a few seconds).
    Reconnected,
    /// The last query failed; the shown data (if any) is stale.
    Lost(String),
}

/// What happens after a key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep running (redraw).
    Continue,
    /// Leave `top`.
    Quit,
}

/// The state of the screen apart from the daemon's data.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// The sort column.
    pub sort: SortKey,
    /// Only torrents whose name contains this (case-insensitive) are shown.
    pub filter: String,
    /// Whether keys are typed into the filter (after `/`, until Enter or Esc).
    pub editing: bool,
    /// Index of the first shown row in the sorted, filtered list.
    pub scroll: usize,
    /// Rows that fit in the list at the last draw (the page size for PgUp/PgDn).
    pub page: usize,
}

impl View {
    /// Applies one key. `rows` is the number of torrents currently listed (after filtering).
    pub fn on_key(&mut self, key: KeyEvent, rows: usize) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Continue;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c' | 'C'))
        {
            return Action::Quit;
        }
        if self.editing {
            match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    self.editing = false;
                }
                KeyCode::Enter => self.editing = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) if !c.is_control() && self.filter.chars().count() < 64 => {
                    self.filter.push(c);
                }
                _ => {}
            }
            self.scroll = 0;
            return Action::Continue;
        }
        let page = self.page.max(1);
        match key.code {
            KeyCode::Char('q' | 'Q') => return Action::Quit,
            KeyCode::Char('s' | 'S') => self.sort = self.sort.next(),
            KeyCode::Char('/') => {
                self.editing = true;
                self.scroll = 0;
            }
            KeyCode::Esc => {
                self.filter.clear();
                self.scroll = 0;
            }
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_add(1),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(page),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(page),
            KeyCode::Home => self.scroll = 0,
            KeyCode::End => self.scroll = rows,
            _ => {}
        }
        self.clamp(rows);
        Action::Continue
    }

    /// Keeps the scroll position inside the list: the last page ends at the last row.
    pub fn clamp(&mut self, rows: usize) {
        self.scroll = self.scroll.min(rows.saturating_sub(self.page.max(1)));
    }

    /// The torrents to list, filtered by name and sorted by the sort column.
    pub fn rows<'a>(&self, report: &'a StatusReport) -> Vec<&'a TorrentStatus> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&TorrentStatus> = report
            .torrents
            .iter()
            .filter(|t| needle.is_empty() || t.name.to_lowercase().contains(&needle))
            .collect();
        rows.sort_by(|a, b| self.sort.compare(a, b));
        rows
    }
}

#[cfg(test)]
mod tests;
