//! Edge cases of the decoder (the canonical-form table of `shared/research/crates.md` §1.7 and more).

use super::*;
use crate::{Encoder, MAX_DEPTH};

fn what(r: Result<Value<'_>, Error>) -> &'static str {
    match r {
        Err(Error::Invalid { what, .. }) => what,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

#[test]
fn scalars() {
    assert_eq!(decode(b"i0e").unwrap().as_int(), Some(0));
    assert_eq!(decode(b"i-42e").unwrap().as_int(), Some(-42));
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().as_int(),
        Some(i64::MAX)
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().as_int(),
        Some(i64::MIN)
    );
    assert_eq!(decode(b"0:").unwrap().as_bytes(), Some(&b""[..]));
    assert_eq!(
        decode(b"3:a\xffc").unwrap().as_bytes(),
        Some(&b"a\xffc"[..])
    );
    assert_eq!(decode(b"3:a\xffc").unwrap().as_str(), None);
    assert_eq!(decode(b"4:spam").unwrap().as_str(), Some("spam"));
}

#[test]
fn non_canonical_integers_are_rejected() {
    assert_eq!(what(decode(b"i+5e")), "plus sign in integer");
    assert_eq!(what(decode(b"i-0e")), "negative zero");
    assert_eq!(what(decode(b"i05e")), "leading zero in integer");
    assert_eq!(what(decode(b"i-05e")), "leading zero in integer");
    assert_eq!(what(decode(b"i00e")), "leading zero in integer");
    assert_eq!(what(decode(b"ie")), "integer without digits");
    assert_eq!(what(decode(b"i-e")), "integer without digits");
    assert_eq!(what(decode(b"i1.5e")), "unexpected byte in integer");
    assert_eq!(what(decode(b"i 1e")), "unexpected byte in integer");
    assert_eq!(
        what(decode(b"i9223372036854775808e")),
        "integer out of range"
    );
    assert_eq!(
        what(decode(b"i-9223372036854775809e")),
        "integer out of range"
    );
    assert_eq!(
        what(decode(b"i99999999999999999999999999999e")),
        "integer out of range"
    );
    assert_eq!(decode(b"i12"), Err(Error::Eof(3)));
    assert_eq!(decode(b"i"), Err(Error::Eof(1)));
}

#[test]
fn string_lengths_are_canonical_and_bounded() {
    assert_eq!(what(decode(b"03:abc")), "leading zero in string length");
    assert_eq!(what(decode(b"00:")), "leading zero in string length");
    assert_eq!(what(decode(b"3x")), "unexpected byte in string length");
    assert_eq!(decode(b"4:abc"), Err(Error::Eof(5)));
    assert_eq!(decode(b"3"), Err(Error::Eof(1)));
    assert_eq!(decode(b"18446744073709551615:x"), Err(Error::Eof(22)));
    assert_eq!(
        what(decode(b"99999999999999999999999:x")),
        "string length out of range"
    );
}

#[test]
fn trailing_data_is_rejected_except_by_decode_prefix() {
    assert_eq!(decode(b"i1ex"), Err(Error::Trailing(3)));
    assert_eq!(decode_lenient(b"i1ei2e"), Err(Error::Trailing(3)));
    assert_eq!(decode(b"le "), Err(Error::Trailing(2)));
    let (v, used) = decode_prefix(b"d1:ai1eeXYZ").unwrap();
    assert_eq!(used, 8);
    assert_eq!(v.raw(), b"d1:ai1ee");
    assert_eq!(v.get(b"a").and_then(Value::as_int), Some(1));
    assert_eq!(decode(b""), Err(Error::Eof(0)));
}

#[test]
fn key_order_strict_and_lenient() {
    assert_eq!(what(decode(b"d1:bi1e1:ai2ee")), "dict keys not sorted");
    let v = decode_lenient(b"d1:bi1e1:ai2ee").unwrap();
    assert_eq!(v.get(b"a").and_then(Value::as_int), Some(2));
    assert_eq!(v.get(b"b").and_then(Value::as_int), Some(1));
    assert_eq!(
        v.as_dict()
            .unwrap()
            .iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        [b"b", b"a"]
    );
    // Duplicates: adjacent (caught at once) and non-adjacent (caught when the dict closes).
    assert_eq!(what(decode(b"d1:ai1e1:ai2ee")), "duplicate dict key");
    assert_eq!(
        what(decode_lenient(b"d1:ai1e1:ai2ee")),
        "duplicate dict key"
    );
    assert_eq!(
        what(decode_lenient(b"d1:ai1e1:ci1e1:bi1e1:ai2ee")),
        "duplicate dict key"
    );
    assert_eq!(
        what(decode_prefix(b"d1:bi1e1:ai1e1:bi2ee").map(|(v, _)| v)),
        "duplicate dict key"
    );
    // A prefix sorts first.
    assert!(decode(b"d1:ai1e2:aai2ee").is_ok());
    assert_eq!(what(decode(b"d2:aai1e1:ai2ee")), "dict keys not sorted");
    // Raw byte order, not UTF-8 or case order.
    assert!(decode(b"d1:Zi1e1:ai2e1:\xffi3ee").is_ok());
}

#[test]
fn malformed_dicts_and_stray_bytes() {
    assert_eq!(what(decode(b"di1ei2ee")), "dict key is not a byte string");
    assert_eq!(what(decode(b"dlei2ee")), "dict key is not a byte string");
    assert_eq!(what(decode(b"d1:ae")), "dict key without a value");
    assert_eq!(what(decode(b"e")), "unexpected end marker");
    assert_eq!(what(decode(b"x")), "unexpected byte");
    assert_eq!(what(decode(b"-1")), "unexpected sign outside an integer");
    assert_eq!(what(decode(b"li1e:e")), "unexpected byte");
    assert_eq!(decode(b"l"), Err(Error::Eof(1)));
    assert_eq!(decode(b"d1:a"), Err(Error::Eof(4)));
    assert_eq!(decode(b"l4:spami3e"), Err(Error::Eof(10)));
}

#[test]
fn raw_spans_are_exact_subslices() {
    let input = b"d4:infod6:lengthi5e4:name1:xe5:otherli1e2:abee";
    let v = decode(input).unwrap();
    assert_eq!(v.raw(), &input[..]);
    let info = v.get(b"info").unwrap();
    assert_eq!(info.raw(), b"d6:lengthi5e4:name1:xe");
    assert_eq!(info.get(b"length").unwrap().raw(), b"i5e");
    let other = v.get(b"other").unwrap().as_list().unwrap();
    assert_eq!(
        other.iter().map(Value::raw).collect::<Vec<_>>(),
        [&b"i1e"[..], b"2:ab"]
    );
    // Subslice of the input, not a copy.
    assert!(std::ptr::eq(info.raw().as_ptr(), input[7..].as_ptr()));
    assert_eq!(v.as_dict().unwrap().len(), 2);
    assert!(decode(b"de").unwrap().as_dict().unwrap().is_empty());
    assert!(v.get(b"missing").is_none());
    assert!(info.as_list().is_none() && info.as_int().is_none() && info.as_bytes().is_none());
}

#[test]
fn depth_limit() {
    let nested = |n: usize| [vec![b'l'; n], vec![b'e'; n]].concat();
    assert!(decode(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        decode(&nested(MAX_DEPTH + 1)),
        Err(Error::TooDeep(MAX_DEPTH))
    );
    // Dicts count too, and a huge input is refused without deep recursion or huge memory.
    let mut dicts = b"d1:a".repeat(MAX_DEPTH);
    dicts.extend_from_slice(b"i1e");
    dicts.extend(std::iter::repeat_n(b'e', MAX_DEPTH));
    assert!(decode(&dicts).is_ok());
    assert_eq!(decode(&nested(5_000_000)), Err(Error::TooDeep(MAX_DEPTH)));
}

#[test]
fn encoder_value_round_trips() {
    for input in [
        &b"d1:ai1e1:bl3:xyzi-7ed1:cdeee2:zzi0ee"[..],
        b"le",
        b"i-9223372036854775808e",
        b"0:",
    ] {
        let v = decode(input).unwrap();
        let mut e = Encoder::new();
        e.value(&v);
        assert_eq!(e.finish(), input);
    }
    // Lenient input is written back in its own order.
    let input = b"d1:bi1e1:ai2ee";
    let mut e = Encoder::new();
    e.value(&decode_lenient(input).unwrap());
    assert_eq!(e.finish(), input);
}

#[test]
fn error_messages_carry_offsets() {
    assert_eq!(
        decode(b"li1ei05ee").unwrap_err().to_string(),
        "leading zero in integer at byte 5"
    );
    assert_eq!(
        decode(b"i1ex").unwrap_err().to_string(),
        "trailing data at byte 3"
    );
    assert_eq!(
        decode(&[b'l'; 100]).unwrap_err().to_string(),
        format!("nesting deeper than {MAX_DEPTH} at byte {MAX_DEPTH}")
    );
}

#[test]
fn forgiving_prefix_keeps_duplicates_first_wins_and_stops_at_the_value_end() {
    let input = b"d1:bi1e1:ai2e1:bi3ee\n";
    let (v, used) = decode_forgiving_prefix(input).unwrap();
    assert_eq!(used, input.len() - 1);
    assert_eq!(v.raw(), &input[..used]);
    let d = v.as_dict().unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d.get(b"b").and_then(Value::as_int), Some(1));
    assert_eq!(d.get(b"a").and_then(Value::as_int), Some(2));
    // The strict decoders still refuse the same dict.
    assert!(decode_lenient(&input[..used]).is_err());
    assert!(decode(&input[..used]).is_err());
}

#[test]
fn forgiving_prefix_accepts_non_canonical_numbers_only() {
    let (v, _) = decode_forgiving_prefix(b"li05ei-0e03:abce").unwrap();
    let l = v.as_list().unwrap();
    assert_eq!(l[0].as_int(), Some(5));
    assert_eq!(l[1].as_int(), Some(0));
    assert_eq!(l[2].as_bytes(), Some(&b"abc"[..]));
    for bad in [&b"d"[..], b"di1ei2ee", b"i-e", b"ie", b"4:abc", b"x", b"i1"] {
        assert!(decode_forgiving_prefix(bad).is_err(), "{bad:?}");
    }
    assert!(decode_forgiving_prefix(&[b'l'; 100]).is_err());
}
