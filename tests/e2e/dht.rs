//! Trackerless torrents through a private DHT on 127.0.0.1 (issue 12): python3-libtorrent
//! sessions (`tests/scripts/lt_dht_peer.py`, bootstrap replaced, LSD/UPnP/NAT-PMP off) and
//! btmirror, every node bootstrapping from a loopback node only. The torrents have no tracker
//! and the magnets no `tr` or `x.pe`: every peer comes from the DHT. A daemon killed (-9) while
//! it looks for a magnet's metadata completes it after a restart.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use btmirror_e2e::{Btmirror, Proc, Scratch, TRANSFER_TIMEOUT, free_port, payload, sha256_file};

/// Small: the DHT is what is tested, and aria2/libtorrent share two cores with a debug build.
const DHT_SIZE: u64 = 2 * 1024 * 1024 + 777;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lt_dht_peer.py");

fn python() -> PathBuf {
    std::env::var_os("BTMIRROR_E2E_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// Starts the script with `args`, logging to `log`.
fn lt(name: &str, args: &[&OsStr], log: &Path) -> Proc {
    let mut cmd = Command::new(python());
    cmd.env("PYTHONUNBUFFERED", "1").arg(SCRIPT).args(args);
    Proc::spawn(name, &mut cmd, log)
}

/// A trackerless torrent of `file` written by libtorrent; returns its info-hash (hex).
fn make_trackerless(file: &Path, torrent: &Path) -> String {
    let out = Command::new(python())
        .arg(SCRIPT)
        .arg("make")
        .arg(file)
        .arg(torrent)
        .output()
        .expect("running lt_dht_peer.py make");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "make: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("HASH "))
        .expect("the info-hash")
        .trim()
        .to_owned();
    let bytes = std::fs::read(torrent).expect("the torrent");
    assert!(
        !bytes.windows(10).any(|w| w == b"8:announce"),
        "no tracker in the torrent"
    );
    hash
}

/// A libtorrent DHT node with no bootstrap node, the entry point of the others.
fn router(scratch: &Scratch) -> (Proc, String) {
    let port = free_port();
    let log = scratch.path().join("router.log");
    let mut p = lt(
        &format!("libtorrent router :{port}"),
        &[OsStr::new("router"), OsStr::new(&port.to_string())],
        &log,
    );
    p.wait_for_log(Duration::from_secs(30), "ROUTER", |l| {
        l.starts_with("ROUTER")
    });
    (p, format!("127.0.0.1:{port}"))
}

/// Waits until the router was told of an announce (libtorrent's `dht_announce_alert`).
fn wait_announced(router: &mut Proc) {
    router.wait_for_log(Duration::from_secs(60), "an incoming announce", |l| {
        l.starts_with("dht_announce_alert")
    });
}

/// The payload and its trackerless torrent in `scratch/seed`.
fn trackerless(scratch: &Scratch, name: &str) -> (PathBuf, PathBuf, String) {
    let seed_dir = scratch.dir("seed");
    let file = payload(&seed_dir.join(format!("{name}.bin")), DHT_SIZE, 0xd47);
    let torrent = scratch.path().join(format!("{name}.torrent"));
    let hash = make_trackerless(&file, &torrent);
    (file, torrent, hash)
}

#[test]
fn get_downloads_a_trackerless_torrent_from_a_libtorrent_seed_found_in_the_dht() {
    let scratch = Scratch::new("dht-get");
    let (file, torrent, _) = trackerless(&scratch, "dht-get");
    let (mut router, boot) = router(&scratch);
    let seed_port = free_port();
    let _seed = lt(
        "libtorrent seed",
        &[
            OsStr::new("seed"),
            torrent.as_os_str(),
            file.parent().unwrap_or(Path::new(".")).as_os_str(),
            OsStr::new(&seed_port.to_string()),
            OsStr::new(&boot),
        ],
        &scratch.path().join("seed.log"),
    );
    wait_announced(&mut router);

    let dir = scratch.dir("leech");
    let mut leech = Btmirror::get_source(
        torrent.as_os_str(),
        &dir,
        free_port(),
        &["--no-seed", "--dht-bootstrap", &boot],
    );
    leech.wait_done(TRANSFER_TIMEOUT);
    assert_eq!(
        sha256_file(&dir.join("dht-get.bin")),
        sha256_file(&file),
        "SHA-256 of the download"
    );

    // `--state-dir` (the harness gives every `get` DIR.state) keeps the DHT's nodes: a second
    // `get` with no bootstrap node at all finds the seed through the nodes the first saved.
    let saved = scratch.path().join("leech.state").join("dht_nodes");
    let nodes =
        btmirror_e2e::poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
            std::fs::read_to_string(&saved).ok()
        })
        .unwrap_or_else(|| panic!("{} was not written", saved.display()));
    assert!(
        nodes.lines().any(|l| l.starts_with("127.0.0.1:")),
        "loopback nodes saved: {nodes:?}"
    );
    let again = scratch.dir("leech-again");
    let again_state = scratch.path().join("leech-again.state");
    std::fs::create_dir_all(&again_state).expect("state dir");
    std::fs::write(again_state.join("dht_nodes"), &nodes).expect("saved nodes");
    let mut leech = Btmirror::get_source(torrent.as_os_str(), &again, free_port(), &["--no-seed"]);
    leech.wait_done(TRANSFER_TIMEOUT);
    assert_eq!(
        sha256_file(&again.join("dht-get.bin")),
        sha256_file(&file),
        "SHA-256 of the download from the saved nodes"
    );
}

