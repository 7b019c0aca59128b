//! A hostile peer: one that serves corrupt blocks must not corrupt the result, and must end
//! up banned.

use std::time::Duration;

use btmirror_e2e::{Aria2, Btmirror, CorruptPeer, Swarm, TRANSFER_TIMEOUT, free_port};

/// btmirror downloads from an honest aria2 seed (slowed to 1 MiB/s, so that the corrupt peer
/// gets plenty of requests) and a [`CorruptPeer`] that inverts bytes in every block. The data
/// must come out right, btmirror's log must name the corrupt peer's address in a line saying
/// it was banned, the corrupt peer must see btmirror hang up while btmirror is still running,
/// and btmirror must not connect to it again.
#[test]
fn corrupt_peer_is_banned_and_the_result_is_intact() {
    let swarm = Swarm::single_file("corrupt-btm", 4 * 1024 * 1024, 32 * 1024);
    let honest_dir = swarm.seed_dir("honest");
    let corrupt = CorruptPeer::start(&swarm.torrent, &honest_dir, &swarm.announce_url());
    let mut honest = Aria2::seed_with(
        &swarm.torrent,
        &honest_dir,
        free_port(),
        &["--max-overall-upload-limit=1M"],
    );
    swarm.wait_for_seeds(2, &mut honest.proc);

    let dir = swarm.empty_dir("leech");
    let mut leech = Btmirror::get(&swarm.torrent, &dir, free_port(), &[]);
    let addr = corrupt.addr().to_string();
    let line = leech.proc.wait_for_log(
        TRANSFER_TIMEOUT,
        &format!("a hash failure or ban of {addr}"),
        |line| {
            let lower = line.to_lowercase();
            (mentions_ban(line) || lower.contains("hash fail")) && line.contains(&addr)
        },
    );
    // Only btmirror asks for blocks (the other seed never does), so the one peer that was fed
    // corrupt blocks is btmirror; its peer id tells its connections apart from aria2's.
    let fed = corrupt.fed_peers();
    let Some(btmirror_id) = fed.first().copied() else {
        panic!(
            "btmirror logged {line:?} without receiving a block from the corrupt peer\n{}",
            corrupt.summary()
        );
    };
    assert!(
        corrupt.wait_closed(&btmirror_id, Duration::from_secs(30)),
        "{}\n{}",
        leech
            .proc
            .failure("kept its connection to the corrupt peer"),
        corrupt.summary()
    );
    assert!(
        leech.proc.is_running(),
        "{}",
        leech
            .proc
            .failure("exited while it should be downloading/seeding")
    );
    let connections = corrupt.connections_from(&btmirror_id);

    swarm.wait_complete(&dir, &mut leech.proc, TRANSFER_TIMEOUT);
    let banned = leech
        .proc
        .log()
        .lines()
        .any(|l| mentions_ban(l) && l.contains(&addr));
    assert!(
        banned,
        "{}\n{}",
        leech
            .proc
            .failure(&format!("never logged that it banned {addr}")),
        corrupt.summary()
    );
    assert_eq!(
        corrupt.connections_from(&btmirror_id),
        connections,
        "btmirror connected to the banned peer again\n{}",
        corrupt.summary()
    );
    let status = leech.terminate();
    assert!(
        status.success(),
        "{}",
        leech.proc.failure(&format!("SIGTERM gave {status}"))
    );
    swarm.assert_complete(&dir);
}

/// Whether a log line has a word starting with "ban" (ban, banned, banning, bans).
fn mentions_ban(line: &str) -> bool {
    line.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word.starts_with("ban"))
}
