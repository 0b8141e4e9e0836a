//! Llama 3.2 Vision's tiled vision tower (mlx-vlm `models/mllama/vision.py`).
//!
//! An image arrives as `max_num_tiles` tiles (those past its tiling are zeros), with the
//! id of its tiling (aspect ratio). Per tile: a patch convolution (no bias), a gated
//! embedding of the tiling added per tile, a class token, a position embedding (gated
//! between a shared table and a per-tiling one), LayerNorm; the tile's rows are padded
//! to a multiple of 8. All tiles of the image then form one sequence through the local
//! encoder (pre-norm layers, exact GELU) whose outputs at `intermediate_layers_indices`
//! are kept, a LayerNorm, a second gated tiling embedding, and the gated global encoder.
//! The features of a tile row are the global output followed by the kept outputs
//! interleaved per channel (mlx-vlm stacks them on a last axis), padding rows dropped.
//!
//! Attention is masked as mlx-vlm masks it: a row that is padding (a tile's padding rows,
//! every row of a tile past the tiling) does not see the other padding rows; real rows
//! see everything. Queries are taken in chunks, so scores of a whole image are never
//! held at once. Images are encoded one at a time.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::config::VisionConfig;
use crate::config::Quantization;
use crate::cross_attention::tanh_gate;
use crate::error::{Result, RunnerError};
use crate::linear::{Embedding, Linear, Parallelism};
use crate::vlm::siglip::LayerNorm;
use crate::weights::Weights;

const PREFIX: &str = "vision_tower";
/// The additive mask between two padding rows (mlx-vlm's `min_value`).
const MASKED: f32 = -1e9;

#[derive(Debug)]
struct EncoderLayer {
    input_layernorm: LayerNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    /// `tanh` of the attention and MLP gates (global layers).
    gates: Option<(Array, Array)>,
    heads: i32,
    scale: f32,
}

impl EncoderLayer {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        c: &VisionConfig,
        gated: bool,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, m) = (c.hidden_size, c.intermediate_size);
        let lin = |w: &mut Weights, name: &str, i, o, bias| {
            Linear::load(w, q, &format!("{p}.{name}"), i, o, bias, par)
        };
        let norm =
            |w: &mut Weights, name: &str| LayerNorm::load(w, &format!("{p}.{name}"), d, c.norm_eps);
        Ok(EncoderLayer {
            input_layernorm: norm(w, "input_layernorm")?,
            q_proj: lin(w, "self_attn.q_proj", d, d, false)?,
            k_proj: lin(w, "self_attn.k_proj", d, d, false)?,
            v_proj: lin(w, "self_attn.v_proj", d, d, false)?,
            o_proj: lin(w, "self_attn.o_proj", d, d, false)?,
            post_attention_layernorm: norm(w, "post_attention_layernorm")?,
            fc1: lin(w, "mlp.fc1", d, m, true)?,
            fc2: lin(w, "mlp.fc2", m, d, true)?,
            gates: match gated {
                true => Some((
                    tanh_gate(w, &format!("{p}.gate_attn"))?,
                    tanh_gate(w, &format!("{p}.gate_ffn"))?,
                )),
                false => None,
            },
            heads: c.num_attention_heads as i32,
            scale: ((d / c.num_attention_heads) as f32).powf(-0.5),
        })
    }

    /// `x` `[1, S, hidden]`; `padding` `[S]` is 1 on padding rows.
    fn forward(&self, x: &Array, padding: &Array) -> Result<Array> {
        let h = self.input_layernorm.forward(x)?;
        let l = h.dim(1);
        let split = |t: Array| -> Result<Array> {
            Ok(t.reshape(&[l, self.heads, -1])?
                .transpose_axes(&[1, 0, 2])?)
        };
        let q = split(self.q_proj.forward(&h)?)?;
        let k = split(self.k_proj.forward(&h)?)?;
        let v = split(self.v_proj.forward(&h)?)?;
        let o = masked_attention(&q, &k, &v, padding, self.scale, self.heads as usize)?;
        let o = o.transpose_axes(&[1, 0, 2])?.reshape(&[1, l, -1])?;
        let mut a = self.o_proj.forward(&o)?;
        if let Some((g, _)) = &self.gates {
            a = g.multiply(&a)?;
        }
        let h = x.add(&a)?;
        let m = self
            .fc1
            .forward(&self.post_attention_layernorm.forward(&h)?)?;
        let mut m = self.fc2.forward(&crate::activation::gelu(&m)?)?;
        if let Some((_, g)) = &self.gates {
            m = g.multiply(&m)?;
        }
        Ok(h.add(&m)?)
    }
}

