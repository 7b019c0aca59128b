//! Stopping one torrent: it announces `stopped`, then its resume data is saved; its data stays.

use std::path::PathBuf;

use engine::Session;
use metainfo::InfoHash;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::{Instrument as _, info, info_span, warn};

use super::reconcile::Stop;
use super::resume;

/// What stopping a torrent needs.
pub struct StopCtx {
    /// The session the torrent runs in.
    pub session: Session,
    /// Where its resume data goes.
    pub resume_dir: PathBuf,
    /// Told the info-hash once the torrent stopped (so the same torrent may start again).
    pub stopped: mpsc::UnboundedSender<InfoHash>,
    /// The stop jobs, waited for at shutdown.
    pub tasks: TaskTracker,
}

impl StopCtx {
    /// Stops the torrent (announcing `stopped`), then saves its resume data; the data stays.
    pub fn spawn(&self, stop: Stop) {
        let Stop { running, why, path } = stop;
        let session = self.session.clone();
        let resume_file = resume::resume_path(&self.resume_dir, &running.handle.info_hash());
        let stopped = self.stopped.clone();
        let span = info_span!("stop");
        let job = async move {
            let h = running.handle;
            info!(torrent = %h.metainfo().info.name, file = %path.display(),
                "{why}: stopping the torrent (its data is kept)");
            session.remove_torrent(h.info_hash()).await;
            if running.checked {
                let handle = h.clone();
                let lifetime = running.lifetime;
                let r = tokio::task::spawn_blocking(move || {
                    resume::save(&handle, lifetime, &resume_file)
                })
                .await;
                if let Ok(Err(e)) = r {
                    warn!(torrent = %h.metainfo().info.name, "saving resume data failed: {}", resume::chain(&e));
                }
            }
            let _ = stopped.send(h.info_hash());
        };
        self.tasks.spawn(job.instrument(span));
    }
}
