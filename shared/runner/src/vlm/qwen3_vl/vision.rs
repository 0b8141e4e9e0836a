//! Qwen3-VL's vision tower (mlx-vlm `models/qwen3_vl/vision.py`): the Conv3d patch
//! embedding (with a bias) as a linear map of each flattened patch, plus learned position
//! embeddings interpolated bilinearly to the image's grid; Qwen2.5-VL's 2-D rotary
//! embedding; pre-norm blocks (LayerNorm with bias, attention with qkv and output biases
//! over the whole image, a GELU MLP with biases); the patch merger (LayerNorm per patch,
//! then 2×2 patches → one token: Linear, exact GELU, Linear), and, after the blocks of
//! `deepstack_visual_indexes`, deepstack mergers (2×2 patches first, then LayerNorm)
//! whose tokens the language model adds to its first layers' outputs. Patches arrive
//! in 2×2-block order, so tokens leave in raster order. Images are encoded one at a time.
//!
//! The MoE models' tower (`qwen3_vl_moe/vision.py`) swaps the two GELUs: exact in the
//! blocks' MLP, the tanh approximation in the mergers.

use mlx_rs::{ops, Array};

use super::config::VisionConfig;
use crate::config::Quantization;
use crate::error::{Result, RunnerError};
use crate::linear::{Embedding, Linear, Parallelism};
use crate::rope::inverse_frequencies;
use crate::vlm::qwen2_5_vl::vision::{block_attention, patch_kernel, rotary_angles};
use crate::vlm::siglip::LayerNorm;
use crate::weights::Weights;

const PREFIX: &str = "vision_tower";
const NORM_EPS: f32 = 1e-6;
const ROPE_THETA: f32 = 10_000.0;

/// Which GELU a part uses.
#[derive(Debug, Clone, Copy)]
enum Gelu {
    Exact,
    Tanh,
}

impl Gelu {
    fn forward(self, x: &Array) -> Result<Array> {
        Ok(match self {
            Gelu::Exact => crate::activation::gelu(x)?,
            Gelu::Tanh => mlx_rs::nn::gelu_approximate(x)?,
        })
    }
}

#[derive(Debug)]
struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A patch merger: `merge²` patches → one token.
#[derive(Debug)]
struct Merger {
    norm: LayerNorm,
    /// Normalise after grouping the patches (deepstack) rather than each patch.
    postshuffle: bool,
    fc1: Linear,
    fc2: Linear,
}

impl Merger {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        c: &VisionConfig,
        postshuffle: bool,
        par: &Parallelism,
    ) -> Result<Self> {
        let merged = c.hidden_size * c.merge_unit();
        let lin = |w: &mut Weights, name: &str, i, o| {
            Linear::load(w, q, &format!("{p}.{name}"), i, o, true, par)
        };
        let norm_dim = if postshuffle { merged } else { c.hidden_size };
        Ok(Merger {
            norm: LayerNorm::load(w, &format!("{p}.norm"), norm_dim, NORM_EPS)?,
            postshuffle,
            fc1: lin(w, "linear_fc1", merged, merged)?,
            fc2: lin(w, "linear_fc2", merged, c.out_hidden_size)?,
        })
    }

    fn forward(&self, x: &Array, merged: i32, gelu: Gelu) -> Result<Array> {
        let x = if self.postshuffle {
            self.norm.forward(&x.reshape(&[-1, merged])?)?
        } else {
            self.norm.forward(x)?.reshape(&[-1, merged])?
        };
        self.fc2.forward(&gelu.forward(&self.fc1.forward(&x)?)?)
    }
}

/// The vision tower with its mergers.
#[derive(Debug)]
pub struct VisionModel {
    config: VisionConfig,
    /// `[patch_values, hidden]` and its bias.
    patch_embed: Array,
    patch_bias: Array,
    positions: Embedding,
    inv_freq: Array,
    blocks: Vec<Block>,
    merger: Merger,
    deepstack: Vec<Merger>,
    mlp_gelu: Gelu,
    merger_gelu: Gelu,
}

