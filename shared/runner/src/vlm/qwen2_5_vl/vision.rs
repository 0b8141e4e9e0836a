//! Qwen2.5-VL's vision tower (mlx-vlm `models/qwen2_5_vl/vision.py`): the Conv3d patch
//! embedding as a linear map of each flattened patch, a 2-D rotary embedding (patch
//! row and column), pre-norm blocks (RMS norms, attention with a qkv bias within 8×8-patch
//! windows or, on `fullatt_block_indexes`, over the whole image; SiLU-gated MLP with
//! biases), and the patch merger (RMS norm, 2×2 patches → one token: Linear, exact GELU,
//! Linear). Blocks see the patches in window order ([`window_index`]); the merged tokens
//! are put back in raster order at the end. Images are encoded one at a time: nothing
//! crosses between them.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::config::VisionConfig;
use crate::config::Quantization;
use crate::error::{Result, RunnerError};
use crate::layers::{MRope, RmsNorm};
use crate::linear::{Linear, Parallelism};
use crate::rope::inverse_frequencies;
use crate::softmax::{query_chunk, segment_attention};
use crate::weights::Weights;

const PREFIX: &str = "vision_tower";
/// The blocks' and the merger's RMS norm epsilon (fixed in mlx-vlm).
const NORM_EPS: f32 = 1e-6;
/// The rotary embedding's base.
const ROPE_THETA: f32 = 10_000.0;
#[derive(Debug)]
struct Block {
    norm1: RmsNorm,
    qkv: Linear,
    proj: Linear,
    norm2: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    full_attention: bool,
}

/// The vision tower with its merger.
#[derive(Debug)]
pub struct VisionModel {
    config: VisionConfig,
    /// The patch embedding `[patch_values, hidden]` (the Conv3d kernel, flattened in
    /// the patch rows' order: channel, time, y, x).
    patch_embed: Array,
    /// `1 / θ^(arange(0, hd/2, 2) / (hd/2))` (`[head_dim / 4]`).
    inv_freq: Array,
    blocks: Vec<Block>,
    ln_q: RmsNorm,
    merger_fc1: Linear,
    merger_fc2: Linear,
}

