//! A job as Gantry understands it, after parsing and checking: every field
//! is in its domain type, defaults are applied, and nothing here can be
//! invalid (see `gantry-spec` for the conversion from YAML).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::data_uri::DataUri;
use crate::ids::TeamPath;
use crate::money::Money;
use crate::placement_terms::{Cloud, Glob, SpotPolicy};
use crate::resources::PodResources;

/// Named priority classes.
pub mod priority_class {
    /// `low`.
    pub const LOW: u32 = 0;
    /// `normal`, the default.
    pub const NORMAL: u32 = 100;
    /// `high`.
    pub const HIGH: u32 = 1000;
    /// The largest priority accepted.
    pub const MAX: u32 = 1_000_000;
}

/// Default expected runtime when neither the spec nor history says.
pub const DEFAULT_EXPECTED_RUNTIME: Duration = Duration::from_secs(3600);

/// The two kinds of job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Runs to completion; replicas are a gang.
    Training,
    /// Serves until cancelled; replicas scale in a range.
    Inference,
}

impl JobKind {
    /// The spec `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Training => "TrainingJob",
            JobKind::Inference => "InferenceService",
        }
    }
}

/// How many replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Replicas {
    /// All placed at once in one cluster, or none.
    Gang {
        /// Nodes of the gang.
        count: u32,
    },
    /// Between `min` and `max` serving, possibly over several clusters.
    Range {
        /// Fewest.
        min: u32,
        /// Most.
        max: u32,
    },
}

impl Replicas {
    /// The replicas that must be placed for the job to start.
    pub fn required(self) -> u32 {
        match self {
            Replicas::Gang { count } => count,
            Replicas::Range { min, .. } => min,
        }
    }
}

/// Where a job may run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Allowed clouds; empty means all.
    pub clouds: BTreeSet<Cloud>,
    /// Allowed regions; empty means all.
    pub regions: Vec<Glob>,
    /// Allowed clusters by name; empty means all.
    pub clusters: Vec<Glob>,
    /// Spot policy.
    pub spot: SpotPolicy,
    /// Most the whole job may cost per hour.
    pub max_hourly_cost: Option<Money>,
}

impl Placement {
    /// Is `cloud` allowed?
    pub fn allows_cloud(&self, cloud: Cloud) -> bool {
        self.clouds.is_empty() || self.clouds.contains(&cloud)
    }

    /// Is `region` allowed?
    pub fn allows_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|glob| glob.matches(region))
    }

    /// Is the cluster named `cluster` allowed?
    pub fn allows_cluster(&self, cluster: &str) -> bool {
        self.clusters.is_empty() || self.clusters.iter().any(|glob| glob.matches(cluster))
    }
}

/// An input data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataInput {
    /// Where it is.
    pub uri: DataUri,
    /// How big, if the spec says.
    pub size_bytes: Option<u64>,
}

/// Checkpointing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Where checkpoints go.
    pub uri: DataUri,
    /// How often.
    pub every: Duration,
}

/// What only a service has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Port the server listens on.
    pub port: u16,
    /// Readiness probe path.
    pub readiness_path: String,
    /// Seconds before the first probe.
    pub readiness_initial_delay_seconds: u32,
    /// Seconds between probes.
    pub readiness_period_seconds: u32,
}

/// A checked job spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// Training or inference.
    pub kind: JobKind,
    /// DNS-1123 label, unique per team among live jobs.
    pub name: String,
    /// Quota owner.
    pub team: TeamPath,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Container image.
    pub image: String,
    /// Entrypoint.
    pub command: Vec<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Per replica.
    pub resources: PodResources,
    /// Replicas.
    pub replicas: Replicas,
    /// Where it may run.
    pub placement: Placement,
    /// Inputs.
    pub data: Vec<DataInput>,
    /// Checkpointing.
    pub checkpoint: Option<Checkpoint>,
    /// Expected runtime, when the spec gives one.
    pub expected_runtime: Option<Duration>,
    /// Hard runtime limit.
    pub max_runtime: Option<Duration>,
    /// Higher first.
    pub priority: u32,
    /// May a higher-priority job stop this one?
    pub preemptible: bool,
    /// Attempts after a failure.
    pub retries: u32,
    /// For services.
    pub service: Option<ServiceSpec>,
}

impl JobSpec {
    /// Expected runtime, or the default.
    pub fn expected_runtime_or_default(&self) -> Duration {
        self.expected_runtime.unwrap_or(DEFAULT_EXPECTED_RUNTIME)
    }

    /// Total input size in bytes, counting inputs of unknown size as 0.
    pub fn known_data_bytes(&self) -> u64 {
        self.data
            .iter()
            .filter_map(|input| input.size_bytes)
            .fold(0u64, u64::saturating_add)
    }
}
