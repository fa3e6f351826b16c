//! The control loop's decisions, as a pure state machine: inputs (a job
//! submitted, a cancel, what the executor saw, new views of the clusters,
//! the clock) go in with `now`; commands (persist these transitions, launch,
//! cancel, tell the executor what should run) come out. No I/O, no clock.
//!
//! Protocol with the driver, step by step:
//! 1. At start, [`Input::Recovered`] with every live job from the store; the
//!    controller answers with `SetDesired` per cluster (what should run
//!    there, so the executor adopts it rather than launching it again).
//! 2. A submit is persisted by the API (Queued) and then given as
//!    [`Input::Submitted`]; the job waits for the next pass.
//! 3. [`Controller::pass`] runs the scheduler over the current views and
//!    queue and returns, for each placement, `Persist([Place])` then
//!    `Launch`; for each preemption, `Persist([Preempt, Requeue])` then
//!    `Cancel`. The driver carries out a pass's commands in order and never
//!    launches before the persist that precedes it has committed: a crash in
//!    between leaves a Placed job that the restarted daemon launches (or
//!    adopts, if the launch had gone out), never a running job nobody knows.
//! 4. Executor events walk the job through the state machine
//!    ([`crate::walk`]), each step one persisted transition; events of an
//!    old attempt are ignored.
//!
//! The controller updates its own state as it emits a transition (it is the
//! only writer of job states after submit), so the next input sees it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use gantry_core::{
    CapacityType, Cloud, CloudQuota, DataUri, JobId, JobKind, JobSpec, JobState, JobTransition,
    Money, TeamPath, TeamQuota, format_duration,
};
use gantry_kube::{
    ClusterView, Desired, ExecutorEvent, Health, LaunchRequest, Phase, Target, WorkloadKey,
};
use gantry_sched::{
    Assignment, DataSource, Offer, Plan, Policy, QueuedJob, Rejection, Snapshot, TeamBudget,
    WaitReason, never_fits, schedule,
};
use serde_json::json;

use crate::checkpoint::{CheckpointAnswer, CheckpointCheck, CheckpointHolds};
use crate::cloud::LocatedData;
use crate::job::{LiveJob, Located, PlacementRecord, queued_job_located, seconds};
use crate::offers::{SpotRates, offers};
use crate::running::{Running, RunningCache};
use crate::walk::{Reached, end_state, walk};

/// Milliseconds in a UTC day.
const DAY_MS: i64 = 86_400_000;
/// Decisions kept for the status endpoint.
const RECENT_DECISIONS: usize = 50;

/// What the controller is configured with.
#[derive(Clone, Debug)]
pub struct ControlSettings {
    /// The scheduler's policy.
    pub policy: Policy,
    /// Team quotas.
    pub teams: Vec<TeamQuota>,
    /// Cloud quotas.
    pub cloud_quotas: Vec<CloudQuota>,
    /// Spot interruption rates.
    pub spot_rates: SpotRates,
    /// Jobs of a lost cluster are placed again after it has been lost this long.
    pub lost_grace_ms: i64,
    /// The configured clusters, by name.
    pub clusters: Vec<String>,
}

/// A job read back from the store at startup.
#[derive(Clone, Debug)]
pub struct RecoveredJob {
    /// Id.
    pub id: JobId,
    /// Its spec.
    pub spec: Arc<JobSpec>,
    /// State in the store.
    pub state: JobState,
    /// Attempt in the store.
    pub attempt: u32,
    /// Submission time.
    pub submitted_at_unix_ms: i64,
    /// Stored placement.
    pub placement: Option<PlacementRecord>,
}

/// An input.
#[derive(Clone, Debug)]
pub enum Input {
    /// The live jobs of the store, once, at start, and recently finished
    /// attempts whose objects should be kept (cluster, attempt).
    Recovered(Vec<RecoveredJob>, Vec<(String, WorkloadKey)>),
    /// A job the API accepted and persisted as Queued.
    Submitted {
        /// Id.
        id: JobId,
        /// Spec.
        spec: Arc<JobSpec>,
        /// When.
        submitted_at_unix_ms: i64,
    },
    /// Someone asked to cancel a job.
    Cancel {
        /// Job.
        id: JobId,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The executor saw something.
    Executor(Box<ExecutorEvent>),
    /// The clusters' latest views.
    Views(BTreeMap<String, Arc<ClusterView>>),
    /// Time passed (budgets, lost clusters).
    Tick,
    /// A storage adapter answered where an input lives (asked for `job`, if
    /// any): found, its region and size replace the spec's figures for every
    /// job reading it; not found, the job gets an event saying why and keeps
    /// the spec's figures.
    DataLocated {
        /// The input.
        uri: DataUri,
        /// The job that asked, for the event of a failure.
        job: Option<JobId>,
        /// What was found, or why nothing was.
        result: Result<LocatedData, String>,
    },
    /// A storage adapter answered a checkpoint check the controller asked
    /// for (see [`Controller::take_checkpoint_checks`]).
    CheckpointChecked {
        /// The check.
        check: CheckpointCheck,
        /// Its answer.
        answer: CheckpointAnswer,
    },
}

/// One transition (or note) to persist.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// Job.
    pub job_id: JobId,
    /// State it must be in.
    pub expected: JobState,
    /// The transition; `None` for a note.
    pub transition: Option<JobTransition>,
    /// Attempt after it.
    pub attempt: u32,
    /// Placement after it.
    pub placement: Option<PlacementRecord>,
    /// Why.
    pub reason: String,
    /// Who or what.
    pub actor: String,
    /// Details.
    pub details: serde_json::Value,
    /// When.
    pub at_unix_ms: i64,
}

/// What the driver must do, in order.
#[derive(Clone, Debug)]
pub enum Command {
    /// Commit these, all or none, before the commands after this one.
    Persist(Vec<Transition>),
    /// Launch an attempt.
    Launch(LaunchRequest),
    /// Stop an attempt.
    Cancel {
        /// Cluster.
        cluster: String,
        /// Attempt.
        key: WorkloadKey,
    },
    /// What should run on a cluster.
    SetDesired {
        /// Cluster.
        cluster: String,
        /// Attempts.
        desired: Vec<Desired>,
    },
    /// The answer to a cancel request, once persisted (`Ok` with the
    /// state after, or `Err` with why not).
    CancelOutcome {
        /// Job.
        id: JobId,
        /// Outcome.
        outcome: Result<JobState, CancelRefused>,
    },
}

/// Why a cancel was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefused {
    /// Not a live job.
    #[error("job {0} is not live (unknown or finished)")]
    NotLive(JobId),
}

/// One candidate of an explanation, named (not an index into a snapshot).
#[derive(Clone, Debug, PartialEq)]
pub struct NamedCandidate {
    /// Cluster.
    pub cluster: String,
    /// Pool.
    pub pool: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// GPU model.
    pub gpu_model: Option<gantry_core::GpuModel>,
    /// Instance type.
    pub instance_type: String,
    /// Whole job per hour.
    pub hourly_price: Money,
    /// Expected cost.
    pub expected_cost: Money,
    /// Why not chosen; `None` for the chosen one.
    pub rejection: Option<Rejection>,
}

