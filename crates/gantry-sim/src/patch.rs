//! The four patch types the apiserver accepts, applied to JSON values:
//!
//! - `application/merge-patch+json`: RFC 7386 (null deletes, objects merge,
//!   everything else replaces).
//! - `application/json-patch+json`: RFC 6902 (`add`, `remove`, `replace`,
//!   `move`, `copy`, `test` with RFC 6901 pointers).
//! - `application/strategic-merge-patch+json`: a merge patch in which lists
//!   that upstream declares `patchStrategy: merge` merge element-wise by their
//!   merge key (containers and env by `name`, conditions by `type`, ...), with
//!   the directives kubectl and kube-rs send (`$patch: replace|delete|merge`,
//!   `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`,
//!   `$retainKeys`). The merge key comes from the field name, not from the
//!   schema at the field's path; for the types served here that is the same.
//! - `application/apply-patch+yaml`: server-side apply, simplified: the applied
//!   object is strategic-merged onto the live one (or created), and a
//!   `managedFields` entry records the manager. Not done: removing fields a
//!   manager applied before and omits now, and conflict detection between
//!   managers (`force` is accepted and ignored).

use serde_json::{Map, Value};

use crate::api_error::ApiError;

/// The patch type, from the request's Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902.
    Json,
    /// RFC 7386.
    Merge,
    /// Kubernetes strategic merge patch.
    StrategicMerge,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// From a Content-Type header value (parameters ignored).
    pub fn from_content_type(content_type: &str) -> Result<PatchType, ApiError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            _ => Err(ApiError::UnsupportedMediaType {
                content_type: content_type.to_owned(),
            }),
        }
    }
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch_map) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(target_map) = target {
                for (key, value) in patch_map {
                    if value.is_null() {
                        target_map.remove(key);
                    } else {
                        merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6902 JSON patch; the whole patch fails if any operation fails.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let operations = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be a JSON array of operations"))?;
    let mut working = target.clone();
    for (index, operation) in operations.iter().enumerate() {
        apply_operation(&mut working, operation)
            .map_err(|why| ApiError::bad_request(format!("json patch operation {index}: {why}")))?;
    }
    *target = working;
    Ok(())
}

fn apply_operation(target: &mut Value, operation: &Value) -> Result<(), String> {
    let op = operation
        .get("op")
        .and_then(Value::as_str)
        .ok_or("missing \"op\"")?;
    let path = operation
        .get("path")
        .and_then(Value::as_str)
        .ok_or("missing \"path\"")?;
    let value = || {
        operation
            .get("value")
            .cloned()
            .ok_or("missing \"value\"".to_owned())
    };
    let from = || {
        operation
            .get("from")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or("missing \"from\"".to_owned())
    };
    match op {
        "add" => pointer_add(target, path, value()?),
        "remove" => pointer_remove(target, path).map(drop),
        "replace" => {
            let slot = target
                .pointer_mut(path)
                .ok_or_else(|| format!("path {path:?} does not exist"))?;
            *slot = value()?;
            Ok(())
        }
        "move" => {
            let from = from()?;
            let moved = pointer_remove(target, &from)?;
            pointer_add(target, path, moved)
        }
        "copy" => {
            let from = from()?;
            let copied = target
                .pointer(&from)
                .cloned()
                .ok_or_else(|| format!("path {from:?} does not exist"))?;
            pointer_add(target, path, copied)
        }
        "test" => {
            let expected = value()?;
            if target.pointer(path) == Some(&expected) {
                Ok(())
            } else {
                Err(format!("test failed at {path:?}"))
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("the whole document cannot be the target".to_owned());
    }
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid pointer {path:?}"))?;
    Ok((
        parent.to_owned(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn pointer_add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let index: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if index > items.len() {
                return Err(format!("array index {index} out of bounds"));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("path {parent:?} does not exist")),
    }
}

fn pointer_remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => map
            .remove(&last)
            .ok_or_else(|| format!("path {path:?} does not exist")),
        Some(Value::Array(items)) => {
            let index: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if index >= items.len() {
                return Err(format!("array index {index} out of bounds"));
            }
            Ok(items.remove(index))
        }
        _ => Err(format!("path {parent:?} does not exist")),
    }
}

/// The merge key of a list field that upstream marks `patchStrategy: merge`.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" => "containerPort",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "taints" => "key",
        "addresses" => "type",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars that upstream merges as sets (`finalizers`).
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

/// Kubernetes strategic merge patch.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    merge_object(target, patch).map_err(ApiError::bad_request)
}

fn merge_object(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch_map.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return Ok(());
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return Ok(());
    };
    if let Some(Value::Array(retained)) = patch_map.get("$retainKeys") {
        let keep: Vec<&str> = retained.iter().filter_map(Value::as_str).collect();
        target_map.retain(|key, _| keep.contains(&key.as_str()) || patch_map.contains_key(key));
    }
    for (key, value) in patch_map {
        if key.starts_with("$setElementOrder/") || key == "$retainKeys" || key == "$patch" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(removed)) =
                (target_map.get_mut(field), value)
            {
                items.retain(|item| !removed.contains(item));
            }
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        match value {
            Value::Object(inner)
                if inner.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                target_map.remove(key);
            }
            Value::Object(_) => {
                merge_object(target_map.entry(key.clone()).or_insert(Value::Null), value)?;
            }
            Value::Array(items) => {
                if let Some(merge_key) = merge_key(key) {
                    let slot = target_map
                        .entry(key.clone())
                        .or_insert(Value::Array(Vec::new()));
                    merge_keyed_list(slot, items, merge_key)?;
                } else if merges_as_set(key) {
                    let slot = target_map
                        .entry(key.clone())
                        .or_insert(Value::Array(Vec::new()));
                    if let Value::Array(existing) = slot {
                        for item in items {
                            if !existing.contains(item) {
                                existing.push(item.clone());
                            }
                        }
                    } else {
                        *slot = value.clone();
                    }
                } else {
                    target_map.insert(key.clone(), value.clone());
                }
            }
            other => {
                target_map.insert(key.clone(), other.clone());
            }
        }
    }
    Ok(())
}

