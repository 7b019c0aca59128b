//! Codec unit tests: round trips, partial frames, limits, malformed frames, zero copy.

use super::*;

/// One of every message, with edge values.
fn every_message() -> Vec<Message> {
    let r = BlockRequest {
        index: 7,
        begin: 16384,
        length: 16384,
    };
    let max = BlockRequest {
        index: u32::MAX,
        begin: u32::MAX,
        length: u32::MAX,
    };
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have(0),
        Message::Have(u32::MAX),
        Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
        Message::Bitfield(Bytes::new()),
        Message::Request(r),
        Message::Request(max),
        Message::Piece {
            index: 3,
            begin: 32768,
            data: Bytes::from(vec![0x5a; 16384]),
        },
        Message::Piece {
            index: 1,
            begin: 0,
            data: Bytes::from_static(b"x"),
        },
        Message::Piece {
            index: 1,
            begin: 0,
            data: Bytes::new(),
        },
        Message::Cancel(r),
        Message::Port(6881),
        Message::SuggestPiece(12),
        Message::HaveAll,
        Message::HaveNone,
        Message::RejectRequest(r),
        Message::AllowedFast(99),
        Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"d1:mdee"),
        },
        Message::Extended {
            id: 3,
            payload: Bytes::new(),
        },
        Message::HashRequest(hr()),
        Message::HashReject(hr()),
        Message::Hashes {
            request: hr(),
            hashes: Bytes::from(vec![7u8; 64]),
        },
        Message::Hashes {
            request: hr(),
            hashes: Bytes::new(),
        },
    ]
}

fn hr() -> crate::HashRequest {
    crate::HashRequest {
        pieces_root: [9; 32],
        base_layer: 2,
        index: 512,
        length: 512,
        proof_layers: u32::MAX,
    }
}

fn encode(msg: &Message) -> BytesMut {
    let mut buf = BytesMut::new();
    Codec::default().encode(msg, &mut buf).unwrap();
    buf
}

fn decode_all(bytes: &[u8]) -> Result<Option<Message>, Error> {
    Codec::default().decode(&mut BytesMut::from(bytes))
}

fn malformed(bytes: &[u8], want_id: u8) {
    match decode_all(bytes) {
        Err(Error::Malformed { id, .. }) => assert_eq!(id, want_id, "{bytes:?}"),
        other => panic!("{bytes:?} decoded as {other:?}"),
    }
}

