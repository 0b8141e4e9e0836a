//! Gemma 3's vision tower: the shared SigLIP ([`crate::vlm::siglip`]) with its weights
//! under `vision_tower.vision_model.`, patches numbered in order, and the precise
//! (erf) GELU (mlx-vlm `models/gemma3/vision.py`, whose MLP is `GELUMLP`).

use crate::vlm::siglip::SiglipOptions;
pub use crate::vlm::siglip::VisionModel;

pub const OPTIONS: SiglipOptions = SiglipOptions {
    prefix: "vision_tower.vision_model",
    bucketed_positions: false,
    gelu_tanh: false,
};
