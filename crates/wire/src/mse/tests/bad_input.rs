//! Scripted peers that break the protocol in one way each: every one a typed error, none a
//! panic, and nothing buffered past the window.

use super::super::dh::{KEY_LEN, KeyPair};
use super::super::keys::{Keystreams, req1, req3, xor20};
use super::*;

fn key_pair(seed: u8) -> KeyPair {
    let mut secret = [0u8; KEY_LEN];
    for (i, b) in secret[KEY_LEN - 20..].iter_mut().enumerate() {
        *b = seed ^ (i as u8).wrapping_mul(37);
    }
    KeyPair::from_private(&secret)
}

/// What a scripted initiator sends in message 3.
struct Message3 {
    pad_a: usize,
    skey: InfoHash,
    vc: [u8; 8],
    provide: u32,
    pad_c_len: u16,
    ia: Vec<u8>,
}

impl Default for Message3 {
    fn default() -> Self {
        Self {
            pad_a: 0,
            skey: TORRENT,
            vc: [0; 8],
            provide: BIT_RC4,
            pad_c_len: 0,
            ia: b"hello".to_vec(),
        }
    }
}

/// Runs `script` against a fresh responder accepting `accept`, all bytes at once.
fn against_responder(accept: CryptoMethods, script: Message3) -> Result<Option<Outcome>, MseError> {
    let mut responder = Responder::new(accept, &mut TestRng::new(5))?;
    let ours = key_pair(9);
    let mut wire = ours.public().to_vec();
    wire.extend(std::iter::repeat_n(0x5a, script.pad_a));
    assert!(responder.feed(&wire, &torrents())?.is_none());
    let reply = responder.take_output();
    let peer: &[u8; KEY_LEN] = reply[..KEY_LEN].try_into().unwrap();
    let secret = ours.shared_secret(peer)?;
    let mut wire = req1(&secret).to_vec();
    wire.extend_from_slice(&xor20(&req2(&script.skey), &req3(&secret)));
    let mut keys = Keystreams::new(&secret, &script.skey, true);
    let mut encrypted = script.vc.to_vec();
    encrypted.extend_from_slice(&script.provide.to_be_bytes());
    encrypted.extend_from_slice(&script.pad_c_len.to_be_bytes());
    encrypted.extend(std::iter::repeat_n(0, usize::from(script.pad_c_len)));
    encrypted.extend_from_slice(&(script.ia.len() as u16).to_be_bytes());
    encrypted.extend_from_slice(&script.ia);
    keys.send.apply(&mut encrypted);
    wire.extend_from_slice(&encrypted);
    responder.feed(&wire, &torrents())
}

#[test]
fn scripted_initiator_completes_with_maximal_padding() {
    let script = Message3 {
        pad_a: MAX_PAD,
        pad_c_len: MAX_PAD as u16,
        ..Message3::default()
    };
    let outcome = against_responder(CryptoMethods::BOTH, script)
        .unwrap()
        .unwrap();
    assert_eq!(outcome.payload, b"hello");
    assert_eq!(outcome.method(), Method::Rc4);
}

#[test]
fn padding_past_the_window_is_no_sync() {
    let script = Message3 {
        pad_a: MAX_PAD + 1,
        ..Message3::default()
    };
    assert!(matches!(
        against_responder(CryptoMethods::BOTH, script),
        Err(MseError::NoSyncHash)
    ));
}

#[test]
fn wrong_vc_is_refused() {
    let script = Message3 {
        vc: [0, 0, 0, 0, 0, 0, 0, 1],
        ..Message3::default()
    };
    assert!(matches!(
        against_responder(CryptoMethods::BOTH, script),
        Err(MseError::BadVc)
    ));
}

#[test]
fn pad_c_over_512_is_refused() {
    let script = Message3 {
        pad_c_len: 513,
        ..Message3::default()
    };
    assert!(matches!(
        against_responder(CryptoMethods::BOTH, script),
        Err(MseError::PadTooLong(513))
    ));
}

#[test]
fn unknown_stream_key_is_refused() {
    let script = Message3 {
        skey: InfoHash([0x77; 20]),
        ..Message3::default()
    };
    assert!(matches!(
        against_responder(CryptoMethods::BOTH, script),
        Err(MseError::UnknownTorrent)
    ));
}

