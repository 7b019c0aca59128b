//! The engine's task tree. Every long-lived task is spawned here: on a `TaskTracker` its owner
//! waits on at shutdown, inside a `tracing` span that names its torrent or peer, and (where it
//! has no orderly stop of its own) under a `CancellationToken`.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span, trace};

/// Spawns `fut` on `tasks`, instrumented with `span`; `name` says what it is in trace logs.
pub(crate) fn spawn_in<F>(
    tasks: &TaskTracker,
    name: &'static str,
    span: Span,
    fut: F,
) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    tasks.spawn(
        async move {
            trace!(task = name, "task started");
            fut.await;
            trace!(task = name, "task ended");
        }
        .instrument(span),
    )
}

/// Like [`spawn_in`], but the task is dropped at its next `.await` once `cancel` fires.
pub(crate) fn spawn_cancellable<F>(
    tasks: &TaskTracker,
    name: &'static str,
    span: Span,
    cancel: CancellationToken,
    fut: F,
) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    spawn_in(tasks, name, span, async move {
        tokio::select! {
            _ = cancel.cancelled() => {}
            () = fut => {}
        }
    })
}
