//! `[[feed]]` tables in a running daemon (issue 14), against a real nginx on 127.0.0.1 serving
//! a directory index in Debian's bt-cd layout: the feed's torrents appear in the watch dir and
//! download from a seed; an operator's file of the same name is never overwritten; a failing
//! feed changes nothing and shows its error in `status`; a removed `[[feed]]` stops and leaves
//! its files; `btmirror feed check` is a dry run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

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

/// An nginx serving `dir/www` (with the subdirectory `sub`), and an empty watch dir.
struct Site {
    server: Nginx,
    www: std::path::PathBuf,
    watch: std::path::PathBuf,
}

impl Site {
    fn start(dir: &Path, sub: &str) -> Site {
        let (www, conf) = (dir.join("www"), dir.join("nginx"));
        std::fs::create_dir_all(www.join(sub)).unwrap();
        std::fs::create_dir_all(&conf).unwrap();
        let server = Nginx::start(&www, &conf).unwrap();
        let watch = dir.join("watch");
        std::fs::create_dir_all(&watch).unwrap();
        Site { server, www, watch }
    }
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
    let Site { server, www, watch } = Site::start(d.path(), "bt-cd");
    let tracker = Tracker::start(d.path());

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

/// An RSS 2.0 document with one enclosure per path (relative to the feed's URL).
fn rss(paths: &[&str]) -> String {
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>t</title>\n",
    );
    for p in paths {
        doc.push_str(&format!(
            "<item><title>{p}</title><enclosure url=\"{p}\" type=\"application/x-bittorrent\"/></item>\n"
        ));
    }
    doc.push_str("</channel></rss>\n");
    doc
}

/// The feed of `status` with `url`.
fn feed_of(status: &Value, url: &str) -> Option<Value> {
    feeds(status).into_iter().find(|f| f["url"] == url)
}

/// A feed that follows its releases at the next fetch (an RSS file rewritten between fetches):
/// with `remove = true` the dropped entry's torrent stops and its data stays; with `remove =
/// false` nothing is removed. Feeds that fail (the server down, a 10 MiB page of garbage, a
/// page with no links) change nothing in the dir and show their errors while the daemon
/// keeps seeding.
#[test]
fn feeds_follow_releases_and_failing_feeds_change_nothing() {
    if !nginx::available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let Site { server, www, watch } = Site::start(d.path(), "r");
    let nowhere = "http://127.0.0.1:1/announce";
    let put = |name: &str, data: &[u8]| {
        let (t, hash) = make_torrent(name, data, 16384, nowhere);
        std::fs::write(www.join("r").join(format!("{name}.torrent")), t).unwrap();
        hash
    };
    let old_data = random_bytes(40_000, 1);
    let old = put("release-1.iso", &old_data);
    let new = put("release-2.iso", &random_bytes(40_000, 2));
    put("kept.iso", b"kept");
    put("other.iso", b"other");
    // The old release's data is in place: it seeds once its .torrent arrives.
    std::fs::write(watch.join("release-1.iso"), &old_data).unwrap();
    std::fs::write(www.join("r/a.rss"), rss(&["release-1.iso.torrent"])).unwrap();
    // A magnet link in a feed becomes a `.magnet` file (named after its info-hash here).
    let magnet_hash = "0123456789abcdef0123456789abcdef01234567";
    let magnet = format!("magnet:?xt=urn:btih:{magnet_hash}");
    std::fs::write(www.join("r/b.rss"), rss(&["kept.iso.torrent", &magnet])).unwrap();
    let a = server.url("/r/a.rss").to_string();
    let b = server.url("/r/b.rss").to_string();
    let config = base_config(d.path())
        + &feed_table(&a, &watch, "interval = 60\nremove = true")
        + &feed_table(&b, &watch, "interval = 60\nremove = false");
    let daemon = Daemon::start(d.path(), &config);
    daemon.wait_status("the first release seeding", T, |s| {
        torrents(s)
            .iter()
            .any(|t| t["info_hash"] == old.as_str() && t["state"] == "seeding")
    });
    assert!(watch.join("kept.iso.torrent").is_file());
    let magnet_file = watch.join(format!("{magnet_hash}.magnet"));
    assert_eq!(
        std::fs::read_to_string(&magnet_file).unwrap().trim_end(),
        magnet
    );
    daemon.wait_status("the magnet fetching its metadata", T, |s| {
        torrents(s)
            .iter()
            .any(|t| t["info_hash"] == magnet_hash && t["state"] == "metadata")
    });

    // Three failing feeds, due at once as new feeds are: nothing in the dir changes.
    let before = snapshot(&watch);
    let mut garbage = random_bytes(10 << 20, 3);
    garbage[..6].copy_from_slice(b"<html>");
    std::fs::write(www.join("r/garbage.html"), garbage).unwrap();
    std::fs::write(
        www.join("r/nolinks.html"),
        b"<html><body><p>Moved. Ask the admins.</p></body></html>",
    )
    .unwrap();
    let failing = [
        server.url("/r/garbage.html").to_string(),
        server.url("/r/nolinks.html").to_string(),
        "http://127.0.0.1:1/down.rss".to_owned(),
    ];
    let mut with_failing = config.clone();
    for url in &failing {
        with_failing += &feed_table(url, &watch, "");
    }
    reload(&daemon, &with_failing);
    let s = daemon.wait_status("every failing feed's error", T, |s| {
        failing
            .iter()
            .all(|u| feed_of(s, u).is_some_and(|f| f["last_error"].is_string()))
    });
    for url in &failing {
        let f = feed_of(&s, url).unwrap();
        assert_eq!(f["files_held"], 0, "{f:#}");
        assert!(f["last_success"].is_null(), "{f:#}");
    }
    assert_eq!(snapshot(&watch), before, "a failing feed changed the dir");
    assert!(
        torrents(&s)
            .iter()
            .any(|t| t["info_hash"] == old.as_str() && t["state"] == "seeding"),
        "{s:#}"
    );

    // The next release: at the next fetch (interval 60 s, jittered ±10 %) release 2 comes,
    // release 1 goes (remove = true) with its data kept; feed b drops kept.iso (remove = false).
    std::fs::write(www.join("r/a.rss"), rss(&["release-2.iso.torrent"])).unwrap();
    std::fs::write(www.join("r/b.rss"), rss(&["other.iso.torrent"])).unwrap();
    let s = daemon.wait_status("the next fetch", Duration::from_secs(90), |s| {
        let hashes: Vec<Value> = torrents(s).iter().map(|t| t["info_hash"].clone()).collect();
        hashes.contains(&Value::from(new.as_str()))
            && !hashes.contains(&Value::from(old.as_str()))
            && watch.join("other.iso.torrent").is_file()
    });
    assert!(!watch.join("release-1.iso.torrent").exists(), "{s:#}");
    assert_eq!(
        std::fs::read(watch.join("release-1.iso")).unwrap(),
        old_data,
        "the removed torrent's data must stay"
    );
    assert!(
        watch.join("kept.iso.torrent").is_file(),
        "remove = false removed a file"
    );
    assert_eq!(feed_of(&s, &a).unwrap()["files_held"], 1, "{s:#}");
    assert!(magnet_file.is_file(), "remove = false removed the magnet");
    assert_eq!(feed_of(&s, &b).unwrap()["files_held"], 3, "{s:#}");
}

