//! Turning one raw path component (or the torrent name) into a safe file name.
//!
//! Where a name is merely odd, it is rewritten the way libtorrent 2.0 rewrites it
//! (`sanitize_append_path_element`), so that data another client downloaded is found in place:
//! each invalid UTF-8 sequence and each control character becomes `_`, backslashes and invisible
//! or direction-changing characters are dropped, and a component longer than 240 bytes is cut
//! (keeping a short extension). The result depends only on the bytes, so it is the same on
//! every restart.
//!
//! Where a name could climb out of the torrent's directory or is ambiguous, it is refused with
//! [`Error::UnsafePath`]: `.` and `..`, absolute paths, `/` or NUL inside a component, empty
//! components. libtorrent rewrites some of these; btmirror deliberately does not.

use crate::Error;

/// Bytes after which a component is cut (libtorrent's limit; file systems allow 255).
const MAX_COMPONENT: usize = 240;

/// A sanitised component and whether it differs from the raw bytes.
pub(crate) struct Sanitized {
    /// The safe component.
    pub(crate) name: String,
    /// True when `name` is not exactly the raw bytes.
    pub(crate) changed: bool,
}

/// Sanitises one component; `whole` is the full path it belongs to, for the error message.
pub(crate) fn sanitize_component(
    field: &str,
    raw: &[u8],
    whole: &[u8],
) -> Result<Sanitized, Error> {
    let unsafe_path = |reason| Error::UnsafePath {
        field: field.to_owned(),
        path: String::from_utf8_lossy(whole).into_owned(),
        reason,
    };
    match raw {
        [] => return Err(unsafe_path("empty component")),
        b"." | b".." => return Err(unsafe_path("`.` or `..` component")),
        [b'/', ..] => return Err(unsafe_path("absolute path")),
        _ if raw.contains(&b'/') => return Err(unsafe_path("`/` inside a component")),
        _ if raw.contains(&0) => return Err(unsafe_path("NUL inside a component")),
        _ => {}
    }
    let mut name = String::with_capacity(raw.len());
    let mut i = 0;
    let mut found_extension = false;
    while i < raw.len() {
        let rest = raw.get(i..).unwrap_or_default();
        let (code, len) = code_point(rest);
        let len = len.max(1);
        match code.and_then(char::from_u32) {
            Some(c) if is_filtered(c) => {}
            Some(c) if is_control(c) => name.push('_'),
            Some(c) => name.push(c),
            None => name.push('_'),
        }
        i += len;
        if name.len() >= MAX_COMPONENT && !found_extension && i < raw.len() {
            // Like libtorrent: keep a dot-extension in the last 9 bytes, else stop here.
            let from = raw.len().saturating_sub(9).max(i);
            match raw
                .get(from..)
                .and_then(|t| t.iter().rposition(|&b| b == b'.'))
            {
                Some(dot) => {
                    found_extension = true;
                    i = from + dot;
                }
                None => break,
            }
        }
    }
    if name.is_empty() {
        // Everything was invisible: libtorrent names such a component `_`.
        name.push('_');
    }
    if name == "." || name == ".." {
        return Err(unsafe_path("`.` or `..` component"));
    }
    let changed = name.as_bytes() != raw;
    Ok(Sanitized { name, changed })
}

/// Characters libtorrent drops from names: backslash, and the zero-width, invisible and
/// direction-changing ones that can make `exe.txt` look like `txt.exe`.
fn is_filtered(c: char) -> bool {
    matches!(c,
        '\\' | '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// C0 and C1 control characters and DEL, which libtorrent replaces with `_`.
fn is_control(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Decodes one UTF-8 sequence at the start of `bytes` exactly as libtorrent's
/// `parse_utf8_codepoint` does: the code point (None when invalid) and how many bytes to skip.
fn code_point(bytes: &[u8]) -> (Option<u32>, usize) {
    let Some(&first) = bytes.first() else {
        return (None, 0);
    };
    let len = match first {
        0x00..=0x7f => return (Some(u32::from(first)), 1),
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return (None, 1),
    };
    if len > bytes.len() {
        return (None, bytes.len());
    }
    let mask = match len {
        2 => 0x1f,
        3 => 0x0f,
        _ => 0x07,
    };
    let mut c = u32::from(first & mask);
    for &b in bytes.get(1..len).unwrap_or_default() {
        if !(0x80..=0xbf).contains(&b) {
            return (None, len);
        }
        c = (c << 6) | u32::from(b & 0x3f);
    }
    let overlong = match len {
        2 => c < 0x80,
        3 => c < 0x800,
        _ => c < 0x10000,
    };
    if overlong || c > 0x10ffff || (0xd800..=0xdfff).contains(&c) {
        return (None, len);
    }
    (Some(c), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &[u8]) -> (String, bool) {
        let s = sanitize_component("f", raw, raw).unwrap();
        (s.name, s.changed)
    }

    #[test]
    fn valid_names_are_kept() {
        assert_eq!(clean(b"file.txt"), ("file.txt".into(), false));
        assert_eq!(
            clean("別の世界f1.txt".as_bytes()),
            ("別の世界f1.txt".into(), false)
        );
        assert_eq!(clean(b".hidden"), (".hidden".into(), false));
        assert_eq!(clean(b"..."), ("...".into(), false));
    }

    #[test]
    fn invalid_utf8_becomes_underscores_like_libtorrent() {
        // One `_` per invalid sequence as libtorrent counts them.
        assert_eq!(clean(b"file\xff.foo"), ("file_.foo".into(), true));
        assert_eq!(clean(b"caf\xe9"), ("caf_".into(), true));
        // A truncated 3-byte sequence at the end is one sequence.
        assert_eq!(clean(b"a\xe2\x82"), ("a_".into(), true));
        // A bad continuation byte swallows the whole announced length.
        assert_eq!(clean(b"\xe2(ab"), ("_b".into(), true));
        // Overlong and surrogate encodings are invalid.
        assert_eq!(clean(b"\xc0\xafx"), ("_x".into(), true));
        assert_eq!(clean(b"\xed\xa0\x80x"), ("_x".into(), true));
        // Same input, same output: the name is stable across restarts.
        assert_eq!(clean(b"\x93\x94"), clean(b"\x93\x94"));
    }

    #[test]
    fn controls_and_invisible_characters() {
        assert_eq!(clean(b"a\nb\x7f"), ("a_b_".into(), true));
        assert_eq!(
            clean("evil\u{202e}txt.exe".as_bytes()),
            ("eviltxt.exe".into(), true)
        );
        assert_eq!(clean(b"a\\b"), ("ab".into(), true));
        assert_eq!(clean("\u{200b}".as_bytes()), ("_".into(), true));
    }

    #[test]
    fn long_components_are_cut_keeping_the_extension() {
        let long = format!("{}.mkv", "x".repeat(300));
        let (name, changed) = clean(long.as_bytes());
        assert!(changed);
        assert_eq!(name, format!("{}.mkv", "x".repeat(240)));
        let (name, _) = clean("y".repeat(300).as_bytes());
        assert_eq!(name, "y".repeat(240));
    }

    #[test]
    fn unsafe_components_are_refused() {
        for raw in [
            &b""[..],
            b".",
            b"..",
            b"/etc",
            b"a/b",
            b"a\0b",
            "\u{200b}..".as_bytes(),
        ] {
            assert!(sanitize_component("f", raw, raw).is_err(), "{raw:?}");
        }
    }
}
