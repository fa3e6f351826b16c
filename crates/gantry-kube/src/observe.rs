//! What a workload's objects say about the job, as a pure function of the
//! Job (or Deployment) and its pods: a [`Phase`], the real reason, the
//! cluster's message, and every container's exit.
//!
//! Training, checked in this order (the first that holds decides):
//! 1. A pod was disrupted (condition `DisruptionTarget=True`, or a pod
//!    `reason` of `Terminated`, `Shutdown`, `NodeShutdown`, `NodeLost`,
//!    `Evicted`): **Preempted**, reason `SpotInterruption` (a node shutdown
//!    or an eviction on spot capacity: interruption handlers drain reclaimed
//!    nodes), `NodeShutdown`, `NodeLost`, `PreemptedByCluster` or `Evicted`. Checked before the Job's own failure, because with
//!    `backoffLimit: 0` the Job controller also marks a disrupted gang Failed.
//! 2. Job condition `Failed=True`: **Failed**, reason `DeadlineExceeded`, or
//!    `OOMKilled` when a container was killed for memory, else `Error`.
//! 3. Job condition `Complete=True`: **Succeeded**.
//! 4. Every completion index has a running pod: **Running**.
//! 5. Otherwise **Launching**, with a [`Problem`] when a pod cannot pull its
//!    image (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, ...) or
//!    cannot be scheduled (`PodScheduled=False`, `Unschedulable`): the
//!    executor fails or requeues the attempt if the problem lasts.
//!
//! Inference: **Running** once a replica is ready, else Launching with the
//! same problems; a service never succeeds on its own.
//!
//! Nothing here trusts the objects' shape: a field that is missing or of the
//! wrong type reads as absent, never as a panic.

use std::collections::BTreeSet;

use gantry_core::CapacityType;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::names::ANNOTATION_CAPACITY_TYPE;

/// Where a workload is, as Gantry's job states see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Objects exist; not every replica runs yet.
    Launching,
    /// Every replica runs (a service: at least one is ready).
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully.
    Failed,
    /// Capacity was taken away: spot interruption, node loss, eviction.
    Preempted,
}

impl Phase {
    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Launching => "Launching",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Preempted => "Preempted",
        }
    }

    /// Succeeded, Failed or Preempted: this attempt is over.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Preempted)
    }
}

/// Something keeping a launching workload from running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A container's image cannot be pulled.
    ImagePull {
        /// The kubelet's reason (`ErrImagePull`, `ImagePullBackOff`, ...).
        reason: String,
        /// Its message.
        message: String,
    },
    /// A pod cannot be scheduled (the capacity is gone).
    Unschedulable {
        /// The scheduler's message.
        message: String,
    },
}

impl Problem {
    /// A machine word for the problem: `ImagePullError`, `Unschedulable`.
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::ImagePull { .. } => "ImagePullError",
            Problem::Unschedulable { .. } => "Unschedulable",
        }
    }

    /// The cluster's words.
    pub fn message(&self) -> &str {
        match self {
            Problem::ImagePull { message, .. } | Problem::Unschedulable { message } => message,
        }
    }
}

/// How one container of one pod ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    /// Pod name.
    pub pod: String,
    /// Completion index, for an Indexed Job's pod.
    pub index: Option<u32>,
    /// Container name.
    pub container: String,
    /// Exit code.
    pub exit_code: i32,
    /// The runtime's reason (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// Its message, if any.
    pub message: String,
}

/// What the objects say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The phase.
    pub phase: Phase,
    /// A machine word for why (`Completed`, `OOMKilled`, `SpotInterruption`, ...).
    pub reason: String,
    /// The cluster's words.
    pub message: String,
    /// When the cluster says the phase was reached, when it says.
    pub at: Option<Timestamp>,
    /// What keeps a launching workload from running.
    pub problem: Option<Problem>,
    /// Every terminated container, in pod-name order.
    pub exits: Vec<ContainerExit>,
    /// Replicas running (ready, for a service).
    pub running_replicas: u32,
    /// Replicas wanted.
    pub replicas: u32,
}

impl Observation {
    fn new(phase: Phase, reason: &str, message: String) -> Observation {
        Observation {
            phase,
            reason: reason.to_owned(),
            message,
            at: None,
            problem: None,
            exits: Vec::new(),
            running_replicas: 0,
            replicas: 1,
        }
    }

