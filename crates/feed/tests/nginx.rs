//! Feeds fetched from a real nginx on 127.0.0.1: a directory index in Debian's bt-cd layout,
//! static RSS and Atom files the tests rewrite between fetches, a text list; conditional GETs,
//! removal, failures that change nothing, and the operator's files left alone.

#[path = "nginx/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feed::{Feed, FeedConfig, FeedError, Fetcher, Keep, Limits, ParseError, SkipReason, Why, plan};
use server::Nginx;
use tempfile::TempDir;

/// 2024-02-10 12:34:56 UTC, the mtime of the first version of every served file.
const T0: u64 = 1_707_568_496;

/// A web server, a feed directory and a state directory.
struct Site {
    nginx: Nginx,
    root: PathBuf,
    into: PathBuf,
    state: PathBuf,
    tmp: TempDir,
    fetcher: Fetcher,
}

impl Site {
    /// A running nginx, or `None` (after saying so) when it is not installed.
    fn new() -> Option<Self> {
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
    fn feed(&self, path: &str, into: &Path, f: impl FnOnce(&mut FeedConfig)) -> Feed {
        let mut config = FeedConfig::new(self.nginx.url(path), into);
        f(&mut config);
        Feed::new(config, &self.state).expect("feed")
    }

    /// Serves `bytes` at `path` with modification time `T0 + age`.
    fn put(&self, path: &str, bytes: &[u8], age: u64) {
        let p = self.root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, bytes).expect("write");
        set_mtime(&p, T0 + age);
    }

