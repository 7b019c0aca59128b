//! One web seed at work: picks a run of whole pieces, asks for it with one `Range` request per
//! file it spans, assembles the pieces as the body streams in and hands each complete piece to
//! the same verification as peer pieces. Pieces it does not deliver go back to the picker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT_ENCODING, CONTENT_RANGE, RANGE, RETRY_AFTER};

use super::response::{self, RangeAsk};
use super::url::file_url;
use crate::PeerKey;
use crate::error::WebSeedError;
use crate::picker::{BlockOutcome, WebPick};
use crate::ratelimit::acquire_all;
use crate::torrent::event::Event;
use crate::torrent::shared::TorrentShared;

/// What a web seed's fetch loop needs.
pub(crate) struct Fetcher {
    pub shared: Arc<TorrentShared>,
    pub key: PeerKey,
    pub base: String,
    pub http: reqwest::Client,
    /// Payload bytes received from this web seed.
    pub downloaded: Arc<AtomicU64>,
    /// About this many bytes per request (whole pieces, at least one).
    pub run_bytes: u64,
    /// A request with no data for this long fails.
    pub stall: Duration,
}

impl Fetcher {
    /// Fetches runs of pieces until none is left to fetch (`Ok`) or a request fails.
    pub(crate) async fn run(self) -> Result<(), WebSeedError> {
        let per_run = (self.run_bytes / u64::from(self.shared.info.piece_length).max(1)).max(1);
        let mut space = self.shared.space_freed();
        loop {
            // Seen before picking: space freed after the pick wakes the wait below at once.
            space.borrow_and_update();
            let (picks, wait) = {
                let mut picker = self.shared.picker();
                let picks = picker.pick_web_run(per_run as usize);
                let wait = picks.is_empty() && picker.web_waits_for_room();
                (picks, wait)
            };
            if wait {
                // Every piece buffer is in use: go on the moment a verified piece frees one
                // (stopping here left the web seed idle until the next tick, a second later).
                let _ = tokio::time::timeout(Duration::from_secs(1), space.changed()).await;
                continue;
            }
            if picks.is_empty() {
                return Ok(());
            }
            let mut run = Run::new(self.shared.clone(), picks);
            self.fetch_run(&mut run).await?;
        }
    }

    async fn fetch_run(&self, run: &mut Run) -> Result<(), WebSeedError> {
        let info = self.shared.info.clone();
        let (start, end) = run.span();
        for seg in storage::file_map::segments(&info, start, end - start) {
            run.zeros_until(seg.offset, self).await; // a pad file before this one
            let url = file_url(&self.base, &info, seg.file_index)
                .ok_or(WebSeedError::NoUrl(seg.file_index))?;
            let file_len = info.files.get(seg.file_index).map_or(0, |f| f.length);
            let ask = RangeAsk {
                offset: seg.file_offset,
                len: seg.len,
                file_len,
            };
            self.fetch_range(&url, &ask, run).await?;
        }
        run.zeros_until(end, self).await;
        Ok(())
    }

    async fn fetch_range(
        &self,
        url: &str,
        ask: &RangeAsk,
        run: &mut Run,
    ) -> Result<(), WebSeedError> {
        let request = self
            .http
            .get(url)
            .header(RANGE, ask.header())
            .header(ACCEPT_ENCODING, "identity")
            .send();
        let mut resp = tokio::time::timeout(self.stall, request)
            .await
            .map_err(|_| WebSeedError::Stalled(self.stall))?
            .map_err(WebSeedError::Http)?;
        let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
        response::check(
            ask,
            resp.status().as_u16(),
            header(CONTENT_RANGE),
            resp.content_length(),
            header(RETRY_AFTER),
        )?;
        let mut got = 0u64;
        loop {
            let chunk = tokio::time::timeout(self.stall, resp.chunk())
                .await
                .map_err(|_| WebSeedError::Stalled(self.stall))?
                .map_err(WebSeedError::Http)?;
            let Some(chunk) = chunk else { break };
            got += chunk.len() as u64;
            if got > ask.len {
                return Err(WebSeedError::BodyLength {
                    asked: ask.len,
                    got,
                });
            }
            let len = chunk.len() as u64;
            self.downloaded.fetch_add(len, Ordering::Relaxed);
            self.shared.downloaded.fetch_add(len, Ordering::Relaxed);
            run.feed(&chunk, self).await;
            acquire_all(&[&self.shared.ctx.down, &self.shared.down], len).await;
        }
        if got < ask.len {
            return Err(WebSeedError::BodyLength {
                asked: ask.len,
                got,
            });
        }
        Ok(())
    }
}