    /// Do the pods agree with the Job yet? A Job's status and its pods come
    /// over separate watches, so a Job can say Complete before the last pods'
    /// exits arrive: a Succeeded with fewer successful exits than replicas, or
    /// an `Error` with no exit at all, is not settled. The executor waits a
    /// moment for the pods before reporting (and reports anyway if they never
    /// come, e.g. deleted).
    pub fn is_settled(&self) -> bool {
        match self.phase {
            Phase::Succeeded => {
                let succeeded: Vec<&ContainerExit> = self
                    .exits
                    .iter()
                    .filter(|exit| exit.exit_code == 0)
                    .collect();
                let indexes: BTreeSet<u32> =
                    succeeded.iter().filter_map(|exit| exit.index).collect();
                let count = if indexes.is_empty() {
                    succeeded.len()
                } else {
                    indexes.len()
                };
                u32::try_from(count).unwrap_or(u32::MAX) >= self.replicas
            }
            Phase::Failed => self.reason != "Error" || !self.exits.is_empty(),
            Phase::Launching | Phase::Running | Phase::Preempted => true,
        }
    }
}

const IMAGE_PULL_REASONS: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "ErrInvalidImageName",
];

fn pod_status_reason(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.reason.as_deref()
}

fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .unwrap_or("Pending")
}

fn pod_condition<'a>(
    pod: &'a Pod,
    kind: &str,
) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|condition| condition.type_ == kind)
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn completion_index(pod: &Pod) -> Option<u32> {
    let annotations = pod.metadata.annotations.as_ref();
    let labels = pod.metadata.labels.as_ref();
    annotations
        .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
        .or_else(|| labels.and_then(|l| l.get("batch.kubernetes.io/job-completion-index")))
        .and_then(|text| text.parse().ok())
}

fn container_statuses(pod: &Pod) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|status| status.container_statuses.as_deref())
        .unwrap_or_default()
}

fn is_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Every terminated container of `pods`, in pod-name order.
pub fn exits(pods: &[&Pod]) -> Vec<ContainerExit> {
    let mut sorted: Vec<&Pod> = pods.to_vec();
    sorted.sort_by_key(|pod| pod_name(pod));
    let mut exits = Vec::new();
    for pod in sorted {
        for status in container_statuses(pod) {
            let Some(terminated) = status.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
                continue;
            };
            exits.push(ContainerExit {
                pod: pod_name(pod),
                index: completion_index(pod),
                container: status.name.clone(),
                exit_code: terminated.exit_code,
                reason: terminated.reason.clone().unwrap_or_default(),
                message: terminated.message.clone().unwrap_or_default(),
            });
        }
    }
    exits
}

/// A disruption of one pod: (reason word, message).
fn disruption(pod: &Pod, capacity: Option<CapacityType>) -> Option<(&'static str, String)> {
    let condition = pod_condition(pod, "DisruptionTarget").filter(|c| c.status == "True");
    let status_reason = pod_status_reason(pod);
    let by_reason = matches!(
        status_reason,
        Some("Terminated" | "Shutdown" | "NodeShutdown" | "NodeLost" | "Evicted")
    );
    if condition.is_none() && !by_reason {
        return None;
    }
    let condition_reason = condition.and_then(|c| c.reason.as_deref());
    let spot = capacity == Some(CapacityType::Spot);
    let word = match (condition_reason, status_reason) {
        (Some("DeletionByTaintManager"), _) | (_, Some("NodeLost")) => "NodeLost",
        (Some("PreemptionByScheduler"), _) => "PreemptedByCluster",
        // On spot capacity a drain is how interruption handlers (AWS Node
        // Termination Handler, Karpenter) take a reclaimed node away.
        (Some("EvictionByEvictionAPI"), _) | (_, Some("Evicted")) if spot => "SpotInterruption",
        (Some("EvictionByEvictionAPI"), _) | (_, Some("Evicted")) => "Evicted",
        _ if spot => "SpotInterruption",
        _ => "NodeShutdown",
    };
    let message = pod
        .status
        .as_ref()
        .and_then(|status| status.message.clone())
        .or_else(|| condition.and_then(|c| c.message.clone()))
        .unwrap_or_default();
    Some((word, format!("pod {}: {message}", pod_name(pod))))
}

