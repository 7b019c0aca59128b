//! `btmirror status [--json]`: one-shot status of a running daemon, asked over its control
//! socket, printed as JSON (the daemon's [`StatusReport`] as is) or as a table.

use std::fmt::Write as _;

use daemon::control::protocol::{StatusReport, state_counts};
use daemon::{control, paths};

use crate::cli::StatusArgs;
use crate::units;

/// `btmirror status [--json]`: asks the daemon over its control socket and prints the answer.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let env = paths::Env::from_process();
    let (state_dir, why) =
        daemon::find_state_dir(args.state_dir.as_deref(), args.config.as_deref(), &env)?;
    let report = control::query(&paths::control_socket(&state_dir))
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}; asked there because of {why}"))?;
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
        "{} ({}); down {} up {}; this session {} down, {} up; lifetime {} down, {} up; port {}; btmirror {}",
        units::count(
            u64::try_from(report.torrents.len()).unwrap_or(u64::MAX),
            "torrent"
        ),
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
    format_feeds(&mut out, &report.feeds);
    out
}

/// One line per feed: its URL, files held, last success and next fetch; its error below.
fn format_feeds(out: &mut String, feeds: &[daemon::control::protocol::FeedReport]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ago = |t: u64| format_secs(now.saturating_sub(t)) + " ago";
    for f in feeds {
        let files = if f.files_held == 1 { "file" } else { "files" };
        let last = f.last_success.map_or_else(|| "never".to_owned(), ago);
        let next = if f.next_fetch <= now {
            "now".to_owned()
        } else {
            format!("in {}", format_secs(f.next_fetch - now))
        };
        let _ = writeln!(
            out,
            "feed {} -> {}: {} {files}, last success {last}, next fetch {next}",
            one_line(&f.url),
            one_line(&f.into),
            f.files_held
        );
        if let Some(err) = &f.last_error {
            let _ = writeln!(
                out,
                "    error ({} in a row, {}): {}",
                f.failures,
                f.last_error_at.map_or_else(String::new, ago),
                one_line(err)
            );
        }
    }
}

/// `45s`, `12m`, `3h`, `2d`.
fn format_secs(s: u64) -> String {
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
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
mod tests;
