//! Server-side printing: `meta.k8s.io/v1` `Table` responses for clients that
//! ask for them (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), as
//! `kubectl get` does, with the columns upstream prints for each kind.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::clock::SimTime;
use crate::object_meta::{condition_status, meta_str, str_at, value_at};
use crate::resources::{DEPLOYMENTS, JOBS, NAMESPACES, NODES, PODS, ResourceId};
use crate::store::StoredObject;

fn column(name: &str, kind: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": name, "priority": priority})
}

/// A Table of objects.
pub fn table(
    resource_id: ResourceId,
    objects: &[Arc<StoredObject>],
    resource_version: Option<u64>,
    continue_token: Option<&str>,
    now: SimTime,
) -> Value {
    let columns: Vec<Value> = match resource_id {
        NODES => vec![
            column("Name", "string", 0),
            column("Status", "string", 0),
            column("Roles", "string", 0),
            column("Age", "string", 0),
            column("Version", "string", 0),
            column("Internal-IP", "string", 1),
        ],
        PODS => vec![
            column("Name", "string", 0),
            column("Ready", "string", 0),
            column("Status", "string", 0),
            column("Restarts", "string", 0),
            column("Age", "string", 0),
            column("IP", "string", 1),
            column("Node", "string", 1),
        ],
        JOBS => vec![
            column("Name", "string", 0),
            column("Status", "string", 0),
            column("Completions", "string", 0),
            column("Duration", "string", 0),
            column("Age", "string", 0),
        ],
        DEPLOYMENTS => vec![
            column("Name", "string", 0),
            column("Ready", "string", 0),
            column("Up-to-date", "integer", 0),
            column("Available", "integer", 0),
            column("Age", "string", 0),
        ],
        NAMESPACES => vec![
            column("Name", "string", 0),
            column("Status", "string", 0),
            column("Age", "string", 0),
        ],
        _ => vec![column("Name", "string", 0), column("Age", "string", 0)],
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let value: &Value = &object.tree;
            let name = json!(object.name);
            let age = json!(age(value, now));
            let cells = match resource_id {
                NODES => {
                    let mut status = match condition_status(value, "status.conditions", "Ready") {
                        Some("True") => "Ready".to_owned(),
                        _ => "NotReady".to_owned(),
                    };
                    if value_at(value, "spec.unschedulable").and_then(Value::as_bool) == Some(true) {
                        status.push_str(",SchedulingDisabled");
                    }
                    let ip = value_at(value, "status.addresses")
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP")))
                        .and_then(|x| x.get("address").cloned())
                        .unwrap_or(json!("<none>"));
                    vec![name, json!(status), json!("<none>"), age, json!(str_at(value, "status.nodeInfo.kubeletVersion").unwrap_or_default()), ip]
                }
                PODS => {
                    let statuses = value_at(value, "status.containerStatuses").and_then(Value::as_array);
                    let total = value_at(value, "spec.containers").and_then(Value::as_array).map_or(0, Vec::len);
                    let ready = statuses.map_or(0, |s| s.iter().filter(|c| c.get("ready") == Some(&json!(true))).count());
                    let restarts: i64 = statuses.map_or(0, |s| s.iter().filter_map(|c| c.get("restartCount")?.as_i64()).sum());
                    let mut status = str_at(value, "status.reason").or_else(|| str_at(value, "status.phase")).unwrap_or("Unknown").to_owned();
                    if let Some(reason) = statuses.and_then(|s| s.iter().find_map(|c| {
                        value_at(c, "state.terminated.reason").or_else(|| value_at(c, "state.waiting.reason")).and_then(Value::as_str)
                    })) && status != "Terminated" && status != "NodeLost" {
                        status = reason.to_owned();
                    }
                    if meta_str(value, "deletionTimestamp").is_some() {
                        status = "Terminating".to_owned();
                    }
                    vec![
                        name,
                        json!(format!("{ready}/{total}")),
                        json!(status),
                        json!(restarts.to_string()),
                        age,
                        json!(str_at(value, "status.podIP").unwrap_or("<none>")),
                        json!(str_at(value, "spec.nodeName").unwrap_or("<none>")),
                    ]
                }
                JOBS => {
                    let status = if condition_status(value, "status.conditions", "Complete") == Some("True") {
                        "Complete"
                    } else if condition_status(value, "status.conditions", "Failed") == Some("True") {
                        "Failed"
                    } else if condition_status(value, "status.conditions", "Suspended") == Some("True") {
                        "Suspended"
                    } else {
                        "Running"
                    };
                    let succeeded = value_at(value, "status.succeeded").and_then(Value::as_i64).unwrap_or(0);
                    let completions = value_at(value, "spec.completions").and_then(Value::as_i64);
                    let completions = completions.map_or_else(|| format!("{succeeded}/1 of {}", value_at(value, "spec.parallelism").and_then(Value::as_i64).unwrap_or(1)), |c| format!("{succeeded}/{c}"));
                    let duration = match (str_at(value, "status.startTime"), str_at(value, "status.completionTime")) {
                        (Some(start), Some(end)) => human_duration(seconds_between(start, end)),
                        (Some(start), None) => human_duration(seconds_between(start, &now.to_rfc3339())),
                        _ => String::new(),
                    };
                    vec![name, json!(status), json!(completions), json!(duration), age]
                }
                DEPLOYMENTS => {
                    let desired = value_at(value, "spec.replicas").and_then(Value::as_i64).unwrap_or(0);
                    let ready = value_at(value, "status.readyReplicas").and_then(Value::as_i64).unwrap_or(0);
                    let updated = value_at(value, "status.updatedReplicas").and_then(Value::as_i64).unwrap_or(0);
                    let available = value_at(value, "status.availableReplicas").and_then(Value::as_i64).unwrap_or(0);
                    vec![name, json!(format!("{ready}/{desired}")), json!(updated), json!(available), age]
                }
                NAMESPACES => vec![name, json!(str_at(value, "status.phase").unwrap_or("Active")), age],
                _ => vec![name, age],
            };
            let metadata = value.get("metadata").cloned().unwrap_or(json!({}));
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata},
            })
        })
        .collect();
    let mut metadata = json!({});
    if let Some(map) = metadata.as_object_mut() {
        if let Some(version) = resource_version {
            map.insert("resourceVersion".to_owned(), json!(version.to_string()));
        }
        if let Some(token) = continue_token {
            map.insert("continue".to_owned(), json!(token));
        }
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns, "rows": rows})
}

