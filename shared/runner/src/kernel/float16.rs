//! Dense matrix-vector products over float16 storage, for float32 weights whose every
//! value is a float16 (checkpoints published in float16 and upcast at load, or
//! converted to float32 from float16 originals). Converting float16 to float32 is
//! exact, so such a matrix stored as float16 gives the same products as the float32
//! one while reading half the bytes, which is what a decode step on the CPU waits for.

use super::{simd, Threads};

/// A dense `[rows, cols]` matrix of float16 values (as bits), row-major.
#[derive(Debug, Clone, Copy)]
pub struct HalfMatrix<'a> {
    pub rows: usize,
    pub cols: usize,
    pub bits: &'a [u16],
}

impl HalfMatrix<'_> {
    /// `out = W · x`, output rows split over `threads`. `x.len()` must be `cols` and
    /// `out.len()` must be `rows`.
    pub fn matvec(&self, x: &[f32], out: &mut [f32], threads: &Threads) {
        assert!(
            x.len() == self.cols
                && out.len() == self.rows
                && self.bits.len() == self.rows * self.cols
        );
        let cols = self.cols;
        threads.split_rows(out, self.rows * cols, 1, |first, part| {
            let w = &self.bits[first * cols..(first + part.len()) * cols];
            if !simd::half_rows(w, x, part) {
                for (o, row) in part.iter_mut().zip(w.chunks_exact(cols)) {
                    *o = row.iter().zip(x).map(|(&h, v)| f16_to_f32(h) * v).sum();
                }
            }
        });
    }
}

/// The float32 value of float16 bits `h` (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let magnitude = match exp {
        0 => return signed(sign, man as f32 * f32::powi(2.0, -24)),
        31 => 0x7f80_0000 | (man << 13),
        _ => ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(sign | magnitude)
}

fn signed(sign: u32, v: f32) -> f32 {
    if sign != 0 {
        -v
    } else {
        v
    }
}

/// The float16 bits of `v` when float16 holds `v` exactly (NaN never).
pub fn exact_f16(v: f32) -> Option<u16> {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let a = v.abs();
    if a.is_nan() {
        return None;
    }
    if a.is_infinite() {
        return Some(sign | 0x7c00);
    }
    let h = if a < f32::powi(2.0, -14) {
        // Zero or subnormal: a multiple of 2^-24 below 2^-14.
        let m = a * f32::powi(2.0, 24);
        if m.fract() != 0.0 {
            return None;
        }
        sign | m as u16
    } else {
        let exp = ((a.to_bits() >> 23) & 0xff) as i32 - 127;
        let man = a.to_bits() & 0x7f_ffff;
        if exp > 15 || man & 0x1fff != 0 {
            return None;
        }
        sign | (((exp + 15) as u16) << 10) | (man >> 13) as u16
    };
    Some(h)
}

/// `values` as float16 bits, or `None` when some value is not a float16.
pub fn to_exact_f16(values: &[f32]) -> Option<Vec<u16>> {
    values.iter().map(|&v| exact_f16(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_float16_round_trips() {
        for h in 0..=u16::MAX {
            let v = f16_to_f32(h);
            if v.is_nan() {
                assert_eq!(exact_f16(v), None);
                continue;
            }
            assert_eq!(exact_f16(v), Some(h), "{h:#06x} → {v}");
        }
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), f32::powi(2.0, -24));
        assert_eq!(exact_f16(0.1), None);
        assert_eq!(exact_f16(65520.0), None);
        assert_eq!(exact_f16(f32::powi(2.0, -25)), None);
    }

    #[test]
    fn products_agree_with_float32() {
        let (rows, cols) = (37, 64);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 256.0)
            .collect();
        let bits = to_exact_f16(&w).unwrap();
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let m = HalfMatrix {
            rows,
            cols,
            bits: &bits,
        };
        for threads in [1, 2] {
            let mut out = vec![0.0; rows];
            m.matvec(&x, &mut out, &Threads::new(threads));
            for (r, o) in out.iter().enumerate() {
                let want: f32 = w[r * cols..][..cols]
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| a * b)
                    .sum();
                assert!((o - want).abs() < 1e-4, "row {r}: {o} vs {want}");
            }
        }
    }
}
