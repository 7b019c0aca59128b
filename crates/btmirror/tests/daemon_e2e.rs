//! End-to-end tests of `btmirror run`: the real binary on 127.0.0.1 with our tracker
//! (`btmirror tracker`) and a second `btmirror get` process as the other peer. State is read
//! through the control socket (`btmirror status --json`).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "daemon_e2e/feeds.rs"]
mod feeds;
#[path = "../../feed/tests/nginx/server.rs"]
#[allow(
    dead_code,
    reason = "the feed crate's nginx helper; these tests use part of it"
)]
mod nginx;
#[path = "daemon_e2e/support.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{
    Daemon, Proc, Tracker, all_seeding, base_config, command, make_torrent, random_bytes,
    sha256_file, torrents, wait_for,
};

const T: Duration = Duration::from_secs(30);

/// Puts `name` with `data` and its torrent `name.torrent` into `dir`; returns the info-hash.
fn seed_file(dir: &Path, name: &str, data: &[u8], announce: &str) -> String {
    let (torrent, hash) = make_torrent(name, data, 16384, announce);
    std::fs::write(dir.join(name), data).unwrap();
    std::fs::write(dir.join(format!("{name}.torrent")), torrent).unwrap();
    hash
}

/// Starts `btmirror get` seeding `data` as `name` (torrent `name.torrent` in `dir`) and waits
/// until the tracker lists it; returns the seeder and the seed's data directory.
fn start_seeder(
    dir: &Path,
    tracker: &Tracker,
    name: &str,
    data: &[u8],
    torrent: &[u8],
    hash: &str,
) -> (Proc, std::path::PathBuf) {
    let seed_dir = dir.join("seed");
    std::fs::create_dir(&seed_dir).unwrap();
    std::fs::write(seed_dir.join(name), data).unwrap();
    let torrent_path = dir.join(format!("{name}.torrent"));
    std::fs::write(&torrent_path, torrent).unwrap();
    let mut get = command(dir);
    get.arg("get")
        .arg(&torrent_path)
        .arg("--dir")
        .arg(&seed_dir)
        .args([
            "--port",
            &support::free_port().to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--state-dir")
        .arg(dir.join("seed-state"));
    let seeder = Proc::spawn(&mut get, &dir.join("seeder.log"));
    assert!(wait_for(T, || (tracker.seeders(hash) == 1).then_some(())).is_some());
    (seeder, seed_dir)
}

#[test]
fn config_typo_exits_2_naming_the_key_and_line() {
    let d = tempfile::tempdir().unwrap();
    let cfg = format!("{}max_upload_rte = \"1MiB\"\n", base_config(d.path()));
    let mut daemon = Daemon::spawn(d.path(), &cfg);
    let status = daemon.proc.wait_exit(T);
    assert_eq!(status.code(), Some(2), "{}", daemon.proc.log());
    let log = daemon.proc.log();
    assert!(
        log.contains("max_upload_rte") && log.contains("line 7"),
        "{log}"
    );
}

#[test]
fn nothing_to_watch_exits_2_saying_what_to_pass() {
    let d = tempfile::tempdir().unwrap();
    let out = command(d.path()).arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("btmirror run DIR") && err.contains("--config"),
        "{err}"
    );
}

/// Issue 15, point 3: a taken port stops the daemon with what to do about it.
#[test]
fn a_taken_port_says_to_pass_another() {
    let d = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = base_config(d.path()).replace("port = 0", &format!("port = {port}"));
    let mut daemon = Daemon::spawn(d.path(), &cfg);
    let status = daemon.proc.wait_exit(T);
    assert_eq!(status.code(), Some(1), "{}", daemon.proc.log());
    let log = daemon.proc.log();
    assert!(
        log.contains(&format!("127.0.0.1:{port}"))
            && log.contains("--port 0")
            && log.contains("port = N"),
        "{log}"
    );
}

#[test]
fn second_instance_on_the_same_state_dir_exits_1() {
    let d = tempfile::tempdir().unwrap();
    let first = Daemon::start(d.path(), &base_config(d.path()));
    let mut second = Daemon::spawn(d.path(), &base_config(d.path()));
    let status = second.proc.wait_exit(T);
    assert_eq!(status.code(), Some(1));
    let log = second.proc.log();
    assert!(log.contains("already running"), "{log}");
    assert!(
        first.try_status().is_some(),
        "the first instance must keep running"
    );
}

#[test]
fn watch_dir_is_the_desired_state() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let daemon = Daemon::start(d.path(), &base_config(d.path()));
    let watch = d.path().join("watch");

    // Added: checked and seeded; the tracker learns about us.
    let a = seed_file(
        &watch,
        "a.bin",
        &random_bytes(100_000, 1),
        &tracker.announce(),
    );
    let s = daemon.wait_status("a seeding", T, |s| all_seeding(s, 1));
    assert_eq!(torrents(&s)[0]["info_hash"], a.as_str());
    assert_eq!(
        torrents(&s)[0]["torrent_file"],
        watch.join("a.bin.torrent").to_str().unwrap()
    );
    assert!(wait_for(T, || (tracker.seeders(&a) == 1).then_some(())).is_some());

    // Replaced under the same name by another torrent: the old stops, the new runs.
    let (b_torrent, b) = make_torrent(
        "b.bin",
        &random_bytes(50_000, 2),
        16384,
        &tracker.announce(),
    );
    std::fs::write(watch.join("b.bin"), random_bytes(50_000, 2)).unwrap();
    std::fs::write(watch.join(".a.tmp"), &b_torrent).unwrap();
    std::fs::rename(watch.join(".a.tmp"), watch.join("a.bin.torrent")).unwrap();
    daemon.wait_status("the replacement seeding", T, |s| {
        all_seeding(s, 1) && torrents(s)[0]["info_hash"] == b.as_str()
    });
    assert!(wait_for(T, || (tracker.seeders(&a) == 0).then_some(())).is_some());

    // Hidden and temporary files are ignored.
    std::fs::write(watch.join("c.torrent.part"), b"d").unwrap();
    std::fs::write(watch.join(".d.torrent"), b"d").unwrap();

    // Removed: announces stopped, data kept, gone from the status.
    std::fs::remove_file(watch.join("a.bin.torrent")).unwrap();
    daemon.wait_status("no torrents", T, |s| torrents(s).is_empty());
    assert!(wait_for(T, || (tracker.seeders(&b) == 0).then_some(())).is_some());
    assert!(watch.join("a.bin").exists() && watch.join("b.bin").exists());
    assert!(watch.join("c.torrent.part").exists() && watch.join(".d.torrent").exists());
}

