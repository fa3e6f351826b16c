//! What the daemon knows about one finished run: the input of the provenance
//! record. Plain values, filled from the job, its placement and its data
//! locations.

use gantry_core::{CapacityType, Cloud, JobState, Money};
use jiff::Timestamp;

use crate::gcs::{DataLocation, ObjectInfo};

/// One finished run (one attempt of one job).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    /// The job's id.
    pub job_id: String,
    /// The attempt (1 for the first run).
    pub attempt: u32,
    /// The team (quota owner), e.g. `org/nlp`.
    pub team: String,
    /// The job's name, unique per team among live jobs.
    pub job_name: String,
    /// `TrainingJob` or `InferenceService`.
    pub kind: String,
    /// Who submitted it, as authentication named them; `None` in dev mode.
    pub submitter: Option<String>,
    /// The digest of the submitted spec, e.g. `sha256:...`.
    pub spec_digest: String,
    /// The container image.
    pub image: String,
    /// How the run ended: `Succeeded`, `Failed`, `Cancelled` or `Preempted`.
    pub final_state: JobState,
    /// Why, as the job's last event says.
    pub reason: String,
    /// When it started running, if it did.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Where it ran, if it was placed.
    pub placement: Option<RunPlacement>,
    /// Its inputs.
    pub inputs: Vec<RunInput>,
}

/// Where a run ran, and at what price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPlacement {
    /// The cluster.
    pub cluster: String,
    /// The cloud.
    pub cloud: Cloud,
    /// The region.
    pub region: String,
    /// The zone.
    pub zone: String,
    /// The instance type.
    pub instance_type: String,
    /// How the capacity was bought.
    pub capacity_type: CapacityType,
    /// Replicas placed.
    pub replicas: u32,
    /// The whole job per hour.
    pub hourly_price: Money,
    /// Where the price came from (`live`, `price-table`, `pool-override`, ...).
    pub price_source: String,
}

/// One input of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInput {
    /// The data URI, e.g. `gs://acme-datasets/sft-v3/`.
    pub uri: String,
    /// Bytes read (listed, else as the spec declared).
    pub size_bytes: Option<u64>,
    /// Objects under the prefix, when listed.
    pub object_count: Option<u64>,
    /// The digest of every object's name and generation, when listed.
    pub generations_digest: Option<String>,
    /// The first objects with their sizes and generations, when listed.
    pub objects: Vec<ObjectInfo>,
    /// The bucket's location, when known.
    pub location: Option<String>,
    /// The bucket's location type, when known.
    pub location_type: Option<String>,
}

impl RunInput {
    /// An input as the spec declares it (no listing).
    pub fn declared(uri: &str, size_bytes: Option<u64>) -> RunInput {
        RunInput {
            uri: uri.to_owned(),
            size_bytes,
            object_count: None,
            generations_digest: None,
            objects: Vec::new(),
            location: None,
            location_type: None,
        }
    }

    /// An input with what [`crate::gcs::DataLocator`] found.
    pub fn from_location(location: &DataLocation) -> RunInput {
        RunInput {
            uri: location.uri.to_string(),
            size_bytes: Some(location.total_bytes),
            object_count: Some(location.object_count),
            generations_digest: Some(location.generations_digest.clone()),
            objects: location.sample.clone(),
            location: Some(location.bucket.location.clone()),
            location_type: Some(location.bucket.location_type.to_string()),
        }
    }
}
