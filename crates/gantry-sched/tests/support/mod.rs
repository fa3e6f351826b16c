//! Builders for scheduler tests: small fleets, jobs and teams in a line each.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments
)]

use std::collections::BTreeMap;

use gantry_core::{
    CapacityType, Cloud, CloudQuota, GpuModel, JobId, Money, Placement, TeamPath, TeamQuota,
};
use gantry_sched::{
    Allocation, DataSource, NodeShape, Offer, QueuedJob, ReplicaRequest, Snapshot, TeamBudget,
};

pub const GIB: u64 = 1 << 30;
pub const HOUR: u64 = 3600;

pub fn dollars(text: &str) -> Money {
    Money::parse_dollars(text).unwrap()
}

/// A pool of `nodes` idle nodes with `gpus` x `model` each.
pub fn gpu_offer(
    cluster: &str,
    pool: &str,
    cloud: Cloud,
    region: &str,
    model: GpuModel,
    gpus: u32,
    nodes: u32,
    capacity: CapacityType,
    price: &str,
) -> Offer {
    Offer {
        cluster: cluster.into(),
        cloud,
        region: region.into(),
        zone: format!("{region}-a"),
        pool: pool.into(),
        instance_type: format!("{pool}-type"),
        capacity_type: capacity,
        node: NodeShape {
            gpu: Some((model, gpus)),
            cpu_millis: u64::from(gpus) * 12_000,
            memory_bytes: u64::from(gpus) * 120 * GIB,
            vcpus: gpus * 12,
        },
        price_per_node_hour: dollars(price),
        interruption_rate_per_hour: if capacity == CapacityType::Spot {
            0.05
        } else {
            0.0
        },
        total_nodes: nodes,
        idle_nodes: nodes,
        partial_nodes: Vec::new(),
    }
}

pub fn cpu_offer(cluster: &str, pool: &str, nodes: u32, price: &str) -> Offer {
    Offer {
        cluster: cluster.into(),
        cloud: Cloud::Aws,
        region: "us-east-1".into(),
        zone: "us-east-1a".into(),
        pool: pool.into(),
        instance_type: "m6i.32xlarge".into(),
        capacity_type: CapacityType::OnDemand,
        node: NodeShape {
            gpu: None,
            cpu_millis: 128_000,
            memory_bytes: 512 * GIB,
            vcpus: 128,
        },
        price_per_node_hour: dollars(price),
        interruption_rate_per_hour: 0.0,
        total_nodes: nodes,
        idle_nodes: nodes,
        partial_nodes: Vec::new(),
    }
}

pub fn team(path: &str) -> TeamPath {
    TeamPath::parse(path).unwrap()
}

pub fn job_id(id: &str) -> JobId {
    JobId::new(id).unwrap()
}

/// A job of `replicas` x `gpus` GPUs of any of `models`, 1h on the reference GPU.
pub fn gpu_job(
    id: &str,
    team_path: &str,
    models: &[GpuModel],
    gpus: u32,
    replicas: u32,
) -> QueuedJob {
    QueuedJob {
        id: job_id(id),
        team: team(team_path),
        priority: 100,
        submitted_at: 0,
        replicas,
        replica: ReplicaRequest {
            gpus,
            gpu_models: models.to_vec(),
            cpu_millis: u64::from(gpus) * 8_000,
            memory_bytes: u64::from(gpus) * 64 * GIB,
        },
        placement: Placement::default(),
        expected_runtime_s: HOUR,
        data: Vec::new(),
        checkpoint_every_s: None,
        preemptible: true,
    }
}

pub fn cpu_job(id: &str, team_path: &str, cpu_millis: u64, memory_gib: u64) -> QueuedJob {
    QueuedJob {
        replica: ReplicaRequest {
            gpus: 0,
            gpu_models: Vec::new(),
            cpu_millis,
            memory_bytes: memory_gib * GIB,
        },
        ..gpu_job(id, team_path, &[], 0, 1)
    }
}

pub fn data(cloud: Cloud, region: &str, gib: u64) -> DataSource {
    DataSource {
        cloud,
        region: Some(region.into()),
        bytes: gib * GIB,
    }
}

pub fn quota(team_path: &str) -> TeamQuota {
    TeamQuota {
        team: team(team_path),
        gpus: None,
        gpus_by_model: BTreeMap::new(),
        cpu_millis: None,
        memory_bytes: None,
        budget_per_day: None,
    }
}

pub fn budget(quota: TeamQuota, spent: &str) -> TeamBudget {
    TeamBudget {
        quota,
        spend_today: dollars(spent),
    }
}

pub fn cloud_quota(cloud: Cloud, region: &str, gpus: u32) -> CloudQuota {
    CloudQuota {
        cloud,
        region: region.into(),
        gpus: Some(gpus),
        gpus_by_model: BTreeMap::new(),
        vcpus: None,
        spot_gpus: None,
    }
}

/// A running job occupying `replicas` whole nodes of offer `offer` (the
/// caller takes those nodes out of the offer's idle count).
pub fn running(
    id: &str,
    team_path: &str,
    offer: usize,
    snapshot: &Snapshot,
    replicas: u32,
    priority: u32,
    preemptible: bool,
    started_at: u64,
    last_checkpoint_at: u64,
) -> Allocation {
    let node = snapshot.offers[offer].node;
    let gpus = node.gpu.map_or(0, |(_, count)| count);
    Allocation {
        id: job_id(id),
        team: team(team_path),
        priority,
        preemptible,
        offer,
        replicas,
        replica: ReplicaRequest {
            gpus,
            gpu_models: node.gpu.map(|(model, _)| vec![model]).unwrap_or_default(),
            cpu_millis: node.cpu_millis,
            memory_bytes: node.memory_bytes,
        },
        hourly_cost: snapshot.offers[offer]
            .price_per_node_hour
            .checked_mul_int(i64::from(replicas))
            .unwrap(),
        started_at,
        last_checkpoint_at,
        expected_end_at: started_at + 10 * HOUR,
    }
}
