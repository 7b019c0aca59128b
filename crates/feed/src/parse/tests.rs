use super::*;

fn base(s: &str) -> Url {
    Url::parse(s).expect("url")
}

fn torrents(p: &Parsed) -> Vec<(&str, &str, Option<i64>)> {
    p.links
        .iter()
        .filter(|l| l.kind != LinkKind::Other)
        .map(|l| (l.name.as_str(), l.url.as_str(), l.date))
        .collect()
}

/// 2024-02-10 12:34:56 UTC.
const T: i64 = 1_707_568_496;

#[test]
fn rss2_items_with_links_enclosures_and_dates() {
    let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>Fedora torrents</title>
  <link>https://torrent.example.org/</link>
  <atom:link href="https://torrent.example.org/rss.xml" rel="self"/>
  <item>
    <title>Fedora &amp; friends 40</title>
    <link>torrents/Fedora-40-x86_64.torrent</link>
    <pubDate>Sat, 10 Feb 2024 12:34:56 +0000</pubDate>
  </item>
  <item>
    <title>Dataset</title>
    <link>https://at.example.org/details/abc</link>
    <enclosure url="https://at.example.org/download.php?id=7" type="application/x-bittorrent" length="100"/>
    <pubDate>Sat, 10 Feb 2024 11:34:56 +0000</pubDate>
  </item>
  <item><title>ezRSS</title><torrent xmlns="http://xmlns.ezrss.it/0.1/"><magnetURI><![CDATA[magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=Some+Name]]></magnetURI></torrent></item>
  <item/>
</channel>
</rss>"#;
    let p = parse(doc.as_bytes(), &base("https://torrent.example.org/rss.xml")).expect("parses");
    assert_eq!(p.kind, FeedKind::Rss);
    assert_eq!(
        torrents(&p),
        [
            (
                "Fedora-40-x86_64.torrent",
                "https://torrent.example.org/torrents/Fedora-40-x86_64.torrent",
                Some(T)
            ),
            (
                "Dataset.torrent",
                "https://at.example.org/download.php?id=7",
                Some(T - 3600)
            ),
            (
                "Some Name.magnet",
                "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=Some+Name",
                None
            ),
        ]
    );
    // The item's page link is kept as an Other link (for `feed check`), the channel's is not.
    assert_eq!(p.links.len(), 4);
    assert!(p.newest_first());
}

#[test]
fn atom_entries() {
    let doc = r#"<?xml version="1.0"?>
<!-- a comment first -->
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Academic</title>
  <link href="https://example.org/" rel="alternate"/>
  <entry>
    <title>One</title>
    <link rel="enclosure" type="application/x-bittorrent" href="/dl/one.torrent"/>
    <link rel="related" href="/dl/not-this.torrent"/>
    <updated>2024-02-10T12:34:56Z</updated>
  </entry>
  <entry>
    <title>Two</title>
    <link href="/dl/two.torrent"></link>
    <published>2024-02-10T14:34:56+02:00</published>
    <updated>2024-03-01T00:00:00Z</updated>
  </entry>
</feed>"#;
    let p = parse(doc.as_bytes(), &base("https://example.org/feeds/x.atom")).expect("parses");
    assert_eq!(p.kind, FeedKind::Atom);
    assert_eq!(
        torrents(&p),
        [
            ("one.torrent", "https://example.org/dl/one.torrent", Some(T)),
            ("two.torrent", "https://example.org/dl/two.torrent", Some(T)),
        ]
    );
}

