//! The daemon's configuration file (TOML, read-only to the daemon: it is a Debian conffile) and
//! the effective settings that come from it, the command line and the defaults.
//!
//! Every key is optional. An unknown key or a bad value is a [`UsageError`] (exit 2) naming the
//! file, the line and the key. Relative paths in the file are relative to the file's directory.
//! Command-line options win over the file; directories given on the command line replace the
//! file's `watch` list.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::cli::{DEFAULT_BIND, DEFAULT_PORT, RunArgs};
use crate::exit::UsageError;
use crate::paths::{self, Env};
use crate::units;

/// Default seconds between full rescans of the watch directories.
pub const DEFAULT_RESCAN_SECS: u64 = 60;
/// Default seconds between saves of resume data.
pub const DEFAULT_RESUME_SECS: u64 = 60;
/// Largest configuration file read.
const MAX_CONFIG_LEN: u64 = 1 << 20;

/// The configuration file as written. See `packaging/btmirror.toml` for every key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directories of `.torrent` files to mirror.
    #[serde(default)]
    pub watch: Vec<PathBuf>,
    /// Where data goes instead of beside each `.torrent` (`data_dir/<torrent name>`).
    pub data_dir: Option<PathBuf>,
    /// Resume data, lock file and control socket.
    pub state_dir: Option<PathBuf>,
    /// Listen port for peers (0 = any free port).
    pub port: Option<u16>,
    /// Listen address for peers.
    pub bind: Option<IpAddr>,
    /// Peer connections across all torrents.
    #[serde(default, deserialize_with = "positive")]
    pub max_connections: Option<usize>,
    /// Peer connections per torrent.
    #[serde(default, deserialize_with = "positive")]
    pub max_peers_per_torrent: Option<usize>,
    /// Regular unchoke slots per torrent.
    #[serde(default, deserialize_with = "positive")]
    pub upload_slots: Option<usize>,
    /// Global upload limit (bytes/s as a number, or a string like `"10MiB"`; 0 = unlimited).
    #[serde(default, deserialize_with = "rate")]
    pub max_upload_rate: Option<u64>,
    /// Global download limit.
    #[serde(default, deserialize_with = "rate")]
    pub max_download_rate: Option<u64>,
    /// Upload limit of each torrent.
    #[serde(default, deserialize_with = "rate")]
    pub max_torrent_upload_rate: Option<u64>,
    /// Download limit of each torrent.
    #[serde(default, deserialize_with = "rate")]
    pub max_torrent_download_rate: Option<u64>,
    /// Seconds between full rescans of the watch directories.
    #[serde(default, deserialize_with = "positive")]
    pub rescan_interval: Option<u64>,
    /// Seconds between saves of resume data.
    #[serde(default, deserialize_with = "positive")]
    pub resume_interval: Option<u64>,
    /// Data checks running at once on each file system.
    #[serde(default, deserialize_with = "positive")]
    pub check_concurrency: Option<usize>,
    /// Data files kept open across all torrents.
    #[serde(default, deserialize_with = "positive")]
    pub max_open_files: Option<usize>,
    /// Append logs to this file (reopened on SIGHUP).
    pub log_file: Option<PathBuf>,
    /// Serve Prometheus metrics at `http://ADDR:PORT/metrics`.
    pub metrics: Option<SocketAddr>,
}

/// A number that must be at least 1.
fn positive<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialEq + Default,
{
    let v = T::deserialize(d)?;
    if v == T::default() {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(Some(v))
}

/// A rate: bytes per second as an integer, or a string with a unit (`"500KiB"`, `"10MiB"`).
fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Rate {
        Number(u64),
        Text(String),
    }
    match Rate::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected bytes per second, e.g. 1048576 or \"1MiB\"")
    })? {
        Rate::Number(n) => Ok(Some(n)),
        Rate::Text(s) => units::parse_rate(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}"))),
    }
}

impl Config {
    /// Parses `text` (the contents of `path`, which is only used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, UsageError> {
        toml::from_str(text).map_err(|e| {
            UsageError::new(format!("config {}: {}", path.display(), describe(&e, text)))
        })
    }

    /// Reads and parses `path`. A file that cannot be read is a usage error too: it was named
    /// by `--config` or `$BTMIRROR_CONFIG`, or found readable a moment ago.
    pub fn load(path: &Path) -> Result<Self, UsageError> {
        use std::io::Read as _;
        let read = std::fs::File::open(path).and_then(|f| {
            let mut text = String::new();
            f.take(MAX_CONFIG_LEN).read_to_string(&mut text)?;
            Ok(text)
        });
        match read {
            Ok(text) => Self::parse(&text, path),
            Err(e) => Err(UsageError::new(format!(
                "config {}: cannot read it: {e}",
                path.display()
            ))),
        }
    }

    /// Makes relative paths relative to `base` (the config file's directory).
    fn anchor(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.watch.iter_mut().for_each(fix);
        for p in [&mut self.data_dir, &mut self.state_dir, &mut self.log_file]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
    }
}

