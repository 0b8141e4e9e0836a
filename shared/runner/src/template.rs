//! Chat templates: the model's own Jinja, rendered with minijinja the way Hugging Face
//! transformers renders it (`trim_blocks`, `lstrip_blocks`, loop controls, Python string
//! and dict methods, `raise_exception`, `strftime_now`, a `tojson` that writes what
//! Python's `json.dumps` writes).
//!
//! The template comes from `chat_template.jinja`, `chat_template.json`, or
//! `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates of
//! which `default` is used).

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use mlxk_core::ndjson::ChatMessage;

use crate::config::read_json;
use crate::error::{Result, RunnerError};

const NAME: &str = "chat_template";

/// Token strings a template may refer to (`bos_token`, `eos_token`, …).
#[derive(Debug, Clone, Default)]
pub struct SpecialTokens {
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub unk_token: Option<String>,
    pub pad_token: Option<String>,
}

impl SpecialTokens {
    /// Reads them from a parsed `tokenizer_config.json` (plain strings or
    /// `{"content": …}` objects).
    pub fn from_tokenizer_config(config: &serde_json::Value) -> Self {
        let get = |key: &str| -> Option<String> {
            match config.get(key)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o.get("content")?.as_str().map(String::from),
                _ => None,
            }
        };
        SpecialTokens {
            bos_token: get("bos_token"),
            eos_token: get("eos_token"),
            unk_token: get("unk_token"),
            pad_token: get("pad_token"),
        }
    }
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    special: SpecialTokens,
    source: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("special", &self.special)
            .field("source_len", &self.source.len())
            .finish()
    }
}

/// Options of one rendering.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// End with the header of an assistant turn (`<|im_start|>assistant\n`).
    pub add_generation_prompt: bool,
    /// Extra variables (`enable_thinking`, `tools`, …), as transformers' `**kwargs`.
    /// (Object keys reach the template in serde_json's order, i.e. sorted.)
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ChatTemplate {
    /// Finds and compiles the chat template of the model in `dir`; `Ok(None)` when the
    /// model has none.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let tokenizer_config = read_json(&dir.join("tokenizer_config.json"))?;
        let special = tokenizer_config
            .as_ref()
            .map(SpecialTokens::from_tokenizer_config)
            .unwrap_or_default();
        let jinja = dir.join("chat_template.jinja");
        let source = if jinja.is_file() {
            Some(
                std::fs::read_to_string(&jinja).map_err(|source| RunnerError::Io {
                    path: jinja,
                    source,
                })?,
            )
        } else if let Some(json) = read_json(&dir.join("chat_template.json"))? {
            json.get("chat_template").and_then(pick_template)
        } else {
            tokenizer_config
                .as_ref()
                .and_then(|c| c.get("chat_template"))
                .and_then(pick_template)
        };
        source.map(|s| Self::new(s, special)).transpose()
    }

    /// Compiles `source`.
    pub fn new(source: String, special: SpecialTokens) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.clone())
            .map_err(template_error)?;
        Ok(ChatTemplate {
            env,
            special,
            source,
        })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages`.
    pub fn render(&self, messages: &[ChatMessage], options: &RenderOptions) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                Value::from_iter([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        self.render_values(messages, options)
    }

    /// Renders messages given as JSON, whose `content` may be a list of typed parts
    /// (`{"type": "image"}`, `{"type": "text", "text": …}`) as vision models' templates
    /// expect.
    pub fn render_json(
        &self,
        messages: &[serde_json::Value],
        options: &RenderOptions,
    ) -> Result<String> {
        let messages: Vec<Value> = messages.iter().map(Value::from_serialize).collect();
        self.render_values(messages, options)
    }

    fn render_values(&self, messages: Vec<Value>, options: &RenderOptions) -> Result<String> {
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in &options.extra {
            ctx.insert(key.clone(), Value::from_serialize(value));
        }
        ctx.insert("messages".into(), Value::from(messages));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(options.add_generation_prompt),
        );
        let s = &self.special;
        for (key, value) in [
            ("bos_token", &s.bos_token),
            ("eos_token", &s.eos_token),
            ("unk_token", &s.unk_token),
            ("pad_token", &s.pad_token),
        ] {
            if let Some(v) = value {
                ctx.insert(key.into(), Value::from(v.as_str()));
            }
        }
        let template = self.env.get_template(NAME).map_err(template_error)?;
        template.render(ctx).map_err(template_error)
    }

    /// The text the template writes after an assistant message's content, up to the next
    /// turn's content: where the template ends a turn (e.g. `<|im_end|>\n<|im_start|>user\n`).
    /// Special tokens in it are natural stop tokens. `None` when the template cannot
    /// render the probe conversation.
    pub fn turn_end_text(&self) -> Option<String> {
        const ANSWER: &str = "mlxk-probe-answer-7f3a";
        const NEXT: &str = "mlxk-probe-next-7f3a";
        let msg = |role: &str, content: &str| ChatMessage {
            role: role.into(),
            content: content.into(),
        };
        let rendered = self
            .render(
                &[
                    msg("user", "mlxk-probe-question-7f3a"),
                    msg("assistant", ANSWER),
                    msg("user", NEXT),
                ],
                &RenderOptions::default(),
            )
            .ok()?;
        let start = rendered.find(ANSWER)? + ANSWER.len();
        let end = start + rendered[start..].find(NEXT)?;
        Some(rendered[start..end].to_string())
    }
}

/// A template string, or the `default` entry of a list of `{"name", "template"}`.
fn pick_template(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => {
            let named = |name: &str| {
                list.iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
            };
            named("default")
                .or_else(|| list.first())
                .and_then(|t| t.get("template"))
                .and_then(|t| t.as_str())
                .map(String::from)
        }
        _ => None,
    }
}

fn template_error(e: Error) -> RunnerError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    RunnerError::Template(message)
}

fn raise_exception(message: String) -> std::result::Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`: the current UTC time through a Python `strftime` format.
fn strftime_now(format: String) -> String {
    strftime(time::OffsetDateTime::now_utc(), &format)
}

