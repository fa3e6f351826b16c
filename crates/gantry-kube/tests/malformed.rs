//! Nothing a cluster sends can panic the executor's readers: realistic Job,
//! Pod, Deployment and Node objects, mutated at random (a field nulled, made
//! a number, a string, an empty object or list), are either refused by
//! deserialization (the watch reports an error) or read without panicking.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use gantry_core::{Cloud, PriceTable};
use gantry_kube::inventory::{self, Prices};
use gantry_kube::observe::{observe_inference, observe_training};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use proptest::prelude::*;
use serde_json::{Value, json};

fn job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "j-1", "annotations": {"gantry.dev/capacity-type": "spot"}, "labels": {"gantry.dev/job-id": "j", "gantry.dev/attempt": "1", "app.kubernetes.io/managed-by": "gantry"}},
        "spec": {"completions": 2, "parallelism": 2, "completionMode": "Indexed", "template": {"spec": {"containers": [{"name": "main", "image": "i"}]}}},
        "status": {"active": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "m", "lastTransitionTime": "2026-12-01T00:00:00Z"}], "completionTime": "2026-12-01T00:00:00Z"}})
}

fn pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "j-1-0-abcde", "annotations": {"batch.kubernetes.io/job-completion-index": "0"}, "labels": {"gantry.dev/job-id": "j"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "8"}, "requests": {"cpu": "8", "memory": "64Gi"}}}]},
        "status": {"phase": "Failed", "reason": "Terminated", "message": "m", "startTime": "2026-12-01T00:00:00Z",
            "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "lastTransitionTime": "2026-12-01T00:00:00Z"}, {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3"}],
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}, "waiting": {"reason": "ErrImagePull", "message": "x"}}}]}})
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d-1"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {}},
        "status": {"readyReplicas": 1}})
}

fn node() -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "labels": {"node.kubernetes.io/instance-type": "p4d.24xlarge", "topology.kubernetes.io/zone": "us-east-1a", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB", "gantry.dev/capacity-type": "spot"}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {"capacity": {"cpu": "96", "memory": "1152Gi", "nvidia.com/gpu": "8"}, "allocatable": {"cpu": "95", "memory": "1100Gi", "nvidia.com/gpu": "8"},
            "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// Every path to a value in `value`.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(index));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at<'a>(value: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut current = value;
    for step in path {
        current = match step {
            PathStep::Key(key) => current.get_mut(key)?,
            PathStep::Index(index) => current.get_mut(*index)?,
        };
    }
    Some(current)
}

fn replacement(kind: u8, number: i64) -> Value {
    match kind % 7 {
        0 => Value::Null,
        1 => json!(number),
        2 => json!(number.to_string()),
        3 => json!({}),
        4 => json!([]),
        5 => json!("-1"),
        _ => json!("NVIDIA-UNKNOWN 9000 ∞"),
    }
}

fn mutate(mut value: Value, mutations: &[(usize, u8, i64)]) -> Value {
    for (choice, kind, number) in mutations {
        let mut all = Vec::new();
        paths(&value, &mut Vec::new(), &mut all);
        let path = &all[choice % all.len()];
        if let Some(slot) = at(&mut value, path) {
            *slot = replacement(*kind, *number);
        }
    }
    value
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_objects_never_panic_the_readers(
        mutations in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<i64>()), 1..6),
    ) {
        let table = PriceTable::default();
        let overrides = BTreeMap::new();
        let prices = Prices { cloud: Cloud::Aws, region: "us-east-1", table: &table, overrides: &overrides, live: None, catalog: None };
        let pods: Vec<Pod> = [mutate(pod(), &mutations), pod()]
            .into_iter()
            .filter_map(|value| serde_json::from_value(value).ok())
            .collect();
        let pod_refs: Vec<&Pod> = pods.iter().collect();
        if let Ok(job) = serde_json::from_value::<Job>(mutate(job(), &mutations)) {
            let _ = observe_training(&job, &pod_refs).is_settled();
        }
        if let Ok(deployment) = serde_json::from_value::<Deployment>(mutate(deployment(), &mutations)) {
            let _ = observe_inference(&deployment, &pod_refs);
        }
        let nodes: Vec<Node> = [mutate(node(), &mutations), node()]
            .into_iter()
            .filter_map(|value| serde_json::from_value(value).ok())
            .collect();
        let node_refs: Vec<&Node> = nodes.iter().collect();
        let _ = inventory::build(&node_refs, &pod_refs, prices);
    }
}
