//! `Metainfo::from_bytes`: strict parsing and validation of a `.torrent` file.
//!
//! The outer dictionary is decoded leniently (real torrents sometimes have unsorted outer keys),
//! but the `info` dictionary must be canonical bencode: its raw bytes are what the info-hash
//! covers, and clients that re-encode a non-canonical `info` compute a different hash.
//!
//! Informational outer fields (`comment`, `created by`, `creation date`, `url-list`) are
//! best-effort: a wrong type is ignored and text is decoded lossily. Everything in `info` is
//! validated and any problem is an error naming the field.

use std::path::{Component, PathBuf};
use std::sync::Arc;

use bencode::{Dict, Value};
use sha1::{Digest, Sha1};

use crate::{Error, FileEntry, Info, InfoHash, Metainfo, PieceHashes};

/// Smallest accepted `piece length` (16 KiB).
pub(crate) const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// Largest accepted `piece length` (64 MiB).
pub(crate) const MAX_PIECE_LENGTH: u32 = 64 * 1024 * 1024;

impl Metainfo {
    /// Parses and validates a `.torrent` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let root = bencode::decode_lenient(bytes)?;
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
        let strict = bencode::decode(raw_info).map_err(|e| {
            Error::invalid(
                "info",
                format!("not canonical bencode (keys unsorted or duplicated): {e}"),
            )
        })?;
        let info = parse_info(&strict)?;
        Ok(Metainfo {
            info_hash: InfoHash(Sha1::digest(raw_info).into()),
            info: Arc::new(info),
            announce: announce(top)?,
            announce_list: announce_list(top)?,
            url_list: url_list(top),
            comment: lossy_text(top, b"comment"),
            created_by: lossy_text(top, b"created by"),
            creation_date: top.get(b"creation date").and_then(Value::as_int),
        })
    }
}

fn announce(top: &Dict<'_>) -> Result<Option<String>, Error> {
    let Some(v) = top.get(b"announce") else {
        return Ok(None);
    };
    let bytes = v
        .as_bytes()
        .ok_or_else(|| Error::invalid("announce", "not a string"))?;
    Ok(url(bytes))
}

