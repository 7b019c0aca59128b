use url::Url;

use super::*;
use crate::parse::{FeedKind, parse};

fn parsed(doc: &str) -> Parsed {
    parse(
        doc.as_bytes(),
        &Url::parse("http://127.0.0.1/d/").expect("url"),
    )
    .expect("parses")
}

fn taken(sel: &Selection, p: &Parsed) -> Vec<String> {
    let mut t: Vec<(usize, String)> = sel
        .plan(p)
        .into_iter()
        .filter_map(|e| match e.why {
            Why::Taken { rank } => Some((rank, e.link.name)),
            _ => None,
        })
        .collect();
    t.sort();
    t.into_iter().map(|(_, n)| n).collect()
}

const INDEX: &str = r#"<pre><a href="../">../</a>
<a href="debian-12.4.0-amd64-netinst.iso.torrent">x</a>  10-Dec-2023 10:11  1
<a href="debian-12.5.0-amd64-netinst.iso.torrent">x</a>  10-Feb-2024 12:34  1
<a href="debian-12.5.0-arm64-netinst.iso.torrent">x</a>  10-Feb-2024 12:35  1
<a href="debian-12.3.0-amd64-netinst.iso.torrent">x</a>  10-Nov-2023 12:34  1
<a href="magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&amp;dn=debian-12.6.0-amd64-netinst.iso">m</a>  10-Jun-2024 12:00  -
<a href="SHA256SUMS">x</a>  10-Feb-2024 12:40  1
</pre>"#;

#[test]
fn match_and_keep_newest_by_date() {
    let p = parsed(INDEX);
    let all = Selection::new(None, Keep::All).expect("sel");
    assert_eq!(taken(&all, &p).len(), 5);
    let sel = Selection::new(Some("*-amd64-netinst.iso.torrent"), Keep::Newest(2)).expect("sel");
    assert_eq!(
        taken(&sel, &p),
        [
            "debian-12.6.0-amd64-netinst.iso.magnet",
            "debian-12.5.0-amd64-netinst.iso.torrent"
        ]
    );
    let plan = sel.plan(&p);
    let why = |name: &str| {
        plan.iter()
            .find(|e| e.link.name == name || (name.is_empty() && e.link.url.path() == "/"))
            .map(|e| e.why.clone())
    };
    assert_eq!(
        why("debian-12.4.0-amd64-netinst.iso.torrent"),
        Some(Why::Older { keep: 2 })
    );
    assert_eq!(
        why("debian-12.5.0-arm64-netinst.iso.torrent"),
        Some(Why::NoMatch("*-amd64-netinst.iso.torrent".into()))
    );
    assert_eq!(why(""), Some(Why::NotATorrent));
    assert_eq!(plan.len(), p.links.len());
    assert!(
        plan.iter()
            .all(|e| e.taken == matches!(e.why, Why::Taken { .. }))
    );
    for e in &plan {
        assert!(!e.why.to_string().is_empty());
    }
}

#[test]
fn undated_entries_go_by_position() {
    // A directory index without dates: the last is the newest.
    let p = parsed(
        r#"<a href="a-1.torrent">1</a><a href="a-2.torrent">2</a><a href="a-3.torrent">3</a>"#,
    );
    assert_eq!(p.kind, FeedKind::Html);
    let sel = Selection::new(None, Keep::Newest(2)).expect("sel");
    assert_eq!(taken(&sel, &p), ["a-3.torrent", "a-2.torrent"]);
    // An RSS feed without dates: the first is the newest.
    let rss = parsed(
        "<rss><channel><item><link>a-1.torrent</link></item><item><link>a-2.torrent</link></item>\
         <item><link>a-3.torrent</link></item></channel></rss>",
    );
    assert_eq!(taken(&sel, &rss), ["a-1.torrent", "a-2.torrent"]);
    // One undated entry among dated ones: by position too.
    let mixed = parsed(
        "<rss><channel><item><link>a-1.torrent</link><pubDate>Sat, 10 Feb 2024 12:34:56 GMT</pubDate></item>\
         <item><link>a-2.torrent</link></item>\
         <item><link>a-3.torrent</link><pubDate>Sun, 11 Feb 2024 12:34:56 GMT</pubDate></item></channel></rss>",
    );
    assert_eq!(taken(&sel, &mixed), ["a-1.torrent", "a-2.torrent"]);
}

#[test]
fn one_link_per_name() {
    let p = parsed(
        r#"<a href="x/a.torrent">1</a><a href="y/a.torrent">2</a><a href="b.torrent">3</a>"#,
    );
    let sel = Selection::new(None, Keep::All).expect("sel");
    let plan = sel.plan(&p);
    assert_eq!(taken(&sel, &p), ["b.torrent", "a.torrent"]);
    // Newest last in an index: y/a.torrent wins over x/a.torrent.
    assert_eq!(plan[0].why, Why::SameName);
    assert!(plan[1].taken);
}

#[test]
fn bad_glob_is_an_error() {
    assert!(matches!(
        Selection::new(Some("[z-a"), Keep::All),
        Err(FeedError::Pattern { .. })
    ));
}
