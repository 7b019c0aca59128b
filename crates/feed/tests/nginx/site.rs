//! The test site: a real nginx serving a temporary root, a feed directory, a state directory,
//! and helpers to serve files and to look at directories.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use feed::{Feed, FeedConfig, Fetcher, Limits};
use tempfile::TempDir;

use super::server::{self, Nginx};

/// 2024-02-10 12:34:56 UTC, the mtime of the first version of every served file.
pub const T0: u64 = 1_707_568_496;

/// A web server, a feed directory and a state directory.
pub struct Site {
    pub nginx: Nginx,
    pub root: PathBuf,
    pub into: PathBuf,
    pub state: PathBuf,
    pub tmp: TempDir,
    pub fetcher: Fetcher,
}

impl Site {
    /// A running nginx, or `None` (after saying so) when it is not installed.
    pub fn new() -> Option<Self> {
        if !server::available() {
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let [root, into, state, conf] = ["www", "into", "state", "nginx"].map(|d| {
            let p = tmp.path().join(d);
            fs::create_dir_all(&p).expect("mkdir");
            p
        });
        let nginx = Nginx::start(&root, &conf).expect("nginx starts");
        let limits = Limits {
            timeout: Duration::from_secs(10),
            torrent: 256 * 1024,
            ..Limits::default()
        };
        let fetcher = Fetcher::with_limits("btmirror-feed-test", limits).expect("client");
        Some(Self {
            nginx,
            root,
            into,
            state,
            tmp,
            fetcher,
        })
    }

    /// A feed of `path` on this server into `into`.
    pub fn feed(&self, path: &str, into: &Path, f: impl FnOnce(&mut FeedConfig)) -> Feed {
        let mut config = FeedConfig::new(self.nginx.url(path), into);
        f(&mut config);
        Feed::new(config, &self.state).expect("feed")
    }

    /// Serves `bytes` at `path` with modification time `T0 + age`.
    pub fn put(&self, path: &str, bytes: &[u8], age: u64) {
        let p = self.root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, bytes).expect("write");
        set_mtime(&p, T0 + age);
    }

    /// A valid `.torrent` of a small file whose content is `seed`.
    pub fn torrent(&self, seed: &str) -> Vec<u8> {
        let dir = self.tmp.path().join("payload");
        fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join(format!("{seed}.bin"));
        fs::write(&file, seed.repeat(1000)).expect("write");
        let opts = metainfo::CreateOptions {
            announce: "http://127.0.0.1:1/announce".into(),
            ..Default::default()
        };
        metainfo::create_torrent(&file, &opts, &|_, _| {}).expect("torrent")
    }
}

/// Sets the modification time of `path` to `secs` after the epoch.
pub fn set_mtime(path: &Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
        .expect("set mtime");
}

/// Every file of `dir` (hidden ones included) with its bytes and mtime.
pub fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    fs::read_dir(dir)
        .expect("ls")
        .map(|e| {
            let e = e.expect("entry");
            let meta = e.metadata().expect("meta");
            let bytes = fs::read(e.path()).expect("read");
            (
                e.file_name().to_string_lossy().into_owned(),
                (bytes, meta.modified().expect("mtime")),
            )
        })
        .collect()
}

/// The file names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    snapshot(dir).into_keys().collect()
}

/// An RSS 2.0 feed of `(path, hours after T0)` items, newest first as feeds are.
pub fn rss(items: &[(&str, u64)]) -> String {
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>t</title>\n",
    );
    for (path, hours) in items {
        let date = rfc2822(T0 + hours * 3600);
        doc.push_str(&format!(
            "<item><title>{path}</title><link>https://example.org/about</link>\
             <enclosure url=\"{path}\" type=\"application/x-bittorrent\"/><pubDate>{date}</pubDate></item>\n"
        ));
    }
    doc.push_str("</channel></rss>\n");
    doc
}

/// `secs` as an RFC 2822 date (the days of February 2024 suffice here).
pub fn rfc2822(secs: u64) -> String {
    let d = secs - 1_706_745_600; // 2024-02-01 00:00:00 UTC
    let (day, rest) = (d / 86_400 + 1, d % 86_400);
    format!(
        "{day:02} Feb 2024 {:02}:{:02}:{:02} GMT",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}
