//! Qwen2.5-VL's language model: the runner's qwen2 decoder ([`crate::qwen2`]) built from
//! the `language_model.*` tensors as mlx-vlm's `LanguageModel` reads them (`head_dim =
//! hidden / heads`, tied embeddings unless the config says otherwise), with multimodal
//! rope ([`crate::rope::MRope`]); and the prompt's rope positions ([`rope_index`],
//! mlx-vlm's `get_rope_index`).

use mlx_rs::Array;

use super::config::Qwen25VlConfig;
use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::rope::MropePositions;
use crate::weights::Weights;

const PREFIX: &str = "language_model.";

/// Takes every `language_model.*` tensor out of `weights` and builds the decoder.
pub fn load(c: &Qwen25VlConfig, weights: &mut Weights, par: &Parallelism) -> Result<DecoderModel> {
    let text = &c.text;
    let mut lm = weights.split_off(PREFIX, |rest| rest.to_string());
    let mut spec = crate::qwen2::spec(text, &lm)?;
    spec.head_dim = text.hidden_size / text.num_attention_heads;
    spec.rope.dims = spec.head_dim;
    spec.rope.scaling = None;
    spec.tie_word_embeddings = text.tie_word_embeddings.unwrap_or(true);
    spec.mrope_section = Some(c.mrope_section.clone());
    let quantization = c
        .quantization
        .as_ref()
        .map(|q| q.for_part(PREFIX, str::to_string));
    DecoderModel::load(spec, &mut lm, quantization.as_ref(), par)
}

/// The token ids that place images in a prompt.
#[derive(Debug, Clone, Copy)]
pub struct ImageTokens {
    pub image: u32,
    pub vision_start: u32,
    /// Patches merged into one token along each side.
    pub merge: usize,
}

/// Multimodal rope positions of `ids` with images of patch grids `grids` (`[t, h, w]`),
/// as mlx-vlm's `get_rope_index` computes them for one unpadded prompt: text runs
/// continue from the previous maximum + 1 on all three axes; an image (the `<|image_pad|>`
/// run after a `<|vision_start|>`) gets `start + (frame, row, col)` over its merged
/// grid; `delta` = maximum + 1 − length.
pub fn rope_index(
    ids: &[u32],
    grids: &[[usize; 3]],
    tokens: ImageTokens,
) -> Result<MropePositions> {
    let images = ids
        .windows(2)
        .filter(|w| w[0] == tokens.vision_start && w[1] == tokens.image)
        .count();
    if images != grids.len() {
        return Err(RunnerError::InvalidImage(format!(
            "the prompt places {images} images, but {} were encoded",
            grids.len()
        )));
    }
    let len = ids.len();
    let mut axes: [Vec<i32>; 3] = Default::default();
    // One past the largest position so far (0 before any).
    let mut next = 0i32;
    // A run of `n` text tokens: the same position on all axes.
    let text = |axes: &mut [Vec<i32>; 3], next: &mut i32, n: usize| {
        for axis in axes.iter_mut() {
            axis.extend((0..n as i32).map(|i| *next + i));
        }
        *next += n as i32;
    };
    let mut st = 0;
    for &[t, h, w] in grids {
        let ed = ids[st..]
            .iter()
            .position(|&x| x == tokens.image)
            .map(|i| st + i)
            .ok_or_else(|| RunnerError::InvalidImage("an image has no image tokens".into()))?;
        text(&mut axes, &mut next, ed - st);
        let (lh, lw) = (h / tokens.merge, w / tokens.merge);
        let start = next;
        for f in 0..t {
            for y in 0..lh {
                for x in 0..lw {
                    axes[0].push(start + f as i32);
                    axes[1].push(start + y as i32);
                    axes[2].push(start + x as i32);
                }
            }
        }
        next = start + t.max(lh).max(lw) as i32;
        st = ed + t * lh * lw;
        if st > len {
            return Err(RunnerError::InvalidImage(format!(
                "an image of {} tokens runs past the prompt's end",
                t * lh * lw
            )));
        }
    }
    text(&mut axes, &mut next, len - st);
    let flat: Vec<i32> = axes.concat();
    Ok(MropePositions {
        ids: Array::from_slice(&flat, &[3, len as i32]),
        delta: next as i64 - len as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_then_image_then_text() {
        let _g = crate::test_lock();
        // 2 text tokens, <vs>, a 1×4×6 grid (2×3 merged), <ve>, 1 text token.
        let (vs, im) = (7, 9);
        let mut ids = vec![1, 2, vs];
        ids.extend([im; 6]);
        ids.extend([8, 3]);
        let tokens = ImageTokens {
            image: im,
            vision_start: vs,
            merge: 2,
        };
        let p = rope_index(&ids, &[[1, 4, 6]], tokens).unwrap();
        p.ids.eval().unwrap();
        let got = p.ids.as_slice::<i32>();
        let l = ids.len();
        assert_eq!(&got[..l], [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7]);
        assert_eq!(&got[l..2 * l], [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7]);
        assert_eq!(&got[2 * l..], [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7]);
        assert_eq!(p.delta, 8 - l as i64);
        assert!(rope_index(&ids, &[], tokens).is_err());
    }
}
