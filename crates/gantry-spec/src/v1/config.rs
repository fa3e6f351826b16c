//! `GantryConfig`: the daemon's config file, also read by `gantry-sim serve`
//! as the fleet to simulate.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job::{ApiVersion, Cloud};
use super::scalars::{
    DNS_LABEL_PATTERN, DollarsText, DurationText, GpuModelText, QuantityText, TEAM_PATH_PATTERN,
};

/// `kind: GantryConfig`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum GantryConfigKind {
    /// The only value.
    #[default]
    GantryConfig,
}

/// The daemon's configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "GantryConfig")]
pub struct GantryConfig {
    /// Always `gantry.dev/v1`.
    #[schemars(required)]
    pub api_version: Option<ApiVersion>,
    /// Always `GantryConfig`.
    #[schemars(required)]
    pub kind: Option<GantryConfigKind>,
    /// Listen addresses; default loopback 7070 (gRPC) and 7071 (HTTP).
    pub listen: Option<Listen>,
    /// Durable state.
    pub storage: Option<Storage>,
    /// Simulated time, for simulated clusters.
    pub simulation: Option<Simulation>,
    /// The clusters Gantry places on.
    #[schemars(required, length(min = 1))]
    pub clusters: Option<Vec<Cluster>>,
    /// Price tables, read in order; later rows override earlier ones.
    #[serde(default)]
    pub prices: Vec<PriceSource>,
    /// Team quotas; teams nest by path (`org/nlp` is inside `org`).
    #[serde(default)]
    pub teams: Vec<Team>,
    /// Cloud quotas per cloud and region.
    #[serde(default)]
    pub cloud_quotas: Vec<CloudQuota>,
    /// EC2, for live spot prices of the AWS clusters' regions (`aws: {}`
    /// uses the standard endpoints and credentials chain). Absent: prices
    /// come from the price tables only.
    pub aws: Option<AwsApi>,
    /// Cloud Storage, to find where `gs://` inputs live and how big they are
    /// (`gcs: {}` uses Google's endpoint and credentials chain).
    pub gcs: Option<GcsApi>,
    /// Write an OpenLineage provenance record of every ended run to a bucket
    /// (through `gcs`).
    pub provenance: Option<Provenance>,
}

/// How EC2 is reached.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsApi {
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for moto or an
    /// AWS-compatible cloud; default the standard regional endpoints.
    pub endpoint: Option<String>,
    /// Live spot prices.
    pub spot_prices: Option<SpotPrices>,
}

/// Live spot prices.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpotPrices {
    /// Time between refreshes; default 5m.
    pub refresh: Option<DurationText>,
    /// A live price older than this is stale and the price table is used
    /// instead; default 15m.
    pub max_age: Option<DurationText>,
}

/// How Cloud Storage is reached.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcsApi {
    /// Endpoint override, e.g. `http://127.0.0.1:4443` for fake-gcs-server.
    pub endpoint: Option<String>,
    /// No credentials at all (emulators only); default false: the standard
    /// Google credentials chain.
    pub anonymous: Option<bool>,
}

/// Where provenance records go.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// Bucket name (`gcs` must be set).
    #[schemars(required)]
    pub bucket: Option<String>,
    /// Object name prefix; default `gantry/runs/`.
    pub prefix: Option<String>,
}

/// Listen addresses.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listen {
    /// gRPC API, `host:port`.
    pub grpc: Option<String>,
    /// HTTP status endpoint, `host:port`.
    pub http: Option<String>,
}

/// Storage backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StorageBackend {
    /// The embedded store in a local directory (default).
    #[default]
    Embedded,
    /// PostgreSQL, for several replicas with one leader.
    Postgres,
}

/// Durable state.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// `embedded` (default) or `postgres`.
    pub backend: Option<StorageBackend>,
    /// Directory of the embedded store. Default `./.gantry`.
    pub path: Option<String>,
    /// PostgreSQL connection URL (`postgres://...`), for the postgres backend.
    pub url: Option<String>,
}

/// Simulated time.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    /// Simulated seconds per real second; dev default 360 (an hour in ten seconds).
    #[schemars(range(min = 0.001, max = 1000000.0))]
    pub time_scale: Option<f64>,
    /// Job run time when a pod says nothing else. Default 1h.
    pub default_pod_duration: Option<DurationText>,
}

