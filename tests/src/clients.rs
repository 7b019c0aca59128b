//! Real BitTorrent clients as seeds and leechers: [`Aria2`], [`Libtorrent`], [`Transmission`],
//! [`WebTorrent`].
//!
//! Each is configured for a one-address loopback swarm: DHT, local peer discovery, peer
//! exchange, UPnP/NAT-PMP and uTP off where the client allows it, encryption allowed but never
//! required. Every client's log goes next to its data directory: `<dir>.<client>-<role>.log`.

mod aria2;
pub(crate) mod libtorrent;
mod transmission;
mod webtorrent;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

pub use aria2::Aria2;
pub use libtorrent::Libtorrent;
pub use transmission::{Encryption as TransmissionEncryption, Transmission};
pub use webtorrent::WebTorrent;

use crate::process::{Proc, poll_until};

/// How long a client gets to exit after SIGTERM (it may announce `stopped` first).
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A running client process in a swarm.
#[derive(Debug)]
pub struct Peer {
    /// The process (log, signals, exit status).
    pub proc: Proc,
    /// Its listen port on 127.0.0.1.
    pub port: u16,
    /// Its data directory (the torrent's data is at `dir/<torrent name>`).
    pub dir: PathBuf,
    /// A file the client creates once its download is complete and flushed, for clients
    /// that do not exit on completion.
    done_file: Option<PathBuf>,
}

impl Peer {
    pub(crate) fn new(proc: Proc, port: u16, dir: &Path, done_file: Option<PathBuf>) -> Peer {
        Peer {
            proc,
            port,
            dir: dir.to_path_buf(),
            done_file,
        }
    }

    /// Waits until a leecher reports completion: its done file appears or it exits with
    /// status 0 (aria2c and `btmirror get --no-seed` exit on completion).
    ///
    /// # Panics
    /// If it exits with another status first, or on timeout, with the log tail.
    pub fn wait_done(&mut self, timeout: Duration) {
        let done_file = self.done_file.clone();
        let proc = &mut self.proc;
        let outcome = poll_until(timeout, Duration::from_millis(50), || {
            if done_file.as_ref().is_some_and(|f| f.exists()) {
                return Some(Ok(()));
            }
            proc.try_status()
                .map(|s| if s.success() { Ok(()) } else { Err(s) })
        });
        match outcome {
            Some(Ok(())) => {}
            Some(Err(status)) => panic!(
                "{}",
                self.proc.failure(&format!(
                    "exited with {status} before completing its download"
                ))
            ),
            None => panic!(
                "{}",
                self.proc
                    .failure(&format!("did not complete its download within {timeout:?}"))
            ),
        }
    }

    /// Waits for the process to exit on its own; see [`Proc::wait_exit`].
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.proc.wait_exit(timeout)
    }

    /// SIGTERM, then SIGKILL after a grace period; returns how the process ended.
    pub fn terminate(&mut self) -> ExitStatus {
        self.proc.terminate(STOP_GRACE)
    }
}

/// `<dir>.<suffix>`: a path next to a data directory, for logs and client state.
pub(crate) fn beside(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "data".into());
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beside_puts_files_next_to_the_directory() {
        assert_eq!(
            beside(Path::new("/tmp/x/seed"), "aria2c-seed.log"),
            PathBuf::from("/tmp/x/seed.aria2c-seed.log")
        );
    }
}
