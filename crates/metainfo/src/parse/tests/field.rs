//! Torrents as found in the field: sanitised names, renamed duplicates, BEP 47 attributes,
//! trailing bytes, hybrids and v2-only torrents, magnet URIs.

use std::path::Path;

use sha1::Digest;

use super::{T, invalid_field, unsafe_field};
use crate::{Error, Metainfo};

#[test]
fn climbing_paths_are_refused_and_odd_ones_sanitised() {
    let cases: [(Vec<&'static [u8]>, &str); 5] = [
        (vec![b"..", b"x"], "`..` component"),
        (vec![b"a", b".."], "`..` component"),
        (vec![b"/etc/passwd"], "absolute path"),
        (vec![b"/", b"etc"], "absolute path"),
        (vec![b"a/../../b"], "`..` component"),
    ];
    for (path, reason) in cases {
        let r = T::multi(vec![(vec![b"ok"], 1), (path.clone(), 1)]).parse();
        assert_eq!(
            unsafe_field(r),
            ("info.files[1].path".to_owned(), reason),
            "{path:?}"
        );
    }
    assert_eq!(
        unsafe_field(T::multi(vec![(vec![], 1)]).parse()).1,
        "empty path"
    );
    // Odd but harmless elements are rewritten as libtorrent 2.0.8 does.
    let sanitised: [(Vec<&'static [u8]>, &str); 5] = [
        (vec![b"."], "dir/_"),
        (vec![b"a", b""], "dir/a/_"),
        (vec![b"a\0b"], "dir/ab"),
        (vec![b"a", b"/", b"b"], "dir/a/b"),
        (vec![b"x\xff"], "dir/x_"),
    ];
    for (path, expected) in sanitised {
        let m = T::multi(vec![(vec![b"ok"], 1), (path.clone(), 1)])
            .parse()
            .unwrap();
        assert_eq!(m.info.files[1].path, Path::new(expected), "{path:?}");
        assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
    }
    for (name, reason) in [(&b".."[..], "`..` component"), (b"/etc", "absolute path")] {
        let r = T {
            name,
            ..T::single(1)
        }
        .parse();
        assert_eq!(unsafe_field(r), ("info.name".to_owned(), reason));
        let r = T {
            name,
            ..T::multi(vec![(vec![b"a"], 1)])
        }
        .parse();
        assert_eq!(unsafe_field(r).0, "info.name");
    }
    // A directory name sanitised away becomes the info-hash, a file name is an error (as in
    // libtorrent); an empty name becomes `_`.
    let m = T {
        name: b".",
        ..T::multi(vec![(vec![b"a"], 1)])
    }
    .parse()
    .unwrap();
    assert_eq!(m.info.name, m.info_hash.to_hex());
    assert_eq!(
        m.info.files[0].path,
        Path::new(&m.info_hash.to_hex()).join("a")
    );
    let r = T {
        name: b"\0\0",
        ..T::single(1)
    }
    .parse();
    assert_eq!(invalid_field(r), "info.name");
    let m = T {
        name: b"",
        ..T::single(1)
    }
    .parse()
    .unwrap();
    assert_eq!(m.info.name, "_");
    let m = T {
        name: b"a/b",
        ..T::single(1)
    }
    .parse()
    .unwrap();
    assert_eq!(m.info.name, "ab");
}

#[test]
fn duplicate_and_nested_file_paths_are_renamed_like_libtorrent() {
    let paths = |m: &Metainfo| -> Vec<String> {
        m.info
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect()
    };
    let m = T::multi(vec![(vec![b"a"], 1), (vec![b"b"], 1), (vec![b"a"], 1)])
        .parse()
        .unwrap();
    assert_eq!(paths(&m), ["dir/a", "dir/b", "dir/a.1"]);
    assert_eq!(m.notes, [r#"duplicate path "dir/a" renamed to "dir/a.1""#]);
    // A file with the name of another file's directory is renamed, wherever it comes.
    let m = T::multi(vec![(vec![b"a", b"b"], 1), (vec![b"a"], 1)])
        .parse()
        .unwrap();
    assert_eq!(paths(&m), ["dir/a/b", "dir/a.1"]);
    let m = T::multi(vec![
        (vec![b"a"], 1),
        (vec![b"a-"], 1),
        (vec![b"a", b"b", b"c"], 1),
    ])
    .parse()
    .unwrap();
    assert_eq!(paths(&m), ["dir/a.1", "dir/a-", "dir/a/b/c"]);
    // Siblings sharing a name prefix are untouched.
    let m = T::multi(vec![
        (vec![b"a"], 1),
        (vec![b"ab"], 1),
        (vec![b"b", b"a"], 1),
    ])
    .parse()
    .unwrap();
    assert_eq!(paths(&m), ["dir/a", "dir/ab", "dir/b/a"]);
    assert!(m.notes.is_empty());
}

#[test]
fn invalid_utf8_names_are_sanitised_deterministically() {
    let m = T::multi(vec![(vec![b"ok"], 1), (vec![b"x\xff.bin"], 1)])
        .parse()
        .unwrap();
    assert_eq!(m.info.files[1].path, Path::new("dir/x_.bin"));
    assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
    assert!(
        m.notes[0].starts_with("info.files[1].path: "),
        "{:?}",
        m.notes
    );
    let m = T {
        name: b"caf\xe9",
        ..T::single(1)
    }
    .parse()
    .unwrap();
    assert_eq!(m.info.name, "caf_");
    assert_eq!(m.info.files[0].path, Path::new("caf_"));
    assert_eq!(
        m,
        T {
            name: b"caf\xe9",
            ..T::single(1)
        }
        .parse()
        .unwrap()
    );
}

#[test]
fn bep47_pad_files_are_gaps_and_may_share_a_path() {
    let raw = b"d4:infod5:filesld6:lengthi1e4:pathl1:aeed4:attr1:p6:lengthi3e4:pathl4:.pad1:3eed6:lengthi1e4:pathl1:beed4:attr1:p6:lengthi3e4:pathl4:.pad1:3eee4:name1:d12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    let m = Metainfo::from_bytes(raw).unwrap();
    // Pad files are gaps in the byte stream, not files.
    let layout: Vec<(&Path, u64, u64)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path.as_path(), f.offset, f.length))
        .collect();
    assert_eq!(layout, [(Path::new("d/a"), 0, 1), (Path::new("d/b"), 4, 1)]);
    assert_eq!((m.info.total_length, m.pad_files), (8, 2));
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    // Only pad files: nothing to download.
    let raw = b"d4:infod5:filesld4:attr1:p6:lengthi3e4:pathl4:.pad1:3eee4:name1:d12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert_eq!(invalid_field(Metainfo::from_bytes(raw)), "info.files");
}

#[test]
fn bep47_attributes_and_symlinks() {
    let raw = b"d4:infod5:filesld4:attr1:x6:lengthi1e4:pathl1:aeed4:attr2:hl6:lengthi9e4:pathl1:le12:symlink pathl1:aeed4:attr1:l6:lengthi0e4:pathl3:bade12:symlink pathl2:..1:xeed6:lengthi2e4:pathl20:_____padding_file_0_eed4:attr1:h6:lengthi1e4:pathl1:beee4:name1:d12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    let m = Metainfo::from_bytes(raw).unwrap();
    let files: Vec<(&Path, u64)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path.as_path(), f.offset))
        .collect();
    // The symlink's `length` is ignored; the BitComet pad file is a 2-byte gap.
    assert_eq!(files, [(Path::new("d/a"), 0), (Path::new("d/b"), 3)]);
    assert_eq!(m.info.total_length, 4);
    assert_eq!(m.pad_files, 1);
    assert!(m.file_attrs[0].executable && !m.file_attrs[0].hidden);
    assert!(!m.file_attrs[1].executable && m.file_attrs[1].hidden);
    assert_eq!(
        m.symlinks,
        [crate::Symlink {
            path: "d/l".into(),
            target: "d/a".into()
        }]
    );
    assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
    assert!(
        m.notes[0].starts_with(r#"symlink "d/bad" skipped"#),
        "{:?}",
        m.notes
    );
}

#[test]
fn trailing_bytes_and_v2_only_and_hybrid() {
    let info = b"d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let with_tail = [&b"d4:info"[..], info, b"e\n\0garbage"].concat();
    let m = Metainfo::from_bytes(&with_tail).unwrap();
    assert_eq!(m.notes, ["ignored 9 bytes after the end of the torrent"]);
    assert_eq!(m.info_hash_v2, None);

    let v2_only = b"d4:infod9:file treed1:xd0:d6:lengthi1e11:pieces root32:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaeee12:meta versioni2e4:name1:x12:piece lengthi16384eee";
    let m = Metainfo::from_bytes(v2_only).unwrap();
    let v2 = m.info_hash_v2.expect("v2 hash");
    assert_eq!(
        m.info_hash,
        v2.truncated(),
        "known by its truncated v2 hash"
    );
    assert_eq!(m.info_hash_v1(), None);
    assert_eq!(m.swarm_hashes(), [v2.truncated()]);
    assert!(!m.info.has_v1());
    assert_eq!((m.info.piece_count(), m.info.total_length), (1, 16384));
    assert!(m.magnet_uri().starts_with("magnet:?xt=urn:btmh:1220"));
    let v2s = m.info.v2.as_ref().unwrap();
    assert_eq!(v2s.files.len(), 1);
    assert_eq!(v2s.files[0].root, [b'a'; 32]);
    let v3 = b"d4:infod12:meta versioni3e4:name1:xee";
    assert!(matches!(
        Metainfo::from_bytes(v3),
        Err(Error::Unsupported(_))
    ));

    let hybrid_info = b"d9:file treed1:xd0:d6:lengthi1e11:pieces root32:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaeee6:lengthi1e12:meta versioni2e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let hybrid = [&b"d4:info"[..], hybrid_info, b"e"].concat();
    let m = Metainfo::from_bytes(&hybrid).unwrap();
    let v2: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        &hybrid_info[..],
    ))
    .into();
    assert_eq!(m.info_hash_v2.map(|h| h.0), Some(v2));
    assert_eq!(
        m.info_hash.0,
        <[u8; 20]>::from(sha1::Sha1::digest(hybrid_info))
    );
    let v2_hex = m.info_hash_v2.map(|h| h.to_hex()).unwrap_or_default();
    assert!(
        m.magnet_uri()
            .contains(&format!("&xt=urn:btmh:1220{v2_hex}"))
    );
    // A hybrid without its file tree is inconsistent.
    let no_tree = b"d4:infod6:lengthi1e12:meta versioni2e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert!(
        matches!(Metainfo::from_bytes(no_tree), Err(Error::Missing(f)) if f == "info.file tree")
    );
}

