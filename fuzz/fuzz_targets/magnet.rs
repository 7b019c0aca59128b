//! Magnet parsing never panics, and whatever parses survives `to_uri` unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use metainfo::magnet::Magnet;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Magnet::parse(s) {
        let again = Magnet::parse(&m.to_uri()).expect("to_uri output parses");
        assert_eq!(again, m);
    }
});
