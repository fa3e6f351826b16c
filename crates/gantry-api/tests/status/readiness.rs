//! `/healthz` and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gantry_kube::{ClusterView, Health};
use gantry_store::MemoryStore;

use crate::support::{Server, StallingStore, empty_snapshot, snapshot, store_with_jobs};

#[tokio::test]
async fn healthz_answers_ok_whatever_the_state() {
    let server = Server::start(empty_snapshot(), Arc::new(MemoryStore::new())).await;
    let reply = server.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "ok\n");
    assert!(reply.header("content-type").starts_with("text/plain"));
}

#[tokio::test]
async fn readyz_waits_for_recovery_then_names_degraded_and_lost_clusters() {
    let server = Server::start(snapshot(false), store_with_jobs().await).await;
    let before = server.get("/readyz").await;
    assert_eq!(before.status, 503, "{}", before.body);
    assert!(
        before
            .body
            .lines()
            .any(|line| line == "not ready: control loop has not recovered yet"),
        "{}",
        before.body
    );
    assert!(before.body.contains("ok: store answers"), "{}", before.body);

    server.snapshots.send_replace(Arc::new(snapshot(true)));
    let after = server.get("/readyz").await;
    assert_eq!(after.status, 200, "{}", after.body);
    let lines: Vec<&str> = after.body.lines().collect();
    assert_eq!(
        lines,
        [
            "ok: store answers",
            "ok: control loop recovered",
            "ok: 2 of 3 clusters serving",
            "ok: cluster \"aws-us-east-1\" reachable",
            "lost: cluster \"azure-eastus\": no call has succeeded for 95s",
            "degraded: cluster \"gcp-us-central1\": 3 of 10 calls failed: 429 \"Too Many Requests\"",
        ],
        "one line per check, clusters by name"
    );
}

fn with_health(health: Health) -> Vec<Arc<ClusterView>> {
    crate::support::clusters()
        .into_iter()
        .map(|view| {
            let mut view = (*view).clone();
            view.health = health;
            view.health_reason = format!("{}\nsecond line", view.cluster);
            Arc::new(view)
        })
        .collect()
}

#[tokio::test]
async fn readyz_is_unavailable_when_every_cluster_is_lost_or_none_is_known() {
    let mut lost = snapshot(true);
    lost.clusters = with_health(Health::Lost);
    let server = Server::start(lost, store_with_jobs().await).await;
    let reply = server.get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert!(
        reply
            .body
            .contains("not ready: none of 3 clusters is serving"),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("lost: cluster \"aws-us-east-1\": aws-us-east-1\\nsecond line"),
        "a reason's line break is escaped, so a check stays one line: {}",
        reply.body
    );
    assert_eq!(reply.body.lines().count(), 6);

    let mut degraded = snapshot(true);
    degraded.clusters = with_health(Health::Degraded);
    server.snapshots.send_replace(Arc::new(degraded));
    let reply = server.get("/readyz").await;
    assert_eq!(reply.status, 200, "degraded clusters still serve");
    assert_eq!(
        reply
            .body
            .lines()
            .filter(|line| line.starts_with("degraded: cluster "))
            .count(),
        3,
        "{}",
        reply.body
    );

    let mut none = empty_snapshot();
    none.recovered = true;
    server.snapshots.send_replace(Arc::new(none));
    let reply = server.get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert!(reply.body.contains("not ready: no cluster is known"));
}

#[tokio::test]
async fn a_store_that_does_not_answer_makes_readyz_unavailable_and_is_reported_elsewhere() {
    let inner = MemoryStore::new();
    let store = Arc::new(StallingStore {
        inner,
        stalled: AtomicBool::new(true),
    });
    let server = Server::start(snapshot(true), store.clone()).await;
    let reply = server.get("/readyz").await;
    assert_eq!(reply.status, 503);
    assert!(
        reply
            .body
            .lines()
            .any(|line| line == "not ready: store did not answer within 1000 ms"),
        "{}",
        reply.body
    );

    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200, "metrics still answer");
    let parsed = crate::exposition::parse(&metrics.body).unwrap();
    assert_eq!(parsed.value("gantry_store_up", &[]), Some(0.0));
    assert!(
        !parsed.families.contains_key("gantry_jobs"),
        "no invented zeros for a store that did not answer"
    );
    assert_eq!(parsed.value("gantry_placements_total", &[]), Some(7.0));

    let json: serde_json::Value =
        serde_json::from_str(&server.get("/api/v1/status").await.body).unwrap();
    assert_eq!(json["job_counts"], serde_json::Value::Null);
    assert_eq!(json["store"]["ready"], false);
    assert_eq!(
        json["store"]["problem"], "did not answer within 1000 ms",
        "{json}"
    );

    store.stalled.store(false, Ordering::SeqCst);
    assert_eq!(server.get("/readyz").await.status, 200);
}
