//! How a node's capacity type (reserved, on-demand, spot) is read from its
//! labels, and the node-affinity terms that select exactly the nodes of one
//! capacity type. Both come from one table, so a workload rendered for a
//! capacity type lands only on nodes the inventory counts under that type.
//!
//! The labels, in order of precedence:
//! 1. `gantry.dev/capacity-type` (`reserved`, `on-demand`, `spot`), set by the
//!    operator: no cloud labels reserved capacity in a standard way (EKS calls
//!    a reservation ON_DEMAND), so reserved node groups need it. A node with
//!    any other value is refused by [`classify`] and by every rendered term.
//! 2. The clouds' and autoscalers' own labels:
//!    `karpenter.sh/capacity-type` (`spot`, `reserved`),
//!    `eks.amazonaws.com/capacityType` (`SPOT`, `CAPACITY_BLOCK`),
//!    `cloud.google.com/gke-spot=true`, `cloud.google.com/gke-preemptible=true`,
//!    `kubernetes.azure.com/scalesetpriority=spot`. The first that matches wins.
//! 3. Otherwise on-demand.
//!
//! **Invariant** (tested against the simulator's node-affinity matcher):
//! for every label set, a node matches `affinity_terms(c)` if and only if
//! `classify` says `c`.

use std::collections::BTreeMap;

use gantry_core::CapacityType;
use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Toleration};

use crate::names::NODE_LABEL_CAPACITY_TYPE;

/// One cloud label that says what a node's capacity is.
#[derive(Clone, Copy, Debug)]
struct Signal {
    key: &'static str,
    value: &'static str,
    capacity: CapacityType,
}

/// Cloud and autoscaler labels, in precedence order.
const CLOUD_SIGNALS: [Signal; 7] = [
    Signal {
        key: "karpenter.sh/capacity-type",
        value: "spot",
        capacity: CapacityType::Spot,
    },
    Signal {
        key: "karpenter.sh/capacity-type",
        value: "reserved",
        capacity: CapacityType::Reserved,
    },
    Signal {
        key: "eks.amazonaws.com/capacityType",
        value: "SPOT",
        capacity: CapacityType::Spot,
    },
    Signal {
        key: "eks.amazonaws.com/capacityType",
        value: "CAPACITY_BLOCK",
        capacity: CapacityType::Reserved,
    },
    Signal {
        key: "cloud.google.com/gke-spot",
        value: "true",
        capacity: CapacityType::Spot,
    },
    Signal {
        key: "cloud.google.com/gke-preemptible",
        value: "true",
        capacity: CapacityType::Spot,
    },
    Signal {
        key: "kubernetes.azure.com/scalesetpriority",
        value: "spot",
        capacity: CapacityType::Spot,
    },
];

/// Spot taints the clouds put on spot nodes: GKE's documented spot taint and
/// AKS's default one (EKS adds none).
const SPOT_TAINTS: [(&str, &str); 2] = [
    ("cloud.google.com/gke-spot", "true"),
    ("kubernetes.azure.com/scalesetpriority", "spot"),
];

/// A node's `gantry.dev/capacity-type` holds something else than the three names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "node label {NODE_LABEL_CAPACITY_TYPE}={value} is not one of reserved, on-demand, spot; the node is left out"
)]
pub struct BadCapacityLabel {
    /// The value found.
    pub value: String,
}

/// The capacity type of a node with `labels`.
pub fn classify(labels: &BTreeMap<String, String>) -> Result<CapacityType, BadCapacityLabel> {
    if let Some(value) = labels.get(NODE_LABEL_CAPACITY_TYPE) {
        return CapacityType::parse(value).ok_or_else(|| BadCapacityLabel {
            value: value.clone(),
        });
    }
    let signal = CLOUD_SIGNALS
        .iter()
        .find(|signal| labels.get(signal.key).map(String::as_str) == Some(signal.value));
    Ok(signal.map_or(CapacityType::OnDemand, |signal| signal.capacity))
}

fn requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: if values.is_empty() {
            None
        } else {
            Some(values.iter().map(|value| (*value).to_owned()).collect())
        },
    }
}

/// `key NotIn [values]` for each key of `signals`, values merged per key.
fn none_of(signals: &[Signal]) -> Vec<NodeSelectorRequirement> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for signal in signals {
        by_key.entry(signal.key).or_default().push(signal.value);
    }
    by_key
        .into_iter()
        .map(|(key, values)| requirement(key, "NotIn", &values))
        .collect()
}