/// A launching pod's problem, if any.
fn problem(pod: &Pod) -> Option<Problem> {
    for status in container_statuses(pod) {
        let Some(waiting) = status.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if IMAGE_PULL_REASONS.contains(&reason) {
            return Some(Problem::ImagePull {
                reason: reason.to_owned(),
                message: format!(
                    "pod {}: {}",
                    pod_name(pod),
                    waiting.message.clone().unwrap_or_default()
                ),
            });
        }
    }
    let scheduled = pod_condition(pod, "PodScheduled")?;
    if scheduled.status == "False" && scheduled.reason.as_deref() == Some("Unschedulable") {
        return Some(Problem::Unschedulable {
            message: format!(
                "pod {}: {}",
                pod_name(pod),
                scheduled.message.clone().unwrap_or_default()
            ),
        });
    }
    None
}

fn first_problem(pods: &[&Pod]) -> Option<Problem> {
    let mut sorted: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|pod| !is_deleting(pod))
        .collect();
    sorted.sort_by_key(|pod| pod_name(pod));
    let problems: Vec<Problem> = sorted.into_iter().filter_map(problem).collect();
    // An image that cannot be pulled is the more useful thing to say.
    problems
        .iter()
        .find(|p| matches!(p, Problem::ImagePull { .. }))
        .or_else(|| problems.first())
        .cloned()
}

