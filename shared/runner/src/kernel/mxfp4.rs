//! Products with MXFP4 matrices (OCP microscaling FP4, MLX's `mxfp4` mode; gpt-oss's
//! experts): each weight is a 4-bit e2m1 float, eight to a little-endian `u32`, and every
//! 32 of a row share an e8m0 scale `2^(s − 127)`. A group's dot product is taken on the
//! e2m1 values and scaled once; both are exact in float32 up to the summation order.

use super::{KernelError, Threads};

/// The 16 e2m1 values (sign, two exponent bits, one mantissa bit).
const E2M1: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

/// Values per scale.
pub const GROUP: usize = 32;

/// `2^(s − 127)`, exactly (s = 0 is the subnormal 2^-127; 255 is NaN).
pub fn e8m0(s: u8) -> f32 {
    match s {
        0 => f32::from_bits(0x0040_0000),
        255 => f32::NAN,
        s => f32::from_bits((s as u32) << 23),
    }
}

/// An MXFP4 `[rows, cols]` matrix borrowed as slices.
#[derive(Debug, Clone, Copy)]
pub struct Mxfp4Matrix<'a> {
    pub rows: usize,
    pub cols: usize,
    /// `rows · cols / 8` words.
    pub weight: &'a [u32],
    /// `rows · cols / 32` e8m0 scales.
    pub scales: &'a [u8],
}

impl<'a> Mxfp4Matrix<'a> {
    /// Checks the slices against the shape.
    pub fn new(
        rows: usize,
        cols: usize,
        weight: &'a [u32],
        scales: &'a [u8],
    ) -> Result<Self, KernelError> {
        if cols % GROUP != 0 || rows == 0 {
            return Err(KernelError::Unsupported {
                bits: 4,
                group_size: GROUP,
                cols,
            });
        }
        let check = |what, got: usize, want: usize| match got == want {
            true => Ok(()),
            false => Err(KernelError::Size { what, got, want }),
        };
        check("weight", weight.len(), rows * cols / 8)?;
        check("scales", scales.len(), rows * cols / GROUP)?;
        Ok(Mxfp4Matrix {
            rows,
            cols,
            weight,
            scales,
        })
    }

    /// `x · Wᵀ` for one input row `x` (`cols` values).
    pub fn matvec_t(&self, x: &[f32], threads: &Threads) -> Result<Vec<f32>, KernelError> {
        if x.len() != self.cols {
            return Err(KernelError::Size {
                what: "input",
                got: x.len(),
                want: self.cols,
            });
        }
        let mut out = vec![0.0f32; self.rows];
        threads.split_rows(&mut out, self.rows * self.cols, 1, |first, part| {
            for (i, o) in part.iter_mut().enumerate() {
                *o = self.row_dot(first + i, x);
            }
        });
        Ok(out)
    }

    fn row_dot(&self, row: usize, x: &[f32]) -> f32 {
        let words = &self.weight[row * self.cols / 8..(row + 1) * self.cols / 8];
        let scales = &self.scales[row * self.cols / GROUP..(row + 1) * self.cols / GROUP];
        let mut acc = 0.0f32;
        for ((group, xs), &s) in words
            .chunks_exact(GROUP / 8)
            .zip(x.chunks_exact(GROUP))
            .zip(scales)
        {
            let mut dot = 0.0f32;
            for (&w, xs) in group.iter().zip(xs.chunks_exact(8)) {
                for (k, &v) in xs.iter().enumerate() {
                    dot += E2M1[((w >> (4 * k)) & 0xf) as usize] * v;
                }
            }
            acc += dot * e8m0(s);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use mlx_rs::Array;

    use super::*;
    use crate::config::{QuantMode, QuantParams};
    use crate::quant_ops;

    /// The product agrees with MLX's `quantized_matmul` in `mxfp4` mode on weights MLX
    /// itself quantized.
    #[test]
    fn agrees_with_mlx_quantized_matmul() {
        let _lock = crate::test_lock();
        let (rows, cols) = (48, 96);
        let w = mlx_rs::random::normal::<f32>(&[rows, cols], None, None, None).unwrap();
        let (q, s) = quantize_mxfp4(&w);
        let x = mlx_rs::random::normal::<f32>(&[1, cols], None, None, None).unwrap();
        let p = QuantParams {
            bits: 4,
            group_size: 32,
            mode: QuantMode::Mxfp4,
        };
        let want = quant_ops::quantized_matmul(&x, &q, &s, None, p).unwrap();
        want.eval().unwrap();
        let m = Mxfp4Matrix::new(
            rows as usize,
            cols as usize,
            q.as_slice::<u32>(),
            s.as_slice::<u8>(),
        )
        .unwrap();
        for threads in [1, 3] {
            let got = m
                .matvec_t(x.as_slice::<f32>(), &Threads::new(threads))
                .unwrap();
            let worst = got
                .iter()
                .zip(want.as_slice::<f32>())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{threads} threads: max |Δ| {worst}");
        }
    }

    #[test]
    fn e8m0_is_a_power_of_two() {
        assert_eq!(e8m0(127), 1.0);
        assert_eq!(e8m0(126), 0.5);
        assert_eq!(e8m0(130), 8.0);
        assert_eq!(e8m0(0), 2f32.powi(-127));
        assert!(e8m0(255).is_nan());
    }

    /// MLX's own MXFP4 quantization of `w` (weight words, e8m0 scales).
    fn quantize_mxfp4(w: &Array) -> (Array, Array) {
        quant_ops::quantize(
            w,
            QuantParams {
                bits: 4,
                group_size: 32,
                mode: QuantMode::Mxfp4,
            },
        )
        .unwrap()
    }
}
