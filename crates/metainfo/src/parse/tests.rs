//! Parsing and validation tests, on torrents built byte by byte.

use std::path::Path;

use bencode::Encoder;

use crate::{Error, Metainfo};

const PL: i64 = 16 * 1024;

/// `(path components, length)` of each file.
type Files = Vec<(Vec<&'static [u8]>, i64)>;

/// A torrent under construction; `bytes()` encodes it (keys in sorted order).
pub(super) struct T {
    name: &'static [u8],
    piece_length: i64,
    length: Option<i64>,
    files: Option<Files>,
    pieces: Option<usize>,
    private: Option<i64>,
    announce: Option<&'static [u8]>,
}

impl T {
    fn single(length: i64) -> Self {
        T {
            name: b"file.bin",
            piece_length: PL,
            length: Some(length),
            files: None,
            pieces: None,
            private: None,
            announce: None,
        }
    }
    fn multi(files: Files) -> Self {
        T {
            name: b"dir",
            files: Some(files),
            length: None,
            ..T::single(0)
        }
    }
    fn total(&self) -> i64 {
        self.length.unwrap_or(0) + self.files.iter().flatten().map(|(_, l)| *l).sum::<i64>()
    }
    fn info(&self, e: &mut Encoder) {
        let count = self.pieces.unwrap_or_else(|| {
            let pl = u64::try_from(self.piece_length).unwrap_or(0).max(1);
            (self.total().max(0) as u64).div_ceil(pl) as usize
        });
        e.dict(|d| {
            if let Some(files) = &self.files {
                d.entry(b"files", |e| {
                    e.list(|e| {
                        for (path, len) in files {
                            e.dict(|d| {
                                d.entry(b"length", |e| e.int(*len));
                                d.entry(b"path", |e| {
                                    e.list(|e| path.iter().for_each(|c| e.bytes(c)))
                                });
                            });
                        }
                    })
                });
            }
            if let Some(l) = self.length {
                d.entry(b"length", |e| e.int(l));
            }
            d.entry(b"name", |e| e.bytes(self.name));
            d.entry(b"piece length", |e| e.int(self.piece_length));
            d.entry(b"pieces", |e| e.bytes(&vec![7u8; 20 * count]));
            if let Some(p) = self.private {
                d.entry(b"private", |e| e.int(p));
            }
        });
    }
    fn bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.dict(|d| {
            if let Some(a) = self.announce {
                d.entry(b"announce", |e| e.bytes(a));
            }
            d.entry(b"info", |e| self.info(e));
        });
        e.finish()
    }
    fn parse(&self) -> Result<Metainfo, Error> {
        Metainfo::from_bytes(&self.bytes())
    }
}

fn unsafe_field(r: Result<Metainfo, Error>) -> (String, &'static str) {
    match r {
        Err(Error::UnsafePath { field, reason, .. }) => (field, reason),
        other => panic!("expected UnsafePath, got {other:?}"),
    }
}

