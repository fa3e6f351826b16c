//! A live job as the control loop holds it, what it stores as a job's
//! placement, and the job as the scheduler sees it.

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_core::{
    CapacityType, Cloud, DataUri, GpuModel, JobId, JobSpec, JobState, Money, StorageScheme,
    TeamPath,
};
use gantry_sched::{DataSource, QueuedJob, ReplicaRequest, Seconds};
use serde::{Deserialize, Serialize};

/// Where a job was placed, stored with the job (as JSON) so a restarted
/// daemon knows where to find its objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacementRecord {
    /// Cluster.
    pub cluster: String,
    /// Cloud (`aws`, ...).
    pub cloud: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// Pool name (for people).
    pub pool: String,
    /// Instance type.
    pub instance_type: String,
    /// `reserved`, `on-demand`, `spot`.
    pub capacity_type: String,
    /// GPU model, for GPU jobs.
    pub gpu_model: Option<String>,
    /// Replicas placed.
    pub replicas: u32,
    /// The whole job per hour at list price.
    pub hourly_price_micro_usd: i64,
    /// Expected runtime on this pool's GPU model.
    pub expected_runtime_s: u64,
    /// Expected compute cost.
    pub compute_micro_usd: i64,
    /// Expected egress cost.
    pub egress_micro_usd: i64,
    /// Expected spot loss.
    pub spot_loss_micro_usd: i64,
    /// Where the price came from.
    pub price_source: String,
    /// When it was placed.
    pub placed_at_unix_ms: i64,
    /// When it started running, once it has.
    #[serde(default)]
    pub started_at_unix_ms: Option<i64>,
    /// Failed attempts so far (retries count against the spec's `retries`).
    #[serde(default)]
    pub failures: u32,
}

impl PlacementRecord {
    /// The cloud, parsed.
    pub fn cloud(&self) -> Option<Cloud> {
        Cloud::parse(&self.cloud)
    }

    /// The capacity type, parsed.
    pub fn capacity_type(&self) -> Option<CapacityType> {
        CapacityType::parse(&self.capacity_type)
    }

    /// The GPU model, parsed.
    pub fn gpu_model(&self) -> Option<GpuModel> {
        self.gpu_model.as_deref().and_then(GpuModel::parse)
    }

    /// The hourly price.
    pub fn hourly_price(&self) -> Money {
        Money::from_micros(self.hourly_price_micro_usd)
    }

    /// As stored.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// From the store; `None` when absent or not one of ours.
    pub fn from_json(value: Option<&serde_json::Value>) -> Option<PlacementRecord> {
        serde_json::from_value(value?.clone()).ok()
    }
}

/// A job the control loop is responsible for (every non-terminal job).
#[derive(Clone, Debug)]
pub struct LiveJob {
    /// Id.
    pub id: JobId,
    /// The checked spec.
    pub spec: Arc<JobSpec>,
    /// State as last persisted (or being persisted).
    pub state: JobState,
    /// Current attempt (0 until first placed).
    pub attempt: u32,
    /// Submission time.
    pub submitted_at_unix_ms: i64,
    /// Where it runs, from Placed until it is back in the queue.
    pub placement: Option<PlacementRecord>,
    /// Failed attempts that were retried.
    pub failures: u32,
    /// Since when its cluster has been reported lost.
    pub lost_since_unix_ms: Option<i64>,
}

impl LiveJob {
    /// The team.
    pub fn team(&self) -> &TeamPath {
        &self.spec.team
    }
}

/// Whole seconds of a Unix-millisecond time (negative times read as 0).
pub fn seconds(unix_ms: i64) -> Seconds {
    u64::try_from(unix_ms.max(0) / 1000).unwrap_or(0)
}

/// Inputs whose bucket region and size a storage adapter found, by URI.
pub type Located = BTreeMap<DataUri, DataSource>;

/// The job as the scheduler sees it, with its inputs as the spec states them.
pub fn queued_job(id: &JobId, spec: &JobSpec, submitted_at_unix_ms: i64) -> QueuedJob {
    queued_job_located(id, spec, submitted_at_unix_ms, &Located::new())
}

/// The job as the scheduler sees it, with the inputs found in `located` at
/// their real region and size.
/// What one replica of `spec` asks of a node.
pub fn replica_request(spec: &JobSpec) -> ReplicaRequest {
    ReplicaRequest {
        gpus: spec.resources.gpu_count(),
        gpu_models: spec
            .resources
            .gpu
            .as_ref()
            .map(|gpu| gpu.models.clone())
            .unwrap_or_default(),
        cpu_millis: spec.resources.cpu_millis,
        memory_bytes: spec.resources.memory_bytes,
    }
}

/// A job as the scheduler sees it, with its inputs as located.
pub fn queued_job_located(
    id: &JobId,
    spec: &JobSpec,
    submitted_at_unix_ms: i64,
    located: &Located,
) -> QueuedJob {
    QueuedJob {
        id: id.clone(),
        team: spec.team.clone(),
        priority: spec.priority,
        submitted_at: seconds(submitted_at_unix_ms),
        replicas: spec.replicas.required(),
        replica: replica_request(spec),
        placement: spec.placement.clone(),
        expected_runtime_s: spec.expected_runtime_or_default().as_secs(),
        data: data_sources(spec, located),
        checkpoint_every_s: spec.checkpoint.as_ref().map(|c| c.every.as_secs()),
        preemptible: spec.preemptible,
    }
}

/// Where a job's inputs live, for egress: as located (the bucket's region,
/// the bytes listed) where a storage adapter found them, else the spec's
/// `sizeGiB` in an unknown region (the scheduler prices an unknown region
/// as another region of the same cloud).
pub fn data_sources(spec: &JobSpec, located: &Located) -> Vec<DataSource> {
    spec.data
        .iter()
        .filter_map(|input| {
            if let Some(found) = located.get(&input.uri) {
                return Some(found.clone());
            }
            let cloud = match input.uri.scheme {
                StorageScheme::Gcs => Cloud::Gcp,
                StorageScheme::S3 => Cloud::Aws,
                StorageScheme::AzureBlob => Cloud::Azure,
                StorageScheme::Https => return None,
            };
            Some(DataSource {
                cloud,
                region: None,
                bytes: input.size_bytes.unwrap_or(0),
            })
        })
        .filter(|source| source.bytes > 0)
        .collect()
}
