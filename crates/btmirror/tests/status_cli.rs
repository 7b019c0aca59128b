//! `btmirror status` through the real binary: one error line and exit 1 when no daemon
//! listens, and the table and the design's JSON when a daemon (here a stand-in speaking the
//! control protocol on a unix socket) answers. Also `top` refusing to run without a terminal.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output};

fn btmirror(args: &[&str], state_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_btmirror"))
        .args(args)
        .env("BTMIRROR_DHT_BOOTSTRAP", "")
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("BTMIRROR_LOG")
        .output()
        .expect("running btmirror")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The status a stand-in daemon reports.
fn status_json() -> serde_json::Value {
    serde_json::json!({
        "torrents": [
            {"name": "alpha.iso", "info_hash": "00112233445566778899aabbccddeeff00112233",
             "torrent_file": "/w/alpha.iso.torrent", "state": "seeding", "progress": 1.0,
             "size": 1048576, "downloaded": 0, "uploaded": 2097152, "download_rate": 0,
             "upload_rate": 4096, "peers": 3, "seeds": 0, "error": null,
             "peers_encrypted": 2, "peers_rc4": 1, "peers_plaintext": 1,
             "lifetime_uploaded": 2097152, "lifetime_downloaded": 0, "tracker_error": null, "web_seeds": [],
             "peers_tcp": 2, "peers_utp": 1},
            {"name": "beta.tar", "info_hash": "", "torrent_file": "/w/beta.tar.torrent",
             "state": "error", "progress": 0.0, "size": 0, "downloaded": 0, "uploaded": 0,
             "download_rate": 0, "upload_rate": 0, "peers": 0, "seeds": 0,
             "peers_encrypted": 0, "peers_rc4": 0, "peers_plaintext": 0,
             "error": "invalid torrent: bad bencode at byte 7",
             "lifetime_uploaded": 0, "lifetime_downloaded": 0, "tracker_error": null, "web_seeds": [],
             "peers_tcp": 0, "peers_utp": 0}
        ],
        "totals": {"uploaded": 2097152, "downloaded": 0, "upload_rate": 4096, "download_rate": 0,
                   "lifetime_uploaded": 2097152, "lifetime_downloaded": 0,
                   "peers_tcp": 2, "peers_utp": 1},
        "listen_port": 51413,
        "version": "0.1.0",
        "encryption": {"policy": "prefer", "incoming_plaintext": 1, "incoming_encrypted": 2,
                       "incoming_encrypted_failed": 0, "incoming_refused": 0,
                       "outgoing_plaintext": 0, "outgoing_encrypted": 0, "outgoing_retries": 0}
    })
}

/// Serves `count` connections on `dir/control.sock` with protocol version 1, checking each
/// request line.
fn stand_in_daemon(dir: &Path, count: usize) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(dir.join("control.sock")).expect("binding the socket");
    std::thread::spawn(move || {
        for _ in 0..count {
            let (stream, _) = listener.accept().expect("accepting");
            let mut reader = BufReader::new(stream.try_clone().expect("cloning the stream"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("reading the request");
            let req: serde_json::Value = serde_json::from_str(&line).expect("the request is JSON");
            assert_eq!(req["command"], "status");
            assert_eq!(req["version"], 1);
            let answer = serde_json::json!({"version": 1, "status": status_json()});
            writeln!(&stream, "{answer}").expect("writing the answer");
        }
    })
}

#[test]
fn status_without_a_daemon_exits_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["status"][..], &["status", "--json"]] {
        let out = btmirror(args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        let err = text(&out.stderr);
        let sock = dir.path().join("control.sock");
        assert_eq!(
            err,
            format!(
                "btmirror: error: no btmirror daemon is listening on {} (is it running? use --state-dir or --config); \
                 asked there because of --state-dir\n",
                sock.display()
            )
        );
    }
}

#[test]
fn status_prints_a_table_and_json_from_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = stand_in_daemon(dir.path(), 2);

    let out = btmirror(&["status"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("RATIO"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("alpha.iso") && lines[1].contains("seeding"),
        "{table}"
    );
    assert!(
        lines[1].contains("4.0 KiB/s") && lines[1].contains("3/0") && lines[1].contains("2.00"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("beta.tar") && lines[2].contains("error"),
        "{table}"
    );
    assert_eq!(
        lines[3],
        "    error: invalid torrent: bad bencode at byte 7"
    );
    assert!(
        lines[4].starts_with("2 torrents (1 seeding, 1 error)") && lines[4].contains("port 51413"),
        "{table}"
    );

    let out = btmirror(&["status", "--json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, status_json(), "the JSON passes through unchanged");
    daemon.join().unwrap();
}

#[test]
fn top_needs_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = btmirror(&["top"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.lines().count() == 1,
        "{err}"
    );
}

/// `btmirror ARGS` with `envs` set and no `--state-dir`, in a clean environment with HOME set.
fn btmirror_env(args: &[&str], home: &Path, envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_btmirror"));
    cmd.args(args)
        .env_clear()
        .env("HOME", home)
        .env("BTMIRROR_DHT_BOOTSTRAP", "")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running btmirror")
}

/// Issue 15, point 2: `status` finds the daemon through the config's `state_dir`, as `run`
/// does: `--config`, `$BTMIRROR_CONFIG` and the user's config file; a miss names the socket
/// and why it was asked.
#[test]
fn status_finds_the_state_dir_through_the_config() {
    let home = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let cfg = home.path().join("daemon.toml");
    std::fs::write(
        &cfg,
        format!("state_dir = {:?}\n", state.path().to_str().unwrap()),
    )
    .unwrap();
    let user_cfg = home.path().join(".config/btmirror/btmirror.toml");
    std::fs::create_dir_all(user_cfg.parent().unwrap()).unwrap();
    std::fs::copy(&cfg, &user_cfg).unwrap();
    let daemon = stand_in_daemon(state.path(), 3);
    let cfg_s = cfg.to_str().unwrap();
    for (args, envs) in [
        (vec!["status", "--json", "--config", cfg_s], vec![]),
        (
            vec!["status", "--json"],
            vec![("BTMIRROR_CONFIG", cfg.as_path())],
        ),
        (vec!["status", "--json"], vec![]),
    ] {
        let out = btmirror_env(&args, home.path(), &envs);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed, status_json());
    }
    daemon.join().unwrap();

    // No daemon there: the error names the socket and the config that led to it.
    std::fs::remove_file(state.path().join("control.sock")).unwrap();
    let out = btmirror_env(&["status", "--config", cfg_s], home.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let sock = state.path().join("control.sock");
    assert!(
        err.contains(&sock.display().to_string())
            && err.contains(&format!("state_dir in {cfg_s} (--config)")),
        "{err}"
    );
}
