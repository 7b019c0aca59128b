//! End-to-end tests of `btmirror run --metrics`: the real daemon seeds a torrent to a
//! `btmirror get --no-seed` leecher on 127.0.0.1 while `/metrics` is scraped over plain TCP;
//! the lifetime upload counter must rise with the transfer and survive a restart.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "daemon_e2e/support.rs"]
#[allow(dead_code, reason = "shared with daemon_e2e, which uses the rest")]
mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{
    Daemon, Proc, Tracker, all_seeding, base_config, command, free_port, make_torrent,
    random_bytes, wait_for,
};

const T: Duration = Duration::from_secs(20);

/// `GET /metrics` on `port`: the body of a 200 answer in the text format, else `None`.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    let ok = head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200");
    let typed = head
        .to_ascii_lowercase()
        .contains("content-type: text/plain; version=0.0.4");
    (ok && typed).then(|| body.to_owned())
}

/// The value of the sample `name` whose labels start with `labels` (`""` for none).
fn sample(text: &str, name: &str, labels: &str) -> Option<u64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}")
    };
    let line = text.lines().find(|l| l.starts_with(&prefix))?;
    line.rsplit_once(' ')?.1.parse().ok()
}

/// The torrent's lifetime upload counter.
fn uploaded(text: &str, hash: &str) -> Option<u64> {
    sample(
        text,
        "btmirror_torrent_uploaded_bytes_total",
        &format!("info_hash=\"{hash}\""),
    )
}

/// Scrapes until `pred` holds on the body; panics with the last body and the log after `T`.
fn wait_metrics(daemon: &Daemon, port: u16, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let got = wait_for(T, || {
        let body = scrape(port)?;
        let ok = pred(&body);
        last.clone_from(&body);
        ok.then_some(body)
    });
    got.unwrap_or_else(|| {
        panic!(
            "waiting for {what}: last scrape:\n{last}\nlog:\n{}",
            daemon.proc.log()
        )
    })
}

fn metrics_config(root: &Path, port: u16) -> String {
    format!("{}metrics = \"127.0.0.1:{port}\"\n", base_config(root))
}

