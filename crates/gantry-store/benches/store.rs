//! Store figures on this machine, printed as a table:
//!
//! 1. Durable submits per second with 1, 16 and 256 concurrent submitters,
//!    with p50 and p99 latency (call to acknowledgement), for group commit
//!    (the default) against one transaction per submit (`max_batch: 1`, the
//!    same writer otherwise), both with `synchronous=FULL`.
//! 2. Restart with 1,000,000 jobs (about 1,000 live): time to open the file
//!    and load the live jobs and the counts, i.e. until the daemon can serve
//!    again. The file is built once (through the public API) and kept under
//!    the target directory for later runs.
//!
//! Run: `cargo bench -p gantry-store` (add `throughput` or `restart` to run
//! one part only).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_core::{JobId, JobKind, JobState, JobTransition, TeamPath};
use gantry_store::{
    Durability, NewJob, SCHEMA_VERSION, SqliteOptions, SqliteStore, StateUpdate, Store, UnixMillis,
};

const SPEC: &str = "apiVersion: gantry.dev/v1
kind: TrainingJob
metadata:
  name: NAME
  team: TEAM
spec:
  image: ghcr.io/acme/trainer@sha256:4f1c0e5d2a9b
  command: [torchrun, --nproc-per-node=8, train.py]
  resources:
    gpu: {count: 8, types: [H100, A100-80GB]}
    cpu: 96
    memory: 1000Gi
  replicas: 2
  placement: {clouds: [aws, gcp], spot: allowed}
";

fn new_job(id: &str, team: &TeamPath, at: i64) -> NewJob {
    NewJob {
        id: JobId::new(id).unwrap(),
        request_id: None,
        team: team.clone(),
        name: id.to_owned(),
        kind: JobKind::Training,
        spec_yaml: SPEC.replace("NAME", id).replace("TEAM", team.as_str()),
        submitter: "bench".to_owned(),
        transition: JobTransition::Accept,
        reason: "accepted".to_owned(),
        details: serde_json::Value::Null,
        submitted_at: UnixMillis(at),
    }
}

fn step(id: &str, from: JobState, transition: JobTransition, at: i64) -> StateUpdate {
    StateUpdate {
        job_id: JobId::new(id).unwrap(),
        expected_state: from,
        transition: Some(transition),
        attempt: 1,
        placement: Some(serde_json::json!({"cluster": "aws-us-east-1", "pool": "p5-48xlarge"})),
        reason: transition.as_str().to_owned(),
        actor: "bench".to_owned(),
        details: serde_json::Value::Null,
        at: UnixMillis(at),
    }
}

fn bench_directory() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let directory = target.join("gantry-store-bench");
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Throughput {
    submits_per_second: f64,
    p50: Duration,
    p99: Duration,
    submits: usize,
}

