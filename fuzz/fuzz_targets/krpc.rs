//! The KRPC decoder never panics, everything it accepts re-encodes to a message that decodes
//! the same, and a node fed arbitrary datagrams (split into several from several addresses,
//! with time moving on) never panics and only ever sends valid KRPC of bounded size.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dht::krpc::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        let again = Message::decode(&msg.encode()).expect("an encoded message decodes");
        assert_eq!(again, msg);
    }
    let _ = dht::is_dht_packet(data);

    let start = Instant::now();
    let mut cfg = dht::Config::default();
    cfg.seed = Some(1);
    let mut node = dht::Node::new(cfg, start);
    node.add_node("127.0.0.2:6881".parse().expect("address"));
    let mut now = start;
    // Datagrams are separated by 0xff bytes; the byte before each picks the sender and the
    // time step.
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let (sel, dgram) = chunk.split_first().unwrap_or((&0, &[]));
        let from = SocketAddr::from(([127, 0, 0, 2 + (sel & 3)], 6881 + u16::from(sel >> 6)));
        now += Duration::from_millis(u64::from(*sel) * 37);
        node.handle_datagram(now, from, dgram);
        while let Some((_, bytes)) = node.poll_transmit(now) {
            assert!(bytes.len() <= dht::krpc::MAX_MESSAGE_LEN);
            Message::decode(&bytes).expect("we send valid KRPC");
        }
        while node.poll_event().is_some() {}
        if i > 64 {
            break;
        }
    }
    let _ = node.save_nodes();
});
