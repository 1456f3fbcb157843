//! Integer logistic arithmetic for context-mixing models: `squash`, `stretch`, adaptive
//! probability counters and a small online mixer.
//!
//! Owns the only probability arithmetic of the built-in model. Everything is integer:
//! `squash` interpolates a fixed 33-entry table (as in lpaq1), `stretch` is its exact
//! integer inverse built by scanning `squash`, counters and mixer weights update with
//! shifts and table lookups.
//!
//! Invariant: identical inputs give identical outputs on every platform (no floats).

use std::sync::OnceLock;

/// `squash(d) = 4096 / (1 + e^-d/256)`, integer, `d` clamped to `-2047..=2047`.
#[inline]
pub fn squash(d: i32) -> i32 {
    const T: [i32; 33] = [
        1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994,
        3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
    ];
    if d > 2047 {
        return 4095;
    }
    if d < -2047 {
        return 1;
    }
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    (T[i] * (128 - w) + T[i + 1] * w + 64) >> 7
}

fn squash_table() -> &'static [u16; 4095] {
    static TABLE: OnceLock<Box<[u16; 4095]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0u16; 4095]);
        for (i, slot) in t.iter_mut().enumerate() {
            *slot = squash(i as i32 - 2047) as u16;
        }
        t
    })
}

/// A handle to a table of [`squash`] over `-2047..=2047` (same values, no arithmetic).
#[derive(Clone, Copy)]
pub struct Squash(&'static [u16; 4095]);

impl Squash {
    /// Gets the shared table (built once).
    pub fn new() -> Self {
        Squash(squash_table())
    }

    /// `squash(d)` for `d` already clamped to `-2047..=2047`.
    #[inline]
    pub fn get(&self, d: i32) -> i32 {
        self.0[(d + 2047).clamp(0, 4094) as usize] as i32
    }
}

impl Default for Squash {
    fn default() -> Self {
        Self::new()
    }
}

fn stretch_table() -> &'static [i16; 4096] {
    static TABLE: OnceLock<Box<[i16; 4096]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0i16; 4096]);
        let mut pi = 0usize;
        for x in -2047..=2047 {
            let v = squash(x) as usize;
            for slot in t.iter_mut().take(v + 1).skip(pi) {
                *slot = x as i16;
            }
            pi = pi.max(v + 1);
        }
        for slot in t.iter_mut().skip(pi) {
            *slot = 2047;
        }
        t
    })
}

/// A handle to the `stretch` table (`ln(p / (1 - p))` scaled by 256, `p` in 12 bits).
#[derive(Clone, Copy)]
pub struct Stretch(&'static [i16; 4096]);

impl Stretch {
    /// Gets the shared table (built once).
    pub fn new() -> Self {
        Stretch(stretch_table())
    }

    /// `stretch(p12)`.
    #[inline]
    pub fn get(&self, p12: u32) -> i32 {
        self.0[(p12 & 4095) as usize] as i32
    }
}

impl Default for Stretch {
    fn default() -> Self {
        Self::new()
    }
}

/// Count-limited adaptation rates: `RATE[n] = 2^17 / (2n + 3)`.
const fn rate_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        t[n] = (1u32 << 17) / (2 * n as u32 + 3);
        n += 1;
    }
    t
}
static RATE: [u32; 256] = rate_table();

/// An adaptive bit probability: 16-bit `P(1)` in the high half, hit count in the low byte.
#[derive(Clone, Copy, Debug)]
pub struct Counter(u32);

impl Counter {
    /// `P(1) = 1/2`, no observations.
    pub const INIT: Counter = Counter(0x8000_0000);

    /// `P(1)` in 12 bits.
    #[inline]
    pub fn p12(self) -> u32 {
        self.0 >> 20
    }

    /// Moves the probability toward `bit` at rate `1 / (n + 1.5)`, `n` capped at `limit`.
    #[inline]
    pub fn update(&mut self, bit: u8, limit: u32) {
        let p = (self.0 >> 16) as i32;
        let n = self.0 & 0xFF;
        let target = if bit != 0 { 65535 } else { 0 };
        let delta = ((target - p) as i64 * RATE[n as usize] as i64) >> 16;
        let p = (p + delta as i32).clamp(32, 65503) as u32;
        let n = if n < limit { n + 1 } else { n };
        self.0 = (p << 16) | n;
    }
}

/// A set of online logistic mixers of `N` inputs, one weight vector per selector.
pub struct Mixer<const N: usize> {
    weights: Vec<[i32; N]>,
    rate: i32,
    squash: Squash,
}

impl<const N: usize> Mixer<N> {
    /// `sets` weight vectors, each starting at `init` (65536 = 1.0), learning rate `rate`.
    pub fn new(sets: usize, init: [i32; N], rate: i32) -> Self {
        Mixer {
            weights: vec![init; sets],
            rate,
            squash: Squash::new(),
        }
    }

    /// The mixed stretch domain value (not yet squashed), clamped to `-2047..=2047`.
    #[inline]
    pub fn dot(&self, set: usize, x: &[i32; N]) -> i32 {
        let w = &self.weights[set];
        let mut s: i64 = 0;
        for i in 0..N {
            s += w[i] as i64 * x[i] as i64;
        }
        ((s >> 16) as i32).clamp(-2047, 2047)
    }

    /// One online gradient step toward `bit` for inputs `x`.
    #[inline]
    pub fn train(&mut self, set: usize, x: &[i32; N], bit: u8) {
        let p = self.squash.get(self.dot(set, x));
        let err = (((bit as i32) << 12) - p) * self.rate;
        let w = &mut self.weights[set];
        for i in 0..N {
            w[i] += (x[i] * err) >> 14;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_inverts_squash() {
        let s = Stretch::new();
        for d in (-2000..2000).step_by(37) {
            let p = squash(d) as u32;
            assert!((squash(s.get(p)) - p as i32).abs() <= 1);
        }
    }

    #[test]
    fn squash_table_matches_squash() {
        let t = Squash::new();
        for d in -2047..=2047 {
            assert_eq!(t.get(d), squash(d));
        }
    }

    #[test]
    fn counter_learns() {
        let mut c = Counter::INIT;
        for _ in 0..100 {
            c.update(1, 255);
        }
        assert!(c.p12() > 4000);
    }
}
