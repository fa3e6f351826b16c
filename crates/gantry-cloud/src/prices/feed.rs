//! The price feed port: where live prices come from, one cloud (and usually one
//! region) per feed.
//!
//! Implementations: [`Ec2SpotFeed`] (EC2 spot price history of one region, over
//! any [`Ec2Api`]) and [`FakePriceFeed`]; both pass
//! `gantry_cloud::conformance::price_feed`.
//!
//! Azure has no live feed yet: its prices come from the shipped price table,
//! which is what [`crate::prices::LivePrices::choose`] falls back to for every
//! cloud without a fresh live price. A live Azure feed is one more
//! implementation of [`PriceFeed`] (the Azure Retail Prices API is a public,
//! paged JSON list of `retailPrice` per `armSkuName`, `armRegionName` and
//! `type`/`skuName` "Spot"; no SDK needed): it turns each item into a
//! [`PriceQuote`] with `cloud: Azure` and `zone: None` (Azure prices by region), and passes the same
//! conformance suite. Nothing else changes: sanity rules, staleness, history and
//! the refresher are cloud-neutral.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use gantry_core::{CapacityType, Cloud};
use jiff::Timestamp;

use crate::aws::{Ec2Api, Ec2Error, SpotPriceQuery};

/// A boxed future of a feed's fetch.
pub type PriceFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PriceFeedError>> + Send + 'a>>;

/// One price as a feed reported it, not yet checked (see
/// [`crate::prices::check_quote`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceQuote {
    /// The cloud.
    pub cloud: Cloud,
    /// The region.
    pub region: String,
    /// The zone's name (`us-east-1a`); `None` for a region-wide price.
    pub zone: Option<String>,
    /// The zone's id where the cloud has them (`use1-az6`).
    pub zone_id: Option<String>,
    /// The instance type.
    pub instance_type: Option<String>,
    /// Spot or on-demand.
    pub capacity_type: CapacityType,
    /// The hourly price as the feed wrote it.
    pub price_text: Option<String>,
    /// When the price took effect, if the feed says.
    pub effective_since: Option<Timestamp>,
}

/// Why a feed could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("price feed {feed} failed ({kind}): {detail}")]
pub struct PriceFeedError {
    /// The feed's name.
    pub feed: String,
    /// A short label for metrics: `unreachable`, `refused`, `bad_response`, `timeout`.
    pub kind: &'static str,
    /// What happened.
    pub detail: String,
}

/// A source of live prices. `fetch` returns every quote that took effect since
/// `since`, plus the one in effect at `since` for each thing it prices, so the
/// latest quote per key is the current price.
pub trait PriceFeed: fmt::Debug + Send + Sync {
    /// A name unique among the feeds of one refresher, e.g. `aws-spot/us-east-1`.
    fn name(&self) -> &str;
    /// The cloud this feed prices.
    fn cloud(&self) -> Cloud;
    /// Quotes since `since` (see the trait docs).
    fn fetch(&self, since: Timestamp) -> PriceFuture<'_, Vec<PriceQuote>>;
}

/// EC2 spot prices of one region, for a list of instance types.
#[derive(Clone, Debug)]
pub struct Ec2SpotFeed {
    name: String,
    api: Arc<dyn Ec2Api>,
    region: String,
    query_types: Vec<String>,
    product_descriptions: Vec<String>,
}

impl Ec2SpotFeed {
    /// The spot prices of `instance_types` (exact names) in `region`, for Linux.
    pub fn new(api: Arc<dyn Ec2Api>, region: &str, instance_types: Vec<String>) -> Ec2SpotFeed {
        Ec2SpotFeed {
            name: format!("aws-spot/{region}"),
            api,
            region: region.to_owned(),
            query_types: instance_types,
            product_descriptions: vec!["Linux/UNIX".to_owned()],
        }
    }

    async fn fetch_quotes(&self, since: Timestamp) -> Result<Vec<PriceQuote>, PriceFeedError> {
        let query = SpotPriceQuery {
            instance_types: self.query_types.clone(),
            product_descriptions: self.product_descriptions.clone(),
            start_time: since,
        };
        let records = self
            .api
            .describe_spot_prices(&self.region, &query)
            .await
            .map_err(|error| self.feed_error(&error))?;
        Ok(records
            .into_iter()
            .map(|record| PriceQuote {
                cloud: Cloud::Aws,
                region: self.region.clone(),
                zone: record.zone,
                zone_id: record.zone_id,
                instance_type: record.instance_type,
                capacity_type: CapacityType::Spot,
                price_text: record.price_text,
                effective_since: record.effective_since,
            })
            .collect())
    }

