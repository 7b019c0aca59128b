//! The daemon's configuration file (TOML, read-only to the daemon: it is a Debian conffile) and
//! the effective settings that come from it, the command line and the defaults.
//!
//! Every key is optional. An unknown key or a bad value is a [`UsageError`] (exit 2) naming the
//! file, the line and the key. Relative paths in the file are relative to the file's directory.
//! Command-line options win over the file; directories given on the command line replace the
//! file's `watch` list.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::UsageError;
use crate::paths::{self, ConfigSource, Env};
use crate::units;

/// Default listen port for peers.
pub const DEFAULT_PORT: u16 = 6881;
/// Default listen address: `::`, which on Linux takes IPv4 connections too (dual stack); the
/// engine falls back to 0.0.0.0 where IPv6 is off.
pub const DEFAULT_BIND: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// Default seconds between full rescans of the watch directories.
pub const DEFAULT_RESCAN_SECS: u64 = 60;
/// Default seconds between saves of resume data.
pub const DEFAULT_RESUME_SECS: u64 = 60;
/// Largest configuration file read.
const MAX_CONFIG_LEN: u64 = 1 << 20;

/// What the command line of `btmirror run` says. Unset values fall back to the config file,
/// then to the defaults; `dirs`, when given, replace the file's `watch` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Directories of `.torrent` files to mirror.
    pub dirs: Vec<PathBuf>,
    /// The configuration file (`--config`), instead of the usual search.
    pub config: Option<PathBuf>,
    /// Append logs to this file.
    pub log_file: Option<PathBuf>,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
    /// The state directory.
    pub state_dir: Option<PathBuf>,
    /// Listen port for peers.
    pub port: Option<u16>,
    /// Listen address for peers.
    pub bind: Option<IpAddr>,
    /// Global upload limit, bytes/s.
    pub max_upload_rate: Option<u64>,
    /// Global download limit, bytes/s.
    pub max_download_rate: Option<u64>,
    /// Message Stream Encryption of peer connections.
    pub encryption: Option<engine::EncryptionPolicy>,
    /// `--no-dht` (`Some(false)`).
    pub dht: Option<bool>,
    /// `--dht-bootstrap HOST:PORT`, repeated: replaces every other bootstrap list.
    pub dht_bootstrap: Vec<String>,
}

/// The DHT bootstrap routers of the other clients, the default of `dht_bootstrap`.
pub const DEFAULT_DHT_BOOTSTRAP: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// Checks one `host:port` of a DHT bootstrap list (`[v6]:port` for IPv6 literals).
pub fn check_dht_node(s: &str) -> Result<String, String> {
    let s = s.trim();
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("{s:?} is not HOST:PORT"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("{s:?} has no host (HOST:PORT)"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_owned()),
        _ => Err(format!("{s:?}: {port:?} is not a port (1-65535)")),
    }
}

/// `$BTMIRROR_DHT_BOOTSTRAP`: a comma-separated `host:port` list; empty means no node at all.
pub fn dht_bootstrap_from_env(value: &std::ffi::OsStr) -> Result<Vec<String>, UsageError> {
    let text = value
        .to_str()
        .ok_or_else(|| UsageError::new("BTMIRROR_DHT_BOOTSTRAP: not valid UTF-8".to_owned()))?;
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            check_dht_node(t).map_err(|e| UsageError::new(format!("BTMIRROR_DHT_BOOTSTRAP: {e}")))
        })
        .collect()
}