fn invalid_field(r: Result<Metainfo, Error>) -> String {
    match r {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn fixture_info_hashes_match_real_clients() {
    // Made by mktorrent 1.1; hashes as reported by transmission-show, aria2c and libtorrent.
    let single = Metainfo::from_bytes(include_bytes!(
        "../../tests/fixtures/mktorrent-single.torrent"
    ))
    .unwrap();
    assert_eq!(
        single.info_hash.to_hex(),
        "539dd34db3614155a724d96d56ac5f6de3764888"
    );
    assert_eq!(single.info.name, "single.bin");
    assert_eq!(single.info.total_length, 100_000);
    assert_eq!(single.info.piece_length, 32 * 1024);
    assert_eq!(single.info.piece_count(), 4);
    assert_eq!(single.info.piece_len(3), 100_000 - 3 * 32 * 1024);
    assert!(!single.info.multi_file && !single.info.private);
    assert_eq!(single.comment.as_deref(), Some("fixture"));
    assert_eq!(single.created_by.as_deref(), Some("mktorrent 1.1"));
    assert!(single.creation_date.is_some());
    assert_eq!(
        single.tracker_tiers(),
        [
            ["http://127.0.0.1:6969/announce"],
            ["http://127.0.0.1:6970/announce"]
        ]
    );

    let multi = Metainfo::from_bytes(include_bytes!(
        "../../tests/fixtures/mktorrent-multi.torrent"
    ))
    .unwrap();
    assert_eq!(
        multi.info_hash.to_hex(),
        "2ec55a22a4f11c4e97707625a94b69f01ef40665"
    );
    assert!(multi.info.multi_file && multi.info.private);
    let files: Vec<(&Path, u64, u64)> = multi
        .info
        .files
        .iter()
        .map(|f| (f.path.as_path(), f.length, f.offset))
        .collect();
    assert_eq!(
        files,
        [
            (Path::new("multi/a.txt"), 36_000, 0),
            (Path::new("multi/empty"), 0, 36_000),
            (Path::new("multi/sub/b.bin"), 20_000, 36_000)
        ]
    );
    assert_eq!(
        multi.tracker_tiers(),
        [[
            "http://127.0.0.1:6969/announce",
            "http://127.0.0.1:6971/announce"
        ]]
    );
}

#[test]
fn single_and_multi_file_layout() {
    let m = T::single(PL * 2 + 1).parse().unwrap();
    assert_eq!(m.info.files.len(), 1);
    assert_eq!(m.info.files[0].path, Path::new("file.bin"));
    assert_eq!(m.info.piece_count(), 3);
    let m = T::multi(vec![
        (vec![b"a"], 5),
        (vec![b"b", b"c"], 0),
        (vec![b"b", b"d"], PL),
    ])
    .parse()
    .unwrap();
    let offsets: Vec<u64> = m.info.files.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 5, 5]);
    assert_eq!(m.info.files[2].path, Path::new("dir/b/d"));
    assert_eq!(m.info.total_length, 5 + PL as u64);
    assert_eq!(m.info.piece_count(), 2);
}

#[test]
fn utf8_variants_are_preferred() {
    let raw = b"d4:infod6:lengthi1e4:name3:\xff\xfe\xfd10:name.utf-85:caf\xc3\xa912:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert_eq!(Metainfo::from_bytes(raw).unwrap().info.name, "café");
    let raw = b"d4:infod5:filesld6:lengthi1e4:pathl2:\xff\xfee10:path.utf-8l1:x1:yeee4:name1:d12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert_eq!(
        Metainfo::from_bytes(raw).unwrap().info.files[0].path,
        Path::new("d/x/y")
    );
    // An unsafe UTF-8 variant is an error, not a fallback.
    let raw = b"d4:infod5:filesld6:lengthi1e4:pathl1:ae10:path.utf-8l2:..eee4:name1:d12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert_eq!(
        unsafe_field(Metainfo::from_bytes(raw)).0,
        "info.files[0].path.utf-8"
    );
}

#[test]
fn piece_length_and_pieces_are_checked() {
    for pl in [0, 128 * 1024 * 1024, -PL, 1 << 40] {
        assert_eq!(
            invalid_field(
                T {
                    piece_length: pl,
                    ..T::single(100)
                }
                .parse()
            ),
            "info.piece length",
            "{pl}"
        );
    }
    // v1 takes what libtorrent takes: any length up to 64 MiB (v2 keeps BEP 52's powers of two).
    for pl in [PL, 64 * 1024 * 1024, 1, 8192, 3 * PL, 1_000_000] {
        assert!(
            T {
                piece_length: pl,
                ..T::single(100)
            }
            .parse()
            .is_ok()
        );
    }
    assert_eq!(
        invalid_field(
            T {
                pieces: Some(2),
                ..T::single(PL)
            }
            .parse()
        ),
        "info.pieces"
    );
    assert_eq!(
        invalid_field(
            T {
                pieces: Some(1),
                ..T::single(PL + 1)
            }
            .parse()
        ),
        "info.pieces"
    );
    let raw = b"d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces19:aaaaaaaaaaaaaaaaaaaee";
    let err = Metainfo::from_bytes(raw).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid field `info.pieces`: length 19 is not a multiple of 20"
    );
}

