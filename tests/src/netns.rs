//! Private test hosts for clients that refuse loopback peers (transmission drops every peer
//! on 127.0.0.0/8): two network namespaces the test creates, joined by a veth pair, with 10.x
//! addresses and no default route, so nothing in them can leave the machine. Torn down on
//! drop. Needs root (`ip netns add`).
//!
//! The test body runs in a child of the test binary started in the first namespace with
//! `ip netns exec`, with `$BTMIRROR_E2E_HOST` set to its address: every helper (tracker,
//! btmirror) binds to it instead of 127.0.0.1. transmission runs in the second namespace
//! (`$BTMIRROR_E2E_PEER_NETNS`, address `$BTMIRROR_E2E_PEER_HOST`), a host of its own.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The address of the namespace's host side, which everything binds to.
pub const NETNS_HOST: &str = "10.77.0.1";
/// The other end of the veth pair, where transmission binds.
const NETNS_PEER: &str = "10.77.0.2";

/// Two network namespaces joined by a veth pair, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    /// Where the test body, the tracker and btmirror run.
    name: String,
    /// Where transmission runs.
    peer: String,
}

impl NetNs {
    /// Creates the namespaces with `lo` up and the veth pair at 10.77.0.1/24 (first) and
    /// 10.77.0.2/24 (second), or says why not (not root, no `ip`, no namespaces here).
    pub fn create() -> Result<NetNs, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("needs root (ip netns add)".into());
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "btm{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let peer = format!("{name}-peer");
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name, peer };
        ip(&["netns", "add", &ns.peer])?;
        let (n, p) = (ns.name.as_str(), ns.peer.as_str());
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&["-n", p, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", n, "link", "add", "btm0", "type", "veth", "peer", "name", "btm1", "netns", p,
        ])?;
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{NETNS_HOST}/24"),
            "dev",
            "btm0",
        ])?;
        ip(&[
            "-n",
            p,
            "addr",
            "add",
            &format!("{NETNS_PEER}/24"),
            "dev",
            "btm1",
        ])?;
        ip(&["-n", n, "link", "set", "btm0", "up"])?;
        ip(&["-n", p, "link", "set", "btm1", "up"])?;
        Ok(ns)
    }

    /// Runs the ignored test `test` of the current test binary inside the namespace, with
    /// `envs` and `$BTMIRROR_E2E_HOST`; panics with its output unless it passed.
    pub fn run_test(&self, test: &str, envs: &[(&str, &str)]) {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(&exe)
            .args([
                test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BTMIRROR_E2E_HOST", NETNS_HOST)
            .env("BTMIRROR_E2E_PEER_HOST", NETNS_PEER)
            .env("BTMIRROR_E2E_PEER_NETNS", &self.peer)
            .envs(envs.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{test} in network namespace {} failed ({}):\n{text}",
            self.name,
            out.status
        );
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting a namespace also deletes its end of the veth pair, and so the pair.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["netns", "del", &self.peer]);
    }
}

/// Runs `ip ARGS`.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
