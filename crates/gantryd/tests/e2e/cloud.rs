//! The cloud adapters in the daemon, against the real emulators: `gantryd`
//! with `aws:` pointed at moto prices its AWS pools from the live feed,
//! flagging moto's placeholder spot prices and keeping the table's; with
//! `gcs:` pointed at fake-gcs-server, a quote prices egress from the bucket's
//! real region and the bytes under the prefix; with `provenance:`, a finished
//! job's record lands in the bucket and openlineage-python reads it; a
//! preempted job that checkpoints is placed again only once its checkpoint
//! prefix was found in the bucket.

use std::process::Command;
use std::time::Duration;

use gantry_proto as pb;
use serde_json::Value;

use crate::support::{Daemon, TIME_SCALE, fake_gcs, moto, repo, submit, wait_state};

/// What the job reads: three objects, 3 MiB in all.
const OBJECT_BYTES: usize = 1 << 20;
const OBJECTS: usize = 3;

fn unique(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{stem}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

async fn create_bucket(client: &reqwest::Client, url: &str, bucket: &str) {
    let response = client
        .post(format!("{url}/storage/v1/b?project=gantry-e2e"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"{bucket}"}}"#))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "creating {bucket}: {}",
        response.status()
    );
}

async fn put_object(client: &reqwest::Client, url: &str, bucket: &str, name: &str, body: Vec<u8>) {
    let response = client
        .post(format!(
            "{url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"
        ))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "writing gs://{bucket}/{name}: {}",
        response.status()
    );
}

