//! Hostile and broken peers: nothing they send may panic the endpoint or grow its memory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::packet::{Header, PacketType, SelectiveAck};
use crate::sim::{App, Link, Sim, pattern, run};
use crate::{Config, Endpoint, Error, State};

fn packet(
    kind: PacketType,
    conn_id: u16,
    seq_nr: u16,
    ack_nr: u16,
    wnd: u32,
    payload: &[u8],
) -> Vec<u8> {
    let h = Header {
        kind,
        conn_id,
        timestamp: 1,
        timestamp_diff: 0,
        wnd_size: wnd,
        seq_nr,
        ack_nr,
        sack: None,
    };
    let mut out = Vec::new();
    h.encode(&mut out);
    out.extend_from_slice(payload);
    out
}

fn addr(ip: u32, port: u16) -> SocketAddr {
    SocketAddr::from((std::net::Ipv4Addr::from(0x7f00_0000 | ip), port))
}

/// A connection with a scripted peer at `peer`: returns the endpoint, the handle, and the
/// (conn id the peer must use, our next seq the peer acks) after answering our SYN.
fn scripted(
    now: Instant,
    peer: SocketAddr,
    wnd: u32,
) -> (Endpoint, crate::ConnectionHandle, u16, u16) {
    let mut ep = Endpoint::new(Config::default(), now, 42);
    let h = ep.connect(now, peer).expect("connect");
    let syn = ep.poll_transmit(now).expect("SYN");
    let (syn, _) = Header::decode(&syn.payload).expect("our SYN decodes");
    let send_id = syn.conn_id;
    ep.handle_datagram(
        now,
        peer,
        &packet(PacketType::State, send_id, 500, syn.seq_nr, wnd, &[]),
    );
    assert!(ep.connection(h).expect("live").is_established());
    (ep, h, send_id, syn.seq_nr)
}

#[test]
fn garbage_datagrams_never_panic() {
    let now = Instant::now();
    let peer = addr(1, 9);
    let (mut ep, h, id, _) = scripted(now, peer, 1 << 20);
    let mut rng = fastrand::Rng::with_seed(11);
    for i in 0..20_000u32 {
        let len = rng.usize(0..80);
        let mut d: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if i % 2 == 0 && d.len() >= 20 {
            // mostly-valid headers aimed at the live connection
            d[0] = (rng.u8(0..5) << 4) | 1;
            d[1] = rng.u8(0..3);
            d[2..4].copy_from_slice(&id.to_be_bytes());
        }
        ep.handle_datagram(now + Duration::from_millis(u64::from(i)), peer, &d);
        while ep
            .poll_transmit(now + Duration::from_millis(u64::from(i)))
            .is_some()
        {}
    }
    assert!(ep.stats().malformed > 0);
    assert!(ep.buffered_bytes() <= 2 << 20);
    let _ = ep.connection(h).map(|c| c.state().clone());
}

#[test]
fn acks_for_data_never_sent_are_dropped() {
    let now = Instant::now();
    let peer = addr(1, 9);
    let (mut ep, h, id, syn_seq) = scripted(now, peer, 1 << 20);
    let conn = ep.connection(h).expect("live");
    conn.write(b"hello").expect("write");
    let data = ep.poll_transmit(now).expect("data");
    let (data, _) = Header::decode(&data.payload).expect("decodes");
    assert_eq!(data.seq_nr, syn_seq.wrapping_add(1));
    // ack far past what we sent, and a sack of packets never sent
    ep.handle_datagram(
        now,
        peer,
        &packet(
            PacketType::State,
            id,
            500,
            data.seq_nr.wrapping_add(40),
            1 << 20,
            &[],
        ),
    );
    let mut h2 = Header::decode(&packet(PacketType::State, id, 500, syn_seq, 1 << 20, &[]))
        .expect("ok")
        .0;
    h2.sack = Some(SelectiveAck::from_flags([true; 64]));
    let mut bytes = Vec::new();
    h2.encode(&mut bytes);
    ep.handle_datagram(now, peer, &bytes);
    let conn = ep.connection(h).expect("live");
    assert_eq!(
        conn.stats().invalid,
        1,
        "the ack from the future is dropped"
    );
    assert_eq!(
        conn.unacked_bytes(),
        5,
        "nothing was acked by either packet"
    );
    assert_eq!(*conn.state(), State::Connected);
}

