//! `TrainingJob` and `InferenceService` as written in YAML.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::scalars::{
    DATA_URI_PATTERN, DNS_LABEL_PATTERN, DollarsText, DurationText, GpuModelText, PriorityText,
    QuantityText, REGION_GLOB_PATTERN, TEAM_PATH_PATTERN,
};

/// `apiVersion` of every Gantry document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ApiVersion {
    /// `gantry.dev/v1`
    #[default]
    #[serde(rename = "gantry.dev/v1")]
    V1,
}

/// `kind: TrainingJob`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum TrainingJobKind {
    /// The only value.
    #[default]
    TrainingJob,
}

/// `kind: InferenceService`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum InferenceServiceKind {
    /// The only value.
    #[default]
    InferenceService,
}

/// A batch training (or any run-to-completion) job; its replicas form a gang.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "TrainingJob")]
pub struct TrainingJob {
    /// Always `gantry.dev/v1`.
    #[schemars(required)]
    pub api_version: Option<ApiVersion>,
    /// Always `TrainingJob`.
    #[schemars(required)]
    pub kind: Option<TrainingJobKind>,
    /// Name, owning team and labels.
    #[schemars(required)]
    pub metadata: Option<Metadata>,
    /// What to run and where it may run.
    #[schemars(required)]
    pub spec: Option<TrainingSpec>,
}

/// A long-running service with a replica range; replicas may spread over clusters.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "InferenceService")]
pub struct InferenceService {
    /// Always `gantry.dev/v1`.
    #[schemars(required)]
    pub api_version: Option<ApiVersion>,
    /// Always `InferenceService`.
    #[schemars(required)]
    pub kind: Option<InferenceServiceKind>,
    /// Name, owning team and labels.
    #[schemars(required)]
    pub metadata: Option<Metadata>,
    /// What to serve and where it may run.
    #[schemars(required)]
    pub spec: Option<InferenceSpec>,
}

/// Identity of a job.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// DNS-1123 label, unique per team among live jobs.
    #[schemars(required, length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub name: Option<String>,
    /// Quota owner; teams nest with `/`, e.g. `org/nlp`.
    #[schemars(required, pattern(TEAM_PATH_PATTERN))]
    pub team: Option<String>,
    /// Kubernetes-style labels, copied onto everything Gantry creates.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::ScalarTextSchema>")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::ScalarTextSchema>")]
    pub annotations: BTreeMap<String, String>,
}

/// The spec of a `TrainingJob`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingSpec {
    /// Container image; pin it by digest for reproducible runs.
    #[schemars(required, length(min = 1))]
    pub image: Option<String>,
    /// Entrypoint (replaces the image's).
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments to the entrypoint.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::ScalarTextSchema>")]
    pub env: BTreeMap<String, String>,
    /// Per replica.
    #[schemars(required)]
    pub resources: Option<Resources>,
    /// Nodes of the gang: all placed at once in one cluster, or none. Default 1.
    #[schemars(range(min = 1, max = 1024))]
    pub replicas: Option<u32>,
    /// Where the job may run.
    pub placement: Option<Placement>,
    /// Inputs; where they live decides egress cost.
    #[serde(default)]
    pub data: Vec<DataInput>,
    /// Where checkpoints go; a preempted job resumes from the last one.
    pub checkpoint: Option<Checkpoint>,
    /// For cost estimates; default from history, else 1h.
    pub expected_runtime: Option<DurationText>,
    /// Hard limit; the job fails when it runs longer.
    pub max_runtime: Option<DurationText>,
    /// Higher first; `low`, `normal` (default) or `high`, or an integer.
    pub priority: Option<PriorityText>,
    /// May a higher-priority job stop this one? Default true.
    pub preemptible: Option<bool>,
    /// Attempts after a failure. Default 0.
    #[schemars(range(max = 100))]
    pub retries: Option<u32>,
}