fn seconds_between(start: &str, end: &str) -> i64 {
    match (
        start.parse::<jiff::Timestamp>(),
        end.parse::<jiff::Timestamp>(),
    ) {
        (Ok(start), Ok(end)) => end.as_second() - start.as_second(),
        _ => 0,
    }
}

fn age(object: &Value, now: SimTime) -> String {
    meta_str(object, "creationTimestamp")
        .and_then(|created| created.parse::<jiff::Timestamp>().ok())
        .map(|created| human_duration(now.unix_seconds() - created.as_second()))
        .unwrap_or_else(|| "<unknown>".to_owned())
}

/// kubectl's `HumanDuration` shape: `45s`, `5m3s`, `3h`, `2d`.
fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds < 120 {
        format!("{seconds}s")
    } else if seconds < 600 {
        format!("{}m{}s", seconds / 60, seconds % 60)
    } else if seconds < 3 * 3600 {
        format!("{}m", seconds / 60)
    } else if seconds < 8 * 3600 {
        let minutes = (seconds % 3600) / 60;
        if minutes == 0 {
            format!("{}h", seconds / 3600)
        } else {
            format!("{}h{minutes}m", seconds / 3600)
        }
    } else if seconds < 48 * 3600 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{}d", seconds / 86_400)
    }
}
