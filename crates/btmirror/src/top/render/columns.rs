//! The columns of the torrent list: which fit a terminal width, where each goes, and which
//! one a sort key orders by.

use super::SortKey;

/// Fewest cells the name column keeps before other columns are dropped.
pub const MIN_NAME: u16 = 12;

/// A column of the torrent list (the name column takes the width left over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    State,
    Progress,
    Down,
    Up,
    Peers,
    Uploaded,
    Ratio,
    Eta,
    /// Web seeds in use / known (BEP 19).
    Web,
}

/// The columns after the name in display order, with title, width and drop rank (the
/// highest rank is dropped first when the terminal is narrow).
const COLUMNS: [(Col, &str, u16, u8); 9] = [
    (Col::State, "STATE", 11, 0),
    (Col::Progress, "PROGRESS", 9, 1),
    (Col::Down, "DOWN", 6, 3),
    (Col::Up, "UP", 6, 2),
    (Col::Peers, "P/S", 5, 5),
    (Col::Uploaded, "UPLOAD", 6, 4),
    (Col::Ratio, "RATIO", 5, 7),
    (Col::Eta, "ETA", 6, 6),
    (Col::Web, "WEB", 7, 8),
];

/// Where each column goes on a line `width` cells wide: the name's width, then the kept
/// columns with their x offset and width.
pub fn layout_columns(width: u16) -> (u16, Vec<Placed>) {
    let mut kept: Vec<(Col, &str, u16, u8)> = COLUMNS.to_vec();
    loop {
        let used: u16 = kept.iter().map(|c| c.2 + 1).sum();
        if width.saturating_sub(used) >= MIN_NAME || kept.is_empty() {
            break;
        }
        if let Some(pos) = kept
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| c.3)
            .map(|(i, _)| i)
        {
            kept.remove(pos);
        }
    }
    let used: u16 = kept.iter().map(|c| c.2 + 1).sum();
    let name = width.saturating_sub(used);
    let mut x = name;
    let placed = kept
        .into_iter()
        .map(|(col, title, w, _)| {
            let at = x.saturating_add(1);
            x = at.saturating_add(w);
            (col, title, at, w)
        })
        .collect();
    (name, placed)
}

/// Where each kept column goes: (column, title, x offset, width).
pub type Placed = (Col, &'static str, u16, u16);

/// The column a sort key orders by (`None` for the name column).
pub fn sort_column(key: SortKey) -> Option<Col> {
    match key {
        SortKey::State => Some(Col::State),
        SortKey::Progress => Some(Col::Progress),
        SortKey::Down => Some(Col::Down),
        SortKey::Up => Some(Col::Up),
        SortKey::Peers => Some(Col::Peers),
        SortKey::Uploaded => Some(Col::Uploaded),
        SortKey::Ratio => Some(Col::Ratio),
        SortKey::Eta => Some(Col::Eta),
        SortKey::Name => None,
    }
}
