//! `.torrent` parsing never panics, and every accepted torrent is internally consistent: safe
//! paths (files and symlinks), no two files at the same place (duplicates were renamed), piece
//! count matching the byte stream, files in order inside it with pad-file gaps between them, one
//! attribute set per file, and a magnet URI that can be built.
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
    assert!(magnet.starts_with("magnet:?xt=urn:btih:"));
    assert_eq!(magnet.contains("urn:btmh:"), m.info_hash_v2.is_some());
});
