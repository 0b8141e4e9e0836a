//! Human output of mlxk-list: an aligned table and the `--show` view.

use mlxk_core::ndjson::{Framework, Health, Model, ModelType};

/// `1536` → `1.5 KB` (decimal units, as the Hub shows sizes).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn framework(f: Framework) -> &'static str {
    match f {
        Framework::Mlx => "MLX",
        Framework::Gguf => "GGUF",
        Framework::PyTorch => "PyTorch",
        Framework::Unknown => "Unknown",
    }
}

fn model_type(t: ModelType) -> &'static str {
    match t {
        ModelType::Chat => "chat",
        ModelType::Base => "base",
        ModelType::Embedding => "embedding",
        ModelType::Audio => "audio",
    }
}

fn health(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
    }
}

/// An aligned table; `reasons` adds a REASON column.
pub fn table(models: &[Model], reasons: bool) -> String {
    let mut rows: Vec<Vec<String>> = vec![["NAME", "SIZE", "FRAMEWORK", "TYPE", "HEALTH"]
        .iter()
        .map(|s| s.to_string())
        .collect()];
    if reasons {
        rows[0].push("REASON".into());
    }
    for m in models {
        let mut row = vec![
            m.name.clone(),
            human_size(m.size_bytes),
            framework(m.framework).into(),
            model_type(m.model_type).into(),
            health(m.health).into(),
        ];
        if reasons {
            row.push(m.reason.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `--show`: one `key: value` per line, then files and config if asked for.
pub fn show(m: &Model) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k:<19}{v}\n"));
    field("name:", m.name.clone());
    field("hash:", m.hash.clone().unwrap_or_else(|| "-".into()));
    if let Some(rev) = &m.revision {
        field("revision:", rev.clone());
    }
    field("path:", m.path.clone());
    field(
        "size:",
        format!("{} ({} bytes)", human_size(m.size_bytes), m.size_bytes),
    );
    field(
        "last modified:",
        m.last_modified.clone().unwrap_or_else(|| "-".into()),
    );
    field("framework:", framework(m.framework).into());
    field("type:", model_type(m.model_type).into());
    field("capabilities:", m.capabilities.join(", "));
    if let Some(a) = &m.architecture {
        field("architecture:", a.clone());
    }
    if let Some(q) = &m.quantization {
        field("quantization:", q.clone());
    }
    if let Some(c) = m.context_length {
        field("context length:", c.to_string());
    }
    field("health:", health(m.health).into());
    if m.health == Health::Unhealthy {
        field("reason:", m.reason.clone().unwrap_or_default());
    }
    field(
        "runs with mlxk:",
        match &m.runtime_reason {
            None if m.runtime_compatible => "yes".into(),
            None => "no (fix its health first)".into(),
            Some(why) => format!("no: {why}"),
        },
    );
    if let Some(files) = &m.files {
        out.push_str("\nfiles:\n");
        let width = files
            .iter()
            .map(|f| human_size(f.size_bytes).len())
            .max()
            .unwrap_or(0);
        for f in files {
            out.push_str(&format!(
                "  {:>width$}  {}\n",
                human_size(f.size_bytes),
                f.path
            ));
        }
    }
    if let Some(config) = &m.config {
        out.push_str("\nconfig.json:\n");
        out.push_str(&serde_json::to_string_pretty(config).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_the_hub() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1500), "1.5 KB");
        assert_eq!(human_size(98_362_432), "98.4 MB");
    }
}