async fn object_names(client: &reqwest::Client, url: &str, bucket: &str) -> Vec<String> {
    let response = client
        .get(format!("{url}/storage/v1/b/{bucket}/o"))
        .send()
        .await
        .unwrap();
    let listing: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    listing["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The body of a GET.
async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The dev fleet, with absolute price table paths (the config is written
/// elsewhere).
fn dev_fleet() -> String {
    let prices = repo().join("deploy/prices");
    std::fs::read_to_string(repo().join("examples/fleet-dev.yaml"))
        .unwrap()
        .replace("../deploy/prices", prices.to_str().unwrap())
}

/// The p4d pool as the dev fleet has it, and with less memory than EC2 says
/// a p4d.24xlarge has (1152 GiB).
const P4D_POOL: &str = "cpu: 96, memory: 1152Gi, nodes: 2, zone: us-east-1b}";
const P4D_POOL_SHORT: &str = "cpu: 96, memory: 1024Gi, nodes: 2, zone: us-east-1b}";

/// The dev fleet (its p4d nodes short of memory) and the three cloud APIs.
fn config(moto: &str, gcs: &str, provenance_bucket: &str) -> String {
    let fleet = dev_fleet();
    assert!(fleet.contains(P4D_POOL), "the dev fleet's p4d pool changed");
    let fleet = fleet.replace(P4D_POOL, P4D_POOL_SHORT);
    format!(
        "{fleet}
aws:
  endpoint: {moto}
  spotPrices: {{refresh: 5m, maxAge: 15m}}
gcs:
  endpoint: {gcs}
  anonymous: true
provenance:
  bucket: {provenance_bucket}
  prefix: runs/
"
    )
}

/// The `aws-us-east-1` cluster as ListClusters shows it, once `ready` holds
/// (within 60 s, else the test fails saying `what` never happened).
async fn aws_cluster_once(
    fleet: &mut pb::fleet_service_client::FleetServiceClient<tonic::transport::Channel>,
    daemon: &Daemon,
    what: &str,
    ready: impl Fn(&pb::Cluster) -> bool,
) -> pb::Cluster {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let aws = fleet
            .list_clusters(pb::ListClustersRequest::default())
            .await
            .unwrap()
            .into_inner()
            .clusters
            .into_iter()
            .find(|cluster| cluster.name == "aws-us-east-1")
            .unwrap();
        if ready(&aws) {
            return aws;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {what}: {aws:#?}\nlog:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn job(data_bucket: &str) -> String {
    format!(
        "apiVersion: gantry.dev/v1
kind: TrainingJob
metadata: {{name: lineage-check, team: nlp}}
spec:
  image: ghcr.io/acme/finetune:2.4.1
  command: [python, -m, finetune.lora]
  resources:
    gpu: {{count: 1, types: [L4]}}
    cpu: 8
    memory: 32Gi
  data:
    - uri: gs://{data_bucket}/sft/
      sizeGiB: 500
  expectedRuntime: 1h
  maxRuntime: 4h
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_prices_data_locations_and_provenance_through_the_emulators() {
    gantry_cloud::install_crypto_provider();
    let moto = moto();
    let gcs = fake_gcs();
    let http = reqwest::Client::new();
    let data_bucket = unique("e2e-data");
    let provenance_bucket = unique("e2e-lineage");
    create_bucket(&http, &gcs.url, &data_bucket).await;
    create_bucket(&http, &gcs.url, &provenance_bucket).await;
    for index in 0..OBJECTS {
        put_object(
            &http,
            &gcs.url,
            &data_bucket,
            &format!("sft/part-{index}"),
            vec![7; OBJECT_BYTES],
        )
        .await;
    }

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("gantry.yaml");
    std::fs::write(
        &config_path,
        config(&moto.url, &gcs.url, &provenance_bucket),
    )
    .unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--config",
            config_path.to_str().unwrap(),
            "--time-scale",
            TIME_SCALE,
        ],
    );

    // 0. The instance catalog: moto describes the dev fleet's AWS types, and
    // the daemon checks the table's rows against it (the pools below).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let fields = loop {
        if let Some(fields) = log_line(&daemon, "EC2 instance catalog checked", |fields| {
            Some(fields.clone())
        }) {
            break fields;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no catalog check in the log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(fields["table_mismatches"], 0, "{fields}");
    assert!(
        fields["described"].as_u64().unwrap() >= 6,
        "moto describes the dev fleet's types: {fields}"
    );

    // 1. Live prices: moto's spot prices are all the placeholder 0.00001, so
    // every AWS spot pool keeps the table's price and says why.
    let mut fleet = daemon.fleet().await;
    aws_cluster_once(
        &mut fleet,
        &daemon,
        "the AWS spot pools priced from the feed",
        |aws| {
            !aws.pools.is_empty()
                && aws
                    .pools
                    .iter()
                    .filter(|pool| pool.capacity_type == pb::CapacityType::Spot as i32)
                    .all(|pool| pool.price_note.contains("placeholder"))
        },
    )
    .await;
    // The pools the executor found on the cluster, checked against EC2's
    // catalog: only the p4d nodes, short of memory, disagree.
    let aws = aws_cluster_once(
        &mut fleet,
        &daemon,
        "an AWS pool checked against the catalog",
        |aws| aws.pools.iter().any(|pool| !pool.catalog_note.is_empty()),
    )
    .await;
    let table = gantry_core::PriceTable::parse(
        &std::fs::read_to_string(repo().join("deploy/prices/gpu-prices.csv")).unwrap(),
    )
    .unwrap()
    .table;
    for pool in &aws.pools {
        if pool.name == "p4d-a100" {
            assert_eq!(
                pool.catalog_note, "memory: nodes 1048576 MiB, ec2 1179648 MiB",
                "{pool:?}"
            );
        } else {
            assert_eq!(pool.catalog_note, "", "{pool:?}");
        }
    }
    for pool in &aws.pools {
        assert_ne!(pool.price_per_node_hour_micro_usd, 10, "{pool:?}");
        assert_eq!(pool.price_source, "price-table", "{pool:?}");
        if pool.capacity_type == pb::CapacityType::Spot as i32 {
            let spot = table
                .price(
                    gantry_core::Cloud::Aws,
                    "us-east-1",
                    None,
                    &pool.instance_type,
                    gantry_core::CapacityType::Spot,
                )
                .unwrap();
            assert_eq!(
                pool.price_per_node_hour_micro_usd,
                spot.micros(),
                "{pool:?}"
            );
        } else {
            assert!(pool.price_note.is_empty(), "{pool:?}");
        }
    }
    // The CLI shows the same, with the note.
    let cli = Command::new(
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_gantryd")).with_file_name("gantry"),
    )
    .args(["--server", &daemon.grpc, "clusters"])
    .output()
    .expect("the gantry CLI is built with the workspace");
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        text.contains("live price rejected: price 0.00001"),
        "{text}"
    );
    assert!(
        text.contains(
            "aws-us-east-1/p4d-a100 (p4d.24xlarge): memory: nodes 1048576 MiB, ec2 1179648 MiB"
        ),
        "{text}"
    );

    // 2. Data location: the bucket is in fake-gcs-server's location
    // (us-central1), so the GCP us-central1 cluster pays no egress, and the
    // others pay for the 3 MiB listed, not the 500 GiB the spec declares.
    let mut jobs = daemon.jobs().await;
    let quote = jobs
        .quote_job(pb::QuoteJobRequest {
            spec: Some(pb::quote_job_request::Spec::SpecYaml(job(&data_bucket))),
        })
        .await
        .unwrap()
        .into_inner();
    let egress = |cluster: &str| -> Vec<i64> {
        quote
            .placements
            .iter()
            .filter(|placement| placement.cluster == cluster)
            .map(|placement| placement.expected_cost.as_ref().unwrap().egress_micro_usd)
            .collect()
    };
    let (gcp, aws, azure) = (
        egress("gcp-us-central1"),
        egress("aws-us-east-1"),
        egress("azure-westeurope"),
    );
    assert!(!gcp.is_empty() && !aws.is_empty(), "{quote:#?}");
    assert!(gcp.iter().all(|egress| *egress == 0), "{gcp:?}");
    // 3 MiB at internet egress ($0.08-0.12/GiB) is well under a cent; the
    // spec's 500 GiB would be tens of dollars.
    for egress in aws.iter().chain(&azure) {
        assert!(
            (1..10_000).contains(egress),
            "{egress} micro-USD: {quote:#?}"
        );
    }

    // 3. Provenance: run it; its record lands in the bucket and parses.
    let submitted = submit(&mut jobs, &job(&data_bucket), "").await.unwrap();
    let id = submitted.job.unwrap().id;
    wait_state(
        &mut jobs,
        &id,
        pb::JobState::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let name = loop {
        let names = object_names(&http, &gcs.url, &provenance_bucket).await;
        if let Some(name) = names.into_iter().find(|name| name.contains(&id)) {
            break name;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no provenance record for {id}; log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(name.starts_with("runs/nlp/lineage-check/"), "{name}");
    let object_url = format!(
        "{}/storage/v1/b/{provenance_bucket}/o/{}?alt=media",
        gcs.url,
        name.replace('/', "%2F")
    );
    let body = get_text(&http, &object_url).await;
    let record: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["eventType"], "COMPLETE", "{record:#}");
    let input = &record["inputs"][0];
    assert_eq!(
        input["inputFacets"]["inputStatistics"]["size"],
        OBJECTS * OBJECT_BYTES,
        "{record:#}"
    );
    let placement = &record["run"]["facets"]["gantry_placement"];
    assert!(placement["cluster"].is_string(), "{record:#}");

    let check = repo().join("crates/gantry-cloud/tests/python/openlineage_check.py");
    let output = Command::new("python3")
        .arg(check)
        .arg(object_url)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "openlineage-python refused the record (exit {:?}; 3 means `pip install openlineage-python`):\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["eventType"], "COMPLETE");
    // OpenLineage's GCS naming: namespace gs://bucket, name the path.
    assert_eq!(summary["inputs"][0], "sft/", "{summary}");
    assert_eq!(
        input["namespace"],
        format!("gs://{data_bucket}"),
        "{record:#}"
    );

    // 4. Operators see the feed and the exporter: healthy, with counters.
    let readyz = get_text(&http, &format!("http://{}/readyz", daemon.http)).await;
    assert!(
        readyz.contains("ok: cloud API \"aws-spot/us-east-1\"")
            && readyz.contains(&format!(
                "ok: cloud API \"provenance gs://{provenance_bucket}\""
            )),
        "{readyz}"
    );
    let metrics = get_text(&http, &format!("http://{}/metrics", daemon.http)).await;
    let placeholders = sample(
        &metrics,
        "gantry_price_quotes_total{outcome=\"rejected\",reason=\"placeholder\"}",
    );
    assert!(placeholders.is_some_and(|count| count > 0.0), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            "gantry_provenance_records_total{outcome=\"written\"}"
        ),
        Some(1.0),
        "{metrics}"
    );

    assert!(daemon.stop().success());
}

/// The value of the sample `series` (name and labels exactly as written).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.trim();
        value.parse().ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_price_api_degrades_the_daemon_and_the_table_prices_stay() {
    gantry_cloud::install_crypto_provider();
    // A port nothing listens on: every fetch fails at once.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("gantry.yaml");
    let fleet = dev_fleet();
    std::fs::write(
        &config_path,
        format!("{fleet}\naws:\n  endpoint: {dead_url}\n"),
    )
    .unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--config",
            config_path.to_str().unwrap(),
            "--time-scale",
            TIME_SCALE,
        ],
    );
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (status, readyz) = loop {
        let response = http
            .get(format!("http://{}/readyz", daemon.http))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        if text.contains("degraded: cloud API \"aws-spot/us-east-1\"") {
            break (status, text);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failing feed never showed: {text}\nlog:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Degraded, not down: the daemon still serves.
    assert!(status.is_success(), "{status}: {readyz}");
    let metrics = get_text(&http, &format!("http://{}/metrics", daemon.http)).await;
    let failures = sample(
        &metrics,
        "gantry_price_fetch_failures_total{feed=\"aws-spot/us-east-1\"}",
    );
    assert!(failures.is_some_and(|count| count >= 1.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "gantry_cloud_api_up{api=\"aws-spot/us-east-1\"}"),
        Some(0.0),
        "{metrics}"
    );
    // And every AWS pool is still priced, from the table.
    let clusters = daemon
        .fleet()
        .await
        .list_clusters(pb::ListClustersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .clusters;
    let aws = clusters
        .iter()
        .find(|cluster| cluster.name == "aws-us-east-1")
        .unwrap();
    assert!(!aws.pools.is_empty());
    for pool in &aws.pools {
        assert_eq!(pool.price_source, "price-table", "{pool:?}");
        assert!(pool.price_per_node_hour_micro_usd > 0, "{pool:?}");
    }
    assert!(daemon.stop().success());
}

/// The first line of the daemon's JSON log with `message` for which `pick`
/// gives something.
fn log_line<T>(daemon: &Daemon, message: &str, pick: impl Fn(&Value) -> Option<T>) -> Option<T> {
    daemon
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == message)
        .find_map(|line| pick(&line["fields"]))
}

/// The URL of simulated cluster `name`, from the daemon's log.
fn simulated_cluster_url(daemon: &Daemon, name: &str) -> String {
    log_line(daemon, "simulated cluster serving", |fields| {
        (fields["cluster"] == name).then(|| fields["url"].as_str().map(str::to_owned))?
    })
    .unwrap_or_else(|| panic!("no URL for {name} in the log:\n{}", daemon.log_text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preempted_job_resumes_only_after_its_checkpoint_is_found_in_the_bucket() {
    gantry_cloud::install_crypto_provider();
    let gcs = fake_gcs();
    let http = reqwest::Client::new();
    let bucket = unique("e2e-ckpt");
    create_bucket(&http, &gcs.url, &bucket).await;
    put_object(&http, &gcs.url, &bucket, "run-1/step-100.pt", vec![1; 1024]).await;

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("gantry.yaml");
    let fleet = dev_fleet();
    let gcs_url = &gcs.url;
    std::fs::write(
        &config_path,
        format!("{fleet}\ngcs:\n  endpoint: {gcs_url}\n  anonymous: true\n"),
    )
    .unwrap();
    // Real time runs slowly enough here to interrupt the job while it runs.
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--config",
            config_path.to_str().unwrap(),
            "--time-scale",
            "60",
        ],
    );
    let spec = format!(
        "apiVersion: gantry.dev/v1
kind: TrainingJob
metadata: {{name: ckpt-resume, team: nlp}}
spec:
  image: ghcr.io/acme/finetune:2.4.1
  resources:
    gpu: {{count: 1, types: [L4]}}
    cpu: 8
    memory: 32Gi
  placement:
    clusters: [gcp-us-central1]
    spot: required
  checkpoint: {{uri: 'gs://{bucket}/run-1/', everyMinutes: 10}}
  expectedRuntime: 10h
"
    );
    let mut jobs = daemon.jobs().await;
    let id = submit(&mut jobs, &spec, "").await.unwrap().job.unwrap().id;
    wait_state(
        &mut jobs,
        &id,
        pb::JobState::Running,
        Duration::from_secs(60),
    )
    .await;

    // Reclaim the spot node its pod runs on.
    let cluster = simulated_cluster_url(&daemon, "gcp-us-central1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let node = loop {
        let pods: Value = serde_json::from_str(
            &get_text(
                &http,
                &format!("{cluster}/api/v1/pods?labelSelector=gantry.dev%2Fjob-id%3D{id}"),
            )
            .await,
        )
        .unwrap();
        if let Some(node) = pods["items"][0]["spec"]["nodeName"].as_str() {
            break node.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no bound pod: {pods}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let response = http
        .post(format!("{cluster}/sim/v1/faults"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"kind":"spotInterruption","node":"{node}"}}"#))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    // Back in the queue, checked, then placed again: in that order.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let events = loop {
        let events = jobs
            .get_job(pb::GetJobRequest {
                id: id.clone(),
                include_events: true,
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        if events
            .iter()
            .any(|event| event.transition == "Place" && event.attempt == 2)
        {
            break events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not placed again: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let position = |what: &dyn Fn(&pb::JobEvent) -> bool| events.iter().position(what);
    let requeued = position(&|e| e.transition == "Requeue").expect("a Requeue event");
    let found = position(&|e| e.reason.starts_with("CheckpointFound"))
        .unwrap_or_else(|| panic!("no CheckpointFound event: {events:#?}"));
    let placed = position(&|e| e.transition == "Place" && e.attempt == 2).unwrap();
    assert!(requeued < found && found < placed, "{events:#?}");
    assert!(
        events[found]
            .reason
            .contains(&format!("gs://{bucket}/run-1/")),
        "{}",
        events[found].reason
    );
    jobs.cancel_job(pb::CancelJobRequest {
        id,
        reason: "test over".to_owned(),
    })
    .await
    .unwrap();
}
