//! `cargo bench -p gantryd --bench daemon`: the daemon's figures, measured
//! on the real binary over gRPC, printed as a table.
//!
//! 1. `submit`: sustained durable submits. C clients keep submitting
//!    accepted jobs as fast as acknowledgements come back, for D seconds;
//!    reports submits/s and the latency percentiles of the acknowledgement
//!    (the store's fsync included). The jobs ask for a GPU model the dev
//!    fleet does not have in quota for their team (`bench`, quota 0 GPUs),
//!    so they stay queued and the bench measures the submit path, not the
//!    clusters.
//! 2. `placed`: submit to Placed at a fixed rate (default 1,000/s) on the
//!    dev fleet: small CPU jobs that fit; the latency is the job's Placed
//!    event time minus its submission time (both the daemon's clock).
//! 3. `restart`: gantryd started on a store holding N jobs (default
//!    1,000,000; built once and kept under the target directory), timed from
//!    process start until its first answered gRPC call.
//!
//! Arguments: `submit|placed|restart|all` (default all) and environment
//! knobs `BENCH_CLIENTS` (64), `BENCH_SECONDS` (10), `BENCH_RATE` (1000),
//! `BENCH_JOBS` (1000000). Build with `--release`-like settings: `cargo
//! bench` does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr,
    unreachable_pub
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gantry_proto as pb;
use gantry_proto::job_service_client::JobServiceClient;
use tonic::transport::Channel;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gantryd"))
        .parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .unwrap_or_else(std::env::temp_dir)
}

const BENCH_CONFIG: &str = r#"
apiVersion: gantry.dev/v1
kind: GantryConfig
storage: {backend: embedded, path: store}
simulation: {timeScale: 360, defaultPodDuration: 1h}
clusters:
  - name: aws-us-east-1
    cloud: aws
    region: us-east-1
    simulated:
      nodePools:
        - {name: m6i-cpu, instanceType: m6i.32xlarge, cpu: 128, memory: 512Gi, nodes: 200, zone: us-east-1a, pricePerHour: 6.144}
        - {name: p4d-a100, instanceType: p4d.24xlarge, gpu: {model: A100, count: 8}, cpu: 96, memory: 1152Gi, nodes: 2, zone: us-east-1b}
teams:
  - {name: bench, quota: {gpus: 0}}
  - {name: batch}
"#;

