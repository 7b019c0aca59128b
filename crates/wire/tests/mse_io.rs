//! The MSE drivers and stream adapters over tokio pipes small enough to split every write.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use metainfo::InfoHash;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wire::mse::{
    CryptoMethods, Initiator, Method, MseReader, MseStream, MseWriter, Responder, initiate, req2,
    respond,
};

const TORRENT: InfoHash = InfoHash([0x5c; 20]);

fn torrents() -> HashMap<[u8; 20], InfoHash> {
    [(req2(&TORRENT), TORRENT)].into()
}

fn data(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

/// Both drivers over one small pipe.
async fn connect(
    offer: CryptoMethods,
    accept: CryptoMethods,
) -> (MseStream<DuplexStream>, MseStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(97);
    let mut rng = ring::rand::SystemRandom::new();
    let initiator = Initiator::new(TORRENT, offer, b"initial payload", &mut rng).unwrap();
    let responder = Responder::new(accept, &mut rng).unwrap();
    let torrents = torrents();
    let (ours, theirs) = tokio::join!(
        initiate(a, initiator),
        respond(b, responder, &[], &torrents)
    );
    (ours.unwrap(), theirs.unwrap())
}

#[tokio::test]
async fn streams_carry_a_megabyte_each_way_split_in_halves() {
    for (accept, method) in [
        (CryptoMethods::RC4, Method::Rc4),
        (CryptoMethods::BOTH, Method::Plaintext),
    ] {
        let (ours, theirs) = connect(CryptoMethods::BOTH, accept).await;
        assert_eq!((ours.method(), theirs.method()), (method, method));
        assert_eq!((ours.info_hash(), theirs.info_hash()), (TORRENT, TORRENT));
        let (io, read, write) = ours.into_parts();
        let (rd, wr) = tokio::io::split(io);
        let (mut our_reader, mut our_writer) =
            (MseReader::new(rd, read), MseWriter::new(wr, write));
        let (io, read, write) = theirs.into_parts();
        let (rd, wr) = tokio::io::split(io);
        let (mut their_reader, mut their_writer) =
            (MseReader::new(rd, read), MseWriter::new(wr, write));
        let (up, down) = (data(1 << 20, 1), data(1 << 20, 2));
        let send_up = async {
            our_writer.write_all(&up).await.unwrap();
            our_writer.flush().await.unwrap();
        };
        let send_down = async {
            their_writer.write_all(&down).await.unwrap();
        };
        let receive_up = async {
            let mut got = vec![0u8; b"initial payload".len() + up.len()];
            their_reader.read_exact(&mut got).await.unwrap();
            got
        };
        let receive_down = async {
            let mut got = vec![0u8; down.len()];
            our_reader.read_exact(&mut got).await.unwrap();
            got
        };
        let ((), (), got_up, got_down) = tokio::join!(send_up, send_down, receive_up, receive_down);
        assert_eq!(&got_up[..15], b"initial payload", "{method:?}");
        assert!(got_up[15..] == up[..], "{method:?}: upload arrives intact");
        assert!(got_down == down, "{method:?}: download arrives intact");
    }
}

#[tokio::test]
async fn stream_output_is_what_the_sans_io_cipher_expects() {
    let (a, mut b) = tokio::io::duplex(4096);
    let mut rng = ring::rand::SystemRandom::new();
    let initiator = Initiator::new(TORRENT, CryptoMethods::RC4, b"", &mut rng).unwrap();
    let mut responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
    let torrents = torrents();
    let peer = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = b.read(&mut buf).await.unwrap();
            let done = responder.feed(&buf[..n], &torrents).unwrap();
            b.write_all(&responder.take_output()).await.unwrap();
            if let Some(outcome) = done {
                return outcome;
            }
        }
    };
    let (ours, mut outcome) = tokio::join!(initiate(a, initiator), peer);
    let mut ours = ours.unwrap();
    ours.write_all(b"secret message").await.unwrap();
    let mut wire = [0u8; 14];
    b.read_exact(&mut wire).await.unwrap();
    assert_ne!(
        &wire, b"secret message",
        "RC4 was chosen: the wire is encrypted"
    );
    outcome.stream.decrypt(&mut wire);
    assert_eq!(&wire, b"secret message");
    let mut reply = *b"and a reply";
    outcome.stream.encrypt(&mut reply);
    b.write_all(&reply).await.unwrap();
    let mut got = [0u8; 11];
    ours.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"and a reply");
}

#[tokio::test]
async fn a_partial_write_must_continue_with_the_same_bytes() {
    let (ours, _theirs) = connect(CryptoMethods::RC4, CryptoMethods::RC4).await;
    let (io, _read, write) = ours.into_parts();
    let (_rd, wr) = tokio::io::split(io);
    let mut writer = MseWriter::new(wr, write);
    let block = data(1000, 3);
    // The pipe holds 97 bytes: the first write is partial.
    let n = writer.write(&block).await.unwrap();
    assert!(n > 0 && n < block.len(), "{n}");
    let err = writer.write(b"something else").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn drivers_report_a_closed_connection() {
    let (a, b) = tokio::io::duplex(1024);
    drop(b);
    let mut rng = ring::rand::SystemRandom::new();
    let initiator = Initiator::new(TORRENT, CryptoMethods::BOTH, b"", &mut rng).unwrap();
    assert!(initiate(a, initiator).await.is_err());
    let (a, b) = tokio::io::duplex(1024);
    drop(a);
    let responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
    let err = respond(b, responder, &[], &torrents()).await.unwrap_err();
    assert!(matches!(err, wire::mse::MseError::Closed), "{err}");
}

/// The engine spawns its handshakes: the driver futures must be `Send`.
#[test]
fn driver_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let mut rng = ring::rand::SystemRandom::new();
    let (a, b) = tokio::io::duplex(64);
    let initiator = Initiator::new(TORRENT, CryptoMethods::BOTH, b"", &mut rng).unwrap();
    assert_send(&initiate(a, initiator));
    let responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
    let torrents = torrents();
    assert_send(&respond(b, responder, &[], &torrents));
    let lookup = wire::mse::LookupFn(|h: &[u8; 20]| (*h == req2(&TORRENT)).then_some(TORRENT));
    let (_a, b) = tokio::io::duplex(64);
    let responder = Responder::new(CryptoMethods::BOTH, &mut rng).unwrap();
    assert_send(&respond(b, responder, &[], &lookup));
}
