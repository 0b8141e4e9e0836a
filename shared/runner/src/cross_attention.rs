//! Gated cross-attention decoder layers (Llama 3.2 Vision's `MllamaCrossAttentionDecoderLayer`):
//! layers of the text decoder that attend to image features instead of to the text
//! before them. They sit in the decoder stack at the indices [`DecoderSpec`]'s
//! `cross_attention_layers` names, in place of a self-attention layer, and keep no
//! KV cache of text: their keys and values are the image features', computed once per
//! generation ([`CrossContext`]), where mlx-vlm recomputes them on every step.
//!
//! A layer: `h = x + tanh(g_attn) · o(attn(q_norm(q(norm(x))), k_norm(k(F)), v(F)))`,
//! then `h + tanh(g_mlp) · keep · mlp(norm(h))`, where `F` are the image features,
//! the attention mask says which images (and which of their tiles) each text row
//! sees, and `keep` zeroes the MLP of rows that see no image (mlx-vlm's
//! `full_text_row_masked_out_mask`).

use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use crate::config::Quantization;
use crate::error::{Result, RunnerError};
use crate::layers::{DecoderSpec, RmsNorm};
use crate::linear::{Linear, Parallelism};
use crate::mlp::Mlp;
use crate::weights::Weights;

/// What a row of the prompt sees of the image features, as mlx-vlm's
/// `_prepare_cross_attention_mask` makes the additive mask: `1` where it may attend,
/// `-1e9` where not, and a row that sees nothing all `0` (so attends evenly, its MLP then
/// zeroed by `keep`).
const SEEN: f32 = 1.0;
const UNSEEN: f32 = -1e9;

/// The image features of one generation as the cross-attention layers see them.
#[derive(Debug)]
pub struct CrossContext {
    /// Keys and values of every cross-attention layer, `[1, kv_heads, S, head_dim]`.
    kv: Vec<(Array, Array)>,
    /// The prompt's additive mask `[1, 1, L, S]` and its row mask `[1, L, 1]`.
    mask: Array,
    keep: Array,
    prompt_len: usize,
}

impl CrossContext {
    /// The mask rows and row masks of `l` text positions from `offset`: the prompt's
    /// own rows, or, for generated tokens, the last prompt row's (as transformers
    /// extends the mask when generating; mlx-vlm drops the mask after the prompt, which
    /// differs only where an image has padding tiles).
    fn rows(&self, offset: usize, l: usize) -> (Array, Array) {
        let (start, end) = if offset + l <= self.prompt_len {
            (offset as i32, (offset + l) as i32)
        } else {
            let last = self.prompt_len as i32 - 1;
            (last, last + 1)
        };
        (
            self.mask.index((.., .., start..end, ..)),
            self.keep.index((.., start..end, ..)),
        )
    }
}

/// Which image tiles each prompt row sees: for row `i`, image `n` and tile `t`,
/// `seen[(i · images + n) · tiles + t]` (mlx-vlm's processor's `cross_attention_mask`,
/// `[L, images, tiles]`).
#[derive(Debug, Clone)]
pub struct CrossMask {
    pub seen: Vec<bool>,
    pub rows: usize,
    pub images: usize,
    pub tiles: usize,
    /// Feature rows per tile.
    pub tokens_per_tile: usize,
}

impl CrossMask {
    /// The additive mask `[1, 1, L, S]` and row mask `[1, L, 1]`, as mlx-vlm prepares
    /// them.
    fn arrays(&self) -> (Array, Array) {
        let s = self.images * self.tiles * self.tokens_per_tile;
        let per_row = self.images * self.tiles;
        let mut mask = Vec::with_capacity(self.rows * s);
        let mut keep = Vec::with_capacity(self.rows);
        for row in self.seen.chunks(per_row) {
            let any = row.iter().any(|&b| b);
            keep.push(if any { 1.0f32 } else { 0.0 });
            for &b in row {
                let v = match (any, b) {
                    (false, _) => 0.0,
                    (true, true) => SEEN,
                    (true, false) => UNSEEN,
                };
                mask.extend(std::iter::repeat(v).take(self.tokens_per_tile));
            }
        }
        let rows = self.rows as i32;
        (
            Array::from_slice(&mask, &[1, 1, rows, s as i32]),
            Array::from_slice(&keep, &[1, rows, 1]),
        )
    }
}

#[derive(Debug)]
struct CrossAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    num_heads: i32,
    num_kv_heads: i32,
    scale: f32,
}

/// `tanh` of the gate `[1]` named `name` (Llama 3.2 Vision's gated layers and
/// embeddings), evaluated.
pub(crate) fn tanh_gate(w: &mut Weights, name: &str) -> Result<Array> {
    let g = ops::tanh(&w.take_shaped(name, &[1])?)?;
    g.eval()?;
    Ok(g)
}

/// One gated cross-attention layer.
#[derive(Debug)]
pub(crate) struct CrossLayer {
    /// Its index in the decoder stack.
    pub(crate) index: usize,
    input_layernorm: RmsNorm,
    attn: CrossAttention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
    /// `tanh` of the attention and MLP gates, `[1]`.
    attn_gate: Array,
    mlp_gate: Array,
}