#[test]
fn slowly_written_torrent_is_an_error_until_complete() {
    let d = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(d.path(), &base_config(d.path()));
    let watch = d.path().join("watch");
    let data = random_bytes(40_000, 3);
    std::fs::write(watch.join("slow.bin"), &data).unwrap();
    let (torrent, hash) = make_torrent("slow.bin", &data, 16384, "http://127.0.0.1:9/announce");
    let (head, tail) = torrent.split_at(torrent.len() / 2);
    let path = watch.join("slow.bin.torrent");
    std::fs::write(&path, head).unwrap();
    let s = daemon.wait_status("an error for the half-written file", T, |s| {
        torrents(s).first().is_some_and(|t| t["state"] == "error")
    });
    let t = &torrents(&s)[0];
    assert_eq!(t["info_hash"], "");
    assert!(t["error"].as_str().is_some_and(|e| !e.is_empty()), "{t}");
    std::thread::sleep(Duration::from_secs(2));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, tail).unwrap();
    drop(f);
    let s = daemon.wait_status("the completed file seeding", T, |s| all_seeding(s, 1));
    assert_eq!(torrents(&s)[0]["info_hash"], hash.as_str());
    // The reason was logged once, not at every retry.
    let log = daemon.proc.log();
    assert_eq!(log.matches("not a usable torrent").count(), 1, "{log}");
}

