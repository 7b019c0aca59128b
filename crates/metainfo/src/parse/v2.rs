//! BEP 52 (BitTorrent v2): the `file tree`, `piece layers`, and the layout of a v2-only torrent.
//!
//! A v2-only torrent is laid out as libtorrent lays it out: files in tree order, each file
//! with data followed by a pad file up to the next piece boundary (the last one too), so every
//! file starts on a piece and no piece holds two files. That layout is built as a v1 `files`
//! list and parsed by [`super::files::parse_files`], so names are sanitised, duplicates renamed
//! and symlinks checked exactly as for v1.

use std::sync::Arc;

use bencode::{Dict, Value};

use super::files::{Layout, parse_files};
use super::lossy;
use crate::merkle::{Hash256, root_from_layer};
use crate::{Error, FileEntry, V2File, V2Hashes};

/// One entry of the `file tree`: a file, an empty file or a symlink.
pub(crate) struct Leaf<'a> {
    /// The raw keys from the tree's root down to the file.
    keys: Vec<&'a [u8]>,
    /// Length in bytes (0 for a symlink).
    pub(crate) length: u64,
    /// `pieces root` (files with data only).
    pub(crate) root: Option<Hash256>,
    /// The leaf's dictionary (the value under the `""` key).
    node: &'a Value<'a>,
    symlink: bool,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::invalid("info.file tree", reason)
}

/// A v2 file has fewer blocks than this (`INT_MAX / 2`, as in libtorrent).
const MAX_BLOCKS: u64 = (i32::MAX / 2) as u64;

/// The entries of `file tree`, in tree order. The tree must be canonical bencode (sorted keys,
/// no leading zeros), as libtorrent requires of v2 metadata, although it is lenient with v1.
pub(crate) fn tree_leaves<'a>(tree: &'a Value<'a>) -> Result<Vec<Leaf<'a>>, Error> {
    if bencode::decode(tree.raw()).is_err() {
        return Err(bad("invalid bencoding: the v2 file tree is not canonical"));
    }
    let root = tree.as_dict().ok_or_else(|| bad("not a dictionary"))?;
    if root.is_empty() {
        return Err(bad("empty"));
    }
    let mut out = Vec::new();
    type Frame<'b> = (std::vec::IntoIter<(&'b [u8], &'b Value<'b>)>, Vec<&'b [u8]>);
    let entries = |d: &'a Dict<'a>| d.iter().collect::<Vec<_>>().into_iter();
    let mut stack: Vec<Frame<'a>> = vec![(entries(root), Vec::new())];
    while let Some((iter, dir)) = stack.last_mut() {
        let Some((key, value)) = iter.next() else {
            stack.pop();
            continue;
        };
        if key.is_empty() {
            return Err(bad("an empty file name"));
        }
        let node = value
            .as_dict()
            .ok_or_else(|| bad("an entry that is not a dictionary"))?;
        let mut keys = dir.clone();
        keys.push(key);
        let Some(leaf) = node.get(b"") else {
            if node.is_empty() {
                return Err(bad("an empty directory"));
            }
            stack.push((entries(node), keys));
            continue;
        };
        if leaf.as_dict().is_none() {
            return Err(bad("a file entry that is not a dictionary"));
        }
        let attr = leaf
            .get(b"attr")
            .and_then(Value::as_bytes)
            .unwrap_or_default();
        if attr.contains(&b'p') {
            return Err(bad("a file in the v2 metadata has the pad attribute set"));
        }
        let symlink = attr.contains(&b'l');
        let length = leaf
            .get(b"length")
            .and_then(Value::as_int)
            .and_then(|l| u64::try_from(l).ok())
            .ok_or_else(|| bad(format!("{:?}: no valid length", lossy(&keys.join(&b'/')))))?;
        let length = if symlink { 0 } else { length };
        // libtorrent's bound on a file's Merkle tree (its leaves are counted in an `int`).
        if length / u64::from(crate::BLOCK_SIZE) >= MAX_BLOCKS {
            return Err(bad(
                "invalid length of torrent: a file too large for a v2 Merkle tree",
            ));
        }
        let root = if length > 0 {
            let root = leaf
                .get(b"pieces root")
                .and_then(Value::as_bytes)
                .and_then(|r| <Hash256>::try_from(r).ok())
                .filter(|r| r != &[0; 32])
                .ok_or_else(|| bad("a v2 file entry has no root hash"))?;
            Some(root)
        } else {
            None
        };
        out.push(Leaf {
            keys,
            length,
            root,
            node: leaf,
            symlink,
        });
    }
    Ok(out)
}

/// The length of `length` rounded up to whole pieces.
fn aligned(length: u64, piece_length: u32) -> Result<u64, Error> {
    length
        .div_ceil(u64::from(piece_length))
        .checked_mul(u64::from(piece_length))
        .ok_or_else(|| bad("lengths overflow"))
}

