//! The multi-file `files` list with its BEP 47 attributes: pad files become gaps in the byte
//! stream, symlinks are set aside, names are sanitised and colliding paths renamed.

use std::path::PathBuf;

use bencode::Value;

use super::dedupe::{Candidate, rename_duplicates};
use super::sanitize::{climbing, sanitize_path};
use super::symlinks::Targets;
use super::{file_length, lossy};
use crate::{Error, FileAttrs, FileEntry, Symlink};

/// BitComet marks its pad files by name instead of with `attr`.
const BITCOMET_PAD: &[u8] = b"_____padding_file_";

/// The files of a multi-file torrent, ready for [`crate::Info`] and [`crate::Metainfo`].
pub(crate) struct Layout {
    /// Real files, with offsets in the whole byte stream.
    pub(crate) files: Vec<FileEntry>,
    /// One per entry of `files`.
    pub(crate) attrs: Vec<FileAttrs>,
    /// Symlinks to create on completion.
    pub(crate) symlinks: Vec<Symlink>,
    /// How many pad files were left out.
    pub(crate) pad_files: usize,
    /// Length of the byte stream, pad files included.
    pub(crate) total_length: u64,
}

/// What one entry of `files` is.
enum Kind {
    /// A file with data on disk.
    Regular(FileAttrs),
    /// A BEP 47 pad file: zeros, never on disk.
    Pad,
    /// A BEP 47 symlink with these (sanitised) target elements, not resolved yet.
    Symlink(Vec<String>),
}

/// One parsed entry, before renaming.
struct Entry {
    kind: Kind,
    length: u64,
    offset: u64,
}

/// Parses `files` under the (already sanitised) torrent `name`, adding what it changed to `notes`.
pub(crate) fn parse_files(
    name: &str,
    files: &Value<'_>,
    notes: &mut Vec<String>,
) -> Result<Layout, Error> {
    let list = files
        .as_list()
        .ok_or_else(|| Error::invalid("info.files", "not a list"))?;
    if list.is_empty() {
        return Err(Error::invalid("info.files", "empty list"));
    }
    let mut entries = Vec::with_capacity(list.len());
    let mut candidates = Vec::with_capacity(list.len());
    let mut offset = 0u64;
    for (i, file) in list.iter().enumerate() {
        let Some((entry, components)) = parse_entry(name, file, i, offset, notes)? else {
            continue;
        };
        offset = offset
            .checked_add(entry.length)
            .ok_or_else(|| Error::invalid("info.files", "total length overflows"))?;
        candidates.push(Candidate {
            components,
            pad: matches!(entry.kind, Kind::Pad),
            length: entry.length,
        });
        entries.push(entry);
    }
    for (index, old, new) in rename_duplicates(&mut candidates)? {
        if entries
            .get(index)
            .is_some_and(|e| !matches!(e.kind, Kind::Pad))
        {
            notes.push(format!("duplicate path {old:?} renamed to {new:?}"));
        }
    }
    let layout = lay_out(name, &entries, &candidates, offset, notes);
    if layout.files.is_empty() {
        return Err(Error::invalid("info.files", "no files besides pad files"));
    }
    Ok(layout)
}

/// The renamed entries sorted into files, symlinks (resolved, or skipped with a note) and pad
/// files.
fn lay_out(
    name: &str,
    entries: &[Entry],
    candidates: &[Candidate],
    total_length: u64,
    notes: &mut Vec<String>,
) -> Layout {
    let mut layout = Layout {
        files: Vec::with_capacity(entries.len()),
        attrs: Vec::with_capacity(entries.len()),
        symlinks: Vec::new(),
        pad_files: 0,
        total_length,
    };
    let targets = Targets::new(
        candidates
            .iter()
            .filter(|c| !c.pad)
            .map(|c| c.components.as_slice()),
    );
    let links: Vec<(&[String], &[String])> = entries
        .iter()
        .zip(candidates)
        .filter_map(|(e, c)| match &e.kind {
            Kind::Symlink(target) => Some((c.components.as_slice(), target.as_slice())),
            _ => None,
        })
        .collect();
    let mut resolved = targets.resolve_all(name, &links).into_iter();
    for (entry, candidate) in entries.iter().zip(candidates) {
        let path: PathBuf = candidate.components.iter().collect();
        match &entry.kind {
            Kind::Pad => layout.pad_files += 1,
            Kind::Symlink(target) => match resolved.next().flatten() {
                Some(resolved) => layout.symlinks.push(Symlink {
                    path,
                    target: resolved.iter().collect(),
                }),
                None => notes.push(format!(
                    "symlink {:?} skipped: its target {:?} is not in the torrent",
                    candidate.components.join("/"),
                    target.join("/")
                )),
            },
            Kind::Regular(attrs) => {
                layout.files.push(FileEntry {
                    path,
                    length: entry.length,
                    offset: entry.offset,
                });
                layout.attrs.push(*attrs);
            }
        }
    }
    layout
}

