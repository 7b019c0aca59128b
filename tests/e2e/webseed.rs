//! Web seeds (BEP 19): `btmirror get --no-seed` and `btmirror run` fill a torrent whose only
//! source is an HTTP mirror (a real nginx), and a web seed works beside a libtorrent seed.

use std::time::Duration;

use btmirror_e2e::{
    Btmirror, Libtorrent, Nginx, Proc, Swarm, TRANSFER_TIMEOUT, free_port,
    make_torrent_with_web_seeds, payload,
};

use crate::{MULTI_PIECE, MULTI_SIZES, PIECE, SIZE};

/// A swarm whose torrent names one web seed: an nginx serving the source directory (the URL
/// ends in `/`, so the torrent's name is appended).
fn web_swarm(test: &str, multi: bool) -> (Swarm, Nginx) {
    let mut server = None;
    let swarm = Swarm::build(
        test,
        |src| {
            if multi {
                let root = src.join(test);
                for (i, &size) in MULTI_SIZES.iter().enumerate() {
                    let rel = if i % 2 == 0 {
                        format!("file {i}.dat")
                    } else {
                        format!("sub/file{i}.dat")
                    };
                    payload(&root.join(rel), size, 2000 + i as u64);
                }
                root
            } else {
                payload(&src.join(format!("{test}.bin")), SIZE, 77)
            }
        },
        |content, announce, out| {
            let root = content.parent().expect("content has a parent");
            let conf = root.with_extension("nginx");
            std::fs::create_dir_all(&conf).expect("nginx dir");
            let n = Nginx::start(root, &conf).expect("nginx starts");
            let url = n.url("/");
            server = Some(n);
            let piece = if multi { MULTI_PIECE } else { PIECE };
            make_torrent_with_web_seeds(content, announce, piece, &[url], out)
        },
    );
    (swarm, server.expect("nginx started"))
}

fn get_from_web_seed_only(test: &str, multi: bool) {
    let (swarm, nginx) = web_swarm(test, multi);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(
        nginx.partial_responses() > 0,
        "the data came by range requests"
    );
}

#[test]
fn get_fills_a_single_file_torrent_from_its_web_seed() {
    get_from_web_seed_only("ws-get-single", false);
}

#[test]
fn get_fills_a_multi_file_torrent_from_its_web_seed() {
    get_from_web_seed_only("ws-get-multi", true);
}

#[test]
fn run_fills_a_watched_torrent_from_its_web_seed() {
    let (swarm, nginx) = web_swarm("ws-run", false);
    let watch = swarm.empty_dir("watch");
    let state = swarm.empty_dir("state");
    std::fs::copy(&swarm.torrent.path, watch.join("t.torrent")).expect("copy torrent");
    let mut cmd = Btmirror::command();
    cmd.arg("run")
        .arg(&watch)
        .arg("--state-dir")
        .arg(&state)
        .arg("--port")
        .arg(free_port().to_string())
        .arg("--bind")
        .arg("127.0.0.1");
    let mut daemon = Proc::spawn("btmirror run", &mut cmd, &watch.with_extension("log"));
    swarm.wait_complete(&watch, &mut daemon, TRANSFER_TIMEOUT);
    assert!(nginx.partial_responses() > 0);
    daemon.terminate(Duration::from_secs(10));
}

#[test]
fn a_web_seed_and_a_libtorrent_seed_fill_one_download_together() {
    let (swarm, nginx) = web_swarm("ws-with-lt", false);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("lt"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    // A download rate limit so that the download lasts long enough for both to take part.
    let mut leech = Btmirror::get(
        &swarm.torrent,
        &dir,
        free_port(),
        &["--no-seed", "--max-download-rate", "2MiB"],
    );
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(nginx.partial_responses() > 0, "the web seed was starved");
    // The seed prints `up=BYTES` every second.
    let uploaded = seed
        .proc
        .log()
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("up=")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(uploaded > 0, "the libtorrent seed was starved");
}
