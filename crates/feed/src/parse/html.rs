//! Links of an HTML page: every `<a href>` (and `<base href>`), with the date of its row in a
//! web server's directory index when there is one (the text between the link and the next one,
//! up to the end of the table row, or of the line inside `<pre>`).
//!
//! A small tokenizer of our own rather than `scraper` (html5ever, selectors, cssparser: tens of
//! crates and the longest compile of the workspace) or `tl`: we need start tags, their
//! attributes and the text between them, nothing of the tree. It never fails: any byte soup
//! yields some (often no) links, and the caller turns "no links" into an error. Comments,
//! `<script>` and `<style>` are skipped so that links inside them are not taken.

use url::Url;

use super::{RawLink, date};

/// How much text after a link is searched for its date.
const ROW_TEXT_MAX: usize = 256;

/// A tag's name (lowercase) and its raw attribute text.
struct Tag<'a> {
    name: String,
    closing: bool,
    attrs: &'a str,
}

/// The page's base URL (its `<base href>`, if any, else `base`) and its links.
pub(super) fn parse(body: &[u8], base: &Url) -> (Url, Vec<RawLink>) {
    let page = String::from_utf8_lossy(body);
    let s: &str = &page;
    let mut base = base.clone();
    let mut out: Vec<RawLink> = Vec::new();
    // The link whose row text is being collected, and that text.
    let mut row: Option<(usize, String)> = None;
    let mut in_pre = false;
    // Whether the last `<a>` had an `href` (its `</a>` then starts its row).
    let mut in_link = false;
    let mut at = 0;
    while at < s.len() {
        let Some(lt) = s[at..].find('<').map(|i| at + i) else {
            collect(&mut row, &s[at..], in_pre, &mut out);
            break;
        };
        collect(&mut row, &s[at..lt], in_pre, &mut out);
        let rest = &s[lt..];
        if rest.starts_with("<!--") {
            at = rest.find("-->").map_or(s.len(), |i| lt + i + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            at = rest.find('>').map_or(s.len(), |i| lt + i + 1);
            continue;
        }
        let Some((tag, len)) = tag(rest) else {
            // A lone `<` in text.
            collect(&mut row, "<", in_pre, &mut out);
            at = lt + 1;
            continue;
        };
        at = lt + len;
        match (tag.name.as_str(), tag.closing) {
            ("script" | "style", false) => {
                let close = format!("</{}", tag.name);
                at = find_ignore_case(&s[at..], &close).map_or(s.len(), |i| at + i);
            }
            ("a", false) => {
                finish_row(&mut row, &mut out);
                in_link = false;
                if let Some(href) = attr(tag.attrs, "href") {
                    out.push(RawLink {
                        href,
                        ..RawLink::default()
                    });
                    in_link = true;
                }
            }
            ("a", true) => {
                if in_link && !out.is_empty() {
                    row = Some((out.len() - 1, String::new()));
                }
                in_link = false;
            }
            ("tr", _) | ("li", _) | ("p", _) | ("div", _) => finish_row(&mut row, &mut out),
            ("pre", closing) => {
                finish_row(&mut row, &mut out);
                in_pre = !closing;
            }
            ("base", false) => {
                if let Some(b) = attr(tag.attrs, "href").and_then(|h| base.join(&h).ok())
                    && !b.cannot_be_a_base()
                {
                    base = b;
                }
            }
            // Table cells separate the columns of a directory index.
            ("td", _) => collect(&mut row, " ", in_pre, &mut out),
            _ => {}
        }
    }
    finish_row(&mut row, &mut out);
    (base, out)
}

/// Adds text to the row being collected; a newline inside `<pre>` ends the row.
fn collect(row: &mut Option<(usize, String)>, text: &str, in_pre: bool, out: &mut [RawLink]) {
    let Some((_, buf)) = row.as_mut() else { return };
    let (text, ends) = match text.find('\n') {
        Some(i) if in_pre => (&text[..i], true),
        _ => (text, false),
    };
    if buf.len() < ROW_TEXT_MAX {
        let room = ROW_TEXT_MAX - buf.len();
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        buf.push_str(&text[..cut]);
    }
    if ends {
        finish_row(row, out);
    }
}

/// Dates the link whose row text was being collected.
fn finish_row(row: &mut Option<(usize, String)>, out: &mut [RawLink]) {
    if let Some((i, text)) = row.take()
        && let Some(link) = out.get_mut(i)
    {
        link.date = date::in_index_row(&decode_entities(&text));
    }
}

/// Parses the tag at the start of `s` (which starts with `<`): its name, whether it closes, its
/// attribute text, and its length up to and including `>`.
fn tag(s: &str) -> Option<(Tag<'_>, usize)> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(1) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
        i += 1;
    }
    if i == name_start || !bytes[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let attrs_start = i;
    // Find the closing `>` outside quotes.
    let mut quote = None;
    while let Some(&b) = bytes.get(i) {
        match (quote, b) {
            (None, b'>') => break,
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            _ => {}
        }
        i += 1;
    }
    let attrs = &s[attrs_start..i.min(s.len())];
    Some((
        Tag {
            name,
            closing,
            attrs,
        },
        (i + 1).min(s.len()),
    ))
}

/// The decoded value of attribute `want` (lowercase) in a tag's attribute text.
fn attr(attrs: &str, want: &str) -> Option<String> {
    let b = attrs.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_whitespace() || *c == b'/')
        {
            i += 1;
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|c| !c.is_ascii_whitespace() && !matches!(c, b'=' | b'/' | b'>'))
        {
            i += 1;
        }
        if i == start {
            i += 1;
            continue;
        }
        let name = &attrs[start..i];
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let mut value = None;
        if b.get(i) == Some(&b'=') {
            i += 1;
            while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                i += 1;
            }
            let (vstart, vend) = match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let s = i + 1;
                    let e = attrs[s..].find(q as char).map_or(attrs.len(), |p| s + p);
                    i = e + 1;
                    (s, e)
                }
                _ => {
                    let s = i;
                    while b
                        .get(i)
                        .is_some_and(|c| !c.is_ascii_whitespace() && *c != b'>')
                    {
                        i += 1;
                    }
                    (s, i)
                }
            };
            value = attrs.get(vstart..vend);
        }
        if name.eq_ignore_ascii_case(want) {
            return value.map(decode_entities);
        }
    }
    None
}

