//! Image features frame by frame, and writing them into the text embeddings at the
//! image-token positions (mlx-vlm's `masked_scatter` /
//! `merge_input_ids_with_image_features`).

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::Array;

use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;

/// Text embeddings of `ids` with the rows of `features` (`[n, hidden]`) written, in
/// order, at the positions holding `image_token`, and zeros at positions holding
/// `zero_token` (Gemma 3's pad mask) → `[1, L, hidden]`. The counts must match exactly.
pub fn merge_features(
    language: &DecoderModel,
    ids: &[u32],
    image_token: u32,
    features: &Array,
    zero_token: Option<u32>,
) -> Result<Array> {
    let n_image = ids.iter().filter(|&&t| t == image_token).count();
    let n_features = features.dim(0) as usize;
    if n_image != n_features {
        return Err(RunnerError::InvalidImage(format!(
            "image features and image tokens do not match: tokens {n_image}, features {n_features}"
        )));
    }
    let len = ids.len() as i32;
    let text = language
        .embed(&Array::from_slice(ids, &[len]))?
        .as_dtype(features.dtype())?;
    let hidden = text.dim(-1);
    let zero = mlx_rs::ops::zeros_dtype(&[1, hidden], features.dtype())?;
    // One gather over [text rows; feature rows; a zero row]: position i takes row i,
    // the next feature row when it holds an image token, or the zero row.
    let zero_row = len + n_features as i32;
    let mut next = len;
    let rows: Vec<i32> = (0..len)
        .map(|i| match ids[i as usize] {
            t if t == image_token => {
                next += 1;
                next - 1
            }
            t if Some(t) == zero_token => zero_row,
            _ => i,
        })
        .collect();
    let all = mlx_rs::ops::concatenate(&[text, features.clone(), zero], 0)?;
    let merged = all.take_axis(Array::from_slice(&rows, &[len]), 0)?;
    Ok(merged.expand_dims(0)?)
}

/// The rows of `features` (`[n, d]`) at the positions of `ids` holding `image_token`, in
/// order, and zeros elsewhere → `[1, L, d]` (what adding features at the image positions
/// adds everywhere). The counts must match exactly.
pub fn scatter_features(ids: &[u32], image_token: u32, features: &Array) -> Result<Array> {
    let n_features = features.dim(0);
    let n_image = ids.iter().filter(|&&t| t == image_token).count() as i32;
    if n_image != n_features {
        return Err(RunnerError::InvalidImage(format!(
            "image features and image tokens do not match: tokens {n_image}, features {n_features}"
        )));
    }
    let zero = mlx_rs::ops::zeros_dtype(&[1, features.dim(-1)], features.dtype())?;
    let mut next = 0;
    let rows: Vec<i32> = ids
        .iter()
        .map(|&t| match t == image_token {
            true => {
                next += 1;
                next - 1
            }
            false => n_features,
        })
        .collect();
    let all = mlx_rs::ops::concatenate(&[features.clone(), zero], 0)?;
    let len = ids.len() as i32;
    Ok(all
        .take_axis(Array::from_slice(&rows, &[len]), 0)?
        .expand_dims(0)?)
}

/// `encode` on each frame of `frames` (`[F, …]`) in turn, its tokens (`[1, n, d]` or
/// `[n, d]`) evaluated before the next frame starts, so the vision tower's activations
/// stay one frame's worth → `[F · n, d]`.
pub fn encode_frames(frames: &Array, encode: impl Fn(&Array) -> Result<Array>) -> Result<Array> {
    let mut out = Vec::with_capacity(frames.dim(0) as usize);
    for f in 0..frames.dim(0) {
        let tokens = encode(&frames.index(f..f + 1))?;
        let tokens = tokens.reshape(&[-1, tokens.dim(-1)])?;
        tokens.eval()?;
        out.push(tokens);
    }
    if out.is_empty() {
        return Err(RunnerError::InvalidImage("no images".into()));
    }
    Ok(mlx_rs::ops::concatenate(&out, 0)?)
}
