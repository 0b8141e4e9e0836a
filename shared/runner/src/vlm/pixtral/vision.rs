//! Pixtral's vision tower (mlx-vlm `models/pixtral/vision.py`): a patch convolution
//! without bias, an RMS norm (`ln_pre`), and pre-norm blocks (RMS norms, attention
//! without biases under a 2-D rotary embedding of each patch's row and column, a
//! SiLU-gated MLP). Images keep their own size (multiples of the patch); each is encoded
//! alone, which is what mlx-vlm's block-diagonal mask over the images of a prompt
//! computes. The output is the last block's, without a final norm.

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

const PREFIX: &str = "vision_tower.vision_model";
/// `ln_pre` is built with MLX's default epsilon, not the config's.
const LN_PRE_EPS: f32 = 1e-5;

#[derive(Debug)]
struct Block {
    attention_norm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    ffn_norm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

/// The vision tower.
#[derive(Debug)]
pub struct VisionModel {
    config: VisionConfig,
    /// Conv2d weight in MLX layout `[hidden, patch, patch, channels]`.
    patch_conv: Array,
    ln_pre: RmsNorm,
    /// `1 / θ^(arange(0, head_dim, 2) / head_dim)` (`[head_dim / 2]`).
    inv_freq: Array,
    blocks: Vec<Block>,
}

impl VisionModel {
    /// Takes every `vision_tower.vision_model.*` tensor out of `w`.
    pub fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        c: &VisionConfig,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, p, ch) = (c.hidden_size, c.patch_size, c.num_channels);
        let patch_conv = w.take_conv2d(&format!("{PREFIX}.patch_conv.weight"), d, p, ch)?;
        let inv_freq = inverse_frequencies(c.head_dim, c.rope_theta)?;

