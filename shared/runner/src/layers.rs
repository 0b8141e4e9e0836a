//! The decoder blocks every text family shares: RMS norm, rotary embedding, grouped-query
//! attention with a KV cache, a gated MLP or a mixture of experts, and the decoder stack.
//! Families differ only in switches ([`DecoderSpec`]) and defaults; the CPU decode step
//! ([`crate::cpu_decode`]) reads the same switches from the loaded layers.

use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array, Dtype};

use crate::config::{ModelConfig, Quantization};
use crate::cross_attention::{CrossContext, CrossLayer};
use crate::error::{Result, RunnerError};
use crate::image_context::ImageContext;
use crate::kv_cache::KvCache;
use crate::linear::{Embedding, Linear, Parallelism};
pub use crate::mlp::Activation;
use crate::mlp::Mlp;
use crate::moe::{MoeBlock, MoeSpec};
pub use crate::rope::{MRope, Rope, RopeSpec};
use crate::weights::Weights;

/// The shape and switches of a decoder-only transformer.
#[derive(Debug, Clone)]
pub struct DecoderSpec {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f32,
    /// Bias on q/k/v projections (qwen2; llama's `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (llama's `attention_bias`).
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// RMS norm of queries and keys per head before RoPE (qwen3).
    pub qk_norm: bool,
    pub tie_word_embeddings: bool,
    pub rope: RopeSpec,
    /// RMS norms scale by `1 + w` (Gemma stores its norm weights as offsets from one).
    pub norm_plus_one: bool,
    /// Input embeddings (token or merged image features) are multiplied by this
    /// (Gemma: √hidden, rounded to bfloat16 as mlx-lm does).
    pub embed_scale: Option<f32>,
    /// Norms after attention and around the MLP as well (Gemma 2/3: four per layer,
    /// `pre_feedforward_layernorm` and `post_feedforward_layernorm` added).
    pub sandwich_norms: bool,
    /// The MLP's gate activation.
    pub activation: Activation,
    /// Attention scale; `head_dim^-½` when `None` (Gemma: `query_pre_attn_scalar^-½`).
    pub attn_scale: Option<f32>,
    /// Sliding-window attention on some layers, with their own rope.
    pub sliding: Option<SlidingSpec>,
    /// Multimodal rope (Qwen2-VL): frequencies per position coordinate (time, height,
    /// width), used when a forward call is given explicit positions.
    pub mrope_section: Option<Vec<usize>>,
    /// Those frequencies interleaved over the coordinates (Qwen3-VL; see [`MRope::new`]).
    pub mrope_interleaved: bool,
    /// q, k and v stored as one `qkv_proj` (Phi-3), split at load.
    pub fused_qkv: bool,
    /// gate and up stored as one `gate_up_proj` (Phi-3), split at load.
    pub fused_gate_up: bool,
    /// Mixture-of-experts layers (Mixtral, Qwen3-MoE, gpt-oss).
    pub moe: Option<MoeSpec>,
    /// A learned logit per head that joins every softmax without a value (gpt-oss's
    /// attention sinks, `self_attn.sinks`).
    pub attention_sinks: bool,
    /// Layers that attend to image features instead of the text (Llama 3.2 Vision; see
    /// [`crate::cross_attention`]), by their index in the stack.
    pub cross_attention_layers: Vec<usize>,
    /// Rows of `embed_tokens` past the vocabulary (Llama 3.2 Vision's 8).
    pub extra_embeddings: usize,
}

/// Which layers attend within a window, the window, and those layers' rope.
#[derive(Debug, Clone)]
pub struct SlidingSpec {
    pub window: usize,
    /// Which layers slide.
    pub layers: Vec<bool>,
    /// The sliding layers' own rope (Gemma 3); `None`: the model's rope.
    pub rope: Option<RopeSpec>,
}

impl SlidingSpec {
    /// Gemma 3's rule in mlx-lm: layer `i` slides unless `(i + 1) % pattern == 0`.
    pub fn every(pattern: usize, num_layers: usize) -> Vec<bool> {
        (0..num_layers)
            .map(|i| pattern == 0 || (i + 1) % pattern != 0)
            .collect()
    }

    pub fn slides(&self, layer: usize) -> bool {
        self.layers.get(layer).copied().unwrap_or(false)
    }
}