#[test]
fn get_fetches_a_magnet_with_only_xt_and_dn_from_a_libtorrent_seed_found_in_the_dht() {
    let scratch = Scratch::new("dht-magnet");
    let (file, torrent, hash) = trackerless(&scratch, "dht-magnet");
    let (mut router, boot) = router(&scratch);
    let _seed = lt(
        "libtorrent seed",
        &[
            OsStr::new("seed"),
            torrent.as_os_str(),
            file.parent().unwrap_or(Path::new(".")).as_os_str(),
            OsStr::new(&free_port().to_string()),
            OsStr::new(&boot),
        ],
        &scratch.path().join("seed.log"),
    );
    wait_announced(&mut router);

    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=dht-magnet.bin");
    let dir = scratch.dir("leech");
    let mut leech = Btmirror::get_source(
        OsStr::new(&magnet),
        &dir,
        free_port(),
        &["--no-seed", "--dht-bootstrap", &boot],
    );
    leech.wait_done(TRANSFER_TIMEOUT);
    assert_eq!(
        sha256_file(&dir.join("dht-magnet.bin")),
        sha256_file(&file),
        "SHA-256 of the download"
    );
}

/// `btmirror run` seeding `torrent` (its data beside it in the watch dir) with `boot` as its
/// only bootstrap node.
fn run_seed(scratch: &Scratch, file: &Path, torrent: &Path, boot: &str) -> Proc {
    let watch = scratch.dir("watch");
    let name = file.file_name().unwrap_or_default();
    std::fs::copy(file, watch.join(name)).expect("copy the data");
    std::fs::copy(torrent, watch.join("t.torrent")).expect("copy the torrent");
    let mut cmd = run_command(&watch, &scratch.dir("state"), boot);
    Proc::spawn("btmirror run", &mut cmd, &scratch.path().join("run.log"))
}

/// `btmirror run WATCH` on 127.0.0.1 with its state in `state`, bootstrapping from `boot` only.
fn run_command(watch: &Path, state: &Path, boot: &str) -> Command {
    let mut cmd = Btmirror::command();
    cmd.arg("run")
        .arg(watch)
        .arg("--state-dir")
        .arg(state)
        .arg("--port")
        .arg(free_port().to_string())
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--dht-bootstrap")
        .arg(boot);
    cmd
}

/// A libtorrent leecher of `source` (a `.torrent` or a magnet) into `dir`, bootstrapping from
/// `boot`; returns once it reports the download complete.
fn lt_leech_until_done(scratch: &Scratch, name: &str, source: &OsStr, dir: &Path, boot: &str) {
    let done = scratch.path().join("leech.done");
    let mut leech = lt(
        name,
        &[
            OsStr::new("leech"),
            source,
            dir.as_os_str(),
            OsStr::new(&free_port().to_string()),
            OsStr::new(boot),
            done.as_os_str(),
        ],
        &scratch.path().join("leech.log"),
    );
    leech.wait_for_log(TRANSFER_TIMEOUT, "DONE", |l| l == "DONE");
}