#[test]
fn nginx_autoindex() {
    let doc = "<html>\r\n<head><title>Index of /bt-cd/</title></head>\r\n<body>\r\n\
<h1>Index of /bt-cd/</h1><hr><pre><a href=\"../\">../</a>\r\n\
<a href=\"debian-12.4.0-amd64-netinst.iso.torrent\">debian-12.4.0-amd64-netinst.iso.torrent</a>            10-Dec-2023 10:11               25632\r\n\
<a href=\"debian-12.5.0-amd64-DVD-1.iso.torrent\">debian-12.5.0-amd64-DVD-1.iso.torrent</a>              10-Feb-2024 12:34              765432\r\n\
<a href=\"SHA256SUMS\">SHA256SUMS</a>                                         10-Feb-2024 12:40                1024\r\n\
</pre><hr></body>\r\n</html>\r\n";
    let p = parse(doc.as_bytes(), &base("http://127.0.0.1:8080/bt-cd/")).expect("parses");
    assert_eq!(p.kind, FeedKind::Html);
    assert_eq!(
        torrents(&p),
        [
            (
                "debian-12.4.0-amd64-netinst.iso.torrent",
                "http://127.0.0.1:8080/bt-cd/debian-12.4.0-amd64-netinst.iso.torrent",
                Some(1_702_203_060)
            ),
            (
                "debian-12.5.0-amd64-DVD-1.iso.torrent",
                "http://127.0.0.1:8080/bt-cd/debian-12.5.0-amd64-DVD-1.iso.torrent",
                Some(T - 56)
            ),
        ]
    );
    assert_eq!(p.links.len(), 4, "../ and SHA256SUMS are links too");
    assert!(!p.newest_first());
}

#[test]
fn apache_autoindex_table() {
    let doc = r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /debian-cd/12.5.0/amd64/bt-dvd</title></head><body>
<h1>Index of /debian-cd/12.5.0/amd64/bt-dvd</h1>
<table>
<tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/debian-cd/12.5.0/amd64/">Parent Directory</a></td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="debian-12.5.0-amd64-DVD-1.iso.torrent">debian-12.5.0-amd64-DVD-1.iso.torrent</a></td><td align="right">2024-02-10 12:34  </td><td align="right">1.1M</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="debian-12.5.0-amd64-DVD-2.iso.torrent">debian-12.5.0-amd64-DVD-2.iso.torrent</a></td><td align="right">2024-02-10 12:35  </td><td align="right">1.1M</td></tr>
<!-- <a href="commented-out.torrent">x</a> -->
<script>var s = '<a href="scripted.torrent">';</script>
</table></body></html>"#;
    let p = parse(
        doc.as_bytes(),
        &base("https://cdimage.example.org/debian-cd/12.5.0/amd64/bt-dvd/"),
    )
    .expect("parses");
    let t = torrents(&p);
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(t[0].2, Some(T - 56));
    assert_eq!(t[1].2, Some(T + 4));
    assert!(
        t[0].1
            .starts_with("https://cdimage.example.org/debian-cd/12.5.0/amd64/bt-dvd/")
    );
}

#[test]
fn html_page_with_base_href_and_magnets() {
    let doc = r#"<!doctype html><html><head><base href="https://mirror.example.org/files/"></head>
<body><ul>
<li><a class=dl href=release-1.torrent>Release 1</a>
<li><A HREF='sub/release-2.TORRENT'>Release 2</A>
<li><a href="magnet:?xt=urn:btih:ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD">magnet, no name</a>
<li><a href="magnet:?dn=no-hash">broken magnet</a>
<li><a href="mailto:x@example.org">mail</a>
<li><a href="%2E%2Ehidden%2Ftrick.torrent">tricky</a>
</ul></body></html>"#;
    let p = parse(doc.as_bytes(), &base("http://other.example.org/page.html")).expect("parses");
    assert_eq!(
        torrents(&p),
        [
            (
                "release-1.torrent",
                "https://mirror.example.org/files/release-1.torrent",
                None
            ),
            (
                "release-2.TORRENT",
                "https://mirror.example.org/files/sub/release-2.TORRENT",
                None
            ),
            (
                "abcdefabcdefabcdefabcdefabcdefabcdefabcd.magnet",
                "magnet:?xt=urn:btih:ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD",
                None
            ),
            (
                "hidden_trick.torrent",
                "https://mirror.example.org/files/%2E%2Ehidden%2Ftrick.torrent",
                None
            ),
        ]
    );
}

