//! Transfers and failure cases over the simulated link.

use std::time::{Duration, Instant};

use crate::sim::{App, Link, Sim, pattern, run};
use crate::{Config, Error, State};

fn both_done(apps: &[App; 2]) -> bool {
    apps.iter().all(|a| a.eof && a.sent == a.send.len())
}

/// Transfers `a_len` bytes 0 -> 1 and `b_len` bytes 1 -> 0 at once; checks them byte-exact.
fn transfer(link: Link, seed: u64, a_len: usize, b_len: usize, limit: Duration) -> Sim {
    let mut sim = Sim::new(Config::default(), link, seed);
    let mut apps = [
        App::new(pattern(a_len, seed)),
        App::new(pattern(b_len, seed + 1)),
    ];
    apps[0].handle = Some(sim.connect());
    let finished = run(&mut sim, &mut apps, limit, both_done);
    assert!(
        apps[0].error.is_none() && apps[1].error.is_none(),
        "{:?} {:?}",
        apps[0].error,
        apps[1].error
    );
    assert!(
        finished,
        "transfer incomplete: {} of {a_len}, {} of {b_len}",
        apps[1].received.len(),
        apps[0].received.len()
    );
    assert!(apps[1].received == apps[0].send, "0 -> 1 data differs");
    assert!(apps[0].received == apps[1].send, "1 -> 0 data differs");
    for (app, side) in apps.iter().zip(sim.sides.iter_mut()) {
        if let Some(h) = app.handle {
            side.ep.release(sim.now, h);
        }
    }
    sim
}

fn lossy(loss: f64) -> Link {
    Link {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(8),
        loss,
        duplicate: 0.01,
        bandwidth: Some(4e6),
    }
}

#[test]
fn clean_link_both_ways_and_fin_closes() {
    let mut sim = transfer(
        Link::default(),
        1,
        1 << 20,
        1 << 20,
        Duration::from_secs(60),
    );
    // both FINs acked: after the linger both endpoints forget the connection
    let start = sim.now;
    while sim.now - start < Duration::from_secs(10) && sim.step() {}
    assert!(
        sim.sides[0].ep.is_empty() && sim.sides[1].ep.is_empty(),
        "closed connections linger on"
    );
    assert_eq!(sim.sides[1].ep.stats().unknown_connection, 0);
}

#[test]
fn lossy_reordering_duplicating_link_both_ways() {
    for (seed, loss) in [(2, 0.01), (3, 0.03), (4, 0.05)] {
        let sim = transfer(
            lossy(loss),
            seed,
            2 << 20,
            1 << 20,
            Duration::from_secs(600),
        );
        let retransmits = sim.lost;
        assert!(retransmits > 0, "the link dropped nothing");
    }
}

#[test]
fn ten_mib_over_one_percent_loss() {
    transfer(lossy(0.01), 9, 10 << 20, 4096, Duration::from_secs(900));
}

#[test]
fn ledbat_keeps_queuing_delay_near_target() {
    // a slow link with a deep queue: LEDBAT must not fill it far past the 100 ms target
    let link = Link {
        delay: Duration::from_millis(5),
        bandwidth: Some(500e3),
        ..Link::default()
    };
    let mut sim = Sim::new(Config::default(), link, 5);
    let mut apps = [App::new(pattern(8 << 20, 5)), App::new(Vec::new())];
    apps[0].handle = Some(sim.connect());
    let mut worst = Duration::ZERO;
    let start = sim.now;
    while sim.now - start < Duration::from_secs(12) {
        for (app, side) in apps.iter_mut().zip(sim.sides.iter_mut()) {
            app.pump(&mut side.ep);
        }
        assert!(sim.step());
        if sim.now - start > Duration::from_secs(6) {
            let queued = sim.sides[0].link_free_in(sim.now);
            worst = worst.max(queued);
        }
    }
    assert!(
        apps[1].received.len() > 4 << 20,
        "LEDBAT starved the link: {}",
        apps[1].received.len()
    );
    assert!(
        worst < Duration::from_millis(250),
        "queue grew to {worst:?}"
    );
}

