//! Both machines against each other over in-memory pipes, and against scripted peers.

use std::collections::{HashMap, VecDeque};

use super::*;

mod bad_input;

/// A small deterministic generator (xorshift64*), so failures replay.
pub(super) struct TestRng(u64);

impl TestRng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

impl RandomSource for TestRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), MseError> {
        for b in buf {
            *b = self.next() as u8;
        }
        Ok(())
    }
}

pub(super) const TORRENT: InfoHash = InfoHash([0xab; 20]);
const OTHER: InfoHash = InfoHash([0x12; 20]);

/// The initiator's IA: a BitTorrent handshake for [`TORRENT`].
fn initial_payload() -> Vec<u8> {
    let mut ia = PLAINTEXT_PROTOCOL.to_vec();
    ia.extend_from_slice(&[0; 8]);
    ia.extend_from_slice(&TORRENT.0);
    ia.extend_from_slice(b"-BM0001-initiator...");
    ia
}

pub(super) fn torrents() -> HashMap<[u8; 20], InfoHash> {
    [(req2(&TORRENT), TORRENT), (req2(&OTHER), OTHER)].into()
}

/// How the pipes cut what they carry.
#[derive(Clone, Copy, Debug)]
enum Chunking {
    /// One byte per delivery.
    Bytes,
    /// 1..=700 bytes per delivery.
    Random,
    /// Everything queued at once.
    Whole,
}

const INITIATOR_APP: &[u8] = b"interested, then a request from the initiator";
const RESPONDER_APP: &[u8] = b"the responder's handshake and bitfield";

/// What one side ended with: its outcome's method and torrent, and every payload byte it got.
#[derive(Debug)]
struct End {
    method: Method,
    info_hash: InfoHash,
    payload: Vec<u8>,
}

/// One side of the conversation once done: its outcome and what it has received since.
struct Done {
    outcome: Outcome,
}

impl Done {
    /// Takes bytes received after the handshake.
    fn receive(&mut self, mut chunk: Vec<u8>) {
        self.outcome.stream.decrypt(&mut chunk);
        self.outcome.payload.extend_from_slice(&chunk);
    }

    /// Queues application bytes as this side would send them.
    fn send(&mut self, app: &[u8], pipe: &mut VecDeque<u8>) {
        let mut bytes = app.to_vec();
        self.outcome.stream.encrypt(&mut bytes);
        pipe.extend(bytes);
    }

    fn end(self) -> End {
        End {
            method: self.outcome.method(),
            info_hash: self.outcome.info_hash,
            payload: self.outcome.payload,
        }
    }
}

/// Runs a whole handshake plus a little application traffic each way. Each side sends its
/// application bytes as soon as its machine is done, so they may overtake the other side's
/// handshake (the responder's `IA` leftovers and the initiator's post-`PadD` bytes).
fn converse(
    offer: CryptoMethods,
    accept: CryptoMethods,
    seed: u64,
    chunking: Chunking,
) -> Result<(End, End), MseError> {
    let mut rng = TestRng::new(seed);
    let torrents = torrents();
    let mut initiator = Initiator::new(TORRENT, offer, &initial_payload(), &mut rng)?;
    let mut responder = Responder::new(accept, &mut rng)?;
    let mut to_responder: VecDeque<u8> = initiator.take_output().into();
    let mut to_initiator = VecDeque::new();
    let (mut initiator_done, mut responder_done) = (None::<Done>, None::<Done>);
    while initiator_done.is_none()
        || responder_done.is_none()
        || !to_responder.is_empty()
        || !to_initiator.is_empty()
    {
        let towards_responder = match (to_responder.is_empty(), to_initiator.is_empty()) {
            (true, true) => panic!("stalled: both pipes empty before both sides finished"),
            (false, true) => true,
            (true, false) => false,
            (false, false) => rng.next().is_multiple_of(2),
        };
        let pipe = if towards_responder {
            &mut to_responder
        } else {
            &mut to_initiator
        };
        let n = match chunking {
            Chunking::Bytes => 1,
            Chunking::Random => 1 + rng.below(700),
            Chunking::Whole => pipe.len(),
        }
        .min(pipe.len());
        let chunk: Vec<u8> = pipe.drain(..n).collect();
        if towards_responder {
            match &mut responder_done {
                Some(done) => done.receive(chunk),
                None => {
                    let outcome = responder.feed(&chunk, &torrents)?;
                    to_initiator.extend(responder.take_output());
                    if let Some(outcome) = outcome {
                        let mut done = Done { outcome };
                        done.send(RESPONDER_APP, &mut to_initiator);
                        responder_done = Some(done);
                    }
                }
            }
        } else {
            match &mut initiator_done {
                Some(done) => done.receive(chunk),
                None => {
                    let outcome = initiator.feed(&chunk)?;
                    to_responder.extend(initiator.take_output());
                    if let Some(outcome) = outcome {
                        let mut done = Done { outcome };
                        done.send(INITIATOR_APP, &mut to_responder);
                        initiator_done = Some(done);
                    }
                }
            }
        }
    }
    let (Some(i), Some(r)) = (initiator_done, responder_done) else {
        unreachable!("the loop runs until both are done")
    };
    Ok((i.end(), r.end()))
}

