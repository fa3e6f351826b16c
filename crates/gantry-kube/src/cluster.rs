//! One cluster's task: the only owner of that cluster's state in the
//! executor. It consumes commands, watch events and finished API calls in
//! one loop, so nothing here needs a lock.
//!
//! Loop, step by step:
//! 1. Wait for a command, a watch event, a finished call, or the tick.
//! 2. Apply it: a watch event updates the local copy of Jobs, Deployments,
//!    Services (Gantry's, in its namespace), Pods and Nodes (all), marking the
//!    workload it belongs to dirty; a relist (`InitDone`) replaces the copy
//!    whole, so objects deleted while the watch was down disappear.
//! 3. Re-observe every dirty workload and turn observations into events
//!    ([`crate::progress`]).
//! 4. On the tick: health (events on change; on a loss, every running
//!    attempt is reported lost once), the API probe, the inventory (at most
//!    every `inventory_every`), problems whose grace ran out, and every
//!    `reconcile_every` (and at once after the first complete list) the
//!    reconciliation of [`crate::reconcile`].
//!
//! API calls run as tasks of their own (a slow cluster never stalls the
//! loop); their results come back as step 1 inputs. At most one launch per
//! attempt and one delete per object are in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{StreamExt, stream};
use gantry_core::{JobKind, PriceTable};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::client::{Caller, Resilience};
use crate::executor::{
    CloudFeeds, ClusterSpec, ClusterView, Command, Desired, ExecutorEvent, ExecutorSettings,
    LaunchRequest,
};
use crate::inventory::{self, Prices};
use crate::names::{MANAGED_SELECTOR, WorkloadKey};
use crate::observe::{Observation, Phase, observe_inference, observe_training};
use crate::progress::{Progress, Step};
use crate::reconcile::{self, Action, FoundObject, ObjectKind, OrphanClock, Want};
use crate::render::{RenderInput, Workload, render};
use crate::resilience::{Breaker, Failure, Health, HealthTracker, Jitter, WatchBackoff};

/// How often the loop ticks.
const TICK: Duration = Duration::from_millis(100);
/// How long a final phase waits for its pods to agree (see
/// [`Observation::is_settled`]).
const SETTLE: Duration = Duration::from_secs(2);

type ObjectId = (String, String);

/// A local copy of one kind of object, kept by a watcher.
#[derive(Debug)]
struct Objects<K> {
    items: BTreeMap<ObjectId, K>,
    buffer: Option<BTreeMap<ObjectId, K>>,
    synced: bool,
}

impl<K> Default for Objects<K> {
    fn default() -> Objects<K> {
        Objects {
            items: BTreeMap::new(),
            buffer: None,
            synced: false,
        }
    }
}

/// What one watch event changed.
enum Touched {
    One(ObjectId, Option<WorkloadKey>),
    All,
    Nothing,
}

fn object_id<K: Resource>(object: &K) -> ObjectId {
    (
        object.meta().namespace.clone().unwrap_or_default(),
        object.meta().name.clone().unwrap_or_default(),
    )
}

fn key_of<K: Resource>(object: &K) -> Option<WorkloadKey> {
    WorkloadKey::from_labels(object.meta().labels.as_ref()?)
}

impl<K: Resource + Clone> Objects<K> {
    fn apply(&mut self, event: Event<K>) -> Touched {
        match event {
            Event::Apply(object) => {
                let id = object_id(&object);
                let key = key_of(&object);
                self.items.insert(id.clone(), object);
                Touched::One(id, key)
            }
            Event::Delete(object) => {
                let id = object_id(&object);
                let key = key_of(&object);
                self.items.remove(&id);
                Touched::One(id, key)
            }
            Event::Init => {
                self.buffer = Some(BTreeMap::new());
                Touched::Nothing
            }
            Event::InitApply(object) => {
                let id = object_id(&object);
                self.buffer
                    .get_or_insert_with(BTreeMap::new)
                    .insert(id, object);
                Touched::Nothing
            }
            Event::InitDone => {
                self.items = self.buffer.take().unwrap_or_default();
                self.synced = true;
                Touched::All
            }
        }
    }
}

