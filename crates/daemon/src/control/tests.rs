//! Tests of the control protocol's request handling (the socket itself is exercised in
//! `tests/status_control.rs`).

use super::*;
use std::path::Path;

fn report_fn() -> ReportFn {
    Arc::new(|| StatusReport {
        listen_port: 7000,
        version: "1.2.3".into(),
        ..StatusReport::default()
    })
}

#[test]
fn bare_word_and_json_requests_answer_status() {
    for line in [
        &b"status\n"[..],
        b"  status\r\n",
        br#"{"version":1,"command":"status"}"#,
        br#"{"command":"status"}"#,
    ] {
        let r = answer(line, &report_fn());
        assert_eq!(r.version, PROTOCOL_VERSION);
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.status.unwrap().listen_port, 7000);
    }
}

#[test]
fn unknown_and_bad_requests_are_errors() {
    let r = answer(b"frobnicate\n", &report_fn());
    assert!(r.status.is_none());
    let e = r.error.unwrap();
    assert!(e.contains("unknown command \"frobnicate\""), "{e}");
    assert!(e.contains("status"), "names the known commands: {e}");

    let e = answer(b"{\"command\":", &report_fn()).error.unwrap();
    assert!(e.starts_with("bad request"), "{e}");
    let e = answer(b"\xff\xfe\n", &report_fn()).error.unwrap();
    assert!(e.contains("UTF-8"), "{e}");
    let e = answer(br#"{"version":2,"command":"status"}"#, &report_fn())
        .error
        .unwrap();
    assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
}

#[test]
fn responses_serialize_with_one_of_status_or_error() {
    let ok = serde_json::to_value(answer(b"status", &report_fn())).unwrap();
    assert_eq!(ok["version"], 1);
    assert_eq!(ok["status"]["listen_port"], 7000);
    assert!(ok.get("error").is_none());
    let bad = serde_json::to_value(answer(b"nope", &report_fn())).unwrap();
    assert!(bad.get("status").is_none());
    assert!(bad["error"].is_string());
}

#[test]
fn long_unknown_commands_are_shortened_in_the_error() {
    let word = "x".repeat(1000);
    let e = answer(word.as_bytes(), &report_fn()).error.unwrap();
    assert!(e.len() < 200, "{}", e.len());
}

// Over a real unix socket in a temporary directory.

use std::sync::atomic::{AtomicU64, Ordering};

/// A server on `dir/control.sock` whose reported upload total counts the requests.
fn start(
    dir: &Path,
) -> (
    std::path::PathBuf,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let path = dir.join("control.sock");
    let calls = Arc::new(AtomicU64::new(0));
    let report: ReportFn = Arc::new(move || StatusReport {
        listen_port: 6881,
        version: "0.1.0".into(),
        totals: crate::control::protocol::Totals {
            uploaded: calls.fetch_add(1, Ordering::SeqCst) + 1,
            ..Default::default()
        },
        ..StatusReport::default()
    });
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let path = path.clone();
        let cancel = cancel.clone();
        async move { serve(&path, report, cancel).await }
    });
    (path, cancel, task)
}

/// Waits until the socket file exists (the server task has bound it).
async fn bound(path: &Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{} never appeared", path.display());
}

async fn raw(path: &Path, request: &[u8]) -> String {
    let mut s = UnixStream::connect(path).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = String::new();
    BufReader::new(s).read_line(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn query_gets_the_status_then_the_socket_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cancel, task) = start(dir.path());
    bound(&path).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, SOCKET_MODE);
    let first = query(&path).await.unwrap();
    assert_eq!(first.listen_port, 6881);
    let second = query(&path).await.unwrap();
    assert!(
        second.totals.uploaded > first.totals.uploaded,
        "fresh on each request"
    );
    cancel.cancel();
    task.await.unwrap().unwrap();
    assert!(!path.exists(), "socket file removed on exit");
    let e = query(&path).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "no btmirror daemon is listening on {} (is it running? use --state-dir or --config)",
            path.display()
        )
    );
}

#[tokio::test]
async fn stale_socket_is_replaced_and_live_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A socket file nobody listens on, as a killed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let e = query(&path).await.unwrap_err().to_string();
    assert!(e.starts_with("no btmirror daemon is listening"), "{e}");
    let (path, cancel, task) = start(dir.path());
    // Bound once query answers (the stale file existed all along).
    let mut answered = false;
    for _ in 0..500 {
        if query(&path).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(answered, "the stale socket was replaced");
    // A second server on the same state directory is refused and leaves the first alone.
    let second = serve(
        &path,
        Arc::new(StatusReport::default),
        CancellationToken::new(),
    )
    .await;
    let e = format!("{:#}", second.unwrap_err());
    assert!(e.contains("another btmirror is running"), "{e}");
    assert!(query(&path).await.is_ok(), "the first still serves");
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_regular_file_in_the_way_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    std::fs::write(&path, b"precious").unwrap();
    let e = serve(
        &path,
        Arc::new(StatusReport::default),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("is not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[tokio::test]
async fn oversize_and_bad_requests_get_errors_without_hurting_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cancel, task) = start(dir.path());
    bound(&path).await;
    let huge = vec![b'a'; MAX_REQUEST * 4];
    let mut s = UnixStream::connect(&path).await.unwrap();
    // The server may close before reading everything: a write error is fine here.
    let _ = s.write_all(&huge).await;
    let mut out = String::new();
    BufReader::new(s).read_line(&mut out).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("longer than"),
        "{out}"
    );

    let out = raw(&path, b"reload\n").await;
    assert!(out.contains("unknown command"), "{out}");
    // Several requests on one connection, bare word and JSON.
    let mut s = BufReader::new(UnixStream::connect(&path).await.unwrap());
    for req in [
        &b"status\n"[..],
        b"{\"version\":1,\"command\":\"status\"}\n",
    ] {
        s.get_mut().write_all(req).await.unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["status"]["listen_port"], 6881);
    }
    // A client that connects and says nothing does not block others.
    let _silent = UnixStream::connect(&path).await.unwrap();
    assert!(query(&path).await.is_ok());
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn query_reports_daemon_errors_and_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        for answer in [
            &b"{\"version\":1,\"error\":\"busy\"}\n"[..],
            b"not json\n",
            b"",
        ] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut line = String::new();
            let (r, mut w) = s.split();
            BufReader::new(r).read_line(&mut line).await.unwrap();
            assert_eq!(line, "{\"version\":1,\"command\":\"status\"}\n");
            w.write_all(answer).await.unwrap();
        }
    });
    let e = query(&path).await.unwrap_err().to_string();
    assert!(e.ends_with("answered: busy"), "{e}");
    let e = query(&path).await.unwrap_err().to_string();
    assert!(e.contains("not valid status JSON"), "{e}");
    let e = query(&path).await.unwrap_err().to_string();
    assert!(e.contains("closed the connection without answering"), "{e}");
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn idle_clients_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (path, cancel, task) = start(dir.path());
    bound(&path).await;
    let mut s = UnixStream::connect(&path).await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(IDLE_TIMEOUT * 2, s.read_to_end(&mut buf))
        .await
        .expect("closed by the server before our own timeout")
        .unwrap();
    assert_eq!(n, 0);
    cancel.cancel();
    task.await.unwrap().unwrap();
}
