//! Placements to Kubernetes objects, as a pure function.
//!
//! A `TrainingJob` becomes a `batch/v1` Job in Indexed completion mode
//! (completions = parallelism = replicas: the gang) and a headless Service
//! for rendezvous; an `InferenceService` becomes a Deployment and a Service
//! in front of it. What each carries:
//! - Names from [`WorkloadKey::object_name`], the labels of
//!   [`crate::names::workload_labels`] on every object and pod, the job's
//!   annotations on the pod template (plus the team path and placement).
//! - Placement: `nodeSelector` on `node.kubernetes.io/instance-type` and
//!   `topology.kubernetes.io/zone`, required node affinity for the capacity
//!   type ([`crate::capacity::affinity_terms`]), tolerations for the GPU taint
//!   and the clouds' spot taints.
//! - Resources: CPU and memory requested and limited, GPUs as the vendor's
//!   extended resource (`nvidia.com/gpu`) in both.
//! - Training only: `restartPolicy: Never`, `backoffLimit: 0` (a gang cannot
//!   lose a rank and go on; Gantry retries as a new attempt, possibly
//!   elsewhere, up to the spec's `retries`), `activeDeadlineSeconds` from
//!   `maxRuntime`, `subdomain` = the Service so each pod resolves as
//!   `<name>-<index>.<name>.<namespace>.svc`, and the environment a
//!   distributed trainer reads: `RANK`/`NODE_RANK`/`PET_NODE_RANK` (the
//!   completion index), `WORLD_SIZE`/`NNODES`/`PET_NNODES` (replicas),
//!   `NPROC_PER_NODE`/`PET_NPROC_PER_NODE` (GPUs per replica, at least 1),
//!   `MASTER_ADDR`/`PET_MASTER_ADDR` (index 0's DNS name) and
//!   `MASTER_PORT`/`PET_MASTER_PORT` (29500); `torchrun` reads the `PET_`
//!   names as its flags. The job's own `env` wins over these on a clash.
//! - Every pod: `GANTRY_JOB_ID`, `GANTRY_ATTEMPT`, `GANTRY_TEAM`,
//!   `GANTRY_CLUSTER`, and `GANTRY_CHECKPOINT_URI` when the job checkpoints.
//! - On a simulated cluster only: `sim.gantry.dev/duration` = the expected
//!   runtime on the chosen GPU model, so the simulated pod runs that long
//!   (a job annotation of the same name wins, for tests).
//!
//! Invariant: same input, same objects (maps are ordered; nothing reads a
//! clock or a random source).

use std::collections::BTreeMap;
use std::time::Duration;

use gantry_core::{CapacityType, Cloud, GpuModel, JobKind, JobSpec, format_duration};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec as K8sJobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, NodeAffinity,
    NodeSelector, ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    Service, ServicePort, ServiceSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::capacity;
use crate::names::{
    ANNOTATION_CAPACITY_TYPE, ANNOTATION_POOL, ANNOTATION_TEAM_PATH, WorkloadKey, workload_labels,
};

/// The rendezvous port of a training gang.
pub const RENDEZVOUS_PORT: i32 = 29500;
/// The simulator's run-time annotation.
pub const SIM_DURATION_ANNOTATION: &str = "sim.gantry.dev/duration";
/// The container's name in every pod.
pub const CONTAINER_NAME: &str = "main";

/// Where a placement puts the job: one node pool of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Cluster name.
    pub cluster: String,
    /// Its cloud (decides nothing here but is recorded).
    pub cloud: Cloud,
    /// The pool's name, for people.
    pub pool: String,
    /// Instance type of the pool's nodes.
    pub instance_type: String,
    /// Zone of the pool.
    pub zone: String,
    /// Capacity type of the pool.
    pub capacity_type: CapacityType,
    /// GPU model of the pool, when the job uses GPUs.
    pub gpu_model: Option<GpuModel>,
    /// Replicas placed here (the whole gang for training).
    pub replicas: u32,
    /// Expected runtime on this pool's GPU model.
    pub expected_runtime: Duration,
}

/// Everything [`render`] needs.
#[derive(Clone, Copy, Debug)]
pub struct RenderInput<'a> {
    /// The job's attempt.
    pub key: &'a WorkloadKey,
    /// The job.
    pub spec: &'a JobSpec,
    /// Where it goes.
    pub target: &'a Target,
    /// Namespace of the objects.
    pub namespace: &'a str,
    /// A simulated cluster: add the simulator's run-time annotation.
    pub simulated: bool,
}

/// The objects of one workload.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// A training gang.
    Training {
        /// Headless Service for rendezvous (created first).
        service: Service,
        /// The Indexed Job.
        job: Box<Job>,
    },
    /// A service.
    Inference {
        /// The Service in front of the replicas.
        service: Service,
        /// The replicas.
        deployment: Box<Deployment>,
    },
}

impl Workload {
    /// The Service of either kind.
    pub fn service(&self) -> &Service {
        match self {
            Workload::Training { service, .. } | Workload::Inference { service, .. } => service,
        }
    }
}