impl DecoderSpec {
    /// The parts every architecture reads the same way from `config.json`.
    pub fn from_config(config: &ModelConfig, rope_theta_default: f32) -> Result<Self> {
        let spec = DecoderSpec {
            hidden_size: config.hidden_size,
            num_layers: config.num_hidden_layers,
            num_heads: config.num_attention_heads,
            num_kv_heads: config.kv_heads(),
            head_dim: config.head_dim(),
            intermediate_size: config.intermediate_size,
            vocab_size: config.vocab_size,
            rms_norm_eps: config.rms_norm_eps,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            qk_norm: false,
            tie_word_embeddings: config.tie_word_embeddings.unwrap_or(true),
            rope: RopeSpec {
                dims: config.head_dim(),
                traditional: config.rope_traditional,
                theta: config.rope_theta.unwrap_or(rope_theta_default),
                scaling: config.rope_scaling.clone(),
            },
            norm_plus_one: false,
            embed_scale: None,
            sandwich_norms: false,
            activation: Activation::Silu,
            attn_scale: None,
            sliding: None,
            mrope_section: None,
            mrope_interleaved: false,
            fused_qkv: false,
            fused_gate_up: false,
            moe: None,
            attention_sinks: false,
            cross_attention_layers: Vec::new(),
            extra_embeddings: 0,
        };
        if spec.num_kv_heads == 0 || spec.num_heads % spec.num_kv_heads != 0 {
            return Err(RunnerError::UnsupportedConfig(format!(
                "{} attention heads cannot share {} key/value heads",
                spec.num_heads, spec.num_kv_heads
            )));
        }
        Ok(spec)
    }
}

/// RMS norm with a learned scale.
#[derive(Debug)]
pub struct RmsNorm {
    pub(crate) weight: Array,
    pub(crate) eps: f32,
}

impl RmsNorm {
    pub fn load(weights: &mut Weights, path: &str, dim: usize, eps: f32) -> Result<Self> {
        let weight = weights.take_shaped(&format!("{path}.weight"), &[dim])?;
        Ok(RmsNorm { weight, eps })
    }

    /// As [`RmsNorm::load`], scaling by `1 + w` when `plus_one` (Gemma), the sum taken
    /// once here as mlx-lm takes it on every call.
    pub fn load_with(
        weights: &mut Weights,
        path: &str,
        dim: usize,
        eps: f32,
        plus_one: bool,
    ) -> Result<Self> {
        let mut norm = Self::load(weights, path, dim, eps)?;
        if plus_one {
            norm.weight = Array::from_f32(1.0).add(&norm.weight)?;
            norm.weight.eval()?;
        }
        Ok(norm)
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        Ok(fast::rms_norm(x, Some(&self.weight), self.eps)?)
    }
}

#[derive(Debug)]
pub(crate) struct Attention {
    pub(crate) q_proj: Linear,
    pub(crate) k_proj: Linear,
    pub(crate) v_proj: Linear,
    pub(crate) o_proj: Linear,
    pub(crate) q_norm: Option<RmsNorm>,
    pub(crate) k_norm: Option<RmsNorm>,
    pub(crate) num_heads: i32,
    pub(crate) num_kv_heads: i32,
    pub(crate) scale: f32,
    /// Attend to the last `window` positions only (sliding-window layers).
    pub(crate) window: Option<usize>,
    /// One logit per head in every softmax ([`DecoderSpec::attention_sinks`]).
    pub(crate) sinks: Option<Array>,
}