/// A watch event of any kind.
enum Incoming {
    Job(Box<Result<Event<Job>, watcher::Error>>),
    Deployment(Box<Result<Event<Deployment>, watcher::Error>>),
    Service(Box<Result<Event<Service>, watcher::Error>>),
    Pod(Box<Result<Event<Pod>, watcher::Error>>),
    Node(Box<Result<Event<Node>, watcher::Error>>),
}

/// A finished API call.
enum OpDone {
    Launched {
        key: WorkloadKey,
        outcome: Result<LaunchOutcome, Failure>,
    },
    Deleted {
        kind: ObjectKind,
        name: String,
        key: Option<WorkloadKey>,
        orphan: bool,
        outcome: Result<(), Failure>,
    },
    Probed,
    Namespace(Result<(), Failure>),
}

enum LaunchOutcome {
    Created,
    Adopted,
}

pub(crate) struct ClusterTask {
    spec: ClusterSpec,
    caller: Caller,
    settings: ExecutorSettings,
    prices: Arc<PriceTable>,
    feeds: CloudFeeds,
    /// The feeds' versions the view was built with (prices, catalog).
    built_with: (Option<u64>, Option<u64>),
    events: mpsc::UnboundedSender<ExecutorEvent>,
    view: watch::Sender<Arc<ClusterView>>,
    wanted: BTreeMap<WorkloadKey, Want>,
    requests: BTreeMap<WorkloadKey, LaunchRequest>,
    desired_known: bool,
    progress: BTreeMap<WorkloadKey, Progress>,
    adopted: BTreeSet<WorkloadKey>,
    orphans: OrphanClock,
    launching: BTreeSet<WorkloadKey>,
    deleting: BTreeSet<(ObjectKind, String)>,
    probing: bool,
    lost_reported: bool,
    last_health: Option<Health>,
    health: (Health, String),
    jobs: Objects<Job>,
    deployments: Objects<Deployment>,
    services: Objects<Service>,
    pods: Objects<Pod>,
    nodes: Objects<Node>,
    pods_by_key: BTreeMap<WorkloadKey, BTreeSet<ObjectId>>,
    /// The inverse of `pods_by_key`: which workload each indexed pod is of.
    pod_keys: BTreeMap<ObjectId, WorkloadKey>,
    dirty: BTreeSet<WorkloadKey>,
    held: BTreeMap<WorkloadKey, Instant>,
    all_dirty: bool,
    inventory_dirty: bool,
    last_inventory: Option<Instant>,
    last_reconcile: Option<Instant>,
    last_probe: Option<Instant>,
    ops: JoinSet<OpDone>,
}