#[test]
fn two_hundred_torrents_added_at_once() {
    let d = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(d.path(), &base_config(d.path()));
    let watch = d.path().join("watch");
    let staging = d.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    for i in 0..200u64 {
        let name = format!("f{i:03}.bin");
        seed_file(
            &staging,
            &name,
            &random_bytes(2000 + i as usize, i),
            "http://127.0.0.1:9/a",
        );
    }
    for entry in std::fs::read_dir(&staging).unwrap() {
        let p = entry.unwrap().path();
        std::fs::rename(&p, watch.join(p.file_name().unwrap())).unwrap();
    }
    let started = Instant::now();
    daemon.wait_status("200 seeding", Duration::from_secs(60), |s| {
        all_seeding(s, 200)
    });
    eprintln!("200 torrents seeding after {:?}", started.elapsed());
}

#[test]
fn download_survives_kill_9_then_resumes_without_recheck() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let data = random_bytes(2 << 20, 4);
    let (torrent, hash) = make_torrent("big.bin", &data, 32768, &tracker.announce());

    // The other side: `btmirror get` seeding the complete data.
    let (_seeder, seed_dir) = start_seeder(d.path(), &tracker, "big.bin", &data, &torrent, &hash);

    // A slow download, killed with SIGKILL part way.
    let root = d.path().join("mirror");
    let slow = format!("{}max_download_rate = \"256KiB\"\n", base_config(&root));
    let mut daemon = Daemon::start(&root, &slow);
    std::fs::write(root.join("watch/big.bin.torrent"), &torrent).unwrap();
    daemon.wait_status("a partial download", T, |s| {
        torrents(s).first().is_some_and(|t| {
            t["state"] == "downloading" && t["progress"].as_f64().is_some_and(|p| p > 0.3)
        })
    });
    std::thread::sleep(Duration::from_millis(1500)); // let a resume save happen
    daemon.proc.signal(Signal::SIGKILL);
    daemon.proc.wait_exit(T);

    // Restarted without the limit: completes with the right bytes.
    let daemon = Daemon::start(&root, &base_config(&root));
    daemon.wait_status("the download complete", Duration::from_secs(60), |s| {
        all_seeding(s, 1)
    });
    assert_eq!(
        sha256_file(&root.join("watch/big.bin")),
        sha256_file(&seed_dir.join("big.bin"))
    );
    assert!(wait_for(T, || (tracker.seeders(&hash) == 2).then_some(())).is_some());

    // SIGTERM: exit 0 within 10 s, and the tracker drops us (announce `stopped`).
    let mut daemon = daemon;
    let t0 = Instant::now();
    daemon.proc.signal(Signal::SIGTERM);
    let status = daemon.proc.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", daemon.proc.log());
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(
        tracker.seeders(&hash),
        1,
        "the tracker still lists the stopped daemon"
    );

    // Restart with resume data: seeding at once without a check, nothing downloaded again,
    // the lifetime counter kept.
    let log_before = std::fs::read_to_string(root.join("daemon.log"))
        .unwrap()
        .len();
    let daemon = Daemon::start(&root, &base_config(&root));
    daemon.wait_status("seeding from resume data", T, |s| all_seeding(s, 1));
    let log = daemon.proc.log();
    let this_run = log.get(log_before..).unwrap_or_default();
    assert!(this_run.contains("resumed without a check"), "{this_run}");
    std::thread::sleep(Duration::from_secs(2));
    let s2 = daemon.try_status().unwrap();
    assert_eq!(torrents(&s2)[0]["downloaded"], 0, "{s2}");
    assert!(torrents(&s2)[0]["lifetime_downloaded"].as_u64().unwrap() >= data.len() as u64 / 2);
}