impl Attention {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        s: &DecoderSpec,
        window: Option<usize>,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, hd) = (s.hidden_size, s.head_dim);
        if s.fused_qkv {
            let (nq, nkv) = (s.num_heads * hd, s.num_kv_heads * hd);
            w.split_rows(
                p,
                "qkv_proj",
                &[("q_proj", nq), ("k_proj", nkv), ("v_proj", nkv)],
            )?;
        }
        let proj = |w: &mut Weights, name: &str, i, o, bias| {
            Linear::load(w, q, &format!("{p}.{name}"), i, o, bias, par)
        };
        let qk_norm = |w: &mut Weights, name: &str| -> Result<Option<RmsNorm>> {
            s.qk_norm
                .then(|| {
                    RmsNorm::load_with(
                        w,
                        &format!("{p}.{name}"),
                        hd,
                        s.rms_norm_eps,
                        s.norm_plus_one,
                    )
                })
                .transpose()
        };
        Ok(Attention {
            q_proj: proj(w, "q_proj", d, s.num_heads * hd, s.qkv_bias)?,
            k_proj: proj(w, "k_proj", d, s.num_kv_heads * hd, s.qkv_bias)?,
            v_proj: proj(w, "v_proj", d, s.num_kv_heads * hd, s.qkv_bias)?,
            o_proj: proj(w, "o_proj", s.num_heads * hd, d, s.o_bias)?,
            q_norm: qk_norm(w, "q_norm")?,
            k_norm: qk_norm(w, "k_norm")?,
            num_heads: s.num_heads as i32,
            num_kv_heads: s.num_kv_heads as i32,
            scale: s.attn_scale.unwrap_or((hd as f32).powf(-0.5)),
            window,
            sinks: match s.attention_sinks {
                true => Some(w.take_shaped(&format!("{p}.sinks"), &[s.num_heads])?),
                false => None,
            },
        })
    }

    fn forward(&self, x: &Array, rope: Rotary<'_>, cache: &mut impl KvCache) -> Result<Array> {
        let (b, l) = (x.dim(0), x.dim(1));
        let heads = |a: Array, n: i32, norm: &Option<RmsNorm>| -> Result<Array> {
            let a = a.reshape(&[b, l, n, -1])?;
            let a = match norm {
                Some(norm) => norm.forward(&a)?,
                None => a,
            };
            Ok(a.transpose_axes(&[0, 2, 1, 3])?)
        };
        let q = heads(self.q_proj.forward(x)?, self.num_heads, &self.q_norm)?;
        let k = heads(self.k_proj.forward(x)?, self.num_kv_heads, &self.k_norm)?;
        let v = heads(self.v_proj.forward(x)?, self.num_kv_heads, &None)?;

        let offset = cache.offset();
        let q = rope.apply(&q, offset)?;
        let k = rope.apply(&k, offset)?;
        let (mut k, mut v) = cache.update_and_fetch(&k, &v)?;

        let total = offset + l as usize;
        let windowed = self.window.filter(|&w| total > w);
        let window_mask = match windowed {
            Some(w) if l > 1 => Some(window_mask(l as usize, offset, w)?),
            Some(w) => {
                // One query: the last `w` keys are exactly what it may see.
                let start = (total - w) as i32;
                k = k.index((.., .., start.., ..));
                v = v.index((.., .., start.., ..));
                None
            }
            None => None,
        };
        let mask = match &window_mask {
            Some(m) => Some(ScaledDotProductAttentionMask::Array(m)),
            None => (l > 1).then_some(ScaledDotProductAttentionMask::Causal),
        };
        let out =
            fast::scaled_dot_product_attention(&q, &k, &v, self.scale, mask, self.sinks.as_ref())?;
        let out = out.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, l, -1])?;
        self.o_proj.forward(&out)
    }
}

/// How one forward call rotates queries and keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rotary<'a> {
    /// Positions `offset..offset+L`, from the cache.
    Offset(&'a Rope),
    /// The cosines and sines of explicit positions ([`MRope::cos_sin`]).
    Table(&'a Array, &'a Array),
}

impl Rotary<'_> {
    fn apply(self, x: &Array, offset: usize) -> Result<Array> {
        match self {
            Rotary::Offset(rope) => rope.forward(x, offset),
            Rotary::Table(cos, sin) => MRope::apply(x, cos, sin),
        }
    }
}

/// Causal attention within a window for `l` queries at positions `offset..offset+l`
/// over keys `0..offset+l`: key `j` is seen by query `i` iff `i - window < j <= i`
/// (mlx-lm's `create_attention_mask` with `window_size`).
fn window_mask(l: usize, offset: usize, window: usize) -> Result<Array> {
    let q = ops::arange::<_, i32>(offset as i32, (offset + l) as i32, None)?.reshape(&[-1, 1])?;
    let k = ops::arange::<_, i32>(0, (offset + l) as i32, None)?.reshape(&[1, -1])?;
    let causal = k.le(&q)?;
    let near = q.subtract(&k)?.lt(Array::from_int(window as i32))?;
    Ok(causal.logical_and(&near)?)
}

