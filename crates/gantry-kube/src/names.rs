//! The labels Gantry puts on what it creates, and the names of its objects.
//!
//! Invariants:
//! - A workload's name is a pure function of its job id and attempt, so a
//!   second launch of the same attempt names the same objects (and finds them
//!   with AlreadyExists) and a new attempt never collides with an old one.
//! - Names fit every place Kubernetes puts them: a Job name plus `-<index>` is a
//!   pod hostname (a DNS-1123 label, at most 63 characters), and a Service name
//!   is a DNS-1035 label (job ids start with a letter, so names do too).
//! - Every object carries `app.kubernetes.io/managed-by=gantry`, the job id and
//!   the attempt as labels: reconciliation finds Gantry's objects by them alone.

use std::collections::BTreeMap;
use std::fmt;

use gantry_core::{JobId, TeamPath};

/// `app.kubernetes.io/managed-by`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`LABEL_MANAGED_BY`] on Gantry's objects.
pub const MANAGED_BY_GANTRY: &str = "gantry";
/// The job id.
pub const LABEL_JOB_ID: &str = "gantry.dev/job-id";
/// The team, as a label value (`org/nlp` becomes `org.nlp`).
pub const LABEL_TEAM: &str = "gantry.dev/team";
/// The attempt number, from 1.
pub const LABEL_ATTEMPT: &str = "gantry.dev/attempt";
/// Annotation: the team path exactly (labels cannot hold `/`).
pub const ANNOTATION_TEAM_PATH: &str = "gantry.dev/team-path";
/// Annotation: the capacity type the workload was placed on (`spot`, ...), so
/// a disruption can be told apart from a failure.
pub const ANNOTATION_CAPACITY_TYPE: &str = "gantry.dev/capacity-type";
/// Annotation: the node pool the workload was placed on.
pub const ANNOTATION_POOL: &str = "gantry.dev/pool";
/// Node label an operator sets on reserved (or explicitly typed) node groups:
/// `reserved`, `on-demand` or `spot`. It wins over every cloud label.
pub const NODE_LABEL_CAPACITY_TYPE: &str = "gantry.dev/capacity-type";
/// The label selector of everything Gantry manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=gantry";

/// Longest workload name: a pod's hostname is `<name>-<completion index>` and
/// must stay a DNS-1123 label (63), leaving room for a 5-digit index.
pub const MAX_WORKLOAD_NAME: usize = 57;

/// One attempt of one job: what a set of Kubernetes objects belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadKey {
    /// The job.
    pub job_id: JobId,
    /// The attempt, from 1.
    pub attempt: u32,
}

impl WorkloadKey {
    /// The key of `job_id`'s `attempt`.
    pub fn new(job_id: JobId, attempt: u32) -> WorkloadKey {
        WorkloadKey { job_id, attempt }
    }

    /// The name of every object of this workload (Job, Service, Deployment).
    pub fn object_name(&self) -> String {
        workload_name(&self.job_id, self.attempt)
    }

    /// The key an object belongs to, from its labels; `None` when it is not
    /// Gantry's or its labels are malformed.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<WorkloadKey> {
        if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_GANTRY) {
            return None;
        }
        let job_id = JobId::new(labels.get(LABEL_JOB_ID)?.as_str()).ok()?;
        let attempt = labels.get(LABEL_ATTEMPT)?.parse::<u32>().ok()?;
        Some(WorkloadKey { job_id, attempt })
    }

    /// The label selector of this workload's objects and pods.
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_JOB_ID.to_owned(), self.job_id.as_str().to_owned()),
            (LABEL_ATTEMPT.to_owned(), self.attempt.to_string()),
        ])
    }

    /// The same selector as text, for list and watch calls.
    pub fn selector_text(&self) -> String {
        format!(
            "{LABEL_MANAGED_BY}={MANAGED_BY_GANTRY},{LABEL_JOB_ID}={},{LABEL_ATTEMPT}={}",
            self.job_id, self.attempt
        )
    }
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}#{}", self.job_id, self.attempt)
    }
}

/// The labels every object of the workload carries: managed-by, job id,
/// team and attempt, after the job's own labels (Gantry's win on a clash).
pub fn workload_labels(
    key: &WorkloadKey,
    team: &TeamPath,
    job_labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels = job_labels.clone();
    labels.insert(LABEL_MANAGED_BY.to_owned(), MANAGED_BY_GANTRY.to_owned());
    labels.insert(LABEL_JOB_ID.to_owned(), key.job_id.as_str().to_owned());
    labels.insert(LABEL_TEAM.to_owned(), team_label_value(team));
    labels.insert(LABEL_ATTEMPT.to_owned(), key.attempt.to_string());
    labels
}

