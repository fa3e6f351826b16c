//! The scheduler's decision, as a pure function: which node a pending pod goes
//! to, or why none fits (in upstream's words for `FailedScheduling`).
//!
//! Filters: node ready and schedulable, resource requests against allocatable
//! minus what bound pods request (cpu, memory, pods, `nvidia.com/gpu`,
//! `amd.com/gpu` and any other extended resource), `nodeSelector`, required
//! node affinity (`requiredDuringSchedulingIgnoredDuringExecution`: terms
//! ORed, each term's `matchExpressions` ANDed, operators `In`, `NotIn`,
//! `Exists`, `DoesNotExist`, `Gt`, `Lt`, as upstream's `nodeaffinity` plugin),
//! and NoSchedule/NoExecute taints against tolerations. Score: least allocated
//! (upstream's default), ties broken by node name, so the same state gives the
//! same choice. Not done: preferred affinity, pod affinity, topology spread,
//! preemption, `matchFields`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::object_meta::{string_map_at, value_at};

/// Amounts per resource name: cpu in millicores, everything else in units.
pub type ResourceAmounts = BTreeMap<String, u64>;

/// Parses a resource list (`{"cpu": "500m", "memory": "1Gi"}`).
pub fn parse_amounts(list: Option<&Value>) -> ResourceAmounts {
    let mut amounts = ResourceAmounts::new();
    let Some(Value::Object(map)) = list else {
        return amounts;
    };
    for (name, quantity) in map {
        let text = match quantity {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => continue,
        };
        let Ok(quantity) = gantry_core::Quantity::parse(&text) else {
            continue;
        };
        let amount = if name == "cpu" {
            quantity.to_milli_units_ceil()
        } else {
            quantity.to_units_ceil()
        };
        if let Some(amount) = amount {
            amounts.insert(name.clone(), amount);
        }
    }
    amounts
}

/// What a pod asks of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDemand {
    /// Summed container requests (limits stand in for absent requests), plus `pods: 1`.
    pub requests: ResourceAmounts,
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `spec.tolerations`.
    pub tolerations: Vec<Value>,
    /// Required node affinity: a node must match one term (`None`: no affinity).
    pub required_node_terms: Option<Vec<Vec<NodeRequirement>>>,
}

/// One `matchExpressions` entry of a node selector term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt` (anything else matches no node).
    pub operator: String,
    /// Values.
    pub values: Vec<String>,
}

impl NodeRequirement {
    /// Whether a node with `labels` satisfies it (upstream's label selector semantics:
    /// `NotIn` and `DoesNotExist` match a node without the label).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let label = labels.get(&self.key);
        let as_integer = |text: &str| text.parse::<i64>().ok();
        match self.operator.as_str() {
            "In" => label.is_some_and(|value| self.values.contains(value)),
            "NotIn" => label.is_none_or(|value| !self.values.contains(value)),
            "Exists" => label.is_some(),
            "DoesNotExist" => label.is_none(),
            "Gt" | "Lt" => {
                let (Some(value), [bound]) =
                    (label.and_then(|v| as_integer(v)), self.values.as_slice())
                else {
                    return false;
                };
                let Some(bound) = as_integer(bound) else {
                    return false;
                };
                if self.operator == "Gt" {
                    value > bound
                } else {
                    value < bound
                }
            }
            _ => false,
        }
    }
}

fn required_node_terms(pod: &Value) -> Option<Vec<Vec<NodeRequirement>>> {
    let terms = value_at(
        pod,
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
    )?
    .as_array()?;
    Some(
        terms
            .iter()
            .map(|term| {
                term.get("matchExpressions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|expression| NodeRequirement {
                        key: expression
                            .get("key")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        operator: expression
                            .get("operator")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        values: expression
                            .get("values")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                    })
                    .collect()
            })
            .collect(),
    )
}

impl PodDemand {
    /// From a pod object.
    pub fn of(pod: &Value) -> PodDemand {
        let mut requests = ResourceAmounts::new();
        for container in value_at(pod, "spec.containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut own = parse_amounts(value_at(container, "resources.limits"));
            own.extend(parse_amounts(value_at(container, "resources.requests")));
            for (name, amount) in own {
                *requests.entry(name).or_insert(0) += amount;
            }
        }
        requests.insert("pods".to_owned(), 1);
        PodDemand {
            requests,
            node_selector: string_map_at(pod, "spec.nodeSelector"),
            tolerations: value_at(pod, "spec.tolerations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            required_node_terms: required_node_terms(pod),
        }
    }
}

/// A node as the scheduler sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCapacity {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints (`{key, value, effect}`).
    pub taints: Vec<Value>,
    /// Allocatable.
    pub allocatable: ResourceAmounts,
    /// Requested by bound, unfinished pods.
    pub used: ResourceAmounts,
    /// Ready condition True.
    pub ready: bool,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
}

