//! Whisper's encoder and decoder in MLX, with mlx-whisper's weight names and maths
//! (`whisper.py`): convolutional stem, sinusoidal positions, pre-norm residual
//! attention blocks, decoder with self- and cross-attention and a KV cache, logits
//! through the token embedding.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{fast, ops, Array};

use crate::activation::gelu;
use crate::error::{Result, RunnerError};
use crate::linear::{Embedding, Linear, Parallelism};
use crate::weights::Weights;
use crate::whisper::config::WhisperConfig;

pub mod cpu_step;

const LN_EPS: f32 = 1e-5;

#[derive(Debug)]
struct LayerNorm {
    weight: Array,
    bias: Array,
}

impl LayerNorm {
    fn load(w: &mut Weights, path: &str) -> Result<Self> {
        Ok(LayerNorm {
            weight: w.take(&format!("{path}.weight"))?,
            bias: w.take(&format!("{path}.bias"))?,
        })
    }

    fn forward(&self, x: &Array) -> Result<Array> {
        Ok(fast::layer_norm(x, &self.weight, &self.bias, LN_EPS)?)
    }
}

/// Keys (transposed for `q @ k`, pre-scaled) and values of one attention, per head.
#[derive(Debug, Clone)]
struct HeadKv {
    k: Array,
    v: Array,
}

#[derive(Debug)]
struct MultiHeadAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    n_head: i32,
    /// `(state / heads)^-0.25`, applied to both queries and keys.
    scale: f32,
}

impl MultiHeadAttention {
    fn load(w: &mut Weights, c: &Ctx, path: &str, n_state: usize, n_head: usize) -> Result<Self> {
        let lin = |w: &mut Weights, name: &str, bias| {
            Linear::load(
                w,
                c.quantization,
                &format!("{path}.{name}"),
                n_state,
                n_state,
                bias,
                c.parallel,
            )
        };
        Ok(MultiHeadAttention {
            query: lin(w, "query", true)?,
            key: lin(w, "key", false)?,
            value: lin(w, "value", true)?,
            out: lin(w, "out", true)?,
            n_head: n_head as i32,
            scale: ((n_state / n_head) as f32).powf(-0.25),
        })
    }

    /// `[b, t, state]` → keys `[b, h, d, t]` (scaled) and values `[b, h, t, d]`.
    fn heads_kv(&self, k: &Array, v: &Array) -> Result<HeadKv> {
        let (b, t) = (k.dim(0), k.dim(1));
        let k = k
            .reshape(&[b, t, self.n_head, -1])?
            .transpose_axes(&[0, 2, 3, 1])?
            .multiply(Array::from_f32(self.scale))?;
        let v = v
            .reshape(&[b, t, self.n_head, -1])?
            .transpose_axes(&[0, 2, 1, 3])?;
        Ok(HeadKv { k, v })
    }

    fn project_kv(&self, x: &Array) -> Result<HeadKv> {
        self.heads_kv(&self.key.forward(x)?, &self.value.forward(x)?)
    }

    fn attend(&self, x: &Array, kv: &HeadKv, mask: Option<&Array>) -> Result<Array> {
        Ok(self.attend_qk(x, kv, mask)?.0)
    }