#[test]
fn provide_without_an_accepted_method_is_refused() {
    for (accept, provide) in [
        (CryptoMethods::PLAINTEXT, BIT_RC4),
        (CryptoMethods::RC4, BIT_PLAINTEXT),
        (CryptoMethods::BOTH, 0),
        (CryptoMethods::BOTH, 0x04),
    ] {
        let script = Message3 {
            provide,
            ..Message3::default()
        };
        match against_responder(accept, script) {
            Err(MseError::NoCommonMethod { provided }) => assert_eq!(provided, provide),
            other => panic!("{accept:?} / {provide:#x}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn garbage_after_the_key_fails_exactly_at_the_window() {
    let mut responder = Responder::new(CryptoMethods::BOTH, &mut TestRng::new(1)).unwrap();
    let torrents = torrents();
    let mut rng = TestRng::new(2);
    let mut garbage = vec![0u8; KEY_LEN + MAX_PAD + 20];
    rng.fill(&mut garbage).unwrap();
    garbage[..KEY_LEN].copy_from_slice(key_pair(3).public());
    let (most, last) = garbage.split_at(garbage.len() - 1);
    assert!(responder.feed(most, &torrents).unwrap().is_none());
    assert!(matches!(
        responder.feed(last, &torrents),
        Err(MseError::NoSyncHash)
    ));
    assert!(matches!(
        responder.feed(b"more", &torrents),
        Err(MseError::Finished)
    ));
}

#[test]
fn invalid_keys_are_refused_by_both_sides() {
    let mut responder = Responder::new(CryptoMethods::BOTH, &mut TestRng::new(1)).unwrap();
    assert!(matches!(
        responder.feed(&[0xff; KEY_LEN], &torrents()),
        Err(MseError::BadPublicKey)
    ));
    let mut initiator =
        Initiator::new(TORRENT, CryptoMethods::BOTH, b"", &mut TestRng::new(1)).unwrap();
    assert!(matches!(
        initiator.feed(&[0; KEY_LEN]),
        Err(MseError::BadPublicKey)
    ));
}

#[test]
fn machines_refuse_impossible_settings() {
    let mut rng = TestRng::new(1);
    assert!(matches!(
        Initiator::new(TORRENT, CryptoMethods::NONE, b"", &mut rng),
        Err(MseError::NoMethods)
    ));
    assert!(matches!(
        Responder::new(CryptoMethods::NONE, &mut rng),
        Err(MseError::NoMethods)
    ));
    assert!(matches!(
        Initiator::new(TORRENT, CryptoMethods::RC4, &vec![0; 65536], &mut rng),
        Err(MseError::PayloadTooLong(65536))
    ));
}

/// What a scripted responder sends in message 4.
struct Message4 {
    pad_b: usize,
    vc: [u8; 8],
    select: u32,
    pad_d_len: u16,
    after: Vec<u8>,
}

impl Default for Message4 {
    fn default() -> Self {
        Self {
            pad_b: 0,
            vc: [0; 8],
            select: BIT_RC4,
            pad_d_len: 0,
            after: Vec::new(),
        }
    }
}

/// Runs `script` against a fresh initiator offering `offer`, all bytes at once.
fn against_initiator(offer: CryptoMethods, script: Message4) -> Result<Option<Outcome>, MseError> {
    let mut initiator = Initiator::new(TORRENT, offer, b"ia", &mut TestRng::new(8))?;
    let hello = initiator.take_output();
    let ours = key_pair(4);
    let peer: &[u8; KEY_LEN] = hello[..KEY_LEN].try_into().unwrap();
    let secret = ours.shared_secret(peer)?;
    let mut keys = Keystreams::new(&secret, &TORRENT, false);
    let mut wire = ours.public().to_vec();
    wire.extend(std::iter::repeat_n(0xa5, script.pad_b));
    let mut encrypted = script.vc.to_vec();
    encrypted.extend_from_slice(&script.select.to_be_bytes());
    encrypted.extend_from_slice(&script.pad_d_len.to_be_bytes());
    encrypted.extend(std::iter::repeat_n(0, usize::from(script.pad_d_len)));
    keys.send.apply(&mut encrypted);
    wire.extend_from_slice(&encrypted);
    let mut after = script.after.clone();
    if script.select == BIT_RC4 {
        keys.send.apply(&mut after);
    }
    wire.extend_from_slice(&after);
    initiator.feed(&wire)
}

#[test]
fn scripted_responder_completes_with_maximal_padding_and_payload() {
    for select in [BIT_RC4, BIT_PLAINTEXT] {
        let script = Message4 {
            pad_b: MAX_PAD,
            select,
            pad_d_len: MAX_PAD as u16,
            after: b"\x13BitTorrent protocol".to_vec(),
            ..Message4::default()
        };
        let outcome = against_initiator(CryptoMethods::BOTH, script)
            .unwrap()
            .unwrap();
        assert_eq!(outcome.payload, b"\x13BitTorrent protocol");
        assert_eq!(outcome.method(), Method::from_bits(select).unwrap());
    }
}

#[test]
fn select_not_offered_is_refused() {
    for (offer, select) in [
        (CryptoMethods::RC4, BIT_PLAINTEXT),
        (CryptoMethods::PLAINTEXT, BIT_RC4),
        (CryptoMethods::BOTH, BIT_PLAINTEXT | BIT_RC4),
        (CryptoMethods::BOTH, 0),
        (CryptoMethods::BOTH, 0x08),
    ] {
        let script = Message4 {
            select,
            ..Message4::default()
        };
        match against_initiator(offer, script) {
            Err(MseError::SelectNotOffered { selected }) => assert_eq!(selected, select),
            other => panic!("{offer:?} / {select:#x}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn pad_d_over_512_is_refused() {
    let script = Message4 {
        pad_d_len: 600,
        ..Message4::default()
    };
    assert!(matches!(
        against_initiator(CryptoMethods::BOTH, script),
        Err(MseError::PadTooLong(600))
    ));
}

#[test]
fn wrong_or_late_vc_is_no_sync() {
    for script in [
        Message4 {
            vc: [1; 8],
            // Enough bytes after it to fill the window (until then it waits for more).
            after: vec![0; MAX_PAD],
            ..Message4::default()
        },
        Message4 {
            pad_b: MAX_PAD + 1,
            ..Message4::default()
        },
    ] {
        assert!(matches!(
            against_initiator(CryptoMethods::BOTH, script),
            Err(MseError::NoSyncVc)
        ));
    }
}
