//! Decode steps computed entirely on the CPU, in Rust, for quantized models on MLX's
//! CPU backend.
//!
//! Once the quantized products run on [`crate::kernel`], what is left of a decode step
//! on the MLX graph (about fifteen small operations per layer: norms, rope, the cache
//! update, attention, residual adds) costs more in graph building and scheduling than
//! in arithmetic, and every product needs its input evaluated. A [`CpuDecoder`]
//! therefore runs the whole step — embedding row, RMS norms, rotary embedding, a
//! key/value cache of its own, grouped-query attention, SwiGLU, residuals, final norm
//! and output projection — on slices borrowed from the loaded MLX arrays, and hands
//! only the logits back to MLX for sampling. It computes what the MLX graph computes,
//! in the same order per element, so results agree within float32 rounding.
//!
//! Prefill stays on MLX (batched, through OpenBLAS); its key/value cache is copied once
//! into the decoder's own cache ([`CpuDecoder::import`]).

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::Array;

use crate::error::{Result, RunnerError};
use crate::kernel::{dot_product, QuantMatrix};
use crate::kv_cache::{KvCache, StepKvCache};
use crate::layers::{Activation, DecoderModel, FeedForward, MRope, RmsNorm, Rope};
use crate::linear::{KernelLinear, Linear};
use crate::mlp::gated_mlp;
use crate::moe::CpuMoe;

/// An RMS norm's weight and epsilon.
#[derive(Debug, Clone, Copy)]
struct Norm<'m> {
    weight: &'m [f32],
    eps: f32,
}

impl<'m> Norm<'m> {
    fn new(n: &'m RmsNorm) -> Option<Self> {
        Some(Norm {
            weight: n.weight.try_as_slice::<f32>().ok()?,
            eps: n.eps,
        })
    }

    /// `(x · rsqrt(mean(x²) + eps)) · w` for each `weight.len()`-long piece of `x`.
    fn apply(&self, x: &mut [f32]) {
        let d = self.weight.len();
        for piece in x.chunks_exact_mut(d) {
            let mean = dot_product(piece, piece) / d as f32;
            let r = 1.0 / (mean + self.eps).sqrt();
            for (v, w) in piece.iter_mut().zip(self.weight) {
                *v = (*v * r) * w;
            }
        }
    }
}

/// One decoder layer as slices.
#[derive(Debug)]
struct Layer<'m> {
    input_norm: Norm<'m>,
    q: KernelLinear<'m>,
    k: KernelLinear<'m>,
    v: KernelLinear<'m>,
    o: KernelLinear<'m>,
    q_norm: Option<Norm<'m>>,
    k_norm: Option<Norm<'m>>,
    post_norm: Norm<'m>,
    /// Gemma's norms before and after the MLP (`post_norm` then acts on the attention output).
    feedforward_norms: Option<(Norm<'m>, Norm<'m>)>,
    ffn: Ffn<'m>,
    /// Attend to the last `window` positions only.
    window: Option<usize>,
    /// gpt-oss's attention sinks: one more logit per head in each softmax.
    sinks: Option<&'m [f32]>,
    /// Uses the model's local rope table.
    sliding: bool,
}

/// A layer's feed-forward block on slices.
#[derive(Debug)]
enum Ffn<'m> {
    /// Gate, up and down projections of the gated MLP.
    Dense([KernelLinear<'m>; 3]),
    Sparse(CpuMoe<'m>),
}

impl Ffn<'_> {
    fn forward(&self, activation: Activation, x: &[f32]) -> Result<Vec<f32>> {
        match self {
            Ffn::Dense([gate, up, down]) => gated_mlp(gate, up, down, activation, x),
            Ffn::Sparse(moe) => moe.forward(x),
        }
    }
}

/// Why a model's decode step cannot run on slices (said by `--verbose`).
type Why = String;

/// A layer on the kernel, or why it is not.
fn kernel<'m>(l: &'m Linear, what: &str) -> std::result::Result<KernelLinear<'m>, Why> {
    l.kernel()
        .ok_or_else(|| format!("{what} is not quantized for the CPU kernel (dense, half precision, or the kernel is off)"))
}

fn norm<'m>(n: &'m RmsNorm, what: &str) -> std::result::Result<Norm<'m>, Why> {
    Norm::new(n).ok_or_else(|| format!("{what} is not float32"))
}

