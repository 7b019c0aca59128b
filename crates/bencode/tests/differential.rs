//! Differential test against `bip_bencode` 0.4: on a corpus of valid and randomly mutated inputs,
//! whenever both decoders accept an input they must agree on the structure and on the raw span of
//! every value. Whenever exactly one accepts, the reason must be one of the known differences:
//!
//! * bip parses integers (and dict key lengths) with `i64::from_str_radix`, which accepts a `+`
//!   sign: it takes `i+5e` and `d+1:ai1ee`, we reject both (non-canonical).
//! * bip's key-order check (`check_key_sort`) is off by default, so its default mode is compared
//!   with our `decode_lenient`, and its sorted mode with our `decode`.
//! * bip's nesting limit is configurable and counts differently; it is set far above ours here,
//!   so the only depth difference is our `TooDeep` for nesting beyond `MAX_DEPTH`.
//!
//! bip's errors are slow under `RUST_BACKTRACE=1` (error-chain captures a backtrace), which is
//! why the iteration count is moderate.

use std::collections::BTreeMap;

use bip_bencode::{BDecodeOpt, BRefAccess, BencodeRef, BencodeRefKind};

#[derive(Debug, PartialEq, Eq)]
enum Tree {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Node>),
    Dict(BTreeMap<Vec<u8>, Node>),
}

/// A value with its raw span, in a form both decoders convert to.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    raw: Vec<u8>,
    tree: Tree,
}

fn ours(v: &bencode::Value<'_>) -> Node {
    let tree = if let Some(i) = v.as_int() {
        Tree::Int(i)
    } else if let Some(b) = v.as_bytes() {
        Tree::Bytes(b.to_vec())
    } else if let Some(l) = v.as_list() {
        Tree::List(l.iter().map(ours).collect())
    } else if let Some(d) = v.as_dict() {
        Tree::Dict(d.iter().map(|(k, v)| (k.to_vec(), ours(v))).collect())
    } else {
        unreachable!("a value is one of four kinds")
    };
    Node {
        raw: v.raw().to_vec(),
        tree,
    }
}

fn bips(v: &BencodeRef<'_>) -> Node {
    let tree = match v.kind() {
        BencodeRefKind::Int(i) => Tree::Int(i),
        BencodeRefKind::Bytes(b) => Tree::Bytes(b.to_vec()),
        BencodeRefKind::List(l) => {
            Tree::List((0..l.len()).filter_map(|i| l.get(i)).map(bips).collect())
        }
        BencodeRefKind::Dict(d) => Tree::Dict(
            d.to_list()
                .into_iter()
                .map(|(k, v)| (k.to_vec(), bips(v)))
                .collect(),
        ),
    };
    Node {
        raw: v.buffer().to_vec(),
        tree,
    }
}

/// A random element of a non-empty slice.
fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// Random valid bencode with sorted keys, built with our encoder.
fn random_value(rng: &mut fastrand::Rng, e: &mut bencode::Encoder, depth: usize) {
    match rng.u8(0..if depth > 4 { 2 } else { 4 }) {
        0 => e.int(match rng.u8(0..4) {
            0 => rng.i64(-3..3),
            1 => rng.i64(..),
            2 => pick(rng, &[i64::MIN, i64::MAX, 0, -1]),
            _ => rng.i64(-100_000..100_000),
        }),
        1 => {
            let len = rng.usize(0..12);
            let alphabet = b"ab:ie0123456789-+ld\xff";
            let s: Vec<u8> = (0..len).map(|_| pick(rng, alphabet)).collect();
            e.bytes(&s);
        }
        2 => e.list(|e| (0..rng.usize(0..4)).for_each(|_| random_value(rng, e, depth + 1))),
        _ => {
            let mut keys: Vec<Vec<u8>> = (0..rng.usize(0..5))
                .map(|_| (0..rng.usize(0..4)).map(|_| rng.u8(b'a'..=b'd')).collect())
                .collect();
            keys.sort();
            keys.dedup();
            e.dict(|d| {
                for k in &keys {
                    d.entry(k, |e| random_value(rng, e, depth + 1));
                }
            });
        }
    }
}

const SEEDS: &[&[u8]] = &[
    b"d8:announce22:http://127.0.0.1:6969/13:creation datei1700000000e4:infod6:lengthi1048576e4:name8:file.bin12:piece lengthi262144e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
    b"d8:completei5e10:incompletei0e8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e",
    b"d4:infod5:filesld6:lengthi3e4:pathl1:a1:beed6:lengthi0e4:pathl1:ceee4:name1:x12:piece lengthi16384e6:pieces20:01234567890123456789ee",
    b"li-1ei0ei9223372036854775807e0:l1:xe4:\x00\x01\x02\x03dee",
    b"d1:md11:ut_metadatai3ee13:metadata_sizei31235ee",
];