/// Why a job is where it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobExplanation {
    /// Candidates weighed at the last decision.
    pub candidates: Vec<NamedCandidate>,
    /// Offers considered.
    pub offers_considered: usize,
    /// Why it waits, if it does.
    pub waiting_reason: Option<String>,
    /// When decided.
    pub decided_at_unix_ms: i64,
}

impl JobExplanation {
    /// As kept in the Place event's details, so the decision can be shown
    /// after the job has left the control loop.
    pub fn to_json(&self) -> serde_json::Value {
        let candidates: Vec<serde_json::Value> = self
            .candidates
            .iter()
            .map(|candidate| {
                let (rejection, detail) = match &candidate.rejection {
                    None => ("None", String::new()),
                    Some(Rejection::PlacementRule(detail)) => ("PlacementRule", detail.clone()),
                    Some(Rejection::SpotPolicy) => ("SpotPolicy", String::new()),
                    Some(Rejection::Shape(detail)) => ("Shape", detail.clone()),
                    Some(Rejection::Capacity { fits, needed }) => {
                        ("Capacity", format!("{fits} of {needed} replicas fit now"))
                    }
                    Some(Rejection::MaxHourlyCost { limit, price }) => (
                        "MaxHourlyCost",
                        format!("${price}/h is above maxHourlyCost ${limit}/h"),
                    ),
                    Some(Rejection::CloudQuota(detail)) => ("CloudQuota", detail.clone()),
                    Some(Rejection::TeamQuota(detail)) => ("TeamQuota", detail.clone()),
                    Some(Rejection::Costlier) => ("Costlier", String::new()),
                };
                json!({
                    "cluster": candidate.cluster,
                    "pool": candidate.pool,
                    "zone": candidate.zone,
                    "capacity_type": candidate.capacity_type.as_str(),
                    "gpu_model": candidate.gpu_model.map(|model| model.to_string()),
                    "instance_type": candidate.instance_type,
                    "hourly_price_micro_usd": candidate.hourly_price.micros(),
                    "expected_cost_micro_usd": candidate.expected_cost.micros(),
                    "rejection": rejection,
                    "rejection_detail": detail,
                })
            })
            .collect();
        json!({
            "candidates": candidates,
            "offers_considered": self.offers_considered,
            "decided_at_unix_ms": self.decided_at_unix_ms,
        })
    }
}

/// One recent decision, for operators.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// When.
    pub at_unix_ms: i64,
    /// Job.
    pub job_id: JobId,
    /// What, in words.
    pub summary: String,
}

/// A dry run's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quote {
    /// Ranked feasible placements, cheapest first.
    pub placements: Vec<(NamedCandidate, PlacementRecord)>,
    /// Every candidate weighed.
    pub explanation: JobExplanation,
    /// Why no configured cluster could ever fit it, if so.
    pub never_fits: Option<String>,
}

/// Usage of one team now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TeamUsage {
    /// Team.
    pub team: Option<TeamPath>,
    /// Its quota, if it has one.
    pub quota: Option<TeamQuota>,
    /// GPUs held (own jobs and sub-teams').
    pub gpus: u32,
    /// GPUs by model.
    pub gpus_by_model: BTreeMap<gantry_core::GpuModel, u32>,
    /// CPU.
    pub cpu_millis: u64,
    /// Memory.
    pub memory_bytes: u64,
    /// Spend today (marginal: reserved capacity is already paid).
    pub spend_today: Money,
    /// Queued jobs.
    pub queued: u32,
    /// Jobs holding capacity.
    pub running: u32,
}

/// What the last scheduling pass weighed and how its time was spent (for
/// the driver's debug line and the pass-duration figures).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassShape {
    /// Queued jobs weighed.
    pub queued: usize,
    /// Running allocations in the snapshot.
    pub running: usize,
    /// Jobs placed.
    pub placed: usize,
    /// Building the snapshot, in ms.
    pub snapshot_ms: f64,
    /// `schedule()`, in ms.
    pub schedule_ms: f64,
    /// Turning the plan into commands, in ms.
    pub apply_ms: f64,
}

/// Counters for metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlMetrics {
    /// Scheduling passes run.
    pub passes: u64,
    /// Jobs placed.
    pub placements: u64,
    /// Jobs preempted for others.
    pub preemptions: u64,
    /// Submit-to-placed latencies of placements since the last read, in ms.
    pub placement_latencies_ms: Vec<u64>,
    /// Spend at list price since start (reserved counted at its amortized price).
    pub list_spend: Money,
}

/// The control loop's state.
#[derive(Debug)]
pub struct Controller {
    settings: ControlSettings,
    jobs: BTreeMap<JobId, LiveJob>,
    views: BTreeMap<String, Arc<ClusterView>>,
    /// When each Running job's pods may not be in its cluster's view yet.
    unseen_since: BTreeMap<JobId, i64>,
    spend_today: BTreeMap<TeamPath, Money>,
    day: i64,
    last_tick_unix_ms: Option<i64>,
    explanations: BTreeMap<JobId, JobExplanation>,
    recent: VecDeque<Decision>,
    dirty: bool,
    metrics: ControlMetrics,
    last_pass: PassShape,
    /// The running jobs' allocations, kept between passes.
    running: RunningCache,
    recovered: bool,
    located: Located,
    /// Queued jobs the next pass must show the scheduler even when nothing
    /// was released: new since the last pass, or left waiting for a reason
    /// that does not park. Every other queued job that is not held for a
    /// checkpoint is parked: left waiting for room or quota by a plan, and
    /// not shown again until something is released (see `parks`).
    fresh: BTreeSet<JobId>,
    /// Something was released since the last pass: wake every parked job.
    wake: bool,
    /// Requeued jobs held until their checkpoint prefix is checked.
    checkpoints: CheckpointHolds,
}

/// A note on `job`'s events from the daemon: no transition, the job as it is.
fn note(job: &LiveJob, reason: String, details: serde_json::Value, now: i64) -> Transition {
    Transition {
        job_id: job.id.clone(),
        expected: job.state,
        transition: None,
        attempt: job.attempt,
        placement: job.placement.clone(),
        reason,
        actor: "gantryd".to_owned(),
        details,
        at_unix_ms: now,
    }
}

fn reached_of(phase: Phase) -> Reached {
    match phase {
        Phase::Launching => Reached::Launching,
        Phase::Running => Reached::Running,
        Phase::Succeeded => Reached::Succeeded,
        Phase::Failed => Reached::Failed,
        Phase::Preempted => Reached::Preempted,
    }
}

