//! The instance catalog from moto's EC2 (realistic shapes and zones) and the
//! check of the shipped price table against it.

use gantry_cloud::aws::{AwsEc2, FakeEc2, InstanceCatalog};
use gantry_core::GpuModel;

use crate::support::ec2_fixture::{moto_options, test_endpoint};
use crate::support::{moto_url, shipped_price_table};

fn regions() -> Vec<String> {
    vec!["us-east-1".to_owned(), "us-west-2".to_owned()]
}

#[tokio::test]
async fn the_catalog_from_moto_has_gpu_shapes_and_zones() {
    let api = AwsEc2::with_endpoint(&test_endpoint(&moto_url()), moto_options());
    // Exact names: moto's offerings ignore EC2's wildcards (its instance types
    // honour them).
    let types = [
        "p4d.24xlarge",
        "p4de.24xlarge",
        "p5.48xlarge",
        "g5.xlarge",
        "g5.48xlarge",
        "g6.xlarge",
    ]
    .map(str::to_owned);
    let catalog = InstanceCatalog::load(&api, &regions(), &types)
        .await
        .unwrap();
    let p4de = catalog.shape("p4de.24xlarge").unwrap();
    assert_eq!(p4de.gpu, Some((GpuModel::A100_80GB, 8)));
    assert_eq!((p4de.vcpus, p4de.memory_bytes), (96, 1152 << 30));
    assert_eq!(
        catalog.shape("g5.48xlarge").unwrap().gpu,
        Some((GpuModel::A10G, 8))
    );
    assert!(catalog.zones("us-east-1", "g5.xlarge").count() >= 3);
    assert!(
        catalog
            .zones("us-east-1", "g5.xlarge")
            .all(|zone| zone.starts_with("us-east-1"))
    );
    assert!(catalog.is_offered("us-west-2", "us-west-2a", "g5.xlarge"));
    assert!(!catalog.is_offered("us-west-2", "us-east-1a", "g5.xlarge"));
    assert!(
        catalog.unknown_gpus().is_empty(),
        "{:?}",
        catalog.unknown_gpus()
    );

    // The shipped table agrees with EC2 on every shape both know.
    let mismatches = catalog.check_price_table(&shipped_price_table());
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[tokio::test]
async fn a_price_table_row_that_disagrees_with_ec2_is_named() {
    let catalog = InstanceCatalog::load(
        &FakeEc2::with_sample_catalog(),
        &regions(),
        &["p4de.24xlarge".to_owned(), "g5.xlarge".to_owned()],
    )
    .await
    .unwrap();
    let table = gantry_core::PriceTable::parse(
        "Cloud,InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region\n\
         aws,p4de.24xlarge,A100,8,96,1152,27.44,us-east-1\n\
         aws,g5.xlarge,A10G,1,4,16,1.006,us-east-1\n",
    )
    .unwrap()
    .table;
    let mismatches = catalog.check_price_table(&table);
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!(mismatches[0].instance_type, "p4de.24xlarge");
    assert_eq!(mismatches[0].detail, "gpu: table A100 x8, ec2 A100-80GB x8");
}