fn merge_keyed_list(
    target: &mut Value,
    patch_items: &[Value],
    merge_key: &str,
) -> Result<(), String> {
    if patch_items.iter().any(|item| {
        item.get("$patch").and_then(Value::as_str) == Some("replace")
            && item.get(merge_key).is_none()
    }) {
        *target = Value::Array(
            patch_items
                .iter()
                .filter(|item| item.get("$patch").is_none())
                .cloned()
                .collect(),
        );
        return Ok(());
    }
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Value::Array(existing) = target else {
        return Ok(());
    };
    for item in patch_items {
        let Some(key_value) = item.get(merge_key) else {
            // Not keyed: upstream rejects; we append, which is what the client meant.
            if item.is_object() {
                existing.push(item.clone());
                continue;
            }
            return Err(format!(
                "list items must be objects with the merge key {merge_key:?}"
            ));
        };
        let position = existing
            .iter()
            .position(|candidate| candidate.get(merge_key) == Some(key_value));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(index), true) => {
                existing.remove(index);
            }
            (None, true) => {}
            (Some(index), false) => {
                if let Some(slot) = existing.get_mut(index) {
                    merge_object(slot, item)?;
                }
            }
            (None, false) => {
                let mut fresh = Value::Null;
                merge_object(&mut fresh, item)?;
                existing.push(fresh);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut target = json!({"a": [1, 2]});
        merge_patch(&mut target, &json!({"a": [3]}));
        assert_eq!(target, json!({"a": [3]}));
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut target = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        json_patch(
            &mut target,
            &json!([
                {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "test", "path": "/list/0", "value": 1},
                {"op": "move", "from": "/list/0", "path": "/first"},
            ]),
        )
        .unwrap();
        assert_eq!(
            target,
            json!({"metadata": {"labels": {"b/c": "2"}}, "list": [2, 3], "first": 1})
        );
        let before = target.clone();
        assert_eq!(
            json_patch(
                &mut target,
                &json!([{"op": "test", "path": "/first", "value": 9}])
            )
            .unwrap_err()
            .code(),
            400
        );
        assert_eq!(target, before, "a failed patch changes nothing");
        assert!(json_patch(&mut target, &json!({"op": "add"})).is_err());
        assert!(json_patch(&mut target, &json!([{"op": "remove", "path": "/nope/x"}])).is_err());
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut target = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ], "tolerations": [{"key": "k"}]}});
        strategic_merge_patch(
            &mut target,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}, {"name": "b", "$patch": "delete"}],
                "tolerations": [{"key": "j"}]
            }}),
        )
        .unwrap();
        assert_eq!(
            target,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
            ], "tolerations": [{"key": "j"}]}})
        );
    }

    #[test]
    fn unknown_patch_types_are_415() {
        assert_eq!(
            PatchType::from_content_type("text/plain")
                .unwrap_err()
                .code(),
            415
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchType::Merge
        );
    }
}