/// One Kubernetes cluster: a real one (kubeconfig) or a simulated one.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// DNS-1123 label, unique in the fleet.
    #[schemars(required, pattern(DNS_LABEL_PATTERN))]
    pub name: Option<String>,
    /// The cloud the cluster runs in.
    #[schemars(required)]
    pub cloud: Option<Cloud>,
    /// The cloud region, e.g. `us-east-1`, `europe-west4`, `eastus`.
    #[schemars(required)]
    pub region: Option<String>,
    /// How to reach a real cluster.
    pub kubeconfig: Option<Kubeconfig>,
    /// A simulated cluster and its node pools.
    pub simulated: Option<SimulatedCluster>,
    /// Labels for placement rules and reports.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::ScalarTextSchema>")]
    pub labels: BTreeMap<String, String>,
}

/// Kubeconfig path and context.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Kubeconfig {
    /// Path to the kubeconfig file (`~` expands to the home directory).
    #[schemars(required)]
    pub path: Option<String>,
    /// Context in that file; default its current context.
    pub context: Option<String>,
}

/// A simulated cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedCluster {
    /// Node pools.
    #[schemars(required, length(min = 1))]
    pub node_pools: Option<Vec<NodePool>>,
}

/// Capacity types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityType {
    /// Pay as you go (default).
    #[default]
    OnDemand,
    /// Interruptible, cheaper.
    Spot,
    /// Already paid for (reservations, committed use, owned hardware).
    Reserved,
}

/// A node pool of a simulated cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePool {
    /// DNS-1123 label, unique in the cluster.
    #[schemars(required, pattern(DNS_LABEL_PATTERN))]
    pub name: Option<String>,
    /// Cloud instance type, e.g. `p5.48xlarge`; prices are looked up by it.
    #[schemars(required)]
    pub instance_type: Option<String>,
    /// GPUs per node; omit for CPU nodes.
    pub gpu: Option<NodeGpu>,
    /// CPU cores per node.
    #[schemars(required)]
    pub cpu: Option<QuantityText>,
    /// Memory per node.
    #[schemars(required)]
    pub memory: Option<QuantityText>,
    /// Number of nodes.
    #[schemars(required, range(min = 1, max = 100000))]
    pub nodes: Option<u32>,
    /// on-demand (default), spot or reserved.
    pub capacity_type: Option<CapacityType>,
    /// Zone, e.g. `us-east-1a`.
    #[schemars(required)]
    pub zone: Option<String>,
    /// Price per node-hour, overriding the price tables.
    pub price_per_hour: Option<DollarsText>,
    /// Chance per hour that a spot node is reclaimed (0..1); spot pools only.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub interruption_rate_per_hour: Option<f64>,
}

/// GPUs on each node of a pool.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeGpu {
    /// GPU model.
    #[schemars(required)]
    pub model: Option<GpuModelText>,
    /// GPUs per node.
    #[schemars(required, range(min = 1, max = 64))]
    pub count: Option<u32>,
}

/// A price table file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceSource {
    /// Path to a CSV price table (relative to the config file).
    #[schemars(required)]
    pub path: Option<String>,
}

/// A team and its quota.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// Team path, e.g. `org/nlp`.
    #[schemars(required, pattern(TEAM_PATH_PATTERN))]
    pub name: Option<String>,
    /// Hard limits; a team's usage counts against every ancestor's quota too.
    pub quota: Option<TeamQuota>,
}

/// Hard limits of a team. An absent limit is no limit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamQuota {
    /// GPUs of any model.
    pub gpus: Option<u32>,
    /// GPUs per model.
    #[serde(default)]
    pub gpus_by_model: BTreeMap<String, u32>,
    /// CPU cores.
    pub cpu: Option<QuantityText>,
    /// Memory.
    pub memory: Option<QuantityText>,
    /// USD per day (UTC).
    pub budget_per_day: Option<DollarsText>,
}

/// Limits a cloud puts on one region (e.g. GPU vCPU service quotas).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudQuota {
    /// Cloud.
    #[schemars(required)]
    pub cloud: Option<Cloud>,
    /// Region.
    #[schemars(required)]
    pub region: Option<String>,
    /// GPUs of any model.
    pub gpus: Option<u32>,
    /// GPUs per model.
    #[serde(default)]
    pub gpus_by_model: BTreeMap<String, u32>,
    /// vCPUs of GPU instances (AWS's "Running On-Demand P instances" style limit).
    pub vcpus: Option<u32>,
    /// Separate limit for spot capacity, in GPUs.
    pub spot_gpus: Option<u32>,
}
