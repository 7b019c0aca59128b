//! The picker's interface to web seeds: they fetch whole pieces (runs of consecutive pieces,
//! one HTTP range request), so a web seed takes every block of a piece at once. Peers never get
//! a block a web seed holds, except in endgame, where a web seed may also take a piece whose
//! blocks are in flight to peers (each block at most [`ENDGAME_DUPLICATES`] times).

use wire::BlockRequest;

use super::{Block, BlockOutcome, ENDGAME_DUPLICATES, Picker, PieceState, block_request};
use crate::PeerKey;

/// A piece handed to a web seed, with the blocks it was given (to release if it fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPick {
    /// The piece index.
    pub index: u32,
    /// The blocks marked as requested for this web seed.
    pub blocks: Vec<BlockRequest>,
}

impl Picker {
    /// Up to `max_pieces` consecutive pieces for a web seed (all have every piece), starting
    /// at the first missing piece from a random point (so several web seeds spread out). In
    /// endgame (no missing piece left) one started piece is shared instead. Empty when there
    /// is nothing to fetch or the piece buffers are all taken.
    pub fn pick_web_run(&mut self, max_pieces: usize) -> Vec<WebPick> {
        let n = self.states.len() as u32;
        let mut out = Vec::new();
        if n == 0 || max_pieces == 0 {
            return out;
        }
        let offset = self.rng.u32(0..n);
        let first = (0..n)
            .map(|k| (offset + k) % n)
            .find(|&i| self.states[i as usize] == PieceState::Missing);
        if let Some(mut i) = first {
            while out.len() < max_pieces
                && i < n
                && self.states[i as usize] == PieceState::Missing
                && self.active.len() + self.verifying < self.max_active
            {
                self.start_piece(i);
                out.push(self.take_whole_piece(i, 1));
                i += 1;
            }
            return out;
        }
        // Endgame: the started piece with the most blocks nobody was asked for yet.
        let mut started: Vec<(u32, u32)> = self.active.iter().map(|(i, a)| (a.free, *i)).collect();
        started.sort_unstable_by(|a, b| b.cmp(a));
        for (_, i) in started {
            let pick = self.take_whole_piece(i, ENDGAME_DUPLICATES);
            if !pick.blocks.is_empty() {
                out.push(pick);
                break;
            }
        }
        out
    }

    /// True when a web seed found nothing to fetch only because the piece buffers are all in use
    /// (pieces are still missing): it should wait for space, not stop.
    pub fn web_waits_for_room(&self) -> bool {
        self.active.len() + self.verifying >= self.max_active
            && self.states.contains(&PieceState::Missing)
    }

    /// Marks every block of active piece `i` requested once more, where it has fewer than
    /// `limit` requests and is not done yet.
    fn take_whole_piece(&mut self, i: u32, limit: u8) -> WebPick {
        let len = self.piece_len(i);
        let mut blocks = Vec::new();
        if let Some(a) = self.active.get_mut(&i) {
            for (b, state) in a.blocks.iter_mut().enumerate() {
                match *state {
                    Block::Free => {
                        *state = Block::Requested(1);
                        a.free -= 1;
                    }
                    Block::Requested(k) if k < limit => *state = Block::Requested(k + 1),
                    _ => continue,
                }
                blocks.push(block_request(i, b as u32, len));
            }
        }
        WebPick { index: i, blocks }
    }

    /// A web seed will not deliver `pick`: its blocks go back to the pool.
    pub fn release_web(&mut self, pick: &WebPick) {
        for b in &pick.blocks {
            self.release(b);
        }
    }