#[test]
fn upload_counter_rises_with_a_transfer_and_survives_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(d.path());
    let data = random_bytes(1 << 20, 21);
    let (torrent, hash) = make_torrent("m.bin", &data, 32768, &tracker.announce());

    // The daemon seeds the data it already has, with metrics on a port of its own.
    let root = d.path().join("mirror");
    let port = free_port();
    let config = metrics_config(&root, port);
    let daemon = Daemon::start(&root, &config);
    std::fs::write(root.join("watch/m.bin"), &data).unwrap();
    std::fs::write(root.join("watch/m.bin.torrent"), &torrent).unwrap();
    daemon.wait_status("the torrent seeding", T, |s| all_seeding(s, 1));
    let before = wait_metrics(&daemon, port, "the torrent's series", |m| {
        uploaded(m, &hash).is_some()
    });
    assert_eq!(uploaded(&before, &hash), Some(0), "{before}");
    assert!(
        before.contains(&format!(
            "btmirror_torrent_size_bytes{{info_hash=\"{hash}\",name=\"m.bin\"}} {}\n",
            data.len()
        )),
        "{before}"
    );
    assert!(wait_for(T, || (tracker.seeders(&hash) == 1).then_some(())).is_some());

    // A leecher downloads it (rate-limited, so that the transfer takes a few scrapes).
    let leech_dir = d.path().join("leech");
    std::fs::create_dir(&leech_dir).unwrap();
    std::fs::write(d.path().join("m.bin.torrent"), &torrent).unwrap();
    let mut get = command(d.path());
    get.arg("get")
        .arg(d.path().join("m.bin.torrent"))
        .arg("--dir")
        .arg(&leech_dir)
        .arg("--no-seed")
        .args(["--port", &free_port().to_string(), "--bind", "127.0.0.1"])
        .args(["--max-download-rate", "512KiB"])
        .arg("--state-dir")
        .arg(d.path().join("leech-state"));
    let mut leecher = Proc::spawn(&mut get, &d.path().join("leecher.log"));
    let mut seen = Vec::new();
    let done = wait_for(T, || {
        if let Some(v) = scrape(port).and_then(|m| uploaded(&m, &hash)) {
            seen.push(v);
        }
        (!leecher.running()).then_some(())
    });
    assert!(
        done.is_some(),
        "the leecher did not finish: {}",
        leecher.log()
    );
    let status = leecher.wait_exit(T);
    assert!(status.success(), "{status}: {}", leecher.log());
    assert_eq!(std::fs::read(leech_dir.join("m.bin")).unwrap(), data);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the counter went down: {seen:?}"
    );
    eprintln!("uploaded counter during the transfer: {seen:?}");

    // Every byte the leecher got came from the daemon.
    let full = data.len() as u64;
    let after = wait_metrics(&daemon, port, "the whole upload counted", |m| {
        uploaded(m, &hash).is_some_and(|v| v >= full)
    });
    let lifetime = uploaded(&after, &hash).unwrap();
    let session = sample(&after, "btmirror_uploaded_bytes_total", "").unwrap();
    assert!(session >= full, "{after}");
    assert!(
        seen.iter().all(|&v| v <= lifetime),
        "{seen:?} then {lifetime}"
    );

    // Removing the torrent ends its series, not the daemon's counters (issue 15, point 4).
    std::fs::remove_file(root.join("watch/m.bin.torrent")).unwrap();
    let gone = daemon.wait_status("the torrent gone", T, |s| all_seeding(s, 0));
    assert!(
        gone["totals"]["uploaded"].as_u64() >= Some(full),
        "status totals went down: {gone}"
    );
    let m = wait_metrics(&daemon, port, "the series gone", |m| {
        uploaded(m, &hash).is_none()
    });
    let kept = sample(&m, "btmirror_uploaded_bytes_total", "").unwrap();
    assert!(
        kept >= session,
        "the session counter went from {session} to {kept}"
    );
    std::fs::write(root.join("watch/m.bin.torrent"), &torrent).unwrap();
    daemon.wait_status("the torrent back", T, |s| all_seeding(s, 1));

    // An unparseable .torrent is counted as rejected, without a per-torrent series.
    std::fs::write(root.join("watch/junk.torrent"), b"not a torrent").unwrap();
    let m = wait_metrics(&daemon, port, "the rejected file", |m| {
        sample(m, "btmirror_watch_rejected_torrents", "") == Some(1)
    });
    assert!(!m.contains("junk.torrent"), "{m}");
    std::fs::remove_file(root.join("watch/junk.torrent")).unwrap();

    // SIGTERM, then the same state directory again: the lifetime counter is kept, the
    // session counter starts over.
    let mut daemon = daemon;
    daemon.proc.signal(Signal::SIGTERM);
    let status = daemon.proc.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}: {}", daemon.proc.log());
    assert!(scrape(port).is_none(), "metrics still served after exit");
    let daemon = Daemon::start(&root, &config);
    daemon.wait_status("seeding again", T, |s| all_seeding(s, 1));
    let restarted = wait_metrics(&daemon, port, "the series after the restart", |m| {
        uploaded(m, &hash).is_some()
    });
    let kept = uploaded(&restarted, &hash).unwrap();
    assert!(kept >= lifetime, "lifetime {lifetime} became {kept}");
    assert_eq!(
        sample(&restarted, "btmirror_uploaded_bytes_total", ""),
        Some(0),
        "{restarted}"
    );
    // The daemon's lifetime counter survived the removal and the restart.
    let life = sample(&restarted, "btmirror_lifetime_uploaded_bytes_total", "").unwrap();
    assert!(life >= full, "lifetime {life} < {full}: {restarted}");
    let s = daemon.wait_status("seeding", T, |s| all_seeding(s, 1));
    assert!(
        s["totals"]["lifetime_uploaded"].as_u64() >= Some(full),
        "{s}"
    );
}

#[test]
fn a_taken_metrics_address_exits_1_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    std::fs::create_dir_all(d.path().join("watch")).unwrap();
    let cfg = d.path().join("btmirror.toml");
    // The command line wins over the config file's free address.
    std::fs::write(&cfg, metrics_config(d.path(), free_port())).unwrap();
    let out = command(d.path())
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .args(["--metrics", &addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("btmirror: error: "))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    assert!(
        line.contains(&addr.to_string()) && line.contains("metrics"),
        "{line}"
    );
}
