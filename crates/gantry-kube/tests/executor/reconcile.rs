//! Restarts and reconciliation: adopt instead of duplicating, re-create
//! what is missing, collect orphans.

use std::time::Duration;

use gantry_kube::{ExecutorEvent, Phase};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::support::{
    Harness, NAMESPACE, dev_fleet_text, fast_settings, key, request, run, target, training_job,
};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn after_a_restart_running_jobs_are_adopted_not_duplicated() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let key = key("survivor", 1);
    let spec = training_job("survivor", 8, "A100", 2, "");
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "p4d-a100",
        2,
        Duration::from_secs(45 * 60),
    );
    let launch = request(&key, spec, target);
    harness.executor().launch(launch.clone()).unwrap();
    harness.wait_phase(&key, Phase::Running, WAIT).await;
    let before = harness.jobs_of("aws-us-east-1", &key).await;
    assert_eq!(before.len(), 1);
    let uid = before[0].metadata.uid.clone();

    // A new executor (the daemon restarted) is told what should run.
    harness.restart_executor(fast_settings()).await;
    for cluster in harness.config.clusters.clone() {
        let desired = if cluster.name == "aws-us-east-1" {
            vec![run(&launch)]
        } else {
            Vec::new()
        };
        harness
            .executor()
            .set_desired(&cluster.name, desired)
            .unwrap();
    }
    harness
        .wait_for(
            "adoption",
            WAIT,
            |event| matches!(event, ExecutorEvent::Adopted { key: k, .. } if *k == key),
        )
        .await;
    let done = harness.wait_final(&key, Duration::from_secs(60)).await;
    assert!(
        matches!(
            done,
            ExecutorEvent::Phase {
                phase: Phase::Succeeded,
                ..
            }
        ),
        "{done:?}"
    );
    let after = harness.jobs_of("aws-us-east-1", &key).await;
    assert_eq!(after.len(), 1, "one Job, never two");
    assert_eq!(after[0].metadata.uid, uid, "the same Job, adopted");
    assert!(
        !harness.seen.iter().any(|event| matches!(
            event,
            ExecutorEvent::Phase {
                phase: Phase::Launching,
                ..
            }
        )),
        "the new executor created nothing: {:?}",
        harness.seen
    );
    // A second launch of the same attempt (a retried command) adopts too.
    harness.executor().launch(launch).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(harness.jobs_of("aws-us-east-1", &key).await.len(), 1);
    harness.shutdown().await;
}

#[tokio::test]
async fn a_wanted_job_deleted_behind_gantrys_back_is_created_again() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let key = key("phoenix", 1);
    let spec = training_job("phoenix", 1, "L4", 1, "");
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "g6-l4",
        1,
        Duration::from_secs(36_000),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    harness.wait_phase(&key, Phase::Running, WAIT).await;
    let jobs: Api<Job> = Api::namespaced(harness.client("aws-us-east-1"), NAMESPACE);
    let first = jobs.get(&key.object_name()).await.unwrap();
    jobs.delete(&key.object_name(), &DeleteParams::background())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = harness.jobs_of("aws-us-east-1", &key).await;
        if now.len() == 1 && now[0].metadata.uid != first.metadata.uid {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Job was not re-created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.shutdown().await;
}

#[tokio::test]
async fn orphans_are_collected_after_the_grace_period_and_wanted_work_is_not() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    let client = harness.client("gcp-us-central1");
    // Wait for the executor to have made its namespace.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + WAIT;
    while namespaces.get_opt(NAMESPACE).await.unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let labels = json!({"app.kubernetes.io/managed-by": "gantry", "gantry.dev/job-id": "ghost", "gantry.dev/attempt": "1"});
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let ghost: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "ghost-1", "labels": labels},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &ghost).await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let ghost_service: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ghost-1", "labels": labels},
        "spec": {"clusterIP": "None", "selector": {"gantry.dev/job-id": "ghost"}},
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &ghost_service)
        .await
        .unwrap();
    // Nothing is collected before the control loop says what it wants.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(jobs.get_opt("ghost-1").await.unwrap().is_some());

    let key = key("wanted", 1);
    let spec = training_job("wanted", 1, "L4", 1, "");
    let target = target(
        &harness.config,
        "gcp-us-central1",
        "g2-l4",
        1,
        Duration::from_secs(36_000),
    );
    harness.want_nothing();
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    for kind in ["Job", "Service"] {
        harness
            .wait_for("an orphan deleted", WAIT, |event| {
                matches!(event, ExecutorEvent::OrphanDeleted { kind: k, name, .. } if k == kind && name == "ghost-1")
            })
            .await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while jobs.get_opt("ghost-1").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orphan Job survived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.wait_phase(&key, Phase::Running, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let managed = jobs
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=gantry"))
        .await
        .unwrap();
    let names: Vec<_> = managed
        .items
        .iter()
        .filter_map(|job| job.metadata.name.clone())
        .collect();
    assert_eq!(
        names,
        vec!["wanted-1".to_owned()],
        "wanted work is never collected"
    );
    harness.shutdown().await;
}