    /// A valid `.torrent` of a small file whose content is `seed`.
    fn torrent(&self, seed: &str) -> Vec<u8> {
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
fn set_mtime(path: &Path, secs: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
        .expect("set mtime");
}

/// Every file of `dir` (hidden ones included) with its bytes and mtime.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
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
fn names(dir: &Path) -> Vec<String> {
    snapshot(dir).into_keys().collect()
}

/// An RSS 2.0 feed of `(path, hours after T0)` items, newest first as feeds are.
fn rss(items: &[(&str, u64)]) -> String {
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
fn rfc2822(secs: u64) -> String {
    let d = secs - 1_706_745_600; // 2024-02-01 00:00:00 UTC
    let (day, rest) = (d / 86_400 + 1, d % 86_400);
    format!(
        "{day:02} Feb 2024 {:02}:{:02}:{:02} GMT",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[tokio::test]
async fn rss_feed_written_then_conditional_get_then_removal() {
    let Some(site) = Site::new() else { return };
    let (a, b, c) = (site.torrent("a"), site.torrent("b"), site.torrent("c"));
    site.put("/t/a.torrent", &a, 0);
    site.put("/t/b.torrent", &b, 0);
    site.put("/t/c.torrent", &c, 0);
    site.put(
        "/feed.rss",
        rss(&[("/t/b.torrent", 2), ("/t/a.torrent", 1)]).as_bytes(),
        0,
    );
    let keep_dir = site.tmp.path().join("into-keep");
    fs::create_dir_all(&keep_dir).expect("mkdir");
    let mut removing = site.feed("/feed.rss", &site.into, |c| c.remove = true);
    let mut keeping = site.feed("/feed.rss", &keep_dir, |_| {});
    assert_ne!(removing.record_path(), keeping.record_path());

    let r = removing.run_once(&site.fetcher).await.expect("first fetch");
    let mut written: Vec<_> = r.written.iter().map(|w| w.name.as_str()).collect();
    written.sort();
    assert_eq!(written, ["a.torrent", "b.torrent"]);
    assert_eq!(
        names(&site.into),
        ["a.torrent", "b.torrent"],
        "no temporary files left"
    );
    assert_eq!(fs::read(site.into.join("a.torrent")).expect("read"), a);
    assert_eq!(removing.status().files_held, 2);
    assert!(removing.status().last_success.is_some());
    keeping.run_once(&site.fetcher).await.expect("first fetch");

    // Unchanged feed: a 304, and nothing rewritten.
    let before = snapshot(&site.into);
    let r = removing
        .run_once(&site.fetcher)
        .await
        .expect("second fetch");
    assert!(r.not_modified, "{r:?}");
    assert!(r.written.is_empty() && r.removed.is_empty());
    assert_eq!(site.nginx.statuses("/feed.rss"), [200, 200, 304]);
    assert_eq!(snapshot(&site.into), before);

    // A new entry, and `a` dropped: picked up; removed only where remove = true.
    site.put(
        "/feed.rss",
        rss(&[("/t/c.torrent", 3), ("/t/b.torrent", 2)]).as_bytes(),
        60,
    );
    let r = removing.run_once(&site.fetcher).await.expect("third fetch");
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["c.torrent"]
    );
    assert_eq!(r.removed, ["a.torrent"]);
    assert_eq!(r.unchanged, ["b.torrent"]);
    assert_eq!(names(&site.into), ["b.torrent", "c.torrent"]);
    assert_eq!(
        snapshot(&site.into)["b.torrent"],
        before["b.torrent"],
        "b not rewritten"
    );
    let r = keeping.run_once(&site.fetcher).await.expect("third fetch");
    assert!(r.removed.is_empty());
    assert_eq!(names(&keep_dir), ["a.torrent", "b.torrent", "c.torrent"]);

    // The record survives a restart of the daemon: a new Feed knows its files and validators.
    let mut again = site.feed("/feed.rss", &site.into, |c| c.remove = true);
    assert_eq!(again.status().files_held, 2);
    assert!(
        again
            .run_once(&site.fetcher)
            .await
            .expect("fetch")
            .not_modified
    );
}

#[tokio::test]
async fn debian_bt_cd_directory_index_keep_2() {
    let Some(site) = Site::new() else { return };
    let files = [
        ("debian-12.4.0-amd64-netinst.iso.torrent", 0),
        ("debian-12.5.0-amd64-netinst.iso.torrent", 3600),
        ("debian-12.5.0-amd64-DVD-1.iso.torrent", 7200),
        ("debian-12.5.0-arm64-netinst.iso.torrent", 9000),
    ];
    for (name, age) in files {
        site.put(&format!("/bt-cd/{name}"), &site.torrent(name), age);
    }
    site.put("/bt-cd/SHA256SUMS", b"not a torrent\n", 9000);
    let glob = "*-amd64-*.iso.torrent";
    let mut f = site.feed("/bt-cd/", &site.into, |c| {
        c.match_glob = Some(glob.into());
        c.keep = Keep::Newest(2);
        c.remove = true;
    });
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(r.written.len(), 2, "{r:?}");
    assert_eq!(
        names(&site.into),
        [
            "debian-12.5.0-amd64-DVD-1.iso.torrent",
            "debian-12.5.0-amd64-netinst.iso.torrent"
        ]
    );

    // A new release appears: taken, and the oldest of the two kept is removed.
    let new = "debian-12.6.0-amd64-netinst.iso.torrent";
    site.put(&format!("/bt-cd/{new}"), &site.torrent(new), 20_000);
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        [new]
    );
    assert_eq!(r.removed, ["debian-12.5.0-amd64-netinst.iso.torrent"]);
    assert_eq!(
        names(&site.into),
        ["debian-12.5.0-amd64-DVD-1.iso.torrent", new]
    );

    // The dry run of `btmirror feed check` says why for every link.
    let (parsed, entries) = plan(
        &site.fetcher,
        &site.nginx.url("/bt-cd/"),
        Some(glob),
        Keep::Newest(2),
    )
    .await
    .expect("plan");
    assert_eq!(parsed.kind, feed::parse::FeedKind::Html);
    let why = |name: &str| {
        entries
            .iter()
            .find(|e| e.link.url.path().ends_with(name))
            .map(|e| e.why.clone())
            .expect(name)
    };
    assert_eq!(why(new), Why::Taken { rank: 0 });
    assert_eq!(
        why("debian-12.5.0-amd64-DVD-1.iso.torrent"),
        Why::Taken { rank: 1 }
    );
    assert_eq!(
        why("debian-12.4.0-amd64-netinst.iso.torrent"),
        Why::Older { keep: 2 }
    );
    assert_eq!(
        why("debian-12.5.0-arm64-netinst.iso.torrent"),
        Why::NoMatch(glob.into())
    );
    assert_eq!(why("SHA256SUMS"), Why::NotATorrent);
    assert_eq!(entries.iter().filter(|e| e.taken).count(), 2);
}

#[tokio::test]
async fn atom_feed_and_text_list() {
    let Some(site) = Site::new() else { return };
    site.put("/t/one.torrent", &site.torrent("one"), 0);
    site.put("/t/two.torrent", &site.torrent("two"), 0);
    let atom = r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>
<entry><title>one</title><link rel="enclosure" type="application/x-bittorrent" href="t/one.torrent"/>
<updated>2024-02-10T12:34:56Z</updated></entry>
<entry><title>magnet</title><link href="magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&amp;dn=m"/>
<updated>2024-02-09T12:34:56Z</updated></entry></feed>"#;
    site.put("/feed.atom", atom.as_bytes(), 0);
    let mut f = site.feed("/feed.atom", &site.into, |_| {});
    let r = f.run_once(&site.fetcher).await.expect("atom");
    assert_eq!(r.written.len(), 1);
    assert_eq!(r.magnets.len(), 1, "magnets are returned, not written");
    assert_eq!(r.magnets[0].name, "m.magnet");
    assert_eq!(names(&site.into), ["one.torrent"]);

    site.put(
        "/list.txt",
        b"# mirror list\nt/one.torrent\nt/two.torrent\n",
        0,
    );
    let mut f = site.feed("/list.txt", &site.into, |_| {});
    let r = f.run_once(&site.fetcher).await.expect("list");
    // one.torrent is the Atom feed's file: to this feed it is someone else's.
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["two.torrent"]
    );
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].reason, SkipReason::OperatorFile);
}

