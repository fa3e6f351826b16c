//! How the executor survives clusters that throttle, fail and vanish: error
//! classes, retries with exponential backoff and jitter that honour
//! `Retry-After`, a circuit breaker per cluster, and the cluster's health.
//! All of it is plain state driven by `now` and a seeded random source, so
//! it is tested without a clock.
//!
//! The retry protocol of one API call:
//! 1. Ask the breaker. Open: fail at once with [`Failure::Unavailable`]
//!    (the call is retried by the next reconcile pass, not here).
//! 2. Send. Success: the breaker closes, health records a success.
//! 3. A retryable failure (429, 5xx, a connection that fails, a body that
//!    does not parse) counts against the breaker and health; wait
//!    `RetryPolicy::delay` (at least the server's `Retry-After`) and go to 1,
//!    up to `max_attempts`.
//! 4. Anything else (404, 409, 422, 403) is the answer: no retry.
//!
//! Health: `Reachable` while calls succeed; `Degraded` while some fail or
//! the server throttles; `Lost` when nothing has succeeded for `lost_after`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What a failed call means for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Try again later: throttled, a server error, the network, a garbled answer.
    Retryable {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
        /// 429: the server asks us to slow down.
        throttled: bool,
        /// What happened.
        message: String,
    },
    /// The circuit breaker is open: the cluster failed too often just now.
    Unavailable,
    /// 409 AlreadyExists.
    AlreadyExists,
    /// 409 Conflict (a stale resourceVersion).
    Conflict,
    /// 404.
    NotFound,
    /// The request itself is refused (403, 422, ...): retrying will not help.
    Permanent {
        /// HTTP status.
        code: u16,
        /// The Status reason.
        reason: String,
        /// The Status message.
        message: String,
    },
}

impl Failure {
    /// Worth another try.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Failure::Retryable { .. })
    }

    /// A line for logs and events.
    pub fn describe(&self) -> String {
        match self {
            Failure::Retryable { message, .. } => message.clone(),
            Failure::Unavailable => "circuit breaker open after repeated failures".to_owned(),
            Failure::AlreadyExists => "already exists".to_owned(),
            Failure::Conflict => "conflict".to_owned(),
            Failure::NotFound => "not found".to_owned(),
            Failure::Permanent {
                code,
                reason,
                message,
            } => format!("{code} {reason}: {message}"),
        }
    }
}

/// The class of a kube-rs error.
pub fn classify(error: &kube::Error) -> Failure {
    match error {
        kube::Error::Api(status) => {
            let retry_after = status
                .details
                .as_ref()
                .map(|details| details.retry_after_seconds)
                .filter(|seconds| *seconds > 0)
                .map(|seconds| Duration::from_secs(u64::from(seconds)));
            let message = format!("{} {}: {}", status.code, status.reason, status.message);
            match (status.code, status.reason.as_str()) {
                (429, _) => Failure::Retryable {
                    retry_after,
                    throttled: true,
                    message,
                },
                (500..=599, _) | (410, _) => Failure::Retryable {
                    retry_after,
                    throttled: false,
                    message,
                },
                (409, "AlreadyExists") => Failure::AlreadyExists,
                (409, _) => Failure::Conflict,
                (404, _) => Failure::NotFound,
                (code, reason) => Failure::Permanent {
                    code,
                    reason: reason.to_owned(),
                    message: status.message.clone(),
                },
            }
        }
        other => Failure::Retryable {
            retry_after: None,
            throttled: false,
            message: other.to_string(),
        },
    }
}

