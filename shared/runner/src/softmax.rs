//! Attention weights on the CPU in Rust.
//!
//! The libmlx we link on Linux (the mlx-cpu wheel's portable build) evaluates `exp` one
//! element at a time, each step of its polynomial a call to libm's `fmaf`. For attention
//! over long sequences — Whisper's encoder over 1500 frames, a vision tower over 1024
//! patches per tile — that softmax was the largest cost after the matrix products (half
//! of mlxk-vision's time on the tiny SmolVLM, a quarter of mlxk-audio's). Here the scores
//! are evaluated by MLX (the products stay on OpenBLAS) and the softmax over the last
//! axis runs on slices, rows split over threads, in float32 as MLX's precise softmax
//! computes it, with the same values: `exp(x − max)` with MLX's own `exp`
//! ([`mlx_math`], in lanes of eight), summed in order, times `1 / sum`. On Metal, and
//! for scores MLX cannot hand over as one contiguous float32 buffer, MLX's own softmax
//! runs.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array, Device, DeviceType, Dtype};
use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::mlx_math;

/// Rows of at least this many elements in all are worth the hand-over to Rust.
const MIN_ELEMENTS: usize = 1 << 14;

/// Softmax over the last axis of `x` (float32, as MLX's `softmax(x, -1, precise)`).
pub fn softmax_last_axis(x: &Array) -> Result<Array> {
    let Some(values) = cpu_values(x) else {
        return Ok(ops::softmax_axis(x, -1, true)?);
    };
    let row = (*x.shape().last().unwrap_or(&1) as usize).max(1);
    // Tasks of whole groups of rows, at least `MIN_ELEMENTS` each.
    let task = row * (MIN_ELEMENTS / row).next_multiple_of(8).max(8);
    Ok(hand_back(x.shape(), values.len(), |out| {
        out.par_chunks_mut(task)
            .zip(values.par_chunks(task))
            .for_each(|(d, s)| mlx_math::softmax_rows(s, d, row));
    }))
}

/// Output buffers up to this size are kept between hand-overs ([`hand_back`]).
const KEEP_BYTES: usize = 64 << 20;

thread_local! {
    static OUTPUT: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An MLX array of `shape` (`len` values) that `fill` writes every value of. The buffer
/// it writes is this thread's, kept between calls up to [`KEEP_BYTES`], so the
/// hand-overs of a model (Whisper's encoder: 30 a window) do not zero and fault in a
/// fresh one each time; larger ones get a buffer of their own.
pub(crate) fn hand_back(shape: &[i32], len: usize, fill: impl FnOnce(&mut [f32])) -> Array {
    if 4 * len > KEEP_BYTES {
        let mut out = vec![0.0; len];
        fill(&mut out);
        return Array::from_slice(&out, shape);
    }
    OUTPUT.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        fill(&mut buffer[..len]);
        Array::from_slice(&buffer[..len], shape)
    })
}

/// The values of `x` when it is worth handing over to Rust: float32, at least
/// `MIN_ELEMENTS`, on the CPU, and contiguous (evaluating it); else `None`.
pub(crate) fn cpu_values(x: &Array) -> Option<&[f32]> {
    if x.dtype() != Dtype::Float32 || x.size() < MIN_ELEMENTS || !on_cpu() {
        return None;
    }
    x.try_as_slice::<f32>().ok()
}

/// `softmax((scale · q) · kᵀ) · v`, as MLX's `scaled_dot_product_attention` computes it
/// without a mask, with the softmax of [`softmax_last_axis`].
pub fn attention(q: &Array, k: &Array, v: &Array, scale: f32) -> Result<Array> {
    let q = q.multiply(Array::from_f32(scale))?;
    let scores = ops::matmul(&q, &k.swap_axes(-1, -2)?)?;
    Ok(ops::matmul(&softmax_last_axis(&scores)?, v)?)
}

/// Attention scores held at once, at most (bytes), by [`segment_attention`] with
/// [`query_chunk`]: queries over many keys (a vision tower's whole image) are taken in
/// chunks, so a large image does not need `heads · patches²` scores at once.
const SCORE_BYTES: usize = 256 << 20;

