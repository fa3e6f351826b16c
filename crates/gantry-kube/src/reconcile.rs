//! Matching what a cluster holds with what Gantry wants, as a pure function.
//!
//! Every object labelled `app.kubernetes.io/managed-by=gantry` in the
//! executor's namespace is one of:
//! - **wanted and present**: adopted (once; an event says so), never created
//!   again;
//! - **wanted to run but absent** (its Job or Deployment is missing): created,
//!   idempotently (AlreadyExists is adoption);
//! - **wanted to be kept** (a finished attempt Gantry still shows): left alone,
//!   and not re-created when absent;
//! - **not wanted** (an unknown job, an old attempt, labels that do not parse):
//!   an orphan. It is deleted once it has been an orphan for the whole grace
//!   period, so that an object created just before a restart, or a job the
//!   control loop has not told the executor about yet, is never collected by a
//!   race.
//!
//! Nothing is decided before the control loop has said what it wants
//! (`desired_known`): at startup, everything would look orphaned.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::names::WorkloadKey;

/// Kinds of object the executor creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// `batch/v1` Job.
    Job,
    /// `apps/v1` Deployment.
    Deployment,
    /// `v1` Service.
    Service,
}

impl ObjectKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Job => "Job",
            ObjectKind::Deployment => "Deployment",
            ObjectKind::Service => "Service",
        }
    }

    /// Jobs and Deployments run the work; a Service alone does not.
    pub fn runs_work(self) -> bool {
        matches!(self, ObjectKind::Job | ObjectKind::Deployment)
    }
}

/// One object found in the cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FoundObject {
    /// Kind.
    pub kind: ObjectKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The workload its labels name, if they parse.
    pub key: Option<WorkloadKey>,
    /// Already being deleted.
    pub deleting: bool,
}

/// What Gantry wants of one workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Running: create it when absent.
    Run,
    /// Finished: keep its objects, do not re-create them.
    Keep,
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Take over a workload that is already there.
    Adopt(WorkloadKey),
    /// Create a workload that should run and is absent.
    Create(WorkloadKey),
    /// Delete an object that has been an orphan for the whole grace period.
    DeleteOrphan(FoundObject),
}

/// Orphans seen, with when each was first seen.
pub type OrphanClock = BTreeMap<(ObjectKind, String, String), Instant>;

