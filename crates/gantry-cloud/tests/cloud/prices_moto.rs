//! The whole price path against moto's EC2: the SDK call, pagination, and the
//! rejection of moto's placeholder (`0.00001`, dated 2006) for every type and
//! zone, so the scheduler prices from the table and says why.

use std::sync::Arc;

use gantry_cloud::aws::AwsEc2;
use gantry_cloud::prices::{Ec2SpotFeed, PriceFeed, PriceOrigin, PriceRefresher, RefresherConfig};
use gantry_core::{CapacityType, Cloud};

use crate::support::ec2_fixture::{moto_options, test_endpoint};
use crate::support::{moto_url, shipped_price_table};

#[tokio::test]
async fn motos_placeholder_spot_prices_are_all_rejected_and_the_table_is_used() {
    let api = Arc::new(AwsEc2::with_endpoint(
        &test_endpoint(&moto_url()),
        moto_options(),
    ));
    let types = vec!["g5.xlarge".to_owned(), "p4d.24xlarge".to_owned()];
    let feeds: Vec<Arc<dyn PriceFeed>> = ["us-east-1", "us-west-2"]
        .into_iter()
        .map(|region| {
            Arc::new(Ec2SpotFeed::new(api.clone(), region, types.clone())) as Arc<dyn PriceFeed>
        })
        .collect();
    let table = Arc::new(shipped_price_table());
    let refresher = PriceRefresher::spawn(
        feeds,
        Arc::clone(&table),
        RefresherConfig::default(),
        gantry_cloud::system_clock(),
    );
    let mut updates = refresher.subscribe();
    updates.changed().await.unwrap();
    let prices = refresher.latest();

    assert!(prices.all_feeds_healthy(), "{:?}", prices.feeds());
    assert_eq!(prices.counters().fetch_failures, 0);
    assert!(
        prices.prices().is_empty(),
        "moto's prices are never used: {:?}",
        prices.prices()
    );
    let placeholders = prices
        .counters()
        .quotes_rejected
        .get("placeholder")
        .copied()
        .unwrap_or(0);
    assert!(placeholders >= 4, "{:?}", prices.counters());
    assert_eq!(prices.counters().quotes_rejected_total(), placeholders);
    for region in ["us-east-1", "us-west-2"] {
        assert!(
            prices
                .rejected()
                .keys()
                .any(|key| key.region == region && key.instance_type == "g5.xlarge")
        );
        let health = &prices.feeds()[&format!("aws-spot/{region}")];
        assert_eq!(health.accepted_last, 0);
        assert!(health.rejected_last >= 2, "{health:?}");
    }

    let zone = prices
        .rejected()
        .keys()
        .find(|key| key.region == "us-east-1" && key.instance_type == "g5.xlarge")
        .map(|key| key.zone.clone())
        .unwrap();
    let choice = prices.choose(
        &table,
        Cloud::Aws,
        "us-east-1",
        Some(&zone),
        "g5.xlarge",
        CapacityType::Spot,
        jiff::Timestamp::now(),
    );
    assert!(
        matches!(choice.origin, PriceOrigin::TableLiveRejected { .. }),
        "{choice:?}"
    );
    assert_eq!(choice.source_label(), "price-table");
    assert!(choice.price.is_some());
    assert!(
        choice
            .to_string()
            .starts_with("price table (live price rejected: price 0.00001 is a placeholder"),
        "{choice}"
    );
}
