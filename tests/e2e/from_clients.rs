//! btmirror downloads from real seeds: `btmirror get --no-seed` exits 0 with the right data.

use btmirror_e2e::{Aria2, Btmirror, Libtorrent, Swarm, TRANSFER_TIMEOUT, free_port};

use crate::{MULTI_PIECE, MULTI_SIZES, PIECE, SIZE};

#[test]
fn btmirror_downloads_from_libtorrent() {
    let swarm = Swarm::single_file("lt-to-btm", SIZE, PIECE);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

#[test]
fn btmirror_downloads_from_aria2() {
    let swarm = Swarm::single_file("aria2-to-btm", SIZE, PIECE);
    let mut seed = Aria2::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

#[test]
fn btmirror_downloads_multi_file_from_libtorrent() {
    let swarm = Swarm::multi_file("lt-to-btm-multi", MULTI_SIZES, MULTI_PIECE);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(
        seed.proc.is_running(),
        "{}",
        seed.proc.failure("the seed died during the test")
    );
    assert!(seed.terminate().success());
}
