//! The harness with real clients only: these pass without btmirror, and prove that the
//! tracker wrapper, the client drivers and the corrupt peer work on this machine.

use std::time::Duration;

use btmirror_e2e::{
    Aria2, CorruptPeer, Libtorrent, Swarm, TRANSFER_TIMEOUT, Transmission, aria2_info_hash,
    free_port,
};

use crate::{MULTI_PIECE, MULTI_SIZES, PIECE, SIZE};

#[test]
fn info_hash_agrees_with_aria2() {
    let single = Swarm::single_file("ih-single", 100_000, 32 * 1024);
    assert_eq!(
        aria2_info_hash(&single.torrent.path),
        single.torrent.info_hash.hex()
    );
    let multi = Swarm::multi_file("ih-multi", MULTI_SIZES, MULTI_PIECE);
    assert_eq!(
        aria2_info_hash(&multi.torrent.path),
        multi.torrent.info_hash.hex()
    );
    assert_eq!(multi.torrent.files.len(), MULTI_SIZES.len());
    assert_eq!(
        multi.torrent.total_length(),
        MULTI_SIZES.iter().sum::<u64>()
    );
}

#[test]
fn aria2_seed_to_libtorrent_leech() {
    let swarm = Swarm::single_file("aria2-to-lt", SIZE, PIECE);
    let mut seed = Aria2::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(leech.wait_exit(Duration::from_secs(30)).success());
}

#[test]
fn libtorrent_seed_to_aria2_leech() {
    let swarm = Swarm::multi_file("lt-to-aria2", MULTI_SIZES, MULTI_PIECE);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Aria2::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(
        seed.terminate().success(),
        "{}",
        seed.proc.failure("bad exit")
    );
}

/// transmission-cli cannot dial loopback peers, so it starts first and the seed dials it.
#[test]
fn libtorrent_seed_to_transmission_leech() {
    let swarm = Swarm::single_file("lt-to-tr", SIZE, PIECE);
    let dir = swarm.empty_dir("leech");
    let mut leech = Transmission::leech(&swarm.torrent, &dir, free_port());
    swarm
        .tracker
        .wait_for_leechers(&swarm.torrent.info_hash, 1, &mut leech.proc);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.proc.is_running(), "{}", seed.proc.failure("seed died"));
}

/// The corrupt peer really corrupts: libtorrent, fed by it and by a slow honest seed, sees
/// hash failures and still ends up with the right data.
#[test]
fn corrupt_peer_is_caught_by_libtorrent() {
    let swarm = Swarm::single_file("corrupt-lt", 4 * 1024 * 1024, 32 * 1024);
    let honest_dir = swarm.seed_dir("honest");
    let corrupt = CorruptPeer::start(&swarm.torrent, &honest_dir, &swarm.announce_url());
    let mut honest = Aria2::seed_with(
        &swarm.torrent,
        &honest_dir,
        free_port(),
        &["--max-overall-upload-limit=1M"],
    );
    swarm.wait_for_seeds(2, &mut honest.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(corrupt.blocks_served() > 0, "{}", corrupt.summary());
    let log = leech.proc.log();
    assert!(
        log.contains("hash_failed_alert"),
        "{}\n{}",
        leech.proc.failure("reported no hash failure"),
        corrupt.summary()
    );
}
