//! A small seeded random number generator (SplitMix64): uids, generated name
//! suffixes, fault rates and spot interruptions all draw from one per cluster,
//! so a seed replays a run.

/// SplitMix64: tiny, fast, and good enough for simulation (not for secrets).
#[derive(Clone, Debug)]
pub struct SimRng {
    state: u64,
}

const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl SimRng {
    /// A generator from a seed.
    pub fn seeded(seed: u64) -> SimRng {
        SimRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits; the cast is exact.
        #[allow(clippy::cast_precision_loss)]
        let value = (self.next_u64() >> 11) as f64;
        value / (1u64 << 53) as f64
    }

    /// True with probability `probability`.
    pub fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.next_f64() < probability
    }

    /// A number in `0..bound` (0 when bound is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    /// A random RFC 4122 version-4 UUID, as Kubernetes writes uids.
    pub fn uuid(&mut self) -> String {
        let high = self.next_u64();
        let low = self.next_u64();
        let time_hi = ((high & 0x0fff) | 0x4000) as u16;
        let clock = (((low >> 48) & 0x3fff) | 0x8000) as u16;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (high >> 32) as u32,
            ((high >> 16) & 0xffff) as u16,
            time_hi,
            clock,
            low & 0xffff_ffff_ffff
        )
    }

    /// The 5-character suffix the apiserver appends to `generateName`.
    pub fn name_suffix(&mut self) -> String {
        (0..5)
            .map(|_| {
                let index = usize::try_from(self.below(NAME_ALPHABET.len() as u64)).unwrap_or(0);
                NAME_ALPHABET.get(index).copied().map_or('x', char::from)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let mut first = SimRng::seeded(7);
        let mut second = SimRng::seeded(7);
        assert_eq!(first.uuid(), second.uuid());
        assert_eq!(first.name_suffix(), second.name_suffix());
        let uuid = first.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        let fraction = first.next_f64();
        assert!((0.0..1.0).contains(&fraction));
    }
}
