//! `aria2c` as a seed or a leecher.

use std::path::Path;
use std::process::Command;

use super::{Peer, beside};
use crate::process::Proc;
use crate::torrent::Torrent;

/// Starts `aria2c` (Debian package `aria2`) in a loopback swarm.
#[derive(Debug, Clone, Copy)]
pub struct Aria2;

impl Aria2 {
    /// Seeds `torrent` from data already in `dir`, forever (`--seed-ratio=0.0`), trusting the
    /// data without a check (`--bt-seed-unverified`).
    pub fn seed(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        Aria2::seed_with(torrent, dir, port, &[])
    }

    /// [`Aria2::seed`] with extra aria2c options, e.g. `--max-overall-upload-limit=2M`.
    pub fn seed_with(torrent: &Torrent, dir: &Path, port: u16, extra: &[&str]) -> Peer {
        seed_crypto(torrent, dir, port, extra, Crypto::Plain)
    }

    /// [`Aria2::seed`] that speaks only MSE with RC4 (`--bt-require-crypto=true
    /// --bt-min-crypto-level=arc4`).
    pub fn seed_requiring_rc4(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        seed_crypto(torrent, dir, port, &[], Crypto::RequireRc4)
    }

    /// [`Aria2::leech`] that speaks only MSE with RC4.
    pub fn leech_requiring_rc4(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        leech_crypto(torrent, dir, port, Crypto::RequireRc4)
    }

    /// Downloads `torrent` into `dir` and exits 0 once complete (`--seed-time=0`).
    pub fn leech(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        leech_crypto(torrent, dir, port, Crypto::Plain)
    }
}

/// What aria2 accepts.
#[derive(Clone, Copy)]
enum Crypto {
    /// Plaintext or MSE, plaintext preferred.
    Plain,
    /// MSE with RC4 only.
    RequireRc4,
}

/// A seed of `torrent` from `dir` accepting `crypto`.
fn seed_crypto(torrent: &Torrent, dir: &Path, port: u16, extra: &[&str], crypto: Crypto) -> Peer {
    let mut cmd = base_command(dir, port, crypto);
    cmd.args([
        "--bt-seed-unverified=true",
        "--check-integrity=false",
        "--seed-ratio=0.0",
    ]);
    cmd.args(extra).arg(&torrent.path);
    let log = beside(dir, "aria2c-seed.log");
    let proc = Proc::spawn(&format!("aria2c seed :{port}"), &mut cmd, &log);
    Peer::new(proc, port, dir, None)
}

/// A leecher of `torrent` into `dir` accepting `crypto`.
fn leech_crypto(torrent: &Torrent, dir: &Path, port: u16, crypto: Crypto) -> Peer {
    let mut cmd = base_command(dir, port, crypto);
    cmd.arg("--seed-time=0").arg(&torrent.path);
    let log = beside(dir, "aria2c-leech.log");
    let proc = Proc::spawn(&format!("aria2c leech :{port}"), &mut cmd, &log);
    Peer::new(proc, port, dir, None)
}

/// Options shared by both roles (as in `tools/swarm-bench`), bound to 127.0.0.1.
fn base_command(dir: &Path, port: u16, crypto: Crypto) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.current_dir(dir)
        .arg(format!("--dir={}", dir.display()))
        .arg(format!("--listen-port={port}"))
        .args([
            "--interface=127.0.0.1",
            "--disable-ipv6=true",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--bt-max-peers=0",
            "--file-allocation=none",
            "--summary-interval=1",
            "--console-log-level=notice",
            "--enable-color=false",
            "--auto-save-interval=0",
            "--bt-save-metadata=false",
            "--rpc-save-upload-metadata=false",
            "--allow-overwrite=false",
            "--bt-stop-timeout=0",
        ]);
    cmd.args(match crypto {
        Crypto::Plain => ["--bt-require-crypto=false", "--bt-min-crypto-level=plain"],
        Crypto::RequireRc4 => ["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"],
    });
    cmd
}
