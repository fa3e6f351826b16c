//! [`LivePrices`]: the snapshot the refresher publishes, and the one rule for
//! choosing between a live price and the price table ([`LivePrices::choose`]).
//!
//! A snapshot is immutable; each refresh publishes a new one. It holds the last
//! accepted price per key (kept across failed refreshes), the last rejection
//! per key, the accepted history, each feed's health and the counters.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gantry_core::{CapacityType, Cloud, Money, PriceTable};
use jiff::Timestamp;

use crate::prices::history::SpotPriceHistory;
use crate::prices::sanity::PriceRejection;

/// What a live price is the price of.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LiveKey {
    /// The cloud.
    pub cloud: Cloud,
    /// The region.
    pub region: String,
    /// The zone's name (`us-east-1a`); empty for a region-wide price.
    pub zone: String,
    /// The instance type.
    pub instance_type: String,
    /// Spot or on-demand.
    pub capacity_type: CapacityType,
}

/// One accepted live price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivePrice {
    /// Per instance-hour.
    pub price: Money,
    /// The zone's id, where the cloud sent one.
    pub zone_id: Option<String>,
    /// When the cloud says it took effect.
    pub effective_since: Option<Timestamp>,
    /// When Gantry last read it from the feed.
    pub observed_at: Timestamp,
    /// The feed that sent it.
    pub feed: String,
}

/// The last quote refused for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedLivePrice {
    /// Why.
    pub rejection: PriceRejection,
    /// The price as the feed wrote it.
    pub price_text: Option<String>,
    /// When Gantry read it.
    pub observed_at: Timestamp,
    /// The feed that sent it.
    pub feed: String,
}

/// How one feed is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedHealth {
    /// The feed's cloud.
    pub cloud: Option<Cloud>,
    /// The last fetch, successful or not.
    pub last_attempt_at: Option<Timestamp>,
    /// The last successful fetch.
    pub last_success_at: Option<Timestamp>,
    /// Failed fetches since the last success.
    pub consecutive_failures: u64,
    /// Failed fetches since start.
    pub failures_total: u64,
    /// The last failure, for people.
    pub last_error: Option<String>,
    /// Quotes accepted by the last successful fetch.
    pub accepted_last: u64,
    /// Quotes rejected by the last successful fetch.
    pub rejected_last: u64,
}

/// Counters since the refresher started (monotonic: export them as counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceCounters {
    /// Refresh rounds run.
    pub refreshes: u64,
    /// Feed fetches that failed.
    pub fetch_failures: u64,
    /// Quotes accepted.
    pub quotes_accepted: u64,
    /// Quotes rejected, by reason ([`PriceRejection::reason`]).
    pub quotes_rejected: BTreeMap<&'static str, u64>,
}

impl PriceCounters {
    /// Quotes rejected, every reason.
    pub fn quotes_rejected_total(&self) -> u64 {
        self.quotes_rejected.values().sum()
    }
}

/// Live prices at one moment (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct LivePrices {
    pub(crate) prices: BTreeMap<LiveKey, LivePrice>,
    pub(crate) rejected: BTreeMap<LiveKey, RejectedLivePrice>,
    pub(crate) history: Arc<SpotPriceHistory>,
    pub(crate) feeds: BTreeMap<String, FeedHealth>,
    pub(crate) counters: PriceCounters,
    pub(crate) stale_after: Duration,
    pub(crate) refreshed_at: Option<Timestamp>,
}

/// Where a chosen price came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceOrigin {
    /// A live price younger than the staleness limit.
    Live {
        /// The feed.
        feed: String,
        /// Its age.
        age: Duration,
    },
    /// The price table, because the live price is stale.
    TableLiveStale {
        /// The live price's age.
        age: Duration,
        /// The limit.
        stale_after: Duration,
    },
    /// The price table, because the live quote was rejected.
    TableLiveRejected {
        /// Why.
        rejection: PriceRejection,
    },
    /// The price table; no live price is known for this key.
    Table,
    /// A stale live price, because the table has none.
    LiveStaleNoTable {
        /// The feed.
        feed: String,
        /// Its age.
        age: Duration,
    },
    /// No price anywhere.
    Missing,
}

