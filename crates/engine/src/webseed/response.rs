//! What a web seed's answer to a range request means, as pure functions of its status and
//! headers (no I/O): accept the body, drop the web seed, or back off.

use std::time::Duration;

use crate::error::WebSeedError;

/// The longest `Retry-After` honoured; a server asking for more is retried after this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// One range request: `len` bytes at `offset` of a file of `file_len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RangeAsk {
    pub offset: u64,
    pub len: u64,
    pub file_len: u64,
}

impl RangeAsk {
    /// The `Range` header value.
    pub(crate) fn header(&self) -> String {
        format!("bytes={}-{}", self.offset, self.last())
    }

    /// The offset of the last byte asked for (`len` is at least 1).
    fn last(&self) -> u64 {
        self.offset.saturating_add(self.len).saturating_sub(1)
    }
}

/// Checks a response's status and headers against what was asked. `Ok` means the body is
/// exactly the asked range (its length is still checked while reading it).
pub(crate) fn check(
    ask: &RangeAsk,
    status: u16,
    content_range: Option<&str>,
    content_length: Option<u64>,
    retry_after: Option<&str>,
) -> Result<(), WebSeedError> {
    match status {
        206 => {
            let got = content_range.and_then(parse_content_range);
            let want_end = ask.last();
            match got {
                Some((start, end, total))
                    if start == ask.offset
                        && end == want_end
                        && total.is_none_or(|t| t == ask.file_len) => {}
                _ => {
                    return Err(WebSeedError::ContentRange {
                        asked: ask.header(),
                        got: content_range.unwrap_or("none").chars().take(80).collect(),
                    });
                }
            }
        }
        // A server that ignores `Range` sends the whole file: fine when that is what we asked.
        200 if ask.offset == 0 && ask.len == ask.file_len => {}
        200 => return Err(WebSeedError::NoRanges),
        404 | 410 => return Err(WebSeedError::Gone(status)),
        429 | 500..=599 => {
            return Err(WebSeedError::Unavailable {
                status,
                retry_after: retry_after.and_then(parse_retry_after),
            });
        }
        _ => return Err(WebSeedError::Status(status)),
    }
    match content_length {
        Some(n) if n != ask.len => Err(WebSeedError::BodyLength {
            asked: ask.len,
            got: n,
        }),
        _ => Ok(()),
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (start <= end && total.is_none_or(|t| end < t)).then_some((start, end, total))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by mirrors; it is ignored),
/// capped at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASK: RangeAsk = RangeAsk {
        offset: 100,
        len: 50,
        file_len: 1000,
    };

    #[test]
    fn a_matching_partial_answer_is_accepted() {
        assert!(check(&ASK, 206, Some("bytes 100-149/1000"), Some(50), None).is_ok());
        assert!(check(&ASK, 206, Some("bytes 100-149/*"), None, None).is_ok());
        assert_eq!(ASK.header(), "bytes=100-149");
    }

    #[test]
    fn a_wrong_range_or_length_is_an_error() {
        for cr in [
            "bytes 0-49/1000",
            "bytes 100-150/1000",
            "bytes 100-149/999",
            "junk",
        ] {
            assert!(
                matches!(
                    check(&ASK, 206, Some(cr), None, None),
                    Err(WebSeedError::ContentRange { .. })
                ),
                "{cr}"
            );
        }
        assert!(matches!(
            check(&ASK, 206, Some("bytes 100-149/1000"), Some(51), None),
            Err(WebSeedError::BodyLength { asked: 50, got: 51 })
        ));
        assert!(matches!(
            check(&ASK, 200, None, Some(1000), None),
            Err(WebSeedError::NoRanges)
        ));
        let whole = RangeAsk {
            offset: 0,
            len: 1000,
            file_len: 1000,
        };
        assert!(check(&whole, 200, None, Some(1000), None).is_ok());
    }

    #[test]
    fn statuses_say_drop_or_back_off() {
        assert!(matches!(
            check(&ASK, 404, None, None, None),
            Err(WebSeedError::Gone(404))
        ));
        assert!(matches!(
            check(&ASK, 410, None, None, None),
            Err(WebSeedError::Gone(410))
        ));
        assert!(matches!(
            check(&ASK, 503, None, None, Some("120")),
            Err(WebSeedError::Unavailable { status: 503, retry_after: Some(d) }) if d == Duration::from_secs(120)
        ));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert!(matches!(
            check(&ASK, 403, None, None, None),
            Err(WebSeedError::Status(403))
        ));
    }
}