impl VisionModel {
    /// Takes every `vision_tower.*` tensor out of `w`.
    pub fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        c: &VisionConfig,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, ch, t, p) = (
            c.hidden_size,
            c.in_channels,
            c.temporal_patch_size,
            c.patch_size,
        );
        let name = format!("{PREFIX}.patch_embed.proj.weight");
        let patch_embed = patch_kernel(w, &name, d, (ch, t, p))?;

        let inv_freq = inverse_frequencies(c.head_dim() / 2, ROPE_THETA)?;

        let lin = |w: &mut Weights, name: &str, i, o| {
            Linear::load(w, q, &format!("{PREFIX}.{name}"), i, o, true, par)
        };
        let norm = |w: &mut Weights, name: &str, dim| {
            RmsNorm::load(w, &format!("{PREFIX}.{name}"), dim, NORM_EPS)
        };
        let inter = c.intermediate_size;
        let blocks = (0..c.depth)
            .map(|i| {
                let b = format!("blocks.{i}");
                Ok(Block {
                    norm1: norm(w, &format!("{b}.norm1"), d)?,
                    qkv: lin(w, &format!("{b}.attn.qkv"), d, 3 * d)?,
                    proj: lin(w, &format!("{b}.attn.proj"), d, d)?,
                    norm2: norm(w, &format!("{b}.norm2"), d)?,
                    gate_proj: lin(w, &format!("{b}.mlp.gate_proj"), d, inter)?,
                    up_proj: lin(w, &format!("{b}.mlp.up_proj"), d, inter)?,
                    down_proj: lin(w, &format!("{b}.mlp.down_proj"), inter, d)?,
                    full_attention: c.fullatt_block_indexes.contains(&i),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let merged = d * c.merge_unit();
        Ok(VisionModel {
            config: c.clone(),
            patch_embed,
            inv_freq,
            blocks,
            ln_q: norm(w, "merger.ln_q", d)?,
            merger_fc1: lin(w, "merger.mlp.0", merged, merged)?,
            merger_fc2: lin(w, "merger.mlp.2", merged, c.out_hidden_size)?,
        })
    }

    /// The patch embedding of `patches` (`[N, patch_values]`) → `[N, hidden]`.
    pub fn patch_embed(&self, patches: &Array) -> Result<Array> {
        Ok(patches.matmul(&self.patch_embed)?)
    }

    /// One image's patches `[t · h · w, patch_values]` (grid `[t, h, w]`) → its merged
    /// tokens `[t · h · w / 4, out_hidden]`, in raster order.
    pub fn forward(&self, patches: &Array, grid: [usize; 3]) -> Result<Array> {
        let c = &self.config;
        let [t, gh, gw] = grid;
        let (m, unit) = (c.spatial_merge_size, c.merge_unit());
        let n = t * gh * gw;
        if gh % m != 0 || gw % m != 0 || patches.shape() != [n as i32, c.patch_values() as i32] {
            return Err(RunnerError::InvalidImage(format!(
                "patches {:?} do not make a {t}×{gh}×{gw} grid of {}-value patches",
                patches.shape(),
                c.patch_values()
            )));
        }
        let (windows, cu_windows) = window_index(grid, m, c.window_tokens());
        let order = Array::from_slice(
            &windows.iter().map(|&i| i as i32).collect::<Vec<_>>(),
            &[windows.len() as i32],
        );
        // Rows in window order, in groups of `unit` (one merged token's patches).
        let by_window = |x: &Array| -> Result<Array> {
            let d = x.dim(-1);
            Ok(x.reshape(&[(n / unit) as i32, unit as i32, d])?
                .take_axis(&order, 0)?
                .reshape(&[n as i32, d])?)
        };

        let mut h = by_window(&self.patch_embed(patches)?)?;
        let angles = by_window(&self.rotary_angles(grid)?)?;
        let emb = ops::concatenate(&[angles.clone(), angles], -1)?;
        let shape = [n as i32, 1, emb.dim(-1)];
        let cos = ops::cos(&emb)?.reshape(&shape)?;
        let sin = ops::sin(&emb)?.reshape(&shape)?;
        let frames: Vec<usize> = (0..=t).map(|i| i * gh * gw).collect();

        for block in &self.blocks {
            let segments = if block.full_attention {
                &frames
            } else {
                &cu_windows
            };
            h = self.block(block, &h, &cos, &sin, segments)?;
            h.eval()?;
        }

        let x = self.ln_q.forward(&h)?;
        let x = x.reshape(&[(n / unit) as i32, (unit * c.hidden_size) as i32])?;
        let x = self.merger_fc1.forward(&x)?;
        let x = self.merger_fc2.forward(&crate::activation::gelu(&x)?)?;
        // Back to raster order.
        let mut inverse = vec![0i32; windows.len()];
        for (pos, &token) in windows.iter().enumerate() {
            inverse[token] = pos as i32;
        }
        let inverse = Array::from_slice(&inverse, &[inverse.len() as i32]);
        Ok(x.take_axis(&inverse, 0)?)
    }

    fn rotary_angles(&self, grid: [usize; 3]) -> Result<Array> {
        rotary_angles(grid, self.config.spatial_merge_size, &self.inv_freq)
    }

    /// `x + attn(norm1(x))`, then `+ mlp(norm2(·))`; attention within each segment
    /// `bounds[k]..bounds[k + 1]` of the rows.
    fn block(
        &self,
        b: &Block,
        x: &Array,
        cos: &Array,
        sin: &Array,
        bounds: &[usize],
    ) -> Result<Array> {
        let qkv = b.qkv.forward(&b.norm1.forward(x)?)?;
        let o = block_attention(&qkv, self.config.num_heads, cos, sin, bounds)?;
        let h = x.add(&b.proj.forward(&o)?)?;
        let y = b.norm2.forward(&h)?;
        let gate = b.gate_proj.forward(&y)?;
        let gate = gate.multiply(ops::sigmoid(&gate)?)?;
        let m = b
            .down_proj
            .forward(&gate.multiply(b.up_proj.forward(&y)?)?)?;
        Ok(h.add(&m)?)
    }
}

/// A Qwen-VL tower block's attention: `qkv` (`[N, 3 · hidden]`) as `heads` heads of
/// q, k and v, q and k rotated by `cos`, `sin`, attention within each segment
/// `bounds[k]..bounds[k + 1]` of the rows (queries in chunks) → `[N, hidden]`, before the
/// output projection.
pub(crate) fn block_attention(
    qkv: &Array,
    heads: usize,
    cos: &Array,
    sin: &Array,
    bounds: &[usize],
) -> Result<Array> {
    let n = qkv.dim(0);
    let qkv = qkv.reshape(&[n, 3, heads as i32, -1])?;
    let head_dim = qkv.dim(-1);
    // Each of q, k, v as [heads, N, head_dim]; q and k rotated first.
    let part = |i: i32, rotate: bool| -> Result<Array> {
        let mut a = qkv.index((.., i, .., ..));
        if rotate {
            a = MRope::apply(&a, cos, sin)?;
        }
        Ok(a.transpose_axes(&[1, 0, 2])?)
    };
    let (q, k, v) = (part(0, true)?, part(1, true)?, part(2, false)?);
    let scale = (head_dim as f32).powf(-0.5);
    let o = segment_attention(&q, &k, &v, bounds, scale, |keys| query_chunk(heads, keys))?;
    Ok(o.transpose_axes(&[1, 0, 2])?.reshape(&[n, -1])?)
}

/// The Conv3d patch kernel `name` as the matrix `[channels · T · patch², hidden]` of a
/// linear map of each flattened patch: from MLX's layout `[out, T, kh, kw, in]`
/// (mlx-community) or PyTorch's `[out, in, T, kh, kw]`, in float32.
pub(crate) fn patch_kernel(
    w: &mut Weights,
    name: &str,
    d: usize,
    (ch, t, p): (usize, usize, usize),
) -> Result<Array> {
    let raw = w.take(name)?;
    let shape: Vec<usize> = raw.shape().iter().map(|&x| x as usize).collect();
    let kernel = if shape == [d, t, p, p, ch] {
        raw.transpose_axes(&[0, 4, 1, 2, 3])?
    } else if shape == [d, ch, t, p, p] {
        raw
    } else {
        return Err(RunnerError::BadTensor {
            name: name.into(),
            message: format!("shape {shape:?}, expected [{d}, {t}, {p}, {p}, {ch}]"),
        });
    };
    let kernel = kernel
        .reshape(&[d as i32, (ch * t * p * p) as i32])?
        .transpose_axes(&[1, 0])?
        .as_dtype(mlx_rs::Dtype::Float32)?;
    kernel.eval()?;
    Ok(kernel)
}

/// Rotary angles `[N, head_dim / 2]` of each patch of an image of `grid` `[t, h, w]`,
/// in the patch rows' order (`merge × merge` blocks): `[row · inv_freq, col · inv_freq]`.
pub(crate) fn rotary_angles([t, gh, gw]: [usize; 3], m: usize, inv_freq: &Array) -> Result<Array> {
    let mut ids = Vec::with_capacity(2 * t * gh * gw);
    for _ in 0..t {
        for bh in 0..gh / m {
            for bw in 0..gw / m {
                for i in 0..m {
                    for j in 0..m {
                        ids.push((bh * m + i) as i32);
                        ids.push((bw * m + j) as i32);
                    }
                }
            }
        }
    }
    let side = gh.max(gw) as f32;
    let table = ops::arange::<_, f32>(0.0, side, 1.0)?
        .expand_dims(1)?
        .multiply(inv_freq.expand_dims(0)?)?;
    let n = ids.len() as i32;
    let ids = Array::from_slice(&ids, &[n]);
    Ok(table.take_axis(&ids, 0)?.reshape(&[n / 2, -1])?)
}

/// mlx-vlm's `get_window_index` for one image of `grid` `[t, h, w]` patches, merged
/// `merge × merge`, in windows of `window × window` merged tokens: the merged tokens in
/// window order (windows raster over the grid padded to whole windows, tokens raster
/// inside), and the window bounds in patch rows, `0` first. The padding is
/// `window − n % window`, a whole empty row or column of windows when `n` divides
/// evenly; empty windows add no bound (mlx-vlm drops the repeated values).
pub fn window_index(grid: [usize; 3], merge: usize, window: usize) -> (Vec<usize>, Vec<usize>) {
    let [t, gh, gw] = grid;
    let (lh, lw) = (gh / merge, gw / merge);
    let (nh, nw) = (
        (lh + window - lh % window) / window,
        (lw + window - lw % window) / window,
    );
    let unit = merge * merge;
    let mut index = Vec::with_capacity(t * lh * lw);
    let mut bounds = vec![0usize];
    for f in 0..t {
        for wy in 0..nh {
            for wx in 0..nw {
                let before = index.len();
                for y in wy * window..((wy + 1) * window).min(lh) {
                    for x in wx * window..((wx + 1) * window).min(lw) {
                        index.push(f * lh * lw + y * lw + x);
                    }
                }
                if index.len() > before {
                    bounds.push(index.len() * unit);
                }
            }
        }
    }
    (index, bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_raster_with_empty_windows_dropped() {
        // 6×10 patches → 3×5 merged tokens, windows of 2×2 tokens: 2×3 windows.
        let (index, bounds) = window_index([1, 6, 10], 2, 2);
        assert_eq!(index, [0, 1, 5, 6, 2, 3, 7, 8, 4, 9, 10, 11, 12, 13, 14]);
        assert_eq!(bounds, [0, 16, 32, 40, 48, 56, 60]);
        // 8×4 merged tokens in 4×4 windows: the padding adds a whole empty column of
        // windows (4 % 4 = 0 → pad 4), and a row (8 % 4 = 0): 3×2 windows, 2 non-empty.
        let (index, bounds) = window_index([1, 16, 8], 2, 4);
        assert_eq!(index, (0..32).collect::<Vec<_>>());
        assert_eq!(bounds, [0, 64, 128]);
    }
}