/// The actions that bring the cluster to what is wanted. `adopted` are the
/// workloads already adopted or launched by this executor; `orphans` keeps
/// first-seen times between calls.
pub fn plan(
    wanted: &BTreeMap<WorkloadKey, Want>,
    found: &[FoundObject],
    adopted: &BTreeSet<WorkloadKey>,
    orphans: &mut OrphanClock,
    now: Instant,
    grace: Duration,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut present: BTreeSet<&WorkloadKey> = BTreeSet::new();
    let mut still_orphaned = BTreeSet::new();
    for object in found {
        let wanted_key = object.key.as_ref().filter(|key| wanted.contains_key(*key));
        if let Some(key) = wanted_key {
            if object.kind.runs_work() && !object.deleting {
                present.insert(key);
            }
            continue;
        }
        let id = (object.kind, object.namespace.clone(), object.name.clone());
        let first_seen = *orphans.entry(id.clone()).or_insert(now);
        still_orphaned.insert(id);
        if !object.deleting && now.saturating_duration_since(first_seen) >= grace {
            actions.push(Action::DeleteOrphan(object.clone()));
        }
    }
    orphans.retain(|id, _| still_orphaned.contains(id));
    for (key, want) in wanted {
        match (present.contains(key), want) {
            (true, _) if !adopted.contains(key) => actions.push(Action::Adopt(key.clone())),
            (false, Want::Run) => actions.push(Action::Create(key.clone())),
            _ => {}
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use gantry_core::JobId;

    use super::*;

    fn key(id: &str, attempt: u32) -> WorkloadKey {
        WorkloadKey::new(JobId::new(id).unwrap(), attempt)
    }

    fn object(kind: ObjectKind, key: Option<WorkloadKey>, name: &str) -> FoundObject {
        FoundObject {
            kind,
            namespace: "gantry".to_owned(),
            name: name.to_owned(),
            key,
            deleting: false,
        }
    }

    #[test]
    fn present_work_is_adopted_once_and_absent_work_created() {
        let wanted = BTreeMap::from([
            (key("a", 1), Want::Run),
            (key("b", 1), Want::Run),
            (key("c", 2), Want::Keep),
        ]);
        let found = vec![
            object(ObjectKind::Job, Some(key("a", 1)), "a-1"),
            object(ObjectKind::Service, Some(key("a", 1)), "a-1"),
            // Only b's Service survived: the Job must be created again.
            object(ObjectKind::Service, Some(key("b", 1)), "b-1"),
        ];
        let mut orphans = OrphanClock::new();
        let now = Instant::now();
        let actions = plan(
            &wanted,
            &found,
            &BTreeSet::new(),
            &mut orphans,
            now,
            Duration::from_secs(60),
        );
        assert_eq!(
            actions,
            vec![Action::Adopt(key("a", 1)), Action::Create(key("b", 1))]
        );
        let adopted = BTreeSet::from([key("a", 1)]);
        let actions = plan(
            &wanted,
            &found,
            &adopted,
            &mut orphans,
            now,
            Duration::from_secs(60),
        );
        assert_eq!(actions, vec![Action::Create(key("b", 1))]);
    }

    #[test]
    fn orphans_are_deleted_only_after_the_grace_period() {
        let wanted = BTreeMap::from([(key("a", 2), Want::Run)]);
        let old_attempt = object(ObjectKind::Job, Some(key("a", 1)), "a-1");
        let unknown = object(ObjectKind::Deployment, Some(key("zz", 1)), "zz-1");
        let unlabelled = object(ObjectKind::Service, None, "mystery");
        let found = vec![
            old_attempt.clone(),
            unknown.clone(),
            unlabelled.clone(),
            object(ObjectKind::Job, Some(key("a", 2)), "a-2"),
        ];
        let adopted = BTreeSet::from([key("a", 2)]);
        let mut orphans = OrphanClock::new();
        let start = Instant::now();
        let grace = Duration::from_secs(30);
        assert!(plan(&wanted, &found, &adopted, &mut orphans, start, grace).is_empty());
        assert_eq!(orphans.len(), 3);
        let early = start + Duration::from_secs(29);
        assert!(plan(&wanted, &found, &adopted, &mut orphans, early, grace).is_empty());
        let late = start + grace;
        let actions = plan(&wanted, &found, &adopted, &mut orphans, late, grace);
        assert_eq!(
            actions,
            vec![
                Action::DeleteOrphan(old_attempt),
                Action::DeleteOrphan(unknown),
                Action::DeleteOrphan(unlabelled)
            ]
        );
        // Once gone, they are forgotten.
        let found = vec![object(ObjectKind::Job, Some(key("a", 2)), "a-2")];
        assert!(plan(&wanted, &found, &adopted, &mut orphans, late, grace).is_empty());
        assert!(orphans.is_empty());
    }

    #[test]
    fn an_object_wanted_again_stops_being_an_orphan() {
        let found = vec![object(ObjectKind::Job, Some(key("a", 1)), "a-1")];
        let mut orphans = OrphanClock::new();
        let start = Instant::now();
        let grace = Duration::from_secs(30);
        plan(
            &BTreeMap::new(),
            &found,
            &BTreeSet::new(),
            &mut orphans,
            start,
            grace,
        );
        let wanted = BTreeMap::from([(key("a", 1), Want::Run)]);
        let actions = plan(
            &wanted,
            &found,
            &BTreeSet::new(),
            &mut orphans,
            start + grace,
            grace,
        );
        assert_eq!(actions, vec![Action::Adopt(key("a", 1))]);
        assert!(orphans.is_empty());
    }
}
