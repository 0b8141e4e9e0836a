//! Mixture-of-experts feed-forward blocks as mlx-lm builds them (Mixtral, Qwen3-MoE): a
//! router (`gate`, a linear layer to one logit per expert), top-k routing, and a SwiGLU
//! whose experts' weights are stacked per layer (`switch_mlp.{gate,up,down}_proj`,
//! `[experts, out, in]`, mlx-lm's `SwitchGLU`).
//!
//! On MLX the chosen experts are multiplied with `gather_qmm` (`gather_mm` when dense) on
//! every token at once, as mlx-lm does. The CPU decode step ([`CpuMoe`]) routes its one
//! token in Rust and reads only the chosen experts' rows, so a decode step costs the
//! active parameters, not all of them.

use mlx_rs::ops::indexing::{Ellipsis, IndexOp, NewAxis};
use mlx_rs::{ops, Array};

use crate::config::{QuantParams, Quantization};
use crate::error::{Result, RunnerError};
use crate::kernel::mxfp4::Mxfp4Matrix;
use crate::kernel::{Layout, QuantMatrix, Threads};
use crate::linear::{check_shape, KernelLinear, Linear, Parallelism};
use crate::mlp::Activation;
use crate::weights::Weights;
use crate::{quant, quant_ops};

/// How the router's logits choose experts and weigh them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Mixtral: the `k` largest logits, then a softmax over those `k`.
    TopKThenSoftmax,
    /// Qwen3-MoE: a softmax over all experts, the `k` largest probabilities, divided by
    /// their sum when `normalize` (`norm_topk_prob`).
    SoftmaxThenTopK { normalize: bool },
}

/// The gating of an expert's SwiGLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpertGlu {
    /// `silu(gate) · up` (mlx-lm's `swiglu`).
    Swiglu,
    /// gpt-oss's `swiglu_oai`: the gate clipped from above at 7, `up` to ±7,
    /// `(up + 1) · gate · sigmoid(1.702 · gate)`.
    SwigluOai,
}

const OAI_LIMIT: f32 = 7.0;
const OAI_ALPHA: f32 = 1.702;

impl ExpertGlu {
    fn forward(self, gate: &Array, up: &Array) -> Result<Array> {
        Ok(match self {
            ExpertGlu::Swiglu => Activation::Silu.forward(gate)?.multiply(up)?,
            ExpertGlu::SwigluOai => {
                let limit = Array::from_f32(OAI_LIMIT);
                let g = ops::minimum(gate, &limit)?;
                let u = ops::clip(up, (Array::from_f32(-OAI_LIMIT), limit))?;
                let glu = g.multiply(ops::sigmoid(g.multiply(Array::from_f32(OAI_ALPHA))?)?)?;
                u.add(Array::from_f32(1.0))?.multiply(&glu)?
            }
        })
    }

    fn apply(self, gate: f32, up: f32) -> f32 {
        match self {
            ExpertGlu::Swiglu => Activation::Silu.apply(gate) * up,
            ExpertGlu::SwigluOai => {
                let g = gate.min(OAI_LIMIT);
                let u = up.clamp(-OAI_LIMIT, OAI_LIMIT);
                let sig = 1.0 / (1.0 + (-(g * OAI_ALPHA)).exp());
                (u + 1.0) * (g * sig)
            }
        }
    }
}