#[tokio::test]
async fn failures_change_nothing_and_back_off() {
    let Some(mut site) = Site::new() else { return };
    site.put("/t/a.torrent", &site.torrent("a"), 0);
    site.put("/feed.rss", rss(&[("/t/a.torrent", 1)]).as_bytes(), 0);
    let mut f = site.feed("/feed.rss", &site.into, |c| c.remove = true);
    f.run_once(&site.fetcher).await.expect("first fetch");
    let dir_before = snapshot(&site.into);
    let record_before = fs::read(f.record_path()).expect("record");
    let unchanged = |f: &Feed| {
        assert_eq!(snapshot(&site.into), dir_before, "the directory changed");
        assert_eq!(fs::read(f.record_path()).expect("record"), record_before);
        assert!(f.status().last_error.is_some());
    };

    site.put("/fail500", b"", 0);
    let e = f.run_once(&site.fetcher).await.expect_err("500");
    assert!(matches!(e, FeedError::Http { status: 500, .. }), "{e}");
    unchanged(&f);
    fs::remove_file(site.root.join("fail500")).expect("rm");

    let mut rng = fastrand::Rng::with_seed(14);
    let garbage: Vec<u8> = (0..10 << 20).map(|_| rng.u8(..)).collect();
    site.put("/feed.rss", &garbage, 100);
    let e = f.run_once(&site.fetcher).await.expect_err("garbage");
    assert!(matches!(e, FeedError::Parse { .. }), "{e}");
    unchanged(&f);

    site.put(
        "/feed.rss",
        b"<html><body><p>We moved.</p></body></html>",
        200,
    );
    let e = f.run_once(&site.fetcher).await.expect_err("no links");
    assert!(
        matches!(
            e,
            FeedError::Parse {
                source: ParseError::NoLinks(_),
                ..
            }
        ),
        "{e}"
    );
    unchanged(&f);

    site.put(
        "/feed.rss",
        b"<html><a href=\"/\">home</a><a href=\"x.iso\">x</a></html>",
        300,
    );
    let e = f.run_once(&site.fetcher).await.expect_err("no torrents");
    assert!(
        matches!(e, FeedError::NothingSelected { links: 2, .. }),
        "{e}"
    );
    unchanged(&f);

    let port = site.nginx.port;
    site.nginx.stop();
    let e = f.run_once(&site.fetcher).await.expect_err("server down");
    assert!(matches!(e, FeedError::Transport { .. }), "{e}");
    unchanged(&f);
    let status = f.status();
    assert_eq!(status.failures, 5);
    let (_, text) = status.last_error.expect("an error");
    assert!(
        text.to_lowercase().contains("refused"),
        "the cause is shown: {text}"
    );
    // The fifth failure in a row waits 16 minutes (±10 %).
    let wait = f.next_fetch() - Instant::now();
    assert!(
        wait > Duration::from_secs(14 * 60) && wait < Duration::from_secs(18 * 60),
        "{wait:?}"
    );

    // Back up with a good feed: success clears the error.
    site.put("/feed.rss", rss(&[("/t/a.torrent", 1)]).as_bytes(), 400);
    let conf = site.tmp.path().join("nginx");
    site.nginx = Nginx::start_on(&site.root, &conf, port).expect("restart");
    let r = f.run_once(&site.fetcher).await.expect("back up");
    assert_eq!(r.unchanged, ["a.torrent"]);
    assert_eq!(f.status().failures, 0);
    assert!(f.status().last_error.is_none());
    assert_eq!(snapshot(&site.into), dir_before);
}