#[test]
fn lengths_are_checked() {
    assert_eq!(invalid_field(T::single(-1).parse()), "info.length");
    assert_eq!(invalid_field(T::single(0).parse()), "info.length");
    assert_eq!(
        invalid_field(T::multi(vec![(vec![b"a"], 1), (vec![b"b"], -5)]).parse()),
        "info.files[1].length"
    );
    assert_eq!(
        invalid_field(T::multi(vec![(vec![b"a"], 0)]).parse()),
        "info.files"
    );
    assert_eq!(invalid_field(T::multi(vec![]).parse()), "info.files");
    let overflow = T::multi(vec![
        (vec![b"a"], i64::MAX),
        (vec![b"b"], i64::MAX),
        (vec![b"c"], i64::MAX),
    ]);
    assert_eq!(
        invalid_field(
            T {
                pieces: Some(1),
                ..overflow
            }
            .parse()
        ),
        "info.files"
    );
    // Zero-length files are fine next to others.
    assert!(
        T::multi(vec![(vec![b"a"], 0), (vec![b"b"], 1)])
            .parse()
            .is_ok()
    );
    let both = T {
        length: Some(1),
        ..T::multi(vec![(vec![b"a"], 1)])
    };
    assert_eq!(invalid_field(both.parse()), "info");
    let neither = T {
        length: None,
        ..T::single(1)
    };
    assert!(matches!(neither.parse(), Err(Error::Missing(f)) if f == "info.length or info.files"));
}

#[test]
fn private_flag() {
    assert!(
        T {
            private: Some(1),
            ..T::single(1)
        }
        .parse()
        .unwrap()
        .info
        .private
    );
    assert!(
        !T {
            private: Some(0),
            ..T::single(1)
        }
        .parse()
        .unwrap()
        .info
        .private
    );
    assert!(
        !T {
            private: Some(2),
            ..T::single(1)
        }
        .parse()
        .unwrap()
        .info
        .private
    );
    assert!(!T::single(1).parse().unwrap().info.private);
}

#[test]
fn non_canonical_info_loads_with_a_note() {
    let info = b"d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let outer = [&b"d4:info"[..], info, b"8:announce3:u:xe"].concat();
    let m = Metainfo::from_bytes(&outer).unwrap();
    assert_eq!(m.announce.as_deref(), Some("u:x"));
    let expected: [u8; 20] = sha1::Sha1::digest(info).into();
    assert_eq!(m.info_hash.0, expected);

    // Unsorted and repeated info keys load (the first wins, as in libtorrent), hashed as they are.
    let unsorted = b"d4:infod4:name1:x6:lengthi1e4:name1:y12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    let m = Metainfo::from_bytes(unsorted).unwrap();
    assert_eq!(m.info.name, "x");
    let raw_info = &unsorted[7..unsorted.len() - 1];
    assert_eq!(
        m.info_hash.0,
        <[u8; 20]>::from(sha1::Sha1::digest(raw_info))
    );
    assert_eq!(m.notes.len(), 1);
    assert!(m.notes[0].contains("not canonical"), "{:?}", m.notes);
    assert!(
        matches!(Metainfo::from_bytes(b"d4:infoi1ee"), Err(Error::Invalid { field, .. }) if field == "info")
    );
    assert!(matches!(Metainfo::from_bytes(b"de"), Err(Error::Missing(f)) if f == "info"));
    assert!(matches!(
        Metainfo::from_bytes(b"d4:info"),
        Err(Error::Bencode(_))
    ));
    assert!(matches!(
        Metainfo::from_bytes(b"le"),
        Err(Error::Invalid { .. })
    ));
}

use sha1::Digest;

