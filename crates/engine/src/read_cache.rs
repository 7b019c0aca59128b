//! A small cache of whole pieces read from disk for uploading.
//!
//! Leechers ask for a piece block by block, usually in order, so reading the whole piece once
//! and copying blocks out of it turns ~64 disk reads into one. Entries
//! unused for [`IDLE`] are dropped, so an idle seeding torrent holds no buffers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::budget::ByteBudget;

/// An entry unused this long is evicted by [`ReadCache::evict_idle`].
pub const IDLE: Duration = Duration::from_secs(20);

/// Pieces cached for one torrent, bounded in bytes, and charged to the process-wide budget it
/// shares with the upload queues.
#[derive(Debug)]
pub struct ReadCache {
    max_bytes: usize,
    budget: Arc<ByteBudget>,
    inner: Mutex<HashMap<u32, (Bytes, Instant)>>,
}

impl ReadCache {
    /// A cache holding at most `max_bytes` (at least one piece is kept while `budget` has
    /// room for it).
    pub(crate) fn new(max_bytes: usize, budget: Arc<ByteBudget>) -> Self {
        Self {
            max_bytes,
            budget,
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

    /// Caches a piece, evicting the least recently used ones beyond the byte bound. When the
    /// process-wide budget has no room, the piece is not cached.
    pub fn insert(&self, piece: u32, data: Bytes) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        if !self.budget.try_take(data.len()) {
            return;
        }
        if let Some((old, _)) = map.insert(piece, (data, Instant::now())) {
            self.budget.release(old.len());
        }
        let mut total: usize = map.values().map(|(d, _)| d.len()).sum();
        while total > self.max_bytes && map.len() > 1 {
            let Some(oldest) = map.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k) else {
                break;
            };
            if let Some((d, _)) = map.remove(&oldest) {
                total -= d.len();
                self.budget.release(d.len());
            }
        }
    }

    /// Drops entries unused for [`IDLE`].
    pub fn evict_idle(&self) {
        if let Ok(mut map) = self.inner.lock() {
            let mut freed = 0;
            map.retain(|_, (d, t)| {
                let keep = t.elapsed() < IDLE;
                if !keep {
                    freed += d.len();
                }
                keep
            });
            self.budget.release(freed);
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

impl Drop for ReadCache {
    fn drop(&mut self) {
        let held: usize = self
            .inner
            .get_mut()
            .map(|m| m.values().map(|(d, _)| d.len()).sum())
            .unwrap_or(0);
        self.budget.release(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bounded_lru_and_idle_eviction() {
        let budget = Arc::new(ByteBudget::new(10_000));
        let c = ReadCache::new(3000, budget.clone());
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
        assert_eq!(budget.used(), 0, "evicted bytes go back to the budget");
    }

    #[test]
    fn a_piece_the_budget_has_no_room_for_is_not_cached() {
        let budget = Arc::new(ByteBudget::new(1500));
        let c = ReadCache::new(8000, budget.clone());
        c.insert(1, Bytes::from(vec![0; 1000]));
        c.insert(2, Bytes::from(vec![0; 1000]));
        assert!(c.get(2).is_none() && c.get(1).is_some());
        drop(c);
        assert_eq!(budget.used(), 0);
    }
}
