//! The shipped price table, `deploy/prices/gpu-prices.csv`, loads, keeps what the
//! catalogs say, and refuses exactly the rows `deploy/prices/PROVENANCE.md` says it
//! should.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use gantry_core::{
    CapacityType, Cloud, GpuModel, Money, PriceTable, PriceTableLoad, RejectedPrice,
};

fn shipped() -> PriceTableLoad {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prices/gpu-prices.csv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    PriceTable::parse(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn dollars(text: &str) -> Money {
    Money::parse_dollars(text).unwrap()
}

fn rejections<'a>(
    load: &'a PriceTableLoad,
    instance_type: &str,
    region: &str,
) -> Vec<&'a RejectedPrice> {
    load.rejected
        .iter()
        .filter(|rejected| rejected.instance_type == instance_type && rejected.region == region)
        .collect()
}

#[test]
fn has_rows_for_every_cloud() {
    let load = shipped();
    for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure] {
        let rows = load
            .table
            .rows()
            .filter(|row| row.key.cloud == cloud)
            .count();
        assert!(rows > 100, "{cloud}: only {rows} rows");
    }
    assert_eq!(load.table.rows().count(), load.table.len());
}

#[test]
fn every_kept_price_is_positive() {
    let load = shipped();
    for row in load.table.rows() {
        assert!(
            row.on_demand.is_some() || row.spot.is_some(),
            "{:?} has no price",
            row.key
        );
        for price in [row.on_demand, row.spot].into_iter().flatten() {
            assert!(price > Money::ZERO, "{:?}: {price}", row.key);
        }
    }
}

#[test]
fn refuses_the_known_bad_rows() {
    let load = shipped();
    assert!(!load.rejected.is_empty());

    // AWS: every p5e.48xlarge row has an empty on-demand price.
    let p5e_on_demand: Vec<&RejectedPrice> = load
        .rejected
        .iter()
        .filter(|rejected| {
            rejected.instance_type == "p5e.48xlarge" && rejected.capacity == CapacityType::OnDemand
        })
        .collect();
    assert_eq!(p5e_on_demand.len(), 9);
    assert!(
        p5e_on_demand
            .iter()
            .all(|rejected| rejected.reason.contains("empty"))
    );

    // Azure: the rows with empty prices, both prices of each.
    for (instance_type, region) in [
        ("Standard_NC8ads_A10_v4", "eastus"),
        ("Standard_NC16ads_A10_v4", "eastus"),
        ("Standard_NC32ads_A10_v4", "eastus"),
        ("Standard_ND40s_v3", "eastus"),
        ("Standard_NG32adms_V620_v1", "eastus2"),
        ("Standard_NV4as_v4", "westus"),
        ("Standard_NV8as_v4", "westus"),
        ("Standard_NV16as_v4", "westus"),
        ("Standard_NV32as_v4", "westus"),
    ] {
        let refused = rejections(&load, instance_type, region);
        let capacities: Vec<CapacityType> =
            refused.iter().map(|rejected| rejected.capacity).collect();
        assert_eq!(
            capacities,
            [CapacityType::OnDemand, CapacityType::Spot],
            "{instance_type} in {region}"
        );
        assert_eq!(refused[0].zone, None);
        assert!(
            load.table
                .price(
                    Cloud::Azure,
                    region,
                    None,
                    instance_type,
                    CapacityType::OnDemand
                )
                .is_none()
        );
    }

    // GCP: machine types whose zone has no price row for their GPUs.
    let no_gpu_price = rejections(&load, "a3-megagpu-8g", "asia-east1");
    assert_eq!(no_gpu_price.len(), 2);
    assert_eq!(no_gpu_price[0].zone.as_deref(), Some("asia-east1-c"));
}

#[test]
fn keeps_the_good_rows() {
    let load = shipped();
    for (instance_type, region) in [
        ("p4d.24xlarge", "us-east-1"),
        ("g5.xlarge", "us-east-1"),
        ("a2-highgpu-1g", "us-central1"),
        ("Standard_ND96isr_H100_v5", "eastus"),
        ("Standard_NC24ads_A100_v4", "eastus"),
    ] {
        assert_eq!(
            rejections(&load, instance_type, region),
            Vec::<&RejectedPrice>::new()
        );
    }
    // No reason other than the documented ones appears.
    for rejected in &load.rejected {
        let reason = &rejected.reason;
        assert!(
            reason.contains("the field is empty") || reason.contains("unknown GPU model `V620`"),
            "unexpected rejection: {rejected}"
        );
    }
}