/// A price with where it came from, to show in explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceChoice {
    /// Per instance-hour; `None` when nothing knows it.
    pub price: Option<Money>,
    /// Where it came from.
    pub origin: PriceOrigin,
}

impl PriceChoice {
    /// A short label for `price_source` fields and metrics: `live`,
    /// `price-table`, `live-stale` or `missing`.
    pub fn source_label(&self) -> &'static str {
        match self.origin {
            PriceOrigin::Live { .. } => "live",
            PriceOrigin::TableLiveStale { .. }
            | PriceOrigin::TableLiveRejected { .. }
            | PriceOrigin::Table => "price-table",
            PriceOrigin::LiveStaleNoTable { .. } => "live-stale",
            PriceOrigin::Missing => "missing",
        }
    }

    /// Whether the scheduler should say it fell back (a live price existed
    /// but was not used).
    pub fn fell_back(&self) -> bool {
        matches!(
            self.origin,
            PriceOrigin::TableLiveStale { .. }
                | PriceOrigin::TableLiveRejected { .. }
                | PriceOrigin::LiveStaleNoTable { .. }
        )
    }
}

fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 120 {
        format!("{seconds}s")
    } else if seconds < 2 * 3600 {
        format!("{}m", seconds / 60)
    } else {
        format!("{}h", seconds / 3600)
    }
}

impl fmt::Display for PriceChoice {
    /// One phrase for explanations: `live spot price from aws-spot/us-east-1,
    /// 3m old`, `price table (live price stale: 42m old, limit 15m)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            PriceOrigin::Live { feed, age } => {
                write!(formatter, "live price from {feed}, {} old", minutes(*age))
            }
            PriceOrigin::TableLiveStale { age, stale_after } => write!(
                formatter,
                "price table (live price stale: {} old, limit {})",
                minutes(*age),
                minutes(*stale_after)
            ),
            PriceOrigin::TableLiveRejected { rejection } => {
                write!(formatter, "price table (live price rejected: {rejection})")
            }
            PriceOrigin::Table => formatter.write_str("price table"),
            PriceOrigin::LiveStaleNoTable { feed, age } => write!(
                formatter,
                "stale live price from {feed}, {} old (the price table has none)",
                minutes(*age)
            ),
            PriceOrigin::Missing => formatter.write_str("no price known"),
        }
    }
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    now.duration_since(then)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

impl LivePrices {
    /// An empty snapshot with a staleness limit (what the refresher starts with).
    pub fn empty(stale_after: Duration) -> LivePrices {
        LivePrices {
            stale_after,
            ..LivePrices::default()
        }
    }

    /// The live price of `instance_type` in `zone` (a zone name or zone id),
    /// fresh or not; with `zone` `None`, the median zone's price of the region
    /// (the upper middle for an even count). A zone without a live price has
    /// none: spot prices differ by zone, so another zone's is not used.
    pub fn live(
        &self,
        cloud: Cloud,
        region: &str,
        zone: Option<&str>,
        instance_type: &str,
        capacity_type: CapacityType,
    ) -> Option<&LivePrice> {
        let mut in_region: Vec<(&LiveKey, &LivePrice)> = self
            .prices
            .iter()
            .filter(|(key, _)| {
                key.cloud == cloud
                    && key.region == region
                    && key.instance_type == instance_type
                    && key.capacity_type == capacity_type
            })
            .collect();
        if let Some(zone) = zone {
            return in_region
                .into_iter()
                .find(|(key, price)| key.zone == zone || price.zone_id.as_deref() == Some(zone))
                .map(|(_, price)| price);
        }
        in_region.sort_by_key(|(_, price)| price.price);
        in_region.get(in_region.len() / 2).map(|(_, price)| *price)
    }

