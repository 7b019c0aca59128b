//! The statistics page (`/`, plain HTML without JavaScript) and `/stats.json`.
//!
//! Torrent names come from `.torrent` files anyone may have written, so every name is
//! HTML-escaped; names of torrents we only know by hash show the hex info-hash.

use std::fmt::Write;

use crate::swarm::Stats;

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the page.
pub(crate) fn html(stats: &Stats) -> String {
    let mut s = String::with_capacity(1024 + stats.torrents.len() * 200);
    s.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>btmirror tracker</title>\n<style>\n",
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}",
        "th,td{padding:.25em .75em;border-bottom:1px solid #ccc}td.n{text-align:right}",
        "code{font-size:.85em}\n</style>\n</head>\n<body>\n<h1>btmirror tracker</h1>\n",
    ));
    let t = &stats.totals;
    let _ = writeln!(
        s,
        "<p>{} torrents, {} seeders, {} leechers, {} completed downloads.</p>",
        t.torrents, t.seeders, t.leechers, t.completed
    );
    s.push_str(concat!(
        "<table>\n<thead><tr><th>Name</th><th>Info-hash</th><th>Seeders</th>",
        "<th>Leechers</th><th>Completed</th></tr></thead>\n<tbody>\n",
    ));
    for row in &stats.torrents {
        let name = match &row.name {
            Some(n) => escape(n),
            None => row.info_hash.to_hex(),
        };
        let _ = writeln!(
            s,
            "<tr><td>{name}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            row.info_hash.to_hex(),
            row.seeders,
            row.leechers,
            row.completed
        );
    }
    let _ = write!(
        s,
        "</tbody>\n<tfoot><tr><th>Total</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th>\
         <th class=\"n\">{}</th></tr></tfoot>\n</table>\n",
        t.torrents, t.seeders, t.leechers, t.completed
    );
    if stats.torrents.len() < t.torrents {
        let _ = writeln!(
            s,
            "<p>Showing the first {} torrents.</p>",
            stats.torrents.len()
        );
    }
    s.push_str("<p><a href=\"/stats.json\">JSON</a></p>\n</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::{TorrentStats, Totals};

    #[test]
    fn names_are_escaped() {
        let stats = Stats {
            torrents: vec![TorrentStats {
                info_hash: metainfo::InfoHash([0xab; 20]),
                name: Some(std::sync::Arc::from("<script>alert('x')</script> & \"q\"")),
                seeders: 2,
                leechers: 3,
                completed: 4,
            }],
            totals: Totals {
                torrents: 1,
                seeders: 2,
                leechers: 3,
                completed: 4,
            },
        };
        let page = html(&stats);
        assert!(!page.contains("<script>"));
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        );
        assert!(
            page.contains("<td class=\"n\">2</td><td class=\"n\">3</td><td class=\"n\">4</td>")
        );
    }
}
