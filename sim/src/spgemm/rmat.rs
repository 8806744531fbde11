//! R-MAT power-law matrices (Chakrabarti et al.): each edge picks one quadrant of the
//! adjacency matrix per level with probabilities a, b, c, d; deterministic for a seed.

use super::csr::Csr;

/// Parameters of an R-MAT matrix: 2^scale rows and columns, `edge_factor · 2^scale` edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rmat {
    /// Probability of the top-left quadrant (row bit 0, column bit 0).
    pub a: f64,
    /// Top-right (row bit 0, column bit 1).
    pub b: f64,
    /// Bottom-left (row bit 1, column bit 0).
    pub c: f64,
    /// Bottom-right (row bit 1, column bit 1).
    pub d: f64,
    pub scale: u32,
    pub edge_factor: u64,
    pub seed: u64,
}

impl Rmat {
    /// The Graph500 parameters: a = 0.57, b = c = 0.19, d = 0.05.
    pub fn graph500(scale: u32, edge_factor: u64, seed: u64) -> Rmat {
        Rmat {
            a: 0.57,
            b: 0.19,
            c: 0.19,
            d: 0.05,
            scale,
            edge_factor,
            seed,
        }
    }

    /// Generates the matrix. Duplicate edges are summed, so every value is the multiplicity of
    /// its edge (an integer: products and sums of them are exact in f64).
    pub fn generate(&self) -> Result<Csr, String> {
        let p = [self.a, self.b, self.c, self.d];
        if p.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(format!(
                "R-MAT probabilities must be ≥ 0, got a={} b={} c={} d={}",
                self.a, self.b, self.c, self.d
            ));
        }
        let sum: f64 = p.iter().sum();
        if (sum - 1.0).abs() > 1e-9 {
            return Err(format!("R-MAT probabilities sum to {sum}, not 1"));
        }
        if !(1..=26).contains(&self.scale) {
            return Err(format!("R-MAT scale {} is outside 1..=26", self.scale));
        }
        if !(1..=1024).contains(&self.edge_factor) {
            return Err(format!(
                "R-MAT edge factor {} is outside 1..=1024",
                self.edge_factor
            ));
        }
        let n = 1usize << self.scale;
        let edges = self.edge_factor as usize * n;
        // Thresholds on a 53-bit uniform draw, so the choice is exact and portable.
        let unit = (1u64 << 53) as f64;
        let t1 = (self.a * unit) as u64;
        let t2 = ((self.a + self.b) * unit) as u64;
        let t3 = ((self.a + self.b + self.c) * unit) as u64;
        let mut rng = SplitMix64(self.seed);
        let mut t = Vec::with_capacity(edges);
        for _ in 0..edges {
            let (mut r, mut c) = (0u32, 0u32);
            for _ in 0..self.scale {
                let x = rng.next_u64() >> 11;
                let (rb, cb) = if x < t1 {
                    (0, 0)
                } else if x < t2 {
                    (0, 1)
                } else if x < t3 {
                    (1, 0)
                } else {
                    (1, 1)
                };
                r = (r << 1) | rb;
                c = (c << 1) | cb;
            }
            t.push((r, c, 1.0));
        }
        Ok(Csr::from_triplets(n, n, t))
    }
}

/// SplitMix64 (Steele, Lea, Flood): a small, fast, well-distributed generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (n ≥ 1).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}
