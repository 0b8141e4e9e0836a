//! SmolVLM / Idefics3's vision tower: the shared SigLIP ([`crate::vlm::siglip`]) with
//! its weights under `vision_model.`, position ids bucketed from fractional patch
//! coordinates (mlx-vlm `models/idefics3/vision.py`).

use crate::vlm::siglip::SiglipOptions;
pub use crate::vlm::siglip::VisionModel;

pub const OPTIONS: SiglipOptions = SiglipOptions {
    prefix: "vision_model",
    bucketed_positions: true,
};
