//! `schedule()` at fleet scale: 100 clusters x 20 pools and 100,000 queued
//! jobs of 50 teams, mixed GPU models, gangs, priorities, spot policies and
//! data locations. Reports placement decisions per second (one decision per
//! queued job: placed, or left waiting with a reason).
//!
//! Run: `cargo bench -p gantry-sched`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gantry_core::{
    CapacityType, Cloud, GpuModel, JobId, Money, Placement, SpotPolicy, TeamPath, TeamQuota,
};
use gantry_sched::{
    DataSource, NodeShape, Offer, Policy, QueuedJob, ReplicaRequest, Snapshot, TeamBudget, schedule,
};

const GIB: u64 = 1 << 30;
const MODELS: [(GpuModel, u32, i64); 5] = [
    (GpuModel::H100, 8, 98_320_000),
    (GpuModel::A100, 8, 32_770_000),
    (GpuModel::A100_80GB, 8, 40_960_000),
    (GpuModel::L4, 4, 4_600_000),
    (GpuModel::A10G, 4, 5_670_000),
];
const REGIONS: [(Cloud, &str); 6] = [
    (Cloud::Aws, "us-east-1"),
    (Cloud::Aws, "us-west-2"),
    (Cloud::Gcp, "us-central1"),
    (Cloud::Gcp, "europe-west4"),
    (Cloud::Azure, "eastus"),
    (Cloud::Azure, "westeurope"),
];

/// A tiny deterministic generator (no rand dependency): splitmix64.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fleet(mix: &mut Mix) -> Vec<Offer> {
    let mut offers = Vec::new();
    for cluster in 0..100 {
        let (cloud, region) = REGIONS[cluster % REGIONS.len()];
        for pool in 0..20 {
            let (model, gpus, price) = MODELS[(cluster + pool) % MODELS.len()];
            let capacity = [
                CapacityType::OnDemand,
                CapacityType::OnDemand,
                CapacityType::Spot,
                CapacityType::Reserved,
            ][pool % 4];
            let nodes = 4 + mix.below(12) as u32;
            let price = if capacity == CapacityType::Spot {
                price * 4 / 10
            } else {
                price
            };
            offers.push(Offer {
                cluster: format!("cluster-{cluster:03}"),
                cloud,
                region: region.into(),
                zone: format!("{region}-{}", ["a", "b", "c"][pool % 3]),
                pool: format!("pool-{pool:02}"),
                instance_type: format!("{model}-x{gpus}"),
                capacity_type: capacity,
                node: NodeShape {
                    gpu: Some((model, gpus)),
                    cpu_millis: u64::from(gpus) * 12_000,
                    memory_bytes: u64::from(gpus) * 120 * GIB,
                    vcpus: gpus * 12,
                },
                price_per_node_hour: Money::from_micros(price + mix.below(1_000_000) as i64),
                interruption_rate_per_hour: if capacity == CapacityType::Spot {
                    0.05
                } else {
                    0.0
                },
                total_nodes: nodes,
                idle_nodes: nodes,
                partial_nodes: Vec::new(),
            });
        }
    }
    offers
}

fn queue(mix: &mut Mix, jobs: usize) -> Vec<QueuedJob> {
    (0..jobs)
        .map(|index| {
            let gpus = [1u32, 1, 1, 2, 4, 8][mix.below(6) as usize];
            let replicas = if gpus == 8 && mix.below(10) == 0 {
                1 + mix.below(4) as u32
            } else {
                1
            };
            let first = mix.below(MODELS.len() as u64) as usize;
            let mut models = vec![MODELS[first].0];
            if mix.below(2) == 0 {
                models.push(MODELS[(first + 1) % MODELS.len()].0);
            }
            let models: Vec<GpuModel> = models
                .into_iter()
                .filter(|model| {
                    gpus <= if matches!(model, GpuModel::L4 | GpuModel::A10G) {
                        4
                    } else {
                        8
                    }
                })
                .collect();
            let models = if models.is_empty() {
                vec![GpuModel::H100]
            } else {
                models
            };
            let (data_cloud, data_region) = REGIONS[mix.below(REGIONS.len() as u64) as usize];
            QueuedJob {
                id: JobId::new(format!("job-{index:06}")).unwrap(),
                team: TeamPath::parse(&format!("org/team-{:02}", mix.below(50))).unwrap(),
                priority: [0, 100, 100, 100, 1000][mix.below(5) as usize],
                submitted_at: index as u64,
                replicas,
                replica: ReplicaRequest {
                    gpus,
                    gpu_models: models,
                    cpu_millis: u64::from(gpus) * 8_000,
                    memory_bytes: u64::from(gpus) * 64 * GIB,
                },
                placement: Placement {
                    spot: [SpotPolicy::Never, SpotPolicy::Allowed, SpotPolicy::Allowed]
                        [mix.below(3) as usize],
                    ..Placement::default()
                },
                expected_runtime_s: 600 + mix.below(86_400),
                data: if mix.below(3) == 0 {
                    vec![DataSource {
                        cloud: data_cloud,
                        region: Some(data_region.into()),
                        bytes: mix.below(500) * GIB,
                    }]
                } else {
                    Vec::new()
                },
                checkpoint_every_s: if mix.below(2) == 0 { Some(1800) } else { None },
                preemptible: true,
            }
        })
        .collect()
}

fn teams() -> Vec<TeamBudget> {
    (0..50)
        .map(|index| TeamBudget {
            quota: TeamQuota {
                team: TeamPath::parse(&format!("org/team-{index:02}")).unwrap(),
                gpus: Some(1_200),
                gpus_by_model: BTreeMap::new(),
                cpu_millis: None,
                memory_bytes: None,
                budget_per_day: None,
            },
            spend_today: Money::ZERO,
        })
        .collect()
}

fn bench(criterion: &mut Criterion) {
    let mut mix = Mix(42);
    let offers = fleet(&mut mix);
    let jobs = 100_000;
    let quota_bound = Snapshot {
        offers,
        running: Vec::new(),
        teams: teams(),
        cloud_quotas: Vec::new(),
        queue: queue(&mut mix, jobs),
    };
    // The same fleet and queue without team quotas: capacity runs out instead.
    let capacity_bound = Snapshot {
        teams: Vec::new(),
        ..quota_bound.clone()
    };
    let mut group = criterion.benchmark_group("schedule");
    group.sample_size(10);
    group.throughput(Throughput::Elements(jobs as u64));
    for (scenario, snapshot) in [
        ("quota-bound", &quota_bound),
        ("capacity-bound", &capacity_bound),
    ] {
        for (name, policy) in [
            ("gantry", Policy::gantry()),
            // Every job here is fresh: with patience most wait for the
            // cheapest offers; without it, each takes the cheapest with room.
            (
                "gantry-no-patience",
                Policy {
                    patience: None,
                    ..Policy::gantry()
                },
            ),
            ("cheapest-now", Policy::cheapest_now()),
            ("fifo-first-fit", Policy::fifo_first_fit()),
        ] {
            let plan = schedule(snapshot, &policy, 0);
            let _ = writeln!(
                std::io::stderr(),
                "{scenario}/{name}: {} placed, {} waiting, {} preemptions",
                plan.placements.len(),
                plan.waiting.len(),
                plan.preemptions.len()
            );
            group.bench_function(
                format!("{name}/{scenario}/100x20-offers/100k-jobs"),
                |bencher| bencher.iter(|| schedule(snapshot, &policy, 0)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
