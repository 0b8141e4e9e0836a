//! mlxk-vision with a model: the tiny random SmolVLM and Gemma 3 checkpoints that
//! mlx-vlm's own classes made (scripts/fixtures-vlm.sh). The binary describes as Python
//! mlx-vlm does on the same pixels; chunks are fresh sessions of one loaded
//! model; the refusals come before loading; and the flagship chain
//! photos → mlxk-vision → mlxk-run hands every image's metadata to the text
//! model.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::fixtures::{self, photos, tiny_qwen2, tiny_smolvlm, tiny_vlm, vlm_reference};
use crate::harness::wire_vision::{stream, Chunk, Image, Stream};
use crate::harness::{Run, TestCache};
use crate::run::{cache_with_smollm2, RUN};

const VISION: &str = env!("CARGO_BIN_EXE_mlxk-vision");
const TINY: &str = "test/tiny-smolvlm";

/// A cache holding the tiny SmolVLM.
fn cache_with_vlm() -> TestCache {
    let cache = TestCache::new();
    add_model(&cache, TINY, &tiny_smolvlm());
    cache
}

/// Puts the model directory `dir` into `cache` as repo `name`.
fn add_model(cache: &TestCache, name: &str, dir: &Path) {
    let mut repo = cache.repo(name);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        repo = repo.file(&name, std::fs::read(&path).unwrap());
    }
    repo.build();
}

fn vision(cache: &TestCache, args: &[&str]) -> (Run, Stream) {
    let run = cache.run(VISION, args);
    let s = stream(&run.stdout());
    (run, s)
}

/// The real JPEG the reference decoded with Pillow for case photo `name`
/// (`flower`: Pillow's `flower.jpg`, `sample1`: goexif's `sample1.jpg`):
/// mlxk-vision decodes it itself, with libjpeg-turbo as Pillow does, so both see
/// the same pixels (tests/photo_pixels.rs).
fn reference_jpeg(name: &str) -> PathBuf {
    let path = match name {
        "flower" => "pillow/flower.jpg",
        "sample1" => "goexif/sample1.jpg",
        _ => panic!("no reference photo {name}"),
    };
    photos().join(path)
}

/// mlx-vlm's greedy tokens for reference case `id`, as text (the tokenizer
/// of the checkpoint, through Python's `tokenizers`).
fn reference_text(id: &str) -> String {
    reference_text_of(&vlm_reference(), &tiny_smolvlm(), id)
}

