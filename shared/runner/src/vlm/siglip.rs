//! The SigLIP vision tower SmolVLM / Idefics3 and Gemma 3 share (mlx-vlm
//! `models/idefics3/vision.py`, `models/gemma3/vision.py`): a patch-embedding
//! convolution plus learned position embeddings, pre-norm encoder layers (LayerNorm,
//! multi-head attention with biases, a tanh-approximated GELU MLP — mlx-vlm's
//! `GELU(approx="precise")` is MLX's tanh approximation too), and a final LayerNorm. The
//! families differ in where the weights live and how full-frame position ids are
//! computed ([`SiglipOptions`]).

use mlx_rs::fast;
use mlx_rs::{ops, Array};
use serde::Deserialize;

use crate::config::Quantization;
use crate::error::{Result, RunnerError};
use crate::linear::{Embedding, Linear, Parallelism};
use crate::memory::VisionShape;
use crate::weights::Weights;

/// The vision tower's shape (`vision_config`).
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    #[serde(default = "default_vision_hidden")]
    pub hidden_size: usize,
    #[serde(default)]
    pub num_attention_heads: Option<usize>,
    #[serde(default = "default_patch")]
    pub patch_size: usize,
    #[serde(default)]
    pub num_hidden_layers: Option<usize>,
    #[serde(default)]
    pub intermediate_size: Option<usize>,
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f32,
}

fn default_vision_hidden() -> usize {
    1152
}
fn default_patch() -> usize {
    14
}
fn default_image_size() -> usize {
    384
}
fn default_channels() -> usize {
    3
}
fn default_ln_eps() -> f32 {
    1e-6
}

impl VisionConfig {
    pub fn heads(&self) -> usize {
        self.num_attention_heads
            .unwrap_or(if self.hidden_size % 64 == 0 {
                self.hidden_size / 64
            } else {
                16
            })
    }

    pub fn layers(&self) -> usize {
        self.num_hidden_layers
            .unwrap_or(if self.hidden_size <= 768 { 12 } else { 27 })
    }

    pub fn intermediate(&self) -> usize {
        self.intermediate_size.unwrap_or(match self.hidden_size {
            768 => 3072,
            1152 => 4304,
            h => 4 * h,
        })
    }

    /// Patches along one side of a frame.
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patches in one frame.
    pub fn patches(&self) -> usize {
        self.patches_per_side() * self.patches_per_side()
    }

    /// The memory gate's view of `frames` frames of `frame_side`² pixels through this
    /// tower (full attention over every patch), each becoming `tokens_per_frame` tokens.
    pub fn shape(&self, frame_side: usize, frames: usize, tokens_per_frame: usize) -> VisionShape {
        VisionShape {
            hidden: self.hidden_size,
            heads: self.heads(),
            intermediate: self.intermediate(),
            patches: self.patches(),
            frame_side,
            attention_rows: self.patches(),
            frames,
            tokens_per_frame,
            cross_tokens_per_frame: 0,
            cross_layers: 0,
        }
    }
}

/// How a family's SigLIP differs.
#[derive(Debug, Clone, Copy)]
pub struct SiglipOptions {
    /// Where the tower's tensors live (`vision_model`, `vision_tower.vision_model`).
    pub prefix: &'static str,
    /// Idefics3 buckets fractional patch coordinates into position ids; Gemma 3
    /// numbers patches in order.
    pub bucketed_positions: bool,
}

/// LayerNorm with weight and bias (`mx.fast.layer_norm`).
#[derive(Debug)]
pub struct LayerNorm {
    weight: Array,
    bias: Array,
    eps: f32,
}

impl LayerNorm {
    pub fn load(w: &mut Weights, path: &str, dim: usize, eps: f32) -> Result<Self> {
        let weight = w.take_shaped(&format!("{path}.weight"), &[dim])?;
        let bias = w.take_shaped(&format!("{path}.bias"), &[dim])?;
        Ok(LayerNorm { weight, bias, eps })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(fast::layer_norm(x, &self.weight, &self.bias, self.eps)?)
    }
}

