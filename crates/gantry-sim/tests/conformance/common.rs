use std::time::Duration;

use gantry_sim::{SimCluster, SimFleet, SimOptions};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::json;

pub const TIME_SCALE: f64 = 3600.0;

pub fn fleet_config() -> gantry_core::FleetConfig {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/fleet-dev.yaml"
    ))
    .unwrap();
    gantry_spec::parse_config(&text).unwrap()
}

pub fn options() -> SimOptions {
    SimOptions {
        time_scale: Some(TIME_SCALE),
        bookmark_interval: Duration::from_millis(200),
        ..SimOptions::default()
    }
}

pub async fn start_fleet(options: SimOptions) -> SimFleet {
    SimFleet::start(&fleet_config(), options).await.unwrap()
}

pub fn client(cluster: &SimCluster) -> kube::Client {
    let config = kube::Config::new(cluster.base_url().parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

/// A client without kube's default retry of 429/503/504, to see the raw answer.
pub fn client_without_retry(cluster: &SimCluster) -> kube::Client {
    let mut config = kube::Config::new(cluster.base_url().parse().unwrap());
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

/// Waits (bounded) until the pod satisfies `condition`.
pub async fn await_pod(api: &Api<Pod>, name: &str, condition: impl Fn(&Pod) -> bool) -> Pod {
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(api.clone(), name, move |pod: Option<&Pod>| {
            pod.is_some_and(&condition)
        }),
    )
    .await
    .expect("condition not reached in 30 s")
    .unwrap();
    waited.expect("pod deleted while waiting")
}

/// A pod that runs `duration` (simulated) on an L4 GPU node, exiting with `code`.
pub fn gpu_pod(name: &str, duration: &str, code: i32, extra_selector: serde_json::Value) -> Pod {
    let mut selector = json!({"nvidia.com/gpu.product": "NVIDIA-L4"});
    if let (Some(map), Some(extra)) = (selector.as_object_mut(), extra_selector.as_object()) {
        map.clear();
        for (key, value) in extra {
            map.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "conformance"}, "annotations": {
            "sim.gantry.dev/duration": duration,
            "sim.gantry.dev/exit-code": code.to_string(),
        }},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": selector,
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "main", "image": "busybox:1.36", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        },
    }))
    .unwrap()
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}
