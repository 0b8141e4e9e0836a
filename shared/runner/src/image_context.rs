//! What a prompt's images give the text decoder besides its input embeddings, for the
//! whole generation: the keys and values cross-attention layers attend to (Llama 3.2
//! Vision, [`crate::cross_attention`]), and deepstack features added to the first
//! layers' outputs at the image positions (Qwen3-VL).

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::Array;

use crate::cross_attention::CrossContext;

/// A prompt's image context; empty for families that only merge features into the
/// embeddings.
#[derive(Debug, Default)]
pub struct ImageContext {
    pub cross: Option<CrossContext>,
    pub deepstack: Option<Deepstack>,
}

/// Deepstack features (mlx-vlm's `deepstack_visual_embeds`): level `k` is added to the
/// output of decoder layer `k` at the prompt's image positions, during the prompt only.
#[derive(Debug)]
pub struct Deepstack {
    /// One `[1, L, hidden]` per level: the features at the image positions, zeros
    /// elsewhere.
    levels: Vec<Array>,
}

impl Deepstack {
    pub fn new(levels: Vec<Array>) -> Self {
        Deepstack { levels }
    }

    /// What to add to decoder layer `layer`'s output for `l` positions from `offset`,
    /// if anything (nothing past the prompt).
    pub fn after_layer(&self, layer: usize, offset: usize, l: usize) -> Option<Array> {
        let level = self.levels.get(layer)?;
        let len = level.dim(1) as usize;
        (offset + l <= len).then(|| level.index((.., offset as i32..(offset + l) as i32, ..)))
    }
}
