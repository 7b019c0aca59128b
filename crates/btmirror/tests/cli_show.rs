//! `btmirror show` through the real binary, on torrents of the field corpus, on a hybrid torrent
//! made by python3-libtorrent (whose data `btmirror check` must find complete with its pad files
//! left out), and fetched over HTTP from 127.0.0.1.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn btmirror(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_btmirror"))
        .args(args)
        .current_dir(cwd)
        .env("BTMIRROR_DHT_BOOTSTRAP", "")
        .env_remove("BTMIRROR_LOG")
        .env_remove("JOURNAL_STREAM")
        .output()
        .expect("running btmirror")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../metainfo/tests/fixtures/corpus")
        .join(file)
}

fn show_json(torrent: &Path) -> serde_json::Value {
    let out = btmirror(
        &["show", torrent.to_str().expect("utf-8 path"), "--json"],
        Path::new("."),
    );
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("show --json prints JSON")
}

#[test]
fn text_lists_what_the_torrent_says_and_what_btmirror_changed() {
    let out = btmirror(
        &["show", corpus("dup-files.torrent").to_str().unwrap()],
        Path::new("."),
    );
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for line in [
        "Name: ThisIsMyTorrent",
        "Info-hash v1: 3a7ff66a756f377dc3f119750308be1a181db92e",
        "Size: 24.0 MiB (25165824 bytes) in 3 files",
        "Pieces: 6 of 4.0 MiB",
        "Private: yes",
        "Created by: uTorrent/2040",
        "Created on: 2011-09-26 17:00:33 UTC",
        "Comment: sample torrent",
        "Magnet: magnet:?xt=urn:btih:3a7ff66a756f377dc3f119750308be1a181db92e&dn=ThisIsMyTorrent&tr=https%3A%2F%2Fexample.com%2Fannounce",
        "  tier 1: https://example.com/announce",
        "  ThisIsMyTorrent/file1.1.txt (8.0 MiB)",
        r#"  duplicate path "ThisIsMyTorrent/file1.txt" renamed to "ThisIsMyTorrent/file1.1.txt""#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }
    assert!(!text.contains("Info-hash v2"), "{text}");
}

#[test]
fn json_has_hashes_web_seeds_and_hides_pad_files() {
    let j = show_json(&corpus("bittorrent-v2-hybrid-test.torrent"));
    assert_eq!(j["info_hash"], "631a31dd0a46257d5078c0dee4e66e26f73e42ac");
    assert_eq!(
        j["info_hash_v2"],
        "d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb"
    );
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 9);
    assert!(
        files
            .iter()
            .all(|f| !f["path"].as_str().unwrap().contains(".pad"))
    );
    assert_eq!(j["pad_files"], 8);
    assert!(
        j["magnet"]
            .as_str()
            .unwrap()
            .contains("&xt=urn:btmh:1220d8dd32ac")
    );

    let j = show_json(&corpus("webseed-getright-string.torrent"));
    assert_eq!(j["web_seeds"].as_array().unwrap().len(), 1);
    assert_eq!(j["files"][0]["path"], "hello/world");
}

#[test]
fn v2_only_torrents_show_their_v2_hash_and_unusable_ones_fail() {
    let out = btmirror(
        &[
            "show",
            corpus("bittorrent-v2-test.torrent").to_str().unwrap(),
        ],
        Path::new("."),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Info-hash v1: -\n"), "{text}");
    assert!(
        text.contains(
            "Info-hash v2: caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e"
        ),
        "{text}"
    );
    assert!(text.contains("magnet:?xt=urn:btmh:1220caf1e1c3"), "{text}");
    let out = btmirror(&["show", "/nonexistent.torrent"], Path::new("."));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn show_fetches_a_url() {
    let body = fs::read(corpus("perfect-pieces.torrent")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/perfect-pieces.torrent",
        listener.local_addr().unwrap()
    );
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = conn.read(&mut req).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&body).unwrap();
    });
    let out = btmirror(&["show", &url, "--json"], Path::new("."));
    server.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["info_hash"], "efa7eb3dec5661698f353fde079418543a63e872");
}

/// Makes a hybrid (v1 + v2, with pad files) torrent of `tree` with python3-libtorrent and
/// returns its v1 and v2 info-hashes as libtorrent reports them, or `None` when python3-libtorrent
/// is not installed.
fn libtorrent_hybrid(dir: &Path) -> Option<(String, String)> {
    const MAKE: &str = "import libtorrent as lt, sys
fs = lt.file_storage()
lt.add_files(fs, 'tree')
t = lt.create_torrent(fs, 16384)
t.add_tracker('http://127.0.0.1:1/announce')
lt.set_piece_hashes(t, '.')
open('hybrid.torrent', 'wb').write(lt.bencode(t.generate()))
h = lt.torrent_info('hybrid.torrent').info_hashes()
print(h.v1, h.v2)";
    let python = Path::new("/usr/bin/python3");
    let has_lt = python.is_file()
        && Command::new(python)
            .args(["-c", "import libtorrent"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !has_lt {
        eprintln!("note: python3-libtorrent not installed, skipped");
        return None;
    }
    let out = Command::new(python)
        .args(["-c", MAKE])
        .current_dir(dir)
        .output()
        .expect("running python3");
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let mut words = text.split_whitespace();
    Some((words.next()?.to_owned(), words.next()?.to_owned()))
}

#[test]
fn libtorrent_hybrid_checks_complete_in_place_without_pad_files() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    // Odd sizes and a 1-byte file, so libtorrent pads after each file.
    for (name, len, seed) in [
        ("a.bin", 100_000, 1u8),
        ("one", 1, 2),
        ("sub/b.bin", 40_000, 3),
    ] {
        let bytes: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect();
        fs::write(tree.join(name), bytes).unwrap();
    }
    let Some((v1, v2)) = libtorrent_hybrid(dir.path()) else {
        return;
    };
    let torrent = dir.path().join("hybrid.torrent");
    let j = show_json(&torrent);
    assert_eq!(j["info_hash"].as_str(), Some(v1.as_str()));
    assert_eq!(j["info_hash_v2"].as_str(), Some(v2.as_str()));
    assert_eq!(j["files"].as_array().unwrap().len(), 3);
    assert!(j["pad_files"].as_u64().unwrap() >= 2, "{j}");

    let out = btmirror(&["check", "hybrid.torrent"], dir.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("(100.0%)"), "{text}");
    assert!(
        text.contains("files: 3 complete, 0 incomplete, 0 missing"),
        "{text}"
    );
    assert!(
        !tree.join(".pad").exists(),
        "check created a .pad directory"
    );
}