/// Queries per chunk for attention over `keys` keys with `heads` heads (at least 1).
pub fn query_chunk(heads: usize, keys: usize) -> usize {
    (SCORE_BYTES / (4 * heads * keys).max(1)).max(1)
}

/// Unmasked attention of `q`, `k`, `v` (`[heads, N, head_dim]`) within each segment
/// `bounds[i]..bounds[i + 1]` of the rows, queries taken `chunk(keys)` at a time.
pub fn segment_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    bounds: &[usize],
    scale: f32,
    chunk: impl Fn(usize) -> usize,
) -> Result<Array> {
    let mut outs = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        let (s, e) = (w[0] as i32, w[1] as i32);
        let (k, v) = (k.index((.., s..e, ..)), v.index((.., s..e, ..)));
        let rows = chunk((e - s) as usize).max(1) as i32;
        let mut start = s;
        while start < e {
            let end = (start + rows).min(e);
            let o = crate::softmax::attention(&q.index((.., start..end, ..)), &k, &v, scale)?;
            if end < e {
                // One chunk's scores alive at a time.
                o.eval()?;
            }
            outs.push(o);
            start = end;
        }
    }
    Ok(ops::concatenate(&outs, 1)?)
}

fn on_cpu() -> bool {
    Device::try_default()
        .and_then(|d| d.get_type())
        .is_ok_and(|t| matches!(t, DeviceType::Cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Array, b: &Array) -> f32 {
        let (a, b) = (a.as_slice::<f32>(), b.as_slice::<f32>());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn agrees_with_mlx_softmax_and_attention() {
        mlx_rs::random::seed(7).unwrap();
        let x = mlx_rs::random::normal::<f32>(&[2, 3, 64, 300][..], None, Some(4.0), None).unwrap();
        let ours = softmax_last_axis(&x).unwrap();
        let mlx = ops::softmax_axis(&x, -1, true).unwrap();
        assert_eq!(ours.shape(), mlx.shape());
        assert!(max_diff(&ours, &mlx) < 1e-6, "{}", max_diff(&ours, &mlx));

        let shape = [1, 4, 128, 32];
        let q = mlx_rs::random::normal::<f32>(&shape[..], None, None, None).unwrap();
        let k = mlx_rs::random::normal::<f32>(&shape[..], None, None, None).unwrap();
        let v = mlx_rs::random::normal::<f32>(&shape[..], None, None, None).unwrap();
        let ours = attention(&q, &k, &v, 0.17).unwrap();
        let mlx = mlx_rs::fast::scaled_dot_product_attention(&q, &k, &v, 0.17, None, None).unwrap();
        assert!(max_diff(&ours, &mlx) < 1e-5, "{}", max_diff(&ours, &mlx));
    }

    #[test]
    fn chunked_queries_give_the_same_attention() {
        let _g = crate::test_lock();
        let shape = [2, 10, 8];
        mlx_rs::random::seed(3).unwrap();
        let q = mlx_rs::random::normal::<f32>(&shape[..], None, None, None).unwrap();
        let k = mlx_rs::random::normal::<f32>(&shape[..], None, None, None).unwrap();
        let v = mlx_rs::random::normal::<f32>(&shape[..], None, None, None).unwrap();
        let bounds = [0, 4, 10];
        let whole = segment_attention(&q, &k, &v, &bounds, 0.3, |n| n).unwrap();
        let chunked = segment_attention(&q, &k, &v, &bounds, 0.3, |_| 3).unwrap();
        assert_eq!(whole.shape(), &shape);
        let (a, b) = (whole.as_slice::<f32>(), chunked.as_slice::<f32>());
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-6, "{diff}");
        // The second segment's first query does not see the first segment's keys.
        let seg = segment_attention(&q, &k, &v, &[0, 6], 0.3, |n| n).unwrap();
        assert_ne!(seg.as_slice::<f32>()[4 * 8], a[4 * 8]);
        assert_eq!(query_chunk(16, 65536), 64);
    }

    #[test]
    fn rows_with_masked_entries() {
        let mut row = [0.0; 4];
        mlx_math::softmax_rows(&[0.5, f32::NEG_INFINITY, 1.5, -2.0], &mut row, 4);
        assert_eq!(row[1], 0.0);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
