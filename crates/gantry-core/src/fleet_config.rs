//! The daemon's checked configuration: the fleet of clusters, price tables,
//! quotas, storage and listen addresses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::gpu::GpuModel;
use crate::ids::TeamPath;
use crate::money::Money;
use crate::placement_terms::{CapacityType, Cloud};

/// Default gRPC listen address.
pub const DEFAULT_GRPC_ADDRESS: &str = "127.0.0.1:7070";
/// Default HTTP status listen address.
pub const DEFAULT_HTTP_ADDRESS: &str = "127.0.0.1:7071";
/// Default simulated time scale: one hour of job time in ten seconds.
pub const DEFAULT_TIME_SCALE: f64 = 360.0;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    /// Listen addresses.
    pub grpc_address: SocketAddr,
    /// HTTP status endpoint.
    pub http_address: SocketAddr,
    /// Durable state.
    pub storage: StorageConfig,
    /// Simulated time.
    pub simulation: SimulationConfig,
    /// Clusters, in config order.
    pub clusters: Vec<ClusterConfig>,
    /// Price table files, in order.
    pub price_tables: Vec<PathBuf>,
    /// Team quotas.
    pub teams: Vec<TeamQuota>,
    /// Cloud quotas.
    pub cloud_quotas: Vec<CloudQuota>,
    /// Cloud APIs Gantry calls: live prices, data locations, provenance.
    pub cloud_apis: CloudApis,
}

/// Default time between live spot price refreshes.
pub const DEFAULT_SPOT_PRICE_REFRESH: Duration = Duration::from_secs(5 * 60);
/// Default age past which a live price is stale (three missed refreshes).
pub const DEFAULT_SPOT_PRICE_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Cloud APIs Gantry calls; each one only when configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudApis {
    /// EC2: live spot prices for the AWS clusters' regions.
    pub aws: Option<AwsApi>,
    /// Cloud Storage: where `gs://` inputs live and how big they are.
    pub gcs: Option<GcsApi>,
    /// Where provenance records of ended runs are written (through `gcs`).
    pub provenance: Option<ProvenanceExport>,
}

/// How EC2 is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsApi {
    /// Endpoint override (moto, AWS-compatible clouds); `None`: the
    /// standard endpoints, region and credentials chain.
    pub endpoint: Option<String>,
    /// Time between spot price refreshes.
    pub spot_price_refresh: Duration,
    /// A live price older than this is stale; the table is used instead.
    pub spot_price_max_age: Duration,
}

/// How Cloud Storage is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcsApi {
    /// Endpoint override (fake-gcs-server); `None`: Google's.
    pub endpoint: Option<String>,
    /// No credentials (emulators only); else the standard Google chain.
    pub anonymous: bool,
}

/// Where provenance records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenanceExport {
    /// Bucket.
    pub bucket: String,
    /// Object name prefix, e.g. `runs/`.
    pub prefix: String,
}

/// Durable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageConfig {
    /// Embedded store in a directory.
    Embedded {
        /// Directory.
        path: PathBuf,
    },
    /// PostgreSQL.
    Postgres {
        /// Connection URL.
        url: String,
    },
}

/// Simulated time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimulationConfig {
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Run time of a pod that says nothing else.
    pub default_pod_duration: Duration,
}

/// One cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    /// Unique name.
    pub name: String,
    /// Cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: String,
    /// How to reach it.
    pub access: ClusterAccess,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// How a cluster is reached.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterAccess {
    /// A real cluster.
    Kubeconfig {
        /// Kubeconfig file.
        path: PathBuf,
        /// Context, or the file's current one.
        context: Option<String>,
    },
    /// A simulated cluster.
    Simulated {
        /// Its node pools.
        node_pools: Vec<NodePoolConfig>,
    },
}

/// A node pool of a simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePoolConfig {
    /// Unique in the cluster.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// GPU model and count per node.
    pub gpu: Option<(GpuModel, u32)>,
    /// CPU per node.
    pub cpu_millis: u64,
    /// Memory per node.
    pub memory_bytes: u64,
    /// Nodes.
    pub nodes: u32,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Zone.
    pub zone: String,
    /// Price per node-hour overriding the price tables.
    pub price_per_hour: Option<Money>,
    /// Chance per hour that a spot node is reclaimed.
    pub interruption_rate_per_hour: Option<f64>,
}

/// Hard limits of a team; `None` is no limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamQuota {
    /// The team.
    pub team: TeamPath,
    /// GPUs of any model.
    pub gpus: Option<u32>,
    /// GPUs per model.
    pub gpus_by_model: BTreeMap<GpuModel, u32>,
    /// CPU.
    pub cpu_millis: Option<u64>,
    /// Memory.
    pub memory_bytes: Option<u64>,
    /// Spend per UTC day.
    pub budget_per_day: Option<Money>,
}

/// Limits of one cloud region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudQuota {
    /// Cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: String,
    /// GPUs of any model.
    pub gpus: Option<u32>,
    /// GPUs per model.
    pub gpus_by_model: BTreeMap<GpuModel, u32>,
    /// vCPUs of GPU instances.
    pub vcpus: Option<u32>,
    /// GPUs on spot capacity.
    pub spot_gpus: Option<u32>,
}
