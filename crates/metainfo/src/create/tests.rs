//! Creating torrents from temporary files and checking them piece by piece.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use sha1::{Digest, Sha1};

use super::*;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn expected_pieces(stream: &[u8], pl: usize) -> Vec<[u8; 20]> {
    stream.chunks(pl).map(|c| Sha1::digest(c).into()).collect()
}

fn opts() -> CreateOptions {
    CreateOptions {
        announce: "http://127.0.0.1:6969/announce".into(),
        ..CreateOptions::default()
    }
}

#[test]
fn single_file_round_trips_with_correct_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("movie.bin");
    let content = data(100_000, 1);
    fs::write(&file, &content).unwrap();
    let calls = Mutex::new(Vec::new());
    let o = CreateOptions {
        piece_length: Some(16 * 1024),
        private: true,
        comment: Some("hi".into()),
        extra_trackers: vec!["udp://127.0.0.1:6970".into()],
        web_seeds: vec!["http://127.0.0.1/a/".into(), "http://127.0.0.1/b".into()],
        ..opts()
    };
    let bytes = create_torrent(&file, &o, &|done, total| {
        calls.lock().unwrap().push((done, total))
    })
    .unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.info.name, "movie.bin");
    assert!(!m.info.multi_file && m.info.private);
    assert_eq!(m.info.files[0].path, Path::new("movie.bin"));
    assert_eq!(m.info.total_length, 100_000);
    assert_eq!(m.info.pieces, expected_pieces(&content, 16 * 1024));
    assert_eq!(m.comment.as_deref(), Some("hi"));
    assert_eq!(m.url_list, ["http://127.0.0.1/a/", "http://127.0.0.1/b"]);
    assert_eq!(
        m.created_by.as_deref(),
        Some(concat!("btmirror ", env!("CARGO_PKG_VERSION")))
    );
    assert!(m.creation_date.is_some_and(|d| d > 1_600_000_000));
    assert_eq!(
        m.tracker_tiers(),
        [["http://127.0.0.1:6969/announce"], ["udp://127.0.0.1:6970"]]
    );
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), 7);
    assert!(calls.iter().all(|&(_, t)| t == 100_000));
    assert_eq!(calls.iter().map(|&(d, _)| d).max(), Some(100_000));
}

#[test]
fn directory_is_walked_sorted_and_pieces_cross_file_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    fs::create_dir_all(root.join("b/deeper")).unwrap();
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    let files: [(&str, Vec<u8>); 5] = [
        (".hidden", data(5, 2)),
        ("a", data(10_000, 3)),
        ("b/c", Vec::new()),
        ("b/deeper/x", data(30_000, 4)),
        ("b-sibling", data(20_000, 5)),
    ];
    for (p, c) in &files {
        fs::write(root.join(p), c).unwrap();
    }
    // A symlink to a file is followed and hashed under its own name.
    std::os::unix::fs::symlink(root.join("a"), root.join("z-link")).unwrap();
    let bytes = create_torrent(
        &root,
        &CreateOptions {
            piece_length: Some(16 * 1024),
            ..opts()
        },
        &|_, _| {},
    )
    .unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert!(m.info.multi_file);
    let paths: Vec<_> = m
        .info
        .files
        .iter()
        .map(|f| f.path.to_str().unwrap().to_owned())
        .collect();
    // Component-wise order: everything in `b/` comes before `b-sibling`.
    assert_eq!(
        paths,
        [
            "share/.hidden",
            "share/a",
            "share/b/c",
            "share/b/deeper/x",
            "share/b-sibling",
            "share/z-link"
        ]
    );
    let mut stream: Vec<u8> = files.iter().flat_map(|(_, c)| c.clone()).collect();
    stream.extend_from_slice(&files[1].1);
    assert_eq!(m.info.total_length, stream.len() as u64);
    assert_eq!(m.info.pieces, expected_pieces(&stream, 16 * 1024));
}