/// One random mutation of `input`.
fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>) {
    const TOKENS: &[u8] = b"ilde:0123456789-+";
    if input.is_empty() {
        input.push(pick(rng, TOKENS));
        return;
    }
    let at = rng.usize(0..input.len());
    match rng.u8(0..9) {
        0 => input[at] ^= 1 << rng.u8(0..8),
        1 => input[at] = rng.u8(..),
        2 => input[at] = pick(rng, TOKENS),
        3 => input.insert(at, pick(rng, TOKENS)),
        4 => {
            let end = rng.usize(at..=input.len());
            input.drain(at..end);
        }
        5 => {
            let end = rng.usize(at..=input.len().min(at + 16));
            let chunk = input[at..end].to_vec();
            input.splice(at..at, chunk);
        }
        6 => input.truncate(at),
        7 => {
            // Swap two ranges of the same length (often reorders dict entries).
            let b = rng.usize(0..input.len());
            let n = rng.usize(1..8).min(input.len() - at.max(b));
            if at + n <= b || b + n <= at {
                for i in 0..n {
                    input.swap(at + i, b + i);
                }
            }
        }
        _ => {
            input.insert(0, if rng.bool() { b'l' } else { b'd' });
            if input[0] == b'd' {
                input.splice(1..1, *b"1:x");
            }
            input.push(b'e');
        }
    }
}

/// Known, documented reasons for our decoder to reject what bip accepts.
fn known_stricter(err: &bencode::Error) -> bool {
    matches!(
        err,
        bencode::Error::Invalid {
            what: "plus sign in integer" | "dict key is not a byte string",
            ..
        } | bencode::Error::TooDeep(_)
    )
}

#[derive(Default, Debug)]
struct Counts {
    both_accept: usize,
    both_reject: usize,
    only_bip: usize,
    runs: usize,
}

fn compare(input: &[u8], counts: &mut Counts) {
    counts.runs += 1;
    let pairs: [(Result<bencode::Value<'_>, bencode::Error>, BDecodeOpt); 2] = [
        (bencode::decode(input), BDecodeOpt::new(1000, true, true)),
        (
            bencode::decode_lenient(input),
            BDecodeOpt::new(1000, false, true),
        ),
    ];
    for (mine, opt) in pairs {
        let theirs = BencodeRef::decode(input, opt);
        match (mine, theirs) {
            (Ok(m), Ok(t)) => {
                counts.both_accept += 1;
                assert_eq!(
                    ours(&m),
                    bips(&t),
                    "decoders disagree on {:?}",
                    input.escape_ascii().to_string()
                );
            }
            (Err(_), Err(_)) => counts.both_reject += 1,
            (Err(e), Ok(_)) => {
                counts.only_bip += 1;
                assert!(
                    known_stricter(&e),
                    "we reject ({e}) what bip accepts: {:?}",
                    input.escape_ascii().to_string()
                );
                if let bencode::Error::Invalid {
                    what: "dict key is not a byte string",
                    at,
                } = e
                {
                    assert_eq!(
                        input.get(at),
                        Some(&b'+'),
                        "{:?}",
                        input.escape_ascii().to_string()
                    );
                }
            }
            (Ok(_), Err(e)) => panic!(
                "bip rejects ({e}) what we accept: {:?}",
                input.escape_ascii().to_string()
            ),
        }
    }
}

#[test]
fn agrees_with_bip_bencode_on_valid_and_mutated_inputs() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_b170_011e);
    let mut counts = Counts::default();
    let mut corpus: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.to_vec()).collect();
    for _ in 0..200 {
        let mut e = bencode::Encoder::new();
        random_value(&mut rng, &mut e, 0);
        corpus.push(e.finish());
    }
    for input in &corpus {
        let before = counts.both_accept;
        compare(input, &mut counts);
        assert_eq!(
            counts.both_accept,
            before + 2,
            "corpus entry rejected: {:?}",
            input.escape_ascii().to_string()
        );
    }
    for _ in 0..12_000 {
        let mut input = rng.choice(&corpus).unwrap().clone();
        for _ in 0..rng.usize(1..4) {
            mutate(&mut rng, &mut input);
        }
        compare(&input, &mut counts);
    }
    // The mutations must have exercised both outcomes and the known differences.
    assert!(counts.both_accept > 2_000, "{counts:?}");
    assert!(counts.both_reject > 2_000, "{counts:?}");
    assert!(counts.only_bip > 0, "{counts:?}");
    println!("{counts:?}");
}

#[test]
fn known_differences() {
    let strict = BDecodeOpt::new(1000, true, true);
    for input in [&b"i+5e"[..], b"d+1:ai1ee", b"li+0ee"] {
        assert!(BencodeRef::decode(input, BDecodeOpt::default()).is_ok());
        assert!(known_stricter(&bencode::decode_lenient(input).unwrap_err()));
    }
    // Unsorted keys: bip accepts by default, both reject in strict mode, both accept leniently.
    let unsorted = b"d1:bi1e1:ai2ee";
    assert!(BencodeRef::decode(unsorted, BDecodeOpt::default()).is_ok());
    assert!(BencodeRef::decode(unsorted, strict).is_err());
    assert!(bencode::decode(unsorted).is_err());
    assert!(bencode::decode_lenient(unsorted).is_ok());
    // Deep nesting within bip's limit but beyond ours.
    let deep = [vec![b'l'; 100], vec![b'e'; 100]].concat();
    assert!(BencodeRef::decode(&deep, strict).is_ok());
    assert!(matches!(
        bencode::decode(&deep),
        Err(bencode::Error::TooDeep(_))
    ));
}
