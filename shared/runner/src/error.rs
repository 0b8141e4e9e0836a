//! The runner's error type.

use std::path::PathBuf;

use crate::memory::MemoryEstimate;

/// Everything that can go wrong while loading a model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// `config.json`'s `model_type` names an architecture this runner has no code for.
    #[error("unsupported architecture `{model_type}` (supported: {})", supported.join(", "))]
    UnsupportedArchitecture {
        model_type: String,
        supported: Vec<&'static str>,
    },

    /// `config.json` describes a vision-language family this runner has no code for.
    #[error("unsupported vision-language model `{model_type}` (supported families: {})", supported.join(", "))]
    UnsupportedVisionModel {
        model_type: String,
        supported: Vec<&'static str>,
    },

    /// A vision request was given a text-only model.
    #[error("`{model_type}` is a text-only model (its config.json has no vision_config); it cannot look at images")]
    NotAVisionModel { model_type: String },

    /// An image (or the images given with a prompt) cannot be processed.
    #[error("image: {0}")]
    InvalidImage(String),

    /// A file of the model could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `config.json` (or another JSON file of the model) is not what we expect.
    #[error("invalid {}: {message}", path.display())]
    InvalidConfig { path: PathBuf, message: String },

    /// The model directory has no safetensors weights.
    #[error("no weights in {}: expected model.safetensors or model.safetensors.index.json", dir.display())]
    NoWeights { dir: PathBuf },

    /// A safetensors file is truncated or its header is damaged.
    #[error("corrupt weights file {}: {message}", path.display())]
    CorruptWeights { path: PathBuf, message: String },

    /// A tensor the architecture needs is not in the weights.
    #[error("missing tensor `{name}` in the weights")]
    MissingTensor { name: String },

    /// A tensor has the wrong shape or dtype for the configuration.
    #[error("tensor `{name}`: {message}")]
    BadTensor { name: String, message: String },

    /// The model would not fit in the memory that is available.
    #[error(
        "not enough memory: the model needs about {:.2} GiB, {:.2} GiB available",
        gib(estimate.total_bytes()),
        gib(*available)
    )]
    InsufficientMemory {
        estimate: MemoryEstimate,
        available: u64,
    },

    /// The rendered prompt does not leave room for a single new token.
    #[error("prompt has {prompt_tokens} tokens; the context window holds {context_length}")]
    PromptTooLong {
        prompt_tokens: usize,
        context_length: usize,
    },

    /// The prompt rendered to zero tokens.
    #[error("prompt is empty")]
    EmptyPrompt,

    /// `tokenizer.json` is missing or could not be used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The chat template failed to parse or render, or raised an exception.
    #[error("chat template: {0}")]
    Template(String),

    /// A request asks for chat rendering but the model has no chat template.
    #[error("the model has no chat template; use raw mode")]
    NoChatTemplate,

    /// A request has neither `prompt` nor `messages`.
    #[error("request has neither `prompt` nor `messages`")]
    NoPrompt,

    /// A sampling parameter is out of range.
    #[error("invalid sampling parameter: {0}")]
    InvalidSampling(String),

    /// `MLXK_MEMORY_LIMIT` is set to something that is not a size.
    #[error("MLXK_MEMORY_LIMIT={0:?} is not a size")]
    InvalidMemoryLimit(String),
    /// The audio could not be read (decoder error, passed through).
    #[error("audio: {0}")]
    Audio(String),

    /// The model's configuration asks for something this runner does not do (a rope
    /// scaling, a head layout, a routing it has no code for, or values that do not fit).
    #[error("unsupported model configuration: {0}")]
    UnsupportedConfig(String),

    /// A check between the runner's own stages failed (shapes handed from one to the
    /// next, a kernel's operands): a bug, not the input's fault.
    #[error("internal error: {0}")]
    Internal(String),

    /// MLX reported an error while building or evaluating a graph.
    #[error("MLX: {0}")]
    Mlx(String),
}

impl RunnerError {
    /// The model's files could not be read or are not what they should be.
    pub fn is_load_failure(&self) -> bool {
        matches!(
            self,
            RunnerError::Io { .. }
                | RunnerError::InvalidConfig { .. }
                | RunnerError::NoWeights { .. }
                | RunnerError::CorruptWeights { .. }
                | RunnerError::MissingTensor { .. }
                | RunnerError::BadTensor { .. }
                | RunnerError::Tokenizer(_)
        )
    }

    /// The NDJSON error `code` a tool reports this error with (docs/ndjson.md).
    pub fn code(&self) -> &'static str {
        match self {
            RunnerError::UnsupportedArchitecture { .. }
            | RunnerError::UnsupportedVisionModel { .. }
            | RunnerError::UnsupportedConfig(_) => "unsupported_architecture",
            RunnerError::NotAVisionModel { .. }
            | RunnerError::InvalidSampling(_)
            | RunnerError::InvalidMemoryLimit(_) => "validation_error",
            RunnerError::InsufficientMemory { .. } => "insufficient_memory",
            RunnerError::PromptTooLong { .. } => "context_overflow",
            RunnerError::EmptyPrompt | RunnerError::NoPrompt => "empty_prompt",
            e if e.is_load_failure() => "load_failed",
            RunnerError::InvalidImage(_) => "invalid_image",
            RunnerError::Audio(_) => "invalid_audio",
            _ => "execution_error",
        }
    }

    /// What a person can do about it, where there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            RunnerError::InsufficientMemory { .. } => {
                "close other programs, use a smaller or more quantized model, or --force to load anyway"
            }
            RunnerError::PromptTooLong { .. } => "shorten the prompt or the conversation",
            e if e.is_load_failure() => "mlxk-list --health shows what is wrong with the files",
            RunnerError::InvalidMemoryLimit(_) => {
                "set it to a size such as 2G or 512M, or unset it"
            }
            _ => return None,
        })
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

impl From<mlx_rs::error::Exception> for RunnerError {
    fn from(e: mlx_rs::error::Exception) -> Self {
        RunnerError::Mlx(e.to_string())
    }
}

/// Result with [`RunnerError`].
pub type Result<T, E = RunnerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whose_they_are() {
        let config =
            RunnerError::UnsupportedConfig("rope scaling `dynamic` is not supported".into());
        assert_eq!(config.code(), "unsupported_architecture");
        assert!(config
            .to_string()
            .starts_with("unsupported model configuration: rope"));
        let internal = RunnerError::Internal("token id 9 outside the vocabulary".into());
        assert_eq!(internal.code(), "execution_error");
        assert!(!internal.to_string().contains("MLX"));
        assert!(RunnerError::Mlx("x".into())
            .to_string()
            .starts_with("MLX: "));
    }
}
