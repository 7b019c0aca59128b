//! Every `.torrent` of the field corpus (`fixtures/corpus/`, from Transmission's test assets) and
//! of libtorrent's own edge cases (`fixtures/libtorrent/`; see the README.md of each) loads or is
//! refused as libtorrent 2.0.8 does (`EXPECTED.tsv`), with the same v1 and v2 info-hashes, number
//! of files (pad files left out, symlinks counted) and total size, except where btmirror
//! deliberately differs: the rules in [`deliberate_difference`] say where and why.

use std::path::{Path, PathBuf};

use metainfo::Metainfo;

/// Paths btmirror refuses although libtorrent rewrites them: they try to leave the torrent's
/// directory (libtorrent drops the `..` elements and leading slashes; a mirror refuses such a
/// hostile or broken torrent rather than guess where its files belong).
const CLIMBING: &[&str] = &[
    "absolute_filename.torrent",
    "hidden_parent_path.torrent",
    "invalid_directory_name.torrent",
    "invalid_filename2.torrent",
    "invalid_name2.torrent",
    "parent_path.torrent",
    "slash_path.torrent",
    "slash_path2.torrent",
    "slash_path3.torrent",
    // A v2 `file tree` key "//" (libtorrent makes it `_`).
    "v2_invalid_filename2.torrent",
];

/// Why btmirror deliberately refuses `file` that libtorrent loads, given btmirror's error, or
/// `None` when it should not differ.
fn deliberate_difference(file: &str, err: &str) -> Option<&'static str> {
    if CLIMBING.contains(&file) && err.starts_with("unsafe path") {
        return Some("a path that climbs out of the torrent's directory is refused, not rewritten");
    }
    if file == "large_piece_size.torrent" && err.contains("..=64 MiB") {
        return Some(
            "pieces are held in memory whole: btmirror caps them at 64 MiB (this one is 512 MiB)",
        );
    }
    None
}

/// One line of EXPECTED.tsv.
struct Expected<'a> {
    file: &'a str,
    load: bool,
    v1: Option<&'a str>,
    v2: Option<&'a str>,
    files: Option<usize>,
    size_or_reason: &'a str,
}

fn parse_line(line: &str) -> Expected<'_> {
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols.len(), 6, "bad EXPECTED.tsv line {line:?}");
    fn dash(s: &str) -> Option<&str> {
        (s != "-").then_some(s)
    }
    Expected {
        file: cols[0],
        load: match cols[1] {
            "load" => true,
            "refuse" => false,
            other => panic!("bad verdict {other:?}"),
        },
        v1: dash(cols[2]),
        v2: dash(cols[3]),
        files: dash(cols[4]).map(|n| n.parse().expect("file count")),
        size_or_reason: cols[5],
    }
}

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

/// Checks every torrent of `fixtures/{dir}` against its EXPECTED.tsv; returns how many
/// btmirror deliberately refuses.
fn matches_libtorrent(dir: &str) -> usize {
    let dir = fixtures(dir);
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut listed = Vec::new();
    let mut differing = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let e = parse_line(line);
        listed.push(e.file.to_owned());
        let bytes = std::fs::read(dir.join(e.file)).expect(e.file);
        match (e.load, Metainfo::from_bytes(&bytes)) {
            (true, Ok(m)) => {
                assert_eq!(
                    m.info_hash_v1().map(|h| h.to_hex()).as_deref(),
                    e.v1,
                    "{}: v1",
                    e.file
                );
                assert_eq!(
                    m.info_hash_v2.map(|h| h.to_hex()).as_deref(),
                    e.v2,
                    "{}: v2",
                    e.file
                );
                assert_eq!(
                    Some(m.info.files.len() + m.symlinks.len()),
                    e.files,
                    "{}: files",
                    e.file
                );
                assert_eq!(
                    m.info.total_length.to_string(),
                    e.size_or_reason,
                    "{}: size",
                    e.file
                );
            }
            (false, Err(_)) => {}
            (true, Err(err)) => {
                let err = err.to_string();
                match deliberate_difference(e.file, &err) {
                    Some(why) => {
                        eprintln!("{}: refused on purpose ({why}): {err}", e.file);
                        differing += 1;
                    }
                    None => panic!("{}: libtorrent loads it, btmirror refuses: {err}", e.file),
                }
            }
            (false, Ok(_)) => panic!(
                "{}: libtorrent refuses it ({}), btmirror loads it",
                e.file, e.size_or_reason
            ),
        }
    }
    // Every torrent in the directory is listed, so a new file cannot go untested.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".torrent"))
        .collect();
    on_disk.sort();
    listed.sort();
    assert_eq!(on_disk, listed);
    differing
}

#[test]
fn field_corpus_matches_libtorrent() {
    // Nothing differs (the v2-only torrent loads since issue 10 part 4).
    assert_eq!(matches_libtorrent("corpus"), 0);
}

#[test]
fn libtorrent_edge_cases_match_libtorrent() {
    // 10 climbing paths (one of them v2), 1 piece size over 64 MiB.
    assert_eq!(matches_libtorrent("libtorrent"), 11);
}

/// The paths of `file` as btmirror lays it out, pad files left out.
fn paths(file: &str) -> (Vec<String>, Vec<String>) {
    let path = fixtures("corpus").join(file);
    let path = if path.exists() {
        path
    } else {
        fixtures("libtorrent").join(file)
    };
    let m = Metainfo::from_bytes(&std::fs::read(&path).expect(file)).expect(file);
    let paths = m
        .info
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    (paths, m.notes)
}