/// Rotary embedding: inverse frequencies as MLX's `fast.rope` computes them.
#[derive(Debug)]
struct RopeTable {
    dims: usize,
    traditional: bool,
    scale: f32,
    inv_freqs: Vec<f32>,
    /// The rotated features are multiplied by this first (long-rope).
    mscale: f32,
}

impl RopeTable {
    fn new(r: &Rope) -> Option<Self> {
        let dims = r.dims as usize;
        let half = dims / 2;
        let inv_freqs = match (&r.freqs, r.base) {
            (Some(freqs), _) => freqs
                .try_as_slice::<f32>()
                .ok()?
                .iter()
                .map(|f| 1.0 / f)
                .collect(),
            (None, Some(base)) => {
                let step = base.ln() / half as f32;
                (0..half).map(|i| (-(i as f32) * step).exp()).collect()
            }
            (None, None) => return None,
        };
        Some(RopeTable {
            dims,
            traditional: r.traditional,
            scale: r.scale,
            inv_freqs,
            mscale: r.mscale,
        })
    }

    /// Multimodal rope at a decode position (three equal coordinates): ordinary rope
    /// with mlx-vlm's inverse frequencies.
    fn from_mrope(m: &MRope) -> Option<Self> {
        let inv_freqs = m.inv_freq.try_as_slice::<f32>().ok()?.to_vec();
        Some(RopeTable {
            dims: 2 * inv_freqs.len(),
            traditional: false,
            scale: 1.0,
            inv_freqs,
            mscale: 1.0,
        })
    }

    /// Cosines and sines at position `pos`.
    fn at(&self, pos: usize) -> (Vec<f32>, Vec<f32>) {
        let p = pos as f32 * self.scale;
        self.inv_freqs
            .iter()
            .map(|f| {
                let (s, c) = (p * f).sin_cos();
                (c, s)
            })
            .unzip()
    }

    /// Rotates every `head_dim`-long head of `x`.
    fn apply(&self, x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
        let half = self.dims / 2;
        for head in x.chunks_exact_mut(head_dim) {
            if self.mscale != 1.0 {
                head[..self.dims].iter_mut().for_each(|v| *v *= self.mscale);
            }
            for i in 0..half {
                let (a, b) = if self.traditional {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + half)
                };
                let (x1, x2) = (head[a], head[b]);
                head[a] = x1 * cos[i] - x2 * sin[i];
                head[b] = x1 * sin[i] + x2 * cos[i];
            }
        }
    }
}

/// A layer's keys and values, position after position (`[pos][kv_heads · head_dim]`).
#[derive(Debug, Default)]
pub struct CpuKvCache {
    keys: Vec<f32>,
    values: Vec<f32>,
    len: usize,
}

impl CpuKvCache {
    /// Positions stored.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A quantized model's decode step on slices; see the module docs.
#[derive(Debug)]
pub struct CpuDecoder<'m> {
    embed: KernelLinear<'m>,
    layers: Vec<Layer<'m>>,
    norm: Norm<'m>,
    head: KernelLinear<'m>,
    rope: RopeTable,
    local_rope: Option<RopeTable>,
    embed_scale: Option<f32>,
    activation: Activation,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f32,
}

