//! Who gets to download from us: the BitTorrent choking algorithm as a pure function.
//!
//! Every [`RECHOKE_INTERVAL`] the torrent ranks the interested peers — by how fast they send to
//! us while we download (tit-for-tat), by how fast we send to them while we seed — and unchokes
//! the best `slots` of them, plus one optimistic unchoke chosen at random and rotated every
//! [`OPTIMISTIC_ROUNDS`] rounds so newcomers get a chance. Snubbed peers (they stopped sending
//! to us) lose their regular slot.
//!
//! Between rounds ([`on_interest`], [`fill_free_slots`]) a newly interested peer is unchoked at
//! once while a slot is free, so a fresh leecher does not wait up to ten seconds for data.

use std::time::Duration;

use crate::PeerKey;

/// How often the choker runs.
pub const RECHOKE_INTERVAL: Duration = Duration::from_secs(10);

/// The optimistic unchoke moves on every this many rounds (30 s).
pub const OPTIMISTIC_ROUNDS: u32 = 3;

/// What the choker needs to know about one peer.
#[derive(Clone, Copy, Debug)]
pub struct ChokeView {
    /// The peer.
    pub key: PeerKey,
    /// It wants data from us.
    pub interested: bool,
    /// The ranking rate in bytes/s (their upload to us when leeching, ours to them when seeding).
    pub rate: u64,
    /// It stopped sending to us although we are interested and unchoked.
    pub snubbed: bool,
    /// Currently unchoked by us (keeps a stable order between equal peers).
    pub unchoked: bool,
}

/// State kept between rounds.
#[derive(Debug, Default)]
pub struct Choker {
    optimistic: Option<PeerKey>,
    rounds: u32,
}

impl Choker {
    /// A choker with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current optimistic unchoke, if any.
    #[cfg(test)]
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    /// One round: returns the peers to have unchoked (all others get choked).
    pub fn rechoke(
        &mut self,
        peers: &[ChokeView],
        slots: usize,
        rng: &mut fastrand::Rng,
    ) -> Vec<PeerKey> {
        let mut candidates: Vec<(ChokeView, u32)> = peers
            .iter()
            .filter(|p| p.interested)
            .map(|p| (*p, rng.u32(..)))
            .collect();
        candidates.sort_by(|(a, ra), (b, rb)| {
            a.snubbed
                .cmp(&b.snubbed)
                .then(b.rate.cmp(&a.rate))
                .then(b.unchoked.cmp(&a.unchoked))
                .then(ra.cmp(rb))
        });
        let mut unchoke: Vec<PeerKey> = candidates
            .iter()
            .filter(|(p, _)| !p.snubbed)
            .take(slots)
            .map(|(p, _)| p.key)
            .collect();

        let rest: Vec<PeerKey> = candidates
            .iter()
            .map(|(p, _)| p.key)
            .filter(|k| !unchoke.contains(k))
            .collect();
        self.rounds += 1;
        let keep = self.optimistic.filter(|k| rest.contains(k));
        self.optimistic = match keep {
            Some(k) if !(self.rounds - 1).is_multiple_of(OPTIMISTIC_ROUNDS) => Some(k),
            _ if rest.is_empty() => None,
            _ => rest.get(rng.usize(..rest.len())).copied(),
        };
        if let Some(k) = self.optimistic {
            unchoke.push(k);
        }
        unchoke
    }
}

/// Between rounds, a peer whose interest changed: one that became interested is unchoked at once
/// while fewer than `slots` + 1 (the optimistic one) are unchoked; one that lost interest is
/// choked. Returns the new "we choke it" state when it changes.
pub fn on_interest(interested: bool, choking: bool, unchoked: usize, slots: usize) -> Option<bool> {
    if interested && choking && unchoked < slots + 1 {
        Some(false)
    } else if !interested && !choking {
        Some(true)
    } else {
        None
    }
}

