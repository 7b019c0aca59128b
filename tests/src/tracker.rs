//! [`Opentracker`]: Debian's opentracker on a free 127.0.0.1 port, plus announce and scrape
//! helpers that speak to it directly.
//!
//! Debian builds opentracker in whitelist mode: only info-hashes listed in the file given with
//! `-w` are served. Run as root it chroots into `-d` and drops to `nobody`, so the whitelist
//! lives inside that directory and must be readable by `nobody`. It reloads the whitelist on
//! SIGHUP, which is how [`Opentracker::allow`] adds torrents to a running tracker.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::bencode::{self, Value};
use crate::process::{Proc, poll_until};
use crate::torrent::InfoHash;
use crate::{READY_TIMEOUT, free_port, http};

/// Peer id the harness uses for its own probe announces.
const PROBE_PEER_ID: &[u8; 20] = b"-E2E000-probeprobe00";

/// Counts a tracker reports for one torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeCounts {
    /// Peers with the whole torrent (seeds).
    pub complete: i64,
    /// Peers still downloading.
    pub incomplete: i64,
    /// Completed downloads so far.
    pub downloaded: i64,
}

/// A running opentracker bound to 127.0.0.1 (TCP only). Stopped on drop.
#[derive(Debug)]
pub struct Opentracker {
    proc: Proc,
    port: u16,
    whitelist: PathBuf,
}

