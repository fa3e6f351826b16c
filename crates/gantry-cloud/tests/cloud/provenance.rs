//! Provenance: the record as an OpenLineage event (checked by the
//! openlineage-python client), written to fake-gcs-server; at least once,
//! retried, never blocking.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gantry_cloud::gcs::{FakeGcs, GcsApi, GcsClient, GcsConfig, LocationType, ObjectInfo};
use gantry_cloud::provenance::{
    ProvenanceConfig, ProvenanceExporter, RunInput, RunPlacement, RunRecord, SubmitError,
    object_name, run_event, run_id,
};
use gantry_core::{CapacityType, Cloud, JobState, Money};
use serde_json::Value;

use crate::support::{at, create_emulator_bucket, gcs_url, unique_bucket};

fn record(state: JobState) -> RunRecord {
    RunRecord {
        job_id: "j-01jh2k3m4n5p6q7r8s9t".to_owned(),
        attempt: 2,
        team: "org/nlp".to_owned(),
        job_name: "llama-8b-sft".to_owned(),
        kind: "TrainingJob".to_owned(),
        submitter: Some("alice@example.com".to_owned()),
        spec_digest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            .to_owned(),
        image: "ghcr.io/acme/trainer@sha256:0123".to_owned(),
        final_state: state,
        reason: "all replicas exited 0".to_owned(),
        started_at: Some(at("2026-01-05T09:00:00Z")),
        finished_at: at("2026-01-05T15:00:00Z"),
        placement: Some(RunPlacement {
            cluster: "aws-use1".to_owned(),
            cloud: Cloud::Aws,
            region: "us-east-1".to_owned(),
            zone: "us-east-1a".to_owned(),
            instance_type: "p4d.24xlarge".to_owned(),
            capacity_type: CapacityType::Spot,
            replicas: 4,
            hourly_price: Money::from_micros(31_519_600),
            price_source: "live".to_owned(),
        }),
        inputs: vec![
            RunInput {
                uri: "gs://acme-datasets/sft-v3/".to_owned(),
                size_bytes: Some(536_870_912_000),
                object_count: Some(2),
                generations_digest: Some("ab".repeat(32)),
                objects: vec![
                    ObjectInfo {
                        name: "sft-v3/a.parquet".to_owned(),
                        size: 268_435_456_000,
                        generation: 1_767_600_000_000_001,
                    },
                    ObjectInfo {
                        name: "sft-v3/b.parquet".to_owned(),
                        size: 268_435_456_000,
                        generation: 1_767_600_000_000_002,
                    },
                ],
                location: Some("US-CENTRAL1".to_owned()),
                location_type: Some("region".to_owned()),
            },
            RunInput::declared("https://huggingface.co/meta-llama/Llama-3-8B", None),
        ],
    }
}

#[test]
fn the_event_has_the_openlineage_run_event_shape() {
    let event = run_event(
        &record(JobState::Succeeded),
        "gantry",
        "https://example.invalid/gantry",
    )
    .unwrap();
    assert_eq!(event["eventType"], "COMPLETE");
    assert_eq!(event["eventTime"], "2026-01-05T15:00:00Z");
    assert_eq!(
        event["schemaURL"],
        "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    );
    assert_eq!(event["producer"], "https://example.invalid/gantry");
    assert_eq!(event["run"]["runId"], run_id("j-01jh2k3m4n5p6q7r8s9t", 2));
    assert_eq!(event["job"]["namespace"], "gantry");
    assert_eq!(event["job"]["name"], "org/nlp/llama-8b-sft");
    assert_eq!(event["job"]["facets"]["jobType"]["processingType"], "BATCH");
    let facets = &event["run"]["facets"];
    assert_eq!(
        facets["gantry_spec"]["specDigest"],
        record(JobState::Succeeded).spec_digest
    );
    assert_eq!(
        facets["gantry_image"]["image"],
        "ghcr.io/acme/trainer@sha256:0123"
    );
    assert_eq!(facets["gantry_placement"]["hourlyPrice"], "31.5196");
    assert_eq!(
        facets["gantry_placement"]["hourlyPriceMicroUsd"],
        31_519_600
    );
    assert_eq!(facets["gantry_placement"]["capacityType"], "spot");
    assert_eq!(facets["gantry_submitter"]["submitter"], "alice@example.com");
    assert_eq!(facets["gantry_finalState"]["state"], "Succeeded");
    for (name, facet) in facets.as_object().unwrap() {
        assert!(
            facet["_producer"].is_string() && facet["_schemaURL"].is_string(),
            "{name}"
        );
    }
    let input = &event["inputs"][0];
    assert_eq!(input["namespace"], "gs://acme-datasets");
    assert_eq!(input["name"], "sft-v3/");
    assert_eq!(
        input["inputFacets"]["inputStatistics"]["size"],
        536_870_912_000_u64
    );
    assert_eq!(input["inputFacets"]["inputStatistics"]["fileCount"], 2);
    assert_eq!(
        input["facets"]["version"]["datasetVersion"],
        "ab".repeat(32)
    );
    assert_eq!(
        input["facets"]["gantry_gcsObjects"]["objects"][1]["generation"],
        "1767600000000002"
    );
    assert_eq!(event["inputs"][1]["namespace"], "https://huggingface.co");
    assert_eq!(event["inputs"][1]["facets"], serde_json::json!({}));
}

#[test]
fn event_types_follow_the_final_state_and_unfinished_runs_are_refused() {
    let event_type =
        |state| run_event(&record(state), "gantry", "p").map(|event| event["eventType"].clone());
    assert_eq!(event_type(JobState::Failed).unwrap(), "FAIL");
    assert_eq!(event_type(JobState::Cancelled).unwrap(), "ABORT");
    assert_eq!(event_type(JobState::Preempted).unwrap(), "ABORT");
    for state in [JobState::Queued, JobState::Running, JobState::Rejected] {
        assert!(event_type(state).is_err(), "{state}");
    }
}

#[test]
fn run_ids_are_uuids_stable_per_attempt() {
    let id = run_id("j-1", 1);
    assert_eq!(id, run_id("j-1", 1));
    assert_ne!(id, run_id("j-1", 2));
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|part| part.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('8'), "version 8: {id}");
    assert!(
        matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
        "variant: {id}"
    );
}

