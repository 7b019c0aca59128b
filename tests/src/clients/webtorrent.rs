//! WebTorrent (node, npm `webtorrent`) as a leecher, driven by `tests/webtorrent/leech.js`
//! with DHT, local peer discovery, UPnP and NAT-PMP off. Its modules are installed by `.ci/run`
//! (`npm ci --ignore-scripts` in `tests/webtorrent`).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Peer, beside};
use crate::process::Proc;
use crate::torrent::Torrent;

/// The directory holding the script and its `node_modules`.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/webtorrent");

/// Starts the WebTorrent leecher.
#[derive(Debug, Clone, Copy)]
pub struct WebTorrent;

impl WebTorrent {
    /// Why WebTorrent cannot run here (node or its modules missing), else `None`.
    pub fn unavailable() -> Option<String> {
        if Command::new("node").arg("--version").output().is_err() {
            return Some("node is not installed (apt-get install nodejs)".into());
        }
        let module = PathBuf::from(DIR).join("node_modules/webtorrent/package.json");
        (!module.exists()).then(|| {
            format!("the webtorrent module is not installed (npm ci --ignore-scripts in {DIR})")
        })
    }

    /// Downloads `torrent` into `dir` from the peers its tracker lists and exits 0 once
    /// complete; `secure` turns on WebTorrent's protocol encryption.
    pub fn leech(torrent: &Torrent, dir: &Path, secure: bool) -> Peer {
        let mut cmd = Command::new("node");
        cmd.current_dir(DIR)
            .arg("leech.js")
            .arg(&torrent.path)
            .arg(dir);
        if secure {
            cmd.arg("--secure");
        }
        let log = beside(dir, "webtorrent-leech.log");
        let proc = Proc::spawn("webtorrent leech", &mut cmd, &log);
        Peer::new(proc, 0, dir, None)
    }
}
