//! Every port's one conformance suite, against its fake and its real adapter
//! (moto's EC2 and fake-gcs-server, see `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod ec2_fake {
    use std::sync::Arc;

    use gantry_cloud::aws::{Ec2Api, FakeEc2};

    gantry_cloud::ec2_conformance_suite!(async {
        let api: Arc<dyn Ec2Api> = Arc::new(FakeEc2::with_sample_catalog());
        (api, ())
    });
}

mod ec2_moto {
    use std::sync::Arc;

    use gantry_cloud::aws::{AwsEc2, Ec2Api};

    use crate::support::{ec2_fixture, moto_url};

    gantry_cloud::ec2_conformance_suite!(async {
        let endpoint = ec2_fixture::test_endpoint(&moto_url());
        let api: Arc<dyn Ec2Api> = Arc::new(AwsEc2::with_endpoint(
            &endpoint,
            ec2_fixture::moto_options(),
        ));
        (api, ())
    });
}

mod price_feed_fake {
    use std::sync::Arc;

    use gantry_cloud::prices::{FakePriceFeed, PriceFeed, PriceQuote};
    use gantry_core::{CapacityType, Cloud};

    gantry_cloud::price_feed_conformance_suite!(async {
        let feed = FakePriceFeed::new("fake/eastus", Cloud::Azure);
        for (sku, price, at) in [
            ("Standard_NC24ads_A100_v4", "1.4693", "2026-01-01T00:00:00Z"),
            ("Standard_NC24ads_A100_v4", "1.3915", "2026-01-03T00:00:00Z"),
            ("Standard_NV36ads_A10_v5", "0.6521", "2025-12-20T00:00:00Z"),
        ] {
            feed.push(PriceQuote {
                cloud: Cloud::Azure,
                region: "eastus".to_owned(),
                zone: None,
                zone_id: None,
                instance_type: Some(sku.to_owned()),
                capacity_type: CapacityType::Spot,
                price_text: Some(price.to_owned()),
                effective_since: at.parse().ok(),
            });
        }
        let feed: Arc<dyn PriceFeed> = Arc::new(feed);
        (feed, ())
    });
}

mod price_feed_ec2_fake {
    use std::sync::Arc;

    use gantry_cloud::aws::FakeEc2;
    use gantry_cloud::prices::{Ec2SpotFeed, PriceFeed};

    gantry_cloud::price_feed_conformance_suite!(async {
        let api = Arc::new(FakeEc2::with_sample_catalog());
        let feed: Arc<dyn PriceFeed> = Arc::new(Ec2SpotFeed::new(
            api,
            "us-east-1",
            vec!["g5.xlarge".to_owned(), "p4d.24xlarge".to_owned()],
        ));
        (feed, ())
    });
}

mod price_feed_ec2_moto {
    use std::sync::Arc;

    use gantry_cloud::aws::AwsEc2;
    use gantry_cloud::prices::{Ec2SpotFeed, PriceFeed};

    use crate::support::{ec2_fixture, moto_url};

    gantry_cloud::price_feed_conformance_suite!(async {
        let endpoint = ec2_fixture::test_endpoint(&moto_url());
        let api = Arc::new(AwsEc2::with_endpoint(
            &endpoint,
            ec2_fixture::moto_options(),
        ));
        let feed: Arc<dyn PriceFeed> = Arc::new(Ec2SpotFeed::new(
            api,
            "us-east-1",
            vec!["g5.xlarge".to_owned(), "p4d.24xlarge".to_owned()],
        ));
        (feed, ())
    });
}

mod gcs_fake {
    use std::sync::Arc;

    use gantry_cloud::gcs::{FakeGcs, GcsApi, LocationType};

    gantry_cloud::gcs_conformance_suite!(async {
        let fake = FakeGcs::new();
        fake.create_bucket("conformance", "EUROPE-WEST4", LocationType::Region);
        let api: Arc<dyn GcsApi> = Arc::new(fake);
        (api, "conformance".to_owned(), ())
    });
}

mod gcs_emulator {
    use std::sync::Arc;

    use gantry_cloud::gcs::{GcsApi, GcsClient, GcsConfig};

    use crate::support::{create_emulator_bucket, gcs_url, unique_bucket};

    gantry_cloud::gcs_conformance_suite!(async {
        let url = gcs_url();
        let bucket = unique_bucket("conformance");
        create_emulator_bucket(&url, &bucket).await;
        let api: Arc<dyn GcsApi> =
            Arc::new(GcsClient::new(&GcsConfig::emulator(&url)).await.unwrap());
        (api, bucket, ())
    });
}
