//! The thin async part of the control loop: it feeds the [`Controller`],
//! carries out its commands against the store and the executor, and answers
//! the API's questions.
//!
//! One loop, step by step:
//! 1. Wait for a message (a submitted job, a cancel, a query), an executor
//!    event, a changed cluster view or the tick; then take every other
//!    message already waiting (up to a bound), so a burst is handled as one
//!    batch.
//! 2. Hand each to the controller; when the queue or the fleet changed and
//!    the last pass ended longer ago than `pass_every` (or than the last
//!    pass took, whichever is longer), run a scheduling pass.
//! 3. Carry out the batch's commands: every transition is persisted first,
//!    one `apply` per job, all at once (the store's group commit shares
//!    their fsync); then the executor commands, in order, skipping a launch
//!    whose placing transition was refused; then the answers to cancels.
//!    A refused transition means the controller's picture of that job is
//!    wrong: the job is read back from the store and the controller resynced.
//! 4. Publish the status snapshot (at most every 250 ms, and less often
//!    when a snapshot of many live jobs takes long).
//!
//! Startup: read every live job from the store, parse its spec, hand them
//! over as [`Input::Recovered`] (which tells the executor what should run
//! where), then serve.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use gantry_core::{DataUri, JobId, JobSpec, JobState, JobTransition};
use gantry_kube::{ClusterView, Executor, ExecutorEvent, WorkloadKey};
use gantry_store::{JobQuery, JobRecord, ListOrder, StateUpdate, Store, StoreError, UnixMillis};
use tokio::sync::{mpsc, oneshot, watch};

use crate::checkpoint::CheckpointAnswer;
use crate::cloud::{CloudPorts, DataLocations, EndedRun, RunSink};
use crate::controller::{
    CancelRefused, Command, ControlMetrics, Controller, Decision, Input, JobExplanation, Quote,
    RecoveredJob, TeamUsage, Transition,
};
use crate::job::PlacementRecord;

/// Most messages handled in one batch.
const BATCH: usize = 4096;
/// Shortest time between status snapshots.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// A status snapshot walks every live job: with many, the next one waits
/// this many times as long as the last took, so snapshots take at most
/// about 5 % of the loop.
const STATUS_BACKOFF: u32 = 20;

/// What the driver cannot do.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The store failed while recovering.
    #[error("cannot read the live jobs from the store")]
    Recover(#[source] StoreError),
    /// The control loop has stopped.
    #[error("the control loop has stopped")]
    Stopped,
}

/// A question for the control loop.
#[derive(Debug)]
pub enum Query {
    /// The last explanation of a job.
    Explanation(JobId, oneshot::Sender<Option<JobExplanation>>),
    /// A dry run.
    Quote(Arc<JobSpec>, oneshot::Sender<Quote>),
    /// Every team's usage.
    Teams(oneshot::Sender<Vec<TeamUsage>>),
}

#[derive(Debug)]
enum Message {
    Input(Input),
    Query(Query),
    Cancel {
        id: JobId,
        actor: String,
        reason: String,
        reply: oneshot::Sender<Result<JobState, CancelRefused>>,
    },
    ViewsChanged,
}

/// Every pool of every configured cluster, for "could this job ever fit";
/// `None` until every cluster has been listed once.
pub type AdmissionOffers = Option<Arc<Vec<gantry_sched::Offer>>>;

/// How the API talks to the control loop. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ControlHandle {
    sender: mpsc::UnboundedSender<Message>,
    status: watch::Receiver<Arc<StatusSnapshot>>,
    admission: watch::Receiver<AdmissionOffers>,
    locations: Option<Arc<dyn DataLocations>>,
}

/// How long a submit waits for the fleet's first listing before it admits a
/// job without the never-fits check.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(5);

/// How long a checkpoint check may take before it counts as failed.
const CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a quote waits for the storage adapter to say where its inputs live.
const QUOTE_LOCATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks `uri` up off the loop and hands the answer in as an input.
fn spawn_locate(
    locations: &Arc<dyn DataLocations>,
    sender: &mpsc::UnboundedSender<Message>,
    uri: &DataUri,
    job: Option<JobId>,
) {
    let Some(lookup) = locations.locate(uri) else {
        return;
    };
    let sender = sender.clone();
    let uri = uri.clone();
    tokio::spawn(async move {
        let result = lookup.await;
        let _ = sender.send(Message::Input(Input::DataLocated { uri, job, result }));
    });
}

