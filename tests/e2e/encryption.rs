//! Message Stream Encryption (MSE/PE) with real clients that insist on it: aria2 with
//! `--bt-require-crypto=true --bt-min-crypto-level=arc4` and libtorrent with both encryption
//! policies `forced` and `allowed_enc_level = rc4` refuse every plaintext connection, so each
//! transfer here (SHA-256 checked) went over RC4. btmirror runs with its default policy
//! (`prefer`) against them, and with `require` against itself.

use btmirror_e2e::{Aria2, Btmirror, Libtorrent, Swarm, TRANSFER_TIMEOUT, free_port, same_content};

use crate::{PIECE, SIZE};

#[test]
fn aria2_requiring_rc4_downloads_from_btmirror() {
    let swarm = Swarm::single_file("mse-btm-to-aria2", SIZE, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Aria2::leech_requiring_rc4(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

#[test]
fn btmirror_downloads_from_aria2_requiring_rc4() {
    let swarm = Swarm::single_file("mse-aria2-to-btm", SIZE, PIECE);
    let mut seed = Aria2::seed_requiring_rc4(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

#[test]
fn libtorrent_forced_rc4_downloads_from_btmirror() {
    let swarm = Swarm::single_file("mse-btm-to-lt", SIZE, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech_forced_rc4(&swarm.torrent, &dir, free_port());
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

#[test]
fn btmirror_downloads_from_libtorrent_forced_rc4() {
    let swarm = Swarm::single_file("mse-lt-to-btm", SIZE, PIECE);
    let mut seed =
        Libtorrent::seed_forced_rc4(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

#[test]
fn btmirror_require_to_btmirror_require() {
    let swarm = Swarm::single_file("mse-btm-require", SIZE, PIECE);
    let require = ["--encryption", "require"];
    let mut seed = Btmirror::get(
        &swarm.torrent,
        &swarm.seed_dir("seed"),
        free_port(),
        &require,
    );
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(
        &swarm.torrent,
        &dir,
        free_port(),
        &["--encryption", "require", "--no-seed"],
    );
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

/// The control: with encryption disabled, the libtorrent that forces it gets nothing (so the
/// tests above did go through MSE).
#[test]
fn libtorrent_forced_rc4_gets_nothing_from_btmirror_with_encryption_disabled() {
    let swarm = Swarm::single_file("mse-btm-disabled-to-lt", SIZE, PIECE);
    let disable = ["--encryption", "disable"];
    let mut seed = Btmirror::get(
        &swarm.torrent,
        &swarm.seed_dir("seed"),
        free_port(),
        &disable,
    );
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech_forced_rc4(&swarm.torrent, &dir, free_port());
    std::thread::sleep(std::time::Duration::from_secs(10));
    assert!(
        same_content(&swarm.source, &swarm.torrent.data_in(&dir)).is_err(),
        "libtorrent forcing RC4 got the data from a seed with encryption disabled"
    );
    assert!(leech.terminate().success());
    assert!(seed.terminate().success());
}