/// A team path as a label value: segments joined by `.` (`org/nlp` ->
/// `org.nlp`); past 63 characters, cut and suffixed with a hash of the whole
/// path so distinct teams keep distinct values.
pub fn team_label_value(team: &TeamPath) -> String {
    let joined = team.segments().collect::<Vec<_>>().join(".");
    if joined.len() <= 63 {
        return joined;
    }
    let hash = format!("{:08x}", fnv1a(team.as_str()) as u32);
    let keep = 63 - hash.len() - 1;
    let head: String = joined.chars().take(keep).collect();
    format!("{}-{hash}", head.trim_end_matches(['.', '-']))
}

/// The name of a job's attempt: `<job-id>-<attempt>`, or, when that is longer
/// than [`MAX_WORKLOAD_NAME`], the id cut short with a hash of the whole id.
pub fn workload_name(job_id: &JobId, attempt: u32) -> String {
    let suffix = format!("-{attempt}");
    let id = job_id.as_str();
    if id.len() + suffix.len() <= MAX_WORKLOAD_NAME {
        return format!("{id}{suffix}");
    }
    let hash = format!("-{:08x}", fnv1a(id) as u32);
    let keep = MAX_WORKLOAD_NAME - hash.len() - suffix.len();
    let head: String = id.chars().take(keep).collect();
    format!("{}{hash}{suffix}", head.trim_end_matches('-'))
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use gantry_core::{check_dns1123_label, check_label_value};

    use super::*;

    #[test]
    fn names_are_deterministic_distinct_and_fit_a_hostname() {
        let short = JobId::new("llama-8b-sft-7f3k2").unwrap();
        assert_eq!(workload_name(&short, 1), "llama-8b-sft-7f3k2-1");
        assert_eq!(workload_name(&short, 12), "llama-8b-sft-7f3k2-12");

        let long = JobId::new(format!("a{}", "-b".repeat(31))).unwrap();
        let other = JobId::new(format!("a{}c", "-b".repeat(30))).unwrap();
        for attempt in [1, 99, u32::MAX] {
            let name = workload_name(&long, attempt);
            assert!(name.len() <= MAX_WORKLOAD_NAME, "{name}");
            assert!(name.ends_with(&format!("-{attempt}")));
            check_dns1123_label(&name).unwrap();
            check_dns1123_label(&format!("{name}-99999")).unwrap();
            assert_eq!(name, workload_name(&long, attempt));
            assert_ne!(name, workload_name(&other, attempt));
        }
    }

    #[test]
    fn team_values_are_valid_labels_and_keep_long_paths_apart() {
        let team = TeamPath::parse("org/nlp").unwrap();
        assert_eq!(team_label_value(&team), "org.nlp");
        let segment = "x".repeat(30);
        let long_a = TeamPath::parse(&format!("{segment}/{segment}/a")).unwrap();
        let long_b = TeamPath::parse(&format!("{segment}/{segment}/b")).unwrap();
        for team in [&long_a, &long_b] {
            check_label_value(&team_label_value(team)).unwrap();
        }
        assert_ne!(team_label_value(&long_a), team_label_value(&long_b));
    }

    #[test]
    fn keys_round_trip_through_labels_and_refuse_foreign_objects() {
        let key = WorkloadKey::new(JobId::new("eval-1").unwrap(), 3);
        let team = TeamPath::parse("org/research").unwrap();
        let mine = BTreeMap::from([("run".to_owned(), "17".to_owned())]);
        let labels = workload_labels(&key, &team, &mine);
        assert_eq!(WorkloadKey::from_labels(&labels), Some(key.clone()));
        assert_eq!(labels.get("run").map(String::as_str), Some("17"));

        let mut foreign = labels.clone();
        foreign.insert(LABEL_MANAGED_BY.to_owned(), "helm".to_owned());
        assert_eq!(WorkloadKey::from_labels(&foreign), None);
        let mut broken = labels;
        broken.insert(LABEL_ATTEMPT.to_owned(), "first".to_owned());
        assert_eq!(WorkloadKey::from_labels(&broken), None);
        assert_eq!(
            key.selector_text(),
            "app.kubernetes.io/managed-by=gantry,gantry.dev/job-id=eval-1,gantry.dev/attempt=3"
        );
    }
}