/// BEP 12 tiers. A tier that is not a list is skipped; URLs that are not UTF-8 strings are
/// dropped, and so are tiers left empty.
fn announce_list(top: &Dict<'_>) -> Result<Vec<Vec<String>>, Error> {
    let Some(v) = top.get(b"announce-list") else {
        return Ok(Vec::new());
    };
    let tiers = v
        .as_list()
        .ok_or_else(|| Error::invalid("announce-list", "not a list"))?;
    Ok(tiers
        .iter()
        .filter_map(Value::as_list)
        .map(|tier| {
            tier.iter()
                .filter_map(Value::as_bytes)
                .filter_map(url)
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect())
}

/// BEP 19 `url-list`: one string or a list of strings.
fn url_list(top: &Dict<'_>) -> Vec<String> {
    match top.get(b"url-list") {
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
    top.get(key)
        .and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn parse_info(info: &Value<'_>) -> Result<Info, Error> {
    let (name_field, name_bytes) = utf8_preferred(info, "name", "info.name")?;
    let name = check_component(&name_field, name_bytes, name_bytes)?.to_owned();

    let piece_length = int(info, b"piece length", "info.piece length")?;
    let piece_length = u32::try_from(piece_length)
        .ok()
        .filter(|pl| pl.is_power_of_two() && (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(pl))
        .ok_or_else(|| {
            Error::invalid(
                "info.piece length",
                format!("{piece_length} is not a power of two in 16 KiB..=64 MiB"),
            )
        })?;

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

    let (files, multi_file) = match (info.get(b"length"), info.get(b"files")) {
        (Some(_), Some(_)) => return Err(Error::invalid("info", "has both `length` and `files`")),
        (None, None) => return Err(Error::Missing("info.length or info.files".into())),
        (Some(_), None) => {
            let length = file_length(info, "info.length")?;
            (
                vec![FileEntry {
                    path: PathBuf::from(&name),
                    length,
                    offset: 0,
                }],
                false,
            )
        }
        (None, Some(files)) => (parse_files(&name, files)?, true),
    };
    let total_length = files
        .iter()
        .try_fold(0u64, |sum, f| sum.checked_add(f.length))
        .ok_or_else(|| {
            Error::invalid(
                if multi_file {
                    "info.files"
                } else {
                    "info.length"
                },
                "total length overflows",
            )
        })?;
    if total_length == 0 {
        return Err(Error::invalid(
            if multi_file {
                "info.files"
            } else {
                "info.length"
            },
            "total length is zero",
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
    Ok(Info {
        name,
        piece_length,
        pieces: PieceHashes::new(hashes.to_vec()),
        files,
        multi_file,
        private: info.get(b"private").and_then(Value::as_int) == Some(1),
        total_length,
    })
}

/// The multi-file `files` list: paths `name/comp/...`, checked, with no duplicate and no file
/// that is also a directory of another.
fn parse_files(name: &str, files: &Value<'_>) -> Result<Vec<FileEntry>, Error> {
    let list = files
        .as_list()
        .ok_or_else(|| Error::invalid("info.files", "not a list"))?;
    if list.is_empty() {
        return Err(Error::invalid("info.files", "empty list"));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut components: Vec<Vec<&str>> = Vec::with_capacity(list.len());
    let mut pad = Vec::with_capacity(list.len());
    let mut offset = 0u64;
    for (i, file) in list.iter().enumerate() {
        if file.as_dict().is_none() {
            return Err(Error::invalid(
                format!("info.files[{i}]"),
                "not a dictionary",
            ));
        }
        let length = file_length(file, &format!("info.files[{i}].length"))?;
        let (field, parts) = path_list(file, i)?;
        let joined = parts
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
            .join("/");
        let mut path = PathBuf::from(name);
        let mut comps = Vec::with_capacity(parts.len());
        for part in parts {
            let c = check_component(&field, part, joined.as_bytes())?;
            path.push(c);
            comps.push(c);
        }
        // Defence in depth for the crate's security invariant.
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Error::UnsafePath {
                field,
                path: joined,
                reason: "not a relative path",
            });
        }
        out.push(FileEntry {
            path,
            length,
            offset,
        });
        components.push(comps);
        // BEP 47 padding files (`attr` containing `p`) may share a path such as `.pad/16384`.
        pad.push(
            file.get(b"attr")
                .and_then(Value::as_bytes)
                .is_some_and(|a| a.contains(&b'p')),
        );
        offset = offset.saturating_add(length);
    }
    check_conflicts(&out, &components, &pad)?;
    Ok(out)
}

/// `path.utf-8` when present and a list of strings, else `path`: the field name and the raw
/// components.
fn path_list<'a>(file: &Value<'a>, i: usize) -> Result<(String, Vec<&'a [u8]>), Error> {
    let strings = |v: &Value<'a>| {
        v.as_list()?
            .iter()
            .map(Value::as_bytes)
            .collect::<Option<Vec<_>>>()
    };
    if let Some(parts) = file.get(b"path.utf-8").and_then(strings)
        && parts.iter().all(|p| std::str::from_utf8(p).is_ok())
    {
        return check_non_empty(format!("info.files[{i}].path.utf-8"), parts);
    }
    let field = format!("info.files[{i}].path");
    let v = file
        .get(b"path")
        .ok_or_else(|| Error::Missing(field.clone()))?;
    let parts = strings(v).ok_or_else(|| Error::invalid(&field, "not a list of strings"))?;
    check_non_empty(field, parts)
}

fn check_non_empty(field: String, parts: Vec<&[u8]>) -> Result<(String, Vec<&[u8]>), Error> {
    if parts.is_empty() {
        return Err(Error::UnsafePath {
            field,
            path: String::new(),
            reason: "empty path",
        });
    }
    Ok((field, parts))
}

/// Rejects two files with the same path and a file whose path is a directory of another.
fn check_conflicts(
    files: &[FileEntry],
    components: &[Vec<&str>],
    pad: &[bool],
) -> Result<(), Error> {
    let mut order: Vec<usize> = (0..components.len()).collect();
    order.sort_by(|&a, &b| components.get(a).cmp(&components.get(b)));
    // Sorted component-wise, a path that is a prefix of others comes right before them.
    for pair in order.windows(2) {
        let &[a, b] = pair else { continue };
        let (Some(ca), Some(cb)) = (components.get(a), components.get(b)) else {
            continue;
        };
        let (first, second) = (a.min(b), a.max(b));
        let field = format!("info.files[{second}].path");
        if ca == cb {
            let same_pad = pad.get(a) == Some(&true)
                && pad.get(b) == Some(&true)
                && files.get(a).map(|f| f.length) == files.get(b).map(|f| f.length);
            if !same_pad {
                return Err(Error::invalid(
                    field,
                    format!("duplicate of info.files[{first}].path"),
                ));
            }
        } else if cb.starts_with(ca) {
            return Err(Error::invalid(
                format!("info.files[{b}].path"),
                format!("lies inside info.files[{a}].path, which is a file"),
            ));
        }
    }
    Ok(())
}

/// A string field preferring its `.utf-8` variant (e.g. `name.utf-8`) when that is valid UTF-8.
fn utf8_preferred<'a>(
    dict: &Value<'a>,
    key: &str,
    field: &str,
) -> Result<(String, &'a [u8]), Error> {
    let utf8_key = format!("{key}.utf-8");
    if let Some(b) = dict.get(utf8_key.as_bytes()).and_then(Value::as_bytes)
        && std::str::from_utf8(b).is_ok()
    {
        return Ok((format!("{field}.utf-8"), b));
    }
    let v = dict
        .get(key.as_bytes())
        .ok_or_else(|| Error::Missing(field.into()))?;
    let b = v
        .as_bytes()
        .ok_or_else(|| Error::invalid(field, "not a string"))?;
    Ok((field.into(), b))
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