impl VisionModel {
    /// Takes every `vision_tower.*` tensor out of `w`; `moe`: the MoE models' GELUs.
    pub fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        c: &VisionConfig,
        moe: bool,
        par: &Parallelism,
    ) -> Result<Self> {
        let d = c.hidden_size;
        let patch_embed = patch_kernel(
            w,
            &format!("{PREFIX}.patch_embed.proj.weight"),
            d,
            (c.in_channels, c.temporal_patch_size, c.patch_size),
        )?;
        let bias_name = format!("{PREFIX}.patch_embed.proj.bias");
        let patch_bias = w.take(&bias_name)?;
        if patch_bias.shape() != [d as i32] {
            return Err(RunnerError::BadTensor {
                name: bias_name,
                message: format!("shape {:?}, expected [{d}]", patch_bias.shape()),
            });
        }
        let positions = Embedding::load(
            w,
            q,
            &format!("{PREFIX}.pos_embed"),
            c.num_position_embeddings,
            d,
            par,
        )?;
        let lin = |w: &mut Weights, name: &str, i, o| {
            Linear::load(w, q, &format!("{PREFIX}.{name}"), i, o, true, par)
        };
        let norm = |w: &mut Weights, name: &str| {
            LayerNorm::load(w, &format!("{PREFIX}.{name}"), d, NORM_EPS)
        };
        let inter = c.intermediate_size;
        let blocks = (0..c.depth)
            .map(|i| {
                let b = format!("blocks.{i}");
                Ok(Block {
                    norm1: norm(w, &format!("{b}.norm1"))?,
                    qkv: lin(w, &format!("{b}.attn.qkv"), d, 3 * d)?,
                    proj: lin(w, &format!("{b}.attn.proj"), d, d)?,
                    norm2: norm(w, &format!("{b}.norm2"))?,
                    fc1: lin(w, &format!("{b}.mlp.linear_fc1"), d, inter)?,
                    fc2: lin(w, &format!("{b}.mlp.linear_fc2"), inter, d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let merger = Merger::load(w, q, &format!("{PREFIX}.merger"), c, false, par)?;
        let deepstack = (0..c.deepstack_visual_indexes.len())
            .map(|k| {
                let p = format!("{PREFIX}.deepstack_merger_list.{k}");
                Merger::load(w, q, &p, c, true, par)
            })
            .collect::<Result<Vec<_>>>()?;
        let (mlp_gelu, merger_gelu) = match moe {
            false => (Gelu::Tanh, Gelu::Exact),
            true => (Gelu::Exact, Gelu::Tanh),
        };
        Ok(VisionModel {
            config: c.clone(),
            patch_embed,
            patch_bias,
            positions,
            inv_freq: inverse_frequencies(c.head_dim() / 2, ROPE_THETA)?,
            blocks,
            merger,
            deepstack,
            mlp_gelu,
            merger_gelu,
        })
    }

    /// One image's patches `[t · h · w, patch_values]` (grid `[t, h, w]`) → its tokens
    /// `[t · h · w / 4, out_hidden]` and each deepstack level's, in raster order.
    pub fn forward(&self, patches: &Array, grid: [usize; 3]) -> Result<(Array, Vec<Array>)> {
        let c = &self.config;
        let [t, gh, gw] = grid;
        let m = c.spatial_merge_size;
        let n = t * gh * gw;
        if gh % m != 0 || gw % m != 0 || patches.shape() != [n as i32, c.patch_values() as i32] {
            return Err(RunnerError::InvalidImage(format!(
                "patches {:?} do not make a {t}×{gh}×{gw} grid of {}-value patches",
                patches.shape(),
                c.patch_values()
            )));
        }
        let mut h = patches
            .matmul(&self.patch_embed)?
            .add(&self.patch_bias)?
            .add(&self.position_embeddings(grid)?)?;
        let angles = rotary_angles(grid, m, &self.inv_freq)?;
        let emb = ops::concatenate(&[angles.clone(), angles], -1)?;
        let shape = [n as i32, 1, emb.dim(-1)];
        let cos = ops::cos(&emb)?.reshape(&shape)?;
        let sin = ops::sin(&emb)?.reshape(&shape)?;
        let frames: Vec<usize> = (0..=t).map(|i| i * gh * gw).collect();
        let merged = (c.hidden_size * c.merge_unit()) as i32;

        let mut deepstack = Vec::with_capacity(self.deepstack.len());
        for (i, block) in self.blocks.iter().enumerate() {
            h = self.block(block, &h, &cos, &sin, &frames)?;
            h.eval()?;
            if let Some(k) = c.deepstack_visual_indexes.iter().position(|&d| d == i) {
                let tokens = self.deepstack[k].forward(&h, merged, self.merger_gelu)?;
                tokens.eval()?;
                deepstack.push(tokens);
            }
        }
        let tokens = self.merger.forward(&h, merged, self.merger_gelu)?;
        Ok((tokens, deepstack))
    }

    /// The learned position embeddings interpolated to `grid` (mlx-vlm's
    /// `fast_pos_embed_interpolate`): for each patch, the four nearest rows of the
    /// `side × side` table, weighted bilinearly in float32 and summed in mlx-vlm's
    /// order, in 2×2-block order and repeated for each frame.
    fn position_embeddings(&self, [t, gh, gw]: [usize; 3]) -> Result<Array> {
        let side = self.config.position_side();
        let m = self.config.spatial_merge_size;
        let axis = |n: usize| -> Vec<(usize, usize, f32)> {
            (0..n)
                .map(|i| {
                    // mx.linspace(0, side − 1, n)[i], as MLX computes it.
                    let x = if n == 1 {
                        0.0
                    } else {
                        (side - 1) as f32 * (i as f32 / (n - 1) as f32)
                    };
                    let floor = x as usize;
                    (floor, (floor + 1).min(side - 1), x - floor as f32)
                })
                .collect()
        };
        let (rows, cols) = (axis(gh), axis(gw));
        let count = gh * gw;
        let mut idx: [Vec<i32>; 4] = std::array::from_fn(|_| Vec::with_capacity(count));
        let mut weight: [Vec<f32>; 4] = std::array::from_fn(|_| Vec::with_capacity(count));
        // Patches in 2×2-block order: block row, block column, row, column within.
        for by in 0..gh / m {
            for bx in 0..gw / m {
                for iy in 0..m {
                    for ix in 0..m {
                        let (y0, y1, dh) = rows[by * m + iy];
                        let (x0, x1, dw) = cols[bx * m + ix];
                        let corners = [
                            (y0 * side + x0, (1.0 - dh) * (1.0 - dw)),
                            (y0 * side + x1, (1.0 - dh) * dw),
                            (y1 * side + x0, dh * (1.0 - dw)),
                            (y1 * side + x1, dh * dw),
                        ];
                        for (k, (i, w)) in corners.into_iter().enumerate() {
                            idx[k].push(i as i32);
                            weight[k].push(w);
                        }
                    }
                }
            }
        }
        let mut sum: Option<Array> = None;
        for (i, w) in idx.iter().zip(&weight) {
            let rows = self
                .positions
                .forward(&Array::from_slice(i, &[count as i32]))?;
            let term = rows.multiply(Array::from_slice(w, &[count as i32, 1]))?;
            sum = Some(match sum {
                None => term,
                Some(s) => s.add(&term)?,
            });
        }
        let table = sum.expect("four corners");
        Ok(match t {
            1 => table,
            _ => ops::tile(&table, &[t as i32, 1])?,
        })
    }

    /// `x + attn(norm1(x))`, then `+ mlp(norm2(·))`; attention within each frame.
    fn block(
        &self,
        b: &Block,
        x: &Array,
        cos: &Array,
        sin: &Array,
        frames: &[usize],
    ) -> Result<Array> {
        let qkv = b.qkv.forward(&b.norm1.forward(x)?)?;
        let o = block_attention(&qkv, self.config.num_heads, cos, sin, frames)?;
        let h = x.add(&b.proj.forward(&o)?)?;
        let y = b.fc1.forward(&b.norm2.forward(&h)?)?;
        let y = b.fc2.forward(&self.mlp_gelu.forward(&y)?)?;
        Ok(h.add(&y)?)
    }
}
