//! Every `.torrent` of the field corpus (`fixtures/corpus/`, from Transmission's test assets; see
//! its README.md) loads or is refused as libtorrent 2.0.8 does (`EXPECTED.tsv`), with the same v1
//! and v2 info-hashes, number of files (pad files left out) and total size, except where btmirror
//! deliberately differs, listed in [`DIFFERENCES`] with the reason.

use std::path::Path;

use metainfo::Metainfo;

/// Files btmirror deliberately treats differently from libtorrent: the file, the start of
/// btmirror's error message, and why.
const DIFFERENCES: &[(&str, &str, &str)] = &[(
    "bittorrent-v2-test.torrent",
    "BitTorrent v2-only torrents are not supported yet",
    "v2-only torrents have no SHA-1 piece hashes; btmirror verifies v1 pieces only (issue 10 part 4)",
)];

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

#[test]
fn corpus_matches_libtorrent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut checked = 0;
    let mut listed = Vec::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let e = parse_line(line);
        listed.push(e.file.to_owned());
        let bytes = std::fs::read(dir.join(e.file)).expect(e.file);
        let result = Metainfo::from_bytes(&bytes);
        checked += 1;
        if let Some((_, message, why)) = DIFFERENCES.iter().find(|(f, ..)| *f == e.file) {
            let err = result.expect_err(e.file).to_string();
            assert!(
                err.starts_with(message),
                "{}: deliberately refused ({why}), but with {err:?}",
                e.file
            );
            continue;
        }
        match (e.load, result) {
            (true, Ok(m)) => {
                assert_eq!(
                    Some(m.info_hash.to_hex()).as_deref(),
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
            (false, Err(err)) => eprintln!(
                "{}: refused: {err} (libtorrent: {})",
                e.file, e.size_or_reason
            ),
            (true, Err(err)) => panic!("{}: libtorrent loads it, btmirror refuses: {err}", e.file),
            (false, Ok(_)) => panic!(
                "{}: libtorrent refuses it ({}), btmirror loads it",
                e.file, e.size_or_reason
            ),
        }
    }
    // Every torrent in the directory is listed, so a new file cannot go untested.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".torrent"))
        .collect();
    on_disk.sort();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert!(checked >= 27, "only {checked} torrents checked");
}

/// The paths of `file` as btmirror lays it out, pad files left out.
fn paths(file: &str) -> (Vec<String>, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let m = Metainfo::from_bytes(&std::fs::read(dir.join(file)).expect(file)).expect(file);
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
    // As libtorrent 2.0.8 lists them (`torrent_info.files().file_path(i)`).
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
    let (android, notes) = paths("Android-x86_8.1_r6_iso.torrent");
    assert_eq!(android, ["android x86 8.1 r6 ISO/android-x86-8.1-r6.iso"]);
    assert!(notes[0].starts_with("ignored "), "{notes:?}");
}
