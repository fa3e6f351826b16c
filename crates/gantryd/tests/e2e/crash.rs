//! kill -9 of gantryd in the middle of a burst of submits, against
//! `gantry-sim serve` in a process of its own (through the kubeconfig it
//! writes, with the shipped `examples/fleet-sim-external.yaml`), then a
//! restart: every acknowledged job is there, none twice, retried request ids
//! make no second job, and running work is adopted, not duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_proto as pb;
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::ListParams;

use crate::support::{Daemon, Simulator, all_jobs, repo, submit, wait_state};

const CLUSTERS: [&str; 3] = ["aws-us-east-1", "gcp-us-central1", "azure-westeurope"];

fn small_job(name: &str) -> String {
    format!(
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata: {{name: {name}, team: org/data}}\nspec:\n  image: ghcr.io/acme/tools:2.0\n  resources: {{cpu: 1, memory: 1Gi}}\n  expectedRuntime: 1000h\n"
    )
}

async fn gantry_jobs(simulator: &Simulator) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_job: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for cluster in CLUSTERS {
        let api: Api<Job> = Api::namespaced(simulator.client(cluster), "gantry");
        let listed = api
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=gantry"))
            .await
            .unwrap();
        for job in listed.items {
            let labels = job.metadata.labels.clone().unwrap_or_default();
            let id = labels.get("gantry.dev/job-id").cloned().unwrap_or_default();
            let attempt = labels
                .get("gantry.dev/attempt")
                .cloned()
                .unwrap_or_default();
            by_job
                .entry(id)
                .or_default()
                .push((attempt, job.metadata.uid.clone().unwrap_or_default()));
        }
    }
    by_job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_loses_no_acknowledged_job_and_starts_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("examples/fleet-sim-external.yaml");
    let kubeconfig = repo().join(".gantry/sim-external/kubeconfig.yaml");
    let simulator = Simulator::start(&repo().join("examples/fleet-dev.yaml"), &kubeconfig);
    let data_dir = dir.path().join("store");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    let mut daemon = Daemon::start(dir.path(), &args);
    let mut client = daemon.jobs().await;

    // A job running before the crash.
    let before = submit(&mut client, &small_job("survivor"), "survivor")
        .await
        .unwrap()
        .job
        .unwrap();
    wait_state(
        &mut client,
        &before.id,
        pb::JobState::Running,
        Duration::from_secs(60),
    )
    .await;
    let uid_before = gantry_jobs(&simulator)
        .await
        .get(&before.id)
        .cloned()
        .unwrap();
    assert_eq!(uid_before.len(), 1);

    // A burst of submits from 8 clients; the daemon is killed in the middle.
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let tried: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let endpoint = daemon.endpoint();
        let acked = acked.clone();
        let tried = tried.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut client) =
                gantry_proto::job_service_client::JobServiceClient::connect(endpoint).await
            else {
                return;
            };
            for n in 0..400 {
                let request_id = format!("burst-{worker}-{n}");
                tried.lock().unwrap().insert(request_id.clone());
                match submit(
                    &mut client,
                    &small_job(&format!("burst-{worker}-{n}")),
                    &request_id,
                )
                .await
                {
                    Ok(response) => {
                        let id = response.job.unwrap().id;
                        acked.lock().unwrap().insert(request_id, id);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 150 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the burst did not get going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.kill_hard();
    for task in tasks {
        let _ = task.await;
    }
    let acked = acked.lock().unwrap().clone();
    let tried = tried.lock().unwrap().clone();
    assert!(
        acked.len() < tried.len(),
        "the kill landed mid-burst ({} of {})",
        acked.len(),
        tried.len()
    );
    eprintln!(
        "killed after {} acknowledged submits of {} tried",
        acked.len(),
        tried.len()
    );

    // Restart on the same store and clusters.
    let daemon = Daemon::start(dir.path(), &args);
    assert!(
        daemon.log_text().contains("recovered the live jobs"),
        "{}",
        daemon.log_text()
    );
    let mut client = daemon.jobs().await;
    let jobs = all_jobs(&mut client).await;
    let by_id: BTreeMap<String, &pb::Job> = jobs.iter().map(|job| (job.id.clone(), job)).collect();
    for (request_id, id) in &acked {
        let job = by_id
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged job {id} ({request_id}) lost"));
        assert_eq!(&job.request_id, request_id);
    }
    let mut per_request: BTreeMap<&str, usize> = BTreeMap::new();
    for job in &jobs {
        *per_request.entry(job.request_id.as_str()).or_default() += 1;
    }
    assert!(
        per_request.values().all(|count| *count == 1),
        "a request id made two jobs"
    );
    // Clients retry what they never heard back about: still one job each.
    for request_id in &tried {
        let (worker, n) = request_id
            .trim_start_matches("burst-")
            .split_once('-')
            .unwrap();
        let response = submit(
            &mut client,
            &small_job(&format!("burst-{worker}-{n}")),
            request_id,
        )
        .await
        .unwrap();
        if let Some(id) = acked.get(request_id) {
            assert!(
                !response.created,
                "{request_id} was acknowledged, its retry creates nothing"
            );
            assert_eq!(&response.job.unwrap().id, id);
        }
    }
    let jobs = all_jobs(&mut client).await;
    assert_eq!(
        jobs.len(),
        tried.len() + 1,
        "one job per request id, plus the survivor"
    );

    // The running job was adopted: the same Kubernetes Job, still running.
    wait_state(
        &mut client,
        &before.id,
        pb::JobState::Running,
        Duration::from_secs(30),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let objects = gantry_jobs(&simulator).await;
        assert_eq!(
            objects.get(&before.id),
            Some(&uid_before),
            "the survivor was adopted, not re-created"
        );
        for (job, attempts) in &objects {
            let distinct: BTreeSet<&String> = attempts.iter().map(|(attempt, _)| attempt).collect();
            assert_eq!(
                distinct.len(),
                attempts.len(),
                "two objects for one attempt of {job}"
            );
        }
        let running = jobs.len();
        let launched = objects.len();
        // Wait until every job that fits is launched, then check once more.
        if launched >= running.min(400) || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stop = daemon.stop();
    assert!(stop.success());
}
