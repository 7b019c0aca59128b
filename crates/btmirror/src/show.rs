//! `btmirror show TORRENT-or-URL [--json]`: what a .torrent says, for operators (text, like
//! `transmission-show`) and scripts (one JSON object). Pad files are left out of the file list;
//! what btmirror changed to load the torrent is listed under Notes.

use anyhow::Context;
use metainfo::Metainfo;
use serde::Serialize;

use crate::cli::ShowArgs;
use crate::units::format_bytes;

/// Runs `btmirror show`.
pub async fn run(args: ShowArgs) -> anyhow::Result<()> {
    let bytes = crate::source::read_torrent(&args.torrent).await?;
    let meta = Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{}: not a usable torrent", args.torrent))?;
    let summary = Summary::new(&meta);
    if args.json {
        let text = serde_json::to_string_pretty(&summary).context("encoding JSON")?;
        outln!("{text}");
    } else {
        for line in summary.lines() {
            outln!("{line}");
        }
    }
    Ok(())
}

/// Everything `show` prints; serialised as is for `--json`.
#[derive(Debug, Serialize)]
struct Summary {
    name: String,
    /// The v1 info-hash (`null` for a v2-only torrent).
    info_hash: Option<String>,
    info_hash_v2: Option<String>,
    /// Bytes in files (pad files not counted).
    size: u64,
    piece_length: u32,
    piece_count: u32,
    private: bool,
    created_by: Option<String>,
    creation_date: Option<i64>,
    comment: Option<String>,
    magnet: String,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    files: Vec<File>,
    symlinks: Vec<Link>,
    pad_files: usize,
    notes: Vec<String>,
}

/// One file of [`Summary`].
#[derive(Debug, Serialize)]
struct File {
    path: String,
    size: u64,
    executable: bool,
    hidden: bool,
}

/// One symlink of [`Summary`].
#[derive(Debug, Serialize)]
struct Link {
    path: String,
    target: String,
}

impl Summary {
    fn new(meta: &Metainfo) -> Self {
        let info = &meta.info;
        let files = info
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let attrs = meta.file_attrs.get(i).copied().unwrap_or_default();
                File {
                    path: f.path.display().to_string(),
                    size: f.length,
                    executable: attrs.executable,
                    hidden: attrs.hidden,
                }
            })
            .collect();
        Self {
            name: info.name.clone(),
            info_hash: meta.info_hash_v1().map(|h| h.to_hex()),
            info_hash_v2: meta.info_hash_v2.map(|h| h.to_hex()),
            size: info.files.iter().map(|f| f.length).sum(),
            piece_length: info.piece_length,
            piece_count: info.piece_count(),
            private: info.private,
            created_by: meta.created_by.clone(),
            creation_date: meta.creation_date,
            comment: meta.comment.clone(),
            magnet: meta.magnet_uri(),
            trackers: meta.tracker_tiers(),
            web_seeds: meta.url_list.clone(),
            files,
            symlinks: meta
                .symlinks
                .iter()
                .map(|l| Link {
                    path: l.path.display().to_string(),
                    target: l.target.display().to_string(),
                })
                .collect(),
            pad_files: meta.pad_files,
            notes: meta.notes.clone(),
        }
    }

    /// The text output, one line each.
    fn lines(&self) -> Vec<String> {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut out = vec![
            format!("Name: {}", self.name),
            format!("Info-hash v1: {}", or_dash(&self.info_hash)),
        ];
        if let Some(v2) = &self.info_hash_v2 {
            out.push(format!("Info-hash v2: {v2}"));
        }
        out.push(format!(
            "Size: {} ({} bytes) in {} {}",
            format_bytes(self.size),
            self.size,
            self.files.len(),
            if self.files.len() == 1 {
                "file"
            } else {
                "files"
            }
        ));
        out.push(format!(
            "Pieces: {} of {}",
            self.piece_count,
            format_bytes(u64::from(self.piece_length))
        ));
        out.push(format!(
            "Private: {}",
            if self.private { "yes" } else { "no" }
        ));
        out.push(format!("Created by: {}", or_dash(&self.created_by)));
        out.push(format!(
            "Created on: {}",
            self.creation_date.map_or_else(|| "-".into(), format_utc)
        ));
        out.push(format!("Comment: {}", or_dash(&self.comment)));
        out.push(format!("Magnet: {}", self.magnet));
        out.push(String::new());
        out.push("Trackers:".into());
        if self.trackers.is_empty() {
            out.push("  none".into());
        }
        for (i, tier) in self.trackers.iter().enumerate() {
            out.push(format!("  tier {}: {}", i + 1, tier.join(" ")));
        }
        if !self.web_seeds.is_empty() {
            out.push("Web seeds:".into());
            out.extend(self.web_seeds.iter().map(|w| format!("  {w}")));
        }
        out.push(String::new());
        out.push(format!("Files ({}):", self.files.len()));
        for f in &self.files {
            let mut flags = String::new();
            if f.executable {
                flags.push_str(" [executable]");
            }
            if f.hidden {
                flags.push_str(" [hidden]");
            }
            out.push(format!("  {} ({}){flags}", f.path, format_bytes(f.size)));
        }
        for l in &self.symlinks {
            out.push(format!("  {} -> {} [symlink]", l.path, l.target));
        }
        if self.pad_files > 0 {
            out.push(format!(
                "  ({} pad files not shown, never written to disk)",
                self.pad_files
            ));
        }
        if !self.notes.is_empty() {
            out.push(String::new());
            out.push("Notes (what btmirror changed to load it):".into());
            out.extend(self.notes.iter().map(|n| format!("  {n}")));
        }
        out
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (proleptic Gregorian calendar).
fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
