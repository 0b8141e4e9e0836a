//! The two files every image processor here reads: `preprocessor_config.json`, and
//! `processor_config.json`, whose `image_processor` keys apply over the first (as
//! transformers and mlx-vlm merge them). A vision model needs at least one of them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::read_json;
use crate::error::{Result, RunnerError};

/// Both files as read (either may be absent, not both).
#[derive(Debug)]
pub struct ProcessorFiles {
    pub pre_path: PathBuf,
    pub pre: Option<Value>,
    pub proc_path: PathBuf,
    pub proc: Option<Value>,
}

impl ProcessorFiles {
    pub fn read(dir: &Path) -> Result<Self> {
        let pre_path = dir.join("preprocessor_config.json");
        let proc_path = dir.join("processor_config.json");
        let pre = read_json(&pre_path)?;
        let proc = read_json(&proc_path)?;
        if pre.is_none() && proc.is_none() {
            return Err(RunnerError::InvalidConfig {
                path: pre_path,
                message: "a vision model needs preprocessor_config.json or processor_config.json"
                    .into(),
            });
        }
        Ok(ProcessorFiles {
            pre_path,
            pre,
            proc_path,
            proc,
        })
    }

    /// The image processor's settings in the order they apply, each with its file:
    /// `preprocessor_config.json`, then `processor_config.json`'s `image_processor`.
    pub fn image_settings(&self) -> Vec<(&Value, &Path)> {
        let mut out = Vec::with_capacity(2);
        if let Some(v) = &self.pre {
            out.push((v, self.pre_path.as_path()));
        }
        if let Some(ip) = self.proc.as_ref().and_then(|v| v.get("image_processor")) {
            out.push((ip, self.proc_path.as_path()));
        }
        out
    }

    /// A number from `processor_config.json` (e.g. `image_seq_len`).
    pub fn processor_u64(&self, key: &str) -> Option<u64> {
        self.proc.as_ref()?.get(key)?.as_u64()
    }
}
