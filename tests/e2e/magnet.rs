//! Magnet links with `btmirror get`: the metadata comes from a btmirror seed over BEP 9
//! (found through the magnet's tracker, or its `x.pe` peer alone), then the data; a second
//! `get` of the same magnet fetches no metadata; libtorrent gets the metadata from a btmirror
//! seed, also a `btmirror run` daemon that keeps no raw info dictionary in memory;
//! a malformed magnet is one line and exit 2.

use std::ffi::OsStr;
use std::time::Duration;

use btmirror_e2e::{Btmirror, Libtorrent, Proc, Swarm, TRANSFER_TIMEOUT, free_port};

use crate::{PIECE, SIZE};

#[test]
fn get_starts_from_a_magnet_via_its_tracker_or_its_peer() {
    let swarm = Swarm::single_file("magnet-get", SIZE, PIECE);
    let seed_port = free_port();
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), seed_port, &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let hash = swarm.torrent.info_hash.hex();

    // Only xt, dn and tr: the peer comes from the tracker.
    let by_tracker = format!(
        "magnet:?xt=urn:btih:{hash}&dn={}&tr={}",
        swarm.torrent.name,
        swarm.announce_url()
    );
    let dir = swarm.empty_dir("by-tracker");
    let mut leech =
        Btmirror::get_source(OsStr::new(&by_tracker), &dir, free_port(), &["--no-seed"]);
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(
        dir.join(format!(".btmirror-{hash}.torrent")).exists(),
        "the fetched metadata is kept"
    );

    // The same magnet again into the same directory: nothing is fetched twice.
    let mut again =
        Btmirror::get_source(OsStr::new(&by_tracker), &dir, free_port(), &["--no-seed"]);
    again.wait_done(TRANSFER_TIMEOUT);
    assert!(
        again.proc.log().contains("metadata from an earlier fetch"),
        "{}",
        again.proc.failure("fetched the metadata again")
    );

    // Base32 hash and x.pe only: no tracker at all.
    let base32 = base32(&swarm.torrent.info_hash.0);
    let by_peer = format!("magnet:?xt=urn:btih:{base32}&x.pe=127.0.0.1:{seed_port}");
    let dir = swarm.empty_dir("by-peer");
    let mut leech = Btmirror::get_source(OsStr::new(&by_peer), &dir, free_port(), &["--no-seed"]);
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    seed.terminate();
}

#[test]
fn libtorrent_gets_the_metadata_from_a_btmirror_seed() {
    let swarm = Swarm::single_file("magnet-lt", SIZE, PIECE);
    let seed_port = free_port();
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), seed_port, &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    libtorrent_fetches_by_magnet(&swarm, seed_port);
    seed.terminate();
}

/// A daemon's torrents come from files, so their raw info dictionaries are not kept in memory:
/// it is read again from the `.torrent` when a magnet peer asks for it.
#[test]
fn libtorrent_gets_the_metadata_from_a_btmirror_run_daemon_that_reads_it_again() {
    let swarm = Swarm::single_file("magnet-lt-run", SIZE, PIECE);
    let watch = swarm.seed_dir("watch");
    let name = swarm.torrent.path.file_name().expect("a torrent file name");
    std::fs::copy(&swarm.torrent.path, watch.join(name)).expect("copy the torrent");
    let seed_port = free_port();
    let scratch = swarm.empty_dir("run-state");
    let mut cmd = Btmirror::command();
    cmd.arg("run")
        .arg(&watch)
        .arg("--state-dir")
        .arg(&scratch)
        .arg("--port")
        .arg(seed_port.to_string())
        .arg("--bind")
        .arg("127.0.0.1");
    let mut daemon = Proc::spawn("btmirror run", &mut cmd, &scratch.join("run.log"));
    swarm.wait_for_seeds(1, &mut daemon);
    libtorrent_fetches_by_magnet(&swarm, seed_port);
    daemon.terminate(Duration::from_secs(10));
}

/// A libtorrent leecher of `swarm`'s torrent from a magnet naming only the seed at `seed_port`;
/// returns once its download is complete and checked.
fn libtorrent_fetches_by_magnet(swarm: &Swarm, seed_port: u16) {
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn={}&x.pe=127.0.0.1:{seed_port}",
        swarm.torrent.info_hash.hex(),
        swarm.torrent.name
    );
    let dir = swarm.empty_dir("lt");
    let mut leech = Libtorrent::leech_magnet(&magnet, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

#[test]
fn a_malformed_magnet_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Btmirror::command()
        .arg("get")
        .arg("magnet:?xt=urn:btih:nothex&dn=x")
        .arg("--dir")
        .arg(dir.path())
        .arg("--port")
        .arg("0")
        .arg("--bind")
        .arg("127.0.0.1")
        .output()
        .expect("run btmirror");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("neither 40 hex nor 32 base32"),
        "{stderr}"
    );
}

/// RFC 4648 base32 (upper case, no padding: 20 bytes are 32 digits).
fn base32(bytes: &[u8; 20]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u64, 0);
    for &b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}
