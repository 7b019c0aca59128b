//! [`Btmirror`]: runs the `btmirror` binary under test.
//!
//! The binary is `$BTMIRROR_BIN` when set; otherwise it is built once per test process with
//! `cargo build -p btmirror --bin btmirror`, and the path cargo reports for it is used (so
//! `CARGO_TARGET_DIR` and cargo configuration are respected).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::clients::{Peer, beside};
use crate::process::{Proc, poll_until};
use crate::torrent::{Torrent, read_torrent};

/// How long building the binary may take (a cold debug build of the workspace on 2 cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// How long `make` and `check` of a test payload may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Drives the `btmirror` binary.
#[derive(Debug, Clone, Copy)]
pub struct Btmirror;

impl Btmirror {
    /// Path of the binary under test, building it on first use.
    ///
    /// # Panics
    /// If the build fails (every caller gets the same message; the build is not retried).
    pub fn bin() -> &'static Path {
        static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
        let bin = BIN.get_or_init(|| match std::env::var_os("BTMIRROR_BIN") {
            Some(path) => Ok(PathBuf::from(path)),
            None => build(),
        });
        match bin {
            Ok(path) => path,
            Err(e) => panic!("{e}"),
        }
    }

    /// A `Command` for the binary with a quiet, deterministic environment.
    pub fn command() -> Command {
        let mut cmd = Command::new(Btmirror::bin());
        cmd.env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .env_remove("BTMIRROR_CONFIG")
            .env_remove("STATE_DIRECTORY")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            // Never the public DHT routers: a test that wants a DHT passes loopback nodes
            // with --dht-bootstrap (which wins over this).
            .env("BTMIRROR_DHT_BOOTSTRAP", "");
        cmd
    }

    /// Starts `btmirror get TORRENT --dir DIR --port PORT --bind 127.0.0.1 --state-dir DIR.state
    /// EXTRA...`. Logs to `DIR.btmirror.log`.
    ///
    /// Pass `&["--no-seed"]` for a leecher that exits 0 once complete ([`Peer::wait_done`]);
    /// without it, it seeds until [`Peer::terminate`].
    pub fn get(torrent: &Torrent, dir: &Path, port: u16, extra_args: &[&str]) -> Peer {
        Btmirror::get_source(torrent.path.as_os_str(), dir, port, extra_args)
    }

    /// As [`Btmirror::get`], for any source `get` takes: a .torrent path, a URL or a magnet link.
    pub fn get_source(
        source: &std::ffi::OsStr,
        dir: &Path,
        port: u16,
        extra_args: &[&str],
    ) -> Peer {
        let mut cmd = Btmirror::command();
        cmd.current_dir(dir)
            .arg("get")
            .arg(source)
            .arg("--dir")
            .arg(dir)
            .arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg(crate::host().to_string())
            .arg("--state-dir")
            .arg(beside(dir, "state"))
            .args(extra_args);
        let log = beside(dir, "btmirror.log");
        let proc = Proc::spawn(&format!("btmirror get :{port}"), &mut cmd, &log);
        Peer::new(proc, port, dir, None)
    }

    /// Runs `btmirror make CONTENT --announce URL -o OUT [--piece-size N]` and reads the
    /// torrent it wrote.
    ///
    /// # Panics
    /// If it fails or writes no readable torrent.
    pub fn make(content: &Path, announce: &str, out: &Path, piece_size: Option<u32>) -> Torrent {
        let mut cmd = Btmirror::command();
        cmd.arg("make")
            .arg(content)
            .arg("--announce")
            .arg(announce)
            .arg("-o")
            .arg(out);
        if let Some(size) = piece_size {
            cmd.arg("--piece-size").arg(size.to_string());
        }
        let output = run(&mut cmd);
        assert!(
            output.status.success(),
            "btmirror make {} failed ({}):\n{}",
            content.display(),
            output.status,
            both(&output)
        );
        read_torrent(out)
    }

    /// Runs `btmirror check TORRENT --dir DIR` and returns its output (status, stdout, stderr).
    pub fn check(torrent: &Torrent, dir: &Path) -> Output {
        let mut cmd = Btmirror::command();
        cmd.arg("check").arg(&torrent.path).arg("--dir").arg(dir);
        run(&mut cmd)
    }
}

/// stdout and stderr of a finished command, for messages.
pub(crate) fn both(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs a command to completion within [`COMMAND_TIMEOUT`], capturing its output.
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = poll_until(COMMAND_TIMEOUT, Duration::from_millis(50), || {
        child.try_wait().ok().flatten()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} did not finish within {COMMAND_TIMEOUT:?}");
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Reads a pipe to its end on a thread (so a chatty child cannot block on a full pipe).
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// `cargo build -p btmirror --bin btmirror`, returning the executable cargo reports.
fn build() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the e2e crate has no parent directory")?;
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace).args([
        "build",
        "-p",
        "btmirror",
        "--bin",
        "btmirror",
        "--message-format=json-render-diagnostics",
    ]);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = poll_until(BUILD_TIMEOUT, Duration::from_millis(200), || {
        child.try_wait().ok().flatten()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{cmd:?} did not finish within {BUILD_TIMEOUT:?}"));
    };
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "building btmirror failed ({status}); set BTMIRROR_BIN to test a prebuilt binary\n{}",
            tail.join("\n")
        ));
    }
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "btmirror")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("{cmd:?} succeeded but reported no btmirror executable"))
}