#[test]
fn magnet_uri_lists_name_trackers_and_web_seeds() {
    let raw = b"d8:announce14:http://t/a?b=c8:url-list9:http://w/4:infod6:lengthi1e4:name5:a b&c12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    let m = Metainfo::from_bytes(raw).unwrap();
    assert_eq!(
        m.magnet_uri(),
        format!(
            "magnet:?xt=urn:btih:{}&dn=a%20b%26c&tr=http%3A%2F%2Ft%2Fa%3Fb%3Dc&ws=http%3A%2F%2Fw%2F",
            m.info_hash
        )
    );
}

#[test]
fn v2_only_multi_file_is_laid_out_on_piece_boundaries_and_verified_by_merkle_trees() {
    use crate::merkle::{piece_hash, root_from_layer, small_file_root};
    let pl = 16384u32;
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    let small = b"hello".to_vec();
    let layer: Vec<[u8; 32]> = big.chunks(pl as usize).map(|c| piece_hash(c, pl)).collect();
    let big_root = root_from_layer(&layer, pl);
    let small_root = small_file_root(&small);
    let mut e = bencode::Encoder::new();
    e.dict(|d| {
        d.entry(b"info", |v| {
            v.dict(|i| {
                i.entry(b"file tree", |v| {
                    v.dict(|t| {
                        t.entry(b"a", |v| {
                            v.dict(|a| {
                                a.entry(b"", |v| {
                                    v.dict(|f| {
                                        f.entry(b"length", |v| v.int(big.len() as i64));
                                        f.entry(b"pieces root", |v| v.bytes(&big_root));
                                    })
                                })
                            })
                        });
                        t.entry(b"b", |v| {
                            v.dict(|b| {
                                b.entry(b"", |v| {
                                    v.dict(|f| {
                                        f.entry(b"length", |v| v.int(small.len() as i64));
                                        f.entry(b"pieces root", |v| v.bytes(&small_root));
                                    })
                                })
                            })
                        });
                        t.entry(b"c", |v| {
                            v.dict(|c| {
                                c.entry(b"", |v| v.dict(|f| f.entry(b"length", |v| v.int(0))))
                            })
                        });
                    })
                });
                i.entry(b"meta version", |v| v.int(2));
                i.entry(b"name", |v| v.bytes(b"t"));
                i.entry(b"piece length", |v| v.int(i64::from(pl)));
            })
        });
        d.entry(b"piece layers", |v| {
            v.dict(|l| l.entry(&big_root, |v| v.bytes(&layer.concat())))
        });
    });
    let m = Metainfo::from_bytes(&e.finish()).unwrap();
    let files: Vec<(String, u64, u64)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path.display().to_string(), f.length, f.offset))
        .collect();
    assert_eq!(
        files,
        [
            ("t/a".into(), 40_000, 0),
            ("t/b".into(), 5, 49152),
            ("t/c".into(), 0, 65536)
        ]
    );
    assert_eq!(m.info.total_length, 65536);
    assert_eq!(m.info.piece_count(), 4);
    let v2 = m.info.v2.as_ref().unwrap();
    assert_eq!(v2.file_of_piece(2).map(|f| f.file), Some(0));
    assert_eq!(v2.file_of_piece(3).map(|f| f.file), Some(1));
    let mut piece2 = big[32768..].to_vec();
    piece2.resize(pl as usize, 0);
    assert_eq!(m.info.v2_piece_matches(2, &piece2), Some(true));
    assert_eq!(m.info.v2_piece_matches(0, &big[..16384]), Some(true));
    assert_eq!(m.info.v2_piece_matches(1, &big[..16384]), Some(false));
    let mut piece3 = small.clone();
    piece3.resize(pl as usize, 0);
    assert_eq!(m.info.v2_piece_matches(3, &piece3), Some(true));
    piece3[0] = b'j';
    assert_eq!(m.info.v2_piece_matches(3, &piece3), Some(false));
    assert!(m.notes.is_empty(), "{:?}", m.notes);
}