fn reference_text_of(reference: &Path, model: &Path, id: &str) -> String {
    let line = std::fs::read_to_string(reference.join("reference.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no reference case {id}"));
    let out = Command::new(fixtures::python())
        .args([
            "-c",
            "import json, sys\nfrom tokenizers import Tokenizer\n\
             t = Tokenizer.from_file(sys.argv[1])\n\
             sys.stdout.write(t.decode(json.loads(sys.argv[2]), skip_special_tokens=False))",
        ])
        .arg(model.join("tokenizer.json"))
        .arg(line["tokens"].to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn only_chunk(s: &Stream) -> &Chunk {
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.chunks.len(), 1, "{:?}", s.chunks);
    &s.chunks[0]
}

#[test]
fn describes_as_mlx_vlm_does_on_the_same_pixels() {
    let cache = cache_with_vlm();
    let flower = reference_jpeg("flower");
    let sample1 = reference_jpeg("sample1");
    // The reference's `flower-system` case: a system prompt, one image.
    let (run, s) = vision(
        &cache,
        &[
            TINY,
            flower.to_str().unwrap(),
            "--no-metadata",
            "--system",
            "You are a careful photo archivist.",
            "--prompt",
            "Where and when was this photo taken?",
            "-n",
            "32",
            "--json",
        ],
    );
    run.expect_code(0);
    let chunk = only_chunk(&s);
    assert_eq!(chunk.text, reference_text("flower-system"));
    assert_eq!(chunk.generated_tokens, Some(32));
    assert_eq!(chunk.finish_reason.as_deref(), Some("length"));
    assert_eq!(chunk.model, TINY);
    // The deltas, all of chunk 1, add up to its text.
    assert!(s.deltas.iter().all(|(id, _)| *id == 1));
    let streamed: String = s.deltas.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(streamed, chunk.text);

    // `two-images`: two images in one chunk, the prompt as the user wrote it.
    let (run, s) = vision(
        &cache,
        &[
            TINY,
            sample1.to_str().unwrap(),
            flower.to_str().unwrap(),
            "--chunk",
            "2",
            "--no-metadata",
            "--prompt",
            "[Image 1 | Date: 2003-11-23] [Image 2 | Date: 2003-12-14] Describe each photo.",
            "-n",
            "16",
            "--json",
        ],
    );
    run.expect_code(0);
    let chunk = only_chunk(&s);
    assert_eq!(chunk.text, reference_text("two-images"));
    let numbers: Vec<Option<u64>> = chunk.images.iter().map(|i| i.n).collect();
    assert_eq!(numbers, [Some(1), Some(2)]);
}

/// Photos with GPS, date and camera (exiftool-made copies of real photos).
/// Gemma 3 through the binary: its prompt format (the images after the text), its
/// processor and its model give mlx-vlm's greedy text on the same pixels.
#[test]
fn gemma3_describes_as_mlx_vlm_does() {
    describes_as_mlx_vlm_does("gemma3");
}

/// Qwen2.5-VL through the binary: smart resizing, patches, windows, multimodal rope.
#[test]
fn qwen2_5_vl_describes_as_mlx_vlm_does() {
    describes_as_mlx_vlm_does("qwen2_5_vl");
}

/// Pixtral through the binary: its processor (aspect kept, whole patches, row breaks)
/// and its vision tower give mlx-vlm's greedy text on the same pixels.
#[test]
fn pixtral_describes_as_mlx_vlm_does() {
    describes_as_mlx_vlm_does("pixtral");
}

/// Mistral 3 through the binary: Pixtral's processor with 2 × 2 patch tokens, the
/// projector's patch merger, Mistral Small 3.1's chat template.
#[test]
fn mistral3_describes_as_mlx_vlm_does() {
    describes_as_mlx_vlm_does("mistral3");
}

/// Qwen3-VL through the binary: patches of 16, interpolated position embeddings,
/// deepstack, interleaved multimodal rope.
#[test]
fn qwen3_vl_describes_as_mlx_vlm_does() {
    describes_as_mlx_vlm_does("qwen3_vl");
}

/// Qwen3-VL-MoE through the binary: the same on Qwen3-MoE's sparse layers.
#[test]
fn qwen3_vl_moe_describes_as_mlx_vlm_does() {
    describes_as_mlx_vlm_does("qwen3_vl_moe");
}

/// Llama 3.2 Vision through the binary: its tiles and the cross-attention layers
/// attending from the image token on give mlx-vlm's greedy text (the reference's
/// `flower` case: the model's template refuses a system prompt beside an image, and
/// mlx-vlm one image per prompt).
#[test]
fn mllama_describes_as_mlx_vlm_does() {
    let name = "test/tiny-mllama";
    let (model, reference) = tiny_vlm("mllama");
    let cache = TestCache::new();
    add_model(&cache, name, &model);
    let flower = reference_jpeg("flower");
    let (run, s) = vision(
        &cache,
        &[
            name,
            flower.to_str().unwrap(),
            "--no-metadata",
            "--prompt",
            "Where and when was this photo taken?",
            "-n",
            "32",
            "--json",
        ],
    );
    run.expect_code(0);
    let want = reference_text_of(&reference, &model, "flower");
    assert_eq!(only_chunk(&s).text, want);
}

/// The reference's `flower-system` and `two-images` cases through mlxk-vision on the
/// tiny checkpoint of `family`, the first with the model chosen by default.
fn describes_as_mlx_vlm_does(family: &str) {
    let name = format!("test/tiny-{family}");
    let (model, reference) = tiny_vlm(family);
    let cache = TestCache::new();
    add_model(&cache, &name, &model);
    let flower = reference_jpeg("flower");
    let sample1 = reference_jpeg("sample1");
    let want = |id: &str| reference_text_of(&reference, &model, id);
    let (run, s) = vision(
        &cache,
        &[
            flower.to_str().unwrap(),
            "--no-metadata",
            "--system",
            "You are a careful photo archivist.",
            "--prompt",
            "Where and when was this photo taken?",
            "-n",
            "32",
            "--json",
        ],
    );
    run.expect_code(0);
    let chunk = only_chunk(&s);
    assert_eq!(
        chunk.model, name,
        "the cache's only vision model is the default"
    );
    assert_eq!(chunk.text, want("flower-system"));
    let (run, s) = vision(
        &cache,
        &[
            &name,
            sample1.to_str().unwrap(),
            flower.to_str().unwrap(),
            "--chunk",
            "2",
            "--no-metadata",
            "--prompt",
            "[Image 1 | Date: 2003-11-23] [Image 2 | Date: 2003-12-14] Describe each photo.",
            "-n",
            "16",
            "--json",
        ],
    );
    run.expect_code(0);
    assert_eq!(only_chunk(&s).text, want("two-images"));
}

fn geo_photos() -> Vec<PathBuf> {
    let p = photos();
    vec![
        p.join("made/gps-ne.jpg"),
        p.join("made/gps-nw.jpg"),
        p.join("made/gps-se.jpg"),
    ]
}

fn strs(paths: &[PathBuf]) -> Vec<&str> {
    paths.iter().map(|p| p.to_str().unwrap()).collect()
}

#[test]
fn chunks_are_fresh_sessions_of_one_loaded_model() {
    let cache = cache_with_vlm();
    let photos = geo_photos();
    let mut args = vec![TINY, "--chunk", "2", "-n", "12", "--json", "--verbose"];
    args.extend(strs(&photos));
    let (run, s) = vision(&cache, &args);
    let run = run.expect_code(0);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!((s.summary.total, s.summary.ok), (3, 3));
    // Two chunks, images numbered within each; the model loaded once.
    let shape: Vec<Vec<Option<u64>>> = s
        .chunks
        .iter()
        .map(|c| c.images.iter().map(|i| i.n).collect())
        .collect();
    assert_eq!(shape, [vec![Some(1), Some(2)], vec![Some(1)]]);
    assert_eq!(run.stderr().matches("memory estimate:").count(), 1);
    for (i, chunk) in s.chunks.iter().enumerate() {
        assert_eq!(chunk.index, i as u64 + 1);
        let streamed: String = s
            .deltas
            .iter()
            .filter(|(id, _)| *id == chunk.index)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(streamed, chunk.text);
    }
    // Chunk 2 is what a run on its image alone gives: nothing of chunk 1
    // leaks into it.
    let (_, alone) = vision(
        &cache,
        &[TINY, "-n", "12", "--json", photos[2].to_str().unwrap()],
    );
    assert_eq!(only_chunk(&alone).text, s.chunks[1].text);
    assert_eq!(only_chunk(&alone).prompt_tokens, s.chunks[1].prompt_tokens);
    // The metadata lines are part of the prompt: without them it is shorter.
    let (_, bare) = vision(
        &cache,
        &[
            TINY,
            "-n",
            "12",
            "--json",
            "--no-metadata",
            photos[2].to_str().unwrap(),
        ],
    );
    assert!(only_chunk(&bare).prompt_tokens < only_chunk(&alone).prompt_tokens);
}

/// `[Image n | GPS: … | Date: … | Camera: …]` as docs/ndjson.md specifies it.
fn image_line(n: usize, image: &Image) -> String {
    let mut parts = vec![format!("Image {n}")];
    if let Some(g) = &image.gps {
        let ns = if g.lat < 0.0 { 'S' } else { 'N' };
        let ew = if g.lon < 0.0 { 'W' } else { 'E' };
        parts.push(format!(
            "GPS: {:.4}°{ns}, {:.4}°{ew}",
            g.lat.abs(),
            g.lon.abs()
        ));
    }
    if let Some(d) = &image.date {
        parts.push(format!("Date: {}", &d[..10]));
    }
    if let Some(c) = &image.camera {
        parts.push(format!("Camera: {c}"));
    }
    format!("[{}]", parts.join(" | "))
}

/// mlxk-run SmolLM2 given `prompt` exactly, as one `request` line, answers
/// as it did in `chained`: greedy decoding of the same prompt.
fn same_answer(cache: &TestCache, prompt: &str, chained: &crate::run::Stream) {
    let request = json!({"type": "request", "prompt": prompt}).to_string();
    let run = pipe(
        cache,
        RUN,
        &["SmolLM2", "-n", "24", "--json"],
        request.as_bytes(),
    );
    let direct = crate::run::stream(&run.expect_code(0).stdout());
    let (direct, chained) = (&direct.results[0], &chained.results[0]);
    assert_eq!(direct.prompt_tokens, chained.prompt_tokens);
    assert_eq!(direct.text, chained.text);
    assert!(!chained.text.is_empty());
}

fn pipe(cache: &TestCache, bin: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = cache
        .command(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin).unwrap();
    Run(child.wait_with_output().unwrap())
}

#[test]
fn the_flagship_chain_hands_every_image_to_the_text_model() {
    flagship_chain(TINY, &tiny_smolvlm());
}

/// The same chain with Pixtral describing the photos.
#[test]
fn the_flagship_chain_runs_with_pixtral() {
    flagship_chain("test/tiny-pixtral", &tiny_vlm("pixtral").0);
}

/// The same chain with Mistral 3 describing the photos.
#[test]
fn the_flagship_chain_runs_with_mistral3() {
    flagship_chain("test/tiny-mistral3", &tiny_vlm("mistral3").0);
}

/// The same chain with Llama 3.2 Vision describing the photos (two to a prompt, each
/// seen from its own image token on).
#[test]
fn the_flagship_chain_runs_with_mllama() {
    flagship_chain("test/tiny-mllama", &tiny_vlm("mllama").0);
}

/// The same chain with Qwen3-VL describing the photos.
#[test]
fn the_flagship_chain_runs_with_qwen3_vl() {
    flagship_chain("test/tiny-qwen3-vl", &tiny_vlm("qwen3_vl").0);
}

/// find photos -name '*.jpg' | mlxk-vision MODEL --chunk 2 --json | mlxk-run SmolLM2 …
/// with the vision checkpoint `dir` in the cache as `name`, on real photos with GPS,
/// date and camera.
fn flagship_chain(name: &str, dir: &Path) {
    let cache = cache_with_smollm2();
    add_model(&cache, name, dir);
    let photos = geo_photos();
    let listing: String = photos
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    let described = pipe(
        &cache,
        VISION,
        &[name, "--chunk", "2", "-n", "8", "--json"],
        listing.as_bytes(),
    )
    .expect_code(0);
    let s = stream(&described.stdout());
    assert_eq!(s.chunks.len(), 2);
    let question = "Where were these taken?";
    let run_args = ["SmolLM2", "--prompt", question, "-n", "24", "--json"];
    let chained = pipe(&cache, RUN, &run_args, described.stdout().as_bytes()).expect_code(0);
    let chained = crate::run::stream(&chained.stdout());
    assert_eq!(chained.results.len(), 1, "{:?}", chained.errors);

    // The same question asked directly with the context written out as
    // docs/ndjson.md says mlxk-run builds it (image lines numbered on through
    // the run, each chunk's text after its images, blank lines between):
    // greedy decoding gives the same answer from the same prompt.
    let mut n = 0;
    let mut parts: Vec<String> = Vec::new();
    for chunk in &s.chunks {
        let lines: Vec<String> = chunk
            .images
            .iter()
            .map(|image| {
                n += 1;
                image_line(n, image)
            })
            .collect();
        parts.push(format!("{}\n{}", lines.join("\n"), chunk.text));
    }
    parts.push(question.into());
    let prompt = parts.join("\n\n");
    for (photo, image) in photos.iter().zip(s.chunks.iter().flat_map(|c| &c.images)) {
        assert_eq!(Path::new(&image.path), photo);
        assert!(image.gps.is_some() && image.date.is_some() && image.camera.is_some());
    }
    assert!(
        prompt.contains("[Image 3 | GPS: 33.8568°S, 151.2153°E"),
        "{prompt}"
    );
    same_answer(&cache, &prompt, &chained);
}

#[test]
fn metadata_alone_reaches_the_text_model() {
    // mlxk-vision --metadata-only --json photos… | mlxk-run SmolLM2 --prompt …:
    // no vision model, the EXIF lines are the context.
    let cache = cache_with_smollm2();
    let photos = geo_photos();
    let mut args = vec!["--metadata-only", "--json"];
    args.extend(strs(&photos));
    let listed = cache.run(VISION, &args).expect_code(0);
    let s = stream(&listed.stdout());
    assert_eq!(s.images.len(), 3);
    let question = "Which countries are these?";
    let run_args = ["SmolLM2", "--prompt", question, "-n", "24", "--json"];
    let chained = pipe(&cache, RUN, &run_args, listed.stdout().as_bytes()).expect_code(0);
    let chained = crate::run::stream(&chained.stdout());
    let mut parts: Vec<String> = s
        .images
        .iter()
        .enumerate()
        .map(|(i, image)| image_line(i + 1, image))
        .collect();
    parts.push(question.into());
    let prompt = parts.join("\n\n");
    assert!(
        prompt.contains("[Image 1 | GPS: 39.9156°N, 116.3908°E"),
        "{prompt}"
    );
    same_answer(&cache, &prompt, &chained);
}

/// A cache with the tiny Qwen2 checkpoint as a text model, and the same
/// files under the config of a vision family the runner lacks (llava).
fn cache_with_look_alikes(cache: &TestCache) {
    let dir = tiny_qwen2();
    let mut text = cache.repo("org/tiny-text");
    let mut vision = cache.repo("org/tiny-llava");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        text = text.file(&name, &bytes);
        vision = vision.file(&name, &bytes);
    }
    text.build();
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["model_type"] = json!("llava");
    config["vision_config"] = json!({"model_type": "clip_vision_model", "hidden_size": 32});
    vision
        .json("config.json", config)
        .json(
            "preprocessor_config.json",
            json!({"image_processor_type": "CLIPImageProcessor"}),
        )
        .build();
}