/// The openlineage-python check, shared with gantryd's end-to-end test.
const PYTHON_OPENLINEAGE_CHECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/openlineage_check.py"
);

#[tokio::test]
async fn a_finished_run_lands_in_the_bucket_and_parses_as_an_openlineage_event() {
    let url = gcs_url();
    let bucket = unique_bucket("lineage");
    create_emulator_bucket(&url, &bucket).await;
    let api: Arc<dyn GcsApi> = Arc::new(GcsClient::new(&GcsConfig::emulator(&url)).await.unwrap());
    let config = ProvenanceConfig::new(&bucket, "lineage/");
    let exporter = ProvenanceExporter::start(Arc::clone(&api), config.clone());
    let run = record(JobState::Succeeded);
    exporter.submit(&run).unwrap();
    let stats = exporter.shutdown(Duration::from_secs(30)).await;
    assert_eq!(
        (stats.submitted, stats.written, stats.failed),
        (1, 1, 0),
        "{stats:?}"
    );

    let name = object_name(&config.prefix, &run);
    assert_eq!(
        name,
        "lineage/org/nlp/llama-8b-sft/j-01jh2k3m4n5p6q7r8s9t/attempt-2.json"
    );
    let body = api.get_object(&bucket, &name).await.unwrap();
    let written: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        written,
        run_event(&run, &config.namespace, &config.producer).unwrap()
    );

    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let object_url = format!("{url}/storage/v1/b/{bucket}/o/{encoded}?alt=media");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(PYTHON_OPENLINEAGE_CHECK).arg(object_url).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| {
        panic!("cannot run python3 ({error}); install Python 3 and `python3 -m pip install openlineage-python` (.ci/run does)")
    });
    if output.status.code() == Some(3) {
        panic!(
            "the Python package openlineage-python is missing: `python3 -m pip install openlineage-python` (.ci/run installs it): {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(
        output.status.success(),
        "openlineage-python refused the record:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(parsed["eventType"], "COMPLETE");
    assert_eq!(parsed["runId"], run_id(&run.job_id, run.attempt));
}

#[tokio::test(start_paused = true)]
async fn writes_are_retried_through_an_outage_and_land_once_it_ends() {
    let fake = FakeGcs::new();
    fake.create_bucket("lineage", "US", LocationType::MultiRegion);
    fake.set_unavailable(true);
    let exporter =
        ProvenanceExporter::start(Arc::new(fake.clone()), ProvenanceConfig::new("lineage", ""));
    exporter.submit(&record(JobState::Failed)).unwrap();
    // 1s, 2s, 4s: three failed attempts by 7s.
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    assert_eq!(exporter.stats().retries, 4);
    assert_eq!(fake.puts(), 0);
    fake.set_unavailable(false);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stats = exporter.stats();
    assert_eq!(
        (stats.written, stats.failed, stats.pending()),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(fake.puts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_record_is_given_up_after_its_attempts_and_the_next_one_still_goes_out() {
    let fake = FakeGcs::new();
    fake.create_bucket("lineage", "US", LocationType::MultiRegion);
    fake.forbid("lineage");
    let mut config = ProvenanceConfig::new("lineage", "");
    config.max_attempts = 3;
    let exporter = ProvenanceExporter::start(Arc::new(fake.clone()), config);
    exporter.submit(&record(JobState::Cancelled)).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stats = exporter.stats();
    assert_eq!(
        (stats.retries, stats.failed, stats.written),
        (2, 1, 0),
        "{stats:?}"
    );
    let finished = exporter.shutdown(Duration::from_secs(1)).await;
    assert_eq!(finished.failed, 1);
}

#[tokio::test]
async fn submit_never_waits_and_a_full_queue_drops_loudly() {
    let fake = FakeGcs::new();
    fake.create_bucket("lineage", "US", LocationType::MultiRegion);
    fake.set_unavailable(true);
    let mut config = ProvenanceConfig::new("lineage", "");
    config.queue_capacity = 2;
    config.initial_backoff = Duration::from_secs(3600);
    let exporter = ProvenanceExporter::start(Arc::new(fake), config);
    let started = Instant::now();
    let mut results = Vec::new();
    for attempt in 1..=5 {
        let mut run = record(JobState::Succeeded);
        run.attempt = attempt;
        results.push(exporter.submit(&run));
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "submit waited {:?}",
        started.elapsed()
    );
    let dropped = results
        .iter()
        .filter(|result| matches!(result, Err(SubmitError::QueueFull { .. })))
        .count();
    assert!(dropped >= 2, "{results:?}");
    assert_eq!(exporter.stats().dropped, u64::try_from(dropped).unwrap());
    let unfinished = exporter.submit(&record(JobState::Running)).unwrap_err();
    assert!(matches!(unfinished, SubmitError::NotFinished(_)));
    drop(Bytes::new());
}