/// A layer's feed-forward block: one gated MLP, or a mixture of experts.
#[derive(Debug)]
pub(crate) enum FeedForward {
    Dense(Mlp),
    Sparse(MoeBlock),
}

impl FeedForward {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        layer: usize,
        s: &DecoderSpec,
        par: &Parallelism,
    ) -> Result<Self> {
        let p = format!("model.layers.{layer}");
        match &s.moe {
            Some(m) if m.is_sparse(layer) => Ok(FeedForward::Sparse(MoeBlock::load(
                w,
                q,
                &format!("{p}.{}", m.module),
                s.hidden_size,
                m,
                par,
            )?)),
            _ => {
                if s.fused_gate_up {
                    let h = s.intermediate_size;
                    w.split_rows(
                        &format!("{p}.mlp"),
                        "gate_up_proj",
                        &[("gate_proj", h), ("up_proj", h)],
                    )?;
                }
                Ok(FeedForward::Dense(Mlp::load(
                    w,
                    q,
                    &format!("{p}.mlp"),
                    s,
                    par,
                )?))
            }
        }
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        match self {
            FeedForward::Dense(m) => m.forward(x),
            FeedForward::Sparse(m) => m.forward(x),
        }
    }
}

/// Gemma's extra norms around the MLP ([`DecoderSpec::sandwich_norms`]).
#[derive(Debug)]
pub(crate) struct FeedforwardNorms {
    pub(crate) pre: RmsNorm,
    pub(crate) post: RmsNorm,
}

#[derive(Debug)]
pub(crate) struct DecoderLayer {
    pub(crate) input_layernorm: RmsNorm,
    pub(crate) self_attn: Attention,
    /// Before the MLP (llama), or on the attention output (sandwich norms).
    pub(crate) post_attention_layernorm: RmsNorm,
    pub(crate) feedforward_norms: Option<FeedforwardNorms>,
    pub(crate) mlp: FeedForward,
    /// Sliding-window layers use the model's local rope.
    pub(crate) sliding: bool,
}

impl DecoderLayer {
    fn load(
        weights: &mut Weights,
        q: Option<&Quantization>,
        i: usize,
        s: &DecoderSpec,
        par: &Parallelism,
    ) -> Result<Self> {
        let p = format!("model.layers.{i}");
        let norm = |w: &mut Weights, name: &str| {
            RmsNorm::load_with(
                w,
                &format!("{p}.{name}"),
                s.hidden_size,
                s.rms_norm_eps,
                s.norm_plus_one,
            )
        };
        let sliding = s.sliding.as_ref().filter(|w| w.slides(i));
        Ok(DecoderLayer {
            input_layernorm: norm(weights, "input_layernorm")?,
            self_attn: Attention::load(
                weights,
                q,
                &format!("{p}.self_attn"),
                s,
                sliding.map(|w| w.window),
                par,
            )?,
            post_attention_layernorm: norm(weights, "post_attention_layernorm")?,
            feedforward_norms: if s.sandwich_norms {
                Some(FeedforwardNorms {
                    pre: norm(weights, "pre_feedforward_layernorm")?,
                    post: norm(weights, "post_feedforward_layernorm")?,
                })
            } else {
                None
            },
            mlp: FeedForward::load(weights, q, i, s, par)?,
            sliding: sliding.is_some(),
        })
    }

    fn forward(&self, x: &Array, rope: Rotary<'_>, cache: &mut impl KvCache) -> Result<Array> {
        let r = self
            .self_attn
            .forward(&self.input_layernorm.forward(x)?, rope, cache)?;
        if let Some(ff) = &self.feedforward_norms {
            let h = x.add(&self.post_attention_layernorm.forward(&r)?)?;
            let r = self.mlp.forward(&ff.pre.forward(&h)?)?;
            return Ok(h.add(&ff.post.forward(&r)?)?);
        }
        let h = x.add(&r)?;
        let r = self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&h)?)?;
        Ok(h.add(&r)?)
    }
}