    /// The last rejection for the key, if its latest quote was refused.
    pub fn rejection(
        &self,
        cloud: Cloud,
        region: &str,
        zone: Option<&str>,
        instance_type: &str,
        capacity_type: CapacityType,
    ) -> Option<&RejectedLivePrice> {
        self.rejected
            .iter()
            .find(|(key, _)| {
                key.cloud == cloud
                    && key.region == region
                    && key.instance_type == instance_type
                    && key.capacity_type == capacity_type
                    && zone.is_none_or(|zone| key.zone == zone)
            })
            .map(|(_, rejected)| rejected)
    }

    /// The price to use for one pool, and why (the one rule):
    /// 1. a live price younger than the staleness limit;
    /// 2. else the price table, saying whether a live price was stale or rejected;
    /// 3. else a stale live price, saying so;
    /// 4. else nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn choose(
        &self,
        table: &PriceTable,
        cloud: Cloud,
        region: &str,
        zone: Option<&str>,
        instance_type: &str,
        capacity_type: CapacityType,
        now: Timestamp,
    ) -> PriceChoice {
        let live = self.live(cloud, region, zone, instance_type, capacity_type);
        if let Some(live) = live {
            let live_age = age(now, live.observed_at);
            if live_age <= self.stale_after {
                return PriceChoice {
                    price: Some(live.price),
                    origin: PriceOrigin::Live {
                        feed: live.feed.clone(),
                        age: live_age,
                    },
                };
            }
        }
        // The table names AWS zones by id (`use1-az6`), pools by name
        // (`us-east-1a`): the live price of that zone knows both.
        let table_zone = zone.map(|zone| {
            self.prices
                .iter()
                .find(|(key, _)| key.cloud == cloud && key.region == region && key.zone == zone)
                .and_then(|(_, price)| price.zone_id.as_deref())
                .unwrap_or(zone)
        });
        let table_price = table.price(cloud, region, table_zone, instance_type, capacity_type);
        match (table_price, live) {
            (Some(price), Some(live)) => PriceChoice {
                price: Some(price),
                origin: PriceOrigin::TableLiveStale {
                    age: age(now, live.observed_at),
                    stale_after: self.stale_after,
                },
            },
            (Some(price), None) => PriceChoice {
                price: Some(price),
                origin: match self.rejection(cloud, region, zone, instance_type, capacity_type) {
                    Some(rejected) => PriceOrigin::TableLiveRejected {
                        rejection: rejected.rejection.clone(),
                    },
                    None => PriceOrigin::Table,
                },
            },
            (None, Some(live)) => PriceChoice {
                price: Some(live.price),
                origin: PriceOrigin::LiveStaleNoTable {
                    feed: live.feed.clone(),
                    age: age(now, live.observed_at),
                },
            },
            (None, None) => PriceChoice {
                price: None,
                origin: PriceOrigin::Missing,
            },
        }
    }

    /// Every accepted live price, by key.
    pub fn prices(&self) -> &BTreeMap<LiveKey, LivePrice> {
        &self.prices
    }

    /// The last rejection of every key whose latest quote was refused.
    pub fn rejected(&self) -> &BTreeMap<LiveKey, RejectedLivePrice> {
        &self.rejected
    }

    /// Accepted prices over time, for accounting.
    pub fn history(&self) -> &SpotPriceHistory {
        &self.history
    }

    /// Each feed's health, by feed name.
    pub fn feeds(&self) -> &BTreeMap<String, FeedHealth> {
        &self.feeds
    }

    /// Counters since start.
    pub fn counters(&self) -> &PriceCounters {
        &self.counters
    }

    /// The staleness limit.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// When the last refresh round ended; `None` before the first.
    pub fn refreshed_at(&self) -> Option<Timestamp> {
        self.refreshed_at
    }

    /// Whether every feed's last fetch succeeded (the readiness check: a
    /// failing feed makes the daemon degraded, not down, since the table and
    /// the last good prices still price everything).
    pub fn all_feeds_healthy(&self) -> bool {
        self.feeds
            .values()
            .all(|feed| feed.consecutive_failures == 0)
    }
}
