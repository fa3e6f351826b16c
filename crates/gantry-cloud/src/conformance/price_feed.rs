//! What every [`PriceFeed`] does, against a source with some prices in effect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::prices::{PriceFeed, PriceQuote};

/// Every case, as `#[tokio::test]`s on a fresh feed each.
#[macro_export]
macro_rules! price_feed_conformance_suite {
    ($make:expr) => {
        $crate::price_feed_conformance_suite!(@cases $make;
            quotes_are_for_the_feeds_cloud,
            every_quote_names_what_it_prices,
            a_recent_since_still_gives_the_price_in_effect,
            fetching_twice_gives_the_same_keys,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (feed, _guard) = $make.await;
                $crate::conformance::price_feed::$case(feed).await;
            }
        )*
    };
}

type Key = (String, Option<String>, Option<String>);

fn keys(quotes: &[PriceQuote]) -> BTreeSet<Key> {
    quotes
        .iter()
        .map(|quote| {
            (
                quote.region.clone(),
                quote.zone.clone(),
                quote.instance_type.clone(),
            )
        })
        .collect()
}

fn an_hour_ago() -> Timestamp {
    Timestamp::now() - SignedDuration::from_hours(1)
}

pub async fn quotes_are_for_the_feeds_cloud(feed: Arc<dyn PriceFeed>) {
    let quotes = feed.fetch(an_hour_ago()).await.unwrap();
    assert!(!quotes.is_empty(), "{} has prices in effect", feed.name());
    assert!(
        quotes.iter().all(|quote| quote.cloud == feed.cloud()),
        "{quotes:?}"
    );
}

pub async fn every_quote_names_what_it_prices(feed: Arc<dyn PriceFeed>) {
    for quote in feed.fetch(an_hour_ago()).await.unwrap() {
        assert!(!quote.region.is_empty(), "{quote:?}");
        assert!(
            quote
                .instance_type
                .as_deref()
                .is_some_and(|name| !name.is_empty()),
            "{quote:?}"
        );
        assert!(quote.price_text.is_some(), "{quote:?}");
    }
}

pub async fn a_recent_since_still_gives_the_price_in_effect(feed: Arc<dyn PriceFeed>) {
    let earlier = keys(&feed.fetch(an_hour_ago()).await.unwrap());
    let now = keys(&feed.fetch(Timestamp::now()).await.unwrap());
    assert_eq!(earlier, now, "every key keeps a price in effect");
}

pub async fn fetching_twice_gives_the_same_keys(feed: Arc<dyn PriceFeed>) {
    let since = an_hour_ago();
    let first = keys(&feed.fetch(since).await.unwrap());
    let second = keys(&feed.fetch(since).await.unwrap());
    assert_eq!(first, second);
}
