//! Replays of MSE conversations recorded against libtorrent 2.0 (forced RC4) by
//! `mse_libtorrent.rs` with `MSE_RECORD_DIR` set: fed libtorrent's recorded bytes and the same
//! seeded randomness, our machines must finish the handshake, decrypt libtorrent's BitTorrent
//! handshake and bitfield, and send exactly what they sent then.

#![allow(clippy::unwrap_used)]

#[path = "support/mse_conversation.rs"]
#[allow(dead_code)] // each test file uses part of it
mod conversation;

use conversation::{Conn, SeededRng, Transcript, initiate, respond};
use wire::mse::{CryptoMethods, Method};

fn fixture(name: &str) -> Transcript {
    let path = format!("{}/tests/fixtures/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    Transcript::parse(&std::fs::read_to_string(path).unwrap())
}

fn sent(conn: Conn) -> Vec<u8> {
    match conn {
        Conn::Replay { sent, .. } => sent,
        Conn::Live { .. } => unreachable!("a replay"),
    }
}

#[tokio::test]
async fn replayed_libtorrent_responder() {
    for (name, offer) in [
        ("mse_initiator_offers_both", CryptoMethods::BOTH),
        ("mse_initiator_offers_rc4", CryptoMethods::RC4),
    ] {
        let t = fixture(name);
        let mut conn = Conn::replay(&t);
        let mut rng = SeededRng(t.seed);
        let method = initiate(&mut conn, t.info_hash.unwrap(), t.pieces, offer, &mut rng).await;
        assert_eq!(method, Method::Rc4, "{name}");
        assert_eq!(sent(conn), t.sent(), "{name}: we send what we sent then");
    }
}

#[tokio::test]
async fn replayed_libtorrent_initiator() {
    let t = fixture("mse_responder_accepts_both");
    let mut conn = Conn::replay(&t);
    let mut rng = SeededRng(t.seed);
    let method = respond(
        &mut conn,
        t.info_hash.unwrap(),
        t.pieces,
        CryptoMethods::BOTH,
        &mut rng,
    )
    .await;
    assert_eq!(method, Method::Rc4);
    assert_eq!(sent(conn), t.sent(), "we send what we sent then");
}
