//! Framework, model type, capabilities, quantization, context length and
//! architecture, following mlx-knife's rules (see docs/decisions.md for where
//! we differ).

use serde_json::Value;

use crate::evidence::Evidence;
use crate::ndjson::{Framework, ModelType};

/// Architectures whose `model_type` makes an embedding model.
const EMBEDDING_TYPES: &[&str] = &[
    "bert",
    "xlm-roberta",
    "roberta",
    "modernbert",
    "nomic_bert",
    "distilbert",
    "mpnet",
    "e5",
    "bge",
];

/// Architectures whose `model_type` makes a vision-language model.
const VISION_TYPES: &[&str] = &[
    "llava",
    "llava_next",
    "pixtral",
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "mllama",
    "paligemma",
    "idefics",
    "idefics2",
    "idefics3",
    "smolvlm",
    "gemma3",
    "mistral3",
    "florence2",
    "phi3_v",
    "internvl_chat",
];

/// What detection concludes.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub framework: Framework,
    pub model_type: ModelType,
    pub capabilities: Vec<String>,
    pub quantization: Option<String>,
    pub context_length: Option<u64>,
    pub architecture: Option<String>,
}

pub fn detect(ev: &Evidence) -> Detection {
    let framework = framework(ev);
    let architecture = ev
        .config
        .str("model_type")
        .map(str::to_string)
        .or_else(|| gguf_info(ev).and_then(|g| g.architecture.clone()));
    let arch = architecture.as_deref().unwrap_or("").to_ascii_lowercase();
    let name = ev.name.to_ascii_lowercase();
    let config = ev.config.object();
    let has_file = |rel: &str| ev.file(rel).is_some();

    let vision = VISION_TYPES.contains(&arch.as_str())
        || config.is_some_and(|c| c.contains_key("vision_config"))
        || has_file("preprocessor_config.json") && !is_audio_processor(ev)
        || has_file("processor_config.json") && !is_audio_processor(ev);
    let audio = arch == "whisper"
        || config.is_some_and(|c| c.contains_key("audio_config"))
        || is_audio_processor(ev);
    let embedding = EMBEDDING_TYPES.contains(&arch.as_str())
        || name.contains("embed")
        || name.contains("sentence-transformers/");

    let model_type = if embedding {
        ModelType::Embedding
    } else if arch == "whisper" {
        ModelType::Audio
    } else if vision
        || ev.chat_template
        || gguf_info(ev).is_some_and(|g| g.has_chat_template)
        || name.contains("instruct")
        || name.contains("chat")
    {
        ModelType::Chat
    } else {
        ModelType::Base
    };

    let mut capabilities = Vec::new();
    match model_type {
        ModelType::Embedding => capabilities.push("embeddings"),
        ModelType::Audio => capabilities.push("audio"),
        ModelType::Chat => capabilities.extend(["text-generation", "chat"]),
        ModelType::Base => capabilities.push("text-generation"),
    }
    if vision && model_type != ModelType::Embedding {
        capabilities.push("vision");
    }
    if audio && model_type != ModelType::Audio {
        capabilities.push("audio");
    }

    Detection {
        framework,
        model_type,
        capabilities: capabilities.into_iter().map(String::from).collect(),
        quantization: quantization(ev),
        context_length: context_length(ev),
        architecture,
    }
}

fn gguf_info(ev: &Evidence) -> Option<&crate::gguf::Info> {
    ev.gguf.iter().find_map(|(_, r)| r.as_ref().ok())
}

fn framework(ev: &Evidence) -> Framework {
    let fm = &ev.front_matter;
    let mlx = ev.name.starts_with("mlx-community/")
        || fm.tags.iter().any(|t| t.eq_ignore_ascii_case("mlx"))
        || fm
            .library_name
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("mlx"))
        || ev
            .config
            .object()
            .is_some_and(|c| c.contains_key("quantization"));
    if mlx {
        Framework::Mlx
    } else if ev.files.iter().any(|f| f.rel.ends_with(".gguf")) {
        Framework::Gguf
    } else if ev.files.iter().any(|f| {
        f.rel.ends_with(".safetensors")
            || f.rel.ends_with(".bin") && f.rel.contains("pytorch_model")
    }) {
        Framework::PyTorch
    } else {
        Framework::Unknown
    }
}

fn is_audio_processor(ev: &Evidence) -> bool {
    ["preprocessor_config.json", "processor_config.json"]
        .iter()
        .filter_map(|rel| ev.file(rel))
        .filter_map(|f| crate::evidence::read_prefix(&f.path, 64 << 10))
        .any(|bytes| crate::evidence::contains(&bytes, b"WhisperFeatureExtractor"))
}

fn quantization(ev: &Evidence) -> Option<String> {
    if let Some(config) = ev.config.object() {
        for key in ["quantization", "quantization_config"] {
            if let Some(label) = config.get(key).and_then(mlx_recipe) {
                return Some(label);
            }
        }
        let dtype = config
            .get("torch_dtype")
            .or_else(|| config.get("dtype"))
            .and_then(Value::as_str);
        return dtype.map(|d| match d {
            "bfloat16" => "bf16".to_string(),
            "float16" => "f16".to_string(),
            "float32" => "f32".to_string(),
            other => other.to_string(),
        });
    }
    gguf_info(ev).and_then(|g| g.file_type.clone())
}

/// An MLX `quantization` entry as a label: `4bit` for affine quantization (per-module bit
/// overrides of the same mode keep the global label, as mlx-knife shows them), `mxfp4` for
/// microscaling FP4, and the labels joined by `+` when modules differ in mode (gpt-oss's
/// MXFP4-Q8 recipe: `8bit+mxfp4`). A module entry without `mode` is affine, as mlx-lm
/// quantizes it.
fn mlx_recipe(q: &Value) -> Option<String> {
    let bits = q.get("bits").and_then(Value::as_u64)?;
    let mode = |entry: &Value| {
        entry
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("affine")
            .to_string()
    };
    let label = |mode: &str, bits: u64| match mode {
        "affine" => format!("{bits}bit"),
        other => other.to_string(),
    };
    let global_mode = mode(q);
    let mut others: Vec<String> = q
        .as_object()?
        .values()
        .filter(|v| v.is_object() && mode(v) != global_mode)
        .map(|v| {
            label(
                &mode(v),
                v.get("bits").and_then(Value::as_u64).unwrap_or(bits),
            )
        })
        .collect();
    others.sort();
    others.dedup();
    let labels: Vec<String> = std::iter::once(label(&global_mode, bits))
        .chain(others)
        .collect();
    Some(labels.join("+"))
}

fn context_length(ev: &Evidence) -> Option<u64> {
    const KEYS: &[&str] = &[
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
        "seq_length",
        "n_ctx",
    ];
    if let Some(config) = ev.config.object() {
        let scopes = [
            Some(config),
            config.get("text_config").and_then(Value::as_object),
        ];
        for scope in scopes.into_iter().flatten() {
            if let Some(n) = KEYS
                .iter()
                .find_map(|k| scope.get(*k).and_then(Value::as_u64))
            {
                return Some(n);
            }
        }
    }
    gguf_info(ev).and_then(|g| g.context_length)
}