#[derive(Debug)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: i32,
    scale: f32,
}

#[derive(Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

#[derive(Debug)]
struct EncoderLayer {
    layer_norm1: LayerNorm,
    self_attn: Attention,
    layer_norm2: LayerNorm,
    mlp: Mlp,
}

impl EncoderLayer {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        c: &VisionConfig,
        par: &Parallelism,
    ) -> Result<Self> {
        let d = c.hidden_size;
        let lin = |w: &mut Weights, name: &str, i, o| {
            Linear::load(w, q, &format!("{p}.{name}"), i, o, true, par)
        };
        Ok(EncoderLayer {
            layer_norm1: LayerNorm::load(w, &format!("{p}.layer_norm1"), d, c.layer_norm_eps)?,
            self_attn: Attention {
                q_proj: lin(w, "self_attn.q_proj", d, d)?,
                k_proj: lin(w, "self_attn.k_proj", d, d)?,
                v_proj: lin(w, "self_attn.v_proj", d, d)?,
                out_proj: lin(w, "self_attn.out_proj", d, d)?,
                heads: c.heads() as i32,
                scale: ((d / c.heads()) as f32).powf(-0.5),
            },
            layer_norm2: LayerNorm::load(w, &format!("{p}.layer_norm2"), d, c.layer_norm_eps)?,
            mlp: Mlp {
                fc1: lin(w, "mlp.fc1", d, c.intermediate())?,
                fc2: lin(w, "mlp.fc2", c.intermediate(), d)?,
            },
        })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        let a = &self.self_attn;
        let h = self.layer_norm1.forward(x)?;
        let (b, l) = (h.dim(0), h.dim(1));
        let split = |t: Array| -> Result<Array> {
            Ok(t.reshape(&[b, l, a.heads, -1])?
                .transpose_axes(&[0, 2, 1, 3])?)
        };
        let q = split(a.q_proj.forward(&h)?)?;
        let k = split(a.k_proj.forward(&h)?)?;
        let v = split(a.v_proj.forward(&h)?)?;
        let o = crate::softmax::attention(&q, &k, &v, a.scale)?;
        let o = o.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, l, -1])?;
        let h = x.add(&a.out_proj.forward(&o)?)?;
        let m = self.mlp.fc1.forward(&self.layer_norm2.forward(&h)?)?;
        let m = self.mlp.fc2.forward(&mlx_rs::nn::gelu_approximate(&m)?)?;
        Ok(h.add(&m)?)
    }
}

/// The vision tower.
#[derive(Debug)]
pub struct VisionModel {
    config: VisionConfig,
    /// Conv2d weight in MLX layout `[hidden, patch, patch, channels]`, and its bias.
    patch_weight: Array,
    patch_bias: Array,
    /// Position embeddings of a full frame, `[1, patches, hidden]`.
    positions: Array,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
}

