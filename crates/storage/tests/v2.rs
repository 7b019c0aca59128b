//! BitTorrent v2 and hybrid torrents (BEP 52) made by python3-libtorrent, checked against data
//! on disk: v2-only pieces verify with per-file SHA-256 Merkle trees, hybrids with their SHA-1
//! pieces over libtorrent's pad-file layout. Skipped (with a message) without python3-libtorrent.

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use metainfo::Metainfo;
use storage::{FdCache, Storage};

const PYTHON: &str = "/usr/bin/python3";

fn have_libtorrent() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A tree with odd sizes, a 1-byte file, an empty file and a file of exactly one piece.
fn make_tree(root: &Path) {
    let mut rng = fastrand::Rng::with_seed(52);
    for (path, len) in [
        ("t/a.bin", 100_003usize),
        ("t/one", 1),
        ("t/sub/b.bin", 65_536),
        ("t/sub/c.bin", 16_385),
        ("t/sub/empty", 0),
        ("t/z.bin", 300_001),
    ] {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        fs::write(p, data).unwrap();
    }
}

/// libtorrent's torrent of `root/t` and the hashes it reports.
fn lt_torrent(root: &Path, kind: &str, pl: u32) -> (Metainfo, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_make.py");
    let out = root.join(format!("t-{kind}.torrent"));
    let o = Command::new(PYTHON)
        .arg(script)
        .arg(root.join("t"))
        .arg(&out)
        .arg(kind)
        .arg(pl.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut words = text.split_whitespace().map(str::to_owned);
    let (v1, v2) = (words.next().unwrap(), words.next().unwrap());
    (
        Metainfo::from_bytes(&fs::read(out).unwrap()).unwrap(),
        v1,
        v2,
    )
}

fn check(s: &Storage) -> u32 {
    s.check(2, &|_| {}, &AtomicBool::new(false))
        .unwrap()
        .count()
}

#[test]
fn libtorrent_v2_and_hybrid_torrents_check_complete_and_find_damage() {
    if !have_libtorrent() {
        eprintln!("skipped: no python3-libtorrent");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_tree(dir.path());
    for kind in ["v2", "hybrid", "v1"] {
        for pl in [16_384u32, 65_536] {
            let (m, v1, v2) = lt_torrent(dir.path(), kind, pl);
            assert_eq!(
                m.info_hash_v1().map(|h| h.to_hex()).unwrap_or("-".into()),
                v1,
                "{kind}"
            );
            assert_eq!(
                m.info_hash_v2.map(|h| h.to_hex()).unwrap_or("-".into()),
                v2,
                "{kind}"
            );
            assert_eq!(m.info.files.len(), 6, "{kind}: {:?}", m.info.files);
            if kind == "v2" {
                assert!(!m.info.has_v1());
                let v2 = m.info.v2.as_ref().unwrap();
                assert!(v2.complete(pl), "{kind} {pl}: {:?}", m.notes);
            }
            let s = Storage::new(
                Arc::new((*m.info).clone()),
                dir.path().into(),
                Arc::new(FdCache::new(8)),
            );
            let all = m.info.piece_count();
            assert_eq!(check(&s), all, "{kind} {pl}");
            // One flipped byte in the 1-byte file costs exactly its piece.
            let one = dir.path().join("t/one");
            let byte = fs::read(&one).unwrap()[0];
            fs::write(&one, [byte ^ 0x55]).unwrap();
            assert_eq!(check(&s), all - 1, "{kind} {pl}: damaged 1-byte file");
            // Put the original back for the next kind.
            make_tree(dir.path());
            assert_eq!(check(&s), all, "{kind} {pl}: restored");
            // A byte of the middle of a multi-piece file.
            let a = dir.path().join("t/z.bin");
            let mut data = fs::read(&a).unwrap();
            data[200_000] ^= 1;
            fs::write(&a, &data).unwrap();
            assert_eq!(check(&s), all - 1, "{kind} {pl}: damaged z.bin");
            make_tree(dir.path());
        }
    }
}

#[test]
fn a_v2_file_without_its_piece_layer_checks_as_a_whole_against_its_root() {
    if !have_libtorrent() {
        eprintln!("skipped: no python3-libtorrent");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_tree(dir.path());
    let (full, _, _) = lt_torrent(dir.path(), "v2", 16_384);
    // The same torrent without `piece layers` (libtorrent loads such files too).
    let path = dir.path().join("t-v2.torrent");
    let stripped = dir.path().join("stripped.torrent");
    let o = Command::new(PYTHON)
        .args([
            "-c",
            "import sys, libtorrent as lt\n\
             d = lt.bdecode(open(sys.argv[1], 'rb').read())\n\
             del d[b'piece layers']\n\
             open(sys.argv[2], 'wb').write(lt.bencode(d))",
        ])
        .arg(&path)
        .arg(&stripped)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Metainfo::from_bytes(&fs::read(&stripped).unwrap()).unwrap();
    assert_eq!(m.info_hash_v2, full.info_hash_v2);
    assert!(
        m.notes.iter().any(|n| n.contains("piece layers missing")),
        "{:?}",
        m.notes
    );
    let v2 = m.info.v2.as_ref().unwrap();
    assert!(!v2.complete(16_384));
    let s = Storage::new(
        Arc::new((*m.info).clone()),
        dir.path().into(),
        Arc::new(FdCache::new(8)),
    );
    let all = m.info.piece_count();
    assert_eq!(check(&s), all);
    // Whole files that hash to their roots give the torrent their layers.
    assert!(v2.complete(16_384), "the check learnt the layers");
    // A damaged byte in z.bin (19 pieces): with the layer now known it costs one piece; in a
    // torrent still without it, the whole file (its pieces cannot be told apart).
    let z = dir.path().join("t/z.bin");
    let mut data = fs::read(&z).unwrap();
    data[200_000] ^= 1;
    fs::write(&z, &data).unwrap();
    assert_eq!(check(&s), all - 1);
    let fresh = Metainfo::from_bytes(&fs::read(&stripped).unwrap()).unwrap();
    let s = Storage::new(
        Arc::new((*fresh.info).clone()),
        dir.path().into(),
        Arc::new(FdCache::new(8)),
    );
    let z_file = |m: &Metainfo| {
        let v2 = m.info.v2.clone().unwrap();
        let i = v2
            .files
            .iter()
            .position(|f| m.info.files[f.file].path.ends_with("z.bin"))
            .unwrap();
        (v2, i)
    };
    let (fresh_v2, i) = z_file(&fresh);
    assert_eq!(check(&s), all - fresh_v2.files[i].pieces);
    assert!(
        fresh_v2.files[i].needs_layer(),
        "a damaged file gives no layer"
    );
}
