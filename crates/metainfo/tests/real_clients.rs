//! Torrents we create must load in real clients with the same info-hash, and torrents made by
//! `mktorrent` must parse to the info-hash those clients report. Each tool is skipped (with a note
//! on stderr) only when it is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use metainfo::{CreateOptions, Metainfo, create_torrent};

fn on_path(bin: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The 40-hex-digit token on the first line whose label (before `:`) ends with `label`.
fn hash_after(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let value = value.trim();
        (key.trim().ends_with(label)
            && value.len() == 40
            && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
    })
}

const LIBTORRENT: &str = "import libtorrent as lt, sys
ti = lt.torrent_info(sys.argv[1])
print(ti.info_hash(), ti.num_files(), ti.total_size())";

/// (tool, info-hash) for every installed client, checking file count and size where it can.
fn client_hashes(torrent: &Path, files: usize, total: u64) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    match on_path("transmission-show") {
        Some(bin) => {
            let out = run(Command::new(bin).arg(torrent));
            let hash = hash_after(&out, "Hash").or_else(|| hash_after(&out, "Hash v1"));
            found.push((
                "transmission-show",
                hash.unwrap_or_else(|| panic!("no hash in {out}")),
            ));
        }
        None => eprintln!("note: transmission-show not installed, skipped"),
    }
    match on_path("aria2c") {
        Some(bin) => {
            let out = run(Command::new(bin).arg("--show-files").arg(torrent));
            found.push((
                "aria2c",
                hash_after(&out, "Info Hash").unwrap_or_else(|| panic!("no hash in {out}")),
            ));
        }
        None => eprintln!("note: aria2c not installed, skipped"),
    }
    let python = Path::new("/usr/bin/python3");
    let has_lt = python.is_file()
        && Command::new(python)
            .args(["-c", "import libtorrent"])
            .output()
            .is_ok_and(|o| o.status.success());
    if has_lt {
        let out = run(Command::new(python).args(["-c", LIBTORRENT]).arg(torrent));
        let fields: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            fields.get(1..),
            Some(&[files.to_string().as_str(), total.to_string().as_str()][..]),
            "{out}"
        );
        found.push((
            "libtorrent",
            fields
                .first()
                .map(|h| h.to_ascii_lowercase())
                .unwrap_or_default(),
        ));
    } else {
        eprintln!("note: python3-libtorrent not installed, skipped");
    }
    found
}

fn make_tree(root: &Path) -> std::io::Result<()> {
    let mut rng = fastrand::Rng::with_seed(42);
    for (rel, len) in [
        ("a.bin", 70_001),
        ("docs/readme.txt", 1_234),
        ("docs/zero", 0),
        ("z/deep/file.dat", 150_000),
    ] {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, (0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>())?;
    }
    Ok(())
}

#[test]
fn our_torrents_load_in_real_clients_with_the_same_info_hash() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single.iso");
    std::fs::write(&single, vec![0x5a; 300_000]).unwrap();
    let multi = dir.path().join("multi");
    make_tree(&multi).unwrap();
    let opts = CreateOptions {
        announce: "http://127.0.0.1:6969/announce".into(),
        extra_trackers: vec!["udp://127.0.0.1:6969".into()],
        piece_length: None,
        private: false,
        comment: Some("btmirror test".into()),
        web_seeds: Vec::new(),
        version: metainfo::Version::V1,
    };
    for (source, files) in [(&single, 1), (&multi, 4)] {
        let bytes = create_torrent(source, &opts, &|_, _| {}).unwrap();
        let ours = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(ours.info.files.len(), files);
        let path = dir.path().join(format!("{}.torrent", ours.info.name));
        std::fs::write(&path, &bytes).unwrap();
        for (tool, hash) in client_hashes(&path, files, ours.info.total_length) {
            eprintln!("{tool}: {hash} for our {}", path.display());
            assert_eq!(
                hash,
                ours.info_hash.to_hex(),
                "{tool} on {}",
                path.display()
            );
        }
    }
}

#[test]
fn mktorrent_torrents_parse_to_the_hash_clients_report() {
    let Some(mktorrent) = on_path("mktorrent") else {
        eprintln!("note: mktorrent not installed, skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let multi = dir.path().join("tree");
    make_tree(&multi).unwrap();
    let single = dir.path().join("one.bin");
    std::fs::write(&single, vec![7u8; 100_000]).unwrap();
    for (source, private) in [(&multi, true), (&single, false)] {
        let out = dir.path().join("mk.torrent");
        let _ = std::fs::remove_file(&out);
        let mut cmd = Command::new(&mktorrent);
        cmd.args(["-l", "15", "-a", "http://127.0.0.1:6969/announce", "-o"])
            .arg(&out);
        if private {
            cmd.arg("-p");
        }
        run(cmd.arg(source));
        let m = Metainfo::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(m.info.private, private);
        assert_eq!(m.info.piece_length, 32 * 1024);
        let clients = client_hashes(&out, m.info.files.len(), m.info.total_length);
        for (tool, hash) in clients {
            eprintln!("{tool}: {hash} for mktorrent's {}", source.display());
            assert_eq!(
                hash,
                m.info_hash.to_hex(),
                "{tool} on mktorrent's {}",
                source.display()
            );
        }
    }
}
