//! Crash safety: a child process submits and moves jobs in a loop, printing
//! each id once its write is acknowledged; the parent kills it with SIGKILL
//! mid-stream, reopens the file, and checks that every acknowledged write is
//! there, that no request made two jobs, and that the log replays to the
//! jobs. Four rounds on the same file (so later rounds open a file a crash
//! left behind), with both durability settings.
//!
//! The child is this test binary itself, run with `--exact crash_child`
//! and an environment variable naming the database (without it, the
//! `crash_child` test returns at once).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_core::{JobState, JobTransition};
use gantry_store::conformance::{all_jobs, check_consistent, job_id, new_job, update};
use gantry_store::{Durability, JobQuery, RequestId, SqliteOptions, SqliteStore, Store, Submitted};

const CHILD_DATABASE: &str = "GANTRY_STORE_CRASH_CHILD_DATABASE";
const CHILD_ROUND: &str = "GANTRY_STORE_CRASH_CHILD_ROUND";
const CHILD_DURABILITY: &str = "GANTRY_STORE_CRASH_CHILD_DURABILITY";
/// Concurrent submitters in the child.
const SUBMITTERS: usize = 16;
/// The child stops by itself after this long, should its parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

fn durability_named(name: &str) -> Durability {
    match name {
        "full" => Durability::PowerLossSafe,
        "normal" => Durability::ProcessCrashSafe,
        other => panic!("unknown durability {other}"),
    }
}

fn say(line: String) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").unwrap();
    stdout.flush().unwrap();
}

/// The child process of `kill_9_loses_no_acknowledged_write`, which starts
/// this test binary with the child's environment; run on its own (without
/// that environment) it does nothing.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_DATABASE) else {
        return;
    };
    let round: usize = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let durability = durability_named(&std::env::var(CHILD_DURABILITY).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let options = SqliteOptions {
            durability,
            ..SqliteOptions::default()
        };
        let store = Arc::new(SqliteStore::open(&path, options).await.unwrap());
        say(format!("opened round {round}"));
        let deadline = Instant::now() + CHILD_LIFETIME;
        let mut submitters = tokio::task::JoinSet::new();
        for submitter in 0..SUBMITTERS {
            let store = Arc::clone(&store);
            submitters.spawn(async move {
                let team = ["nlp", "org/vision", "org/vision/gen"][submitter % 3];
                for index in 0.. {
                    if Instant::now() > deadline {
                        return;
                    }
                    let id = format!("r{round}-s{submitter}-{index}");
                    let mut job = new_job(&id, team, &id);
                    job.request_id = Some(RequestId::new(id.as_str()).unwrap());
                    job.submitted_at = gantry_store::UnixMillis(index);
                    let outcome = store.submit(job.clone()).await.unwrap();
                    assert!(outcome.is_created(), "{id} existed before its first submit");
                    say(format!("acked {id}"));
                    if index % 4 == 0 {
                        // A client retry: same request id, new job id.
                        let retry = gantry_store::NewJob {
                            id: job_id(&format!("{id}-retry")),
                            ..job
                        };
                        match store.submit(retry).await.unwrap() {
                            Submitted::Existing { job } if job.id.as_str() == id => {}
                            other => say(format!("mismatch {id} {other:?}")),
                        }
                    }
                    if index % 2 == 0 {
                        store
                            .apply(vec![update(
                                &id,
                                JobState::Queued,
                                Some(JobTransition::Place),
                                index,
                            )])
                            .await
                            .unwrap();
                        say(format!("moved {id} Placed"));
                        if index % 6 == 0 {
                            store
                                .apply(vec![
                                    update(
                                        &id,
                                        JobState::Placed,
                                        Some(JobTransition::Launch),
                                        index,
                                    ),
                                    update(
                                        &id,
                                        JobState::Launching,
                                        Some(JobTransition::Fail),
                                        index,
                                    ),
                                ])
                                .await
                                .unwrap();
                            say(format!("moved {id} Failed"));
                        }
                    }
                }
            });
        }
        submitters.join_all().await;
    });
}

