//! Whisper's text decoder one token at a time on the CPU, in Rust.
//!
//! On MLX's CPU backend a decode step of [`TextDecoder::forward`] is a graph of some
//! sixty small operations for tiny.en (four layers of norms, three attentions' worth of
//! reshapes, products, softmax, GELU) rebuilt and scheduled for every token; building and
//! scheduling cost more than the arithmetic. [`CpuStep`] computes the same step on slices
//! borrowed from the loaded MLX arrays, as `cpu_decode` does for the text models:
//! LayerNorm, self-attention with a key/value cache of its own (biases on query, value
//! and output, none on the key; queries and keys both scaled by `(state / heads)^-0.25`),
//! cross-attention over the window's audio keys and values (projected once per window by
//! MLX and copied here), the erf GELU MLP with MLX's values
//! ([`crate::kernel::mlx_math`]), the final LayerNorm and the logits
//! through the tied token embedding. Weights are float32 (float16 checkpoints are upcast
//! at load) or MLX affine quantized ([`crate::kernel`]); products split their rows over
//! [`Threads`].
//!
//! The prompt (initial tokens, up to half the text context of previous text) keeps going
//! through MLX's batched forward (OpenBLAS), and its self-attention cache is imported
//! ([`CpuStep::import`]). The order of operations per element follows the MLX graph's
//! (scaling before the product, max-subtracted softmax), so logits agree within float32
//! rounding (docs/runner.md gives the measured differences).

use mlx_rs::{Array, Device, DeviceType};

use super::{DecoderCache, HeadKv, LayerNorm, MultiHeadAttention, TextDecoder, LN_EPS};
use crate::error::{Result, RunnerError};
use crate::kernel::{dot_product, f16_to_f32, to_exact_f16, HalfMatrix, Isa, Threads};
use crate::linear::{Linear, MatrixSlices};

mod trace;
pub use trace::{StepTrace, TraceStep};

/// Which step decodes the tokens after the prompt, decided once at load.
#[derive(Debug)]
pub enum DecodeStep {
    /// [`CpuStep`] on these threads, reading float16 copies of the dense matrices
    /// that hold only float16 values.
    Cpu(Threads, HalfCopies),
    /// MLX's graph ([`TextDecoder::forward`]), and why not the CPU step.
    Mlx(String),
}

/// Float16 copies of the decoder's dense float32 matrices whose every value is a
/// float16 (see [`crate::kernel::HalfMatrix`]): the token embedding, then per layer
/// the self-attention's four projections, the cross-attention's query and output, and
/// the two MLP matrices (the cross-attention's key and value run once per window, on
/// MLX).
#[derive(Debug, Default)]
pub struct HalfCopies {
    embed: Option<Vec<u16>>,
    layers: Vec<[Option<Vec<u16>>; 8]>,
}

impl HalfCopies {
    fn of(decoder: &TextDecoder) -> Self {
        let copy = |m: Option<MatrixSlices<'_>>| match m {
            Some(MatrixSlices::Dense { weight, .. }) => to_exact_f16(weight),
            _ => None,
        };
        let lin = |l: &Linear| copy(l.slices().map(|(m, _)| m));
        HalfCopies {
            embed: copy(decoder.token_embedding.slices()),
            layers: decoder
                .blocks
                .iter()
                .map(|b| {
                    let c = b.cross.as_ref().map(|(c, _)| c);
                    [
                        lin(&b.attn.query),
                        lin(&b.attn.key),
                        lin(&b.attn.value),
                        lin(&b.attn.out),
                        c.and_then(|c| lin(&c.query)),
                        c.and_then(|c| lin(&c.out)),
                        lin(&b.mlp1),
                        lin(&b.mlp2),
                    ]
                })
                .collect(),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        let len = |v: &Option<Vec<u16>>| v.as_ref().map_or(0, |v| 2 * v.len());
        len(&self.embed) + self.layers.iter().flatten().map(len).sum::<usize>()
    }
}

