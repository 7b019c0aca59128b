//! `python3-libtorrent` (libtorrent-rasterbar, the engine of qBittorrent and Deluge) through
//! `tests/scripts/lt_client.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Peer, beside};
use crate::process::Proc;
use crate::torrent::Torrent;

/// The client script, run by [`python`].
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lt_client.py");

/// The interpreter: `$BTMIRROR_E2E_PYTHON`, else `/usr/bin/python3`.
///
/// Debian's python3-libtorrent only works with Debian's own python; a `python3` earlier on the
/// PATH (pyenv, venv) usually lacks the module.
pub(crate) fn python() -> PathBuf {
    std::env::var_os("BTMIRROR_E2E_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// Starts a libtorrent session in a loopback swarm.
#[derive(Debug, Clone, Copy)]
pub struct Libtorrent;

impl Libtorrent {
    /// Seeds `torrent` from data already in `dir` (`seed_mode`: pieces are hashed when first
    /// uploaded), until stopped.
    pub fn seed(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start("seed", torrent, dir, port, &[], Mode::Default)
    }

    /// [`Libtorrent::seed`] with encryption forced both ways and RC4 only
    /// (`in_enc_policy`/`out_enc_policy = forced`, `allowed_enc_level = rc4`).
    pub fn seed_forced_rc4(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start("seed", torrent, dir, port, &[], Mode::ForcedRc4)
    }

    /// [`Libtorrent::leech`] with encryption forced both ways and RC4 only.
    pub fn leech_forced_rc4(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start("leech", torrent, dir, port, &[], Mode::ForcedRc4)
    }

    /// Like [`Libtorrent::seed`] with TCP off both ways and uTP on: reachable over uTP only.
    pub fn seed_utp(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start("seed", torrent, dir, port, &[], Mode::UtpOnly)
    }

    /// Like [`Libtorrent::leech`] with TCP off both ways and uTP on: it dials over uTP only.
    pub fn leech_utp(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start("leech", torrent, dir, port, &[], Mode::UtpOnly)
    }

    /// Like [`Libtorrent::seed`], re-announcing every `seconds` so that it learns about
    /// leechers that cannot dial it (transmission on loopback).
    pub fn seed_reannouncing(torrent: &Torrent, dir: &Path, port: u16, seconds: u32) -> Peer {
        start(
            "seed",
            torrent,
            dir,
            port,
            &[&seconds.to_string()],
            Mode::Default,
        )
    }

    /// Downloads `torrent` into `dir`. Once libtorrent says it is seeding and its write cache
    /// is flushed it writes its done file and exits 0; see [`Peer::wait_done`].
    pub fn leech(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start("leech", torrent, dir, port, &[], Mode::Default)
    }

    /// Like [`Libtorrent::leech`] from a magnet link: the metadata comes from the peers.
    pub fn leech_magnet(magnet: &str, dir: &Path, port: u16) -> Peer {
        start_source("leech", magnet.as_ref(), dir, port, &[], Mode::Default)
    }
}

/// How the libtorrent session deviates from its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Default,
    /// `LT_ENCRYPTION=forced-rc4`: MSE with RC4 only, both ways.
    ForcedRc4,
    /// `LT_TRANSPORT=utp`: uTP only, both ways.
    UtpOnly,
}

fn start(role: &str, torrent: &Torrent, dir: &Path, port: u16, extra: &[&str], mode: Mode) -> Peer {
    start_source(role, torrent.path.as_os_str(), dir, port, extra, mode)
}

fn start_source(
    role: &str,
    source: &std::ffi::OsStr,
    dir: &Path,
    port: u16,
    extra: &[&str],
    mode: Mode,
) -> Peer {
    let done = beside(dir, &format!("libtorrent-{role}.done"));
    let mut cmd = Command::new(python());
    cmd.current_dir(dir)
        .env("PYTHONUNBUFFERED", "1")
        .env(
            "LT_ENCRYPTION",
            if mode == Mode::ForcedRc4 {
                "forced-rc4"
            } else {
                ""
            },
        )
        .arg(SCRIPT)
        .arg(role)
        .arg(source)
        .arg(dir)
        .arg(port.to_string())
        .arg(&done)
        .args(extra);
    if mode == Mode::UtpOnly {
        cmd.env("LT_TRANSPORT", "utp");
    }
    let log = beside(dir, &format!("libtorrent-{role}.log"));
    let proc = Proc::spawn(&format!("libtorrent {role} :{port}"), &mut cmd, &log);
    Peer::new(proc, port, dir, Some(done))
}
