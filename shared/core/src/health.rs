//! File health of a model directory, and runtime compatibility, reported
//! apart. Every problem is a sentence a person can act on.
//!
//! mlx-knife's rules, plus what it misses: truncated safetensors, leftover
//! `.incomplete` blobs, dangling snapshot links, index/shard mismatch, an
//! unreadable `tokenizer.json`, a GGUF with a bad header, and sizes that
//! disagree with `trees/<commit>.json`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::cache::{Repo, SnapshotFile};
use crate::evidence::{is_lfs_pointer, Config, Evidence};
use crate::ndjson::Framework;
use crate::safetensors;

/// Architectures mlxk's MLX runner implements for text (the runner's tests check
/// that its registry matches this list).
pub const RUNNER_ARCHITECTURES: &[&str] = &[
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma3_text",
    "phi3",
    "mixtral",
    "qwen3_moe",
    "gpt_oss",
];

/// Vision-language families the runner implements (`mlxk-vision`; checked against the
/// runner's list by its tests too).
pub const RUNNER_VISION_FAMILIES: &[&str] = &[
    "smolvlm",
    "idefics3",
    "gemma3",
    "qwen2_5_vl",
    "pixtral",
    "mistral3",
    "mllama",
    "qwen3_vl",
    "qwen3_vl_moe",
];

/// Speech families the runner implements (`mlxk-audio`).
pub const RUNNER_AUDIO_FAMILIES: &[&str] = &["whisper"];

const WEIGHT_SUFFIXES: &[&str] = &[".safetensors", ".bin", ".gguf", ".npz"];

fn is_weight(rel: &str) -> bool {
    WEIGHT_SUFFIXES.iter().any(|s| rel.ends_with(s)) && !rel.ends_with("training_args.bin")
}

/// Problems with the files of `ev`; empty means healthy.
/// `vision` is detection's verdict (see [`crate::detect`]).
pub fn check(ev: &Evidence, vision: bool, repo: Option<(&Repo, &str)>) -> Vec<String> {
    let mut problems = Vec::new();
    let gguf_only = ev.files.iter().any(|f| f.rel.ends_with(".gguf"))
        && !ev.files.iter().any(|f| f.rel.ends_with(".safetensors"));

    check_links(ev, &mut problems);
    check_config(ev, gguf_only, &mut problems);
    check_markers(ev, &mut problems);
    check_weights(ev, &mut problems);
    check_tokenizer(ev, &mut problems);
    check_processor(ev, vision, &mut problems);
    if let Some((repo, commit)) = repo {
        check_incomplete(repo, &mut problems);
        check_tree(repo, commit, ev, &mut problems);
    }
    problems
}

fn check_links(ev: &Evidence, problems: &mut Vec<String>) {
    let dangling: Vec<&str> = ev
        .files
        .iter()
        .filter(|f| f.size.is_none())
        .map(|f| f.rel.as_str())
        .collect();
    if !dangling.is_empty() {
        problems.push(format!(
            "snapshot links point at missing blobs: {} (download never finished; pull again)",
            dangling.join(", ")
        ));
    }
}

fn check_config(ev: &Evidence, gguf_only: bool, problems: &mut Vec<String>) {
    let problem = match &ev.config {
        Config::Missing if gguf_only => return,
        Config::Missing => "config.json is missing".to_string(),
        Config::Unreadable(why) => format!("config.json cannot be read: {why}"),
        Config::Empty => "config.json is empty".to_string(),
        Config::Invalid(why) => format!("config.json is not valid JSON ({why})"),
        Config::NotObject => "config.json is not a JSON object".to_string(),
        Config::Object(_) => return,
    };
    problems.push(problem);
}

fn check_markers(ev: &Evidence, problems: &mut Vec<String>) {
    let partial: Vec<&str> = ev
        .files
        .iter()
        .map(|f| f.rel.as_str())
        .filter(|rel| {
            let base = rel.rsplit('/').next().unwrap_or(rel);
            base.contains("partial") || base.ends_with(".tmp") || base.ends_with(".incomplete")
        })
        .collect();
    if !partial.is_empty() {
        problems.push(format!(
            "partial download files: {} (pull again)",
            partial.join(", ")
        ));
    }
}

