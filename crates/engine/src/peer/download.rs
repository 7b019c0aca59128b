//! The downloading side of a peer: what it has, our interest, the request pipeline (its depth
//! follows the peer's rate), blocks arriving into the picker, and snubbing.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use metainfo::{BLOCK_SIZE, Bitfield};
use tokio::time::Instant;
use tracing::debug;
use wire::{BlockRequest, Message};

use super::{INITIAL_DEPTH, Peer, REQUEST_TIMEOUT, SNUB_RETRY};
use crate::error::PeerError;
use crate::picker::BlockOutcome;
use crate::ratelimit::acquire_all;
use crate::torrent::Event;

impl Peer {
    /// The peer has a new piece.
    pub(super) fn on_have(&mut self, i: u32) -> Result<(), PeerError> {
        if i >= self.has.len() {
            return Err(PeerError::HaveOutOfRange(i));
        }
        if !self.has.set(i) {
            return Ok(());
        }
        let wants = {
            let mut p = self.shared.picker();
            p.peer_has(i);
            p.wants(i)
        };
        if self.has.is_full() {
            self.counters.is_seed.store(true, Ordering::Relaxed);
            if self.shared.picker().is_complete() {
                return Err(PeerError::BothSeeds);
            }
        }
        if wants && !self.am_interested {
            self.am_interested = true;
            self.send(Message::Interested)?;
        }
        self.ask_hashes()?;
        self.fill_requests()
    }

    /// The peer will not answer this request (BEP 6): someone else may.
    pub(super) fn on_reject(&mut self, r: BlockRequest) {
        if self.inflight.remove(&r) {
            self.shared.picker().release(&r);
        }
    }

    pub(super) fn set_bitfield(&mut self, bf: Bitfield) -> Result<(), PeerError> {
        let wanted = {
            let mut p = self.shared.picker();
            p.remove_peer(&self.has);
            p.add_peer(&bf);
            p.wanted_from(&bf)
        };
        self.has = bf;
        if self.has.is_full() {
            self.counters.is_seed.store(true, Ordering::Relaxed);
            if self.shared.picker().is_complete() {
                return Err(PeerError::BothSeeds);
            }
        }
        if wanted > 0 && !self.am_interested {
            self.am_interested = true;
            self.send(Message::Interested)?;
        }
        self.ask_hashes()?;
        self.fill_requests()
    }

    /// Re-evaluates whether we want anything from this peer (after we gained pieces).
    pub(super) fn update_interest(&mut self) {
        let wanted = self.shared.picker().wanted_from(&self.has);
        if wanted == 0 && self.am_interested {
            self.am_interested = false;
            let _ = self.send(Message::NotInterested);
        }
    }

    /// Tops the request pipeline up from the picker. When the picker gives less than there is
    /// room for (its piece buffers are full, or this peer has nothing free we want), the peer is
    /// `starved` and its loop waits for buffer space to free instead of for a timer.
    pub(super) fn fill_requests(&mut self) -> Result<(), PeerError> {
        if !self.am_interested || self.peer_choking || self.snubbed_at.is_some() {
            self.starved = false;
            return Ok(());
        }
        let room = self.depth.saturating_sub(self.inflight.len());
        // Top up in batches: fewer picker locks on the hot path.
        if room == 0 {
            self.starved = false;
            return Ok(());
        }
        if !self.inflight.is_empty() && room < self.depth / 4 {
            return Ok(());
        }
        if self.inflight.is_empty() {
            self.last_progress = Instant::now();
        }
        // Seen before picking: space freed from here on wakes us again.
        self.space.borrow_and_update();
        let mut buf = std::mem::take(&mut self.pick_buf);
        buf.clear();
        let inflight = &self.inflight;
        self.shared
            .picker()
            .pick(&self.has, room, &|r| inflight.contains(r), &mut buf);
        for r in &buf {
            self.inflight.insert(*r);
            self.send(Message::Request(*r))?;
        }
        let got = buf.len();
        self.pick_buf = buf;
        self.starved = got < room;
        if got == 0 && self.inflight.is_empty() {
            self.update_interest();
            self.starved &= self.am_interested;
        }
        Ok(())
    }

    pub(super) async fn on_block(
        &mut self,
        index: u32,
        begin: u32,
        data: Bytes,
    ) -> Result<(), PeerError> {
        let len = data.len() as u64;
        let req = BlockRequest {
            index,
            begin,
            length: data.len() as u32,
        };
        self.inflight.remove(&req);
        self.counters.downloaded.fetch_add(len, Ordering::Relaxed);
        self.shared.downloaded.fetch_add(len, Ordering::Relaxed);
        self.last_progress = Instant::now();
        if self.snubbed_at.take().is_some() {
            self.counters.snubbed.store(false, Ordering::Relaxed);
        }
        let outcome = self.shared.picker().on_block(self.key, index, begin, &data);
        let (duplicate, complete) = match outcome {
            BlockOutcome::Ignored => (false, None),
            BlockOutcome::Stored { duplicate_requests } => (duplicate_requests, None),
            BlockOutcome::Complete(piece) => (piece.duplicate_requests, Some(piece)),
        };
        if duplicate {
            // Endgame: the block was also asked of others; cancel it there.
            let ev = Event::CancelElsewhere {
                from: self.key,
                req,
            };
            let _ = self.shared.events.send(ev).await;
        }
        if let Some(piece) = complete {
            crate::torrent::verify::spawn(&self.shared, piece);
        }
        acquire_all(&[&self.shared.ctx.down, &self.shared.down], len).await;
        self.fill_requests()
    }

    pub(super) fn on_tick(&mut self) {
        // Adapt the request pipeline to about two seconds of data at the current rate.
        let now = Instant::now();
        let total = self.counters.downloaded.load(Ordering::Relaxed);
        let (since, base) = self.rate_window;
        let secs = now.duration_since(since).as_secs_f64();
        if secs >= 1.0 {
            let rate = (total - base) as f64 / secs;
            let want = (rate * 2.0 / f64::from(BLOCK_SIZE)) as usize + 8;
            self.depth = want.clamp(INITIAL_DEPTH.min(self.max_depth), self.max_depth);
            self.rate_window = (now, total);
        }
        if !self.inflight.is_empty() && self.last_progress.elapsed() > REQUEST_TIMEOUT {
            debug!(addr = %self.addr, inflight = self.inflight.len(), "requests timed out, peer snubbed");
            self.release_all();
            self.snubbed_at = Some(now);
            self.counters.snubbed.store(true, Ordering::Relaxed);
        }
        // Runs of hashes asked of a peer that went quiet are asked of another.
        let _ = self.ask_hashes();
        if self.snubbed_at.is_some_and(|t| t.elapsed() > SNUB_RETRY) {
            self.snubbed_at = None;
            self.counters.snubbed.store(false, Ordering::Relaxed);
            let _ = self.fill_requests();
        } else if self.inflight.is_empty() {
            let _ = self.fill_requests();
        }
    }

    pub(super) fn release_all(&mut self) {
        if self.inflight.is_empty() {
            return;
        }
        let mut p = self.shared.picker();
        for r in self.inflight.drain() {
            p.release(&r);
        }
    }
}
