//! The kubeconfig that points clients at the simulated clusters: one cluster,
//! user and context per simulated cluster, each named after it; the first is
//! the current context. Plain HTTP on loopback, so no credentials.

use serde_json::json;

/// The kubeconfig text (JSON, which every kubeconfig reader accepts as YAML).
pub fn kubeconfig(clusters: &[(String, String)]) -> String {
    let cluster_entries: Vec<_> = clusters
        .iter()
        .map(|(name, url)| json!({"name": name, "cluster": {"server": url}}))
        .collect();
    let user_entries: Vec<_> = clusters
        .iter()
        .map(|(name, _)| json!({"name": name, "user": {}}))
        .collect();
    let context_entries: Vec<_> = clusters
        .iter()
        .map(|(name, _)| json!({"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}))
        .collect();
    let current = clusters
        .first()
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    let document = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": cluster_entries,
        "users": user_entries,
        "contexts": context_entries,
        "current-context": current,
    });
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}