impl DecodeStep {
    /// The CPU step when MLX runs on the CPU and the decoder's weights can be read as
    /// float32 slices; `MLXK_CPU_KERNEL=mlx` asks for MLX's graph.
    pub(crate) fn choose(decoder: &TextDecoder) -> Self {
        let on_cpu = Device::try_default()
            .and_then(|d| d.get_type())
            .is_ok_and(|t| matches!(t, DeviceType::Cpu));
        if !on_cpu {
            return DecodeStep::Mlx("MLX's default device is not the CPU".into());
        }
        if std::env::var("MLXK_CPU_KERNEL").is_ok_and(|v| v == "mlx") {
            return DecodeStep::Mlx("MLXK_CPU_KERNEL=mlx asks for MLX's kernels".into());
        }
        let threads = Threads::new(Threads::default_count());
        if let Err(why) = CpuStep::new(decoder, &threads, None) {
            return DecodeStep::Mlx(why);
        }
        DecodeStep::Cpu(threads, HalfCopies::of(decoder))
    }

    /// The CPU step's threads and float16 copies, when it is the step.
    pub fn cpu(&self) -> Option<(&Threads, &HalfCopies)> {
        match self {
            DecodeStep::Cpu(t, h) => Some((t, h)),
            DecodeStep::Mlx(_) => None,
        }
    }

    /// One line for `--verbose`.
    pub fn describe(&self) -> String {
        match self {
            DecodeStep::Cpu(t, h) => format!(
                "decoder steps on the CPU in Rust ({} thread{}, {}; {:.1} MB of float32 weights read as exact float16 copies)",
                t.count(),
                if t.count() == 1 { "" } else { "s" },
                crate::kernel::Isa::native_name(),
                h.bytes() as f64 / 1e6
            ),
            DecodeStep::Mlx(why) => {
                format!("decoder steps through MLX's graph; the CPU step is not used: {why}")
            }
        }
    }
}

/// A LayerNorm's weight and bias.
#[derive(Debug, Clone, Copy)]
struct Norm<'m> {
    weight: &'m [f32],
    bias: &'m [f32],
}

impl<'m> Norm<'m> {
    fn new(n: &'m LayerNorm, what: &str) -> std::result::Result<Self, String> {
        Ok(Norm {
            weight: f32s(&n.weight, what)?,
            bias: f32s(&n.bias, what)?,
        })
    }

    /// `(x − mean) · rsqrt(var + eps) · w + b`, as MLX's `layer_norm` computes it.
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let r = 1.0 / (var + LN_EPS).sqrt();
        x.iter()
            .zip(self.weight.iter().zip(self.bias))
            .map(|(v, (w, b))| (v - mean) * r * w + b)
            .collect()
    }
}

fn f32s<'a>(a: &'a Array, what: &str) -> std::result::Result<&'a [f32], String> {
    a.try_as_slice::<f32>()
        .map_err(|e| format!("{what} is not readable as float32 ({e})"))
}

/// A weight matrix as the step reads it.
#[derive(Debug, Clone, Copy)]
enum Mat<'m> {
    Slices(MatrixSlices<'m>),
    Half(HalfMatrix<'m>),
}

impl<'m> Mat<'m> {
    /// `m`, read from `half` instead when that copy exists.
    fn new(m: MatrixSlices<'m>, half: Option<&'m Vec<u16>>) -> Self {
        match (m, half) {
            (MatrixSlices::Dense { rows, cols, .. }, Some(bits)) => {
                Mat::Half(HalfMatrix { rows, cols, bits })
            }
            _ => Mat::Slices(m),
        }
    }
}

/// A linear layer as slices.
#[derive(Debug, Clone, Copy)]
struct Lin<'m> {
    matrix: Mat<'m>,
    bias: Option<&'m [f32]>,
}

impl<'m> Lin<'m> {
    fn new(
        l: &'m Linear,
        half: Option<&'m Vec<u16>>,
        what: &str,
    ) -> std::result::Result<Self, String> {
        let (matrix, bias) = l.slices().ok_or_else(|| {
            format!("{what}: half-precision weights without upcast, or a quantization the CPU kernel does not handle")
        })?;
        Ok(Lin {
            matrix: Mat::new(matrix, half),
            bias,
        })
    }

