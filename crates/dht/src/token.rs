//! `announce_peer` tokens: a hash of the querier's IP and a secret that rotates every few
//! minutes; a token is accepted while its secret is the current or the previous one, so it
//! lives between one and two rotation periods (5-10 minutes by default).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

/// Length of the tokens we hand out.
const TOKEN_LEN: usize = 8;

/// The rotating secrets.
#[derive(Debug)]
pub(crate) struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated: Instant,
    period: Duration,
}

impl Tokens {
    pub fn new(now: Instant, period: Duration, rng: &mut fastrand::Rng) -> Self {
        let mut t = Tokens {
            current: [0; 16],
            previous: [0; 16],
            rotated: now,
            period,
        };
        rng.fill(&mut t.current);
        rng.fill(&mut t.previous);
        t
    }

    /// Rotates the secret when its period is over.
    pub fn rotate_if_due(&mut self, now: Instant, rng: &mut fastrand::Rng) {
        if now.saturating_duration_since(self.rotated) >= self.period {
            self.previous = self.current;
            rng.fill(&mut self.current);
            self.rotated = now;
        }
    }

    /// When the next rotation is due.
    pub fn next_rotation(&self) -> Instant {
        self.rotated + self.period
    }

    /// The token for `ip`.
    pub fn make(&self, ip: IpAddr) -> Vec<u8> {
        token(&self.current, ip)
    }

    /// Whether `token` is one we handed out to `ip` recently.
    pub fn check(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == token_of(&self.current, ip) || token == token_of(&self.previous, ip)
    }
}

fn token(secret: &[u8; 16], ip: IpAddr) -> Vec<u8> {
    token_of(secret, ip).to_vec()
}

fn token_of(secret: &[u8; 16], ip: IpAddr) -> [u8; TOKEN_LEN] {
    let mut h = Sha1::new();
    h.update(secret);
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    let digest = h.finalize();
    let mut out = [0u8; TOKEN_LEN];
    out.copy_from_slice(&digest[..TOKEN_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_live_one_to_two_periods() {
        let now = Instant::now();
        let period = Duration::from_secs(300);
        let mut rng = fastrand::Rng::with_seed(5);
        let mut t = Tokens::new(now, period, &mut rng);
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        let tok = t.make(ip);
        assert!(t.check(ip, &tok));
        assert!(
            !t.check("127.0.0.6".parse().unwrap(), &tok),
            "bound to the IP"
        );
        assert!(!t.check(ip, b"forged!!"));
        t.rotate_if_due(now + period, &mut rng);
        assert!(t.check(ip, &tok), "still valid after one rotation");
        t.rotate_if_due(now + 2 * period, &mut rng);
        assert!(!t.check(ip, &tok), "expired after two rotations");
    }
}
