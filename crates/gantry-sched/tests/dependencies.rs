//! Architecture Invariant (STYLE.md): the domain crates never depend on an
//! async runtime, a Kubernetes client, an RPC framework or a cloud SDK.
//! Read from `cargo metadata`, so a new dependency anywhere in their tree
//! fails this test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const FORBIDDEN_PREFIXES: &[&str] = &[
    "tokio",
    "kube",
    "k8s-openapi",
    "tonic",
    "hyper",
    "axum",
    "aws-",
    "google-cloud",
    "reqwest",
    "prost",
];
const DOMAIN_CRATES: &[&str] = &["gantry-core", "gantry-sched"];

#[test]
fn domain_crates_stay_free_of_runtimes_clients_and_sdks() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages: BTreeMap<String, String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            (
                package["id"].as_str().unwrap().to_owned(),
                package["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let normal_deps = |id: &str| -> Vec<String> {
        let node = nodes.iter().find(|node| node["id"] == id).unwrap();
        node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind["kind"].is_null())
            })
            .map(|dep| dep["pkg"].as_str().unwrap().to_owned())
            .collect()
    };
    for domain in DOMAIN_CRATES {
        let root = packages
            .iter()
            .find(|(_, name)| name == domain)
            .map(|(id, _)| id.clone())
            .unwrap();
        let mut seen = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let name = &packages[&id];
            assert!(
                !FORBIDDEN_PREFIXES
                    .iter()
                    .any(|prefix| name.starts_with(prefix)),
                "{domain} depends on {name}"
            );
            stack.extend(normal_deps(&id));
        }
        let names: BTreeSet<&str> = seen.iter().map(|id| packages[id].as_str()).collect();
        assert!(names.contains("gantry-core"), "{domain}: {names:?}");
    }
}