/// The layout of a v2-only torrent (see the module docs) and whether it is a multi-file one.
pub(crate) fn v2_layout(
    name: &str,
    piece_length: u32,
    leaves: &[Leaf<'_>],
    notes: &mut Vec<String>,
) -> Result<(Layout, bool), Error> {
    if let [only] = leaves
        && only.keys.len() == 1
        && !only.symlink
    {
        let attr = only
            .node
            .get(b"attr")
            .and_then(Value::as_bytes)
            .unwrap_or_default();
        let total_length = aligned(only.length, piece_length)?;
        let layout = Layout {
            files: vec![FileEntry {
                path: name.into(),
                length: only.length,
                offset: 0,
            }],
            attrs: vec![crate::FileAttrs {
                executable: attr.contains(&b'x'),
                hidden: attr.contains(&b'h'),
            }],
            symlinks: Vec::new(),
            pad_files: usize::from(total_length > only.length),
            total_length,
        };
        return Ok((layout, false));
    }
    let mut e = bencode::Encoder::new();
    e.list(|l| {
        for leaf in leaves {
            l.dict(|d| {
                if let Some(attr) = leaf.node.get(b"attr") {
                    d.entry(b"attr", |v| v.value(attr));
                }
                d.entry(b"length", |v| {
                    v.int(i64::try_from(leaf.length).unwrap_or(0))
                });
                d.entry(b"path", |v| {
                    v.list(|p| {
                        for k in &leaf.keys {
                            p.bytes(k);
                        }
                    });
                });
                if let Some(target) = leaf.node.get(b"symlink path") {
                    d.entry(b"symlink path", |v| v.value(target));
                }
            });
            let rest = leaf.length % u64::from(piece_length);
            if leaf.length > 0 && rest > 0 {
                let pad = u64::from(piece_length) - rest;
                l.dict(|d| {
                    d.entry(b"attr", |v| v.bytes(b"p"));
                    d.entry(b"length", |v| v.int(pad as i64));
                    d.entry(b"path", |v| {
                        v.list(|p| {
                            p.bytes(b".pad");
                            p.bytes(pad.to_string().as_bytes());
                        });
                    });
                });
            }
        }
    });
    let bytes = e.finish();
    let list = bencode::decode_lenient(&bytes)?;
    Ok((parse_files(name, &list, notes)?, true))
}

/// The v2 hashes of the files of `files` (laid out, pad files left out) from the tree's
/// `leaves` and the top-level `piece layers`. Layers that do not hash to their file's root are
/// dropped with a note (libtorrent 2.0.8 loads such a torrent too; its pieces cannot be verified
/// until the layer comes from somewhere else).
pub(crate) fn v2_hashes(
    files: &[FileEntry],
    piece_length: u32,
    leaves: &[Leaf<'_>],
    layers: Option<&Value<'_>>,
    notes: &mut Vec<String>,
) -> Result<V2Hashes, Error> {
    let invalid = || Error::invalid("piece layers", "a piece layer is invalid");
    let layers = match layers {
        None => None,
        Some(v) => Some(v.as_dict().ok_or_else(invalid)?),
    };
    if let Some(layers) = layers {
        for (key, value) in layers.iter() {
            let ok = key.len() == 32 && value.as_bytes().is_some_and(|b| b.len() % 32 == 0);
            if !ok {
                return Err(invalid());
            }
        }
    }
    let roots = leaves.iter().filter_map(|l| l.root);
    let with_data = files.iter().enumerate().filter(|(_, f)| f.length > 0);
    if roots.clone().count() != with_data.clone().count() {
        return Err(Error::invalid(
            "info.file tree",
            "the v1 and v2 file metadata do not match",
        ));
    }
    let mut out = V2Hashes::default();
    let (mut missing, mut wrong) = (0usize, 0usize);
    let pl = u64::from(piece_length);
    for ((index, file), root) in with_data.zip(roots) {
        let pieces = u32::try_from(file.length.div_ceil(pl)).map_err(|_| invalid())?;
        let first_piece = u32::try_from(file.offset / pl).map_err(|_| invalid())?;
        let layer = std::sync::OnceLock::new();
        if pieces > 1 {
            match layers.and_then(|l| l.get(&root)).and_then(Value::as_bytes) {
                None => missing += 1,
                Some(bytes) if bytes.len() != pieces as usize * 32 => return Err(invalid()),
                Some(bytes) => {
                    let (hashes, _) = bytes.as_chunks::<32>();
                    if root_from_layer(hashes, piece_length) == root {
                        let _ = layer.set(Arc::from(hashes));
                    } else {
                        wrong += 1;
                    }
                }
            }
        }
        out.files.push(V2File {
            file: index,
            root,
            layer,
            first_piece,
            pieces,
        });
    }
    if missing > 0 {
        notes.push(format!(
            "piece layers missing for {missing} files: their pieces cannot be verified"
        ));
    }
    if wrong > 0 {
        notes.push(format!(
            "piece layers of {wrong} files do not match their roots and were ignored"
        ));
    }
    Ok(out)
}
