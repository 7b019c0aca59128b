//! `Metainfo::from_bytes`: parsing and validating a `.torrent` file as found in the field.
//!
//! Lenient where the format is: bytes after the top dictionary are ignored, dict keys may be
//! unsorted or repeated (the first wins, as in libtorrent; the info-hash is the SHA-1 of the
//! raw `info` bytes whatever their order), odd names are sanitised and colliding paths renamed
//! as libtorrent does. Strict where safety is: a path that could leave the torrent's directory
//! is refused. Everything changed is listed in [`Metainfo::notes`].
//!
//! Outer fields (`announce`, `announce-list`, `comment`, `created by`, `creation date`,
//! `url-list`) are best-effort: a wrong type is ignored and text is decoded lossily. Everything in
//! `info` is validated and any problem is an error naming the field.

mod dedupe;
mod files;
mod hybrid;
mod sanitize;
mod symlinks;
mod v2;

use std::path::{Component, PathBuf};
use std::sync::Arc;

use bencode::{Dict, Value};
use sha1::{Digest, Sha1};

use crate::{
    Error, FileAttrs, FileEntry, Info, InfoBytes, InfoHash, InfoHashV2, Metainfo, PieceHashes,
};
use files::{Layout, parse_files};
use sanitize::{climbing, sanitize_element};

/// Smallest accepted `piece length` (16 KiB).
pub(crate) const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// Largest accepted `piece length` (64 MiB).
pub(crate) const MAX_PIECE_LENGTH: u32 = 64 * 1024 * 1024;
/// At most this many notes are kept; the rest are summed up in one more.
const MAX_NOTES: usize = 50;

impl Metainfo {
    /// Parses and validates a `.torrent` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let (root, used) = bencode::decode_forgiving_prefix(bytes)?;
        let mut notes = Vec::new();
        if used < bytes.len() {
            notes.push(format!(
                "ignored {} bytes after the end of the torrent",
                bytes.len() - used
            ));
        }
        let top = root
            .as_dict()
            .ok_or_else(|| Error::invalid("(root)", "not a dictionary"))?;
        let info_value = top
            .get(b"info")
            .ok_or_else(|| Error::Missing("info".into()))?;
        if info_value.as_dict().is_none() {
            return Err(Error::invalid("info", "not a dictionary"));
        }
        let raw_info = info_value.raw();
        if bencode::decode(raw_info).is_err() {
            notes.push(
                "the info dictionary is not canonical bencode (unsorted or repeated keys, or \
                 numbers with leading zeros); its first keys were used and its bytes hashed as \
                 they are"
                    .into(),
            );
        }
        let (mode, info_hash_v2) = match meta_version(info_value)? {
            1 => (Mode::V1, None),
            _ => {
                let v2 = InfoHashV2(crate::merkle::sha256(raw_info));
                match info_value.get(b"pieces") {
                    None => (Mode::V2Only, Some(v2)),
                    Some(_) => (Mode::Hybrid, Some(v2)),
                }
            }
        };
        let info_hash = match (mode, info_hash_v2) {
            (Mode::V2Only, Some(v2)) => v2.truncated(),
            _ => InfoHash(Sha1::digest(raw_info).into()),
        };
        let layers = top.get(b"piece layers");
        let parsed = parse_info(info_value, &info_hash, mode, layers, &mut notes)?;
        let announce = announce(top, &mut notes);
        let announce_list = announce_list(top, &mut notes);
        cap_notes(&mut notes);
        Ok(Metainfo {
            info_hash,
            info_hash_v2,
            info: Arc::new(parsed.info),
            announce,
            announce_list,
            info_bytes: InfoBytes::new(Arc::from(raw_info)),
            url_list: url_list(top),
            comment: lossy_text(top, b"comment"),
            created_by: lossy_text(top, b"created by"),
            creation_date: top.get(b"creation date").and_then(Value::as_int),
            file_attrs: parsed.attrs,
            symlinks: parsed.symlinks,
            pad_files: parsed.pad_files,
            notes,
        })
    }
}

