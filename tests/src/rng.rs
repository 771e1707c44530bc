//! A tiny seeded xorshift for the benchmark's phases and the soak's fault
//! schedule: the same seed gives the same sequence on every machine (no
//! dependency for this).

pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Self {
        // xorshift never leaves 0. (No mixing: the benchmark's recorded
        // seeds must keep giving the phases they gave.)
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}
