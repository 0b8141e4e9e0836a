//! The decoder blocks llama, qwen2 and qwen3 share: RMS norm, rotary embedding,
//! grouped-query attention with a KV cache, SwiGLU MLP, and the decoder stack.
//! Architectures differ only in a few switches ([`DecoderSpec`]) and defaults.

use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array, Dtype};

use crate::config::{ModelConfig, Quantization, RopeScaling};
use crate::error::{Result, RunnerError};
use crate::kv_cache::KvCache;
use crate::linear::{rows, Embedding, KernelLinear, Linear, Parallelism, DEQUANTIZE_MIN_ROWS};
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
        };
        if spec.num_kv_heads == 0 || spec.num_heads % spec.num_kv_heads != 0 {
            return Err(RunnerError::Mlx(format!(
                "{} attention heads cannot share {} key/value heads",
                spec.num_heads, spec.num_kv_heads
            )));
        }
        Ok(spec)
    }
}

/// Rotary position embedding settings (`rope_theta`, `rope_scaling`).
#[derive(Debug, Clone)]
pub struct RopeSpec {
    pub dims: usize,
    pub traditional: bool,
    pub theta: f32,
    pub scaling: Option<RopeScaling>,
}

/// Rotary position embedding through `mlx.fast.rope`: default, linear and llama3
/// scaling (the latter with precomputed frequencies, as mlx-lm's `Llama3RoPE`).
#[derive(Debug)]
pub struct Rope {
    pub(crate) dims: i32,
    pub(crate) traditional: bool,
    pub(crate) base: Option<f32>,
    pub(crate) scale: f32,
    pub(crate) freqs: Option<Array>,
}

impl Rope {
    pub fn new(spec: &RopeSpec) -> Result<Self> {
        let dims = spec.dims as i32;
        let plain = |scale: f32| Rope {
            dims,
            traditional: spec.traditional,
            base: Some(spec.theta),
            scale,
            freqs: None,
        };
        let Some(scaling) = &spec.scaling else {
            return Ok(plain(1.0));
        };
        match scaling.kind() {
            "default" => Ok(plain(1.0)),
            "linear" => Ok(plain(1.0 / scaling.factor.unwrap_or(1.0))),
            "llama3" => {
                let freqs = llama3_freqs(spec.dims, spec.theta, scaling)?;
                Ok(Rope {
                    dims,
                    traditional: spec.traditional,
                    base: None,
                    scale: 1.0,
                    freqs: Some(freqs),
                })
            }
            other => Err(RunnerError::Mlx(format!(
                "rope scaling `{other}` is not supported (default, linear, llama3)"
            ))),
        }
    }

    /// Rotates `x` (`[B, heads, L, head_dim]`) for positions `offset..offset+L`.
    pub fn forward(&self, x: &Array, offset: usize) -> Result<Array> {
        Ok(fast::rope(
            x,
            self.dims,
            self.traditional,
            self.base,
            self.scale,
            offset as i32,
            self.freqs.as_ref(),
        )?)
    }
}

/// Llama 3.x frequency smoothing, computed with the same float32 MLX ops as mlx-lm.
fn llama3_freqs(dims: usize, base: f32, s: &RopeScaling) -> Result<Array> {
    let factor = s.factor.unwrap_or(1.0);
    let low = s.low_freq_factor.unwrap_or(1.0);
    let high = s.high_freq_factor.unwrap_or(4.0);
    let old_len = s.original_max_position_embeddings.unwrap_or(8192.0);
    let low_wavelen = old_len / low;
    let high_wavelen = old_len / high;

    let exponents =
        ops::arange::<_, f32>(0.0, dims as f32, 2.0)?.divide(Array::from_f32(dims as f32))?;
    let freqs = ops::power(Array::from_f32(base), &exponents)?;
    let wavelens = freqs.multiply(Array::from_f32((2.0 * std::f64::consts::PI) as f32))?;
    let freqs = ops::select(
        &wavelens.gt(Array::from_f32(low_wavelen))?,
        &freqs.multiply(Array::from_f32(factor))?,
        &freqs,
    )?;
    let medium = wavelens
        .gt(Array::from_f32(high_wavelen))?
        .logical_and(&wavelens.lt(Array::from_f32(low_wavelen))?)?;
    let smooth = Array::from_f32(old_len)
        .divide(&wavelens)?
        .subtract(Array::from_f32(low))?
        .divide(Array::from_f32(high - low))?;
    let one = Array::from_f32(1.0);
    let smooth_freqs = freqs.divide(
        one.subtract(&smooth)?
            .divide(Array::from_f32(factor))?
            .add(&smooth)?,
    )?;
    let out = ops::select(&medium, &smooth_freqs, &freqs)?;
    out.eval()?;
    Ok(out)
}