impl Controller {
    /// A controller with no jobs.
    pub fn new(settings: ControlSettings) -> Controller {
        Controller {
            settings,
            jobs: BTreeMap::new(),
            views: BTreeMap::new(),
            unseen_since: BTreeMap::new(),
            spend_today: BTreeMap::new(),
            day: 0,
            last_tick_unix_ms: None,
            explanations: BTreeMap::new(),
            recent: VecDeque::new(),
            dirty: false,
            metrics: ControlMetrics::default(),
            last_pass: PassShape::default(),
            running: RunningCache::default(),
            recovered: false,
            located: Located::new(),
            fresh: BTreeSet::new(),
            wake: false,
            checkpoints: CheckpointHolds::default(),
        }
    }

    /// Drops a job that is no longer live, and all that is kept about it.
    fn forget(&mut self, id: &JobId) {
        self.jobs.remove(id);
        self.unseen_since.remove(id);
        self.explanations.remove(id);
        self.fresh.remove(id);
    }

    /// Something that may let a waiting job in happened (a job stopped or
    /// went back to the queue, a cluster's capacity, prices or health moved,
    /// a new day reset the budgets, an input was located): the next pass
    /// shows the scheduler the whole queue again.
    fn release(&mut self) {
        self.dirty = true;
        self.wake = true;
    }

    /// Whether a job left waiting for `reason` can wait out of sight until
    /// the next release. Exact because the scheduler is monotone: a job
    /// that found no room, or was over a limit, cannot be placed while
    /// capacity and quota only shrink (new jobs take, they never free; a
    /// new lower-priority job only moves free room into preemptible room).
    /// Not under strict FIFO (a parked head would let the jobs behind it
    /// pass), and never for a reason that can change with time alone.
    fn parks(&self, reason: &WaitReason) -> bool {
        self.settings.policy.backfill
            && matches!(
                reason,
                WaitReason::NoMatchingOffer(_)
                    | WaitReason::Capacity { .. }
                    | WaitReason::TeamQuota { .. }
                    | WaitReason::Budget { .. }
                    | WaitReason::CloudQuota { .. }
                    | WaitReason::MaxHourlyCost { .. }
            )
    }

    /// The live jobs.
    pub fn jobs(&self) -> &BTreeMap<JobId, LiveJob> {
        &self.jobs
    }

    /// The clusters' last views.
    pub fn views(&self) -> &BTreeMap<String, Arc<ClusterView>> {
        &self.views
    }

    /// Does the queue or the fleet call for a scheduling pass? Not before
    /// every cluster has been listed once (or declared lost): a pass over
    /// part of the fleet would place on whichever cluster answered first.
    pub fn needs_pass(&self) -> bool {
        self.dirty && self.recovered && self.fleet_listed()
    }

    /// Has every configured cluster been listed once, or been declared lost?
    fn fleet_listed(&self) -> bool {
        self.settings.clusters.iter().all(|cluster| {
            self.views.get(cluster).is_some_and(|view| {
                view.synced || !view.inventory.pools.is_empty() || view.health == Health::Lost
            })
        })
    }

    /// What the last scheduling pass weighed and where its time went.
    pub fn last_pass(&self) -> PassShape {
        self.last_pass
    }

    /// Takes the counters (latencies are drained).
    pub fn take_metrics(&mut self) -> ControlMetrics {
        let latencies = std::mem::take(&mut self.metrics.placement_latencies_ms);
        ControlMetrics {
            placement_latencies_ms: latencies,
            ..self.metrics.clone()
        }
    }

    /// Recent decisions, newest last.
    pub fn recent_decisions(&self) -> impl Iterator<Item = &Decision> {
        self.recent.iter()
    }

    /// The last explanation of a job.
    pub fn explanation(&self, id: &JobId) -> Option<&JobExplanation> {
        self.explanations.get(id)
    }

    /// Queued jobs waiting out of the scheduler's sight until the next
    /// release.
    pub fn parked_jobs(&self) -> usize {
        self.jobs
            .values()
            .filter(|job| {
                job.state == JobState::Queued
                    && !self.fresh.contains(&job.id)
                    && !self.checkpoints.is_held(&job.id)
            })
            .count()
    }

    fn decide(&mut self, at_unix_ms: i64, job_id: &JobId, summary: String) {
        self.recent.push_back(Decision {
            at_unix_ms,
            job_id: job_id.clone(),
            summary,
        });
        while self.recent.len() > RECENT_DECISIONS {
            self.recent.pop_front();
        }
    }

    /// Handles one input.
    pub fn handle(&mut self, input: Input, now_unix_ms: i64) -> Vec<Command> {
        match input {
            Input::Recovered(jobs, keep) => self.recover(jobs, keep, now_unix_ms),
            Input::Submitted {
                id,
                spec,
                submitted_at_unix_ms,
            } => {
                // A new job takes capacity, it frees none: parked jobs stay parked.
                self.fresh.insert(id.clone());
                self.jobs.insert(
                    id.clone(),
                    LiveJob {
                        id,
                        spec,
                        state: JobState::Queued,
                        attempt: 0,
                        submitted_at_unix_ms,
                        placement: None,
                        failures: 0,
                        lost_since_unix_ms: None,
                    },
                );
                self.dirty = true;
                Vec::new()
            }
            Input::Cancel { id, actor, reason } => self.cancel(&id, &actor, &reason, now_unix_ms),
            Input::Executor(event) => self.executor_event(*event, now_unix_ms),
            Input::Views(views) => {
                let unseen_before = self.unseen_since.len();
                for (job_id, since) in std::mem::take(&mut self.unseen_since) {
                    let seen = self
                        .jobs
                        .get(&job_id)
                        .and_then(|job| job.placement.as_ref())
                        .is_some_and(|placement| {
                            views
                                .get(&placement.cluster)
                                .is_some_and(|view| view.updated_at.as_millisecond() > since)
                        });
                    if !seen {
                        self.unseen_since.insert(job_id, since);
                    }
                }
                // Capacity, prices or health moved, or a running job's pods
                // came into view (its reservation in the snapshot ends).
                let moved = self.unseen_since.len() < unseen_before
                    || views.len() != self.views.len()
                    || views.iter().any(|(name, view)| {
                        self.views.get(name).is_none_or(|old| {
                            old.health != view.health
                                || old.synced != view.synced
                                || old.inventory != view.inventory
                        })
                    });
                self.views = views;
                // Nothing moved: the last plan stands.
                if moved {
                    self.release();
                }
                Vec::new()
            }
            Input::Tick => self.tick(now_unix_ms),
            Input::DataLocated { uri, job, result } => {
                self.data_located(uri, job, result, now_unix_ms)
            }
            Input::CheckpointChecked { check, answer } => {
                self.checkpoint_checked(&check, answer, now_unix_ms)
            }
        }
    }

    /// Checkpoint checks to start (each handed out once; a failed one comes
    /// back after [`crate::checkpoint::RETRY_EVERY_MS`]). The answers come
    /// back as [`Input::CheckpointChecked`].
    pub fn take_checkpoint_checks(&mut self) -> Vec<CheckpointCheck> {
        self.checkpoints.take_due()
    }

