//! The inventory comes from nodes and pods: pools, capacity types, usage, prices.

use std::time::Duration;

use gantry_core::{CapacityType, GpuModel, Money};
use gantry_kube::{Phase, PriceSource};

use crate::support::{Harness, fast_settings, key, request, target, training_job};

const FLEET: &str = r#"
apiVersion: gantry.dev/v1
kind: GantryConfig
clusters:
  - name: aws-us-east-1
    cloud: aws
    region: us-east-1
    simulated:
      nodePools:
        - {name: p4d-reserved, instanceType: p4d.24xlarge, gpu: {model: A100, count: 8}, cpu: 96, memory: 1152Gi, nodes: 2, zone: us-east-1a, capacityType: reserved}
        - {name: p4d, instanceType: p4d.24xlarge, gpu: {model: A100, count: 8}, cpu: 96, memory: 1152Gi, nodes: 3, zone: us-east-1a}
        - {name: p4d-spot, instanceType: p4d.24xlarge, gpu: {model: A100, count: 8}, cpu: 96, memory: 1152Gi, nodes: 1, zone: us-east-1a, capacityType: spot}
        - {name: cpu, instanceType: m6i.32xlarge, cpu: 128, memory: 512Gi, nodes: 2, zone: us-east-1b, pricePerHour: 6.144}
  - name: gcp-us-central1
    cloud: gcp
    region: us-central1
    simulated:
      nodePools:
        - {name: g2-l4-spot, instanceType: g2-standard-12, gpu: {model: L4, count: 1}, cpu: 12, memory: 48Gi, nodes: 3, zone: us-central1-b, capacityType: spot}
"#;

#[tokio::test]
async fn pools_usage_and_prices_come_from_the_cluster() {
    let mut harness = Harness::start(FLEET, fast_settings()).await;
    harness.want_nothing();
    let mut views = harness.executor().subscribe("aws-us-east-1").unwrap();
    let view = views
        .wait_for(|view| view.synced && view.inventory.pools.len() == 4)
        .await
        .unwrap()
        .clone();
    let pools = &view.inventory.pools;
    let find = |capacity: CapacityType, instance: &str| {
        pools
            .iter()
            .find(|pool| pool.key.capacity_type == capacity && pool.key.instance_type == instance)
            .unwrap_or_else(|| panic!("no {capacity} {instance} pool in {pools:#?}"))
            .clone()
    };
    // Same instance type and zone, three capacity types: three pools.
    let reserved = find(CapacityType::Reserved, "p4d.24xlarge");
    let on_demand = find(CapacityType::OnDemand, "p4d.24xlarge");
    let spot = find(CapacityType::Spot, "p4d.24xlarge");
    assert_eq!((reserved.nodes, on_demand.nodes, spot.nodes), (2, 3, 1));
    assert_eq!(reserved.gpu, Some((GpuModel::A100, 8)));
    assert!(reserved.names.contains("p4d-reserved"));
    assert_eq!(on_demand.price_source, PriceSource::PriceTable);
    assert_eq!(reserved.price_per_node_hour, on_demand.price_per_node_hour);
    assert!(spot.price_per_node_hour.unwrap() < on_demand.price_per_node_hour.unwrap());
    let cpu = find(CapacityType::OnDemand, "m6i.32xlarge");
    assert_eq!(
        (cpu.price_source, cpu.price_per_node_hour),
        (
            PriceSource::PoolOverride,
            Some(Money::parse_dollars("6.144").unwrap())
        )
    );
    assert_eq!(cpu.gpu, None);
    assert_eq!(on_demand.idle_nodes, 3);

    // A job on reserved capacity lands on reserved nodes only, and shows as usage there.
    let key = key("on-reserved", 1);
    let spec = training_job("on-reserved", 8, "A100", 2, "");
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "p4d-reserved",
        2,
        Duration::from_secs(36_000),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    harness
        .wait_phase(&key, Phase::Running, Duration::from_secs(30))
        .await;
    let view = views
        .wait_for(|view| {
            view.inventory.pools.iter().any(|pool| {
                pool.key.capacity_type == CapacityType::Reserved && pool.allocated.gpus == 16
            })
        })
        .await
        .unwrap()
        .clone();
    let reserved = view
        .inventory
        .pools
        .iter()
        .find(|pool| pool.key.capacity_type == CapacityType::Reserved)
        .unwrap();
    assert_eq!(
        (reserved.idle_nodes, reserved.partial_nodes.len()),
        (0, 0),
        "both reserved nodes are full"
    );
    let on_demand = view
        .inventory
        .pools
        .iter()
        .find(|pool| {
            pool.key.capacity_type == CapacityType::OnDemand
                && pool.key.instance_type == "p4d.24xlarge"
        })
        .unwrap();
    assert_eq!(
        on_demand.allocated.gpus, 0,
        "nothing leaked onto on-demand nodes"
    );

    let gcp = harness.executor().view("gcp-us-central1").unwrap();
    let _ = gcp;
    let mut gcp_views = harness.executor().subscribe("gcp-us-central1").unwrap();
    let gcp = gcp_views
        .wait_for(|view| view.synced && !view.inventory.pools.is_empty())
        .await
        .unwrap()
        .clone();
    let l4 = &gcp.inventory.pools[0];
    assert_eq!(l4.key.capacity_type, CapacityType::Spot, "GKE's spot label");
    assert_eq!(l4.gpu, Some((GpuModel::L4, 1)));
    assert!(
        gcp.inventory.issues.is_empty(),
        "{:?}",
        gcp.inventory.issues
    );
    harness.shutdown().await;
}
