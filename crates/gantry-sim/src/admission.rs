//! Defaulting and validation at create and update, following upstream's
//! defaulters and validators for the fields clients and controllers rely on.
//! Refusals are 400 (malformed) or 422 Invalid (with field causes).

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::clock::SimTime;
use crate::object_meta::{ensure_object, meta_str, object_at_mut, set_at, str_at, value_at};
use crate::resources::{DEPLOYMENTS, JOBS, NAMESPACES, PODS, ResourceId, ResourceType, resource};

/// Checks `apiVersion`/`kind` against the path's resource, filling them in when absent.
pub fn check_type_meta(resource: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    let api_version = resource.api_version();
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".to_owned(), Value::String(resource.kind.to_owned()));
        }
        Some(kind) if kind == resource.kind => {}
        Some(kind) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({api_version}); kind {kind} is not {}",
                map.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                resource.kind
            )));
        }
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".to_owned(), Value::String(api_version));
        }
        Some(given) if given == api_version => {}
        Some(given) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({given}) does not match the expected API version ({api_version})"
            )));
        }
    }
    if let Some(metadata) = map.get("metadata")
        && !metadata.is_object()
        && !metadata.is_null()
    {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// Checks a name: DNS-1123 subdomain (DNS-1123 label for namespaces).
pub fn check_name(resource: &ResourceType, name: &str) -> Result<(), ApiError> {
    let label_only = resource.kind == "Namespace" || resource.kind == "Service";
    let max = if label_only { 63 } else { 253 };
    let ok = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (c == '.' && !label_only)
        })
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            resource.kind,
            resource.group,
            name,
            "metadata.name",
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 {} must consist of lower case alphanumeric characters, '-'{}, and must start and end with an alphanumeric character",
                if label_only { "label" } else { "subdomain" },
                if label_only { "" } else { " or '.'" }
            ),
        ))
    }
}

