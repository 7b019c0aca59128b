//! transmission-cli 3.00 with its default settings (only DHT, LPD and port forwarding off) on
//! private test hosts (network namespaces, see `PrivateHosts`): it refuses loopback peers, and
//! it tries uTP before TCP. Host A runs a fresh `btmirror tracker` and btmirror, host B
//! transmission; the two clients start at the same moment and find each other through the
//! tracker. Both directions, SHA-256 checked. Needs root; skips with a message without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use btmirror_e2e::{
    Btmirror, HOST_A, PrivateHosts, Proc, Scratch, TRANSFER_TIMEOUT, Torrent, assert_same_content,
    make_torrent, payload, poll_until,
};

use crate::{PIECE, SIZE};

const TRACKER_PORT: u16 = 6969;
const BTMIRROR_PORT: u16 = 6881;
const TRANSMISSION_PORT: u16 = 51413;

/// The hosts, a tracker on host A, and a torrent of a fresh payload announcing to it.
struct Setup {
    torrent: Torrent,
    source: PathBuf,
    _tracker: Proc,
    scratch: Scratch,
    /// Last: the namespaces go after every process in them.
    hosts: PrivateHosts,
}

fn setup(test: &str) -> Option<Setup> {
    let hosts = PrivateHosts::new(test)?;
    let scratch = Scratch::new(test);
    let source = payload(&scratch.dir("src").join(format!("{test}.bin")), SIZE, 77);
    let announce = format!("http://{HOST_A}:{TRACKER_PORT}/announce");
    let torrent = make_torrent(
        &source,
        &announce,
        PIECE,
        &scratch.path().join(format!("{test}.torrent")),
    );
    let mut cmd = hosts.command(0, Btmirror::bin());
    cmd.args(["tracker", "--listen", &format!("{HOST_A}:{TRACKER_PORT}")])
        .args(["--interval", "10"]);
    let tracker = Proc::spawn(
        "btmirror tracker",
        &mut cmd,
        &scratch.path().join("tracker.log"),
    );
    // up when a TCP connection from inside host A succeeds
    let probe = format!("exec 3<>/dev/tcp/{HOST_A}/{TRACKER_PORT}");
    let up = poll_until(Duration::from_secs(20), Duration::from_millis(100), || {
        let ok = hosts
            .command(0, Path::new("bash"))
            .args(["-c", &probe])
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(())
    });
    assert!(
        up.is_some(),
        "{}",
        tracker.failure("the tracker did not come up")
    );
    Some(Setup {
        torrent,
        source,
        _tracker: tracker,
        scratch,
        hosts,
    })
}

/// `btmirror get` on host A with the default transports and debug logs of the engine.
fn btmirror(s: &Setup, dir: &Path, extra: &[&str]) -> Proc {
    let mut cmd = s.hosts.command(0, Btmirror::bin());
    cmd.env("NO_COLOR", "1")
        .env("BTMIRROR_LOG", "engine=debug,info")
        // No DHT bootstrap node: nothing is sent outside the test's hosts.
        .env("BTMIRROR_DHT_BOOTSTRAP", "")
        .env_remove("BTMIRROR_CONFIG")
        .args(["get"])
        .arg(&s.torrent.path)
        .arg("--dir")
        .arg(dir)
        .args(["--port", &BTMIRROR_PORT.to_string(), "--state-dir"])
        .arg(dir.with_extension("state"))
        .args(extra);
    Proc::spawn(
        "btmirror get",
        &mut cmd,
        &dir.with_extension("btmirror.log"),
    )
}

/// transmission-cli on host B with default settings but DHT, LPD and port forwarding off.
/// Returns the process and the done file its finish script creates. Data already in `dir` is
/// verified when the torrent is added (`-v` would make transmission-cli exit after verifying).
fn transmission(s: &Setup, dir: &Path) -> (Proc, PathBuf) {
    let config = dir.with_extension("transmission");
    std::fs::create_dir_all(&config).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    let settings = serde_json::json!({
        "dht-enabled": false, "lpd-enabled": false, "port-forwarding-enabled": false,
        "peer-port": TRANSMISSION_PORT, "rpc-enabled": false, "download-dir": dir,
        "message-level": 2
    });
    std::fs::write(config.join("settings.json"), settings.to_string())
        .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    let done = dir.with_extension("transmission.done");
    let script = config.join("done.sh");
    std::fs::write(&script, format!("#!/bin/sh\n: > '{}'\n", done.display()))
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    let mut cmd: Command = s.hosts.command(1, Path::new("transmission-cli"));
    cmd.current_dir(dir)
        .arg("-g")
        .arg(&config)
        .arg("-w")
        .arg(dir);
    cmd.arg("-f").arg(&script).arg(&s.torrent.path);
    let log = dir.with_extension("transmission.log");
    (Proc::spawn("transmission-cli", &mut cmd, &log), done)
}

/// Which transports btmirror's debug log shows peers connected over.
fn transports_seen(log: &str) -> Vec<&'static str> {
    let connected: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("peer connected"))
        .collect();
    ["tcp", "utp"]
        .into_iter()
        .filter(|t| {
            connected.iter().any(|l| {
                l.contains(&format!("transport=\"{t}\"")) || l.contains(&format!("transport={t}"))
            })
        })
        .collect()
}

#[test]
fn transmission_downloads_from_btmirror_on_private_hosts() {
    let Some(s) = setup("tr-hosts-from-btm") else {
        return;
    };
    let seed_dir = s.scratch.dir("seed");
    std::fs::copy(&s.source, s.torrent.data_in(&seed_dir)).unwrap_or_else(|e| panic!("copy: {e}"));
    let leech_dir = s.scratch.dir("leech");
    let mut seed = btmirror(&s, &seed_dir, &[]);
    let (mut leech, done) = transmission(&s, &leech_dir);
    let finished = poll_until(TRANSFER_TIMEOUT, Duration::from_millis(100), || {
        if done.exists() {
            return Some(Ok(()));
        }
        leech.try_status().map(Err)
    });
    match finished {
        Some(Ok(())) => {}
        Some(Err(st)) => panic!("{}", leech.failure(&format!("exited with {st}"))),
        None => panic!(
            "{}\n{}",
            leech.failure("did not complete"),
            seed.log_tail(40)
        ),
    }
    assert_same_content(&s.source, &s.torrent.data_in(&leech_dir));
    eprintln!(
        "btmirror served transmission over {:?}",
        transports_seen(&seed.log())
    );
    assert!(seed.is_running(), "{}", seed.failure("the seed died"));
}

#[test]
fn btmirror_downloads_from_transmission_on_private_hosts() {
    let Some(s) = setup("tr-hosts-to-btm") else {
        return;
    };
    let seed_dir = s.scratch.dir("seed");
    std::fs::copy(&s.source, s.torrent.data_in(&seed_dir)).unwrap_or_else(|e| panic!("copy: {e}"));
    let leech_dir = s.scratch.dir("leech");
    let (mut seed, _) = transmission(&s, &seed_dir);
    let mut leech = btmirror(&s, &leech_dir, &["--no-seed"]);
    let status = leech.wait_exit(TRANSFER_TIMEOUT);
    assert!(
        status.success(),
        "{}\n{}",
        leech.failure(&format!("exited with {status}")),
        seed.log_tail(40)
    );
    assert_same_content(&s.source, &s.torrent.data_in(&leech_dir));
    eprintln!(
        "btmirror downloaded from transmission over {:?}",
        transports_seen(&leech.log())
    );
    assert!(seed.is_running(), "{}", seed.failure("transmission died"));
}