/// A feed listing 10,000 torrents (a text list, most of them another architecture's): parsed
/// and applied within seconds, the two it takes are written, and `status` answers promptly
/// all along (the parse and the writes are off the daemon's loop).
#[test]
fn a_feed_of_ten_thousand_entries_is_taken_without_blocking_the_daemon() {
    if !nginx::available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let Site { server, www, watch } = Site::start(d.path(), "r");
    let mut list = String::new();
    for i in 0..10_000 {
        list.push_str(&format!("r/big-{i:05}-arm64.iso.torrent\n"));
    }
    for name in ["big-10000-amd64.iso", "big-10001-amd64.iso"] {
        let (t, _) = make_torrent(name, name.as_bytes(), 16384, "http://127.0.0.1:1/a");
        std::fs::write(www.join("r").join(format!("{name}.torrent")), t).unwrap();
        list.push_str(&format!("r/{name}.torrent\n"));
    }
    std::fs::write(www.join("list.txt"), list).unwrap();
    let url = server.url("/list.txt").to_string();
    let config =
        base_config(d.path()) + &feed_table(&url, &watch, "match = \"*-amd64.iso.torrent\"");
    let daemon = Daemon::start(d.path(), &config);
    let t0 = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    let s = loop {
        let asked = std::time::Instant::now();
        let s = daemon.try_status();
        slowest = slowest.max(asked.elapsed());
        if let Some(s) = &s
            && feed_of(s, &url).is_some_and(|f| f["files_held"] == 2)
        {
            break s.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the feed was not taken: {s:?}\n{}",
            daemon.proc.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(feed_of(&s, &url).unwrap()["last_error"].is_null(), "{s:#}");
    assert!(watch.join("big-10000-amd64.iso.torrent").is_file());
    assert!(watch.join("big-10001-amd64.iso.torrent").is_file());
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "taking the feed took {:?}",
        t0.elapsed()
    );
    // `btmirror status` is a process of its own: a second is generous, a blocked loop is not.
    assert!(slowest < Duration::from_secs(2), "status took {slowest:?}");
    eprintln!(
        "10,002-entry feed taken in {:?}; slowest status {slowest:?}",
        t0.elapsed()
    );
}
