//! The dates feeds carry, as Unix seconds (UTC): RFC 2822 (`pubDate` of RSS 2.0), RFC 3339 /
//! W3C-DTF (`updated`/`published` of Atom, `dc:date` of RSS 1.0), and the columns of web
//! servers' directory indexes (nginx `10-Feb-2024 12:34`, Apache `2024-02-10 12:34`, lighttpd
//! `2024-Feb-10 12:34:56`, or a bare `2024-02-10`). Dates that do not parse are `None`: a feed
//! with odd dates still works, it is only ordered by position instead.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of a UTC date and time, or `None` when a field is out of range.
fn unix(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    if !(1000..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s))
}

/// The month number of an English three-letter abbreviation (any case).
fn month_of(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Parses all-digit text.
fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HH:MM` or `HH:MM:SS` (fractions of a second are dropped).
fn time_of_day(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.split(':');
    let h = num(parts.next()?)?;
    let m = num(parts.next()?)?;
    let sec = match parts.next() {
        None => 0,
        Some(p) => num(p.split('.').next().unwrap_or(p))?,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((h, m, sec))
}

/// Offset in seconds east of UTC of an RFC 2822 zone: `+0100`, `-0500`, `GMT`, `UT`, `Z`, or
/// a North American name. Unknown names count as UTC, as RFC 2822 says of military zones.
fn zone_offset(z: &str) -> Option<i64> {
    let signed = match z.as_bytes().first() {
        Some(b'+') => Some((1, &z[1..])),
        Some(b'-') => Some((-1, &z[1..])),
        _ => None,
    };
    if let Some((sign, digits)) = signed {
        let digits = digits.replace(':', "");
        if digits.len() != 4 {
            return None;
        }
        let h: i64 = num(digits.get(..2)?)?;
        let m: i64 = num(digits.get(2..)?)?;
        return Some(sign * (h * 3600 + m * 60));
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        _ => 0,
    };
    Some(hours * 3600)
}

/// RFC 2822: `[Sat, ]10 Feb 2024 12:34[:56] +0000`.
pub(crate) fn rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((_, rest)) => rest,
        None => s,
    };
    let mut it = s.split_whitespace();
    let day = num(it.next()?)?;
    let month = month_of(it.next()?)?;
    let year: i64 = num(it.next()?)?;
    // Two-digit years (RFC 822): 49 and below are 20xx.
    let year = match year {
        0..=49 => year + 2000,
        50..=99 => year + 1900,
        _ => year,
    };
    let (h, m, sec) = time_of_day(it.next()?)?;
    let offset = match it.next() {
        Some(z) => zone_offset(z)?,
        None => 0,
    };
    Some(unix(year, month, day, h, m, sec)? - offset)
}

/// RFC 3339 and its W3C-DTF relatives: `2024-02-10T12:34:56[.789](Z|+01:00)`, a space instead of
/// the `T`, or a bare date `2024-02-10`.
pub(crate) fn rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (s.get(..i)?, s.get(i + 1..)?),
        None => (s, ""),
    };
    let (year, month, day) = iso_date(date)?;
    if rest.is_empty() {
        return unix(year, month, day, 0, 0, 0);
    }
    let zone_at = rest.find(['Z', 'z', '+', '-']);
    let (clock, zone) = match zone_at {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, ""),
    };
    let (h, m, sec) = time_of_day(clock)?;
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z => zone_offset(z)?,
    };
    Some(unix(year, month, day, h, m, sec)? - offset)
}

/// `YYYY-MM-DD`.
fn iso_date(s: &str) -> Option<(i64, u32, u32)> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    Some((num(y)?, num(m)?, num(d)?))
}

/// A date in one word of a directory index: `10-Feb-2024`, `2024-02-10` or `2024-Feb-10`.
fn index_date(word: &str) -> Option<(i64, u32, u32)> {
    if let Some(ymd) = iso_date(word) {
        return Some(ymd);
    }
    let mut parts = word.split('-');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    if a.len() == 4 {
        Some((num(a)?, month_of(b)?, num(c)?))
    } else {
        Some((num(c)?, month_of(b)?, num(a)?))
    }
}

/// The first date (with the time of day that follows it, if any) in the text of a directory
/// index row, as the server printed it (its local time; treated as UTC, which only matters for
/// ordering, and all rows share the zone).
pub(crate) fn in_index_row(text: &str) -> Option<i64> {
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word.len() < 8 || word.len() > 11 {
            continue;
        }
        let Some((y, mo, d)) = index_date(word) else {
            continue;
        };
        let (h, mi, s) = words
            .peek()
            .and_then(|t| time_of_day(t))
            .unwrap_or((0, 0, 0));
        if let Some(t) = unix(y, mo, d, h, mi, s) {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-10 12:34:56 UTC.
    const T: i64 = 1_707_568_496;

    #[test]
    fn rfc2822_forms() {
        assert_eq!(rfc2822("Sat, 10 Feb 2024 12:34:56 +0000"), Some(T));
        assert_eq!(rfc2822("Sat, 10 Feb 2024 12:34:56 GMT"), Some(T));
        assert_eq!(rfc2822("10 Feb 2024 13:34:56 +0100"), Some(T));
        assert_eq!(rfc2822("Sat, 10 Feb 2024 07:34:56 EST"), Some(T));
        assert_eq!(rfc2822("Sat, 10 Feb 24 12:34:56 Z"), Some(T));
        assert_eq!(rfc2822("Sat, 10 Feb 2024 12:34 +0000"), Some(T - 56));
        assert_eq!(rfc2822("yesterday"), None);
        assert_eq!(rfc2822("Sat, 32 Feb 2024 12:34:56 +0000"), None);
        assert_eq!(rfc2822("Sat, 10 Foo 2024 12:34:56 +0000"), None);
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(rfc3339("2024-02-10T12:34:56Z"), Some(T));
        assert_eq!(rfc3339("2024-02-10T12:34:56.789Z"), Some(T));
        assert_eq!(rfc3339("2024-02-10T14:34:56+02:00"), Some(T));
        assert_eq!(rfc3339("2024-02-10T07:34:56-05:00"), Some(T));
        assert_eq!(rfc3339("2024-02-10 12:34:56"), Some(T));
        assert_eq!(rfc3339("2024-02-10"), Some(T - 45_296));
        assert_eq!(
            rfc3339("0999-01-01T00:00:00Z"),
            None,
            "years before 1000 are refused"
        );
        assert_eq!(rfc3339("2024-13-10T12:34:56Z"), None);
        assert_eq!(rfc3339("2024-02-10T12:34:56+2"), None);
    }

    #[test]
    fn index_rows() {
        // nginx
        assert_eq!(in_index_row("   10-Feb-2024 12:34     25632"), Some(T - 56));
        // Apache (table cells already stripped of tags)
        assert_eq!(in_index_row(" 2024-02-10 12:34   1.1M "), Some(T - 56));
        // lighttpd
        assert_eq!(in_index_row("2024-Feb-10 12:34:56 1.1M"), Some(T));
        // a bare date
        assert_eq!(
            in_index_row("Workstation 2.0 GB 2024-02-10"),
            Some(T - 45_296)
        );
        assert_eq!(in_index_row("- 25632"), None);
        assert_eq!(in_index_row("12-34-5678"), None);
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
