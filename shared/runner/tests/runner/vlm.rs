//! The vision runner against Python mlx-vlm 0.7 (`scripts/reference_mlx_vlm.py`) on
//! tiny random checkpoints of each family (SmolVLM/idefics3, Gemma 3, Qwen2.5-VL,
//! Pixtral, Mistral 3, Llama 3.2 Vision) made
//! by mlx-vlm's own classes and converter, and on real photos
//! (`scripts/fixtures-vlm.sh`): the same prompt text, the same input ids, the same pixel
//! values, the same greedy tokens, last-prompt logits within a tolerance; for Qwen2.5-VL
//! also the image grids, the image features, the multimodal rope positions and the
//! logits of the first decode steps. Both sides start from the same decoded RGB
//! (Pillow, EXIF orientation applied) and compute in float32.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;
use mlxk_core::ndjson::FinishReason;
use mlxk_runner::vlm::qwen2_5_vl::vision::window_index;
use mlxk_runner::vlm::resample::{self, Filter};
use mlxk_runner::vlm::{detect, ModelKind, VisionLoadOptions, VisionModel};
use mlxk_runner::{RunnerError, SamplingParams};
use serde::Deserialize;

use crate::common::{fixture, mlx_lock, skip};

/// One line of the reference (its own schema, read independently).
#[derive(Debug, Deserialize)]
struct Reference {
    id: String,
    prompt_text: String,
    input_ids: Vec<u32>,
    pixel_shape: Vec<usize>,
    pixel_file: PathBuf,
    tokens: Vec<u32>,
    finish_reason: String,
    last_logits: Vec<f32>,
    stop_ids: Vec<u32>,
    /// Qwen2.5-VL: each image's patch grid, and the decode position shift.
    #[serde(default)]
    image_grid_thw: Option<Vec<[usize; 3]>>,
    #[serde(default)]
    rope_deltas: Option<i64>,
    /// Mllama: greedy tokens of the same mlx-vlm model decoded with transformers' mask
    /// on generated tokens (the last prompt row's), where mlx-vlm's generate drops it.
    #[serde(default)]
    masked_tokens: Option<Vec<u32>>,
    #[serde(default)]
    masked_finish_reason: Option<String>,
}

impl Reference {
    /// The greedy tokens, finish reason and step-logits tensor the runner must give:
    /// mlx-vlm's generate's, or for Mllama its model's under transformers' decode mask.
    fn expected(&self) -> (&[u32], &str, &str) {
        match (&self.masked_tokens, &self.masked_finish_reason) {
            (Some(tokens), Some(finish)) => (tokens, finish, "masked_step_logits"),
            _ => (&self.tokens, &self.finish_reason, "step_logits"),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    images: Vec<PathBuf>,
    prompt: String,
    #[serde(default)]
    system: Option<String>,
    max_tokens: usize,
}

/// Largest |Δlogit| accepted. Both sides run MLX's float32 kernels on the same
/// weights; they differ in BLAS (OpenBLAS here, the wheel's reference BLAS in Python),
/// in our dequantize-then-matmul prefill, and in encoding frames one at a time.
const LOGIT_TOLERANCE: f32 = 1e-3;

/// Largest |Δ| accepted in image features (values of order 1): the vision tower's
/// products run on different BLAS kernels (and Qwen2.5-VL's patch embedding is a matrix
/// product here, a Conv3d there), in float32.
const FEATURE_TOLERANCE: f32 = 1e-5;

/// Decode steps whose logits the Qwen2.5-VL and Pixtral references keep.
const STEP_LOGITS: usize = 8;

/// Runs `scripts/fixtures-vlm.sh ARGS` (cheap when cached) → the path it prints last.
/// Under CI a failure fails the test; elsewhere it is reported and the test passes.
fn fixtures_vlm(args: &[&str]) -> Option<PathBuf> {
    let arg = args.join(" ");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixtures-vlm.sh");
    let out = Command::new("bash").arg(&script).args(args).output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).unwrap();
            Some(PathBuf::from(text.lines().last()?.trim()))
        }
        Ok(out) => {
            skip(&format!(
                "scripts/fixtures-vlm.sh {arg} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
            None
        }
        Err(e) => {
            skip(&format!("cannot run bash {}: {e}", script.display()));
            None
        }
    }
}

/// The decoded photo: uint8 `rgb` `[H, W, 3]` in a safetensors file.
fn load_rgb(path: &Path) -> RgbImage {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("rgb").unwrap();
    let shape = t.shape();
    RgbImage::from_raw(shape[1] as u32, shape[0] as u32, t.data().to_vec()).unwrap()
}

fn load_f32(path: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
    let data = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), data)
}