#[test]
fn reset_aborts_the_peer() {
    let mut sim = Sim::new(Config::default(), Link::default(), 6);
    let mut apps = [App::new(pattern(100_000, 6)), App::new(Vec::new())];
    apps[0].handle = Some(sim.connect());
    run(&mut sim, &mut apps, Duration::from_secs(5), |a| {
        a[1].received.len() >= 10_000
    });
    let h = apps[0].handle.expect("connected");
    sim.sides[0].ep.connection(h).expect("live").abort();
    run(&mut sim, &mut apps, Duration::from_secs(5), |a| {
        a[1].error.is_some()
    });
    assert_eq!(apps[1].error, Some(Error::ConnectionReset));
    let h1 = apps[1].handle.expect("accepted");
    assert_eq!(
        *sim.sides[1]
            .ep
            .connection(h1)
            .expect("kept until released")
            .state(),
        State::Failed(Error::ConnectionReset)
    );
}

#[test]
fn dead_peer_times_out() {
    let mut sim = Sim::new(Config::default(), Link::default(), 7);
    // side 1 keeps its end open (no FIN), so side 0's reader sees the timeout too
    let mut apps = [App::new(pattern(400_000, 7)), App::new(Vec::new())];
    apps[1].shutdown = true;
    apps[0].handle = Some(sim.connect());
    run(&mut sim, &mut apps, Duration::from_secs(5), |a| {
        a[1].received.len() >= 50_000
    });
    sim.link.loss = 1.0;
    let start = sim.now;
    let finished = run(&mut sim, &mut apps, Duration::from_secs(300), |a| {
        a[0].error.is_some()
    });
    assert!(finished, "no timeout");
    assert_eq!(apps[0].error, Some(Error::TimedOut));
    assert!(
        sim.now - start < Duration::from_secs(130),
        "took {:?}",
        sim.now - start
    );
}

#[test]
fn connect_to_nobody_times_out() {
    let mut sim = Sim::new(
        Config::default(),
        Link {
            loss: 1.0,
            ..Link::default()
        },
        8,
    );
    let mut apps = [App::new(b"hello".to_vec()), App::new(Vec::new())];
    apps[0].handle = Some(sim.connect());
    let start = sim.now;
    let finished = run(&mut sim, &mut apps, Duration::from_secs(120), |a| {
        a[0].error.is_some() || a[0].received.len() > 1
    });
    assert!(finished);
    let h = apps[0].handle.expect("handle");
    let state = sim.sides[0].ep.connection(h).map(|c| c.state().clone());
    assert_eq!(state, Some(State::Failed(Error::TimedOut)));
    assert!(
        sim.now - start < Duration::from_secs(30),
        "SYN retries took {:?}",
        sim.now - start
    );
    let _ = Instant::now();
}

