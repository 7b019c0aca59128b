//! Real BitTorrent clients swarm through our tracker on 127.0.0.1: aria2c seeds and
//! python3-libtorrent downloads over HTTP; two libtorrent sessions over UDP (BEP 15). Afterwards
//! the scrape must show the download. Needs `aria2c`, `mktorrent` and `/usr/bin/python3` with
//! the `libtorrent` module (Debian: aria2, mktorrent, python3-libtorrent).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

#[path = "server_support/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use support::*;

const LT_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/server_support/lt_swarm.py"
);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `size` pseudo-random bytes to `dir/name` and returns them.
fn make_file(dir: &Path, name: &str, size: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(size as u64);
    let data: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), &data).unwrap();
    data
}

/// `mktorrent -a URL -l 15` (32 KiB pieces) for `file`, returning the info-hash.
fn mktorrent(url: &str, file: &Path, out: &Path) -> [u8; 20] {
    let st = std::process::Command::new("mktorrent")
        .args(["-a", url, "-l", "15", "-o"])
        .arg(out)
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .expect("mktorrent is installed");
    assert!(st.success());
    let bytes = std::fs::read(out).unwrap();
    metainfo::Metainfo::from_bytes(&bytes).unwrap().info_hash.0
}

/// Starts the libtorrent helper with the given `role:dir:port` specs.
fn libtorrent(torrent: &Path, specs: &[String]) -> Child {
    Command::new("/usr/bin/python3")
        .arg(LT_SCRIPT)
        .arg(torrent)
        .args(specs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("/usr/bin/python3 runs")
}

/// Waits for the helper's "COMPLETE" line.
async fn wait_complete(child: &mut Child) {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let found = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == "COMPLETE" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "libtorrent finished the download through our tracker"
    );
}

/// Polls the scrape until it reads `want` = (complete, downloaded, incomplete).
async fn wait_scrape(addr: std::net::SocketAddr, ih: &[u8; 20], want: (i64, i64, i64)) {
    let mut last = None;
    for _ in 0..150 {
        let r = get(addr, &format!("/scrape?info_hash={}", enc(ih))).await;
        last = scrape_entry(&r.body, ih);
        if last == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("scrape never reached {want:?}; last {last:?}");
}

struct Swarm {
    _dir: tempfile::TempDir,
    seed_dir: PathBuf,
    leech_dir: PathBuf,
    torrent: PathBuf,
    data: Vec<u8>,
    ih: [u8; 20],
}

fn swarm(url: &str) -> Swarm {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let leech_dir = dir.path().join("leech");
    std::fs::create_dir_all(&leech_dir).unwrap();
    let data = make_file(&seed_dir, "payload.bin", 300_000);
    let torrent = dir.path().join("payload.torrent");
    let ih = mktorrent(url, &seed_dir.join("payload.bin"), &torrent);
    Swarm {
        _dir: dir,
        seed_dir,
        leech_dir,
        torrent,
        data,
        ih,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2c_seeds_libtorrent_downloads_over_http() {
    let srv = start(config()).await;
    let url = format!("http://127.0.0.1:{}/announce", srv.addr.port());
    let s = swarm(&url);
    let aria_port = free_port();
    let _aria = Command::new("aria2c")
        .arg(format!("--dir={}", s.seed_dir.display()))
        .arg(format!("--listen-port={aria_port}"))
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--bt-seed-unverified=true",
            "--check-integrity=false",
            "--seed-ratio=0.0",
            "--bt-require-crypto=false",
            "--file-allocation=none",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--bt-save-metadata=false",
            "--auto-save-interval=0",
        ])
        .arg(&s.torrent)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("aria2c is installed");
    // aria2c's started announce makes it the swarm's one seeder.
    wait_scrape(srv.addr, &s.ih, (1, 0, 0)).await;

    let mut lt = libtorrent(
        &s.torrent,
        &[format!("leech:{}:{}", s.leech_dir.display(), free_port())],
    );
    wait_complete(&mut lt).await;
    assert!(
        std::fs::read(s.leech_dir.join("payload.bin")).unwrap() == s.data,
        "same bytes"
    );
    // libtorrent's `completed` announce: two seeders, one download.
    wait_scrape(srv.addr, &s.ih, (2, 1, 0)).await;
    drop(lt);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_swarms_over_udp() {
    let srv = start(config()).await;
    let url = format!("udp://127.0.0.1:{}/announce", srv.addr.port());
    let s = swarm(&url);
    let mut lt = libtorrent(
        &s.torrent,
        &[
            format!("seed:{}:{}", s.seed_dir.display(), free_port()),
            format!("leech:{}:{}", s.leech_dir.display(), free_port()),
        ],
    );
    wait_complete(&mut lt).await;
    assert!(
        std::fs::read(s.leech_dir.join("payload.bin")).unwrap() == s.data,
        "same bytes"
    );
    wait_scrape(srv.addr, &s.ih, (2, 1, 0)).await;
    drop(lt);
    srv.stop().await;
}
