//! The daemon's control socket (`<state-dir>/control.sock`): a unix stream socket that
//! `btmirror status` and `btmirror top` ask for the daemon's status.
//!
//! # Wire protocol (version 1)
//!
//! Line-based UTF-8: the client writes one request line, the daemon answers with one JSON line,
//! and the client may send further requests on the same connection. A request is either a
//! JSON object `{"version":1,"command":"status"}` or, for people typing at `socat`, the bare
//! command word (`status`). Answers are JSON objects carrying the protocol version and either
//! the result or an error:
//!
//! ```text
//! > {"version":1,"command":"status"}
//! < {"version":1,"status":{"torrents":[...],"totals":{...},"listen_port":6881,"version":"0.1.0"}}
//! > frobnicate
//! < {"version":1,"error":"unknown command \"frobnicate\" (known: status)"}
//! ```
//!
//! A request newer than the daemon (`version` greater than [`PROTOCOL_VERSION`]) gets an error
//! naming both versions. Requests are at most [`MAX_REQUEST`] bytes; a longer one is answered
//! with an error and the connection is closed. A client that stays silent for [`IDLE_TIMEOUT`]
//! is disconnected. New commands (reload, pause, ...) add new `command` words.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub mod protocol;

use self::protocol::{KNOWN_COMMANDS, PROTOCOL_VERSION, Request, Response, StatusReport};
/// Longest request line accepted, newline included.
pub const MAX_REQUEST: usize = 4096;
/// Longest answer a client accepts (a status of many thousand torrents fits easily).
pub const MAX_RESPONSE: u64 = 64 * 1024 * 1024;
/// A connected client that sends nothing for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client waits to connect, send and receive one answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most clients served at once; further ones wait in the listen backlog.
pub const MAX_CLIENTS: usize = 64;
/// Permissions of the socket file: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// The status source the daemon hands to [`serve`].
pub type ReportFn = Arc<dyn Fn() -> StatusReport + Send + Sync>;

/// Serves the control socket at `path` until `cancel` fires, then removes the socket file.
///
/// The socket gets mode 0660. A stale socket file that nobody listens on is replaced; a live
/// one means another daemon uses this state directory, which is an error, as is a path that
/// exists but is not a socket. Each client is served in its own task with an idle timeout and
/// a request size limit; `report` is called once per `status` request.
pub async fn serve(path: &Path, report: ReportFn, cancel: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(path).await?;
    let ours = std::fs::symlink_metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .ok();
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
    let mut clients = JoinSet::new();
    let result = loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(e) => break Err(anyhow::Error::new(e)),
            },
        };
        let stream = tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            Some(_) = clients.join_next(), if !clients.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_transient_accept_error(&e) => {
                    tracing::warn!("control socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => break Err(anyhow::Error::new(e)
                    .context(format!("accepting on the control socket {}", path.display()))),
            },
        };
        let report = report.clone();
        let cancel = cancel.clone();
        clients.spawn(async move {
            let _permit = permit;
            tokio::select! {
                () = cancel.cancelled() => {}
                r = serve_client(stream, &report) => {
                    if let Err(e) = r {
                        tracing::debug!("control client: {e:#}");
                    }
                }
            }
        });
    };
    clients.abort_all();
    drop(listener);
    // Remove the socket only if it is still the one we bound (not a successor's).
    let current = std::fs::symlink_metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .ok();
    if current.is_some()
        && current == ours
        && let Err(e) = std::fs::remove_file(path)
    {
        tracing::warn!("removing the control socket {}: {e}", path.display());
    }
    result
}

/// Errors of `accept` that concern one connection or a passing shortage, not the listener.
fn is_transient_accept_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Binds the listener, replacing a stale socket file and refusing a live one.
async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => anyhow::bail!(
                "another btmirror is running: its control socket {shown} answers (use another --state-dir)"
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale control socket {shown}"))?;
                tracing::info!("replaced the stale control socket {shown}");
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("checking the existing control socket {shown}")));
            }
        },
        Ok(_) => anyhow::bail!(
            "{shown} exists and is not a socket; move it away so the control socket can be created"
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("looking at {shown}")));
        }
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("creating the control socket {shown}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .with_context(|| format!("setting the mode of the control socket {shown}"))?;
    Ok(listener)
}