#[test]
fn zero_window_forever_is_bounded_and_probed() {
    let start = Instant::now();
    let peer = addr(1, 9);
    let (mut ep, h, id, syn_seq) = scripted(start, peer, 0);
    let big = vec![7u8; 4 << 20];
    let accepted = ep.connection(h).expect("live").write(&big).expect("write");
    assert_eq!(
        accepted,
        Config::default().send_buffer,
        "write stops at the send buffer"
    );
    let mut now = start;
    let mut sent = 0;
    while now - start < Duration::from_secs(600) {
        while ep.poll_transmit(now).is_some() {
            sent += 1;
            // the peer never reads: it acks only our SYN and keeps its window shut
            ep.handle_datagram(
                now,
                peer,
                &packet(PacketType::State, id, 500, syn_seq, 0, &[]),
            );
        }
        now = ep
            .next_timeout()
            .unwrap_or(now + Duration::from_secs(1))
            .max(now + Duration::from_millis(1));
        ep.handle_timeout(now);
        if ep
            .connection(h)
            .is_none_or(|c| matches!(c.state(), State::Failed(_)))
        {
            break;
        }
    }
    eprintln!(
        "zero window: {sent} datagrams in {:?}, {:?}",
        now - start,
        ep.connection(h).map(|c| c.state().clone())
    );
    assert!(sent > 1, "never probed the closed window");
    assert!(
        sent < 200,
        "{sent} datagrams to a closed window in 10 minutes"
    );
    assert!(ep.buffered_bytes() <= Config::default().send_buffer);
    let conn = ep.connection(h).expect("kept until released");
    // either still probing, or given up after retransmissions without progress
    assert!(
        matches!(
            conn.state(),
            State::Connected | State::Failed(Error::TimedOut)
        ),
        "{:?}",
        conn.state()
    );
}

#[test]
fn syn_flood_is_bounded_and_expires() {
    let now = Instant::now();
    let config = Config::default();
    let mut ep = Endpoint::new(config.clone(), now, 1);
    // many addresses
    for i in 0..5_000u32 {
        let from = addr(1 + i % 2000, 1000 + (i % 60) as u16);
        ep.handle_datagram(
            now,
            from,
            &packet(PacketType::Syn, i as u16, 1, 0, 1 << 20, &[]),
        );
        while ep.poll_transmit(now).is_some() {}
    }
    assert_eq!(ep.len(), config.max_half_open);
    assert!(ep.stats().syns_dropped_half_open > 0);
    // one address: at most the per-IP share
    let mut ep2 = Endpoint::new(config.clone(), now, 2);
    for i in 0..1_000u16 {
        ep2.handle_datagram(
            now,
            addr(7, 7),
            &packet(PacketType::Syn, i.wrapping_mul(2), 1, 0, 1 << 20, &[]),
        );
    }
    assert_eq!(ep2.len(), config.max_half_open_per_ip);
    // nobody followed up: all expire
    let later = now + config.half_open_timeout + Duration::from_millis(1);
    ep.handle_timeout(later);
    ep2.handle_timeout(later);
    assert!(ep.is_empty() && ep2.is_empty());
    assert_eq!(ep.stats().half_open_expired, config.max_half_open as u64);
    assert!(ep.accept().is_none());
}

