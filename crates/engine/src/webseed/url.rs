//! Web seed URLs (BEP 19): which `url-list` entries are usable, and the URL of each file.

use metainfo::Info;

/// True for an absolute `http://` or `https://` URL with a host (the Internet Archive ships a
/// relative one; those are skipped, not an error).
pub(crate) fn is_usable(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return false;
    }
    reqwest::Url::parse(url).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

/// The URL of file `index` of the torrent on the web seed `base`: a single-file torrent's base
/// is the file itself unless it ends in `/` (then the name is appended); a multi-file torrent's
/// files are `base/name/dir/file` (a `/` added when missing). Every appended path component is
/// percent-encoded.
pub(crate) fn file_url(base: &str, info: &Info, index: usize) -> Option<String> {
    let file = info.files.get(index)?;
    if !info.multi_file && !base.ends_with('/') {
        return Some(base.to_owned());
    }
    let mut url = base.to_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    // `path` is relative to the data root and starts with the torrent's name.
    let mut first = true;
    for component in file.path.components() {
        if !first {
            url.push('/');
        }
        first = false;
        encode_into(&component.as_os_str().to_string_lossy(), &mut url);
    }
    Some(url)
}

/// Percent-encodes all but RFC 3986 unreserved characters.
fn encode_into(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use metainfo::FileEntry;

    use super::*;

    fn info(multi: bool, paths: &[&str]) -> Info {
        Info {
            name: "a b".into(),
            piece_length: 16384,
            pieces: vec![[0; 20]].into(),
            files: paths
                .iter()
                .map(|p| FileEntry {
                    path: (*p).into(),
                    length: 1,
                    offset: 0,
                })
                .collect(),
            multi_file: multi,
            private: false,
            total_length: 1,
            v2: None,
        }
    }

    #[test]
    fn only_absolute_http_urls_are_used() {
        assert!(is_usable("http://127.0.0.1:8080/x"));
        assert!(is_usable("HTTPS://mirror.example/pub/"));
        assert!(!is_usable("/download/item/file.iso"));
        assert!(!is_usable("ftp://mirror.example/x"));
        assert!(!is_usable("http://"));
        assert!(!is_usable(""));
    }

    #[test]
    fn file_urls_follow_bep_19() {
        let single = info(false, &["a b"]);
        assert_eq!(
            file_url("http://h/f.iso", &single, 0).unwrap(),
            "http://h/f.iso"
        );
        assert_eq!(
            file_url("http://h/d/", &single, 0).unwrap(),
            "http://h/d/a%20b"
        );
        let multi = info(true, &["a b/dir/é&.txt", "a b/x"]);
        assert_eq!(
            file_url("http://h/pub", &multi, 0).unwrap(),
            "http://h/pub/a%20b/dir/%C3%A9%26.txt"
        );
        assert_eq!(
            file_url("http://h/pub/", &multi, 1).unwrap(),
            "http://h/pub/a%20b/x"
        );
        assert_eq!(file_url("http://h/pub/", &multi, 2), None);
    }
}
