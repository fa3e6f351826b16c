//! Dev mode: every example through its whole life, idempotent submits,
//! clear refusals, quotes, the fleet, cancel, clean shutdown.

use std::time::Duration;

use gantry_proto as pb;
use tonic_types::StatusExt;

use crate::support::{
    Daemon, TIME_SCALE, all_jobs, events_until_end, example, submit, transitions, wait_state,
};

const LONG: Duration = Duration::from_secs(90);

fn dev(dir: &std::path::Path) -> Daemon {
    Daemon::start(dir, &["--time-scale", TIME_SCALE, "--data-dir", ".gantry"])
}

#[tokio::test]
async fn every_example_reaches_its_final_state_with_its_event_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    assert!(
        daemon
            .log_text()
            .lines()
            .next()
            .unwrap_or_default()
            .contains("gantryd starting in dev mode"),
        "the first log line says dev mode:\n{}",
        daemon.log_text()
    );
    let mut client = daemon.jobs().await;
    let examples = [
        "budget-capped.yaml",
        "cpu-preprocess.yaml",
        "eu-residency.yaml",
        "eval-high-priority.yaml",
        "finetune-1gpu.yaml",
        "pretrain-gang-4x8-h100.yaml",
        "sweep-member-spot.yaml",
        "inference-vllm.yaml",
    ];
    let mut ids = Vec::new();
    for name in examples {
        let response = submit(&mut client, &example(name), "").await.unwrap();
        assert!(response.created, "{name}");
        let job = response.job.unwrap();
        assert_eq!(
            job.state,
            pb::JobState::Queued as i32,
            "{name}: {}",
            job.reason
        );
        ids.push((name, job.id));
    }
    for (name, id) in &ids {
        if *name == "inference-vllm.yaml" {
            let job = wait_state(&mut client, id, pb::JobState::Running, LONG).await;
            let placement = job.placement.unwrap();
            assert!(
                ["L4", "A10G"].contains(&placement.gpu_model.as_str()),
                "{placement:?}"
            );
            let cancelled = client
                .cancel_job(pb::CancelJobRequest {
                    id: id.clone(),
                    reason: "test over".to_owned(),
                })
                .await
                .unwrap()
                .into_inner()
                .job
                .unwrap();
            assert_eq!(cancelled.state, pb::JobState::Cancelled as i32);
            let events = events_until_end(&mut client, id, LONG).await;
            assert_eq!(
                transitions(&events),
                ["Accept", "Place", "Launch", "Start", "Cancel"],
                "{name}"
            );
            continue;
        }
        let events = events_until_end(&mut client, id, LONG).await;
        assert_eq!(
            transitions(&events),
            ["Accept", "Place", "Launch", "Start", "Succeed"],
            "{name}: {events:#?}"
        );
        let last = events.last().unwrap();
        assert_eq!(last.to_state, pb::JobState::Succeeded as i32);
        assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        assert_eq!(events[1].actor, "scheduler");
        assert_eq!(events[2].actor, "executor");
    }
    // Placements follow the specs' constraints.
    let jobs = all_jobs(&mut client).await;
    let find = |prefix: &str| {
        jobs.iter()
            .find(|job| job.id.starts_with(prefix))
            .and_then(|job| job.placement.clone())
            .unwrap()
    };
    assert_eq!(
        find("clinical-ner-finetune").region,
        "westeurope",
        "EU residency"
    );
    assert_eq!(
        find("vit-sweep").capacity_type,
        pb::CapacityType::Spot as i32,
        "spot: required"
    );
    assert_eq!(find("llama-8b-pretrain").replicas, 4);
    assert_eq!(find("tokenize-web").gpu_model, "", "CPU only");
    // describe: events and the explanation.
    let described = client
        .get_job(pb::GetJobRequest {
            id: ids[5].1.clone(),
            include_events: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.events.len(), 5);
    // The decision outlives the job: the Place event keeps its candidates.
    let explanation = described.explanation.unwrap();
    assert!(!explanation.candidates.is_empty());
    assert_eq!(
        explanation.candidates[0].rejection,
        pb::RejectionKind::None as i32,
        "the chosen one first"
    );
    assert_eq!(
        explanation.candidates[0].cluster,
        find("llama-8b-pretrain").cluster
    );
    let stop = daemon.stop();
    assert!(stop.success(), "clean exit on SIGTERM");
}