/// Why a node does not fit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misfit {
    /// Not enough of a resource.
    Insufficient(String),
    /// nodeSelector does not match.
    Selector,
    /// An untolerated taint `{key: value}`.
    Taint(String),
    /// Cordoned.
    Unschedulable,
}

impl Misfit {
    fn describe(&self) -> String {
        match self {
            Misfit::Insufficient(resource) => format!("Insufficient {resource}"),
            Misfit::Selector => "node(s) didn't match Pod's node affinity/selector".to_owned(),
            Misfit::Taint(taint) => format!("node(s) had untolerated taint {taint}"),
            Misfit::Unschedulable => "node(s) were unschedulable".to_owned(),
        }
    }
}

fn tolerates(tolerations: &[Value], taint: &Value) -> bool {
    let key = taint.get("key").and_then(Value::as_str).unwrap_or_default();
    let value = taint
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let effect = taint
        .get("effect")
        .and_then(Value::as_str)
        .unwrap_or_default();
    tolerations.iter().any(|toleration| {
        let t_key = toleration
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let t_effect = toleration
            .get("effect")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let operator = toleration
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or("Equal");
        let t_value = toleration
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        (t_effect.is_empty() || t_effect == effect)
            && (t_key.is_empty() && operator == "Exists" || t_key == key)
            && (operator == "Exists" || t_value == value)
    })
}

/// Whether `pod` fits `node`.
pub fn fit(pod: &PodDemand, node: &NodeCapacity) -> Result<(), Misfit> {
    if node.unschedulable {
        return Err(Misfit::Unschedulable);
    }
    for taint in &node.taints {
        let effect = taint
            .get("effect")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerates(&pod.tolerations, taint)
        {
            let key = taint.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = taint
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(Misfit::Taint(format!("{{{key}: {value}}}")));
        }
    }
    if pod
        .node_selector
        .iter()
        .any(|(key, value)| node.labels.get(key) != Some(value))
    {
        return Err(Misfit::Selector);
    }
    // Upstream: an empty term list matches no node; a term matches when all of
    // its expressions do.
    if let Some(terms) = &pod.required_node_terms
        && !terms.iter().any(|term| {
            !term.is_empty()
                && term
                    .iter()
                    .all(|requirement| requirement.matches(&node.labels))
        })
    {
        return Err(Misfit::Selector);
    }
    for (resource, amount) in &pod.requests {
        if *amount == 0 {
            continue;
        }
        let allocatable = node.allocatable.get(resource).copied().unwrap_or(0);
        let used = node.used.get(resource).copied().unwrap_or(0);
        if used.saturating_add(*amount) > allocatable {
            return Err(Misfit::Insufficient(resource.clone()));
        }
    }
    Ok(())
}

fn allocated_fraction(pod: &PodDemand, node: &NodeCapacity) -> f64 {
    let mut total = 0.0;
    for resource in ["cpu", "memory"] {
        let allocatable = node.allocatable.get(resource).copied().unwrap_or(0);
        if allocatable == 0 {
            continue;
        }
        let used = node.used.get(resource).copied().unwrap_or(0)
            + pod.requests.get(resource).copied().unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let fraction = used as f64 / allocatable as f64;
        total += fraction;
    }
    total
}

