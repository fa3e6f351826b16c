//! A misbehaving cluster: spot interruptions, 500 storms, dropped watches,
//! a cluster that goes dark.

use std::time::Duration;

use gantry_kube::{ExecutorEvent, Health, Phase};
use gantry_sim::Fault;

use crate::support::{Harness, dev_fleet_text, fast_settings, key, request, target, training_job};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_spot_interruption_mid_run_is_a_preemption_with_its_reason() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let key = key("sweep-spot", 1);
    let spec = training_job("sweep", 4, "A10G", 1, "  placement: {spot: required}\n");
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "g5-a10g-spot",
        1,
        Duration::from_secs(36_000),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    harness.wait_phase(&key, Phase::Running, WAIT).await;
    let pods = harness.pods_of("aws-us-east-1", &key).await;
    let node = pods[0].spec.as_ref().unwrap().node_name.clone().unwrap();
    harness
        .fleet
        .cluster("aws-us-east-1")
        .unwrap()
        .inject(Fault::SpotInterruption {
            node: Some(node),
            pool: None,
        })
        .await
        .unwrap();
    match harness.wait_final(&key, WAIT).await {
        ExecutorEvent::Phase {
            phase,
            reason,
            message,
            exits,
            ..
        } => {
            assert_eq!(
                (phase, reason.as_str()),
                (Phase::Preempted, "SpotInterruption")
            );
            assert!(message.contains("imminent node shutdown"), "{message}");
            assert_eq!(exits.first().map(|exit| exit.exit_code), Some(137));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        harness.phases(&key),
        vec![
            (Phase::Launching, false),
            (Phase::Running, false),
            (Phase::Preempted, false)
        ]
    );
    // The interrupted attempt is cleaned up.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !harness.jobs_of("aws-us-east-1", &key).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the preempted Job was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.shutdown().await;
}

#[tokio::test]
async fn a_500_storm_and_a_dropped_watch_lose_no_event() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let cluster = harness.fleet.cluster("gcp-us-central1").unwrap().clone();
    cluster
        .inject(Fault::ApiErrors {
            rate: 0.5,
            code: 500,
            retry_after_seconds: 1,
        })
        .await
        .unwrap();
    let keys: Vec<_> = (0..4).map(|i| key(&format!("storm-{i}"), 1)).collect();
    for job_key in &keys {
        let spec = training_job("storm", 1, "L4", 1, "");
        let target = target(
            &harness.config,
            "gcp-us-central1",
            "g2-l4",
            1,
            Duration::from_secs(1800),
        );
        harness
            .executor()
            .launch(request(job_key, spec, target))
            .unwrap();
    }
    harness.wait_phase(&keys[0], Phase::Running, WAIT).await;
    cluster.inject(Fault::DropWatches).await.unwrap();
    for job_key in &keys {
        let done = harness.wait_final(job_key, Duration::from_secs(60)).await;
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
        let phases: Vec<Phase> = harness
            .phases(job_key)
            .into_iter()
            .map(|(phase, _)| phase)
            .collect();
        assert_eq!(
            phases,
            vec![Phase::Launching, Phase::Running, Phase::Succeeded],
            "{job_key}: every transition once, in order"
        );
    }
    // Our own client would see the storm too: calm it before counting.
    cluster.inject(Fault::Clear).await.unwrap();
    for job_key in &keys {
        assert_eq!(
            harness.jobs_of("gcp-us-central1", job_key).await.len(),
            1,
            "never two copies"
        );
    }
    assert!(
        harness.seen.iter().any(|event| matches!(event, ExecutorEvent::Health { cluster, health: Health::Degraded, .. } if cluster == "gcp-us-central1")),
        "the storm is reported as a degraded cluster"
    );
    harness.shutdown().await;
}

#[tokio::test]
async fn a_cluster_that_goes_dark_is_lost_with_its_jobs_and_comes_back() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let key = key("on-azure", 1);
    let spec = training_job("on-azure", 1, "A10", 1, "");
    let target = target(
        &harness.config,
        "azure-westeurope",
        "nv-a10",
        1,
        Duration::from_secs(36_000),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    harness.wait_phase(&key, Phase::Running, WAIT).await;
    let cluster = harness.fleet.cluster("azure-westeurope").unwrap().clone();
    cluster.go_dark();
    cluster.wait_serving(false).await;
    let lost = harness
        .wait_for("the cluster lost", WAIT, |event| {
            matches!(event, ExecutorEvent::Health { cluster, health: Health::Lost, .. } if cluster == "azure-westeurope")
        })
        .await;
    let ExecutorEvent::Health { reason, .. } = lost else {
        unreachable!()
    };
    assert!(reason.contains("no successful call"), "{reason}");
    harness
        .wait_for(
            "its job reported lost",
            WAIT,
            |event| matches!(event, ExecutorEvent::WorkloadLost { key: k, .. } if *k == key),
        )
        .await;
    let view = harness.executor().view("azure-westeurope").unwrap();
    assert_eq!(view.health, Health::Lost);
    // The other clusters are unaffected.
    assert_ne!(
        harness.executor().view("aws-us-east-1").unwrap().health,
        Health::Lost
    );
    cluster.come_back();
    harness
        .wait_for("the cluster back", WAIT, |event| {
            matches!(event, ExecutorEvent::Health { cluster, health, .. } if cluster == "azure-westeurope" && *health != Health::Lost)
        })
        .await;
    harness.shutdown().await;
}

#[tokio::test]
async fn a_throttling_cluster_is_waited_for_as_retry_after_says() {
    let mut harness = Harness::start(&dev_fleet_text(), fast_settings()).await;
    harness.want_nothing();
    let cluster = harness.fleet.cluster("aws-us-east-1").unwrap().clone();
    cluster
        .inject(Fault::ApiErrors {
            rate: 1.0,
            code: 429,
            retry_after_seconds: 1,
        })
        .await
        .unwrap();
    let throttled_at = tokio::time::Instant::now();
    let key = key("patient", 1);
    let spec = training_job("patient", 1, "L4", 1, "");
    let target = target(
        &harness.config,
        "aws-us-east-1",
        "g6-l4",
        1,
        Duration::from_secs(600),
    );
    harness
        .executor()
        .launch(request(&key, spec, target))
        .unwrap();
    let calm = cluster.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        calm.inject(Fault::Clear).await.unwrap();
    });
    harness.wait_phase(&key, Phase::Launching, WAIT).await;
    assert!(
        throttled_at.elapsed() >= Duration::from_millis(1500),
        "created while the server still said 429"
    );
    let degraded = harness
        .wait_for("throttling reported", WAIT, |event| {
            matches!(event, ExecutorEvent::Health { cluster, health: Health::Degraded, .. } if cluster == "aws-us-east-1")
        })
        .await;
    let ExecutorEvent::Health { reason, .. } = degraded else {
        unreachable!()
    };
    assert!(reason.contains("429"), "{reason}");
    let done = harness.wait_final(&key, WAIT).await;
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
    assert_eq!(harness.jobs_of("aws-us-east-1", &key).await.len(), 1);
    harness.shutdown().await;
}
