//! The MSE handshake machines never panic, whatever arrives.
//!
//! The first input byte picks a mode. Even: the rest, cut into chunks, is fed raw to a
//! responder and to an initiator (garbage keys, garbage padding, no sync). Odd: an honest
//! initiator and responder talk, and the rest is XORed into the bytes in transit; RC4 being a
//! stream cipher, that flips the same bits of the decrypted fields, so the fuzzer reaches the
//! VC, crypto_provide / crypto_select, padding-length and IA checks. With nothing flipped the
//! handshake must succeed and agree on method and torrent.

#![no_main]

use std::collections::{HashMap, VecDeque};

use libfuzzer_sys::fuzz_target;
use metainfo::InfoHash;
use wire::mse::{CryptoMethods, Initiator, MseError, Outcome, RandomSource, Responder, req2};

/// Deterministic randomness, so a crash replays.
struct Rng(u64);

impl RandomSource for Rng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), MseError> {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
        Ok(())
    }
}

const TORRENT: InfoHash = InfoHash([0x42; 20]);
const POLICIES: [CryptoMethods; 3] = [
    CryptoMethods::PLAINTEXT,
    CryptoMethods::RC4,
    CryptoMethods::BOTH,
];

fn torrents() -> HashMap<[u8; 20], InfoHash> {
    [(req2(&TORRENT), TORRENT)].into()
}

fn raw(data: &[u8]) {
    let torrents = torrents();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let chunk = usize::from(data.first().copied().unwrap_or(0)).max(1);
    let mut responder = Responder::new(CryptoMethods::BOTH, &mut rng).expect("a valid policy");
    let mut initiator =
        Initiator::new(TORRENT, CryptoMethods::BOTH, &[0; 68], &mut rng).expect("a valid policy");
    let (mut responder_alive, mut initiator_alive) = (true, true);
    for piece in data.chunks(chunk) {
        if responder_alive {
            responder_alive = matches!(responder.feed(piece, &torrents), Ok(None));
            responder.take_output();
        }
        if initiator_alive {
            initiator_alive = matches!(initiator.feed(piece), Ok(None));
            initiator.take_output();
        }
    }
}

/// Takes everything queued in `pipe`, XORing the next mask byte in at an offset the input picks.
fn tamper(
    pipe: &mut VecDeque<u8>,
    masks: &mut impl Iterator<Item = u8>,
    tampered: &mut bool,
) -> Vec<u8> {
    let mut chunk: Vec<u8> = pipe.drain(..).collect();
    let mask = masks.next().unwrap_or(0);
    let at = (usize::from(masks.next().unwrap_or(0)) * 4 + usize::from(masks.next().unwrap_or(0)))
        % chunk.len();
    chunk[at] ^= mask;
    *tampered |= mask != 0;
    chunk
}

fn tampered(data: &[u8]) {
    let Some((&policy, masks)) = data.split_first() else {
        return;
    };
    let offer = POLICIES[usize::from(policy & 3) % 3];
    let accept = POLICIES[usize::from(policy >> 2 & 3) % 3];
    let mut rng = Rng(u64::from(policy) + 1);
    let torrents = torrents();
    let mut initiator = Initiator::new(TORRENT, offer, b"ia", &mut rng).expect("a valid policy");
    let mut responder = Responder::new(accept, &mut rng).expect("a valid policy");
    let mut masks = masks.iter().copied();
    let mut to_responder: VecDeque<u8> = initiator.take_output().into();
    let mut to_initiator = VecDeque::new();
    let (mut initiator_done, mut responder_done) = (None::<Outcome>, None::<Outcome>);
    let mut tampered = false;
    for _ in 0..64 {
        if !to_responder.is_empty() {
            let chunk = tamper(&mut to_responder, &mut masks, &mut tampered);
            if responder_done.is_none() {
                match responder.feed(&chunk, &torrents) {
                    Ok(done) => responder_done = done,
                    Err(_) => return,
                }
                to_initiator.extend(responder.take_output());
            }
        }
        if !to_initiator.is_empty() {
            let chunk = tamper(&mut to_initiator, &mut masks, &mut tampered);
            if initiator_done.is_none() {
                match initiator.feed(&chunk) {
                    Ok(done) => initiator_done = done,
                    Err(_) => return,
                }
                to_responder.extend(initiator.take_output());
            }
        }
        if initiator_done.is_some() && responder_done.is_some() {
            break;
        }
    }
    if !tampered {
        let (i, r) = (
            initiator_done.expect("initiator done"),
            responder_done.expect("responder done"),
        );
        assert_eq!(i.method(), r.method());
        assert_eq!(r.info_hash, TORRENT);
        assert_eq!(r.payload, b"ia");
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => tampered(rest),
        Some((_, rest)) => raw(rest),
        None => {}
    }
});
