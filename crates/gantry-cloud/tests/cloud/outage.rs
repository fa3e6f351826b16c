//! Outages: an unreachable endpoint is a typed failure, and the refresher
//! keeps the last good prices, counts every failure, lets prices go stale
//! (the table takes over, saying why) and recovers.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use gantry_cloud::aws::{AwsEc2, Ec2Api, Ec2Error};
use gantry_cloud::gcs::{GcsApi, GcsClient, GcsConfig, GcsError};
use gantry_cloud::prices::{
    Ec2SpotFeed, FakePriceFeed, PriceFeed, PriceOrigin, PriceQuote, PriceRefresher, RefresherConfig,
};
use gantry_core::{CapacityType, Cloud, Money};

use crate::support::ec2_fixture::{single_attempt, test_endpoint};
use crate::support::{at, shipped_price_table, tokio_clock};

/// A loopback URL where nothing listens.
fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn an_unreachable_ec2_endpoint_is_reported_as_unreachable() {
    let api = AwsEc2::with_endpoint(&test_endpoint(&closed_port_url()), single_attempt());
    let error = api
        .describe_instance_types("us-east-1", &["g5.xlarge".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Ec2Error::Unreachable { operation: "DescribeInstanceTypes", region, .. } if region == "us-east-1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unreachable_storage_endpoint_is_unavailable() {
    let api = GcsClient::new(&GcsConfig::emulator(&closed_port_url()))
        .await
        .unwrap();
    let error = api.bucket("acme-data").await.unwrap_err();
    assert!(matches!(error, GcsError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    let error = api
        .list_objects("acme-data", "x/", 10, None)
        .await
        .unwrap_err();
    assert!(matches!(error, GcsError::Unavailable { .. }), "{error:?}");
}

#[tokio::test]
async fn the_refresher_over_an_unreachable_ec2_counts_the_failure_and_publishes_no_prices() {
    let api = Arc::new(AwsEc2::with_endpoint(
        &test_endpoint(&closed_port_url()),
        single_attempt(),
    ));
    let feed: Arc<dyn PriceFeed> = Arc::new(Ec2SpotFeed::new(
        api,
        "us-east-1",
        vec!["g5.xlarge".to_owned()],
    ));
    let refresher = PriceRefresher::spawn(
        vec![feed],
        Arc::new(shipped_price_table()),
        RefresherConfig::default(),
        gantry_cloud::system_clock(),
    );
    let mut updates = refresher.subscribe();
    updates.changed().await.unwrap();
    let prices = refresher.latest();
    assert_eq!(prices.counters().fetch_failures, 1);
    assert!(prices.prices().is_empty());
    assert!(!prices.all_feeds_healthy());
    let health = &prices.feeds()["aws-spot/us-east-1"];
    assert_eq!(health.consecutive_failures, 1);
    assert!(
        health
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("unreachable: "),
        "{health:?}"
    );
    assert_eq!(health.last_success_at, None);
}

fn g5_quote(price: &str, since: &str) -> PriceQuote {
    PriceQuote {
        cloud: Cloud::Aws,
        region: "us-east-1".to_owned(),
        zone: Some("us-east-1a".to_owned()),
        zone_id: Some("use1-az6".to_owned()),
        instance_type: Some("g5.xlarge".to_owned()),
        capacity_type: CapacityType::Spot,
        price_text: Some(price.to_owned()),
        effective_since: Some(at(since)),
    }
}

#[tokio::test(start_paused = true)]
async fn the_refresher_keeps_the_last_good_prices_through_an_outage_and_recovers() {
    let start = at("2026-01-05T15:00:00Z");
    let clock = tokio_clock(start);
    let feed = FakePriceFeed::new("aws-spot/us-east-1", Cloud::Aws);
    feed.push(g5_quote("0.410200", "2026-01-05T14:30:00Z"));
    let table = Arc::new(shipped_price_table());
    let config = RefresherConfig::default();
    let refresher = PriceRefresher::spawn(
        vec![Arc::new(feed.clone()) as Arc<dyn PriceFeed>],
        Arc::clone(&table),
        config,
        Arc::clone(&clock),
    );
    let mut updates = refresher.subscribe();
    let choose = |prices: &gantry_cloud::prices::LivePrices| {
        prices.choose(
            &table,
            Cloud::Aws,
            "us-east-1",
            Some("us-east-1a"),
            "g5.xlarge",
            CapacityType::Spot,
            clock(),
        )
    };

    updates.changed().await.unwrap();
    assert_eq!(
        choose(&refresher.latest()).price,
        Some(Money::from_micros(410_200))
    );

    feed.set_failing(Some("connection refused"));
    // Rounds at +5m, +10m, +15m fail: the price stays, still live until 15m.
    for round in 1..=3_u64 {
        updates.changed().await.unwrap();
        let prices = refresher.latest();
        assert_eq!(prices.counters().fetch_failures, round);
        assert_eq!(
            prices.feeds()["aws-spot/us-east-1"].consecutive_failures,
            round
        );
        let choice = choose(&prices);
        assert_eq!(
            choice.price,
            Some(Money::from_micros(410_200)),
            "round {round}"
        );
        assert_eq!(choice.source_label(), "live", "round {round}: {choice}");
    }
    // +20m: stale; the table's price for the zone (use1-az6: 0.4364), saying why.
    updates.changed().await.unwrap();
    let prices = refresher.latest();
    let choice = choose(&prices);
    assert!(
        matches!(choice.origin, PriceOrigin::TableLiveStale { .. }),
        "{choice:?}"
    );
    assert_eq!(choice.price, Some(Money::from_micros(436_400)));
    assert_eq!(
        choice.to_string(),
        "price table (live price stale: 20m old, limit 15m)"
    );
    assert_eq!(prices.counters().fetch_failures, 4);
    assert!(!prices.all_feeds_healthy());

    // Recovery: the next round refreshes the price and the health.
    feed.set_failing(None);
    updates.changed().await.unwrap();
    let prices = refresher.latest();
    assert_eq!(choose(&prices).source_label(), "live");
    assert!(prices.all_feeds_healthy());
    assert_eq!(prices.counters().refreshes, 6);
    assert_eq!(prices.feeds()["aws-spot/us-east-1"].failures_total, 4);
    refresher.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn refresh_now_runs_a_round_without_waiting_for_the_interval() {
    let feed = FakePriceFeed::new("aws-spot/us-east-1", Cloud::Aws);
    feed.push(g5_quote("0.410200", "2026-01-05T14:30:00Z"));
    let config = RefresherConfig {
        interval: Duration::from_secs(3600),
        ..RefresherConfig::default()
    };
    let refresher = PriceRefresher::spawn(
        vec![Arc::new(feed.clone()) as Arc<dyn PriceFeed>],
        Arc::new(shipped_price_table()),
        config,
        tokio_clock(at("2026-01-05T15:00:00Z")),
    );
    let mut updates = refresher.subscribe();
    updates.changed().await.unwrap();
    let before = tokio::time::Instant::now();
    refresher.refresh_now();
    updates.changed().await.unwrap();
    assert!(tokio::time::Instant::now() - before < Duration::from_secs(1));
    assert_eq!(feed.fetches(), 2);
    assert_eq!(refresher.latest().counters().refreshes, 2);
}

#[tokio::test(start_paused = true)]
async fn a_feed_that_never_answers_is_a_timeout_not_a_hang() {
    #[derive(Debug)]
    struct Silent;
    impl PriceFeed for Silent {
        fn name(&self) -> &str {
            "silent"
        }
        fn cloud(&self) -> Cloud {
            Cloud::Aws
        }
        fn fetch(
            &self,
            _since: jiff::Timestamp,
        ) -> gantry_cloud::prices::PriceFuture<'_, Vec<PriceQuote>> {
            Box::pin(std::future::pending())
        }
    }
    let refresher = PriceRefresher::spawn(
        vec![Arc::new(Silent) as Arc<dyn PriceFeed>],
        Arc::new(shipped_price_table()),
        RefresherConfig::default(),
        tokio_clock(at("2026-01-05T15:00:00Z")),
    );
    let mut updates = refresher.subscribe();
    updates.changed().await.unwrap();
    let prices = refresher.latest();
    assert_eq!(prices.counters().fetch_failures, 1);
    assert!(
        prices.feeds()["silent"]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("timeout: ")
    );
}
