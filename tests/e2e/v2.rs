//! BitTorrent v2 and hybrid torrents (BEP 52) made by python3-libtorrent of a tree with odd
//! sizes, a 1-byte file and an empty one: btmirror seeds each to a libtorrent leecher and
//! downloads each from a libtorrent seed (v1 too, as the control); without piece layers (a
//! stripped `.torrent`, a `btmh` magnet link) btmirror gets them from libtorrent with BEP 52
//! hash requests. SHA-256 of every file checked.

use std::ffi::OsStr;

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

/// One btmirror seed of a hybrid serves both swarms: a libtorrent leecher that knows
/// only the v1 hash (a `urn:btih:` magnet: it announces and dials under the v1 hash) and one
/// that knows only the v2 hash (`urn:btmh:`: it announces and dials under the truncated v2
/// hash, which btmirror routes to the same torrent). Both take the metadata from btmirror.
///
/// aria2 1.36 (Debian 12) cannot stand in for the v1 client: it miscomputes the v1 info-hash of
/// any hybrid torrent (the empty `""` keys of the `file tree`, aria2 issue 1927), so it asks
/// the tracker and peers for a torrent nobody has.
#[test]
fn a_hybrid_seeded_by_btmirror_serves_its_v1_and_v2_swarms() {
    let swarm = Swarm::libtorrent("v2-hybrid-both", LtKind::Hybrid, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    for h in &swarm.hashes {
        swarm.tracker.wait_for_seeds(h, 1, &mut seed.proc);
    }
    let v2 = btmirror_e2e::info_hash_v2(&swarm.torrent.path);
    let tr = swarm.announce_url();
    let v1_magnet = format!(
        "magnet:?xt=urn:btih:{}&dn={}&tr={tr}",
        swarm.torrent.info_hash.hex(),
        swarm.torrent.name
    );
    let v2_magnet = format!(
        "magnet:?xt=urn:btmh:1220{v2}&dn={}&tr={tr}",
        swarm.torrent.name
    );
    let v1_dir = swarm.empty_dir("lt-v1");
    let v2_dir = swarm.empty_dir("lt-v2");
    // The v2 one alone first, so btmirror is its only possible source; then the v1 one while
    // the first still seeds (it exits when done, so btmirror is again the only seed).
    let mut v2_leech = Libtorrent::leech_magnet(&v2_magnet, &v2_dir, free_port());
    v2_leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&v2_dir);
    let mut v1 = Libtorrent::leech_magnet(&v1_magnet, &v1_dir, free_port());
    v1.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&v1_dir);
    assert!(seed.terminate().success());
}

/// A libtorrent leecher given only a v2 magnet link of a v2-only torrent gets the metadata
/// from btmirror, and then the piece layers through BEP 52 `hash request`s (the metadata holds
/// only the files' roots), before it can verify a piece.
#[test]
fn libtorrent_downloads_v2_by_magnet_from_btmirror_with_hash_requests() {
    let swarm = Swarm::libtorrent("v2-magnet-hashes", LtKind::V2, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let v2 = btmirror_e2e::info_hash_v2(&swarm.torrent.path);
    let magnet = format!(
        "magnet:?xt=urn:btmh:1220{v2}&dn={}&tr={}",
        swarm.torrent.name,
        swarm.announce_url()
    );
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech_magnet(&magnet, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

/// btmirror given a v2-only `.torrent` without its `piece layers` asks the libtorrent seed for
/// them (BEP 52 `hash request`s), proves them to the files' roots and downloads.
#[test]
fn btmirror_downloads_v2_without_piece_layers_from_libtorrent_with_hash_requests() {
    let swarm = Swarm::libtorrent("v2-lt-to-btm-bare", LtKind::V2, PIECE);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let bare = btmirror_e2e::Torrent {
        path: swarm.torrent.path.with_extension("bare.torrent"),
        ..swarm.torrent.clone()
    };
    btmirror_e2e::without_piece_layers(&swarm.torrent.path, &bare.path);
    assert_eq!(
        btmirror_e2e::info_hash_v2(&bare.path),
        btmirror_e2e::info_hash_v2(&swarm.torrent.path)
    );
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&bare, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

/// btmirror given only a v2 magnet link (`urn:btmh:`) of a v2-only torrent finds the libtorrent
/// seed under the truncated v2 hash, checks the metadata against the SHA-256, then gets the
/// piece layers with hash requests and downloads.
#[test]
fn btmirror_downloads_v2_by_btmh_magnet_from_libtorrent() {
    let swarm = Swarm::libtorrent("v2-lt-to-btm-btmh", LtKind::V2, PIECE);
    let mut seed = Libtorrent::seed(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let v2 = btmirror_e2e::info_hash_v2(&swarm.torrent.path);
    let magnet = format!(
        "magnet:?xt=urn:btmh:1220{v2}&dn={}&tr={}",
        swarm.torrent.name,
        swarm.announce_url()
    );
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get_source(OsStr::new(&magnet), &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}
