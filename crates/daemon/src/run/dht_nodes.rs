//! The DHT's good nodes in the state dir (`dht_nodes`, one `addr:port` a line, after an
//! `external IP` line when the nodes agreed on our public address, for a BEP 42 node id at the
//! next start): loaded at start (tried before the bootstrap list), written every few minutes and
//! at shutdown by temporary name + rename, so a crash leaves the old list or the new one, never
//! half of one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::DhtSaved;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The file's name in the state dir.
pub const FILE: &str = "dht_nodes";
/// How often the table's nodes are saved while running.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Most nodes read or written.
const MAX_NODES: usize = 400;

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The keyword of the line with our public address.
const EXTERNAL: &str = "external ";

/// The saved nodes and address (none when the file is missing or unreadable; bad lines are
/// skipped).
pub fn load(state_dir: &Path) -> DhtSaved {
    let Ok(text) = std::fs::read_to_string(path(state_dir)) else {
        return DhtSaved::default();
    };
    let lines = || text.lines().map(str::trim);
    DhtSaved {
        nodes: lines()
            .filter_map(|l| l.parse().ok())
            .take(MAX_NODES)
            .collect(),
        external_ip: lines()
            .find_map(|l| l.strip_prefix(EXTERNAL))
            .and_then(|ip| ip.trim().parse().ok()),
    }
}

/// Writes what the DHT keeps (an empty node list leaves the file as it is: a table that
/// emptied out, say while the network was down, is not worth more than the last good one).
pub fn save(state_dir: &Path, saved: &DhtSaved) -> std::io::Result<()> {
    if saved.nodes.is_empty() {
        return Ok(());
    }
    let target = path(state_dir);
    let tmp = state_dir.join(format!(".{FILE}.tmp"));
    let mut text = String::new();
    if let Some(ip) = saved.external_ip {
        text.push_str(&format!("{EXTERNAL}{ip}\n"));
    }
    for n in saved.nodes.iter().take(MAX_NODES) {
        text.push_str(&n.to_string());
        text.push('\n');
    }
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &target)
}

/// Asks the session for its nodes and saves them (off the runtime).
pub async fn save_now(session: &engine::Session, state_dir: &Path) {
    let saved = match tokio::time::timeout(Duration::from_secs(2), session.dht_saved()).await {
        Ok(n) => n,
        Err(_) => return,
    };
    let dir = state_dir.to_path_buf();
    let count = saved.nodes.len();
    match tokio::task::spawn_blocking(move || save(&dir, &saved)).await {
        Ok(Ok(())) => debug!(nodes = count, "DHT nodes saved"),
        Ok(Err(e)) => warn!("cannot save the DHT nodes in {}: {e}", state_dir.display()),
        Err(_) => {}
    }
}

/// Saves the nodes every [`SAVE_INTERVAL`] until `cancel`.
pub async fn run(session: engine::Session, state_dir: PathBuf, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(SAVE_INTERVAL) => save_now(&session, &state_dir).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_round_trip_and_an_empty_table_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), DhtSaved::default());
        let saved = DhtSaved {
            nodes: vec![
                "127.0.0.1:6881".parse().unwrap(),
                "[::1]:6882".parse().unwrap(),
            ],
            external_ip: Some("203.0.113.7".parse().unwrap()),
        };
        save(dir.path(), &saved).unwrap();
        assert_eq!(load(dir.path()), saved);
        save(dir.path(), &DhtSaved::default()).unwrap();
        assert_eq!(load(dir.path()), saved);
        std::fs::write(
            dir.path().join(FILE),
            "junk\nexternal nonsense\n127.0.0.2:1\n",
        )
        .unwrap();
        let only = load(dir.path());
        assert_eq!(
            only.nodes,
            ["127.0.0.2:1".parse::<std::net::SocketAddr>().unwrap()]
        );
        assert_eq!(only.external_ip, None);
        assert!(!dir.path().join(format!(".{FILE}.tmp")).exists());
    }
}
