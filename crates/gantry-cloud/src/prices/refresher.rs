//! [`PriceRefresher`]: a task that polls every [`PriceFeed`] on a schedule and
//! publishes [`LivePrices`] through a `watch`, so readers never wait on a cloud.
//!
//! Protocol, one round (at start, then every `interval`, or at once on
//! [`PriceRefresher::refresh_now`]):
//! 1. For each feed in order: `fetch(since)` within `fetch_timeout`, where
//!    `since` is the feed's last successful fetch minus `overlap` (or
//!    `now - initial_lookback` before the first).
//! 2. Success: every quote goes through [`check_quote`]. Accepted ones enter
//!    the history; for each key, the latest quote (by when it took effect)
//!    decides: accepted, it becomes the key's live price observed now;
//!    refused, the key's previous live price stays (and ages), and the
//!    rejection is kept for explanations. Each rejection is counted; it is
//!    logged when it is new for its key.
//! 3. Failure or timeout: counted and logged; every price of that feed stays
//!    as it was, ageing towards stale.
//! 4. History older than `history_retention` is pruned, and the new snapshot
//!    is published (one per round).
//!
//! Dropping the handle stops the task; [`PriceRefresher::shutdown`] stops it
//! and waits for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gantry_core::PriceTable;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::WallClock;
use crate::prices::events::{PriceFeedFailed, PriceFeedFetched, SpotPriceRejected};
use crate::prices::feed::{PriceFeed, PriceQuote};
use crate::prices::live::{FeedHealth, LiveKey, LivePrice, LivePrices, RejectedLivePrice};
use crate::prices::sanity::check_quote;

/// How the refresher runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefresherConfig {
    /// Time between rounds (default 5 minutes).
    pub interval: Duration,
    /// A live price older than this is stale, and the table is used instead
    /// (default 15 minutes: three missed rounds).
    pub stale_after: Duration,
    /// How far back the first fetch of a feed looks (default 1 hour).
    pub initial_lookback: Duration,
    /// How far each later fetch reaches back before the last success, so no
    /// change falls between two rounds (default 1 minute).
    pub overlap: Duration,
    /// The most one fetch may take (default 60 seconds).
    pub fetch_timeout: Duration,
    /// How long accepted prices are kept for accounting (default 7 days).
    pub history_retention: Duration,
}

