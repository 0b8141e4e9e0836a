//! Gemma 3's vision tower: the shared SigLIP ([`crate::vlm::siglip`]) with its weights
//! under `vision_tower.vision_model.` and patches numbered in order (mlx-vlm
//! `models/gemma3/vision.py`; its `GELUMLP` uses `GELU(approx="precise")`, which in MLX
//! is the tanh approximation, as SmolVLM's tower).

use crate::vlm::siglip::SiglipOptions;
pub use crate::vlm::siglip::VisionModel;

pub const OPTIONS: SiglipOptions = SiglipOptions {
    prefix: "vision_tower.vision_model",
    bucketed_positions: false,
};