/// The DHT bootstrap list: the command line's, else `$BTMIRROR_DHT_BOOTSTRAP`, else the config
/// file's `dht_bootstrap`, else [`DEFAULT_DHT_BOOTSTRAP`].
pub fn dht_bootstrap(
    cli: &[String],
    env: Option<&std::ffi::OsStr>,
    file: Option<&[String]>,
) -> Result<Vec<String>, UsageError> {
    if !cli.is_empty() {
        return cli
            .iter()
            .map(|t| {
                check_dht_node(t).map_err(|e| UsageError::new(format!("--dht-bootstrap: {e}")))
            })
            .collect();
    }
    if let Some(v) = env {
        return dht_bootstrap_from_env(v);
    }
    if let Some(list) = file {
        return Ok(list.to_vec());
    }
    Ok(DEFAULT_DHT_BOOTSTRAP
        .iter()
        .map(|s| (*s).to_owned())
        .collect())
}

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
    /// Listen address for peers (`localhost` allowed).
    #[serde(default, deserialize_with = "ip")]
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
    /// Serve Prometheus metrics at `http://ADDR:PORT/metrics` (`localhost:PORT` allowed).
    #[serde(default, deserialize_with = "socket_addr")]
    pub metrics: Option<SocketAddr>,
    /// Download from the torrents' web seeds (BEP 19 `url-list`, BEP 17 `httpseeds`).
    pub web_seeds: Option<bool>,
    /// Web seeds of the operator's own, used as `url-list` entries of every torrent (a URL
    /// ending in `/` gets the torrent's name appended).
    #[serde(default)]
    pub web_seeds_extra: Vec<String>,
    /// Web seeds one torrent fetches from at once.
    #[serde(default, deserialize_with = "positive")]
    pub max_web_seeds_per_torrent: Option<usize>,
    /// Web seed requests across all torrents at once.
    #[serde(default, deserialize_with = "positive")]
    pub max_web_seed_requests: Option<usize>,
    /// Message Stream Encryption of peer connections: `prefer`, `allow`, `require` or
    /// `disable`.
    #[serde(default, deserialize_with = "encryption")]
    pub encryption: Option<engine::EncryptionPolicy>,
    /// `[[feed]]` tables: feeds of `.torrent` files kept in step with a watch dir.
    #[serde(default)]
    pub feed: Vec<feed::FeedConfig>,
    /// Peer transports, `["tcp", "utp"]` by default: both accepted; peers are dialled over TCP
    /// first and over uTP when TCP fails or the peer prefers uTP.
    #[serde(default, deserialize_with = "transports")]
    pub transports: Option<engine::Transports>,
    /// Run a DHT node (BEP 5) for the public torrents.
    pub dht: Option<bool>,
    /// DHT nodes to bootstrap from, `"host:port"` (the public routers by default).
    #[serde(default, deserialize_with = "dht_nodes")]
    pub dht_bootstrap: Option<Vec<String>>,
}

/// A list of `"host:port"`.
fn dht_nodes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    list.iter()
        .map(|s| check_dht_node(s))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A non-empty list of `"tcp"` and `"utp"`.
fn transports<'de, D: Deserializer<'de>>(d: D) -> Result<Option<engine::Transports>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    let (mut tcp, mut utp) = (false, false);
    for n in &names {
        match n.as_str() {
            "tcp" => tcp = true,
            "utp" => utp = true,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "{other:?} is not a transport (\"tcp\" or \"utp\")"
                )));
            }
        }
    }
    match (tcp, utp) {
        (true, true) => Ok(Some(engine::Transports::ALL)),
        (true, false) => Ok(Some(engine::Transports::TCP_ONLY)),
        (false, true) => Ok(Some(engine::Transports::UTP_ONLY)),
        (false, false) => Err(serde::de::Error::custom(
            "needs at least one of \"tcp\" and \"utp\"",
        )),
    }
}

/// An encryption policy by name.
fn encryption<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<engine::EncryptionPolicy>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
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
fn ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let s = String::deserialize(d)?;
    units::parse_ip(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    units::parse_socket_addr(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

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
        self.feed.iter_mut().map(|f| &mut f.into).for_each(fix);
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
    /// Whether web seeds are used.
    pub web_seeds: bool,
    /// The operator's own web seeds, for every torrent.
    pub web_seeds_extra: Vec<String>,
    /// Web seeds one torrent fetches from at once.
    pub max_web_seeds_per_torrent: usize,
    /// Web seed requests across all torrents at once.
    pub max_web_seed_requests: usize,
    /// Message Stream Encryption of peer connections, both ways.
    pub encryption: engine::EncryptionPolicy,
    /// Peer transports.
    pub transports: engine::Transports,
    /// The feeds, each writing into one of `watch`.
    pub feeds: Vec<feed::FeedConfig>,
    /// Whether the DHT node runs.
    pub dht: bool,
    /// Its bootstrap nodes, `host:port`.
    pub dht_bootstrap: Vec<String>,
}

/// The configuration file the daemon uses and why: `--config`, `$BTMIRROR_CONFIG`, or a
/// readable system or user file (design.md, "Defaults").
pub fn config_path(args: &RunOptions, env: &Env) -> Option<(PathBuf, ConfigSource)> {
    paths::find_config(args.config.as_deref(), env, paths::is_readable_file)
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
    args: &RunOptions,
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
                     ~/.config/btmirror/btmirror.toml or /etc/btmirror/btmirror.toml)"
                .to_owned(),
        }));
    }
    let feeds = check_feeds(&cfg.feed, &watch, config_file)?;
    let s = args;
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
        web_seeds: cfg.web_seeds.unwrap_or(engine.web_seeds),
        web_seeds_extra: cfg.web_seeds_extra.clone(),
        max_web_seeds_per_torrent: cfg
            .max_web_seeds_per_torrent
            .unwrap_or(engine.max_web_seeds_per_torrent),
        max_web_seed_requests: cfg
            .max_web_seed_requests
            .unwrap_or(engine.max_web_seed_requests),
        encryption: args.encryption.or(cfg.encryption).unwrap_or_default(),
        transports: cfg.transports.unwrap_or_default(),
        feeds,
        dht: s.dht.or(cfg.dht).unwrap_or(true),
        dht_bootstrap: dht_bootstrap(
            &s.dht_bootstrap,
            env.dht_bootstrap.as_deref(),
            cfg.dht_bootstrap.as_deref(),
        )?,
    })
}

