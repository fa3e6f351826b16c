//! A cluster's capacity, from its nodes and pods alone: node pools grouped
//! by (instance type, zone, capacity type) from the labels real clouds set,
//! each with its node shape, allocatable and allocated GPUs, CPU and memory,
//! free room node by node, and a price from the price table. This is what
//! the scheduler's offers are made of: nothing about a real cluster's
//! capacity is typed in by hand.
//!
//! Reading rules:
//! - Instance type: `node.kubernetes.io/instance-type` (or the older
//!   `beta.kubernetes.io/instance-type`); zone: `topology.kubernetes.io/zone`
//!   (or `failure-domain.beta.kubernetes.io/zone`); capacity type:
//!   [`crate::capacity::classify`]. A node missing one of them is left out
//!   with an issue that says which label.
//! - GPU model: `nvidia.com/gpu.product` (GPU feature discovery),
//!   `cloud.google.com/gke-accelerator`, `amd.com/gpu.product-name`, else
//!   the price table's row for the instance type, else the cloud's instance
//!   catalog (see [`PoolCatalog`]); GPU count: allocatable
//!   `nvidia.com/gpu` / `amd.com/gpu`.
//! - A node is usable when its `Ready` condition is `True`, it is not
//!   cordoned or being deleted, and it has no NoSchedule/NoExecute taint other
//!   than the GPU and spot taints Gantry tolerates. Only usable nodes offer room.
//! - Allocated: requests (limits where a request is absent) of every pod bound
//!   to the node that has not finished (`Succeeded`/`Failed`), whoever owns it.
//! - The shape of a pool is the smallest allocatable of its nodes, so a
//!   replica that fits the shape fits every node.
//! - Price: a pool-name override (simulated clusters' `pricePerHour`), else
//!   the live pricing, when one is given and answers for the pool (a cloud's
//!   live spot prices, see [`LivePricing`]), else the price table by (cloud,
//!   region, zone, instance type, capacity type); a pool without a price is
//!   kept, unpriced, with an issue.
//! - Catalog: when a cloud's instance catalog is given ([`PoolCatalog`]),
//!   each pool's shape (GPU model and count, vCPUs and memory of the node's
//!   capacity) is checked against what the cloud says its instance type is,
//!   and where it is offered; a disagreement is kept on the pool
//!   (`catalog_note`) for `gantry clusters`, and the pool is still offered:
//!   the nodes are what they are, a person decides which side is wrong.

use std::collections::{BTreeMap, BTreeSet};

use gantry_core::{CapacityType, Cloud, GpuModel, Money, PriceTable, Quantity};
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::capacity::classify;

/// Labels that name a node's pool, by cloud.
const POOL_LABELS: [&str; 5] = [
    "eks.amazonaws.com/nodegroup",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "karpenter.sh/nodepool",
    "sim.gantry.dev/pool",
];

/// Taints Gantry's workloads tolerate, so they do not make a node unusable.
const TOLERATED_TAINTS: [&str; 4] = [
    "nvidia.com/gpu",
    "amd.com/gpu",
    "cloud.google.com/gke-spot",
    "kubernetes.azure.com/scalesetpriority",
];

/// What identifies a pool for the scheduler.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolKey {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
}

/// Resources of one node, or free on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Room {
    /// GPUs.
    pub gpus: u32,
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

impl Room {
    fn saturating_sub(self, used: Room) -> Room {
        Room {
            gpus: self.gpus.saturating_sub(used.gpus),
            cpu_millis: self.cpu_millis.saturating_sub(used.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(used.memory_bytes),
        }
    }

    fn add(&mut self, other: Room) {
        self.gpus = self.gpus.saturating_add(other.gpus);
        self.cpu_millis = self.cpu_millis.saturating_add(other.cpu_millis);
        self.memory_bytes = self.memory_bytes.saturating_add(other.memory_bytes);
    }

    fn min(self, other: Room) -> Room {
        Room {
            gpus: self.gpus.min(other.gpus),
            cpu_millis: self.cpu_millis.min(other.cpu_millis),
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
        }
    }

    fn is_zero(self) -> bool {
        self == Room::default()
    }
}

/// Where a pool's price came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriceSource {
    /// The cluster config's price for this pool name.
    PoolOverride,
    /// The price table.
    PriceTable,
    /// A live price from a cloud's feed, younger than its staleness limit.
    Live,
    /// A live price older than its limit, used because the table has none.
    LiveStale,
    /// No price is known.
    Missing,
}

