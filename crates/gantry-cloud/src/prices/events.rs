//! The price refresher's notable events: each logs and counts in one place.

use jiff::Timestamp;

use crate::prices::live::{FeedHealth, PriceCounters};
use crate::prices::sanity::PriceRejection;

/// A live quote refused by the sanity rules.
#[derive(Debug)]
pub(crate) struct SpotPriceRejected<'a> {
    pub(crate) feed: &'a str,
    pub(crate) region: &'a str,
    pub(crate) zone: &'a str,
    pub(crate) instance_type: &'a str,
    pub(crate) price_text: Option<&'a str>,
    pub(crate) rejection: &'a PriceRejection,
    /// Whether this key's previous quote was refused for the same reason (then
    /// it is counted but not logged again).
    pub(crate) repeated: bool,
}

impl SpotPriceRejected<'_> {
    pub(crate) fn emit(&self, counters: &mut PriceCounters) {
        *counters
            .quotes_rejected
            .entry(self.rejection.reason())
            .or_default() += 1;
        if !self.repeated {
            tracing::warn!(
                feed = self.feed,
                region = self.region,
                zone = self.zone,
                instance_type = self.instance_type,
                price = self.price_text.unwrap_or(""),
                reason = self.rejection.reason(),
                "live price rejected: {}",
                self.rejection
            );
        }
    }
}

/// A feed's fetch failed; the last good prices stay.
#[derive(Debug)]
pub(crate) struct PriceFeedFailed<'a> {
    pub(crate) feed: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) detail: &'a str,
    pub(crate) at: Timestamp,
}

impl PriceFeedFailed<'_> {
    pub(crate) fn emit(&self, health: &mut FeedHealth, counters: &mut PriceCounters) {
        counters.fetch_failures += 1;
        health.failures_total += 1;
        health.consecutive_failures += 1;
        health.last_attempt_at = Some(self.at);
        health.last_error = Some(format!("{}: {}", self.kind, self.detail));
        tracing::warn!(
            feed = self.feed,
            kind = self.kind,
            consecutive_failures = health.consecutive_failures,
            "price feed failed, keeping the last good prices: {}",
            self.detail
        );
    }
}

/// A feed's fetch succeeded.
#[derive(Debug)]
pub(crate) struct PriceFeedFetched<'a> {
    pub(crate) feed: &'a str,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) at: Timestamp,
}

impl PriceFeedFetched<'_> {
    pub(crate) fn emit(&self, health: &mut FeedHealth, counters: &mut PriceCounters) {
        counters.quotes_accepted += self.accepted;
        if health.consecutive_failures > 0 {
            tracing::info!(
                feed = self.feed,
                after_failures = health.consecutive_failures,
                "price feed recovered"
            );
        }
        health.consecutive_failures = 0;
        health.last_attempt_at = Some(self.at);
        health.last_success_at = Some(self.at);
        health.last_error = None;
        health.accepted_last = self.accepted;
        health.rejected_last = self.rejected;
        tracing::debug!(
            feed = self.feed,
            accepted = self.accepted,
            rejected = self.rejected,
            "price feed fetched"
        );
    }
}
