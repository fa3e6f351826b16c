//! The real `gantry` binary against a fake `gantryd` (tests/fake): what it
//! sends, what it prints, and how it exits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod fake;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gantry_proto::{Job, JobKind, JobState, SubmitJobResponse};
use serde_json::Value;
use tonic::Code;

use fake::{Running, event, fleet, start};

fn gantry_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .args(args)
        .env_remove("GANTRY_SERVER")
        .env_remove("GANTRY_TOKEN")
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Runs `gantry --server <fake> ARGS`.
fn gantry(server: &Running, args: &[&str]) -> Output {
    let url = server.url();
    let mut all = vec!["--server", url.as_str()];
    all.extend_from_slice(args);
    gantry_with_env(&all, &[])
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn scratch_file(name: &str, text: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("gantry-client-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn accepted(id: &str, kind: JobKind, created: bool) -> SubmitJobResponse {
    SubmitJobResponse {
        job: Some(Job {
            id: id.into(),
            name: "finetune-1gpu".into(),
            team: "nlp".into(),
            kind: kind as i32,
            state: JobState::Queued as i32,
            request_id: "ci-run-42".into(),
            ..Job::default()
        }),
        created,
    }
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|error| {
        panic!("not JSON ({error}):\n{}", stdout(output));
    })
}

// ---- submit ------------------------------------------------------------------

#[test]
fn submit_sends_the_exact_yaml_and_request_id_and_prints_the_job_id() {
    let mut state = fleet();
    state.submit_reply = Some(Ok(accepted("finetune-1gpu-abcde", JobKind::Training, true)));
    let server = start(state);
    let file = example("finetune-1gpu.yaml");
    let output = gantry(
        &server,
        &[
            "--token",
            "s3cret-token",
            "submit",
            file.to_str().unwrap(),
            "--request-id",
            "ci-run-42",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "finetune-1gpu-abcde\n");
    assert!(
        stderr(&output).contains("submitted TrainingJob nlp/finetune-1gpu: Queued"),
        "{}",
        stderr(&output)
    );
    let state = server.state();
    assert_eq!(state.submits.len(), 1);
    let sent = &state.submits[0];
    assert_eq!(sent.request_id, "ci-run-42");
    let expected = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        sent.spec,
        Some(gantry_proto::submit_job_request::Spec::SpecYaml(expected))
    );
    assert_eq!(
        state.authorization,
        vec![Some("Bearer s3cret-token".to_owned())]
    );
}

#[test]
fn submitting_the_same_request_id_again_says_already_submitted() {
    let mut state = fleet();
    state.submit_reply = Some(Ok(accepted(
        "finetune-1gpu-abcde",
        JobKind::Training,
        false,
    )));
    let server = start(state);
    let file = example("finetune-1gpu.yaml");
    let output = gantry(
        &server,
        &[
            "submit",
            file.to_str().unwrap(),
            "--request-id",
            "ci-run-42",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "finetune-1gpu-abcde\n");
    assert!(
        stderr(&output).contains("already submitted (request id ci-run-42)"),
        "{}",
        stderr(&output)
    );
    // No token given: no authorization header.
    assert_eq!(server.state().authorization, vec![None]);
}

#[test]
fn an_invalid_spec_is_refused_locally_and_nothing_is_sent() {
    let mut state = fleet();
    state.submit_reply = Some(Ok(accepted("never", JobKind::Training, true)));
    let server = start(state);
    let text = std::fs::read_to_string(example("finetune-1gpu.yaml"))
        .unwrap()
        .replacen("name: ", "name: Bad_Name", 1);
    let file = scratch_file("invalid.yaml", &text);
    for command in ["submit", "quote"] {
        let output = gantry(&server, &[command, file.to_str().unwrap()]);
        assert_exit(&output, 1);
        assert_eq!(stdout(&output), "");
        let errors = stderr(&output);
        assert!(
            errors
                .lines()
                .any(|line| line.starts_with(&format!("{}:", file.display()))
                    && line.contains("Bad_Name")),
            "{errors}"
        );
    }
    let state = server.state();
    assert!(state.submits.is_empty() && state.quotes.is_empty());
    assert!(
        state.authorization.is_empty(),
        "no call at all reached the server"
    );
}

#[test]
fn invalid_argument_from_the_server_exits_one_with_every_message_line() {
    let mut state = fleet();
    state.submit_reply = Some(Err((
        Code::InvalidArgument,
        "the spec has 2 errors\nmetadata.team: team `nlp` has no quota on this gantryd\nspec.placement.clouds[0]: no configured cluster is in cloud `aws`".to_owned(),
    )));
    let server = start(state);
    let file = example("finetune-1gpu.yaml");
    let output = gantry(&server, &["submit", file.to_str().unwrap()]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "");
    let errors = stderr(&output);
    assert!(
        errors.starts_with(&format!(
            "error: submit {}: invalid request:\n",
            file.display()
        )),
        "{errors}"
    );
    assert!(
        errors.contains("\n  metadata.team: team `nlp` has no quota on this gantryd\n"),
        "{errors}"
    );
    assert!(
        errors.contains("\n  spec.placement.clouds[0]: no configured cluster is in cloud `aws`"),
        "{errors}"
    );
}

#[test]
fn a_job_rejected_at_submit_exits_one_with_the_reason() {
    let mut state = fleet();
    let mut reply = accepted("finetune-1gpu-abcde", JobKind::Training, true);
    if let Some(job) = reply.job.as_mut() {
        job.state = JobState::Rejected as i32;
        job.reason = "no pool has 16 GPUs on one node".into();
    }
    state.submit_reply = Some(Ok(reply));
    let server = start(state);
    let output = gantry(
        &server,
        &[
            "submit",
            example("finetune-1gpu.yaml").to_str().unwrap(),
            "--wait",
        ],
    );
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "finetune-1gpu-abcde\n");
    assert!(
        stderr(&output).contains("rejected: no pool has 16 GPUs on one node"),
        "{}",
        stderr(&output)
    );
    assert!(server.state().watches.is_empty());
}

fn waiting_fleet(last: JobState, transition: &str, reason: &str) -> fake::State {
    use JobState::*;
    let id = "finetune-1gpu-abcde";
    let mut state = fleet();
    state.submit_reply = Some(Ok(accepted(id, JobKind::Training, true)));
    state.events.extend([
        event(
            31,
            id,
            Unspecified,
            Queued,
            "Accept",
            "accepted",
            "alice@acme.dev",
        ),
        event(
            32,
            id,
            Queued,
            Placed,
            "Place",
            "cheapest of 9 offers: gcp-us-central1/g2-spot at $0.87/h",
            "scheduler",
        ),
        event(
            34,
            id,
            Placed,
            Launching,
            "Launch",
            "created Job finetune-1gpu-abcde-1",
            "executor",
        ),
        event(
            35,
            id,
            Launching,
            Running,
            "Start",
            "1 replica running",
            "executor",
        ),
        event(39, id, Running, last, transition, reason, "executor"),
    ]);
    state
}

#[test]
fn submit_wait_follows_the_job_to_succeeded_and_exits_zero() {
    let server = start(waiting_fleet(
        JobState::Succeeded,
        "Succeed",
        "exited 0 after 58m",
    ));
    let output = gantry(
        &server,
        &[
            "submit",
            example("finetune-1gpu.yaml").to_str().unwrap(),
            "--wait",
        ],
    );
    assert_exit(&output, 0);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], "finetune-1gpu-abcde");
    // Plain lines (stdout is not a terminal): RFC 3339 time, state, reason, actor.
    assert_eq!(
        lines[1],
        "2025-06-15T15:10:17Z  Queued      accepted  (by alice@acme.dev)"
    );
    assert!(
        lines[2].contains("  Placed      cheapest of 9 offers"),
        "{text}"
    );
    assert!(
        lines[5].contains("  Succeeded   exited 0 after 58m  (by executor)"),
        "{text}"
    );
    assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
    let state = server.state();
    assert_eq!(state.watches.len(), 1);
    assert_eq!(state.watches[0].job_id, "finetune-1gpu-abcde");
    assert_eq!(state.watches[0].after_seq, 0);
}

