//! The DHT's good nodes in the state dir (`dht_nodes`, one `addr:port` a line): loaded at start
//! (tried before the bootstrap list), written every few minutes and at shutdown by temporary
//! name + rename, so a crash leaves the old list or the new one, never half of one.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The saved nodes (none when the file is missing or unreadable; bad lines are skipped).
pub fn load(state_dir: &Path) -> Vec<SocketAddr> {
    let Ok(text) = std::fs::read_to_string(path(state_dir)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.trim().parse().ok())
        .take(MAX_NODES)
        .collect()
}

/// Writes `nodes` (an empty list leaves the file as it is: a table that emptied out, say
/// while the network was down, is not worth more than the last good one).
pub fn save(state_dir: &Path, nodes: &[SocketAddr]) -> std::io::Result<()> {
    if nodes.is_empty() {
        return Ok(());
    }
    let target = path(state_dir);
    let tmp = state_dir.join(format!(".{FILE}.tmp"));
    let mut text = String::new();
    for n in nodes.iter().take(MAX_NODES) {
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
    let nodes = match tokio::time::timeout(Duration::from_secs(2), session.dht_nodes()).await {
        Ok(n) => n,
        Err(_) => return,
    };
    let dir = state_dir.to_path_buf();
    let count = nodes.len();
    match tokio::task::spawn_blocking(move || save(&dir, &nodes)).await {
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
        assert!(load(dir.path()).is_empty());
        let nodes: Vec<SocketAddr> = vec![
            "127.0.0.1:6881".parse().unwrap(),
            "[::1]:6882".parse().unwrap(),
        ];
        save(dir.path(), &nodes).unwrap();
        assert_eq!(load(dir.path()), nodes);
        save(dir.path(), &[]).unwrap();
        assert_eq!(load(dir.path()), nodes);
        std::fs::write(dir.path().join(FILE), "junk\n127.0.0.2:1\n").unwrap();
        assert_eq!(load(dir.path()), ["127.0.0.2:1".parse().unwrap()]);
        assert!(!dir.path().join(format!(".{FILE}.tmp")).exists());
    }
}
