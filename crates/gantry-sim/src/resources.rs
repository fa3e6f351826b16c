//! The resources this apiserver serves: one static table that discovery, the
//! router, the store and the OpenAPI document all read, so they cannot disagree.

/// One served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural name, as in paths.
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names kubectl accepts.
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Whether it has a `/status` subresource.
    pub has_status: bool,
    /// Field selector labels accepted besides `metadata.name` and `metadata.namespace`.
    pub selectable_fields: &'static [&'static str],
}

impl ResourceType {
    /// `v1` or `batch/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of the list (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The path prefix for this group version (`/api/v1`, `/apis/batch/v1`).
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// Index into [`RESOURCES`].
pub type ResourceId = usize;

const NONE: &[&str] = &[];
const ALL: &[&str] = &["all"];

/// Every served resource.
pub static RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: NONE,
        has_status: true,
        selectable_fields: &["status.phase"],
    },
    ResourceType {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: NONE,
        has_status: true,
        selectable_fields: &["spec.unschedulable"],
    },
    ResourceType {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: ALL,
        has_status: true,
        selectable_fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    },
    ResourceType {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: ALL,
        has_status: true,
        selectable_fields: NONE,
    },
    ResourceType {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: NONE,
        has_status: false,
        selectable_fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
    },
    ResourceType {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: NONE,
        has_status: false,
        selectable_fields: NONE,
    },
    ResourceType {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        has_status: false,
        selectable_fields: &["type"],
    },
    ResourceType {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        has_status: false,
        selectable_fields: NONE,
    },
    ResourceType {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        singular: "job",
        namespaced: true,
        short_names: NONE,
        categories: ALL,
        has_status: true,
        selectable_fields: &["status.successful"],
    },
    ResourceType {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: ALL,
        has_status: true,
        selectable_fields: NONE,
    },
];

/// Well-known indices, checked by a test against the table.
pub const NAMESPACES: ResourceId = 0;
/// Nodes.
pub const NODES: ResourceId = 1;
/// Pods.
pub const PODS: ResourceId = 2;
/// Events.
pub const EVENTS: ResourceId = 4;
/// Jobs.
pub const JOBS: ResourceId = 8;
/// Deployments.
pub const DEPLOYMENTS: ResourceId = 9;

/// The resource at an index.
pub fn resource(id: ResourceId) -> &'static ResourceType {
    RESOURCES.get(id).unwrap_or(&NAMESPACE_FALLBACK)
}

static NAMESPACE_FALLBACK: ResourceType = ResourceType {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    short_names: &["ns"],
    categories: NONE,
    has_status: true,
    selectable_fields: &["status.phase"],
};

/// Finds a resource by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
    RESOURCES.iter().position(|resource| {
        resource.group == group && resource.version == version && resource.plural == plural
    })
}

/// Finds a resource by apiVersion and kind.
pub fn find_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
    RESOURCES
        .iter()
        .position(|resource| resource.api_version() == api_version && resource.kind == kind)
}

/// The groups served (besides the core group), in discovery order.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for resource in RESOURCES {
        if !resource.group.is_empty() && !groups.contains(&resource.group) {
            groups.push(resource.group);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn well_known_indices_match_the_table() {
        assert_eq!(resource(NAMESPACES).plural, "namespaces");
        assert_eq!(resource(NODES).plural, "nodes");
        assert_eq!(resource(PODS).plural, "pods");
        assert_eq!(resource(EVENTS).plural, "events");
        assert_eq!(resource(JOBS).plural, "jobs");
        assert_eq!(resource(DEPLOYMENTS).plural, "deployments");
        assert_eq!(find("batch", "v1", "jobs"), Some(JOBS));
        assert_eq!(find_kind("apps/v1", "Deployment"), Some(DEPLOYMENTS));
    }
}
