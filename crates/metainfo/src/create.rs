//! Creating a `.torrent` for a file or a directory (`btmirror make`).
//!
//! What goes in, for a directory: every regular file below it, hidden ones included, in
//! component-wise byte order of their relative paths (so `a/b` sorts with the other entries of
//! `a`). Symlinks are followed, to files and to directories alike; a symlink that leads back to
//! one of its own ancestor directories is an error, and so is a dangling one. Other special files
//! (FIFOs, sockets, devices) are skipped, and so are empty directories. Every name must be valid
//! UTF-8. Zero-length files are kept.
//!
//! Hashing reads the concatenation of all files (pieces cross file boundaries) with positioned
//! reads, on one thread per core, each thread taking a contiguous run of pieces.

use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bencode::Encoder;
use sha1::{Digest, Sha1};

use crate::parse::{MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, check_component};
use crate::{Error, Metainfo};

/// Options for [`create_torrent`].
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// The `announce` URL (first tracker).
    pub announce: String,
    /// Further trackers; when non-empty an `announce-list` with one tier per URL is written.
    pub extra_trackers: Vec<String>,
    /// Piece size in bytes; `None` picks one from the total size.
    pub piece_length: Option<u32>,
    /// BEP 27 private flag.
    pub private: bool,
    /// `comment` field.
    pub comment: Option<String>,
    /// BEP 19 web seeds, written as `url-list` when non-empty.
    pub web_seeds: Vec<String>,
}

/// The largest piece length picked automatically (16 MiB); larger ones can be asked for.
const AUTO_MAX_PIECE_LENGTH: u32 = 16 * 1024 * 1024;
/// The smallest piece length picked automatically (256 KiB, as mktorrent): smaller pieces cost
/// every peer a request round trip and a hash per 16 KiB block for no benefit.
const AUTO_MIN_PIECE_LENGTH: u32 = 256 * 1024;
/// Automatic piece lengths grow until the piece count is at most this.
const AUTO_MAX_PIECES: u64 = 2000;

/// One file to hash.
#[derive(Debug)]
struct Source {
    /// Where it is on disk.
    disk: PathBuf,
    /// Path components below the torrent's root (empty for a single-file torrent).
    rel: Vec<String>,
    length: u64,
    /// Offset in the concatenation of all files.
    offset: u64,
}

/// Builds the bencoded `.torrent` for `path` (a file, or a directory walked in sorted order),
/// hashing pieces on all cores. `progress(bytes_hashed, total)` is called as hashing advances.
///
/// The result always parses with [`Metainfo::from_bytes`] (it is checked before returning).
pub fn create_torrent(
    path: &Path,
    opts: &CreateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<u8>, Error> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_err)?;
    // The name as given (a symlink keeps its own name); `.` and `..` need resolving first.
    let resolved;
    let name_os = match path.file_name() {
        Some(n) => n,
        None => {
            resolved = fs::canonicalize(path).map_err(io_err)?;
            resolved
                .file_name()
                .ok_or_else(|| Error::invalid("path", "has no file name"))?
        }
    };
    let name = check_component("name", name_os.as_bytes(), name_os.as_bytes())?.to_owned();

    let mut files = Vec::new();
    let multi_file = if meta.is_file() {
        files.push(Source {
            disk: path.to_path_buf(),
            rel: Vec::new(),
            length: meta.len(),
            offset: 0,
        });
        false
    } else if meta.is_dir() {
        let mut ancestors = vec![(meta.dev(), meta.ino())];
        walk(path, &mut Vec::new(), &mut ancestors, &mut files)?;
        true
    } else {
        return Err(Error::invalid("path", "not a regular file or a directory"));
    };
    let mut total = 0u64;
    for f in &mut files {
        f.offset = total;
        total = total
            .checked_add(f.length)
            .ok_or_else(|| Error::invalid("path", "total size overflows"))?;
    }
    if total == 0 {
        return Err(Error::invalid(
            "path",
            "nothing to share: total size is zero",
        ));
    }
    let piece_length = match opts.piece_length {
        Some(pl) if pl.is_power_of_two() && (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&pl) => {
            pl
        }
        Some(pl) => {
            return Err(Error::invalid(
                "piece_length",
                format!("{pl} is not a power of two in 16 KiB..=64 MiB"),
            ));
        }
        None => auto_piece_length(total),
    };
    let pieces = hash_pieces(&files, total, piece_length, progress)?;

    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let bytes = encode(
        opts,
        &name,
        multi_file,
        &files,
        piece_length,
        &pieces,
        i64::try_from(created).unwrap_or(0),
    );
    Metainfo::from_bytes(&bytes)?;
    Ok(bytes)
}

