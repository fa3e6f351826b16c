//! A bounded history of accepted live prices, for cost accounting: what one
//! node of a type cost over a stretch of time, price change by price change.

use std::collections::BTreeMap;

use gantry_core::Money;
use jiff::Timestamp;

use crate::prices::live::LiveKey;

/// Changes kept per key; the oldest go first.
const MAX_CHANGES_PER_KEY: usize = 4096;
/// Milliseconds in one hour.
const MILLIS_PER_HOUR: i128 = 3_600_000;

/// Accepted prices by key and the moment each took effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpotPriceHistory {
    series: BTreeMap<LiveKey, BTreeMap<Timestamp, Money>>,
}

impl SpotPriceHistory {
    /// Records that `price` took effect at `since` for `key` (the same moment
    /// twice keeps the later report).
    pub fn record(&mut self, key: &LiveKey, since: Timestamp, price: Money) {
        let series = self.series.entry(key.clone()).or_default();
        series.insert(since, price);
        while series.len() > MAX_CHANGES_PER_KEY {
            series.pop_first();
        }
    }

    /// Drops changes older than `cutoff`, keeping for each key the one in
    /// effect at `cutoff`, so [`SpotPriceHistory::price_at`] stays right from
    /// `cutoff` on.
    pub fn prune(&mut self, cutoff: Timestamp) {
        for series in self.series.values_mut() {
            let in_effect = series.range(..=cutoff).next_back().map(|(at, _)| *at);
            if let Some(in_effect) = in_effect {
                *series = series.split_off(&in_effect);
            }
        }
    }

    /// The price in effect for `key` at `at`.
    pub fn price_at(&self, key: &LiveKey, at: Timestamp) -> Option<Money> {
        self.series
            .get(key)?
            .range(..=at)
            .next_back()
            .map(|(_, price)| *price)
    }

    /// Price changes of `key`, oldest first.
    pub fn changes(&self, key: &LiveKey) -> impl Iterator<Item = (Timestamp, Money)> + '_ {
        self.series
            .get(key)
            .into_iter()
            .flat_map(|series| series.iter().map(|(at, price)| (*at, *price)))
    }

    /// What one node of `key` cost from `from` to `to`, each stretch at the
    /// price then in effect, rounded to the micro-dollar; `None` when the
    /// history does not cover `from` (or the sum overflows).
    pub fn cost(&self, key: &LiveKey, from: Timestamp, to: Timestamp) -> Option<Money> {
        if to <= from {
            return Some(Money::ZERO);
        }
        let series = self.series.get(key)?;
        let (_, first_price) = series.range(..=from).next_back()?;
        let mut stretch_start = from;
        let mut price = *first_price;
        let mut micro_millis: i128 = 0;
        let changes = series
            .range(from..to)
            .filter(|(at, _)| **at > from)
            .map(|(at, price)| (*at, *price))
            .chain(std::iter::once((to, Money::ZERO)));
        for (at, next_price) in changes {
            let millis =
                i128::from(at.as_millisecond()) - i128::from(stretch_start.as_millisecond());
            micro_millis =
                micro_millis.checked_add(i128::from(price.micros()).checked_mul(millis)?)?;
            stretch_start = at;
            price = next_price;
        }
        let rounded = (micro_millis + MILLIS_PER_HOUR / 2).div_euclid(MILLIS_PER_HOUR);
        i64::try_from(rounded).ok().map(Money::from_micros)
    }

    /// Keys with a history.
    pub fn keys(&self) -> impl Iterator<Item = &LiveKey> {
        self.series.keys()
    }

    /// Changes kept, over every key.
    pub fn len(&self) -> usize {
        self.series.values().map(BTreeMap::len).sum()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.series.values().all(BTreeMap::is_empty)
    }
}