    /// Holds a requeued job that checkpoints until its prefix is checked.
    fn hold_for_checkpoint(&mut self, id: &JobId, now: i64) {
        let Some(job) = self.jobs.get(id) else {
            return;
        };
        let Some(checkpoint) = &job.spec.checkpoint else {
            return;
        };
        let uri = checkpoint.uri.clone();
        let attempt = job.attempt;
        self.checkpoints.hold(id, attempt, &uri, now);
        let entry = self.explanations.entry(id.clone()).or_default();
        entry.waiting_reason = Some(format!(
            "checking its checkpoint under {uri} before the next attempt"
        ));
        entry.decided_at_unix_ms = now;
    }

    fn checkpoint_checked(
        &mut self,
        check: &CheckpointCheck,
        answer: CheckpointAnswer,
        now: i64,
    ) -> Vec<Command> {
        let Some(answered) = self.checkpoints.answer(check, answer, now) else {
            return Vec::new();
        };
        if answered.released {
            self.fresh.insert(check.job.clone());
            self.dirty = true;
            if let Some(entry) = self.explanations.get_mut(&check.job) {
                entry.waiting_reason = None;
            }
        }
        let Some(((code, message), job)) = answered.note.zip(self.jobs.get(&check.job)) else {
            return Vec::new();
        };
        vec![Command::Persist(vec![note(
            job,
            format!("{code}: {message}"),
            json!({"checkpoint": check.uri.to_string(), "message": message}),
            now,
        )])]
    }

    /// Inputs found by a storage adapter.
    pub fn located(&self) -> &Located {
        &self.located
    }

    fn data_located(
        &mut self,
        uri: DataUri,
        job: Option<JobId>,
        result: Result<LocatedData, String>,
        now: i64,
    ) -> Vec<Command> {
        match result {
            Ok(found) => {
                let source = DataSource {
                    cloud: found.cloud,
                    region: found.region,
                    bytes: found.bytes,
                };
                if self.located.get(&uri) != Some(&source) {
                    self.located.insert(uri, source);
                    self.release();
                }
                Vec::new()
            }
            Err(message) => {
                let Some(job) = job.and_then(|id| self.jobs.get(&id)) else {
                    return Vec::new();
                };
                vec![Command::Persist(vec![note(
                    job,
                    format!(
                        "DataLocationUnknown: {uri}: {message}; egress is estimated from the spec's sizeGiB"
                    ),
                    json!({"uri": uri.to_string(), "message": message}),
                    now,
                )])]
            }
        }
    }

    fn recover(
        &mut self,
        jobs: Vec<RecoveredJob>,
        keep: Vec<(String, WorkloadKey)>,
        now: i64,
    ) -> Vec<Command> {
        let mut desired: BTreeMap<String, Vec<Desired>> = self
            .settings
            .clusters
            .iter()
            .map(|cluster| (cluster.clone(), Vec::new()))
            .collect();
        for (cluster, key) in keep {
            if let Some(list) = desired.get_mut(&cluster) {
                list.push(Desired::Keep(key));
            }
        }
        let mut commands = Vec::new();
        let mut requeue = Vec::new();
        for recovered in jobs {
            let mut job = LiveJob {
                id: recovered.id.clone(),
                spec: recovered.spec,
                state: recovered.state,
                attempt: recovered.attempt,
                submitted_at_unix_ms: recovered.submitted_at_unix_ms,
                failures: recovered.placement.as_ref().map_or(0, |p| p.failures),
                placement: recovered.placement,
                lost_since_unix_ms: None,
            };
            match job.state {
                JobState::Placed | JobState::Launching | JobState::Running => {
                    match job.placement.as_ref().and_then(|p| launch_request(&job, p)) {
                        Some(request) => {
                            if job.state == JobState::Running {
                                self.unseen_since.insert(job.id.clone(), i64::MAX);
                            }
                            desired
                                .entry(request.target.cluster.clone())
                                .or_default()
                                .push(Desired::Run(request));
                        }
                        None => requeue.push(job.id.clone()),
                    }
                }
                JobState::Preempted => requeue.push(job.id.clone()),
                _ => {}
            }
            if matches!(job.state, JobState::Queued | JobState::Preempted) {
                job.placement = None;
            }
            self.jobs.insert(job.id.clone(), job);
        }
        // Jobs whose placement cannot be read (or a Preempted one a crash
        // left behind) go back to the queue.
        let mut transitions = Vec::new();
        for id in requeue {
            if let Some(job) = self.jobs.get(&id) {
                let reached = if job.state == JobState::Preempted {
                    Reached::Requeue
                } else {
                    Reached::Preempted
                };
                let now = job.submitted_at_unix_ms;
                transitions.extend(self.advance(
                    &id,
                    reached,
                    "Recovered",
                    "placement unreadable after restart; placing again",
                    "gantryd",
                    json!({}),
                    now,
                ));
            }
        }
        if !transitions.is_empty() {
            commands.push(Command::Persist(transitions));
        }
        for (cluster, desired) in desired {
            commands.push(Command::SetDesired { cluster, desired });
        }
        // A queued job that ran before the restart may have checkpointed:
        // check before it resumes, as after a preemption.
        let resuming: Vec<JobId> = self
            .jobs
            .values()
            .filter(|job| job.state == JobState::Queued && job.attempt > 0)
            .map(|job| job.id.clone())
            .collect();
        for id in resuming {
            self.hold_for_checkpoint(&id, now);
        }
        self.recovered = true;
        self.release();
        commands
    }

