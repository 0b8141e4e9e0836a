//! Loading checks on the tiny Qwen checkpoints (numerics are in `reference.rs`).

use crate::common::{fixture, load, mlx_lock};

#[test]
fn qwen3_template_renders_with_thinking_and_stops_on_im_end() {
    let _lock = mlx_lock();
    let Some(dir) = fixture("tiny-qwen3-4bit", "tiny-qwen") else {
        return;
    };
    let runner = load(&dir);
    assert_eq!(runner.architecture(), "qwen3");
    let template = runner
        .chat_template()
        .expect("qwen3 fixture has a chat template");
    assert!(template.source().contains("<think>") || template.source().contains("im_start"));
    let im_end = runner.tokenizer().token_to_id("<|im_end|>");
    if let Some(id) = im_end {
        assert!(runner.stop_tokens().contains(&id));
    }
}

#[test]
fn sharded_index_and_bf16_scales_load() {
    let _lock = mlx_lock();
    let Some(dir) = fixture("tiny-qwen3-4bit-bf16", "tiny-qwen") else {
        return;
    };
    assert!(dir.join("model.safetensors.index.json").is_file());
    let runner = load(&dir);
    assert_eq!(runner.config().num_hidden_layers, 2);
}

/// The real Qwen3 chat template (tools, `<think>` handling, multi-turn) renders exactly
/// as transformers' Jinja2 renders it.
#[test]
fn qwen3_template_matches_transformers_with_tools_and_thinking() {
    use mlxk_core::ndjson::ChatMessage;
    use mlxk_runner::template::{ChatTemplate, RenderOptions};
    let Some(dir) = fixture("tiny-qwen3-4bit", "tiny-qwen") else {
        return;
    };
    let messages = serde_json::json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nSimple sum.\n</think>\n\n4"},
        {"role": "user", "content": "And the weather in Paris?"}
    ]);
    let tools = serde_json::json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let script = format!(
        "import json,sys\nfrom transformers import AutoTokenizer\nt=AutoTokenizer.from_pretrained({dir:?})\n\
         sys.stdout.write(t.apply_chat_template(json.loads({m:?}), tools=json.loads({tl:?}), tokenize=False, add_generation_prompt=True, enable_thinking=True))",
        dir = dir.to_string_lossy(),
        m = messages.to_string(),
        tl = tools.to_string()
    );
    let python = crate::common::python();
    let out = match std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
        other => {
            crate::common::skip(&format!("python transformers unavailable: {other:?}"));
            return;
        }
    };
    let template = ChatTemplate::load(&dir).unwrap().unwrap();
    let messages: Vec<ChatMessage> = serde_json::from_value(messages).unwrap();
    let mut options = RenderOptions {
        add_generation_prompt: true,
        ..RenderOptions::default()
    };
    options.extra.insert("tools".into(), tools);
    options.extra.insert("enable_thinking".into(), true.into());
    let ours = template.render(&messages, &options).unwrap();
    assert!(ours.contains("<tools>") && ours.contains("get_weather"));
    assert_eq!(ours, out);
}
