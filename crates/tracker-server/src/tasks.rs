//! The running server: the TCP accept loop, one task per HTTP connection, the UDP loops, and
//! the maintenance task (expiry sweeps, allowed-dir rescans, state saves), all under one
//! cancellation token and one `TaskTracker`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::allowed::AllowedDir;
use crate::write_deadline::WriteDeadline;
use crate::{Error, Server, Shared, http, state, udp};

/// A client must send a request head within this long (also bounds idle keep-alive).
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections are closed (gracefully) after this long, whatever they do.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(10 * 60);
/// Read buffer cap per connection: request heads beyond it are refused by hyper (431).
const MAX_HEAD: usize = 16 * 1024;
/// How long shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(2);
/// UDP receive loops sharing the socket.
const UDP_WORKERS: usize = 2;

/// [`Server::run`]'s body.
pub(super) async fn run(server: Server, shutdown: CancellationToken) -> Result<(), Error> {
    let Server {
        cfg,
        shared,
        tcp,
        udp,
        allowed_dir,
        reload,
        ..
    } = server;
    let tracker = TaskTracker::new();
    let token = shutdown.child_token();
    let limit = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    tracker.spawn(accept_loop(
        shared.clone(),
        tcp,
        limit,
        cfg.write_timeout,
        token.clone(),
        tracker.clone(),
    ));
    for _ in 0..UDP_WORKERS {
        tracker.spawn(udp::serve(shared.clone(), udp.clone(), token.clone()));
    }
    let maintenance = Maintenance {
        shared: shared.clone(),
        allowed_dir,
        reload,
        state_file: cfg.state_file.clone(),
        sweep_every: (cfg.interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(5 * 60)),
        rescan_every: cfg.rescan_interval.max(Duration::from_secs(1)),
        save_every: cfg.save_interval.max(Duration::from_secs(1)),
    };
    let maint = tokio::spawn(maintenance.run(token.clone()));

    shutdown.cancelled().await;
    token.cancel();
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::debug!("some connections did not finish in time");
    }
    let result = maint.await.map_err(Error::Task)?;
    tracing::info!("tracker stopped");
    result
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    limit: Arc<Semaphore>,
    write_timeout: Duration,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let permit = tokio::select! {
            () = token.cancelled() => return,
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, remote) = tokio::select! {
            () = token.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    (stream, remote)
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let stream = WriteDeadline::new(stream, write_timeout);
        tracker.spawn(serve_connection(
            shared.clone(),
            stream,
            remote,
            token.clone(),
            permit,
        ));
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: WriteDeadline<TcpStream>,
    remote: SocketAddr,
    token: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let service = service_fn(move |req| http::handle(shared.clone(), remote, req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let grace = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::trace!(error = %e, %remote, "http connection ended");
            }
            return;
        }
        () = token.cancelled() => DRAIN,
        () = tokio::time::sleep(MAX_CONNECTION_AGE) => HEADER_TIMEOUT,
    };
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, conn).await;
}

struct Maintenance {
    shared: Arc<Shared>,
    allowed_dir: Option<AllowedDir>,
    reload: Arc<Notify>,
    state_file: Option<PathBuf>,
    sweep_every: Duration,
    rescan_every: Duration,
    save_every: Duration,
}

impl Maintenance {
    async fn run(mut self, token: CancellationToken) -> Result<(), Error> {
        let start = Instant::now();
        let mut sweep = tokio::time::interval_at(start + self.sweep_every, self.sweep_every);
        let mut rescan = tokio::time::interval_at(start + self.rescan_every, self.rescan_every);
        let mut save = tokio::time::interval_at(start + self.save_every, self.save_every);
        for t in [&mut sweep, &mut rescan, &mut save] {
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = sweep.tick() => self.shared.swarms().sweep(Instant::now()),
                _ = rescan.tick() => self.rescan().await?,
                () = self.reload.notified() => {
                    tracing::info!("reload requested: rescanning the allowed dir");
                    self.rescan().await?;
                    rescan.reset();
                }
                _ = save.tick() => {
                    if let Err(e) = self.save().await {
                        tracing::warn!(error = %display_chain(&e), "periodic state save failed");
                    }
                }
            }
        }
        self.save().await
    }

    async fn rescan(&mut self) -> Result<(), Error> {
        let Some(mut ad) = self.allowed_dir.take() else {
            return Ok(());
        };
        let (ad, res) = tokio::task::spawn_blocking(move || {
            let r = ad.scan();
            (ad, r)
        })
        .await
        .map_err(Error::Task)?;
        match res {
            Ok(set) => {
                tracing::debug!(dir = %ad.dir().display(), torrents = set.len(), "allowed dir rescanned");
                self.shared.swarms().set_allowed(Some(set));
            }
            Err(e) => {
                tracing::warn!(dir = %ad.dir().display(), error = %e, "allowed dir rescan failed; keeping the old set")
            }
        }
        self.allowed_dir = Some(ad);
        Ok(())
    }

    /// Writes the completed counts when they changed.
    async fn save(&self) -> Result<(), Error> {
        let Some(path) = self.state_file.clone() else {
            return Ok(());
        };
        let (counts, dirty) = self.shared.swarms().take_downloaded();
        if !dirty {
            return Ok(());
        }
        let p = path.clone();
        let res = tokio::task::spawn_blocking(move || state::save(&p, &counts))
            .await
            .map_err(Error::Task)?;
        if let Err(source) = res {
            self.shared.swarms().mark_dirty();
            return Err(Error::SaveState { path, source });
        }
        Ok(())
    }
}

fn display_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