/// Which hashes a torrent has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// v1 SHA-1 pieces only.
    V1,
    /// v1 pieces and a v2 `file tree` describing the same files.
    Hybrid,
    /// A v2 `file tree` only (BEP 52).
    V2Only,
}

/// BEP 52 `meta version`: 1 when absent, 2 for v2 and hybrid torrents; anything else is refused.
fn meta_version(info: &Value<'_>) -> Result<i64, Error> {
    match info.get(b"meta version").map(Value::as_int) {
        None | Some(Some(1)) => Ok(1),
        Some(Some(2)) => Ok(2),
        Some(Some(v)) => Err(Error::Unsupported(format!(
            "BitTorrent meta version {v} is not supported"
        ))),
        Some(None) => Err(Error::invalid("info.meta version", "not an integer")),
    }
}

/// Keeps the first [`MAX_NOTES`] notes and says how many more there were.
fn cap_notes(notes: &mut Vec<String>) {
    if notes.len() > MAX_NOTES {
        let more = notes.len() - MAX_NOTES;
        notes.truncate(MAX_NOTES);
        notes.push(format!("... and {more} more changes"));
    }
}

/// A `.torrent` file around an info dictionary fetched for a magnet link (BEP 9): the
/// magnet's trackers (each its own tier, as BEP 9 wants `tr` treated), its web seeds as
/// `url-list`, and `info` byte for byte, so the file's info-hash is the magnet's. The result
/// parses with [`Metainfo::from_bytes`] when `info` is a valid info dictionary.
pub fn torrent_from_metadata(info: &[u8], magnet: &crate::magnet::Magnet) -> Vec<u8> {
    let mut e = bencode::Encoder::new();
    e.dict(|d| {
        if let Some(first) = magnet.trackers.first() {
            d.entry(b"announce", |v| v.bytes(first.as_bytes()));
        }
        if magnet.trackers.len() > 1 {
            d.entry(b"announce-list", |v| {
                v.list(|l| {
                    for t in &magnet.trackers {
                        l.list(|tier| tier.bytes(t.as_bytes()));
                    }
                });
            });
        }
        d.entry(b"created by", |v| v.bytes(b"btmirror (from a magnet link)"));
        d.entry(b"info", |v| v.raw(info));
        if !magnet.web_seeds.is_empty() {
            d.entry(b"url-list", |v| {
                v.list(|l| {
                    for w in &magnet.web_seeds {
                        l.bytes(w.as_bytes());
                    }
                });
            });
        }
    });
    e.finish()
}

/// `announce`: a UTF-8 URL, or nothing (a wrong type is ignored with a note, as libtorrent does).
fn announce(top: &Dict<'_>, notes: &mut Vec<String>) -> Option<String> {
    let v = top.get(b"announce")?;
    match v.as_bytes() {
        Some(bytes) => url(bytes),
        None => {
            notes.push("announce ignored: not a string".into());
            None
        }
    }
}