impl CrossLayer {
    /// Takes `model.layers.{index}.*` out of `w`.
    pub(crate) fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        index: usize,
        s: &DecoderSpec,
        par: &Parallelism,
    ) -> Result<Self> {
        let p = format!("model.layers.{index}");
        let (d, hd) = (s.hidden_size, s.head_dim);
        let norm = |w: &mut Weights, name: &str, dim| {
            RmsNorm::load(w, &format!("{p}.{name}"), dim, s.rms_norm_eps)
        };
        let proj = |w: &mut Weights, name: &str, i, o| {
            Linear::load(w, q, &format!("{p}.cross_attn.{name}"), i, o, false, par)
        };
        let gate = |w: &mut Weights, name: &str| tanh_gate(w, &format!("{p}.{name}"));
        Ok(CrossLayer {
            index,
            input_layernorm: norm(w, "input_layernorm", d)?,
            attn: CrossAttention {
                q_proj: proj(w, "q_proj", d, s.num_heads * hd)?,
                k_proj: proj(w, "k_proj", d, s.num_kv_heads * hd)?,
                v_proj: proj(w, "v_proj", d, s.num_kv_heads * hd)?,
                o_proj: proj(w, "o_proj", s.num_heads * hd, d)?,
                q_norm: norm(w, "cross_attn.q_norm", hd)?,
                k_norm: norm(w, "cross_attn.k_norm", hd)?,
                num_heads: s.num_heads as i32,
                num_kv_heads: s.num_kv_heads as i32,
                scale: (hd as f32).powf(-0.5),
            },
            post_attention_layernorm: norm(w, "post_attention_layernorm", d)?,
            mlp: Mlp::load(w, q, &format!("{p}.mlp"), s, par)?,
            attn_gate: gate(w, "cross_attn_attn_gate")?,
            mlp_gate: gate(w, "cross_attn_mlp_gate")?,
        })
    }

    /// Keys and values of `features` (`[1, S, hidden]`), `[1, kv_heads, S, head_dim]`.
    fn keys_values(&self, features: &Array) -> Result<(Array, Array)> {
        let a = &self.attn;
        let heads = |x: Array| -> Result<Array> {
            Ok(
                x.reshape(&[1, -1, a.num_kv_heads, x.dim(-1) / a.num_kv_heads])?
                    .transpose_axes(&[0, 2, 1, 3])?,
            )
        };
        let k = a.k_norm.forward(&heads(a.k_proj.forward(features)?)?)?;
        let v = heads(a.v_proj.forward(features)?)?;
        Ok((k, v))
    }

    /// The layer on `x` (`[1, L, hidden]`), text positions `offset..offset+L`, with the
    /// keys and values of context layer `which`.
    pub(crate) fn forward(
        &self,
        x: &Array,
        cross: &CrossContext,
        which: usize,
        offset: usize,
    ) -> Result<Array> {
        let a = &self.attn;
        let (b, l) = (x.dim(0), x.dim(1));
        let (k, v) = &cross.kv[which];
        let (mask, keep) = cross.rows(offset, l as usize);
        let h = self.input_layernorm.forward(x)?;
        let q = a
            .q_proj
            .forward(&h)?
            .reshape(&[b, l, a.num_heads, -1])?
            .transpose_axes(&[0, 2, 1, 3])?;
        let q = a.q_norm.forward(&q)?;
        let o = fast::scaled_dot_product_attention(
            &q,
            k,
            v,
            a.scale,
            ScaledDotProductAttentionMask::Array(&mask),
            None,
        )?;
        let o = o.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, l, -1])?;
        let h = x.add(&self.attn_gate.multiply(&a.o_proj.forward(&o)?)?)?;
        let m = self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&h)?)?;
        let m = keep.multiply(&m)?;
        Ok(h.add(&self.mlp_gate.multiply(&m)?)?)
    }
}

/// The cross-attention layers' context of one generation: keys and values of
/// `features` (`[1, S, hidden]`, S = images · tiles · tokens per tile) for each of
/// `layers`, and the masks of `mask`.
pub(crate) fn context(
    layers: &[CrossLayer],
    features: &Array,
    mask: &CrossMask,
) -> Result<CrossContext> {
    let s = mask.images * mask.tiles * mask.tokens_per_tile;
    if features.ndim() != 3 || features.dim(1) as usize != s {
        return Err(RunnerError::Internal(format!(
            "cross-attention features {:?} do not match {} images of {} tiles of {} tokens",
            features.shape(),
            mask.images,
            mask.tiles,
            mask.tokens_per_tile
        )));
    }
    if mask.seen.len() != mask.rows * mask.images * mask.tiles || mask.rows == 0 {
        return Err(RunnerError::Internal(
            "the cross-attention mask does not match the prompt".into(),
        ));
    }
    let kv = layers
        .iter()
        .map(|layer| layer.keys_values(features))
        .collect::<Result<Vec<_>>>()?;
    let (mask_array, keep) = mask.arrays();
    let arrays: Vec<&Array> = kv.iter().flat_map(|(k, v)| [k, v]).collect();
    mlx_rs::transforms::eval(arrays)?;
    Ok(CrossContext {
        kv,
        mask: mask_array,
        keep,
        prompt_len: mask.rows,
    })
}