#[test]
fn text_lists() {
    let doc = "# torrents\n\nhttps://example.org/a.torrent\r\nb.torrent\n  ../c.torrent  \n";
    let p = parse(doc.as_bytes(), &base("https://example.org/lists/all.txt")).expect("parses");
    assert_eq!(p.kind, FeedKind::Text);
    let urls: Vec<&str> = p.links.iter().map(|l| l.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://example.org/a.torrent",
            "https://example.org/lists/b.torrent",
            "https://example.org/c.torrent"
        ]
    );
    let prose = "Service temporarily unavailable.\nPlease try again later.\n";
    assert!(matches!(
        parse(prose.as_bytes(), &base("https://example.org/x")),
        Err(ParseError::NotAFeed(_))
    ));
}

#[test]
fn garbage_and_empty_documents_are_errors() {
    let b = base("http://127.0.0.1/feed");
    assert!(matches!(parse(b"", &b), Err(ParseError::Empty)));
    assert!(matches!(parse(b" \n\t", &b), Err(ParseError::Empty)));
    assert!(matches!(
        parse(b"<html><body><p>Moved.</p></body></html>", &b),
        Err(ParseError::NoLinks(FeedKind::Html))
    ));
    assert!(matches!(
        parse(b"<rss><channel><title>x</title></channel></rss>", &b),
        Err(ParseError::NoLinks(FeedKind::Rss))
    ));
    assert!(matches!(
        parse(
            b"<rss><channel><item><link>a.torrent</link></channel></rss>",
            &b
        ),
        Err(ParseError::Xml(_))
    ));
    assert!(matches!(
        parse(b"<rss><channel><item><link>a.torrent</link>", &b),
        Err(ParseError::Truncated)
    ));
    assert!(matches!(
        parse(b"\x00\x01\x02\xff\xfe", &b),
        Err(ParseError::NotAFeed(_))
    ));
    // 10 MiB of random bytes, starting with text or with markup.
    let mut rng = fastrand::Rng::with_seed(14);
    let mut junk: Vec<u8> = (0..10 << 20).map(|_| rng.u8(..)).collect();
    junk[0] = b'x';
    assert!(parse(&junk, &b).is_err());
    junk[0] = b'<';
    assert!(parse(&junk, &b).is_err());
}

#[test]
fn safe_names() {
    assert_eq!(safe_name("a/b.torrent", ".torrent"), "a_b.torrent");
    assert_eq!(safe_name("...x.torrent", ".torrent"), "x.torrent");
    assert_eq!(safe_name(".torrent", ".torrent"), "unnamed.torrent");
    assert_eq!(safe_name("x.torrent", ".magnet"), "x.magnet");
    assert_eq!(safe_name("Title", ".torrent"), "Title.torrent");
    assert_eq!(safe_name("a\nb.TORRENT", ".torrent"), "a_b.TORRENT");
    let long = safe_name(&"é".repeat(300), ".torrent");
    assert!(long.len() <= 200 && long.ends_with(".torrent"));
}

/// An RSS feed of `n` items, newest first.
pub(crate) fn big_rss(n: usize) -> String {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>big</title>\n");
    for i in 0..n {
        doc.push_str(&format!(
            "<item><title>Release {i}</title><link>https://example.org/r/{i}.html</link>\
             <enclosure url=\"/t/release-{i:05}.torrent\" type=\"application/x-bittorrent\" length=\"1\"/>\
             <pubDate>Sat, 10 Feb 2024 12:{:02}:{:02} +0000</pubDate><description>Entry &lt;{i}&gt;</description></item>\n",
            (n - i) / 60 % 60,
            (n - i) % 60
        ));
    }
    doc.push_str("</channel></rss>\n");
    doc
}

#[test]
fn ten_thousand_entries_parse_fast() {
    let doc = big_rss(10_000);
    let start = std::time::Instant::now();
    let p = parse(doc.as_bytes(), &base("https://example.org/feed")).expect("parses");
    let took = start.elapsed();
    assert_eq!(torrents(&p).len(), 10_000);
    println!(
        "parsed a 10,000-entry RSS feed ({} KiB) in {took:?} ({})",
        doc.len() / 1024,
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    // Generous for a debug build on a shared machine; release is ~20x faster.
    let limit = if cfg!(debug_assertions) { 10 } else { 1 };
    assert!(took.as_secs() < limit, "took {took:?}");
}
