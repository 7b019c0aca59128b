//! The command line (design.md, "The command line"): one binary, eight subcommands.
//!
//! Values are checked while parsing (rates, piece sizes, URLs, addresses), so a bad value exits
//! 2 with clap's message naming the argument.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::units;

/// Default listen port of `run` (`get` takes any free port unless `--port` is given), as the
/// help text says; tested to be the daemon's.
#[cfg(test)]
pub const DEFAULT_PORT: u16 = 6881;
/// Default listen address of `run` and `get`: `::`, which on Linux takes IPv4 connections too
/// (dual stack); the engine falls back to 0.0.0.0 where IPv6 is off.
pub const DEFAULT_BIND: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
/// Default listen address of `btmirror tracker`.
pub const DEFAULT_TRACKER_LISTEN: &str = "0.0.0.0:6969";

/// btmirror keeps a directory of .torrent files mirrored: it seeds the data already there,
/// downloads what is missing, and keeps seeding while the torrent stays in the directory.
#[derive(Debug, Parser)]
#[command(name = "btmirror", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 done, 1 runtime failure, 2 bad usage or configuration.\n\
    Log level: BTMIRROR_LOG=debug (or e.g. engine=debug,info)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: watch DIRs (or those in the config) and keep every torrent in them seeded and downloaded.
    Run(RunArgs),
    /// Download one torrent in the foreground, then keep seeding until interrupted.
    Get(GetArgs),
    /// Live full-screen view of a running daemon.
    #[command(
        after_help = "Keys: q or Ctrl-C quit; s next sort column; / filter by name (Enter keeps \
                      it, Esc clears it); Up/Down or k/j scroll, PageUp/PageDown, Home/End.\n\
                      Columns: P/S peers/seeds, WEB web seeds fetching/known (yellow when some \
                      fail; `btmirror status` says why), dropped first on a narrow terminal.\n\
                      Needs a terminal; use `btmirror status` (or --json) in scripts."
    )]
    Top(TopArgs),
    /// One-shot status of a running daemon.
    Status(StatusArgs),
    /// Run an HTTP and UDP tracker with scrape and a statistics page.
    Tracker(TrackerArgs),
    /// Create a .torrent for a file or a directory.
    Make(MakeArgs),
    /// Verify data on disk against a torrent's piece hashes.
    #[command(
        after_help = "Exit status: 0 when all data is present and valid, 1 when some is missing or bad \
                      (or on another failure), 2 on bad usage."
    )]
    Check(CheckArgs),
    /// Show what a .torrent says: name, info-hashes, size, pieces, files, trackers, magnet URI.
    #[command(
        after_help = "Like transmission-show. Pad files are not listed; what btmirror changes to \
                      load the torrent (renamed duplicates, sanitised names) is listed under Notes.\n\
                      Exit status: 0 shown, 1 unreadable or unusable torrent, 2 bad usage."
    )]
    Show(ShowArgs),
    /// Feeds of .torrent files (the [[feed]] tables of the config); feed check URL is a dry run.
    #[command(subcommand)]
    Feed(FeedCommand),
}

/// `btmirror feed ...`.
#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// Dry run: fetch URL once and print every link, taken or left and why; writes nothing.
    #[command(
        after_help = "URL is an RSS 2.0 or Atom feed, an HTML page (a directory index) or a text \
                      list of URLs, told apart by content.\n\
                      Exit status: 0 fetched and parsed, 1 the fetch or the parse failed, 2 bad usage."
    )]
    Check(FeedCheckArgs),
}

/// `btmirror feed check URL [--match GLOB] [--keep N]`.
#[derive(Debug, Args)]
pub struct FeedCheckArgs {
    /// The feed's http(s) URL.
    #[arg(value_name = "URL", value_parser = parse_feed_url)]
    pub url: String,
    /// Take only links whose file name matches GLOB, e.g. '*-amd64-*.iso.torrent' [default: every .torrent and magnet].
    #[arg(long = "match", value_name = "GLOB")]
    pub match_glob: Option<String>,
    /// Take only the newest N (by the feed's dates, else by order) [default: all].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
}

/// An http or https URL.
fn parse_feed_url(s: &str) -> Result<String, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?}: only http:// and https:// feeds can be fetched"
        ))
    }
}