#[test]
fn aws_prices_match_the_catalog() {
    let load = shipped();
    let table = &load.table;
    let price =
        |zone, capacity| table.price(Cloud::Aws, "us-east-1", zone, "p4d.24xlarge", capacity);
    assert_eq!(
        price(Some("use1-az1"), CapacityType::OnDemand),
        Some(dollars("21.957642"))
    );
    assert_eq!(
        price(None, CapacityType::OnDemand),
        Some(dollars("21.957642"))
    );
    assert_eq!(
        price(Some("use1-az1"), CapacityType::Spot),
        Some(dollars("2.4655"))
    );
    // Spot in the region: the median of 2.4655, 7.8799, 8.1203 and 8.1915.
    assert_eq!(price(None, CapacityType::Spot), Some(dollars("8.0001")));
    let shape = table.instance(Cloud::Aws, "p4d.24xlarge").unwrap();
    assert_eq!(shape.gpu, Some((GpuModel::A100, 8)));
    assert_eq!((shape.vcpus, shape.memory_bytes), (96, 1152 << 30));
}

#[test]
fn gcp_machine_prices_include_their_gpus() {
    let load = shipped();
    let table = &load.table;
    // a2-highgpu-1g: host 0.94803 + one A100 1.70586 in asia-northeast1-a; the
    // catalog's VM row alone says 0.94803.
    assert_eq!(
        table.price(
            Cloud::Gcp,
            "asia-northeast1",
            Some("asia-northeast1-a"),
            "a2-highgpu-1g",
            CapacityType::OnDemand
        ),
        Some(dollars("2.65389"))
    );
    assert_eq!(
        table.price(
            Cloud::Gcp,
            "asia-northeast1",
            Some("asia-northeast1-a"),
            "a2-highgpu-1g",
            CapacityType::Spot
        ),
        Some(dollars("1.64853"))
    );
    // In us-central1 the sum is GCP's list price for a2-highgpu-1g, $3.673385.
    assert_eq!(
        table.price(
            Cloud::Gcp,
            "us-central1",
            None,
            "a2-highgpu-1g",
            CapacityType::OnDemand
        ),
        Some(dollars("3.67339"))
    );
    // a3-highgpu-8g: host 9.46006 + eight H100 33.60609; spot 2.88933 + 23.9408.
    let a3 = |capacity| {
        table.price(
            Cloud::Gcp,
            "us-central1",
            Some("us-central1-a"),
            "a3-highgpu-8g",
            capacity,
        )
    };
    assert_eq!(a3(CapacityType::OnDemand), Some(dollars("43.06615")));
    assert_eq!(a3(CapacityType::Spot), Some(dollars("26.83013")));
    let shape = table.instance(Cloud::Gcp, "a3-highgpu-8g").unwrap();
    assert_eq!(shape.gpu, Some((GpuModel::H100, 8)));
    assert_eq!(shape.vcpus, 208);
    // a3-megagpu-8g is the same GPU (H100-MEGA is an alias of H100).
    assert_eq!(
        table.instance(Cloud::Gcp, "a3-megagpu-8g").unwrap().gpu,
        Some((GpuModel::H100, 8))
    );
    // g2-standard-N: the L4 count is inferred from N.
    for (instance_type, count) in [
        ("g2-standard-8", 1),
        ("g2-standard-24", 2),
        ("g2-standard-48", 4),
        ("g2-standard-96", 8),
    ] {
        assert_eq!(
            table.instance(Cloud::Gcp, instance_type).unwrap().gpu,
            Some((GpuModel::L4, count)),
            "{instance_type}"
        );
    }
    // a2-ultragpu has A100 80GB.
    assert_eq!(
        table.instance(Cloud::Gcp, "a2-ultragpu-8g").unwrap().gpu,
        Some((GpuModel::A100_80GB, 8))
    );
}

#[test]
fn azure_nd96isr_h100_v5_has_eight_gpus() {
    let load = shipped();
    let table = &load.table;
    let shape = table
        .instance(Cloud::Azure, "Standard_ND96isr_H100_v5")
        .unwrap();
    assert_eq!(shape.gpu, Some((GpuModel::H100, 8)));
    assert_eq!(shape.key.zone, None);
    assert_eq!(
        table.price(
            Cloud::Azure,
            "eastus",
            None,
            "Standard_ND96isr_H100_v5",
            CapacityType::OnDemand
        ),
        Some(dollars("98.32"))
    );
    // Azure prices are region-wide: a zone asked for falls back to the region.
    assert_eq!(
        table.price(
            Cloud::Azure,
            "eastus",
            Some("1"),
            "Standard_ND96isr_H100_v5",
            CapacityType::Reserved
        ),
        Some(dollars("98.32"))
    );
}