impl<'m> CpuDecoder<'m> {
    /// The decoder for `model`, or why some part of it does not run on the CPU kernel
    /// (dense or half-precision weights, Metal, the kernel turned off).
    pub fn new(model: &'m DecoderModel) -> std::result::Result<Self, Why> {
        if !model.cross.is_empty() {
            return Err("cross-attention layers run on MLX".into());
        }
        let embed = model
            .embed_tokens
            .kernel()
            .ok_or("the token embedding is not quantized for the CPU kernel")?;
        let head = match &model.lm_head {
            Some(h) => kernel(h, "lm_head")?,
            None => embed,
        };
        let layers = model
            .layers
            .iter()
            .map(|l| {
                let a = &l.self_attn;
                let qk_norm =
                    |n: &'m Option<RmsNorm>, what| n.as_ref().map(|n| norm(n, what)).transpose();
                Ok(Layer {
                    input_norm: norm(&l.input_layernorm, "input_layernorm")?,
                    q: kernel(&a.q_proj, "q_proj")?,
                    k: kernel(&a.k_proj, "k_proj")?,
                    v: kernel(&a.v_proj, "v_proj")?,
                    o: kernel(&a.o_proj, "o_proj")?,
                    q_norm: qk_norm(&a.q_norm, "q_norm")?,
                    k_norm: qk_norm(&a.k_norm, "k_norm")?,
                    post_norm: norm(&l.post_attention_layernorm, "post_attention_layernorm")?,
                    feedforward_norms: match &l.feedforward_norms {
                        Some(ff) => Some((
                            norm(&ff.pre, "pre_feedforward_layernorm")?,
                            norm(&ff.post, "post_feedforward_layernorm")?,
                        )),
                        None => None,
                    },
                    ffn: match &l.mlp {
                        FeedForward::Dense(m) => Ffn::Dense([
                            kernel(&m.gate_proj, "gate_proj")?,
                            kernel(&m.up_proj, "up_proj")?,
                            kernel(&m.down_proj, "down_proj")?,
                        ]),
                        FeedForward::Sparse(moe) => Ffn::Sparse(moe.cpu()?),
                    },
                    window: a.window,
                    sinks: match &a.sinks {
                        Some(s) => Some(
                            s.try_as_slice::<f32>()
                                .map_err(|_| "attention sinks are not float32")?,
                        ),
                        None => None,
                    },
                    sliding: l.sliding,
                })
            })
            .collect::<std::result::Result<Vec<_>, Why>>()?;
        let spec = model.spec();
        let first = model.layers.first().ok_or("the model has no layers")?;
        if embed.matrix.layout.cols != spec.hidden_size {
            return Err("the embedding's width is not the hidden size".into());
        }
        if spec.head_dim % 2 != 0 || (model.rope.dims as usize) > spec.head_dim {
            return Err(format!(
                "rope over {} of {} head dims",
                model.rope.dims, spec.head_dim
            ));
        }
        let table = |r: &Rope| {
            RopeTable::new(r).ok_or_else(|| "rope frequencies are not float32".to_string())
        };
        Ok(CpuDecoder {
            embed,
            layers,
            norm: norm(&model.norm, "model.norm")?,
            head,
            rope: match &model.mrope {
                Some(m) => {
                    RopeTable::from_mrope(m).ok_or("multimodal rope frequencies are not float32")?
                }
                None => table(&model.rope)?,
            },
            local_rope: model.local_rope.as_ref().map(table).transpose()?,
            embed_scale: spec.embed_scale,
            activation: spec.activation,
            num_heads: first.self_attn.num_heads as usize,
            num_kv_heads: first.self_attn.num_kv_heads as usize,
            head_dim: spec.head_dim,
            scale: first.self_attn.scale,
        })
    }

    /// Copies the MLX caches a prefill filled (`[1, kv_heads, len, head_dim]` each).
    pub fn import(&self, caches: &[StepKvCache]) -> Result<Vec<CpuKvCache>> {
        caches
            .iter()
            .map(|c| {
                let Some((k, v)) = c.contents() else {
                    return Ok(CpuKvCache::default());
                };
                let flat = |a: Array| -> Result<Vec<f32>> {
                    let a = a
                        .index((0, .., .., ..))
                        .transpose_axes(&[1, 0, 2])?
                        .reshape(&[-1])?
                        .as_dtype(mlx_rs::Dtype::Float32)?;
                    a.eval()?;
                    Ok(a.try_as_slice::<f32>()
                        .map_err(|e| RunnerError::Internal(format!("key/value cache: {e}")))?
                        .to_vec())
                };
                Ok(CpuKvCache {
                    len: c.offset(),
                    keys: flat(k)?,
                    values: flat(v)?,
                })
            })
            .collect()
    }

