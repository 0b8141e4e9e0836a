//! Reads, once, everything detection and health look at in a model
//! directory: the file list, `config.json`, README front matter, chat
//! template presence and GGUF headers. Reads stay small: no weight data and
//! no full tokenizer is loaded.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use crate::cache::SnapshotFile;
use crate::gguf;

/// Git LFS pointer files start with this line.
pub const LFS_POINTER: &[u8] = b"version https://git-lfs.github.com/spec/v1";

/// What `config.json` turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Config {
    Missing,
    /// A snapshot link whose blob is gone, or an unreadable file.
    Unreadable(String),
    Empty,
    Invalid(String),
    NotObject,
    Object(Map<String, Value>),
}

impl Config {
    pub fn object(&self) -> Option<&Map<String, Value>> {
        match self {
            Config::Object(map) => Some(map),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.object()?.get(key)?.as_str()
    }
}

/// README front matter, as far as detection needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    pub tags: Vec<String>,
    pub library_name: Option<String>,
}

/// Everything read from one model directory.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub name: String,
    pub files: Vec<SnapshotFile>,
    pub config: Config,
    pub front_matter: FrontMatter,
    /// A chat template in tokenizer_config.json or a template file.
    pub chat_template: bool,
    /// Each GGUF file with its header, or why it could not be read.
    pub gguf: Vec<(String, Result<gguf::Info, String>)>,
}

impl Evidence {
    pub fn gather(name: &str, files: Vec<SnapshotFile>) -> Self {
        let config = read_config(find(&files, "config.json"));
        let front_matter = find(&files, "README.md")
            .and_then(|f| read_prefix(&f.path, 16 << 10))
            .map(|text| parse_front_matter(&String::from_utf8_lossy(&text)))
            .unwrap_or_default();
        let template_file = files.iter().any(|f| {
            f.size.is_some()
                && matches!(f.rel.as_str(), "chat_template.jinja" | "chat_template.json")
        });
        let chat_template = template_file
            || find(&files, "tokenizer_config.json")
                .and_then(|f| std::fs::read(&f.path).ok())
                .is_some_and(|bytes| contains(&bytes, b"\"chat_template\""));
        let gguf = files
            .iter()
            .filter(|f| f.rel.ends_with(".gguf") && f.size.is_some())
            .map(|f| (f.rel.clone(), gguf::check(&f.path)))
            .collect();
        Evidence {
            name: name.to_string(),
            files,
            config,
            front_matter,
            chat_template,
            gguf,
        }
    }

    pub fn file(&self, rel: &str) -> Option<&SnapshotFile> {
        find(&self.files, rel)
    }
}

fn find<'a>(files: &'a [SnapshotFile], rel: &str) -> Option<&'a SnapshotFile> {
    files.iter().find(|f| f.rel == rel)
}

fn read_config(file: Option<&SnapshotFile>) -> Config {
    let Some(file) = file else {
        return Config::Missing;
    };
    if file.size.is_none() {
        return Config::Unreadable("its blob is missing".into());
    }
    let bytes = match std::fs::read(&file.path) {
        Ok(b) => b,
        Err(e) => return Config::Unreadable(e.to_string()),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Config::Empty;
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Config::Object(map),
        Ok(_) => Config::NotObject,
        Err(e) => Config::Invalid(e.to_string()),
    }
}

/// The first `limit` bytes of a file.
pub fn read_prefix(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path)
        .ok()?
        .take(limit)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// Whether a small file is a Git LFS pointer instead of content.
pub fn is_lfs_pointer(file: &SnapshotFile) -> bool {
    matches!(file.size, Some(n) if n < 1024)
        && read_prefix(&file.path, LFS_POINTER.len() as u64).is_some_and(|p| p == LFS_POINTER)
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads `library_name:` and `tags:` from YAML front matter between `---` lines.
pub fn parse_front_matter(text: &str) -> FrontMatter {
    let mut fm = FrontMatter::default();
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("---") {
        return fm;
    }
    let mut in_tags = false;
    for line in lines {
        if line.trim() == "---" {
            break;
        }
        let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        if let Some(rest) = line.strip_prefix("library_name:") {
            fm.library_name = Some(unquote(rest));
            in_tags = false;
        } else if let Some(rest) = line.strip_prefix("tags:") {
            let rest = rest.trim();
            in_tags = rest.is_empty();
            if let Some(inline) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                fm.tags
                    .extend(inline.split(',').map(unquote).filter(|t| !t.is_empty()));
            }
        } else if in_tags {
            match line.trim_start().strip_prefix("- ") {
                Some(tag) => fm.tags.push(unquote(tag)),
                None if line.starts_with(' ') || line.trim().is_empty() => {}
                None => in_tags = false,
            }
        }
    }
    fm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_block_and_inline_tags() {
        let fm = parse_front_matter(
            "---\nlibrary_name: mlx\ntags:\n- mlx\n- 'chat'\nlicense: mit\n---\n# Title\n",
        );
        assert_eq!(fm.library_name.as_deref(), Some("mlx"));
        assert_eq!(fm.tags, vec!["mlx", "chat"]);
        let fm = parse_front_matter("---\ntags: [mlx, \"text-generation\"]\n---\n");
        assert_eq!(fm.tags, vec!["mlx", "text-generation"]);
        assert_eq!(
            parse_front_matter("# no front matter\n"),
            FrontMatter::default()
        );
    }
}
