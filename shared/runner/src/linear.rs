//! Linear layers and token embeddings, unquantized or MLX affine quantized.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array, Device, DeviceType, Dtype};

use crate::config::{QuantParams, Quantization};
use crate::error::{Result, RunnerError};
use crate::kernel::{Isa, Layout, QuantMatrix, Threads};
use crate::weights::Weights;
use crate::{quant, quant_ops};

/// Packed weight, scales and (affine mode) biases of a quantized `[out, in]` matrix.
#[derive(Debug)]
struct Packed {
    weight: Array,
    scales: Array,
    biases: Option<Array>,
    params: QuantParams,
}

/// How quantized products run: on MLX's CPU backend, through this crate's
/// [`kernel`] (Rust loops over the packed weights, split over [`Threads`]) when
/// the input has fewer than [`DEQUANTIZE_MIN_ROWS`] rows; on Metal, and with the
/// kernel turned off, through MLX's `quantized_matmul`.
#[derive(Debug, Clone, Default)]
pub struct Parallelism {
    threads: Threads,
    kernel: bool,
}

impl Parallelism {
    /// MLX's own kernels only (one thread of ours).
    pub fn none() -> Self {
        Self::default()
    }

    /// The Rust kernel on `threads` threads when MLX's default device is the CPU and
    /// `kernel` is true; MLX's kernels otherwise (Metal uses the whole GPU already).
    pub fn cpu(threads: usize, kernel: bool) -> Self {
        let on_cpu = Device::try_default()
            .and_then(|d| d.get_type())
            .map(|t| matches!(t, DeviceType::Cpu))
            .unwrap_or(false);
        if on_cpu && kernel {
            Parallelism {
                threads: Threads::new(threads),
                kernel: true,
            }
        } else {
            Self::none()
        }
    }

    /// Whether quantized products with few rows run on the Rust kernel.
    pub fn uses_kernel(&self) -> bool {
        self.kernel
    }

    /// Threads the Rust kernel uses.
    pub fn threads(&self) -> &Threads {
        &self.threads
    }
}

#[derive(Debug)]
enum Matrix {
    Dense(Array),
    /// Packed weights, and the CPU kernel's settings.
    Quantized(Packed, Parallelism),
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
        let groups = in_dims / params.group_size as usize;
        let biases = if params.mode.has_biases() {
            let biases = weights.take(&biases_name)?;
            check_shape(&biases_name, &biases, &[out_dims, groups])?;
            Some(biases)
        } else {
            None
        };
        check_shape(
            &name,
            &weight,
            &[out_dims, in_dims * params.bits as usize / 32],
        )?;
        check_shape(&scales_name, &scales, &[out_dims, groups])?;
        let packed = Packed {
            weight,
            scales,
            biases,
            params,
        };
        Ok(Matrix::Quantized(packed, parallel.clone()))
    }

    /// `x @ Wᵀ`.
    fn matmul_t(&self, x: &Array) -> Result<Array> {
        Ok(match self {
            Matrix::Dense(w) => ops::matmul(x, w.t())?,
            Matrix::Quantized(whole, _)
                if rows(x) >= DEQUANTIZE_MIN_ROWS && whole.scales.dtype() == Dtype::Float32 =>
            {
                let p = whole;
                let w = quant_ops::dequantize(&p.weight, &p.scales, p.biases.as_ref(), p.params)?;
                ops::matmul(x, w.t())?
            }
            Matrix::Quantized(p, par) if par.kernel => match kernel_product(x, p, &par.threads)? {
                Some(y) => y,
                None => qmm(x, p)?,
            },
            Matrix::Quantized(p, _) => qmm(x, p)?,
        })
    }
}

/// A quantized layer borrowed as slices for [`crate::kernel`], with its threads.
#[derive(Debug, Clone, Copy)]
pub struct KernelLinear<'a> {
    pub matrix: QuantMatrix<'a>,
    pub bias: Option<&'a [f32]>,
    pub threads: &'a Threads,
}

impl KernelLinear<'_> {
    /// `x · Wᵀ + b` for `x` holding whole rows of `cols` inputs.
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        let mut y = product(&self.matrix, x, self.threads)?;
        if let Some(b) = self.bias {
            for row in y.chunks_exact_mut(b.len()) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v += b;
                }
            }
        }
        Ok(y)
    }

    /// Output features.
    pub fn out_dims(&self) -> usize {
        self.matrix.layout.rows
    }
}

impl Matrix {
    fn kernel(&self) -> Option<KernelLinear<'_>> {
        match self {
            Matrix::Quantized(p, par) if par.kernel => Some(KernelLinear {
                matrix: p.kernel()?,
                bias: None,
                threads: &par.threads,
            }),
            _ => None,
        }
    }
}

/// A weight matrix borrowed as float32 slices, for decode steps computed in Rust that
/// read dense matrices as well as quantized ones (Whisper's CPU step).
#[derive(Debug, Clone, Copy)]
pub enum MatrixSlices<'a> {
    /// `[rows, cols]`, row-major.
    Dense {
        weight: &'a [f32],
        rows: usize,
        cols: usize,
    },
    Quantized(QuantMatrix<'a>),
}

