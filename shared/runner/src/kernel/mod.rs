//! Quantized matrix products for the CPU backend, written in Rust.
//!
//! MLX's CPU `quantized_matmul` multiplies at about 1 GMAC/s on one core, which holds
//! decoding at a tenth of the memory bandwidth. This module computes the same product,
//! `y = x · Wᵀ` with `W` in MLX's affine packed layout as it is loaded (uint32 words,
//! `bits` ∈ {2, 3, 4, 5, 6, 8} values packed little-endian one after another, one float32
//! scale and bias per `group_size` ∈ {32, 64, 128} inputs, `w = scale · q + bias`), for
//! the few rows of `x` a decode step has. Per row and group it computes
//! `scale · Σ q·x + bias · Σ x` in float32, which equals MLX's `Σ x·(scale·q + bias)`
//! within float32 rounding.
//!
//! The inner loops come in two flavours with one safe interface: [`simd`] (AVX2 + FMA
//! on x86_64, chosen at run time) and the portable scalar code here, which other CPUs
//! use and the tests compare against. Output rows are split over [`Threads`].

mod float16;
pub mod mlx_math;
pub mod mxfp4;
mod simd;
mod threads;

pub use float16::{exact_f16, f16_to_f32, to_exact_f16, HalfMatrix};
pub use threads::Threads;

/// Shape and packing of one affine-quantized `[rows, cols]` matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Output rows (`out` features).
    pub rows: usize,
    /// Inputs per row (`in` features, unpacked).
    pub cols: usize,
    pub bits: usize,
    pub group_size: usize,
}

impl Layout {
    /// uint32 words per packed row.
    pub fn words_per_row(&self) -> usize {
        self.cols * self.bits / 32
    }

    /// Groups (scales, biases) per row.
    pub fn groups_per_row(&self) -> usize {
        self.cols / self.group_size
    }

    /// Whether this module's kernels handle the layout.
    pub fn supported(&self) -> bool {
        matches!(self.bits, 2 | 3 | 4 | 5 | 6 | 8)
            && matches!(self.group_size, 32 | 64 | 128)
            && self.cols % self.group_size == 0
            && self.rows > 0
    }
}

/// A quantized matrix borrowed as plain slices.
#[derive(Debug, Clone, Copy)]
pub struct QuantMatrix<'a> {
    pub layout: Layout,
    pub weight: &'a [u32],
    pub scales: &'a [f32],
    pub biases: &'a [f32],
}

/// Why a product cannot be computed from the slices given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("unsupported quantization: {bits} bits, group size {group_size}, {cols} inputs")]
    Unsupported {
        bits: usize,
        group_size: usize,
        cols: usize,
    },
    #[error("{what} has {got} elements, expected {want}")]
    Size {
        what: &'static str,
        got: usize,
        want: usize,
    },
}

/// Which inner loops to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust, on every CPU.
    Portable,
    /// The best this CPU offers (AVX2 + FMA where detected, else portable).
    Native,
}

impl Isa {
    /// Name of the inner loops `Native` picks on this CPU.
    pub fn native_name() -> &'static str {
        if simd::available() {
            simd::NAME
        } else {
            "portable"
        }
    }
}

