//! A small cache of whole pieces read from disk for uploading.
//!
//! Leechers ask for a piece block by block, usually in order, so reading the whole piece once
//! and slicing blocks out of it (zero-copy `Bytes`) turns ~64 disk reads into one. Entries
//! unused for [`IDLE`] are dropped, so an idle seeding torrent holds no buffers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// An entry unused this long is evicted by [`ReadCache::evict_idle`].
pub const IDLE: Duration = Duration::from_secs(20);

/// Pieces cached for one torrent, bounded in bytes.
#[derive(Debug)]
pub struct ReadCache {
    max_bytes: usize,
    inner: Mutex<HashMap<u32, (Bytes, Instant)>>,
}

impl ReadCache {
    /// A cache holding at most `max_bytes` (at least one piece is always kept).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// The cached piece, if present.
    pub fn get(&self, piece: u32) -> Option<Bytes> {
        let mut map = self.inner.lock().ok()?;
        let (data, used) = map.get_mut(&piece)?;
        *used = Instant::now();
        Some(data.clone())
    }

    /// Caches a piece, evicting the least recently used ones beyond the byte bound.
    pub fn insert(&self, piece: u32, data: Bytes) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        map.insert(piece, (data, Instant::now()));
        let mut total: usize = map.values().map(|(d, _)| d.len()).sum();
        while total > self.max_bytes && map.len() > 1 {
            let Some(oldest) = map.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k) else {
                break;
            };
            if let Some((d, _)) = map.remove(&oldest) {
                total -= d.len();
            }
        }
    }

    /// Drops entries unused for [`IDLE`].
    pub fn evict_idle(&self) {
        if let Ok(mut map) = self.inner.lock() {
            map.retain(|_, (_, t)| t.elapsed() < IDLE);
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.inner
            .lock()
            .map(|m| m.values().map(|(d, _)| d.len()).sum())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bounded_lru_and_idle_eviction() {
        let c = ReadCache::new(3000);
        c.insert(1, Bytes::from(vec![0; 1000]));
        tokio::time::advance(Duration::from_millis(1)).await;
        c.insert(2, Bytes::from(vec![0; 1000]));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(c.get(1).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        c.insert(3, Bytes::from(vec![0; 1500]));
        assert!(c.get(2).is_none(), "least recently used goes first");
        assert!(c.get(1).is_some() && c.get(3).is_some());
        tokio::time::advance(IDLE).await;
        c.evict_idle();
        assert_eq!(c.bytes(), 0);
    }
}
