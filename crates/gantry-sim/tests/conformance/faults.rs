//! Fault scenarios, each asserting what a kube-rs client sees.

use std::time::Duration;

use futures_util::StreamExt;
use gantry_sim::Fault;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::common::{self, await_pod, client, gpu_pod, phase, start_fleet};

fn condition<'a>(pod: &'a Pod, kind: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

#[tokio::test]
async fn spot_interruption_fails_pods_like_a_node_shutdown_and_removes_the_node() {
    let fleet = start_fleet(common::options()).await;
    let cluster = &fleet.clusters()[0];
    let client = client(cluster);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    pods.create(&PostParams::default(), &gpu_pod("spot", "10h", 0, json!({"eks.amazonaws.com/capacityType": "SPOT", "sim.gantry.dev/pool": "g5-a10g-spot"})))
        .await
        .unwrap();
    let running = await_pod(&pods, "spot", |pod| phase(pod) == "Running").await;
    let node = running.spec.unwrap().node_name.unwrap();
    let outcome = cluster
        .inject(Fault::SpotInterruption {
            node: Some(node.clone()),
            pool: None,
        })
        .await
        .unwrap();
    assert_eq!(outcome["failedPods"], json!(["default/spot"]));
    let failed = await_pod(&pods, "spot", |pod| phase(pod) == "Failed").await;
    let status = failed.status.clone().unwrap();
    assert_eq!(status.reason.as_deref(), Some("Terminated"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was terminated in response to imminent node shutdown.")
    );
    let disruption = condition(&failed, "DisruptionTarget").unwrap();
    assert_eq!(
        (disruption.status.as_str(), disruption.reason.as_deref()),
        ("True", Some("TerminationByKubelet"))
    );
    assert_eq!(
        status.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap()
            .exit_code,
        137
    );
    match nodes.get(&node).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!("node should be gone, got {other:?}"),
    }
    // The pool is replenished after the replacement delay (120 s simulated).
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let pool = nodes
                .list(&ListParams::default().labels("sim.gantry.dev/pool=g5-a10g-spot"))
                .await
                .unwrap();
            if pool.items.len() == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    fleet.shutdown().await;
}