    fn feed_error(&self, error: &Ec2Error) -> PriceFeedError {
        PriceFeedError {
            feed: self.name.clone(),
            kind: error.kind(),
            detail: error.to_string(),
        }
    }
}

impl PriceFeed for Ec2SpotFeed {
    fn name(&self) -> &str {
        &self.name
    }

    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    fn fetch(&self, since: Timestamp) -> PriceFuture<'_, Vec<PriceQuote>> {
        Box::pin(self.fetch_quotes(since))
    }
}

#[derive(Debug, Default)]
struct FakeFeedState {
    quotes: Vec<PriceQuote>,
    scripted: VecDeque<Result<Vec<PriceQuote>, String>>,
    failing: Option<String>,
    fetches: u64,
}

/// An in-memory feed: it answers its quotes as a real feed would (those since
/// `since`, plus the one in effect then per key), or scripted answers first.
/// Clones share their state.
#[derive(Clone, Debug)]
pub struct FakePriceFeed {
    name: String,
    cloud: Cloud,
    state: Arc<Mutex<FakeFeedState>>,
}

impl FakePriceFeed {
    /// An empty feed for `cloud`.
    pub fn new(name: &str, cloud: Cloud) -> FakePriceFeed {
        FakePriceFeed {
            name: name.to_owned(),
            cloud,
            state: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeFeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a quote to the feed's history.
    pub fn push(&self, quote: PriceQuote) {
        self.state().quotes.push(quote);
    }

    /// The next fetch answers `answer` (quotes as they are, or a failure with
    /// this detail), before the history is used again.
    pub fn script(&self, answer: Result<Vec<PriceQuote>, String>) {
        self.state().scripted.push_back(answer);
    }

    /// Every fetch fails with `detail` until set back to `None`.
    pub fn set_failing(&self, detail: Option<&str>) {
        self.state().failing = detail.map(str::to_owned);
    }

    /// Fetches so far.
    pub fn fetches(&self) -> u64 {
        self.state().fetches
    }

    fn answer(&self, since: Timestamp) -> Result<Vec<PriceQuote>, PriceFeedError> {
        let mut state = self.state();
        state.fetches += 1;
        let fail = |detail: String| PriceFeedError {
            feed: self.name.clone(),
            kind: "unreachable",
            detail,
        };
        if let Some(detail) = state.failing.clone() {
            return Err(fail(detail));
        }
        if let Some(scripted) = state.scripted.pop_front() {
            return scripted.map_err(fail);
        }
        Ok(select_since(&state.quotes, since))
    }
}

/// The quotes since `since`, plus the latest before it per key.
fn select_since(quotes: &[PriceQuote], since: Timestamp) -> Vec<PriceQuote> {
    let mut selected = Vec::new();
    let mut in_effect: Vec<&PriceQuote> = Vec::new();
    for quote in quotes {
        if quote.effective_since.is_some_and(|at| at >= since) {
            selected.push(quote.clone());
            continue;
        }
        let same_key = |kept: &&PriceQuote| {
            kept.region == quote.region
                && kept.zone == quote.zone
                && kept.instance_type == quote.instance_type
                && kept.capacity_type == quote.capacity_type
        };
        match in_effect.iter().position(same_key) {
            Some(index) => {
                if let Some(kept) = in_effect.get_mut(index)
                    && kept.effective_since <= quote.effective_since
                {
                    *kept = quote;
                }
            }
            None => in_effect.push(quote),
        }
    }
    selected.extend(in_effect.into_iter().cloned());
    selected
}

impl PriceFeed for FakePriceFeed {
    fn name(&self) -> &str {
        &self.name
    }

    fn cloud(&self) -> Cloud {
        self.cloud
    }

    fn fetch(&self, since: Timestamp) -> PriceFuture<'_, Vec<PriceQuote>> {
        Box::pin(std::future::ready(self.answer(since)))
    }
}
