//! Small accessors over objects held as JSON (`serde_json::Value`): the store
//! keeps every object as JSON so that it serves any field a client sends, and
//! these read and write the metadata it needs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `metadata.<field>` as a string.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// A string at a dotted path (`spec.nodeName`).
pub fn str_at<'a>(object: &'a Value, path: &str) -> Option<&'a str> {
    value_at(object, path)?.as_str()
}

/// A value at a dotted path.
pub fn value_at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(object, |value, key| value.get(key))
}

/// The object map at a dotted path, created (replacing non-objects) on the way.
pub fn object_at_mut<'a>(object: &'a mut Value, path: &str) -> &'a mut Map<String, Value> {
    let mut current = object;
    for key in path.split('.').filter(|key| !key.is_empty()) {
        current = ensure_object(current)
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    ensure_object(current)
}

/// The value as an object map, replacing it with `{}` if it is not one.
pub fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    // Just made an object: the fallback is never taken.
    value.as_object_mut().unwrap_or_else(|| unreachable!())
}

/// Sets `path` (dotted; the last segment is the key) to `value`.
pub fn set_at(object: &mut Value, path: &str, value: Value) {
    match path.rsplit_once('.') {
        Some((parent, key)) => {
            object_at_mut(object, parent).insert(key.to_owned(), value);
        }
        None => {
            object_at_mut(object, "").insert(path.to_owned(), value);
        }
    }
}

/// Removes `path` (dotted), if present.
pub fn remove_at(object: &mut Value, path: &str) -> Option<Value> {
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (value_at_mut(object, parent)?, key),
        None => (object, path),
    };
    parent.as_object_mut()?.remove(key)
}

/// A mutable value at a dotted path.
pub fn value_at_mut<'a>(object: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.')
        .try_fold(object, |value, key| value.get_mut(key))
}

/// `metadata.labels` (or any string map at a path) as a BTreeMap.
pub fn string_map_at(object: &Value, path: &str) -> BTreeMap<String, String> {
    value_at(object, path)
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The uids in `metadata.ownerReferences`.
pub fn owner_uids(object: &Value) -> Vec<String> {
    value_at(object, "metadata.ownerReferences")
        .and_then(Value::as_array)
        .map(|owners| {
            owners
                .iter()
                .filter_map(|owner| owner.get("uid")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.finalizers`.
pub fn finalizers(object: &Value) -> Vec<String> {
    value_at(object, "metadata.finalizers")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets or replaces the condition of `type` in the list at `path`
/// (`status.conditions`), keeping `lastTransitionTime` when the status is the same.
/// Returns whether anything changed.
pub fn set_condition(object: &mut Value, path: &str, condition: Value) -> bool {
    let Some(condition_type) = condition
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return false;
    };
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let map = object_at_mut(object, parent);
    let list = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let Value::Array(items) = list else {
        return false;
    };
    let existing = items
        .iter_mut()
        .find(|item| item.get("type").and_then(Value::as_str) == Some(condition_type.as_str()));
    match existing {
        Some(item) => {
            let same = ["status", "reason", "message"]
                .iter()
                .all(|field| item.get(field) == condition.get(field));
            if same {
                return false;
            }
            let same_status = item.get("status") == condition.get("status");
            let mut fresh = condition;
            if same_status
                && let (Some(old), Some(new)) = (
                    item.get("lastTransitionTime").cloned(),
                    fresh.as_object_mut(),
                )
            {
                new.insert("lastTransitionTime".to_owned(), old);
            }
            *item = fresh;
            true
        }
        None => {
            items.push(condition);
            true
        }
    }
}

/// The status (`"True"`, ...) of the condition of `type`, if present.
pub fn condition_status<'a>(
    object: &'a Value,
    path: &str,
    condition_type: &str,
) -> Option<&'a str> {
    value_at(object, path)?
        .as_array()?
        .iter()
        .find(|item| item.get("type").and_then(Value::as_str) == Some(condition_type))?
        .get("status")?
        .as_str()
}