#[tokio::test]
async fn operator_files_are_never_touched() {
    let Some(site) = Site::new() else { return };
    for n in ["a", "b", "c"] {
        site.put(&format!("/t/{n}.torrent"), &site.torrent(n), 0);
    }
    // The operator's own b.torrent, before the feed ever ran.
    fs::write(site.into.join("b.torrent"), b"the operator's").expect("write");
    site.put(
        "/feed.rss",
        rss(&[("/t/b.torrent", 2), ("/t/a.torrent", 1)]).as_bytes(),
        0,
    );
    let mut f = site.feed("/feed.rss", &site.into, |c| c.remove = true);
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["a.torrent"]
    );
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(
        (r.skipped[0].name.as_str(), &r.skipped[0].reason),
        ("b.torrent", &SkipReason::OperatorFile)
    );
    assert_eq!(
        fs::read(site.into.join("b.torrent")).expect("read"),
        b"the operator's"
    );

    // The operator edits a.torrent; the feed adds c.
    let mut edited = fs::read(site.into.join("a.torrent")).expect("read");
    edited.extend_from_slice(b"\n# edited");
    fs::write(site.into.join("a.torrent"), &edited).expect("write");
    site.put(
        "/feed.rss",
        rss(&[
            ("/t/c.torrent", 3),
            ("/t/b.torrent", 2),
            ("/t/a.torrent", 1),
        ])
        .as_bytes(),
        100,
    );
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["c.torrent"]
    );
    let reason = |name: &str| {
        r.skipped
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.reason.clone())
    };
    assert_eq!(reason("a.torrent"), Some(SkipReason::ChangedSinceWritten));
    assert_eq!(reason("b.torrent"), Some(SkipReason::OperatorFile));

    // The operator renames c.torrent; then the feed drops everything but b.
    fs::rename(
        site.into.join("c.torrent"),
        site.into.join("c-mine.torrent"),
    )
    .expect("rename");
    site.put(
        "/feed.rss",
        rss(&[("/t/c.torrent", 3), ("/t/b.torrent", 2)]).as_bytes(),
        200,
    );
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    let reason = |name: &str| {
        r.skipped
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.reason.clone())
    };
    assert_eq!(
        reason("c.torrent"),
        Some(SkipReason::GoneSinceWritten),
        "not fetched again"
    );
    site.put("/feed.rss", rss(&[("/t/b.torrent", 2)]).as_bytes(), 300);
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert!(r.removed.is_empty(), "{r:?}");
    assert!(r.written.is_empty(), "{r:?}");
    assert_eq!(
        names(&site.into),
        ["a.torrent", "b.torrent", "c-mine.torrent"]
    );
    assert_eq!(fs::read(site.into.join("a.torrent")).expect("read"), edited);
    assert_eq!(
        fs::read(site.into.join("b.torrent")).expect("read"),
        b"the operator's"
    );
    assert_eq!(
        f.status().files_held,
        0,
        "nothing left that the feed may remove"
    );
}