/// `line N: key `k`: message` for a TOML error, from its span.
fn describe(err: &toml::de::Error, text: &str) -> String {
    let msg = err.message().trim().replace('\n', " ");
    let Some(span) = err.span() else {
        return msg;
    };
    let start = span.start.min(text.len());
    let before = text.as_bytes().get(..start).unwrap_or_default();
    let line_no = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // The key is on the error's line, or (inside a multi-line array) on the closest line above.
    let key = text
        .lines()
        .take(line_no)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|line| {
            let (k, _) = line.split_once('=')?;
            let k = k.trim();
            let bare = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"'".contains(c));
            bare.then(|| k.trim_matches(['"', '\'']).to_owned())
        });
    match key {
        Some(k) if !msg.contains(&format!("`{k}`")) => format!("line {line_no}: key `{k}`: {msg}"),
        _ => format!("line {line_no}: {msg}"),
    }
}

/// The settings the daemon runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Absolute watch directories, without duplicates.
    pub watch: Vec<PathBuf>,
    /// Data root instead of the `.torrent`'s directory.
    pub data_dir: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where to listen for peers.
    pub listen: SocketAddr,
    /// Peer connections across all torrents.
    pub max_connections: usize,
    /// Peer connections per torrent.
    pub max_peers_per_torrent: usize,
    /// Unchoke slots per torrent.
    pub upload_slots: usize,
    /// Global upload limit, bytes/s (0 = unlimited).
    pub max_upload_rate: u64,
    /// Global download limit, bytes/s.
    pub max_download_rate: u64,
    /// Per-torrent upload limit, bytes/s.
    pub torrent_upload_rate: u64,
    /// Per-torrent download limit, bytes/s.
    pub torrent_download_rate: u64,
    /// Between full rescans.
    pub rescan_interval: Duration,
    /// Between resume data saves.
    pub resume_interval: Duration,
    /// Data checks at once per file system.
    pub check_concurrency: usize,
    /// Open data files across all torrents.
    pub max_open_files: usize,
    /// The log file, if any.
    pub log_file: Option<PathBuf>,
    /// Where the Prometheus metrics are served, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// The configuration file the daemon uses: `--config`, `$BTMIRROR_CONFIG`, or a readable
/// system or user file (design.md, "Defaults").
pub fn config_path(args: &RunArgs, env: &Env) -> Option<PathBuf> {
    paths::find_config(args.config.as_deref(), env, paths::is_readable_file).map(|(p, _)| p)
}

/// Reads the config file at `path` (when there is one) with relative paths anchored.
pub fn read(path: Option<&Path>) -> Result<Config, UsageError> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let mut cfg = Config::load(path)?;
    let base = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    cfg.anchor(&base);
    Ok(cfg)
}

