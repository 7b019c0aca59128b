//! Tests of the config file, the settings resolution and reload.

use super::*;

/// Options with these watch directories and nothing else.
fn args(dirs: &[&str]) -> RunOptions {
    RunOptions {
        dirs: dirs.iter().map(PathBuf::from).collect(),
        ..RunOptions::default()
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
web_seeds = false
web_seeds_extra = ["https://mirror.example.org/pub/iso/"]
max_web_seeds_per_torrent = 2
max_web_seed_requests = 8
encryption = "require"
transports = ["utp"]
dht = false
dht_bootstrap = ["127.0.0.1:6881", "[::1]:6882"]
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
    assert_eq!(cfg.encryption, Some(engine::EncryptionPolicy::Require));
    let s = resolve(&args(&[]), &cfg, None, &env()).unwrap();
    assert_eq!(s.encryption, engine::EncryptionPolicy::Require);
    assert_eq!(
        s.session_config().encryption,
        engine::EncryptionPolicy::Require
    );
    assert_eq!(s.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(s.state_dir, Path::new("/var/lib/x"));
    assert_eq!(s.rescan_interval, Duration::from_secs(5));
    assert_eq!(s.check_concurrency, 2);
    assert_eq!(s.torrent_upload_rate, 100 << 10);
    assert_eq!(s.metrics, Some("127.0.0.1:9100".parse().unwrap()));
    assert!(!s.web_seeds);
    assert_eq!(s.web_seeds_extra, ["https://mirror.example.org/pub/iso/"]);
    let engine = s.session_config();
    assert!(!engine.web_seeds);
    assert_eq!(
        (
            engine.max_web_seeds_per_torrent,
            engine.max_web_seed_requests
        ),
        (2, 8)
    );
    assert_eq!(s.transports, engine::Transports::UTP_ONLY);
}

#[test]
fn transports_default_to_both_and_reject_unknown_or_empty_lists() {
    let cfg = Config::parse("watch = [\"/t\"]\n", Path::new("c.toml")).unwrap();
    let s = resolve(&args(&[]), &cfg, None, &env()).unwrap();
    assert_eq!(s.transports, engine::Transports::ALL);
    assert_eq!(s.session_config().transports, engine::Transports::ALL);
    let both = Config::parse("transports = [\"utp\", \"tcp\"]\n", Path::new("c.toml")).unwrap();
    assert_eq!(both.transports, Some(engine::Transports::ALL));
    let tcp = Config::parse("transports = [\"tcp\"]\n", Path::new("c.toml")).unwrap();
    assert_eq!(tcp.transports, Some(engine::Transports::TCP_ONLY));
    for bad in [
        "transports = []\n",
        "transports = [\"quic\"]\n",
        "transports = \"tcp\"\n",
    ] {
        let e = Config::parse(bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("transports"), "{bad}: {e}");
    }
}

#[test]
fn dht_settings_come_from_the_command_line_the_environment_the_file_or_the_defaults() {
    let file = Config::parse(FULL, Path::new("c.toml")).unwrap();
    let s = resolve(&args(&["/t"]), &file, None, &env()).unwrap();
    assert!(!s.dht && !s.session_config().dht);
    assert_eq!(s.dht_bootstrap, ["127.0.0.1:6881", "[::1]:6882"]);
    // defaults: on, the public routers (only ever used outside tests)
    let s = resolve(&args(&["/t"]), &Config::default(), None, &env()).unwrap();
    assert!(s.dht);
    assert_eq!(s.dht_bootstrap, DEFAULT_DHT_BOOTSTRAP);
    // the environment replaces the file's list and the default; empty means none
    let mut e = env();
    e.dht_bootstrap = Some("".into());
    let s = resolve(&args(&["/t"]), &file, None, &e).unwrap();
    assert!(s.dht_bootstrap.is_empty());
    assert!(s.session_config().dht_bootstrap.is_empty());
    e.dht_bootstrap = Some(" 127.0.0.1:7000 ,localhost:7001".into());
    let s = resolve(&args(&["/t"]), &Config::default(), None, &e).unwrap();
    assert_eq!(s.dht_bootstrap, ["127.0.0.1:7000", "localhost:7001"]);
    e.dht_bootstrap = Some("no-port".into());
    assert!(resolve(&args(&["/t"]), &Config::default(), None, &e).is_err());
    // the command line wins over everything
    let mut a = args(&["/t"]);
    a.dht_bootstrap = vec!["127.0.0.1:9".into()];
    a.dht = Some(true);
    let s = resolve(&a, &file, None, &e).unwrap();
    assert!(s.dht);
    assert_eq!(s.dht_bootstrap, ["127.0.0.1:9"]);
    for bad in [
        "dht_bootstrap = [\"host\"]\n",
        "dht_bootstrap = [\"h:0\"]\n",
        "dht = 1\n",
    ] {
        let e = Config::parse(bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dht"), "{bad}: {e}");
    }
}

#[test]
fn the_example_config_parses() {
    let text = include_str!("../../../../../packaging/btmirror.toml");
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
        ("encryption = \"always\"\n", "encryption", 1),
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
        &RunOptions {
            port: Some(0),
            max_upload_rate: Some(0),
            state_dir: Some("/s".into()),
            metrics: Some("[::1]:9200".parse().unwrap()),
            encryption: Some(engine::EncryptionPolicy::Disable),
            ..args(&["/a", "/a", "/b"])
        },
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
    assert_eq!(s.encryption, engine::EncryptionPolicy::Disable);
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
    let (next, restart) = s.reloaded(t.clone());
    assert!(restart.is_empty());
    assert_eq!(next, t, "everything reloadable is taken");
    t.upload_slots += 1;
    let (next, restart) = s.reloaded(t.clone());
    assert_eq!(restart, ["upload_slots"]);
    assert_eq!(
        next.upload_slots, s.upload_slots,
        "a restart-only setting keeps its value"
    );
    assert_eq!(next.max_upload_rate, 5);
    t.metrics = Some("127.0.0.1:9100".parse().unwrap());
    let (next, restart) = s.reloaded(t);
    assert_eq!(restart, ["upload_slots", "metrics"]);
    assert_eq!(next.metrics, None);
    assert_eq!(next.watch, [PathBuf::from("/t"), PathBuf::from("/u")]);
    assert_eq!(
        s.encryption,
        engine::EncryptionPolicy::Prefer,
        "the default"
    );
    let mut u = s.clone();
    u.encryption = engine::EncryptionPolicy::Require;
    let (next, restart) = s.reloaded(u);
    assert_eq!(restart, ["encryption"]);
    assert_eq!(next.encryption, engine::EncryptionPolicy::Prefer);
}

#[test]
fn feeds_are_anchored_and_must_write_into_a_watch_dir() {
    let text = r#"
watch = ["/srv/torrents", "debian"]
[[feed]]
url = "https://cdimage.debian.org/debian-cd/current/amd64/bt-cd/"
into = "debian"
match = "*-amd64-*.iso.torrent"
keep = 2
[[feed]]
url = "http://127.0.0.1:1/feed.rss"
into = "/srv/torrents"
interval = "6h"
remove = true
"#;
    let mut cfg = Config::parse(text, Path::new("/etc/btmirror/btmirror.toml")).unwrap();
    cfg.anchor(Path::new("/etc/btmirror"));
    let s = resolve(&args(&[]), &cfg, None, &env()).unwrap();
    assert_eq!(s.feeds.len(), 2);
    assert_eq!(s.feeds[0].into, Path::new("/etc/btmirror/debian"));
    assert_eq!(s.feeds[0].keep, feed::Keep::Newest(2));
    assert_eq!(s.feeds[1].interval, Duration::from_secs(6 * 3600));
    assert!(s.feeds[1].remove);

    // A feed into a directory nothing watches is a usage error naming the feed.
    let err = resolve(&args(&["/other"]), &cfg, Some(Path::new("/c.toml")), &env()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("config /c.toml")
            && msg.contains("[[feed]]")
            && msg.contains("not one of the watch"),
        "{msg}"
    );
    // A bad table names the key and the line.
    let bad = "watch = [\"/w\"]\n[[feed]]\nurl = \"ftp://x/\"\ninto = \"/w\"\n";
    let err = Config::parse(bad, Path::new("/c.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3") && err.contains("http"), "{err}");
    // Feeds change at a reload: not a restart-only setting.
    let mut fewer = s.clone();
    fewer.feeds.pop();
    let (next, restart) = s.reloaded(fewer);
    assert!(restart.is_empty() && next.feeds.len() == 1);
}

/// Issue 15, point 10: every key of the file (and of a `[[feed]]` table) is in the reference
/// page with its default, so that the documented contract lives in the repository.
#[test]
fn every_key_is_documented_in_the_reference() {
    let doc = include_str!("../../../../../docs/reference.md");
    let keys = FULL
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .chain(["url", "into", "match", "keep", "interval", "remove"]);
    for key in keys {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/reference.md does not document `{key}`"
        );
    }
    let example = include_str!("../../../../../packaging/btmirror.toml");
    assert!(example.contains("[[feed]]"));
}

#[test]
fn localhost_is_an_address() {
    let text = "bind = \"localhost\"\nmetrics = \"localhost:9100\"\n";
    let cfg = Config::parse(text, Path::new("c.toml")).unwrap();
    assert_eq!(cfg.bind, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(cfg.metrics, Some("127.0.0.1:9100".parse().unwrap()));
    let e = Config::parse("metrics = \"example.org:80\"\n", Path::new("c.toml")).unwrap_err();
    assert!(e.to_string().contains("not ADDR:PORT"), "{e}");
}