/// Decodes the character references an attribute or a directory index uses: `&amp;` `&lt;`
/// `&gt;` `&quot;` `&apos;` `&nbsp;` and numeric ones; others stay as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code).filter(|c| *c != '\0')?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first position of `needle` (ASCII) in `hay`, ignoring ASCII case.
fn find_ignore_case(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    hay.as_bytes()
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a&amp;b&#38;c&#x26;d&nbsp;e"), "a&b&c&d e");
        assert_eq!(decode_entities("R&D &unknown; &"), "R&D &unknown; &");
    }

    #[test]
    fn attributes() {
        assert_eq!(
            attr(r#" class=x HREF="a b.torrent" "#, "href").as_deref(),
            Some("a b.torrent")
        );
        assert_eq!(
            attr(" href='q?a=1&amp;b=2'", "href").as_deref(),
            Some("q?a=1&b=2")
        );
        assert_eq!(
            attr(" href=plain.torrent>", "href").as_deref(),
            Some("plain.torrent")
        );
        assert_eq!(attr(" download href", "href"), None);
        assert_eq!(attr(r#" data-href="x" "#, "href"), None);
    }

    #[test]
    fn tags() {
        let (t, len) = tag(r#"<A HREF="x>y">rest"#).expect("a tag");
        assert_eq!((t.name.as_str(), t.closing, len), ("a", false, 14));
        let (t, _) = tag("</TR>").expect("a tag");
        assert_eq!((t.name.as_str(), t.closing), ("tr", true));
        assert!(tag("< a>").is_none());
        assert!(tag("<1>").is_none());
    }
}