#[test]
fn a_libtorrent_leecher_finds_a_btmirror_run_seed_in_the_dht() {
    let scratch = Scratch::new("dht-run");
    let (file, torrent, _) = trackerless(&scratch, "dht-run");
    let (mut router, boot) = router(&scratch);
    let mut daemon = run_seed(&scratch, &file, &torrent, &boot);
    wait_announced(&mut router);

    let dir = scratch.dir("leech");
    lt_leech_until_done(
        &scratch,
        "libtorrent leech",
        torrent.as_os_str(),
        &dir,
        &boot,
    );
    assert_eq!(
        sha256_file(&dir.join("dht-run.bin")),
        sha256_file(&file),
        "SHA-256 of the download"
    );
    // the daemon saves its table at exit
    daemon.terminate(Duration::from_secs(10));
    let saved = std::fs::read_to_string(scratch.path().join("state/dht_nodes")).unwrap_or_default();
    assert!(
        saved.lines().any(|l| l == boot),
        "dht_nodes: {saved:?}\n{}",
        daemon.log_tail(30)
    );
}

#[test]
fn aria2_finds_a_btmirror_run_seed_in_the_dht() {
    let scratch = Scratch::new("dht-aria2");
    let (file, torrent, _) = trackerless(&scratch, "dht-aria2");
    let (mut router, boot) = router(&scratch);
    let _daemon = run_seed(&scratch, &file, &torrent, &boot);
    wait_announced(&mut router);

    let dir = scratch.dir("leech");
    let (router_port, dht_port) = (boot.rsplit(':').next().unwrap_or("0"), free_port());
    let mut cmd = Command::new("aria2c");
    cmd.arg("--enable-dht=true")
        .arg("--enable-dht6=false")
        .arg(format!("--dht-entry-point=127.0.0.1:{router_port}"))
        .arg(format!("--dht-listen-port={dht_port}"))
        .arg(format!(
            "--dht-file-path={}",
            scratch.path().join("aria2-dht.dat").display()
        ))
        .arg("--bt-enable-lpd=false")
        .arg("--enable-peer-exchange=false")
        .arg(format!("--listen-port={}", free_port()))
        .arg("--seed-time=0")
        .arg("--summary-interval=0")
        .arg("--console-log-level=notice")
        .arg("--check-integrity=false")
        .arg(format!("--dir={}", dir.display()))
        .arg(&torrent);
    let mut aria2 = Proc::spawn("aria2c", &mut cmd, &scratch.path().join("aria2.log"));
    aria2.wait_success(TRANSFER_TIMEOUT);
    assert_eq!(
        sha256_file(&dir.join("dht-aria2.bin")),
        sha256_file(&file),
        "SHA-256 of the download"
    );
}

#[test]
fn run_fetches_a_watched_magnet_with_only_xt_and_dn_through_the_dht() {
    let scratch = Scratch::new("dht-run-magnet");
    let (file, torrent, hash) = trackerless(&scratch, "dht-run-magnet");
    let (mut router, boot) = router(&scratch);
    let _seed = lt(
        "libtorrent seed",
        &[
            OsStr::new("seed"),
            torrent.as_os_str(),
            file.parent().unwrap_or(Path::new(".")).as_os_str(),
            OsStr::new(&free_port().to_string()),
            OsStr::new(&boot),
        ],
        &scratch.path().join("seed.log"),
    );
    wait_announced(&mut router);

    let watch = scratch.dir("watch");
    std::fs::write(
        watch.join("dht-run-magnet.magnet"),
        format!("magnet:?xt=urn:btih:{hash}&dn=dht-run-magnet.bin\n"),
    )
    .expect("write the .magnet");
    let mut cmd = run_command(&watch, &scratch.dir("state"), &boot);
    let mut daemon = Proc::spawn("btmirror run", &mut cmd, &scratch.path().join("run.log"));
    let want = sha256_file(&file);
    let got = btmirror_e2e::poll_until(TRANSFER_TIMEOUT, Duration::from_millis(250), || {
        let data = watch.join("dht-run-magnet.bin");
        (data.metadata().is_ok_and(|m| m.len() == DHT_SIZE) && sha256_file(&data) == want)
            .then_some(())
    });
    assert!(
        got.is_some(),
        "{}",
        daemon.failure("did not fetch the magnet's data")
    );
    daemon.terminate(Duration::from_secs(10));
}