impl<'a> QuantMatrix<'a> {
    /// Checks the slices against `layout`.
    pub fn new(
        layout: Layout,
        weight: &'a [u32],
        scales: &'a [f32],
        biases: &'a [f32],
    ) -> Result<Self, KernelError> {
        if !layout.supported() {
            return Err(KernelError::Unsupported {
                bits: layout.bits,
                group_size: layout.group_size,
                cols: layout.cols,
            });
        }
        let groups = layout.rows * layout.groups_per_row();
        let check = |what, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(KernelError::Size { what, got, want })
            }
        };
        check("weight", weight.len(), layout.rows * layout.words_per_row())?;
        check("scales", scales.len(), groups)?;
        check("biases", biases.len(), groups)?;
        Ok(QuantMatrix {
            layout,
            weight,
            scales,
            biases,
        })
    }

    /// `out = x · Wᵀ` for `x` with `x.len() / cols` rows (row-major); `out` gets
    /// `rows_of_x × self.rows` values.
    pub fn matmul_t(
        &self,
        x: &[f32],
        out: &mut [f32],
        isa: Isa,
        threads: &Threads,
    ) -> Result<(), KernelError> {
        let l = self.layout;
        if x.len() % l.cols != 0 || x.is_empty() {
            return Err(KernelError::Size {
                what: "input",
                got: x.len(),
                want: l.cols,
            });
        }
        let n = x.len() / l.cols;
        if out.len() != n * l.rows {
            return Err(KernelError::Size {
                what: "output",
                got: out.len(),
                want: n * l.rows,
            });
        }
        let gsums = group_sums(x, l.group_size);
        let native = isa == Isa::Native && simd::available();
        let work = |first: usize, part: &mut [f32]| {
            if n == 1 {
                self.single_row(x, &gsums, first, part, native);
            } else {
                self.batch(x, &gsums, n, first, part, native);
            }
        };
        if n == 1 {
            threads.split_rows(out, l.rows * l.cols, 1, work);
        } else {
            // Batched outputs are `[n, rows]`: compute `[rows, n]` then transpose.
            let mut t = vec![0.0; out.len()];
            threads.split_rows(&mut t, l.rows * l.cols * n, n, work);
            for (o, row) in t.chunks_exact(n).enumerate() {
                for (r, v) in row.iter().enumerate() {
                    out[r * l.rows + o] = *v;
                }
            }
        }
        Ok(())
    }

    /// Output rows `first..first + out.len()` for one input row.
    fn single_row(&self, x: &[f32], gsums: &[f32], first: usize, out: &mut [f32], native: bool) {
        let l = self.layout;
        let (wpr, gpr) = (l.words_per_row(), l.groups_per_row());
        let rows = first..first + out.len();
        let w = &self.weight[rows.start * wpr..rows.end * wpr];
        let s = &self.scales[rows.start * gpr..rows.end * gpr];
        let b = &self.biases[rows.start * gpr..rows.end * gpr];
        if native && simd::single_row(l, w, s, b, x, gsums, out) {
            return;
        }
        let mut buf = [0.0f32; 128];
        for (i, o) in out.iter_mut().enumerate() {
            let row = &w[i * wpr..(i + 1) * wpr];
            let mut acc = 0.0f32;
            for g in 0..gpr {
                let q = &mut buf[..l.group_size];
                unpack_group(row, l.bits, g * l.group_size, q, native);
                let xs = &x[g * l.group_size..(g + 1) * l.group_size];
                acc += s[i * gpr + g] * dot(q, xs, native) + b[i * gpr + g] * gsums[g];
            }
            *o = acc;
        }
    }

    /// Output rows `first..` for `n` input rows; `out` is `[rows, n]`.
    fn batch(
        &self,
        x: &[f32],
        gsums: &[f32],
        n: usize,
        first: usize,
        out: &mut [f32],
        native: bool,
    ) {
        let l = self.layout;
        let (wpr, gpr) = (l.words_per_row(), l.groups_per_row());
        let mut buf = [0.0f32; 128];
        for (i, o) in out.chunks_exact_mut(n).enumerate() {
            let r = first + i;
            let row = &self.weight[r * wpr..(r + 1) * wpr];
            o.fill(0.0);
            for g in 0..gpr {
                let q = &mut buf[..l.group_size];
                unpack_group(row, l.bits, g * l.group_size, q, native);
                let (scale, bias) = (self.scales[r * gpr + g], self.biases[r * gpr + g]);
                for (j, acc) in o.iter_mut().enumerate() {
                    let xs = &x[j * l.cols + g * l.group_size..][..l.group_size];
                    *acc += scale * dot(q, xs, native) + bias * gsums[j * gpr + g];
                }
            }
        }
    }
}

/// `Σ a·b` over equal-length slices of any length, on this CPU's best loops.
pub fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let n8 = n / 8 * 8;
    let mut d = dot(&a[..n8], &b[..n8], simd::available());
    for i in n8..n {
        d += a[i] * b[i];
    }
    d
}

/// Sum of each group of `group_size` inputs, row after row.
fn group_sums(x: &[f32], group_size: usize) -> Vec<f32> {
    x.chunks_exact(group_size).map(dot_sum).collect()
}

fn dot_sum(g: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for c in g.chunks_exact(8) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum()
}

/// Values `start..start + q.len()` of a packed row, as floats.
fn unpack_group(row: &[u32], bits: usize, start: usize, q: &mut [f32], native: bool) {
    if native && simd::unpack(row, bits, start, q) {
        return;
    }
    let mask = (1u32 << bits) - 1;
    for (i, v) in q.iter_mut().enumerate() {
        let bit = (start + i) * bits;
        let (word, off) = (bit / 32, bit % 32);
        let mut value = row[word] >> off;
        if off + bits > 32 {
            value |= row[word + 1] << (32 - off);
        }
        *v = (value & mask) as f32;
    }
}

/// `Σ a·b` over equal-length slices whose length is a multiple of 8.
fn dot(a: &[f32], b: &[f32], native: bool) -> f32 {
    if native {
        if let Some(d) = simd::dot(a, b) {
            return d;
        }
    }
    let mut acc = [0.0f32; 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests;
