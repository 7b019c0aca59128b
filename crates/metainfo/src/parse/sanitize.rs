//! Turning raw path elements (and the torrent name) into safe file names.
//!
//! Where a name is merely odd, it is rewritten exactly as libtorrent 2.0.8 rewrites it
//! (`sanitize_append_path_element`), so that data another client downloaded is found in place:
//! each invalid UTF-8 sequence and each control character becomes `_`, `/`, `\` and the
//! direction-changing marks (U+200E, U+200F, U+202A..U+202E) are dropped, an empty element
//! becomes `_`, an element that is `.` or ends up as nothing but one or two dots is left out,
//! and an element longer than 240 bytes is cut (keeping a short extension). The result depends
//! only on the bytes, so it is the same on every restart.
//!
//! Where a path would climb out of the torrent's directory, it is refused with
//! [`Error::UnsafePath`] instead: an absolute path, or a `..` anywhere (libtorrent drops those
//! elements; btmirror deliberately refuses such a torrent, which is hostile or broken).

use crate::Error;

/// Bytes after which an element is cut (libtorrent's limit; file systems allow 255).
const MAX_COMPONENT: usize = 240;

/// Sanitised path elements and whether they differ from the raw ones.
pub(crate) struct Sanitized {
    /// The safe elements (never empty, none of them `.` or `..`).
    pub(crate) components: Vec<String>,
    /// True when `components` are not exactly the raw elements.
    pub(crate) changed: bool,
}

/// Why `parts` (the elements of one path) would leave the torrent's directory, if they would.
pub(crate) fn climbing(parts: &[&[u8]]) -> Option<&'static str> {
    if parts.first().is_some_and(|p| p.first() == Some(&b'/')) {
        return Some("absolute path");
    }
    let joined = parts.join(&b'/');
    let mut segments = joined.split(|&b| b == b'/' || b == b'\\');
    segments.any(|seg| seg == b"..").then_some("`..` component")
}

/// A file's path elements, refused when they climb, else sanitised; when every element is left
/// out, the path is `_` (as in libtorrent).
pub(crate) fn sanitize_path(field: &str, parts: &[&[u8]]) -> Result<Sanitized, Error> {
    if let Some(reason) = climbing(parts) {
        return Err(Error::UnsafePath {
            field: field.to_owned(),
            path: String::from_utf8_lossy(&parts.join(&b'/')).into_owned(),
            reason,
        });
    }
    let mut components: Vec<String> = parts.iter().filter_map(|p| sanitize_element(p)).collect();
    if components.is_empty() {
        components.push("_".into());
    }
    let changed = components.len() != parts.len()
        || components
            .iter()
            .zip(parts)
            .any(|(c, p)| c.as_bytes() != *p);
    Ok(Sanitized {
        components,
        changed,
    })
}

/// One path element as libtorrent 2.0.8 appends it, or `None` when it leaves it out.
pub(crate) fn sanitize_element(raw: &[u8]) -> Option<String> {
    if raw == b"." {
        return None;
    }
    if raw.is_empty() {
        return Some("_".into());
    }
    let mut name = String::with_capacity(raw.len());
    let mut dots = 0;
    let mut i = 0;
    let mut found_extension = false;
    while i < raw.len() {
        let rest = raw.get(i..).unwrap_or_default();
        let (code, len) = code_point(rest);
        let len = len.max(1);
        match code.and_then(char::from_u32) {
            Some(c) if is_filtered(c) => {}
            Some(c) if u32::from(c) < 32 => name.push('_'),
            Some(c) => {
                name.push(c);
                dots += usize::from(c == '.');
            }
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
    (!(name.len() == dots && dots <= 2)).then_some(name)
}

/// Characters libtorrent 2.0.8 drops from names: NUL (its `strchr` test matches the
/// terminator), `/`, `\\` and the direction marks and overrides that can make `exe.txt` look
/// like `txt.exe`.
fn is_filtered(c: char) -> bool {
    matches!(
        c,
        '\0' | '/' | '\\' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
    )
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

    fn clean(raw: &[u8]) -> Option<String> {
        sanitize_element(raw)
    }

    fn path(parts: &[&[u8]]) -> Vec<String> {
        sanitize_path("f", parts).unwrap().components
    }

    #[test]
    fn valid_names_are_kept() {
        for name in ["file.txt", "別の世界f1.txt", ".hidden", "...", "a\u{7f}b"] {
            assert_eq!(clean(name.as_bytes()).as_deref(), Some(name));
        }
        let s = sanitize_path("f", &[b"a", b"b.txt"]).unwrap();
        assert!(!s.changed);
    }

    #[test]
    fn invalid_utf8_becomes_underscores_like_libtorrent() {
        // One `_` per invalid sequence as libtorrent counts them.
        assert_eq!(clean(b"file\xff.foo").as_deref(), Some("file_.foo"));
        assert_eq!(clean(b"caf\xe9").as_deref(), Some("caf_"));
        // A truncated 3-byte sequence at the end is one sequence.
        assert_eq!(clean(b"a\xe2\x82").as_deref(), Some("a_"));
        // A bad continuation byte swallows the whole announced length.
        assert_eq!(clean(b"\xe2(ab").as_deref(), Some("_b"));
        // Overlong and surrogate encodings are invalid.
        assert_eq!(clean(b"\xc0\xafx").as_deref(), Some("_x"));
        assert_eq!(clean(b"\xed\xa0\x80x").as_deref(), Some("_x"));
        // Same input, same output: the name is stable across restarts.
        assert_eq!(clean(b"\x93\x94"), clean(b"\x93\x94"));
    }

    #[test]
    fn controls_slashes_and_direction_marks() {
        assert_eq!(clean(b"a\nb\0").as_deref(), Some("a_b"));
        assert_eq!(
            clean("evil\u{202e}txt.exe".as_bytes()).as_deref(),
            Some("eviltxt.exe")
        );
        assert_eq!(clean(b"a\\b/c").as_deref(), Some("abc"));
    }

    #[test]
    fn empty_and_dot_elements_like_libtorrent_2_0_8() {
        assert_eq!(path(&[b"", b""]), ["_", "_"]);
        assert_eq!(path(&[b"a", b".", b"b"]), ["a", "b"]);
        assert_eq!(path(&[b"."]), ["_"]);
        assert_eq!(path(&[b"\\", b"foo"]), ["foo"]);
        assert_eq!(path(&[b"a", b"/", b"bar"]), ["a", "bar"]);
        assert_eq!(path(&["\u{202e}..".as_bytes(), b"x"]), ["x"]);
        assert!(sanitize_path("f", &[b"a", b".", b"b"]).unwrap().changed);
    }

    #[test]
    fn long_elements_are_cut_keeping_the_extension() {
        let long = format!("{}.mkv", "x".repeat(300));
        assert_eq!(
            clean(long.as_bytes()),
            Some(format!("{}.mkv", "x".repeat(240)))
        );
        assert_eq!(clean("y".repeat(300).as_bytes()), Some("y".repeat(240)));
    }

    #[test]
    fn climbing_paths_are_refused() {
        let cases: [&[&[u8]]; 7] = [
            &[b"..", b"x"],
            &[b"a", b".."],
            &[b"/etc/passwd"],
            &[b"/", b"foo"],
            &[b"foo/../../bar"],
            &[b"a\\..\\b"],
            &[b"", b"..", b""],
        ];
        for parts in cases {
            assert!(sanitize_path("f", parts).is_err(), "{parts:?}");
        }
        assert_eq!(climbing(&[b"a", b"/", b"bar"]), None);
        assert_eq!(climbing(&[b"..."]), None);
    }
}
