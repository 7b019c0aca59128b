//! Issue 15, point 6: stops as supervisors send them. GNU `timeout` signals the child and then
//! its process group, so one stop arrives as two SIGTERMs at once: that is one clean stop, not
//! "exiting without cleaning up". A `get` interrupted before its data is complete exits
//! non-zero and says how far it got.

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
    Daemon, Proc, Tracker, all_seeding, base_config, command, free_port, make_torrent,
    random_bytes, wait_for,
};

const T: Duration = Duration::from_secs(30);

/// A daemon seeding one small torrent under `root`.
fn seeding_daemon(root: &std::path::Path, tracker: &Tracker) -> Daemon {
    let data = random_bytes(256 * 1024, 3);
    let (torrent, _) = make_torrent("s.bin", &data, 16384, &tracker.announce());
    let daemon = Daemon::start(root, &base_config(root));
    std::fs::write(root.join("watch/s.bin"), &data).unwrap();
    std::fs::write(root.join("watch/s.bin.torrent"), &torrent).unwrap();
    daemon.wait_status("seeding", T, |s| all_seeding(s, 1));
    daemon
}

fn assert_clean_stop(log: &str) {
    assert!(!log.contains("without cleaning up"), "{log}");
    assert!(log.contains("saving resume data of"), "{log}");
    assert!(log.trim_end().ends_with("stopped"), "{log}");
}

#[test]
fn two_sigterms_at_once_are_one_clean_stop() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let mut daemon = seeding_daemon(&d.path().join("m"), &tracker);
    daemon.proc.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(20));
    daemon.proc.signal(Signal::SIGTERM);
    let status = daemon.proc.wait_exit(T);
    let log = daemon.proc.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_clean_stop(&log);
}

#[test]
fn under_gnu_timeout_the_daemon_stops_cleanly() {
    if std::process::Command::new("timeout")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: GNU timeout (coreutils) is not installed");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("m");
    std::fs::create_dir_all(root.join("watch")).unwrap();
    let cfg = root.join("btmirror.toml");
    std::fs::write(&cfg, base_config(&root)).unwrap();
    // Three runs: before the fix, two in three ended "exiting without cleaning up".
    for run in 0..3 {
        let mut timeout = std::process::Command::new("timeout");
        timeout
            .args(["-s", "TERM", "3"])
            .arg(support::bin())
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .env("HOME", &root)
            .env("NO_COLOR", "1")
            // No DHT bootstrap node: nothing leaves the machine.
            .env("BTMIRROR_DHT_BOOTSTRAP", "")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("BTMIRROR_LOG");
        let log_file = d.path().join(format!("run{run}.log"));
        let mut p = Proc::spawn(&mut timeout, &log_file);
        let status = p.wait_exit(T);
        let log = p.log();
        // 124: timeout's own status when it had to stop the command.
        assert_eq!(status.code(), Some(124), "run {run}: {log}");
        assert!(!log.contains("without cleaning up"), "run {run}: {log}");
        assert!(log.trim_end().ends_with("stopped"), "run {run}: {log}");
    }
}

#[test]
fn an_interrupted_get_exits_non_zero_saying_how_far_it_got() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let data = random_bytes(128 * 1024, 4);
    let (torrent, _) = make_torrent("g.bin", &data, 16384, &tracker.announce());
    let file = d.path().join("g.bin.torrent");
    std::fs::write(&file, &torrent).unwrap();
    let out_dir = d.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // No seed anywhere: the download waits for peers until it is interrupted.
    let mut get = command(d.path());
    get.arg("get")
        .arg(&file)
        .arg("--dir")
        .arg(&out_dir)
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .arg("--state-dir")
        .arg(d.path().join("state"));
    let mut p = Proc::spawn(&mut get, &d.path().join("get.log"));
    let started = wait_for(T, || p.log().contains("starting").then_some(()));
    assert!(started.is_some(), "{}", p.log());
    std::thread::sleep(Duration::from_millis(1500));
    p.signal(Signal::SIGTERM);
    let status = p.wait_exit(T);
    let log = p.log();
    assert!(!status.success(), "{status}: {log}");
    assert!(
        log.contains("interrupted at 0.0% (0 B of 128.0 KiB)"),
        "{log}"
    );
}

/// Issue 17 (smaller): a tracker's failure text with terminal escape sequences reaches stderr
/// (not a terminal here, as under nohup or a pipe) escaped, in log lines and in the error line.
/// (Torrent names cannot carry them: they are sanitised when the torrent is read.)
#[test]
fn escape_sequences_from_a_tracker_are_escaped_on_stderr() {
    use std::io::{Read as _, Write as _};
    let d = tempfile::tempdir().unwrap();
    let tracker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tracker.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let reason = "\u{1b}]0;pwned\u{7}\u{1b}[2Jgo away";
        let body = format!("d14:failure reason{}:{reason}e", reason.len());
        for conn in tracker.incoming().take(20) {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let announce = format!("http://127.0.0.1:{port}/announce");
    let (torrent, _) = make_torrent("x.bin", b"data", 16384, &announce);
    let file = d.path().join("x.torrent");
    std::fs::write(&file, &torrent).unwrap();
    let out = command(d.path())
        .arg("get")
        .arg(&file)
        .arg("--dir")
        .arg(d.path())
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .arg("--state-dir")
        .arg(d.path().join("state"))
        .env("BTMIRROR_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    let escaped = "\\x1b]0;pwned\\x07\\x1b[2Jgo away";
    let error_line = err.lines().last().unwrap_or_default();
    assert!(
        error_line.starts_with("btmirror: error:") && error_line.contains(escaped),
        "{err}"
    );
}
