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

use crate::merkle::{self, Hash256};
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
    /// Which hashes to write: v1 (the default), v2 only, or both (BEP 52).
    pub version: Version,
}

/// The kind of torrent [`create_torrent`] makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// BitTorrent v1: SHA-1 pieces over the files back to back.
    #[default]
    V1,
    /// BitTorrent v2 only (BEP 52): a `file tree` with per-file SHA-256 Merkle roots and
    /// `piece layers`; every file starts on a piece boundary.
    V2,
    /// Both: v1 pieces and the v2 tree over the same layout, with BEP 47 pad files in the v1
    /// `files` after every file that does not end on a piece boundary (as libtorrent writes them).
    Hybrid,
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
    let mut data = 0u64;
    for f in &files {
        data = data
            .checked_add(f.length)
            .ok_or_else(|| Error::invalid("path", "total size overflows"))?;
    }
    if data == 0 {
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
        None => auto_piece_length(data),
    };
    // v2 and hybrid: every file with data starts on a piece boundary.
    let padded = opts.version != Version::V1;
    let mut total = 0u64;
    for f in &mut files {
        f.offset = total;
        let length = if padded && f.length > 0 {
            f.length
                .div_ceil(u64::from(piece_length))
                .checked_mul(u64::from(piece_length))
                .ok_or_else(|| Error::invalid("path", "total size overflows"))?
        } else {
            f.length
        };
        total = total
            .checked_add(length)
            .ok_or_else(|| Error::invalid("path", "total size overflows"))?;
    }
    if padded && !multi_file {
        total = data;
    }
    let (pieces, v2) = hash_pieces(&files, total, piece_length, opts.version, progress)?;

    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let bytes = encode(
        opts,
        &name,
        multi_file,
        &files,
        piece_length,
        Hashes {
            pieces: &pieces,
            v2: v2.as_ref(),
        },
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

/// What one piece's v2 hash covers: the file's part of the piece, and whether the file fits in
/// one piece (then the hash is the file's root, over fewer leaves than a piece).
#[derive(Clone, Copy)]
struct V2Part {
    len: usize,
    small: bool,
}

/// The v2 roots and piece layers of the files, in `files` order (`None` for empty files).
pub(crate) struct V2Out {
    /// Per file: root and piece layer (empty for a file of one piece).
    files: Vec<Option<(Hash256, Vec<Hash256>)>>,
}

/// The hashes of every piece of the files laid out at their offsets (zeros between them), on
/// all cores: SHA-1 for v1 and hybrid, the BEP 52 piece hashes (and from them each file's root
/// and piece layer) for v2 and hybrid.
fn hash_pieces(
    files: &[Source],
    total: u64,
    piece_length: u32,
    version: Version,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(Vec<[u8; 20]>, Option<V2Out>), Error> {
    let count = usize::try_from(total.div_ceil(u64::from(piece_length)))
        .map_err(|_| Error::invalid("path", "too many pieces"))?;
    let pl = u64::from(piece_length);
    let v1 = version != Version::V2;
    let v2 = version != Version::V1;
    // Which part of each piece a v2 hash covers.
    let mut parts = vec![None; if v2 { count } else { 0 }];
    if v2 {
        for f in files.iter().filter(|f| f.length > 0) {
            let first = (f.offset / pl) as usize;
            let n = f.length.div_ceil(pl) as usize;
            for k in 0..n {
                let len = (f.length - k as u64 * pl).min(pl) as usize;
                if let Some(slot) = parts.get_mut(first + k) {
                    *slot = Some(V2Part {
                        len,
                        small: f.length <= pl,
                    });
                }
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, count.max(1));
    let per_thread = count.div_ceil(threads).max(1);
    let done = AtomicU64::new(0);
    let mut out = vec![[0u8; 20]; if v1 { count } else { 0 }];
    let mut out2 = vec![[0u8; 32]; if v2 { count } else { 0 }];
    let mut out1_chunks: Vec<&mut [[u8; 20]]> = if v1 {
        out.chunks_mut(per_thread).collect()
    } else {
        Vec::new()
    };
    let mut out2_chunks: Vec<&mut [Hash256]> = if v2 {
        out2.chunks_mut(per_thread).collect()
    } else {
        Vec::new()
    };
    let padded = version != Version::V1;
    let parts = &parts;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..count.div_ceil(per_thread))
            .map(|t| {
                let done = &done;
                let mut slots1 = out1_chunks.get_mut(t).map(std::mem::take);
                let mut slots2 = out2_chunks.get_mut(t).map(std::mem::take);
                s.spawn(move || {
                    let mut reader = Reader {
                        files,
                        open: None,
                        padded,
                    };
                    let mut buf = vec![0u8; piece_length as usize];
                    let first = t * per_thread;
                    let last = (first + per_thread).min(count);
                    for (k, index) in (first..last).enumerate() {
                        let start = index as u64 * pl;
                        let len = (total - start).min(pl) as usize;
                        let piece = buf.get_mut(..len).unwrap_or_default();
                        reader.read_at(start, piece)?;
                        if let Some(slot) = slots1.as_mut().and_then(|s| s.get_mut(k)) {
                            *slot = Sha1::digest(&*piece).into();
                        }
                        if let Some(slot) = slots2.as_mut().and_then(|s| s.get_mut(k))
                            && let Some(Some(part)) = parts.get(index)
                        {
                            let data = piece.get(..part.len).unwrap_or_default();
                            *slot = if part.small {
                                merkle::small_file_root(data)
                            } else {
                                merkle::piece_hash(data, piece_length)
                            };
                        }
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
    let v2_out = v2.then(|| V2Out {
        files: files
            .iter()
            .map(|f| {
                if f.length == 0 {
                    return None;
                }
                let first = (f.offset / pl) as usize;
                let n = f.length.div_ceil(pl) as usize;
                let layer = out2.get(first..first + n).unwrap_or_default();
                if n == 1 {
                    Some((layer.first().copied().unwrap_or_default(), Vec::new()))
                } else {
                    Some((merkle::root_from_layer(layer, piece_length), layer.to_vec()))
                }
            })
            .collect(),
    });
    Ok((out, v2_out))
}

/// Positioned reads from the concatenation of `files`, keeping the last file open.
struct Reader<'a> {
    files: &'a [Source],
    open: Option<(usize, File)>,
    /// Files are apart (v2, hybrid): the bytes between them, and after the last, are zeros.
    padded: bool,
}

impl Reader<'_> {
    /// Fills `buf` from stream offset `pos`.
    fn read_at(&mut self, mut pos: u64, mut buf: &mut [u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            // The first file ending after `pos` (skips zero-length files).
            let i = self.files.partition_point(|f| f.offset + f.length <= pos);
            let gap = match self.files.get(i) {
                Some(f) if self.padded && f.offset > pos => Some(f.offset - pos),
                None if self.padded => Some(buf.len() as u64),
                _ => None,
            };
            if let Some(gap) = gap {
                let n = usize::try_from(gap).map_or(buf.len(), |g| g.min(buf.len()));
                let (head, rest) = buf.split_at_mut(n);
                head.fill(0);
                buf = rest;
                pos += n as u64;
                continue;
            }
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

/// What [`encode`] writes of the hashes: the v1 pieces (none for v2-only) and the v2 tree.
struct Hashes<'a> {
    pieces: &'a [[u8; 20]],
    v2: Option<&'a V2Out>,
}

/// The `.torrent` bytes (keys in ascending order, as bencode requires).
fn encode(
    opts: &CreateOptions,
    name: &str,
    multi_file: bool,
    files: &[Source],
    piece_length: u32,
    hashes: Hashes<'_>,
    creation_date: i64,
) -> Vec<u8> {
    let Hashes { pieces, v2 } = hashes;
    let pl = u64::from(piece_length);
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
                if let Some(v2) = v2 {
                    d.entry(b"file tree", |e| {
                        let tree = FileTree::new(name, multi_file, files, v2);
                        tree.encode(e);
                    });
                }
                if multi_file && !pieces.is_empty() {
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
                                let rest = f.length % pl;
                                if v2.is_some() && rest > 0 {
                                    let pad = pl - rest;
                                    e.dict(|d| {
                                        d.entry(b"attr", |e| e.bytes(b"p"));
                                        d.entry(b"length", |e| e.int(pad as i64));
                                        d.entry(b"path", |e| {
                                            e.list(|e| {
                                                e.bytes(b".pad");
                                                e.bytes(pad.to_string().as_bytes());
                                            })
                                        });
                                    });
                                }
                            }
                        })
                    });
                } else if !pieces.is_empty() {
                    let length = files.first().map_or(0, |f| f.length);
                    d.entry(b"length", |e| {
                        e.int(i64::try_from(length).unwrap_or(i64::MAX))
                    });
                }
                if v2.is_some() {
                    d.entry(b"meta version", |e| e.int(2));
                }
                d.entry(b"name", |e| e.bytes(name.as_bytes()));
                d.entry(b"piece length", |e| e.int(i64::from(piece_length)));
                if !pieces.is_empty() {
                    d.entry(b"pieces", |e| e.bytes(pieces.as_flattened()));
                }
                if opts.private {
                    d.entry(b"private", |e| e.int(1));
                }
            })
        });
        if let Some(v2) = v2 {
            let mut layers: Vec<&(Hash256, Vec<Hash256>)> = v2
                .files
                .iter()
                .flatten()
                .filter(|(_, layer)| !layer.is_empty())
                .collect();
            layers.sort_by_key(|a| a.0);
            layers.dedup_by(|a, b| a.0 == b.0);
            d.entry(b"piece layers", |e| {
                e.dict(|d| {
                    for (root, layer) in layers {
                        d.entry(root, |e| e.bytes(layer.as_flattened()));
                    }
                })
            });
        }
        if !opts.web_seeds.is_empty() {
            d.entry(b"url-list", |e| {
                e.list(|e| opts.web_seeds.iter().for_each(|u| e.bytes(u.as_bytes())))
            });
        }
    });
    e.finish()
}