#[test]
fn sighup_applies_a_changed_config_and_keeps_it_when_broken() {
    let d = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(d.path(), &base_config(d.path()));
    let other = d.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let hash = seed_file(
        &other,
        "o.bin",
        &random_bytes(30_000, 5),
        "http://127.0.0.1:9/a",
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(torrents(&daemon.try_status().unwrap()).is_empty());

    // A second watch directory: its torrent starts after the reload.
    let cfg = base_config(d.path()).replace(
        "watch = [",
        &format!("max_upload_rate = \"1MiB\"\nwatch = [{other:?}, "),
    );
    std::fs::write(&daemon.config, &cfg).unwrap();
    daemon.proc.signal(Signal::SIGHUP);
    let s = daemon.wait_status("the new directory's torrent", T, |s| all_seeding(s, 1));
    assert_eq!(torrents(&s)[0]["info_hash"], hash.as_str());
    let log = daemon.proc.log();
    assert!(
        log.contains("configuration reloaded") && log.contains("1.0 MiB/s"),
        "{log}"
    );

    // A broken config is reported and the running one kept.
    std::fs::write(&daemon.config, format!("{cfg}bogus_key = 1\n")).unwrap();
    daemon.proc.signal(Signal::SIGHUP);
    assert!(
        wait_for(T, || daemon.proc.log().contains("bogus_key").then_some(())).is_some(),
        "{}",
        daemon.proc.log()
    );
    let s = daemon.try_status().unwrap();
    assert!(all_seeding(&s, 1), "{s}");
    let mut daemon = daemon;
    assert!(daemon.proc.running());
}

#[test]
fn a_torrent_stopped_by_a_full_disk_heals_after_the_cause_is_fixed() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let data = random_bytes(1 << 20, 9);
    let (torrent, hash) = make_torrent("full.bin", &data, 32768, &tracker.announce());
    let (_seeder, seed_dir) = start_seeder(d.path(), &tracker, "full.bin", &data, &torrent, &hash);

    // The data file is /dev/full: every write fails with "no space left on device".
    let root = d.path().join("mirror");
    let daemon = Daemon::start(&root, &base_config(&root));
    std::os::unix::fs::symlink("/dev/full", root.join("watch/full.bin")).unwrap();
    std::fs::write(root.join("watch/full.bin.torrent"), &torrent).unwrap();
    daemon.wait_status("the disk-full error", T, |s| {
        torrents(s).first().is_some_and(|t| {
            t["state"] == "error" && t["error"].as_str().is_some_and(|e| e.contains("space"))
        })
    });
    // The operator frees space (here: replaces the file) and sends SIGHUP: it starts again.
    std::fs::remove_file(root.join("watch/full.bin")).unwrap();
    daemon.proc.signal(Signal::SIGHUP);
    daemon.wait_status("the healed download", Duration::from_secs(60), |s| {
        all_seeding(s, 1)
    });
    assert_eq!(
        sha256_file(&root.join("watch/full.bin")),
        sha256_file(&seed_dir.join("full.bin"))
    );
}

/// Issue 15, point 8: a file given as the watch directory is an error (exit 2).
#[test]
fn a_file_as_the_watch_dir_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("debian.iso.torrent");
    std::fs::write(&file, b"d4:infod4:name1:xee").unwrap();
    let cfg = format!(
        "watch = [{file:?}]\nstate_dir = {:?}\nport = 0\nbind = \"127.0.0.1\"\n",
        d.path().join("state")
    );
    let mut daemon = Daemon::spawn(d.path(), &cfg);
    let status = daemon.proc.wait_exit(T);
    let log = daemon.proc.log();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("not a directory"), "{log}");
}