/// Options shared by `run` and `get`. Unset values fall back to the config file (for `run`)
/// and then to the defaults; the accessors apply the defaults.
#[derive(Clone, Debug, Default, Args)]
pub struct SessionOpts {
    /// Port to listen on for peers; 0 picks any free port [default: 6881 for run, any free
    /// port for get, so that it runs beside a daemon].
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Address to listen on [default: :: (IPv6 and IPv4; 0.0.0.0 where IPv6 is off)].
    #[arg(long, value_name = "ADDR", value_parser = units::parse_ip)]
    pub bind: Option<IpAddr>,
    /// Directory for resume data and the control socket [default: $STATE_DIRECTORY,
    /// else /var/lib/btmirror for root, else $XDG_STATE_HOME/btmirror or ~/.local/state/btmirror];
    /// for get, only where its DHT nodes are kept (dht_nodes) [default: none].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Upload limit in bytes per second, e.g. 500KiB or 10MiB; 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = units::parse_rate)]
    pub max_upload_rate: Option<u64>,
    /// Download limit in bytes per second, e.g. 500KiB or 10MiB; 0 = unlimited.
    #[arg(long, value_name = "RATE", value_parser = units::parse_rate)]
    pub max_download_rate: Option<u64>,
    /// Message Stream Encryption (MSE/PE) of peer connections, both ways [default: prefer].
    #[arg(long, value_name = "POLICY", value_enum)]
    pub encryption: Option<Encryption>,
    /// DHT node to bootstrap from (repeatable); replaces $BTMIRROR_DHT_BOOTSTRAP, the config's
    /// dht_bootstrap and the default list [default: router.bittorrent.com:6881,
    /// dht.transmissionbt.com:6881, router.utorrent.com:6881, dht.libtorrent.org:25401].
    #[arg(long, value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// Run no DHT node: peers come from trackers, PEX and magnet x.pe only.
    #[arg(long, conflicts_with = "dht_bootstrap")]
    pub no_dht: bool,
}

/// `--encryption`: how peer connections use Message Stream Encryption (MSE/PE). (Its own type:
/// `packaging/gen-docs` compiles this file without the engine.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encryption {
    /// Dial with MSE first, in plaintext again when the peer drops us; accept both.
    Prefer,
    /// Dial in plaintext first, with MSE again when the peer drops us; accept both.
    Allow,
    /// MSE with RC4 only, both ways: plaintext peers are refused.
    Require,
    /// Plaintext only: MSE peers are refused.
    Disable,
}

impl SessionOpts {
    /// The listen port of `get`: `--port`, else 0 (any free port), so that `get` (and the
    /// desktop handler) run beside a daemon or a service on port 6881.
    pub fn get_port(&self) -> u16 {
        self.port.unwrap_or(0)
    }

    /// The listen address, defaulting to [`DEFAULT_BIND`].
    pub fn bind(&self) -> IpAddr {
        self.bind.unwrap_or(DEFAULT_BIND)
    }
}

/// `btmirror run [DIR...] [--config FILE]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Directories of .torrent files to mirror (data lives beside each .torrent).
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Configuration file [default: $BTMIRROR_CONFIG, else
    /// $XDG_CONFIG_HOME/btmirror/btmirror.toml (~/.config/...) when present, else
    /// /etc/btmirror/btmirror.toml when readable].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Append logs to FILE instead of stderr/journald (reopened on SIGHUP).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics, e.g. 127.0.0.1:9100 [default: off].
    #[arg(long, value_name = "ADDR:PORT", value_parser = units::parse_socket_addr)]
    pub metrics: Option<SocketAddr>,
    /// Listening and limits.
    #[command(flatten)]
    pub session: SessionOpts,
}

/// `btmirror get TORRENT-or-URL [--dir DIR] [--no-seed]`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// A .torrent file, an http(s) URL to fetch one from, or a magnet link
    /// (`magnet:?xt=urn:btih:…`; its metadata is fetched from peers and kept in DIR).
    #[arg(value_name = "TORRENT-or-URL")]
    pub torrent: String,
    /// Directory to put the data in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Exit 0 once the data is complete and verified instead of seeding.
    #[arg(long)]
    pub no_seed: bool,
    /// Full-screen display instead of a progress line.
    #[arg(long)]
    pub tui: bool,
    /// Peers over uTP only (no TCP either way).
    #[arg(long, conflicts_with = "no_utp")]
    pub utp_only: bool,
    /// Peers over TCP only (no uTP either way).
    #[arg(long)]
    pub no_utp: bool,
    /// Listening and limits.
    #[command(flatten)]
    pub session: SessionOpts,
}