/// Node-affinity terms (ORed) that match exactly the nodes [`classify`] puts
/// under `capacity`.
pub fn affinity_terms(capacity: CapacityType) -> Vec<NodeSelectorTerm> {
    let term = |expressions: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
        match_expressions: Some(expressions),
        match_fields: None,
    };
    let mut terms = vec![term(vec![requirement(
        NODE_LABEL_CAPACITY_TYPE,
        "In",
        &[capacity.as_str()],
    )])];
    let unlabelled = requirement(NODE_LABEL_CAPACITY_TYPE, "DoesNotExist", &[]);
    if capacity == CapacityType::OnDemand {
        let mut expressions = vec![unlabelled];
        expressions.extend(none_of(&CLOUD_SIGNALS));
        terms.push(term(expressions));
        return terms;
    }
    for (index, signal) in CLOUD_SIGNALS.iter().enumerate() {
        if signal.capacity != capacity {
            continue;
        }
        let earlier: Vec<Signal> = CLOUD_SIGNALS
            .iter()
            .take(index)
            .filter(|earlier| earlier.capacity != capacity && earlier.key != signal.key)
            .copied()
            .collect();
        let mut expressions = vec![
            unlabelled.clone(),
            requirement(signal.key, "In", &[signal.value]),
        ];
        expressions.extend(none_of(&earlier));
        terms.push(term(expressions));
    }
    terms
}

/// Tolerations a workload on `capacity` needs for the clouds' capacity taints.
pub fn tolerations(capacity: CapacityType) -> Vec<Toleration> {
    if capacity != CapacityType::Spot {
        return Vec::new();
    }
    SPOT_TAINTS
        .iter()
        .map(|(key, value)| Toleration {
            key: Some((*key).to_owned()),
            operator: Some("Equal".to_owned()),
            value: Some((*value).to_owned()),
            effect: Some("NoSchedule".to_owned()),
            toleration_seconds: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use gantry_sim::scheduler::NodeRequirement;

    use super::*;

    fn matches(terms: &[NodeSelectorTerm], labels: &BTreeMap<String, String>) -> bool {
        terms.iter().any(|term| {
            let expressions = term.match_expressions.clone().unwrap_or_default();
            !expressions.is_empty()
                && expressions.iter().all(|expression| {
                    NodeRequirement {
                        key: expression.key.clone(),
                        operator: expression.operator.clone(),
                        values: expression.values.clone().unwrap_or_default(),
                    }
                    .matches(labels)
                })
        })
    }

    /// Every combination of: the operator label (absent, each type, a bad
    /// value) and each cloud label key (absent or one of its signal values,
    /// or an unrelated value).
    fn label_sets() -> Vec<BTreeMap<String, String>> {
        let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
        for signal in CLOUD_SIGNALS {
            match keys.iter_mut().find(|(key, _)| *key == signal.key) {
                Some((_, values)) => values.push(signal.value),
                None => keys.push((signal.key, vec![signal.value])),
            }
        }
        for (_, values) in &mut keys {
            values.push("other");
        }
        let mut sets = vec![BTreeMap::new()];
        for (key, values) in &keys {
            let mut next = Vec::new();
            for set in &sets {
                next.push(set.clone());
                for value in values {
                    let mut with = set.clone();
                    with.insert((*key).to_owned(), (*value).to_owned());
                    next.push(with);
                }
            }
            sets = next;
        }
        let mut all = Vec::new();
        for set in sets {
            for own in [
                None,
                Some("reserved"),
                Some("on-demand"),
                Some("spot"),
                Some("bogus"),
            ] {
                let mut with = set.clone();
                if let Some(own) = own {
                    with.insert(NODE_LABEL_CAPACITY_TYPE.to_owned(), own.to_owned());
                }
                all.push(with);
            }
        }
        all
    }

    #[test]
    fn affinity_terms_select_exactly_what_classify_says() {
        let sets = label_sets();
        assert!(sets.len() > 1000, "{}", sets.len());
        for labels in &sets {
            let class = classify(labels).ok();
            for capacity in CapacityType::ALL {
                assert_eq!(
                    matches(&affinity_terms(capacity), labels),
                    class == Some(capacity),
                    "{capacity} on {labels:?} (classified {class:?})"
                );
            }
        }
    }

    #[test]
    fn clouds_labels_are_read_as_they_are_set() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            classify(&labels(&[("eks.amazonaws.com/capacityType", "ON_DEMAND")])),
            Ok(CapacityType::OnDemand)
        );
        assert_eq!(
            classify(&labels(&[("eks.amazonaws.com/capacityType", "SPOT")])),
            Ok(CapacityType::Spot)
        );
        assert_eq!(
            classify(&labels(&[("cloud.google.com/gke-spot", "true")])),
            Ok(CapacityType::Spot)
        );
        assert_eq!(
            classify(&labels(&[(
                "kubernetes.azure.com/scalesetpriority",
                "spot"
            )])),
            Ok(CapacityType::Spot)
        );
        assert_eq!(
            classify(&labels(&[
                ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
                ("gantry.dev/capacity-type", "reserved"),
            ])),
            Ok(CapacityType::Reserved)
        );
        assert!(
            classify(&labels(&[("gantry.dev/capacity-type", "committed")]))
                .unwrap_err()
                .to_string()
                .contains("committed is not one of reserved, on-demand, spot")
        );
        assert_eq!(tolerations(CapacityType::OnDemand), Vec::new());
        assert_eq!(tolerations(CapacityType::Spot).len(), 2);
    }
}