#[test]
fn submit_wait_exits_one_when_the_job_fails() {
    let server = start(waiting_fleet(
        JobState::Failed,
        "Fail",
        "OOMKilled: container trainer exit 137",
    ));
    let output = gantry(
        &server,
        &[
            "submit",
            example("finetune-1gpu.yaml").to_str().unwrap(),
            "--wait",
        ],
    );
    assert_exit(&output, 1);
    assert!(
        stdout(&output)
            .lines()
            .last()
            .unwrap()
            .contains("Failed      OOMKilled: container trainer exit 137")
    );
}

#[test]
fn submit_wait_on_an_inference_service_is_done_when_it_runs() {
    let mut state = waiting_fleet(JobState::Failed, "Fail", "must not be reached");
    state.submit_reply = Some(Ok(accepted(
        "finetune-1gpu-abcde",
        JobKind::Inference,
        true,
    )));
    let server = start(state);
    let output = gantry(
        &server,
        &[
            "submit",
            example("inference-vllm.yaml").to_str().unwrap(),
            "--wait",
        ],
    );
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.lines().last().unwrap().contains("Running"), "{text}");
    assert!(!text.contains("must not be reached"), "{text}");
}

// ---- quote -------------------------------------------------------------------

#[test]
fn quote_ranks_placements_and_says_why_the_others_lost() {
    let server = start(fleet());
    let output = gantry(
        &server,
        &[
            "quote",
            example("pretrain-gang-4x8-h100.yaml").to_str().unwrap(),
        ],
    );
    assert_exit(&output, 0);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with(": 2 placements, cheapest first (14 offers considered)"),
        "{text}"
    );
    assert!(lines[2].starts_with("RANK  CLUSTER"), "{text}");
    assert!(
        lines[3].starts_with("   1  gcp-us-central1  a3-spot"),
        "{text}"
    );
    assert!(
        lines[3].contains("$98.32/h")
            && lines[3].contains("6h30m")
            && lines[3].ends_with("$677.03"),
        "{text}"
    );
    assert!(lines[4].starts_with("   2  aws-us-east-1"), "{text}");
    assert!(text.contains("Not chosen:"), "{text}");
    assert!(
        text.contains("capacity: needs 4 nodes, 2 free now"),
        "{text}"
    );
    assert!(text.contains("costlier: $2,556.32 expected"), "{text}");
    assert_eq!(server.state().quotes.len(), 1);

    let output = gantry(
        &server,
        &[
            "quote",
            example("pretrain-gang-4x8-h100.yaml").to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_exit(&output, 0);
    let quote = json(&output);
    assert_eq!(quote["ever_fits"], true);
    assert_eq!(
        quote["placements"][0]["expected_cost"]["total_usd"],
        "677.03"
    );
    assert_eq!(
        quote["explanation"]["candidates"][2]["rejection"],
        "capacity"
    );
}

// ---- get, describe, cancel ---------------------------------------------------

#[test]
fn get_jobs_follows_every_page() {
    let server = start(fleet());
    let output = gantry(&server, &["get", "jobs", "-o", "json"]);
    assert_exit(&output, 0);
    let list = json(&output);
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "llama-8b-sft-x7k2p",
            "mistral-eval-3b1c9",
            "vllm-llama-70b-k2m4q",
            "tokenize-corpus-9f8e7",
            "sweep-lr-3e5-a1b2c",
            "pretrain-70b-zz9x0"
        ]
    );
    let state = server.state();
    let tokens: Vec<&str> = state
        .lists
        .iter()
        .map(|request| request.page_token.as_str())
        .collect();
    assert_eq!(tokens, ["", "page-2", "page-4"]);
}

