//! The real adapter on recorded EC2 responses of the real shape: pagination,
//! then the price logic (sanity rules, latest per zone, zone ids, the choice
//! between live and table) end to end through the refresher.

use gantry_cloud::aws::{Ec2Api, SpotPriceQuery};
use gantry_cloud::prices::{Ec2SpotFeed, PriceFeed, PriceOrigin, PriceRefresher, RefresherConfig};
use gantry_core::{CapacityType, Cloud, Money};
use std::sync::Arc;

use crate::support::ec2_fixture::{Ec2Fixture, Params, Responder, fixture};
use crate::support::{at, shipped_price_table, tokio_clock};

const TYPES: [&str; 3] = ["g5.xlarge", "p4d.24xlarge", "p5.48xlarge"];

fn two_pages() -> Responder {
    Arc::new(|params: &Params| {
        assert_eq!(
            params.get("Action").map(String::as_str),
            Some("DescribeSpotPriceHistory")
        );
        match params.get("NextToken").map(String::as_str) {
            None => (200, fixture("describe-spot-price-history-page-1.xml")),
            Some("eyJ2IjoiMiIsImMiOiJwYWdlLTIifQ==") => {
                (200, fixture("describe-spot-price-history-page-2.xml"))
            }
            Some(other) => panic!("unexpected token {other}"),
        }
    })
}

fn types() -> Vec<String> {
    TYPES.map(str::to_owned).to_vec()
}

#[tokio::test]
async fn every_page_is_read_and_every_record_kept_as_sent() {
    let server = Ec2Fixture::start(two_pages()).await;
    let query = SpotPriceQuery {
        instance_types: types(),
        product_descriptions: vec!["Linux/UNIX".to_owned()],
        start_time: at("2026-01-05T14:00:00Z"),
    };
    let records = server
        .adapter()
        .describe_spot_prices("us-east-1", &query)
        .await
        .unwrap();
    assert_eq!(records.len(), 11);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "two pages, two requests");
    let first = &requests[0];
    assert_eq!(
        first.get("InstanceType.1").map(String::as_str),
        Some("g5.xlarge")
    );
    assert_eq!(
        first.get("InstanceType.3").map(String::as_str),
        Some("p5.48xlarge")
    );
    assert_eq!(
        first.get("ProductDescription.1").map(String::as_str),
        Some("Linux/UNIX")
    );
    assert_eq!(
        first.get("StartTime").map(String::as_str),
        Some("2026-01-05T14:00:00Z")
    );
    assert_eq!(first.get("MaxResults").map(String::as_str), Some("1000"));
    assert!(requests[1].contains_key("NextToken"));
    let g5 = &records[1];
    assert_eq!(g5.instance_type.as_deref(), Some("g5.xlarge"));
    assert_eq!(g5.zone.as_deref(), Some("us-east-1a"));
    assert_eq!(g5.zone_id.as_deref(), Some("use1-az6"));
    assert_eq!(g5.price_text.as_deref(), Some("0.410200"));
    assert_eq!(g5.effective_since, Some(at("2026-01-05T14:30:00Z")));
    // Garbage passes the adapter untouched: judging it is the rules' job.
    assert!(
        records
            .iter()
            .any(|record| record.price_text.as_deref() == Some("abc"))
    );
    assert!(records.iter().any(|record| record.price_text.is_none()));
}

#[tokio::test]
async fn the_refresher_keeps_believable_prices_and_rejects_the_rest_with_reasons() {
    let server = Ec2Fixture::start(two_pages()).await;
    let feed: Arc<dyn PriceFeed> = Arc::new(Ec2SpotFeed::new(
        Arc::new(server.adapter()),
        "us-east-1",
        types(),
    ));
    let now = at("2026-01-05T15:00:00Z");
    let table = Arc::new(shipped_price_table());
    let refresher = PriceRefresher::spawn(
        vec![feed],
        Arc::clone(&table),
        RefresherConfig::default(),
        tokio_clock(now),
    );
    let mut updates = refresher.subscribe();
    updates.changed().await.unwrap();
    let prices = refresher.latest();

    let counters = prices.counters();
    assert_eq!(counters.refreshes, 1);
    assert_eq!(counters.fetch_failures, 0);
    assert_eq!(counters.quotes_accepted, 5);
    let rejected: Vec<(&str, u64)> = counters
        .quotes_rejected
        .iter()
        .map(|(k, v)| (*k, *v))
        .collect();
    assert_eq!(
        rejected,
        [
            ("above_on_demand", 1),
            ("missing", 1),
            ("negative", 1),
            ("not_a_number", 1),
            ("placeholder", 1),
            ("zero", 1),
        ]
    );
    assert_eq!(prices.prices().len(), 4, "{:?}", prices.prices().keys());
    assert_eq!(prices.rejected().len(), 6);
    assert!(prices.all_feeds_healthy());

    let choose = |zone: &str, instance_type: &str| {
        prices.choose(
            &table,
            Cloud::Aws,
            "us-east-1",
            Some(zone),
            instance_type,
            CapacityType::Spot,
            now,
        )
    };
    // The latest of two changes in one zone wins; zone names and ids both match.
    let g5 = choose("us-east-1a", "g5.xlarge");
    assert_eq!(g5.price, Some(Money::from_micros(410_200)));
    assert_eq!(g5.source_label(), "live");
    assert!(!g5.fell_back());
    assert_eq!(choose("use1-az6", "g5.xlarge"), g5);
    // Absurd: above 3x on-demand (21.957642): the table's spot price instead, and why.
    let p4d = choose("us-east-1b", "p4d.24xlarge");
    assert_eq!(p4d.source_label(), "price-table");
    assert!(
        matches!(p4d.origin, PriceOrigin::TableLiveRejected { .. }),
        "{p4d:?}"
    );
    assert!(
        p4d.to_string()
            .contains("above 3x the on-demand price 21.957642"),
        "{p4d}"
    );
    // moto's placeholder in 1c is flagged as such.
    let placeholder = choose("us-east-1c", "g5.xlarge");
    assert!(
        placeholder.to_string().contains("placeholder"),
        "{placeholder}"
    );

    // The history keeps both changes of g5 in 1a, for accounting.
    let key = prices
        .prices()
        .keys()
        .find(|key| key.zone == "us-east-1a" && key.instance_type == "g5.xlarge")
        .unwrap();
    let cost = prices
        .history()
        .cost(key, at("2026-01-05T14:00:00Z"), at("2026-01-05T15:00:00Z"))
        .unwrap();
    // 30 minutes at 0.4364 and 30 at 0.4102.
    assert_eq!(cost, Money::from_micros(423_300));

    // After the staleness limit with no new round, the table takes over and
    // says why.
    drop(updates);
    refresher.shutdown().await;
    let observed_at = prices.prices()[key].observed_at;
    let later = observed_at + jiff::SignedDuration::from_mins(16);
    let stale = prices.choose(
        &table,
        Cloud::Aws,
        "us-east-1",
        Some("us-east-1a"),
        "g5.xlarge",
        CapacityType::Spot,
        later,
    );
    assert!(
        matches!(stale.origin, PriceOrigin::TableLiveStale { .. }),
        "{stale:?}"
    );
    assert_eq!(
        stale.to_string(),
        "price table (live price stale: 16m old, limit 15m)"
    );
    assert!(stale.fell_back());
}