struct Daemon {
    child: Child,
    grpc: String,
    started: Instant,
    serving_after: Duration,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("bench.yaml");
        std::fs::write(&config, BENCH_CONFIG).unwrap();
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gantryd"))
            .current_dir(dir)
            .args(["--config", "bench.yaml", "--log-format", "json"])
            .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .env(
                "GANTRY_LOG",
                std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn,gantryd=info".to_owned()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("BENCH_LOG").is_some() {
                    eprintln!("{line}");
                }
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                    && value["fields"]["message"] == "gantryd serving"
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(
                        value["fields"]["grpc"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let grpc = address.recv_timeout(Duration::from_secs(600)).unwrap();
        let serving_after = started.elapsed();
        Daemon {
            child,
            grpc,
            started,
            serving_after,
        }
    }

    async fn client(&self) -> JobServiceClient<Channel> {
        JobServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn queued_spec(n: u64) -> String {
    format!(
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata: {{name: q-{n}, team: bench}}\nspec:\n  image: ghcr.io/acme/trainer:1.0\n  resources: {{gpu: {{count: 1, types: [A100]}}, cpu: 1, memory: 1Gi}}\n"
    )
}

fn small_spec(n: u64) -> String {
    format!(
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata: {{name: p-{n}, team: batch}}\nspec:\n  image: ghcr.io/acme/tools:1.0\n  resources: {{cpu: 1, memory: 1Gi}}\n  expectedRuntime: 10m\n"
    )
}

async fn submit(
    client: &mut JobServiceClient<Channel>,
    spec: String,
    request_id: String,
) -> pb::Job {
    client
        .submit_job(pb::SubmitJobRequest {
            spec: Some(pb::submit_job_request::Spec::SpecYaml(spec)),
            request_id,
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

async fn bench_submit() {
    let clients = env_number("BENCH_CLIENTS", 64);
    let seconds = env_number("BENCH_SECONDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let mut client = daemon.client().await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let spec = queued_spec(worker * 10_000_000 + n);
                let started = Instant::now();
                submit(&mut client, spec, format!("s-{worker}-{n}")).await;
                latencies.push(started.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    // One second of warm-up is counted out.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let measure_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = measure_from.elapsed() + Duration::from_secs(1);
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    latencies.sort();
    println!(
        "submit    | {clients} clients, {seconds}+1 s | {rate:.0} durable submits/s | p50 {} | p99 {} | max {} | {} jobs",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        latencies.len()
    );
    let _ = daemon.started;
}

async fn bench_placed() {
    let rate = env_number("BENCH_RATE", 1000);
    let seconds = env_number("BENCH_SECONDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    // Wait for the fleet to be listed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(daemon.client().await);
    }
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for n in 0..total {
        tokio::time::sleep_until(start + interval * u32::try_from(n).unwrap()).await;
        let mut client = clients[usize::try_from(n % 16).unwrap()].clone();
        tasks.push(tokio::spawn(async move {
            submit(&mut client, small_spec(n), String::new()).await.id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let sent_in = start.elapsed();
    // Wait until every job has left Queued, then read when each was placed.
    let mut client = daemon.client().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::new();
    for id in &ids {
        loop {
            let response = client
                .get_job(pb::GetJobRequest {
                    id: id.clone(),
                    include_events: true,
                })
                .await
                .unwrap()
                .into_inner();
            let submitted = response
                .job
                .as_ref()
                .map_or(0, |job| job.submitted_at_unix_ms);
            if let Some(placed) = response
                .events
                .iter()
                .find(|event| event.transition == "Place")
            {
                latencies.push(Duration::from_millis(
                    u64::try_from(placed.at_unix_ms - submitted).unwrap_or(0),
                ));
                break;
            }
            assert!(Instant::now() < deadline, "job {id} was never placed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    latencies.sort();
    #[allow(clippy::cast_precision_loss)]
    let achieved = ids.len() as f64 / sent_in.as_secs_f64();
    println!(
        "placed    | {rate}/s offered for {seconds} s ({achieved:.0}/s sent) | submit->Placed p50 {} | p99 {} | max {} | {} jobs",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        latencies.len()
    );
}

async fn bench_restart() {
    let jobs = env_number("BENCH_JOBS", 1_000_000);
    let dir = target_dir().join(format!("gantryd-bench-restart-{jobs}"));
    let marker = dir.join("built");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!(
            "building a store of {jobs} jobs in {} (once; kept for later runs)",
            dir.display()
        );
        let built = Instant::now();
        build_store(&dir.join("store").join("gantry.db"), jobs).await;
        std::fs::write(&marker, b"").unwrap();
        eprintln!("built in {:.0} s", built.elapsed().as_secs_f64());
    }
    for round in 0..3 {
        let daemon = Daemon::start(&dir);
        let mut client = daemon.client().await;
        let page = client
            .list_jobs(pb::ListJobsRequest {
                page_size: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let answered = daemon.started.elapsed();
        assert_eq!(page.jobs.len(), 10);
        println!(
            "restart   | {jobs} jobs in the store (1,000 live), round {} | serving after {} | first answer after {}",
            round + 1,
            ms(daemon.serving_after),
            ms(answered)
        );
    }
}

/// A store with `jobs` jobs, most finished, 1,000 queued, written through
/// the store's own API (so the rows are what the daemon writes).
async fn build_store(path: &Path, jobs: u64) {
    use gantry_core::{JobId, JobKind, JobState, JobTransition, TeamPath};
    use gantry_store::{NewJob, SqliteOptions, SqliteStore, StateUpdate, Store, UnixMillis};
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let store = Arc::new(
        SqliteStore::open(
            path,
            SqliteOptions {
                durability: gantry_store::Durability::ProcessCrashSafe,
                ..SqliteOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let spec = queued_spec(0);
    let team = TeamPath::parse("bench").unwrap();
    let workers = 64u64;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let store = store.clone();
        let spec = spec.clone();
        let team = team.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < jobs {
                let id = JobId::new(format!("job-{n:07}")).unwrap();
                let live = n >= jobs.saturating_sub(1000);
                let job = NewJob {
                    id: id.clone(),
                    request_id: None,
                    team: team.clone(),
                    name: format!("job-{n:07}"),
                    kind: JobKind::Training,
                    spec_yaml: spec.clone(),
                    submitter: "bench".to_owned(),
                    transition: JobTransition::Accept,
                    reason: "accepted".to_owned(),
                    details: serde_json::json!({}),
                    submitted_at: UnixMillis(1_796_000_000_000 + i64::try_from(n).unwrap()),
                };
                store.submit(job).await.unwrap();
                if !live {
                    store
                        .apply(vec![StateUpdate {
                            job_id: id,
                            expected_state: JobState::Queued,
                            transition: Some(JobTransition::Cancel),
                            attempt: 0,
                            placement: None,
                            reason: "bench".to_owned(),
                            actor: "bench".to_owned(),
                            details: serde_json::json!({}),
                            at: UnixMillis(1_796_000_000_000),
                        }])
                        .await
                        .unwrap();
                }
                n += workers;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store.close().await;
}

fn main() {
    let which = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_else(|| "all".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "gantryd bench on {} cores (machine load: {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );
    runtime.block_on(async {
        if which == "all" || which == "submit" {
            bench_submit().await;
        }
        if which == "all" || which == "placed" {
            bench_placed().await;
        }
        if which == "all" || which == "restart" {
            bench_restart().await;
        }
    });
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
