//! Which files of a repository to pull.
//!
//! Patterns are matched against the whole path as huggingface_hub's
//! `allow_patterns` / `ignore_patterns` do (`fnmatch`: `*` also crosses `/`).
//! Without `--include`, the MLX default set applies: weights, configs,
//! tokenizer, processor and chat-template files, README. `--all` takes every
//! file (as `hf download` does).

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::HubError;

/// What mlx-lm and mlx-knife need to load a model, and its model card.
pub const MLX_DEFAULT: &[&str] = &[
    "*.safetensors",
    "*.json",
    "*.jsonl",
    "*.jinja",
    "*.txt",
    "*.tiktoken",
    "tokenizer.model",
    "tiktoken.model",
    "*.model",
    "README.md",
];

#[derive(Debug, Clone)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    description: String,
}

impl Filter {
    /// `include` empty and `all` false → the MLX default set.
    pub fn new(include: &[String], exclude: &[String], all: bool) -> Result<Self, HubError> {
        let default: Vec<String> = MLX_DEFAULT.iter().map(|s| s.to_string()).collect();
        let include = if !include.is_empty() {
            Some(include.to_vec())
        } else if all {
            None
        } else {
            Some(default)
        };
        let description = match &include {
            Some(p) => format!("include {}", p.join(" ")),
            None => "all files".into(),
        };
        Ok(Filter {
            include: include.as_deref().map(build).transpose()?,
            exclude: (!exclude.is_empty()).then(|| build(exclude)).transpose()?,
            description,
        })
    }

    pub fn mlx_default() -> Self {
        Filter::new(&[], &[], false).expect("default patterns are valid")
    }

    pub fn all() -> Self {
        Filter::new(&[], &[], true).expect("no patterns")
    }

    pub fn matches(&self, path: &str) -> bool {
        self.include.as_ref().map_or(true, |s| s.is_match(path))
            && !self.exclude.as_ref().is_some_and(|s| s.is_match(path))
    }

    /// For messages: which patterns were used.
    pub fn describe(&self) -> &str {
        &self.description
    }
}

fn build(patterns: &[String]) -> Result<GlobSet, HubError> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        // A pattern ending in `/` means the whole folder, as in huggingface_hub.
        let p = if p.ends_with('/') {
            format!("{p}*")
        } else {
            p.clone()
        };
        let glob =
            Glob::new(&p).map_err(|e| HubError::Invalid(format!("bad pattern {p:?}: {e}")))?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| HubError::Invalid(format!("bad patterns: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlx_default_takes_weights_configs_tokenizer_readme() {
        let f = Filter::mlx_default();
        for yes in [
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json",
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "tokenizer.model",
            "vocab.txt",
            "merges.txt",
            "chat_template.jinja",
            "preprocessor_config.json",
            "1_Pooling/config.json",
            "README.md",
        ] {
            assert!(f.matches(yes), "{yes}");
        }
        for no in [
            "pytorch_model.bin",
            "model.gguf",
            "onnx/model.onnx",
            ".gitattributes",
            "modeling.py",
            "docs/README.md",
        ] {
            assert!(!f.matches(no), "{no}");
        }
    }

    #[test]
    fn include_replaces_default_and_exclude_wins() {
        let f = Filter::new(&["*.json".into()], &["1_Pooling/".into()], false).unwrap();
        assert!(f.matches("config.json"));
        assert!(!f.matches("model.safetensors"));
        assert!(!f.matches("1_Pooling/config.json"));
        assert!(Filter::all().matches(".gitattributes"));
        assert!(Filter::new(&["[".into()], &[], false).is_err());
    }
}