/// Submitters submit as fast as acknowledgements come back for `duration`.
async fn measure_submits(
    path: &Path,
    submitters: usize,
    max_batch: usize,
    duration: Duration,
) -> Throughput {
    let _ = std::fs::remove_file(path);
    let options = SqliteOptions {
        durability: Durability::PowerLossSafe,
        max_batch,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(path, options).await.unwrap());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for submitter in 0..submitters {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let team = TeamPath::parse(["nlp", "vision", "org/speech"][submitter % 3]).unwrap();
            let mut latencies = Vec::new();
            for index in 0.. {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                let job = new_job(&format!("s{submitter}-{index}"), &team, index);
                store.submit(job).await.unwrap();
                latencies.push(now.elapsed());
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
    let elapsed = start.elapsed();
    store.close().await;
    latencies.sort();
    Throughput {
        submits_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        submits: latencies.len(),
    }
}

fn throughput(runtime: &tokio::runtime::Runtime) {
    let directory = tempfile::tempdir_in(bench_directory()).unwrap();
    let path = directory.path().join("throughput.db");
    println!("durable submits (synchronous=FULL, each ack after its fsync), 3 s per row");
    println!(
        "{:>11} | {:>22} | {:>22} | {:>7}",
        "submitters", "group commit", "one tx per submit", "ratio"
    );
    println!(
        "{:>11} | {:>9} {:>5} {:>6} | {:>9} {:>5} {:>6} | {:>7}",
        "", "submits/s", "p50", "p99", "submits/s", "p50", "p99", ""
    );
    for submitters in [1, 16, 256] {
        let grouped = runtime.block_on(measure_submits(
            &path,
            submitters,
            SqliteOptions::default().max_batch,
            Duration::from_secs(3),
        ));
        let single = runtime.block_on(measure_submits(
            &path,
            submitters,
            1,
            Duration::from_secs(3),
        ));
        let ms = |duration: Duration| format!("{:.1}ms", duration.as_secs_f64() * 1000.0);
        println!(
            "{:>11} | {:>9.0} {:>5} {:>6} | {:>9.0} {:>5} {:>6} | {:>6.1}x",
            submitters,
            grouped.submits_per_second,
            ms(grouped.p50),
            ms(grouped.p99),
            single.submits_per_second,
            ms(single.p50),
            ms(single.p99),
            grouped.submits_per_second / single.submits_per_second,
        );
        let _ = (grouped.submits, single.submits);
    }
}

const MILLION: usize = 1_000_000;
/// One job in this many stays live.
const LIVE_EVERY: usize = 1_000;

/// Builds the million-job file: 1,000 live jobs (Queued or Running), the
/// rest terminal: most Succeeded after a full life (5 events), some
/// Rejected (1 event), some Cancelled from the queue (2 events).
async fn build_million(path: &Path) {
    let building = path.with_extension("building");
    let _ = std::fs::remove_file(&building);
    let options = SqliteOptions {
        durability: Durability::ProcessCrashSafe,
        max_batch: 4096,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(&building, options).await.unwrap());
    let started = Instant::now();
    let fillers = 64;
    let mut tasks = tokio::task::JoinSet::new();
    for filler in 0..fillers {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let teams: Vec<TeamPath> =
                ["nlp", "vision", "org/speech", "org/speech/asr", "research"]
                    .iter()
                    .map(|team| TeamPath::parse(team).unwrap())
                    .collect();
            let mut index = filler;
            while index < MILLION {
                let id = format!("job-{index}");
                let at = i64::try_from(index).unwrap();
                let team = &teams[index % teams.len()];
                let mut job = new_job(&id, team, at);
                if index % LIVE_EVERY == 7 {
                    store.submit(job).await.unwrap();
                    if (index / LIVE_EVERY).is_multiple_of(2) {
                        store
                            .apply(vec![
                                step(&id, JobState::Queued, JobTransition::Place, at + 1),
                                step(&id, JobState::Placed, JobTransition::Launch, at + 2),
                                step(&id, JobState::Launching, JobTransition::Start, at + 3),
                            ])
                            .await
                            .unwrap();
                    }
                } else if index % 10 == 1 {
                    job.transition = JobTransition::Reject;
                    job.reason = "no cluster could ever fit it".to_owned();
                    store.submit(job).await.unwrap();
                } else if index % 10 == 2 {
                    store.submit(job).await.unwrap();
                    store
                        .apply(vec![step(
                            &id,
                            JobState::Queued,
                            JobTransition::Cancel,
                            at + 1,
                        )])
                        .await
                        .unwrap();
                } else {
                    store.submit(job).await.unwrap();
                    store
                        .apply(vec![
                            step(&id, JobState::Queued, JobTransition::Place, at + 1),
                            step(&id, JobState::Placed, JobTransition::Launch, at + 2),
                            step(&id, JobState::Launching, JobTransition::Start, at + 3),
                            step(&id, JobState::Running, JobTransition::Succeed, at + 4),
                        ])
                        .await
                        .unwrap();
                }
                index += fillers;
            }
        });
    }
    tasks.join_all().await;
    store.close().await;
    drop(store);
    std::fs::rename(&building, path).unwrap();
    println!(
        "built {} in {:.0} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}

fn restart(runtime: &tokio::runtime::Runtime) {
    let path = bench_directory().join(format!("million-v{SCHEMA_VERSION}.db"));
    if !path.exists() {
        println!("building the 1,000,000-job store once (kept for later runs)...");
        runtime.block_on(build_million(&path));
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "restart with {MILLION} jobs ({:.0} MiB file, page cache warm)",
        size as f64 / (1 << 20) as f64
    );
    println!(
        "{:>5} | {:>8} | {:>13} | {:>8} | {:>11} | {:>9}",
        "run", "open", "live jobs", "counts", "get by id", "serving"
    );
    for run in 1..=3 {
        runtime.block_on(async {
            let start = Instant::now();
            let store = SqliteStore::open(&path, SqliteOptions::default())
                .await
                .unwrap();
            let opened = start.elapsed();
            let live = store.live_jobs().await.unwrap();
            let live_loaded = start.elapsed();
            let counts = store.job_counts().await.unwrap();
            let counted = start.elapsed();
            let one = Instant::now();
            let job = store
                .get_job(&JobId::new("job-500001").unwrap())
                .await
                .unwrap();
            let got = one.elapsed();
            assert!(job.is_some());
            assert_eq!(counts.total(), MILLION as u64);
            assert_eq!(live.jobs.len(), MILLION / LIVE_EVERY);
            let ms = |duration: Duration| format!("{:.1}ms", duration.as_secs_f64() * 1000.0);
            println!(
                "{:>5} | {:>8} | {:>8} ({:>4}) | {:>8} | {:>11} | {:>9}",
                run,
                ms(opened),
                ms(live_loaded - opened),
                live.jobs.len(),
                ms(counted - live_loaded),
                ms(got),
                ms(counted),
            );
            store.close().await;
        });
    }
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let wants = |part: &str| {
        let named: Vec<&String> = arguments
            .iter()
            .filter(|argument| !argument.starts_with('-'))
            .collect();
        named.is_empty() || named.iter().any(|argument| argument.as_str() == part)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if wants("throughput") {
        throughput(&runtime);
        println!();
    }
    if wants("restart") {
        restart(&runtime);
    }
}
