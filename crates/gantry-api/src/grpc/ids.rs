//! Job ids: the job's name and five base-36 characters (`llama-8b-sft-7f3k2`),
//! as Kubernetes' generateName does. The random source is seeded by the
//! caller (randomness is an input); the store refuses a duplicate and the
//! caller draws again.

use std::sync::atomic::{AtomicU64, Ordering};

use gantry_core::JobId;

/// Longest name part kept in an id (an id is at most 63 characters).
const MAX_NAME: usize = 57;

/// Draws job ids.
#[derive(Debug)]
pub struct IdGenerator {
    state: AtomicU64,
}

impl IdGenerator {
    /// A generator seeded with `seed`.
    pub fn seeded(seed: u64) -> IdGenerator {
        IdGenerator {
            state: AtomicU64::new(seed),
        }
    }

    fn next_u64(&self) -> u64 {
        // splitmix64 over an atomic counter: distinct draws across threads.
        let mut z = self
            .state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A new id for a job named `name` (a DNS-1123 label).
    pub fn next(&self, name: &str) -> Option<JobId> {
        const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut value = self.next_u64();
        let mut suffix = String::with_capacity(5);
        for _ in 0..5 {
            let index = usize::try_from(value % 36).unwrap_or(0);
            suffix.push(char::from(*ALPHABET.get(index).unwrap_or(&b'x')));
            value /= 36;
        }
        let head: String = name.chars().take(MAX_NAME).collect();
        let head = head.trim_end_matches('-');
        JobId::new(format!("{head}-{suffix}")).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_valid_distinct_and_keep_the_name() {
        let ids = IdGenerator::seeded(42);
        let drawn: BTreeSet<String> = (0..1_000)
            .map(|_| ids.next("llama-8b-sft").unwrap().to_string())
            .collect();
        assert_eq!(drawn.len(), 1_000);
        assert!(
            drawn
                .iter()
                .all(|id| id.starts_with("llama-8b-sft-") && id.len() == 18)
        );
        let long = "a".repeat(63);
        let id = ids.next(&long).unwrap();
        assert!(id.as_str().len() <= 63);
        assert_eq!(
            IdGenerator::seeded(7).next("x").unwrap(),
            IdGenerator::seeded(7).next("x").unwrap(),
            "same seed, same ids"
        );
    }
}