/// Between rounds, after an unchoked peer left: the interested, choked peers to unchoke (in the
/// order given) until `slots` + 1 are unchoked.
pub fn fill_free_slots(peers: &[ChokeView], slots: usize) -> Vec<PeerKey> {
    let limit = slots + 1; // regular slots plus the optimistic one
    let mut unchoked = peers.iter().filter(|p| p.unchoked).count();
    let mut out = Vec::new();
    for p in peers {
        if unchoked >= limit {
            break;
        }
        if !p.unchoked && p.interested {
            unchoked += 1;
            out.push(p.key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(key: PeerKey, rate: u64) -> ChokeView {
        ChokeView {
            key,
            interested: true,
            rate,
            snubbed: false,
            unchoked: false,
        }
    }

    #[test]
    fn fastest_interested_peers_get_the_regular_slots() {
        let mut c = Choker::new();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut peers: Vec<ChokeView> = (0..10).map(|k| view(k, k * 100)).collect();
        peers[9].interested = false;
        let u = c.rechoke(&peers, 3, &mut rng);
        assert_eq!(&u[..3], &[8, 7, 6]);
        assert_eq!(u.len(), 4, "three regular slots plus one optimistic");
        assert!(u[3] < 6, "the optimistic unchoke is one of the others");
        assert!(!u.contains(&9), "uninterested peers stay choked");
    }

    #[test]
    fn snubbed_peers_lose_their_regular_slot() {
        let mut c = Choker::new();
        let mut rng = fastrand::Rng::with_seed(2);
        let mut peers = vec![view(1, 1000), view(2, 10), view(3, 5)];
        peers[0].snubbed = true;
        let u = c.rechoke(&peers, 2, &mut rng);
        assert_eq!(&u[..2], &[2, 3]);
        assert_eq!(
            u.get(2),
            Some(&1),
            "a snubbed peer can still be the optimistic unchoke"
        );
    }

    #[test]
    fn optimistic_unchoke_rotates_every_three_rounds() {
        let mut c = Choker::new();
        let mut rng = fastrand::Rng::with_seed(3);
        let peers: Vec<ChokeView> = (0..20).map(|k| view(k, 0)).collect();
        let mut seen = Vec::new();
        for round in 1..=30 {
            let first = peers
                .iter()
                .map(|p| ChokeView { rate: 0, ..*p })
                .collect::<Vec<_>>();
            c.rechoke(&first, 0, &mut rng);
            let o = c.optimistic().expect("an optimistic peer");
            if round % OPTIMISTIC_ROUNDS != 1 {
                assert_eq!(
                    Some(&o),
                    seen.last(),
                    "kept between rotations (round {round})"
                );
            }
            seen.push(o);
        }
        seen.dedup();
        assert!(seen.len() >= 5, "rotation visits different peers: {seen:?}");
    }

    #[test]
    fn between_rounds_interest_unchokes_up_to_the_slots_plus_one() {
        assert_eq!(on_interest(true, true, 0, 2), Some(false));
        assert_eq!(
            on_interest(true, true, 2, 2),
            Some(false),
            "the optimistic slot"
        );
        assert_eq!(on_interest(true, true, 3, 2), None, "all slots taken");
        assert_eq!(on_interest(true, false, 3, 2), None, "already unchoked");
        assert_eq!(on_interest(false, false, 1, 2), Some(true));
        assert_eq!(on_interest(false, true, 1, 2), None);

        let mut peers: Vec<ChokeView> = (0..6).map(|k| view(k, 0)).collect();
        peers[0].unchoked = true;
        peers[1].interested = false;
        assert_eq!(fill_free_slots(&peers, 2), vec![2, 3]);
        peers[4].unchoked = true;
        peers[5].unchoked = true;
        assert_eq!(fill_free_slots(&peers, 2), Vec::<PeerKey>::new());
    }

    #[test]
    fn seeded_rng_makes_it_deterministic() {
        let peers: Vec<ChokeView> = (0..8).map(|k| view(k, 50)).collect();
        let a = Choker::new().rechoke(&peers, 4, &mut fastrand::Rng::with_seed(9));
        let b = Choker::new().rechoke(&peers, 4, &mut fastrand::Rng::with_seed(9));
        assert_eq!(a, b);
    }
}