/// Prints the per-byte CPU cost: a loss-free 1 ms link, the sender writes from one buffer over
/// and over, the receiver reads and discards; only the protocol work (both ends plus the tiny
/// simulated link) is timed. `cargo test --release -p btmirror-utp cpu_cost -- --nocapture`.
#[test]
fn cpu_cost_of_a_loss_free_transfer() {
    let total: usize = 64 << 20;
    let link = Link {
        delay: Duration::from_millis(1),
        ..Link::default()
    };
    let config = Config::default();
    let mut sim = Sim::new(config.clone(), link, 10);
    let h0 = sim.connect();
    let chunk = pattern(64 << 10, 3);
    let mut buf = vec![0u8; 64 << 10];
    let (mut written, mut read) = (0usize, 0usize);
    let mut h1 = None;
    let wall = std::time::Instant::now();
    while read < total {
        if let Some(conn) = sim.sides[0].ep.connection(h0) {
            while written < total {
                let end = (total - written).min(chunk.len());
                match conn.write(&chunk[..end]) {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
        }
        h1 = h1.or_else(|| sim.sides[1].ep.accept());
        if let Some(conn) = h1.and_then(|h| sim.sides[1].ep.connection(h)) {
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                read += n;
            }
        }
        assert!(sim.step(), "stalled at {read} of {total}");
    }
    let secs = wall.elapsed().as_secs_f64();
    println!(
        "uTP simulated loss-free transfer: {total} bytes in {secs:.3} s of CPU (both ends) = {:.1} MB/s \
         ({:.2} ns/byte), {} datagrams; per-connection memory bound {} bytes (send_buffer + recv_buffer), \
         peak held by an endpoint {} bytes",
        total as f64 / secs / 1e6,
        secs * 1e9 / total as f64,
        sim.delivered,
        config.send_buffer + config.recv_buffer,
        sim.peak_buffered,
    );
    assert!(sim.peak_buffered <= config.send_buffer + config.recv_buffer);
}

#[test]
fn one_endpoint_multiplexes_many_connections() {
    let mut sim = Sim::new(Config::default(), lossy(0.02), 14);
    let n = 5;
    let mut outgoing: Vec<App> = (0..n)
        .map(|i| App::new(pattern(200_000 + i * 1000, 100 + i as u64)))
        .collect();
    let mut incoming: Vec<App> = (0..n).map(|_| App::new(Vec::new())).collect();
    for app in &mut outgoing {
        app.handle = Some(sim.connect());
    }
    let start = sim.now;
    while sim.now - start < Duration::from_secs(300) {
        for app in &mut outgoing {
            app.pump(&mut sim.sides[0].ep);
        }
        for app in &mut incoming {
            app.pump(&mut sim.sides[1].ep);
        }
        if incoming.iter().all(|a| a.eof) {
            break;
        }
        assert!(sim.step());
    }
    let mut got: Vec<&Vec<u8>> = incoming.iter().map(|a| &a.received).collect();
    let mut sent: Vec<&Vec<u8>> = outgoing.iter().map(|a| &a.send).collect();
    got.sort_by_key(|v| v.len());
    sent.sort_by_key(|v| v.len());
    assert!(
        got == sent,
        "each stream arrives intact on its own connection"
    );
    assert_eq!(sim.sides[1].ep.len(), n);
}

/// Two bare connections (no endpoint) whose sequence numbers wrap around 65535 early in a
/// lossy, reordering transfer both ways.
#[test]
fn sequence_numbers_wrap_under_loss() {
    use crate::Connection;
    use crate::packet::Header;
    use std::sync::Arc;

    let config = Arc::new(Config::default());
    let epoch = Instant::now();
    let mut now = epoch;
    let mut rng = fastrand::Rng::with_seed(21);
    let mut a = Connection::connect(config.clone(), epoch, now, 4000, 65_000);
    let syn = a.poll_transmit(now).expect("SYN");
    let (syn_header, _) = Header::decode(&syn).expect("SYN decodes");
    let mut b = Connection::accept(config, epoch, now, &syn_header, 65_500);
    let data_a = pattern(3 << 20, 1);
    let data_b = pattern(2 << 20, 2);
    let (mut sent_a, mut sent_b) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    // (arrival, to_b, datagram)
    let mut wire: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
    let mut buf = vec![0u8; 65536];
    while (got_b.len() < data_a.len() || got_a.len() < data_b.len())
        && now - epoch < Duration::from_secs(600)
    {
        if a.is_established() {
            sent_a += a.write(&data_a[sent_a..]).unwrap_or(0);
        }
        if b.is_established() {
            sent_b += b.write(&data_b[sent_b..]).unwrap_or(0);
        }
        while let Ok(n @ 1..) = a.read(&mut buf) {
            got_a.extend_from_slice(&buf[..n]);
        }
        while let Ok(n @ 1..) = b.read(&mut buf) {
            got_b.extend_from_slice(&buf[..n]);
        }
        for (conn, to_b) in [(&mut a, true), (&mut b, false)] {
            while let Some(d) = conn.poll_transmit(now) {
                if rng.f64() >= 0.02 {
                    let delay = Duration::from_millis(10 + rng.u64(0..6));
                    wire.push((now + delay, to_b, d));
                }
            }
        }
        let next_wire = wire.iter().map(|(t, ..)| *t).min();
        let next = [next_wire, a.next_timeout(), b.next_timeout()]
            .into_iter()
            .flatten()
            .min();
        now = now.max(next.expect("something scheduled"));
        let (due, later): (Vec<_>, Vec<_>) = wire.drain(..).partition(|(t, ..)| *t <= now);
        wire = later;
        for (_, to_b, d) in due {
            if to_b {
                b.handle_datagram(now, &d)
            } else {
                a.handle_datagram(now, &d)
            }
        }
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    assert!(
        got_b == data_a,
        "a -> b: {} of {} bytes",
        got_b.len(),
        data_a.len()
    );
    assert!(
        got_a == data_b,
        "b -> a: {} of {} bytes",
        got_a.len(),
        data_b.len()
    );
    assert!(
        a.stats().retransmits > 0 && b.stats().retransmits > 0,
        "the loss was felt"
    );
}