/// Attention of `q`, `k`, `v` (`[heads, S, head_dim]`) where padding rows do not see
/// padding rows, queries in chunks.
fn masked_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    padding: &Array,
    scale: f32,
    heads: usize,
) -> Result<Array> {
    let s = q.dim(1);
    let rows = crate::softmax::query_chunk(heads, s as usize).max(1) as i32;
    let keys = padding.reshape(&[1, -1])?;
    let kt = k.swap_axes(-1, -2)?;
    let mut outs = Vec::new();
    let mut start = 0;
    while start < s {
        let end = (start + rows).min(s);
        let bias = padding
            .index(start..end)
            .multiply(Array::from_f32(MASKED))?
            .reshape(&[-1, 1])?
            .multiply(&keys)?;
        let qc = q
            .index((.., start..end, ..))
            .multiply(Array::from_f32(scale))?;
        let scores = ops::matmul(&qc, &kt)?.add(&bias)?;
        let o = ops::matmul(&crate::softmax::softmax_last_axis(&scores)?, v)?;
        if end < s {
            o.eval()?;
        }
        outs.push(o);
        start = end;
    }
    Ok(ops::concatenate(&outs, 1)?)
}

/// A per-tiling embedding added to every row of a tile, gated.
#[derive(Debug)]
struct TileEmbedding {
    table: Embedding,
    gate: Array,
}

impl TileEmbedding {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        rows_per_tile: usize,
        c: &VisionConfig,
        par: &Parallelism,
    ) -> Result<Self> {
        Ok(TileEmbedding {
            table: Embedding::load(
                w,
                q,
                &format!("{p}.embedding"),
                c.max_aspect_ratio_id + 1,
                c.max_num_tiles * rows_per_tile * c.hidden_size,
                par,
            )?,
            gate: tanh_gate(w, &format!("{p}.gate"))?,
        })
    }

    /// The embedding of tiling `aspect` as `[tiles, rows, hidden]` (`rows` 1: one row
    /// per tile, broadcast).
    fn of(&self, aspect: &Array, tiles: i32, rows: i32, hidden: i32) -> Result<Array> {
        Ok(self
            .table
            .forward(aspect)?
            .reshape(&[tiles, rows, hidden])?)
    }
}

/// The vision tower.
#[derive(Debug)]
pub struct VisionModel {
    config: VisionConfig,
    /// Conv2d kernel `[hidden, patch, patch, channels]`.
    patch_weight: Array,
    class_embedding: Array,
    /// `(1 − tanh(gate)) · embedding`, `[tokens per tile, hidden]`, and the per-tiling
    /// position table, gated by `tanh(gate)`.
    positions: Array,
    tile_positions: TileEmbedding,
    pre_tile: TileEmbedding,
    post_tile: TileEmbedding,
    layernorm_pre: LayerNorm,
    layernorm_post: LayerNorm,
    transformer: Vec<EncoderLayer>,
    global_transformer: Vec<EncoderLayer>,
}

