use super::*;

fn id(b: u8) -> NodeId {
    NodeId([b; 20])
}

fn roundtrip(msg: Message) {
    let bytes = msg.encode();
    assert!(
        is_dht_packet(&bytes),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(Message::decode(&bytes).unwrap(), msg);
}

fn msg(body: Body) -> Message {
    Message {
        tid: b"aa".to_vec(),
        version: Some(b"BM01".to_vec()),
        observed_addr: None,
        read_only: false,
        body,
    }
}

#[test]
fn bep5_examples_decode() {
    let ping =
        Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe").unwrap();
    assert_eq!(ping.tid, b"aa");
    let Body::Query(q) = ping.body else { panic!() };
    assert_eq!(q.kind, QueryKind::Ping);
    assert_eq!(&q.id.0, b"abcdefghij0123456789");

    let ann = Message::decode(
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti0e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    )
    .unwrap();
    let Body::Query(q) = ann.body else { panic!() };
    assert!(matches!(
        q.kind,
        QueryKind::AnnouncePeer {
            port: 6881,
            implied_port: false,
            ..
        }
    ));

    let values = Message::decode(
        b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
    )
    .unwrap();
    let Body::Response(r) = values.body else {
        panic!()
    };
    assert_eq!(r.values.len(), 2);
    assert_eq!(r.token.as_deref(), Some(&b"aoeusnth"[..]));

    let err = Message::decode(b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee").unwrap();
    assert_eq!(
        err.body,
        Body::Error(ErrorReply {
            code: 201,
            message: "A Generic Error Ocurred".into()
        })
    );
}

#[test]
fn every_kind_roundtrips() {
    let want = Want { v4: true, v6: true };
    for kind in [
        QueryKind::Ping,
        QueryKind::FindNode { target: id(3) },
        QueryKind::GetPeers { info_hash: id(4) },
        QueryKind::AnnouncePeer {
            info_hash: id(5),
            port: 6881,
            implied_port: true,
            token: b"tok".to_vec(),
        },
        QueryKind::Other(b"vote".to_vec()),
    ] {
        roundtrip(msg(Body::Query(Query {
            id: id(1),
            want,
            kind,
        })));
    }
    let mut r = Response::new(id(2));
    r.nodes = vec![(id(7), "1.2.3.4:5".parse().unwrap())];
    r.nodes6 = vec![(id(8), "[2001:db8::1]:6".parse().unwrap())];
    r.values = vec![
        "5.6.7.8:9".parse().unwrap(),
        "[2001:db8::2]:10".parse().unwrap(),
    ];
    r.token = Some(b"secret".to_vec());
    let mut m = msg(Body::Response(r));
    m.observed_addr = Some("9.9.9.9:99".parse().unwrap());
    m.read_only = true;
    roundtrip(m);
    roundtrip(msg(Body::Error(ErrorReply {
        code: 203,
        message: "bad token".into(),
    })));
}

#[test]
fn malformed_messages_are_refused_with_typed_errors() {
    let big = vec![b'x'; MAX_MESSAGE_LEN + 1];
    assert_eq!(Message::decode(&big), Err(DecodeError::TooLong(big.len())));
    // A bencode bomb: deep nesting is refused by the bencode depth limit.
    let mut bomb = b"d1:t2:aa1:y1:q1:a".to_vec();
    bomb.extend(std::iter::repeat_n(b'l', 200));
    bomb.extend(std::iter::repeat_n(b'e', 201));
    assert!(matches!(
        Message::decode(&bomb),
        Err(DecodeError::Bencode(_))
    ));
    assert_eq!(Message::decode(b"le"), Err(DecodeError::NotADict));
    assert_eq!(Message::decode(b"d1:y1:qe"), Err(DecodeError::Missing("t")));
    assert_eq!(
        Message::decode(b"d1:t2:aa1:y1:xe"),
        Err(DecodeError::UnknownType)
    );
    let long_tid = format!("d1:t17:{}1:y1:re", "a".repeat(17));
    assert_eq!(
        Message::decode(long_tid.as_bytes()),
        Err(DecodeError::FieldTooLong("t"))
    );
    assert_eq!(
        Message::decode(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"),
        Err(DecodeError::Invalid("id"))
    );
    assert_eq!(
        Message::decode(b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re"),
        Err(DecodeError::Invalid("nodes"))
    );
    assert_eq!(
        Message::decode(b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
        Err(DecodeError::Invalid("port"))
    );
    assert_eq!(
        Message::decode(b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
        Err(DecodeError::Invalid("port"))
    );
    let many: String = (0..=MAX_VALUES).map(|_| "6:abcdef").collect();
    let too_many = format!("d1:rd2:id20:abcdefghij01234567896:valuesl{many}ee1:t2:aa1:y1:re");
    assert_eq!(
        Message::decode(too_many.as_bytes()),
        Err(DecodeError::FieldTooLong("values"))
    );
}

#[test]
fn demultiplexing() {
    assert!(is_dht_packet(
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
    ));
    assert!(is_dht_packet(
        b"d2:ip6:abcdef1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re"
    ));
    assert!(!is_dht_packet(&[0x41, 0, 0, 0, 0, 0, 0, 0])); // uTP SYN
    assert!(!is_dht_packet(&[0, 0, 0, 1, 0, 0, 0, 0])); // UDP tracker announce reply
    assert!(!is_dht_packet(b"d"));
    assert!(!is_dht_packet(b"de"));
}
