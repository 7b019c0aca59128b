//! `.torrent` parsing never panics, and every accepted torrent is internally consistent: safe
//! paths (files and symlinks), no two files at the same place (duplicates were renamed), piece
//! count matching the byte stream, files in order inside it with pad-file gaps between them, one
//! attribute set per file, and a magnet URI that can be built. For v2 and hybrid torrents
//! (BEP 52): every file with data has its v2 entry starting on a piece boundary, piece layers
//! of the right length, and neither v2 verification nor a hash request built from the input
//! panics.
//!
//! Seed it with the fixtures (libFuzzer adds to its corpus directory, so copy them):
//! `mkdir -p fuzz/corpus/metainfo && cp crates/metainfo/tests/fixtures/*/*.torrent fuzz/corpus/metainfo/`.

#![no_main]

use std::collections::HashSet;
use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;

fn assert_safe(p: &Path) {
    assert!(p.is_relative() && p.components().next().is_some(), "unsafe path {p:?}");
    for c in p.components() {
        assert!(matches!(c, Component::Normal(_)), "unsafe path {p:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(m) = metainfo::Metainfo::from_bytes(data) else { return };
    let info = &m.info;
    assert!(!info.files.is_empty());
    assert!(info.total_length > 0);
    assert_eq!(
        u64::from(info.piece_count()),
        info.total_length.div_ceil(u64::from(info.piece_length))
    );
    assert_eq!(m.file_attrs.len(), info.files.len());
    let mut end = 0;
    let mut seen = HashSet::new();
    for f in &info.files {
        assert!(f.offset >= end, "files overlap or are out of order");
        end = f.offset + f.length;
        assert!(end <= info.total_length);
        assert_safe(&f.path);
        assert!(seen.insert(f.path.to_string_lossy().to_ascii_lowercase()), "duplicate {:?}", f.path);
        assert!(f.path.starts_with(&info.name));
    }
    for l in &m.symlinks {
        assert_safe(&l.path);
        assert_safe(&l.target);
        assert!(l.target.starts_with(&info.name));
        assert!(seen.insert(l.path.to_string_lossy().to_ascii_lowercase()), "duplicate {:?}", l.path);
    }
    // No file is a directory of another.
    for f in info.files.iter().map(|f| &f.path).chain(m.symlinks.iter().map(|l| &l.path)) {
        let mut dir = f.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            assert!(!seen.contains(&d.to_string_lossy().to_ascii_lowercase()), "{d:?} is a file");
            dir = d.parent();
        }
    }
    assert!(m.notes.len() <= 51);
    let magnet = m.magnet_uri();
    if info.has_v1() {
        assert!(magnet.starts_with("magnet:?xt=urn:btih:"));
    } else {
        assert!(magnet.starts_with("magnet:?xt=urn:btmh:1220"));
        assert_eq!(Some(m.info_hash), m.info_hash_v2.map(|h| h.truncated()));
    }
    assert_eq!(magnet.contains("urn:btmh:"), m.info_hash_v2.is_some());
    let Some(v2) = &info.v2 else {
        assert!(info.has_v1());
        return;
    };
    assert!(m.info_hash_v2.is_some());
    let pl = u64::from(info.piece_length);
    let with_data = info.files.iter().filter(|f| f.length > 0).count();
    assert_eq!(v2.files.len(), with_data);
    for f in &v2.files {
        let file = &info.files[f.file];
        assert_eq!(u64::from(f.first_piece) * pl, file.offset, "v2 files start on a piece");
        assert_eq!(u64::from(f.pieces), file.length.div_ceil(pl));
        if let Some(layer) = f.layer() {
            assert_eq!(layer.len(), f.pieces as usize);
        }
        assert_eq!(v2.file_of_piece(f.first_piece).map(|g| g.file), Some(f.file));
    }
    // Verification of any piece with any data, and hash requests made of input bytes.
    let piece = vec![0u8; info.piece_length as usize];
    for i in [0, info.piece_count() / 2, info.piece_count().saturating_sub(1), info.piece_count()] {
        let _ = info.v2_piece_matches(i, &piece);
        let _ = info.v2_piece_matches(i, &data[..data.len().min(piece.len())]);
    }
    let word = |k: usize| {
        let b = data.get(k..k + 4).unwrap_or(&[0, 0, 0, 1]);
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) % 64
    };
    for f in &v2.files {
        let _ = v2.hashes_for(info.piece_length, &f.root, word(0), word(4), word(8), word(12));
        let _ = v2.hashes_for(info.piece_length, &f.root, word(16), 0, 1 << (word(20) % 13), word(24));
    }
});