/// The sparse layers of a model and their experts.
#[derive(Debug, Clone)]
pub struct MoeSpec {
    pub num_experts: usize,
    pub top_k: usize,
    /// Each expert's hidden size.
    pub intermediate_size: usize,
    pub routing: Routing,
    /// The block's name inside a layer (`block_sparse_moe` in Mixtral, `mlp` in Qwen3-MoE).
    pub module: &'static str,
    /// The router's name in the block (`gate`; gpt-oss: `router`) and whether it has a bias.
    pub router: (&'static str, bool),
    /// The stacked experts' name in the block (`switch_mlp`; gpt-oss: `experts`) and
    /// whether each projection has a bias per expert.
    pub experts: (&'static str, bool),
    pub glu: ExpertGlu,
    /// Which layers are sparse (the others keep the dense MLP).
    pub sparse_layers: Vec<bool>,
}

impl MoeSpec {
    pub fn is_sparse(&self, layer: usize) -> bool {
        self.sparse_layers.get(layer).copied().unwrap_or(false)
    }
}

/// Stacked expert matrices `[experts, out, in]`, dense or affine quantized (mlx-lm's
/// `SwitchLinear` / `QuantizedSwitchLinear`).
#[derive(Debug)]
pub(crate) struct SwitchLinear {
    weight: Array,
    /// Scales, biases (affine mode) and parameters when quantized.
    packed: Option<(Array, Option<Array>, QuantParams)>,
    /// One bias row per expert (`[experts, out]`, gpt-oss).
    bias: Option<Array>,
    experts: usize,
    out_dims: usize,
    in_dims: usize,
    parallel: Parallelism,
}

impl SwitchLinear {
    fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        path: &str,
        experts: usize,
        (in_dims, out_dims): (usize, usize),
        with_bias: bool,
        parallel: &Parallelism,
    ) -> Result<Self> {
        let params = quant::resolve(q, w, path, in_dims)?;
        let name = format!("{path}.weight");
        let weight = w.take(&name)?;
        let packed_in = params.map_or(in_dims, |p| in_dims * p.bits as usize / 32);
        check_shape(&name, &weight, &[experts, out_dims, packed_in])?;
        let mut take = |suffix: &str, shape: &[usize]| -> Result<Array> {
            let name = format!("{path}.{suffix}");
            let a = w.take(&name)?;
            check_shape(&name, &a, shape)?;
            Ok(a)
        };
        let packed = match params {
            None => None,
            Some(p) => {
                let groups = [experts, out_dims, in_dims / p.group_size as usize];
                let scales = take("scales", &groups)?;
                let biases = match p.mode.has_biases() {
                    true => Some(take("biases", &groups)?),
                    false => None,
                };
                Some((scales, biases, p))
            }
        };
        let bias = match with_bias {
            true => Some(take("bias", &[experts, out_dims])?),
            false => None,
        };
        Ok(SwitchLinear {
            weight,
            packed,
            bias,
            experts,
            out_dims,
            in_dims,
            parallel: parallel.clone(),
        })
    }

    /// `x · W[e]ᵀ (+ b[e])` for each expert `e` of `indices`, as mlx-lm's `SwitchLinear`:
    /// `x` is `[..., 1, 1, in]` (or `[..., k, 1, in]`), `indices` `[..., k]`.
    fn forward(&self, x: &Array, indices: &Array) -> Result<Array> {
        let y = match &self.packed {
            Some((scales, biases, p)) => {
                quant_ops::gather_qmm(x, &self.weight, scales, biases.as_ref(), indices, *p)?
            }
            None => ops::gather_mm(x, self.weight.swap_axes(-1, -2)?, None, indices, false)?,
        };
        Ok(match &self.bias {
            Some(b) => y.add(b.take_axis(indices, 0)?.expand_dims(-2)?)?,
            None => y,
        })
    }

    /// Expert `e` as slices for the CPU decode step, or why it cannot be.
    fn expert(&self, e: usize) -> std::result::Result<CpuProjection<'_>, String> {
        let Some((scales, biases, p)) = &self.packed else {
            return Err("the experts are dense".into());
        };
        if !self.parallel.uses_kernel() {
            return Err("the CPU kernel is off".into());
        }
        let half = || "half-precision expert scales".to_string();
        let bias = match &self.bias {
            Some(b) => {
                let all = b.try_as_slice::<f32>().map_err(|_| half())?;
                Some(&all[e * self.out_dims..(e + 1) * self.out_dims])
            }
            None => None,
        };
        let weight = self.weight.try_as_slice::<u32>().map_err(|_| half())?;
        let threads = self.parallel.threads();
        let Some(biases) = biases else {
            // MXFP4: e8m0 scales, no biases.
            let scales = scales.try_as_slice::<u8>().map_err(|_| half())?;
            let (wn, gn) = (
                self.out_dims * self.in_dims / 8,
                self.out_dims * self.in_dims / 32,
            );
            let matrix = Mxfp4Matrix::new(
                self.out_dims,
                self.in_dims,
                &weight[e * wn..(e + 1) * wn],
                &scales[e * gn..(e + 1) * gn],
            )
            .map_err(|err| err.to_string())?;
            return Ok(CpuProjection::Mxfp4 {
                matrix,
                bias,
                threads,
            });
        };
        let layout = Layout {
            rows: self.out_dims,
            cols: self.in_dims,
            bits: p.bits as usize,
            group_size: p.group_size as usize,
        };
        let scales = scales.try_as_slice::<f32>().map_err(|_| half())?;
        let biases = biases.try_as_slice::<f32>().map_err(|_| half())?;
        let (wn, gn) = (
            layout.rows * layout.words_per_row(),
            layout.rows * layout.groups_per_row(),
        );
        let matrix = QuantMatrix::new(
            layout,
            &weight[e * wn..(e + 1) * wn],
            &scales[e * gn..(e + 1) * gn],
            &biases[e * gn..(e + 1) * gn],
        )
        .map_err(|err| err.to_string())?;
        Ok(CpuProjection::Affine(KernelLinear {
            matrix,
            bias,
            threads,
        }))
    }
}

