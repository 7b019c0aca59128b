//! Message Stream Encryption (MSE/PE) with real clients that insist on it: aria2 with
//! `--bt-require-crypto=true --bt-min-crypto-level=arc4` and libtorrent with both encryption
//! policies `forced` and `allowed_enc_level = rc4` refuse every plaintext connection, so each
//! transfer here (SHA-256 checked) went over RC4. btmirror runs with its default policy
//! (`prefer`) against them, and with `require` against itself.

use btmirror_e2e::{
    Aria2, Btmirror, Libtorrent, NETNS_HOST, NetNs, Swarm, TRANSFER_TIMEOUT, Transmission,
    TransmissionEncryption, free_port, same_content,
};

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

/// Which transmission test [`transmission_in_netns`] runs.
const CASE_VAR: &str = "BTMIRROR_E2E_NETNS_CASE";

/// Runs `case` of [`transmission_in_netns`] in a fresh network namespace, or skips loudly
/// without root.
fn transmission_case(case: &str) {
    let ns = match NetNs::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED: transmission MSE test {case}: {why}");
            return;
        }
    };
    let bin = Btmirror::bin().display().to_string();
    ns.run_test(
        "encryption::transmission_in_netns",
        &[(CASE_VAR, case), ("BTMIRROR_BIN", &bin)],
    );
}

#[test]
fn transmission_requiring_encryption_downloads_from_btmirror() {
    transmission_case("leech-required");
}

#[test]
fn transmission_preferring_encryption_downloads_from_btmirror() {
    transmission_case("leech-preferred");
}

#[test]
fn btmirror_downloads_from_transmission_requiring_encryption() {
    transmission_case("seed-required");
}

#[test]
fn btmirror_downloads_from_transmission_preferring_encryption() {
    transmission_case("seed-preferred");
}

/// The body of the transmission tests, inside the namespace (`$BTMIRROR_E2E_HOST` is its
/// 10.x address): `leech-*` has transmission download from a btmirror seed, `seed-*` btmirror
/// download from a transmission seed; `*-required` sets transmission's `"encryption": 2`,
/// `*-preferred` its default 1. btmirror keeps its default policy.
#[test]
#[ignore = "run inside a network namespace by the transmission_* tests"]
fn transmission_in_netns() {
    let case = std::env::var(CASE_VAR)
        .unwrap_or_else(|_| panic!("only the transmission_* tests run this (set {CASE_VAR})"));
    assert_eq!(
        btmirror_e2e::host().to_string(),
        NETNS_HOST,
        "not in the namespace"
    );
    let (role, level) = case.split_once('-').unwrap_or_default();
    let encryption = match level {
        "required" => TransmissionEncryption::Required,
        "preferred" => TransmissionEncryption::Preferred,
        other => panic!("unknown case {other:?}"),
    };
    let swarm = Swarm::single_file(&format!("mse-transmission-{case}"), SIZE, PIECE);
    match role {
        "leech" => {
            let mut seed = Btmirror::get(&swarm.torrent, &swarm.seed_dir("seed"), free_port(), &[]);
            swarm.wait_for_seeds(1, &mut seed.proc);
            let dir = swarm.empty_dir("leech");
            let mut leech = Transmission::leech_with(&swarm.torrent, &dir, free_port(), encryption);
            leech.wait_done(TRANSFER_TIMEOUT);
            swarm.assert_complete(&dir);
            assert!(seed.terminate().success());
        }
        "seed" => {
            let dir = swarm.seed_dir("seed");
            let mut seed = Transmission::seed_with(&swarm.torrent, &dir, free_port(), encryption);
            swarm.wait_for_seeds(1, &mut seed.proc);
            let dir = swarm.empty_dir("leech");
            let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &["--no-seed"]);
            leech.proc.wait_success(TRANSFER_TIMEOUT);
            swarm.assert_complete(&dir);
        }
        other => panic!("unknown role {other:?}"),
    }
}

/// WebTorrent (node) finds a btmirror seed through the tracker and downloads from it: with its
/// default settings, and with its protocol encryption on against a seed that requires MSE
/// (so that transfer went over RC4).
fn webtorrent_case(name: &str, seed_args: &[&str], secure: bool) {
    if let Some(why) = btmirror_e2e::WebTorrent::unavailable() {
        eprintln!("SKIPPED {name}: {why}");
        return;
    }
    let swarm = Swarm::single_file(name, SIZE, PIECE);
    let mut seed = Btmirror::get(
        &swarm.torrent,
        &swarm.seed_dir("seed"),
        free_port(),
        seed_args,
    );
    swarm.wait_for_seeds(1, &mut seed.proc);
    let dir = swarm.empty_dir("leech");
    let mut leech = btmirror_e2e::WebTorrent::leech(&swarm.torrent, &dir, secure);
    leech.wait_done(TRANSFER_TIMEOUT);
    swarm.assert_complete(&dir);
    assert!(seed.terminate().success());
}

#[test]
fn webtorrent_downloads_from_btmirror() {
    webtorrent_case("webtorrent-default", &[], false);
}

#[test]
fn webtorrent_encrypting_downloads_from_btmirror_requiring_mse() {
    webtorrent_case("webtorrent-secure", &["--encryption", "require"], true);
}
