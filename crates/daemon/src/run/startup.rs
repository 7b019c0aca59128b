//! Start-up chores of the daemon: the state directory and its lock, the open-files limit, and
//! waiting for the control socket to accept connections.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use nix::fcntl::{Flock, FlockArg};
use tokio::task::JoinHandle;

/// The error of a failed session start; a taken port says what to do about it.
pub fn session_error(e: engine::SessionError) -> anyhow::Error {
    let hint = match &e {
        engine::SessionError::Listen { source, .. }
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            Some(
                "another program (another btmirror daemon, a service, a BitTorrent client) has \
                 this port; pass --port N (or --port 0 for any free port) or set port = N in \
                 the config file",
            )
        }
        _ => None,
    };
    let err = anyhow::Error::new(e).context("starting the session");
    match hint {
        Some(h) => err.context(h),
        None => err,
    }
}

/// Name of the lock file in the state directory.
pub const LOCK_FILE: &str = "lock";

/// Creates `dir` (and parents) with mode 0750 when missing.
pub fn create_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .with_context(|| format!("creating the {what} {}", dir.display()))
}

/// Takes the exclusive lock on `<state_dir>/lock` for the life of the returned value and writes
/// our pid into it. A second instance gets an error naming the first one's pid.
pub fn lock_state_dir(state_dir: &Path) -> anyhow::Result<Flock<File>> {
    let path = state_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let who = if pid.is_empty() {
                String::new()
            } else {
                format!(" (pid {pid})")
            };
            bail!(
                "another btmirror{who} is already running with the state directory {}; \
                 stop it or pass another --state-dir",
                state_dir.display()
            );
        }
        Err((_, e)) => {
            return Err(anyhow::Error::new(std::io::Error::from(e)))
                .with_context(|| format!("locking {}", path.display()));
        }
    };
    let write = lock
        .set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| writeln!(&mut *lock, "{}", std::process::id()));
    write.with_context(|| format!("writing our pid to {}", path.display()))?;
    Ok(lock)
}

/// Raises the soft limit of open files to the hard limit (peers and data files need many).
pub fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open-files limit"),
            Err(e) => tracing::warn!("cannot raise the open-files limit from {soft}: {e}"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the open-files limit: {e}"),
    }
}

/// Waits until the control socket at `path` accepts connections, or the server task ended
/// (its error is returned), or `timeout` passed.
pub async fn wait_for_socket(
    path: &Path,
    server: &mut JoinHandle<anyhow::Result<()>>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if server.is_finished() {
            return match server.await {
                Ok(Ok(())) => bail!("the control socket {} closed at once", path.display()),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(anyhow::Error::new(e).context("the control socket task failed")),
            };
        }
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the control socket {} did not come up within {timeout:?}",
                path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_naming_the_pid() {
        let d = tempfile::tempdir().unwrap();
        let first = lock_state_dir(d.path()).unwrap();
        let content = std::fs::read_to_string(d.path().join(LOCK_FILE)).unwrap();
        assert_eq!(content.trim(), std::process::id().to_string());
        let e = lock_state_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("already running"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        let _again = lock_state_dir(d.path()).unwrap();
    }

    #[test]
    fn nofile_limit_ends_at_the_hard_limit() {
        use nix::sys::resource::{Resource, getrlimit};
        raise_nofile_limit();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
    }
}