#[test]
fn get_jobs_sends_the_team_and_state_filters_on_every_page() {
    let server = start(fleet());
    let output = gantry(
        &server,
        &[
            "get", "jobs", "--team", "nlp", "--state", "running", "--state", "Queued", "-o", "json",
        ],
    );
    assert_exit(&output, 0);
    let list = json(&output);
    let ids: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["llama-8b-sft-x7k2p", "mistral-eval-3b1c9"]);
    let state = server.state();
    assert!(!state.lists.is_empty());
    for request in &state.lists {
        assert_eq!(request.team, "nlp");
        assert_eq!(
            request.states,
            [JobState::Running as i32, JobState::Queued as i32]
        );
    }
}

#[test]
fn get_jobs_prints_an_aligned_table_in_human_units() {
    let server = start(fleet());
    let output = gantry(&server, &["get", "jobs"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(
        lines[0].starts_with("ID                     NAME"),
        "{text}"
    );
    let state_column = lines[0].find("STATE").unwrap();
    for line in &lines[1..] {
        // Every row's STATE cell starts under the header, after the padding.
        assert_eq!(&line[state_column - 2..state_column], "  ", "{text}");
        assert_ne!(&line[state_column..=state_column], " ", "{text}");
        assert!(!line.ends_with(' '), "{text:?}");
    }
    assert!(
        lines[1].contains("Running")
            && lines[1].contains("gcp-us-central1")
            && lines[1].contains("$98.32/h")
            && lines[1].ends_with("3m ago"),
        "{text}"
    );
    assert!(
        lines[2].contains("Queued") && lines[2].ends_with("12m ago"),
        "{text}"
    );
    assert!(
        lines[3].contains("InferenceService")
            && lines[3].contains("$196.64/h")
            && lines[3].ends_with("1d ago"),
        "{text}"
    );
}

#[test]
fn get_job_json_has_the_documented_fields() {
    let server = start(fleet());
    let output = gantry(&server, &["get", "job", "llama-8b-sft-x7k2p", "-o", "json"]);
    assert_exit(&output, 0);
    let job = json(&output);
    assert_eq!(job["id"], "llama-8b-sft-x7k2p");
    assert_eq!(job["name"], "llama-8b-sft");
    assert_eq!(job["team"], "nlp");
    assert_eq!(job["kind"], "TrainingJob");
    assert_eq!(job["state"], "Running");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["priority"], 100);
    assert_eq!(job["request_id"], "ci-run-41");
    assert_eq!(job["labels"]["experiment"], "sft-v3");
    assert_eq!(job["last_event_seq"], 18);
    let submitted = job["submitted_at"].as_str().unwrap();
    assert!(
        submitted.parse::<jiff::Timestamp>().is_ok() && submitted.ends_with('Z'),
        "{submitted}"
    );
    let placement = &job["placement"];
    assert_eq!(placement["cluster"], "gcp-us-central1");
    assert_eq!(placement["capacity_type"], "spot");
    assert_eq!(placement["gpu_model"], "H100");
    assert_eq!(placement["replicas"], 4);
    assert_eq!(placement["hourly_price_usd"], "98.32");
    assert_eq!(placement["hourly_price_micro_usd"], 98_320_000);
    assert_eq!(placement["expected_runtime_s"], 23_400);
    assert_eq!(placement["expected_cost"]["total_usd"], "677.03");
    assert_eq!(placement["expected_cost"]["total_micro_usd"], 677_030_000);
    assert_eq!(placement["expected_cost"]["spot_loss_usd"], "31.95");

    // A queued job has no placement yet: null, not absent.
    let output = gantry(&server, &["get", "job", "mistral-eval-3b1c9", "-o", "json"]);
    assert_exit(&output, 0);
    let job = json(&output);
    assert!(job.as_object().unwrap().contains_key("placement") && job["placement"].is_null());
}

#[test]
fn yaml_output_parses_for_jobs_clusters_and_quotas() {
    let server = start(fleet());
    let output = gantry(
        &server,
        &["get", "job", "tokenize-corpus-9f8e7", "-o", "yaml"],
    );
    assert_exit(&output, 0);
    let job: Value = serde_saphyr::from_str(&stdout(&output)).unwrap();
    assert_eq!(job["state"], "Succeeded");
    assert_eq!(job["placement"]["gpu_model"], Value::Null);
    assert_eq!(job["placement"]["expected_cost"]["spot_loss_usd"], "0.1045");
    assert_eq!(job["spec_yaml"].as_str().unwrap().lines().count(), 3);

    let output = gantry(&server, &["get", "jobs", "-o", "yaml"]);
    assert_exit(&output, 0);
    let jobs: Value = serde_saphyr::from_str(&stdout(&output)).unwrap();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 6);

    let output = gantry(&server, &["clusters", "-o", "yaml"]);
    assert_exit(&output, 0);
    let clusters: Value = serde_saphyr::from_str(&stdout(&output)).unwrap();
    assert_eq!(clusters["clusters"][1]["health"], "degraded");
    assert_eq!(
        clusters["clusters"][0]["pools"][1]["price_per_node_hour_usd"],
        "39.33"
    );
    assert_eq!(
        clusters["clusters"][2]["pools"][0]["price_per_node_hour_usd"],
        Value::Null
    );

    let output = gantry(&server, &["quotas", "-o", "yaml"]);
    assert_exit(&output, 0);
    let quotas: Value = serde_saphyr::from_str(&stdout(&output)).unwrap();
    assert_eq!(quotas["teams"][0]["team"], "nlp");
    assert_eq!(quotas["teams"][0]["gpus_by_model"]["H100"]["limit"], 16);
    assert_eq!(quotas["teams"][0]["budget_per_day_usd"], "5000.00");
    assert_eq!(quotas["teams"][2]["gpus"]["limit"], Value::Null);
}