/// Parses entry `i` at byte `offset`: the entry and its path components (the name first), or
/// `None` for a symlink skipped for safety.
fn parse_entry(
    name: &str,
    file: &Value<'_>,
    i: usize,
    offset: u64,
    notes: &mut Vec<String>,
) -> Result<Option<(Entry, Vec<String>)>, Error> {
    if file.as_dict().is_none() {
        return Err(Error::invalid(
            format!("info.files[{i}]"),
            "not a dictionary",
        ));
    }
    let attr = file
        .get(b"attr")
        .and_then(Value::as_bytes)
        .unwrap_or_default();
    let symlink = attr.contains(&b'l');
    // Symlinks take no bytes of the stream whatever `length` says (as in libtorrent).
    let length = if symlink {
        0
    } else {
        file_length(file, &format!("info.files[{i}].length"))?
    };
    let raw = raw_path(file, i)?;
    let bitcomet_pad = raw.as_ref().is_some_and(|(_, parts)| {
        parts
            .iter()
            .any(|p| p.windows(BITCOMET_PAD.len()).any(|w| w == BITCOMET_PAD))
    });
    if attr.contains(&b'p') || bitcomet_pad {
        // Never on disk, so its path only matters for the renaming of others.
        let mut components = vec![name.to_owned()];
        match &raw {
            Some((_, parts)) => components.extend(parts.iter().map(|p| lossy(p))),
            None => components.extend([".pad".to_owned(), length.to_string()]),
        }
        let entry = Entry {
            kind: Kind::Pad,
            length,
            offset,
        };
        return Ok(Some((entry, components)));
    }
    let Some((field, parts)) = raw else {
        let field = format!("info.files[{i}].path");
        if file.get(b"path").is_none() {
            return Err(Error::Missing(field));
        }
        return Err(Error::UnsafePath {
            field,
            path: String::new(),
            reason: "empty path",
        });
    };
    let clean = sanitize_path(&field, &parts)?;
    if clean.changed {
        notes.push(format!(
            "{field}: {:?} sanitised to {:?}",
            lossy(&parts.join(&b'/')),
            clean.components.join("/")
        ));
    }
    let mut components = vec![name.to_owned()];
    components.extend(clean.components);
    let kind = if symlink {
        match symlink_target(file, i, &components, notes) {
            Some(Ok(target)) => Kind::Symlink(target),
            Some(Err(())) => return Ok(None),
            // libtorrent: a symlink without `symlink path` is an (empty) regular file.
            None => Kind::Regular(FileAttrs::default()),
        }
    } else {
        Kind::Regular(FileAttrs {
            executable: attr.contains(&b'x'),
            hidden: attr.contains(&b'h'),
        })
    };
    Ok(Some((
        Entry {
            kind,
            length,
            offset,
        },
        components,
    )))
}

/// The sanitised elements of a symlink's target: `None` without `symlink path`,
/// `Some(Err)` (with a note) when the target is unusable or could leave the torrent.
fn symlink_target(
    file: &Value<'_>,
    i: usize,
    link: &[String],
    notes: &mut Vec<String>,
) -> Option<Result<Vec<String>, ()>> {
    let list = file.get(b"symlink path")?;
    let field = format!("info.files[{i}].symlink path");
    let skip = |notes: &mut Vec<String>, why: &str| {
        notes.push(format!(
            "symlink {:?} skipped: {field} {why}",
            link.join("/")
        ));
        Some(Err(()))
    };
    let Some(parts) = list
        .as_list()
        .and_then(|l| l.iter().map(Value::as_bytes).collect::<Option<Vec<_>>>())
    else {
        return skip(notes, "is not a list of strings");
    };
    if climbing(&parts).is_some() {
        return skip(notes, "could point outside the torrent");
    }
    let clean = sanitize_path(&field, &parts).ok()?;
    Some(Ok(clean.components))
}

/// A path field's name and its raw components.
type RawPath<'a> = (String, Vec<&'a [u8]>);

/// `path.utf-8` when it is a non-empty list of strings, else `path` (libtorrent prefers the
/// `.utf-8` key whenever it is there): the field name and the raw components, or `None` when
/// there is no usable path (an error unless the entry is a pad file).
fn raw_path<'a>(file: &Value<'a>, i: usize) -> Result<Option<RawPath<'a>>, Error> {
    let strings = |v: &Value<'a>| {
        v.as_list()?
            .iter()
            .map(Value::as_bytes)
            .collect::<Option<Vec<_>>>()
    };
    if let Some(parts) = file.get(b"path.utf-8").and_then(strings)
        && !parts.is_empty()
    {
        return Ok(Some((format!("info.files[{i}].path.utf-8"), parts)));
    }
    let field = format!("info.files[{i}].path");
    let Some(v) = file.get(b"path") else {
        return Ok(None);
    };
    let parts = strings(v).ok_or_else(|| Error::invalid(&field, "not a list of strings"))?;
    Ok((!parts.is_empty()).then_some((field, parts)))
}
