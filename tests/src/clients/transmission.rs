//! `transmission-cli` 3.00 as a leecher.
//!
//! transmission 3.00 refuses to dial peers on 127.0.0.0/8 ("martian" addresses), so on loopback
//! it only ever receives incoming connections: start it *before* the seed, wait until the
//! tracker lists it ([`crate::Opentracker::wait_for_leechers`]), then start a seed, whose first
//! announce returns transmission's address for the seed to dial.

use std::path::Path;
use std::process::Command;

use super::{Peer, beside};
use crate::process::Proc;
use crate::torrent::Torrent;

/// Starts `transmission-cli` in a loopback swarm.
#[derive(Debug, Clone, Copy)]
pub struct Transmission;

impl Transmission {
    /// Downloads `torrent` into `dir`. transmission-cli does not exit when done; it runs a
    /// finish script that creates its done file (see [`Peer::wait_done`]), and keeps seeding
    /// until stopped.
    ///
    /// # Panics
    /// If its configuration directory cannot be written.
    pub fn leech(torrent: &Torrent, dir: &Path, port: u16) -> Peer {
        start(torrent, dir, port, Encryption::Tolerated, "leech")
    }

    /// [`Transmission::leech`] with `encryption` (`settings.json` and the command line).
    pub fn leech_with(torrent: &Torrent, dir: &Path, port: u16, encryption: Encryption) -> Peer {
        start(torrent, dir, port, encryption, "leech")
    }

    /// Seeds `torrent` from the data in `dir` (which transmission verifies on its own when it
    /// finds the files; `-v` would make transmission-cli exit after the check), until stopped.
    pub fn seed_with(torrent: &Torrent, dir: &Path, port: u16, encryption: Encryption) -> Peer {
        start(torrent, dir, port, encryption, "seed")
    }
}

/// transmission's `encryption` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// 0, `-et`: prefer unencrypted connections.
    Tolerated,
    /// 1 (its default), `-ep`: prefer encrypted connections.
    Preferred,
    /// 2, `-er`: encrypted connections only.
    Required,
}

impl Encryption {
    fn setting(self) -> u8 {
        match self {
            Encryption::Tolerated => 0,
            Encryption::Preferred => 1,
            Encryption::Required => 2,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Encryption::Tolerated => "-et",
            Encryption::Preferred => "-ep",
            Encryption::Required => "-er",
        }
    }
}

/// Starts transmission-cli for `torrent` in `dir`; `role` names its files.
fn start(torrent: &Torrent, dir: &Path, port: u16, encryption: Encryption, role: &str) -> Peer {
    let config = beside(dir, "transmission");
    std::fs::create_dir_all(&config)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", config.display()));
    let settings = format!(
        r#"{{
  "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
  "port-forwarding-enabled": false, "encryption": {encryption}, "blocklist-enabled": false,
  "peer-port": {port}, "peer-port-random-on-start": false,
  "bind-address-ipv4": "{host}", "bind-address-ipv6": "::1",
  "rpc-enabled": false, "start-added-torrents": true, "download-dir": {dir},
  "incomplete-dir-enabled": false, "rename-partial-files": false,
  "speed-limit-down-enabled": false, "speed-limit-up-enabled": false, "alt-speed-enabled": false,
  "ratio-limit-enabled": false, "idle-seeding-limit-enabled": false,
  "peer-limit-global": 200, "peer-limit-per-torrent": 60, "message-level": 2
}}
"#,
        dir = serde_json::Value::from(dir.display().to_string()),
        encryption = encryption.setting(),
        host = crate::peer_host(),
    );
    write(&config.join("settings.json"), &settings);
    let done = beside(dir, "transmission.done");
    let script = config.join("done.sh");
    write(
        &script,
        &format!(
            "#!/bin/sh\n: > '{}'\n",
            done.display().to_string().replace('\'', "'\\''")
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", script.display()));
    // Inside the namespaces of a test (see `NetNs`): in the peer's own.
    let mut cmd = match std::env::var("BTMIRROR_E2E_PEER_NETNS") {
        Ok(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns, "transmission-cli"]);
            c
        }
        Err(_) => Command::new("transmission-cli"),
    };
    cmd.current_dir(dir)
        .arg("-g")
        .arg(&config)
        .arg("-w")
        .arg(dir)
        .arg("-p")
        .arg(port.to_string())
        .args(["-M", encryption.flag(), "-D", "-U"])
        .arg("-f")
        .arg(&script)
        .arg(&torrent.path);
    let log = beside(dir, &format!("transmission-{role}.log"));
    let proc = Proc::spawn(&format!("transmission-cli {role} :{port}"), &mut cmd, &log);
    Peer::new(proc, port, dir, Some(done))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