impl Matrix {
    /// The matrix as slices, whatever the kernel setting; `None` for half precision
    /// (no upcast) or a layout the kernel does not handle.
    fn slices(&self) -> Option<MatrixSlices<'_>> {
        match self {
            Matrix::Dense(w) => {
                let shape = w.shape();
                (shape.len() == 2).then_some(())?;
                Some(MatrixSlices::Dense {
                    weight: w.try_as_slice::<f32>().ok()?,
                    rows: shape[0] as usize,
                    cols: shape[1] as usize,
                })
            }
            Matrix::Quantized(p, _) => p.kernel().map(MatrixSlices::Quantized),
        }
    }
}

/// From this many rows of input on (prefill), a quantized product dequantizes the
/// weight and multiplies with BLAS: MLX's CPU `quantized_matmul` costs one
/// matrix-vector product per row, while dequantizing costs about two, after which
/// OpenBLAS's sgemm is nearly free. Decoding (one row) keeps the packed kernel, and so
/// do half-precision weights (Metal, or `upcast` off), whose fast path is the kernel.
pub const DEQUANTIZE_MIN_ROWS: usize = 8;

/// Rows of `x`: every dimension but the last.
pub(crate) fn rows(x: &Array) -> usize {
    let shape = x.shape();
    shape[..shape.len().saturating_sub(1)]
        .iter()
        .map(|&d| d as usize)
        .product()
}

impl Packed {
    /// The packed matrix as slices for [`crate::kernel`], or `None` when the kernel does not
    /// apply (half-precision scales, a layout it does not handle).
    fn kernel(&self) -> Option<QuantMatrix<'_>> {
        let biases = self.biases.as_ref()?;
        let f32s = self.scales.dtype() == Dtype::Float32 && biases.dtype() == Dtype::Float32;
        if !f32s || self.weight.dtype() != Dtype::Uint32 {
            return None;
        }
        let shape = self.weight.shape();
        let layout = Layout {
            rows: shape[0] as usize,
            cols: shape[1] as usize * 32 / self.params.bits as usize,
            bits: self.params.bits as usize,
            group_size: self.params.group_size as usize,
        };
        QuantMatrix::new(
            layout,
            self.weight.try_as_slice().ok()?,
            self.scales.try_as_slice().ok()?,
            biases.try_as_slice().ok()?,
        )
        .ok()
    }
}

/// `x @ Wᵀ` through [`crate::kernel`], or `None` when it does not apply (half-precision
/// scales or input, an input that is not row-contiguous).
fn kernel_product(x: &Array, p: &Packed, threads: &Threads) -> Result<Option<Array>> {
    if x.dtype() != Dtype::Float32 {
        return Ok(None);
    }
    let (Some(m), Ok(xs)) = (p.kernel(), x.try_as_slice::<f32>()) else {
        return Ok(None);
    };
    let out = product(&m, xs, threads)?;
    let mut out_shape = x.shape().to_vec();
    if let Some(last) = out_shape.last_mut() {
        *last = m.layout.rows as i32;
    }
    Ok(Some(Array::from_slice(&out, &out_shape)))
}

/// `x · Wᵀ` on slices (`x`: rows of `cols` values).
fn product(m: &QuantMatrix<'_>, x: &[f32], threads: &Threads) -> Result<Vec<f32>> {
    let mut out = vec![0.0f32; x.len() / m.layout.cols * m.layout.rows];
    m.matmul_t(x, &mut out, Isa::Native, threads)
        .map_err(|e| RunnerError::Internal(format!("quantized product: {e}")))?;
    Ok(out)
}

fn qmm(x: &Array, p: &Packed) -> Result<Array> {
    quant_ops::quantized_matmul(x, &p.weight, &p.scales, p.biases.as_ref(), p.params)
}

/// An error naming tensor `name` unless its shape is `want`.
pub(crate) fn check_shape(name: &str, a: &Array, want: &[usize]) -> Result<()> {
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

    /// This layer on the CPU kernel, for decode steps computed on slices; `None` when
    /// it does not run there (dense, half precision, Metal, or the kernel turned off).
    pub fn kernel(&self) -> Option<KernelLinear<'_>> {
        let bias = match &self.bias {
            Some(b) => Some(b.try_as_slice::<f32>().ok()?),
            None => None,
        };
        let mut k = self.matrix.kernel()?;
        k.bias = bias;
        Some(k)
    }

    /// The weight and bias as float32 slices (see [`MatrixSlices`]).
    pub fn slices(&self) -> Option<(MatrixSlices<'_>, Option<&[f32]>)> {
        let bias = match &self.bias {
            Some(b) => Some(b.try_as_slice::<f32>().ok()?),
            None => None,
        };
        Some((self.matrix.slices()?, bias))
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
            Matrix::Quantized(p, _) => quant_ops::dequantize(
                &p.weight.index(ids),
                &p.scales.index(ids),
                p.biases.as_ref().map(|b| b.index(ids)).as_ref(),
                p.params,
            )?,
        })
    }

    /// The embedding on the CPU kernel (for tied output projections and row lookups
    /// in decode steps computed on slices), when it runs there.
    pub fn kernel(&self) -> Option<KernelLinear<'_>> {
        self.matrix.kernel()
    }

    /// The table as float32 slices (see [`MatrixSlices`]).
    pub fn slices(&self) -> Option<MatrixSlices<'_>> {
        self.matrix.slices()
    }

    /// `x @ Eᵀ`: logits from hidden states with tied embeddings.
    pub fn as_linear(&self, x: &Array) -> Result<Array> {
        self.matrix.matmul_t(x)
    }
}