    /// Feeds `token` at position `caches[0].len()`, its rope position shifted by `shift`
    /// (multimodal rope after a prompt with image positions: mlx-vlm's `rope_deltas`;
    /// 0 otherwise); returns the logits (`[vocab]`).
    pub fn step(&self, token: u32, caches: &mut [CpuKvCache], shift: i64) -> Result<Vec<f32>> {
        let d = self.embed.matrix.layout.cols;
        let mut h = vec![0.0f32; d];
        let row = token as usize;
        if row >= self.embed.matrix.layout.rows {
            return Err(RunnerError::Internal(format!(
                "token id {token} outside the vocabulary"
            )));
        }
        self.embed.matrix.dequantize_row(row, &mut h);
        if let Some(scale) = self.embed_scale {
            h.iter_mut().for_each(|v| *v *= scale);
        }
        let len = caches.first().map_or(0, |c| c.len);
        let pos = usize::try_from(len as i64 + shift).map_err(|_| {
            RunnerError::Internal(format!("rope position {len} + {shift} is negative"))
        })?;
        let global = self.rope.at(pos);
        let local = self.local_rope.as_ref().map(|r| (r, r.at(pos)));
        for (layer, cache) in self.layers.iter().zip(caches.iter_mut()) {
            let (rope, (cos, sin)) = match (&local, layer.sliding) {
                (Some((r, table)), true) => (*r, table),
                _ => (&self.rope, &global),
            };
            let mut x = h.clone();
            layer.input_norm.apply(&mut x);
            let mut q = layer.q.forward(&x)?;
            let mut k = layer.k.forward(&x)?;
            let v = layer.v.forward(&x)?;
            if let Some(n) = &layer.q_norm {
                n.apply(&mut q);
            }
            if let Some(n) = &layer.k_norm {
                n.apply(&mut k);
            }
            rope.apply(&mut q, self.head_dim, cos, sin);
            rope.apply(&mut k, self.head_dim, cos, sin);
            cache.keys.extend_from_slice(&k);
            cache.values.extend_from_slice(&v);
            cache.len += 1;
            let first = layer.window.map_or(0, |w| cache.len.saturating_sub(w));
            let mut o = layer
                .o
                .forward(&self.attention(&q, cache, first, layer.sinks))?;
            match &layer.feedforward_norms {
                Some((pre, post)) => {
                    layer.post_norm.apply(&mut o);
                    add(&mut h, &o);
                    let mut x = h.clone();
                    pre.apply(&mut x);
                    let mut m = layer.ffn.forward(self.activation, &x)?;
                    post.apply(&mut m);
                    add(&mut h, &m);
                }
                None => {
                    add(&mut h, &o);
                    let mut x = h.clone();
                    layer.post_norm.apply(&mut x);
                    let m = layer.ffn.forward(self.activation, &x)?;
                    add(&mut h, &m);
                }
            }
        }
        self.norm.apply(&mut h);
        self.head.forward(&h)
    }

    /// Softmax attention of one query position over the cache from position `first`
    /// on, as MLX's `scaled_dot_product_attention` computes it (`softmax((scale·q)·kᵀ)·v`;
    /// with sinks, each head's sink logit joins the softmax and contributes no value).
    fn attention(
        &self,
        q: &[f32],
        cache: &CpuKvCache,
        first: usize,
        sinks: Option<&[f32]>,
    ) -> Vec<f32> {
        let (hd, kvh) = (self.head_dim, self.num_kv_heads);
        let group = self.num_heads / kvh;
        let stride = kvh * hd;
        let mut out = vec![0.0f32; self.num_heads * hd];
        let mut scores = vec![0.0f32; cache.len - first];
        for h in 0..self.num_heads {
            let kv = h / group;
            let qh: Vec<f32> = q[h * hd..(h + 1) * hd]
                .iter()
                .map(|v| self.scale * v)
                .collect();
            let sink = sinks.map(|s| s[h]);
            let mut max = sink.unwrap_or(f32::NEG_INFINITY);
            for (t, s) in scores.iter_mut().enumerate() {
                let kt = &cache.keys[(first + t) * stride + kv * hd..][..hd];
                *s = dot_product(&qh, kt);
                max = max.max(*s);
            }
            let mut sum = 0.0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            // MLX appends the sink as the last column of the scores.
            sum += sink.map_or(0.0, |s| (s - max).exp());
            let oh = &mut out[h * hd..(h + 1) * hd];
            for (t, s) in scores.iter().enumerate() {
                let p = s / sum;
                let vt = &cache.values[(first + t) * stride + kv * hd..][..hd];
                for (o, v) in oh.iter_mut().zip(vt) {
                    *o += p * v;
                }
            }
        }
        out
    }
}

/// `h += x`, element by element.
fn add(h: &mut [f32], x: &[f32]) {
    for (a, b) in h.iter_mut().zip(x) {
        *a += b;
    }
}

impl QuantMatrix<'_> {
    /// Row `row` dequantized (`scale · q + bias`), as MLX's `dequantize` gives it.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        let l = self.layout;
        let (wpr, gpr) = (l.words_per_row(), l.groups_per_row());
        let words = &self.weight[row * wpr..(row + 1) * wpr];
        let mask = (1u32 << l.bits) - 1;
        for (i, o) in out.iter_mut().enumerate().take(l.cols) {
            let bit = i * l.bits;
            let (word, off) = (bit / 32, bit % 32);
            let mut q = words[word] >> off;
            if off + l.bits > 32 {
                q |= words[word + 1] << (32 - off);
            }
            let g = row * gpr + i / l.group_size;
            *o = self.scales[g] * (q & mask) as f32 + self.biases[g];
        }
    }
}