#[test]
fn announce_list_tiers() {
    let info = b"d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let with = |outer: &[u8]| {
        let bytes = [&b"d"[..], outer, b"4:info", info, b"e"].concat();
        Metainfo::from_bytes(&bytes)
    };
    let m =
        with(b"8:announce5:http:13:announce-listll3:u:a3:u:bel3:\xff:xel0:ei5el3:u:cee").unwrap();
    assert_eq!(m.announce_list, [vec!["u:a", "u:b"], vec!["u:c"]]);
    assert_eq!(m.tracker_tiers(), [vec!["u:a", "u:b"], vec!["u:c"]]);
    let m = with(b"8:announce5:http:13:announce-listle").unwrap();
    assert_eq!(m.tracker_tiers(), [["http:"]]);
    assert!(with(b"").unwrap().tracker_tiers().is_empty());
    // Wrong types are ignored, as libtorrent does, with a note.
    let m = with(b"13:announce-listi1e").unwrap();
    assert!(m.announce_list.is_empty());
    assert_eq!(m.notes, ["announce-list ignored: not a list"]);
    let m = with(b"8:announcei1e").unwrap();
    assert_eq!(
        (m.announce, m.notes),
        (None, vec!["announce ignored: not a string".to_owned()])
    );
    assert_eq!(with(b"8:announce2:\xff\xfe").unwrap().announce, None);
    // Informational fields are best-effort.
    let m = with(b"7:comment2:\xffa10:created byi3e13:creation date1:x8:url-list3:w:x").unwrap();
    assert_eq!(m.comment.as_deref(), Some("\u{fffd}a"));
    assert_eq!((m.created_by, m.creation_date), (None, None));
    assert_eq!(m.url_list, ["w:x"]);
    assert_eq!(with(b"8:url-listl3:w:y2:\xffxe").unwrap().url_list, ["w:y"]);
    // BEP 17 `httpseeds` join them, without duplicates.
    let m = with(b"9:httpseedsl3:w:y3:w:ze8:url-listl3:w:ye").unwrap();
    assert_eq!(m.url_list, ["w:y", "w:z"]);
}

#[test]
fn mutated_torrents_never_panic() {
    let base = include_bytes!("../../tests/fixtures/mktorrent-multi.torrent");
    let mut rng = fastrand::Rng::with_seed(9);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..5_000 {
        let mut bytes = base.to_vec();
        for _ in 0..rng.usize(1..4) {
            let at = rng.usize(..bytes.len());
            match rng.u8(..3) {
                0 => bytes[at] ^= 1 << rng.u8(..8),
                1 => bytes[at] = b"ilde:0123456789./"[rng.usize(..17)],
                _ => bytes.truncate(at.max(1)),
            }
        }
        match Metainfo::from_bytes(&bytes) {
            Ok(m) => {
                accepted += 1;
                assert!(m.info.files.iter().all(|f| f.path.is_relative()));
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(
        accepted > 100 && rejected > 100,
        "{accepted} accepted, {rejected} rejected"
    );
}

mod field;
#[test]
fn torrent_from_metadata_keeps_the_info_hash_and_the_magnets_trackers() {
    let original = Metainfo::from_bytes(&T::single(3 * PL).bytes()).unwrap();
    let magnet = crate::magnet::Magnet {
        info_hash: Some(original.info_hash),
        trackers: vec!["http://a/announce".into(), "udp://b:1".into()],
        web_seeds: vec!["http://w/".into()],
        ..Default::default()
    };
    let file = crate::torrent_from_metadata(&original.info_bytes.to_vec(), &magnet);
    let m = Metainfo::from_bytes(&file).unwrap();
    assert_eq!(m.info_hash, original.info_hash);
    assert_eq!(m.info, original.info);
    assert_eq!(
        m.tracker_tiers(),
        vec![
            vec!["http://a/announce".to_string()],
            vec!["udp://b:1".to_string()]
        ]
    );
    assert_eq!(m.url_list, vec!["http://w/".to_string()]);
}