#[test]
fn packets_for_closed_connections_get_a_bounded_reset() {
    let now = Instant::now();
    let mut ep = Endpoint::new(Config::default(), now, 3);
    let stranger = addr(3, 3);
    for i in 0..500u16 {
        ep.handle_datagram(
            now,
            stranger,
            &packet(PacketType::Data, 77, i, 0, 1 << 20, b"x"),
        );
    }
    // state packets and resets for unknown connections are not answered (no reset loops)
    ep.handle_datagram(
        now,
        stranger,
        &packet(PacketType::State, 77, 1, 0, 1 << 20, &[]),
    );
    ep.handle_datagram(
        now,
        stranger,
        &packet(PacketType::Reset, 77, 1, 0, 1 << 20, &[]),
    );
    let mut resets = 0;
    while let Some(t) = ep.poll_transmit(now) {
        let (h, _) = Header::decode(&t.payload).expect("decodes");
        assert_eq!((h.kind, h.conn_id), (PacketType::Reset, 77));
        resets += 1;
    }
    assert_eq!(resets, 64);
    assert_eq!(ep.stats().unknown_connection, 502);
    assert_eq!(ep.stats().resets_dropped, 500 - 64);
}

#[test]
fn data_after_a_clean_close_is_reset_and_reset_matches_send_id() {
    let mut sim = Sim::new(Config::default(), Link::default(), 12);
    let mut apps = [App::new(pattern(5000, 1)), App::new(pattern(5000, 2))];
    apps[0].handle = Some(sim.connect());
    assert!(run(&mut sim, &mut apps, Duration::from_secs(30), |a| a
        .iter()
        .all(|a| a.eof)));
    let h0 = apps[0].handle.expect("h0");
    let send_id = sim.sides[0].ep.connection(h0).expect("live").send_id();
    for (app, side) in apps.iter().zip(sim.sides.iter_mut()) {
        side.ep.release(sim.now, app.handle.expect("handle"));
    }
    let start = sim.now;
    while sim.now - start < Duration::from_secs(10) && sim.step() {}
    assert!(sim.sides[1].ep.is_empty());
    let from = sim.sides[0].addr;
    sim.sides[1].ep.handle_datagram(
        sim.now,
        from,
        &packet(PacketType::Data, send_id, 9, 9, 1000, b"late"),
    );
    assert_eq!(sim.sides[1].ep.stats().resets_sent, 1);

    // a RESET carrying the id we send with (not the one we receive on) still aborts
    let mut sim = Sim::new(Config::default(), Link::default(), 13);
    let mut apps = [App::new(pattern(5000, 1)), App::new(Vec::new())];
    apps[1].shutdown = true;
    apps[0].handle = Some(sim.connect());
    run(&mut sim, &mut apps, Duration::from_secs(30), |a| {
        a[1].received.len() == 5000
    });
    let h0 = apps[0].handle.expect("h0");
    let send_id = sim.sides[0].ep.connection(h0).expect("live").send_id();
    let from = sim.sides[1].addr;
    sim.sides[0].ep.handle_datagram(
        sim.now,
        from,
        &packet(PacketType::Reset, send_id, 0, 0, 0, &[]),
    );
    let state = sim.sides[0]
        .ep
        .connection(h0)
        .expect("live")
        .state()
        .clone();
    assert_eq!(state, State::Failed(Error::ConnectionReset));
}

#[test]
fn full_accept_backlog_resets_newcomers() {
    let config = Config {
        accept_backlog: 1,
        ..Config::default()
    };
    let mut sim = Sim::new(config, Link::default(), 15);
    let first = sim.connect();
    let second = sim.connect();
    for h in [first, second] {
        sim.sides[0]
            .ep
            .connection(h)
            .expect("live")
            .write(b"hello")
            .expect("write");
    }
    // nobody accepts on side 1
    let start = sim.now;
    while sim.now - start < Duration::from_secs(5) && sim.step() {}
    assert_eq!(sim.sides[1].ep.stats().backlog_full, 1);
    let states: Vec<State> = [first, second]
        .iter()
        .map(|h| {
            sim.sides[0]
                .ep
                .connection(*h)
                .expect("kept until released")
                .state()
                .clone()
        })
        .collect();
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == State::Failed(Error::ConnectionReset))
            .count(),
        1,
        "{states:?}"
    );
    assert!(sim.sides[1].ep.accept().is_some());
    assert!(sim.sides[1].ep.accept().is_none());
}