/// What one forward pass is fed.
#[derive(Debug, Clone, Copy)]
pub enum Tokens<'a> {
    /// Token ids `[1, L]` (int32/uint32).
    Ids(&'a Array),
    /// Input embeddings `[1, L, hidden]`: a vision model's text embeddings with the image
    /// features merged in (scaled by [`DecoderSpec::embed_scale`] like token embeddings).
    Embeddings(&'a Array),
}

/// One forward pass's input: its tokens, at the positions that follow the cache, or at
/// explicit multimodal rope positions `[3, L]` (a model with
/// [`DecoderSpec::mrope_section`]).
#[derive(Debug, Clone, Copy)]
pub struct ForwardInput<'a> {
    pub tokens: Tokens<'a>,
    pub positions: Option<&'a Array>,
    /// What the prompt's images give the decoder besides the embeddings (none:
    /// cross-attention layers are skipped, as transformers skips them for a prompt
    /// without images).
    pub image: Option<&'a ImageContext>,
}

impl<'a> ForwardInput<'a> {
    pub fn ids(ids: &'a Array) -> Self {
        ForwardInput {
            tokens: Tokens::Ids(ids),
            positions: None,
            image: None,
        }
    }

    pub fn embeddings(h: &'a Array) -> Self {
        ForwardInput {
            tokens: Tokens::Embeddings(h),
            positions: None,
            image: None,
        }
    }

    /// The same tokens at `positions` (none: after the cache).
    pub fn at(self, positions: Option<&'a Array>) -> Self {
        ForwardInput { positions, ..self }
    }

    /// The same tokens with the prompt's image context.
    pub fn with_image(self, image: Option<&'a ImageContext>) -> Self {
        ForwardInput { image, ..self }
    }
}

/// A decoder-only transformer with Hugging Face weight names
/// (`model.embed_tokens`, `model.layers.N.self_attn.q_proj`, …, `lm_head`).
#[derive(Debug)]
pub struct DecoderModel {
    pub(crate) spec: DecoderSpec,
    pub(crate) embed_tokens: Embedding,
    /// The self-attention layers, one KV cache each.
    pub(crate) layers: Vec<DecoderLayer>,
    /// The cross-attention layers between them ([`DecoderSpec::cross_attention_layers`]).
    pub(crate) cross: Vec<CrossLayer>,
    pub(crate) norm: RmsNorm,
    pub(crate) lm_head: Option<Linear>,
    pub(crate) rope: Rope,
    /// The sliding-window layers' rope, when they have their own.
    pub(crate) local_rope: Option<Rope>,
    /// Multimodal rope for calls with explicit positions ([`DecoderSpec::mrope_section`]).
    pub(crate) mrope: Option<MRope>,
}

impl DecoderModel {
    /// Builds the model from `weights`, taking every tensor it needs; tensors left over
    /// (other than ignorable ones) are reported as an error, like mlx-lm's strict load.
    pub fn load(
        spec: DecoderSpec,
        weights: &mut Weights,
        quantization: Option<&Quantization>,
        par: &Parallelism,
    ) -> Result<Self> {
        weights.discard(|name| name.contains("self_attn.rotary_emb.inv_freq"));
        if spec.tie_word_embeddings {
            weights.discard(|name| name.starts_with("lm_head."));
        }
        let q = quantization;
        let s = &spec;
        let embed_tokens = Embedding::load(
            weights,
            q,
            "model.embed_tokens",
            s.vocab_size + s.extra_embeddings,
            s.hidden_size,
            par,
        )?;
        let crosses = |i: &usize| s.cross_attention_layers.contains(i);
        let layers = (0..s.num_layers)
            .filter(|i| !crosses(i))
            .map(|i| DecoderLayer::load(weights, q, i, s, par))
            .collect::<Result<Vec<_>>>()?;
        let cross = (0..s.num_layers)
            .filter(crosses)
            .map(|i| CrossLayer::load(weights, q, i, s, par))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load_with(
            weights,
            "model.norm",
            s.hidden_size,
            s.rms_norm_eps,
            s.norm_plus_one,
        )?;
        let lm_head = if s.tie_word_embeddings {
            None
        } else {
            Some(Linear::load(
                weights,
                q,
                "lm_head",
                s.hidden_size,
                s.vocab_size,
                false,
                par,
            )?)
        };
        let rope = Rope::new(&s.rope)?;
        let local_rope = s
            .sliding
            .as_ref()
            .and_then(|w| w.rope.as_ref())
            .map(Rope::new)
            .transpose()?;
        let mrope = s
            .mrope_section
            .as_ref()
            .map(|section| MRope::new(s.rope.dims, s.rope.theta, section, s.mrope_interleaved))
            .transpose()?;
        weights.expect_all_used("this architecture")?;
        Ok(DecoderModel {
            spec,
            embed_tokens,
            layers,
            cross,
            norm,
            lm_head,
            rope,
            local_rope,
            mrope,
        })
    }

