//! The writing half of a peer connection: encodes queued messages in batches, applies upload
//! rate limits to blocks, sends keep-alives when idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::codec::Encoder;
use tokio_util::sync::CancellationToken;
use wire::{Codec, Message};

use super::PeerCounters;
use crate::ratelimit::acquire_all;
use crate::torrent::Shared;

/// Send a keep-alive after this long without writing anything.
const KEEPALIVE: Duration = Duration::from_secs(90);
/// A peer that doesn't take our bytes for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Encode at most this much before writing.
const BATCH: usize = 256 * 1024;

pub(super) async fn run(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    counters: Arc<PeerCounters>,
    cancel: CancellationToken,
) {
    let mut buf = BytesMut::with_capacity(BATCH + 32 * 1024);
    let mut codec = Codec::default();
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => break,
            m = tokio::time::timeout(KEEPALIVE, rx.recv()) => match m {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => Message::KeepAlive,
            },
        };
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            if let Message::Piece { data, .. } = &msg {
                let n = data.len() as u64;
                acquire_all(&[&shared.ctx.up, &shared.up], n).await;
                counters.uploaded.fetch_add(n, Ordering::Relaxed);
                shared.uploaded.fetch_add(n, Ordering::Relaxed);
                queued.fetch_sub(1, Ordering::Relaxed);
            }
            if codec.encode(&msg, &mut buf).is_err() {
                cancel.cancel();
                return;
            }
            if buf.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&buf)).await {
            Ok(Ok(())) => buf.clear(),
            _ => break,
        }
    }
    cancel.cancel();
    let _ = wr.shutdown().await;
}