/// A run of consecutive pieces being assembled; what it has not delivered when dropped (an
/// error, a cancelled task) goes back to the picker.
struct Run {
    shared: Arc<TorrentShared>,
    picks: Vec<WebPick>,
    /// The next piece to complete (index into `picks`).
    next: usize,
    /// Torrent offset of the next byte expected.
    pos: u64,
    buf: Vec<u8>,
}

impl Run {
    fn new(shared: Arc<TorrentShared>, picks: Vec<WebPick>) -> Self {
        let first = picks.first().map_or(0, |p| p.index);
        let pos = u64::from(first) * u64::from(shared.info.piece_length);
        let len = shared.info.piece_len(first) as usize;
        Self {
            shared,
            picks,
            next: 0,
            pos,
            buf: vec![0; len],
        }
    }

    /// The torrent byte range of the run.
    fn span(&self) -> (u64, u64) {
        let info = &self.shared.info;
        let start = |i: u32| u64::from(i) * u64::from(info.piece_length);
        let first = self.picks.first().map_or(0, |p| p.index);
        let last = self.picks.last().map_or(0, |p| p.index);
        (start(first), start(last) + u64::from(info.piece_len(last)))
    }

    /// Pad-file bytes: zeros up to torrent offset `to`.
    async fn zeros_until(&mut self, to: u64, f: &Fetcher) {
        const ZEROS: [u8; 4096] = [0; 4096];
        while self.pos < to {
            let n = (to - self.pos).min(ZEROS.len() as u64) as usize;
            self.feed(&ZEROS[..n], f).await;
        }
    }

    /// The next bytes of the run, in order.
    async fn feed(&mut self, mut data: &[u8], f: &Fetcher) {
        let plen = u64::from(self.shared.info.piece_length);
        while !data.is_empty() {
            let Some(pick) = self.picks.get(self.next) else {
                return;
            };
            let piece_start = u64::from(pick.index) * plen;
            let at = (self.pos - piece_start) as usize;
            let take = (self.buf.len() - at).min(data.len());
            if let Some(dst) = self.buf.get_mut(at..at + take) {
                dst.copy_from_slice(&data[..take]);
            }
            data = &data[take..];
            self.pos += take as u64;
            if at + take == self.buf.len() {
                self.deliver(f).await;
            }
        }
    }

    /// The current piece is whole: store it in the picker, verify it when complete.
    async fn deliver(&mut self, f: &Fetcher) {
        let Some(pick) = self.picks.get(self.next) else {
            return;
        };
        let outcomes = self.shared.picker().on_web_piece(f.key, pick, &self.buf);
        self.next += 1;
        for (req, outcome) in outcomes {
            match outcome {
                BlockOutcome::Stored {
                    duplicate_requests: true,
                } => {
                    let ev = Event::CancelElsewhere { from: f.key, req };
                    let _ = self.shared.events.send(ev).await;
                }
                BlockOutcome::Complete(piece) => {
                    if piece.duplicate_requests {
                        let ev = Event::CancelElsewhere { from: f.key, req };
                        let _ = self.shared.events.send(ev).await;
                    }
                    crate::torrent::verify::spawn(&self.shared, piece);
                }
                _ => {}
            }
        }
        if let Some(next) = self.picks.get(self.next) {
            let len = self.shared.info.piece_len(next.index) as usize;
            self.buf.resize(len, 0);
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let undelivered = self.picks.get(self.next..).unwrap_or_default();
        if undelivered.is_empty() {
            return;
        }
        let mut picker = self.shared.picker();
        for pick in undelivered {
            picker.release_web(pick);
        }
    }
}