#[test]
fn the_model_path_refuses_what_it_cannot_run_before_loading() {
    let cache = cache_with_vlm();
    let flower = photos().join("pillow/flower.jpg");
    let flower = flower.to_str().unwrap();
    let expect = |cache: &TestCache, args: &[&str], env: Option<(&str, &str)>, code: &str| {
        let mut cmd = cache.command(VISION);
        cmd.arg("--json").args(args).stdin(Stdio::null());
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let run = Run(cmd.output().unwrap()).expect_code(2);
        let s = stream(&run.stdout());
        assert!(s.chunks.is_empty());
        assert_eq!(s.errors[0].code, code, "{:?}", s.errors);
        assert!(run.stderr().starts_with("error: "), "{}", run.stderr());
        s.errors[0].clone()
    };
    expect(&cache, &["no-such-model", flower], None, "model_not_found");
    let limit = Some(("MLXK_MEMORY_LIMIT", "1K"));
    let e = expect(&cache, &[TINY, flower], limit, "insufficient_memory");
    assert!(e.hint.unwrap().contains("--force"));
    let bad = Some(("MLXK_MEMORY_LIMIT", "lots"));
    let e = expect(&cache, &[TINY, flower], bad, "validation_error");
    assert!(e.message.contains("MLXK_MEMORY_LIMIT"), "{}", e.message);

    // One vision model in the cache: an image as the first argument uses it.
    let run = cache
        .run(VISION, &[flower, "-n", "4", "--json"])
        .expect_code(0);
    assert_eq!(only_chunk(&stream(&run.stdout())).model, TINY);

    cache_with_look_alikes(&cache);
    let e = expect(&cache, &["org/tiny-text", flower], None, "validation_error");
    assert!(e.message.contains("text-only"), "{}", e.message);
    let e = expect(
        &cache,
        &["org/tiny-llava", flower],
        None,
        "unsupported_architecture",
    );
    assert!(e.message.contains("llava"), "{}", e.message);
    assert!(e.hint.unwrap().contains("idefics3"));
    // Two vision models now: naming none is ambiguous.
    let e = expect(&cache, &[flower], None, "ambiguous_match");
    assert_eq!(e.candidates.len(), 2, "{:?}", e.candidates);
}

/// SIGINT while a chunk is being described (the test has read its first
/// delta, never a sleep): the chunk ends `interrupted` with the text so far,
/// later images are not described, and the summary comes last with 130.
#[test]
fn sigint_mid_chunk_ends_with_the_chunk_and_the_summary() {
    use std::io::{BufRead, BufReader};
    let cache = cache_with_vlm();
    let photos = geo_photos();
    let mut args = vec![TINY, "-n", "100000", "--json"];
    args.extend(strs(&photos));
    let mut child = cache
        .command(VISION)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(r#""type":"delta""#), "{first}");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let s = stream(&format!("{first}\n{}\n", rest.join("\n")));
    let chunk = only_chunk(&s);
    assert_eq!(chunk.finish_reason.as_deref(), Some("interrupted"));
    let streamed: String = s.deltas.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(streamed, chunk.text);
    assert_eq!(s.summary.exit_code, 130);
}
