//! `btmirror top` driven as a person would, under tmux (`send-keys`, `capture-pane`).
//!
//! One test runs against a stand-in daemon that speaks the control protocol, to cover the keys,
//! a daemon that goes away and comes back, resizing, and leaving a sane terminal after `q` and
//! after SIGTERM. The other runs against a real `btmirror run` seeding two torrents to a
//! looping `btmirror get --no-seed` leecher, and checks the names, the states and a moving
//! upload total. Both need `tmux` (Debian package `tmux`).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_btmirror");

/// A private tmux server with one 80x24 session running a plain shell; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts the server, or `None` when tmux is not installed.
    fn start(tag: &str) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("tmux is not installed (apt-get install tmux): skipping");
            return None;
        }
        let t = Self {
            socket: format!("btmirror-top-{tag}-{}", std::process::id()),
        };
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "80",
            "-y",
            "24",
            "--",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color")
            // the server (started by the first call) passes this on to the shell's commands:
            // never the public DHT routers
            .env("BTMIRROR_DHT_BOOTSTRAP", "")
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `line` into the shell and presses Enter.
    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-t", "top", "-l", line]);
        self.run(&["send-keys", "-t", "top", "Enter"]);
    }

    /// Presses keys given by tmux key names (`q`, `Escape`, `PageDown`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits until the screen satisfies `ok`, returning it; fails with the last screen.
    fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Pid of the program running in the pane's shell (the shell's only child).
    fn child_pid(&self) -> i32 {
        let shell = self.run(&["display-message", "-p", "-t", "top", "#{pane_pid}"]);
        let shell = shell.trim();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("reading the pane shell's children");
        children
            .split_whitespace()
            .next()
            .expect("a program runs in the pane")
            .parse()
            .expect("a pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// Starts `btmirror top` in the pane between two `stty -g` snapshots of the terminal.
fn start_top(tmux: &Tmux, state_dir: &Path, work: &Path) {
    let (before, after) = (work.join("stty.before"), work.join("stty.after"));
    let _ = std::fs::remove_file(&after);
    tmux.type_line(&format!(
        "clear; stty -g > {b}; {BIN} top --state-dir {s}; echo \"top exited $?\"; stty -g > {a}",
        b = before.display(),
        s = state_dir.display(),
        a = after.display(),
    ));
}

/// Waits for `top` to have exited 0 and checks the terminal settings are as before.
fn assert_exited_sanely(tmux: &Tmux, work: &Path) {
    let screen = tmux.wait_for("top to exit", Duration::from_secs(10), |s| {
        s.contains("top exited")
    });
    assert!(screen.contains("top exited 0"), "{screen}");
    let after = work.join("stty.after");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&after).map_or(true, |m| m.len() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = std::fs::read_to_string(work.join("stty.before")).expect("reading stty.before");
    assert_eq!(
        std::fs::read_to_string(&after).expect("reading stty.after"),
        before,
        "terminal modes restored"
    );
    assert!(
        !screen.contains("NAME  "),
        "the alternate screen is gone:\n{screen}"
    );
}

/// Bytes from the `up ... X this session` header line, e.g. `1.5 MiB` → 1572864.
fn session_upload(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.starts_with("up "))?;
    let text = line.split(", ").nth(1)?.strip_suffix(" this session")?;
    let (num, unit) = text.split_once(' ')?;
    let mult = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((num.parse::<f64>().ok()? * mult) as u64)
}

/// Waits until the session upload total shown by `top` has grown past its first value.
fn assert_upload_moves(tmux: &Tmux, timeout: Duration) {
    let first = session_upload(&tmux.screen()).expect("an upload total in the header");
    tmux.wait_for("the upload total to move", timeout, |s| {
        session_upload(s).is_some_and(|n| n > first)
    });
}

/// A stand-in daemon on `dir/control.sock`: two torrents whose upload grows with time.
struct StandIn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    fn start(dir: &Path) -> Self {
        let path = dir.join("control.sock");
        let listener = UnixListener::bind(&path).expect("binding the stand-in socket");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking stream");
                        let mut line = String::new();
                        let mut r = BufReader::new(stream.try_clone().expect("cloning the stream"));
                        if r.read_line(&mut line).is_ok() {
                            let up = u64::try_from(started.elapsed().as_millis())
                                .expect("elapsed fits u64")
                                * 4096;
                            let answer =
                                serde_json::json!({"version": 1, "status": stand_in_status(up)});
                            let _ = writeln!(&stream, "{answer}");
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            drop(listener);
            let _ = std::fs::remove_file(&path);
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn stand_in_status(uploaded: u64) -> serde_json::Value {
    let torrent = |name: &str, state: &str, error: Option<&str>, up: u64| {
        serde_json::json!({"name": name, "info_hash": "", "torrent_file": format!("/w/{name}.torrent"),
            "state": state, "progress": 1.0, "size": 1_048_576, "downloaded": 0, "uploaded": up,
            "download_rate": 0, "upload_rate": 4_096_000, "peers": 2, "seeds": 0, "error": error,
            "lifetime_uploaded": up, "lifetime_downloaded": 0})
    };
    serde_json::json!({
        "torrents": [torrent("alpha.iso", "seeding", None, uploaded),
                     torrent("beta.tar", "error", Some("invalid torrent: truncated"), 0)],
        "totals": {"uploaded": uploaded, "downloaded": 0, "upload_rate": 4_096_000, "download_rate": 0,
                   "lifetime_uploaded": uploaded, "lifetime_downloaded": 0},
        "listen_port": 51413, "version": "0.1.0"
    })
}

#[test]
fn top_keys_reconnect_resize_and_clean_exit() {
    let Some(tmux) = Tmux::start("standin") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let daemon = StandIn::start(&state);
    start_top(&tmux, &state, work.path());
    let screen = tmux.wait_for("both torrents", Duration::from_secs(20), |s| {
        s.contains("alpha.iso") && s.contains("beta.tar")
    });
    let alpha = screen.lines().find(|l| l.starts_with("alpha.iso")).unwrap();
    assert!(
        alpha.contains("seeding") && alpha.contains("100%"),
        "{screen}"
    );
    let beta = screen.lines().find(|l| l.starts_with("beta.tar")).unwrap();
    assert!(
        beta.contains("error") && beta.contains("invalid torrent: truncated"),
        "{screen}"
    );
    assert!(
        screen.contains("2 torrents: 1 seeding, 1 error"),
        "{screen}"
    );
    assert!(screen.contains("port 51413"), "{screen}");
    assert_upload_moves(&tmux, Duration::from_secs(10));

    // s cycles the sort column; / filters by name; Esc clears.
    tmux.keys(&["s"]);
    tmux.wait_for("sort by state", Duration::from_secs(5), |s| {
        s.contains("sort:state")
    });
    tmux.keys(&["/", "b", "e", "t", "Enter"]);
    tmux.wait_for("the filter", Duration::from_secs(5), |s| {
        s.contains("\"bet\"") && !s.contains("alpha.iso")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", Duration::from_secs(5), |s| {
        s.contains("alpha.iso")
    });

    // The daemon goes away and comes back.
    drop(daemon);
    tmux.wait_for("the daemon gone", Duration::from_secs(10), |s| {
        s.contains("daemon gone")
    });
    let daemon = StandIn::start(&state);
    tmux.wait_for("the reconnection", Duration::from_secs(10), |s| {
        s.contains("reconnected")
    });

    // Resizing, smaller and back.
    tmux.run(&["resize-window", "-t", "top", "-x", "50", "-y", "12"]);
    tmux.wait_for("a narrow screen", Duration::from_secs(5), |s| {
        s.lines().count() <= 12 && s.contains("alpha.iso")
    });
    tmux.run(&["resize-window", "-t", "top", "-x", "80", "-y", "24"]);
    tmux.wait_for("a wide screen", Duration::from_secs(5), |s| {
        s.contains("RATIO")
    });

    tmux.keys(&["q"]);
    assert_exited_sanely(&tmux, work.path());

    // SIGTERM also restores the terminal and exits 0.
    start_top(&tmux, &state, work.path());
    tmux.wait_for("top again", Duration::from_secs(20), |s| {
        s.contains("alpha.iso")
    });
    kill(Pid::from_raw(tmux.child_pid()), Signal::SIGTERM).unwrap();
    assert_exited_sanely(&tmux, work.path());
    drop(daemon);
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn btmirror(args: &[&str], log: &Path) -> Proc {
    let log = std::fs::File::create(log).expect("creating a log file");
    Proc(
        Command::new(BIN)
            .args(args)
            .env("BTMIRROR_LOG", "info")
            // never the public DHT routers
            .env("BTMIRROR_DHT_BOOTSTRAP", "")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log file"))
            .stderr(log)
            .spawn()
            .expect("starting btmirror"),
    )
}

/// Starts `btmirror tracker` on 127.0.0.1 and returns it with its announce URL.
fn tracker(work: &Path) -> (Proc, String) {
    let log = work.join("tracker.log");
    let p = btmirror(&["tracker", "--listen", "127.0.0.1:0"], &log);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("serving http://").nth(1) {
            let addr = rest.split('/').next().expect("an address");
            return (p, format!("http://{addr}/announce"));
        }
        assert!(
            Instant::now() < deadline,
            "the tracker never started: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn status_json(state: &Path) -> Option<serde_json::Value> {
    let out = Command::new(BIN)
        .args(["status", "--json", "--state-dir"])
        .arg(state)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// Leeches the torrents over and over with `btmirror get --no-seed` until `stop`.
fn leech_loop(torrents: Vec<PathBuf>, work: PathBuf, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(180);
        for round in 0..500 {
            if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                return;
            }
            let torrent = &torrents[round % torrents.len()];
            let dir = work.join(format!("leech{round}"));
            std::fs::create_dir_all(&dir).expect("creating a leecher dir");
            let args = [
                "get",
                &torrent.display().to_string(),
                "--dir",
                &dir.display().to_string(),
                "--no-seed",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--state-dir",
                &dir.join(".state").display().to_string(),
            ];
            let mut p = btmirror(&args, &work.join("leech.log"));
            let give_up = Instant::now() + Duration::from_secs(60);
            while p.0.try_wait().ok().flatten().is_none() {
                if stop.load(Ordering::SeqCst) || Instant::now() > give_up {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    })
}

#[test]
fn top_shows_a_real_daemon_seeding_two_torrents() {
    let work = tempfile::tempdir().unwrap();
    let (watch, state) = (work.path().join("watch"), work.path().join("state"));
    std::fs::create_dir_all(&watch).unwrap();
    let (_tracker, announce) = tracker(work.path());
    let mut torrents = Vec::new();
    for (name, len, seed) in [("alpha.bin", 3 << 20, 1), ("bravo.bin", 2 << 20, 2)] {
        std::fs::write(watch.join(name), data(len, seed)).unwrap();
        let torrent = watch.join(format!("{name}.torrent"));
        let made = Command::new(BIN)
            .args([
                "make",
                &watch.join(name).display().to_string(),
                "--announce",
                &announce,
                "-o",
            ])
            .arg(&torrent)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        torrents.push(torrent);
    }
    let log = work.path().join("daemon.log");
    let mut daemon = btmirror(
        &[
            "run",
            &watch.display().to_string(),
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--state-dir",
            &state.display().to_string(),
        ],
        &log,
    );
    std::thread::sleep(Duration::from_millis(300));
    if let Ok(Some(status)) = daemon.0.try_wait() {
        panic!(
            "the daemon exited at once ({status}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seeding = status_json(&state).is_some_and(|s| {
            let t = s["torrents"].as_array().cloned().unwrap_or_default();
            t.len() == 2 && t.iter().all(|t| t["state"] == "seeding")
        });
        if seeding {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never seeded both torrents: {:?}\n{}",
            status_json(&state),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let leecher = leech_loop(torrents, work.path().to_path_buf(), stop.clone());

    let Some(tmux) = Tmux::start("daemon") else {
        stop.store(true, Ordering::SeqCst);
        let _ = leecher.join();
        return;
    };
    start_top(&tmux, &state, work.path());
    let screen = tmux.wait_for("both torrents seeding", Duration::from_secs(20), |s| {
        ["alpha.bin", "bravo.bin"].iter().all(|n| {
            s.lines()
                .any(|l| l.starts_with(n) && l.contains("seeding") && l.contains("100%"))
        })
    });
    assert!(screen.contains("2 torrents: 2 seeding"), "{screen}");
    assert_upload_moves(&tmux, Duration::from_secs(90));
    // `status --json` agrees: at least what top showed has been uploaded.
    let shown = session_upload(&tmux.screen()).unwrap();
    let json = status_json(&state).expect("status --json answers");
    let uploaded = json["totals"]["uploaded"].as_u64().unwrap();
    assert!(
        uploaded >= shown * 9 / 10 && uploaded > 0,
        "{uploaded} vs {shown}"
    );
    tmux.keys(&["q"]);
    assert_exited_sanely(&tmux, work.path());

    stop.store(true, Ordering::SeqCst);
    leecher.join().unwrap();
    kill(
        Pid::from_raw(i32::try_from(daemon.0.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while daemon.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn get_tui_shows_the_download_and_exits_cleanly() {
    let Some(tmux) = Tmux::start("get") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (seed_dir, leech_dir) = (work.path().join("seed"), work.path().join("leech"));
    std::fs::create_dir_all(&seed_dir).unwrap();
    let (_tracker, announce) = tracker(work.path());
    std::fs::write(seed_dir.join("charlie.bin"), data(4 << 20, 3)).unwrap();
    let torrent = work.path().join("charlie.torrent");
    let made = Command::new(BIN)
        .args([
            "make",
            &seed_dir.join("charlie.bin").display().to_string(),
            "--announce",
            &announce,
            "-o",
        ])
        .arg(&torrent)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // A seed limited to 1 MiB/s, so the download is on screen for a few seconds.
    let _seed = btmirror(
        &[
            "get",
            &torrent.display().to_string(),
            "--dir",
            &seed_dir.display().to_string(),
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--max-upload-rate",
            "1MiB",
            "--state-dir",
            &work.path().join("seed-state").display().to_string(),
        ],
        &work.path().join("seed.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (before, after) = (
        work.path().join("stty.before"),
        work.path().join("stty.after"),
    );
    tmux.type_line(&format!(
        "clear; stty -g > {b}; {BIN} get {t} --dir {d} --port 0 --bind 127.0.0.1 --no-seed --tui \
         --state-dir {s}; echo \"top exited $?\"; stty -g > {a}",
        b = before.display(),
        t = torrent.display(),
        d = leech_dir.display(),
        s = work.path().join("leech-state").display(),
        a = after.display(),
    ));
    let screen = tmux.wait_for("the download on screen", Duration::from_secs(20), |s| {
        s.contains("charlie.bin") && s.contains("downloading")
    });
    assert!(screen.contains("btmirror get"), "{screen}");
    // --no-seed: it leaves by itself once complete, with the terminal restored.
    assert_exited_sanely(&tmux, work.path());
    assert_eq!(
        std::fs::read(leech_dir.join("charlie.bin")).unwrap(),
        data(4 << 20, 3)
    );
}
