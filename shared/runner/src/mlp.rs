//! The gated MLP of every decoder here, `down(act(gate(x)) · up(x))`: SwiGLU (llama,
//! qwen) or GeGLU (gemma), on MLX for prompts and fused on the CPU kernel for the few
//! rows of a decode step.

use mlx_rs::{ops, Array, Dtype};

use crate::config::Quantization;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::linear::{rows, KernelLinear, Linear, Parallelism, DEQUANTIZE_MIN_ROWS};
use crate::weights::Weights;

/// The gate activation of the MLP: `down(act(gate(x)) · up(x))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x · sigmoid(x)` (SwiGLU: llama, qwen).
    Silu,
    /// The tanh approximation of GELU (GeGLU: gemma).
    GeluTanh,
}

impl Activation {
    /// The activation on MLX arrays, with MLX's own formulas (`nn.silu`, `nn.gelu_approx`).
    pub fn forward(self, x: &Array) -> Result<Array> {
        Ok(match self {
            Activation::Silu => x.multiply(ops::sigmoid(x)?)?,
            Activation::GeluTanh => {
                let c = Array::from_f32((2.0 / std::f64::consts::PI).sqrt() as f32);
                let cube = x.power(Array::from_f32(3.0))?;
                let inner = x.add(cube.multiply(Array::from_f32(0.044715))?)?;
                let t = ops::tanh(&c.multiply(&inner)?)?;
                Array::from_f32(0.5)
                    .multiply(x)?
                    .multiply(Array::from_f32(1.0).add(&t)?)?
            }
        })
    }

    /// The same on one float, as the CPU decode step computes it.
    pub fn apply(self, g: f32) -> f32 {
        match self {
            Activation::Silu => g * (1.0 / (1.0 + (-g).exp())),
            Activation::GeluTanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt() as f32;
                (0.5 * g) * (1.0 + (c * (g + (g * g * g) * 0.044715)).tanh())
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Mlp {
    pub(crate) gate_proj: Linear,
    pub(crate) up_proj: Linear,
    pub(crate) down_proj: Linear,
    pub(crate) activation: Activation,
}

impl Mlp {
    pub(crate) fn load(
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
            activation: s.activation,
        })
    }

    /// `down(act(gate(x)) · up(x))`.
    pub(crate) fn forward(&self, x: &Array) -> Result<Array> {
        if rows(x) < DEQUANTIZE_MIN_ROWS && x.dtype() == Dtype::Float32 {
            if let Some(y) = self.fused(x)? {
                return Ok(y);
            }
        }
        let gate = self.activation.forward(&self.gate_proj.forward(x)?)?;
        let hidden = gate.multiply(self.up_proj.forward(x)?)?;
        self.down_proj.forward(&hidden)
    }
}

impl Mlp {
    /// The whole MLP on the CPU kernel for a few rows (decoding): one evaluation of
    /// `x` instead of one per product, and the gating in Rust, computed as MLX does
    /// (e.g. `(g · sigmoid(g)) · u`, float32). `None` when a product is not on the kernel.
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
        let y = gated_mlp(&gate, &up, &down, self.activation, xs)?;
        let mut shape = x.shape().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = down.out_dims() as i32;
        }
        Ok(Some(Array::from_slice(&y, &shape)))
    }
}

/// `down(act(g) · u)` with `g = gate(x)`, `u = up(x)`, on slices.
pub(crate) fn gated_mlp(
    gate: &KernelLinear<'_>,
    up: &KernelLinear<'_>,
    down: &KernelLinear<'_>,
    activation: Activation,
    x: &[f32],
) -> Result<Vec<f32>> {
    let mut hidden = gate.forward(x)?;
    let up = up.forward(x)?;
    for (g, u) in hidden.iter_mut().zip(&up) {
        *g = activation.apply(*g) * u;
    }
    down.forward(&hidden)
}
