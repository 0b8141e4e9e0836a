//! Exponential backoff and the read-stall timeout.
//!
//! A transfer is not limited in total time (a 20 GB model on a slow line
//! takes hours); it fails when *no byte* arrives for the stall timeout.
//! Failures that may pass (network, stall, 429, 5xx, a bad checksum) are
//! retried after `base · 2^(n-1)` (capped at `max`; a server's
//! `Retry-After` is honoured up to `max`).

use std::future::Future;
use std::time::Duration;

use super::HubError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries after the first one.
    pub retries: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retries: 4,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The pause before retry number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The pause before retry `n` after `error`.
    pub fn pause(&self, n: u32, error: &HubError) -> Duration {
        error
            .retry_after()
            .map(|d| d.min(self.max))
            .unwrap_or_else(|| self.delay(n))
    }
}

/// Runs `op` (given the 0-based attempt number) until it succeeds, fails
/// with an error that is not worth retrying, or the retries are spent.
/// `on_retry(n, error, pause)` is told before each pause.
pub async fn retry<T, F, Fut>(
    policy: &Backoff,
    mut op: F,
    mut on_retry: impl FnMut(u32, &HubError, Duration),
) -> Result<T, HubError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, HubError>>,
{
    let mut attempt = 0;
    loop {
        match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(e) if e.retryable() && attempt < policy.retries => {
                attempt += 1;
                let pause = policy.pause(attempt, &e);
                on_retry(attempt, &e, pause);
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits for `fut` at most `after`; elapsing means the peer stalled.
pub async fn stall_guard<T>(
    after: Duration,
    what: impl FnOnce() -> String,
    fut: impl Future<Output = T>,
) -> Result<T, HubError> {
    tokio::time::timeout(after, fut)
        .await
        .map_err(|_| HubError::Stalled {
            what: what(),
            after,
        })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use tokio::time::Instant;

    use super::*;

    fn net() -> HubError {
        HubError::Network {
            what: "test".into(),
            message: "reset".into(),
        }
    }

    #[test]
    fn delays_double_and_cap() {
        let b = Backoff {
            retries: 10,
            base: Duration::from_secs(1),
            max: Duration::from_secs(5),
        };
        let delays: Vec<u64> = (1..=5).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(b.delay(200), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_exponential_backoff_then_succeeds() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let mut pauses = Vec::new();
        let out = retry(
            &Backoff::default(),
            |attempt| {
                calls.set(calls.get() + 1);
                async move {
                    if attempt < 3 {
                        Err(net())
                    } else {
                        Ok(attempt)
                    }
                }
            },
            |_, _, pause| pauses.push(pause.as_secs()),
        )
        .await;
        assert_eq!(out.unwrap(), 3);
        assert_eq!(calls.get(), 4);
        assert_eq!(pauses, [1, 2, 4]);
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_retries() {
        let start = Instant::now();
        let policy = Backoff {
            retries: 2,
            ..Backoff::default()
        };
        let calls = Cell::new(0);
        let out: Result<(), _> = retry(
            &policy,
            |_| {
                calls.set(calls.get() + 1);
                async { Err(net()) }
            },
            |_, _, _| {},
        )
        .await;
        assert!(matches!(out, Err(HubError::Network { .. })));
        assert_eq!(calls.get(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn access_errors_are_not_retried() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let out: Result<(), _> = retry(
            &Backoff::default(),
            |_| {
                calls.set(calls.get() + 1);
                async {
                    Err(HubError::AccessDenied {
                        what: "x".into(),
                        status: 403,
                    })
                }
            },
            |_, _, _| {},
        )
        .await;
        assert!(matches!(out, Err(HubError::AccessDenied { .. })));
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_fails_at_once() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let mut notes = 0;
        let out: Result<(), _> = retry(
            &Backoff::default(),
            |_| {
                calls.set(calls.get() + 1);
                async {
                    Err(HubError::Unreachable {
                        endpoint: "http://127.0.0.1:9".into(),
                        message: "Connection refused (os error 111)".into(),
                        mirror: true,
                    })
                }
            },
            |_, _, _| notes += 1,
        )
        .await;
        let err = out.unwrap_err();
        assert_eq!((calls.get(), notes), (1, 0));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(err.to_string().contains("http://127.0.0.1:9"), "{err}");
        assert!(err.hint().unwrap().contains("HF_ENDPOINT"));
    }

    #[test]
    fn only_what_a_retry_can_fix_is_retried() {
        let http = |status| HubError::Http {
            status,
            url: "u".into(),
            retry_after: None,
        };
        let stalled = HubError::Stalled {
            what: "x".into(),
            after: Duration::from_secs(1),
        };
        let unreachable = HubError::Unreachable {
            endpoint: "https://huggingface.co".into(),
            message: "dns error".into(),
            mirror: false,
        };
        for (error, retried) in [
            (stalled, true),
            (net(), true),
            (http(429), true),
            (http(503), true),
            (http(500), true),
            (http(400), false),
            (unreachable, false),
            (HubError::NotFound { what: "x".into() }, false),
            (HubError::Protocol("x".into()), false),
        ] {
            assert_eq!(error.retryable(), retried, "{error}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_up_to_the_cap() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let out = retry(
            &Backoff::default(),
            |attempt| {
                calls.set(calls.get() + 1);
                async move {
                    match attempt {
                        0 => Err(HubError::Http {
                            status: 429,
                            url: "u".into(),
                            retry_after: Some(Duration::from_secs(12)),
                        }),
                        1 => Err(HubError::Http {
                            status: 503,
                            url: "u".into(),
                            retry_after: Some(Duration::from_secs(3600)),
                        }),
                        _ => Ok(()),
                    }
                }
            },
            |_, _, _| {},
        )
        .await;
        assert!(out.is_ok());
        assert_eq!(start.elapsed(), Duration::from_secs(12 + 30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_stalls_after_the_timeout() {
        let start = Instant::now();
        let out = stall_guard(
            Duration::from_secs(5),
            || "reading x".into(),
            std::future::pending::<()>(),
        )
        .await;
        let err = out.unwrap_err();
        assert!(matches!(err, HubError::Stalled { .. }));
        assert!(
            err.to_string().contains("no data from the server for 5s"),
            "{err}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_peer_never_stalls() {
        // 10 chunks 4 s apart: 40 s in total, but never 5 s of silence.
        let start = Instant::now();
        for _ in 0..10 {
            let chunk = stall_guard(Duration::from_secs(5), || "reading".into(), async {
                tokio::time::sleep(Duration::from_secs(4)).await;
                42
            })
            .await;
            assert_eq!(chunk.unwrap(), 42);
        }
        assert_eq!(start.elapsed(), Duration::from_secs(40));
    }
}