#[test]
fn automatic_piece_length() {
    assert_eq!(auto_piece_length(1), 256 * 1024);
    assert_eq!(auto_piece_length(2000 * 256 * 1024), 256 * 1024);
    assert_eq!(auto_piece_length(2000 * 256 * 1024 + 1), 512 * 1024);
    assert_eq!(auto_piece_length(1 << 30), 1 << 20);
    assert_eq!(auto_piece_length(1 << 50), 16 << 20);
    for total in [700_u64 << 20, 3 << 30, 20 << 30] {
        let n = total.div_ceil(u64::from(auto_piece_length(total)));
        assert!((1000..=2000).contains(&n), "{total}: {n} pieces");
    }
}

#[test]
fn bad_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("nothing");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join("zero"), b"").unwrap();
    assert!(
        matches!(create_torrent(&empty, &opts(), &|_, _| {}), Err(Error::Invalid { field, .. }) if field == "path")
    );

    let file = dir.path().join("f");
    fs::write(&file, b"x").unwrap();
    for pl in [1000, 8 * 1024, 128 << 20] {
        let o = CreateOptions {
            piece_length: Some(pl),
            ..opts()
        };
        assert!(
            matches!(create_torrent(&file, &o, &|_, _| {}), Err(Error::Invalid { field, .. }) if field == "piece_length")
        );
    }
    assert!(matches!(
        create_torrent(&dir.path().join("missing"), &opts(), &|_, _| {}),
        Err(Error::Io { .. })
    ));

    let bad_name = dir.path().join("bad");
    fs::create_dir(&bad_name).unwrap();
    fs::write(
        bad_name.join(std::ffi::OsStr::from_bytes(b"\xff.bin")),
        b"x",
    )
    .unwrap();
    let err = create_torrent(&bad_name, &opts(), &|_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsafePath {
                reason: "not valid UTF-8",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn symlink_loops_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("loop");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("file"), b"data").unwrap();
    std::os::unix::fs::symlink(&root, root.join("sub/back")).unwrap();
    let err = create_torrent(&root, &opts(), &|_, _| {}).unwrap_err();
    match err {
        Error::Io { path, source } => {
            assert_eq!(path, root.join("sub/back"));
            assert!(source.to_string().contains("symlink loop"));
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn trackerless_and_dot_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("named");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("f"), b"abc").unwrap();
    let bytes = create_torrent(&root.join("."), &CreateOptions::default(), &|_, _| {}).unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.info.name, "named");
    assert_eq!(m.announce, None);
    assert!(m.tracker_tiers().is_empty());
}

#[test]
fn v2_and_hybrid_align_files_to_pieces_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    fs::create_dir_all(root.join("d")).unwrap();
    let a = data(40_000, 1);
    let b = data(1, 2);
    let c = data(16_384, 3);
    fs::write(root.join("a"), &a).unwrap();
    fs::write(root.join("d/b"), &b).unwrap();
    fs::write(root.join("d/c"), &c).unwrap();
    fs::write(root.join("e"), b"").unwrap();
    let pl = 16 * 1024u32;
    for version in [Version::V2, Version::Hybrid] {
        let o = CreateOptions {
            piece_length: Some(pl),
            version,
            ..opts()
        };
        let m = Metainfo::from_bytes(&create_torrent(&root, &o, &|_, _| {}).unwrap()).unwrap();
        assert!(m.info_hash_v2.is_some());
        assert_eq!(m.info.has_v1(), version == Version::Hybrid);
        let offsets: Vec<u64> = m.info.files.iter().map(|f| f.offset).collect();
        assert_eq!(offsets, [0, 49_152, 65_536, 81_920], "{version:?}");
        assert_eq!(m.info.piece_count(), 5);
        assert_eq!(m.pad_files, 2, "after a and d/b");
        let v2 = m.info.v2.as_ref().unwrap();
        assert_eq!(v2.files.len(), 3);
        assert!(v2.complete(pl));
        // The stream, pads as zeros, verifies piece by piece whichever hashes are used.
        let mut stream = vec![0u8; 81_920];
        stream[..40_000].copy_from_slice(&a);
        stream[49_152] = b[0];
        stream[65_536..].copy_from_slice(&c);
        for (i, piece) in stream.chunks(pl as usize).enumerate() {
            let ok = match m.info.v2_piece_matches(i as u32, piece) {
                Some(ok) => ok,
                None => m.info.pieces.get(i) == Some(Sha1::digest(piece).into()),
            };
            assert!(ok, "{version:?} piece {i}");
        }
    }
}