/// The objects for one placement of one job.
pub fn render(input: RenderInput<'_>) -> Workload {
    let name = input.key.object_name();
    let labels = workload_labels(input.key, &input.spec.team, &input.spec.labels);
    let meta = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(input.namespace.to_owned()),
        labels: Some(labels.clone()),
        annotations: Some(object_annotations(input)),
        ..ObjectMeta::default()
    };
    let selector = input.key.selector();
    match input.spec.kind {
        JobKind::Training => {
            let service = Service {
                metadata: meta.clone(),
                spec: Some(ServiceSpec {
                    cluster_ip: Some("None".to_owned()),
                    publish_not_ready_addresses: Some(true),
                    selector: Some(selector),
                    ports: Some(vec![ServicePort {
                        name: Some("rendezvous".to_owned()),
                        port: RENDEZVOUS_PORT,
                        target_port: Some(IntOrString::Int(RENDEZVOUS_PORT)),
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    }]),
                    ..ServiceSpec::default()
                }),
                status: None,
            };
            let replicas = i32::try_from(input.target.replicas).unwrap_or(i32::MAX);
            let mut pod = pod_spec(input, &training_env(input, &name));
            pod.restart_policy = Some("Never".to_owned());
            pod.subdomain = Some(name.clone());
            let job = Job {
                metadata: meta,
                spec: Some(K8sJobSpec {
                    completion_mode: Some("Indexed".to_owned()),
                    completions: Some(replicas),
                    parallelism: Some(replicas),
                    backoff_limit: Some(0),
                    active_deadline_seconds: input
                        .spec
                        .max_runtime
                        .map(|limit| i64::try_from(limit.as_secs()).unwrap_or(i64::MAX)),
                    template: PodTemplateSpec {
                        metadata: Some(pod_meta(input, labels)),
                        spec: Some(pod),
                    },
                    ..K8sJobSpec::default()
                }),
                status: None,
            };
            Workload::Training {
                service,
                job: Box::new(job),
            }
        }
        JobKind::Inference => {
            let port = input
                .spec
                .service
                .as_ref()
                .map_or(8000, |service| i32::from(service.port));
            let service = Service {
                metadata: meta.clone(),
                spec: Some(ServiceSpec {
                    selector: Some(selector.clone()),
                    ports: Some(vec![ServicePort {
                        name: Some("http".to_owned()),
                        port,
                        target_port: Some(IntOrString::String("http".to_owned())),
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    }]),
                    ..ServiceSpec::default()
                }),
                status: None,
            };
            let mut pod = pod_spec(input, &common_env(input));
            pod.restart_policy = Some("Always".to_owned());
            if let Some(container) = pod.containers.first_mut() {
                container.ports = Some(vec![ContainerPort {
                    name: Some("http".to_owned()),
                    container_port: port,
                    protocol: Some("TCP".to_owned()),
                    ..ContainerPort::default()
                }]);
                container.readiness_probe = input.spec.service.as_ref().map(|service| Probe {
                    http_get: Some(HTTPGetAction {
                        path: Some(service.readiness_path.clone()),
                        port: IntOrString::String("http".to_owned()),
                        ..HTTPGetAction::default()
                    }),
                    initial_delay_seconds: Some(
                        i32::try_from(service.readiness_initial_delay_seconds).unwrap_or(i32::MAX),
                    ),
                    period_seconds: Some(
                        i32::try_from(service.readiness_period_seconds).unwrap_or(i32::MAX),
                    ),
                    ..Probe::default()
                });
            }
            let deployment = Deployment {
                metadata: meta,
                spec: DeploymentSpec {
                    replicas: Some(i32::try_from(input.target.replicas).unwrap_or(i32::MAX)),
                    selector: LabelSelector {
                        match_labels: Some(selector),
                        match_expressions: None,
                    },
                    strategy: Some(DeploymentStrategy {
                        type_: Some("RollingUpdate".to_owned()),
                        rolling_update: None,
                    }),
                    template: PodTemplateSpec {
                        metadata: Some(pod_meta(input, labels)),
                        spec: Some(pod),
                    },
                    ..DeploymentSpec::default()
                },
                status: None,
            };
            Workload::Inference {
                service,
                deployment: Box::new(deployment),
            }
        }
    }
}

fn object_annotations(input: RenderInput<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            ANNOTATION_TEAM_PATH.to_owned(),
            input.spec.team.as_str().to_owned(),
        ),
        (
            ANNOTATION_CAPACITY_TYPE.to_owned(),
            input.target.capacity_type.as_str().to_owned(),
        ),
        (ANNOTATION_POOL.to_owned(), input.target.pool.clone()),
    ])
}