/// RMS norm with a learned scale.
#[derive(Debug)]
pub struct RmsNorm {
    pub(crate) weight: Array,
    pub(crate) eps: f32,
}

impl RmsNorm {
    pub fn load(weights: &mut Weights, path: &str, dim: usize, eps: f32) -> Result<Self> {
        let name = format!("{path}.weight");
        let weight = weights.take(&name)?;
        if weight.shape() != [dim as i32] {
            return Err(RunnerError::BadTensor {
                name,
                message: format!("shape {:?}, expected [{dim}]", weight.shape()),
            });
        }
        Ok(RmsNorm { weight, eps })
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
}

impl Attention {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        s: &DecoderSpec,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, hd) = (s.hidden_size, s.head_dim);
        let proj = |w: &mut Weights, name: &str, i, o, bias| {
            Linear::load(w, q, &format!("{p}.{name}"), i, o, bias, par)
        };
        let qk_norm = |w: &mut Weights, name: &str| -> Result<Option<RmsNorm>> {
            s.qk_norm
                .then(|| RmsNorm::load(w, &format!("{p}.{name}"), hd, s.rms_norm_eps))
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
            scale: (hd as f32).powf(-0.5),
        })
    }

    fn forward(&self, x: &Array, rope: &Rope, cache: &mut impl KvCache) -> Result<Array> {
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
        let q = rope.forward(&q, offset)?;
        let k = rope.forward(&k, offset)?;
        let (k, v) = cache.update_and_fetch(&k, &v)?;

        let mask = (l > 1).then_some(ScaledDotProductAttentionMask::Causal);
        let out = fast::scaled_dot_product_attention(&q, &k, &v, self.scale, mask, None)?;
        let out = out.transpose_axes(&[0, 2, 1, 3])?.reshape(&[b, l, -1])?;
        self.o_proj.forward(&out)
    }
}

#[derive(Debug)]
pub(crate) struct Mlp {
    pub(crate) gate_proj: Linear,
    pub(crate) up_proj: Linear,
    pub(crate) down_proj: Linear,
}

impl Mlp {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        s: &DecoderSpec,
        par: &Parallelism,
    ) -> Result<Self> {
        let (d, h, bias) = (s.hidden_size, s.intermediate_size, s.mlp_bias);
        Ok(Mlp {
            gate_proj: Linear::load(w, q, &format!("{p}.gate_proj"), d, h, bias, par)?,
            up_proj: Linear::load(w, q, &format!("{p}.up_proj"), d, h, bias, par)?,
            down_proj: Linear::load(w, q, &format!("{p}.down_proj"), h, d, bias, par)?,
        })
    }

    /// `down(silu(gate(x)) · up(x))`.
    fn forward(&self, x: &Array) -> Result<Array> {
        if rows(x) < DEQUANTIZE_MIN_ROWS && x.dtype() == Dtype::Float32 {
            if let Some(y) = self.fused(x)? {
                return Ok(y);
            }
        }
        let gate = self.gate_proj.forward(x)?;
        let silu = gate.multiply(ops::sigmoid(&gate)?)?;
        let hidden = silu.multiply(self.up_proj.forward(x)?)?;
        self.down_proj.forward(&hidden)
    }
}

impl Mlp {
    /// The whole MLP on the CPU kernel for a few rows (decoding): one evaluation of
    /// `x` instead of one per product, and the SwiGLU in Rust, computed as MLX does
    /// (`(g · sigmoid(g)) · u`, float32). `None` when a product is not on the kernel.
    fn fused(&self, x: &Array) -> Result<Option<Array>> {
        let Ok(xs) = x.try_as_slice::<f32>() else {
            return Ok(None);
        };
        let (Some(gate), Some(up), Some(down)) = (
            self.gate_proj.kernel(),
            self.up_proj.kernel(),
            self.down_proj.kernel(),
        ) else {
            return Ok(None);
        };
        let y = swiglu_mlp(&gate, &up, &down, xs)?;
        let mut shape = x.shape().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = down.out_dims() as i32;
        }
        Ok(Some(Array::from_slice(&y, &shape)))
    }
}

