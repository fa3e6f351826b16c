//! The simulated kubelet's effect on pod status, as pure functions of the pod
//! and the time: start (Running, containers running and ready), finish
//! (Succeeded or Failed with the exit code from `sim.gantry.dev/exit-code` and
//! the container reason from `sim.gantry.dev/termination-reason`, e.g.
//! `OOMKilled`), an image that cannot be pulled (a registry host under the
//! reserved `.invalid` top-level domain, which never resolves: the pod stays
//! `Pending` with its containers waiting in `ErrImagePull`, as a kubelet
//! reports a registry it cannot reach), and the disruptions a node can cause.
//! The engine decides when; these say what.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::clock::SimTime;
use crate::object_meta::{meta_str, object_at_mut, set_at, set_condition, str_at, value_at};

/// Annotation: how long the pod's containers run, e.g. `90s`, `2h`.
pub const DURATION_ANNOTATION: &str = "sim.gantry.dev/duration";
/// Annotation: the exit code of its containers (default 0).
pub const EXIT_CODE_ANNOTATION: &str = "sim.gantry.dev/exit-code";

/// Annotation: the container's terminated `reason` when it exits non-zero
/// (default `Error`), e.g. `OOMKilled`.
pub const TERMINATION_REASON_ANNOTATION: &str = "sim.gantry.dev/termination-reason";

/// The first container image whose registry cannot be resolved: a reference
/// whose first path segment is a host (has a `.` or `:`, or is `localhost`)
/// under the `.invalid` top-level domain (RFC 2606), e.g.
/// `registry.invalid/team/trainer:1.0`.
pub fn unpullable_image(pod: &Value) -> Option<String> {
    containers(pod)
        .into_iter()
        .map(|(_, image)| image)
        .find(|image| {
            let Some((first, _)) = image.split_once('/') else {
                return false;
            };
            let host = first.split(':').next().unwrap_or_default();
            host.ends_with(".invalid") || host == "invalid"
        })
}

/// Marks a bound pod's containers waiting on an image that cannot be pulled:
/// phase stays `Pending`, `ErrImagePull` with the resolver's message.
pub fn fail_image_pull(pod: &mut Value, image: &str, now: SimTime) {
    let time = now.to_rfc3339();
    let host = image.split('/').next().unwrap_or_default().to_owned();
    let message = pull_error_message(image, &host);
    let statuses: Vec<Value> = containers(pod)
        .into_iter()
        .map(|(name, container_image)| {
            let state = if container_image == image {
                json!({"waiting": {"reason": "ErrImagePull", "message": message}})
            } else {
                json!({"waiting": {"reason": "PodInitializing"}})
            };
            json!({
                "name": name,
                "image": container_image,
                "imageID": "",
                "ready": false,
                "started": false,
                "restartCount": 0,
                "state": state,
                "lastState": {},
            })
        })
        .collect();
    let status = object_at_mut(pod, "status");
    status.insert("phase".to_owned(), json!("Pending"));
    status.insert("startTime".to_owned(), json!(time));
    status.insert("containerStatuses".to_owned(), json!(statuses));
    for kind in ["Initialized", "PodReadyToStartContainers"] {
        set_condition(
            pod,
            "status.conditions",
            condition(kind, "True", &time, None, None),
        );
    }
    for kind in ["ContainersReady", "Ready"] {
        set_condition(
            pod,
            "status.conditions",
            condition(
                kind,
                "False",
                &time,
                Some("ContainersNotReady"),
                Some("containers with unready status: [main]"),
            ),
        );
    }
}

/// What containerd says when the registry host does not resolve.
pub fn pull_error_message(image: &str, host: &str) -> String {
    format!(
        "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/\": dial tcp: lookup {host}: no such host"
    )
}

