//! Discovery documents (`/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>`, `/apis/<group>/<version>`) in the legacy (unaggregated)
//! format, and a minimal OpenAPI v2/v3.
//!
//! client-go asks for aggregated discovery
//! (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`)
//! first and falls back to these documents when the answer's Content-Type is
//! plain `application/json`, which is what we answer.
//!
//! The OpenAPI v3 documents declare, per path, the operations and the
//! `fieldValidation` query parameter, so `kubectl create -f` (which looks for
//! it to choose server-side validation) sends `fieldValidation=Strict` instead
//! of downloading schemas for client-side validation. Field validation itself
//! is not done: unknown fields are kept as sent.

use serde_json::{Value, json};

use crate::resources::{RESOURCES, ResourceType, groups};

/// The Kubernetes version the simulator claims to be.
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": KUBERNETES_VERSION.0,
        "minor": KUBERNETES_VERSION.1,
        "gitVersion": format!("v{}.{}.0-gantry-sim", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    })
}

fn group_document(group: &str) -> Value {
    let version = RESOURCES
        .iter()
        .find(|resource| resource.group == group)
        .map_or("v1", |resource| resource.version);
    let group_version = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [group_version],
        "preferredVersion": group_version,
    })
}

/// `/apis`.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|group| {
            let mut document = group_document(group);
            if let Some(map) = document.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            document
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(group: &str) -> Option<Value> {
    groups().contains(&group).then(|| group_document(group))
}

fn verbs(resource: &ResourceType) -> Vec<&'static str> {
    vec![
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
    .into_iter()
    .filter(|verb| resource.kind != "Namespace" || *verb != "deletecollection")
    .collect()
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for resource in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": verbs(resource),
            "storageVersionHash": format!("sim-{}", resource.plural),
        });
        if let Some(map) = entry.as_object_mut() {
            if !resource.short_names.is_empty() {
                map.insert("shortNames".to_owned(), json!(resource.short_names));
            }
            if !resource.categories.is_empty() {
                map.insert("categories".to_owned(), json!(resource.categories));
            }
        }
        resources.push(entry);
        if resource.has_status {
            resources.push(json!({
                "name": format!("{}/status", resource.plural),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if resource.kind == "Pod" {
            resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
            resources.push(json!({"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_index() -> Value {
    let mut paths = serde_json::Map::new();
    let mut seen: Vec<String> = Vec::new();
    for resource in RESOURCES {
        let key = if resource.group.is_empty() {
            format!("api/{}", resource.version)
        } else {
            format!("apis/{}/{}", resource.group, resource.version)
        };
        if !seen.contains(&key) {
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=gantry-sim")}),
            );
            seen.push(key);
        }
    }
    json!({"paths": paths})
}

fn field_validation_parameter() -> Value {
    json!({
        "name": "fieldValidation",
        "in": "query",
        "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
        "schema": {"type": "string", "uniqueItems": true},
    })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
pub fn openapi_v3_document(group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for resource in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let prefix = resource.group_version_path();
        let collection = if resource.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", resource.plural)
        } else {
            format!("{prefix}/{}", resource.plural)
        };
        let gvk =
            json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
        let operation = |action: &str| {
            json!({
                "operationId": format!("{action}{}", resource.kind),
                "parameters": [field_validation_parameter()],
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk.clone(),
                "responses": {"200": {"description": "OK"}},
            })
        };
        paths.insert(
            collection.clone(),
            json!({"get": operation("list"), "post": operation("post")}),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"get": operation("get"), "put": operation("put"), "patch": operation("patch"), "delete": operation("delete")}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (gantry-sim)", "version": format!("v{}.{}.0", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1)},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `/openapi/v2`: an empty Swagger document (no schemas are published).
pub fn openapi_v2() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes (gantry-sim)", "version": format!("v{}.{}.0", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1)},
        "paths": {},
        "definitions": {},
    })
}