    /// Unmasked attention one head at a time (the encoder's 1500 frames): only one
    /// head's scores exist at once (`1500²` floats, 9 MB in all sizes) instead of every
    /// head's (54 MB in tiny, 180 MB in large), three times over (product, softmax,
    /// hand-over). The products are the ones MLX's batched matmul makes per head.
    fn attend_per_head(&self, x: &Array, kv: &HeadKv) -> Result<Array> {
        let (b, n, state) = (x.dim(0), x.dim(1), x.dim(2));
        let q = self.heads_q(x)?;
        let outs = (0..self.n_head)
            .map(|h| {
                let head = |a: &Array| a.index((.., h..h + 1, .., ..));
                let qk = ops::matmul(head(&q), head(&kv.k))?;
                let o = ops::matmul(crate::softmax::softmax_last_axis(&qk)?, head(&kv.v))?;
                o.eval()?;
                Ok(o)
            })
            .collect::<Result<Vec<_>>>()?;
        let out = ops::concatenate(&outs, 1)?
            .transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[b, n, state])?;
        self.out.forward(&out)
    }

    /// `[b, n, state]` → scaled queries `[b, h, n, d]`.
    fn heads_q(&self, x: &Array) -> Result<Array> {
        let (b, n) = (x.dim(0), x.dim(1));
        Ok(self
            .query
            .forward(x)?
            .reshape(&[b, n, self.n_head, -1])?
            .transpose_axes(&[0, 2, 1, 3])?
            .multiply(Array::from_f32(self.scale))?)
    }

    /// [`Self::attend`] without a mask that also returns the attention logits
    /// `q·kᵀ` `[b, heads, n, t]` (what mlx-whisper's `qkv_attention` returns as `qk`).
    fn attend_with_qk(&self, x: &Array, kv: &HeadKv) -> Result<(Array, Array)> {
        self.attend_qk(x, kv, None)
    }

    /// The attention's output and its logits (masked where `mask` is given); the
    /// logits are part of the lazy graph, so returning them costs nothing unread.
    fn attend_qk(&self, x: &Array, kv: &HeadKv, mask: Option<&Array>) -> Result<(Array, Array)> {
        let (b, n, state) = (x.dim(0), x.dim(1), x.dim(2));
        let q = self.heads_q(x)?;
        let mut qk = ops::matmul(&q, &kv.k)?;
        if let Some(mask) = mask {
            qk = qk.add(mask)?;
        }
        let w = crate::softmax::softmax_last_axis(&qk)?;
        let out = ops::matmul(&w, &kv.v)?
            .transpose_axes(&[0, 2, 1, 3])?
            .reshape(&[b, n, state])?;
        Ok((self.out.forward(&out)?, qk))
    }
}

#[derive(Debug)]
struct Block {
    attn: MultiHeadAttention,
    attn_ln: LayerNorm,
    cross: Option<(MultiHeadAttention, LayerNorm)>,
    mlp1: Linear,
    mlp2: Linear,
    mlp_ln: LayerNorm,
}

impl Block {
    fn load(
        w: &mut Weights,
        c: &Ctx,
        path: &str,
        n_state: usize,
        n_head: usize,
        cross: bool,
    ) -> Result<Self> {
        let cross = if cross {
            Some((
                MultiHeadAttention::load(w, c, &format!("{path}.cross_attn"), n_state, n_head)?,
                LayerNorm::load(w, &format!("{path}.cross_attn_ln"))?,
            ))
        } else {
            None
        };
        let lin = |w: &mut Weights, name: &str, i, o| {
            Linear::load(
                w,
                c.quantization,
                &format!("{path}.{name}"),
                i,
                o,
                true,
                c.parallel,
            )
        };
        Ok(Block {
            attn: MultiHeadAttention::load(w, c, &format!("{path}.attn"), n_state, n_head)?,
            attn_ln: LayerNorm::load(w, &format!("{path}.attn_ln"))?,
            cross,
            mlp1: lin(w, "mlp1", n_state, 4 * n_state)?,
            mlp2: lin(w, "mlp2", 4 * n_state, n_state)?,
            mlp_ln: LayerNorm::load(w, &format!("{path}.mlp_ln"))?,
        })
    }

    fn mlp(&self, x: &Array) -> Result<Array> {
        let h = gelu(&self.mlp1.forward(&self.mlp_ln.forward(x)?)?)?;
        Ok(x.add(self.mlp2.forward(&h)?)?)
    }
}

struct Ctx<'a> {
    quantization: Option<&'a crate::config::Quantization>,
    parallel: &'a Parallelism,
}

/// The audio encoder: mel `[1, 3000, n_mels]` → features `[1, 1500, n_audio_state]`.
#[derive(Debug)]
pub struct AudioEncoder {
    conv1: (Array, Array),
    conv2: (Array, Array),
    positional: Array,
    blocks: Vec<Block>,
    ln_post: LayerNorm,
}

/// mlx-whisper's `sinusoids`, computed with the same MLX operations.
fn sinusoids(length: usize, channels: usize) -> Result<Array> {
    let increment = (10000f64).ln() / (channels / 2 - 1) as f64;
    let inv = ops::arange::<_, f32>(0, (channels / 2) as i32, None)?
        .multiply(Array::from_f32(-increment as f32))?
        .exp()?;
    let t = ops::arange::<_, f32>(0, length as i32, None)?.reshape(&[-1, 1])?;
    let scaled = t.multiply(inv.reshape(&[1, -1])?)?;
    Ok(ops::concatenate(&[scaled.sin()?, scaled.cos()?], 1)?)
}