#[test]
fn file_names_match_libtorrent() {
    // As libtorrent 2.0.8 lists them (`torrent_info.files().file_path(i)` and `symlink(i)`).
    let (dup, notes) = paths("dup-files.torrent");
    assert_eq!(
        dup,
        [
            "ThisIsMyTorrent/file1.txt",
            "ThisIsMyTorrent/file2.mkv",
            "ThisIsMyTorrent/file1.1.txt"
        ]
    );
    assert_eq!(
        notes,
        [r#"duplicate path "ThisIsMyTorrent/file1.txt" renamed to "ThisIsMyTorrent/file1.1.txt""#]
    );
    let (bad, notes) = paths("bad-utf8-path.torrent");
    assert_eq!(
        bad,
        ["bad-utf8-path/πfile.😀😀😀", "bad-utf8-path/file_.foo"]
    );
    assert_eq!(notes.len(), 1, "{notes:?}");
    let (bitcomet, _) = paths("bitcomet.utf-8.special.torrent");
    assert_eq!(
        bitcomet,
        [
            "modified test-utf8/別の世界f1.txt",
            "modified test-utf8/別の世界f2.txt"
        ]
    );
    let (empty, _) = paths("empty_path_multi.torrent");
    assert_eq!(empty, ["temp/abcde", "temp/_", "temp/_.1"]);
    let (dots, _) = paths("invalid_filename.torrent");
    assert_eq!(dots, ["est2/f", "est2/_"]);
    let (dups, _) = paths("duplicate_files2.torrent");
    assert_eq!(dups.len(), 118);
    assert_eq!(dups[117], "temp/foo/bar.117.txt");
    let m = Metainfo::from_bytes(
        &std::fs::read(fixtures("libtorrent").join("symlink2.torrent")).unwrap(),
    )
    .unwrap();
    let links: Vec<(String, String)> = m
        .symlinks
        .iter()
        .map(|l| (l.path.display().to_string(), l.target.display().to_string()))
        .collect();
    assert_eq!(
        links,
        [
            (
                "Some.framework/SDL2".into(),
                "Some.framework/Versions/A/SDL2".into()
            ),
            (
                "Some.framework/Versions/Current".into(),
                "Some.framework/Versions/A".into()
            )
        ]
    );
    let (android, notes) = paths("Android-x86_8.1_r6_iso.torrent");
    assert_eq!(android, ["android x86 8.1 r6 ISO/android-x86-8.1-r6.iso"]);
    assert!(notes[0].starts_with("ignored "), "{notes:?}");
}

#[test]
fn v2_piece_layers_hash_to_their_roots() {
    // Our Merkle arithmetic against files made by libtorrent: every piece layer in these
    // hashes to its file's `pieces root`, except in the two made to fail.
    for (dir, file) in [
        ("corpus", "bittorrent-v2-test.torrent"),
        ("corpus", "bittorrent-v2-hybrid-test.torrent"),
        (
            "corpus",
            "hybrid-single-ubuntu-20.04.3-desktop-amd64.iso.torrent",
        ),
        ("libtorrent", "v2_multiple_files.torrent"),
        ("libtorrent", "v2_only.torrent"),
        ("libtorrent", "v2_invalid_root_hash.torrent"),
        ("libtorrent", "v2_invalid_piece_layer_root.torrent"),
    ] {
        let m = Metainfo::from_bytes(&std::fs::read(fixtures(dir).join(file)).unwrap()).unwrap();
        let v2 = m.info.v2.as_ref().expect(file);
        let with_layer = v2.files.iter().filter(|f| f.layer().is_some()).count();
        let needing = v2.files.iter().filter(|f| f.pieces > 1).count();
        if file.starts_with("v2_invalid_") {
            assert_eq!(with_layer, 0, "{file}: {:?}", m.notes);
        } else {
            assert!(
                needing > 0 && with_layer == needing,
                "{file}: {:?}",
                m.notes
            );
        }
    }
}

#[test]
fn mutated_v2_torrents_never_panic() {
    // A cheap stand-in for the fuzz target in CI: random byte flips, truncations and
    // duplicated spans of the v2 and hybrid fixtures, through parsing, v2 verification and
    // hash requests.
    let mut rng = fastrand::Rng::with_seed(52);
    let files = [
        ("libtorrent", "v2_only.torrent"),
        ("libtorrent", "v2_multiple_files.torrent"),
        ("libtorrent", "v2_symlinks.torrent"),
        ("libtorrent", "v2_hybrid.torrent"),
        ("corpus", "bittorrent-v2-test.torrent"),
    ];
    for (dir, file) in files {
        let original = std::fs::read(fixtures(dir).join(file)).unwrap();
        for _ in 0..400 {
            let mut b = original.clone();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..b.len());
                match rng.u8(..3) {
                    0 => b[at] = rng.u8(..),
                    1 => b.truncate(at.max(1)),
                    _ => {
                        let end = (at + rng.usize(1..40)).min(b.len());
                        let span = b[at..end].to_vec();
                        b.splice(at..at, span);
                    }
                }
            }
            let Ok(m) = Metainfo::from_bytes(&b) else {
                continue;
            };
            let piece = vec![0u8; m.info.piece_length as usize];
            for i in [
                0,
                m.info.piece_count().saturating_sub(1),
                m.info.piece_count(),
            ] {
                let _ = m.info.v2_piece_matches(i, &piece);
            }
            if let Some(v2) = &m.info.v2 {
                for f in &v2.files {
                    let _ = v2.hashes_for(m.info.piece_length, &f.root, 2, 0, 4, 3);
                }
            }
            let _ = m.magnet_uri();
        }
    }
}
