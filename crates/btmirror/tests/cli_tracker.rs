//! `btmirror tracker` through the real binary on 127.0.0.1: it says where it listens, tells
//! systemd `READY=1`, answers `/stats.json`, survives SIGHUP and exits 0 on SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Kills the tracker if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connecting to the tracker");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("setting a read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sending the request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("reading the response");
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_owned(), body.to_owned())
}

fn signal(child: &Child, sig: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits i32"));
    kill(pid, sig).expect("signalling the tracker");
}

#[test]
fn tracker_serves_stats_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_btmirror"))
        .args(["tracker", "--listen", "127.0.0.1:0", "--allowed-dir"])
        .arg(&allowed)
        .arg("--state")
        .arg(dir.path().join("state.json"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("BTMIRROR_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(child);

    // Forward stderr lines to the test; find the announced address.
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr: SocketAddr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the tracker never said where it listens");
        if let Some(rest) = line.split("serving http://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("no READY=1 from the tracker");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));

    let (head, body) = get(addr, "/stats.json");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("stats.json is JSON");
    assert!(json.is_object(), "{body}");

    // SIGHUP rescans instead of killing the process.
    signal(&child.0, Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("no log line about SIGHUP");
        if line.contains("SIGHUP") {
            break;
        }
    }
    let (head, _) = get(addr, "/stats.json");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    signal(&child.0, Signal::SIGTERM);
    let n = notify
        .recv(&mut buf)
        .expect("no STOPPING=1 from the tracker");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the tracker did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn tracker_with_a_missing_allowed_dir_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_btmirror"))
        .args([
            "tracker",
            "--listen",
            "127.0.0.1:0",
            "--allowed-dir",
            "/nonexistent/btmirror-test",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allowed-dir"), "{err}");
}

/// Issue 15, point 7: a misspelt `BTMIRROR_LOG` is reported on stderr and the default level is
/// used, instead of silencing every log line.
#[test]
fn a_misspelt_log_level_warns_and_keeps_logging() {
    for value in ["warning", "verbose"] {
        let child = Command::new(env!("CARGO_BIN_EXE_btmirror"))
            .args(["tracker", "--listen", "127.0.0.1:0"])
            .env("BTMIRROR_LOG", value)
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Guard(child);
        let stderr = child.0.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("nothing on stderr");
        assert!(
            first.contains("warning") && first.contains(&format!("BTMIRROR_LOG=\"{value}\"")),
            "{first}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("no info line: the bad filter silenced the log");
            if line.contains("serving http://") {
                break;
            }
        }
        signal(&child.0, Signal::SIGTERM);
    }
}
