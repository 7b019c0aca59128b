//! Feed parsing (RSS, Atom, HTML, text lists) never panics, and what it returns is safe to act
//! on: absolute URLs, file names that are single hidden-free components with the right suffix,
//! positions in order; selection decides once for every link.

#![no_main]

use feed::parse::{LinkKind, parse};
use feed::{Keep, Selection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = url::Url::parse("https://example.org/pub/feed/").expect("base URL");
    let Ok(parsed) = parse(data, &base) else { return };
    assert!(!parsed.links.is_empty());
    for (i, link) in parsed.links.iter().enumerate() {
        assert_eq!(link.order, i);
        assert!(!link.url.cannot_be_a_base() || link.url.scheme() == "magnet" || link.kind == LinkKind::Other);
        let suffix = match link.kind {
            LinkKind::Torrent => ".torrent",
            LinkKind::Magnet => ".magnet",
            _ => {
                assert!(link.name.is_empty());
                continue;
            }
        };
        let name = &link.name;
        assert!(name.to_ascii_lowercase().ends_with(suffix), "{name:?}");
        assert!(name.len() > suffix.len() && name.len() <= 200, "{name:?}");
        assert!(!name.starts_with('.') && !name.contains('/') && !name.contains('\0'), "{name:?}");
        assert!(!name.chars().any(char::is_control), "{name:?}");
    }
    for (glob, keep) in [(None, Keep::All), (Some("*-amd64-*.torrent"), Keep::Newest(2))] {
        let plan = Selection::new(glob, keep).expect("valid glob").plan(&parsed);
        assert_eq!(plan.len(), parsed.links.len());
        let taken = plan.iter().filter(|e| e.taken).count();
        if let Keep::Newest(n) = keep {
            assert!(taken <= n);
        }
    }
});