impl AudioEncoder {
    fn load(w: &mut Weights, c: &Ctx, cfg: &WhisperConfig) -> Result<Self> {
        let conv = |w: &mut Weights, name: &str, k_in: usize| -> Result<(Array, Array)> {
            let weight = w.take(&format!("encoder.{name}.weight"))?;
            let want = [cfg.n_audio_state as i32, 3, k_in as i32];
            if weight.shape() != want {
                return Err(RunnerError::BadTensor {
                    name: format!("encoder.{name}.weight"),
                    message: format!("shape {:?}, expected {want:?}", weight.shape()),
                });
            }
            Ok((weight, w.take(&format!("encoder.{name}.bias"))?))
        };
        let conv1 = conv(w, "conv1", cfg.n_mels)?;
        let conv2 = conv(w, "conv2", cfg.n_audio_state)?;
        let blocks = (0..cfg.n_audio_layer)
            .map(|i| {
                Block::load(
                    w,
                    c,
                    &format!("encoder.blocks.{i}"),
                    cfg.n_audio_state,
                    cfg.n_audio_head,
                    false,
                )
            })
            .collect::<Result<_>>()?;
        Ok(AudioEncoder {
            conv1,
            conv2,
            positional: sinusoids(cfg.n_audio_ctx, cfg.n_audio_state)?,
            blocks,
            ln_post: LayerNorm::load(w, "encoder.ln_post")?,
        })
    }

    pub fn forward(&self, mel: &Array) -> Result<Array> {
        let x = ops::conv1d(mel, &self.conv1.0, 1, 1, 1, 1)?.add(&self.conv1.1)?;
        let x = gelu(&x)?;
        let x = ops::conv1d(&x, &self.conv2.0, 2, 1, 1, 1)?.add(&self.conv2.1)?;
        let mut x = gelu(&x)?.add(&self.positional)?;
        for block in &self.blocks {
            let h = block.attn_ln.forward(&x)?;
            let kv = block.attn.project_kv(&h)?;
            x = x.add(block.attn.attend_per_head(&h, &kv)?)?;
            x = block.mlp(&x)?;
        }
        self.ln_post.forward(&x)
    }
}

/// Per-window decoder state: cross-attention keys/values of the audio, and the
/// self-attention cache of the tokens so far.
#[derive(Debug)]
pub struct DecoderCache {
    cross: Vec<HeadKv>,
    /// Self-attention keys and values `[1, t, state]` per layer, before the head split.
    past: Vec<Option<(Array, Array)>>,
    offset: usize,
}

impl DecoderCache {
    /// Tokens already in the cache.
    pub fn len(&self) -> usize {
        self.offset
    }

    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }
}

/// The text decoder.
#[derive(Debug)]
pub struct TextDecoder {
    token_embedding: Embedding,
    positional: Array,
    blocks: Vec<Block>,
    ln: LayerNorm,
    n_ctx: usize,
}

impl TextDecoder {
    fn load(w: &mut Weights, c: &Ctx, cfg: &WhisperConfig) -> Result<Self> {
        let token_embedding = Embedding::load(
            w,
            c.quantization,
            "decoder.token_embedding",
            cfg.n_vocab,
            cfg.n_text_state,
            c.parallel,
        )?;
        let positional = w.take("decoder.positional_embedding")?;
        if positional.shape() != [cfg.n_text_ctx as i32, cfg.n_text_state as i32] {
            return Err(RunnerError::BadTensor {
                name: "decoder.positional_embedding".into(),
                message: format!("shape {:?}", positional.shape()),
            });
        }
        let blocks = (0..cfg.n_text_layer)
            .map(|i| {
                Block::load(
                    w,
                    c,
                    &format!("decoder.blocks.{i}"),
                    cfg.n_text_state,
                    cfg.n_text_head,
                    true,
                )
            })
            .collect::<Result<_>>()?;
        Ok(TextDecoder {
            token_embedding,
            positional,
            blocks,
            ln: LayerNorm::load(w, "decoder.ln")?,
            n_ctx: cfg.n_text_ctx,
        })
    }

