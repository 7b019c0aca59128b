//! The peer-message decoder never panics on any byte stream, never yields a message longer
//! than its limit, and everything it yields encodes back to a frame it decodes the same.
//! The extension handshake, PEX and `ut_metadata` parsers never panic either, and a decoded
//! `ut_metadata` message encodes back to itself.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let _ = wire::ExtensionHandshake::decode(data);
    let _ = wire::PexMessage::decode(data);
    let payload = bytes::Bytes::copy_from_slice(data);
    if let Ok(m) = wire::MetadataMessage::decode(&payload) {
        assert_eq!(wire::MetadataMessage::decode(&m.encode()).expect("re-decodes"), m);
    }
    let mut codec = wire::Codec::default();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(msg)) = codec.decode(&mut buf) {
        let mut out = BytesMut::new();
        codec.encode(&msg, &mut out).expect("a decoded message encodes");
        let again = codec.decode(&mut out).expect("re-decodes").expect("a whole frame");
        assert_eq!(again, msg);
        assert!(out.is_empty());
    }
});