/// `btmirror top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The daemon's state directory (holds control.sock) [default: as for `run`: the config
    /// file's state_dir, else the default].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The daemon's configuration file, found as `run` finds it when not given; its state_dir
    /// says where the control socket is.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `btmirror status [--json]`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON (schema: docs/reference.md in the source, or btmirror-status(1)).
    #[arg(long)]
    pub json: bool,
    /// The daemon's state directory (holds control.sock) [default: as for `run`: the config
    /// file's state_dir, else the default].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The daemon's configuration file, found as `run` finds it when not given; its state_dir
    /// says where the control socket is.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `btmirror tracker [--listen ADDR] [--allowed-dir DIR]`.
#[derive(Debug, Args)]
pub struct TrackerArgs {
    /// Address and port for HTTP and UDP.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_TRACKER_LISTEN, value_parser = units::parse_socket_addr)]
    pub listen: SocketAddr,
    /// Track only the info-hashes of the .torrent files in DIR (rescanned, and on SIGHUP).
    #[arg(long, value_name = "DIR")]
    pub allowed_dir: Option<PathBuf>,
    /// File that keeps completed-download counts across restarts.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Announce interval told to clients, in seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(10..=86_400))]
    pub interval: Option<u32>,
}

/// `btmirror make PATH --announce URL [-o FILE]`.
#[derive(Debug, Args)]
pub struct MakeArgs {
    /// The file or directory to make a torrent of.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Tracker URL (http, https or udp); repeat for backup trackers (one tier each).
    #[arg(long, value_name = "URL", required = true, value_parser = parse_tracker_url)]
    pub announce: Vec<String>,
    /// Where to write the torrent [default: NAME.torrent in the current directory].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Piece size, a power of two from 16KiB to 64MiB, e.g. 256KiB [default: picked from the total size].
    #[arg(long, value_name = "N", value_parser = units::parse_size)]
    pub piece_size: Option<u32>,
    /// Mark the torrent private (BEP 27: peers only from the tracker).
    #[arg(long)]
    pub private: bool,
    /// A comment stored in the torrent.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// A BEP 19 web seed (an HTTP URL of the file, or of a directory ending in `/`), written as
    /// `url-list`; repeatable.
    #[arg(long = "web-seed", value_name = "URL")]
    pub web_seed: Vec<String>,
    /// Make a BitTorrent v2-only torrent (BEP 52: SHA-256 Merkle trees per file); v1 clients
    /// cannot use it.
    #[arg(long, conflicts_with = "hybrid")]
    pub v2: bool,
    /// Make a hybrid torrent: v1 and v2 hashes over the same files (pad files align each file
    /// to a piece), usable by every client; it has two info-hashes.
    #[arg(long)]
    pub hybrid: bool,
}

/// `btmirror check TORRENT [--dir DIR]`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The .torrent file.
    #[arg(value_name = "TORRENT")]
    pub torrent: PathBuf,
    /// Directory holding the data [default: the directory containing TORRENT].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `btmirror show TORRENT-or-URL [--json]`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A .torrent file, or an http(s) URL to fetch one from.
    #[arg(value_name = "TORRENT-or-URL")]
    pub torrent: String,
    /// Print one JSON object instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// Accepts `http://`, `https://` and `udp://` tracker URLs with a host.
