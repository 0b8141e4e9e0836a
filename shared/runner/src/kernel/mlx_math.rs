//! MLX's CPU `exp`, `erf` and `gelu`, bit for bit, over slices of float32.
//!
//! The libmlx we link on Linux (the portable build of the mlx-cpu wheel) evaluates these
//! one element at a time, each step of the polynomial a call to libm's `fmaf`, on the one
//! stream thread while the other cores wait: the GELUs of Whisper's encoder were a sixth
//! of mlxk-audio's time. Here the same operations in the same order (the polynomials of
//! `mlx/backend/cpu/simd/math.h`, compiled `nn.gelu`'s `x · (1 + erf(x / √2)) / 2`) run in
//! lanes of eight with AVX2 and FMA where the CPU has them, and as portable scalar code
//! otherwise. Every operation is IEEE-rounded (`mul_add` is one rounding, as `fma` is),
//! so both give MLX's values exactly; the tests compare them bit for bit.
#![allow(unsafe_code)]
// The constants are MLX's, as written there.
#![allow(
    clippy::excessive_precision,
    clippy::unreadable_literal,
    clippy::approx_constant
)]

/// MLX's `simd::exp`: `2^y` for `y = x·log2(e)`, the integer part by building the
/// exponent bits, the fraction by Cephes' polynomial; NaN kept, `inf` above 88, `0`
/// below −88.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let y = x * 1.442695;
    let ipart = (y + 0.5).floor();
    let f = y - ipart;
    let mut p = 1.535336188319500e-4_f32;
    p = p.mul_add(f, 1.339887440266574e-3);
    p = p.mul_add(f, 9.618437357674640e-3);
    p = p.mul_add(f, 5.550332471162809e-2);
    p = p.mul_add(f, 2.402264791363012e-1);
    p = p.mul_add(f, 6.931472028550421e-1);
    p = p.mul_add(f, 1.0);
    // `2^ipart` from its exponent bits, `(ipart + 127) << 23`. The integer comes out of
    // the float's own bits (`m + 2^23` holds `m` in its mantissa) rather than a
    // conversion, which Rust saturates and LLVM then cannot keep in vector lanes; it is
    // exact wherever the result is used (|x| ≤ 88, so 0 ≤ ipart + 127 ≤ 254).
    let biased = (ipart + 127.0) + 8_388_608.0;
    let bits = biased.to_bits().wrapping_sub(0x4b00_0000).wrapping_shl(23);
    let r = if x.is_nan() {
        x
    } else {
        f32::from_bits(bits) * p
    };
    if x > 88.0 {
        f32::INFINITY
    } else if x < -88.0 {
        0.0
    } else {
        r
    }
}

/// MLX's `simd::erf` (PyTorch's vectorised erf: Abramowitz and Stegun 7.1.26).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let t = 1.0 / 0.3275911_f32.mul_add(x.abs(), 1.0);
    let mut r = 1.061405429_f32.mul_add(t, -1.453152027);
    r = r.mul_add(t, 1.421413741);
    r = r.mul_add(t, -0.284496736);
    r = r.mul_add(t, 0.254829592);
    let e = -exp(-x * x);
    let y = (e * t).mul_add(r, 1.0);
    if x > 0.0 {
        y
    } else {
        -y
    }
}

/// `√2` as MLX's compiled `nn.gelu` divides by it: the CPU backend writes each constant
/// of a compiled graph into C++ source with six significant digits.
const GELU_SQRT_2: f32 = 1.414214;

/// MLX's `nn.gelu` (compiled): `x · (1 + erf(x / 1.414214)) / 2`, in that order.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * (1.0 + erf(x / GELU_SQRT_2)) / 2.0
}

/// `dst[i] = gelu(src[i])` (slices of one length).
pub fn gelu_into(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    if super::simd::available() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above); the loop only zips the slices.
        unsafe {
            return x86::gelu_into(src, dst);
        }
    }
    gelu_portable(src, dst);
}

/// `gelu` of every value, in place.
pub fn gelu_in_place(xs: &mut [f32]) {
    if super::simd::available() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `gelu_into`.
        unsafe {
            return x86::gelu_in_place(xs);
        }
    }
    gelu_portable_in_place(xs);
}

#[inline(always)]
fn gelu_portable_in_place(xs: &mut [f32]) {
    xs.iter_mut().for_each(|v| *v = gelu(*v));
}

#[inline(always)]
fn gelu_portable(src: &[f32], dst: &mut [f32]) {
    dst.iter_mut().zip(src).for_each(|(d, &x)| *d = gelu(x));
}

/// Rows of `src` (each `row` long) through a softmax into `dst`, as MLX's CPU softmax
/// computes one in float32 (its portable build works one element at a time):
/// `exp(x − max)` with MLX's `exp`, summed in order, times `1 / sum`. Rows are taken
/// eight at a time so their eight sums (each still in order) advance together.
pub fn softmax_rows(src: &[f32], dst: &mut [f32], row: usize) {
    assert!(row > 0 && src.len() == dst.len() && src.len() % row == 0);
    if super::simd::available() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `gelu_into`; every index is within the rows checked above.
        unsafe {
            return x86::softmax_rows(src, dst, row);
        }
    }
    softmax_portable(src, dst, row);
}

