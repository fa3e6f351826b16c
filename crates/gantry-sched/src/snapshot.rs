//! What the scheduler sees: offers with free capacity, running allocations,
//! quotas, the queue. Built by the caller (the control loop, the replay);
//! the scheduler never fetches anything.

use gantry_core::{
    CapacityType, Cloud, CloudQuota, GpuModel, JobId, Money, Placement, TeamPath, TeamQuota,
};

/// Seconds since the Unix epoch (or since the start of a replay). Time is an input.
pub type Seconds = u64;

/// Everything the scheduler decides over, at one instant.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every (cluster, node pool) with its price and free capacity now.
    pub offers: Vec<Offer>,
    /// Jobs holding capacity now (their usage is already subtracted from the offers).
    pub running: Vec<Allocation>,
    /// Team quotas and what each team spent today. Teams absent here have no limits.
    pub teams: Vec<TeamBudget>,
    /// Cloud quotas per cloud and region. Regions absent here have no limits.
    pub cloud_quotas: Vec<CloudQuota>,
    /// Jobs waiting to be placed, in submission order.
    pub queue: Vec<QueuedJob>,
}

/// The shape of one node of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeShape {
    /// GPU model and count per node.
    pub gpu: Option<(GpuModel, u32)>,
    /// Allocatable CPU per node.
    pub cpu_millis: u64,
    /// Allocatable memory per node.
    pub memory_bytes: u64,
    /// vCPUs of the instance (what cloud GPU quotas count).
    pub vcpus: u32,
}

/// Free resources on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeFree {
    /// Free GPUs.
    pub gpus: u32,
    /// Free CPU.
    pub cpu_millis: u64,
    /// Free memory.
    pub memory_bytes: u64,
}

/// A (cluster, node pool): what can be bought there, at what price, and how
/// much is free now.
#[derive(Clone, Debug)]
pub struct Offer {
    /// Cluster name.
    pub cluster: String,
    /// Cloud of the cluster.
    pub cloud: Cloud,
    /// Region of the cluster.
    pub region: String,
    /// Zone of the pool.
    pub zone: String,
    /// Pool name (unique in the cluster).
    pub pool: String,
    /// Instance type of the pool's nodes.
    pub instance_type: String,
    /// How the capacity is bought.
    pub capacity_type: CapacityType,
    /// Each node's shape.
    pub node: NodeShape,
    /// Price of one node for one hour. For reserved capacity, the amortized
    /// price already paid (its marginal cost is zero).
    pub price_per_node_hour: Money,
    /// For spot pools: chance per hour that a node is reclaimed.
    pub interruption_rate_per_hour: f64,
    /// Nodes in the pool, busy or not.
    pub total_nodes: u32,
    /// Nodes with nothing on them.
    pub idle_nodes: u32,
    /// Free resources of nodes that run something but have room left.
    pub partial_nodes: Vec<NodeFree>,
}

impl Offer {
    /// The GPU model of the pool's nodes, if any.
    pub fn gpu_model(&self) -> Option<GpuModel> {
        self.node.gpu.map(|(model, _)| model)
    }
}

/// Per-replica resources of a job.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplicaRequest {
    /// GPUs per replica (0 for CPU-only).
    pub gpus: u32,
    /// Acceptable GPU models (empty when `gpus` is 0).
    pub gpu_models: Vec<GpuModel>,
    /// CPU per replica.
    pub cpu_millis: u64,
    /// Memory per replica.
    pub memory_bytes: u64,
}

/// Where a job's input data lives, for egress cost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataSource {
    /// Cloud of the bucket.
    pub cloud: Cloud,
    /// Region of the bucket; `None` when unknown or multi-region.
    pub region: Option<String>,
    /// Bytes to read.
    pub bytes: u64,
}

/// A job waiting to be placed.
#[derive(Clone, Debug)]
pub struct QueuedJob {
    /// Id.
    pub id: JobId,
    /// Quota owner.
    pub team: TeamPath,
    /// Higher first.
    pub priority: u32,
    /// When it was submitted (FIFO order within a team).
    pub submitted_at: Seconds,
    /// Replicas of the gang (all placed in one offer, or none).
    pub replicas: u32,
    /// Per replica.
    pub replica: ReplicaRequest,
    /// Clouds, regions, clusters, spot policy, hourly cost cap.
    pub placement: Placement,
    /// Expected runtime on the reference GPU (see `throughput`).
    pub expected_runtime_s: Seconds,
    /// Input data.
    pub data: Vec<DataSource>,
    /// How often the job checkpoints; `None` loses everything on interruption.
    pub checkpoint_every_s: Option<Seconds>,
    /// May it be preempted by higher-priority work?
    pub preemptible: bool,
}

/// A job holding capacity now.
#[derive(Clone, Debug)]
pub struct Allocation {
    /// Id.
    pub id: JobId,
    /// Quota owner.
    pub team: TeamPath,
    /// Its priority.
    pub priority: u32,
    /// May it be preempted?
    pub preemptible: bool,
    /// Index into [`Snapshot::offers`] of the offer it runs on.
    pub offer: usize,
    /// Replicas it runs.
    pub replicas: u32,
    /// Per replica.
    pub replica: ReplicaRequest,
    /// What it costs per hour, all replicas.
    pub hourly_cost: Money,
    /// When it started.
    pub started_at: Seconds,
    /// When it last checkpointed (or started).
    pub last_checkpoint_at: Seconds,
    /// Expected end, for budgets.
    pub expected_end_at: Seconds,
}

/// A team's quota and spend so far today (UTC).
#[derive(Clone, Debug)]
pub struct TeamBudget {
    /// Limits.
    pub quota: TeamQuota,
    /// Spent since midnight UTC.
    pub spend_today: Money,
}
