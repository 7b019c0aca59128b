//! A process-wide budget of bytes: what the read caches and the upload queues of every peer of
//! every torrent may hold together. Whoever wants more than is left waits (a peer's requests
//! stay queued as 16-byte records) instead of growing the process.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes in use out of a fixed limit.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `n` bytes if they fit; the caller gives them back with [`ByteBudget::release`].
    pub(crate) fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = used.checked_add(n)?;
                (next <= self.limit).then_some(next)
            })
            .is_ok()
    }

    /// Gives back `n` bytes taken before.
    pub(crate) fn release(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Bytes in use.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_what_fits_and_gets_it_back() {
        let b = ByteBudget::new(100);
        assert!(b.try_take(60));
        assert!(!b.try_take(41));
        assert!(b.try_take(40));
        b.release(60);
        assert_eq!(b.used(), 40);
        assert!(!b.try_take(usize::MAX));
    }
}
