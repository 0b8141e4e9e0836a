//! Exponential backoff, the read-stall timeout and the overall deadline.
//!
//! A transfer is not limited in total time by default (a 20 GB model on a
//! slow line takes hours); it fails when *no byte* arrives for the stall
//! timeout, or when the whole run passes `--deadline` ([`within`]).
//! Failures that may pass (network, stall, 429, 5xx, a bad checksum) are
//! retried after `base · 2^(n-1)` (capped at `max`), jittered to between
//! half and all of that so that `--jobs` parallel downloads do not retry in
//! step; a server's `Retry-After` (seconds or an HTTP date) is honoured up
//! to `max`.

use std::future::Future;
use std::hash::{BuildHasher, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::HubError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries after the first one.
    pub retries: u32,
    pub base: Duration,
    pub max: Duration,
    /// Spread each pause over [half, all] of its exponential value.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retries: 4,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl Backoff {
    /// The pause before retry number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The pause before retry `n` after `error`; `unit` is a number in
    /// [0, 1) that places a jittered pause between half and all of the
    /// exponential delay. A server's `Retry-After` is taken as it is.
    pub fn pause(&self, n: u32, error: &HubError, unit: f64) -> Duration {
        if let Some(wait) = error.retry_after() {
            return wait.min(self.max);
        }
        let delay = self.delay(n);
        if self.jitter {
            // Whole milliseconds: what the timer resolves anyway.
            let ms = delay.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0)).as_millis();
            Duration::from_millis(ms as u64)
        } else {
            delay
        }
    }
}

/// A number in [0, 1), different on every call and in every process
/// (std's randomly keyed hasher over a counter; no RNG crate needed).
pub fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as the Hub (or a proxy) may send it: delay-seconds, or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`) taken relative to `now`
/// (a date already past means: now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(
        u64::try_from(date.unix_timestamp()).ok()?,
    ))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Runs `fut` until the `deadline` instant; past it, the run gives up with
/// [`HubError::Deadline`] (`limit` is the `--deadline` it came from).
pub async fn within<T>(
    deadline: tokio::time::Instant,
    limit: Duration,
    fut: impl Future<Output = Result<T, HubError>>,
) -> Result<T, HubError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .unwrap_or(Err(HubError::Deadline { after: limit }))
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
                let pause = policy.pause(attempt, &e, random_unit());
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
            jitter: false,
        };
        let delays: Vec<u64> = (1..=5).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(b.delay(200), Duration::from_secs(5));
    }

    fn steady() -> Backoff {
        Backoff {
            jitter: false,
            ..Backoff::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_exponential_backoff_then_succeeds() {
        let start = Instant::now();
        let calls = Cell::new(0);
        let mut pauses = Vec::new();
        let out = retry(
            &steady(),
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
            ..steady()
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

    /// Runs [`retry`] against a server that answers `answers` (status, Retry-After) and
    /// then succeeds; returns the outcome, the calls made and the (virtual) time taken.
    async fn answered(
        answers: &[(u16, Option<Duration>)],
    ) -> (Result<(), HubError>, usize, Duration) {
        let start = Instant::now();
        let calls = Cell::new(0);
        let out = retry(
            &Backoff::default(),
            |attempt| {
                calls.set(calls.get() + 1);
                let answer = answers.get(attempt as usize).copied();
                async move {
                    match answer {
                        Some((status, retry_after)) => Err(HubError::Http {
                            status,
                            url: "u".into(),
                            retry_after,
                        }),
                        None => Ok(()),
                    }
                }
            },
            |_, _, _| {},
        )
        .await;
        (out, calls.get(), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_up_to_the_cap() {
        let (out, _, elapsed) = answered(&[
            (429, Some(Duration::from_secs(12))),
            (503, Some(Duration::from_secs(3600))),
        ])
        .await;
        assert!(out.is_ok());
        assert_eq!(elapsed, Duration::from_secs(12 + 30));
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

    #[tokio::test(start_paused = true)]
    async fn jittered_pauses_stay_between_half_and_all_of_the_delay() {
        let start = Instant::now();
        let mut pauses = Vec::new();
        let out: Result<(), _> = retry(
            &Backoff::default(),
            |_| async { Err(net()) },
            |_, _, pause| pauses.push(pause),
        )
        .await;
        assert!(out.is_err());
        assert_eq!(pauses.len(), 4);
        for (n, pause) in pauses.iter().enumerate() {
            let full = Duration::from_secs(1 << n);
            assert!(*pause >= full / 2 && *pause < full, "{n}: {pause:?}");
        }
        assert_eq!(start.elapsed(), pauses.iter().sum::<Duration>());
        // Two runs (two parallel downloads) do not pause in step.
        let b = Backoff::default();
        let e = net();
        assert_ne!(b.pause(1, &e, random_unit()), b.pause(1, &e, random_unit()));
        assert_eq!(b.pause(3, &e, 0.0), Duration::from_secs(2));
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        // 2015-10-21T07:28:00Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:45 GMT", now),
            Some(Duration::from_secs(45))
        );
        // Already past: retry now.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "soon", "-5", "Wed, 21 Oct 2015 07:28 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_date_in_retry_after_sets_the_pause() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let wait = parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now);
        let (out, calls, elapsed) = answered(&[(503, wait)]).await;
        assert!(out.is_ok());
        assert_eq!(calls, 2);
        assert_eq!(elapsed, Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_a_run_that_keeps_retrying() {
        let start = Instant::now();
        let limit = Duration::from_secs(10);
        let calls = Cell::new(0);
        // A server that answers 503 with Retry-After: 3 for ever.
        let policy = Backoff {
            retries: 1000,
            ..Backoff::default()
        };
        let run = retry(
            &policy,
            |_| {
                calls.set(calls.get() + 1);
                async {
                    Err::<(), _>(HubError::Http {
                        status: 503,
                        url: "u".into(),
                        retry_after: Some(Duration::from_secs(3)),
                    })
                }
            },
            |_, _, _| {},
        );
        let err = within(start + limit, limit, run).await.unwrap_err();
        assert!(matches!(err, HubError::Deadline { .. }), "{err}");
        assert!(err.to_string().contains("--deadline of 10s"), "{err}");
        assert_eq!(start.elapsed(), limit);
        // Tries at 0, 3, 6 and 9 s; the one due at 12 s never starts.
        assert_eq!(calls.get(), 4);
        assert!(!err.retryable());

        // A run that ends in time is not touched.
        let quick = within(Instant::now() + limit, limit, async { Ok(7) }).await;
        assert_eq!(quick.unwrap(), 7);
    }
}