/// Whether the reference kept tensor `name` in `path` (per family: Qwen2.5-VL's and
/// Pixtral's keep image features and step logits).
fn has_tensor(path: &Path, name: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.names().contains(&name)
}

fn load_i32(path: &Path, name: &str) -> (Vec<usize>, Vec<i32>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::I32, "{name}");
    let data = t
        .data()
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), data)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn smolvlm_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&[], "idefics3");
}

#[test]
fn gemma3_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["gemma3"], "gemma3");
}

/// Pixtral: images at their own size (patch rows broken by `[IMG_BREAK]`), the 2-D
/// rope over each image's own grid, two images of different sizes padded in one batch.
#[test]
fn pixtral_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["pixtral"], "pixtral");
    // 128² at most: 8×8 patches, 7 row breaks and the end token.
    agrees_on_mlx_decode("pixtral", 72);
}

/// Mistral 3: Pixtral's tower and processor with image tokens of 2 × 2 patches (the
/// projector's patch merger), Mistral Small 3.1's configuration.
#[test]
fn mistral3_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["mistral3"], "mistral3");
    // 224² at most: 16×16 patches → 8×8 tokens, 7 row breaks and the end token.
    agrees_on_mlx_decode("mistral3", 72);
}

/// Llama 3.2 Vision: tiles of each image's best tiling (padding tiles included), the
/// gated cross-attention layers attending to the image features from the image token
/// on, on MLX's decode step (the CPU step does not run cross-attention layers).
#[test]
fn mllama_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["mllama"], "mllama");
    // 4 tiles of 4×4 patches and the class token.
    agrees_on_mlx_decode("mllama", 68);
}

/// Qwen3-VL: Qwen2.5-VL's processor with patches of 16, learned position embeddings
/// interpolated to each grid, deepstack features added to the first decoder layers,
/// interleaved multimodal rope; on the CPU decode step and on MLX's.
#[test]
fn qwen3_vl_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["qwen3_vl"], "qwen3_vl");
    // The gate's image: max_pixels 131072 → 512 patches of 16² → 128 tokens.
    agrees_on_mlx_decode("qwen3_vl", 128);
}

/// Qwen3-VL-MoE: the same on Qwen3-MoE's sparse layers, with the MoE tower's GELUs.
#[test]
fn qwen3_vl_moe_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["qwen3_vl_moe"], "qwen3_vl_moe");
    agrees_on_mlx_decode("qwen3_vl_moe", 128);
}

/// Qwen2.5-VL: besides the common checks, the image features, the mrope positions and
/// the first decode steps' logits (random weights repeat one token, so the steps'
/// logits are what shows the decode positions are right), on the CPU decode step and
/// on MLX's.
#[test]
fn qwen2_5_vl_agrees_with_mlx_vlm() {
    agrees_with_mlx_vlm(&["qwen2_5_vl"], "qwen2_5_vl");
    // The gate's image: max_pixels 100352 → 512 patches → 128 tokens.
    agrees_on_mlx_decode("qwen2_5_vl", 128);
}

