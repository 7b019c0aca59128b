//! Helpers for the daemon tests: child processes that are killed on drop, our tracker, the
//! daemon with a config file, its status over the control socket, and torrents made in memory.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use sha1::Digest as _;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_btmirror")
}

/// A `btmirror` command with an environment that cannot leak into the test.
pub fn command(home: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("BTMIRROR_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("STATE_DIRECTORY")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("BTMIRROR_LOG")
        // never the public DHT routers (--dht-bootstrap wins over this)
        .env("BTMIRROR_DHT_BOOTSTRAP", "")
        .stdin(Stdio::null());
    cmd
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free TCP port on 127.0.0.1 (free a moment ago).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A child process logging to a file, killed on drop.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(cmd: &mut Command, log: &Path) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = cmd
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Proc {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `sig`.
    pub fn signal(&self, sig: Signal) {
        let pid = i32::try_from(self.child.id()).unwrap();
        kill(Pid::from_raw(pid), sig).unwrap();
    }

    /// Waits for the exit, panicking with the log after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        match wait_for(timeout, || child.try_wait().unwrap()) {
            Some(s) => s,
            None => panic!("still running after {timeout:?}; log:\n{}", self.log()),
        }
    }

    /// True while running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `btmirror tracker` on 127.0.0.1.
pub struct Tracker {
    _proc: Proc,
    port: u16,
}

impl Tracker {
    /// Starts a tracker logging into `dir`.
    pub fn start(dir: &Path) -> Tracker {
        let port = free_port();
        let mut cmd = command(dir);
        cmd.args([
            "tracker",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--interval",
            "10",
        ]);
        let proc = Proc::spawn(&mut cmd, &dir.join("tracker.log"));
        let t = Tracker { _proc: proc, port };
        wait_for(Duration::from_secs(20), || t.stats()).expect("the tracker did not start");
        t
    }

    /// Its announce URL.
    pub fn announce(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// `/stats.json`, `None` while it does not answer.
    pub fn stats(&self) -> Option<Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /stats.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        let (_, body) = resp.split_once("\r\n\r\n")?;
        serde_json::from_str(body).ok()
    }

    /// Seeders the tracker lists for `info_hash` (hex).
    pub fn seeders(&self, info_hash: &str) -> u64 {
        self.stats()
            .and_then(|s| {
                s["torrents"]
                    .as_array()?
                    .iter()
                    .find(|t| t["info_hash"] == info_hash)
                    .and_then(|t| t["seeders"].as_u64())
            })
            .unwrap_or(0)
    }
}

/// A `btmirror run` with a config file in `root`: watch dir `root/watch`, state `root/state`.
pub struct Daemon {
    /// The process.
    pub proc: Proc,
    /// Its state directory.
    pub state: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    home: PathBuf,
}

/// The config the tests start from: loopback, any port, 1 s rescans and resume saves.
pub fn base_config(root: &Path) -> String {
    format!(
        "watch = [{:?}]\nstate_dir = {:?}\nport = 0\nbind = \"127.0.0.1\"\nrescan_interval = 1\nresume_interval = 1\n",
        root.join("watch"),
        root.join("state")
    )
}

impl Daemon {
    /// Writes `config` to `root/btmirror.toml` and starts the daemon; returns once its control
    /// socket answers.
    pub fn start(root: &Path, config: &str) -> Daemon {
        let d = Daemon::spawn(root, config);
        let ok = wait_for(Duration::from_secs(30), || d.try_status());
        assert!(
            ok.is_some(),
            "the daemon did not come up; log:\n{}",
            d.proc.log()
        );
        d
    }

    /// Like [`Daemon::start`] without waiting.
    pub fn spawn(root: &Path, config: &str) -> Daemon {
        std::fs::create_dir_all(root.join("watch")).unwrap();
        let cfg = root.join("btmirror.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut cmd = command(root);
        cmd.arg("run").arg("--config").arg(&cfg);
        let proc = Proc::spawn(&mut cmd, &root.join("daemon.log"));
        Daemon {
            proc,
            state: root.join("state"),
            config: cfg,
            home: root.to_path_buf(),
        }
    }

    /// `btmirror status --json`, `None` when it fails.
    pub fn try_status(&self) -> Option<Value> {
        let out = command(&self.home)
            .args(["status", "--json", "--state-dir"])
            .arg(&self.state)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The status, waiting until `pred` holds (panics with the last status and log after `timeout`).
    pub fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        let got = wait_for(timeout, || {
            let s = self.try_status()?;
            let ok = pred(&s);
            last = s.clone();
            ok.then_some(s)
        });
        got.unwrap_or_else(|| {
            panic!(
                "waiting for {what}: last status {last:#}\nlog:\n{}",
                self.proc.log()
            )
        })
    }
}

/// The torrents of a status document.
pub fn torrents(status: &Value) -> Vec<Value> {
    status["torrents"].as_array().cloned().unwrap_or_default()
}

/// True when the status lists exactly `n` torrents and all of them are seeding.
pub fn all_seeding(status: &Value, n: usize) -> bool {
    let t = torrents(status);
    t.len() == n && t.iter().all(|t| t["state"] == "seeding")
}

/// A single-file torrent of `data` named `name` with pieces of `piece_len` bytes, and its
/// info-hash in hex.
pub fn make_torrent(
    name: &str,
    data: &[u8],
    piece_len: usize,
    announce: &str,
) -> (Vec<u8>, String) {
    let mut pieces = Vec::new();
    for chunk in data.chunks(piece_len) {
        pieces.extend_from_slice(&sha1::Sha1::digest(chunk));
    }
    let mut info = format!(
        "d6:lengthi{}e4:name{}:{}12:piece lengthi{}e6:pieces{}:",
        data.len(),
        name.len(),
        name,
        piece_len,
        pieces.len()
    )
    .into_bytes();
    info.extend_from_slice(&pieces);
    info.push(b'e');
    let hash = sha1::Sha1::digest(&info);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let mut t = format!("d8:announce{}:{}4:info", announce.len(), announce).into_bytes();
    t.extend_from_slice(&info);
    t.push(b'e');
    (t, hex)
}

/// `n` pseudo-random bytes from `seed`.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Vec<u8> {
    <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(path).unwrap()).to_vec()
}