#[tokio::test]
async fn the_same_request_id_makes_one_job_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    let mut client = daemon.jobs().await;
    let spec = example("finetune-1gpu.yaml");
    let first = submit(&mut client, &spec, "req-1").await.unwrap();
    let again = submit(&mut client, &spec, "req-1").await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.job.unwrap().id, again.job.unwrap().id);
    // Concurrent retries of one request id: one job.
    let other = example("sweep-member-spot.yaml");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut client = daemon.jobs().await;
        let other = other.clone();
        tasks.push(tokio::spawn(async move {
            submit(&mut client, &other, "req-2")
                .await
                .unwrap()
                .job
                .unwrap()
                .id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(all_jobs(&mut client).await.len(), 2);

    // Every spec error at once, as BadRequest field violations.
    let broken = "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata:\n  name: Bad_Name\n  team: nlp\nspec:\n  image: x\n  resources:\n    gpu: {count: eight, types: [H100]}\n    memory: 10GB\n  prority: 1\n";
    let status = submit(&mut client, broken, "").await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let violations = status.get_details_bad_request().unwrap().field_violations;
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    for field in [
        "metadata.name",
        "spec.resources.gpu.count",
        "spec.resources.memory",
        "spec.prority",
    ] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
    assert!(
        status.message().contains("did you mean `priority`"),
        "{}",
        status.message()
    );
    // A job no cluster could ever fit is rejected at submit, with the reason.
    // (Its own name: the first job may still be live, and a live name is
    // refused before the fleet is asked.)
    let impossible = spec
        .replace("name: mistral-7b-lora", "name: impossible-lora")
        .replace("count: 1", "count: 16");
    let rejected = submit(&mut client, &impossible, "")
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(rejected.state, pb::JobState::Rejected as i32);
    assert!(
        rejected.reason.contains("could ever run it"),
        "{}",
        rejected.reason
    );
    // A live name is unique per team.
    let long = spec
        .replace("name: mistral-7b-lora", "name: long-lora")
        .replace("expectedRuntime: 3h", "expectedRuntime: 1000h")
        .replace("maxRuntime: 8h", "maxRuntime: 2000h");
    submit(&mut client, &long, "").await.unwrap();
    let duplicate = submit(&mut client, &long, "").await.unwrap_err();
    assert_eq!(
        duplicate.code(),
        tonic::Code::AlreadyExists,
        "{duplicate:?}"
    );
    // Unknown ids.
    let missing = client
        .get_job(pb::GetJobRequest {
            id: "no-such-job".to_owned(),
            include_events: false,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert_eq!(
        all_jobs(&mut client).await.len(),
        4,
        "refusals created nothing"
    );
}

#[tokio::test]
async fn quotes_rank_placements_and_the_fleet_lists_priced_pools() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    let mut fleet = daemon.fleet().await;
    let deadline = tokio::time::Instant::now() + LONG;
    let clusters = loop {
        let clusters = fleet
            .list_clusters(pb::ListClustersRequest {})
            .await
            .unwrap()
            .into_inner()
            .clusters;
        if clusters.len() == 3 && clusters.iter().all(|c| !c.pools.is_empty()) {
            break clusters;
        }
        assert!(tokio::time::Instant::now() < deadline, "{clusters:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for cluster in &clusters {
        assert_eq!(cluster.health, pb::ClusterHealth::Reachable as i32);
        for pool in &cluster.pools {
            assert!(
                pool.price_per_node_hour_micro_usd > 0,
                "{} {pool:?}",
                cluster.name
            );
        }
    }
    let mut client = daemon.jobs().await;
    let quote = client
        .quote_job(pb::QuoteJobRequest {
            spec: Some(pb::quote_job_request::Spec::SpecYaml(example(
                "finetune-1gpu.yaml",
            ))),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(quote.ever_fits);
    assert!(quote.placements.len() >= 2, "{quote:#?}");
    let totals: Vec<i64> = quote
        .placements
        .iter()
        .map(|p| p.expected_cost.as_ref().map_or(0, |c| c.total_micro_usd))
        .collect();
    assert!(
        totals.windows(2).all(|pair| pair[0] <= pair[1]),
        "ranked: {totals:?}"
    );
    assert_eq!(
        all_jobs(&mut client).await.len(),
        0,
        "a quote creates nothing"
    );
    let quotas = fleet
        .list_quotas(pb::ListQuotasRequest {})
        .await
        .unwrap()
        .into_inner()
        .teams;
    let nlp = quotas.iter().find(|team| team.team == "nlp").unwrap();
    assert_eq!(nlp.gpus_limit, Some(16));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_serves_metrics_a_prometheus_parser_reads() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    let mut client = daemon.jobs().await;
    let job = submit(&mut client, &example("cpu-preprocess.yaml"), "")
        .await
        .unwrap()
        .job
        .unwrap();
    wait_state(&mut client, &job.id, pb::JobState::Succeeded, LONG).await;
    // The snapshot behind /metrics refreshes a few times a second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let script = r#"
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
base = sys.argv[1]
text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
families = {f.name: f for f in text_string_to_metric_families(text)}
jobs = {s.labels["state"]: s.value for s in families["gantry_jobs"].samples}
assert jobs["Succeeded"] == 1, jobs
latency = families["gantry_placement_latency_seconds"]
count = [s.value for s in latency.samples if s.name.endswith("_count")][0]
assert count >= 1, count
clusters = {s.labels["cluster"] for s in families["gantry_cluster_up"].samples}
assert clusters == {"aws-us-east-1", "gcp-us-central1", "azure-westeurope"}, clusters
ready = urllib.request.urlopen(base + "/readyz", timeout=10)
assert ready.status == 200
status = json.load(urllib.request.urlopen(base + "/api/v1/status", timeout=10))
assert len(status["clusters"]) == 3
page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
assert "aws-us-east-1" in page and "refresh" in page
print("status endpoint ok")
"#;
    let base = format!("http://{}", daemon.http);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script, &base])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "status checks failed (prometheus-client installed? `pip install prometheus-client`):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