/// The reference's cases again with MLX's decode step instead of the CPU step: greedy
/// tokens and every kept step's logits. `tokens_per_image` is what the memory gate
/// counts for the fixture's largest image.
fn agrees_on_mlx_decode(family: &str, tokens_per_image: usize) {
    let _lock = mlx_lock();
    let (Some(refdir), Some(dir)) = (
        fixtures_vlm(&["reference", family]),
        fixtures_vlm(&["model", family]),
    ) else {
        return;
    };
    let (cases, refs) = read_reference(&refdir);
    let mut options = VisionLoadOptions::default();
    options.load.cpu_kernel = false;
    let model = VisionModel::load(&dir, &options).unwrap();
    assert_eq!(model.max_tokens_per_image(), tokens_per_image);
    for (case, r) in cases.iter().zip(&refs) {
        let images: Vec<RgbImage> = case.images.iter().map(|p| load_rgb(p)).collect();
        let input = model
            .prepare(&images, &case.prompt, case.system.as_deref())
            .unwrap();
        let (tokens, _, steps) = generate_and_check_steps(&model, &input, case, r, &refdir);
        assert_eq!(
            tokens,
            r.expected().0,
            "{}: greedy tokens (MLX decode)",
            r.id
        );
        let steps = steps.expect("the reference keeps step logits");
        eprintln!("{}: MLX decode steps agree, max |Δlogit| {steps:.3e}", r.id);
    }
}