/// Combines the command line, the config file and the defaults. `config_file` only names the
/// file in messages.
pub fn resolve(
    args: &RunArgs,
    cfg: &Config,
    config_file: Option<&Path>,
    env: &Env,
) -> Result<Settings, UsageError> {
    let cli_dirs: Vec<PathBuf> = args.dirs.iter().map(|d| absolute(d)).collect();
    let mut watch = if cli_dirs.is_empty() {
        cfg.watch.clone()
    } else {
        cli_dirs
    };
    let mut seen = std::collections::HashSet::new();
    watch.retain(|d| seen.insert(d.clone()));
    if watch.is_empty() {
        return Err(UsageError::new(match config_file {
            Some(f) => format!(
                "nothing to watch: {} has no `watch` directories and none were given; \
                 pass one (btmirror run DIR) or add watch = [\"/path/to/torrents\"]",
                f.display()
            ),
            None => "nothing to watch: pass a directory of .torrent files (btmirror run DIR) or a \
                     config file with `watch` (--config FILE, $BTMIRROR_CONFIG, \
                     /etc/btmirror/btmirror.toml or ~/.config/btmirror/btmirror.toml)"
                .to_owned(),
        }));
    }
    let s = &args.session;
    let state_dir = match (&s.state_dir, &cfg.state_dir) {
        (Some(p), _) => absolute(p),
        (None, Some(p)) => p.clone(),
        (None, None) => paths::default_state_dir(env)?,
    };
    let port = s.port.or(cfg.port).unwrap_or(DEFAULT_PORT);
    let bind = s.bind.or(cfg.bind).unwrap_or(DEFAULT_BIND);
    let engine = engine::SessionConfig::default();
    Ok(Settings {
        watch,
        data_dir: cfg.data_dir.clone(),
        state_dir,
        listen: SocketAddr::new(bind, port),
        max_connections: cfg.max_connections.unwrap_or(engine.max_connections),
        max_peers_per_torrent: cfg
            .max_peers_per_torrent
            .unwrap_or(engine.max_peers_per_torrent),
        upload_slots: cfg.upload_slots.unwrap_or(engine.upload_slots),
        max_upload_rate: s.max_upload_rate.or(cfg.max_upload_rate).unwrap_or(0),
        max_download_rate: s.max_download_rate.or(cfg.max_download_rate).unwrap_or(0),
        torrent_upload_rate: cfg.max_torrent_upload_rate.unwrap_or(0),
        torrent_download_rate: cfg.max_torrent_download_rate.unwrap_or(0),
        rescan_interval: Duration::from_secs(cfg.rescan_interval.unwrap_or(DEFAULT_RESCAN_SECS)),
        resume_interval: Duration::from_secs(cfg.resume_interval.unwrap_or(DEFAULT_RESUME_SECS)),
        check_concurrency: cfg.check_concurrency.unwrap_or(1),
        max_open_files: cfg.max_open_files.unwrap_or(engine.max_open_files),
        log_file: args
            .log_file
            .as_deref()
            .map(absolute)
            .or_else(|| cfg.log_file.clone()),
        metrics: args.metrics.or(cfg.metrics),
    })
}

impl Settings {
    /// The engine's session settings.
    pub fn session_config(&self) -> engine::SessionConfig {
        engine::SessionConfig {
            listen: self.listen,
            max_connections: self.max_connections,
            max_peers_per_torrent: self.max_peers_per_torrent,
            upload_slots: self.upload_slots,
            max_upload_rate: self.max_upload_rate,
            max_download_rate: self.max_download_rate,
            max_open_files: self.max_open_files,
            // Per-file-system limits come with each torrent (see `AddOptions::check_limit`).
            check_concurrency: usize::MAX >> 4,
            ..engine::SessionConfig::default()
        }
    }

    /// Names of the settings that differ from `new` but only take effect after a restart.
    pub fn restart_needed(&self, new: &Self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut check = |changed: bool, name| {
            if changed {
                v.push(name);
            }
        };
        check(self.state_dir != new.state_dir, "state_dir");
        check(self.listen != new.listen, "port/bind");
        check(
            self.max_connections != new.max_connections,
            "max_connections",
        );
        check(
            self.max_peers_per_torrent != new.max_peers_per_torrent,
            "max_peers_per_torrent",
        );
        check(self.upload_slots != new.upload_slots, "upload_slots");
        check(
            self.check_concurrency != new.check_concurrency,
            "check_concurrency",
        );
        check(self.max_open_files != new.max_open_files, "max_open_files");
        check(self.log_file != new.log_file, "log_file");
        check(self.metrics != new.metrics, "metrics");
        v
    }
}

/// `p` made absolute against the current directory (unchanged when that fails).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn args(extra: &[&str]) -> RunArgs {
        let cli = crate::cli::Cli::try_parse_from(
            ["btmirror", "run"].iter().chain(extra.iter()).copied(),
        )
        .unwrap();
        match cli.cmd {
            crate::cli::Command::Run(r) => r,
            _ => panic!("not run"),
        }
    }

    fn env() -> Env {
        Env {
            home: Some("/home/u".into()),
            ..Env::default()
        }
    }

    const FULL: &str = r#"
