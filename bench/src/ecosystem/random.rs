//! The generator's randomness: ChaCha8 (whose output for a seed is fixed across versions
//! and platforms), sampled with integer arithmetic only, so a seed always gives the same
//! ecosystem.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};

/// A seeded source of choices.
pub(crate) struct Choices(ChaCha8Rng);

impl Choices {
    /// The stream for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).expect("usize fits in u64");
        let wide = u128::from(self.0.next_u64()) * u128::from(n);
        usize::try_from(wide >> 64).expect("below n, which is a usize")
    }

    /// True with probability `percent`/100.
    pub(crate) fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (not empty).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index in `0..weights.len()` drawn in proportion to `weights` (not all zero).
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut at = u64::try_from(self.below(usize::try_from(total).expect("total fits")))
            .expect("fits in u64");
        for (index, weight) in weights.iter().enumerate() {
            if at < *weight {
                return index;
            }
            at -= weight;
        }
        weights.len() - 1
    }
}

/// Power-law (Zipf, exponent about 1.2) popularity weights for `n` packages, most popular
/// first, as integers.
pub(crate) fn zipf_weights(n: usize) -> Vec<u64> {
    (1..=n)
        .map(|rank| {
            let rank = u64::try_from(rank).expect("fits in u64");
            // 1e12 / rank^1.2, computed as 1e15 / (rank * 1000 * rank^0.2) with the
            // scaled fifth root from integers, to stay free of floating point.
            let scaled_root = integer_fifth_root(u128::from(rank) * 1_000_000_000_000_000);
            1_000_000_000_000_000 / (rank * scaled_root.max(1))
        })
        .collect()
}

/// ⌊x^(1/5)⌋ by bisection.
fn integer_fifth_root(x: u128) -> u64 {
    let (mut low, mut high) = (0_u64, 1_u64 << 20);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if u128::from(mid).pow(5) <= x {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_choices() {
        let (mut a, mut b) = (Choices::new(7), Choices::new(7));
        let first: Vec<_> = (0..50).map(|_| a.below(1000)).collect();
        let second: Vec<_> = (0..50).map(|_| b.below(1000)).collect();
        assert_eq!(first, second);
        assert_ne!(
            first,
            (0..50)
                .map(|_| Choices::new(8).below(1000))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn popularity_falls_like_a_power_law() {
        let weights = zipf_weights(1000);
        assert!(weights.windows(2).all(|w| w[0] >= w[1]));
        // rank 10 vs rank 1: 10^-1.2 ≈ 0.063.
        let ratio = weights[9] * 1000 / weights[0];
        assert!((60..=66).contains(&ratio), "{ratio}");
        assert_eq!(integer_fifth_root(32), 2);
        assert_eq!(integer_fifth_root(242), 2);
        assert_eq!(integer_fifth_root(243), 3);
    }
}
