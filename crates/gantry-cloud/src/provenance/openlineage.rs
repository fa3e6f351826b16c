//! A [`RunRecord`] as an OpenLineage `RunEvent` (spec 2-0-2), as JSON.
//!
//! Shape: `eventType` (`COMPLETE` for Succeeded, `FAIL` for Failed, `ABORT` for
//! Cancelled and Preempted), `eventTime` (the end, RFC 3339), `run` (`runId`, a
//! UUID derived from the job id and attempt, so a retried write is the same
//! event; `facets`), `job` (`namespace`, `name` = `team/job-name`, the standard
//! `jobType` facet), `inputs` (GCS naming: namespace `gs://bucket`, name the
//! prefix; the standard `inputStatistics` input facet with size and object
//! count, the standard `version` facet with the generations digest, and
//! `gantry_gcsObjects` with object generations), `outputs` (none), `producer`
//! and `schemaURL`.
//!
//! Gantry's own run facets, each with `_producer` and `_schemaURL`:
//! `gantry_spec` (spec digest, job id, attempt, kind), `gantry_image`,
//! `gantry_placement` (cluster, cloud, region, zone, instance type, capacity
//! type, replicas, hourly price as a dollar string and micro-dollars, price
//! source), `gantry_submitter` (submitter, team) and `gantry_finalState`
//! (state, reason, start and end). The standard `processing_engine` facet
//! names Gantry and its version.

use gantry_core::JobState;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::provenance::record::{RunInput, RunRecord};

/// The OpenLineage spec version of the events.
pub const RUN_EVENT_SCHEMA_URL: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const JOB_TYPE_SCHEMA_URL: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const PROCESSING_ENGINE_SCHEMA_URL: &str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
const INPUT_STATISTICS_SCHEMA_URL: &str = "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet";
const DATASET_VERSION_SCHEMA_URL: &str = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";

/// The default `producer`: this crate, at this version.
pub fn default_producer() -> String {
    format!(
        "{}/tree/v{}/crates/gantry-cloud",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    )
}

/// Why a record cannot be an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    /// The run has not finished.
    #[error(
        "job {job_id} attempt {attempt} is {state}, not finished; provenance is written when a run ends"
    )]
    NotFinished {
        /// The job.
        job_id: String,
        /// The attempt.
        attempt: u32,
        /// Its state.
        state: JobState,
    },
}

/// The OpenLineage event type of a finished state.
fn event_type(state: JobState) -> Option<&'static str> {
    match state {
        JobState::Succeeded => Some("COMPLETE"),
        JobState::Failed => Some("FAIL"),
        JobState::Cancelled | JobState::Preempted => Some("ABORT"),
        JobState::Queued
        | JobState::Placed
        | JobState::Launching
        | JobState::Running
        | JobState::Rejected => None,
    }
}