/// BEP 12 tiers. A tier that is not a list is skipped; URLs that are not UTF-8 strings are
/// dropped, and so are tiers left empty; an `announce-list` that is not a list is ignored with
/// a note.
fn announce_list(top: &Dict<'_>, notes: &mut Vec<String>) -> Vec<Vec<String>> {
    let Some(v) = top.get(b"announce-list") else {
        return Vec::new();
    };
    let Some(tiers) = v.as_list() else {
        notes.push("announce-list ignored: not a list".into());
        return Vec::new();
    };
    tiers
        .iter()
        .filter_map(Value::as_list)
        .map(|tier| {
            tier.iter()
                .filter_map(Value::as_bytes)
                .filter_map(url)
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect()
}

/// BEP 19 `url-list` (one string or a list of strings), then BEP 17 `httpseeds` used as BEP 19
/// URLs as Transmission does (the distributions that ship them list plain file URLs); empty
/// strings, non-UTF-8 and duplicates dropped.
fn url_list(top: &Dict<'_>) -> Vec<String> {
    let mut urls = url_strings(top, b"url-list");
    for u in url_strings(top, b"httpseeds") {
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    urls
}

/// A string or a list of strings under `key`, as URLs.
fn url_strings(top: &Dict<'_>, key: &[u8]) -> Vec<String> {
    match top.get(key) {
        Some(v) if v.as_bytes().is_some() => v.as_bytes().and_then(url).into_iter().collect(),
        Some(v) => v
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_bytes)
            .filter_map(url)
            .collect(),
        None => Vec::new(),
    }
}

/// A URL: non-empty UTF-8 (surrounding whitespace removed), or nothing.
fn url(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn lossy_text(top: &Dict<'_>, key: &[u8]) -> Option<String> {
    let utf8_key = [key, b".utf-8"].concat();
    top.get(&utf8_key)
        .or_else(|| top.get(key))
        .and_then(Value::as_bytes)
        .map(lossy)
}

/// Bytes as text, invalid UTF-8 replaced by U+FFFD (for messages and informational fields).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The validated `info` dictionary and what goes beside it in [`Metainfo`].
struct ParsedInfo {
    info: Info,
    attrs: Vec<FileAttrs>,
    symlinks: Vec<crate::Symlink>,
    pad_files: usize,
}

fn parse_info(
    info: &Value<'_>,
    info_hash: &InfoHash,
    mode: Mode,
    layers: Option<&Value<'_>>,
    notes: &mut Vec<String>,
) -> Result<ParsedInfo, Error> {
    if mode == Mode::V2Only {
        return parse_v2_only(info, info_hash, layers, notes);
    }
    let hybrid = mode == Mode::Hybrid;
    // A directory name sanitised away becomes the info-hash; a file name cannot (libtorrent).
    let multi = info.get(b"files").is_some();
    let name = torrent_name(info, multi.then_some(info_hash), notes)?;
    let piece_length = piece_length(info, hybrid)?;
    let pieces = info
        .get(b"pieces")
        .ok_or_else(|| Error::Missing("info.pieces".into()))?;
    let pieces = pieces
        .as_bytes()
        .ok_or_else(|| Error::invalid("info.pieces", "not a byte string"))?;
    let (hashes, rest) = pieces.as_chunks::<20>();
    if !rest.is_empty() {
        return Err(Error::invalid(
            "info.pieces",
            format!("length {} is not a multiple of 20", pieces.len()),
        ));
    }

    let (layout, multi_file) = match (info.get(b"length"), info.get(b"files")) {
        (Some(_), Some(_)) => return Err(Error::invalid("info", "has both `length` and `files`")),
        (None, None) => return Err(Error::Missing("info.length or info.files".into())),
        (Some(_), None) => (single_file(info, &name, notes)?, false),
        (None, Some(files)) => (parse_files(&name, files, notes)?, true),
    };
    let total_length = layout.total_length;
    if total_length == 0 {
        return Err(Error::invalid(
            if multi_file {
                "info.files"
            } else {
                "info.length"
            },
            "total length is zero: the torrent has no data",
        ));
    }
    let expected = total_length.div_ceil(u64::from(piece_length));
    if expected != hashes.len() as u64 || u32::try_from(expected).is_err() {
        return Err(Error::invalid(
            "info.pieces",
            format!(
                "{} piece hashes, but {total_length} bytes in pieces of {piece_length} need {expected}",
                hashes.len()
            ),
        ));
    }
    let v2 = if hybrid {
        hybrid::check_hybrid(info, &name, multi_file, piece_length, &layout.files)?;
        let tree = info
            .get(b"file tree")
            .ok_or_else(|| Error::Missing("info.file tree".into()))?;
        let leaves = v2::tree_leaves(tree)?;
        Some(v2::v2_hashes(
            &layout.files,
            piece_length,
            &leaves,
            layers,
            notes,
        )?)
    } else {
        None
    };
    finish_info(
        info,
        name,
        piece_length,
        PieceHashes::new(hashes.to_vec()),
        layout,
        multi_file,
        v2,
    )
}

/// A v2-only torrent: the layout from `file tree` (see [`v2`]).
fn parse_v2_only(
    info: &Value<'_>,
    info_hash: &InfoHash,
    layers: Option<&Value<'_>>,
    notes: &mut Vec<String>,
) -> Result<ParsedInfo, Error> {
    let tree = info
        .get(b"file tree")
        .ok_or_else(|| Error::Missing("info.file tree".into()))?;
    let leaves = v2::tree_leaves(tree)?;
    let multi = !(leaves.len() == 1 && tree.as_dict().is_some_and(|d| d.len() == 1));
    let name = torrent_name(info, multi.then_some(info_hash), notes)?;
    let piece_length = piece_length(info, true)?;
    let (layout, multi_file) = v2::v2_layout(&name, piece_length, &leaves, notes)?;
    if layout.total_length == 0 {
        return Err(Error::invalid(
            "info.file tree",
            "total length is zero: the torrent has no data",
        ));
    }
    let pieces = layout.total_length.div_ceil(u64::from(piece_length));
    if u32::try_from(pieces).is_err() {
        return Err(Error::invalid(
            "info.file tree",
            format!("too many pieces ({pieces})"),
        ));
    }
    let v2 = v2::v2_hashes(&layout.files, piece_length, &leaves, layers, notes)?;
    finish_info(
        info,
        name,
        piece_length,
        PieceHashes::new(Vec::new()),
        layout,
        multi_file,
        Some(v2),
    )
}

/// Checks the paths once more and builds the [`ParsedInfo`].
fn finish_info(
    info: &Value<'_>,
    name: String,
    piece_length: u32,
    pieces: PieceHashes,
    layout: Layout,
    multi_file: bool,
    v2: Option<crate::V2Hashes>,
) -> Result<ParsedInfo, Error> {
    // Defence in depth for the crate's security invariant.
    let paths = layout.files.iter().map(|f| &f.path);
    let links = layout.symlinks.iter().flat_map(|l| [&l.path, &l.target]);
    if let Some(bad) = paths.chain(links).find(|p| !is_safe_relative(p)) {
        return Err(Error::UnsafePath {
            field: "info.files".into(),
            path: bad.display().to_string(),
            reason: "not a relative path",
        });
    }
    Ok(ParsedInfo {
        info: Info {
            name,
            piece_length,
            pieces,
            files: layout.files,
            multi_file,
            private: info.get(b"private").and_then(Value::as_int) == Some(1),
            total_length: layout.total_length,
            v2: v2.map(Arc::new),
        },
        attrs: layout.attrs,
        symlinks: layout.symlinks,
        pad_files: layout.pad_files,
    })
}

/// `name.utf-8` when it is a string (libtorrent prefers it whenever it is there), else `name`,
/// sanitised. A name sanitised away becomes `fallback` in hex, or is an error without one.
fn torrent_name(
    info: &Value<'_>,
    fallback: Option<&InfoHash>,
    notes: &mut Vec<String>,
) -> Result<String, Error> {
    let (field, raw) = match info.get(b"name.utf-8").and_then(Value::as_bytes) {
        Some(b) => ("info.name.utf-8", b),
        None => {
            let v = info
                .get(b"name")
                .ok_or_else(|| Error::Missing("info.name".into()))?;
            let b = v
                .as_bytes()
                .ok_or_else(|| Error::invalid("info.name", "not a string"))?;
            ("info.name", b)
        }
    };
    if let Some(reason) = climbing(&[raw]) {
        return Err(Error::UnsafePath {
            field: field.into(),
            path: lossy(raw),
            reason,
        });
    }
    let name = match (sanitize_element(raw), fallback) {
        (Some(name), _) => name,
        (None, Some(hash)) => hash.to_hex(),
        (None, None) => return Err(Error::invalid(field, "nothing left after sanitising")),
    };
    if name.as_bytes() != raw {
        notes.push(format!("{field}: {:?} sanitised to {name:?}", lossy(raw)));
    }
    Ok(name)
}

/// `piece length`: for BitTorrent v2 (and hybrids) a power of two in 16 KiB..=64 MiB, as BEP 52
/// says; for v1 any length up to 64 MiB, as libtorrent loads them (old clients wrote lengths
/// such as 1,000,000 or 3 MiB; blocks simply end at each piece's end).
fn piece_length(info: &Value<'_>, v2: bool) -> Result<u32, Error> {
    let piece_length = int(info, b"piece length", "info.piece length")?;
    let valid = |pl: &u32| {
        if v2 {
            pl.is_power_of_two() && (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(pl)
        } else {
            (1..=MAX_PIECE_LENGTH).contains(pl)
        }
    };
    u32::try_from(piece_length)
        .ok()
        .filter(valid)
        .ok_or_else(|| {
            let want = if v2 {
                "a power of two in 16 KiB..=64 MiB (BitTorrent v2)"
            } else {
                "in 1 byte..=64 MiB"
            };
            Error::invalid("info.piece length", format!("{piece_length} is not {want}"))
        })
}

/// The layout of a single-file torrent (BEP 47 `x` and `h` apply to its file).
fn single_file(info: &Value<'_>, name: &str, notes: &mut Vec<String>) -> Result<Layout, Error> {
    let length = file_length(info, "info.length")?;
    let attr = info
        .get(b"attr")
        .and_then(Value::as_bytes)
        .unwrap_or_default();
    if attr.contains(&b'p') || attr.contains(&b'l') {
        notes.push("info.attr: pad or symlink flag on a single-file torrent ignored".into());
    }
    Ok(Layout {
        files: vec![FileEntry {
            path: PathBuf::from(name),
            length,
            offset: 0,
        }],
        attrs: vec![FileAttrs {
            executable: attr.contains(&b'x'),
            hidden: attr.contains(&b'h'),
        }],
        symlinks: Vec::new(),
        pad_files: 0,
        total_length: length,
    })
}

fn is_safe_relative(path: &std::path::Path) -> bool {
    path.components().next().is_some()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn int(dict: &Value<'_>, key: &[u8], field: &str) -> Result<i64, Error> {
    let v = dict.get(key).ok_or_else(|| Error::Missing(field.into()))?;
    v.as_int()
        .ok_or_else(|| Error::invalid(field, "not an integer"))
}

fn file_length(dict: &Value<'_>, field: &str) -> Result<u64, Error> {
    let n = int(dict, b"length", field)?;
    u64::try_from(n).map_err(|_| Error::invalid(field, format!("negative length {n}")))
}

/// Checks one path component (or the torrent name) and returns it as `&str`. `whole` is the full
/// path the component belongs to, for the error message.
pub(crate) fn check_component<'a>(
    field: &str,
    raw: &'a [u8],
    whole: &[u8],
) -> Result<&'a str, Error> {
    let unsafe_path = |reason| Error::UnsafePath {
        field: field.to_owned(),
        path: String::from_utf8_lossy(whole).into_owned(),
        reason,
    };
    let s = std::str::from_utf8(raw).map_err(|_| unsafe_path("not valid UTF-8"))?;
    match s {
        "" => Err(unsafe_path("empty component")),
        "." | ".." => Err(unsafe_path("`.` or `..` component")),
        _ if s.starts_with('/') => Err(unsafe_path("absolute path")),
        _ if s.contains('/') => Err(unsafe_path("`/` inside a component")),
        _ if s.contains('\0') => Err(unsafe_path("NUL inside a component")),
        _ => Ok(s),
    }
}

#[cfg(test)]
mod tests;