impl ControlHandle {
    /// A job was persisted as Queued.
    pub fn submitted(
        &self,
        id: JobId,
        spec: Arc<JobSpec>,
        submitted_at_unix_ms: i64,
    ) -> Result<(), DriverError> {
        if let Some(locations) = &self.locations {
            for input in &spec.data {
                spawn_locate(locations, &self.sender, &input.uri, Some(id.clone()));
            }
        }
        self.sender
            .send(Message::Input(Input::Submitted {
                id,
                spec,
                submitted_at_unix_ms,
            }))
            .map_err(|_| DriverError::Stopped)
    }

    /// Cancels a job; answers once the cancel is persisted.
    pub async fn cancel(
        &self,
        id: JobId,
        actor: &str,
        reason: &str,
    ) -> Result<Result<JobState, CancelRefused>, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Message::Cancel {
                id,
                actor: actor.to_owned(),
                reason: reason.to_owned(),
                reply,
            })
            .map_err(|_| DriverError::Stopped)?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    async fn ask<T>(
        &self,
        query: impl FnOnce(oneshot::Sender<T>) -> Query,
    ) -> Result<T, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Message::Query(query(reply)))
            .map_err(|_| DriverError::Stopped)?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    /// The last explanation of a job.
    pub async fn explanation(&self, id: JobId) -> Result<Option<JobExplanation>, DriverError> {
        self.ask(|reply| Query::Explanation(id, reply)).await
    }

    /// A dry run. Where a storage adapter is configured, the spec's inputs
    /// are looked up first (for a while at most), so the quote prices egress
    /// from where the data really lives.
    pub async fn quote(&self, spec: Arc<JobSpec>) -> Result<Quote, DriverError> {
        if let Some(locations) = &self.locations {
            let lookups: Vec<_> = spec
                .data
                .iter()
                .filter_map(|input| Some((input.uri.clone(), locations.locate(&input.uri)?)))
                .collect();
            for (uri, lookup) in lookups {
                let result = match tokio::time::timeout(QUOTE_LOCATE_TIMEOUT, lookup).await {
                    Ok(result) => result,
                    Err(_) => Err(format!(
                        "no answer within {}s",
                        QUOTE_LOCATE_TIMEOUT.as_secs()
                    )),
                };
                if let Err(message) = &result {
                    tracing::info!(%uri, %message, "quoting with the spec's data size");
                    continue;
                }
                self.sender
                    .send(Message::Input(Input::DataLocated {
                        uri,
                        job: None,
                        result,
                    }))
                    .map_err(|_| DriverError::Stopped)?;
            }
        }
        self.ask(|reply| Query::Quote(spec, reply)).await
    }

    /// Every team's usage.
    pub async fn teams(&self) -> Result<Vec<TeamUsage>, DriverError> {
        self.ask(Query::Teams).await
    }

    /// Why a job could never fit, if so; `None` when it could, or when the
    /// fleet is still not listed. Answered here, from the offers the loop
    /// publishes, so a submit never waits for a scheduling pass; right after
    /// start, it waits (at most [`ADMISSION_WAIT`]) for the fleet's
    /// first listing, so an impossible job is not queued for want of it.
    pub async fn never_fits(&self, spec: &JobSpec) -> Option<String> {
        let mut admission = self.admission.clone();
        let offers =
            match tokio::time::timeout(ADMISSION_WAIT, admission.wait_for(Option::is_some)).await {
                Ok(Ok(offers)) => offers.clone()?,
                _ => return None,
            };
        let id = JobId::new("admission").ok()?;
        let job = crate::job::queued_job(&id, spec, 0);
        gantry_sched::never_fits(&offers, &job)
    }

    /// The latest status snapshot.
    pub fn status(&self) -> Arc<StatusSnapshot> {
        self.status.borrow().clone()
    }

    /// A receiver of status snapshots.
    pub fn status_receiver(&self) -> watch::Receiver<Arc<StatusSnapshot>> {
        self.status.clone()
    }
}