impl Opentracker {
    /// Starts opentracker with its chroot/working directory at `dir` (created), allowing
    /// `info_hashes`. Waits until the port accepts connections and announces for those
    /// hashes are accepted.
    ///
    /// # Panics
    /// If opentracker is missing or does not come up (five tries with fresh ports).
    pub fn start(dir: &Path, info_hashes: &[InfoHash]) -> Opentracker {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        set_mode(dir, 0o755);
        // Starts empty: opentracker may read it before it chroots, where the path does not
        // resolve. `allow` adds the hashes and makes it reload once it runs.
        let whitelist = dir.join("whitelist.txt");
        std::fs::write(&whitelist, "")
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", whitelist.display()));
        set_mode(&whitelist, 0o644);
        let is_root = nix::unistd::geteuid().is_root();
        let mut last_failure = String::new();
        for attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("opentracker");
            cmd.arg("-i")
                .arg(crate::host().to_string())
                .arg("-p")
                .arg(port.to_string());
            cmd.arg("-d").arg(dir);
            if is_root {
                // Chroots into -d and drops to nobody: the whitelist path is inside the chroot.
                cmd.arg("-u").arg("nobody").arg("-w").arg("/whitelist.txt");
            } else {
                cmd.arg("-w").arg(&whitelist);
            }
            let log = dir.with_extension(format!("opentracker-{attempt}.log"));
            let mut proc = Proc::spawn(&format!("opentracker :{port}"), &mut cmd, &log);
            let addr = SocketAddr::from((crate::host(), port));
            let up = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return Some(true);
                }
                (!proc.is_running()).then_some(false)
            });
            if up == Some(true) {
                let mut tracker = Opentracker {
                    proc,
                    port,
                    whitelist,
                };
                if !info_hashes.is_empty() {
                    tracker.allow(info_hashes);
                }
                return tracker;
            }
            last_failure = proc.failure("did not accept connections (is opentracker installed?)");
        }
        panic!("{last_failure}");
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/announce`
    pub fn announce_url(&self) -> String {
        format!("http://{}:{}/announce", crate::host(), self.port)
    }

    /// The tracker process (for its log).
    pub fn proc(&self) -> &Proc {
        &self.proc
    }

    /// Adds info-hashes to the whitelist of the running tracker (SIGHUP reload) and waits
    /// until it accepts announces for them.
    ///
    /// # Panics
    /// If the tracker still refuses them after 10 s.
    pub fn allow(&mut self, info_hashes: &[InfoHash]) {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.whitelist)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.whitelist.display()));
        for h in info_hashes {
            writeln!(file, "{}", h.hex())
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", self.whitelist.display()));
        }
        drop(file);
        self.proc.signal(Signal::SIGHUP);
        for h in info_hashes {
            // A `stopped` announce for a peer that never started changes nothing in the swarm,
            // but is refused with a failure reason until the hash is whitelisted.
            let accepted = poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
                announce(self.port, h, PROBE_PEER_ID, 1, 0, "stopped")
                    .ok()
                    .filter(|r| r.get("failure reason").is_none())
            });
            assert!(
                accepted.is_some(),
                "{}",
                self.proc.failure(&format!(
                    "still refuses {h} 10 s after a SIGHUP whitelist reload"
                ))
            );
        }
    }

    /// What a scrape reports for `info_hash` (zeros for a torrent nobody announced yet).
    pub fn scrape(&self, info_hash: &InfoHash) -> Result<ScrapeCounts, String> {
        let body = http::get(
            self.port,
            &format!("/scrape?info_hash={}", info_hash.url_encoded()),
        )?;
        let root = bencode::decode(&body).map_err(|e| format!("bad scrape response: {e}"))?;
        let Some(entry) = root.get("files").and_then(|files| match &files.kind {
            bencode::Kind::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_slice() == info_hash.0)
                .map(|(_, v)| v.clone()),
            _ => None,
        }) else {
            return Ok(ScrapeCounts::default());
        };
        let count = |key| entry.get(key).and_then(Value::int).unwrap_or(0);
        Ok(ScrapeCounts {
            complete: count("complete"),
            incomplete: count("incomplete"),
            downloaded: count("downloaded"),
        })
    }

    /// Waits until the tracker lists at least `n` seeds for `info_hash`, for at most
    /// [`READY_TIMEOUT`]. `peer` is the process expected to become that seed: if it exits
    /// first, or on timeout, this panics with its log.
    pub fn wait_for_seeds(&self, info_hash: &InfoHash, n: i64, peer: &mut Proc) {
        self.wait_for(info_hash, peer, &format!("{n} seed(s)"), |c| {
            c.complete >= n
        });
    }

    /// Waits until the tracker lists at least `n` downloading peers for `info_hash`; see
    /// [`Opentracker::wait_for_seeds`].
    pub fn wait_for_leechers(&self, info_hash: &InfoHash, n: i64, peer: &mut Proc) {
        self.wait_for(info_hash, peer, &format!("{n} leecher(s)"), |c| {
            c.incomplete >= n
        });
    }

    fn wait_for(
        &self,
        info_hash: &InfoHash,
        peer: &mut Proc,
        what: &str,
        pred: impl Fn(ScrapeCounts) -> bool,
    ) {
        let mut last = Err(String::from("no scrape yet"));
        let done = poll_until(READY_TIMEOUT, Duration::from_millis(100), || {
            last = self.scrape(info_hash);
            if last.as_ref().is_ok_and(|c| pred(*c)) {
                return Some(Ok(()));
            }
            peer.try_status().map(Err)
        });
        match done {
            Some(Ok(())) => {}
            Some(Err(status)) => panic!(
                "{}",
                peer.failure(&format!(
                    "exited ({status}) before the tracker listed {what}"
                ))
            ),
            None => panic!(
                "{}\ntracker: {last:?}\n{}",
                peer.failure(&format!(
                    "the tracker did not list {what} for {info_hash} within {READY_TIMEOUT:?}"
                )),
                self.proc.log_tail(10)
            ),
        }
    }
}

/// One HTTP announce to the tracker on `127.0.0.1:tracker_port`; returns the decoded response.
pub(crate) fn announce(
    tracker_port: u16,
    info_hash: &InfoHash,
    peer_id: &[u8; 20],
    listen_port: u16,
    left: u64,
    event: &str,
) -> Result<Value, String> {
    let peer_id: String = peer_id.iter().map(|b| format!("%{b:02X}")).collect();
    let query = format!(
        "/announce?info_hash={}&peer_id={peer_id}&port={listen_port}&uploaded=0&downloaded=0\
         &left={left}&compact=1&event={event}&numwant=50",
        info_hash.url_encoded()
    );
    let body = http::get(tracker_port, &query)?;
    bencode::decode(&body).map_err(|e| format!("bad announce response: {e}"))
}

/// The port of an `http://127.0.0.1:PORT/announce` URL.
pub(crate) fn port_of(announce_url: &str) -> Option<u16> {
    let rest = announce_url.strip_prefix(&format!("http://{}:", crate::host()))?;
    let end = rest.find('/').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_of_reads_loopback_urls_only() {
        assert_eq!(port_of("http://127.0.0.1:6969/announce"), Some(6969));
        assert_eq!(port_of("http://127.0.0.1:80"), Some(80));
        assert_eq!(port_of("http://example.com:80/announce"), None);
    }
}