/// One expert's projection on slices: affine through [`crate::kernel`], or MXFP4.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CpuProjection<'a> {
    Affine(KernelLinear<'a>),
    Mxfp4 {
        matrix: Mxfp4Matrix<'a>,
        bias: Option<&'a [f32]>,
        threads: &'a Threads,
    },
}

impl CpuProjection<'_> {
    /// `x · Wᵀ + b` for one row `x`.
    fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        match self {
            CpuProjection::Affine(k) => k.forward(x),
            CpuProjection::Mxfp4 {
                matrix,
                bias,
                threads,
            } => {
                let mut y = matrix
                    .matvec_t(x, threads)
                    .map_err(|e| RunnerError::Internal(format!("MXFP4 product: {e}")))?;
                if let Some(b) = bias {
                    y.iter_mut().zip(*b).for_each(|(v, b)| *v += b);
                }
                Ok(y)
            }
        }
    }
}

/// A sparse feed-forward block: router plus stacked SwiGLU experts.
#[derive(Debug)]
pub(crate) struct MoeBlock {
    router: Linear,
    gate_proj: SwitchLinear,
    up_proj: SwitchLinear,
    down_proj: SwitchLinear,
    top_k: usize,
    routing: Routing,
    glu: ExpertGlu,
}

impl MoeBlock {
    pub(crate) fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        p: &str,
        hidden: usize,
        m: &MoeSpec,
        par: &Parallelism,
    ) -> Result<Self> {
        if m.top_k == 0 || m.top_k > m.num_experts {
            return Err(RunnerError::UnsupportedConfig(format!(
                "{} experts per token out of {} is not a routing",
                m.top_k, m.num_experts
            )));
        }
        let (e, h) = (m.num_experts, m.intermediate_size);
        let (experts, bias) = m.experts;
        let switch = |w: &mut Weights, name: &str, dims| {
            SwitchLinear::load(w, q, &format!("{p}.{experts}.{name}"), e, dims, bias, par)
        };
        let (router, router_bias) = m.router;
        Ok(MoeBlock {
            router: Linear::load(w, q, &format!("{p}.{router}"), hidden, e, router_bias, par)?,
            gate_proj: switch(w, "gate_proj", (hidden, h))?,
            up_proj: switch(w, "up_proj", (hidden, h))?,
            down_proj: switch(w, "down_proj", (h, hidden))?,
            top_k: m.top_k,
            routing: m.routing,
            glu: m.glu,
        })
    }

    /// The block on MLX, every token at once, with mlx-lm's operations.
    pub(crate) fn forward(&self, x: &Array) -> Result<Array> {
        let logits = self.router.forward(x)?;
        let k = self.top_k as i32;
        let (indices, scores) = match self.routing {
            Routing::TopKThenSoftmax => {
                let indices =
                    ops::argpartition_axis(&logits.negative()?, k - 1, -1)?.index((Ellipsis, ..k));
                let scores = logits.take_along_axis(&indices, -1)?;
                (indices, ops::softmax_axis(&scores, -1, true)?)
            }
            Routing::SoftmaxThenTopK { normalize } => {
                let probs = ops::softmax_axis(&logits, -1, true)?;
                let indices = ops::argpartition_axis(&probs, -k, -1)?.index((Ellipsis, -k..));
                let scores = probs.take_along_axis(&indices, -1)?;
                let scores = if normalize {
                    scores.divide(scores.sum_axis(-1, true)?)?
                } else {
                    scores
                };
                (indices, scores)
            }
        };
        let xe = x.expand_dims_axes(&[-2, -3])?;
        let up = self.up_proj.forward(&xe, &indices)?;
        let gate = self.gate_proj.forward(&xe, &indices)?;
        let hidden = self.glu.forward(&gate, &up)?;
        let y = self
            .down_proj
            .forward(&hidden, &indices)?
            .squeeze_axes(&[-2])?;
        Ok(y.multiply(scores.index((Ellipsis, NewAxis)))?
            .sum_axis(-2, false)?)
    }

    /// The block as slices for the CPU decode step, or why it cannot run there.
    pub(crate) fn cpu(&self) -> std::result::Result<CpuMoe<'_>, String> {
        let router = self
            .router
            .kernel()
            .ok_or("the router is not on the CPU kernel")?;
        let experts = (0..self.gate_proj.experts)
            .map(|e| {
                Ok([
                    self.gate_proj.expert(e)?,
                    self.up_proj.expert(e)?,
                    self.down_proj.expert(e)?,
                ])
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(CpuMoe {
            router,
            experts,
            top_k: self.top_k,
            routing: self.routing,
            glu: self.glu,
        })
    }
}