#[test]
fn known_encodings() {
    assert_eq!(&encode(&Message::KeepAlive)[..], &[0, 0, 0, 0]);
    assert_eq!(&encode(&Message::Interested)[..], &[0, 0, 0, 1, 2]);
    assert_eq!(
        &encode(&Message::Have(0x01020304))[..],
        &[0, 0, 0, 5, 4, 1, 2, 3, 4]
    );
    assert_eq!(
        &encode(&Message::Port(0x1ae1))[..],
        &[0, 0, 0, 3, 9, 0x1a, 0xe1]
    );
    let r = BlockRequest {
        index: 1,
        begin: 2,
        length: 3,
    };
    let want = [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    assert_eq!(&encode(&Message::Request(r))[..], &want);
    let piece = Message::Piece {
        index: 1,
        begin: 2,
        data: Bytes::from_static(b"ab"),
    };
    let want = [0, 0, 0, 11, 7, 0, 0, 0, 1, 0, 0, 0, 2, b'a', b'b'];
    assert_eq!(&encode(&piece)[..], &want);
    let ext = Message::Extended {
        id: 2,
        payload: Bytes::from_static(b"de"),
    };
    assert_eq!(&encode(&ext)[..], &[0, 0, 0, 4, 20, 2, b'd', b'e']);
}

#[test]
fn round_trip_every_message() {
    for msg in every_message() {
        let mut buf = encode(&msg);
        let owned = {
            let mut b = BytesMut::new();
            Codec::default().encode(msg.clone(), &mut b).unwrap();
            b
        };
        assert_eq!(buf, owned, "Encoder<Message> and Encoder<&Message> agree");
        assert_eq!(Codec::default().decode(&mut buf).unwrap(), Some(msg));
        assert!(buf.is_empty());
    }
}

#[test]
fn partial_frames_at_every_split() {
    for msg in every_message() {
        let whole = encode(&msg);
        // Every prefix must wait for more bytes; the rest completes exactly this message.
        // Every cut in the first 64 bytes (all headers), then a sample of the 16 KiB block.
        let head = whole.len().min(64);
        for cut in (0..head)
            .chain((head..whole.len()).step_by(97))
            .chain([whole.len() - 1])
        {
            let mut codec = Codec::default();
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(
                codec.decode(&mut buf).unwrap(),
                None,
                "{msg:?} cut at {cut}"
            );
            buf.extend_from_slice(&whole[cut..]);
            assert_eq!(codec.decode(&mut buf).unwrap(), Some(msg.clone()));
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn byte_by_byte_stream_of_all_messages() {
    let msgs = every_message();
    let mut stream = BytesMut::new();
    for m in &msgs {
        Codec::default().encode(m, &mut stream).unwrap();
    }
    let mut codec = Codec::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &b in stream.iter() {
        buf.put_u8(b);
        while let Some(m) = codec.decode(&mut buf).unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, msgs);
    assert!(buf.is_empty());
}

#[test]
fn huge_length_rejected_without_allocation() {
    let mut buf = BytesMut::with_capacity(8);
    buf.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 7]);
    let cap = buf.capacity();
    assert!(matches!(
        Codec::default().decode(&mut buf),
        Err(Error::TooLong(u32::MAX))
    ));
    assert_eq!(buf.capacity(), cap, "nothing reserved for a hostile length");
    let just_over = (MAX_MESSAGE_LEN + 1).to_be_bytes();
    assert!(matches!(decode_all(&just_over), Err(Error::TooLong(n)) if n == MAX_MESSAGE_LEN + 1));
    let mut small = Codec::with_max_len(5);
    assert_eq!(small.max_len(), 5);
    assert!(matches!(
        small.decode(&mut encode(&Message::Have(1))),
        Ok(Some(_))
    ));
    let r = Message::Request(BlockRequest {
        index: 0,
        begin: 0,
        length: 1,
    });
    assert!(matches!(
        small.decode(&mut encode(&r)),
        Err(Error::TooLong(13))
    ));
}

#[test]
fn reserves_whole_frame_once_header_is_seen() {
    let whole = encode(&Message::Piece {
        index: 0,
        begin: 0,
        data: vec![1; 16384].into(),
    });
    let mut buf = BytesMut::from(&whole[..10]);
    assert_eq!(Codec::default().decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() >= whole.len());
}

#[test]
fn max_len_frame_accepted() {
    let data = Bytes::from(vec![9; MAX_MESSAGE_LEN as usize - 9]);
    let msg = Message::Piece {
        index: 0,
        begin: 0,
        data,
    };
    assert_eq!(
        Codec::default().decode(&mut encode(&msg)).unwrap(),
        Some(msg)
    );
}

#[test]
fn wrong_length_per_id_rejected() {
    // (id, payload length after the id): exact, except a minimum for Piece and Extended.
    let exact: [(u8, usize); 18] = [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 4),
        (6, 12),
        (8, 12),
        (9, 2),
        (13, 4),
        (14, 0),
        (15, 0),
        (16, 12),
        (17, 4),
        (7, 8),  // minimum only: shorter is malformed
        (20, 1), // minimum only
        (21, 48),
        (23, 48),
        (22, 48), // minimum, then whole hashes
    ];
    for (id, n) in exact {
        let at_least = matches!(id, 7 | 20);
        for len in 0..=n + 3 {
            if id == 22 && len > n {
                continue;
            }
            let mut frame = BytesMut::new();
            frame.put_u32(1 + len as u32);
            frame.put_u8(id);
            frame.put_bytes(0, len);
            let res = decode_all(&frame);
            if len == n || (at_least && len > n) {
                assert!(matches!(res, Ok(Some(_))), "id {id} len {len}: {res:?}");
            } else {
                malformed(&frame, id);
            }
        }
    }
}

#[test]
fn hashes_must_be_whole() {
    for extra in [1usize, 31, 33] {
        let mut frame = BytesMut::new();
        frame.put_u32(1 + 48 + extra as u32);
        frame.put_u8(22);
        frame.put_bytes(0, 48 + extra);
        malformed(&frame, 22);
    }
}

#[test]
fn unknown_ids_rejected() {
    for id in (10..=12).chain([18, 19]).chain(24..=255) {
        malformed(&[0, 0, 0, 1, id], id);
        malformed(&[0, 0, 0, 5, id, 0, 0, 0, 0], id);
    }
}

#[test]
fn piece_is_zero_copy() {
    let msg = Message::Piece {
        index: 2,
        begin: 16384,
        data: vec![0xa5; 16384].into(),
    };
    let mut buf = encode(&msg);
    Codec::default()
        .encode(&Message::Have(1), &mut buf)
        .unwrap();
    let range = buf.as_ptr_range();
    let Some(Message::Piece { data, .. }) = Codec::default().decode(&mut buf).unwrap() else {
        panic!("not a piece");
    };
    let data_range = data.as_ptr_range();
    assert_eq!(data_range.start, range.start.wrapping_add(PIECE_HEADER_LEN));
    assert!(range.contains(&data_range.start) && data_range.end <= range.end);
    assert_eq!(data.len(), 16384);
    assert_eq!(
        Codec::default().decode(&mut buf).unwrap(),
        Some(Message::Have(1))
    );
}

#[test]
fn piece_header_helper_matches_encoder() {
    let data = b"hello block";
    let mut buf = BytesMut::new();
    encode_piece_header(5, 16384, data.len() as u32, &mut buf);
    assert_eq!(buf.len(), PIECE_HEADER_LEN);
    buf.extend_from_slice(data);
    let msg = Message::Piece {
        index: 5,
        begin: 16384,
        data: Bytes::from_static(data),
    };
    assert_eq!(buf, encode(&msg));
}