const ROWS: usize = 8;

#[inline(always)]
fn softmax_portable(src: &[f32], dst: &mut [f32], row: usize) {
    for (s, d) in src.chunks(ROWS * row).zip(dst.chunks_mut(ROWS * row)) {
        let n = s.len() / row;
        let mut sums = [0.0f32; ROWS];
        for r in 0..n {
            let (s, d) = (&s[r * row..(r + 1) * row], &mut d[r * row..(r + 1) * row]);
            let max = lane_max(s);
            d.iter_mut().zip(s).for_each(|(d, &x)| *d = exp(x - max));
        }
        // Each row's sum in order, as MLX adds them; eight rows' additions interleaved.
        for j in 0..row {
            for (r, sum) in sums.iter_mut().enumerate().take(n) {
                *sum += d[r * row + j];
            }
        }
        for (r, sum) in sums.iter().enumerate().take(n) {
            let inv = 1.0 / sum;
            d[r * row..(r + 1) * row].iter_mut().for_each(|v| *v *= inv);
        }
    }
}

/// The largest value (any order gives the same maximum).
#[inline(always)]
fn lane_max(s: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// The same code compiled for AVX2 and FMA, which LLVM turns into lanes of eight
/// (every operation above has a vector form that rounds the same way).
#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gelu_into(src: &[f32], dst: &mut [f32]) {
        super::gelu_portable(src, dst);
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gelu_in_place(xs: &mut [f32]) {
        super::gelu_portable_in_place(xs);
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn softmax_rows(src: &[f32], dst: &mut [f32], row: usize) {
        super::softmax_portable(src, dst, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values across every branch: tiny, ordinary, past ±88 for `exp`, past the erf
    /// saturation, signed zeros, infinities and NaN.
    fn probes() -> Vec<f32> {
        let mut v: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.013_7).collect();
        v.extend([
            0.0, -0.0, 1e-30, -1e-30, 87.9, 88.0, 88.1, -87.9, -88.0, -88.1, 200.0, -200.0,
        ]);
        v.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
        ]);
        v
    }

    fn same_bits(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
        a.iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan()))
            .map(|(i, (x, y))| (i, *x, *y))
    }

    #[test]
    fn gelu_matches_mlx_bit_for_bit() {
        let _g = crate::test_lock();
        let xs = probes();
        let mlx = mlx_rs::nn::gelu(mlx_rs::Array::from_slice(&xs, &[xs.len() as i32])).unwrap();
        let mlx = mlx.as_slice::<f32>();
        let mut vector = vec![0.0; xs.len()];
        gelu_into(&xs, &mut vector);
        let mut in_place = xs.clone();
        gelu_in_place(&mut in_place);
        assert_eq!(same_bits(&in_place, mlx), None, "in place against MLX");
        let scalar: Vec<f32> = xs.iter().map(|&x| gelu(x)).collect();
        assert_eq!(same_bits(&vector, mlx), None, "vector lanes against MLX");
        assert_eq!(same_bits(&scalar, mlx), None, "portable code against MLX");
    }

    #[test]
    fn exp_and_erf_match_mlx_bit_for_bit() {
        let _g = crate::test_lock();
        let xs = probes();
        let a = mlx_rs::Array::from_slice(&xs, &[xs.len() as i32]);
        let mlx_exp = a.exp().unwrap();
        let mlx_erf = mlx_rs::ops::erf(&a).unwrap();
        let ours_exp: Vec<f32> = xs.iter().map(|&x| exp(x)).collect();
        let ours_erf: Vec<f32> = xs.iter().map(|&x| erf(x)).collect();
        assert_eq!(same_bits(&ours_exp, mlx_exp.as_slice()), None, "exp");
        assert_eq!(same_bits(&ours_erf, mlx_erf.as_slice()), None, "erf");
    }

    #[test]
    fn softmax_rows_match_mlx_bit_for_bit() {
        let _g = crate::test_lock();
        mlx_rs::random::seed(11).unwrap();
        // Row counts below, at and past a group of eight, odd row lengths.
        for (rows, n) in [
            (1usize, 1usize),
            (1, 7),
            (3, 8),
            (8, 9),
            (11, 300),
            (17, 1500),
        ] {
            let shape = [rows as i32, n as i32];
            let x = mlx_rs::random::normal::<f32>(&shape[..], None, Some(5.0), None).unwrap();
            let mlx = mlx_rs::ops::softmax_axis(&x, -1, true).unwrap();
            let mut ours = vec![0.0; rows * n];
            softmax_rows(x.as_slice(), &mut ours, n);
            assert_eq!(same_bits(&ours, mlx.as_slice()), None, "{rows}×{n}");
            let mut portable = vec![0.0; rows * n];
            softmax_portable(x.as_slice(), &mut portable, n);
            assert_eq!(
                same_bits(&portable, mlx.as_slice()),
                None,
                "portable {rows}×{n}"
            );
        }
        let mut masked = [0.0; 4];
        softmax_rows(&[0.5, f32::NEG_INFINITY, 1.5, -2.0], &mut masked, 4);
        assert_eq!(masked[1], 0.0);
    }
}
