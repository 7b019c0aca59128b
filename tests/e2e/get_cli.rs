//! `btmirror get` as a command: a .torrent fetched over HTTP, and the one-line failures
//! (unreachable tracker, unwritable directory) with exit status 1.

use std::process::Stdio;
use std::time::{Duration, Instant};

use btmirror_e2e::{
    Aria2, Btmirror, Proc, Scratch, Swarm, TRANSFER_TIMEOUT, free_port, payload, poll_until,
};

use crate::{PIECE, SIZE};

/// Runs a btmirror command to completion (bounded) and returns (status code, stderr).
fn run_to_end(mut cmd: std::process::Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn btmirror");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "btmirror did not exit within {limit:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last line on stderr that is not a log line: the one-line error `btmirror` promises.
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("btmirror: error:"))
        .unwrap_or("")
}

#[test]
fn get_fetches_the_torrent_from_an_http_url() {
    let swarm = Swarm::single_file("get-url", SIZE, PIECE);
    let mut seed = Aria2::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    // Serve the .torrent from a plain HTTP server on loopback.
    let web_root = swarm.empty_dir("web");
    std::fs::copy(&swarm.torrent.path, web_root.join("x.torrent")).expect("copy torrent");
    let port = free_port();
    let mut web_cmd = std::process::Command::new("python3");
    web_cmd
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(&web_root);
    let web = Proc::spawn("http.server", &mut web_cmd, &web_root.with_extension("log"));
    let up = poll_until(Duration::from_secs(20), Duration::from_millis(50), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    });
    assert!(
        up.is_some(),
        "{}",
        web.failure("the HTTP server did not start")
    );

    let dir = swarm.empty_dir("leech");
    let mut cmd = Btmirror::command();
    cmd.arg("get")
        .arg(format!("http://127.0.0.1:{port}/x.torrent"))
        .args(["--dir"])
        .arg(&dir)
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
            "--no-seed",
        ]);
    let (code, stderr) = run_to_end(cmd, TRANSFER_TIMEOUT);
    assert_eq!(code, Some(0), "{stderr}");
    swarm.assert_complete(&dir);
    let (code, stderr) = {
        let mut cmd = Btmirror::command();
        cmd.arg("get")
            .arg(format!("http://127.0.0.1:{port}/missing.torrent"))
            .arg("--dir")
            .arg(&dir);
        run_to_end(cmd, Duration::from_secs(30))
    };
    assert_eq!(code, Some(1), "{stderr}");
    assert!(error_line(&stderr).contains("404"), "{stderr}");
}

#[test]
fn get_with_an_unreachable_tracker_exits_1_with_one_line() {
    let scratch = Scratch::new("get-no-tracker");
    let file = payload(&scratch.dir("src").join("lonely.bin"), 100_000, 7);
    let dead = format!("http://127.0.0.1:{}/announce", free_port());
    let torrent = Btmirror::make(&file, &dead, &scratch.path().join("lonely.torrent"), None);
    let mut cmd = Btmirror::command();
    cmd.arg("get")
        .arg(&torrent.path)
        .arg("--dir")
        .arg(scratch.dir("leech"))
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
            "--no-seed",
        ]);
    let (code, stderr) = run_to_end(cmd, Duration::from_secs(60));
    assert_eq!(code, Some(1), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains("tracker") && line.contains("127.0.0.1"),
        "{stderr}"
    );
}

#[test]
fn get_into_an_unwritable_directory_exits_1_and_a_bad_torrent_too() {
    let scratch = Scratch::new("get-bad-dir");
    let file = payload(&scratch.dir("src").join("f.bin"), 50_000, 9);
    let torrent = Btmirror::make(
        &file,
        "http://127.0.0.1:9/announce",
        &scratch.path().join("f.torrent"),
        None,
    );
    // A directory below a regular file can never be created, even by root.
    let blocked = file.join("sub");
    let mut cmd = Btmirror::command();
    cmd.arg("get").arg(&torrent.path).arg("--dir").arg(&blocked);
    let (code, stderr) = run_to_end(cmd, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(error_line(&stderr).contains("sub"), "{stderr}");

    let junk = scratch.path().join("junk.torrent");
    std::fs::write(&junk, b"d8:announce3:abce").expect("write junk");
    let mut cmd = Btmirror::command();
    cmd.arg("get").arg(&junk).arg("--dir").arg(scratch.dir("x"));
    let (code, stderr) = run_to_end(cmd, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains("junk.torrent") && line.contains("info"),
        "{stderr}"
    );
}

#[test]
fn get_accepts_a_file_url_as_browsers_pass_it() {
    let swarm = Swarm::single_file("get-file-url", SIZE, PIECE);
    let mut seed = Aria2::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    // A name with a space, percent-encoded in the URL as a browser does.
    let spaced = swarm.empty_dir("web").join("my torrent.torrent");
    std::fs::copy(&swarm.torrent.path, &spaced).expect("copy torrent");
    let url = format!("file://{}", spaced.display()).replace(' ', "%20");
    let dir = swarm.empty_dir("leech");
    let mut cmd = Btmirror::command();
    cmd.arg("get").arg(&url).arg("--dir").arg(&dir).args([
        "--port",
        &free_port().to_string(),
        "--bind",
        "127.0.0.1",
        "--no-seed",
    ]);
    let (code, stderr) = run_to_end(cmd, TRANSFER_TIMEOUT);
    assert_eq!(code, Some(0), "{stderr}");
    swarm.assert_complete(&dir);
}
