//! `[[feed]]` tables in a running daemon (issue 14), against a real nginx on 127.0.0.1 serving
//! a directory index in Debian's bt-cd layout: the feed's torrents appear in the watch dir and
//! download from a seed; an operator's file of the same name is never overwritten; a failing
//! feed changes nothing and shows its error in `status`; a removed `[[feed]]` stops and leaves
//! its files; `btmirror feed check` is a dry run.

use std::collections::BTreeMap;
use std::path::Path;

use nix::sys::signal::Signal;
use serde_json::Value;

use super::nginx::{self, Nginx};
use super::support::{Daemon, Tracker, base_config, command, make_torrent, random_bytes, torrents};
use super::{T, start_seeder};

/// The names and contents of the files in `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap_or_default())
        })
        .collect()
}

/// The feeds of a status document.
fn feeds(status: &Value) -> Vec<Value> {
    status["feeds"].as_array().cloned().unwrap_or_default()
}

/// A `[[feed]]` table.
fn feed_table(url: &str, watch: &Path, extra: &str) -> String {
    format!(
        "\n[[feed]]\nurl = {url:?}\ninto = {:?}\n{extra}\n",
        watch.to_str().unwrap()
    )
}

/// Rewrites the daemon's config and sends SIGHUP.
fn reload(daemon: &Daemon, config: &str) {
    std::fs::write(&daemon.config, config).unwrap();
    daemon.proc.signal(Signal::SIGHUP);
}

#[test]
fn a_feed_fills_the_watch_dir_and_a_failing_one_changes_nothing() {
    if !nginx::available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (www, conf) = (d.path().join("www"), d.path().join("nginx"));
    std::fs::create_dir_all(www.join("bt-cd")).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    let server = Nginx::start(&www, &conf).unwrap();
    let tracker = Tracker::start(d.path());
    let watch = d.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();

    // The release, seeded by `btmirror get`, and listed by the server with two others: one the
    // glob leaves, one whose name the operator already has in the watch dir.
    let name = "debian-13.0.0-amd64-netinst.iso";
    let data = random_bytes(300_000, 7);
    let (torrent, hash) = make_torrent(name, &data, 16384, &tracker.announce());
    let _seeder = start_seeder(d.path(), &tracker, name, &data, &torrent, &hash);
    let bt_cd = www.join("bt-cd");
    std::fs::write(bt_cd.join(format!("{name}.torrent")), &torrent).unwrap();
    let (arm, _) = make_torrent(
        "debian-13.0.0-arm64-netinst.iso",
        b"arm",
        16384,
        "http://127.0.0.1:1/a",
    );
    std::fs::write(bt_cd.join("debian-13.0.0-arm64-netinst.iso.torrent"), arm).unwrap();
    let (theirs, _) = make_torrent(
        "debian-13.0.0-amd64-DVD-1.iso",
        b"server",
        16384,
        "http://127.0.0.1:1/a",
    );
    std::fs::write(bt_cd.join("debian-13.0.0-amd64-DVD-1.iso.torrent"), theirs).unwrap();
    let (mine, _) = make_torrent(
        "debian-13.0.0-amd64-DVD-1.iso",
        b"operator",
        16384,
        "http://127.0.0.1:1/a",
    );
    let operators = watch.join("debian-13.0.0-amd64-DVD-1.iso.torrent");
    std::fs::write(&operators, &mine).unwrap();

    let url = server.url("/bt-cd/").to_string();
    let glob = "match = \"*-amd64-*.iso.torrent\"\nkeep = 2\nremove = true";
    let config = base_config(d.path()) + &feed_table(&url, &watch, glob);
    let daemon = Daemon::start(d.path(), &config);

    // The feed's torrent appears and downloads; the operator's file is left as it was.
    let s = daemon.wait_status("the feed's torrent seeding", T, |s| {
        torrents(s)
            .iter()
            .any(|t| t["info_hash"] == hash.as_str() && t["state"] == "seeding")
    });
    let f = &feeds(&s)[0];
    assert_eq!(f["url"], url.as_str(), "{s:#}");
    assert_eq!(f["files_held"], 1, "{s:#}");
    assert!(
        f["last_success"].as_u64().is_some() && f["last_error"].is_null(),
        "{s:#}"
    );
    assert!(f["next_fetch"].as_u64().is_some(), "{s:#}");
    assert_eq!(std::fs::read(watch.join(name)).unwrap(), data);
    assert_eq!(
        std::fs::read(&operators).unwrap(),
        mine,
        "the operator's file was overwritten"
    );
    assert!(
        !watch
            .join("debian-13.0.0-arm64-netinst.iso.torrent")
            .exists()
    );
    let table = command(d.path())
        .args(["status", "--state-dir"])
        .arg(&daemon.state)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains(&format!("feed {url} -> ")) && table.contains("1 file,"),
        "{table}"
    );

    // `feed check` says what it would take and why, and writes nothing.
    let before = snapshot(&watch);
    let out = command(d.path())
        .args(["feed", "check", &url, "--match", "*-amd64-*.iso.torrent"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("take  torrent  {name}.torrent")),
        "{text}"
    );
    assert!(
        text.contains("skip  torrent  debian-13.0.0-arm64-netinst.iso.torrent"),
        "{text}"
    );
    assert_eq!(snapshot(&watch), before);

    // A second feed on a server that answers 500: nothing changes, the error shows, the
    // torrent keeps seeding.
    std::fs::write(www.join("fail500"), b"").unwrap();
    std::fs::write(www.join("feed.rss"), b"<rss/>").unwrap();
    let bad = server.url("/feed.rss").to_string();
    let two = config.clone() + &feed_table(&bad, &watch, "");
    reload(&daemon, &two);
    let s = daemon.wait_status("the failing feed's error", T, |s| {
        feeds(s)
            .iter()
            .any(|f| f["url"] == bad.as_str() && f["last_error"].is_string())
    });
    let failing = feeds(&s)
        .into_iter()
        .find(|f| f["url"] == bad.as_str())
        .unwrap();
    assert!(
        failing["last_error"].as_str().unwrap().contains("500"),
        "{s:#}"
    );
    assert_eq!(failing["failures"], 1, "{s:#}");
    assert_eq!(
        snapshot(&watch),
        before,
        "a failing feed changed the watch dir"
    );
    assert!(
        torrents(&s)
            .iter()
            .any(|t| t["info_hash"] == hash.as_str() && t["state"] == "seeding")
    );

    // Every [[feed]] removed: the feeds stop, their files and torrents stay.
    reload(&daemon, &base_config(d.path()));
    let s = daemon.wait_status("no feeds", T, |s| feeds(s).is_empty());
    assert!(
        torrents(&s).iter().any(|t| t["info_hash"] == hash.as_str()),
        "{s:#}"
    );
    assert_eq!(snapshot(&watch), before);
}