#[derive(Deserialize)]
struct Index {
    weight_map: BTreeMap<String, String>,
}

/// `model-00001-of-00003.safetensors` → (1, 3).
fn shard_numbers(rel: &str) -> Option<(u32, u32)> {
    let base = rel.rsplit('/').next()?;
    let stem = base
        .strip_suffix(".safetensors")
        .or_else(|| base.strip_suffix(".bin"))?;
    let (head, total) = stem.rsplit_once("-of-")?;
    let (_, index) = head.rsplit_once('-')?;
    Some((index.parse().ok()?, total.parse().ok()?))
}

fn check_weights(ev: &Evidence, problems: &mut Vec<String>) {
    let weights: Vec<&SnapshotFile> = ev.files.iter().filter(|f| is_weight(&f.rel)).collect();
    let present: Vec<&SnapshotFile> = weights
        .iter()
        .copied()
        .filter(|f| f.size.is_some())
        .collect();
    if !present.iter().any(|f| f.size > Some(0)) {
        problems.push("no weight file (.safetensors, .bin, .gguf) with content".into());
        return;
    }
    let empty: Vec<&str> = present
        .iter()
        .filter(|f| f.size == Some(0))
        .map(|f| f.rel.as_str())
        .collect();
    if !empty.is_empty() {
        problems.push(format!("empty weight files: {}", empty.join(", ")));
    }
    let pointers: Vec<&str> = present
        .iter()
        .filter(|f| is_lfs_pointer(f))
        .map(|f| f.rel.as_str())
        .collect();
    if !pointers.is_empty() {
        problems.push(format!(
            "Git LFS pointers instead of weights: {} (clone with git-lfs, or pull)",
            pointers.join(", ")
        ));
    }

    // Headers of every safetensors file that has content; the tensor names
    // only matter when an index says where each tensor lives.
    let indexes: Vec<&SnapshotFile> = ev
        .files
        .iter()
        .filter(|f| {
            f.rel.ends_with(".safetensors.index.json") || f.rel.ends_with(".bin.index.json")
        })
        .collect();
    let mut headers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for f in &present {
        if !f.rel.ends_with(".safetensors")
            || f.size == Some(0)
            || pointers.contains(&f.rel.as_str())
        {
            continue;
        }
        match safetensors::check(&f.path, !indexes.is_empty()) {
            Ok(h) => {
                headers.insert(&f.rel, h.tensors.into_iter().collect());
            }
            Err(why) => problems.push(format!("{}: {why}", f.rel)),
        }
    }
    for (rel, result) in &ev.gguf {
        if let Err(why) = result {
            problems.push(format!("{rel}: {why}"));
        }
    }

    for index in &indexes {
        check_index(ev, index, &headers, problems);
    }
    if indexes.is_empty() {
        check_shard_set(&present, problems);
    }
}