/// What the parent learned from the children's output.
#[derive(Default)]
struct Acknowledged {
    /// Job id -> the last state a child saw acknowledged.
    states: BTreeMap<String, JobState>,
    mismatches: Vec<String>,
}

impl Acknowledged {
    /// Records one line; says whether it was a submit's acknowledgement.
    fn record(&mut self, line: &str) -> bool {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["acked", id] => {
                assert!(
                    self.states
                        .insert((*id).to_owned(), JobState::Queued)
                        .is_none(),
                    "{id} acknowledged twice"
                );
                true
            }
            ["moved", id, state] => {
                let state = JobState::parse(state).unwrap();
                assert!(self.states.insert((*id).to_owned(), state).is_some());
                false
            }
            ["mismatch", ..] => {
                self.mismatches.push(line.to_owned());
                false
            }
            _ => false,
        }
    }
}

/// Whether a job acknowledged in `acknowledged` may be in `found` after a
/// crash: the state it was acknowledged in, or one a later (unacknowledged)
/// write of the child's program would have moved it to.
fn may_be(acknowledged: JobState, found: JobState) -> bool {
    let later: &[JobState] = match acknowledged {
        JobState::Queued => &[JobState::Queued, JobState::Placed, JobState::Failed],
        JobState::Placed => &[JobState::Placed, JobState::Failed],
        other => return found == other,
    };
    later.contains(&found)
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut acknowledged = Acknowledged::default();
    let rounds = [
        (150, "full"),
        (700, "full"),
        (40, "normal"),
        (400, "normal"),
    ];
    for (round, (kill_after, durability)) in rounds.into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DATABASE, &path)
            .env(CHILD_ROUND, round.to_string())
            .env(CHILD_DURABILITY, durability)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acks = 0;
        for line in lines.by_ref() {
            if acknowledged.record(&line.unwrap()) {
                acks += 1;
                if acks >= kill_after {
                    break;
                }
            }
        }
        // SIGKILL, in the middle of the child's stream of writes.
        child.kill().unwrap();
        // Whatever it printed before it died was acknowledged too.
        for line in lines {
            acknowledged.record(&line.unwrap());
        }
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the child ended on its own ({status}) after {acks} acks:\n{stderr}"
        );
        assert!(
            acks >= kill_after,
            "round {round}: only {acks} acks\n{stderr}"
        );

        runtime.block_on(async {
            let store = SqliteStore::open(&path, SqliteOptions::default())
                .await
                .unwrap();
            for (id, state) in &acknowledged.states {
                let job = store
                    .get_job(&job_id(id))
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("round {round}: acknowledged job {id} is gone"));
                assert!(
                    may_be(*state, job.state),
                    "round {round}: {id} was acknowledged {state}, is {}",
                    job.state
                );
            }
            // No request made two jobs: no retry got a job of its own, and
            // every request id names one job.
            let jobs = all_jobs(&store, JobQuery::default()).await;
            let retries: Vec<&str> = jobs
                .iter()
                .map(|job| job.id.as_str())
                .filter(|id| id.ends_with("-retry"))
                .collect();
            assert!(retries.is_empty(), "retries made jobs: {retries:?}");
            let mut request_ids = BTreeSet::new();
            for job in &jobs {
                let request_id = job.request_id.as_ref().unwrap().as_str();
                assert_eq!(request_id, job.id.as_str());
                assert!(request_ids.insert(request_id.to_owned()));
            }
            assert!(jobs.len() >= acknowledged.states.len());
            let seen = check_consistent(&store).await;
            println!(
                "round {round} ({durability}): killed after {acks} acks; {} jobs, {} events on disk",
                seen.jobs, seen.events
            );
            store.close().await;
        });
        assert!(
            acknowledged.mismatches.is_empty(),
            "{:?}",
            acknowledged.mismatches
        );
    }
}