fn capacity_of(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<CapacityType> {
    annotations
        .and_then(|a| a.get(ANNOTATION_CAPACITY_TYPE))
        .and_then(|text| CapacityType::parse(text))
}

fn latest_start(pods: &[&Pod]) -> Option<Timestamp> {
    pods.iter()
        .filter_map(|pod| pod.status.as_ref()?.start_time.as_ref())
        .map(|time| time.0)
        .max()
}

/// What a training Job and its pods say.
pub fn observe_training(job: &Job, pods: &[&Pod]) -> Observation {
    let completions = job
        .spec
        .as_ref()
        .and_then(|spec| spec.completions)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    Observation {
        replicas: completions,
        ..training_observation(job, pods, completions)
    }
}

fn training_observation(job: &Job, pods: &[&Pod], completions: u32) -> Observation {
    let capacity = capacity_of(job.metadata.annotations.as_ref());
    let exits_now = exits(pods);
    let mut sorted: Vec<&Pod> = pods.to_vec();
    sorted.sort_by_key(|pod| pod_name(pod));
    if let Some((word, message)) = sorted.iter().find_map(|pod| disruption(pod, capacity)) {
        let at = sorted
            .iter()
            .filter_map(|pod| pod_condition(pod, "DisruptionTarget"))
            .filter_map(|c| c.last_transition_time.as_ref())
            .map(|time| time.0)
            .min();
        return Observation {
            at,
            exits: exits_now,
            ..Observation::new(Phase::Preempted, word, message)
        };
    }
    let conditions = job
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    let holds = |kind: &str| {
        conditions
            .iter()
            .find(|condition| condition.type_ == kind && condition.status == "True")
    };
    if let Some(failed) = holds("Failed") {
        let job_reason = failed.reason.as_deref().unwrap_or_default();
        let oom = exits_now.iter().find(|exit| exit.reason == "OOMKilled");
        let first_error = exits_now.iter().find(|exit| exit.exit_code != 0);
        let (word, detail) = match (job_reason, oom, first_error) {
            ("DeadlineExceeded", _, _) => ("DeadlineExceeded", None),
            (_, Some(exit), _) => ("OOMKilled", Some(exit)),
            (_, None, Some(exit)) => ("Error", Some(exit)),
            (_, None, None) => ("Error", None),
        };
        let mut message = failed.message.clone().unwrap_or_default();
        if let Some(exit) = detail {
            message = format!(
                "{message}; pod {} container {} exited {} ({})",
                exit.pod, exit.container, exit.exit_code, exit.reason
            );
        }
        return Observation {
            at: failed.last_transition_time.as_ref().map(|time| time.0),
            exits: exits_now,
            ..Observation::new(Phase::Failed, word, message)
        };
    }
    if let Some(complete) = holds("Complete") {
        let at = job
            .status
            .as_ref()
            .and_then(|status| status.completion_time.as_ref())
            .or(complete.last_transition_time.as_ref())
            .map(|time| time.0);
        return Observation {
            at,
            exits: exits_now,
            ..Observation::new(
                Phase::Succeeded,
                "Completed",
                complete.message.clone().unwrap_or_default(),
            )
        };
    }
    let running: Vec<&Pod> = sorted
        .iter()
        .copied()
        .filter(|pod| pod_phase(pod) == "Running" && !is_deleting(pod))
        .collect();
    let running_indexes: BTreeSet<u32> = running
        .iter()
        .filter_map(|pod| completion_index(pod))
        .collect();
    // A non-indexed Job counts pods.
    let running_count = if running_indexes.is_empty() {
        running.len()
    } else {
        running_indexes.len()
    };
    let running_replicas = u32::try_from(running_count).unwrap_or(u32::MAX);
    if running_replicas >= completions {
        return Observation {
            at: latest_start(&running),
            exits: exits_now,
            running_replicas,
            ..Observation::new(
                Phase::Running,
                "Running",
                format!("{running_replicas} of {completions} replicas running"),
            )
        };
    }
    Observation {
        problem: first_problem(&sorted),
        exits: exits_now,
        running_replicas,
        ..Observation::new(
            Phase::Launching,
            "Launching",
            format!("{running_replicas} of {completions} replicas running"),
        )
    }
}

/// What a service's Deployment and its pods say.
pub fn observe_inference(deployment: &Deployment, pods: &[&Pod]) -> Observation {
    let wanted = deployment.spec.replicas.unwrap_or(1);
    Observation {
        replicas: u32::try_from(wanted).unwrap_or(0),
        ..inference_observation(deployment, pods, wanted)
    }
}

fn inference_observation(deployment: &Deployment, pods: &[&Pod], wanted: i32) -> Observation {
    let ready = deployment
        .status
        .as_ref()
        .and_then(|status| status.ready_replicas)
        .unwrap_or(0);
    let running_replicas = u32::try_from(ready).unwrap_or(0);
    let exits_now = exits(pods);
    if ready > 0 {
        let ready_pods: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|pod| pod_condition(pod, "Ready").is_some_and(|c| c.status == "True"))
            .collect();
        return Observation {
            at: latest_start(&ready_pods),
            exits: exits_now,
            running_replicas,
            problem: (ready < wanted).then(|| first_problem(pods)).flatten(),
            ..Observation::new(
                Phase::Running,
                "Running",
                format!("{ready} of {wanted} replicas ready"),
            )
        };
    }
    Observation {
        problem: first_problem(pods),
        exits: exits_now,
        running_replicas,
        ..Observation::new(
            Phase::Launching,
            "Launching",
            format!("0 of {wanted} replicas ready"),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use serde_json::json;

    use super::*;

    fn job(status: serde_json::Value, capacity: &str) -> Job {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j-1", "annotations": {"gantry.dev/capacity-type": capacity}},
            "spec": {"completions": 2, "parallelism": 2, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    fn pod(name: &str, index: u32, status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {"batch.kubernetes.io/job-completion-index": index.to_string()}},
            "status": status,
        }))
        .unwrap()
    }

    fn running(name: &str, index: u32) -> Pod {
        pod(
            name,
            index,
            json!({"phase": "Running", "startTime": "2026-12-01T10:00:00Z"}),
        )
    }

    fn terminated(name: &str, index: u32, code: i32, reason: &str) -> Pod {
        pod(
            name,
            index,
            json!({"phase": if code == 0 { "Succeeded" } else { "Failed" },
            "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "reason": reason}}}]}),
        )
    }

    #[test]
    fn a_gang_runs_only_when_every_index_runs() {
        let job = job(json!({"active": 2}), "on-demand");
        let one = running("j-1-0-a", 0);
        let two = running("j-1-1-b", 1);
        assert_eq!(observe_training(&job, &[&one]).phase, Phase::Launching);
        let both = observe_training(&job, &[&one, &two]);
        assert_eq!(
            (both.phase, both.running_replicas, both.replicas),
            (Phase::Running, 2, 2)
        );
        assert_eq!(both.at, Some("2026-12-01T10:00:00Z".parse().unwrap()));
    }

    #[test]
    fn failures_keep_their_real_reason_and_exit_codes() {
        let failed = job(
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
            "on-demand",
        );
        let oom = terminated("j-1-0-a", 0, 137, "OOMKilled");
        let observed = observe_training(&failed, &[&oom]);
        assert_eq!(
            (observed.phase, observed.reason.as_str()),
            (Phase::Failed, "OOMKilled")
        );
        assert_eq!(observed.exits[0].exit_code, 137);
        assert!(
            observed.message.contains("exited 137 (OOMKilled)"),
            "{}",
            observed.message
        );

        let error = terminated("j-1-0-a", 0, 3, "Error");
        assert_eq!(observe_training(&failed, &[&error]).reason, "Error");

        let deadline = job(
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}),
            "on-demand",
        );
        let observed = observe_training(&deadline, &[]);
        assert_eq!(
            (observed.phase, observed.reason.as_str()),
            (Phase::Failed, "DeadlineExceeded")
        );
    }

    #[test]
    fn a_disruption_is_a_preemption_even_when_the_job_failed() {
        let failed = job(
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}),
            "spot",
        );
        let shut_down = pod(
            "j-1-0-a",
            0,
            json!({"phase": "Failed", "reason": "Terminated",
            "message": "Pod was terminated in response to imminent node shutdown.",
            "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "lastTransitionTime": "2026-12-01T11:00:00Z"}]}),
        );
        let observed = observe_training(&failed, &[&shut_down]);
        assert_eq!(
            (observed.phase, observed.reason.as_str()),
            (Phase::Preempted, "SpotInterruption")
        );
        assert!(observed.message.contains("imminent node shutdown"));

        let on_demand = job(json!({}), "on-demand");
        assert_eq!(
            observe_training(&on_demand, &[&shut_down]).reason,
            "NodeShutdown"
        );
        let lost = pod(
            "j-1-0-a",
            0,
            json!({"phase": "Failed", "reason": "NodeLost",
            "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}]}),
        );
        assert_eq!(observe_training(&on_demand, &[&lost]).reason, "NodeLost");
    }

    #[test]
    fn launching_problems_are_named() {
        let job = job(json!({"active": 2}), "on-demand");
        let pull = pod(
            "j-1-0-a",
            0,
            json!({"phase": "Pending", "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImagePull", "message": "no such host"}}}]}),
        );
        let pending = pod(
            "j-1-1-b",
            1,
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}),
        );
        let observed = observe_training(&job, &[&pending, &pull]);
        assert_eq!(observed.phase, Phase::Launching);
        assert_eq!(
            observed.problem.as_ref().map(Problem::reason),
            Some("ImagePullError")
        );
        let observed = observe_training(&job, &[&pending]);
        assert_eq!(
            observed.problem.as_ref().map(Problem::reason),
            Some("Unschedulable")
        );
        assert!(observed.problem.unwrap().message().contains("0/3 nodes"));
    }

    #[test]
    fn a_completion_is_settled_only_when_every_rank_has_exited() {
        let complete = job(
            json!({"conditions": [{"type": "Complete", "status": "True"}]}),
            "on-demand",
        );
        let first = terminated("j-1-0-a", 0, 0, "Completed");
        let second = terminated("j-1-1-b", 1, 0, "Completed");
        assert!(!observe_training(&complete, &[&first]).is_settled());
        assert!(observe_training(&complete, &[&first, &second]).is_settled());
        let failed = job(
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}),
            "on-demand",
        );
        assert!(!observe_training(&failed, &[]).is_settled());
        let error = terminated("j-1-0-a", 0, 1, "Error");
        assert!(observe_training(&failed, &[&error]).is_settled());
    }

    #[test]
    fn a_job_with_garbage_in_its_status_is_read_without_panicking() {
        let job: Job = serde_json::from_value(json!({"metadata": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}})).unwrap();
        assert_eq!(observe_training(&job, &[]).phase, Phase::Succeeded);
        let empty = Job::default();
        assert_eq!(observe_training(&empty, &[]).phase, Phase::Launching);
        let deployment = Deployment::default();
        assert_eq!(observe_inference(&deployment, &[]).phase, Phase::Launching);
    }
}
