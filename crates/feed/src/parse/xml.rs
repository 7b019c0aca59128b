//! RSS (2.0 and 1.0) and Atom with `quick-xml`: a pull parser without a DOM, fast on a
//! 10,000-item feed, strict about well-formedness (a truncated or garbled feed is an error, so
//! that nothing is written or removed on its account).

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};

use super::{FeedKind, ParseError, RawLink, date};

/// The kind of an XML feed by its root element, or `None` for anything else (HTML).
pub(super) fn root_kind(body: &[u8]) -> Option<FeedKind> {
    let mut rest = body;
    loop {
        let at = rest.iter().position(|&b| b == b'<')?;
        rest = &rest[at..];
        let skip_to: &[u8] = if rest.starts_with(b"<?") {
            b"?>"
        } else if rest.starts_with(b"<!--") {
            b"-->"
        } else if rest.starts_with(b"<!") {
            b">"
        } else {
            break;
        };
        let end = find(rest, skip_to)?;
        rest = &rest[end + skip_to.len()..];
    }
    let name_len = rest[1..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .unwrap_or(rest.len() - 1);
    let name = &rest[1..1 + name_len];
    let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
    match local {
        b"rss" | b"RDF" => Some(FeedKind::Rss),
        b"feed" => Some(FeedKind::Atom),
        _ => None,
    }
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Which text of an item is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Link,
    Title,
    Published,
    Updated,
    Magnet,
}

/// The links and dates of the item being read.
#[derive(Debug, Default)]
struct Item {
    /// URLs with "the feed says it is a torrent".
    links: Vec<(String, bool)>,
    title: Option<String>,
    /// `pubDate`, `published` or `dc:date`.
    published: Option<i64>,
    /// `updated` (Atom's mandatory date).
    updated: Option<i64>,
    /// Depth of the element being read below the item (1 = a child of the item).
    depth: usize,
}

impl Item {
    /// Its links, dated.
    fn finish(self, out: &mut Vec<RawLink>) {
        let date = self.published.or(self.updated);
        for (href, torrent_type) in self.links {
            out.push(RawLink {
                href,
                torrent_type,
                date,
                title: self.title.clone(),
            });
        }
    }
}

/// True for `type="application/x-bittorrent"`.
fn is_torrent_type(t: &str) -> bool {
    t.trim().eq_ignore_ascii_case("application/x-bittorrent")
}

/// The attributes of `e` this parser reads: (`href` or `url`, `rel`, `type`).
fn link_attrs(e: &BytesStart<'_>) -> Result<(Option<String>, Option<String>, bool), ParseError> {
    let (mut href, mut rel, mut torrent) = (None, None, false);
    for attr in e.attributes() {
        let attr = attr.map_err(|e| ParseError::Xml(e.into()))?;
        let value = || {
            attr.unescape_value()
                .map(|v| v.into_owned())
                .map_err(ParseError::Xml)
        };
        match attr.key.local_name().as_ref() {
            b"href" | b"url" => href = Some(value()?),
            b"rel" => rel = Some(value()?),
            b"type" => torrent = is_torrent_type(&value()?),
            _ => {}
        }
    }
    Ok((href, rel, torrent))
}

/// Reacts to the start of an element inside an item: records attribute links and says which
/// text to read, if any.
fn item_element(item: &mut Item, e: &BytesStart<'_>) -> Result<Option<Field>, ParseError> {
    let local = e.local_name();
    let name = local.as_ref();
    if name == b"magnetURI" {
        return Ok(Some(Field::Magnet));
    }
    if item.depth != 1 {
        return Ok(None);
    }
    Ok(match name {
        b"link" | b"enclosure" => {
            let (href, rel, torrent) = link_attrs(e)?;
            match href {
                // Atom `<link href rel>`, RSS `<enclosure url type>`.
                Some(href) => {
                    let rel_ok = rel
                        .as_deref()
                        .is_none_or(|r| matches!(r, "alternate" | "enclosure"));
                    if rel_ok {
                        item.links.push((href, torrent));
                    }
                    None
                }
                // RSS `<link>URL</link>`.
                None if name == b"link" => Some(Field::Link),
                None => None,
            }
        }
        b"title" => Some(Field::Title),
        b"pubDate" | b"published" | b"date" | b"issued" => Some(Field::Published),
        b"updated" | b"modified" => Some(Field::Updated),
        _ => None,
    })
}

/// Stores the text read for `field`.
fn finish_field(item: &mut Item, field: Field, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let date = || date::rfc3339(text).or_else(|| date::rfc2822(text));
    match field {
        Field::Link | Field::Magnet => item.links.push((text.to_owned(), false)),
        Field::Title => item.title = Some(text.to_owned()),
        Field::Published => item.published = item.published.or_else(date),
        Field::Updated => item.updated = item.updated.or_else(date),
    }
}

/// The links of an RSS or Atom document, item by item, in document order.
pub(super) fn parse(body: &[u8], kind: FeedKind) -> Result<Vec<RawLink>, ParseError> {
    let item_tag: &[u8] = if kind == FeedKind::Atom {
        b"entry"
    } else {
        b"item"
    };
    let mut reader = Reader::from_reader(body);
    let mut out = Vec::new();
    let mut item: Option<Item> = None;
    let mut field: Option<(Field, usize)> = None;
    let mut text = String::new();
    loop {
        let event = reader.read_event().map_err(ParseError::Xml)?;
        match event {
            Event::Eof => break,
            // `<item/>` has no links.
            Event::Empty(_) if item.is_none() => {}
            Event::Start(e) if item.is_none() && e.local_name().as_ref() == item_tag => {
                item = Some(Item::default());
            }
            Event::Start(_) if item.is_none() => {}
            Event::Start(e) => {
                if let Some(it) = item.as_mut() {
                    it.depth += 1;
                    if field.is_none()
                        && let Some(f) = item_element(it, &e)?
                    {
                        field = Some((f, it.depth));
                        text.clear();
                    }
                }
            }
            Event::Empty(e) => {
                if let Some(it) = item.as_mut() {
                    it.depth += 1;
                    item_element(it, &e)?;
                    it.depth -= 1;
                }
            }
            Event::End(_) => {
                if let Some(mut it) = item.take() {
                    if it.depth == 0 {
                        it.finish(&mut out);
                        continue;
                    }
                    if let Some((f, depth)) = field
                        && depth == it.depth
                    {
                        finish_field(&mut it, f, &text);
                        field = None;
                    }
                    it.depth -= 1;
                    item = Some(it);
                }
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| ParseError::Xml(e.into()))?);
            }
            Event::CData(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| ParseError::Xml(e.into()))?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                if let Some(c) = r.resolve_char_ref().map_err(ParseError::Xml)? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| ParseError::Xml(e.into()))?;
                    match resolve_predefined_entity(&name) {
                        Some(s) => text.push_str(s),
                        // An HTML entity in a title (`&nbsp;`): keep it as written.
                        None => {
                            text.push('&');
                            text.push_str(&name);
                            text.push(';');
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if item.is_some() {
        return Err(ParseError::Truncated);
    }
    Ok(out)
}