impl std::fmt::Debug for ClusterTask {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterTask")
            .field("cluster", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl ClusterTask {
    pub(crate) fn new(
        spec: ClusterSpec,
        client: kube::Client,
        settings: ExecutorSettings,
        prices: (Arc<PriceTable>, CloudFeeds),
        events: mpsc::UnboundedSender<ExecutorEvent>,
        view: watch::Sender<Arc<ClusterView>>,
        seed: u64,
    ) -> ClusterTask {
        let (prices, feeds) = prices;
        let now = Instant::now();
        let resilience = Resilience {
            breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            health: HealthTracker::new(now, settings.lost_after, settings.degraded_for),
            jitter: Jitter::seeded(seed),
        };
        let caller = Caller::new(client, &spec.name, resilience, settings.retry);
        ClusterTask {
            spec,
            caller,
            settings,
            prices,
            feeds,
            built_with: (None, None),
            events,
            view,
            wanted: BTreeMap::new(),
            requests: BTreeMap::new(),
            desired_known: false,
            progress: BTreeMap::new(),
            adopted: BTreeSet::new(),
            orphans: OrphanClock::new(),
            launching: BTreeSet::new(),
            deleting: BTreeSet::new(),
            probing: false,
            lost_reported: false,
            last_health: None,
            health: (Health::Reachable, String::new()),
            jobs: Objects::default(),
            deployments: Objects::default(),
            services: Objects::default(),
            pods: Objects::default(),
            nodes: Objects::default(),
            pods_by_key: BTreeMap::new(),
            pod_keys: BTreeMap::new(),
            dirty: BTreeSet::new(),
            held: BTreeMap::new(),
            all_dirty: false,
            inventory_dirty: true,
            last_inventory: None,
            last_reconcile: None,
            last_probe: None,
            ops: JoinSet::new(),
        }
    }

    fn watch_backoff(&self) -> WatchBackoff {
        let seed = self
            .spec
            .name
            .bytes()
            .fold(0u64, |hash, byte| hash.rotate_left(5) ^ u64::from(byte));
        WatchBackoff::new(self.settings.watch_backoff, seed)
    }

    fn streams(&self) -> SelectAll<BoxStream<'static, Incoming>> {
        let client = self.caller.client.clone();
        let namespace = self.spec.namespace.as_str();
        let managed = watcher::Config::default().labels(MANAGED_SELECTOR);
        let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let pods: Api<Pod> = Api::all(client.clone());
        let nodes: Api<Node> = Api::all(client);
        stream::select_all([
            watcher::watcher(jobs, managed.clone())
                .backoff(self.watch_backoff())
                .map(|event| Incoming::Job(Box::new(event)))
                .boxed(),
            watcher::watcher(deployments, managed.clone())
                .backoff(self.watch_backoff())
                .map(|event| Incoming::Deployment(Box::new(event)))
                .boxed(),
            watcher::watcher(services, managed)
                .backoff(self.watch_backoff())
                .map(|event| Incoming::Service(Box::new(event)))
                .boxed(),
            watcher::watcher(pods, watcher::Config::default())
                .backoff(self.watch_backoff())
                .map(|event| Incoming::Pod(Box::new(event)))
                .boxed(),
            watcher::watcher(nodes, watcher::Config::default())
                .backoff(self.watch_backoff())
                .map(|event| Incoming::Node(Box::new(event)))
                .boxed(),
        ])
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut streams = self.streams();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.ensure_namespace();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                Some(done) = self.ops.join_next(), if !self.ops.is_empty() => {
                    if let Ok(done) = done {
                        self.op_done(done);
                    }
                }
                Some(incoming) = streams.next() => self.incoming(incoming),
                _ = tick.tick() => self.tick(),
            }
            self.flush();
        }
        self.ops.abort_all();
    }

    fn emit(&self, event: ExecutorEvent) {
        let _ = self.events.send(event);
    }

    // ---- commands ----

    fn command(&mut self, command: Command) {
        match command {
            Command::Launch(request) => {
                let key = request.key.clone();
                self.wanted.insert(key.clone(), Want::Run);
                self.requests.insert(key.clone(), request);
                self.progress.entry(key.clone()).or_default();
                self.start_launch(&key);
            }
            Command::Cancel(key) => {
                self.wanted.remove(&key);
                let kind = self.requests.remove(&key).map(|request| request.spec.kind);
                if let Some(progress) = self.progress.get_mut(&key) {
                    progress.finish();
                }
                self.delete_workload(&key, kind, DeleteParams::foreground(), false);
            }
            Command::SetDesired(desired) => {
                self.wanted.clear();
                self.requests.clear();
                for entry in desired {
                    match entry {
                        Desired::Run(request) => {
                            let key = request.key.clone();
                            self.wanted.insert(key.clone(), Want::Run);
                            self.progress.entry(key.clone()).or_default();
                            self.requests.insert(key, request);
                        }
                        Desired::Keep(key) => {
                            self.wanted.insert(key, Want::Keep);
                        }
                    }
                }
                self.desired_known = true;
                self.last_reconcile = None;
                self.all_dirty = true;
            }
        }
    }

    // ---- API calls ----

    fn ensure_namespace(&mut self) {
        let caller = self.caller.clone();
        let name = self.spec.namespace.clone();
        self.ops
            .spawn(async move { OpDone::Namespace(ensure_namespace(&caller, &name).await) });
    }

    fn start_launch(&mut self, key: &WorkloadKey) {
        if self.launching.contains(key) {
            return;
        }
        let Some(request) = self.requests.get(key) else {
            return;
        };
        let workload = render(RenderInput {
            key,
            spec: &request.spec,
            target: &request.target,
            namespace: &self.spec.namespace,
            simulated: self.spec.simulated,
        });
        self.launching.insert(key.clone());
        let caller = self.caller.clone();
        let namespace = self.spec.namespace.clone();
        let key = key.clone();
        self.ops.spawn(async move {
            let outcome = launch(&caller, &namespace, &key, workload).await;
            OpDone::Launched { key, outcome }
        });
    }

    fn delete_workload(
        &mut self,
        key: &WorkloadKey,
        kind: Option<JobKind>,
        params: DeleteParams,
        orphan: bool,
    ) {
        let name = key.object_name();
        let kinds: &[ObjectKind] = match kind {
            Some(JobKind::Training) => &[ObjectKind::Job, ObjectKind::Service],
            Some(JobKind::Inference) => &[ObjectKind::Deployment, ObjectKind::Service],
            None => &[ObjectKind::Job, ObjectKind::Deployment, ObjectKind::Service],
        };
        for kind in kinds {
            self.delete_object(*kind, &name, Some(key.clone()), params.clone(), orphan);
        }
    }

    fn delete_object(
        &mut self,
        kind: ObjectKind,
        name: &str,
        key: Option<WorkloadKey>,
        params: DeleteParams,
        orphan: bool,
    ) {
        if !self.deleting.insert((kind, name.to_owned())) {
            return;
        }
        let caller = self.caller.clone();
        let namespace = self.spec.namespace.clone();
        let name = name.to_owned();
        self.ops.spawn(async move {
            let outcome = delete(&caller, &namespace, kind, &name, &params).await;
            OpDone::Deleted {
                kind,
                name,
                key,
                orphan,
                outcome,
            }
        });
    }

    fn op_done(&mut self, done: OpDone) {
        let cluster = self.spec.name.clone();
        match done {
            OpDone::Launched { key, outcome } => {
                self.launching.remove(&key);
                if self.wanted.get(&key) != Some(&Want::Run) {
                    // Cancelled or finished while the call was out: whatever it
                    // created is an orphan now, collected after the grace period.
                    return;
                }
                match outcome {
                    Ok(LaunchOutcome::Created) => {
                        self.adopted.insert(key.clone());
                        let progress = self.progress.entry(key.clone()).or_default();
                        if progress.reported().is_none() {
                            *progress = Progress::launched();
                            tracing::info!(cluster = %cluster, workload = %key, "launched");
                            self.emit(ExecutorEvent::Phase {
                                cluster,
                                key: key.clone(),
                                phase: Phase::Launching,
                                reason: "Created".to_owned(),
                                message: format!("created {}", key.object_name()),
                                exits: Vec::new(),
                                at: Timestamp::now(),
                                synthesized: false,
                            });
                        }
                        self.dirty.insert(key);
                    }
                    Ok(LaunchOutcome::Adopted) => {
                        if self.adopted.insert(key.clone()) {
                            tracing::info!(cluster = %cluster, workload = %key, "adopted an existing workload");
                            self.emit(ExecutorEvent::Adopted {
                                cluster,
                                key: key.clone(),
                            });
                        }
                        self.dirty.insert(key);
                    }
                    Err(failure @ (Failure::Retryable { .. } | Failure::Unavailable)) => {
                        tracing::warn!(cluster = %cluster, workload = %key, error = %failure.describe(), "launch failed; reconciliation retries it");
                        self.emit(ExecutorEvent::Warning {
                            cluster,
                            key,
                            reason: "LaunchRetrying".to_owned(),
                            message: failure.describe(),
                        });
                    }
                    Err(failure) => {
                        tracing::error!(cluster = %cluster, workload = %key, error = %failure.describe(), "launch refused");
                        self.wanted.remove(&key);
                        if let Some(progress) = self.progress.get_mut(&key) {
                            progress.finish();
                        }
                        self.emit(ExecutorEvent::LaunchFailed {
                            cluster,
                            key,
                            reason: "LaunchRefused".to_owned(),
                            message: failure.describe(),
                            requeue: false,
                        });
                    }
                }
            }
            OpDone::Deleted {
                kind,
                name,
                key,
                orphan,
                outcome,
            } => {
                self.deleting.remove(&(kind, name.clone()));
                match outcome {
                    Ok(()) if orphan => {
                        tracing::warn!(cluster = %cluster, kind = kind.as_str(), name = %name, "deleted an orphan");
                        self.emit(ExecutorEvent::OrphanDeleted {
                            cluster,
                            kind: kind.as_str().to_owned(),
                            namespace: self.spec.namespace.clone(),
                            name,
                            key,
                        });
                    }
                    Ok(()) => {}
                    Err(failure) => {
                        tracing::warn!(cluster = %cluster, kind = kind.as_str(), name = %name, error = %failure.describe(), "delete failed; reconciliation collects it");
                    }
                }
            }
            OpDone::Probed => self.probing = false,
            OpDone::Namespace(outcome) => {
                if let Err(failure) = outcome {
                    tracing::warn!(cluster = %cluster, namespace = %self.spec.namespace, error = %failure.describe(), "cannot make sure the namespace exists");
                }
            }
        }
    }

    // ---- watch events ----

    fn incoming(&mut self, incoming: Incoming) {
        let touched = match incoming {
            Incoming::Job(event) => self.watched(*event, |task| &mut task.jobs),
            Incoming::Deployment(event) => self.watched(*event, |task| &mut task.deployments),
            Incoming::Service(event) => {
                self.watched(*event, |task| &mut task.services);
                return;
            }
            Incoming::Node(event) => {
                if !matches!(
                    self.watched(*event, |task| &mut task.nodes),
                    Touched::Nothing
                ) {
                    self.inventory_dirty = true;
                }
                return;
            }
            Incoming::Pod(event) => {
                let touched = self.watched(*event, |task| &mut task.pods);
                if !matches!(touched, Touched::Nothing) {
                    self.inventory_dirty = true;
                }
                match &touched {
                    Touched::One(id, key) => {
                        self.unindex_pod(id);
                        if let Some(key) = key
                            && self.pods.items.contains_key(id)
                        {
                            self.pods_by_key
                                .entry(key.clone())
                                .or_default()
                                .insert(id.clone());
                            self.pod_keys.insert(id.clone(), key.clone());
                        }
                    }
                    Touched::All => self.index_pods(),
                    Touched::Nothing => {}
                }
                touched
            }
        };
        match touched {
            Touched::One(_, Some(key)) => {
                self.dirty.insert(key);
            }
            Touched::All => self.all_dirty = true,
            Touched::One(_, None) | Touched::Nothing => {}
        }
    }

    fn watched<K: Resource + Clone>(
        &mut self,
        event: Result<Event<K>, watcher::Error>,
        objects: impl FnOnce(&mut ClusterTask) -> &mut Objects<K>,
    ) -> Touched {
        match event {
            Ok(event) => {
                if matches!(event, Event::Apply(_) | Event::Delete(_) | Event::InitDone) {
                    self.caller.record_success();
                }
                objects(self).apply(event)
            }
            Err(error) => {
                tracing::debug!(cluster = %self.spec.name, %error, "watch failed; retrying");
                self.caller.record_failure(&error.to_string());
                Touched::Nothing
            }
        }
    }

    fn index_pods(&mut self) {
        self.pods_by_key.clear();
        self.pod_keys.clear();
        for (id, pod) in &self.pods.items {
            if let Some(key) = key_of(pod) {
                self.pods_by_key
                    .entry(key.clone())
                    .or_default()
                    .insert(id.clone());
                self.pod_keys.insert(id.clone(), key);
            }
        }
    }

    /// Takes one pod out of the index (before it is indexed again, or gone).
    fn unindex_pod(&mut self, id: &ObjectId) {
        let Some(key) = self.pod_keys.remove(id) else {
            return;
        };
        if let Some(pods) = self.pods_by_key.get_mut(&key) {
            pods.remove(id);
            if pods.is_empty() {
                self.pods_by_key.remove(&key);
            }
        }
    }

    // ---- observation ----

    fn flush(&mut self) {
        let keys: Vec<WorkloadKey> = if self.all_dirty {
            self.all_dirty = false;
            self.dirty.clear();
            self.progress.keys().cloned().collect()
        } else {
            std::mem::take(&mut self.dirty).into_iter().collect()
        };
        for key in keys {
            self.observe(&key);
        }
    }

    fn observation(&self, key: &WorkloadKey) -> Option<Observation> {
        let request = self.requests.get(key)?;
        let id = (self.spec.namespace.clone(), key.object_name());
        let pods: Vec<&Pod> = self
            .pods_by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.pods.items.get(id))
            .collect();
        match request.spec.kind {
            JobKind::Training => {
                let job = self.jobs.items.get(&id)?;
                Some(observe_training(job, &pods))
            }
            JobKind::Inference => {
                let deployment = self.deployments.items.get(&id)?;
                Some(observe_inference(deployment, &pods))
            }
        }
    }

    fn observe(&mut self, key: &WorkloadKey) {
        // Only what this executor launched or adopted, once its copy of the
        // cluster is complete: before that, a half-listed cluster would read
        // as a workload going backwards.
        let synced = self.pods.synced && self.jobs.synced && self.deployments.synced;
        if !synced || self.wanted.get(key) != Some(&Want::Run) || !self.adopted.contains(key) {
            return;
        }
        let Some(observation) = self.observation(key) else {
            return;
        };
        if !observation.is_settled() {
            let now = Instant::now();
            let since = *self.held.entry(key.clone()).or_insert(now);
            if now.saturating_duration_since(since) < SETTLE {
                return;
            }
        }
        self.held.remove(key);
        let graces = self.settings.graces;
        let Some(progress) = self.progress.get_mut(key) else {
            return;
        };
        let steps = progress.observe(&observation, Instant::now(), graces);
        let cluster = self.spec.name.clone();
        for step in steps {
            match step {
                Step::Report { phase, synthesized } => {
                    let (reason, message, exits) = if synthesized {
                        (
                            phase.as_str().to_owned(),
                            format!("implied by {}", observation.phase.as_str()),
                            Vec::new(),
                        )
                    } else {
                        (
                            observation.reason.clone(),
                            observation.message.clone(),
                            observation.exits.clone(),
                        )
                    };
                    tracing::info!(cluster = %cluster, workload = %key, phase = phase.as_str(), reason = %reason, "workload phase");
                    self.emit(ExecutorEvent::Phase {
                        cluster: cluster.clone(),
                        key: key.clone(),
                        phase,
                        reason,
                        message,
                        exits,
                        at: observation.at.unwrap_or_else(Timestamp::now),
                        synthesized,
                    });
                    if phase.is_final() {
                        self.wanted.insert(key.clone(), Want::Keep);
                        if phase == Phase::Preempted {
                            let kind = self.requests.get(key).map(|r| r.spec.kind);
                            self.delete_workload(key, kind, DeleteParams::background(), false);
                        }
                    }
                }
                Step::Warn { reason, message } => {
                    tracing::warn!(cluster = %cluster, workload = %key, reason = %reason, message = %message, "workload problem");
                    self.emit(ExecutorEvent::Warning {
                        cluster: cluster.clone(),
                        key: key.clone(),
                        reason,
                        message,
                    });
                }
                Step::GiveUp {
                    fail,
                    reason,
                    message,
                } => {
                    tracing::warn!(cluster = %cluster, workload = %key, reason = %reason, "giving up on the attempt");
                    self.wanted.remove(key);
                    let kind = self.requests.remove(key).map(|r| r.spec.kind);
                    self.delete_workload(key, kind, DeleteParams::background(), false);
                    self.emit(ExecutorEvent::LaunchFailed {
                        cluster: cluster.clone(),
                        key: key.clone(),
                        reason,
                        message,
                        requeue: !fail,
                    });
                }
            }
        }
    }

    // ---- the tick ----

    fn tick(&mut self) {
        let now = Instant::now();
        self.check_health();
        if !self.probing
            && self
                .last_probe
                .is_none_or(|at| now.saturating_duration_since(at) >= self.settings.probe_every)
        {
            self.last_probe = Some(now);
            self.probing = true;
            let caller = self.caller.clone();
            self.ops.spawn(async move {
                let client = caller.client.clone();
                let _ = caller
                    .call("version", true, || client.apiserver_version())
                    .await;
                OpDone::Probed
            });
        }
        // New live prices (or prices growing stale) re-price the pools; a
        // catalog loaded re-checks them.
        if self.built_with != self.feed_versions() {
            self.inventory_dirty = true;
        }
        if self.inventory_dirty
            && self
                .last_inventory
                .is_none_or(|at| now.saturating_duration_since(at) >= self.settings.inventory_every)
        {
            self.publish_view(now);
        }
        // Final phases waiting for their pods.
        self.dirty.extend(self.held.keys().cloned());
        // Problems whose grace may have run out without a new event.
        let timed = self
            .progress
            .iter()
            .filter(|(_, progress)| progress.has_problem())
            .map(|(key, _)| key.clone());
        self.dirty.extend(timed.collect::<Vec<_>>());
        let synced = self.jobs.synced && self.deployments.synced && self.services.synced;
        let due = self
            .last_reconcile
            .is_none_or(|at| now.saturating_duration_since(at) >= self.settings.reconcile_every);
        if self.desired_known && synced && due {
            self.last_reconcile = Some(now);
            self.reconcile(now);
        }
    }

    fn check_health(&mut self) {
        let (health, reason) = self.caller.health();
        self.health = (health, reason.clone());
        if self.last_health == Some(health) {
            return;
        }
        let cluster = self.spec.name.clone();
        match health {
            Health::Lost => tracing::error!(cluster = %cluster, reason = %reason, "cluster lost"),
            Health::Degraded => {
                tracing::warn!(cluster = %cluster, reason = %reason, "cluster degraded")
            }
            Health::Reachable => tracing::info!(cluster = %cluster, "cluster reachable"),
        }
        self.last_health = Some(health);
        self.emit(ExecutorEvent::Health {
            cluster: cluster.clone(),
            health,
            reason: reason.clone(),
        });
        if health == Health::Lost && !self.lost_reported {
            self.lost_reported = true;
            for (key, want) in &self.wanted {
                if *want == Want::Run {
                    self.emit(ExecutorEvent::WorkloadLost {
                        cluster: cluster.clone(),
                        key: key.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        if health != Health::Lost {
            self.lost_reported = false;
        }
        self.inventory_dirty = true;
    }

    fn feed_versions(&self) -> (Option<u64>, Option<u64>) {
        (
            self.feeds.prices.as_ref().map(|live| live.version()),
            self.feeds.catalog.as_ref().map(|catalog| catalog.version()),
        )
    }

    fn publish_view(&mut self, now: Instant) {
        self.last_inventory = Some(now);
        self.inventory_dirty = false;
        self.built_with = self.feed_versions();
        let nodes: Vec<&Node> = self.nodes.items.values().collect();
        let pods: Vec<&Pod> = self.pods.items.values().collect();
        let inventory = inventory::build(
            &nodes,
            &pods,
            Prices {
                cloud: self.spec.cloud,
                region: &self.spec.region,
                table: &self.prices,
                overrides: &self.spec.price_overrides,
                live: self.feeds.prices.as_deref(),
                catalog: self.feeds.catalog.as_deref(),
            },
        );
        let view = ClusterView {
            cluster: self.spec.name.clone(),
            cloud: self.spec.cloud,
            region: self.spec.region.clone(),
            health: self.health.0,
            health_reason: self.health.1.clone(),
            synced: self.nodes.synced && self.pods.synced,
            inventory,
            updated_at: Timestamp::now(),
        };
        self.view.send_replace(Arc::new(view));
    }

    fn found_objects(&self) -> Vec<FoundObject> {
        fn found<K: Resource>(kind: ObjectKind, objects: &Objects<K>) -> Vec<FoundObject> {
            objects
                .items
                .values()
                .map(|object| FoundObject {
                    kind,
                    namespace: object.meta().namespace.clone().unwrap_or_default(),
                    name: object.meta().name.clone().unwrap_or_default(),
                    key: key_of(object),
                    deleting: object.meta().deletion_timestamp.is_some(),
                })
                .collect()
        }
        let mut all = found(ObjectKind::Job, &self.jobs);
        all.extend(found(ObjectKind::Deployment, &self.deployments));
        all.extend(found(ObjectKind::Service, &self.services));
        all
    }

    fn reconcile(&mut self, now: Instant) {
        let found = self.found_objects();
        let actions = reconcile::plan(
            &self.wanted,
            &found,
            &self.adopted,
            &mut self.orphans,
            now,
            self.settings.orphan_grace,
        );
        let cluster = self.spec.name.clone();
        for action in actions {
            match action {
                Action::Adopt(key) => {
                    self.adopted.insert(key.clone());
                    tracing::info!(cluster = %cluster, workload = %key, "adopted an existing workload");
                    self.emit(ExecutorEvent::Adopted {
                        cluster: cluster.clone(),
                        key: key.clone(),
                    });
                    self.dirty.insert(key);
                }
                Action::Create(key) => {
                    let running = self
                        .progress
                        .get(&key)
                        .is_some_and(|p| p.reported().is_some());
                    if running {
                        tracing::warn!(cluster = %cluster, workload = %key, "a running workload's objects are missing; creating them again");
                    }
                    self.start_launch(&key);
                }
                Action::DeleteOrphan(object) => {
                    tracing::warn!(cluster = %cluster, kind = object.kind.as_str(), name = %object.name, "deleting an orphan after its grace period");
                    self.delete_object(
                        object.kind,
                        &object.name,
                        object.key.clone(),
                        DeleteParams::background(),
                        true,
                    );
                }
            }
        }
    }
}

async fn ensure_namespace(caller: &Caller, name: &str) -> Result<(), Failure> {
    let namespaces: Api<Namespace> = Api::all(caller.client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let params = PostParams::default();
    match caller
        .call("create namespace", false, || {
            namespaces.create(&params, &namespace)
        })
        .await
    {
        Ok(_) | Err(Failure::AlreadyExists) => Ok(()),
        Err(failure) => Err(failure),
    }
}

/// Creates `object` unless it exists; an existing one is ours when its labels
/// name `key`.
async fn create_if_absent<K>(
    caller: &Caller,
    api: &Api<K>,
    key: &WorkloadKey,
    object: &K,
) -> Result<LaunchOutcome, Failure>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let name = object.name_any();
    let params = PostParams::default();
    match caller
        .call("create", false, || api.create(&params, object))
        .await
    {
        Ok(_) => Ok(LaunchOutcome::Created),
        Err(Failure::AlreadyExists) => {
            let existing = caller.call("get", false, || api.get(&name)).await?;
            if key_of(&existing).as_ref() == Some(key) {
                Ok(LaunchOutcome::Adopted)
            } else {
                Err(Failure::Permanent {
                    code: 409,
                    reason: "AlreadyExists".to_owned(),
                    message: format!(
                        "{} {name} exists and does not belong to {key}",
                        K::kind(&Default::default())
                    ),
                })
            }
        }
        Err(failure) => Err(failure),
    }
}

async fn launch(
    caller: &Caller,
    namespace: &str,
    key: &WorkloadKey,
    workload: Workload,
) -> Result<LaunchOutcome, Failure> {
    let client = caller.client.clone();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let service = workload.service().clone();
    let created = create_if_absent(caller, &services, key, &service).await;
    if matches!(created, Err(Failure::NotFound)) {
        // The namespace is missing: make it, then try once more.
        ensure_namespace(caller, namespace).await?;
        create_if_absent(caller, &services, key, &service).await?;
    } else {
        created?;
    }
    match workload {
        Workload::Training { job, .. } => {
            let jobs: Api<Job> = Api::namespaced(client, namespace);
            create_if_absent(caller, &jobs, key, job.as_ref()).await
        }
        Workload::Inference { deployment, .. } => {
            let deployments: Api<Deployment> = Api::namespaced(client, namespace);
            create_if_absent(caller, &deployments, key, deployment.as_ref()).await
        }
    }
}

async fn delete(
    caller: &Caller,
    namespace: &str,
    kind: ObjectKind,
    name: &str,
    params: &DeleteParams,
) -> Result<(), Failure> {
    let client = caller.client.clone();
    let outcome = match kind {
        ObjectKind::Job => {
            let api: Api<Job> = Api::namespaced(client, namespace);
            caller
                .call("delete", false, || api.delete(name, params))
                .await
                .map(|_| ())
        }
        ObjectKind::Deployment => {
            let api: Api<Deployment> = Api::namespaced(client, namespace);
            caller
                .call("delete", false, || api.delete(name, params))
                .await
                .map(|_| ())
        }
        ObjectKind::Service => {
            let api: Api<Service> = Api::namespaced(client, namespace);
            caller
                .call("delete", false, || api.delete(name, params))
                .await
                .map(|_| ())
        }
    };
    match outcome {
        Ok(()) | Err(Failure::NotFound) => Ok(()),
        Err(failure) => Err(failure),
    }
}
