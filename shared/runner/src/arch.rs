//! The architecture registry: `config.json`'s `model_type` → how to build the model.

use crate::config::ModelConfig;
use crate::error::{Result, RunnerError};
use crate::layers::{DecoderModel, DecoderSpec};
use crate::linear::Parallelism;
use crate::weights::Weights;
use crate::{gemma3, llama, qwen2, qwen3};

type SpecFn = fn(&ModelConfig, &Weights) -> Result<DecoderSpec>;

const REGISTRY: &[(&str, SpecFn)] = &[
    (llama::MODEL_TYPE, llama::spec),
    (qwen2::MODEL_TYPE, qwen2::spec),
    (qwen3::MODEL_TYPE, qwen3::spec),
    (gemma3::MODEL_TYPE, gemma3::spec),
];

/// `model_type` values this runner can load.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    llama::MODEL_TYPE,
    qwen2::MODEL_TYPE,
    qwen3::MODEL_TYPE,
    gemma3::MODEL_TYPE,
];

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
