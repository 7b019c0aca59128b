use super::*;

#[derive(Debug, Deserialize)]
struct Doc {
    feed: Vec<FeedConfig>,
}

fn one(toml_text: &str) -> Result<FeedConfig, String> {
    let doc: Doc = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    doc.feed
        .into_iter()
        .next()
        .ok_or_else(|| "no feed".to_owned())
}

#[test]
fn full_table() {
    let f = one(r#"
        [[feed]]
        url = "https://cdimage.debian.org/debian-cd/current/amd64/bt-cd/"
        into = "/srv/torrents/debian"
        match = "*-amd64-netinst.iso.torrent"
        keep = 2
        interval = "6h"
        remove = true
        "#)
    .expect("valid");
    assert_eq!(f.url.host_str(), Some("cdimage.debian.org"));
    assert_eq!(f.into, PathBuf::from("/srv/torrents/debian"));
    assert_eq!(f.match_glob.as_deref(), Some("*-amd64-netinst.iso.torrent"));
    assert_eq!(f.keep, Keep::Newest(2));
    assert_eq!(f.interval, Duration::from_secs(6 * 3600));
    assert!(f.remove);
}

#[test]
fn defaults() {
    let f = one("[[feed]]\nurl = \"http://example.org/feed.xml\"\ninto = \"t\"\n").expect("valid");
    assert_eq!(f, FeedConfig::new(f.url.clone(), "t"));
    assert_eq!(f.keep, Keep::All);
    assert_eq!(f.interval, DEFAULT_INTERVAL);
    assert!(!f.remove);
}

#[test]
fn keep_and_interval_forms() {
    let base = "[[feed]]\nurl = \"http://example.org/\"\ninto = \"t\"\n";
    let f = one(&format!("{base}keep = \"all\"\ninterval = 900")).expect("valid");
    assert_eq!((f.keep, f.interval), (Keep::All, Duration::from_secs(900)));
    let f = one(&format!("{base}interval = \"1h30m\"")).expect("valid");
    assert_eq!(f.interval, Duration::from_secs(5400));
}

#[test]
fn clear_errors() {
    let base = "[[feed]]\nurl = \"http://example.org/\"\ninto = \"t\"\n";
    let cases = [
        ("keep = 0", "at least 1"),
        ("keep = \"some\"", "\"all\""),
        ("keep = -3", "at least 1"),
        ("interval = \"5s\"", "too short"),
        ("interval = \"1x\"", "unknown unit"),
        ("interval = \"10\"", "too short"),
        ("interval = -1", "negative"),
        ("match = \"[\"", "match"),
        ("remvoe = true", "unknown field"),
    ];
    for (line, want) in cases {
        let err = one(&format!("{base}{line}")).expect_err(line);
        assert!(err.contains(want), "{line}: {err}");
    }
    let err = one("[[feed]]\nurl = \"ftp://example.org/\"\ninto = \"t\"\n").expect_err("ftp");
    assert!(err.contains("only http"), "{err}");
    let err = one("[[feed]]\nurl = \"http://example.org/\"\n").expect_err("no into");
    assert!(err.contains("into"), "{err}");
}

#[test]
fn intervals() {
    assert_eq!(parse_interval("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_interval("2d"), Ok(Duration::from_secs(172_800)));
    assert_eq!(parse_interval("1h1m1s"), Ok(Duration::from_secs(3661)));
    assert!(parse_interval("h").is_err());
    assert!(parse_interval("1h30").is_err());
    assert!(parse_interval("").is_err());
    assert!(parse_interval("99999999999999999999d").is_err());
}
