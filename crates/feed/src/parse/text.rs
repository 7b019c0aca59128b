//! A plain text list of URLs: one a line, blank lines and `#` comments allowed. Every other
//! line must be a single URL (absolute, or relative to the list's own URL); one line of prose
//! and the whole document is not a list, so that an error page is never mistaken for one.

use url::Url;

use super::{ParseError, RawLink};

/// The longest line taken for a URL.
const MAX_LINE: usize = 8 * 1024;

/// The links of a text list.
pub(super) fn parse(body: &[u8], base: &Url) -> Result<Vec<RawLink>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ParseError::NotAFeed(format!(
            "neither markup nor UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let one_word = !line.contains(char::is_whitespace);
        let printable = !line.contains(char::is_control);
        if !one_word || !printable || line.len() > MAX_LINE || base.join(line).is_err() {
            return Err(ParseError::NotAFeed(format!(
                "line {} of a text document is not a URL",
                n + 1
            )));
        }
        out.push(RawLink {
            href: line.to_owned(),
            ..RawLink::default()
        });
    }
    Ok(out)
}
