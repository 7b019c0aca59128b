//! BEP 12 multitracker tiers and the back-off schedule for failing announces.

use std::collections::HashMap;
use std::time::Duration;

use super::{AnnounceRequest, AnnounceResponse, Client, Error};

/// A torrent's trackers grouped in tiers (BEP 12). Each tier is shuffled once at creation;
/// [`announce`](Tiers::announce) tries the tiers in order and the trackers of a tier in order, and
/// a tracker that answers moves to the front of its tier. The `tracker id` each tracker hands out
/// is remembered and sent back to it.
#[derive(Clone, Debug)]
pub struct Tiers {
    /// Non-empty tiers of URLs, in the order they are tried.
    tiers: Vec<Vec<String>>,
    /// `tracker id` per URL, as last given by that tracker.
    tracker_ids: HashMap<String, Vec<u8>>,
}

impl Tiers {
    /// Tiers from a torrent's `announce-list` (or `vec![vec![announce]]`). Blank URLs, repeats
    /// and empty tiers are dropped.
    pub fn new(tiers: Vec<Vec<String>>) -> Self {
        Self::with_rng(tiers, &mut fastrand::Rng::new())
    }

    fn with_rng(tiers: Vec<Vec<String>>, rng: &mut fastrand::Rng) -> Self {
        let mut seen = std::collections::HashSet::new();
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                let mut tier: Vec<String> = tier
                    .into_iter()
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty() && seen.insert(u.clone()))
                    .collect();
                rng.shuffle(&mut tier);
                tier
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        Self {
            tiers,
            tracker_ids: HashMap::new(),
        }
    }

    /// True when there is no tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The trackers in the order the next announce tries them.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.tiers.iter().flatten().map(String::as_str)
    }

    /// Announces to the first tracker that answers; returns its URL with the answer. Fails with
    /// [`Error::AllFailed`] (each URL with its error, in the order tried) only when every tracker
    /// failed.
    pub async fn announce(
        &mut self,
        client: &Client,
        req: &AnnounceRequest,
    ) -> Result<(String, AnnounceResponse), Error> {
        let mut failures = Vec::new();
        for t in 0..self.tiers.len() {
            let urls = self.tiers.get(t).cloned().unwrap_or_default();
            for (i, url) in urls.into_iter().enumerate() {
                let id = self.tracker_ids.get(&url).map(Vec::as_slice);
                match client.announce_with_id(&url, req, id).await {
                    Ok((response, new_id)) => {
                        if let Some(new_id) = new_id {
                            self.tracker_ids.insert(url.clone(), new_id);
                        }
                        self.promote(t, i);
                        return Ok((url, response));
                    }
                    Err(e) => {
                        tracing::debug!(url, error = %e, "announce failed");
                        failures.push((url, e.reason()));
                    }
                }
            }
        }
        Err(Error::AllFailed(failures))
    }

    /// Moves tracker `i` of tier `t` to the front of its tier.
    fn promote(&mut self, t: usize, i: usize) {
        if let Some(tier) = self.tiers.get_mut(t)
            && i < tier.len()
        {
            let url = tier.remove(i);
            tier.insert(0, url);
        }
    }
}

/// Back-off schedule for a failing announce: about 15 s, 30 s, 60 s, … capped at 30 min. Each
/// delay is drawn from the upper quarter below its step (`step * 3/4 ..= step`) so that many
/// torrents failing together do not retry in lockstep. [`reset`](Backoff::reset) after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Failures since the last success.
    failures: u32,
    rng: fastrand::Rng,
}

/// First back-off step.
const BACKOFF_FIRST: Duration = Duration::from_secs(15);
/// Longest back-off step.
const BACKOFF_CAP: Duration = Duration::from_secs(30 * 60);

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// A schedule starting at the first step.
    pub fn new() -> Self {
        Self {
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The delay before the next retry; each call advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let step = BACKOFF_FIRST
            .saturating_mul(1u32.checked_shl(self.failures).unwrap_or(u32::MAX))
            .min(BACKOFF_CAP);
        self.failures = self.failures.saturating_add(1).min(31);
        let step_ms = u64::try_from(step.as_millis()).unwrap_or(u64::MAX);
        let jitter = self.rng.u64(0..=step_ms / 4);
        Duration::from_millis(step_ms - jitter)
    }

    /// Back to the first step, after a successful announce.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|t| t.iter().map(|u| (*u).to_owned()).collect())
            .collect()
    }

    #[test]
    fn backoff_sequence_doubles_then_caps_and_resets() {
        let mut b = Backoff::new();
        let steps = [15u64, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800];
        for _ in 0..3 {
            b.reset();
            for step in steps {
                let d = b.next_delay();
                let step = Duration::from_secs(step);
                assert!(
                    d <= step && d >= step * 3 / 4,
                    "{d:?} not in 3/4 of {step:?}"
                );
            }
        }
        for _ in 0..100 {
            assert!(b.next_delay() <= BACKOFF_CAP);
        }
        b.reset();
        let d = b.next_delay();
        assert!(
            d <= Duration::from_secs(15) && d >= Duration::from_millis(11_250),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_has_jitter() {
        let mut b = Backoff::new();
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..20 {
            b.reset();
            firsts.insert(b.next_delay());
        }
        assert!(firsts.len() > 1, "no jitter: {firsts:?}");
    }

    #[test]
    fn tiers_drop_blanks_and_duplicates_and_keep_tier_order() {
        let t = Tiers::new(s(&[&["", " "], &["b", "c", "b"], &[], &["a", "c"]]));
        let urls: Vec<&str> = t.urls().collect();
        assert_eq!(urls.len(), 3, "{urls:?}");
        assert!(urls[..2].contains(&"b") && urls[..2].contains(&"c"));
        assert_eq!(urls[2], "a");
        assert!(!t.is_empty());
        assert!(Tiers::new(s(&[&[], &[""]])).is_empty());
    }

    #[test]
    fn tiers_are_shuffled() {
        let tiers = s(&[&["a", "b", "c", "d", "e", "f"]]);
        let mut orders = std::collections::HashSet::new();
        for seed in 0..10 {
            let t = Tiers::with_rng(tiers.clone(), &mut fastrand::Rng::with_seed(seed));
            orders.insert(t.urls().map(str::to_owned).collect::<Vec<_>>());
        }
        assert!(orders.len() > 1);
    }

    #[test]
    fn promote_moves_to_front_of_its_tier_only() {
        let mut t = Tiers {
            tiers: s(&[&["a", "b", "c"], &["d", "e"]]),
            tracker_ids: HashMap::new(),
        };
        t.promote(0, 2);
        t.promote(1, 1);
        t.promote(5, 0);
        t.promote(1, 9);
        assert_eq!(t.urls().collect::<Vec<_>>(), ["c", "a", "b", "e", "d"]);
    }
}