    /// Moves a job along `walk`, updating it and returning the transitions.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        id: &JobId,
        reached: Reached,
        reason: &str,
        message: &str,
        actor: &str,
        details: serde_json::Value,
        now: i64,
    ) -> Vec<Transition> {
        let Some(job) = self.jobs.get_mut(id) else {
            return Vec::new();
        };
        let ran = job
            .placement
            .as_ref()
            .is_some_and(|placement| placement.started_at_unix_ms.is_some());
        let path = walk(job.state, reached);
        let mut transitions = Vec::new();
        let mut state = job.state;
        for transition in &path {
            let next = end_state(state, std::slice::from_ref(transition));
            let back_in_queue = next == JobState::Queued;
            if next == JobState::Running
                && let Some(placement) = job.placement.as_mut()
            {
                placement.started_at_unix_ms.get_or_insert(now);
            }
            if back_in_queue {
                if matches!(reached, Reached::FailedRetrying) {
                    job.failures += 1;
                }
                job.placement = None;
            }
            let mut placement = job.placement.clone();
            if let Some(placement) = placement.as_mut() {
                placement.failures = job.failures;
            }
            transitions.push(Transition {
                job_id: id.clone(),
                expected: state,
                transition: Some(*transition),
                attempt: job.attempt,
                placement,
                reason: reason.to_owned(),
                actor: actor.to_owned(),
                details: if message.is_empty() {
                    details.clone()
                } else {
                    let mut with = details.clone();
                    if let Some(map) = with.as_object_mut() {
                        map.insert("message".to_owned(), json!(message));
                    }
                    with
                },
                at_unix_ms: now,
            });
            state = next;
        }
        job.state = state;
        if state == JobState::Queued {
            job.lost_since_unix_ms = None;
            self.release();
            if ran {
                self.hold_for_checkpoint(id, now);
            }
        }
        if matches!(
            state,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled | JobState::Rejected
        ) {
            self.forget(id);
            self.release();
        }
        transitions
    }

    fn cancel(&mut self, id: &JobId, actor: &str, reason: &str, now: i64) -> Vec<Command> {
        let Some(job) = self.jobs.get(id) else {
            return vec![Command::CancelOutcome {
                id: id.clone(),
                outcome: Err(CancelRefused::NotLive(id.clone())),
            }];
        };
        let cluster_key = job.placement.as_ref().map(|placement| {
            (
                placement.cluster.clone(),
                WorkloadKey::new(job.id.clone(), job.attempt),
            )
        });
        let expected = job.state;
        let attempt = job.attempt;
        let placement = job.placement.clone();
        let reason = if reason.is_empty() {
            "cancelled"
        } else {
            reason
        };
        let transition = Transition {
            job_id: id.clone(),
            expected,
            transition: Some(JobTransition::Cancel),
            attempt,
            placement,
            reason: reason.to_owned(),
            actor: actor.to_owned(),
            details: json!({}),
            at_unix_ms: now,
        };
        self.forget(id);
        self.release();
        self.decide(now, id, format!("cancelled by {actor}"));
        let mut commands = vec![Command::Persist(vec![transition])];
        if let Some((cluster, key)) = cluster_key {
            commands.push(Command::Cancel { cluster, key });
        }
        commands.push(Command::CancelOutcome {
            id: id.clone(),
            outcome: Ok(JobState::Cancelled),
        });
        commands
    }

    fn current_attempt(&self, key: &WorkloadKey, cluster: &str) -> bool {
        self.jobs.get(&key.job_id).is_some_and(|job| {
            job.attempt == key.attempt
                && job
                    .placement
                    .as_ref()
                    .is_some_and(|placement| placement.cluster == cluster)
        })
    }

    fn executor_event(&mut self, event: ExecutorEvent, now: i64) -> Vec<Command> {
        let mut commands = Vec::new();
        match event {
            ExecutorEvent::Phase {
                cluster,
                key,
                phase,
                reason,
                message,
                exits,
                synthesized,
                ..
            } => {
                if !self.current_attempt(&key, &cluster) {
                    return commands;
                }
                let mut reached = reached_of(phase);
                let mut reason = reason;
                if reached == Reached::Failed
                    && let Some(job) = self.jobs.get(&key.job_id)
                    && job.failures < job.spec.retries
                {
                    reached = Reached::FailedRetrying;
                    reason = format!(
                        "{reason}; retry {} of {}",
                        job.failures + 1,
                        job.spec.retries
                    );
                }
                let exits_json: Vec<serde_json::Value> = exits
                    .iter()
                    .map(|exit| {
                        json!({"pod": exit.pod, "index": exit.index, "container": exit.container,
                            "exitCode": exit.exit_code, "reason": exit.reason, "message": exit.message})
                    })
                    .collect();
                let details = json!({"cluster": cluster, "attempt": key.attempt, "exits": exits_json, "synthesized": synthesized});
                if phase == Phase::Running {
                    self.unseen_since.insert(key.job_id.clone(), now);
                }
                let transitions = self.advance(
                    &key.job_id,
                    reached,
                    &reason,
                    &message,
                    "executor",
                    details,
                    now,
                );
                if !transitions.is_empty() {
                    self.decide(
                        now,
                        &key.job_id,
                        format!("{} on {cluster}: {reason}", phase.as_str()),
                    );
                    commands.push(Command::Persist(transitions));
                }
            }
            ExecutorEvent::LaunchFailed {
                cluster,
                key,
                reason,
                message,
                requeue,
            } => {
                if !self.current_attempt(&key, &cluster) {
                    return commands;
                }
                let reached = if requeue {
                    Reached::Requeue
                } else {
                    Reached::Failed
                };
                let details = json!({"cluster": cluster, "attempt": key.attempt});
                let transitions = self.advance(
                    &key.job_id,
                    reached,
                    &reason,
                    &message,
                    "executor",
                    details,
                    now,
                );
                if !transitions.is_empty() {
                    self.decide(
                        now,
                        &key.job_id,
                        format!("launch failed on {cluster}: {reason}"),
                    );
                    commands.push(Command::Persist(transitions));
                }
            }
            ExecutorEvent::Warning {
                cluster,
                key,
                reason,
                message,
            } => {
                if let Some(job) = self.jobs.get(&key.job_id)
                    && self.current_attempt(&key, &cluster)
                {
                    commands.push(Command::Persist(vec![Transition {
                        job_id: job.id.clone(),
                        expected: job.state,
                        transition: None,
                        attempt: job.attempt,
                        placement: job.placement.clone(),
                        reason: reason.clone(),
                        actor: "executor".to_owned(),
                        details: json!({"cluster": cluster, "message": message}),
                        at_unix_ms: now,
                    }]));
                }
            }
            ExecutorEvent::WorkloadLost { cluster, key, .. } => {
                if self.current_attempt(&key, &cluster)
                    && let Some(job) = self.jobs.get_mut(&key.job_id)
                {
                    job.lost_since_unix_ms.get_or_insert(now);
                }
            }
            ExecutorEvent::Health {
                cluster, health, ..
            } => {
                if health != Health::Lost {
                    for job in self.jobs.values_mut() {
                        if job.placement.as_ref().is_some_and(|p| p.cluster == cluster) {
                            job.lost_since_unix_ms = None;
                        }
                    }
                }
                self.release();
            }
            ExecutorEvent::Adopted { .. } | ExecutorEvent::OrphanDeleted { .. } => {}
        }
        commands
    }

    fn tick(&mut self, now: i64) -> Vec<Command> {
        let day = now.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.spend_today.clear();
            self.release();
        }
        self.checkpoints.tick(now);
        // Jobs waiting for a reason that can change with time alone (their
        // patience running out, a preemption under way) are weighed again.
        if !self.fresh.is_empty() {
            self.dirty = true;
        }
        if let Some(last) = self.last_tick_unix_ms {
            let elapsed = now.saturating_sub(last).max(0);
            for job in self.jobs.values() {
                if job.state != JobState::Running {
                    continue;
                }
                let Some(placement) = &job.placement else {
                    continue;
                };
                let list = cost_for_millis(placement.hourly_price(), elapsed);
                self.metrics.list_spend = self.metrics.list_spend.saturating_add(list);
                if placement.capacity_type() != Some(CapacityType::Reserved) {
                    let spent = self.spend_today.entry(job.team().clone()).or_default();
                    *spent = spent.saturating_add(list);
                }
            }
        }
        self.last_tick_unix_ms = Some(now);
        // Jobs of a cluster lost past the grace period go back to the queue.
        let lost: Vec<(JobId, String, u32)> = self
            .jobs
            .values()
            .filter(|job| {
                job.lost_since_unix_ms
                    .is_some_and(|since| now.saturating_sub(since) >= self.settings.lost_grace_ms)
            })
            .filter_map(|job| {
                Some((
                    job.id.clone(),
                    job.placement.as_ref()?.cluster.clone(),
                    job.attempt,
                ))
            })
            .collect();
        let mut commands = Vec::new();
        for (id, cluster, attempt) in lost {
            let transitions = self.advance(
                &id,
                Reached::Preempted,
                "ClusterLost",
                &format!("cluster {cluster} lost; placing the job again"),
                "gantryd",
                json!({"cluster": cluster, "attempt": attempt}),
                now,
            );
            if !transitions.is_empty() {
                self.decide(now, &id, format!("cluster {cluster} lost: requeued"));
                commands.push(Command::Persist(transitions));
                commands.push(Command::Cancel {
                    cluster,
                    key: WorkloadKey::new(id, attempt),
                });
            }
        }
        commands
    }

    /// Every pool of every configured cluster whatever its state, for
    /// "could this job ever fit" at submit; empty until every cluster has
    /// been listed once (so a daemon starting up rejects nothing).
    pub fn admission_offers(&self) -> Option<Vec<Offer>> {
        if !self.fleet_listed() {
            return None;
        }
        let mut views = self.views.clone();
        for view in views.values_mut() {
            if view.health == Health::Lost || !view.synced {
                let mut healthy = (**view).clone();
                healthy.health = Health::Reachable;
                healthy.synced = true;
                *view = Arc::new(healthy);
            }
        }
        Some(offers(&views, &self.settings.spot_rates))
    }

    /// The snapshot the scheduler decides over now: the offers of the views,
    /// the running jobs' allocations (from `cache`, which
    /// [`RunningCache::keep`] gets back), the teams' budgets and `queue`
    /// (the live queue, or one job for a quote).
    fn snapshot(
        &self,
        now: i64,
        queue: Vec<QueuedJob>,
        cache: &mut RunningCache,
    ) -> (Snapshot, Running) {
        let mut offers = offers(&self.views, &self.settings.spot_rates);
        let (running, kept) = cache.allocations(&self.jobs, &self.unseen_since, &mut offers, now);
        let mut teams: BTreeMap<TeamPath, TeamBudget> = self
            .settings
            .teams
            .iter()
            .map(|quota| {
                (
                    quota.team.clone(),
                    TeamBudget {
                        quota: quota.clone(),
                        spend_today: Money::ZERO,
                    },
                )
            })
            .collect();
        for (team, spent) in &self.spend_today {
            teams
                .entry(team.clone())
                .or_insert_with(|| TeamBudget {
                    quota: unlimited(team),
                    spend_today: Money::ZERO,
                })
                .spend_today = *spent;
        }
        let snapshot = Snapshot {
            offers,
            running,
            teams: teams.into_values().collect(),
            cloud_quotas: self.settings.cloud_quotas.clone(),
            queue,
        };
        (snapshot, kept)
    }

    /// Runs the scheduler over the queue and returns what to do.
    pub fn pass(&mut self, now: i64) -> Vec<Command> {
        self.dirty = false;
        self.metrics.passes += 1;
        let jobs = &self.jobs;
        self.checkpoints.retain(|id| {
            jobs.get(id)
                .is_some_and(|job| job.state == JobState::Queued)
        });
        let fresh = std::mem::take(&mut self.fresh);
        let checkpoints = &self.checkpoints;
        let ready = |job: &&LiveJob| job.state == JobState::Queued && !checkpoints.is_held(&job.id);
        let as_queued = |job: &LiveJob| {
            queued_job_located(&job.id, &job.spec, job.submitted_at_unix_ms, &self.located)
        };
        // After a release, the whole queue; else only what is fresh (the
        // parked jobs could not be placed anyway: see `parks`).
        let queue: Vec<QueuedJob> = if std::mem::take(&mut self.wake) {
            jobs.values().filter(ready).map(as_queued).collect()
        } else {
            fresh
                .iter()
                .filter_map(|id| jobs.get(id))
                .filter(ready)
                .map(as_queued)
                .collect()
        };
        if queue.is_empty() {
            self.last_pass = PassShape::default();
            return Vec::new();
        }
        let started = std::time::Instant::now();
        let mut cache = std::mem::take(&mut self.running);
        let (snapshot, kept) = self.snapshot(now, queue, &mut cache);
        // Every test run checks that the kept allocations are the ones a
        // fresh build gives (small fleets only: it doubles the work).
        if cfg!(debug_assertions) && snapshot.running.len() <= 2_000 {
            let (fresh, _) = self.snapshot(now, Vec::new(), &mut RunningCache::default());
            debug_assert_eq!(
                format!("{:?}\n{:?}", fresh.offers, fresh.running),
                format!("{:?}\n{:?}", snapshot.offers, snapshot.running),
                "the kept running allocations differ from fresh ones"
            );
        }
        let built = std::time::Instant::now();
        let plan = schedule(&snapshot, &self.settings.policy, seconds(now));
        let scheduled = std::time::Instant::now();
        let placed = plan.placements.len();
        let commands = self.apply_plan(&snapshot, plan, now);
        let (queued, running) = (snapshot.queue.len(), snapshot.running.len());
        cache.keep(snapshot.running, kept);
        self.running = cache;
        let ms = |from: std::time::Instant, to: std::time::Instant| {
            to.saturating_duration_since(from).as_secs_f64() * 1000.0
        };
        self.last_pass = PassShape {
            queued,
            running,
            placed,
            snapshot_ms: ms(started, built),
            schedule_ms: ms(built, scheduled),
            apply_ms: ms(scheduled, std::time::Instant::now()),
        };
        commands
    }

    fn apply_plan(&mut self, snapshot: &Snapshot, plan: Plan, now: i64) -> Vec<Command> {
        let mut transitions = Vec::new();
        let mut launches = Vec::new();
        let mut cancels = Vec::new();
        for preemption in &plan.preemptions {
            let Some(victim) = self.jobs.get(&preemption.victim) else {
                continue;
            };
            let Some(placement) = victim.placement.clone() else {
                continue;
            };
            let key = WorkloadKey::new(victim.id.clone(), victim.attempt);
            let id = victim.id.clone();
            let steps = self.advance(
                &id,
                Reached::Preempted,
                "PreemptedByPriority",
                &preemption.reason,
                "scheduler",
                json!({"forJob": preemption.for_job.as_str(), "lostGpuSeconds": preemption.lost_gpu_seconds}),
                now,
            );
            if !steps.is_empty() {
                self.metrics.preemptions += 1;
                self.decide(now, &id, format!("preempted for {}", preemption.for_job));
                transitions.extend(steps);
                cancels.push(Command::Cancel {
                    cluster: placement.cluster,
                    key,
                });
            }
        }
        for assignment in &plan.placements {
            let explanation = self.name_explanation(snapshot, &assignment.explanation, now, None);
            let Some(job) = self.jobs.get_mut(&assignment.job) else {
                continue;
            };
            if job.state != JobState::Queued {
                continue;
            }
            let price_source = self
                .views
                .get(&assignment.cluster)
                .and_then(|view| {
                    view.inventory.pools.iter().find(|pool| {
                        pool.key.instance_type
                            == snapshot
                                .offers
                                .get(assignment.offer)
                                .map(|offer| offer.instance_type.as_str())
                                .unwrap_or_default()
                            && pool.key.zone == assignment.zone
                            && pool.key.capacity_type == assignment.capacity_type
                    })
                })
                .map_or_else(
                    || "unknown".to_owned(),
                    |pool| match &pool.price_note {
                        Some(note) => format!("{} ({note})", pool.price_source.as_str()),
                        None => pool.price_source.as_str().to_owned(),
                    },
                );
            let record = placement_record(snapshot, assignment, now, price_source, job.failures);
            let expected = job.state;
            job.attempt += 1;
            job.state = JobState::Placed;
            job.placement = Some(record.clone());
            let latency = now.saturating_sub(job.submitted_at_unix_ms).max(0);
            self.metrics
                .placement_latencies_ms
                .push(u64::try_from(latency).unwrap_or(0));
            self.metrics.placements += 1;
            let summary = format!(
                "placed on {}/{} ({} {}, ${}/h, expected ${})",
                record.cluster,
                record.pool,
                record.capacity_type,
                record.gpu_model.as_deref().unwrap_or("cpu"),
                record.hourly_price(),
                Money::from_micros(
                    record.compute_micro_usd + record.egress_micro_usd + record.spot_loss_micro_usd
                ),
            );
            transitions.push(Transition {
                job_id: job.id.clone(),
                expected,
                transition: Some(JobTransition::Place),
                attempt: job.attempt,
                placement: Some(record.clone()),
                reason: summary.clone(),
                actor: "scheduler".to_owned(),
                details: json!({"explanation": explanation.to_json()}),
                at_unix_ms: now,
            });
            if let Some(request) = launch_request(job, &record) {
                launches.push(Command::Launch(request));
            }
            let id = job.id.clone();
            self.explanations.insert(id.clone(), explanation);
            self.decide(now, &id, summary);
        }
        for waiting in &plan.waiting {
            let reason = waiting.reason.to_string();
            if !self.parks(&waiting.reason) {
                self.fresh.insert(waiting.job.clone());
            }
            let entry = self.explanations.entry(waiting.job.clone()).or_default();
            entry.waiting_reason = Some(reason);
            entry.decided_at_unix_ms = now;
        }
        let mut commands = Vec::new();
        if !transitions.is_empty() {
            commands.push(Command::Persist(transitions));
        }
        commands.extend(cancels);
        commands.extend(launches);
        commands
    }

    fn name_explanation(
        &self,
        snapshot: &Snapshot,
        explanation: &gantry_sched::Explanation,
        now: i64,
        waiting: Option<String>,
    ) -> JobExplanation {
        JobExplanation {
            candidates: explanation
                .candidates
                .iter()
                .filter_map(|candidate| {
                    let offer = snapshot.offers.get(candidate.offer)?;
                    Some(NamedCandidate {
                        cluster: offer.cluster.clone(),
                        pool: offer.pool.clone(),
                        zone: offer.zone.clone(),
                        capacity_type: offer.capacity_type,
                        gpu_model: offer.gpu_model(),
                        instance_type: offer.instance_type.clone(),
                        hourly_price: candidate.hourly_price,
                        expected_cost: candidate.expected_cost,
                        rejection: candidate.rejection.clone(),
                    })
                })
                .collect(),
            offers_considered: explanation.offers_considered,
            waiting_reason: waiting,
            decided_at_unix_ms: now,
        }
    }

    /// A dry run for `spec`: what the scheduler would do with it alone in the
    /// queue now, with every candidate it weighed.
    pub fn quote(&self, spec: &JobSpec, now: i64) -> Quote {
        let Ok(id) = JobId::new("quote") else {
            return Quote::default();
        };
        let job = queued_job_located(&id, spec, now, &self.located);
        let never = self
            .admission_offers()
            .and_then(|offers| never_fits(&offers, &job));
        let mut policy = self.settings.policy.clone();
        policy.explained_candidates = policy.explained_candidates.max(20);
        policy.preemption = false;
        let data = job.data.clone();
        let (snapshot, _) = self.snapshot(now, vec![job], &mut RunningCache::default());
        let plan = schedule(&snapshot, &policy, seconds(now));
        let mut quote = Quote {
            never_fits: never,
            ..Quote::default()
        };
        if let Some(assignment) = plan.placements.first() {
            quote.explanation =
                self.name_explanation(snapshot_ref(&snapshot), &assignment.explanation, now, None);
            let record = placement_record(&snapshot, assignment, now, String::new(), 0);
            if let Some(chosen) = quote.explanation.candidates.first().cloned() {
                quote.placements.push((chosen, record));
            }
        }
        if let Some(waiting) = plan.waiting.first() {
            quote.explanation.waiting_reason = Some(waiting.reason.to_string());
        }
        // The other feasible candidates, priced: ranked by expected cost.
        let mut others: Vec<NamedCandidate> = quote
            .explanation
            .candidates
            .iter()
            .filter(|c| matches!(c.rejection, Some(Rejection::Costlier)))
            .cloned()
            .collect();
        others.sort_by_key(|c| c.expected_cost);
        for candidate in others {
            // The scheduler keeps one total per candidate; egress is priced
            // again here so the quote shows it apart (the rest, compute and
            // expected spot loss, stays together as compute).
            let place = self
                .views
                .get(&candidate.cluster)
                .map(|view| (view.cloud, view.region.clone()));
            let egress = place.as_ref().map_or(Money::ZERO, |(cloud, region)| {
                data.iter().fold(Money::ZERO, |sum, source| {
                    sum.saturating_add(policy.egress.cost(source, *cloud, region))
                })
            });
            let record = PlacementRecord {
                cluster: candidate.cluster.clone(),
                cloud: place
                    .as_ref()
                    .map(|(cloud, _)| cloud.as_str().to_owned())
                    .unwrap_or_default(),
                region: place.map(|(_, region)| region).unwrap_or_default(),
                zone: candidate.zone.clone(),
                pool: candidate.pool.clone(),
                instance_type: candidate.instance_type.clone(),
                capacity_type: candidate.capacity_type.as_str().to_owned(),
                gpu_model: candidate.gpu_model.map(|m| m.to_string()),
                replicas: spec.replicas.required(),
                hourly_price_micro_usd: candidate.hourly_price.micros(),
                expected_runtime_s: 0,
                compute_micro_usd: candidate.expected_cost.saturating_sub(egress).micros(),
                egress_micro_usd: egress.micros(),
                spot_loss_micro_usd: 0,
                price_source: String::new(),
                placed_at_unix_ms: now,
                started_at_unix_ms: None,
                failures: 0,
            };
            quote.placements.push((candidate, record));
        }
        quote
    }

    /// Usage of every team with a quota or a job, with spend today.
    pub fn team_usage(&self) -> Vec<TeamUsage> {
        let mut usage: BTreeMap<TeamPath, TeamUsage> = BTreeMap::new();
        for quota in &self.settings.teams {
            usage.insert(
                quota.team.clone(),
                TeamUsage {
                    team: Some(quota.team.clone()),
                    quota: Some(quota.clone()),
                    ..TeamUsage::default()
                },
            );
        }
        for job in self.jobs.values() {
            let holds = matches!(
                job.state,
                JobState::Placed | JobState::Launching | JobState::Running
            );
            let chain = job.team().ancestors_and_self();
            for team in chain {
                let entry = usage.entry(team.clone()).or_insert_with(|| TeamUsage {
                    team: Some(team.clone()),
                    ..TeamUsage::default()
                });
                if job.state == JobState::Queued && &team == job.team() {
                    entry.queued += 1;
                }
                if !holds {
                    continue;
                }
                if &team == job.team() {
                    entry.running += 1;
                }
                let replicas = job.placement.as_ref().map_or(0, |p| p.replicas);
                let gpus = job.spec.resources.gpu_count().saturating_mul(replicas);
                entry.gpus = entry.gpus.saturating_add(gpus);
                if let Some(model) = job.placement.as_ref().and_then(PlacementRecord::gpu_model)
                    && gpus > 0
                {
                    *entry.gpus_by_model.entry(model).or_default() += gpus;
                }
                entry.cpu_millis = entry.cpu_millis.saturating_add(
                    job.spec
                        .resources
                        .cpu_millis
                        .saturating_mul(u64::from(replicas)),
                );
                entry.memory_bytes = entry.memory_bytes.saturating_add(
                    job.spec
                        .resources
                        .memory_bytes
                        .saturating_mul(u64::from(replicas)),
                );
            }
        }
        for (team, spent) in &self.spend_today {
            for ancestor in team.ancestors_and_self() {
                if let Some(entry) = usage.get_mut(&ancestor) {
                    entry.spend_today = entry.spend_today.saturating_add(*spent);
                }
            }
        }
        usage.into_values().collect()
    }

    /// Replaces what the controller holds of a job with what the store says
    /// (after the store refused a transition).
    pub fn resync(&mut self, job: RecoveredJob) {
        if matches!(
            job.state,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled | JobState::Rejected
        ) {
            self.forget(&job.id);
            return;
        }
        let failures = job.placement.as_ref().map_or(0, |p| p.failures);
        let placement = if matches!(job.state, JobState::Queued | JobState::Preempted) {
            None
        } else {
            job.placement
        };
        self.jobs.insert(
            job.id.clone(),
            LiveJob {
                id: job.id,
                spec: job.spec,
                state: job.state,
                attempt: job.attempt,
                submitted_at_unix_ms: job.submitted_at_unix_ms,
                placement,
                failures,
                lost_since_unix_ms: None,
            },
        );
        self.release();
    }

    /// Jobs per cluster that hold capacity there.
    pub fn jobs_per_cluster(&self) -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for job in self.jobs.values() {
            if let Some(placement) = &job.placement {
                *counts.entry(placement.cluster.clone()).or_default() += 1;
            }
        }
        counts
    }

    /// Queued jobs per team.
    pub fn queue_depth(&self) -> BTreeMap<TeamPath, u32> {
        let mut depth = BTreeMap::new();
        for job in self.jobs.values() {
            if job.state == JobState::Queued {
                *depth.entry(job.team().clone()).or_default() += 1;
            }
        }
        depth
    }

    /// Live jobs by state.
    pub fn states(&self) -> BTreeSet<(JobState, JobId)> {
        self.jobs
            .values()
            .map(|job| (job.state, job.id.clone()))
            .collect()
    }
}