/// A latency histogram with fixed bounds, in seconds (Prometheus-style,
/// cumulative on output).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Upper bounds of the buckets, in seconds.
    pub bounds: Vec<f64>,
    /// Observations per bucket (not cumulative); one more for +Inf.
    pub counts: Vec<u64>,
    /// Sum of observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Buckets from 5 ms to 60 s.
    pub fn latency() -> Histogram {
        let bounds = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ];
        Histogram {
            counts: vec![0; bounds.len() + 1],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, seconds: f64) {
        let index = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(slot) = self.counts.get_mut(index) {
            *slot += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What operators see, refreshed a few times a second.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSnapshot {
    /// When it was made.
    pub at_unix_ms: i64,
    /// The store was read and the executor told what should run.
    pub recovered: bool,
    /// Clusters.
    pub clusters: Vec<Arc<ClusterView>>,
    /// Live jobs per cluster.
    pub jobs_per_cluster: BTreeMap<String, u32>,
    /// Live jobs by state.
    pub live_by_state: BTreeMap<JobState, u64>,
    /// Queued jobs per team.
    pub queue_depth: BTreeMap<String, u32>,
    /// Team usage.
    pub teams: Vec<TeamUsage>,
    /// Recent decisions.
    pub recent: Vec<Decision>,
    /// Counters.
    pub metrics: ControlMetrics,
    /// Submit-to-placed latency.
    pub placement_latency: Histogram,
    /// How long scheduling passes took (wall time, the snapshot, `schedule()`
    /// and turning the plan into commands).
    pub pass_duration: Histogram,
}

impl StatusSnapshot {
    fn empty() -> StatusSnapshot {
        StatusSnapshot {
            at_unix_ms: 0,
            recovered: false,
            clusters: Vec::new(),
            jobs_per_cluster: BTreeMap::new(),
            live_by_state: BTreeMap::new(),
            queue_depth: BTreeMap::new(),
            teams: Vec::new(),
            recent: Vec::new(),
            metrics: ControlMetrics::default(),
            placement_latency: Histogram::latency(),
            pass_duration: Histogram::latency(),
        }
    }
}

/// Timings of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverSettings {
    /// Shortest time between scheduling passes.
    pub pass_every: Duration,
    /// How often time is ticked into the controller.
    pub tick_every: Duration,
}

impl Default for DriverSettings {
    fn default() -> DriverSettings {
        DriverSettings {
            pass_every: Duration::from_millis(20),
            tick_every: Duration::from_millis(500),
        }
    }
}

/// The control loop's driver.
#[derive(Debug)]
pub struct Driver {
    controller: Controller,
    store: Arc<dyn Store>,
    executor: Arc<Executor>,
    settings: DriverSettings,
    receiver: mpsc::UnboundedReceiver<Message>,
    sender: mpsc::UnboundedSender<Message>,
    executor_events: mpsc::UnboundedReceiver<ExecutorEvent>,
    status: watch::Sender<Arc<StatusSnapshot>>,
    admission: watch::Sender<AdmissionOffers>,
    histogram: Histogram,
    pass_histogram: Histogram,
    metrics: ControlMetrics,
    cloud: CloudPorts,
}

fn now_unix_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Driver {
    /// A driver over `controller`, with the executor's event channel.
    pub fn new(
        controller: Controller,
        store: Arc<dyn Store>,
        executor: Arc<Executor>,
        executor_events: mpsc::UnboundedReceiver<ExecutorEvent>,
        settings: DriverSettings,
    ) -> (Driver, ControlHandle) {
        Driver::with_cloud(
            controller,
            store,
            executor,
            executor_events,
            settings,
            CloudPorts::default(),
        )
    }

    /// [`Driver::new`], with the clouds' storage ports: inputs are located
    /// when jobs are submitted, recovered or quoted, and ended runs are told.
    pub fn with_cloud(
        controller: Controller,
        store: Arc<dyn Store>,
        executor: Arc<Executor>,
        executor_events: mpsc::UnboundedReceiver<ExecutorEvent>,
        settings: DriverSettings,
        cloud: CloudPorts,
    ) -> (Driver, ControlHandle) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (status, status_receiver) = watch::channel(Arc::new(StatusSnapshot::empty()));
        let (admission, admission_receiver) = watch::channel(None);
        let handle = ControlHandle {
            sender: sender.clone(),
            status: status_receiver,
            admission: admission_receiver,
            locations: cloud.locations.clone(),
        };
        (
            Driver {
                controller,
                store,
                executor,
                settings,
                receiver,
                sender,
                executor_events,
                status,
                admission,
                histogram: Histogram::latency(),
                pass_histogram: Histogram::latency(),
                metrics: ControlMetrics::default(),
                cloud,
            },
            handle,
        )
    }

    /// Reads the live jobs back from the store and hands them over.
    pub async fn recover(&mut self) -> Result<usize, DriverError> {
        let live = self.store.live_jobs().await.map_err(DriverError::Recover)?;
        let mut recovered = Vec::new();
        let mut unreadable = Vec::new();
        for record in live.jobs {
            match gantry_spec::parse_job(&record.spec_yaml) {
                Ok(spec) => recovered.push(RecoveredJob {
                    id: record.id.clone(),
                    spec: Arc::new(spec),
                    state: record.state,
                    attempt: record.attempt,
                    submitted_at_unix_ms: record.submitted_at.0,
                    placement: PlacementRecord::from_json(record.placement.as_ref()),
                }),
                Err(errors) => unreadable.push((record, errors.to_string())),
            }
        }
        let count = recovered.len();
        if let Some(locations) = &self.cloud.locations {
            for job in &recovered {
                for input in &job.spec.data {
                    spawn_locate(locations, &self.sender, &input.uri, Some(job.id.clone()));
                }
            }
        }
        let keep = self.recently_finished().await;
        let views = self.current_views();
        let now = now_unix_ms();
        let mut commands = self.controller.handle(Input::Views(views), now);
        commands.extend(
            self.controller
                .handle(Input::Recovered(recovered, keep), now),
        );
        // A stored spec this version cannot read fails its job, with the reason.
        for (record, error) in unreadable {
            tracing::error!(job = %record.id, %error, "a stored spec no longer parses; failing the job");
            if let Some(cancel) = fail_unreadable(&record, &error, now) {
                commands.push(cancel);
            }
        }
        self.execute(commands).await;
        self.start_checkpoint_checks();
        self.publish_admission();
        tracing::info!(jobs = count, "recovered the live jobs from the store");
        Ok(count)
    }

    /// The newest finished jobs (one page): their objects are kept in the
    /// clusters, not collected as orphans.
    async fn recently_finished(&self) -> Vec<(String, WorkloadKey)> {
        let query = JobQuery {
            team: None,
            states: [JobState::Succeeded, JobState::Failed, JobState::Cancelled]
                .into_iter()
                .collect(),
            kind: None,
            order: ListOrder::NewestFirst,
            page_size: 1000,
            page_token: None,
        };
        match self.store.list_jobs(query).await {
            Ok(page) => page
                .jobs
                .iter()
                .filter_map(|job| {
                    let placement = PlacementRecord::from_json(job.placement.as_ref())?;
                    Some((
                        placement.cluster,
                        WorkloadKey::new(job.id.clone(), job.attempt),
                    ))
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "cannot list recently finished jobs; their objects may be collected as orphans");
                Vec::new()
            }
        }
    }

    fn current_views(&self) -> BTreeMap<String, Arc<ClusterView>> {
        self.executor
            .views()
            .into_iter()
            .map(|view| (view.cluster.clone(), view))
            .collect()
    }

    /// Forwards every cluster's view changes into the loop.
    fn watch_views(&self) {
        let names: Vec<String> = self.executor.cluster_names().map(str::to_owned).collect();
        for name in names {
            let Ok(mut views) = self.executor.subscribe(&name) else {
                continue;
            };
            let sender = self.sender.clone();
            tokio::spawn(async move {
                while views.changed().await.is_ok() {
                    if sender.send(Message::ViewsChanged).is_err() {
                        break;
                    }
                }
            });
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        self.watch_views();
        let mut tick = tokio::time::interval(self.settings.tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pass_timer = tokio::time::interval(self.settings.pass_every);
        pass_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_pass = tokio::time::Instant::now();
        let mut pass_gap = self.settings.pass_every;
        let mut last_status = tokio::time::Instant::now() - STATUS_EVERY;
        let mut status_gap = STATUS_EVERY;
        loop {
            let mut commands = Vec::new();
            let mut replies = Vec::new();
            let mut views_changed = false;
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                message = self.receiver.recv() => match message {
                    Some(message) => self.take(message, &mut commands, &mut replies, &mut views_changed),
                    None => break,
                },
                event = self.executor_events.recv() => match event {
                    Some(event) => commands.extend(self.controller.handle(Input::Executor(Box::new(event)), now_unix_ms())),
                    None => break,
                },
                _ = tick.tick() => commands.extend(self.controller.handle(Input::Tick, now_unix_ms())),
                _ = pass_timer.tick() => {}
            }
            for _ in 0..BATCH {
                if let Ok(message) = self.receiver.try_recv() {
                    self.take(message, &mut commands, &mut replies, &mut views_changed);
                } else if let Ok(event) = self.executor_events.try_recv() {
                    commands.extend(
                        self.controller
                            .handle(Input::Executor(Box::new(event)), now_unix_ms()),
                    );
                } else {
                    break;
                }
            }
            if views_changed {
                let views = self.current_views();
                commands.extend(self.controller.handle(Input::Views(views), now_unix_ms()));
                self.publish_admission();
            }
            // A pass over a long queue can take a while: the next one waits
            // at least as long, so scheduling never takes more than half of
            // the loop's time and executor events keep flowing. (Twice as
            // long kept a third, but put a pass's wait, not its work, in the
            // placement latency: at 1,000 submits/s on two cores, passes
            // of 40 ms then waited 80 ms.)
            if self.controller.needs_pass() && last_pass.elapsed() >= pass_gap {
                let started = tokio::time::Instant::now();
                // A pass is CPU work: tell the runtime, so this worker's
                // other tasks (submits, watches) move to another worker.
                // (`block_in_place` needs the multi-thread runtime; a
                // current-thread one has nothing to move anyway.)
                let controller = &mut self.controller;
                let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
                    == tokio::runtime::RuntimeFlavor::MultiThread;
                let before = commands.len();
                commands.extend(if multi_thread {
                    tokio::task::block_in_place(|| controller.pass(now_unix_ms()))
                } else {
                    controller.pass(now_unix_ms())
                });
                last_pass = tokio::time::Instant::now();
                let took = started.elapsed();
                self.pass_histogram.observe(took.as_secs_f64());
                pass_gap = self.settings.pass_every.max(took);
                let shape = self.controller.last_pass();
                tracing::debug!(
                    took_ms = started.elapsed().as_secs_f64() * 1000.0,
                    commands = commands.len() - before,
                    queued = shape.queued,
                    running = shape.running,
                    placed = shape.placed,
                    snapshot_ms = shape.snapshot_ms,
                    schedule_ms = shape.schedule_ms,
                    apply_ms = shape.apply_ms,
                    "scheduling pass"
                );
            }
            if !commands.is_empty() {
                let started = tokio::time::Instant::now();
                let count = commands.len();
                self.execute(commands).await;
                tracing::debug!(
                    took_ms = started.elapsed().as_secs_f64() * 1000.0,
                    commands = count,
                    "commands carried out"
                );
            }
            self.start_checkpoint_checks();
            for reply in replies {
                reply();
            }
            if last_status.elapsed() >= status_gap {
                last_status = tokio::time::Instant::now();
                self.publish_status();
                status_gap = STATUS_EVERY.max(last_status.elapsed() * STATUS_BACKOFF);
            }
        }
    }

    /// Starts the checkpoint checks the controller asks for, off the loop;
    /// each answer comes back as an input (at once when no adapter reads
    /// the URI).
    fn start_checkpoint_checks(&mut self) {
        for check in self.controller.take_checkpoint_checks() {
            let lookup = self
                .cloud
                .checkpoints
                .as_ref()
                .and_then(|checkpoints| checkpoints.exists(&check.uri));
            let sender = self.sender.clone();
            let Some(lookup) = lookup else {
                let _ = sender.send(Message::Input(Input::CheckpointChecked {
                    check,
                    answer: CheckpointAnswer::NoAdapter,
                }));
                continue;
            };
            tokio::spawn(async move {
                let answer = match tokio::time::timeout(CHECKPOINT_TIMEOUT, lookup).await {
                    Ok(Ok(true)) => CheckpointAnswer::Found,
                    Ok(Ok(false)) => CheckpointAnswer::Empty,
                    Ok(Err(message)) => CheckpointAnswer::Failed(message),
                    Err(_) => CheckpointAnswer::Failed(format!(
                        "no answer within {} s",
                        CHECKPOINT_TIMEOUT.as_secs()
                    )),
                };
                let _ = sender.send(Message::Input(Input::CheckpointChecked { check, answer }));
            });
        }
    }

    fn take(
        &mut self,
        message: Message,
        commands: &mut Vec<Command>,
        replies: &mut Vec<Box<dyn FnOnce() + Send>>,
        views_changed: &mut bool,
    ) {
        let now = now_unix_ms();
        match message {
            Message::Input(input) => commands.extend(self.controller.handle(input, now)),
            Message::ViewsChanged => *views_changed = true,
            Message::Cancel {
                id,
                actor,
                reason,
                reply,
            } => {
                let produced = self.controller.handle(
                    Input::Cancel {
                        id: id.clone(),
                        actor,
                        reason,
                    },
                    now,
                );
                let mut outcome = Err(CancelRefused::NotLive(id));
                for command in produced {
                    match command {
                        Command::CancelOutcome {
                            outcome: result, ..
                        } => outcome = result,
                        other => commands.push(other),
                    }
                }
                // Answered after this batch's commands (the persist) ran.
                replies.push(Box::new(move || {
                    let _ = reply.send(outcome);
                }));
            }
            Message::Query(query) => self.answer(query, now),
        }
    }

    fn answer(&self, query: Query, now: i64) {
        match query {
            Query::Explanation(id, reply) => {
                let _ = reply.send(self.controller.explanation(&id).cloned());
            }
            Query::Quote(spec, reply) => {
                let _ = reply.send(self.controller.quote(&spec, now));
            }
            Query::Teams(reply) => {
                let _ = reply.send(self.controller.team_usage());
            }
        }
    }

    async fn execute(&mut self, commands: Vec<Command>) {
        let mut by_job: BTreeMap<JobId, Vec<Transition>> = BTreeMap::new();
        let mut order: Vec<JobId> = Vec::new();
        let mut effects = Vec::new();
        let mut ended_runs = Vec::new();
        for command in commands {
            match command {
                Command::Persist(transitions) => {
                    for transition in transitions {
                        if let Some(ended) = run_ending(&transition) {
                            ended_runs.push(ended);
                        }
                        if !by_job.contains_key(&transition.job_id) {
                            order.push(transition.job_id.clone());
                        }
                        by_job
                            .entry(transition.job_id.clone())
                            .or_default()
                            .push(transition);
                    }
                }
                other => effects.push(other),
            }
        }
        let applies = order
            .iter()
            .filter_map(|id| by_job.remove(id))
            .map(|transitions| {
                let store = self.store.clone();
                async move {
                    let id = transitions.first().map(|t| t.job_id.clone());
                    let updates: Vec<StateUpdate> =
                        transitions.into_iter().map(state_update).collect();
                    (id, store.apply(updates).await)
                }
            });
        let results = futures_join_all(applies).await;
        let mut refused: BTreeSet<JobId> = BTreeSet::new();
        for (id, result) in results {
            let Some(id) = id else { continue };
            if let Err(error) = result {
                tracing::error!(job = %id, %error, "a transition was refused; reading the job back");
                refused.insert(id);
            }
        }
        if let Some(runs) = &self.cloud.runs {
            for ended in ended_runs
                .into_iter()
                .filter(|run| !refused.contains(&run.0))
            {
                tell_run_ended(&self.store, runs, ended);
            }
        }
        for id in &refused {
            match self.store.get_job(id).await {
                Ok(Some(record)) => self.resync(record),
                Ok(None) => {
                    tracing::error!(job = %id, "a job the control loop holds is not in the store")
                }
                Err(error) => tracing::error!(job = %id, %error, "cannot read the job back"),
            }
        }
        let now = now_unix_ms();
        let metrics = self.controller.take_metrics();
        for latency in &metrics.placement_latencies_ms {
            #[allow(clippy::cast_precision_loss)]
            self.histogram.observe(*latency as f64 / 1000.0);
        }
        self.metrics = metrics;
        for effect in effects {
            match effect {
                Command::Launch(request) => {
                    if refused.contains(&request.key.job_id) {
                        continue;
                    }
                    if let Err(error) = self.executor.launch(request) {
                        tracing::error!(%error, "cannot hand a launch to the executor");
                    }
                }
                Command::Cancel { cluster, key } => {
                    if let Err(error) = self.executor.cancel(&cluster, key) {
                        tracing::error!(%error, "cannot hand a cancel to the executor");
                    }
                }
                Command::SetDesired { cluster, desired } => {
                    if let Err(error) = self.executor.set_desired(&cluster, desired) {
                        tracing::error!(%error, "cannot tell the executor what should run");
                    }
                }
                Command::Persist(_) | Command::CancelOutcome { .. } => {}
            }
        }
        let _ = now;
    }

    fn resync(&mut self, record: JobRecord) {
        let spec = match gantry_spec::parse_job(&record.spec_yaml) {
            Ok(spec) => Arc::new(spec),
            Err(_) => return,
        };
        let recovered = RecoveredJob {
            id: record.id,
            spec,
            state: record.state,
            attempt: record.attempt,
            submitted_at_unix_ms: record.submitted_at.0,
            placement: PlacementRecord::from_json(record.placement.as_ref()),
        };
        self.controller.resync(recovered);
    }

    fn publish_admission(&self) {
        let offers = self.controller.admission_offers().map(Arc::new);
        self.admission.send_replace(offers);
    }

    fn publish_status(&self) {
        let mut live_by_state: BTreeMap<JobState, u64> = BTreeMap::new();
        for job in self.controller.jobs().values() {
            *live_by_state.entry(job.state).or_default() += 1;
        }
        let snapshot = StatusSnapshot {
            at_unix_ms: now_unix_ms(),
            recovered: true,
            clusters: self.controller.views().values().cloned().collect(),
            jobs_per_cluster: self.controller.jobs_per_cluster(),
            live_by_state,
            queue_depth: self
                .controller
                .queue_depth()
                .into_iter()
                .map(|(team, depth)| (team.to_string(), depth))
                .collect(),
            teams: self.controller.team_usage(),
            recent: self.controller.recent_decisions().cloned().collect(),
            metrics: self.metrics.clone(),
            placement_latency: self.histogram.clone(),
            pass_duration: self.pass_histogram.clone(),
        };
        self.status.send_replace(Arc::new(snapshot));
    }
}

fn state_update(transition: Transition) -> StateUpdate {
    StateUpdate {
        job_id: transition.job_id,
        expected_state: transition.expected,
        transition: transition.transition,
        attempt: transition.attempt,
        placement: transition.placement.as_ref().map(PlacementRecord::to_json),
        reason: transition.reason,
        actor: transition.actor,
        details: transition.details,
        at: UnixMillis(transition.at_unix_ms),
    }
}

/// A committed transition that ends a run: (job, attempt, state after,
/// reason, placement, when).
type RunEnding = (JobId, u32, JobState, String, Option<PlacementRecord>, i64);

fn run_ending(transition: &Transition) -> Option<RunEnding> {
    let change = transition.transition?;
    let after = gantry_core::next_state(Some(transition.expected), change).ok()?;
    let ends = matches!(
        after,
        JobState::Succeeded | JobState::Failed | JobState::Cancelled | JobState::Preempted
    );
    // A job cancelled while queued never ran: no run ended.
    let ran = transition.placement.is_some() || transition.expected != JobState::Queued;
    (ends && ran).then(|| {
        (
            transition.job_id.clone(),
            transition.attempt,
            after,
            transition.reason.clone(),
            transition.placement.clone(),
            transition.at_unix_ms,
        )
    })
}

/// Reads the ended run back (off the loop) and tells the sink.
fn tell_run_ended(store: &Arc<dyn Store>, runs: &Arc<dyn RunSink>, ended: RunEnding) {
    let store = store.clone();
    let runs = runs.clone();
    tokio::spawn(async move {
        let (id, attempt, final_state, reason, placement, ended_at_unix_ms) = ended;
        let job = match store.get_job(&id).await {
            Ok(Some(job)) => job,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(job = %id, %error, "cannot read an ended run back; no provenance record for it");
                return;
            }
        };
        let events = store
            .job_events(&id)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|event| event.attempt == attempt)
            .collect();
        runs.run_ended(EndedRun {
            job,
            events,
            attempt,
            final_state,
            reason,
            placement,
            ended_at_unix_ms,
        });
    });
}

fn fail_unreadable(record: &JobRecord, error: &str, now: i64) -> Option<Command> {
    let transition = match record.state {
        JobState::Queued
        | JobState::Placed
        | JobState::Launching
        | JobState::Running
        | JobState::Preempted => JobTransition::Cancel,
        _ => return None,
    };
    Some(Command::Persist(vec![Transition {
        job_id: record.id.clone(),
        expected: record.state,
        transition: Some(transition),
        attempt: record.attempt,
        placement: PlacementRecord::from_json(record.placement.as_ref()),
        reason: format!("SpecUnreadable: {error}"),
        actor: "gantryd".to_owned(),
        details: serde_json::json!({}),
        at_unix_ms: now,
    }]))
}

/// Awaits every future, in order of their results' positions.
async fn futures_join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<tokio::task::JoinHandle<T>> = futures.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(result) = handle.await {
            results.push(result);
        }
    }
    results
}