/// How long a pod runs: its annotation, else `default` (`None`: forever, for
/// `restartPolicy: Always` pods without the annotation).
pub fn run_duration(pod: &Value, default: Duration) -> Option<Duration> {
    let annotated = value_at(pod, "metadata.annotations")
        .and_then(|a| a.get(DURATION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|text| gantry_core::parse_duration(text).ok());
    match (annotated, str_at(pod, "spec.restartPolicy")) {
        (Some(duration), _) => Some(duration),
        (None, Some("Always")) => None,
        (None, _) => Some(default),
    }
}

/// The exit code from the annotation (0 if absent or not a number).
pub fn exit_code(pod: &Value) -> i64 {
    value_at(pod, "metadata.annotations")
        .and_then(|a| a.get(EXIT_CODE_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|text| text.trim().parse::<i64>().ok())
        .unwrap_or(0)
}

fn condition(
    kind: &str,
    status: &str,
    now: &str,
    reason: Option<&str>,
    message: Option<&str>,
) -> Value {
    let mut value =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(map) = value.as_object_mut() {
        if let Some(reason) = reason {
            map.insert("reason".to_owned(), json!(reason));
        }
        if let Some(message) = message {
            map.insert("message".to_owned(), json!(message));
        }
    }
    value
}

fn containers(pod: &Value) -> Vec<(String, String)> {
    value_at(pod, "spec.containers")
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .map(|c| {
                    (
                        c.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        c.get("image")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn container_id(pod: &Value, name: &str) -> String {
    let seed = format!("{}{name}", meta_str(pod, "uid").unwrap_or_default());
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "containerd://{hash:016x}{:016x}{:016x}{:016x}",
        hash.rotate_left(13),
        hash.rotate_left(29),
        hash.rotate_left(41)
    )
}

/// Marks a bound pod scheduled (the scheduler's write).
pub fn mark_scheduled(pod: &mut Value, node: &str, now: SimTime) {
    set_at(pod, "spec.nodeName", json!(node));
    set_condition(
        pod,
        "status.conditions",
        condition("PodScheduled", "True", &now.to_rfc3339(), None, None),
    );
}

/// Marks a pod unschedulable; returns whether anything changed.
pub fn mark_unschedulable(pod: &mut Value, message: &str, now: SimTime) -> bool {
    set_condition(
        pod,
        "status.conditions",
        condition(
            "PodScheduled",
            "False",
            &now.to_rfc3339(),
            Some("Unschedulable"),
            Some(message),
        ),
    )
}

/// Starts the containers of a bound pod.
pub fn start(pod: &mut Value, host_ip: &str, pod_ip: &str, now: SimTime) {
    let time = now.to_rfc3339();
    let statuses: Vec<Value> = containers(pod)
        .into_iter()
        .map(|(name, image)| {
            json!({
                "name": name,
                "image": image,
                "imageID": format!("{image}@sha256:{:064x}", 0),
                "containerID": container_id(pod, &name),
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": time}},
                "lastState": {},
            })
        })
        .collect();
    let status = object_at_mut(pod, "status");
    status.insert("phase".to_owned(), json!("Running"));
    status.insert("hostIP".to_owned(), json!(host_ip));
    status.insert("hostIPs".to_owned(), json!([{"ip": host_ip}]));
    status.insert("podIP".to_owned(), json!(pod_ip));
    status.insert("podIPs".to_owned(), json!([{"ip": pod_ip}]));
    status.insert("startTime".to_owned(), json!(time));
    status.insert("containerStatuses".to_owned(), json!(statuses));
    for kind in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ] {
        set_condition(
            pod,
            "status.conditions",
            condition(kind, "True", &time, None, None),
        );
    }
}

/// Ends a running pod: every container terminates with `code`; phase
/// Succeeded (0) or Failed, or the given pod-level reason (for disruptions).
pub fn finish(
    pod: &mut Value,
    code: i64,
    now: SimTime,
    disruption: Option<(&str, &str, &str, &str)>,
) {
    let time = now.to_rfc3339();
    let started = str_at(pod, "status.startTime").unwrap_or(&time).to_owned();
    let annotated_reason = value_at(pod, "metadata.annotations")
        .and_then(|a| a.get(TERMINATION_REASON_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|reason| !reason.is_empty())
        .map(str::to_owned);
    let container_reason = match (code, annotated_reason.as_deref()) {
        (0, _) => "Completed",
        (_, Some(reason)) => reason,
        (_, None) => "Error",
    };
    let was_running = str_at(pod, "status.phase") == Some("Running");
    let statuses: Vec<Value> = containers(pod)
        .into_iter()
        .map(|(name, image)| {
            let mut terminated = json!({"exitCode": code, "reason": container_reason, "finishedAt": time});
            if was_running && let Some(map) = terminated.as_object_mut() {
                map.insert("startedAt".to_owned(), json!(started));
                map.insert("containerID".to_owned(), json!(container_id(pod, &name)));
            }
            json!({
                "name": name,
                "image": image,
                "imageID": if was_running { format!("{image}@sha256:{:064x}", 0) } else { String::new() },
                "containerID": container_id(pod, &name),
                "ready": false,
                "started": false,
                "restartCount": 0,
                "state": {"terminated": terminated},
                "lastState": {},
            })
        })
        .collect();
    let phase = if code == 0 && disruption.is_none() {
        "Succeeded"
    } else {
        "Failed"
    };
    let status = object_at_mut(pod, "status");
    status.insert("phase".to_owned(), json!(phase));
    status.insert("containerStatuses".to_owned(), json!(statuses));
    let ready_reason = if phase == "Succeeded" {
        "PodCompleted"
    } else {
        "PodFailed"
    };
    if let Some((reason, message, condition_reason, condition_message)) = disruption {
        status.insert("reason".to_owned(), json!(reason));
        status.insert("message".to_owned(), json!(message));
        set_condition(
            pod,
            "status.conditions",
            condition(
                "DisruptionTarget",
                "True",
                &time,
                Some(condition_reason),
                Some(condition_message),
            ),
        );
    }
    for kind in ["ContainersReady", "Ready"] {
        set_condition(
            pod,
            "status.conditions",
            condition(kind, "False", &time, Some(ready_reason), None),
        );
    }
    set_condition(
        pod,
        "status.conditions",
        condition("PodReadyToStartContainers", "False", &time, None, None),
    );
}

/// Marks a pod on an unreachable node not ready (the node lifecycle controller's write).
pub fn mark_node_unreachable(pod: &mut Value, now: SimTime) -> bool {
    set_condition(
        pod,
        "status.conditions",
        condition(
            "Ready",
            "False",
            &now.to_rfc3339(),
            Some("NodeNotReady"),
            Some("Node is not ready"),
        ),
    )
}

/// The simulated log of a pod's container.
pub fn pod_log(pod: &Value, container: Option<&str>, now: SimTime) -> Result<String, ApiError> {
    let name = meta_str(pod, "name").unwrap_or_default();
    let all = containers(pod);
    let container_name = match container {
        Some(wanted) if !wanted.is_empty() => {
            if !all.iter().any(|(n, _)| n == wanted) {
                return Err(ApiError::bad_request(format!(
                    "container {wanted} is not valid for pod {name}"
                )));
            }
            wanted.to_owned()
        }
        _ => match all.as_slice() {
            [(only, _)] => only.clone(),
            _ => {
                let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names.join(" ")
                )));
            }
        },
    };
    let phase = str_at(pod, "status.phase").unwrap_or("Pending");
    let started = str_at(pod, "status.startTime");
    let Some(started) = started.filter(|_| phase != "Pending") else {
        return Err(ApiError::bad_request(format!(
            "container \"{container_name}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        )));
    };
    let node = str_at(pod, "spec.nodeName").unwrap_or_default();
    let image = all
        .iter()
        .find(|(n, _)| *n == container_name)
        .map(|(_, i)| i.clone())
        .unwrap_or_default();
    let mut lines = vec![format!(
        "{started} gantry-sim: container {container_name} (image {image}) started on node {node}"
    )];
    let duration = value_at(pod, "metadata.annotations")
        .and_then(|a| a.get(DURATION_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("the default duration");
    lines.push(format!(
        "{started} gantry-sim: simulated run time {duration}"
    ));
    if let Ok(start) = started.parse::<jiff::Timestamp>() {
        let elapsed = (now.unix_seconds() - start.as_second()).max(0);
        for step in 1..=(elapsed / 60).min(10) {
            lines.push(format!(
                "gantry-sim: step {step}: still running ({}s elapsed)",
                step * 60
            ));
        }
    }
    let terminated = value_at(pod, "status.containerStatuses")
        .and_then(Value::as_array)
        .and_then(|statuses| {
            statuses
                .iter()
                .find(|s| s.get("name").and_then(Value::as_str) == Some(&container_name))
        })
        .and_then(|s| value_at(s, "state.terminated"));
    if let Some(terminated) = terminated {
        lines.push(format!(
            "{} gantry-sim: exited with code {}",
            terminated
                .get("finishedAt")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            terminated
                .get("exitCode")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        ));
    }
    Ok(lines.into_iter().map(|line| line + "\n").collect())
}