/// A sparse block on slices: routes one token and runs only the chosen experts.
#[derive(Debug)]
pub(crate) struct CpuMoe<'m> {
    router: KernelLinear<'m>,
    /// Per expert: gate, up and down projections.
    experts: Vec<[CpuProjection<'m>; 3]>,
    top_k: usize,
    routing: Routing,
    glu: ExpertGlu,
}

impl CpuMoe<'_> {
    /// The block's output for one token `x`.
    pub(crate) fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        let logits = self.router.forward(x)?;
        let chosen = self.route(&logits);
        let mut out = vec![0.0f32; x.len()];
        for (e, weight) in chosen {
            let [gate, up, down] = &self.experts[e];
            let mut h = gate.forward(x)?;
            for (g, u) in h.iter_mut().zip(up.forward(x)?) {
                *g = self.glu.apply(*g, u);
            }
            let y = down.forward(&h)?;
            for (o, v) in out.iter_mut().zip(&y) {
                *o += v * weight;
            }
        }
        Ok(out)
    }

    /// The chosen experts and their weights, computed as MLX computes them in float32.
    fn route(&self, logits: &[f32]) -> Vec<(usize, f32)> {
        let k = self.top_k;
        match self.routing {
            Routing::TopKThenSoftmax => {
                let top = top_k(logits, k);
                let scores: Vec<f32> = top.iter().map(|&e| logits[e]).collect();
                top.into_iter().zip(softmax(&scores)).collect()
            }
            Routing::SoftmaxThenTopK { normalize } => {
                let probs = softmax(logits);
                let top = top_k(&probs, k);
                let sum: f32 = top.iter().map(|&e| probs[e]).sum();
                top.into_iter()
                    .map(|e| (e, if normalize { probs[e] / sum } else { probs[e] }))
                    .collect()
            }
        }
    }
}

/// Indices of the `k` largest values (the lower index first among equals).
fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// `exp(x - max) / Σ exp(x - max)`.
fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = x.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::{softmax, top_k};

    #[test]
    fn top_k_takes_the_largest_in_order() {
        assert_eq!(top_k(&[0.1, 3.0, -1.0, 2.0], 2), vec![1, 3]);
        assert_eq!(top_k(&[1.0, 1.0, 0.5], 1), vec![0]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }
}