/// Backoff settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Longest delay between tries.
    pub max: Duration,
    /// Tries in all, the first included.
    pub max_attempts: u32,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_attempts: 6,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1` after try `attempt` (from 1) failed:
    /// "equal jitter", half of `min(max, initial x 2^(attempt-1))` plus a
    /// random part of the other half, and never less than `retry_after`
    /// (capped at `max_retry_after`). `unit` is a random number in [0, 1).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let ceiling = self.initial.saturating_mul(doubling).min(self.max);
        let half = ceiling / 2;
        let jitter = half.mul_f64(unit.clamp(0.0, 1.0));
        let backoff = half + jitter;
        match retry_after {
            Some(server) => backoff.max(server.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// A seeded random source for jitter (xorshift64*): randomness is an input.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A source seeded with `seed`.
    pub fn seeded(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// A number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        #[allow(clippy::cast_precision_loss)]
        let unit = bits as f64 / (1u64 << 53) as f64;
        unit
    }
}

/// The backoff of a watch stream that failed: [`RetryPolicy::delay`] with a
/// seeded jitter, reset by the first event after a failure. Unlike a call,
/// a watch is retried for ever; `max` bounds how late a change can be seen
/// after a cluster recovers.
#[derive(Clone, Debug)]
pub struct WatchBackoff {
    policy: RetryPolicy,
    jitter: Jitter,
    attempt: u32,
}

impl WatchBackoff {
    /// A backoff over `policy`'s delays (its `max_attempts` is ignored).
    pub fn new(policy: RetryPolicy, seed: u64) -> WatchBackoff {
        WatchBackoff {
            policy,
            jitter: Jitter::seeded(seed),
            attempt: 0,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.attempt = self.attempt.saturating_add(1);
        Some(
            self.policy
                .delay(self.attempt, None, self.jitter.next_unit()),
        )
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A circuit breaker: after `threshold` failures in a row it opens for
/// `cooldown`, then lets one call through (half-open); that call's outcome
/// closes it or opens it again.
#[derive(Clone, Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            open_until: None,
            probing: false,
        }
    }

    /// May a call go out now?
    pub fn allows(&mut self, now: Instant) -> bool {
        match self.open_until {
            None => true,
            Some(until) if now < until => false,
            Some(_) if self.probing => false,
            Some(_) => {
                self.probing = true;
                true
            }
        }
    }

    /// Is it open (refusing calls) at `now`?
    pub fn is_open(&self, now: Instant) -> bool {
        self.open_until
            .is_some_and(|until| now < until || self.probing)
    }

    /// A call succeeded.
    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.probing = false;
    }

    /// A call failed in a way that counts (retryable).
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.probing || self.failures >= self.threshold {
            self.open_until = Some(now + self.cooldown);
            self.probing = false;
        }
    }
}

/// A cluster's health as Gantry sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    /// Calls succeed.
    Reachable,
    /// Some calls fail, or the server throttles.
    Degraded,
    /// Nothing has succeeded for longer than the grace period.
    Lost,
}

impl Health {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Reachable => "Reachable",
            Health::Degraded => "Degraded",
            Health::Lost => "Lost",
        }
    }
}

/// Successes and failures over time, and the health they make.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    lost_after: Duration,
    degraded_for: Duration,
    started: Instant,
    last_success: Option<Instant>,
    failing_since: Option<Instant>,
    recent_failures: VecDeque<Instant>,
    last_error: Option<String>,
}

impl HealthTracker {
    /// A tracker that says Lost after `lost_after` without a success, and
    /// Degraded for `degraded_for` after any failure.
    pub fn new(now: Instant, lost_after: Duration, degraded_for: Duration) -> HealthTracker {
        HealthTracker {
            lost_after,
            degraded_for,
            started: now,
            last_success: None,
            failing_since: None,
            recent_failures: VecDeque::new(),
            last_error: None,
        }
    }

    /// A call succeeded.
    pub fn success(&mut self, now: Instant) {
        self.last_success = Some(now);
        self.failing_since = None;
    }

    /// A call failed (retryable failures only: a 404 is an answer).
    pub fn failure(&mut self, now: Instant, error: &str) {
        if self.failing_since.is_none() {
            self.failing_since = Some(now);
        }
        self.recent_failures.push_back(now);
        while self.recent_failures.len() > 64 {
            self.recent_failures.pop_front();
        }
        self.last_error = Some(error.to_owned());
    }

    /// The health at `now`, with a reason for people.
    pub fn health(&mut self, now: Instant) -> (Health, String) {
        while self
            .recent_failures
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > self.degraded_for)
        {
            self.recent_failures.pop_front();
        }
        let error = self.last_error.clone().unwrap_or_default();
        if let Some(since) = self.failing_since {
            let down_for = now.saturating_duration_since(since);
            if down_for >= self.lost_after {
                return (
                    Health::Lost,
                    format!("no successful call for {}s: {error}", down_for.as_secs()),
                );
            }
            return (Health::Degraded, format!("calls failing: {error}"));
        }
        if self.last_success.is_none()
            && now.saturating_duration_since(self.started) >= self.lost_after
        {
            return (Health::Lost, "never reached".to_owned());
        }
        if !self.recent_failures.is_empty() {
            return (
                Health::Degraded,
                format!(
                    "{} failed calls in the last {}s: {error}",
                    self.recent_failures.len(),
                    self.degraded_for.as_secs()
                ),
            );
        }
        (Health::Reachable, String::new())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kube::core::{Status, response::StatusDetails};

    use super::*;

    fn api_error(code: u16, reason: &str, retry_after_seconds: u32) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            reason: reason.to_owned(),
            message: "m".to_owned(),
            details: Some(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds,
            }),
            status: None,
            metadata: None,
        }))
    }

    #[test]
    fn errors_are_classified_by_status() {
        assert_eq!(
            classify(&api_error(429, "TooManyRequests", 3)),
            Failure::Retryable {
                retry_after: Some(Duration::from_secs(3)),
                throttled: true,
                message: "429 TooManyRequests: m".to_owned()
            }
        );
        assert!(classify(&api_error(500, "InternalError", 0)).is_retryable());
        assert!(classify(&api_error(503, "ServiceUnavailable", 0)).is_retryable());
        assert_eq!(
            classify(&api_error(409, "AlreadyExists", 0)),
            Failure::AlreadyExists
        );
        assert_eq!(classify(&api_error(409, "Conflict", 0)), Failure::Conflict);
        assert_eq!(classify(&api_error(404, "NotFound", 0)), Failure::NotFound);
        assert!(matches!(
            classify(&api_error(422, "Invalid", 0)),
            Failure::Permanent { code: 422, .. }
        ));
        let garbled = serde_json::from_str::<u32>("x").unwrap_err();
        assert!(classify(&kube::Error::SerdeError(garbled)).is_retryable());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None, 0.0), Duration::from_millis(50));
        assert!(policy.delay(1, None, 0.999_999) < Duration::from_millis(100));
        assert_eq!(policy.delay(3, None, 0.0), Duration::from_millis(200));
        assert_eq!(policy.delay(40, None, 0.0), Duration::from_millis(2500));
        assert!(policy.delay(40, None, 0.99) < policy.max);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(2)), 0.5),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600)), 0.5),
            policy.max_retry_after
        );
        let mut jitter = Jitter::seeded(7);
        let draws: Vec<f64> = (0..1000).map(|_| jitter.next_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }

    #[test]
    fn the_breaker_opens_cools_down_and_probes_once() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(breaker.allows(start));
            breaker.failure(start);
        }
        assert!(breaker.allows(start));
        breaker.failure(start);
        assert!(!breaker.allows(start + Duration::from_secs(9)));
        let later = start + Duration::from_secs(10);
        assert!(breaker.allows(later), "half-open lets one probe through");
        assert!(!breaker.allows(later), "and only one");
        breaker.failure(later);
        assert!(!breaker.allows(later + Duration::from_secs(5)));
        let again = later + Duration::from_secs(10);
        assert!(breaker.allows(again));
        breaker.success();
        assert!(breaker.allows(again) && breaker.allows(again));
    }

    #[test]
    fn health_degrades_then_is_lost_then_recovers() {
        let start = Instant::now();
        let mut health =
            HealthTracker::new(start, Duration::from_secs(30), Duration::from_secs(60));
        health.success(start);
        assert_eq!(health.health(start).0, Health::Reachable);
        health.failure(start + Duration::from_secs(1), "connection refused");
        assert_eq!(
            health.health(start + Duration::from_secs(2)).0,
            Health::Degraded
        );
        let (state, reason) = health.health(start + Duration::from_secs(31));
        assert_eq!(state, Health::Lost);
        assert!(reason.contains("connection refused"), "{reason}");
        health.success(start + Duration::from_secs(40));
        assert_eq!(
            health.health(start + Duration::from_secs(41)).0,
            Health::Degraded
        );
        assert_eq!(
            health.health(start + Duration::from_secs(200)).0,
            Health::Reachable
        );
    }
}
