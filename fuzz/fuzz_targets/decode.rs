//! Fuzz target: the decoders never panic, and anything they accept re-encodes (walking the decoded
//! structure, not copying the raw span) to exactly the bytes it was decoded from.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Re-encodes `v` structurally.
fn reencode(v: &bencode::Value<'_>) -> Vec<u8> {
    let mut e = bencode::Encoder::new();
    e.value(v);
    e.finish()
}

fuzz_target!(|data: &[u8]| {
    let strict = bencode::decode(data);
    if let Ok(v) = &strict {
        assert_eq!(v.raw(), data);
        assert_eq!(reencode(v), data, "canonical input must round-trip");
    }
    let lenient = bencode::decode_lenient(data);
    if let Ok(v) = &lenient {
        assert_eq!(
            reencode(v),
            data,
            "lenient input must round-trip in its own key order"
        );
    }
    // Strict acceptance implies lenient acceptance of the same value.
    if let (Ok(s), Ok(l)) = (&strict, &lenient) {
        assert_eq!(s, l);
    }
    assert!(strict.is_err() || lenient.is_ok());
    match bencode::decode_prefix(data) {
        Ok((v, used)) => {
            assert_eq!(Some(v.raw()), data.get(..used));
            assert_eq!(reencode(&v), v.raw());
            assert_eq!(lenient.is_ok(), used == data.len());
        }
        Err(_) => assert!(lenient.is_err()),
    }
    // The forgiving decoder (for .torrent files) accepts everything the others accept, with the
    // same span, and its raw spans always cover exactly what was consumed.
    match bencode::decode_forgiving_prefix(data) {
        Ok((v, used)) => {
            assert_eq!(Some(v.raw()), data.get(..used));
            if let Ok((p, p_used)) = bencode::decode_prefix(data) {
                assert_eq!(p_used, used);
                assert_eq!(p, v);
            }
        }
        Err(_) => assert!(bencode::decode_prefix(data).is_err()),
    }
});