fn read_reference(refdir: &Path) -> (Vec<Case>, Vec<Reference>) {
    let cases: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(refdir.join("cases.json")).unwrap()).unwrap();
    let refs: Vec<Reference> = std::fs::read_to_string(refdir.join("reference.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), refs.len());
    for (case, r) in cases.iter().zip(&refs) {
        assert_eq!(case.id, r.id);
    }
    (cases, refs)
}

/// Greedy generation of `case` (the stop token appended when it stopped), whether it
/// stopped, and, where the reference keeps `step_logits`, the largest |Δ| of each
/// step's logits (checked against [`LOGIT_TOLERANCE`]).
fn generate_and_check_steps(
    model: &VisionModel,
    input: &mlxk_runner::vlm::VisionInput,
    case: &Case,
    r: &Reference,
    refdir: &Path,
) -> (Vec<u32>, bool, Option<f32>) {
    let mut gen = model
        .generate_tokens(input, &SamplingParams::greedy(case.max_tokens), None)
        .unwrap()
        .keep_logits();
    let mut tokens: Vec<u32> = gen.by_ref().map(Result::unwrap).collect();
    let stopped = gen.stats().finish_reason == FinishReason::Stop;
    let (want_tokens, _, step_logits) = r.expected();
    if stopped {
        tokens.push(*want_tokens.last().unwrap());
    }
    let mut worst = None;
    let file = refdir.join(&r.pixel_file);
    if has_tensor(&file, step_logits) {
        let (shape, want) = load_f32(&file, step_logits);
        let vocab = shape[1];
        let kept = gen.kept_logits().unwrap();
        assert_eq!(shape[0], STEP_LOGITS.min(want_tokens.len()), "{}", r.id);
        assert!(
            kept.len() >= shape[0],
            "{}: {} steps kept",
            r.id,
            kept.len()
        );
        for (step, (got, want)) in kept.iter().zip(want.chunks_exact(vocab)).enumerate() {
            let diff = max_abs_diff(got, want);
            assert!(
                diff <= LOGIT_TOLERANCE,
                "{}: step {step}: max |Δlogit| {diff} > {LOGIT_TOLERANCE}",
                r.id
            );
            worst = Some(worst.unwrap_or(0.0f32).max(diff));
        }
    }
    (tokens, stopped, worst)
}

/// Qwen2.5-VL's stages against the reference: patch grids, the vision tower's window
/// order and bounds (all images in one list, as mlx-vlm makes them), mrope positions
/// and their decode shift.
fn check_qwen_stages(input: &mlxk_runner::vlm::VisionInput, r: &Reference, refdir: &Path) {
    let file = refdir.join(&r.pixel_file);
    assert_eq!(
        Some(&input.patch_grids),
        r.image_grid_thw.as_ref(),
        "{}: grids",
        r.id
    );
    let (shape, want) = load_i32(&file, "position_ids");
    assert_eq!(shape, [3, 1, input.input_ids.len()], "{}", r.id);
    let (positions, delta) = input.rope_positions().unwrap().expect("mrope positions");
    assert_eq!(positions, want, "{}: rope positions", r.id);
    assert_eq!(Some(delta), r.rope_deltas, "{}: rope deltas", r.id);
    if !has_tensor(&file, "window_index") {
        return; // Qwen3-VL: no windows.
    }
    let (mut index, mut bounds) = (Vec::new(), vec![0i32]);
    let (mut tokens, mut rows) = (0, 0);
    for &grid in &input.patch_grids {
        let (i, b) = window_index(grid, 2, 4);
        index.extend(i.iter().map(|&t| (t + tokens) as i32));
        bounds.extend(b[1..].iter().map(|&x| (x + rows) as i32));
        tokens += i.len();
        rows += grid.iter().product::<usize>();
    }
    assert_eq!(
        index,
        load_i32(&file, "window_index").1,
        "{}: window index",
        r.id
    );
    assert_eq!(
        bounds,
        load_i32(&file, "cu_window_seqlens").1,
        "{}: window bounds",
        r.id
    );
}

/// The image features (vision tower and projector or merger) against the reference's,
/// in the order they replace the image tokens: their largest |Δ|.
fn check_features(
    model: &VisionModel,
    input: &mlxk_runner::vlm::VisionInput,
    r: &Reference,
    file: &Path,
) -> f32 {
    let (shape, want) = load_f32(file, "image_features");
    assert_eq!(shape[0], input.image_tokens, "{}", r.id);
    let got = model.image_features(input).unwrap();
    let mut diff = max_abs_diff(&got, &want);
    assert!(
        diff <= FEATURE_TOLERANCE,
        "{}: image features max |Δ| {diff} > {FEATURE_TOLERANCE}",
        r.id
    );
    if has_tensor(file, "deepstack_features") {
        let (shape, want) = load_f32(file, "deepstack_features");
        let got = model.deepstack_features(input).unwrap();
        assert_eq!(got.len(), shape[0], "{}: deepstack levels", r.id);
        for (level, want) in got.iter().zip(want.chunks_exact(want.len() / shape[0])) {
            let d = max_abs_diff(level, want);
            assert!(
                d <= FEATURE_TOLERANCE,
                "{}: deepstack features max |Δ| {d} > {FEATURE_TOLERANCE}",
                r.id
            );
            diff = diff.max(d);
        }
    }
    diff
}

/// The checkpoint `scripts/fixtures-vlm.sh model FAMILY` makes, against mlx-vlm's
/// outputs on it.
fn agrees_with_mlx_vlm(family: &[&str], model_type: &str) {
    let _lock = mlx_lock();
    let Some(refdir) = fixtures_vlm(&[&["reference"], family].concat()) else {
        return;
    };
    let Some(dir) = fixtures_vlm(&[&["model"], family].concat()) else {
        return;
    };
    let (cases, refs) = read_reference(&refdir);

    let model = VisionModel::load(&dir, &VisionLoadOptions::default()).unwrap();
    assert_eq!(model.family(), model_type);
    let mut stops: Vec<u32> = model.stop_tokens().iter().copied().collect();
    stops.sort();
    let mut worst = 0.0f32;
    for (case, r) in cases.iter().zip(&refs) {
        let images: Vec<RgbImage> = case.images.iter().map(|p| load_rgb(p)).collect();
        let system = case.system.as_deref();
        let text = model
            .render_prompt(&case.prompt, system, images.len())
            .unwrap();
        assert_eq!(text, r.prompt_text, "{}: prompt text", r.id);
        let t0 = std::time::Instant::now();
        let input = model.prepare(&images, &case.prompt, system).unwrap();
        let t_prepare = t0.elapsed();
        assert_eq!(input.input_ids, r.input_ids, "{}: input ids", r.id);

        let (shape, want) = load_f32(&refdir.join(&r.pixel_file), "pixel_values");
        assert_eq!(shape, r.pixel_shape);
        assert_eq!(input.pixel_shape(), shape, "{}: pixel shape", r.id);
        let got = input.pixel_values().unwrap();
        let pixel_diff = max_abs_diff(&got, &want);
        assert_eq!(pixel_diff, 0.0, "{}: pixel values differ", r.id);
        if r.image_grid_thw.is_some() {
            check_qwen_stages(&input, r, &refdir);
        }
        let file = refdir.join(&r.pixel_file);
        let features = if has_tensor(&file, "image_features") {
            let diff = check_features(&model, &input, r, &file);
            format!(", image features max |Δ| {diff:.3e}")
        } else {
            String::new()
        };

        let t0 = std::time::Instant::now();
        let logits = model.prompt_logits(&input).unwrap();
        let t_logits = t0.elapsed();
        let diff = max_abs_diff(&logits, &r.last_logits);
        worst = worst.max(diff);
        assert!(
            diff <= LOGIT_TOLERANCE,
            "{}: max |Δlogit| {diff} > {LOGIT_TOLERANCE}",
            r.id
        );

        let t0 = std::time::Instant::now();
        let (tokens, stopped, steps) = generate_and_check_steps(&model, &input, case, r, &refdir);
        let t_generate = t0.elapsed();
        let steps = steps.map_or(String::new(), |d| format!(", decode steps {d:.3e}"));
        let (want_tokens, want_finish, _) = r.expected();
        assert_eq!(tokens, want_tokens, "{}: greedy tokens", r.id);
        assert_eq!(
            want_finish,
            if stopped { "stop" } else { "length" },
            "{}",
            r.id
        );
        let tiles = input.frames / input.grids.len().max(1);
        if r.masked_tokens.is_some() && input.grids.iter().all(|(rows, cols)| rows * cols == tiles)
        {
            // Images that fill their tiles: mlx-vlm's own generate gives these tokens too.
            assert_eq!(tokens, r.tokens, "{}: mlx-vlm's greedy tokens", r.id);
        }
        for id in &r.stop_ids {
            assert!(
                stops.contains(id),
                "{}: mlx-vlm stops on {id}, we do not",
                r.id
            );
        }
        eprintln!(
            "{}: {} frames, {} prompt tokens, pixels identical{features}, {} tokens agree, \
             max |Δlogit| {diff:.3e}{steps} \
             (processor {:.2} s, images + prompt {:.2} s, generation {:.2} s)",
            r.id,
            input.frames,
            input.input_ids.len(),
            r.tokens.len(),
            t_prepare.as_secs_f64(),
            t_logits.as_secs_f64(),
            t_generate.as_secs_f64()
        );
    }
    eprintln!("{model_type}: max |Δlogit| over all cases {worst:.3e}");
}

#[test]
fn pillow_resize_is_reproduced_exactly() {
    let Some(photos) = fixtures_vlm(&["photos"]) else {
        return;
    };
    let flower = load_rgb(&photos.join("flower.rgb.safetensors"));
    let bytes = std::fs::read(photos.join("flower-resized.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut checked = 0;
    for (name, t) in st.tensors() {
        let (code, size) = name[1..].split_once('_').unwrap();
        let (w, h) = size.split_once('x').unwrap();
        let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
        let filter = Filter::from_pil(code.parse().unwrap()).unwrap();
        let ours = resample::resize(&flower, w, h, filter);
        assert_eq!(ours.dimensions(), (w, h), "{name}");
        let differing = ours
            .as_raw()
            .iter()
            .zip(t.data())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{name}: {differing} values differ from Pillow"
        );
        checked += 1;
    }
    assert_eq!(checked, 25);
}

#[test]
fn vision_streams_text_and_stats() {
    let _lock = mlx_lock();
    let Some(dir) = fixtures_vlm(&["model"]) else {
        return;
    };
    let model = VisionModel::load(&dir, &VisionLoadOptions::default()).unwrap();
    let photo = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let input = model.prepare(&[photo], "Describe.", None).unwrap();
    assert_eq!(
        input.frames,
        1 + 12,
        "64×48 is upscaled to 2048×1536: 3×4 tiles + global"
    );
    let params = SamplingParams::greedy(5);
    let mut text = String::new();
    let mut done = None;
    let mut ids = Vec::new();
    for event in model.generate(&input, &params, None).unwrap() {
        match event.unwrap() {
            mlxk_runner::Event::Token { id, text: t } => {
                ids.push(id);
                text.push_str(&t);
            }
            mlxk_runner::Event::Reasoning { .. } => {}
            mlxk_runner::Event::Done { text: t, stats } => {
                text.push_str(&t);
                done = Some(stats);
            }
        }
    }
    let stats = done.expect("a Done event");
    assert_eq!(stats.prompt_tokens, input.input_ids.len());
    assert_eq!(text, model.decode(&ids).unwrap());
    assert!(stats.generated_tokens >= 1 && stats.generated_tokens <= 5);
    // The gate sized the cache for one image at its largest tiling plus the text budget.
    let estimate = match model.memory_verdict() {
        mlxk_runner::MemoryVerdict::Fits { estimate, .. }
        | mlxk_runner::MemoryVerdict::Unknown { estimate } => *estimate,
        other => panic!("{other:?}"),
    };
    assert_eq!(model.max_tokens_per_image(), 17 * 64);
    assert_eq!(
        estimate.tokens as usize,
        mlxk_runner::vlm::DEFAULT_TEXT_TOKENS + 17 * 64
    );
}

#[test]
fn text_and_unknown_models_are_refused_clearly() {
    let tmp = std::env::temp_dir().join(format!("mlxk-vlm-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let qwen_vl = tmp.join("qwen-vl");
    std::fs::create_dir_all(&qwen_vl).unwrap();
    std::fs::write(
        qwen_vl.join("config.json"),
        r#"{"model_type": "qwen2_vl", "vision_config": {"depth": 32}}"#,
    )
    .unwrap();
    let err = VisionModel::load(&qwen_vl, &VisionLoadOptions::default()).unwrap_err();
    assert!(matches!(err, RunnerError::UnsupportedVisionModel { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("qwen2_vl") && msg.contains("smolvlm") && msg.contains("idefics3"),
        "{msg}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();

    let Some(text_model) = fixture("SmolLM2-135M-Instruct-4bit", "smollm2") else {
        return;
    };
    assert_eq!(
        detect(&text_model).unwrap(),
        ModelKind::Text {
            model_type: "llama".into()
        }
    );
    let err = VisionModel::load(&text_model, &VisionLoadOptions::default()).unwrap_err();
    assert!(matches!(err, RunnerError::NotAVisionModel { .. }), "{err}");
    assert!(err.to_string().contains("text-only"), "{err}");
}

/// mlxk-list's runtime check (mlxk-core, which does not link MLX) names the same
/// architectures and vision families the runner implements.
#[test]
fn core_and_runner_agree_on_what_runs() {
    // mlxk-core's lists are the runner's; each vision name belongs to a family module.
    use mlxk_runner::vlm::{gemma3, mistral3, mllama, pixtral, qwen2_5_vl, qwen3_vl, smolvlm};
    let mut families = [
        smolvlm::MODEL_TYPES,
        gemma3::MODEL_TYPES,
        qwen2_5_vl::MODEL_TYPES,
        pixtral::MODEL_TYPES,
        mistral3::MODEL_TYPES,
        mllama::MODEL_TYPES,
        qwen3_vl::MODEL_TYPES,
    ]
    .concat();
    let mut listed = mlxk_core::health::RUNNER_VISION_FAMILIES.to_vec();
    families.sort();
    listed.sort();
    assert_eq!(families, listed);
}
