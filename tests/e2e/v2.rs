//! BitTorrent v2 and hybrid torrents (BEP 52) made by python3-libtorrent of a tree with odd
//! sizes, a 1-byte file and an empty one: btmirror seeds each to a libtorrent leecher and
//! downloads each from a libtorrent seed (v1 too, as the control). SHA-256 of every file checked.

use btmirror_e2e::{Btmirror, Libtorrent, LtKind, Swarm, TRANSFER_TIMEOUT, free_port};

const PIECE: u32 = 64 * 1024;

fn btmirror_seeds_libtorrent(test: &str, kind: LtKind) {
    let swarm = Swarm::libtorrent(test, kind, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    // A hybrid is announced in both swarms.
    assert_eq!(
        swarm.hashes.len(),
        if kind == LtKind::Hybrid { 2 } else { 1 }
    );
    for h in &swarm.hashes {
        swarm.tracker.wait_for_seeds(h, 1, &mut seed.proc);
    }
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

fn btmirror_downloads_from_libtorrent(test: &str, kind: LtKind) {
    let swarm = Swarm::libtorrent(test, kind, PIECE);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

#[test]
fn libtorrent_downloads_v1_from_btmirror() {
    btmirror_seeds_libtorrent("v2-btm-to-lt-v1", LtKind::V1);
}

#[test]
fn libtorrent_downloads_v2_from_btmirror() {
    btmirror_seeds_libtorrent("v2-btm-to-lt-v2", LtKind::V2);
}

#[test]
fn libtorrent_downloads_hybrid_from_btmirror() {
    btmirror_seeds_libtorrent("v2-btm-to-lt-hybrid", LtKind::Hybrid);
}

#[test]
fn btmirror_downloads_v1_from_libtorrent() {
    btmirror_downloads_from_libtorrent("v2-lt-to-btm-v1", LtKind::V1);
}

#[test]
fn btmirror_downloads_v2_from_libtorrent() {
    btmirror_downloads_from_libtorrent("v2-lt-to-btm-v2", LtKind::V2);
}

#[test]
fn btmirror_downloads_hybrid_from_libtorrent() {
    btmirror_downloads_from_libtorrent("v2-lt-to-btm-hybrid", LtKind::Hybrid);
}
