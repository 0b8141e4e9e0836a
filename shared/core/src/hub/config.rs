//! Settings from the environment, read the way huggingface_hub reads them.
//!
//! `HF_ENDPOINT` (default `https://huggingface.co`), the token (`HF_TOKEN`,
//! then `HF_TOKEN_PATH`, then `$HF_HOME/token`, unless
//! `HF_HUB_DISABLE_IMPLICIT_TOKEN`), `HF_HUB_OFFLINE` (1/true/yes/on), and
//! mlxk's own `MLXK_TIMEOUT` (seconds without data before a transfer counts
//! as stalled; also the connect timeout).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::retry::Backoff;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct HubConfig {
    /// Base URL without a trailing slash.
    pub endpoint: String,
    token: Option<String>,
    /// `HF_HUB_OFFLINE`: no network at all; report what is cached.
    pub offline: bool,
    /// Connect timeout and read-stall timeout.
    pub timeout: Duration,
    pub backoff: Backoff,
    /// `--deadline`: the whole run, retries and transfers included.
    pub deadline: Option<Duration>,
    /// Sent with every request: the tool and its version (`mlxk-pull/0.1.0`).
    pub user_agent: String,
}

/// Never prints the token.
impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubConfig")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("offline", &self.offline)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("deadline", &self.deadline)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl HubConfig {
    pub fn from_env() -> Self {
        let endpoint = var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let timeout = var("MLXK_TIMEOUT")
            .and_then(|s| parse_seconds(&s))
            .unwrap_or(DEFAULT_TIMEOUT);
        HubConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: token_from_env(),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
            timeout,
            backoff: Backoff::default(),
            deadline: None,
            user_agent: concat!("mlxk/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// Names the tool in the User-Agent: `mlxk-push/0.1.0`.
    pub fn for_tool(mut self, tool: &str) -> Self {
        self.user_agent = format!("{tool}/{}", env!("CARGO_PKG_VERSION"));
        self
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }
}

/// `"1.5"` → 1.5 s; rejects negatives, zero and garbage.
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "on" | "yes" | "true"
    )
}

fn token_from_env() -> Option<String> {
    if var("HF_HUB_DISABLE_IMPLICIT_TOKEN").is_some_and(|v| truthy(&v)) {
        return None;
    }
    if let Some(token) = var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")) {
        return Some(token.trim().to_string());
    }
    let path = var("HF_TOKEN_PATH").map(PathBuf::from).unwrap_or_else(|| {
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let xdg = var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
                PathBuf::from(var("HOME").unwrap_or_else(|| "/".into())).join(".cache")
            });
            xdg.join("huggingface")
        });
        home.join("token")
    });
    let token = std::fs::read_to_string(path).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_and_reject() {
        assert_eq!(parse_seconds("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        for bad in ["0", "-1", "x", "", "inf"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let cfg = HubConfig {
            endpoint: DEFAULT_ENDPOINT.into(),
            token: Some("hf_secret".into()),
            offline: false,
            timeout: DEFAULT_TIMEOUT,
            backoff: Backoff::default(),
            deadline: None,
            user_agent: "t".into(),
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("hf_secret"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn offline_values() {
        for v in ["1", "ON", "yes", "True"] {
            assert!(truthy(v));
        }
        for v in ["0", "off", "no", ""] {
            assert!(!truthy(v));
        }
    }
}
