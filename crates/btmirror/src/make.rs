//! `btmirror make PATH --announce URL [-o FILE]`: create a `.torrent` for a file or a directory
//! (the seed's btmakemetafile), hashing on all cores.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::cli::MakeArgs;
use crate::exit::UsageError;
use crate::units::format_bytes;

/// Runs `btmirror make`: hashes `args.path`, writes the torrent atomically, prints one summary line.
pub async fn run(args: MakeArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let path = fs::canonicalize(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            UsageError::new(format!(
                "{} has no name to give the torrent",
                path.display()
            ))
        })?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.torrent")));
    if !args.force && fs::symlink_metadata(&output).is_ok() {
        return Err(UsageError::new(format!(
            "{} already exists; pass --force to overwrite it or -o to choose another name",
            output.display()
        ))
        .into());
    }
    let mut announce = args.announce.into_iter();
    let opts = metainfo::CreateOptions {
        announce: announce.next().unwrap_or_default(),
        extra_trackers: announce.collect(),
        piece_length: args.piece_size,
        private: args.private,
        comment: args.comment,
        web_seeds: args.web_seed,
        version: if args.v2 {
            metainfo::Version::V2
        } else if args.hybrid {
            metainfo::Version::Hybrid
        } else {
            metainfo::Version::V1
        },
    };

    let bar = crate::progress_bar(0, true);
    let task_bar = bar.clone();
    let src = path.clone();
    let hashing = tokio::task::spawn_blocking(move || {
        let progress = |done: u64, total: u64| {
            if let Some(b) = &task_bar {
                b.set_length(total);
                b.set_position(done);
            }
        };
        metainfo::create_torrent(&src, &opts, &progress)
    });
    let bytes = tokio::select! {
        r = hashing => r.context("the hashing task failed")?,
        () = shutdown.cancelled() => {
            if let Some(b) = &bar { b.abandon(); }
            anyhow::bail!("interrupted; {} not written", output.display());
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let bytes = bytes.with_context(|| format!("making a torrent of {}", path.display()))?;
    let meta = metainfo::Metainfo::from_bytes(&bytes)
        .context("the torrent just made does not parse back (a bug)")?;
    write_atomically(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    outln!("{}", summary(&output, &meta));
    Ok(())
}

/// `created FILE: NAME, N files, SIZE, P pieces of PIECE, info-hash HEX` (then `, v2 info-hash
/// HEX64` for a hybrid; a v2-only torrent has only `v2 info-hash HEX64`).
fn summary(output: &Path, meta: &metainfo::Metainfo) -> String {
    let info = &meta.info;
    let files = info.files.len();
    let hashes = match (meta.info_hash_v1(), &meta.info_hash_v2) {
        (Some(v1), Some(v2)) => format!("info-hash {v1}, v2 info-hash {v2}"),
        (None, Some(v2)) => format!("v2 info-hash {v2}"),
        _ => format!("info-hash {}", meta.info_hash),
    };
    format!(
        "created {}: {}, {} file{}, {}, {} pieces of {}, {hashes}",
        output.display(),
        info.name,
        files,
        if files == 1 { "" } else { "s" },
        format_bytes(info.files.iter().map(|f| f.length).sum()),
        info.piece_count(),
        format_bytes(u64::from(info.piece_length)),
    )
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`, so a
/// reader (a watching daemon) never sees a half-written torrent.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.torrent");
        write_atomically(&out, b"one").unwrap();
        write_atomically(&out, b"two").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.torrent"]);
        assert!(write_atomically(&dir.path().join("missing/a.torrent"), b"x").is_err());
    }
}