const POLICIES: [CryptoMethods; 3] = [
    CryptoMethods::PLAINTEXT,
    CryptoMethods::RC4,
    CryptoMethods::BOTH,
];

/// What a responder accepting `accept` should pick from `offer`.
fn expected_method(offer: CryptoMethods, accept: CryptoMethods) -> Option<Method> {
    let both = offer.bits() & accept.bits();
    if both & BIT_PLAINTEXT != 0 {
        Some(Method::Plaintext)
    } else if both & BIT_RC4 != 0 {
        Some(Method::Rc4)
    } else {
        None
    }
}

fn check_all_policies(chunking: Chunking, seeds: std::ops::Range<u64>) {
    for offer in POLICIES {
        for accept in POLICIES {
            for seed in seeds.clone() {
                let context =
                    format!("offer {offer:?}, accept {accept:?}, seed {seed}, {chunking:?}");
                match (
                    converse(offer, accept, seed, chunking),
                    expected_method(offer, accept),
                ) {
                    (Ok((initiator, responder)), Some(method)) => {
                        assert_eq!(initiator.method, method, "{context}");
                        assert_eq!(responder.method, method, "{context}");
                        assert_eq!(initiator.info_hash, TORRENT, "{context}");
                        assert_eq!(responder.info_hash, TORRENT, "{context}");
                        assert_eq!(initiator.payload, RESPONDER_APP, "{context}");
                        let mut expected = initial_payload();
                        expected.extend_from_slice(INITIATOR_APP);
                        assert_eq!(responder.payload, expected, "{context}");
                    }
                    (Err(MseError::NoCommonMethod { provided }), None) => {
                        assert_eq!(provided, offer.bits(), "{context}");
                    }
                    (result, expected) => {
                        panic!(
                            "{context}: expected {expected:?}, got {:?}",
                            result.map(|_| ())
                        )
                    }
                }
            }
        }
    }
}

#[test]
fn every_policy_pair_whole_messages() {
    check_all_policies(Chunking::Whole, 0..8);
}

#[test]
fn every_policy_pair_byte_at_a_time() {
    check_all_policies(Chunking::Bytes, 0..2);
}

#[test]
fn every_policy_pair_random_chunks() {
    check_all_policies(Chunking::Random, 0..24);
}

#[test]
fn both_offered_selects_plaintext_unless_rc4_required() {
    let (i, r) = converse(CryptoMethods::BOTH, CryptoMethods::BOTH, 7, Chunking::Whole).unwrap();
    assert_eq!((i.method, r.method), (Method::Plaintext, Method::Plaintext));
    let (i, r) = converse(CryptoMethods::BOTH, CryptoMethods::RC4, 7, Chunking::Whole).unwrap();
    assert_eq!((i.method, r.method), (Method::Rc4, Method::Rc4));
}

#[test]
fn an_empty_initial_payload_works() {
    let mut rng = TestRng::new(3);
    let mut initiator = Initiator::new(OTHER, CryptoMethods::RC4, &[], &mut rng).unwrap();
    let mut responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
    let torrents = torrents();
    assert!(
        responder
            .feed(&initiator.take_output(), &torrents)
            .unwrap()
            .is_none()
    );
    assert!(initiator.feed(&responder.take_output()).unwrap().is_none());
    let resp = responder
        .feed(&initiator.take_output(), &torrents)
        .unwrap()
        .unwrap();
    let init = initiator.feed(&responder.take_output()).unwrap().unwrap();
    assert_eq!((resp.info_hash, init.info_hash), (OTHER, OTHER));
    assert!(resp.payload.is_empty() && init.payload.is_empty());
    assert_eq!((resp.method(), init.method()), (Method::Rc4, Method::Rc4));
}

#[test]
fn classify_tells_plaintext_from_mse() {
    let handshake = initial_payload();
    assert_eq!(classify(&handshake), Some(Incoming::Plaintext));
    assert_eq!(classify(&handshake[..20]), Some(Incoming::Plaintext));
    assert_eq!(classify(&handshake[..19]), None);
    assert_eq!(classify(&[]), None);
    assert_eq!(classify(&[19]), None);
    assert_eq!(classify(&[0x42]), Some(Incoming::Encrypted));
    assert_eq!(
        classify(b"\x13BitTorrent protocoX"),
        Some(Incoming::Encrypted)
    );
    assert_eq!(classify(b"\x13Bit"), None);
    assert_eq!(classify(b"\x13Bix"), Some(Incoming::Encrypted));
    let mut rng = TestRng::new(1);
    let mut initiator = Initiator::new(TORRENT, CryptoMethods::BOTH, &handshake, &mut rng).unwrap();
    let first = initiator.take_output();
    // A key that starts with 19 is possible; what follows it still tells.
    assert_eq!(classify(&first), Some(Incoming::Encrypted));
}

#[test]
fn responder_map_lookup_is_by_req2() {
    let map = torrents();
    assert_eq!(map.lookup(&req2(&TORRENT)), Some(TORRENT));
    assert_eq!(map.lookup(&TORRENT.0), None);
    let by_fn = LookupFn(|h: &[u8; 20]| (*h == req2(&OTHER)).then_some(OTHER));
    assert_eq!(by_fn.lookup(&req2(&OTHER)), Some(OTHER));
    assert_eq!(by_fn.lookup(&req2(&TORRENT)), None);
}
