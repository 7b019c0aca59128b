//! uTP (BEP 29) with TCP out of the picture: libtorrent with `enable_incoming_tcp` and
//! `enable_outgoing_tcp` off downloads from a default btmirror seed and seeds to a default
//! btmirror leecher (so btmirror's TCP attempt fails and it falls back to uTP), and two
//! btmirrors with `--utp-only` trade with each other.

use btmirror_e2e::{Btmirror, Libtorrent, Swarm, TRANSFER_TIMEOUT, free_port};

use crate::{PIECE, SIZE};

#[test]
fn utp_only_libtorrent_downloads_from_btmirror() {
    let swarm = Swarm::single_file("btm-to-lt-utp", SIZE, PIECE);
    let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Libtorrent::leech_utp(&swarm.torrent, &dir, free_port());
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
fn btmirror_downloads_from_utp_only_libtorrent() {
    let swarm = Swarm::single_file("lt-utp-to-btm", SIZE, PIECE);
    let mut seed = Libtorrent::seed_utp(&swarm.torrent, &swarm.seed_dir("seed"), free_port());
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    // default transports: TCP is refused, so this also checks the fallback to uTP
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
}

#[test]
fn btmirror_to_btmirror_with_utp_only() {
    let swarm = Swarm::single_file("btm-utp-only", SIZE, PIECE);
    let mut seed = Btmirror::get(
        &swarm.torrent,
        &swarm.seed_dir("seed"),
        free_port(),
        &["--utp-only"],
    );
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(
        &swarm.torrent,
        &dir,
        free_port(),
        &["--utp-only", "--no-seed"],
    );
    leech.proc.wait_success(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    let status = seed.terminate();
    assert!(
        status.success(),
        "{}",
        seed.proc.failure(&format!("SIGTERM gave {status}"))
    );
}