/// Appends the regular files below `dir` to `out`, sorted, following symlinks. `rel` is the
/// relative path of `dir`; `ancestors` the (device, inode) of every directory on the way down.
fn walk(
    dir: &Path,
    rel: &mut Vec<String>,
    ancestors: &mut Vec<(u64, u64)>,
    out: &mut Vec<Source>,
) -> Result<(), Error> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut entries = fs::read_dir(dir)
        .and_then(|rd| {
            rd.map(|e| e.map(|e| e.file_name()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(io_err(dir))?;
    entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in entries {
        let disk = dir.join(&name);
        let meta = fs::metadata(&disk).map_err(io_err(&disk))?;
        let lossy = disk.to_string_lossy().into_owned();
        let name = check_component("path", name.as_bytes(), lossy.as_bytes())?.to_owned();
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if ancestors.contains(&id) {
                let loop_err = std::io::Error::other(
                    "symlink loop: leads back to one of its parent directories",
                );
                return Err(io_err(&disk)(loop_err));
            }
            ancestors.push(id);
            rel.push(name);
            walk(&disk, rel, ancestors, out)?;
            rel.pop();
            ancestors.pop();
        } else if meta.is_file() {
            let mut path = rel.clone();
            path.push(name);
            out.push(Source {
                disk,
                rel: path,
                length: meta.len(),
                offset: 0,
            });
        }
    }
    Ok(())
}

/// The smallest power of two from 256 KiB up to 16 MiB giving at most 2000 pieces (so, unless
/// clamped, between 1000 and 2000).
fn auto_piece_length(total: u64) -> u32 {
    let mut pl = AUTO_MIN_PIECE_LENGTH.max(MIN_PIECE_LENGTH);
    while pl < AUTO_MAX_PIECE_LENGTH && total.div_ceil(u64::from(pl)) > AUTO_MAX_PIECES {
        pl *= 2;
    }
    pl
}

/// SHA-1 of every piece of the concatenated files, on all cores.
fn hash_pieces(
    files: &[Source],
    total: u64,
    piece_length: u32,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<[u8; 20]>, Error> {
    let count = usize::try_from(total.div_ceil(u64::from(piece_length)))
        .map_err(|_| Error::invalid("path", "too many pieces"))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, count.max(1));
    let per_thread = count.div_ceil(threads).max(1);
    let done = AtomicU64::new(0);
    let mut out = vec![[0u8; 20]; count];
    std::thread::scope(|s| {
        let workers: Vec<_> = out
            .chunks_mut(per_thread)
            .enumerate()
            .map(|(t, slots)| {
                let done = &done;
                s.spawn(move || {
                    let mut reader = Reader { files, open: None };
                    let mut buf = vec![0u8; piece_length as usize];
                    for (k, slot) in slots.iter_mut().enumerate() {
                        let start = (t * per_thread + k) as u64 * u64::from(piece_length);
                        let len = (total - start).min(u64::from(piece_length)) as usize;
                        let piece = buf.get_mut(..len).unwrap_or_default();
                        reader.read_at(start, piece)?;
                        *slot = Sha1::digest(&*piece).into();
                        let now = done.fetch_add(len as u64, Ordering::Relaxed) + len as u64;
                        progress(now, total);
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })?;
    Ok(out)
}

/// Positioned reads from the concatenation of `files`, keeping the last file open.
struct Reader<'a> {
    files: &'a [Source],
    open: Option<(usize, File)>,
}

impl Reader<'_> {
    /// Fills `buf` from stream offset `pos`.
    fn read_at(&mut self, mut pos: u64, mut buf: &mut [u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            // The first file ending after `pos` (skips zero-length files).
            let i = self.files.partition_point(|f| f.offset + f.length <= pos);
            let Some(file) = self.files.get(i) else {
                let eof =
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the last file");
                let path = self
                    .files
                    .last()
                    .map(|f| f.disk.clone())
                    .unwrap_or_default();
                return Err(Error::Io { path, source: eof });
            };
            let io_err = |source| Error::Io {
                path: file.disk.clone(),
                source,
            };
            if self.open.as_ref().is_none_or(|(j, _)| *j != i) {
                self.open = Some((i, File::open(&file.disk).map_err(io_err)?));
            }
            let within = pos - file.offset;
            let n =
                usize::try_from(file.length - within).map_or(buf.len(), |left| left.min(buf.len()));
            let (head, rest) = buf.split_at_mut(n);
            if let Some((_, f)) = &self.open {
                f.read_exact_at(head, within).map_err(io_err)?;
            }
            buf = rest;
            pos += n as u64;
        }
        Ok(())
    }
}

/// The `.torrent` bytes (keys in ascending order, as bencode requires).
fn encode(
    opts: &CreateOptions,
    name: &str,
    multi_file: bool,
    files: &[Source],
    piece_length: u32,
    pieces: &[[u8; 20]],
    creation_date: i64,
) -> Vec<u8> {
    let trackers: Vec<&str> = std::iter::once(opts.announce.as_str())
        .chain(opts.extra_trackers.iter().map(String::as_str))
        .filter(|t| !t.is_empty())
        .collect();
    let mut e = Encoder::new();
    e.dict(|d| {
        if let Some(first) = trackers.first() {
            d.entry(b"announce", |e| e.bytes(first.as_bytes()));
        }
        if !opts.extra_trackers.is_empty() && trackers.len() > 1 {
            d.entry(b"announce-list", |e| {
                e.list(|e| {
                    trackers
                        .iter()
                        .for_each(|t| e.list(|e| e.bytes(t.as_bytes())))
                })
            });
        }
        if let Some(c) = &opts.comment {
            d.entry(b"comment", |e| e.bytes(c.as_bytes()));
        }
        d.entry(b"created by", |e| {
            e.bytes(concat!("btmirror ", env!("CARGO_PKG_VERSION")).as_bytes())
        });
        d.entry(b"creation date", |e| e.int(creation_date));
        d.entry(b"info", |e| {
            e.dict(|d| {
                if multi_file {
                    d.entry(b"files", |e| {
                        e.list(|e| {
                            for f in files {
                                e.dict(|d| {
                                    d.entry(b"length", |e| {
                                        e.int(i64::try_from(f.length).unwrap_or(i64::MAX))
                                    });
                                    d.entry(b"path", |e| {
                                        e.list(|e| f.rel.iter().for_each(|c| e.bytes(c.as_bytes())))
                                    });
                                });
                            }
                        })
                    });
                } else {
                    let length = files.first().map_or(0, |f| f.length);
                    d.entry(b"length", |e| {
                        e.int(i64::try_from(length).unwrap_or(i64::MAX))
                    });
                }
                d.entry(b"name", |e| e.bytes(name.as_bytes()));
                d.entry(b"piece length", |e| e.int(i64::from(piece_length)));
                d.entry(b"pieces", |e| e.bytes(pieces.as_flattened()));
                if opts.private {
                    d.entry(b"private", |e| e.int(1));
                }
            })
        });
        if !opts.web_seeds.is_empty() {
            d.entry(b"url-list", |e| {
                e.list(|e| opts.web_seeds.iter().for_each(|u| e.bytes(u.as_bytes())))
            });
        }
    });
    e.finish()
}

#[cfg(test)]
mod tests;
