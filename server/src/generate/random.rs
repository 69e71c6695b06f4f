//! Deterministic randomness: one ChaCha8 stream per patient (and one for the shared pools),
//! and distributions built from integer and `+ - * /` arithmetic only, so the same seed gives
//! the same bytes on every platform.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator's random number generator.
pub type Rng = ChaCha8Rng;

/// The stream of the practitioner and organization pools (patients use their index).
pub const POOL_STREAM: u64 = u64::MAX;

/// The generator for stream `stream` of `seed`: independent of every other stream.
pub fn stream(seed: u64, stream: u64) -> Rng {
    let mut rng = Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A uniform number in `[0, 1)`.
pub fn unit(rng: &mut Rng) -> f64 {
    rng.random::<f64>()
}

/// True with `percent` percent probability.
pub fn percent(rng: &mut Rng, percent: u32) -> bool {
    rng.random_range(0..100u32) < percent
}

/// A uniform integer in `lo..=hi` (`lo` when the range is empty).
pub fn between(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// A uniform index below `n` (0 when `n` is 0).
pub fn below(rng: &mut Rng, n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        rng.random_range(0..n as u64) as usize
    }
}

/// A uniformly chosen element of a non-empty array (checked at compile time).
pub fn pick<'a, T, const N: usize>(rng: &mut Rng, items: &'a [T; N]) -> &'a T {
    const { assert!(N > 0, "pick needs a non-empty table") };
    &items[below(rng, N)]
}

/// An approximately normal number (sum of three uniforms, so within `mean ± 3 spread`).
pub fn normal(rng: &mut Rng, mean: f64, spread: f64) -> f64 {
    let sum = unit(rng) + unit(rng) + unit(rng);
    mean + (sum - 1.5) * 2.0 * spread
}

/// `value` rounded to `decimals` decimal places (0, 1 or 2).
pub fn round(value: f64, decimals: u32) -> f64 {
    let scale = match decimals {
        0 => 1.0,
        1 => 10.0,
        _ => 100.0,
    };
    (value * scale).round() / scale
}