/// `down((g · sigmoid(g)) · u)` with `g = gate(x)`, `u = up(x)`, on slices.
pub(crate) fn swiglu_mlp(
    gate: &KernelLinear<'_>,
    up: &KernelLinear<'_>,
    down: &KernelLinear<'_>,
    x: &[f32],
) -> Result<Vec<f32>> {
    let mut hidden = gate.forward(x)?;
    let up = up.forward(x)?;
    for (g, u) in hidden.iter_mut().zip(&up) {
        let sigmoid = 1.0 / (1.0 + (-*g).exp());
        *g = (*g * sigmoid) * u;
    }
    down.forward(&hidden)
}

#[derive(Debug)]
pub(crate) struct DecoderLayer {
    pub(crate) input_layernorm: RmsNorm,
    pub(crate) self_attn: Attention,
    pub(crate) post_attention_layernorm: RmsNorm,
    pub(crate) mlp: Mlp,
}

impl DecoderLayer {
    fn forward(&self, x: &Array, rope: &Rope, cache: &mut impl KvCache) -> Result<Array> {
        let r = self
            .self_attn
            .forward(&self.input_layernorm.forward(x)?, rope, cache)?;
        let h = x.add(&r)?;
        let r = self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&h)?)?;
        Ok(h.add(&r)?)
    }
}

/// A decoder-only transformer with Hugging Face weight names
/// (`model.embed_tokens`, `model.layers.N.self_attn.q_proj`, …, `lm_head`).
#[derive(Debug)]
pub struct DecoderModel {
    pub(crate) spec: DecoderSpec,
    pub(crate) embed_tokens: Embedding,
    pub(crate) layers: Vec<DecoderLayer>,
    pub(crate) norm: RmsNorm,
    pub(crate) lm_head: Option<Linear>,
    pub(crate) rope: Rope,
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
            s.vocab_size,
            s.hidden_size,
            par,
        )?;
        let mut layers = Vec::with_capacity(s.num_layers);
        for i in 0..s.num_layers {
            let p = format!("model.layers.{i}");
            let eps = s.rms_norm_eps;
            layers.push(DecoderLayer {
                input_layernorm: RmsNorm::load(
                    weights,
                    &format!("{p}.input_layernorm"),
                    s.hidden_size,
                    eps,
                )?,
                self_attn: Attention::load(weights, q, &format!("{p}.self_attn"), s, par)?,
                post_attention_layernorm: RmsNorm::load(
                    weights,
                    &format!("{p}.post_attention_layernorm"),
                    s.hidden_size,
                    eps,
                )?,
                mlp: Mlp::load(weights, q, &format!("{p}.mlp"), s, par)?,
            });
        }
        let norm = RmsNorm::load(weights, "model.norm", s.hidden_size, s.rms_norm_eps)?;
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
        let left = weights.remaining();
        if let Some(name) = left.first() {
            return Err(RunnerError::BadTensor {
                name: name.clone(),
                message: format!(
                    "not used by this architecture ({} unused tensors)",
                    left.len()
                ),
            });
        }
        Ok(DecoderModel {
            spec,
            embed_tokens,
            layers,
            norm,
            lm_head,
            rope,
        })
    }

    pub fn spec(&self) -> &DecoderSpec {
        &self.spec
    }

    /// Runs `ids` (`[1, L]`, int32/uint32) through the layers, updating `caches`,
    /// and returns the final hidden states `[1, L, hidden]` before the last norm.
    pub fn forward_hidden<C: KvCache>(&self, ids: &Array, caches: &mut [C]) -> Result<Array> {
        let h = self.embed(ids)?;
        self.forward_embeddings(&h, caches)
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

    /// Runs input embeddings `[1, L, hidden]` through the layers (the hook vision
    /// models use to feed image features merged into the text embeddings), updating
    /// `caches`; returns the final hidden states before the last norm.
    pub fn forward_embeddings<C: KvCache>(&self, h: &Array, caches: &mut [C]) -> Result<Array> {
        let mut h = h.clone();
        for (layer, cache) in self.layers.iter().zip(caches.iter_mut()) {
            h = layer.forward(&h, &self.rope, cache)?;
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
