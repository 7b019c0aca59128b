//! Helpers for btmirror's end-to-end tests: real processes on 127.0.0.1.
//!
//! Every test builds a small swarm out of real programs: a whitelisted [`Opentracker`], seeds
//! and leechers that are `aria2c` ([`Aria2`]), `python3-libtorrent` ([`Libtorrent`]),
//! `transmission-cli` ([`Transmission`]) or btmirror itself ([`Btmirror`]), and, for the
//! hostile-peer test, a hand-written [`CorruptPeer`]. [`Swarm`] bundles the usual set-up:
//! a scratch directory, a generated payload, a torrent for it and a tracker that knows it.
//!
//! Conventions that keep the tests safe to run in parallel and easy to debug:
//!
//! - All traffic stays on 127.0.0.1 (or, for transmission, on 10.x addresses inside a network
//!   namespace the test creates, see [`NetNs`]); every listener gets its own port from
//!   [`free_port`].
//! - Every process is a [`Proc`]: stdout and stderr go to a log file inside the test's scratch
//!   directory, and it is stopped on drop (SIGTERM, then SIGKILL).
//! - Every wait is bounded. A timeout panics with a message that names what was awaited and
//!   shows the tail of the relevant log.
//! - A failed test keeps its scratch directory (see [`Scratch`]) and prints its path.
//!
//! Environment variables:
//!
//! - `BTMIRROR_BIN`: the btmirror binary to test (otherwise built with cargo, see [`Btmirror::bin`]).
//! - `BTMIRROR_E2E_KEEP=1`: keep every scratch directory, not only those of failed tests.
//! - `BTMIRROR_E2E_HOST`, `BTMIRROR_E2E_PEER_HOST`: the addresses to bind to instead of
//!   127.0.0.1 (set by [`NetNs`]; transmission takes the second).
//! - `BTMIRROR_E2E_PYTHON`: the interpreter for libtorrent (default `/usr/bin/python3`).
//!
//! Needs the Debian packages `opentracker aria2 mktorrent python3-libtorrent transmission-cli`
//! (`.ci/run` installs them).

mod bencode;
mod btmirror;
mod clients;
mod corrupt_peer;
mod hosts;
mod http;
mod netns;
pub mod nginx;
mod process;
mod swarm;
mod torrent;
mod tracker;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use btmirror::Btmirror;
pub use clients::{Aria2, Libtorrent, Peer, Transmission, TransmissionEncryption, WebTorrent};
pub use corrupt_peer::CorruptPeer;
pub use hosts::{HOST_A, HOST_B, PrivateHosts};
pub use netns::{NETNS_HOST, NetNs};
pub use nginx::Nginx;
pub use process::{Proc, poll_until};
pub use swarm::{Swarm, assert_same_content, same_content};
pub use torrent::{
    InfoHash, LtKind, Torrent, aria2_info_hash, info_hash_v2, lt_make_torrent, make_torrent,
    make_torrent_with_web_seeds, read_torrent, without_piece_layers,
};
pub use tracker::{Opentracker, ScrapeCounts};

/// The address the tracker listens on and btmirror and transmission bind to: 127.0.0.1, or
/// `$BTMIRROR_E2E_HOST` inside the network namespace of a test (see `netns`).
pub fn host() -> std::net::Ipv4Addr {
    std::env::var("BTMIRROR_E2E_HOST")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST)
}

/// The address transmission binds to: [`host`], or `$BTMIRROR_E2E_PEER_HOST` inside a
/// network namespace (a second address there, so that it is not on btmirror's).
pub fn peer_host() -> std::net::Ipv4Addr {
    std::env::var("BTMIRROR_E2E_PEER_HOST")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(host)
}

/// How long a download of a test payload (a few MiB on loopback) may take at most.
///
/// Generous, because a debug build of btmirror shares two cores with everything else.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a seed may take to show up as complete at the tracker.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1, found by binding port 0 and closing the socket again.
///
/// Never returns the same port twice within one test process, so tests running in parallel
/// do not race each other for a port. Another program may still grab the port before the
/// caller binds it; the window is tiny, and [`Opentracker::start`] retries with a new port.
///
/// # Panics
/// If no socket can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind a socket on 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read the local address of a bound socket: {e}"))
            .port();
        if HANDED_OUT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(port)
        {
            return port;
        }
    }
}

/// Writes `size` bytes of deterministic pseudo-random data to `path` (the same `seed` gives the
/// same bytes), creating parent directories as needed. Returns `path` for chaining.
///
/// # Panics
/// If the file cannot be written.
pub fn payload(path: &Path, size: u64, seed: u64) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut out = BufWriter::new(file);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = &mut buf[..n];
        rng.fill(chunk);
        out.write_all(chunk)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        left -= n as u64;
    }
    out.flush()
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path.to_path_buf()
}

/// SHA-256 of a file's contents as 64 lowercase hex digits.
///
/// # Panics
/// If the file cannot be read.
pub fn sha256_file(path: &Path) -> String {
    let mut file =
        File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    torrent::hex(&hasher.finalize())
}

/// A test's scratch directory (logs, data, torrents, tracker chroot).
///
/// Removed when dropped, except while the thread is panicking (or always, with the environment
/// variable `BTMIRROR_E2E_KEEP=1`): then it is kept and its path printed, so the logs of a
/// failed test can be read afterwards.
#[derive(Debug)]
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Scratch {
    /// Creates a fresh directory named after the test under the system's temp dir.
    ///
    /// # Panics
    /// If the directory cannot be created.
    pub fn new(test: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("btmirror-e2e-{test}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let path = dir.path().to_path_buf();
        Scratch {
            dir: Some(dir),
            path,
        }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the scratch directory, created as an (empty) directory.
    ///
    /// # Panics
    /// If the directory cannot be created.
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let keep_all = std::env::var_os("BTMIRROR_E2E_KEEP").is_some_and(|v| v == "1");
        if (std::thread::panicking() || keep_all)
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("scratch dir kept at {}", kept.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_deterministic_and_seed_dependent() {
        let dir = tempfile::tempdir().unwrap();
        let a = payload(&dir.path().join("a"), 100_001, 1);
        let b = payload(&dir.path().join("sub/b"), 100_001, 1);
        let c = payload(&dir.path().join("c"), 100_001, 2);
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 100_001);
        assert_eq!(sha256_file(&a), sha256_file(&b));
        assert_ne!(sha256_file(&a), sha256_file(&c));
    }

    #[test]
    fn sha256_of_a_known_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn free_port_never_repeats() {
        let ports: BTreeSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }
}