    /// A fresh cache for one window's audio features.
    pub fn new_cache(&self, audio_features: &Array) -> Result<DecoderCache> {
        let cross = self
            .blocks
            .iter()
            .map(|b| {
                let (attn, _) = b
                    .cross
                    .as_ref()
                    .expect("decoder blocks have cross-attention");
                attn.project_kv(audio_features)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache {
            cross,
            past: vec![None; self.blocks.len()],
            offset: 0,
        })
    }

    /// Runs `tokens` (`[1, n]`) after what the cache holds and returns the logits
    /// `[len(rows), vocab]` of the positions `rows` (indices into `tokens`).
    pub fn forward(&self, tokens: &[u32], cache: &mut DecoderCache, rows: &[i32]) -> Result<Array> {
        let n = tokens.len();
        let offset = cache.offset;
        if offset + n > self.n_ctx {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: offset + n,
                context_length: self.n_ctx,
            });
        }
        let ids = Array::from_slice(tokens, &[1, n as i32]);
        let pos = self.positional.index(offset as i32..(offset + n) as i32);
        let mut x = self.token_embedding.forward(&ids)?.add(&pos)?;
        let mask = if n > 1 { Some(causal_mask(n)?) } else { None };
        for (i, block) in self.blocks.iter().enumerate() {
            let h = block.attn_ln.forward(&x)?;
            let (k, v) = (block.attn.key.forward(&h)?, block.attn.value.forward(&h)?);
            let (k, v) = match cache.past[i].take() {
                Some((pk, pv)) => (
                    ops::concatenate(&[pk, k], 1)?,
                    ops::concatenate(&[pv, v], 1)?,
                ),
                None => (k, v),
            };
            let kv = block.attn.heads_kv(&k, &v)?;
            cache.past[i] = Some((k, v));
            x = x.add(block.attn.attend(&h, &kv, mask.as_ref())?)?;
            let (cross, cross_ln) = block
                .cross
                .as_ref()
                .expect("decoder blocks have cross-attention");
            x = x.add(cross.attend(&cross_ln.forward(&x)?, &cache.cross[i], None)?)?;
            x = block.mlp(&x)?;
        }
        cache.offset += n;
        let x = if rows.len() == n && rows.iter().enumerate().all(|(i, &r)| r == i as i32) {
            x
        } else {
            x.take_axis(Array::from_slice(rows, &[rows.len() as i32]), 1)?
        };
        let x = self.ln.forward(&x)?;
        let logits = self.token_embedding.as_linear(&x)?;
        Ok(logits.reshape(&[rows.len() as i32, -1])?)
    }
}

impl TextDecoder {
    /// One window's whole token sequence at once, without a cache (mlx-whisper's
    /// `forward_with_cross_qk`): the logits `[n, vocab]` of every position and, per
    /// decoder layer, the cross-attention logits `q·kᵀ` `[1, heads, n, n_audio_ctx]`,
    /// which word timestamps align on.
    pub fn forward_with_cross_qk(
        &self,
        tokens: &[u32],
        audio_features: &Array,
    ) -> Result<(Array, Vec<Array>)> {
        let n = tokens.len();
        if n > self.n_ctx {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: n,
                context_length: self.n_ctx,
            });
        }
        let ids = Array::from_slice(tokens, &[1, n as i32]);
        let pos = self.positional.index(0..n as i32);
        let mut x = self.token_embedding.forward(&ids)?.add(&pos)?;
        let mask = if n > 1 { Some(causal_mask(n)?) } else { None };
        let mut cross_qk = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let h = block.attn_ln.forward(&x)?;
            let kv = block.attn.project_kv(&h)?;
            x = x.add(block.attn.attend(&h, &kv, mask.as_ref())?)?;
            let (cross, cross_ln) = block
                .cross
                .as_ref()
                .expect("decoder blocks have cross-attention");
            let (y, qk) =
                cross.attend_with_qk(&cross_ln.forward(&x)?, &cross.project_kv(audio_features)?)?;
            x = x.add(y)?;
            cross_qk.push(qk);
            x = block.mlp(&x)?;
        }
        let logits = self.token_embedding.as_linear(&self.ln.forward(&x)?)?;
        Ok((logits.reshape(&[n as i32, -1])?, cross_qk))
    }
}

/// `-inf` above the diagonal (nn.MultiHeadAttention.create_additive_causal_mask).
fn causal_mask(n: usize) -> Result<Array> {
    let mut m = vec![0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            m[i * n + j] = f32::NEG_INFINITY;
        }
    }
    Ok(Array::from_slice(&m, &[n as i32, n as i32]))
}