impl Default for RefresherConfig {
    fn default() -> Self {
        RefresherConfig {
            interval: Duration::from_secs(5 * 60),
            stale_after: Duration::from_secs(15 * 60),
            initial_lookback: Duration::from_secs(60 * 60),
            overlap: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(60),
            history_retention: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

/// The handle of a running refresher.
#[derive(Debug)]
pub struct PriceRefresher {
    receiver: watch::Receiver<Arc<LivePrices>>,
    refresh: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl PriceRefresher {
    /// Starts the task (on the current tokio runtime) and returns at once; the
    /// first snapshot is empty until the first round ends.
    pub fn spawn(
        feeds: Vec<Arc<dyn PriceFeed>>,
        table: Arc<PriceTable>,
        config: RefresherConfig,
        clock: WallClock,
    ) -> PriceRefresher {
        let mut initial = LivePrices::empty(config.stale_after);
        for feed in &feeds {
            initial.feeds.insert(
                feed.name().to_owned(),
                FeedHealth {
                    cloud: Some(feed.cloud()),
                    ..FeedHealth::default()
                },
            );
        }
        let (sender, receiver) = watch::channel(Arc::new(initial));
        let refresh = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel();
        let worker = Worker {
            feeds,
            table,
            config,
            clock,
            sender,
            last_success: BTreeMap::new(),
        };
        let task = tokio::spawn(worker.run(Arc::clone(&refresh), stopped));
        PriceRefresher {
            receiver,
            refresh,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The latest snapshot.
    pub fn latest(&self) -> Arc<LivePrices> {
        Arc::clone(&self.receiver.borrow())
    }

    /// A receiver of every new snapshot (for status pages and tests).
    pub fn subscribe(&self) -> watch::Receiver<Arc<LivePrices>> {
        self.receiver.clone()
    }

    /// Asks for a round now (it runs after the current one, if any).
    pub fn refresh_now(&self) {
        self.refresh.notify_one();
    }

    /// Stops the task and waits for it to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PriceRefresher {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Worker {
    feeds: Vec<Arc<dyn PriceFeed>>,
    table: Arc<PriceTable>,
    config: RefresherConfig,
    clock: WallClock,
    sender: watch::Sender<Arc<LivePrices>>,
    last_success: BTreeMap<String, Timestamp>,
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

fn minus(at: Timestamp, duration: Duration) -> Timestamp {
    at.checked_sub(signed(duration)).unwrap_or(Timestamp::MIN)
}

impl Worker {
    async fn run(mut self, refresh: Arc<Notify>, mut stopped: oneshot::Receiver<()>) {
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => return,
                _ = ticker.tick() => {}
                () = refresh.notified() => ticker.reset(),
            }
            tokio::select! {
                biased;
                _ = &mut stopped => return,
                () = self.round() => {}
            }
        }
    }

    async fn round(&mut self) {
        let previous = Arc::clone(&self.sender.borrow());
        let mut next = LivePrices::clone(&previous);
        let mut history = next.history.as_ref().clone();
        for feed in &self.feeds {
            let name = feed.name().to_owned();
            let started = (self.clock)();
            let since = match self.last_success.get(&name) {
                Some(last) => minus(*last, self.config.overlap),
                None => minus(started, self.config.initial_lookback),
            };
            let fetched = tokio::time::timeout(self.config.fetch_timeout, feed.fetch(since)).await;
            let now = (self.clock)();
            let mut health = next.feeds.remove(&name).unwrap_or_default();
            health.cloud = Some(feed.cloud());
            match fetched {
                Ok(Ok(quotes)) => {
                    let (accepted, rejected) =
                        self.apply_quotes(&name, quotes, now, &mut next, &mut history);
                    PriceFeedFetched {
                        feed: &name,
                        accepted,
                        rejected,
                        at: now,
                    }
                    .emit(&mut health, &mut next.counters);
                    self.last_success.insert(name.clone(), started);
                }
                Ok(Err(error)) => PriceFeedFailed {
                    feed: &name,
                    kind: error.kind,
                    detail: &error.detail,
                    at: now,
                }
                .emit(&mut health, &mut next.counters),
                Err(_elapsed) => PriceFeedFailed {
                    feed: &name,
                    kind: "timeout",
                    detail: &format!("no answer within {:?}", self.config.fetch_timeout),
                    at: now,
                }
                .emit(&mut health, &mut next.counters),
            }
            next.feeds.insert(name, health);
        }
        let now = (self.clock)();
        history.prune(minus(now, self.config.history_retention));
        next.history = Arc::new(history);
        next.counters.refreshes += 1;
        next.refreshed_at = Some(now);
        self.sender.send_replace(Arc::new(next));
    }

    /// Checks and applies one feed's quotes; returns (accepted, rejected).
    fn apply_quotes(
        &self,
        feed: &str,
        quotes: Vec<PriceQuote>,
        now: Timestamp,
        next: &mut LivePrices,
        history: &mut crate::prices::SpotPriceHistory,
    ) -> (u64, u64) {
        let (mut accepted, mut rejected) = (0_u64, 0_u64);
        // The latest verdict per key: (effective since, accepted live price or rejection).
        let mut latest: BTreeMap<
            LiveKey,
            (Option<Timestamp>, Result<LivePrice, RejectedLivePrice>),
        > = BTreeMap::new();
        for quote in quotes {
            let key = LiveKey {
                cloud: quote.cloud,
                region: quote.region.clone(),
                zone: quote.zone.clone().unwrap_or_default(),
                instance_type: quote.instance_type.clone().unwrap_or_default(),
                capacity_type: quote.capacity_type,
            };
            let verdict = match check_quote(&quote, &self.table, now) {
                Ok(price) => {
                    accepted += 1;
                    history.record(&key, quote.effective_since.unwrap_or(now), price);
                    Ok(LivePrice {
                        price,
                        zone_id: quote.zone_id.clone(),
                        effective_since: quote.effective_since,
                        observed_at: now,
                        feed: feed.to_owned(),
                    })
                }
                Err(rejection) => {
                    rejected += 1;
                    let repeated = next
                        .rejected
                        .get(&key)
                        .is_some_and(|before| before.rejection.reason() == rejection.reason());
                    SpotPriceRejected {
                        feed,
                        region: &key.region,
                        zone: &key.zone,
                        instance_type: &key.instance_type,
                        price_text: quote.price_text.as_deref(),
                        rejection: &rejection,
                        repeated,
                    }
                    .emit(&mut next.counters);
                    Err(RejectedLivePrice {
                        rejection,
                        price_text: quote.price_text.clone(),
                        observed_at: now,
                        feed: feed.to_owned(),
                    })
                }
            };
            let newer = latest
                .get(&key)
                .is_none_or(|(since, _)| *since <= quote.effective_since);
            if newer {
                latest.insert(key, (quote.effective_since, verdict));
            }
        }
        for (key, (_, verdict)) in latest {
            match verdict {
                Ok(price) => {
                    next.rejected.remove(&key);
                    next.prices.insert(key, price);
                }
                Err(rejection) => {
                    next.rejected.insert(key, rejection);
                }
            }
        }
        (accepted, rejected)
    }
}
