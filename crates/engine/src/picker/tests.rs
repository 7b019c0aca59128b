use super::*;
use metainfo::FileEntry;

fn info(total: u64, piece_length: u32) -> Info {
    let n = total.div_ceil(u64::from(piece_length)) as usize;
    Info {
        name: "x".into(),
        piece_length,
        pieces: vec![[0; 20]; n].into(),
        files: vec![FileEntry {
            path: "x".into(),
            length: total,
            offset: 0,
        }],
        multi_file: false,
        private: false,
        total_length: total,
        v2: None,
    }
}

fn none(_: &BlockRequest) -> bool {
    false
}

#[test]
fn picks_every_block_once_then_completes() {
    let inf = info(3 * 32768 + 100, 32768);
    let mut p = Picker::new(&inf, Bitfield::new(4), fastrand::Rng::with_seed(1));
    let all = Bitfield::full(4);
    p.add_peer(&all);
    let mut reqs = Vec::new();
    p.pick(&all, 1000, &none, &mut reqs);
    assert_eq!(reqs.len(), 7);
    let total: u64 = reqs.iter().map(|r| u64::from(r.length)).sum();
    assert_eq!(total, inf.total_length);
    let mut completed = 0;
    for r in &reqs {
        let data = vec![7u8; r.length as usize];
        if let BlockOutcome::Complete(c) = p.on_block(1, r.index, r.begin, &data) {
            assert_eq!(c.data.len(), inf.piece_len(c.index) as usize);
            assert_eq!(c.contributors, vec![1]);
            p.piece_done(c.index, true);
            completed += 1;
        }
    }
    assert_eq!(completed, 4);
    assert!(p.is_complete());
    assert_eq!(p.bytes_left(), 0);
}

#[test]
fn rarest_first_after_the_random_start() {
    let inf = info(10 * 16384, 16384);
    let mut have = Bitfield::new(10);
    for i in 0..4 {
        have.set(i);
    }
    let mut p = Picker::new(&inf, have, fastrand::Rng::with_seed(7));
    let all = Bitfield::full(10);
    p.add_peer(&all);
    p.add_peer(&all);
    let mut all_but_8 = Bitfield::full(10);
    all_but_8.clear(8);
    p.add_peer(&all_but_8);
    // piece 8 has availability 2, all others 3.
    let mut reqs = Vec::new();
    p.pick(&all, 1, &none, &mut reqs);
    assert_eq!(reqs[0].index, 8);
}

#[test]
fn release_makes_blocks_pickable_again_and_bad_pieces_are_retried() {
    let inf = info(16384 * 2, 32768);
    let mut p = Picker::new(&inf, Bitfield::new(1), fastrand::Rng::with_seed(3));
    let all = Bitfield::full(1);
    let mut reqs = Vec::new();
    p.pick(&all, 1, &none, &mut reqs);
    assert_eq!(reqs.len(), 1);
    p.release(&reqs[0]);
    let mut again = Vec::new();
    p.pick(&all, 10, &none, &mut again);
    assert_eq!(again.len(), 2);
    for r in &again {
        if let BlockOutcome::Complete(c) = p.on_block(5, r.index, r.begin, &[0; 16384]) {
            p.piece_done(c.index, false);
        }
    }
    assert!(p.wants(0));
    let mut third = Vec::new();
    p.pick(&all, 10, &none, &mut third);
    assert_eq!(third.len(), 2, "a failed piece is requested again");
}

#[test]
fn endgame_duplicates_in_flight_blocks_up_to_the_limit() {
    let inf = info(16384, 16384);
    let mut p = Picker::new(&inf, Bitfield::new(1), fastrand::Rng::with_seed(3));
    let all = Bitfield::full(1);
    let mut a = Vec::new();
    p.pick(&all, 10, &none, &mut a);
    let mut b = Vec::new();
    p.pick(&all, 10, &none, &mut b);
    assert_eq!(b, a, "endgame: second peer asks for the same block");
    let mut c = Vec::new();
    p.pick(&all, 10, &none, &mut c);
    assert!(
        c.is_empty(),
        "no more than ENDGAME_DUPLICATES requests per block"
    );
    let first = a[0];
    let asked = |r: &BlockRequest| *r == first;
    let mut d = Vec::new();
    p.release(&first);
    p.pick(&all, 10, &asked, &mut d);
    assert!(d.is_empty(), "never the same block twice to one peer");
    match p.on_block(1, 0, 0, &[1; 16384]) {
        BlockOutcome::Complete(c) => assert!(!c.duplicate_requests),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.on_block(2, 0, 0, &[1; 16384]), BlockOutcome::Ignored);
}

