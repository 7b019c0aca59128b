//! Parsing and printing sizes, rates and durations.
//!
//! Suffixes follow `dd(1)`: a bare `K`/`M`/`G` and the binary `KiB`/`MiB`/`GiB` are powers of
//! 1024, `KB`/`MB`/`GB` are powers of 1000; all case-insensitive, `B` or nothing means bytes, and a
//! trailing `/s` is allowed on rates. The parsers double as clap value parsers, so a bad value
//! exits 2 naming the argument.

use std::time::Duration;

/// Smallest piece size a torrent may use (16 KiB).
pub const MIN_PIECE_SIZE: u64 = 16 * 1024;
/// Largest piece size a torrent may use (64 MiB).
pub const MAX_PIECE_SIZE: u64 = 64 * 1024 * 1024;

/// Why a size or rate was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// Empty input.
    #[error("empty value; expected a number like 500KiB")]
    Empty,
    /// The number part is missing or malformed.
    #[error("{0:?} is not a number; expected something like 500KiB or 10MiB")]
    BadNumber(String),
    /// The suffix is not one we know.
    #[error("unknown unit {0:?}; use B, KiB, MiB, GiB (1024) or KB, MB, GB (1000)")]
    BadUnit(String),
    /// The value does not fit in 64 bits.
    #[error("value too large")]
    TooLarge,
    /// A piece size that is not a power of two in 16 KiB..=64 MiB.
    #[error("piece size must be a power of two from 16KiB to 64MiB, got {0} bytes")]
    BadPieceSize(u64),
}

/// Parses a byte count with an optional unit: `4096`, `256KiB`, `1.5M`, `2GB`.
pub fn parse_bytes(s: &str) -> Result<u64, UnitError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err(UnitError::BadNumber(s.to_owned()));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(UnitError::BadUnit(unit.to_owned())),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(multiplier).ok_or(UnitError::TooLarge);
    }
    let f: f64 = num
        .parse()
        .map_err(|_| UnitError::BadNumber(s.to_owned()))?;
    let v = (f * multiplier as f64).round();
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(UnitError::TooLarge);
    }
    Ok(v as u64)
}

/// Parses a rate in bytes per second (`500KiB`, `10MiB/s`, `0`); `0` means unlimited.
pub fn parse_rate(s: &str) -> Result<u64, UnitError> {
    let s = s.trim();
    let s = s
        .strip_suffix("/s")
        .or_else(|| s.strip_suffix("/S"))
        .unwrap_or(s);
    parse_bytes(s)
}

/// Parses a piece size: a power of two from 16 KiB to 64 MiB (`256KiB`, `4M`, `1048576`).
pub fn parse_size(s: &str) -> Result<u32, UnitError> {
    let n = parse_bytes(s)?;
    if !n.is_power_of_two() || !(MIN_PIECE_SIZE..=MAX_PIECE_SIZE).contains(&n) {
        return Err(UnitError::BadPieceSize(n));
    }
    u32::try_from(n).map_err(|_| UnitError::BadPieceSize(n))
}

/// Formats a byte count for people: `512 B`, `16.0 KiB`, `1.5 GiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Formats a rate in bytes per second: `0 B/s`, `1.2 MiB/s`.
pub fn format_rate(bytes_per_sec: u64) -> String {
    format!("{}/s", format_bytes(bytes_per_sec))
}

/// Formats a duration as a short ETA: `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else if mins > 0 {
        format!("{mins}m{secs:02}s")
    } else {
        format!("{secs}s")
    }
}

/// `1 torrent`, `2 torrents`, `0 seeds`: a count and its noun, singular for exactly one (the
/// plural adds an `s`).
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(super::count(1u32, "torrent"), "1 torrent");
        assert_eq!(super::count(0u32, "seed"), "0 seeds");
        assert_eq!(super::count(44u64, "peer"), "44 peers");
    }

    use super::*;

    #[test]
    fn bytes_with_units() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("12B"), Ok(12));
        assert_eq!(parse_bytes("500KiB"), Ok(500 * 1024));
        assert_eq!(parse_bytes("500kib"), Ok(500 * 1024));
        assert_eq!(parse_bytes("500K"), Ok(500 * 1024));
        assert_eq!(parse_bytes("500KB"), Ok(500_000));
        assert_eq!(parse_bytes("10MiB"), Ok(10 << 20));
        assert_eq!(parse_bytes("10 MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_bytes(" 7 "), Ok(7));
    }

    #[test]
    fn bad_bytes() {
        assert_eq!(parse_bytes(""), Err(UnitError::Empty));
        assert!(matches!(parse_bytes("KiB"), Err(UnitError::BadNumber(_))));
        assert!(matches!(
            parse_bytes("1.2.3K"),
            Err(UnitError::BadNumber(_))
        ));
        assert!(matches!(parse_bytes(".5K"), Err(UnitError::BadNumber(_))));
        assert!(matches!(parse_bytes("-5"), Err(UnitError::BadNumber(_))));
        assert!(matches!(
            parse_bytes("5 apples"),
            Err(UnitError::BadUnit(_))
        ));
        assert!(matches!(parse_bytes("5XiB"), Err(UnitError::BadUnit(_))));
        assert_eq!(
            parse_bytes("99999999999999999999"),
            Err(UnitError::TooLarge)
        );
        assert_eq!(parse_bytes("20000000T"), Err(UnitError::TooLarge));
        assert_eq!(parse_bytes("1e30"), Err(UnitError::BadUnit("e30".into())));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("500KiB"), Ok(512_000));
        assert_eq!(parse_rate("10MiB/s"), Ok(10 << 20));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn piece_sizes() {
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("256KiB"), Ok(262_144));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("8KiB"), Err(UnitError::BadPieceSize(8192)));
        assert_eq!(
            parse_size("128MiB"),
            Err(UnitError::BadPieceSize(128 << 20))
        );
        assert_eq!(parse_size("300KB"), Err(UnitError::BadPieceSize(300_000)));
        assert_eq!(parse_size("0"), Err(UnitError::BadPieceSize(0)));
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(format_rate(10 << 20), "10.0 MiB/s");
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(Duration::from_secs(0)), "0s");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(192)), "3m12s");
        assert_eq!(format_duration(Duration::from_secs(7500)), "2h05m");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 86_400 + 4 * 3600 + 59)),
            "3d04h"
        );
    }
}