    /// `x · Wᵀ + b` for one input row.
    fn forward(&self, x: &[f32], threads: &Threads) -> Result<Vec<f32>> {
        let mut y = vec![0.0f32; rows(&self.matrix)];
        matvec(&self.matrix, x, &mut y, threads)?;
        if let Some(b) = self.bias {
            y.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
        Ok(y)
    }
}

fn rows(m: &Mat<'_>) -> usize {
    match m {
        Mat::Slices(MatrixSlices::Dense { rows, .. }) => *rows,
        Mat::Slices(MatrixSlices::Quantized(q)) => q.layout.rows,
        Mat::Half(h) => h.rows,
    }
}

fn cols(m: &Mat<'_>) -> usize {
    match m {
        Mat::Slices(MatrixSlices::Dense { cols, .. }) => *cols,
        Mat::Slices(MatrixSlices::Quantized(q)) => q.layout.cols,
        Mat::Half(h) => h.cols,
    }
}

/// `out = W · x`, output rows split over `threads`.
fn matvec(m: &Mat<'_>, x: &[f32], out: &mut [f32], threads: &Threads) -> Result<()> {
    if x.len() != cols(m) || out.len() != rows(m) {
        return Err(RunnerError::Internal(format!(
            "decoder step product: {} inputs for {}, {} outputs for {}",
            x.len(),
            cols(m),
            out.len(),
            rows(m)
        )));
    }
    match m {
        Mat::Half(h) => {
            h.matvec(x, out, threads);
            Ok(())
        }
        Mat::Slices(MatrixSlices::Dense { weight, rows, cols }) => {
            threads.split_rows(out, rows * cols, 1, |first, part| {
                for (i, o) in part.iter_mut().enumerate() {
                    *o = dot_product(&weight[(first + i) * cols..][..*cols], x);
                }
            });
            Ok(())
        }
        Mat::Slices(MatrixSlices::Quantized(q)) => q
            .matmul_t(x, out, Isa::Native, threads)
            .map_err(|e| RunnerError::Internal(format!("quantized product: {e}"))),
    }
}

/// One attention's projections.
#[derive(Debug)]
struct Attn<'m> {
    query: Lin<'m>,
    key: Lin<'m>,
    value: Lin<'m>,
    out: Lin<'m>,
}

impl<'m> Attn<'m> {
    /// `halves`: float16 copies of query, key, value, out.
    fn new(
        a: &'m MultiHeadAttention,
        halves: [Option<&'m Vec<u16>>; 4],
        what: &str,
    ) -> std::result::Result<Self, String> {
        let [q, k, v, o] = halves;
        Ok(Attn {
            query: Lin::new(&a.query, q, &format!("{what}.query"))?,
            key: Lin::new(&a.key, k, &format!("{what}.key"))?,
            value: Lin::new(&a.value, v, &format!("{what}.value"))?,
            out: Lin::new(&a.out, o, &format!("{what}.out"))?,
        })
    }
}

#[derive(Debug)]
struct Layer<'m> {
    attn: Attn<'m>,
    attn_ln: Norm<'m>,
    cross: Attn<'m>,
    cross_ln: Norm<'m>,
    mlp1: Lin<'m>,
    mlp2: Lin<'m>,
    mlp_ln: Norm<'m>,
}

/// Keys (scaled) and values of one attention, head-major: head `h`, position `t` at
/// `(h · cap + t) · head_dim`.
#[derive(Debug, Clone)]
struct HeadMajor {
    keys: Vec<f32>,
    values: Vec<f32>,
    cap: usize,
    len: usize,
}

/// One window's state for [`CpuStep`]: self-attention caches and the audio's
/// cross-attention keys and values, per layer.
#[derive(Debug)]
pub struct StepCache {
    layers: Vec<(HeadMajor, HeadMajor)>,
    len: usize,
}

impl StepCache {
    /// Tokens in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Whisper's decode step on slices; see the module docs.
#[derive(Debug)]
pub struct CpuStep<'m> {
    embed: Mat<'m>,
    positional: &'m [f32],
    layers: Vec<Layer<'m>>,
    ln: Norm<'m>,
    n_head: usize,
    state: usize,
    n_ctx: usize,
    scale: f32,
    threads: &'m Threads,
}

