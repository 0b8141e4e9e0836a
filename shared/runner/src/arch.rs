//! The architecture registry: `config.json`'s `model_type` → how to build the model.

use mlxk_core::health::RUNNER_ARCHITECTURES;

use crate::config::ModelConfig;
use crate::error::{Result, RunnerError};
use crate::layers::{DecoderModel, DecoderSpec};
use crate::linear::Parallelism;
use crate::weights::Weights;
use crate::{gemma3, gpt_oss, llama, mixtral, phi3, qwen2, qwen3, qwen3_moe};

type SpecFn = fn(&ModelConfig, &Weights) -> Result<DecoderSpec>;

/// One line per family: its `model_type` and the function that reads its config into a
/// [`DecoderSpec`]. The names are mlxk-core's [`RUNNER_ARCHITECTURES`] (mlxk-list's runtime
/// check reads that list without linking MLX); a test keeps the two equal.
const REGISTRY: &[(&str, SpecFn)] = &[
    (llama::MODEL_TYPE, llama::spec),
    // mlx-lm runs Mistral as llama (its MODEL_REMAPPING).
    ("mistral", llama::spec),
    (qwen2::MODEL_TYPE, qwen2::spec),
    (qwen3::MODEL_TYPE, qwen3::spec),
    (gemma3::MODEL_TYPE, gemma3::spec),
    (phi3::MODEL_TYPE, phi3::spec),
    (mixtral::MODEL_TYPE, mixtral::spec),
    (qwen3_moe::MODEL_TYPE, qwen3_moe::spec),
    (gpt_oss::MODEL_TYPE, gpt_oss::spec),
];

/// `model_type` values this runner can load.
pub const SUPPORTED_ARCHITECTURES: &[&str] = RUNNER_ARCHITECTURES;

/// Whether `model_type` is one of [`SUPPORTED_ARCHITECTURES`].
pub fn is_supported(model_type: &str) -> bool {
    SUPPORTED_ARCHITECTURES.contains(&model_type)
}

/// The decoder shape for `config`, or [`RunnerError::UnsupportedArchitecture`].
pub fn spec(config: &ModelConfig, weights: &Weights) -> Result<DecoderSpec> {
    let build = REGISTRY
        .iter()
        .find(|(name, _)| *name == config.model_type)
        .map(|(_, f)| *f)
        .ok_or_else(|| unsupported(&config.model_type))?;
    build(config, weights)
}

/// Builds the model for `config` from `weights`.
pub fn build(
    config: &ModelConfig,
    weights: &mut Weights,
    parallel: &Parallelism,
) -> Result<DecoderModel> {
    let spec = spec(config, weights)?;
    DecoderModel::load(spec, weights, config.quantization.as_ref(), parallel)
}

pub(crate) fn unsupported(model_type: &str) -> RunnerError {
    RunnerError::UnsupportedArchitecture {
        model_type: model_type.to_string(),
        supported: SUPPORTED_ARCHITECTURES.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_and_list_agree() {
        let names: Vec<&str> = super::REGISTRY.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, super::SUPPORTED_ARCHITECTURES);
    }
}