/// Answers one client's requests until it hangs up, idles too long or sends too much.
async fn serve_client(stream: UnixStream, report: &ReportFn) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        let limit = u64::try_from(MAX_REQUEST).unwrap_or(u64::MAX);
        let n = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut read).take(limit).read_until(b'\n', &mut line),
        )
        .await
        .context("client idle too long")?
        .context("reading a request")?;
        if n == 0 {
            return Ok(());
        }
        let complete = line.last() == Some(&b'\n');
        let response = if !complete && line.len() >= MAX_REQUEST {
            Response::error(format!("request longer than {MAX_REQUEST} bytes"))
        } else {
            answer(&line, report)
        };
        let mut out = serde_json::to_vec(&response).context("encoding an answer")?;
        out.push(b'\n');
        tokio::time::timeout(IDLE_TIMEOUT, write.write_all(&out))
            .await
            .context("client does not read its answer")?
            .context("writing an answer")?;
        if !complete {
            // Oversize request, or EOF without a newline: nothing more to read.
            return Ok(());
        }
    }
}

/// The answer to one request line.
fn answer(line: &[u8], report: &ReportFn) -> Response {
    let Ok(text) = std::str::from_utf8(line) else {
        return Response::error("request is not UTF-8");
    };
    let text = text.trim();
    let request = if text.starts_with('{') {
        match serde_json::from_str::<Request>(text) {
            Ok(r) => r,
            Err(e) => return Response::error(format!("bad request: {e}")),
        }
    } else {
        Request {
            version: PROTOCOL_VERSION,
            command: text.to_owned(),
        }
    };
    if request.version > PROTOCOL_VERSION {
        return Response::error(format!(
            "request uses control protocol version {}, this daemon speaks version {PROTOCOL_VERSION}",
            request.version
        ));
    }
    match request.command.as_str() {
        "status" => Response {
            version: PROTOCOL_VERSION,
            status: Some(report()),
            error: None,
        },
        other => {
            let shown: String = other.chars().take(64).collect();
            Response::error(format!(
                "unknown command {shown:?} (known: {KNOWN_COMMANDS})"
            ))
        }
    }
}

/// Asks the daemon listening on `path` for its status.
///
/// Fails with "no btmirror daemon is listening on PATH ..." when the socket is missing or
/// nobody accepts on it.
pub async fn query(path: &Path) -> anyhow::Result<StatusReport> {
    tokio::time::timeout(CLIENT_TIMEOUT, query_inner(path))
        .await
        .with_context(|| {
            format!(
                "the btmirror daemon on {} did not answer within {}s",
                path.display(),
                CLIENT_TIMEOUT.as_secs()
            )
        })?
}

async fn query_inner(path: &Path) -> anyhow::Result<StatusReport> {
    let shown = path.display();
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            anyhow::bail!(
                "no btmirror daemon is listening on {shown} (is it running? use --state-dir or --config)"
            )
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => anyhow::bail!(
            "permission denied on the control socket {shown} (run as the daemon's user or group)"
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("connecting to {shown}")));
        }
    };
    let (read, mut write) = stream.into_split();
    let request = Request {
        version: PROTOCOL_VERSION,
        command: "status".to_owned(),
    };
    let mut out = serde_json::to_vec(&request).context("encoding the request")?;
    out.push(b'\n');
    write
        .write_all(&out)
        .await
        .with_context(|| format!("sending a request to {shown}"))?;
    let mut line = Vec::new();
    BufReader::new(read)
        .take(MAX_RESPONSE)
        .read_until(b'\n', &mut line)
        .await
        .with_context(|| format!("reading the answer from {shown}"))?;
    if line.is_empty() {
        anyhow::bail!("the btmirror daemon on {shown} closed the connection without answering");
    }
    let response: Response = serde_json::from_slice(&line)
        .with_context(|| format!("the answer from {shown} is not valid status JSON"))?;
    if let Some(err) = response.error {
        anyhow::bail!("the btmirror daemon on {shown} answered: {err}");
    }
    response
        .status
        .with_context(|| format!("the answer from {shown} carries no status"))
}

#[cfg(test)]
mod tests;
