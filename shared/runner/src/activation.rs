//! GELU on the CPU in Rust: MLX's `nn.gelu` bit for bit ([`mlx_math`]), in lanes of
//! eight and over threads, where MLX's portable CPU build evaluates it one element at a
//! time on its stream thread. Whisper's encoder and the vision towers apply it to their
//! largest activations (Whisper tiny: 1500 × 1536 values per layer). On Metal, and for
//! arrays MLX cannot hand over as one contiguous float32 buffer, MLX's own runs.

use mlx_rs::Array;
use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::mlx_math;

/// Values per task: large enough that a task outweighs its hand-over.
const CHUNK: usize = 1 << 14;

/// `x · (1 + erf(x / √2)) / 2`, with MLX's values.
pub fn gelu(x: &Array) -> Result<Array> {
    let Some(values) = crate::softmax::cpu_values(x) else {
        return Ok(mlx_rs::nn::gelu(x)?);
    };
    Ok(crate::softmax::hand_back(x.shape(), values.len(), |out| {
        out.par_chunks_mut(CHUNK)
            .zip(values.par_chunks(CHUNK))
            .for_each(|(d, s)| mlx_math::gelu_into(s, d));
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_values_as_mlx() {
        let _g = crate::test_lock();
        mlx_rs::random::seed(5).unwrap();
        let x = mlx_rs::random::normal::<f32>(&[3, 100, 257][..], None, Some(3.0), None).unwrap();
        let ours = gelu(&x).unwrap();
        let mlx = mlx_rs::nn::gelu(&x).unwrap();
        assert_eq!(ours.shape(), mlx.shape());
        assert_eq!(ours.as_slice::<f32>(), mlx.as_slice::<f32>());
    }
}
