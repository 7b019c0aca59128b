//! `.magnet` files: their metadata is fetched by the engine (BEP 9), written atomically to
//! `STATE/metadata/HASH.torrent`, and then the file is read again, which now finds the torrent.
//! A restart finds the metadata there and fetches nothing twice; a fetch interrupted (kill -9)
//! starts again from the beginning at the next start.

use std::path::{Path, PathBuf};

use engine::{MetadataFetch, Session};
use metainfo::magnet::Magnet;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Entry, Running, Slot, fail};
use crate::run::watch::Stamp;

/// Where fetched metadata goes, and the channel that tells the daemon's loop which watch
/// directory to scan again once it is there.
#[derive(Clone, Debug)]
pub struct MagnetSink {
    /// The resume directory; the metadata directory is its sibling (see `metadata_path`).
    pub resume_dir: PathBuf,
    /// Receives the watch directory of a `.magnet` whose metadata was just saved.
    pub fetched: mpsc::UnboundedSender<PathBuf>,
}

/// The running torrent of a slot being dropped; a fetch in it is stopped.
pub(super) fn running_or_stop_fetch(slot: Slot) -> Option<Running> {
    match slot {
        Slot::Running(r) => Some(r),
        Slot::Fetching(f) => {
            f.stop();
            None
        }
        _ => None,
    }
}

/// Stops a fetch in `slot` (the file changed into something else), leaving `Pending`.
pub(super) fn stop_fetch(slot: &mut Slot) {
    if let Slot::Fetching(f) = slot {
        f.stop();
        *slot = Slot::Pending;
    }
}

/// `e` (the `.magnet` at `path`, listed with `stamp`) needs its metadata: keeps a fetch of the
/// same info-hash going, or starts one whose result is saved and announced to `sink`.
pub(super) fn start_fetch(
    e: &mut Entry,
    path: &Path,
    stamp: Stamp,
    magnet: Magnet,
    session: &Session,
    sink: Option<&MagnetSink>,
    now: Instant,
) {
    // The same torrent: a fetch still running, or one that just finished and is being saved
    // (the save asks for a rescan), goes on.
    if let Slot::Fetching(f) = &e.slot
        && Some(f.info_hash()) == magnet.swarm_hash()
    {
        e.read_stamp = Some(stamp);
        e.retry = None;
        return;
    }
    stop_fetch(&mut e.slot);
    let Some(sink) = sink else {
        fail(e, path, "magnet links are not fetched here".to_owned(), now);
        return;
    };
    let fetch = match session.fetch_metadata(magnet) {
        Ok(f) => f,
        Err(err) => return fail(e, path, engine::error_chain(&err), now),
    };
    info!(file = %path.display(), info_hash = %fetch.info_hash(), "fetching the metadata of a magnet link");
    let sink = sink.clone();
    let (f, dir, file) = (fetch.clone(), e.dir.clone(), path.to_path_buf());
    tokio::spawn(async move { save_when_fetched(f, sink, dir, file).await });
    e.slot = Slot::Fetching(fetch);
    e.read_stamp = Some(stamp);
    e.retry = None;
}

/// Waits for the fetch, writes its `.torrent` atomically into the metadata directory and asks
/// for `dir` to be scanned again.
async fn save_when_fetched(fetch: MetadataFetch, sink: MagnetSink, dir: PathBuf, file: PathBuf) {
    let Ok(bytes) = fetch.wait().await else {
        return;
    };
    let target = crate::run::prepare::metadata_path(&sink.resume_dir, &fetch.info_hash());
    let written = tokio::task::spawn_blocking(move || write_atomically(&target, &bytes)).await;
    match written {
        Ok(Ok(())) => {
            info!(file = %file.display(), "metadata fetched and saved");
            let _ = sink.fetched.send(dir);
        }
        Ok(Err(e)) => warn!(file = %file.display(), error = %e, "cannot save the fetched metadata"),
        Err(e) => warn!(file = %file.display(), error = %e, "saving the fetched metadata failed"),
    }
}

/// Writes `bytes` to `target` through a temporary file, fsync and rename.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = target.with_extension("torrent.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, target)?;
    if let Some(parent) = target.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