fn pod_meta(input: RenderInput<'_>, labels: BTreeMap<String, String>) -> ObjectMeta {
    let mut annotations = object_annotations(input);
    if input.simulated {
        annotations.insert(
            SIM_DURATION_ANNOTATION.to_owned(),
            format_duration(input.target.expected_runtime),
        );
    }
    for (key, value) in &input.spec.annotations {
        annotations.insert(key.clone(), value.clone());
    }
    ObjectMeta {
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

fn pod_spec(input: RenderInput<'_>, gantry_env: &[EnvVar]) -> PodSpec {
    let resources = &input.spec.resources;
    let mut amounts = BTreeMap::from([
        (
            "cpu".to_owned(),
            Quantity(cpu_quantity(resources.cpu_millis)),
        ),
        (
            "memory".to_owned(),
            Quantity(memory_quantity(resources.memory_bytes)),
        ),
    ]);
    let mut tolerations: Vec<Toleration> = Vec::new();
    let gpus = resources.gpu_count();
    if gpus > 0 {
        let vendor = input
            .target
            .gpu_model
            .or_else(|| {
                resources
                    .gpu
                    .as_ref()
                    .and_then(|gpu| gpu.models.first().copied())
            })
            .map(GpuModel::vendor);
        if let Some(vendor) = vendor {
            let resource = vendor.kubernetes_resource_name();
            amounts.insert(resource.to_owned(), Quantity(gpus.to_string()));
            tolerations.push(Toleration {
                key: Some(resource.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some("NoSchedule".to_owned()),
                ..Toleration::default()
            });
        }
    }
    tolerations.extend(capacity::tolerations(input.target.capacity_type));
    let mut env: Vec<EnvVar> = input
        .spec
        .env
        .iter()
        .map(|(name, value)| plain(name, value))
        .collect();
    for variable in gantry_env {
        if !input.spec.env.contains_key(&variable.name) {
            env.push(variable.clone());
        }
    }
    let node_selector = BTreeMap::from([
        (
            "node.kubernetes.io/instance-type".to_owned(),
            input.target.instance_type.clone(),
        ),
        (
            "topology.kubernetes.io/zone".to_owned(),
            input.target.zone.clone(),
        ),
    ]);
    PodSpec {
        containers: vec![Container {
            name: CONTAINER_NAME.to_owned(),
            image: Some(input.spec.image.clone()),
            command: non_empty(&input.spec.command),
            args: non_empty(&input.spec.args),
            env: Some(env),
            resources: Some(ResourceRequirements {
                limits: Some(amounts.clone()),
                requests: Some(amounts),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }],
        node_selector: Some(node_selector),
        affinity: Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: capacity::affinity_terms(input.target.capacity_type),
                }),
                preferred_during_scheduling_ignored_during_execution: None,
            }),
            ..Affinity::default()
        }),
        tolerations: Some(tolerations),
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
}

fn non_empty(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

fn common_env(input: RenderInput<'_>) -> Vec<EnvVar> {
    let mut env = vec![
        plain("GANTRY_JOB_ID", input.key.job_id.as_str()),
        plain("GANTRY_ATTEMPT", &input.key.attempt.to_string()),
        plain("GANTRY_TEAM", input.spec.team.as_str()),
        plain("GANTRY_CLUSTER", &input.target.cluster),
    ];
    if let Some(checkpoint) = &input.spec.checkpoint {
        env.push(plain("GANTRY_CHECKPOINT_URI", &checkpoint.uri.to_string()));
    }
    env
}

fn training_env(input: RenderInput<'_>, name: &str) -> Vec<EnvVar> {
    let index = || EnvVar {
        name: String::new(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_owned()),
                field_path: "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                    .to_owned(),
            }),
            ..EnvVarSource::default()
        }),
    };
    let master = format!("{name}-0.{name}.{}.svc", input.namespace);
    let replicas = input.target.replicas.to_string();
    let per_node = input.spec.resources.gpu_count().max(1).to_string();
    let port = RENDEZVOUS_PORT.to_string();
    let mut env = common_env(input);
    for variable in ["RANK", "NODE_RANK", "PET_NODE_RANK"] {
        env.push(EnvVar {
            name: variable.to_owned(),
            ..index()
        });
    }
    for (variable, value) in [
        ("WORLD_SIZE", &replicas),
        ("NNODES", &replicas),
        ("PET_NNODES", &replicas),
        ("NPROC_PER_NODE", &per_node),
        ("PET_NPROC_PER_NODE", &per_node),
        ("MASTER_ADDR", &master),
        ("PET_MASTER_ADDR", &master),
        ("MASTER_PORT", &port),
        ("PET_MASTER_PORT", &port),
    ] {
        env.push(plain(variable, value));
    }
    env
}

/// CPU in Kubernetes syntax: whole cores as `96`, else millicores `500m`.
pub fn cpu_quantity(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Memory in Kubernetes syntax, exactly: the largest binary unit that divides
/// it (`1000Gi`, `512Mi`), else bytes.
pub fn memory_quantity(bytes: u64) -> String {
    const UNITS: [(&str, u32); 5] = [("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];
    if bytes == 0 {
        return "0".to_owned();
    }
    for (unit, shift) in UNITS {
        let size = 1u64 << shift;
        if bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_exact() {
        assert_eq!(cpu_quantity(96_000), "96");
        assert_eq!(cpu_quantity(500), "500m");
        assert_eq!(memory_quantity(1000 << 30), "1000Gi");
        assert_eq!(memory_quantity(1536 << 20), "1536Mi");
        assert_eq!(memory_quantity(2 << 40), "2Ti");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(0), "0");
    }
}
