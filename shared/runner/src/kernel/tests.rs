//! The kernels against MLX's own `quantize` / `quantized_matmul` on the CPU, for every
//! bit width and group size, odd row counts, and one to seven input rows.

use mlx_rs::{ops, Array};

use super::*;

/// Deterministic values in [-1, 1) (xorshift), so failures reproduce.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

struct Case {
    w: Array,
    s: Array,
    b: Array,
    /// Dequantized weight, row-major `[rows, cols]`, for the error bound.
    deq: Vec<f32>,
    layout: Layout,
}

fn case(rows: usize, cols: usize, bits: usize, group_size: usize) -> Case {
    let dense = Array::from_slice(
        &values(rows * cols, (rows * 31 + cols * 7 + bits) as u64),
        &[rows as i32, cols as i32],
    );
    let (w, s, b) = ops::quantize(&dense, group_size as i32, bits as i32).unwrap();
    let deq = ops::dequantize(&w, &s, &b, group_size as i32, bits as i32).unwrap();
    Case {
        deq: deq.as_slice::<f32>().to_vec(),
        w,
        s,
        b,
        layout: Layout {
            rows,
            cols,
            bits,
            group_size,
        },
    }
}

/// Compares the kernel with MLX for `n` input rows; the tolerance is float32
/// rounding relative to `Σ |x·w|` of each output.
fn check(c: &Case, n: usize, isa: Isa, threads: &Threads) {
    let l = c.layout;
    let x = values(n * l.cols, 99 + n as u64);
    let xa = Array::from_slice(&x, &[n as i32, l.cols as i32]);
    let want = ops::quantized_matmul(
        &xa,
        &c.w,
        &c.s,
        &c.b,
        true,
        l.group_size as i32,
        l.bits as i32,
    )
    .unwrap();
    let want = want.as_slice::<f32>();
    let m = QuantMatrix::new(l, c.w.as_slice(), c.s.as_slice(), c.b.as_slice()).unwrap();
    let mut got = vec![f32::NAN; n * l.rows];
    m.matmul_t(&x, &mut got, isa, threads).unwrap();
    for r in 0..n {
        for o in 0..l.rows {
            let xr = &x[r * l.cols..(r + 1) * l.cols];
            let wr = &c.deq[o * l.cols..(o + 1) * l.cols];
            let mag: f32 = xr.iter().zip(wr).map(|(a, b)| (a * b).abs()).sum();
            let (g, w) = (got[r * l.rows + o], want[r * l.rows + o]);
            assert!(
                (g - w).abs() <= 1e-5 * mag + 1e-6,
                "{l:?} {isa:?} n={n} row {r} out {o}: got {g}, MLX {w} (Σ|xw| {mag})"
            );
        }
    }
}

#[test]
fn every_bits_and_group_size_agree_with_mlx() {
    let _guard = crate::test_lock();
    let threads = Threads::new(3);
    for bits in [2, 3, 4, 5, 6, 8] {
        for group_size in [32, 64, 128] {
            // 37 rows: blocks of four plus a remainder, split over threads.
            let c = case(37, group_size * 3, bits, group_size);
            for n in [1, 3, 7] {
                check(&c, n, Isa::Portable, &Threads::default());
                check(&c, n, Isa::Native, &threads);
            }
        }
    }
}

#[test]
fn odd_shapes_agree_with_mlx() {
    let _guard = crate::test_lock();
    let threads = Threads::new(2);
    for (rows, cols, bits, group_size) in [
        (1, 32, 4, 32),
        (3, 64, 3, 64),
        (5, 96, 6, 32),
        (67, 384, 4, 128),
        (130, 576, 4, 32),
        (1029, 576, 8, 64),
        (2050, 256, 2, 128),
    ] {
        let c = case(rows, cols, bits, group_size);
        for n in [1, 2] {
            check(&c, n, Isa::Portable, &Threads::default());
            check(&c, n, Isa::Native, &threads);
        }
    }
}

#[test]
fn bad_sizes_are_errors() {
    let l = Layout {
        rows: 2,
        cols: 64,
        bits: 4,
        group_size: 32,
    };
    let w = vec![0u32; 16];
    let s = vec![0.0f32; 4];
    assert!(QuantMatrix::new(l, &w[..15], &s, &s).is_err());
    assert!(QuantMatrix::new(l, &w, &s[..3], &s).is_err());
    let bad = Layout {
        group_size: 48,
        ..l
    };
    assert!(QuantMatrix::new(bad, &w, &s, &s).is_err());
    let m = QuantMatrix::new(l, &w, &s, &s).unwrap();
    let mut out = vec![0.0; 2];
    let threads = Threads::default();
    assert!(m
        .matmul_t(&[0.0; 63], &mut out, Isa::Native, &threads)
        .is_err());
    assert!(m
        .matmul_t(&[0.0; 128], &mut out, Isa::Native, &threads)
        .is_err());
    m.matmul_t(&[1.0; 64], &mut out, Isa::Native, &threads)
        .unwrap();
    assert_eq!(out, [0.0, 0.0]);
}