/// The feeds with absolute `into` dirs, each of which must be one of the watch dirs (a feed
/// writing where nothing watches would download nothing).
fn check_feeds(
    feeds: &[feed::FeedConfig],
    watch: &[PathBuf],
    config_file: Option<&Path>,
) -> Result<Vec<feed::FeedConfig>, UsageError> {
    let mut out = Vec::with_capacity(feeds.len());
    for f in feeds {
        let mut f = f.clone();
        f.into = absolute(&f.into);
        if !watch.contains(&f.into) {
            let file =
                config_file.map_or_else(String::new, |p| format!("config {}: ", p.display()));
            return Err(UsageError::new(format!(
                "{file}[[feed]] {}: into = {:?} is not one of the watch directories ({})",
                f.url,
                f.into.display().to_string(),
                watch
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        out.push(f);
    }
    Ok(out)
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
            web_seeds: self.web_seeds,
            max_web_seeds_per_torrent: self.max_web_seeds_per_torrent,
            max_web_seed_requests: self.max_web_seed_requests,
            encryption: self.encryption,
            transports: self.transports,
            dht: self.dht,
            dht_bootstrap: self.dht_bootstrap.clone(),
            // Per-file-system limits come with each torrent (see `AddOptions::check_limit`).
            check_concurrency: usize::MAX >> 4,
            ..engine::SessionConfig::default()
        }
    }

    /// The settings to run with after a reload to `new`, and the names of the settings that
    /// changed but only take effect after a restart (those keep their current values). This is
    /// the one list of restart-only settings.
    pub fn reloaded(&self, new: Self) -> (Self, Vec<&'static str>) {
        let mut next = new;
        let mut restart = Vec::new();
        // A restart-only setting that changed keeps its running value and is named.
        macro_rules! restart_only {
            ($($field:ident => $name:literal),* $(,)?) => {$(
                if self.$field != next.$field {
                    restart.push($name);
                    next.$field = self.$field.clone();
                }
            )*};
        }
        restart_only! {
            state_dir => "state_dir",
            listen => "port/bind",
            max_connections => "max_connections",
            max_peers_per_torrent => "max_peers_per_torrent",
            upload_slots => "upload_slots",
            check_concurrency => "check_concurrency",
            max_open_files => "max_open_files",
            log_file => "log_file",
            metrics => "metrics",
            web_seeds => "web_seeds",
            max_web_seeds_per_torrent => "max_web_seeds_per_torrent",
            max_web_seed_requests => "max_web_seed_requests",
            encryption => "encryption",
            transports => "transports",
            dht => "dht",
            dht_bootstrap => "dht_bootstrap",
        }
        (next, restart)
    }
}

/// The daemon's state directory as `status` and `top` find it, exactly as `run` does:
/// `--state-dir`, else the `state_dir` of the config file `run` would read (`--config`,
/// `$BTMIRROR_CONFIG`, the user's file, the system's), else the default. The second value says
/// why, for messages: `--state-dir`, `state_dir in FILE (SOURCE)` or `the default for this user`.
pub fn find_state_dir(
    state_dir: Option<&Path>,
    config: Option<&Path>,
    env: &Env,
) -> Result<(PathBuf, String), UsageError> {
    if let Some(p) = state_dir {
        return Ok((absolute(p), "--state-dir".to_owned()));
    }
    let found = paths::find_config(config, env, paths::is_readable_file);
    if let Some((file, source)) = &found
        && let Some(dir) = read(Some(file))?.state_dir
    {
        let why = format!("state_dir in {} ({source})", file.display());
        return Ok((dir, why));
    }
    let why = match &found {
        Some((file, source)) => format!(
            "the default state dir ({} ({source}) sets no state_dir)",
            file.display()
        ),
        None => "the default state dir (no config file)".to_owned(),
    };
    Ok((paths::default_state_dir(env)?, why))
}

/// `p` made absolute against the current directory (unchanged when that fails).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests;