/// The decoder's cross-attention heads whose attention follows the audio in time
/// (`[layer, head]` pairs), which word timestamps read; where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignmentHeads {
    pub heads: Vec<(usize, usize)>,
    pub source: HeadsSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadsSource {
    /// The `alignment_heads` tensor mlx-whisper's converter saves with the weights.
    Weights,
    /// `alignment_heads` in `generation_config.json` (mlx-audio, Hugging Face).
    GenerationConfig,
    /// mlx-whisper's default: every head of the last half of the decoder layers.
    Default,
}

impl AlignmentHeads {
    /// mlx-whisper's default (`Whisper.__init__`).
    pub fn default_for(cfg: &WhisperConfig) -> Self {
        AlignmentHeads {
            heads: (cfg.n_text_layer / 2..cfg.n_text_layer)
                .flat_map(|l| (0..cfg.n_text_head).map(move |h| (l, h)))
                .collect(),
            source: HeadsSource::Default,
        }
    }

    /// `[layer, head]` pairs from `values` (row-major, two per pair), checked against
    /// the decoder's shape.
    pub fn from_pairs(
        values: &[i64],
        cfg: &WhisperConfig,
        source: HeadsSource,
    ) -> std::result::Result<Self, String> {
        if values.len() % 2 != 0 || values.is_empty() {
            return Err(format!(
                "{} values, expected [layer, head] pairs",
                values.len()
            ));
        }
        let heads = values
            .chunks(2)
            .map(|p| match (usize::try_from(p[0]), usize::try_from(p[1])) {
                (Ok(l), Ok(h)) if l < cfg.n_text_layer && h < cfg.n_text_head => Ok((l, h)),
                _ => Err(format!(
                    "[{}, {}] is not a head of a {}-layer, {}-head decoder",
                    p[0], p[1], cfg.n_text_layer, cfg.n_text_head
                )),
            })
            .collect::<std::result::Result<_, _>>()?;
        Ok(AlignmentHeads { heads, source })
    }
}

/// A loaded Whisper model.
#[derive(Debug)]
pub struct WhisperModel {
    pub encoder: AudioEncoder,
    pub decoder: TextDecoder,
    /// From the weights when mlx-whisper's converter saved them there, else `None`.
    pub alignment_heads: Option<AlignmentHeads>,
    /// How decode steps after the prompt run (`cpu_step`).
    pub step: cpu_step::DecodeStep,
}

impl WhisperModel {
    /// Builds the model from `weights` (every tensor must be used).
    pub fn build(
        cfg: &WhisperConfig,
        weights: &mut Weights,
        parallel: &Parallelism,
    ) -> Result<Self> {
        let ctx = Ctx {
            quantization: cfg.quantization.as_ref(),
            parallel,
        };
        // mlx-whisper computes the encoder's positions; some conversions store them.
        weights.discard(|n| {
            n == "encoder._positional_embedding" || n == "encoder.positional_embedding"
        });
        // mlx-whisper's `Whisper` keeps its alignment heads as a parameter, so its
        // converter (`tree_flatten(model.parameters())`) saves them with the weights.
        let alignment_heads = match weights.take_optional("alignment_heads") {
            Some(a) => {
                let a = a.as_dtype(mlx_rs::Dtype::Int64)?;
                a.eval()?;
                let values = a.as_slice::<i64>().to_vec();
                Some(
                    AlignmentHeads::from_pairs(&values, cfg, HeadsSource::Weights).map_err(
                        |message| RunnerError::BadTensor {
                            name: "alignment_heads".into(),
                            message,
                        },
                    )?,
                )
            }
            None => None,
        };
        let encoder = AudioEncoder::load(weights, &ctx, cfg)?;
        let decoder = TextDecoder::load(weights, &ctx, cfg)?;
        let left = weights.remaining();
        if !left.is_empty() {
            return Err(RunnerError::BadTensor {
                name: left[0].clone(),
                message: format!(
                    "{} tensors not used by Whisper ({})",
                    left.len(),
                    left.join(", ")
                ),
            });
        }
        let step = cpu_step::DecodeStep::choose(&decoder);
        Ok(WhisperModel {
            encoder,
            decoder,
            alignment_heads,
            step,
        })
    }
}
