//! Real clients download from a btmirror seed whose data is already in place.

use std::time::Duration;

use btmirror_e2e::{
    Aria2, Btmirror, Libtorrent, Swarm, TRANSFER_TIMEOUT, Transmission, free_port, poll_until,
};

use crate::{MULTI_PIECE, MULTI_SIZES, PIECE, SIZE};

/// Waits until the tracker's seed count for the swarm's torrent is exactly `n`.
fn wait_for_seed_count(swarm: &Swarm, n: i64, why: &str) {
    let mut last = None;
    let reached = poll_until(Duration::from_secs(20), Duration::from_millis(100), || {
        let counts = swarm.tracker.scrape(&swarm.torrent.info_hash).ok()?;
        last = Some(counts);
        (counts.complete == n).then_some(())
    });
    assert!(
        reached.is_some(),
        "tracker still lists {last:?} seeds, expected {n}: {why}"
    );
}

#[test]
fn aria2_downloads_from_btmirror() {
    let swarm = Swarm::single_file("btm-to-aria2", SIZE, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Aria2::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    wait_for_seed_count(&swarm, 1, "aria2 announces `stopped` when it exits");
    // SIGTERM: btmirror announces `stopped` and exits 0.
    let status = seed.terminate();
    assert!(
        status.success(),
        "{}",
        seed.proc.failure(&format!("SIGTERM gave {status}"))
    );
    wait_for_seed_count(&swarm, 0, "btmirror should announce `stopped` on SIGTERM");
}

#[test]
fn libtorrent_downloads_multi_file_from_btmirror() {
    let swarm = Swarm::multi_file("btm-to-lt-multi", MULTI_SIZES, MULTI_PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    let status = seed.terminate();
    assert!(
        status.success(),
        "{}",
        seed.proc.failure(&format!("SIGTERM gave {status}"))
    );
}

#[test]
fn libtorrent_downloads_from_btmirror() {
    let swarm = Swarm::single_file("btm-to-lt", SIZE, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

/// transmission-cli 3.00 never dials 127.0.0.0/8 peers: it is started first, and btmirror's
/// first announce as a seed returns transmission's address, which btmirror dials.
#[test]
fn transmission_downloads_from_btmirror() {
    let swarm = Swarm::single_file("btm-to-tr", SIZE, PIECE);
    let dir = swarm.empty_dir("leech");
    let mut leech = Transmission::leech(&swarm.torrent, &dir, free_port());
    swarm
        .tracker
        .wait_for_leechers(&swarm.torrent.info_hash, 1, &mut leech.proc);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(
        seed.proc.is_running(),
        "{}",
        seed.proc.failure("the seed exited while seeding")
    );
}