impl VisionModel {
    /// Takes every `vision_tower.*` tensor out of `w`.
    pub fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        c: &VisionConfig,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, n) = (c.hidden_size, c.tokens_per_tile());
        let patch_weight = w.take_conv2d(
            &format!("{PREFIX}.patch_embedding.weight"),
            d,
            c.patch_size,
            c.num_channels,
        )?;
        let class_embedding = w.take_shaped(&format!("{PREFIX}.class_embedding"), &[d])?;
        let gp = format!("{PREFIX}.gated_positional_embedding");
        let table = w.take_shaped(&format!("{gp}.embedding"), &[n, d])?;
        let tile_positions = TileEmbedding {
            table: Embedding::load(
                w,
                q,
                &format!("{gp}.tile_embedding"),
                c.max_aspect_ratio_id + 1,
                c.max_num_tiles * n * d,
                par,
            )?,
            gate: tanh_gate(w, &format!("{gp}.gate"))?,
        };
        let positions = Array::from_f32(1.0)
            .subtract(&tile_positions.gate)?
            .multiply(&table)?;
        positions.eval()?;
        let encoder = |w: &mut Weights, name: &str, layers: usize, gated: bool| {
            (0..layers)
                .map(|i| {
                    EncoderLayer::load(w, q, &format!("{PREFIX}.{name}.layers.{i}"), c, gated, par)
                })
                .collect::<Result<Vec<_>>>()
        };
        let tile = |w: &mut Weights, name: &str| {
            TileEmbedding::load(w, q, &format!("{PREFIX}.{name}"), 1, c, par)
        };
        let norm = |w: &mut Weights, name: &str| {
            LayerNorm::load(w, &format!("{PREFIX}.{name}"), d, c.norm_eps)
        };
        Ok(VisionModel {
            config: c.clone(),
            patch_weight,
            class_embedding,
            positions,
            tile_positions,
            pre_tile: tile(w, "pre_tile_positional_embedding")?,
            post_tile: tile(w, "post_tile_positional_embedding")?,
            layernorm_pre: norm(w, "layernorm_pre")?,
            layernorm_post: norm(w, "layernorm_post")?,
            transformer: encoder(w, "transformer", c.num_hidden_layers, false)?,
            global_transformer: encoder(w, "global_transformer", c.num_global_layers, true)?,
        })
    }

    /// Features of one image: `tiles` `[max_num_tiles, side, side, channels]` (channels
    /// last, normalised), its tiling id `aspect` and real tiles `real_tiles` →
    /// `[max_num_tiles · tokens per tile, vision_output_dim]`.
    pub fn forward(&self, tiles: &Array, aspect: u32, real_tiles: usize) -> Result<Array> {
        let c = &self.config;
        let t = c.max_num_tiles as i32;
        let side = c.image_size as i32;
        let want = [t, side, side, c.num_channels as i32];
        if tiles.shape() != want {
            return Err(RunnerError::Internal(format!(
                "vision tower expects tiles {want:?}, got {:?}",
                tiles.shape()
            )));
        }
        let d = c.hidden_size as i32;
        let (n, n_pad) = (
            c.tokens_per_tile() as i32,
            c.padded_tokens_per_tile() as i32,
        );
        let aspect = Array::from_slice(&[aspect as i32], &[1]);
        let s = c.patch_size as i32;
        let x = ops::conv2d(tiles, &self.patch_weight, (s, s), None, None, None)?;
        let x = x.reshape(&[t, -1, d])?;
        let x = x.add(
            &self
                .pre_tile
                .gate
                .multiply(&self.pre_tile.of(&aspect, t, 1, d)?)?,
        )?;
        let class = ops::broadcast_to(&self.class_embedding.reshape(&[1, 1, d])?, &[t, 1, d])?;
        let x = ops::concatenate(&[class, x], 1)?;
        let x = x.add(&self.positions)?.add(
            &self
                .tile_positions
                .gate
                .multiply(&self.tile_positions.of(&aspect, t, n, d)?)?,
        )?;
        let x = self.layernorm_pre.forward(&x)?;
        let x = ops::pad(
            &x,
            &[(0, 0), (0, n_pad - n), (0, 0)][..],
            Array::from_f32(0.0),
            None,
        )?;
        let mut h = x.reshape(&[1, t * n_pad, d])?;

        let padding = padding_rows(real_tiles, c);
        let keep = &c.intermediate_layers_indices;
        let mut kept = vec![None; keep.len()];
        for (i, layer) in self.transformer.iter().enumerate() {
            h = layer.forward(&h, &padding)?;
            for (slot, _) in keep.iter().enumerate().filter(|(_, &k)| k == i) {
                kept[slot] = Some(h.clone());
            }
        }
        let h = self.layernorm_post.forward(&h)?.reshape(&[t, n_pad, d])?;
        let h = h.add(
            &self
                .post_tile
                .gate
                .multiply(&self.post_tile.of(&aspect, t, 1, d)?)?,
        )?;
        let mut h = h.reshape(&[1, t * n_pad, d])?;
        for layer in &self.global_transformer {
            h = layer.forward(&h, &padding)?;
        }
        let h = h.reshape(&[t, n_pad, d])?.index((.., ..n, ..));
        let kept: Vec<Array> = kept.into_iter().flatten().collect();
        let stacked = ops::stack(&kept, -1)?
            .reshape(&[t, n_pad, -1])?
            .index((.., ..n, ..));
        Ok(ops::concatenate(&[h, stacked], -1)?.reshape(&[t * n, -1])?)
    }
}

/// 1 on the padding rows of an image of `real_tiles` tiles (each tile's rows past its
/// tokens, every row of the tiles past `real_tiles`), 0 elsewhere: `[tiles · padded]`.
fn padding_rows(real_tiles: usize, c: &VisionConfig) -> Array {
    let (n, n_pad) = (c.tokens_per_tile(), c.padded_tokens_per_tile());
    let rows: Vec<f32> = (0..c.max_num_tiles * n_pad)
        .map(|r| {
            let (tile, row) = (r / n_pad, r % n_pad);
            if tile >= real_tiles.max(1) || row >= n {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Array::from_slice(&rows, &[rows.len() as i32])
}