/// A UUID (RFC 9562 version 8, name-based on SHA-256) for one attempt of one job.
pub fn run_id(job_id: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("gantry-run\0{job_id}\0{attempt}").as_bytes());
    let mut bytes = [0_u8; 16];
    for (slot, byte) in bytes.iter_mut().zip(digest.iter()) {
        *slot = *byte;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default().to_owned();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

fn facet_schema(name: &str) -> String {
    format!(
        "{}/spec/facets/1-0-0/{name}.json#/$defs/{name}",
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// A facet: `_producer`, `_schemaURL`, then `fields`.
fn facet(producer: &str, schema_url: &str, fields: Value) -> Value {
    let mut object = Map::new();
    object.insert("_producer".to_owned(), json!(producer));
    object.insert("_schemaURL".to_owned(), json!(schema_url));
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    Value::Object(object)
}

fn input_dataset(input: &RunInput, producer: &str) -> Value {
    let (namespace, name) = match input.uri.split_once("://") {
        Some((scheme, rest)) => {
            let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
            (
                format!("{scheme}://{bucket}"),
                if path.is_empty() {
                    "/".to_owned()
                } else {
                    path.to_owned()
                },
            )
        }
        None => (input.uri.clone(), "/".to_owned()),
    };
    let mut facets = Map::new();
    if let Some(digest) = &input.generations_digest {
        facets.insert(
            "version".to_owned(),
            facet(
                producer,
                DATASET_VERSION_SCHEMA_URL,
                json!({ "datasetVersion": digest }),
            ),
        );
    }
    if input.object_count.is_some() || input.location.is_some() {
        let objects: Vec<Value> = input
            .objects
            .iter()
            .map(|object| {
                json!({
                    "name": object.name,
                    "size": object.size,
                    "generation": object.generation.to_string(),
                })
            })
            .collect();
        facets.insert(
            "gantry_gcsObjects".to_owned(),
            facet(
                producer,
                &facet_schema("GantryGcsObjectsDatasetFacet"),
                json!({
                    "objectCount": input.object_count,
                    "generationsDigest": input.generations_digest,
                    "objects": objects,
                    "location": input.location,
                    "locationType": input.location_type,
                }),
            ),
        );
    }
    let mut input_facets = Map::new();
    if input.size_bytes.is_some() || input.object_count.is_some() {
        let mut statistics = Map::new();
        if let Some(size) = input.size_bytes {
            statistics.insert("size".to_owned(), json!(size));
        }
        if let Some(count) = input.object_count {
            statistics.insert("fileCount".to_owned(), json!(count));
        }
        input_facets.insert(
            "inputStatistics".to_owned(),
            facet(
                producer,
                INPUT_STATISTICS_SCHEMA_URL,
                Value::Object(statistics),
            ),
        );
    }
    json!({
        "namespace": namespace,
        "name": name,
        "facets": facets,
        "inputFacets": input_facets,
    })
}

/// The event for `record`, written by `producer` into job namespace `namespace`.
pub fn run_event(
    record: &RunRecord,
    namespace: &str,
    producer: &str,
) -> Result<Value, ProvenanceError> {
    let Some(event_type) = event_type(record.final_state) else {
        return Err(ProvenanceError::NotFinished {
            job_id: record.job_id.clone(),
            attempt: record.attempt,
            state: record.final_state,
        });
    };
    let mut run_facets = Map::new();
    run_facets.insert(
        "processing_engine".to_owned(),
        facet(
            producer,
            PROCESSING_ENGINE_SCHEMA_URL,
            json!({ "name": "gantry", "version": env!("CARGO_PKG_VERSION") }),
        ),
    );
    run_facets.insert(
        "gantry_spec".to_owned(),
        facet(
            producer,
            &facet_schema("GantrySpecRunFacet"),
            json!({
                "specDigest": record.spec_digest,
                "jobId": record.job_id,
                "attempt": record.attempt,
                "kind": record.kind,
            }),
        ),
    );
    run_facets.insert(
        "gantry_image".to_owned(),
        facet(
            producer,
            &facet_schema("GantryImageRunFacet"),
            json!({ "image": record.image }),
        ),
    );
    if let Some(placement) = &record.placement {
        run_facets.insert(
            "gantry_placement".to_owned(),
            facet(
                producer,
                &facet_schema("GantryPlacementRunFacet"),
                json!({
                    "cluster": placement.cluster,
                    "cloud": placement.cloud.as_str(),
                    "region": placement.region,
                    "zone": placement.zone,
                    "instanceType": placement.instance_type,
                    "capacityType": placement.capacity_type.as_str(),
                    "replicas": placement.replicas,
                    "hourlyPrice": placement.hourly_price.to_string(),
                    "hourlyPriceMicroUsd": placement.hourly_price.micros(),
                    "currency": "USD",
                    "priceSource": placement.price_source,
                }),
            ),
        );
    }
    run_facets.insert(
        "gantry_submitter".to_owned(),
        facet(
            producer,
            &facet_schema("GantrySubmitterRunFacet"),
            json!({ "submitter": record.submitter, "team": record.team }),
        ),
    );
    run_facets.insert(
        "gantry_finalState".to_owned(),
        facet(
            producer,
            &facet_schema("GantryFinalStateRunFacet"),
            json!({
                "state": record.final_state.as_str(),
                "reason": record.reason,
                "startedAt": record.started_at.map(|at| at.to_string()),
                "finishedAt": record.finished_at.to_string(),
            }),
        ),
    );
    let processing_type = if record.kind == "InferenceService" {
        "SERVICE"
    } else {
        "BATCH"
    };
    let mut job_facets = Map::new();
    job_facets.insert(
        "jobType".to_owned(),
        facet(
            producer,
            JOB_TYPE_SCHEMA_URL,
            json!({
                "processingType": processing_type,
                "integration": "GANTRY",
                "jobType": record.kind,
            }),
        ),
    );
    let inputs: Vec<Value> = record
        .inputs
        .iter()
        .map(|input| input_dataset(input, producer))
        .collect();
    Ok(json!({
        "eventType": event_type,
        "eventTime": record.finished_at.to_string(),
        "run": { "runId": run_id(&record.job_id, record.attempt), "facets": run_facets },
        "job": {
            "namespace": namespace,
            "name": format!("{}/{}", record.team, record.job_name),
            "facets": job_facets,
        },
        "inputs": inputs,
        "outputs": [],
        "producer": producer,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
    }))
}

/// Where the record of one run is written under `prefix`:
/// `{prefix}{team}/{job-name}/{job-id}/attempt-{n}.json`. One name per run, so
/// a retried write replaces, never duplicates.
pub fn object_name(prefix: &str, record: &RunRecord) -> String {
    format!(
        "{prefix}{}/{}/{}/attempt-{}.json",
        record.team, record.job_name, record.job_id, record.attempt
    )
}