#[tokio::test]
async fn only_valid_torrents_within_limits_are_written() {
    let Some(site) = Site::new() else { return };
    site.put("/t/good.torrent", &site.torrent("good"), 0);
    site.put("/t/page.torrent", b"<html>an error page</html>", 0);
    site.put("/t/huge.torrent", &vec![b'd'; 300 * 1024], 0);
    let feed = rss(&[
        ("/t/good.torrent", 4),
        ("/t/page.torrent", 3),
        ("/t/huge.torrent", 2),
        ("/t/missing.torrent", 1),
    ]);
    site.put("/feed.rss", feed.as_bytes(), 0);
    let mut f = site.feed("/feed.rss", &site.into, |_| {});
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["good.torrent"]
    );
    let reason = |name: &str| {
        r.skipped
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.reason.clone())
    };
    assert!(
        matches!(reason("page.torrent"), Some(SkipReason::NotATorrent(_))),
        "{r:?}"
    );
    assert!(
        matches!(reason("huge.torrent"), Some(SkipReason::Download(e)) if e.contains("larger"))
    );
    assert!(
        matches!(reason("missing.torrent"), Some(SkipReason::Download(e)) if e.contains("404"))
    );
    assert_eq!(names(&site.into), ["good.torrent"]);

    // Failed downloads are retried: the next fetch is not conditional, so no 304 hides them.
    site.put("/t/missing.torrent", &site.torrent("missing"), 0);
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(
        r.written
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["missing.torrent"]
    );
    assert_eq!(site.nginx.statuses("/feed.rss"), [200, 200]);
}

#[test]
fn many_entries_are_written_without_blocking_the_runtime() {
    let Some(site) = Site::new() else { return };
    const N: usize = 2000;
    let bytes = site.torrent("many");
    fs::create_dir_all(site.root.join("t")).expect("mkdir");
    let mut items = Vec::new();
    for i in 0..N {
        fs::write(site.root.join(format!("t/r-{i:05}.torrent")), &bytes).expect("write");
        items.push(format!("/t/r-{i:05}.torrent"));
    }
    let list: Vec<(&str, u64)> = items.iter().map(|p| (p.as_str(), 1)).collect();
    site.put("/feed.rss", rss(&list).as_bytes(), 0);
    // One thread: anything that blocks it stalls the ticker.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let max_gap_ms = Arc::new(AtomicU64::new(0));
    let gap = Arc::clone(&max_gap_ms);
    let report = rt.block_on(async {
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let ms = u64::try_from(last.elapsed().as_millis()).unwrap_or(u64::MAX);
                gap.fetch_max(ms, Ordering::Relaxed);
                last = Instant::now();
            }
        });
        let mut f = site.feed("/feed.rss", &site.into, |_| {});
        let started = Instant::now();
        let report = f.run_once(&site.fetcher).await.expect("fetch");
        println!("fetched and wrote {N} torrents in {:?}", started.elapsed());
        ticker.abort();
        report
    });
    assert_eq!(report.written.len(), N);
    assert_eq!(names(&site.into).len(), N);
    let max_gap = Duration::from_millis(max_gap_ms.load(Ordering::Relaxed));
    println!("longest stall of the runtime: {max_gap:?}");
    // Parsing, stat-ing and writing run on blocking threads; what is left between awaits is
    // microseconds (a debug build on a shared machine gets some slack).
    assert!(
        max_gap < Duration::from_millis(500),
        "the runtime stalled for {max_gap:?}"
    );
}

#[tokio::test]
async fn redirects_are_followed_a_few_times_and_links_resolve_against_the_final_url() {
    let Some(site) = Site::new() else { return };
    site.put("/t/a.torrent", &site.torrent("a"), 0);
    // Relative to /t/feed.rss, where the redirect leads; /old/a.torrent does not exist.
    site.put("/t/feed.rss", rss(&[("a.torrent", 1)]).as_bytes(), 0);
    let mut f = site.feed("/old/feed.rss", &site.into, |_| {});
    let r = f.run_once(&site.fetcher).await.expect("fetch");
    assert_eq!(r.written.len(), 1, "{r:?}");
    assert_eq!(r.written[0].url.path(), "/t/a.torrent");

    let mut f = site.feed("/loop", &site.into, |_| {});
    let e = f
        .run_once(&site.fetcher)
        .await
        .expect_err("a redirect loop");
    assert!(matches!(e, FeedError::Transport { .. }), "{e}");
    // The default limit of 5 redirects: the first request and 5 more.
    assert_eq!(site.nginx.statuses("/loop"), [302; 6]);
}