#[test]
fn describe_shows_placement_cost_events_and_the_explanation() {
    let server = start(fleet());
    let output = gantry(&server, &["describe", "job", "llama-8b-sft-x7k2p"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("Job:         llama-8b-sft-x7k2p\n"), "{text}");
    assert!(
        text.contains("State:       Running (attempt 1)\n"),
        "{text}"
    );
    assert!(
        text.contains("Cluster:          gcp-us-central1 (gcp, us-central1)"),
        "{text}"
    );
    assert!(
        text.contains("Price:            $98.32/h (price-table)"),
        "{text}"
    );
    assert!(
        text.contains(
            "Expected cost:    $677.03 = compute $639.08 + egress $6.00 + spot loss $31.95"
        ),
        "{text}"
    );
    let events: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "Events:")
        .skip(2)
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(events.len(), 5, "{text}");
    assert!(
        events[0]
            .trim_start()
            .starts_with("11  2025-06-15T15:07:57Z"),
        "{text}"
    );
    assert!(
        events[1].contains("Queued")
            && events[1].contains("Placed")
            && events[1].contains("scheduler"),
        "{text}"
    );
    assert!(
        text.contains("Explanation (decided 2m ago, 14 offers considered):"),
        "{text}"
    );
    assert!(text.contains("chosen"), "{text}");
    assert!(
        text.contains("capacity: needs 4 nodes, 2 free now"),
        "{text}"
    );
    let request = server.state().gets[0].clone();
    assert!(request.include_events);

    let output = gantry(&server, &["describe", "job", "mistral-eval-3b1c9"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("Placement: none yet"), "{text}");
    assert!(
        text.contains("  Waiting: team quota nlp: 16 of 16 H100 in use"),
        "{text}"
    );
    assert!(
        text.contains("team-quota: team nlp: 16 of 16 H100 in use"),
        "{text}"
    );
}

#[test]
fn an_unknown_job_is_not_found_and_exits_one() {
    let server = start(fleet());
    let output = gantry(&server, &["get", "job", "no-such-job"]);
    assert_exit(&output, 1);
    assert_eq!(
        stderr(&output),
        "error: get job no-such-job: not found: no job `no-such-job`\n"
    );
}

#[test]
fn cancel_cancels_a_live_job_and_refuses_a_finished_one_in_words() {
    let server = start(fleet());
    let output = gantry(
        &server,
        &[
            "cancel",
            "mistral-eval-3b1c9",
            "--reason",
            "superseded by v4",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "job mistral-eval-3b1c9 cancelled\n");
    assert_eq!(server.state().cancels[0].reason, "superseded by v4");

    let output = gantry(&server, &["cancel", "sweep-lr-3e5-a1b2c"]);
    assert_exit(&output, 1);
    assert_eq!(
        stderr(&output),
        "error: cancel sweep-lr-3e5-a1b2c: not possible in the current state: job `sweep-lr-3e5-a1b2c` has already ended (JOB_STATE_FAILED)\n"
    );
}

// ---- watch -------------------------------------------------------------------

#[test]
fn watch_resumes_after_dropped_streams_without_repeating_events() {
    let mut state = fleet();
    // Drop after two events, then at once, then after one more; then run on.
    state.watch_drops = [2, 0, 1].into_iter().collect();
    let server = start(state);
    let output = gantry(&server, &["watch", "llama-8b-sft-x7k2p"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let states: Vec<&str> = lines
        .iter()
        .map(|line| line.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        states,
        ["Queued", "Placed", "Launching", "Running", "Succeeded"],
        "{text}"
    );
    let after: Vec<u64> = server
        .state()
        .watches
        .iter()
        .map(|request| request.after_seq)
        .collect();
    assert_eq!(after, [0, 12, 12, 15]);
    let notes = stderr(&output);
    assert_eq!(notes.lines().count(), 3, "{notes}");
    assert!(notes.contains("watch llama-8b-sft-x7k2p: stream broke: the fake dropped the stream; resuming after event 12"), "{notes}");
    assert!(notes.contains("resuming after event 15"), "{notes}");
}

#[test]
fn watch_gives_up_on_a_stream_that_keeps_breaking_without_events() {
    let mut state = fleet();
    state.watch_drops = std::iter::repeat_n(0, 20).collect();
    let server = start(state);
    let output = gantry(&server, &["watch", "llama-8b-sft-x7k2p"]);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("the event stream broke 8 times in a row without a new event"),
        "{}",
        stderr(&output)
    );
    assert_eq!(server.state().watches.len(), 8);
}

// ---- fleet -------------------------------------------------------------------

#[test]
fn clusters_and_quotas_print_tables_and_server_comes_from_the_environment() {
    let server = start(fleet());
    let address = server.address.to_string(); // HOST:PORT, no scheme
    let output = gantry_with_env(
        &["clusters"],
        &[("GANTRY_SERVER", &address), ("GANTRY_TOKEN", "env-token")],
    );
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "CLUSTER           CLOUD  REGION       HEALTH     JOBS  POOLS   GPUS  WHY\n"
        ),
        "{text}"
    );
    assert!(text.contains("gcp-us-central1   gcp    us-central1  degraded      1      1  32/64  API latency p99 2.4s"), "{text}");
    assert!(
        text.contains("$98.32/h  live (5m old)")
            && text.contains("price-table*")
            && text.contains(
                "aws-us-east-1/p5-spot: live price rejected: price 0.00001 is a placeholder"
            ),
        "{text}"
    );
    assert!(text.contains("2000Gi/7200Gi"), "{text}");
    // A pool whose nodes disagree with the cloud's catalog is marked and explained.
    assert!(
        text.contains("gcp-us-central1   a3-spot!")
            && text.contains(
                "! nodes disagree with the cloud's instance catalog:\n  gcp-us-central1/a3-spot (a3-highgpu-8g): vcpus: pool 192, catalog 208\n"
            ),
        "{text}"
    );
    assert!(
        text.contains(
            "Issues:\n  gcp-us-central1: node gke-a3-7 has no instance-type label; left out\n"
        ),
        "{text}"
    );

    let output = gantry_with_env(&["quotas"], &[("GANTRY_SERVER", &address)]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let nlp = text.lines().nth(1).unwrap();
    assert!(nlp.starts_with("nlp "), "{text}");
    for cell in [
        "16/16",
        "H100 16/16",
        "180/400",
        "2000Gi/4Ti",
        "$5,000.00",
        "$1,234.56",
    ] {
        assert!(nlp.contains(cell), "{cell} in {text}");
    }
    assert!(text.lines().nth(3).unwrap().contains("16/∞"), "{text}");
    assert_eq!(
        server.state().authorization,
        vec![Some("Bearer env-token".to_owned()), None]
    );
}

// ---- failures ----------------------------------------------------------------

#[test]
fn an_unreachable_server_is_one_clear_line_and_exit_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("127.0.0.1:{port}");
    for args in [vec!["clusters"], vec!["get", "jobs"], vec!["watch"]] {
        let mut all = vec!["--server", server.as_str()];
        all.extend(args);
        let output = gantry_with_env(&all, &[]);
        assert_exit(&output, 1);
        assert_eq!(
            stderr(&output),
            format!(
                "error: cannot reach gantryd at http://127.0.0.1:{port}: connection refused; is it running? start it with `cargo run --bin gantryd`\n"
            )
        );
    }
}

#[test]
fn usage_errors_exit_two() {
    let file = example("finetune-1gpu.yaml");
    let file = file.to_str().unwrap();
    for args in [
        vec!["get"],
        vec!["get", "pods"],
        vec!["get", "jobs", "--state", "Sleeping"],
        vec!["get", "jobs", "-o", "xml"],
        vec!["submit"],
        vec!["submit", file, "--request-id", ""],
        vec!["submit", file, "--request-id", "has space"],
        vec!["describe", "job"],
        vec!["cancel"],
        vec!["--server", "https://gantry:7070", "clusters"],
        vec!["--token", "two words", "clusters"],
    ] {
        let output = gantry_with_env(&args, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = gantry_with_env(&["get", "jobs", "--state", "Sleeping"], &[]);
    assert!(
        stderr(&output).contains("unknown job state `Sleeping`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn on_a_terminal_watch_draws_a_live_status_line_in_color() {
    // `script` (util-linux, essential on Debian) gives the binary a real pty.
    let server = start(fleet());
    let command = format!(
        "{} --server {} watch llama-8b-sft-x7k2p",
        env!("CARGO_BIN_EXE_gantry"),
        server.url()
    );
    let output = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("GANTRY_SERVER")
        .env_remove("GANTRY_TOKEN")
        .env("TERM", "xterm-256color")
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let screen = stdout(&output);
    // Short times, colored states, and a status line cleared before each event.
    assert!(
        screen.contains("15:07:57  \x1b[36mQueued    \x1b[0m  accepted: fits 3 clusters"),
        "{screen:?}"
    );
    assert!(
        screen.contains("\x1b[32mSucceeded \x1b[0m  all 4 replicas exited 0"),
        "{screen:?}"
    );
    let spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
    assert!(
        spinner
            .iter()
            .any(|frame| screen.contains(&format!("\r\x1b[2K{frame} \x1b[32mRunning\x1b[0m for "))),
        "{screen:?}"
    );
    // The status line is erased at the end, leaving only the event lines.
    assert!(screen.ends_with("\r\x1b[2K"), "{screen:?}");
    assert!(
        screen.contains("(job llama-8b-sft-x7k2p; Ctrl-C stops watching, not the job)"),
        "{screen:?}"
    );
    assert!(!screen.contains("2025-06-15T"), "{screen:?}");
}
