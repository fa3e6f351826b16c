//! What every [`Ec2Api`] does, against an EC2 with EC2's real catalog (moto
//! has it; [`crate::aws::FakeEc2::with_sample_catalog`] has the part used
//! here) and some spot price history for `g5.xlarge` in `us-east-1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use gantry_core::GpuModel;
use jiff::{SignedDuration, Timestamp};

use crate::aws::{Ec2Api, SpotPriceQuery};

/// Every case, as `#[tokio::test]`s on a fresh adapter each.
#[macro_export]
macro_rules! ec2_conformance_suite {
    ($make:expr) => {
        $crate::ec2_conformance_suite!(@cases $make;
            gpu_instance_types_have_their_shapes,
            unknown_instance_types_are_left_out,
            wildcards_match_a_family,
            cpu_only_types_have_no_gpus,
            offerings_are_zones_of_the_region,
            spot_prices_are_for_the_types_and_region_asked,
            empty_requests_ask_for_nothing,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (api, _guard) = $make.await;
                $crate::conformance::ec2::$case(api).await;
            }
        )*
    };
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

pub async fn gpu_instance_types_have_their_shapes(api: Arc<dyn Ec2Api>) {
    let asked = names(&["p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "g5.xlarge"]);
    let found = api
        .describe_instance_types("us-east-1", &asked)
        .await
        .unwrap();
    let shape = |name: &str| {
        let info = found
            .iter()
            .find(|info| info.instance_type == name)
            .unwrap_or_else(|| panic!("{name} missing from {found:?}"));
        let gpu = info
            .gpus
            .first()
            .unwrap_or_else(|| panic!("{name} has no GPU"));
        (gpu.model(), gpu.count, info.vcpus, info.memory_mib)
    };
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(
        shape("p4d.24xlarge"),
        (Some(GpuModel::A100), Some(8), Some(96), Some(1_179_648))
    );
    assert_eq!(
        shape("p4de.24xlarge"),
        (
            Some(GpuModel::A100_80GB),
            Some(8),
            Some(96),
            Some(1_179_648)
        )
    );
    assert_eq!(
        shape("p5.48xlarge"),
        (Some(GpuModel::H100), Some(8), Some(192), Some(2_097_152))
    );
    assert_eq!(
        shape("g5.xlarge"),
        (Some(GpuModel::A10G), Some(1), Some(4), Some(16_384))
    );
}

pub async fn unknown_instance_types_are_left_out(api: Arc<dyn Ec2Api>) {
    let found = api
        .describe_instance_types("us-east-1", &names(&["nope.large", "g5.xlarge"]))
        .await
        .unwrap();
    let found: Vec<&str> = found
        .iter()
        .map(|info| info.instance_type.as_str())
        .collect();
    assert_eq!(found, ["g5.xlarge"]);
}

pub async fn wildcards_match_a_family(api: Arc<dyn Ec2Api>) {
    let found = api
        .describe_instance_types("us-east-1", &names(&["p4d*"]))
        .await
        .unwrap();
    let found: BTreeSet<&str> = found
        .iter()
        .map(|info| info.instance_type.as_str())
        .collect();
    assert!(found.contains("p4d.24xlarge"), "{found:?}");
    assert!(
        found.iter().all(|name| name.starts_with("p4d")),
        "{found:?}"
    );
}

pub async fn cpu_only_types_have_no_gpus(api: Arc<dyn Ec2Api>) {
    let found = api
        .describe_instance_types("us-east-1", &names(&["m5.large"]))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].gpus.is_empty());
    assert_eq!(
        (found[0].vcpus, found[0].memory_mib),
        (Some(2), Some(8_192))
    );
}

pub async fn offerings_are_zones_of_the_region(api: Arc<dyn Ec2Api>) {
    let asked = names(&["g5.xlarge", "p4d.24xlarge"]);
    for region in ["us-east-1", "us-west-2"] {
        let offerings = api.describe_offerings(region, &asked).await.unwrap();
        for name in &asked {
            assert!(
                offerings
                    .iter()
                    .any(|offering| &offering.instance_type == name),
                "{name} not offered in {region}: {offerings:?}"
            );
        }
        for offering in &offerings {
            assert!(asked.contains(&offering.instance_type), "{offering:?}");
            assert!(offering.zone.starts_with(region), "{offering:?}");
        }
        let mut sorted = offerings.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted, offerings,
            "offerings are sorted, without duplicates"
        );
    }
}

pub async fn spot_prices_are_for_the_types_and_region_asked(api: Arc<dyn Ec2Api>) {
    let query = SpotPriceQuery {
        instance_types: names(&["g5.xlarge"]),
        product_descriptions: names(&["Linux/UNIX"]),
        start_time: Timestamp::now() - SignedDuration::from_hours(1),
    };
    let records = api.describe_spot_prices("us-east-1", &query).await.unwrap();
    assert!(!records.is_empty(), "a price is in effect in some zone");
    for record in &records {
        assert_eq!(
            record.instance_type.as_deref(),
            Some("g5.xlarge"),
            "{record:?}"
        );
        assert!(
            record
                .zone
                .as_deref()
                .is_some_and(|zone| zone.starts_with("us-east-1")),
            "{record:?}"
        );
        assert!(
            record
                .product_description
                .as_deref()
                .is_some_and(|product| product.starts_with("Linux/UNIX")),
            "{record:?}"
        );
        assert!(record.price_text.is_some(), "{record:?}");
        assert!(record.effective_since.is_some(), "{record:?}");
    }
}

pub async fn empty_requests_ask_for_nothing(api: Arc<dyn Ec2Api>) {
    assert!(
        api.describe_instance_types("us-east-1", &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        api.describe_offerings("us-east-1", &[])
            .await
            .unwrap()
            .is_empty()
    );
    let query = SpotPriceQuery {
        instance_types: Vec::new(),
        product_descriptions: names(&["Linux/UNIX"]),
        start_time: Timestamp::now(),
    };
    assert!(
        api.describe_spot_prices("us-east-1", &query)
            .await
            .unwrap()
            .is_empty()
    );
}