impl VisionModel {
    /// Takes every tensor under `options.prefix` out of `w`.
    pub fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        c: &VisionConfig,
        options: SiglipOptions,
        par: &Parallelism,
    ) -> Result<Self> {
        let prefix = options.prefix;
        let (d, p, ch) = (c.hidden_size, c.patch_size, c.num_channels);
        let patch_weight = w.take_conv2d(
            &format!("{prefix}.embeddings.patch_embedding.weight"),
            d,
            p,
            ch,
        )?;
        let patch_bias =
            w.take_shaped(&format!("{prefix}.embeddings.patch_embedding.bias"), &[d])?;
        let table = Embedding::load(
            w,
            q,
            &format!("{prefix}.embeddings.position_embedding"),
            c.patches(),
            d,
            par,
        )?;
        let ids = if options.bucketed_positions {
            position_ids(c.patches_per_side())?
        } else {
            ops::arange::<_, i32>(0, c.patches() as i32, None)?.reshape(&[1, -1])?
        };
        let positions = table.forward(&ids)?;
        positions.eval()?;
        let mut layers = Vec::with_capacity(c.layers());
        for i in 0..c.layers() {
            layers.push(EncoderLayer::load(
                w,
                q,
                &format!("{prefix}.encoder.layers.{i}"),
                c,
                par,
            )?);
        }
        // mlx-vlm builds this LayerNorm with MLX's default eps, not the config's.
        let post_layernorm = LayerNorm::load(w, &format!("{prefix}.post_layernorm"), d, 1e-5)?;
        Ok(VisionModel {
            config: c.clone(),
            patch_weight,
            patch_bias,
            positions,
            layers,
            post_layernorm,
        })
    }

    /// Encodes frames `[B, image_size, image_size, channels]` (channels last, already
    /// normalised) → `[B, patches, hidden]`.
    pub fn forward(&self, frames: &Array) -> Result<Array> {
        let c = &self.config;
        let want = [
            c.image_size as i32,
            c.image_size as i32,
            c.num_channels as i32,
        ];
        if frames.ndim() != 4 || frames.shape()[1..] != want {
            return Err(RunnerError::Internal(format!(
                "vision tower expects frames [B, {}, {}, {}], got {:?}",
                want[0],
                want[1],
                want[2],
                frames.shape()
            )));
        }
        let s = c.patch_size as i32;
        let x = ops::conv2d(frames, &self.patch_weight, (s, s), None, None, None)?;
        let x = x.add(&self.patch_bias)?;
        let b = x.dim(0);
        let mut h = x
            .reshape(&[b, -1, c.hidden_size as i32])?
            .add(&self.positions)?;
        for layer in &self.layers {
            h = layer.forward(&h)?;
        }
        self.post_layernorm.forward(&h)
    }
}

/// Position ids of a full frame with `n` patches per side, computed with the same MLX
/// float32 operations as mlx-vlm's `VisionEmbeddings` (fractional coordinates
/// bucketed against `arange(1/n, 1, 1/n)`), so any rounding is the same too: for sides
/// that are not powers of two the ids are not exactly row-major, in mlx-vlm as here.
fn position_ids(n: usize) -> Result<Array> {
    let nf = n as f64;
    let boundaries = ops::arange::<f64, f32>(1.0 / nf, 1.0, 1.0 / nf)?;
    let frac = ops::arange::<f64, f32>(None, nf, None)?.divide(Array::from_f32(n as f32))?;
    let frac = ops::clip(&frac, (0.0f32, (1.0f64 - 1e-6) as f32))?;
    let bucket = frac
        .expand_dims(1)?
        .ge(boundaries.expand_dims(0)?)?
        .sum_axis(1, None)?;
    let rows = bucket.expand_dims(1)?.multiply(Array::from_int(n as i32))?;
    let ids = rows.add(bucket.expand_dims(0)?)?.reshape(&[1, -1])?;
    Ok(ids.as_dtype(mlx_rs::Dtype::Int32)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn full_frame_positions_match_mlx_vlm() {
        let _g = crate::test_lock();
        let ids = |n: usize| -> Vec<i32> {
            let a = super::position_ids(n).unwrap();
            a.eval().unwrap();
            a.as_slice::<i32>().to_vec()
        };
        // 32 patches per side (SmolVLM-256M/500M): exact fractions, row-major ids.
        assert_eq!(ids(32), (0..1024).collect::<Vec<i32>>());
        // Other sides inherit float32 rounding from the bucketing, quirks included;
        // these are Python mlx 0.32.4's values for the same expression.
        assert_eq!(
            ids(27)[..20],
            [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19]
        );
        assert_eq!(
            ids(26)[..20],
            [0, 1, 2, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14, 15, 16, 17, 18]
        );
    }
}