impl<'m> CpuStep<'m> {
    /// The step for `decoder`, reading the float16 copies in `halves` where they
    /// exist, or why its weights cannot be read as float32 slices.
    pub fn new(
        decoder: &'m TextDecoder,
        threads: &'m Threads,
        halves: Option<&'m HalfCopies>,
    ) -> std::result::Result<Self, String> {
        let embed = decoder.token_embedding.slices().ok_or(
            "decoder.token_embedding: half-precision weights without upcast, or a quantization the CPU kernel does not handle",
        )?;
        let embed = Mat::new(embed, halves.and_then(|h| h.embed.as_ref()));
        let layers = decoder
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let p = format!("decoder.blocks.{i}");
                let (cross, cross_ln) = b
                    .cross
                    .as_ref()
                    .ok_or("a decoder block without cross-attention")?;
                let layer = halves.and_then(|h| h.layers.get(i));
                let h = |k: usize| layer.and_then(|l| l[k].as_ref());
                Ok(Layer {
                    attn: Attn::new(&b.attn, [h(0), h(1), h(2), h(3)], &format!("{p}.attn"))?,
                    attn_ln: Norm::new(&b.attn_ln, &format!("{p}.attn_ln"))?,
                    cross: Attn::new(cross, [h(4), None, None, h(5)], &format!("{p}.cross_attn"))?,
                    cross_ln: Norm::new(cross_ln, &format!("{p}.cross_attn_ln"))?,
                    mlp1: Lin::new(&b.mlp1, h(6), &format!("{p}.mlp1"))?,
                    mlp2: Lin::new(&b.mlp2, h(7), &format!("{p}.mlp2"))?,
                    mlp_ln: Norm::new(&b.mlp_ln, &format!("{p}.mlp_ln"))?,
                })
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let first = decoder.blocks.first().ok_or("a decoder without layers")?;
        let state = cols(&embed);
        let n_head = first.attn.n_head as usize;
        if n_head == 0 || state % n_head != 0 {
            return Err(format!("{state} features do not split into {n_head} heads"));
        }
        let positional = f32s(&decoder.positional, "decoder.positional_embedding")?;
        if positional.len() != decoder.n_ctx * state {
            return Err("decoder.positional_embedding has an unexpected size".into());
        }
        Ok(CpuStep {
            embed,
            positional,
            layers,
            ln: Norm::new(&decoder.ln, "decoder.ln")?,
            n_head,
            state,
            n_ctx: decoder.n_ctx,
            scale: first.attn.scale,
            threads,
        })
    }

    /// The step's cache for a window whose prompt MLX has run into `cache`: the
    /// audio's keys and values and the prompt's self-attention keys and values, copied.
    pub fn import(&self, cache: &DecoderCache) -> Result<StepCache> {
        let hd = self.state / self.n_head;
        let layers = cache
            .cross
            .iter()
            .zip(&cache.past)
            .map(|(cross, past)| {
                let cross = import_cross(cross)?;
                let mut own = HeadMajor {
                    keys: vec![0.0; self.n_ctx * self.state],
                    values: vec![0.0; self.n_ctx * self.state],
                    cap: self.n_ctx,
                    len: 0,
                };
                if let Some((k, v)) = past {
                    let (k, v) = (slice_of(k)?, slice_of(v)?);
                    for (kt, vt) in k.chunks_exact(self.state).zip(v.chunks_exact(self.state)) {
                        own.push(kt, vt, self.scale, hd);
                    }
                }
                Ok((own, cross))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StepCache {
            layers,
            len: cache.offset,
        })
    }

    /// Feeds `token` at position `cache.len()`; returns its logits (`[vocab]`).
    pub fn step(&self, token: u32, cache: &mut StepCache) -> Result<Vec<f32>> {
        let (d, pos) = (self.state, cache.len);
        if pos >= self.n_ctx {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: pos + 1,
                context_length: self.n_ctx,
            });
        }
        let mut x = self.embedding_row(token)?;
        add(&mut x, &self.positional[pos * d..(pos + 1) * d]);
        let hd = d / self.n_head;
        let t = self.threads;
        for (layer, (own, cross)) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = layer.attn_ln.apply(&x);
            let q = scaled(layer.attn.query.forward(&h, t)?, self.scale);
            let k = layer.attn.key.forward(&h, t)?;
            let v = layer.attn.value.forward(&h, t)?;
            own.push(&k, &v, self.scale, hd);
            let a = attend(&q, own, hd, t);
            add(&mut x, &layer.attn.out.forward(&a, t)?);

            let h = layer.cross_ln.apply(&x);
            let q = scaled(layer.cross.query.forward(&h, t)?, self.scale);
            let a = attend(&q, cross, hd, t);
            add(&mut x, &layer.cross.out.forward(&a, t)?);