impl PriceSource {
    /// The source's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::PoolOverride => "pool-override",
            PriceSource::PriceTable => "price-table",
            PriceSource::Live => "live",
            PriceSource::LiveStale => "live-stale",
            PriceSource::Missing => "missing",
        }
    }
}

/// One pool of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// What identifies it.
    pub key: PoolKey,
    /// The cloud's names of the node groups in it.
    pub names: BTreeSet<String>,
    /// GPU model and count per node.
    pub gpu: Option<(GpuModel, u32)>,
    /// The smallest allocatable of its nodes.
    pub node: Room,
    /// vCPUs per node (capacity, what cloud quotas count).
    pub vcpus: u32,
    /// Nodes, usable or not.
    pub nodes: u32,
    /// Nodes that can take work.
    pub usable_nodes: u32,
    /// Usable nodes with nothing requested on them.
    pub idle_nodes: u32,
    /// Free room of usable nodes that run something but have room left, largest first.
    pub partial_nodes: Vec<Room>,
    /// Allocatable of the usable nodes.
    pub allocatable: Room,
    /// Requested on the usable nodes.
    pub allocated: Room,
    /// Price of one node for one hour; reserved capacity at its amortized
    /// (on-demand) price, since it is already paid.
    pub price_per_node_hour: Option<Money>,
    /// Where the price came from.
    pub price_source: PriceSource,
    /// How old a live price is, in seconds (`None` for the table and overrides).
    pub price_age_s: Option<u64>,
    /// Why the table was used although a live feed knows the pool (stale or
    /// rejected live price), for `gantry clusters` and explanations.
    pub price_note: Option<String>,
    /// How the pool disagrees with the cloud's instance catalog (shape, or
    /// not offered in its zone); `None` when it agrees or no catalog knows it.
    pub catalog_note: Option<String>,
}

impl Pool {
    /// A name for people: the node group names, else the key.
    pub fn display_name(&self) -> String {
        if self.names.is_empty() {
            format!(
                "{}/{}/{}",
                self.key.instance_type, self.key.zone, self.key.capacity_type
            )
        } else {
            self.names.iter().cloned().collect::<Vec<_>>().join(",")
        }
    }
}

/// A cluster's pools at one moment, with what could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Inventory {
    /// Pools, ordered by key.
    pub pools: Vec<Pool>,
    /// Nodes left out, pools without a price: one line each.
    pub issues: Vec<String>,
}

/// Prices for one cluster.
#[derive(Clone, Copy, Debug)]
pub struct Prices<'a> {
    /// The cluster's cloud.
    pub cloud: Cloud,
    /// Its region.
    pub region: &'a str,
    /// The price table.
    pub table: &'a PriceTable,
    /// Prices per node-hour by pool name, overriding the table.
    pub overrides: &'a BTreeMap<String, Money>,
    /// Live prices, asked before the table.
    pub live: Option<&'a dyn LivePricing>,
    /// The cloud's instance catalog, to check the pools' shapes against.
    pub catalog: Option<&'a dyn PoolCatalog>,
}

/// One pool, as a live price source is asked about it.
#[derive(Clone, Copy, Debug)]
pub struct PoolPriceQuery<'a> {
    /// Cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: &'a str,
    /// Zone, as the nodes name it.
    pub zone: &'a str,
    /// Instance type.
    pub instance_type: &'a str,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// The price table, for sources that fall back to it themselves.
    pub table: &'a PriceTable,
}