    pub fn spec(&self) -> &DecoderSpec {
        &self.spec
    }

    /// KV caches a generation needs: one per self-attention layer.
    pub fn cache_count(&self) -> usize {
        self.layers.len()
    }

    /// The cross-attention layers' context of one generation over `features`
    /// (`[1, S, hidden]`) seen as `mask` says; see [`crate::cross_attention`].
    pub fn cross_context(
        &self,
        features: &Array,
        mask: &crate::cross_attention::CrossMask,
    ) -> Result<CrossContext> {
        crate::cross_attention::context(&self.cross, features, mask)
    }

    /// Token embeddings of `ids` (any shape → `ids.shape + [hidden]`), in a float type.
    pub fn embed(&self, ids: &Array) -> Result<Array> {
        let h = self.embed_tokens.forward(ids)?;
        if h.dtype() != Dtype::Float32
            && h.dtype() != Dtype::Float16
            && h.dtype() != Dtype::Bfloat16
        {
            return Ok(h.as_dtype(Dtype::Float32)?);
        }
        Ok(h)
    }

    /// Runs `input` through the layers, updating `caches`, and returns the final hidden
    /// states `[1, L, hidden]` before the last norm.
    pub fn forward<C: KvCache>(&self, input: ForwardInput<'_>, caches: &mut [C]) -> Result<Array> {
        let embedded;
        let h = match input.tokens {
            Tokens::Ids(ids) => {
                embedded = self.embed(ids)?;
                &embedded
            }
            Tokens::Embeddings(h) => h,
        };
        let positions = input.positions;
        let table = match (positions, &self.mrope) {
            (None, _) => None,
            (Some(p), Some(mrope)) => Some(mrope.cos_sin(p, h.dtype())?),
            (Some(_), None) => {
                return Err(RunnerError::Internal(
                    "explicit rope positions need a multimodal-rope model".into(),
                ))
            }
        };
        let mut h = match self.spec.embed_scale {
            Some(scale) => h.multiply(Array::from_f32(scale))?,
            None => h.clone(),
        };
        let offset = caches.first().map_or(0, |c| c.offset());
        let l = h.dim(1) as usize;
        let context = input.image.and_then(|i| i.cross.as_ref());
        let deepstack = input.image.and_then(|i| i.deepstack.as_ref());
        let mut cross = self.cross.iter().enumerate().peekable();
        for (i, (layer, cache)) in self.layers.iter().zip(caches.iter_mut()).enumerate() {
            // Cross-attention layers before this one (`i` self-attention layers and
            // the cross ones so far precede it).
            while let Some((which, c)) = cross.next_if(|(which, c)| c.index <= i + which) {
                if let Some(context) = context {
                    h = c.forward(&h, context, which, offset)?;
                }
            }
            let rope = match (&table, &self.local_rope, layer.sliding) {
                (Some((cos, sin)), ..) => Rotary::Table(cos, sin),
                (None, Some(local), true) => Rotary::Offset(local),
                _ => Rotary::Offset(&self.rope),
            };
            h = layer.forward(&h, rope, cache)?;
            if let Some(add) = deepstack.and_then(|d| d.after_layer(i, offset, l)) {
                h = h.add(&add)?;
            }
        }
        for (which, c) in cross {
            if let Some(context) = context {
                h = c.forward(&h, context, which, offset)?;
            }
        }
        Ok(h)
    }

    /// Logits `[1, vocab]` of the last position of `hidden` (`[1, L, hidden]`).
    pub fn last_logits(&self, hidden: &Array) -> Result<Array> {
        let last = hidden.index((.., -1, ..));
        let h = self.norm.forward(&last)?;
        match &self.lm_head {
            Some(head) => head.forward(&h),
            None => self.embed_tokens.as_linear(&h),
        }
    }
}