fn parse_tracker_url(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    let rest = ["http://", "https://", "udp://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
        .ok_or_else(|| "a tracker URL starts with http://, https:// or udp://".to_owned())?;
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
        return Err("the tracker URL has no host".to_owned());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the tracker URL contains spaces or control characters".to_owned());
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("btmirror").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn localhost_is_an_address_everywhere() {
        let local = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let cli = parse(&["run", "--bind", "localhost", "--metrics", "localhost:9100"]).unwrap();
        let Command::Run(r) = cli.cmd else {
            panic!("not run")
        };
        assert_eq!(r.session.bind, Some(local));
        assert_eq!(r.metrics, Some(SocketAddr::new(local, 9100)));
        let cli = parse(&["tracker", "--listen", "localhost:6969"]).unwrap();
        let Command::Tracker(t) = cli.cmd else {
            panic!("not tracker")
        };
        assert_eq!(t.listen, SocketAddr::new(local, 6969));
        let e = parse(&["run", "--metrics", "somewhere"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn make_parses_and_validates() {
        let cli = parse(&[
            "make",
            "data",
            "--announce",
            "http://t/announce",
            "--announce",
            "udp://u:80",
            "--piece-size",
            "256KiB",
            "-o",
            "x.torrent",
            "--private",
        ])
        .unwrap();
        let Command::Make(m) = cli.cmd else {
            panic!("not make")
        };
        assert_eq!(m.announce, ["http://t/announce", "udp://u:80"]);
        assert_eq!(m.piece_size, Some(262_144));
        assert_eq!(m.output, Some(PathBuf::from("x.torrent")));
        assert!(m.private && !m.force);

        let e = parse(&[
            "make",
            "data",
            "--announce",
            "http://t/a",
            "--piece-size",
            "100KiB",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        assert!(e.to_string().contains("--piece-size"), "{e}");
        let e = parse(&["make", "data"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        let e = parse(&["make", "data", "--announce", "ftp://x"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn get_transport_flags() {
        let Command::Get(g) = parse(&["get", "a.torrent", "--utp-only"]).unwrap().cmd else {
            panic!("not get")
        };
        assert!(g.utp_only && !g.no_utp);
        let Command::Get(g) = parse(&["get", "a.torrent", "--no-utp"]).unwrap().cmd else {
            panic!("not get")
        };
        assert!(!g.utp_only && g.no_utp);
        let e = parse(&["get", "a.torrent", "--no-utp", "--utp-only"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn session_opts_defaults_and_rates() {
        let cli = parse(&["get", "a.torrent", "--max-upload-rate", "500KiB"]).unwrap();
        let Command::Get(g) = cli.cmd else {
            panic!("not get")
        };
        assert_eq!(
            g.session.get_port(),
            0,
            "get takes any free port by default"
        );
        assert_eq!(g.session.bind(), DEFAULT_BIND);
        assert_eq!(g.session.max_upload_rate, Some(512_000));
        assert_eq!(g.session.max_download_rate, None);
        assert_eq!(g.dir, PathBuf::from("."));
        let e = parse(&["run", "--max-download-rate", "lots"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        assert!(e.to_string().contains("--max-download-rate"), "{e}");
        let cli = parse(&["run", "a", "b", "--port", "0"]).unwrap();
        let Command::Run(r) = cli.cmd else {
            panic!("not run")
        };
        assert_eq!(r.dirs.len(), 2);
        assert_eq!(r.session.port, Some(0));
        assert_eq!(r.metrics, None);
        let cli = parse(&["run", "--metrics", "127.0.0.1:9100"]).unwrap();
        let Command::Run(r) = cli.cmd else {
            panic!("not run")
        };
        assert_eq!(r.metrics, Some("127.0.0.1:9100".parse().unwrap()));
        let e = parse(&["run", "--metrics", "9100"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn tracker_defaults() {
        let cli = parse(&["tracker"]).unwrap();
        let Command::Tracker(t) = cli.cmd else {
            panic!("not tracker")
        };
        assert_eq!(
            t.listen,
            DEFAULT_TRACKER_LISTEN.parse::<SocketAddr>().unwrap()
        );
        assert!(parse(&["tracker", "--listen", "nowhere"]).is_err());
        assert!(parse(&["tracker", "--interval", "1"]).is_err());
    }

    #[test]
    fn tracker_urls() {
        assert!(parse_tracker_url("http://tracker.example/announce").is_ok());
        assert!(parse_tracker_url("HTTPS://t:443/a").is_ok());
        assert!(parse_tracker_url("udp://t:6969").is_ok());
        assert!(parse_tracker_url("http://").is_err());
        assert!(parse_tracker_url("http:///x").is_err());
        assert!(parse_tracker_url("tracker.example").is_err());
        assert!(parse_tracker_url("http://a b").is_err());
    }
}
