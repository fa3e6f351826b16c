//! Simulated time: a clock that runs `time_scale` times faster than tokio's.
//!
//! The clock is an input (STYLE.md rule 2): it reads `tokio::time::Instant`, so
//! tests under `#[tokio::test(start_paused = true)]` drive it by advancing
//! tokio's paused clock, and its origin (the wall time that simulated time
//! starts from) is given, not read, when a test wants fixed timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Simulated wall time, as seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime {
    nanos_since_epoch: u128,
}

impl SimTime {
    /// From a duration since the Unix epoch.
    pub fn from_unix(duration: Duration) -> SimTime {
        SimTime {
            nanos_since_epoch: duration.as_nanos(),
        }
    }

    /// Whole seconds since the epoch.
    pub fn unix_seconds(self) -> i64 {
        i64::try_from(self.nanos_since_epoch / 1_000_000_000).unwrap_or(i64::MAX)
    }

    /// This time plus a simulated duration.
    pub fn plus(self, duration: Duration) -> SimTime {
        SimTime {
            nanos_since_epoch: self.nanos_since_epoch.saturating_add(duration.as_nanos()),
        }
    }

    /// The simulated time from `earlier` to this one (zero if earlier is later).
    pub fn since(self, earlier: SimTime) -> Duration {
        let nanos = self
            .nanos_since_epoch
            .saturating_sub(earlier.nanos_since_epoch);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// RFC 3339 in UTC with whole seconds, as `metav1.Time` is written.
    pub fn to_rfc3339(self) -> String {
        jiff::Timestamp::from_second(self.unix_seconds())
            .map(|timestamp| timestamp.to_string())
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
    }

    /// RFC 3339 with microseconds, as `metav1.MicroTime` is written.
    pub fn to_rfc3339_micros(self) -> String {
        let seconds = self.unix_seconds();
        let micros = (self.nanos_since_epoch % 1_000_000_000) / 1_000;
        let base = self.to_rfc3339();
        match base.strip_suffix('Z') {
            Some(prefix) if seconds >= 0 => format!("{prefix}.{micros:06}Z"),
            _ => base,
        }
    }
}

/// A clock whose simulated time runs `time_scale` times as fast as tokio's.
#[derive(Clone, Debug)]
pub struct SimClock {
    origin: SimTime,
    started: Instant,
    time_scale: f64,
}

impl SimClock {
    /// Starts now, at `origin` simulated time, running `time_scale` times as
    /// fast as real (tokio) time. A scale that is not finite and positive is 1.
    pub fn new(origin: SimTime, time_scale: f64) -> SimClock {
        let time_scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            1.0
        };
        SimClock {
            origin,
            started: Instant::now(),
            time_scale,
        }
    }

    /// Starts now, at the current system time.
    pub fn starting_at_system_time(time_scale: f64) -> SimClock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        SimClock::new(SimTime::from_unix(since_epoch), time_scale)
    }

    /// Simulated seconds per real second.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// Simulated now.
    pub fn now(&self) -> SimTime {
        self.at(Instant::now())
    }

    /// The simulated time at a tokio instant.
    pub fn at(&self, instant: Instant) -> SimTime {
        let real = instant.saturating_duration_since(self.started);
        self.origin.plus(real.mul_f64(self.time_scale))
    }

    /// The real (tokio) duration that `simulated` takes.
    pub fn real_duration(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.time_scale)
    }

    /// The tokio instant at which `simulated` will have passed from now.
    pub fn deadline_after(&self, simulated: Duration) -> Instant {
        Instant::now() + self.real_duration(simulated)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn simulated_time_runs_at_the_scale() {
        let clock = SimClock::new(
            SimTime::from_unix(Duration::from_secs(1_700_000_000)),
            360.0,
        );
        let start = clock.now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(clock.now().since(start), Duration::from_secs(3600));
        assert_eq!(start.to_rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(
            clock.real_duration(Duration::from_secs(3600)),
            Duration::from_secs(10)
        );
    }
}
