//! Linear layers and token embeddings, unquantized or MLX affine quantized.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array, Device, DeviceType, Dtype, Stream};

use crate::config::{QuantParams, Quantization};
use crate::error::{Result, RunnerError};
use crate::quant;
use crate::weights::Weights;

/// Packed weight, scales and biases of an affine-quantized `[out, in]` matrix.
#[derive(Debug)]
struct Packed {
    weight: Array,
    scales: Array,
    biases: Array,
    params: QuantParams,
}

/// Extra CPU streams to split large quantized matrix products over.
///
/// MLX's CPU backend runs each stream on its own thread, and its quantized
/// matrix-vector kernel uses one core. Splitting a matrix's output rows into shards, each
/// multiplied on its own stream, uses more cores; rows are independent, so the result is
/// bit-identical. Matrices with fewer than [`Parallelism::MIN_ROWS`] output rows are not
/// split (the cross-stream synchronisation would cost more than it saves).
#[derive(Debug, Clone, Default)]
pub struct Parallelism {
    streams: Vec<Stream>,
}

impl Parallelism {
    /// Splits products of at least this many output rows.
    pub const MIN_ROWS: usize = 512;

    /// No splitting: everything on the default stream.
    pub fn none() -> Self {
        Self::default()
    }

    /// `shards` CPU streams (1 or less: no splitting). Nothing is split when MLX's
    /// default device is a GPU (Metal): its kernels use the whole GPU already.
    pub fn cpu(shards: usize) -> Self {
        let on_cpu = Device::try_default()
            .and_then(|d| d.get_type())
            .map(|t| matches!(t, DeviceType::Cpu))
            .unwrap_or(false);
        let streams = if shards > 1 && on_cpu {
            (0..shards)
                .map(|_| Stream::new_with_device(&Device::cpu()))
                .collect()
        } else {
            Vec::new()
        };
        Parallelism { streams }
    }

    fn shards_for(&self, rows: usize) -> usize {
        if self.streams.len() > 1 && rows >= Self::MIN_ROWS {
            self.streams.len()
        } else {
            1
        }
    }
}

#[derive(Debug)]
enum Matrix {
    Dense(Array),
    /// The whole matrix, plus row shards (views of it) and the streams they run on
    /// when the product is split.
    Quantized(Packed, Vec<(Packed, Stream)>),
}

impl Matrix {
    fn load(
        weights: &mut Weights,
        quantization: Option<&Quantization>,
        path: &str,
        out_dims: usize,
        in_dims: usize,
        parallel: &Parallelism,
    ) -> Result<Self> {
        let params = quant::resolve(quantization, weights, path, in_dims)?;
        let name = format!("{path}.weight");
        let weight = weights.take(&name)?;
        let Some(params) = params else {
            check_shape(&name, &weight, &[out_dims, in_dims])?;
            return Ok(Matrix::Dense(weight));
        };
        let scales_name = format!("{path}.scales");
        let biases_name = format!("{path}.biases");
        let scales = weights.take(&scales_name)?;
        let biases = weights.take(&biases_name)?;
        let groups = in_dims / params.group_size as usize;
        check_shape(
            &name,
            &weight,
            &[out_dims, in_dims * params.bits as usize / 32],
        )?;
        check_shape(&scales_name, &scales, &[out_dims, groups])?;
        check_shape(&biases_name, &biases, &[out_dims, groups])?;
        let packed = Packed {
            weight,
            scales,
            biases,
            params,
        };
        let shards = parallel.shards_for(out_dims);
        let mut parts = Vec::new();
        if shards > 1 {
            let rows = out_dims.div_ceil(shards) as i32;
            for (i, stream) in parallel.streams.iter().enumerate() {
                let i = i as i32;
                let range = (i * rows)..((i + 1) * rows).min(out_dims as i32);
                let shard = Packed {
                    weight: packed.weight.index(range.clone()),
                    scales: packed.scales.index(range.clone()),
                    biases: packed.biases.index(range),
                    params,
                };
                parts.push((shard, stream.clone()));
            }
        }
        Ok(Matrix::Quantized(packed, parts))
    }

