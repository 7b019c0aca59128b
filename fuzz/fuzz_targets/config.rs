//! The TOML config file (and the rates and sizes written in it) never panics the parser.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = daemon::fuzzing::parse_config(text);
    }
});
