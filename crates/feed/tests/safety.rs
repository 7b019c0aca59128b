//! What a feed must never do, against a real nginx on 127.0.0.1: change anything when the fetch
//! fails (server down, 500, garbage, no links), touch the operator's files, or write what is not
//! a torrent within the limits.

#[path = "nginx/server.rs"]
mod server;
#[path = "nginx/site.rs"]
#[allow(dead_code)] // each test file uses its own part of the helpers
mod site;

use std::fs;
use std::time::{Duration, Instant};

use feed::{Feed, FeedError, ParseError, SkipReason};
use server::Nginx;
use site::{Site, names, rss, snapshot};

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
    assert_eq!(f.status().files_held, 1, "only c: a is the operator's now");

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
    assert_eq!(f.status().files_held, 0, "c is gone");
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