fn snapshot_ref(snapshot: &Snapshot) -> &Snapshot {
    snapshot
}

/// What `hourly` costs for `millis` milliseconds.
fn cost_for_millis(hourly: Money, millis: i64) -> Money {
    let micros = i128::from(hourly.micros()) * i128::from(millis) / 3_600_000;
    Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
}

fn unlimited(team: &TeamPath) -> TeamQuota {
    TeamQuota {
        team: team.clone(),
        gpus: None,
        gpus_by_model: BTreeMap::new(),
        cpu_millis: None,
        memory_bytes: None,
        budget_per_day: None,
    }
}

fn placement_record(
    snapshot: &Snapshot,
    assignment: &Assignment,
    now: i64,
    price_source: String,
    failures: u32,
) -> PlacementRecord {
    let instance_type = snapshot
        .offers
        .get(assignment.offer)
        .map(|offer| offer.instance_type.clone())
        .unwrap_or_default();
    PlacementRecord {
        cluster: assignment.cluster.clone(),
        cloud: assignment.cloud.as_str().to_owned(),
        region: assignment.region.clone(),
        zone: assignment.zone.clone(),
        pool: assignment.pool.clone(),
        instance_type,
        capacity_type: assignment.capacity_type.as_str().to_owned(),
        gpu_model: assignment.gpu_model.map(|model| model.to_string()),
        replicas: assignment.replicas,
        hourly_price_micro_usd: assignment.hourly_price.micros(),
        expected_runtime_s: assignment.expected_runtime_s,
        compute_micro_usd: assignment.expected_cost.compute.micros(),
        egress_micro_usd: assignment.expected_cost.egress.micros(),
        spot_loss_micro_usd: assignment.expected_cost.spot_loss.micros(),
        price_source,
        placed_at_unix_ms: now,
        started_at_unix_ms: None,
        failures,
    }
}

/// The executor's launch request for `job` placed as `placement`.
pub fn launch_request(job: &LiveJob, placement: &PlacementRecord) -> Option<LaunchRequest> {
    let replicas = match job.spec.kind {
        JobKind::Training | JobKind::Inference => placement.replicas,
    };
    Some(LaunchRequest {
        key: WorkloadKey::new(job.id.clone(), job.attempt),
        spec: job.spec.clone(),
        target: Target {
            cluster: placement.cluster.clone(),
            cloud: placement.cloud().unwrap_or(Cloud::Onprem),
            pool: placement.pool.clone(),
            instance_type: placement.instance_type.clone(),
            zone: placement.zone.clone(),
            capacity_type: placement.capacity_type()?,
            gpu_model: placement.gpu_model(),
            replicas,
            expected_runtime: std::time::Duration::from_secs(placement.expected_runtime_s),
        },
    })
}

/// A duration for people.
pub fn human_duration(seconds: u64) -> String {
    format_duration(std::time::Duration::from_secs(seconds))
}
