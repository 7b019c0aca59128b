//! `NAME.magnet` files in a watch directory: status `metadata` while nobody has it, kill -9
//! during the fetch and a restart that completes it once a seed exists, the metadata kept in
//! the state directory (the watch dir holds only the magnet and the data), and no second fetch
//! after another restart.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "daemon_e2e/support.rs"]
#[allow(dead_code, reason = "shared with daemon_e2e, which uses the rest")]
mod support;

use std::time::Duration;

use nix::sys::signal::Signal;
use support::{
    Daemon, Proc, Tracker, all_seeding, base_config, command, make_torrent, random_bytes,
    sha256_file, torrents, wait_for,
};

const T: Duration = Duration::from_secs(60);

#[test]
fn a_magnet_file_is_fetched_once_and_survives_kill_9() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let data = random_bytes(300_000, 7);
    let (torrent, hash) = make_torrent("m.bin", &data, 16384, &tracker.announce());
    let watch = d.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&dn=m.bin&tr={}\n",
        tracker.announce()
    );
    std::fs::write(watch.join("m.magnet"), &magnet).unwrap();

    // Nobody has it yet: state `metadata`, named after `dn`, with its info-hash.
    let mut daemon = Daemon::start(d.path(), &base_config(d.path()));
    let s = daemon.wait_status("metadata", T, |s| {
        torrents(s)
            .first()
            .is_some_and(|t| t["state"] == "metadata")
    });
    assert_eq!(torrents(&s)[0]["name"], "m.bin");
    assert_eq!(torrents(&s)[0]["info_hash"], hash.as_str());
    daemon.proc.signal(Signal::SIGKILL);
    daemon.proc.wait_exit(T);

    // A seed appears; the restarted daemon fetches the metadata, then the data.
    let seed_dir = d.path().join("seed");
    std::fs::create_dir(&seed_dir).unwrap();
    std::fs::write(seed_dir.join("m.bin"), &data).unwrap();
    let torrent_path = d.path().join("m.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    let mut get = command(d.path());
    get.arg("get")
        .arg(&torrent_path)
        .arg("--dir")
        .arg(&seed_dir)
        .args(["--port", "0", "--bind", "127.0.0.1", "--state-dir"])
        .arg(d.path().join("seed-state"));
    let _seeder = Proc::spawn(&mut get, &d.path().join("seeder.log"));
    assert!(wait_for(T, || (tracker.seeders(&hash) == 1).then_some(())).is_some());

    let mut daemon = Daemon::start(d.path(), &base_config(d.path()));
    daemon.wait_status("seeding", T, |s| all_seeding(s, 1));
    assert_eq!(
        sha256_file(&watch.join("m.bin")),
        sha256_file(&seed_dir.join("m.bin"))
    );
    let kept = daemon
        .state
        .join("metadata")
        .join(format!("{hash}.torrent"));
    assert!(kept.exists(), "metadata kept in the state dir");
    let mut names: Vec<String> = std::fs::read_dir(&watch)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["m.bin", "m.magnet"],
        "the watch dir is never written"
    );
    assert!(daemon.proc.log().contains("fetching the metadata"));
    daemon.proc.signal(Signal::SIGTERM);
    daemon.proc.wait_exit(T);

    // Restarted again: nothing is fetched twice.
    let daemon = Daemon::start(d.path(), &base_config(d.path()));
    daemon.wait_status("seeding again", T, |s| all_seeding(s, 1));
    let log = daemon.proc.log();
    let second_run = log.rsplit("running").next().unwrap_or("");
    assert!(!second_run.contains("fetching the metadata"), "{log}");
}