fn strftime(t: time::OffsetDateTime, format: &str) -> String {
    let month = t.month().to_string();
    let weekday = t.weekday().to_string();
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&t.year().to_string()),
            Some('y') => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Some('m') => out.push_str(&format!("{:02}", u8::from(t.month()))),
            Some('d') => out.push_str(&format!("{:02}", t.day())),
            Some('e') => out.push_str(&format!("{:>2}", t.day())),
            Some('j') => out.push_str(&format!("{:03}", t.ordinal())),
            Some('H') => out.push_str(&format!("{:02}", t.hour())),
            Some('I') => out.push_str(&format!("{hour12:02}")),
            Some('M') => out.push_str(&format!("{:02}", t.minute())),
            Some('S') => out.push_str(&format!("{:02}", t.second())),
            Some('p') => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            Some('B') => out.push_str(&month),
            Some('b') | Some('h') => out.push_str(&month[..3]),
            Some('A') => out.push_str(&weekday),
            Some('a') => out.push_str(&weekday[..3]),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=…)`,
/// keys in insertion order, `", "`/`": "` separators, no HTML escaping.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    value: &Value,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let json = serde_json::to_value(value)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            match json.as_f64() {
                Some(f) if json.is_f64() => out.push_str(&python_float(f)),
                _ => out.push_str(&json.to_string()),
            }
        }
        ValueKind::String => {
            out.push_str(&serde_json::to_string(value.as_str().unwrap_or("")).unwrap_or_default())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                let name = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                out.push_str(&serde_json::to_string(&name).unwrap_or_default());
                out.push_str(": ");
                write_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        _ => out.push_str(&serde_json::to_string(&value.to_string()).unwrap_or_default()),
    }
    Ok(())
}

/// Python's `repr(float)` for the common cases (`1.0`, `0.5`, `1e-07`).
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_renders_like_transformers() {
        let t = ChatTemplate::new(CHATML.into(), SpecialTokens::default()).unwrap();
        let out = t
            .render(
                &[msg("user", "Hi")],
                &RenderOptions {
                    add_generation_prompt: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(out, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assert_eq!(t.turn_end_text().unwrap(), "<|im_end|>\n<|im_start|>user\n");
    }

    #[test]
    fn raise_exception_is_an_error() {
        let src = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}ok";
        let t = ChatTemplate::new(src.into(), SpecialTokens::default()).unwrap();
        let err = t
            .render(&[msg("assistant", "x")], &RenderOptions::default())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("Conversation roles must alternate"),
            "{err}"
        );
    }

    #[test]
    fn python_methods_and_tojson() {
        let src = "{{ messages[0].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[0].content.startswith('a') }}|{{ x | tojson }}|{{ y | tojson(indent=2) }}";
        let t = ChatTemplate::new(src.into(), SpecialTokens::default()).unwrap();
        let mut extra = BTreeMap::new();
        extra.insert(
            "x".to_string(),
            serde_json::json!({"name": "f", "args": [1, 2.5, "é<b>"], "z": null}),
        );
        extra.insert("y".to_string(), serde_json::json!([1]));
        let out = t
            .render(
                &[msg("user", "a<think>t</think>\n\nanswer")],
                &RenderOptions {
                    extra,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            out,
            // Jinja2 prints booleans as Python does; serde_json (without preserve_order)
            // hands the map over with sorted keys.
            "answer|True|{\"args\": [1, 2.5, \"é<b>\"], \"name\": \"f\", \"z\": null}|[\n  1\n]"
        );
    }

    #[test]
    fn strftime_formats_like_python() {
        let t = time::macros::datetime!(2024-07-04 09:05:03 UTC);
        assert_eq!(strftime(t, "%d %b %Y"), "04 Jul 2024");
        assert_eq!(strftime(t, "%A %B %-"), "Thursday July %-");
    }

    #[test]
    fn template_list_picks_default() {
        let v = serde_json::json!([{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]);
        assert_eq!(pick_template(&v).as_deref(), Some("D"));
    }
}