/// A live source's answer for one pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPrice {
    /// Per node-hour; `None` when nothing knows it.
    pub price: Option<Money>,
    /// Where it came from.
    pub source: PriceSource,
    /// Age of a live price, in seconds.
    pub age_s: Option<u64>,
    /// Why a live price was not used, when one exists.
    pub note: Option<String>,
}

/// Prices that know better than the table for some pools: a cloud's live
/// spot prices (the daemon adapts `gantry-cloud`'s refresher to this). It is
/// asked for every pool of every inventory build, so it must answer from
/// memory, never wait on a cloud.
pub trait LivePricing: Send + Sync + std::fmt::Debug {
    /// The price of one node-hour of this pool, or `None` to leave the pool
    /// to the price table (clouds the source does not cover).
    fn pool_price(&self, pool: &PoolPriceQuery<'_>) -> Option<PoolPrice>;
    /// A number that changes whenever an answer may have changed (new prices,
    /// or prices growing stale); the cluster re-prices its pools then.
    fn version(&self) -> u64;
}

/// One pool, as an instance catalog is asked about it: what its nodes say
/// they are.
#[derive(Clone, Copy, Debug)]
pub struct PoolShape<'a> {
    /// Cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: &'a str,
    /// Zone, as the nodes name it.
    pub zone: &'a str,
    /// Instance type.
    pub instance_type: &'a str,
    /// GPU model and count per node.
    pub gpu: Option<(GpuModel, u32)>,
    /// vCPUs per node (capacity).
    pub vcpus: u32,
    /// Memory per node (capacity), in bytes.
    pub memory_bytes: u64,
}

/// A cloud's instance catalog (the daemon adapts `gantry-cloud`'s EC2
/// catalog to this). Asked for every pool of every inventory build, so it
/// must answer from memory, never wait on a cloud.
pub trait PoolCatalog: Send + Sync + std::fmt::Debug {
    /// How the pool disagrees with the catalog, for a person; `None` when it
    /// agrees, or when the catalog does not know its cloud or type.
    fn check(&self, pool: &PoolShape<'_>) -> Option<String>;
    /// The GPU model of `instance_type` in `region`, for nodes that name
    /// none when the price table does not know the type either.
    fn gpu_model(&self, cloud: Cloud, region: &str, instance_type: &str) -> Option<GpuModel>;
    /// A number that changes whenever an answer may have changed (a catalog
    /// loaded or reloaded); the cluster re-checks its pools then.
    fn version(&self) -> u64;
}

fn label<'a>(labels: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|key| labels.get(*key))
        .map(String::as_str)
        .filter(|value| !value.is_empty())
}