        let lin = |w: &mut Weights, name: &str, i, o| {
            Linear::load(w, q, &format!("{PREFIX}.{name}"), i, o, false, par)
        };
        let norm = |w: &mut Weights, name: &str, eps| {
            RmsNorm::load(w, &format!("{PREFIX}.{name}"), d, eps)
        };
        let inter = c.intermediate_size;
        let blocks = (0..c.num_hidden_layers)
            .map(|i| {
                let b = format!("transformer.layers.{i}");
                Ok(Block {
                    attention_norm: norm(w, &format!("{b}.attention_norm"), c.rms_norm_eps)?,
                    q_proj: lin(w, &format!("{b}.attention.q_proj"), d, d)?,
                    k_proj: lin(w, &format!("{b}.attention.k_proj"), d, d)?,
                    v_proj: lin(w, &format!("{b}.attention.v_proj"), d, d)?,
                    o_proj: lin(w, &format!("{b}.attention.o_proj"), d, d)?,
                    ffn_norm: norm(w, &format!("{b}.ffn_norm"), c.rms_norm_eps)?,
                    gate_proj: lin(w, &format!("{b}.feed_forward.gate_proj"), d, inter)?,
                    up_proj: lin(w, &format!("{b}.feed_forward.up_proj"), d, inter)?,
                    down_proj: lin(w, &format!("{b}.feed_forward.down_proj"), inter, d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(VisionModel {
            config: c.clone(),
            patch_conv,
            ln_pre: norm(w, "ln_pre", LN_PRE_EPS)?,
            inv_freq,
            blocks,
        })
    }

    /// One image `[1, H, W, channels]` (channels last, normalised; H and W multiples of
    /// the patch) → `[(H / patch) · (W / patch), hidden]`, patches row by row.
    pub fn forward(&self, image: &Array) -> Result<Array> {
        let c = &self.config;
        let p = c.patch_size as i32;
        let (h, w) = (image.dim(1) / p, image.dim(2) / p);
        let max = c.max_patches_per_side() as i32;
        if image.ndim() != 4 || h == 0 || w == 0 || h > max || w > max {
            return Err(RunnerError::InvalidImage(format!(
                "the vision tower takes images of 1 to {max}×{max} patches of {p}, got {:?}",
                image.shape()
            )));
        }
        let x = ops::conv2d(image, &self.patch_conv, (p, p), None, None, None)?;
        let n = h * w;
        let mut x = self.ln_pre.forward(&x.reshape(&[n, -1])?)?;
        let emb = self.rotary_angles(h as usize, w as usize)?;
        let emb = ops::concatenate(&[emb.clone(), emb], -1)?;
        let shape = [1, n, emb.dim(-1)];
        let cos = ops::cos(&emb)?.reshape(&shape)?;
        let sin = ops::sin(&emb)?.reshape(&shape)?;
        for block in &self.blocks {
            x = self.block(block, &x, &cos, &sin)?;
            x.eval()?;
        }
        Ok(x)
    }

    /// Each image of `images` (`[F, H, W, channels]`, padded to the largest; `grids[i]`
    /// its patch grid `[1, rows, cols]`) cropped to its grid, encoded alone and passed
    /// through `project` (its patches `[rows · cols, hidden]` and grid) → the images'
    /// outputs one after the other.
    pub fn encode_each(
        &self,
        images: &Array,
        grids: &[[usize; 3]],
        project: impl Fn(&Array, [usize; 3]) -> Result<Array>,
    ) -> Result<Array> {
        if grids.is_empty() || grids.len() != images.dim(0) as usize {
            return Err(RunnerError::InvalidImage(format!(
                "{} patch grids for {} images",
                grids.len(),
                images.dim(0)
            )));
        }
        let p = self.config.patch_size as i32;
        let mut out = Vec::with_capacity(grids.len());
        for (i, &grid) in grids.iter().enumerate() {
            let (h, w) = (grid[1] as i32 * p, grid[2] as i32 * p);
            if grid[0] != 1 || h > images.dim(1) || w > images.dim(2) {
                return Err(RunnerError::InvalidImage(format!(
                    "patch grid {grid:?} does not fit images {:?}",
                    images.shape()
                )));
            }
            let i = i as i32;
            let image = images.index((i..i + 1, 0..h, 0..w, ..));
            let features = project(&self.forward(&image)?, grid)?;
            features.eval()?;
            out.push(features);
        }
        Ok(ops::concatenate(&out, 0)?)
    }

    /// Rotary angles `[h · w, head_dim / 2]` of an `h × w` patch grid, row by row: the
    /// row times the even frequencies, then the column times the odd ones.
    fn rotary_angles(&self, h: usize, w: usize) -> Result<Array> {
        let pairs = self.inv_freq.reshape(&[-1, 2])?;
        let (freqs_h, freqs_w) = (pairs.index((.., 0)), pairs.index((.., 1)));
        let rows = ops::arange::<_, f32>(0.0, h as f32, 1.0)?
            .expand_dims(1)?
            .multiply(freqs_h.expand_dims(0)?)?;
        let cols = ops::arange::<_, f32>(0.0, w as f32, 1.0)?
            .expand_dims(1)?
            .multiply(freqs_w.expand_dims(0)?)?;
        let q = freqs_h.dim(0);
        let rows = ops::broadcast_to(&rows.expand_dims(1)?, &[h as i32, w as i32, q])?;
        let cols = ops::broadcast_to(&cols.expand_dims(0)?, &[h as i32, w as i32, q])?;
        Ok(ops::concatenate(&[rows, cols], -1)?.reshape(&[(h * w) as i32, -1])?)
    }

    /// `x + attn(attention_norm(x))`, then `+ mlp(ffn_norm(·))`, over all of `x`'s rows
    /// (queries in chunks, so a large image's scores are not all held at once).
    fn block(&self, b: &Block, x: &Array, cos: &Array, sin: &Array) -> Result<Array> {
        let (n, heads) = (x.dim(0), self.config.num_attention_heads as i32);
        let y = b.attention_norm.forward(x)?;
        // [heads, N, head_dim], q and k rotated.
        let split = |t: Array, rotate: bool| -> Result<Array> {
            let t = t.reshape(&[n, heads, -1])?.transpose_axes(&[1, 0, 2])?;
            Ok(if rotate {
                MRope::apply(&t, cos, sin)?
            } else {
                t
            })
        };
        let q = split(b.q_proj.forward(&y)?, true)?;
        let k = split(b.k_proj.forward(&y)?, true)?;
        let v = split(b.v_proj.forward(&y)?, false)?;
        let scale = (self.config.head_dim as f32).powf(-0.5);
        let o = segment_attention(&q, &k, &v, &[0, n as usize], scale, |keys| {
            query_chunk(heads as usize, keys)
        })?;
        let o = o.transpose_axes(&[1, 0, 2])?.reshape(&[n, -1])?;
        let h = x.add(&b.o_proj.forward(&o)?)?;
        let y = b.ffn_norm.forward(&h)?;
        let gate = b.gate_proj.forward(&y)?;
        let gate = gate.multiply(ops::sigmoid(&gate)?)?;
        let m = b
            .down_proj
            .forward(&gate.multiply(b.up_proj.forward(&y)?)?)?;
        Ok(h.add(&m)?)
    }
}
