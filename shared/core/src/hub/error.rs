//! What can go wrong talking to the Hub, and how each failure is reported.

use std::time::Duration;

use super::config::DEFAULT_ENDPOINT;
use crate::ndjson::DownloadStatus;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// 401/403, a gated repository, or a private one without a token.
    #[error("access denied to {what} (HTTP {status})")]
    AccessDenied { what: String, status: u16 },

    /// The repository, revision or file does not exist (or is private and no
    /// token was sent: the Hub does not tell the two apart).
    #[error("{what} not found")]
    NotFound { what: String },

    /// Any other HTTP status.
    #[error("HTTP {status} from {url}")]
    Http {
        status: u16,
        url: String,
        retry_after: Option<Duration>,
    },

    /// No byte arrived for the whole read-stall timeout.
    #[error("no data from the server for {}s while {what} (stalled; raise --timeout or MLXK_TIMEOUT)", .after.as_secs_f64())]
    Stalled { what: String, after: Duration },

    /// No connection could be made at all: refused, no such host, no route.
    /// Retrying does not help; the endpoint or the network is wrong.
    #[error("cannot connect to {endpoint}: {message}")]
    Unreachable {
        /// Scheme, host and port that could not be reached.
        endpoint: String,
        message: String,
        /// It is the HF_ENDPOINT mirror, not the Hub.
        mirror: bool,
    },

    /// Connection reset or closed early, TLS.
    #[error("network error while {what}: {message}")]
    Network { what: String, message: String },

    /// A downloaded file is not what the Hub said it is.
    #[error("{0}")]
    Verify(String),

    /// The server answered something that is not the Hub protocol.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),

    /// A file name from the network that would escape the cache.
    #[error("refusing unsafe file name from the server: {0:?}")]
    UnsafePath(String),

    #[error("{0}")]
    Invalid(String),

    /// `HF_HUB_OFFLINE` forbids what was asked.
    #[error("{0}")]
    Offline(String),

    /// The whole run took longer than `--deadline`.
    #[error("gave up after the --deadline of {}s", .after.as_secs_f64())]
    Deadline { after: Duration },

    /// The server went past a bound we set on what it controls: pages of a
    /// listing, bytes of a JSON answer, redirects.
    #[error("refusing the server's answer: {0}")]
    Bounds(String),

    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        HubError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Worth another try after a pause: the server or the network may recover.
    pub fn retryable(&self) -> bool {
        match self {
            HubError::Http { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            HubError::Stalled { .. } | HubError::Network { .. } | HubError::Verify(_) => true,
            _ => false,
        }
    }

    /// What the server asked us to wait (429/503 `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HubError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The `download_status` this failure is reported as.
    pub fn status(&self) -> DownloadStatus {
        match self {
            HubError::AccessDenied { .. } => DownloadStatus::AccessDenied,
            HubError::NotFound { .. } => DownloadStatus::NotFound,
            HubError::Offline(_) => DownloadStatus::Offline,
            _ => DownloadStatus::Failed,
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            HubError::AccessDenied { .. } => Some(
                "a gated or private repository needs HF_TOKEN with access (accept its terms on the Hub)"
                    .into(),
            ),
            HubError::NotFound { .. } => {
                Some("check the name and revision; a private repository also needs HF_TOKEN".into())
            }
            HubError::Unreachable {
                endpoint, mirror, ..
            } => Some(if *mirror {
                format!("is HF_ENDPOINT right and its server up? Unset it to use {DEFAULT_ENDPOINT}")
            } else {
                format!("check the network connection to {endpoint} (HF_HUB_OFFLINE=1 reports what the cache holds)")
            }),
            HubError::Offline(_) => Some(
                "unset HF_HUB_OFFLINE (mlxk-push --check-only checks a folder without the network)"
                    .into(),
            ),
            HubError::Deadline { .. } => Some(
                "finished files are kept and partial ones resume: run it again, or raise --deadline"
                    .into(),
            ),
            HubError::Bounds(_) => Some(
                "the server does not speak the Hub protocol as it should; is HF_ENDPOINT right?"
                    .into(),
            ),
            HubError::Stalled { .. } | HubError::Network { .. } | HubError::Http { .. } => Some(
                "run the same command again: finished files are kept and partial ones resume".into(),
            ),
            _ => None,
        }
    }
}