fn quantity_millis(
    quantity: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Option<u64> {
    Quantity::parse(&quantity.0).ok()?.to_milli_units_ceil()
}

fn quantity_units(
    quantity: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Option<u64> {
    Quantity::parse(&quantity.0).ok()?.to_units_ceil()
}

type ResourceList = BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>;

fn room_of(list: Option<&ResourceList>) -> Room {
    let Some(list) = list else {
        return Room::default();
    };
    let gpus = ["nvidia.com/gpu", "amd.com/gpu"]
        .iter()
        .filter_map(|name| list.get(*name).and_then(quantity_units))
        .sum::<u64>();
    Room {
        gpus: u32::try_from(gpus).unwrap_or(u32::MAX),
        cpu_millis: list.get("cpu").and_then(quantity_millis).unwrap_or(0),
        memory_bytes: list.get("memory").and_then(quantity_units).unwrap_or(0),
    }
}

/// What a pod requests: summed over its containers, limits standing in for
/// absent requests.
pub fn pod_requests(pod: &Pod) -> Room {
    let mut total = Room::default();
    let containers = pod.spec.as_ref().map(|spec| spec.containers.as_slice());
    for container in containers.unwrap_or_default() {
        let resources = container.resources.as_ref();
        let limits = room_of(resources.and_then(|r| r.limits.as_ref()));
        let requests = resources.and_then(|r| r.requests.as_ref());
        let requested = room_of(requests);
        let has = |name: &str| requests.is_some_and(|list| list.contains_key(name));
        total.add(Room {
            gpus: if has("nvidia.com/gpu") || has("amd.com/gpu") {
                requested.gpus
            } else {
                limits.gpus
            },
            cpu_millis: if has("cpu") {
                requested.cpu_millis
            } else {
                limits.cpu_millis
            },
            memory_bytes: if has("memory") {
                requested.memory_bytes
            } else {
                limits.memory_bytes
            },
        });
    }
    total
}

fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn gpu_model(labels: &BTreeMap<String, String>) -> Option<GpuModel> {
    [
        "nvidia.com/gpu.product",
        "cloud.google.com/gke-accelerator",
        "amd.com/gpu.product-name",
    ]
    .iter()
    .find_map(|key| labels.get(*key).and_then(|value| GpuModel::parse(value)))
}

fn usable(node: &Node) -> bool {
    if node.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let spec = node.spec.as_ref();
    if spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        return false;
    }
    let blocking_taint = spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .any(|taint| {
            matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
                && !TOLERATED_TAINTS.contains(&taint.key.as_str())
        });
    if blocking_taint {
        return false;
    }
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

#[derive(Default)]
struct PoolBuilder {
    names: BTreeSet<String>,
    gpu_models: BTreeSet<GpuModel>,
    node: Option<Room>,
    vcpus: Option<u32>,
    memory_capacity: Option<u64>,
    nodes: u32,
    usable_nodes: u32,
    idle_nodes: u32,
    partial_nodes: Vec<Room>,
    allocatable: Room,
    allocated: Room,
}

/// The pools of a cluster whose nodes and pods are these.
pub fn build(nodes: &[&Node], pods: &[&Pod], prices: Prices<'_>) -> Inventory {
    let mut used_by_node: BTreeMap<&str, Room> = BTreeMap::new();
    for pod in pods {
        if is_finished(pod) {
            continue;
        }
        let Some(node) = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) else {
            continue;
        };
        used_by_node.entry(node).or_default().add(pod_requests(pod));
    }
    let mut issues = Vec::new();
    let mut builders: BTreeMap<PoolKey, PoolBuilder> = BTreeMap::new();
    let mut sorted: Vec<&Node> = nodes.to_vec();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for node in sorted {
        let name = node.metadata.name.as_deref().unwrap_or("<unnamed>");
        let empty = BTreeMap::new();
        let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
        let Some(instance_type) = label(
            labels,
            &[
                "node.kubernetes.io/instance-type",
                "beta.kubernetes.io/instance-type",
            ],
        ) else {
            issues.push(format!(
                "node {name}: no node.kubernetes.io/instance-type label; left out"
            ));
            continue;
        };
        let Some(zone) = label(
            labels,
            &[
                "topology.kubernetes.io/zone",
                "failure-domain.beta.kubernetes.io/zone",
            ],
        ) else {
            issues.push(format!(
                "node {name}: no topology.kubernetes.io/zone label; left out"
            ));
            continue;
        };
        let capacity_type = match classify(labels) {
            Ok(capacity_type) => capacity_type,
            Err(error) => {
                issues.push(format!("node {name}: {error}"));
                continue;
            }
        };
        let key = PoolKey {
            instance_type: instance_type.to_owned(),
            zone: zone.to_owned(),
            capacity_type,
        };
        let status = node.status.as_ref();
        let allocatable = room_of(status.and_then(|s| s.allocatable.as_ref()));
        let capacity = status.and_then(|s| s.capacity.as_ref());
        let memory_capacity = capacity
            .and_then(|c| c.get("memory"))
            .and_then(quantity_units)
            .unwrap_or(allocatable.memory_bytes);
        let vcpus = capacity
            .and_then(|c| c.get("cpu"))
            .and_then(quantity_millis)
            .map_or(0, |millis| {
                u32::try_from(millis.div_ceil(1000)).unwrap_or(u32::MAX)
            });
        let builder = builders.entry(key).or_default();
        builder.nodes += 1;
        if let Some(pool) = label(labels, &POOL_LABELS) {
            builder.names.insert(pool.to_owned());
        }
        if let Some(model) = gpu_model(labels) {
            builder.gpu_models.insert(model);
        }
        builder.node = Some(
            builder
                .node
                .map_or(allocatable, |room| room.min(allocatable)),
        );
        builder.vcpus = Some(builder.vcpus.map_or(vcpus, |v| v.min(vcpus)));
        builder.memory_capacity = Some(
            builder
                .memory_capacity
                .map_or(memory_capacity, |m| m.min(memory_capacity)),
        );
        if !usable(node) {
            continue;
        }
        let used = used_by_node.get(name).copied().unwrap_or_default();
        builder.usable_nodes += 1;
        builder.allocatable.add(allocatable);
        builder.allocated.add(used);
        if used.is_zero() {
            builder.idle_nodes += 1;
        } else {
            let free = allocatable.saturating_sub(used);
            // A GPU node with no GPU left offers nothing: GPU nodes are for
            // GPU work (their taint keeps other pods off).
            let useful = if allocatable.gpus > 0 {
                free.gpus > 0
            } else {
                !free.is_zero()
            };
            if useful {
                builder.partial_nodes.push(free);
            }
        }
    }
    let mut pools = Vec::new();
    for (key, mut builder) in builders {
        let row_gpu = prices
            .table
            .instance(prices.cloud, &key.instance_type)
            .and_then(|row| row.gpu);
        let node = builder.node.unwrap_or_default();
        let model = match builder.gpu_models.len() {
            0 => row_gpu.map(|(model, _)| model).or_else(|| {
                prices.catalog.and_then(|catalog| {
                    catalog.gpu_model(prices.cloud, prices.region, &key.instance_type)
                })
            }),
            1 => builder.gpu_models.first().copied(),
            _ => {
                issues.push(format!(
                    "pool {}/{}/{}: nodes report several GPU models ({}); using the first",
                    key.instance_type,
                    key.zone,
                    key.capacity_type,
                    builder
                        .gpu_models
                        .iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                builder.gpu_models.first().copied()
            }
        };
        let gpu = match (model, node.gpus) {
            (Some(model), gpus) if gpus > 0 => Some((model, gpus)),
            (None, gpus) if gpus > 0 => {
                issues.push(format!(
                    "pool {}/{}: nodes have {gpus} GPUs of an unknown model; left out",
                    key.instance_type, key.zone
                ));
                continue;
            }
            _ => None,
        };
        let override_price = builder
            .names
            .iter()
            .find_map(|name| prices.overrides.get(name).copied());
        let live = match (override_price, prices.live) {
            (None, Some(live)) => live.pool_price(&PoolPriceQuery {
                cloud: prices.cloud,
                region: prices.region,
                zone: &key.zone,
                instance_type: &key.instance_type,
                capacity_type: key.capacity_type,
                table: prices.table,
            }),
            _ => None,
        };
        let priced = match (override_price, live) {
            (Some(price), _) => PoolPrice {
                price: Some(price),
                source: PriceSource::PoolOverride,
                age_s: None,
                note: None,
            },
            (None, Some(live)) => live,
            (None, None) => PoolPrice {
                price: prices.table.price(
                    prices.cloud,
                    prices.region,
                    Some(&key.zone),
                    &key.instance_type,
                    key.capacity_type,
                ),
                source: PriceSource::PriceTable,
                age_s: None,
                note: None,
            },
        };
        let priced = match priced.price {
            Some(_) => priced,
            None => {
                issues.push(format!(
                    "pool {}/{}/{}: no {} price for {} in {} {}; left unpriced",
                    key.instance_type,
                    key.zone,
                    key.capacity_type,
                    key.capacity_type,
                    key.instance_type,
                    prices.cloud,
                    prices.region
                ));
                PoolPrice {
                    source: PriceSource::Missing,
                    ..priced
                }
            }
        };
        builder.partial_nodes.sort_by(|a, b| b.cmp(a));
        let vcpus = builder.vcpus.unwrap_or(0);
        let catalog_note = prices.catalog.and_then(|catalog| {
            catalog.check(&PoolShape {
                cloud: prices.cloud,
                region: prices.region,
                zone: &key.zone,
                instance_type: &key.instance_type,
                gpu,
                vcpus,
                memory_bytes: builder.memory_capacity.unwrap_or(node.memory_bytes),
            })
        });
        pools.push(Pool {
            key,
            names: builder.names,
            gpu,
            node,
            vcpus,
            nodes: builder.nodes,
            usable_nodes: builder.usable_nodes,
            idle_nodes: builder.idle_nodes,
            partial_nodes: builder.partial_nodes,
            allocatable: builder.allocatable,
            allocated: builder.allocated,
            price_per_node_hour: priced.price,
            price_source: priced.source,
            price_age_s: priced.age_s,
            price_note: priced.note,
            catalog_note,
        });
    }
    Inventory { pools, issues }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use serde_json::json;

    use super::*;

    fn node(name: &str, labels: serde_json::Value, ready: bool, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {
                "capacity": {"cpu": "96", "memory": "1152Gi", "nvidia.com/gpu": "8"},
                "allocatable": {"cpu": "95500m", "memory": "1100Gi", "nvidia.com/gpu": "8"},
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" }}],
            },
        }))
        .unwrap()
    }

    fn pod(node: &str, gpus: u32, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("p-{node}-{gpus}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}, "requests": {"cpu": "8", "memory": "64Gi"}}}]},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    fn table() -> PriceTable {
        let csv = "Cloud,InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone\n\
                   aws,p4d.24xlarge,A100,8,96,1152,32.77,9.83,us-east-1,us-east-1a\n";
        PriceTable::parse(csv).unwrap().table
    }

    #[test]
    fn pools_come_from_labels_with_usage_and_prices() {
        let on_demand = json!({"node.kubernetes.io/instance-type": "p4d.24xlarge", "topology.kubernetes.io/zone": "us-east-1a",
            "eks.amazonaws.com/nodegroup": "a100", "eks.amazonaws.com/capacityType": "ON_DEMAND", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"});
        let spot = json!({"node.kubernetes.io/instance-type": "p4d.24xlarge", "topology.kubernetes.io/zone": "us-east-1a",
            "eks.amazonaws.com/nodegroup": "a100-spot", "eks.amazonaws.com/capacityType": "SPOT"});
        let gpu_taint =
            json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]);
        let lost_taint = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]);
        let nodes = [
            node("a", on_demand.clone(), true, gpu_taint.clone()),
            node("b", on_demand.clone(), true, gpu_taint.clone()),
            node("c", on_demand.clone(), false, lost_taint),
            node("d", spot, true, gpu_taint),
            node(
                "e",
                json!({"topology.kubernetes.io/zone": "z"}),
                true,
                json!([]),
            ),
        ];
        let pods = [
            pod("a", 3, "Running"),
            pod("b", 8, "Succeeded"),
            pod("c", 8, "Running"),
        ];
        let overrides = BTreeMap::new();
        let table = table();
        let prices = Prices {
            cloud: Cloud::Aws,
            region: "us-east-1",
            table: &table,
            overrides: &overrides,
            live: None,
            catalog: None,
        };
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let pod_refs: Vec<&Pod> = pods.iter().collect();
        let inventory = build(&node_refs, &pod_refs, prices);
        assert_eq!(inventory.pools.len(), 2);
        let pool = &inventory.pools[0];
        assert_eq!(pool.key.capacity_type, CapacityType::OnDemand);
        assert_eq!(pool.gpu, Some((GpuModel::A100, 8)));
        assert_eq!((pool.nodes, pool.usable_nodes, pool.idle_nodes), (3, 2, 1));
        assert_eq!(
            pool.partial_nodes,
            vec![Room {
                gpus: 5,
                cpu_millis: 87_500,
                memory_bytes: (1100 - 64) << 30
            }]
        );
        assert_eq!(pool.allocated.gpus, 3);
        assert_eq!(pool.vcpus, 96);
        assert_eq!(
            pool.price_per_node_hour,
            Some(Money::parse_dollars("32.77").unwrap())
        );
        let spot = &inventory.pools[1];
        assert_eq!(spot.key.capacity_type, CapacityType::Spot);
        // No product label: the model comes from the price table's row.
        assert_eq!(spot.gpu, Some((GpuModel::A100, 8)));
        assert_eq!(
            spot.price_per_node_hour,
            Some(Money::parse_dollars("9.83").unwrap())
        );
        assert_eq!(
            inventory.issues,
            vec!["node e: no node.kubernetes.io/instance-type label; left out".to_owned()]
        );
    }

    /// Answers for spot pools only, as a spot feed would.
    #[derive(Debug)]
    struct SpotOnly;

    impl LivePricing for SpotOnly {
        fn pool_price(&self, pool: &PoolPriceQuery<'_>) -> Option<PoolPrice> {
            (pool.capacity_type == CapacityType::Spot).then(|| PoolPrice {
                price: Some(Money::parse_dollars("7.5").unwrap()),
                source: PriceSource::Live,
                age_s: Some(42),
                note: None,
            })
        }

        fn version(&self) -> u64 {
            1
        }
    }

    #[test]
    fn live_prices_come_before_the_table_and_overrides_before_both() {
        let labels = |group: &str, capacity: &str| {
            json!({"node.kubernetes.io/instance-type": "p4d.24xlarge", "topology.kubernetes.io/zone": "us-east-1a",
                "eks.amazonaws.com/nodegroup": group, "eks.amazonaws.com/capacityType": capacity})
        };
        let nodes = [
            node("a", labels("a100", "ON_DEMAND"), true, json!([])),
            node("b", labels("a100-spot", "SPOT"), true, json!([])),
        ];
        let table = table();
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let no_overrides = BTreeMap::new();
        let priced = |overrides: &BTreeMap<String, Money>| {
            build(
                &node_refs,
                &[],
                Prices {
                    cloud: Cloud::Aws,
                    region: "us-east-1",
                    table: &table,
                    overrides,
                    live: Some(&SpotOnly),
                    catalog: None,
                },
            )
        };
        let inventory = priced(&no_overrides);
        let sources: Vec<_> = inventory
            .pools
            .iter()
            .map(|pool| {
                (
                    pool.price_source,
                    pool.price_per_node_hour.map(|price| price.to_string()),
                    pool.price_age_s,
                )
            })
            .collect();
        assert_eq!(
            sources,
            vec![
                (PriceSource::PriceTable, Some("32.77".to_owned()), None),
                (PriceSource::Live, Some("7.50".to_owned()), Some(42)),
            ]
        );
        let overrides =
            BTreeMap::from([("a100-spot".to_owned(), Money::parse_dollars("1").unwrap())]);
        let inventory = priced(&overrides);
        assert_eq!(inventory.pools[1].price_source, PriceSource::PoolOverride);
        assert_eq!(inventory.pools[1].price_age_s, None);
    }

    /// Knows p4d.24xlarge as EC2 does (A100 x8, 96 vCPUs, 1152 GiB), offered
    /// in us-east-1a only.
    #[derive(Debug)]
    struct P4dCatalog;

    impl PoolCatalog for P4dCatalog {
        fn check(&self, pool: &PoolShape<'_>) -> Option<String> {
            if pool.instance_type != "p4d.24xlarge" {
                return None;
            }
            let mut problems = Vec::new();
            if pool.gpu != Some((GpuModel::A100, 8)) {
                problems.push(format!("gpu {:?}", pool.gpu));
            }
            if pool.vcpus != 96 || pool.memory_bytes != 1152 << 30 {
                problems.push(format!("{} vcpus, {} bytes", pool.vcpus, pool.memory_bytes));
            }
            if pool.zone != "us-east-1a" {
                problems.push(format!("not offered in {}", pool.zone));
            }
            (!problems.is_empty()).then(|| problems.join("; "))
        }

        fn gpu_model(&self, _: Cloud, _: &str, instance_type: &str) -> Option<GpuModel> {
            (instance_type == "p4d.24xlarge" || instance_type == "p9.48xlarge")
                .then_some(GpuModel::A100)
        }

        fn version(&self) -> u64 {
            1
        }
    }

    #[test]
    fn pools_are_checked_against_the_catalog_by_node_capacity_and_still_offered() {
        let labels = |zone: &str, product: &str| {
            json!({"node.kubernetes.io/instance-type": "p4d.24xlarge", "topology.kubernetes.io/zone": zone,
                "eks.amazonaws.com/nodegroup": format!("a100-{zone}"), "eks.amazonaws.com/capacityType": "ON_DEMAND",
                "nvidia.com/gpu.product": product})
        };
        let nodes = [
            // Allocatable (1100Gi, 95.5 CPUs) is less than capacity, as on
            // every real node: the catalog is compared with capacity.
            node(
                "a",
                labels("us-east-1a", "NVIDIA-A100-SXM4-40GB"),
                true,
                json!([]),
            ),
            node(
                "b",
                labels("us-east-1b", "NVIDIA-A100-SXM4-40GB"),
                true,
                json!([]),
            ),
            node(
                "c",
                labels("us-east-1c", "NVIDIA-H100-80GB-HBM3"),
                true,
                json!([]),
            ),
        ];
        let table = table();
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let overrides = BTreeMap::new();
        let inventory = build(
            &node_refs,
            &[],
            Prices {
                cloud: Cloud::Aws,
                region: "us-east-1",
                table: &table,
                overrides: &overrides,
                live: None,
                catalog: Some(&P4dCatalog),
            },
        );
        let notes: Vec<(&str, Option<&str>)> = inventory
            .pools
            .iter()
            .map(|pool| (pool.key.zone.as_str(), pool.catalog_note.as_deref()))
            .collect();
        assert_eq!(
            notes,
            vec![
                ("us-east-1a", None),
                ("us-east-1b", Some("not offered in us-east-1b")),
                (
                    "us-east-1c",
                    Some("gpu Some((H100, 8)); not offered in us-east-1c")
                ),
            ]
        );
        // A disagreement is shown, not acted on: every pool is still priced and offered.
        assert!(
            inventory
                .pools
                .iter()
                .all(|pool| pool.usable_nodes == 1 && pool.price_per_node_hour.is_some())
        );
        assert!(inventory.issues.is_empty(), "{:?}", inventory.issues);
    }

    #[test]
    fn the_catalog_names_the_gpu_of_a_type_neither_labels_nor_the_table_know() {
        let labels = json!({"node.kubernetes.io/instance-type": "p9.48xlarge", "topology.kubernetes.io/zone": "us-east-1a",
            "eks.amazonaws.com/nodegroup": "p9", "eks.amazonaws.com/capacityType": "ON_DEMAND"});
        let nodes = [node("a", labels, true, json!([]))];
        let table = table();
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let overrides = BTreeMap::new();
        let build_with = |catalog: Option<&dyn PoolCatalog>| {
            build(
                &node_refs,
                &[],
                Prices {
                    cloud: Cloud::Aws,
                    region: "us-east-1",
                    table: &table,
                    overrides: &overrides,
                    live: None,
                    catalog,
                },
            )
        };
        let without = build_with(None);
        assert!(without.pools.is_empty());
        assert!(
            without.issues[0].contains("8 GPUs of an unknown model"),
            "{:?}",
            without.issues
        );
        let with = build_with(Some(&P4dCatalog));
        assert_eq!(with.pools.len(), 1, "{:?}", with.issues);
        assert_eq!(with.pools[0].gpu, Some((GpuModel::A100, 8)));
    }
}
