//! The fleet a replay runs on: every node pool of the config's simulated
//! clusters, flattened in config order (clusters in order, pools in order).
//! That order is the offer order the scheduler sees, so it is the "ordered
//! cluster list" of `fifo-first-fit`.
//!
//! Every pool must set `pricePerHour`: the replay does not read price tables,
//! so a benchmark fleet is self-contained and says where each price is from.

use gantry_core::{
    CapacityType, Cloud, CloudQuota, ClusterAccess, FleetConfig, GpuModel, Money, TeamQuota,
};
use gantry_sched::NodeShape;

/// One node pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Cluster name.
    pub cluster: String,
    /// Cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// Pool name.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Node shape.
    pub node: NodeShape,
    /// Price of one node-hour (for reserved pools: the amortized price, paid whether used or not).
    pub price_per_node_hour: Money,
    /// Configured chance per hour that a spot node is reclaimed.
    pub interruption_rate_per_hour: f64,
    /// Nodes.
    pub nodes: u32,
}

impl Pool {
    /// GPUs per node (0 for CPU pools).
    pub fn gpus_per_node(&self) -> u32 {
        self.node.gpu.map_or(0, |(_, count)| count)
    }

    /// GPU model of the nodes.
    pub fn gpu_model(&self) -> Option<GpuModel> {
        self.node.gpu.map(|(model, _)| model)
    }

    /// `cluster/pool`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.cluster, self.name)
    }
}

/// The fleet: pools, team quotas, cloud quotas.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetModel {
    /// Pools in offer order.
    pub pools: Vec<Pool>,
    /// Team quotas.
    pub teams: Vec<TeamQuota>,
    /// Cloud quotas.
    pub cloud_quotas: Vec<CloudQuota>,
}

/// Why a fleet cannot be replayed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// A cluster is a real one.
    #[error(
        "cluster `{cluster}` is reached through a kubeconfig; the replay needs simulated clusters with node pools"
    )]
    NotSimulated {
        /// Cluster.
        cluster: String,
    },
    /// A pool without a price.
    #[error(
        "pool `{pool}` has no pricePerHour; the replay reads no price tables, so every pool of a benchmark fleet sets its price"
    )]
    MissingPrice {
        /// `cluster/pool`.
        pool: String,
    },
    /// No pools at all.
    #[error("the fleet has no node pools")]
    Empty,
}

impl FleetModel {
    /// Flattens a checked config.
    pub fn from_config(config: &FleetConfig) -> Result<FleetModel, FleetError> {
        let mut pools = Vec::new();
        for cluster in &config.clusters {
            let ClusterAccess::Simulated { node_pools } = &cluster.access else {
                return Err(FleetError::NotSimulated {
                    cluster: cluster.name.clone(),
                });
            };
            for pool in node_pools {
                let price = pool
                    .price_per_hour
                    .ok_or_else(|| FleetError::MissingPrice {
                        pool: format!("{}/{}", cluster.name, pool.name),
                    })?;
                let vcpus = u32::try_from(pool.cpu_millis.div_ceil(1000)).unwrap_or(u32::MAX);
                pools.push(Pool {
                    cluster: cluster.name.clone(),
                    cloud: cluster.cloud,
                    region: cluster.region.clone(),
                    zone: pool.zone.clone(),
                    name: pool.name.clone(),
                    instance_type: pool.instance_type.clone(),
                    capacity_type: pool.capacity_type,
                    node: NodeShape {
                        gpu: pool.gpu,
                        cpu_millis: pool.cpu_millis,
                        memory_bytes: pool.memory_bytes,
                        vcpus,
                    },
                    price_per_node_hour: price,
                    interruption_rate_per_hour: pool.interruption_rate_per_hour.unwrap_or(0.0),
                    nodes: pool.nodes,
                });
            }
        }
        if pools.is_empty() {
            return Err(FleetError::Empty);
        }
        Ok(FleetModel {
            pools,
            teams: config.teams.clone(),
            cloud_quotas: config.cloud_quotas.clone(),
        })
    }

    /// The GPU models of the fleet, sorted, each once.
    pub fn gpu_models(&self) -> Vec<GpuModel> {
        let mut models: Vec<GpuModel> = self.pools.iter().filter_map(Pool::gpu_model).collect();
        models.sort();
        models.dedup();
        models
    }

    /// GPUs of every pool, and of the reserved, on-demand and spot pools.
    pub fn gpu_totals(&self) -> GpuTotals {
        let mut totals = GpuTotals::default();
        for pool in &self.pools {
            let gpus = u64::from(pool.gpus_per_node()) * u64::from(pool.nodes);
            totals.all += gpus;
            match pool.capacity_type {
                CapacityType::Reserved => totals.reserved += gpus,
                CapacityType::OnDemand => totals.on_demand += gpus,
                CapacityType::Spot => totals.spot += gpus,
            }
        }
        totals
    }

    /// What the reserved pools cost over `span_s` seconds, used or not.
    pub fn reserved_cost(&self, span_s: u64) -> Money {
        self.pools
            .iter()
            .filter(|pool| pool.capacity_type == CapacityType::Reserved)
            .map(|pool| {
                pool.price_per_node_hour
                    .checked_mul_int(i64::from(pool.nodes))
                    .and_then(|hourly| hourly.per_hour_for_seconds(span_s))
                    .unwrap_or(Money::from_micros(i64::MAX))
            })
            .fold(Money::ZERO, Money::saturating_add)
    }
}

/// GPU counts by capacity type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuTotals {
    /// All pools.
    pub all: u64,
    /// Reserved pools.
    pub reserved: u64,
    /// On-demand pools.
    pub on_demand: u64,
    /// Spot pools.
    pub spot: u64,
}
