//! A hybrid torrent's v2 `file tree` (BEP 52) must describe the same files as its v1 part, or
//! the two swarms would hold different data under one name. libtorrent refuses such a torrent
//! ("the v1 and v2 file metadata does not match"), and so does btmirror.
//!
//! Only the layout is compared, as libtorrent's `files_compatible` does: every non-empty file,
//! in order, with the same path, length and offset (in v2 every file starts on a piece
//! boundary, so v1 needs pad files before it). The v2 hashes themselves are not checked yet.

use bencode::Value;

use super::sanitize::sanitize_path;
use crate::{Error, FileEntry};

/// One non-empty file of the v2 tree: path (the torrent name first for a multi-file torrent),
/// length and offset in the v2 layout.
type V2File = (Vec<String>, u64, u64);

/// Checks the `file tree` of a hybrid against its v1 `files` (already laid out).
pub(crate) fn check_hybrid(
    info: &Value<'_>,
    name: &str,
    multi_file: bool,
    piece_length: u32,
    files: &[FileEntry],
) -> Result<(), Error> {
    let tree = info
        .get(b"file tree")
        .ok_or_else(|| Error::Missing("info.file tree".into()))?;
    let v2 = v2_files(tree, name, multi_file, piece_length)?;
    let mismatch = || Error::invalid("info.file tree", "the v1 and v2 file metadata do not match");
    let v1 = files.iter().filter(|f| f.length > 0);
    if v1.clone().count() != v2.len() {
        return Err(mismatch());
    }
    for (f, (path, length, offset)) in v1.zip(&v2) {
        let same_path = f.path.iter().eq(path.iter().map(std::ffi::OsStr::new));
        if !same_path || f.length != *length || f.offset != *offset {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// The non-empty files of a v2 `file tree`, in tree order, walked with an explicit stack.
fn v2_files(
    tree: &Value<'_>,
    name: &str,
    multi_file: bool,
    piece_length: u32,
) -> Result<Vec<V2File>, Error> {
    let bad = |reason: &str| Error::invalid("info.file tree", reason.to_owned());
    let root = tree.as_dict().ok_or_else(|| bad("not a dictionary"))?;
    if root.is_empty() {
        return Err(bad("empty"));
    }
    let prefix = if multi_file {
        vec![name.to_owned()]
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut stack = vec![(root.iter().collect::<Vec<_>>().into_iter(), prefix)];
    while let Some((entries, dir)) = stack.last_mut() {
        let Some((key, value)) = entries.next() else {
            stack.pop();
            continue;
        };
        if key.is_empty() {
            return Err(bad("an empty file name"));
        }
        let node = value
            .as_dict()
            .ok_or_else(|| bad("an entry that is not a dictionary"))?;
        let mut path = dir.clone();
        let clean = sanitize_path("info.file tree", &[key])?;
        path.extend(clean.components);
        // As in `v2::tree_leaves`: a dictionary with a `""` key is a file.
        let leaf = node.get(b"").is_some();
        if !leaf {
            stack.push((node.iter().collect::<Vec<_>>().into_iter(), path));
            continue;
        }
        let length = node
            .get(b"")
            .and_then(|f| f.get(b"length"))
            .and_then(Value::as_int)
            .and_then(|l| u64::try_from(l).ok())
            .ok_or_else(|| bad("a file without a valid length"))?;
        if length > 0 {
            out.push((path, length, offset));
            let aligned = length
                .div_ceil(u64::from(piece_length))
                .checked_mul(u64::from(piece_length))
                .ok_or_else(|| bad("lengths overflow"))?;
            offset = offset
                .checked_add(aligned)
                .ok_or_else(|| bad("lengths overflow"))?;
        }
    }
    Ok(out)
}