/// The v2 `file tree`: directories as dictionaries sorted by name, files as `{"": {length,
/// pieces root}}`.
enum FileTree<'a> {
    Dir(std::collections::BTreeMap<&'a [u8], FileTree<'a>>),
    File { length: u64, root: Option<Hash256> },
}

impl<'a> FileTree<'a> {
    fn new(name: &'a str, multi_file: bool, files: &'a [Source], v2: &V2Out) -> Self {
        let mut root = FileTree::Dir(Default::default());
        for (f, hashes) in files.iter().zip(&v2.files) {
            let single = [name];
            let path: Vec<&str> = if multi_file {
                f.rel.iter().map(String::as_str).collect()
            } else {
                single.to_vec()
            };
            let leaf = FileTree::File {
                length: f.length,
                root: hashes.as_ref().map(|(r, _)| *r),
            };
            root.insert(&path, leaf);
        }
        root
    }

    fn insert(&mut self, path: &[&'a str], leaf: FileTree<'a>) {
        let FileTree::Dir(entries) = self else {
            return;
        };
        match path {
            [] => {}
            [last] => {
                entries.insert(last.as_bytes(), leaf);
            }
            [first, rest @ ..] => entries
                .entry(first.as_bytes())
                .or_insert_with(|| FileTree::Dir(Default::default()))
                .insert(rest, leaf),
        }
    }

    fn encode(&self, e: &mut Encoder) {
        match self {
            FileTree::Dir(entries) => e.dict(|d| {
                for (name, child) in entries {
                    d.entry(name, |e| child.encode(e));
                }
            }),
            FileTree::File { length, root } => e.dict(|d| {
                d.entry(b"", |e| {
                    e.dict(|d| {
                        d.entry(b"length", |e| {
                            e.int(i64::try_from(*length).unwrap_or(i64::MAX))
                        });
                        if let Some(root) = root {
                            d.entry(b"pieces root", |e| e.bytes(root));
                        }
                    })
                })
            }),
        }
    }
}

#[cfg(test)]
mod tests;
