//! The fixed-point datapath, defined once: the exact simulator and the RTL compute exactly this.
//!
//! Values are INT16 in Q(15−f).f with `f = frac_bits`; a product of two is Q.2f in INT32; the
//! array accumulates products in INT32 with two's-complement wrap-around (what a 32-bit adder
//! does, no saturation inside the array). Leaving the array, an accumulator is *requantized*:
//! shifted right by f with round-half-up (add 2^(f−1) first, arithmetic shift) and saturated to
//! the INT16 range. Every vector-unit operation that produces INT16 ends in the same rounding
//! and saturation.

/// INT16 × INT16 → INT32: exact (the largest product, 2^30, fits).
#[inline]
pub fn mul(a: i16, b: i16) -> i32 {
    a as i32 * b as i32
}

/// INT32 accumulation with wrap-around.
#[inline]
pub fn mac(acc: i32, a: i16, b: i16) -> i32 {
    acc.wrapping_add(mul(a, b))
}

/// Saturates to the INT16 range.
#[inline]
pub fn saturate(x: i64) -> i16 {
    x.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// `⌊2^16 / n⌉` (n ≥ 1): the Q16.16 reciprocal by which an average divides (never a tie for
/// n ≥ 2).
pub fn reciprocal_q16(n: u64) -> i64 {
    ((1 << 16) + n / 2) as i64 / n as i64
}

/// Arithmetic shift right by `f` with round-half-up: `⌊(x + 2^(f−1)) / 2^f⌋`.
#[inline]
pub fn round_shift(x: i64, f: u32) -> i64 {
    if f == 0 {
        x
    } else {
        (x + (1i64 << (f - 1))) >> f
    }
}

/// An INT32 accumulator (Q.2f) back to INT16 (Q.f).
#[inline]
pub fn requant(acc: i32, f: u32) -> i16 {
    saturate(round_shift(acc as i64, f))
}

/// A real number to Q.f, rounded to nearest (ties away from zero) and saturated.
pub fn quantize(x: f64, f: u32) -> i16 {
    saturate((x * (1u64 << f) as f64).round() as i64)
}

/// A Q.f value as a real number.
pub fn dequantize(q: i16, f: u32) -> f64 {
    q as f64 / (1u64 << f) as f64
}

/// `a · b` of two Q.f values, in Q.f.
#[inline]
pub fn mul_q(a: i16, b: i16, f: u32) -> i16 {
    saturate(round_shift(mul(a, b) as i64, f))
}

/// Saturating INT16 addition.
#[inline]
pub fn add_q(a: i16, b: i16) -> i16 {
    saturate(a as i64 + b as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requant_rounds_half_up_and_saturates() {
        // 1.5 · 2^8 in Q.16 → 384 in Q.8; 0.5 LSB rounds up, −0.5 LSB rounds up (to 0).
        assert_eq!(requant(384 << 8, 8), 384);
        assert_eq!(requant(128, 8), 1);
        assert_eq!(requant(-128, 8), 0);
        assert_eq!(requant(-129, 8), -1);
        assert_eq!(requant(i32::MAX, 8), i16::MAX);
        assert_eq!(requant(i32::MIN, 8), i16::MIN);
        assert_eq!(requant(-5, 0), -5);
    }

    #[test]
    fn accumulation_wraps_like_a_32_bit_adder() {
        assert_eq!(mac(i32::MAX, 1, 1), i32::MIN);
        assert_eq!(mul(i16::MIN, i16::MIN), 1 << 30);
    }

    #[test]
    fn quantize_round_trips_representable_values() {
        for q in [-32768i16, -1, 0, 1, 255, 32767] {
            assert_eq!(quantize(dequantize(q, 8), 8), q);
        }
        assert_eq!(quantize(1e9, 8), i16::MAX);
        assert_eq!(
            mul_q(quantize(1.5, 8), quantize(-2.0, 8), 8),
            quantize(-3.0, 8)
        );
    }
}