    /// `x @ Wᵀ`.
    fn matmul_t(&self, x: &Array) -> Result<Array> {
        Ok(match self {
            Matrix::Dense(w) => ops::matmul(x, w.t())?,
            Matrix::Quantized(whole, _)
                if rows(x) >= DEQUANTIZE_MIN_ROWS && whole.scales.dtype() == Dtype::Float32 =>
            {
                let p = whole;
                let w = ops::dequantize(
                    &p.weight,
                    &p.scales,
                    &p.biases,
                    p.params.group_size,
                    p.params.bits,
                )?;
                ops::matmul(x, w.t())?
            }
            Matrix::Quantized(whole, shards) if shards.is_empty() => qmm(x, whole)?,
            Matrix::Quantized(_, shards) => {
                let outs = shards
                    .iter()
                    .map(|(p, stream)| mlx_rs::with_stream(stream, || qmm(x, p)))
                    .collect::<Result<Vec<Array>>>()?;
                ops::concatenate(&outs, -1)?
            }
        })
    }
}

/// From this many rows of input on (prefill), a quantized product dequantizes the
/// weight and multiplies with BLAS: MLX's CPU `quantized_matmul` costs one
/// matrix-vector product per row, while dequantizing costs about two, after which
/// OpenBLAS's sgemm is nearly free. Decoding (one row) keeps the packed kernel, and so
/// do half-precision weights (Metal, or `upcast` off), whose fast path is the kernel.
pub const DEQUANTIZE_MIN_ROWS: usize = 8;

/// Rows of `x`: every dimension but the last.
fn rows(x: &Array) -> usize {
    let shape = x.shape();
    shape[..shape.len().saturating_sub(1)]
        .iter()
        .map(|&d| d as usize)
        .product()
}

fn qmm(x: &Array, p: &Packed) -> Result<Array> {
    Ok(ops::quantized_matmul(
        x,
        &p.weight,
        &p.scales,
        &p.biases,
        true,
        p.params.group_size,
        p.params.bits,
    )?)
}

fn check_shape(name: &str, a: &Array, want: &[usize]) -> Result<()> {
    let got: Vec<usize> = a.shape().iter().map(|&d| d as usize).collect();
    if got != want {
        return Err(RunnerError::BadTensor {
            name: name.into(),
            message: format!("shape {got:?}, expected {want:?}"),
        });
    }
    Ok(())
}

/// `y = x Wᵀ + b`, with `W` dense or quantized.
#[derive(Debug)]
pub struct Linear {
    matrix: Matrix,
    bias: Option<Array>,
}

impl Linear {
    /// Takes `{path}.weight` (plus `.scales`/`.biases` when quantized, `.bias` when
    /// `bias`) out of `weights`.
    pub fn load(
        weights: &mut Weights,
        quantization: Option<&Quantization>,
        path: &str,
        in_dims: usize,
        out_dims: usize,
        bias: bool,
        parallel: &Parallelism,
    ) -> Result<Self> {
        let matrix = Matrix::load(weights, quantization, path, out_dims, in_dims, parallel)?;
        let bias = if bias {
            let name = format!("{path}.bias");
            let b = weights.take(&name)?;
            check_shape(&name, &b, &[out_dims])?;
            Some(b)
        } else {
            None
        };
        Ok(Linear { matrix, bias })
    }

    pub fn forward(&self, x: &Array) -> Result<Array> {
        let y = self.matrix.matmul_t(x)?;
        Ok(match &self.bias {
            Some(b) => ops::add(&y, b)?,
            None => y,
        })
    }
}

/// Token embedding `[vocab, dim]`, dense or quantized; usable as the output projection
/// when the model ties its embeddings.
#[derive(Debug)]
pub struct Embedding {
    matrix: Matrix,
}

impl Embedding {
    pub fn load(
        weights: &mut Weights,
        quantization: Option<&Quantization>,
        path: &str,
        vocab: usize,
        dim: usize,
        parallel: &Parallelism,
    ) -> Result<Self> {
        Ok(Embedding {
            matrix: Matrix::load(weights, quantization, path, vocab, dim, parallel)?,
        })
    }

    /// Rows for token ids `ids` (any shape) → `ids.shape + [dim]`.
    pub fn forward(&self, ids: &Array) -> Result<Array> {
        Ok(match &self.matrix {
            Matrix::Dense(w) => w.index(ids),
            Matrix::Quantized(p, _) => ops::dequantize(
                p.weight.index(ids),
                p.scales.index(ids),
                &p.biases.index(ids),
                p.params.group_size,
                p.params.bits,
            )?,
        })
    }

    /// `x @ Eᵀ`: logits from hidden states with tied embeddings.
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        self.matrix.matmul_t(x)
    }
}
