//! [`PrivateHosts`]: two private test hosts made of network namespaces, for clients that refuse
//! loopback peers (transmission 3.00 never dials 127.0.0.0/8).
//!
//! Host A is `10.77.0.1`, host B `10.77.0.2`, joined by a veth pair; each has its own loopback
//! and no default route, so nothing can leave them. The namespaces (and with them the veth
//! pair) are deleted on drop. Creating them needs root: [`PrivateHosts::new`] says why it
//! cannot and returns `None`, and the caller skips loudly.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Two namespaces joined by a veth pair.
#[derive(Debug)]
pub struct PrivateHosts {
    names: [String; 2],
}

/// Host A's address.
pub const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Host B's address.
pub const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

impl PrivateHosts {
    /// Creates the two hosts, or says on stderr why it cannot (not root, no `ip`, no netns
    /// support) and returns `None`.
    pub fn new(test: &str) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED {test}: network namespaces need root (run the e2e tests as root)");
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let hosts = Self {
            names: [format!("btu{tag}a"), format!("btu{tag}b")],
        };
        let [a, b] = &hosts.names;
        // interface names: at most 15 bytes
        let (va, vb) = (format!("vu{tag}a"), format!("vu{tag}b"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", a],
            vec!["netns", "add", b],
            vec![
                "link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vb, "netns", b,
            ],
            vec!["-n", a, "addr", "add", "10.77.0.1/24", "dev", &va],
            vec!["-n", b, "addr", "add", "10.77.0.2/24", "dev", &vb],
            vec!["-n", a, "link", "set", "lo", "up"],
            vec!["-n", b, "link", "set", "lo", "up"],
            vec!["-n", a, "link", "set", &va, "up"],
            vec!["-n", b, "link", "set", &vb, "up"],
        ];
        for step in steps {
            let out = Command::new("ip").args(&step).stdin(Stdio::null()).output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    eprintln!(
                        "SKIPPED {test}: `ip {}` failed: {}",
                        step.join(" "),
                        String::from_utf8_lossy(&o.stderr).trim()
                    );
                    return None; // drop removes what was made
                }
                Err(e) => {
                    eprintln!("SKIPPED {test}: cannot run `ip`: {e}");
                    return None;
                }
            }
        }
        Some(hosts)
    }

    /// A command running `program` on host A (`0`) or B (`1`).
    pub fn command(&self, host: usize, program: &std::path::Path) -> Command {
        let mut cmd = Command::new("ip");
        // `ip netns exec` execs the program: the child's pid is the program's
        cmd.arg("netns")
            .arg("exec")
            .arg(&self.names[host])
            .arg(program);
        cmd
    }
}

impl Drop for PrivateHosts {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