/// Picks a node, or says why none fits in upstream's `FailedScheduling` words.
pub fn choose<'a>(
    pod: &PodDemand,
    nodes: impl Iterator<Item = (&'a String, &'a NodeCapacity)>,
) -> Result<String, String> {
    let mut best: Option<(f64, &String)> = None;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = 0usize;
    for (name, node) in nodes {
        count += 1;
        if !node.ready {
            *reasons
                .entry(
                    "node(s) had untolerated taint {node.kubernetes.io/unreachable: }".to_owned(),
                )
                .or_insert(0) += 1;
            continue;
        }
        match fit(pod, node) {
            Ok(()) => {
                let score = allocated_fraction(pod, node);
                if best.is_none_or(|(best_score, _)| score < best_score) {
                    best = Some((score, name));
                }
            }
            Err(misfit) => *reasons.entry(misfit.describe()).or_insert(0) += 1,
        }
    }
    if let Some((_, name)) = best {
        return Ok(name.clone());
    }
    let detail: Vec<String> = reasons
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" {}", detail.join(", "))
    };
    Err(format!(
        "0/{count} nodes are available:{detail}. preemption: 0/{count} nodes are available: {count} Preemption is not helpful for scheduling."
    ))
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

    fn gpu_node() -> NodeCapacity {
        NodeCapacity {
            labels: [(
                "nvidia.com/gpu.product".to_owned(),
                "NVIDIA-H100-80GB-HBM3".to_owned(),
            )]
            .into(),
            taints: vec![
                json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}),
            ],
            allocatable: parse_amounts(Some(
                &json!({"cpu": "192", "memory": "2048Gi", "pods": "110", "nvidia.com/gpu": "8"}),
            )),
            used: ResourceAmounts::new(),
            ready: true,
            unschedulable: false,
        }
    }

    #[test]
    fn gpus_taints_and_selectors_decide() {
        let pod = |gpus: u32, tolerate: bool| {
            PodDemand::of(&json!({"spec": {
                "containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}}}],
                "tolerations": if tolerate { json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]) } else { json!([]) },
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            }}))
        };
        let node = gpu_node();
        assert_eq!(fit(&pod(8, true), &node), Ok(()));
        assert_eq!(
            fit(&pod(9, true), &node),
            Err(Misfit::Insufficient("nvidia.com/gpu".to_owned()))
        );
        assert_eq!(
            fit(&pod(1, false), &node),
            Err(Misfit::Taint("{nvidia.com/gpu: present}".to_owned()))
        );
        let nodes: BTreeMap<String, NodeCapacity> = [("n1".to_owned(), node)].into();
        let message = choose(&pod(16, true), nodes.iter()).unwrap_err();
        assert!(
            message.starts_with("0/1 nodes are available: 1 Insufficient nvidia.com/gpu."),
            "{message}"
        );
    }

    #[test]
    fn required_node_affinity_follows_upstream_operators() {
        let pod = |terms: serde_json::Value| {
            PodDemand::of(&json!({"spec": {
                "containers": [{"name": "c", "image": "i"}],
                "tolerations": [{"operator": "Exists"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}},
            }}))
        };
        let mut node = gpu_node();
        node.labels
            .insert("nvidia.com/gpu.count".to_owned(), "8".to_owned());
        let expression = |key: &str, operator: &str, values: &[&str]| json!({"key": key, "operator": operator, "values": values});
        let fits = |terms| fit(&pod(terms), &node).is_ok();
        // NotIn and DoesNotExist match a node without the label.
        assert!(fits(
            json!([{"matchExpressions": [expression("gantry.dev/capacity-type", "NotIn", &["reserved", "spot"])]}])
        ));
        assert!(fits(
            json!([{"matchExpressions": [expression("gantry.dev/capacity-type", "DoesNotExist", &[])]}])
        ));
        assert!(!fits(
            json!([{"matchExpressions": [expression("gantry.dev/capacity-type", "In", &["reserved"])]}])
        ));
        assert!(!fits(
            json!([{"matchExpressions": [expression("gantry.dev/capacity-type", "Exists", &[])]}])
        ));
        // Gt/Lt compare integers.
        assert!(fits(
            json!([{"matchExpressions": [expression("nvidia.com/gpu.count", "Gt", &["4"])]}])
        ));
        assert!(!fits(
            json!([{"matchExpressions": [expression("nvidia.com/gpu.count", "Lt", &["4"])]}])
        ));
        // Terms are ORed, expressions ANDed; an empty term matches nothing.
        assert!(fits(json!([
            {"matchExpressions": [expression("nvidia.com/gpu.count", "In", &["1"])]},
            {"matchExpressions": [expression("nvidia.com/gpu.count", "In", &["8"]), expression("nvidia.com/gpu.product", "Exists", &[])]},
        ])));
        assert!(!fits(json!([
            {"matchExpressions": [expression("nvidia.com/gpu.count", "In", &["8"]), expression("nvidia.com/gpu.product", "DoesNotExist", &[])]},
        ])));
        assert!(!fits(json!([{}])));
        assert!(!fits(json!([])));
        let nodes: BTreeMap<String, NodeCapacity> = [("n1".to_owned(), node.clone())].into();
        let message = choose(
            &pod(json!([{"matchExpressions": [expression("x", "Exists", &[])]}])),
            nodes.iter(),
        )
        .unwrap_err();
        assert!(
            message.contains("1 node(s) didn't match Pod's node affinity/selector"),
            "{message}"
        );
    }

    #[test]
    fn insufficient_gpus_are_named_in_upstream_words() {
        let pod = PodDemand::of(&json!({"spec": {
            "containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "16"}}}],
            "tolerations": [{"operator": "Exists"}],
        }}));
        let nodes: BTreeMap<String, NodeCapacity> = [("n1".to_owned(), gpu_node())].into();
        let message = choose(&pod, nodes.iter()).unwrap_err();
        assert!(
            message.starts_with("0/1 nodes are available: 1 Insufficient nvidia.com/gpu."),
            "{message}"
        );
    }
}