/// Issue 15, point 8: a missing watch directory shows in `status` and is picked up as soon as
/// it is created (two levels of it missing), long before the periodic rescan.
#[test]
fn a_missing_watch_dir_is_picked_up_once_created() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let root = d.path().join("m");
    let watch = root.join("later/watch");
    let cfg = format!(
        "watch = [{watch:?}]\nstate_dir = {:?}\nport = 0\nbind = \"127.0.0.1\"\nrescan_interval = 600\n",
        root.join("state")
    );
    let daemon = Daemon::start(&root, &cfg);
    let s = daemon.wait_status("the missing dir reported", T, |s| {
        s["watch_errors"][0]["error"] == "missing"
    });
    assert_eq!(s["watch_errors"][0]["dir"], watch.display().to_string());
    let text = command(&root)
        .args(["status", "--state-dir"])
        .arg(root.join("state"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("missing; picked up once it is created"),
        "{text}"
    );

    std::fs::create_dir_all(&watch).unwrap();
    let t0 = Instant::now();
    seed_file(
        &watch,
        "late.bin",
        &random_bytes(64 * 1024, 8),
        &tracker.announce(),
    );
    let s = daemon.wait_status("the new dir's torrent seeding", T, |s| all_seeding(s, 1));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "picked up after {:?}",
        t0.elapsed()
    );
    assert!(s.get("watch_errors").is_none(), "{s}");
}

/// Issue 15, point 8: a data dir the daemon cannot write is found out when the torrent is
/// added (error state, saying why), not after downloading a piece. Root only (a read-only
/// tmpfs mount is the one place root cannot write).
#[test]
fn a_read_only_data_dir_is_an_error_when_the_torrent_is_added() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: needs root to mount a read-only file system");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ro = d.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "btmirror-test-ro"])
        .arg(&ro)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a read-only tmpfs here");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(ro.clone());
    let root = d.path().join("m");
    let cfg = format!("{}data_dir = {ro:?}\n", base_config(&root));
    let daemon = Daemon::start(&root, &cfg);
    let (torrent, _) = make_torrent(
        "r.bin",
        &random_bytes(50_000, 9),
        16384,
        "http://127.0.0.1:1/a",
    );
    std::fs::write(root.join("watch/r.bin.torrent"), torrent).unwrap();
    let s = daemon.wait_status("the torrent in error", T, |s| {
        torrents(s).first().is_some_and(|t| t["state"] == "error")
    });
    let err = torrents(&s)[0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        err.contains("cannot be written") && err.contains("Read-only file system"),
        "{err}"
    );
}

/// The DHT of `run` (issue 12): with `$BTMIRROR_DHT_BOOTSTRAP` empty (as every test runs) the
/// config's `dht_bootstrap` is not used and nothing is sent; the nodes saved in
/// `STATE_DIR/dht_nodes` are asked at start; the status shows the node.
#[test]
fn the_dht_starts_from_the_saved_nodes_and_the_environment_beats_the_config() {
    use std::net::UdpSocket;
    let d = tempfile::tempdir().unwrap();
    let saved = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from_config = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&saved, &from_config] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    // no saved node yet: the config's node is not asked either (the environment wins)
    let config = format!(
        "{}dht_bootstrap = [\"{}\"]\n",
        base_config(d.path()),
        from_config.local_addr().unwrap()
    );
    let daemon = Daemon::start(d.path(), &config);
    let status = daemon.wait_status("the dht object", T, |s| s["dht"].is_object());
    assert_eq!(status["dht"]["state"], "bootstrapping", "{status}");
    from_config
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 1500];
    assert!(
        from_config.recv_from(&mut buf).is_err(),
        "the config's bootstrap node was asked"
    );
    let mut daemon = daemon;
    daemon.proc.signal(Signal::SIGTERM);
    assert_eq!(daemon.proc.wait_exit(T).code(), Some(0));

    // a saved node is asked at start
    std::fs::write(
        d.path().join("state/dht_nodes"),
        format!("{}\n", saved.local_addr().unwrap()),
    )
    .unwrap();
    let daemon = Daemon::start(d.path(), &config);
    let (n, _) = saved
        .recv_from(&mut buf)
        .expect("a query to the saved node");
    assert!(buf[..n].starts_with(b"d"), "a KRPC message");
    assert!(
        from_config.recv_from(&mut buf).is_err(),
        "the config's bootstrap node was asked"
    );
    drop(daemon);
}
