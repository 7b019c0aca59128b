//! The writing half of a peer connection: encodes queued messages in batches, applies upload
//! rate limits to blocks, sends keep-alives when idle.
//!
//! Control messages (choke, have, cancel, peer exchange, ...) overtake queued blocks, so a
//! rate-limited upload never delays them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc};
use tokio_util::codec::Encoder;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use wire::{Codec, Message};

use super::PeerCounters;
use crate::error::{PeerError, error_chain};
use crate::ratelimit::take_all;
use crate::torrent::TorrentShared;

/// Send a keep-alive after this long without writing anything.
const KEEPALIVE: Duration = Duration::from_secs(90);
/// A peer that doesn't take our bytes for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Encode at most this much before writing.
const BATCH: usize = 256 * 1024;

struct Writer {
    wr: crate::transport::BoxWrite,
    rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    shared: Arc<TorrentShared>,
    counters: Arc<PeerCounters>,
    buf: BytesMut,
    codec: Codec,
    control: VecDeque<Message>,
    blocks: VecDeque<Message>,
    closed: bool,
}

pub(super) async fn run(
    wr: crate::transport::BoxWrite,
    rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    shared: Arc<TorrentShared>,
    counters: Arc<PeerCounters>,
    cancel: CancellationToken,
) {
    let mut w = Writer {
        wr,
        rx,
        queued,
        wake,
        shared,
        counters,
        buf: BytesMut::with_capacity(BATCH + 32 * 1024),
        codec: Codec::default(),
        control: VecDeque::new(),
        blocks: VecDeque::new(),
        closed: false,
    };
    tokio::select! {
        _ = cancel.cancelled() => {}
        r = w.run() => if let Err(e) = r {
            debug!(error = %error_chain(&e), "writer stopped");
        }
    }
    cancel.cancel();
    let _ = w.wr.shutdown().await;
}

impl Drop for Writer {
    /// Blocks never written give their bytes back to the process budget.
    fn drop(&mut self) {
        let unsent: usize = self
            .blocks
            .drain(..)
            .chain(std::iter::from_fn(|| self.rx.try_recv().ok()))
            .map(|m| match m {
                Message::Piece { data, .. } => data.len(),
                _ => 0,
            })
            .sum();
        self.shared.ctx.upload_budget.release(unsent);
    }
}

impl Writer {
    async fn run(&mut self) -> Result<(), PeerError> {
        loop {
            if self.control.is_empty() && self.blocks.is_empty() {
                if self.closed {
                    return Ok(());
                }
                match tokio::time::timeout(KEEPALIVE, self.rx.recv()).await {
                    Ok(Some(m)) => self.push(m),
                    Ok(None) => return Ok(()),
                    Err(_) => self.control.push_back(Message::KeepAlive),
                }
            }
            self.drain_channel();
            while let Some(m) = self.control.pop_front() {
                self.encode(&m)?;
            }
            while self.buf.len() < BATCH {
                let Some(m) = self.blocks.pop_front() else {
                    break;
                };
                let n = match &m {
                    Message::Piece { data, .. } => data.len() as u64,
                    _ => 0,
                };
                let wait = take_all(&[&self.shared.ctx.up, &self.shared.up], n);
                if !wait.is_zero() {
                    // Send what is ready, then wait for the tokens while still taking messages.
                    self.flush().await?;
                    self.sleep_receiving(wait).await;
                    while let Some(c) = self.control.pop_front() {
                        self.encode(&c)?;
                    }
                }
                self.counters.uploaded.fetch_add(n, Ordering::Relaxed);
                self.shared.uploaded.fetch_add(n, Ordering::Relaxed);
                self.encode(&m)?;
                self.block_taken(n as usize);
                self.drain_channel();
                if !self.control.is_empty() {
                    break;
                }
            }
            self.flush().await?;
        }
    }

    /// A queued block of `n` bytes was encoded: it no longer counts against the peer's upload
    /// buffer nor the process budget, and the peer may queue more.
    fn block_taken(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
        self.shared.ctx.upload_budget.release(n);
        self.wake.notify_one();
    }

    fn push(&mut self, m: Message) {
        if matches!(m, Message::Piece { .. }) {
            self.blocks.push_back(m);
        } else {
            self.control.push_back(m);
        }
    }

    fn drain_channel(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(m) => self.push(m),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    async fn sleep_receiving(&mut self, wait: Duration) {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                m = self.rx.recv(), if !self.closed => match m {
                    Some(m) => self.push(m),
                    None => self.closed = true,
                },
            }
        }
    }

    fn encode(&mut self, m: &Message) -> Result<(), PeerError> {
        self.codec
            .encode(m, &mut self.buf)
            .map_err(PeerError::Encode)
    }

    async fn flush(&mut self) -> Result<(), PeerError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(WRITE_TIMEOUT, self.wr.write_all(&self.buf)).await {
            Ok(Ok(())) => {
                self.buf.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(PeerError::Write(e)),
            Err(_) => Err(PeerError::WriteTimeout),
        }
    }
}