    /// Stores a whole piece a web seed sent, block by block as if a peer had sent each, and
    /// returns what became of each block that was stored.
    pub fn on_web_piece(
        &mut self,
        source: PeerKey,
        pick: &WebPick,
        data: &[u8],
    ) -> Vec<(BlockRequest, BlockOutcome)> {
        let mut outcomes = Vec::new();
        for b in &pick.blocks {
            let start = b.begin as usize;
            let Some(block) = data.get(start..start + b.length as usize) else {
                continue;
            };
            match self.on_block(source, pick.index, b.begin, block) {
                BlockOutcome::Ignored => {}
                o => outcomes.push((*b, o)),
            }
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use metainfo::{Bitfield, FileEntry, Info};

    use super::*;

    fn picker(pieces: u32, have: &[u32]) -> Picker {
        let total = u64::from(pieces) * 32768 - 100;
        let info = Info {
            name: "x".into(),
            piece_length: 32768,
            pieces: vec![[0; 20]; pieces as usize].into(),
            files: vec![FileEntry {
                path: "x".into(),
                length: total,
                offset: 0,
            }],
            multi_file: false,
            private: false,
            total_length: total,
            v2: None,
        };
        let mut bits = Bitfield::new(pieces);
        for &i in have {
            bits.set(i);
        }
        Picker::new(&info, bits, fastrand::Rng::with_seed(3))
    }

    #[test]
    fn a_web_seed_takes_runs_of_whole_pieces_that_peers_then_never_get() {
        let mut p = picker(6, &[2]);
        let run = p.pick_web_run(8);
        assert!(!run.is_empty());
        // Consecutive, never a piece we have.
        for w in run.windows(2) {
            assert_eq!(w[1].index, w[0].index + 1);
        }
        assert!(run.iter().all(|w| w.index != 2 && w.blocks.len() == 2));
        let all = Bitfield::full(6);
        let mut reqs = Vec::new();
        p.pick(&all, 100, &|_| false, &mut reqs);
        assert!(
            reqs.iter().all(|r| run.iter().all(|w| w.index != r.index)),
            "a peer was given a block a web seed holds (not endgame yet)"
        );
    }

    #[test]
    fn a_full_buffer_budget_means_wait_for_room_not_done() {
        let mut p = picker(8, &[]);
        p.set_buffer_budget(2 * 32768);
        let mut taken = 0;
        loop {
            let run = p.pick_web_run(8);
            if run.is_empty() {
                break;
            }
            taken += run.len();
        }
        assert_eq!(taken, 2, "the budget holds two pieces");
        assert!(
            p.web_waits_for_room(),
            "pieces are missing: the web seed must wait"
        );
        // Nothing missing (all taken or had): an empty pick means done.
        let mut q = picker(2, &[]);
        while !q.pick_web_run(8).is_empty() {}
        assert!(!q.web_waits_for_room());
    }

    #[test]
    fn delivered_pieces_complete_and_released_ones_go_back() {
        let mut p = picker(2, &[]);
        let run = p.pick_web_run(1);
        assert_eq!(run.len(), 1);
        let w = &run[0];
        p.release_web(w);
        let all = Bitfield::full(2);
        let mut reqs = Vec::new();
        p.pick(&all, 100, &|_| false, &mut reqs);
        assert!(
            reqs.iter().any(|r| r.index == w.index),
            "released blocks are free again"
        );
        let mut p = picker(2, &[]);
        let run = p.pick_web_run(2);
        let len = 32768;
        let outcomes = p.on_web_piece(9, &run[0], &vec![1; len]);
        assert!(
            matches!(outcomes.last(), Some((_, BlockOutcome::Complete(c))) if c.contributors == [9])
        );
    }

    #[test]
    fn in_endgame_a_web_seed_shares_a_started_piece_at_most_twice() {
        let mut p = picker(1, &[]);
        let all = Bitfield::full(1);
        let mut reqs = Vec::new();
        p.pick(&all, 100, &|_| false, &mut reqs);
        assert_eq!(reqs.len(), 2);
        let run = p.pick_web_run(4);
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].blocks.len(), 2);
        assert!(
            p.pick_web_run(4).is_empty(),
            "each block is in flight twice already"
        );
    }
}