/// The spec of an `InferenceService`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferenceSpec {
    /// Container image; pin it by digest for reproducible runs.
    #[schemars(required, length(min = 1))]
    pub image: Option<String>,
    /// Entrypoint (replaces the image's).
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments to the entrypoint.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, super::ScalarTextSchema>")]
    pub env: BTreeMap<String, String>,
    /// Per replica.
    #[schemars(required)]
    pub resources: Option<Resources>,
    /// How many replicas serve.
    #[schemars(required)]
    pub replicas: Option<ReplicaRange>,
    /// The port the server listens on.
    #[schemars(required, range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Readiness probe.
    pub readiness: Option<Readiness>,
    /// Where the service may run.
    pub placement: Option<Placement>,
    /// Inputs (model weights); where they live decides egress cost.
    #[serde(default)]
    pub data: Vec<DataInput>,
    /// Higher first; `low`, `normal` (default) or `high`, or an integer.
    pub priority: Option<PriorityText>,
    /// May a higher-priority job stop replicas of this one? Default false.
    pub preemptible: Option<bool>,
}

/// Per-replica resources.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// GPUs per replica; omit for a CPU-only job.
    pub gpu: Option<GpuResources>,
    /// CPU cores per replica (Kubernetes quantity).
    #[schemars(required)]
    pub cpu: Option<QuantityText>,
    /// Memory per replica (Kubernetes quantity, e.g. 64Gi).
    #[schemars(required)]
    pub memory: Option<QuantityText>,
}

/// GPUs per replica and the acceptable models.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuResources {
    /// GPUs per replica (all on one node).
    #[schemars(required, range(min = 1, max = 64))]
    pub count: Option<u32>,
    /// Acceptable models, any order; the cheapest placement wins.
    #[schemars(required, length(min = 1))]
    pub types: Option<Vec<GpuModelText>>,
}

/// Replica range of a service.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaRange {
    /// Fewest replicas serving (at least 1).
    #[schemars(required, range(min = 1, max = 10000))]
    pub min: Option<u32>,
    /// Most replicas serving.
    #[schemars(required, range(min = 1, max = 10000))]
    pub max: Option<u32>,
}

/// HTTP readiness probe.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// Path that answers 200 when the server is ready, e.g. `/health`.
    #[schemars(required, pattern(r"^/"))]
    pub path: Option<String>,
    /// Seconds before the first probe. Default 0.
    pub initial_delay_seconds: Option<u32>,
    /// Seconds between probes. Default 10.
    #[schemars(range(min = 1))]
    pub period_seconds: Option<u32>,
}

/// Spot capacity policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SpotPolicy {
    /// On-demand or reserved capacity only (default).
    #[default]
    Never,
    /// Spot when it is cheaper after expected interruption losses.
    Allowed,
    /// Spot only.
    Required,
}

/// Clouds Gantry places on.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Cloud {
    /// Amazon Web Services.
    Aws,
    /// Google Cloud.
    Gcp,
    /// Microsoft Azure.
    Azure,
    /// Your own clusters.
    Onprem,
}

/// Where a job may run.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Allowed clouds; default all.
    #[serde(default)]
    pub clouds: Vec<Cloud>,
    /// Allowed regions as globs (`us-*`, `europe-west4`); default all.
    #[serde(default)]
    #[schemars(inner(pattern(REGION_GLOB_PATTERN)))]
    pub regions: Vec<String>,
    /// Allowed clusters by name glob; default all.
    #[serde(default)]
    #[schemars(inner(pattern(REGION_GLOB_PATTERN)))]
    pub clusters: Vec<String>,
    /// never (default), allowed or required.
    pub spot: Option<SpotPolicy>,
    /// USD per hour for the whole job (all replicas); never exceeded.
    pub max_hourly_cost: Option<DollarsText>,
}

/// One input data set.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataInput {
    /// `gs://`, `s3://`, `az://` or `https://` location.
    #[schemars(required, pattern(DATA_URI_PATTERN))]
    pub uri: Option<String>,
    /// Size in GiB, if known; used for egress cost.
    #[serde(rename = "sizeGiB")]
    #[schemars(range(min = 0.0))]
    pub size_gib: Option<f64>,
}

/// Checkpointing.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Where checkpoints are written.
    #[schemars(required, pattern(DATA_URI_PATTERN))]
    pub uri: Option<String>,
    /// How often the job checkpoints, in minutes.
    #[schemars(range(min = 1, max = 10080))]
    pub every_minutes: Option<u32>,
}
