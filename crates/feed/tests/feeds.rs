//! Feeds fetched from a real nginx on 127.0.0.1: a directory index in Debian's bt-cd layout,
//! static RSS and Atom files the tests rewrite between fetches, a text list; conditional GETs,
//! removal, redirects, and a feed of 2000 entries.

#[path = "nginx/server.rs"]
mod server;
#[path = "nginx/site.rs"]
#[allow(dead_code)] // each test file uses its own part of the helpers
mod site;

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use feed::{FeedError, Keep, SkipReason, Why, plan};
use site::{Site, names, rss, snapshot};

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
