//! Spawns Debian's `/usr/bin/opentracker` on 127.0.0.1 for a test, killed on drop.
//!
//! Debian builds it in whitelist mode: the info-hashes it will serve go into a whitelist file
//! (40 hex digits a line). Run as root it chroots into `-d DIR` and drops to `nobody`, so the
//! whitelist lives inside that directory, which must be world-readable.

use std::fs;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use metainfo::InfoHash;

/// Where Debian installs it.
pub const OPENTRACKER: &str = "/usr/bin/opentracker";

/// A running opentracker serving HTTP on `http_port` and UDP on `udp_port` (127.0.0.1).
pub struct OpenTracker {
    child: Child,
    /// TCP port of the HTTP tracker.
    pub http_port: u16,
    /// UDP port of the BEP 15 tracker.
    pub udp_port: u16,
    _dir: tempfile::TempDir,
}

impl OpenTracker {
    /// Starts opentracker for `hashes`, or returns `None` (after printing a note) when it is not
    /// installed. Panics when it is installed but does not come up.
    pub fn start(hashes: &[InfoHash]) -> Option<Self> {
        if !Path::new(OPENTRACKER).exists() {
            eprintln!("note: {OPENTRACKER} missing, skipping the opentracker test");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let whitelist = dir.path().join("whitelist");
        let lines: String = hashes.iter().map(|h| format!("{}\n", h.to_hex())).collect();
        fs::write(&whitelist, lines).expect("write whitelist");
        fs::set_permissions(&whitelist, fs::Permissions::from_mode(0o644)).expect("chmod list");

        let http_port = free_tcp_port();
        let udp_port = free_udp_port();
        let child = Command::new(OPENTRACKER)
            .args(["-i", "127.0.0.1", "-p", &http_port.to_string()])
            .args(["-P", &udp_port.to_string()])
            .arg("-d")
            .arg(dir.path())
            // Read after the chroot, so relative to it (and absolute when not chrooted).
            .args(["-w", "whitelist"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn opentracker");
        let tracker = Self {
            child,
            http_port,
            udp_port,
            _dir: dir,
        };
        tracker.wait_ready();
        Some(tracker)
    }

    /// The HTTP announce URL.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.http_port)
    }

    /// The UDP announce URL.
    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.udp_port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.http_port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "opentracker did not listen on 127.0.0.1:{} within 10 s",
            self.http_port
        );
    }
}

impl Drop for OpenTracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    l.local_addr().expect("tcp addr").port()
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    s.local_addr().expect("udp addr").port()
}
