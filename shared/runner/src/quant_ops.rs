//! MLX's quantized operations in every quantization mode.
//!
//! mlx-rs 0.33 calls `mlx_quantized_matmul`, `mlx_gather_qmm` and `mlx_dequantize` with the
//! mode fixed to `affine`; MXFP4 weights (gpt-oss's experts: fp4 e2m1 values, one e8m0
//! scale per 32, no biases) need `mxfp4`. These wrappers call mlx-c directly with the
//! mode of the weights' [`QuantParams`] — the only foreign calls of this crate.

#![allow(unsafe_code)]

use std::ffi::CString;

use mlx_rs::{Array, Stream};

use crate::config::QuantParams;
use crate::error::{Result, RunnerError};

/// `x · Wᵀ` with `W` quantized (`biases` only in affine mode).
pub fn quantized_matmul(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    p: QuantParams,
) -> Result<Array> {
    call("quantized_matmul", p, |res, mode, stream| unsafe {
        mlx_sys::mlx_quantized_matmul(
            res,
            x.as_ptr(),
            w.as_ptr(),
            scales.as_ptr(),
            optional(biases),
            true,
            int(p.group_size),
            int(p.bits),
            mode,
            stream,
        )
    })
}

/// `x · W[e]ᵀ` for the experts `e` of `indices` (mlx-lm's `QuantizedSwitchLinear`).
pub fn gather_qmm(
    x: &Array,
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    indices: &Array,
    p: QuantParams,
) -> Result<Array> {
    call("gather_qmm", p, |res, mode, stream| unsafe {
        mlx_sys::mlx_gather_qmm(
            res,
            x.as_ptr(),
            w.as_ptr(),
            scales.as_ptr(),
            optional(biases),
            mlx_sys::mlx_array_new(),
            indices.as_ptr(),
            true,
            int(p.group_size),
            int(p.bits),
            mode,
            false,
            stream,
        )
    })
}

/// The float weights of a quantized matrix (or of gathered rows of one).
pub fn dequantize(
    w: &Array,
    scales: &Array,
    biases: Option<&Array>,
    p: QuantParams,
) -> Result<Array> {
    call("dequantize", p, |res, mode, stream| unsafe {
        mlx_sys::mlx_dequantize(
            res,
            w.as_ptr(),
            scales.as_ptr(),
            optional(biases),
            int(p.group_size),
            int(p.bits),
            mode,
            mlx_sys::mlx_array_new(),
            mlx_sys::mlx_optional_dtype {
                value: mlx_sys::mlx_dtype__MLX_FLOAT32,
                has_value: false,
            },
            stream,
        )
    })
}

/// MLX's own quantization of `w` (`[weight, scales]`, plus `biases` in affine mode); the
/// tests make their MXFP4 matrices with it.
#[cfg(test)]
pub(crate) fn quantize(w: &Array, p: QuantParams) -> Result<(Array, Array)> {
    let mode = CString::new(p.mode.name()).expect("mode names have no NUL");
    let stream = Stream::thread_local_or_default();
    let mut res = unsafe { mlx_sys::mlx_vector_array_new() };
    let status = unsafe {
        mlx_sys::mlx_quantize(
            &mut res,
            w.as_ptr(),
            int(p.group_size),
            int(p.bits),
            mode.as_ptr(),
            mlx_sys::mlx_array_new(),
            stream.as_ptr(),
        )
    };
    let parts: Vec<Array> = (0..unsafe { mlx_sys::mlx_vector_array_size(res) })
        .map(|i| unsafe {
            let mut a = mlx_sys::mlx_array_new();
            mlx_sys::mlx_vector_array_get(&mut a, res, i);
            Array::from_ptr(a)
        })
        .collect();
    unsafe { mlx_sys::mlx_vector_array_free(res) };
    match (status, parts.as_slice()) {
        (0, [w, s, ..]) => Ok((w.clone(), s.clone())),
        _ => Err(RunnerError::Mlx(format!(
            "quantize refused {} weights",
            p.mode.name()
        ))),
    }
}

/// Runs one mlx-c operation that writes an array into `res`, on the current stream.
fn call(
    op: &str,
    p: QuantParams,
    f: impl FnOnce(*mut mlx_sys::mlx_array, *const std::os::raw::c_char, mlx_sys::mlx_stream) -> i32,
) -> Result<Array> {
    let mode = CString::new(p.mode.name()).expect("mode names have no NUL");
    let stream = Stream::thread_local_or_default();
    let mut res = unsafe { mlx_sys::mlx_array_new() };
    let status = f(&mut res, mode.as_ptr(), stream.as_ptr());
    // `res` is owned either way; wrapping it frees it on error too.
    let array = unsafe { Array::from_ptr(res) };
    if status != 0 {
        return Err(RunnerError::Mlx(format!(
            "{op} refused {} weights ({} bits, group size {})",
            p.mode.name(),
            p.bits,
            p.group_size
        )));
    }
    Ok(array)
}

fn optional(a: Option<&Array>) -> mlx_sys::mlx_array {
    match a {
        Some(a) => a.as_ptr(),
        None => unsafe { mlx_sys::mlx_array_new() },
    }
}

fn int(value: i32) -> mlx_sys::mlx_optional_int {
    mlx_sys::mlx_optional_int {
        value,
        has_value: true,
    }
}
