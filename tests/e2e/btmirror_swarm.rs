//! btmirror to btmirror: one seed, three leechers at once, which also trade with each other.

use btmirror_e2e::{Btmirror, Peer, Swarm, TRANSFER_TIMEOUT, free_port};

use crate::{MULTI_PIECE, MULTI_SIZES, PIECE, SIZE};

/// A btmirror seed and three `--no-seed` btmirror leechers started together; every leecher
/// must exit 0 with the exact data, and the seed must still be running and stop cleanly.
fn seed_to_three_leechers(swarm: &Swarm) {
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dirs: Vec<_> = (0..3)
        .map(|i| swarm.empty_dir(&format!("leech{i}")))
        .collect();
    let mut leechers: Vec<Peer> = dirs
        .iter()
        .map(|dir| Btmirror::get(&swarm.torrent, dir, free_port(), &["--no-seed"]))
        .collect();
    for leecher in &mut leechers {
        leecher.proc.wait_success(TRANSFER_TIMEOUT);
    }
    for dir in &dirs {
        swarm.assert_complete(dir);
    }
    assert!(
        seed.proc.is_running(),
        "{}",
        seed.proc.failure("the seed exited while seeding")
    );
    let status = seed.terminate();
    assert!(
        status.success(),
        "{}",
        seed.proc.failure(&format!("SIGTERM gave {status}"))
    );
}

#[test]
fn single_file_to_three_btmirror_leechers() {
    seed_to_three_leechers(&Swarm::single_file("btm-swarm-single", SIZE, PIECE));
}

#[test]
fn multi_file_to_three_btmirror_leechers() {
    seed_to_three_leechers(&Swarm::multi_file(
        "btm-swarm-multi",
        MULTI_SIZES,
        MULTI_PIECE,
    ));
}