# every key
watch = ["/srv/torrents", "rel"]
data_dir = "/srv/data"
state_dir = "/var/lib/x"
port = 7000
bind = "127.0.0.1"
max_connections = 300
max_peers_per_torrent = 20
upload_slots = 4
max_upload_rate = "1MiB"
max_download_rate = 1000
max_torrent_upload_rate = "100KiB"
max_torrent_download_rate = 0
rescan_interval = 5
resume_interval = 30
check_concurrency = 2
max_open_files = 64
log_file = "log/btmirror.log"
metrics = "127.0.0.1:9100"
"#;

    #[test]
    fn every_key_parses() {
        let mut cfg = Config::parse(FULL, Path::new("c.toml")).unwrap();
        cfg.anchor(Path::new("/etc/btmirror"));
        assert_eq!(
            cfg.watch,
            [
                PathBuf::from("/srv/torrents"),
                PathBuf::from("/etc/btmirror/rel")
            ]
        );
        assert_eq!(cfg.max_upload_rate, Some(1 << 20));
        assert_eq!(cfg.max_torrent_upload_rate, Some(100 << 10));
        assert_eq!(cfg.max_download_rate, Some(1000));
        assert_eq!(
            cfg.log_file,
            Some(PathBuf::from("/etc/btmirror/log/btmirror.log"))
        );
        let s = resolve(&args(&[]), &cfg, None, &env()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(s.state_dir, Path::new("/var/lib/x"));
        assert_eq!(s.rescan_interval, Duration::from_secs(5));
        assert_eq!(s.check_concurrency, 2);
        assert_eq!(s.torrent_upload_rate, 100 << 10);
        assert_eq!(s.metrics, Some("127.0.0.1:9100".parse().unwrap()));
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../../packaging/btmirror.toml");
        let cfg = Config::parse(text, Path::new("btmirror.toml")).unwrap();
        assert!(!cfg.watch.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "watch = [\"/t\"]\n\nmax_upload_rte = 5\n";
        let e = Config::parse(text, Path::new("/etc/b.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/etc/b.toml"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("max_upload_rte"), "{msg}");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        for (text, key, line) in [
            ("port = \"x\"\n", "port", 1),
            ("watch = []\nport = 70000\n", "port", 2),
            ("\n\nmax_upload_rate = \"fast\"\n", "max_upload_rate", 3),
            ("upload_slots = 0\n", "upload_slots", 1),
            ("bind = \"nowhere\"\n", "bind", 1),
            ("watch = [\n  \"/a\",\n  5,\n]\n", "watch", 3),
            ("rescan_interval = -1\n", "rescan_interval", 1),
            ("\nmetrics = \"9100\"\n", "metrics", 2),
        ] {
            let msg = Config::parse(text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(&format!("`{key}`")), "{text:?}: {msg}");
            assert!(msg.contains(&format!("line {line}")), "{text:?}: {msg}");
        }
    }

    #[test]
    fn command_line_wins_and_dirs_replace_watch() {
        let cfg = Config::parse(FULL, Path::new("c.toml")).unwrap();
        let s = resolve(
            &args(&[
                "/a",
                "/a",
                "/b",
                "--port",
                "0",
                "--max-upload-rate",
                "0",
                "--state-dir",
                "/s",
                "--metrics",
                "[::1]:9200",
            ]),
            &cfg,
            None,
            &env(),
        )
        .unwrap();
        assert_eq!(s.watch, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(s.listen.port(), 0);
        assert_eq!(s.max_upload_rate, 0);
        assert_eq!(s.state_dir, Path::new("/s"));
        assert_eq!(s.metrics, Some("[::1]:9200".parse().unwrap()));
    }

    #[test]
    fn nothing_to_watch_says_what_to_pass() {
        let e = resolve(&args(&[]), &Config::default(), None, &env()).unwrap_err();
        assert!(e.to_string().contains("btmirror run DIR"), "{e}");
        assert!(e.to_string().contains("--config"), "{e}");
        let e = resolve(
            &args(&[]),
            &Config::default(),
            Some(Path::new("/c.toml")),
            &env(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/c.toml"), "{e}");
    }

    #[test]
    fn defaults_and_restart_needed() {
        let s = resolve(&args(&["/t"]), &Config::default(), None, &env()).unwrap();
        assert_eq!(s.listen.port(), DEFAULT_PORT);
        assert_eq!(s.state_dir, Path::new("/home/u/.local/state/btmirror"));
        assert_eq!(s.rescan_interval, Duration::from_secs(DEFAULT_RESCAN_SECS));
        assert_eq!(s.metrics, None);
        let mut t = s.clone();
        t.max_upload_rate = 5;
        t.watch.push("/u".into());
        assert!(s.restart_needed(&t).is_empty());
        t.upload_slots += 1;
        assert_eq!(s.restart_needed(&t), ["upload_slots"]);
        t.metrics = Some("127.0.0.1:9100".parse().unwrap());
        assert_eq!(s.restart_needed(&t), ["upload_slots", "metrics"]);
    }
}