#[tokio::test]
async fn node_failure_makes_the_node_not_ready_and_its_pods_node_lost() {
    let fleet = start_fleet(common::options()).await;
    let cluster = &fleet.clusters()[0];
    let client = client(cluster);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    pods.create(
        &PostParams::default(),
        &gpu_pod(
            "lost",
            "10h",
            0,
            json!({"nvidia.com/gpu.product": "NVIDIA-L4"}),
        ),
    )
    .await
    .unwrap();
    let running = await_pod(&pods, "lost", |pod| phase(pod) == "Running").await;
    let node = running.spec.unwrap().node_name.unwrap();
    cluster
        .inject(Fault::NodeFailure { node: node.clone() })
        .await
        .unwrap();
    let failed_node = nodes.get(&node).await.unwrap();
    let ready = failed_node
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("Unknown", Some("NodeStatusUnknown"))
    );
    assert!(
        failed_node
            .spec
            .unwrap()
            .taints
            .unwrap()
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")
    );
    let lost = await_pod(&pods, "lost", |pod| phase(pod) == "Failed").await;
    assert_eq!(
        lost.status.as_ref().unwrap().reason.as_deref(),
        Some("NodeLost")
    );
    assert_eq!(
        condition(&lost, "DisruptionTarget")
            .unwrap()
            .reason
            .as_deref(),
        Some("DeletionByTaintManager")
    );
    // New pods avoid the node; after recovery it is Ready again.
    cluster
        .inject(Fault::NodeRecovery { node: node.clone() })
        .await
        .unwrap();
    let recovered = nodes.get(&node).await.unwrap();
    assert!(
        recovered
            .status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn unschedulable_pods_stay_pending_with_a_failed_scheduling_event() {
    let fleet = start_fleet(common::options()).await;
    let client = client(&fleet.clusters()[0]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut pod = gpu_pod(
        "huge",
        "1h",
        0,
        json!({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
    );
    pod.spec.as_mut().unwrap().containers[0]
        .resources
        .as_mut()
        .unwrap()
        .limits
        .as_mut()
        .unwrap()
        .insert(
            "nvidia.com/gpu".to_owned(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("16".to_owned()),
        );
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let pending = await_pod(&pods, "huge", |pod| {
        condition(pod, "PodScheduled").is_some_and(|c| c.status == "False")
    })
    .await;
    let scheduled = condition(&pending, "PodScheduled").unwrap();
    assert_eq!(scheduled.reason.as_deref(), Some("Unschedulable"));
    let message = scheduled.message.clone().unwrap();
    assert!(message.starts_with("0/"), "{message}");
    assert!(message.contains("Insufficient nvidia.com/gpu"), "{message}");
    assert_eq!(phase(&pending), "Pending");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let listed = events
        .list(&ListParams::default().fields("involvedObject.name=huge,reason=FailedScheduling"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].type_.as_deref(), Some("Warning"));
    fleet.shutdown().await;
}

#[tokio::test]
async fn api_errors_are_status_objects_and_429_says_when_to_retry() {
    let fleet = start_fleet(common::options()).await;
    let cluster = &fleet.clusters()[0];
    let client = common::client_without_retry(cluster);
    let nodes: Api<Node> = Api::all(client.clone());
    cluster
        .inject(Fault::ApiErrors {
            rate: 1.0,
            code: 500,
            retry_after_seconds: 1,
        })
        .await
        .unwrap();
    match nodes.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(
            (status.code, status.reason.as_str()),
            (500, "InternalError")
        ),
        other => panic!("expected 500, got {other:?}"),
    }
    cluster
        .inject(Fault::ApiErrors {
            rate: 1.0,
            code: 429,
            retry_after_seconds: 7,
        })
        .await
        .unwrap();
    let response = raw_request(cluster.base_url(), "GET", "/api/v1/nodes", None).await;
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 7\r\n"),
        "{response}"
    );
    assert!(response.contains("\"retryAfterSeconds\":7"), "{response}");
    match nodes.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(
            (status.code, status.reason.as_str()),
            (429, "TooManyRequests")
        ),
        other => panic!("expected 429, got {other:?}"),
    }
    // The admin endpoint itself is exempt, and `clear` ends it.
    let admin = raw_request(
        cluster.base_url(),
        "POST",
        "/sim/v1/faults",
        Some(json!({"kind": "clear"})),
    )
    .await;
    assert!(admin.starts_with("HTTP/1.1 200"), "{admin}");
    assert!(admin.contains("apiFaults"), "{admin}");
    assert!(nodes.list(&ListParams::default()).await.is_ok());
    cluster.inject(Fault::Latency { millis: 20 }).await.unwrap();
    assert!(
        nodes.list(&ListParams::default()).await.is_ok(),
        "latency delays but does not fail"
    );
    fleet.shutdown().await;
}

/// A bare HTTP/1.1 request over TCP (no client of ours), returning the raw response.
async fn raw_request(
    base_url: String,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn dropped_watches_are_resumed_by_the_watcher() {
    let fleet = start_fleet(common::options()).await;
    let cluster = &fleet.clusters()[0];
    let client = client(cluster);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut names = watcher(pods.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    pods.create(
        &PostParams::default(),
        &gpu_pod("before", "10h", 0, json!({})),
    )
    .await
    .unwrap();
    loop {
        let pod = tokio::time::timeout(Duration::from_secs(10), names.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if pod.metadata.name.as_deref() == Some("before") {
            break;
        }
    }
    cluster.inject(Fault::DropWatches).await.unwrap();
    pods.create(
        &PostParams::default(),
        &gpu_pod("after", "10h", 0, json!({})),
    )
    .await
    .unwrap();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), names.next())
            .await
            .unwrap()
            .unwrap();
        if let Ok(pod) = next
            && pod.metadata.name.as_deref() == Some("after")
        {
            break;
        }
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_dark_cluster_refuses_connections_and_comes_back() {
    let fleet = start_fleet(common::options()).await;
    let cluster = &fleet.clusters()[0];
    let nodes: Api<Node> = Api::all(client(cluster));
    assert!(nodes.list(&ListParams::default()).await.is_ok());
    cluster.go_dark();
    cluster.wait_serving(false).await;
    let refused = tokio::net::TcpStream::connect(cluster.address()).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // A fresh client sees a connection error, not an API status.
    match Api::<Node>::all(client(cluster))
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            panic!("expected a connection error, got status {status:?}")
        }
        Err(_) => {}
        Ok(_) => panic!("a dark cluster answered"),
    }
    cluster.come_back();
    cluster.wait_serving(true).await;
    let listed = Api::<Node>::all(client(cluster))
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 28);
    fleet.shutdown().await;
}

#[tokio::test]
async fn an_unresolvable_registry_leaves_the_pod_pending_in_err_image_pull() {
    let fleet = start_fleet(common::options()).await;
    let client = client(&fleet.clusters()[0]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut pod = gpu_pod("pull", "1h", 0, json!({}));
    pod.spec.as_mut().unwrap().containers[0].image =
        Some("registry.invalid/acme/trainer:1.0".to_owned());
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let waiting = await_pod(&pods, "pull", |pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|statuses| !statuses.is_empty())
    })
    .await;
    assert_eq!(phase(&waiting), "Pending");
    let state = waiting.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(state.reason.as_deref(), Some("ErrImagePull"));
    assert!(
        state
            .message
            .unwrap()
            .contains("lookup registry.invalid: no such host")
    );
    let events: Api<Event> = Api::namespaced(client, "default");
    let listed = events.list(&ListParams::default()).await.unwrap();
    assert!(listed.items.iter().any(|event| {
        event.reason.as_deref() == Some("Failed")
            && event.involved_object.name.as_deref() == Some("pull")
            && event.type_.as_deref() == Some("Warning")
    }));
}

#[tokio::test]
async fn the_termination_reason_annotation_names_how_a_container_died() {
    let fleet = start_fleet(common::options()).await;
    let client = client(&fleet.clusters()[0]);
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut pod = gpu_pod("oom", "10m", 137, json!({}));
    pod.metadata.annotations.as_mut().unwrap().insert(
        "sim.gantry.dev/termination-reason".to_owned(),
        "OOMKilled".to_owned(),
    );
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let failed = await_pod(&pods, "oom", |pod| phase(pod) == "Failed").await;
    let terminated = failed.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (137, Some("OOMKilled"))
    );
}