            let h = layer.mlp_ln.apply(&x);
            let mut m = layer.mlp1.forward(&h, t)?;
            crate::kernel::mlx_math::gelu_in_place(&mut m);
            add(&mut x, &layer.mlp2.forward(&m, t)?);
        }
        cache.len += 1;
        let x = self.ln.apply(&x);
        let mut logits = vec![0.0f32; rows(&self.embed)];
        matvec(&self.embed, &x, &mut logits, t)?;
        Ok(logits)
    }

    fn embedding_row(&self, token: u32) -> Result<Vec<f32>> {
        let row = token as usize;
        if row >= rows(&self.embed) {
            return Err(RunnerError::Internal(format!(
                "token id {token} outside the vocabulary"
            )));
        }
        let d = self.state;
        Ok(match &self.embed {
            Mat::Slices(MatrixSlices::Dense { weight, .. }) => {
                weight[row * d..(row + 1) * d].to_vec()
            }
            Mat::Slices(MatrixSlices::Quantized(q)) => {
                let mut out = vec![0.0f32; d];
                q.dequantize_row(row, &mut out);
                out
            }
            Mat::Half(h) => h.bits[row * d..(row + 1) * d]
                .iter()
                .map(|&b| f16_to_f32(b))
                .collect(),
        })
    }
}

impl HeadMajor {
    /// Appends one position's keys (scaled here, as MLX scales them) and values,
    /// `[heads · head_dim]` each.
    fn push(&mut self, k: &[f32], v: &[f32], scale: f32, hd: usize) {
        let t = self.len;
        for (h, (kh, vh)) in k.chunks_exact(hd).zip(v.chunks_exact(hd)).enumerate() {
            let at = (h * self.cap + t) * hd;
            self.keys[at..at + hd]
                .iter_mut()
                .zip(kh)
                .for_each(|(o, k)| *o = k * scale);
            self.values[at..at + hd].copy_from_slice(vh);
        }
        self.len += 1;
    }
}

/// The audio's keys `[1, h, d, T]` (scaled) and values `[1, h, T, d]` as head-major
/// copies.
fn import_cross(kv: &HeadKv) -> Result<HeadMajor> {
    let cap = kv.v.dim(2) as usize;
    let keys = kv.k.transpose_axes(&[0, 1, 3, 2])?.reshape(&[-1])?;
    let values = kv.v.reshape(&[-1])?;
    Ok(HeadMajor {
        keys: slice_of(&keys)?.to_vec(),
        values: slice_of(&values)?.to_vec(),
        cap,
        len: cap,
    })
}

fn slice_of(a: &Array) -> Result<&[f32]> {
    a.try_as_slice::<f32>()
        .map_err(|e| RunnerError::Internal(format!("decoder cache: {e}")))
}

/// Softmax attention of one query (`[heads · head_dim]`, scaled) over the positions
/// `kv` holds, heads split over `threads`: `softmax(q · kᵀ) · v` per head.
fn attend(q: &[f32], kv: &HeadMajor, hd: usize, threads: &Threads) -> Vec<f32> {
    let mut out = vec![0.0f32; q.len()];
    let heads = q.len() / hd;
    threads.split_rows(&mut out, 2 * heads * kv.len * hd, hd, |first, part| {
        let mut scores = vec![0.0f32; kv.len];
        for (i, oh) in part.chunks_exact_mut(hd).enumerate() {
            let h = first + i;
            let qh = &q[h * hd..(h + 1) * hd];
            let base = h * kv.cap * hd;
            let keys = &kv.keys[base..base + kv.len * hd];
            let values = &kv.values[base..base + kv.len * hd];
            let mut max = f32::NEG_INFINITY;
            for (s, k) in scores.iter_mut().zip(keys.chunks_exact(hd)) {
                *s = dot_product(qh, k);
                max = max.max(*s);
            }
            let mut sum = 0.0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let inv = 1.0 / sum;
            for (s, v) in scores.iter().zip(values.chunks_exact(hd)) {
                let p = s * inv;
                oh.iter_mut().zip(v).for_each(|(o, v)| *o += p * v);
            }
        }
    });
    out
}

fn scaled(mut x: Vec<f32>, scale: f32) -> Vec<f32> {
    x.iter_mut().for_each(|v| *v *= scale);
    x
}

/// `h += x`, element by element.
fn add(h: &mut [f32], x: &[f32]) {
    h.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}

impl crate::whisper::Whisper {
    /// How decode steps run (for `--verbose`): the CPU step, or why not.
    pub fn decode_step(&self) -> String {
        self.model.step.describe()
    }
}