#[test]
fn pieces_waiting_for_their_hash_check_count_against_the_buffer_budget() {
    let inf = info(80 * 1024 * 1024, 1024 * 1024);
    let mut p = Picker::new(&inf, Bitfield::new(80), fastrand::Rng::with_seed(3));
    let all = Bitfield::full(80);
    let mut reqs = Vec::new();
    p.pick(&all, 10_000, &none, &mut reqs);
    let mut done = 0;
    for r in &reqs {
        if let BlockOutcome::Complete(_) =
            p.on_block(1, r.index, r.begin, &vec![0; r.length as usize])
        {
            done += 1;
        }
    }
    assert!(done > 0);
    assert_eq!(p.buffered_pieces(), p.max_active);
    let mut more = Vec::new();
    p.pick(&all, 10_000, &none, &mut more);
    assert!(more.is_empty(), "no new piece while the hashing lags");
    p.piece_done(reqs[0].index, true);
    p.pick(&all, 10_000, &none, &mut more);
    assert_eq!(
        more.len(),
        64,
        "one new 1 MiB piece once one buffer is freed"
    );
}

#[test]
fn unrequested_or_malformed_blocks_are_ignored() {
    let inf = info(40000, 32768);
    let mut p = Picker::new(&inf, Bitfield::new(2), fastrand::Rng::with_seed(3));
    assert_eq!(p.on_block(1, 0, 0, &[0; 16384]), BlockOutcome::Ignored);
    let all = Bitfield::full(2);
    let mut reqs = Vec::new();
    p.pick(&all, 100, &none, &mut reqs);
    assert_eq!(p.on_block(1, 0, 1, &[0; 16384]), BlockOutcome::Ignored);
    assert_eq!(p.on_block(1, 0, 0, &[0; 100]), BlockOutcome::Ignored);
    assert_eq!(p.on_block(1, 9, 0, &[0; 16384]), BlockOutcome::Ignored);
    assert_eq!(
        p.on_block(1, 1, 0, &[0; 7232]),
        BlockOutcome::Complete(CompletePiece {
            index: 1,
            data: vec![0; 7232],
            contributors: vec![1],
            duplicate_requests: false,
        })
    );
}

#[test]
fn a_complete_torrent_keeps_nothing_per_piece() {
    let inf = info(16_384 * 100, 16_384);
    let p = Picker::new(&inf, Bitfield::full(100), fastrand::Rng::with_seed(3));
    assert!(p.is_complete() && p.has(99) && !p.has(100));
    assert_eq!((p.have_count(), p.have().count()), (100, 100));
    assert_eq!(p.states.capacity() + p.availability.capacity(), 0);
    assert_eq!(p.have.len(), 0, "a complete torrent's have is one flag");
    assert_eq!(p.wanted_from(&Bitfield::full(100)), 0);

    // A download that completes drops its per-piece state too.
    let mut p = Picker::new(&inf, Bitfield::new(100), fastrand::Rng::with_seed(3));
    let all = Bitfield::full(100);
    p.add_peer(&all);
    let mut reqs = Vec::new();
    while !p.is_complete() {
        reqs.clear();
        p.pick(&all, 64, &none, &mut reqs);
        for r in &reqs {
            let data = vec![0u8; r.length as usize];
            if let BlockOutcome::Complete(c) = p.on_block(1, r.index, r.begin, &data) {
                p.piece_done(c.index, true);
                p.recycle(c.data);
            }
        }
    }
    assert_eq!(p.bytes_left(), 0);
    assert_eq!(
        p.states.capacity() + p.availability.capacity() + p.pool.len(),
        0
    );
    assert!(p.have().is_full() && p.has(0));
}
