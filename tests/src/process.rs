//! [`Proc`]: a child process with its output in a log file, bounded waits, and clean-up on drop.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often bounded waits look again.
const POLL: Duration = Duration::from_millis(50);

/// How long a process gets between SIGTERM and SIGKILL when it is dropped.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// Calls `f` every `interval` until it returns `Some`, for at most `timeout`.
///
/// Returns `None` on timeout, so the caller can panic with the context it knows best.
pub fn poll_until<T>(
    timeout: Duration,
    interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// A child process started by a test.
///
/// Its stdin is `/dev/null`; stdout and stderr are appended to one log file. Dropping a
/// `Proc` that still runs sends SIGTERM, waits a few seconds, then sends SIGKILL and reaps it.
/// Only this one PID is ever signalled.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with its output going to `log` (created or appended to).
    ///
    /// `name` is used in panic messages, e.g. `"aria2c seed :41234"`.
    ///
    /// # Panics
    /// If the log cannot be opened or the program cannot be started.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
        let open = || -> File {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap_or_else(|e| panic!("{name}: cannot open log {}: {e}", log.display()))
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(open())
            .stderr(open())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
            status: None,
        }
    }

    /// The name given at start.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything logged so far (lossy UTF-8; carriage returns turned into newlines).
    pub fn log(&self) -> String {
        match std::fs::read(&self.log) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).replace('\r', "\n"),
            Err(e) => format!("<cannot read {}: {e}>", self.log.display()),
        }
    }

    /// The last `lines` non-empty lines of the log, for panic messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = all.len().saturating_sub(lines);
        all[start..].join("\n")
    }

    /// A panic message: `what` went wrong with this process, followed by its log tail.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "{}: {what}\n----- {} (last 40 lines) -----\n{}\n-----",
            self.name,
            self.log.display(),
            self.log_tail(40)
        )
    }

    /// The exit status if the process has exited (reaps it), `None` while it runs.
    ///
    /// # Panics
    /// If waiting on the child fails.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("{}: cannot poll the process: {e}", self.name));
        }
        self.status
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits for the process to exit on its own, at most `timeout`.
    ///
    /// # Panics
    /// On timeout, with the log tail (the process is then stopped by drop).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match poll_until(timeout, POLL, || self.try_status()) {
            Some(status) => status,
            None => panic!(
                "{}",
                self.failure(&format!("still running after {timeout:?}"))
            ),
        }
    }

    /// Waits for the process to exit with status 0, at most `timeout`.
    ///
    /// # Panics
    /// On timeout or another exit status, with the log tail.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait_exit(timeout);
        assert!(
            status.success(),
            "{}",
            self.failure(&format!("exited with {status}"))
        );
    }

    /// Sends `signal` to the process if it still runs.
    pub fn signal(&mut self, signal: Signal) {
        if self.is_running()
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            // ESRCH (exited in between) is fine: the next poll reaps it.
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Stops the process: SIGTERM, up to `grace` to exit, then SIGKILL. Returns how it ended.
    ///
    /// A process that had already exited just reports its status.
    ///
    /// # Panics
    /// If the process cannot be reaped even after SIGKILL.
    pub fn terminate(&mut self, grace: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        if let Some(status) = poll_until(grace, POLL, || self.try_status()) {
            return status;
        }
        self.signal(Signal::SIGKILL);
        match poll_until(Duration::from_secs(10), POLL, || self.try_status()) {
            Some(status) => status,
            None => panic!("{}", self.failure("survived SIGKILL for 10 s")),
        }
    }

    /// Waits until a log line satisfies `pred` and returns that line.
    ///
    /// # Panics
    /// On timeout, or when the process exits first, with the log tail.
    pub fn wait_for_log(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let found = poll_until(timeout, POLL, || {
            if let Some(line) = self.log().lines().find(|l| pred(l)) {
                return Some(Ok(line.to_owned()));
            }
            self.try_status().map(Err)
        });
        match found {
            Some(Ok(line)) => line,
            Some(Err(status)) => panic!(
                "{}",
                self.failure(&format!("exited ({status}) before logging {what}"))
            ),
            None => panic!(
                "{}",
                self.failure(&format!("did not log {what} within {timeout:?}"))
            ),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_some() || !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + DROP_GRACE;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