#[test]
fn a_libtorrent_magnet_gets_metadata_and_data_from_a_btmirror_run_seed_found_in_the_dht() {
    let scratch = Scratch::new("dht-lt-magnet");
    let (file, torrent, hash) = trackerless(&scratch, "dht-lt-magnet");
    let (mut router, boot) = router(&scratch);
    let mut daemon = run_seed(&scratch, &file, &torrent, &boot);
    wait_announced(&mut router);

    // Only xt and dn: no tracker, no peer address; the metadata comes from the btmirror seed.
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=dht-lt-magnet.bin");
    let dir = scratch.dir("leech");
    let name = "libtorrent magnet leech";
    lt_leech_until_done(&scratch, name, OsStr::new(&magnet), &dir, &boot);
    assert_eq!(
        sha256_file(&dir.join("dht-lt-magnet.bin")),
        sha256_file(&file),
        "SHA-256 of the download"
    );
    daemon.terminate(Duration::from_secs(10));
}

/// The state of the torrent `name` in a daemon's `status --json`, if it is listed.
fn torrent_state(state_dir: &Path, name: &str) -> Option<String> {
    let out = Btmirror::command()
        .arg("status")
        .arg("--json")
        .arg("--state-dir")
        .arg(state_dir)
        .output()
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json["torrents"].as_array()?.iter().find_map(|t| {
        (t["name"].as_str()? == name).then(|| t["state"].as_str().map(str::to_owned))?
    })
}

#[test]
fn a_daemon_killed_while_fetching_a_magnets_metadata_completes_it_after_a_restart() {
    let scratch = Scratch::new("dht-kill-magnet");
    let (file, torrent, hash) = trackerless(&scratch, "dht-kill-magnet");
    let (mut router, boot) = router(&scratch);
    let watch = scratch.dir("watch");
    let state = scratch.dir("state");
    std::fs::write(
        watch.join("dht-kill-magnet.magnet"),
        format!("magnet:?xt=urn:btih:{hash}&dn=dht-kill-magnet.bin\n"),
    )
    .expect("write the .magnet");
    let daemon_cmd = || run_command(&watch, &state, &boot);
    // No seed yet: the daemon looks for the metadata in the DHT, and is killed doing so.
    let mut first = Proc::spawn(
        "btmirror run",
        &mut daemon_cmd(),
        &scratch.path().join("run1.log"),
    );
    let fetching = btmirror_e2e::poll_until(TRANSFER_TIMEOUT, Duration::from_millis(250), || {
        (torrent_state(&state, "dht-kill-magnet.bin").as_deref() == Some("metadata")).then_some(())
    });
    assert!(
        fetching.is_some(),
        "{}",
        first.failure("never showed the magnet fetching its metadata")
    );
    std::thread::sleep(Duration::from_secs(2));
    first.signal(nix::sys::signal::Signal::SIGKILL);
    first.wait_exit(Duration::from_secs(10));

    let _seed = lt(
        "libtorrent seed",
        &[
            OsStr::new("seed"),
            torrent.as_os_str(),
            file.parent().unwrap_or(Path::new(".")).as_os_str(),
            OsStr::new(&free_port().to_string()),
            OsStr::new(&boot),
        ],
        &scratch.path().join("seed.log"),
    );
    wait_announced(&mut router);
    let mut second = Proc::spawn(
        "btmirror run",
        &mut daemon_cmd(),
        &scratch.path().join("run2.log"),
    );
    let want = sha256_file(&file);
    let data = watch.join("dht-kill-magnet.bin");
    let got = btmirror_e2e::poll_until(TRANSFER_TIMEOUT, Duration::from_millis(250), || {
        (data.metadata().is_ok_and(|m| m.len() == DHT_SIZE) && sha256_file(&data) == want)
            .then_some(())
    });
    assert!(
        got.is_some(),
        "{}",
        second.failure("did not complete the magnet after the restart")
    );
    second.terminate(Duration::from_secs(10));
}