/// Defaults and validates a new object (metadata already filled in).
pub fn default_and_validate_create(
    resource_id: ResourceId,
    object: &mut Value,
    now: SimTime,
) -> Result<(), ApiError> {
    validate_labels(resource(resource_id), object)?;
    match resource_id {
        PODS => {
            default_pod_spec(object_at_mut(object, "spec"));
            let status = object_at_mut(object, "status");
            status.entry("phase".to_owned()).or_insert(json!("Pending"));
            let qos = qos_class(object);
            set_at(object, "status.qosClass", json!(qos));
            validate_pod_spec(resource(PODS), object, "spec")
        }
        JOBS => default_job(object, now),
        DEPLOYMENTS => default_deployment(object),
        NAMESPACES => {
            set_at(object, "spec.finalizers", json!(["kubernetes"]));
            set_at(object, "status.phase", json!("Active"));
            let name = meta_str(object, "name").unwrap_or_default().to_owned();
            let labels = object_at_mut(object, "metadata.labels");
            labels.insert(
                "kubernetes.io/metadata.name".to_owned(),
                Value::String(name),
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Validates an update.
pub fn validate_update(resource_id: ResourceId, old: &Value, new: &Value) -> Result<(), ApiError> {
    validate_labels(resource(resource_id), new)?;
    let resource = resource(resource_id);
    let name = meta_str(new, "name").unwrap_or_default();
    match resource_id {
        PODS => {
            let old_node = str_at(old, "spec.nodeName").unwrap_or_default();
            let new_node = str_at(new, "spec.nodeName").unwrap_or_default();
            if !old_node.is_empty() && old_node != new_node {
                return Err(ApiError::invalid(
                    resource.kind,
                    resource.group,
                    name,
                    "spec",
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
            Ok(())
        }
        JOBS => {
            if value_at(old, "spec.selector") != value_at(new, "spec.selector") {
                return Err(ApiError::invalid(
                    resource.kind,
                    resource.group,
                    name,
                    "spec.selector",
                    "Invalid value: field is immutable",
                ));
            }
            if value_at(old, "spec.completionMode") != value_at(new, "spec.completionMode") {
                return Err(ApiError::invalid(
                    resource.kind,
                    resource.group,
                    name,
                    "spec.completionMode",
                    "Invalid value: field is immutable",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn validate_labels(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    for field in ["labels", "annotations"] {
        let Some(map) = value_at(object, &format!("metadata.{field}")) else {
            continue;
        };
        if map.is_null() {
            continue;
        }
        let Some(map) = map.as_object() else {
            return Err(ApiError::bad_request(format!(
                "metadata.{field} must be a map of strings"
            )));
        };
        for (key, value) in map {
            if !value.is_string() {
                return Err(ApiError::bad_request(format!(
                    "metadata.{field}[{key}]: expected a string, got {value}"
                )));
            }
            if field == "labels" {
                let text = value.as_str().unwrap_or_default();
                let valid = text.is_empty()
                    || (text.len() <= 63
                        && text
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && text.ends_with(|c: char| c.is_ascii_alphanumeric()));
                if !valid {
                    return Err(ApiError::invalid(
                        resource.kind,
                        resource.group,
                        meta_str(object, "name").unwrap_or_default(),
                        "metadata.labels",
                        format!(
                            "Invalid value: {text:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Pod spec defaults, as the apiserver's defaulters and the
/// DefaultTolerationSeconds admission plugin set them.
pub fn default_pod_spec(spec: &mut serde_json::Map<String, Value>) {
    spec.entry("restartPolicy".to_owned())
        .or_insert(json!("Always"));
    spec.entry("dnsPolicy".to_owned())
        .or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName".to_owned())
        .or_insert(json!("default-scheduler"));
    spec.entry("terminationGracePeriodSeconds".to_owned())
        .or_insert(json!(30));
    spec.entry("securityContext".to_owned())
        .or_insert(json!({}));
    spec.entry("enableServiceLinks".to_owned())
        .or_insert(json!(true));
    spec.entry("priority".to_owned()).or_insert(json!(0));
    spec.entry("preemptionPolicy".to_owned())
        .or_insert(json!("PreemptLowerPriority"));
    let tolerations = spec.entry("tolerations".to_owned()).or_insert(json!([]));
    if let Value::Array(items) = tolerations {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !items
                .iter()
                .any(|item| item.get("key").and_then(Value::as_str) == Some(key))
            {
                items.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for container in containers.iter_mut() {
                let container = ensure_object(container);
                let image = container
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let last = image.rsplit('/').next().unwrap_or_default();
                let tag_is_latest =
                    !image.contains('@') && (!last.contains(':') || last.ends_with(":latest"));
                container
                    .entry("imagePullPolicy".to_owned())
                    .or_insert(json!(if tag_is_latest {
                        "Always"
                    } else {
                        "IfNotPresent"
                    }));
                container
                    .entry("terminationMessagePath".to_owned())
                    .or_insert(json!("/dev/termination-log"));
                container
                    .entry("terminationMessagePolicy".to_owned())
                    .or_insert(json!("File"));
                container.entry("resources".to_owned()).or_insert(json!({}));
            }
        }
    }
}

fn validate_pod_spec(resource: &ResourceType, object: &Value, path: &str) -> Result<(), ApiError> {
    let name = meta_str(object, "name").unwrap_or_default().to_owned();
    let invalid = |field: String, message: &str| {
        ApiError::invalid(resource.kind, resource.group, &name, &field, message)
    };
    let containers = value_at(object, &format!("{path}.containers")).and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        return Err(invalid(format!("{path}.containers"), "Required value"));
    };
    for (index, container) in containers.iter().enumerate() {
        if container
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid(
                format!("{path}.containers[{index}].name"),
                "Required value",
            ));
        }
        if container
            .get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid(
                format!("{path}.containers[{index}].image"),
                "Required value",
            ));
        }
        for kind in ["requests", "limits"] {
            if let Some(Value::Object(quantities)) =
                value_at(container, &format!("resources.{kind}"))
            {
                for (resource_name, quantity) in quantities {
                    let text = match quantity {
                        Value::String(text) => text.clone(),
                        Value::Number(number) => number.to_string(),
                        _ => String::new(),
                    };
                    if gantry_core::Quantity::parse(&text).is_err() {
                        return Err(invalid(
                            format!("{path}.containers[{index}].resources.{kind}[{resource_name}]"),
                            "Invalid value: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn qos_class(pod: &Value) -> &'static str {
    let containers = value_at(pod, "spec.containers").and_then(Value::as_array);
    let mut any = false;
    let mut guaranteed = true;
    for container in containers.into_iter().flatten() {
        let requests = value_at(container, "resources.requests").and_then(Value::as_object);
        let limits = value_at(container, "resources.limits").and_then(Value::as_object);
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        let has_both = |name: &str| {
            limits.and_then(|l| l.get(name)).is_some()
                && requests
                    .and_then(|r| r.get(name))
                    .is_none_or(|request| Some(request) == limits.and_then(|l| l.get(name)))
        };
        if !(has_both("cpu") && has_both("memory")) {
            guaranteed = false;
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn default_job(object: &mut Value, _now: SimTime) -> Result<(), ApiError> {
    let resource = resource(JOBS);
    let name = meta_str(object, "name").unwrap_or_default().to_owned();
    let uid = meta_str(object, "uid").unwrap_or_default().to_owned();
    let invalid = |field: &str, message: &str| {
        ApiError::invalid(resource.kind, resource.group, &name, field, message)
    };
    if value_at(object, "spec.template").is_none_or(|t| !t.is_object()) {
        return Err(invalid("spec.template", "Required value"));
    }
    {
        let spec = object_at_mut(object, "spec");
        let completions_missing = spec.get("completions").is_none_or(Value::is_null);
        let parallelism_missing = spec.get("parallelism").is_none_or(Value::is_null);
        if completions_missing && parallelism_missing {
            spec.insert("completions".to_owned(), json!(1));
        }
        if parallelism_missing {
            spec.insert("parallelism".to_owned(), json!(1));
        }
        spec.entry("backoffLimit".to_owned()).or_insert(json!(6));
        spec.entry("completionMode".to_owned())
            .or_insert(json!("NonIndexed"));
        spec.entry("suspend".to_owned()).or_insert(json!(false));
        spec.entry("manualSelector".to_owned());
        spec.remove("manualSelector");
        let replacement = if spec.get("podFailurePolicy").is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.entry("podReplacementPolicy".to_owned())
            .or_insert(json!(replacement));
    }
    for (field, value) in [
        ("spec.parallelism", value_at(object, "spec.parallelism")),
        ("spec.completions", value_at(object, "spec.completions")),
        ("spec.backoffLimit", value_at(object, "spec.backoffLimit")),
    ] {
        if let Some(value) = value
            && !value.is_null()
            && value.as_i64().is_none_or(|number| number < 0)
        {
            return Err(invalid(
                field,
                "Invalid value: must be greater than or equal to 0",
            ));
        }
    }
    let mode = str_at(object, "spec.completionMode").unwrap_or("NonIndexed");
    if mode != "NonIndexed" && mode != "Indexed" {
        return Err(invalid(
            "spec.completionMode",
            "Unsupported value: supported values: \"NonIndexed\", \"Indexed\"",
        ));
    }
    if mode == "Indexed" && value_at(object, "spec.completions").is_none_or(Value::is_null) {
        return Err(invalid(
            "spec.completions",
            "Required value: when completion mode is Indexed",
        ));
    }
    let labels = json!({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    });
    set_at(
        object,
        "spec.selector",
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
    let template_labels = object_at_mut(object, "spec.template.metadata.labels");
    if let Value::Object(map) = labels {
        for (key, value) in map {
            template_labels.insert(key, value);
        }
    }
    default_pod_spec(object_at_mut(object, "spec.template.spec"));
    let restart = str_at(object, "spec.template.spec.restartPolicy").unwrap_or_default();
    if restart != "Never" && restart != "OnFailure" {
        return Err(invalid(
            "spec.template.spec.restartPolicy",
            "Required value: valid values: \"OnFailure\", \"Never\"",
        ));
    }
    let object_clone = object.clone();
    validate_pod_spec(resource, &object_clone, "spec.template.spec")?;
    let status = object_at_mut(object, "status");
    status.clear();
    Ok(())
}

fn default_deployment(object: &mut Value) -> Result<(), ApiError> {
    let resource = resource(DEPLOYMENTS);
    let name = meta_str(object, "name").unwrap_or_default().to_owned();
    let invalid = |field: &str, message: &str| {
        ApiError::invalid(resource.kind, resource.group, &name, field, message)
    };
    {
        let spec = object_at_mut(object, "spec");
        spec.entry("replicas".to_owned()).or_insert(json!(1));
        spec.entry("revisionHistoryLimit".to_owned())
            .or_insert(json!(10));
        spec.entry("progressDeadlineSeconds".to_owned())
            .or_insert(json!(600));
        spec.entry("strategy".to_owned())
            .or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}));
    }
    let selector = value_at(object, "spec.selector.matchLabels")
        .and_then(Value::as_object)
        .cloned();
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return Err(invalid("spec.selector", "Required value"));
    };
    let template_labels = value_at(object, "spec.template.metadata.labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if selector
        .iter()
        .any(|(key, value)| template_labels.get(key) != Some(value))
    {
        return Err(invalid(
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        ));
    }
    default_pod_spec(object_at_mut(object, "spec.template.spec"));
    let restart = str_at(object, "spec.template.spec.restartPolicy").unwrap_or_default();
    if restart != "Always" {
        return Err(invalid(
            "spec.template.spec.restartPolicy",
            "Unsupported value: supported values: \"Always\"",
        ));
    }
    let object_clone = object.clone();
    validate_pod_spec(resource, &object_clone, "spec.template.spec")?;
    object_at_mut(object, "status").clear();
    Ok(())
}
