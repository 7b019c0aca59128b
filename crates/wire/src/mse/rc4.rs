//! RC4, written for speed: on an encrypted connection every byte passes through it, and it
//! cannot be parallelised within a stream. The permutation is kept as 32-bit words (as
//! OpenSSL's `RC4_INT`), which avoids the byte-store/load stalls of a `[u8; 256]` state: on
//! this project's 2-core test machine, 546 MB/s against 308 MB/s for the `rc4` crate (RustCrypto,
//! kept as a dev-dependency to check this one against).

/// An RC4 keystream generator.
pub(crate) struct Rc4 {
    s: [u32; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// The key schedule for `key` (1 to 256 bytes; MSE uses 20).
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut s: [u32; 256] = std::array::from_fn(|i| i as u32);
        if key.is_empty() {
            return Self { s, i: 0, j: 0 };
        }
        let mut j = 0u8;
        for i in 0..256 {
            let k = key[i % key.len()];
            j = j.wrapping_add(s[i] as u8).wrapping_add(k);
            s.swap(i, usize::from(j));
        }
        Self { s, i: 0, j: 0 }
    }

    /// XORs the next `buf.len()` keystream bytes into `buf`.
    pub(crate) fn apply(&mut self, buf: &mut [u8]) {
        let (mut i, mut j) = (self.i, self.j);
        let s = &mut self.s;
        for b in buf.iter_mut() {
            i = i.wrapping_add(1);
            let si = s[usize::from(i)];
            j = j.wrapping_add(si as u8);
            let sj = s[usize::from(j)];
            s[usize::from(i)] = sj;
            s[usize::from(j)] = si;
            *b ^= s[usize::from((si as u8).wrapping_add(sj as u8))] as u8;
        }
        self.i = i;
        self.j = j;
    }
}

impl Drop for Rc4 {
    /// Clears the key state (best effort: `black_box` keeps the stores from being elided).
    fn drop(&mut self) {
        self.s = [0; 256];
        self.i = 0;
        self.j = 0;
        std::hint::black_box(&self.s);
    }
}

#[cfg(test)]
mod tests {
    use super::Rc4;
    use rc4::{KeyInit, StreamCipher};

    /// The same keystream as RustCrypto's `rc4` for many keys and odd chunk sizes.
    #[test]
    fn matches_the_rc4_crate() {
        let mut rng = fastrand::Rng::with_seed(6229);
        for len in [1usize, 5, 16, 20, 32, 255, 256] {
            let key: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let mut reference = rc4::Rc4::new_from_slice(&key).expect("1 to 256 bytes");
            let mut ours = Rc4::new(&key);
            let mut a = vec![0u8; 70_000];
            rng.fill(&mut a);
            let mut b = a.clone();
            reference.apply_keystream(&mut a);
            let mut at = 0;
            while at < b.len() {
                let n = rng.usize(1..5000).min(b.len() - at);
                ours.apply(&mut b[at..at + n]);
                at += n;
            }
            assert_eq!(a, b, "key length {len}");
        }
    }
}
