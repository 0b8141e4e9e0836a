//! mlxk-list on the text families' checkpoints (made by mlx-lm's own classes) and the vision
//! families' (made by mlx-vlm's): each is
//! healthy, runtime-compatible, of its architecture, and its quantization recipe is named
//! as it is — gpt-oss's MXFP4-Q8 is MXFP4 experts beside 8-bit affine layers.

use crate::harness::fixtures;
use crate::harness::{wire, TestCache};
use crate::list::from_dir;

const LIST: &str = env!("CARGO_BIN_EXE_mlxk-list");

#[test]
fn families_are_runtime_compatible_and_their_recipes_named() {
    let cache = TestCache::new();
    let families = [
        ("tiny-mistral-4bit", "mistral", "4bit"),
        ("tiny-phi3-4bit", "phi3", "4bit"),
        ("tiny-mixtral-4bit", "mixtral", "4bit"),
        ("tiny-qwen3-moe-4bit", "qwen3_moe", "4bit"),
        ("tiny-gpt-oss-mxfp4-q8", "gpt_oss", "8bit+mxfp4"),
    ];
    for (dir, ..) in families {
        from_dir(
            &cache,
            &format!("mlx-community/{dir}"),
            &fixtures::tiny_family(dir),
        )
        .build();
    }
    let models = listed_with_health(&cache);
    for (dir, architecture, quantization) in families {
        let name = format!("mlx-community/{dir}");
        let m = healthy_and_runnable(&models, &name);
        assert_eq!(m.architecture.as_deref(), Some(architecture), "{name}");
        assert_eq!(m.quantization.as_deref(), Some(quantization), "{name}");
    }
}

/// mlxk-list on every vision family's checkpoint (made by mlx-vlm's own classes and
/// converter): healthy, runtime-compatible (mlxk-vision runs it), a vision model, of its
/// architecture.
#[test]
fn vision_families_are_runtime_compatible() {
    let cache = TestCache::new();
    let families = [
        "smolvlm",
        "gemma3",
        "qwen2_5_vl",
        "pixtral",
        "mistral3",
        "mllama",
        "qwen3_vl",
        "qwen3_vl_moe",
    ];
    for family in families {
        let (dir, _) = fixtures::tiny_vlm(family);
        from_dir(&cache, &format!("mlx-community/tiny-{family}"), &dir).build();
    }
    let models = listed_with_health(&cache);
    for family in families {
        let name = format!("mlx-community/tiny-{family}");
        let m = healthy_and_runnable(&models, &name);
        assert!(m.capabilities.contains(&"vision".to_string()), "{name}");
    }
}

/// `mlxk-list --json --health` on `cache`: its model lines, with no error line.
fn listed_with_health(cache: &TestCache) -> Vec<wire::Model> {
    let run = cache.run(LIST, &["--json", "--health"]);
    let (models, errors, _) = wire::list_output(&run.stdout());
    assert!(errors.is_empty(), "{errors:?}");
    models
}

/// The line of `name`, which must be listed, healthy and runtime-compatible.
fn healthy_and_runnable<'a>(models: &'a [wire::Model], name: &str) -> &'a wire::Model {
    let m = models
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} not listed: {models:?}"));
    assert_eq!(m.health, "healthy", "{name}: {:?}", m.reason);
    assert!(m.runtime_compatible, "{name}: {:?}", m.runtime_reason);
    m
}