fn check_index(
    ev: &Evidence,
    index: &SnapshotFile,
    headers: &BTreeMap<&str, BTreeSet<String>>,
    problems: &mut Vec<String>,
) {
    let parsed = std::fs::read(&index.path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Index>(&b).map_err(|e| e.to_string()));
    let map = match parsed {
        Ok(i) if !i.weight_map.is_empty() => i.weight_map,
        Ok(_) => return problems.push(format!("{}: empty weight_map", index.rel)),
        Err(why) => return problems.push(format!("{}: unreadable ({why})", index.rel)),
    };
    let dir = index
        .rel
        .rsplit_once('/')
        .map(|(d, _)| format!("{d}/"))
        .unwrap_or_default();
    let mut by_shard: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (tensor, shard) in &map {
        by_shard
            .entry(format!("{dir}{shard}"))
            .or_default()
            .push(tensor);
    }
    let mut missing = Vec::new();
    for (shard, tensors) in &by_shard {
        match ev.file(shard) {
            None => missing.push(shard.as_str()),
            Some(_) => {
                if let Some(names) = headers.get(shard.as_str()) {
                    let absent: Vec<&str> = tensors
                        .iter()
                        .copied()
                        .filter(|t| !names.contains(*t))
                        .collect();
                    if let Some(first) = absent.first() {
                        problems.push(format!(
                            "{} places {} tensor(s) in {shard} that it does not hold (e.g. {first}); index and shards are from different revisions",
                            index.rel,
                            absent.len()
                        ));
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        problems.push(format!(
            "shards named in {} are missing: {} (pull again)",
            index.rel,
            missing.join(", ")
        ));
    }
}

fn check_shard_set(present: &[&SnapshotFile], problems: &mut Vec<String>) {
    let shards: Vec<(u32, u32)> = present
        .iter()
        .filter_map(|f| shard_numbers(&f.rel))
        .collect();
    let Some(&(_, total)) = shards.first() else {
        return;
    };
    if total <= 1 && shards.len() <= 1 {
        return;
    }
    if shards.iter().any(|&(_, t)| t != total) {
        problems.push("shards disagree on their total count (-of-N)".into());
        return;
    }
    let have: BTreeSet<u32> = shards.iter().map(|&(i, _)| i).collect();
    let absent: Vec<String> = (1..=total)
        .filter(|i| !have.contains(i))
        .map(|i| i.to_string())
        .collect();
    if absent.is_empty() {
        problems.push(format!(
            "{total} weight shards but no index (model.safetensors.index.json); pull again"
        ));
    } else {
        problems.push(format!(
            "{} of {total} weight shards present, no index; missing shard(s) {}",
            have.len(),
            absent.join(", ")
        ));
    }
}

fn check_tokenizer(ev: &Evidence, problems: &mut Vec<String>) {
    match ev.file("tokenizer.json") {
        Some(f) if f.size.is_some() => {
            if let Some(why) = tokenizer_problem(f) {
                problems.push(format!("tokenizer.json {why}"));
            }
        }
        Some(_) => {} // dangling: already reported
        None => {
            let slow = ["tokenizer.model", "vocab.json", "vocab.txt", "spiece.model"]
                .iter()
                .any(|rel| ev.file(rel).is_some());
            if ev.file("tokenizer_config.json").is_some() && !slow {
                problems.push("tokenizer_config.json present but tokenizer.json is missing".into());
            }
        }
    }
}

/// A cheap structural check: a complete JSON object starts with `{` and ends
/// with `}`; a truncated download or an LFS pointer does not.
fn tokenizer_problem(f: &SnapshotFile) -> Option<&'static str> {
    if f.size == Some(0) {
        return Some("is empty");
    }
    if is_lfs_pointer(f) {
        return Some("is a Git LFS pointer");
    }
    let Some((head, tail)) = read_ends(&f.path, 64) else {
        return Some("cannot be read");
    };
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    let last = tail.iter().rev().find(|b| !b.is_ascii_whitespace());
    (first != Some(&b'{') || last != Some(&b'}'))
        .then_some("is not a complete JSON object (truncated?)")
}

/// The first and the last `n` bytes of a file, through one open.
fn read_ends(path: &std::path::Path, n: u64) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut head = Vec::new();
    (&mut file).take(n).read_to_end(&mut head).ok()?;
    file.seek(SeekFrom::Start(len.saturating_sub(n))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    Some((head, tail))
}

fn check_processor(ev: &Evidence, vision: bool, problems: &mut Vec<String>) {
    let has = |rel: &str| ev.file(rel).is_some();
    if vision
        && ev
            .config
            .object()
            .is_some_and(|c| c.contains_key("vision_config"))
        && !has("preprocessor_config.json")
        && !has("processor_config.json")
    {
        problems
            .push("vision model without preprocessor_config.json or processor_config.json".into());
    }
}

fn check_incomplete(repo: &Repo, problems: &mut Vec<String>) {
    let incomplete = repo.incomplete_blobs();
    if let Some((name, bytes)) = incomplete.first() {
        problems.push(format!(
            "interrupted download: blobs/{name} ({bytes} bytes){} — run mlxk-pull {} to resume",
            if incomplete.len() > 1 {
                format!(" and {} more", incomplete.len() - 1)
            } else {
                String::new()
            },
            repo.name
        ));
    }
}

#[derive(Deserialize)]
struct Tree {
    files: BTreeMap<String, TreeEntry>,
}

#[derive(Deserialize)]
struct TreeEntry {
    size: u64,
    lfs_size: Option<u64>,
}

fn check_tree(repo: &Repo, commit: &str, ev: &Evidence, problems: &mut Vec<String>) {
    let Ok(bytes) = std::fs::read(repo.tree_file(commit)) else {
        return;
    };
    let Ok(tree) = serde_json::from_slice::<Tree>(&bytes) else {
        return;
    };
    for f in &ev.files {
        let (Some(entry), Some(size)) = (tree.files.get(&f.rel), f.size) else {
            continue;
        };
        let expected = entry.lfs_size.unwrap_or(entry.size);
        if size != expected {
            problems.push(format!(
                "{} is {size} bytes, the Hub listed {expected} (trees/{commit}.json); pull again",
                f.rel
            ));
        }
    }
}

/// Why the MLX runner cannot run this model, or `None` when it can.
pub fn runtime_problem(ev: &Evidence, framework: Framework) -> Option<String> {
    if is_whisper(&ev.config) {
        return whisper_problem(ev, framework);
    }
    if framework != Framework::Mlx {
        return Some(match framework {
            Framework::Gguf => {
                "GGUF weights: mlxk runs MLX models (use llama.cpp, or an mlx-community conversion)"
                    .into()
            }
            _ => format!(
                "{} weights are not MLX (convert with mlx_lm.convert)",
                match framework {
                    Framework::PyTorch => "PyTorch",
                    _ => "Unknown",
                }
            ),
        });
    }
    let weights: Vec<&str> = ev
        .files
        .iter()
        .map(|f| f.rel.as_str())
        .filter(|r| is_weight(r))
        .collect();
    if !weights.is_empty() && weights.iter().all(|r| r.starts_with("weights.")) {
        return Some("legacy weights.NN.safetensors layout; re-convert with mlx_lm.convert".into());
    }
    let Some(arch) = ev.config.str("model_type") else {
        return Some("config.json has no model_type".into());
    };
    if !RUNNER_ARCHITECTURES.contains(&arch) && !RUNNER_VISION_FAMILIES.contains(&arch) {
        return Some(format!(
            "architecture '{arch}' is not supported (supported: {})",
            [
                RUNNER_ARCHITECTURES,
                RUNNER_VISION_FAMILIES,
                RUNNER_AUDIO_FAMILIES
            ]
            .concat()
            .join(", ")
        ));
    }
    None
}

/// A Whisper config as mlxk-audio reads it (`model_type` "whisper", or mlx-whisper's
/// dimensions without one).
fn is_whisper(config: &Config) -> bool {
    match config.str("model_type") {
        Some(t) => RUNNER_AUDIO_FAMILIES.contains(&t),
        None => config
            .object()
            .is_some_and(|c| c.contains_key("n_audio_state") && c.contains_key("n_mels")),
    }
}

/// mlxk-audio loads what mlx-whisper's converter writes (`weights.safetensors` or
/// `weights.npz`, any framework tag) and what mlx-audio's writes (`model*.safetensors`
/// in an MLX repo); a Hugging Face checkpoint has other tensor names.
fn whisper_problem(ev: &Evidence, framework: Framework) -> Option<String> {
    let has = |rel: &str| ev.files.iter().any(|f| f.rel == rel);
    let model_shards = ev
        .files
        .iter()
        .any(|f| f.rel.starts_with("model") && f.rel.ends_with(".safetensors"));
    if has("weights.safetensors") || has("weights.npz") {
        return None;
    }
    if model_shards && framework == Framework::Mlx {
        return None;
    }
    if model_shards {
        return Some(
            "Hugging Face Whisper weights, not MLX (convert with mlx_audio.convert or mlx-whisper's convert.py)"
                .into(),
        );
    }
    Some("no Whisper weights (weights.safetensors, weights.npz or model.safetensors)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert_eq!(
            shard_numbers("model-00002-of-00004.safetensors"),
            Some((2, 4))
        );
        assert_eq!(
            shard_numbers("pytorch_model-00001-of-00002.bin"),
            Some((1, 2))
        );
        assert_eq!(shard_numbers("model.safetensors"), None);
    }
}
