//! The controllers of one simulated cluster, in one task: scheduler, kubelet,
//! job controller, deployment controller, node lifecycle and faults.
//!
//! Protocol:
//!
//! 1. The engine learns the cluster's state only from store events (its own
//!    writes included) and keeps a small index: nodes with their allocatable
//!    and requested resources, and pods with their node and requests.
//! 2. Each turn it drains commands and events, fires due timers (pod start and
//!    finish, graceful deletion, job deadlines, node-loss eviction, node
//!    replacement, spot interruption draws), then schedules pending pods and
//!    reconciles the jobs and deployments marked dirty.
//! 3. Every write goes through the store (read-modify-write under its lock),
//!    so API clients and the engine never overwrite each other.
//! 4. Timers carry the pod uid; a timer for a pod that has since changed
//!    identity or state does nothing.
//! 5. Time is the cluster's [`SimClock`]; timers sleep the real duration that
//!    the simulated one takes. Randomness is the cluster's seeded [`SimRng`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use gantry_core::{CapacityType, ClusterConfig};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::api_error::ApiError;
use crate::clock::SimClock;
use crate::faults::Fault;
use crate::kubelet;
use crate::nodes;
use crate::object_meta::{
    condition_status, meta_str, object_at_mut, set_at, set_condition, str_at, string_map_at,
    value_at,
};
use crate::resources::{DEPLOYMENTS, EVENTS, JOBS, NODES, PODS};
use crate::rng::SimRng;
use crate::scheduler::{self, NodeCapacity, PodDemand, ResourceAmounts};
use crate::store::{DeleteOptions, EventType, Propagation, Store, StoreEvent};

/// A request to the engine from the API server or a handle.
#[derive(Debug)]
pub enum EngineCommand {
    /// A node fault.
    Fault {
        /// The fault.
        fault: Fault,
        /// The answer.
        reply: oneshot::Sender<Result<Value, ApiError>>,
    },
    /// `pods/binding`.
    Bind {
        /// Namespace.
        namespace: String,
        /// Pod.
        name: String,
        /// Node.
        node: String,
        /// The answer.
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Run time of pods without a duration annotation.
    pub default_pod_duration: Duration,
    /// Whether spot nodes are interrupted at random at their pool's rate.
    pub random_spot_interruptions: bool,
    /// Simulated delay before a reclaimed node is replaced.
    pub node_replacement_delay: Duration,
    /// Simulated delay between binding and containers running.
    pub container_start_delay: Duration,
    /// Whether to record events for scheduling and kubelet steps (off at scale).
    pub record_events: bool,
}

type Key = (String, String);

#[derive(Debug)]
struct NodeState {
    capacity: NodeCapacity,
    pool: Option<usize>,
    ip: String,
    failed_generation: u64,
}

#[derive(Debug)]
struct PodTrack {
    uid: String,
    node: Option<String>,
    requests: ResourceAmounts,
    accounted: bool,
    terminal: bool,
    start_scheduled: bool,
    finish_scheduled: bool,
    deletion_scheduled: bool,
    owner: Option<(OwnerKind, Key, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnerKind {
    Job,
    Deployment,
}

#[derive(Debug, Default)]
struct JobTrack {
    counted: HashSet<String>,
    succeeded: i64,
    failed: i64,
    succeeded_indexes: BTreeSet<i64>,
    deleted_by_controller: HashSet<String>,
    deadline_scheduled: bool,
}

#[derive(Debug)]
enum Timer {
    StartPod(Key, String),
    FinishPod(Key, String),
    FinalizePodDeletion(Key, String),
    JobDeadline(Key, String),
    EvictLostNode(String, u64),
    ReplaceNode(usize),
    SpotDraw,
}

/// The engine of one cluster.
#[derive(Debug)]
pub struct Engine {
    cluster: ClusterConfig,
    store: Arc<Store>,
    clock: SimClock,
    settings: EngineSettings,
    rng: SimRng,
    nodes: BTreeMap<String, NodeState>,
    pods: HashMap<Key, PodTrack>,
    pending: BTreeSet<(u64, Key)>,
    pending_keys: HashSet<Key>,
    pending_sequence: u64,
    unschedulable: BTreeMap<Key, String>,
    capacity_changed: bool,
    jobs: HashMap<String, JobTrack>,
    dirty_jobs: BTreeSet<Key>,
    dirty_deployments: BTreeSet<Key>,
    timers: BTreeMap<(Instant, u64), Timer>,
    timer_sequence: u64,
    next_node_index: Vec<u32>,
    next_ip: u32,
    next_pod_ip: u32,
}

impl Engine {
    /// An engine; call [`Engine::create_nodes`] then [`Engine::run`].
    pub fn new(
        cluster: ClusterConfig,
        store: Arc<Store>,
        settings: EngineSettings,
        seed: u64,
    ) -> Engine {
        let pools = match &cluster.access {
            gantry_core::ClusterAccess::Simulated { node_pools } => node_pools.len(),
            gantry_core::ClusterAccess::Kubeconfig { .. } => 0,
        };
        let clock = store.clock().clone();
        Engine {
            cluster,
            store,
            clock,
            settings,
            rng: SimRng::seeded(seed),
            nodes: BTreeMap::new(),
            pods: HashMap::new(),
            pending: BTreeSet::new(),
            pending_keys: HashSet::new(),
            pending_sequence: 0,
            unschedulable: BTreeMap::new(),
            capacity_changed: false,
            jobs: HashMap::new(),
            dirty_jobs: BTreeSet::new(),
            dirty_deployments: BTreeSet::new(),
            timers: BTreeMap::new(),
            timer_sequence: 0,
            next_node_index: vec![0; pools],
            next_ip: 1,
            next_pod_ip: 1,
        }
    }

    fn pools(&self) -> &[gantry_core::NodePoolConfig] {
        match &self.cluster.access {
            gantry_core::ClusterAccess::Simulated { node_pools } => node_pools,
            gantry_core::ClusterAccess::Kubeconfig { .. } => &[],
        }
    }

    /// Creates every pool's nodes in the store.
    pub fn create_nodes(&mut self) {
        for pool_index in 0..self.pools().len() {
            let count = self.pools().get(pool_index).map_or(0, |pool| pool.nodes);
            for _ in 0..count {
                self.create_node(pool_index);
            }
        }
    }

    fn create_node(&mut self, pool_index: usize) {
        let Some(pool) = self.pools().get(pool_index).cloned() else {
            return;
        };
        let Some(node_index) = self.next_node_index.get_mut(pool_index) else {
            return;
        };
        let index = *node_index;
        *node_index += 1;
        let ip = self.next_ip;
        self.next_ip += 1;
        let version = format!(
            "v{}.{}.0",
            crate::discovery::KUBERNETES_VERSION.0,
            crate::discovery::KUBERNETES_VERSION.1
        );
        let mut node = nodes::node_object(&self.cluster, &pool, pool_index, index, ip, &version);
        set_at(
            &mut node,
            "status.conditions",
            nodes::node_conditions(true, &self.clock.now().to_rfc3339()),
        );
        let created = self.store.create(NODES, "", node);
        debug_assert!(created.is_ok(), "node names are unique per pool");
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Arc<StoreEvent>>,
        mut commands: mpsc::UnboundedReceiver<EngineCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if self.settings.random_spot_interruptions {
            self.schedule(Duration::from_secs(60), Timer::SpotDraw);
        }
        loop {
            let next_timer = self.timers.keys().next().map(|(at, _)| *at);
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                }
                Some(command) = commands.recv() => self.handle_command(command),
                Some(event) = events.recv() => {
                    self.observe(&event);
                    // Drain what is already queued before acting.
                    while let Ok(event) = events.try_recv() {
                        self.observe(&event);
                    }
                }
                () = sleep_until(next_timer) => self.fire_due_timers(),
            }
            self.act();
        }
    }

    fn act(&mut self) {
        self.schedule_pending();
        let jobs: Vec<Key> = std::mem::take(&mut self.dirty_jobs).into_iter().collect();
        for key in jobs {
            self.reconcile_job(&key);
        }
        let deployments: Vec<Key> = std::mem::take(&mut self.dirty_deployments)
            .into_iter()
            .collect();
        for key in deployments {
            self.reconcile_deployment(&key);
        }
    }

    fn schedule(&mut self, simulated: Duration, timer: Timer) {
        let at = self.clock.deadline_after(simulated);
        self.timer_sequence += 1;
        self.timers.insert((at, self.timer_sequence), timer);
    }

    fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.fire(timer);
        }
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::StartPod(key, uid) => self.start_pod(&key, &uid),
            Timer::FinishPod(key, uid) => self.finish_pod(&key, &uid),
            Timer::FinalizePodDeletion(key, uid) => {
                self.store.finish_pod_deletion(&key.0, &key.1, &uid)
            }
            Timer::JobDeadline(key, uid) => {
                if let Some(track) = self.jobs.get_mut(&uid) {
                    track.deadline_scheduled = false;
                }
                self.dirty_jobs.insert(key);
            }
            Timer::EvictLostNode(node, generation) => self.evict_lost_node(&node, generation),
            Timer::ReplaceNode(pool) => self.create_node(pool),
            Timer::SpotDraw => {
                self.draw_spot_interruptions();
                self.schedule(Duration::from_secs(60), Timer::SpotDraw);
            }
        }
    }

    // ---- observing the store ----

    fn observe(&mut self, event: &StoreEvent) {
        match event.resource {
            NODES => self.observe_node(event),
            PODS => self.observe_pod(event),
            JOBS => {
                let key = (event.object.namespace.clone(), event.object.name.clone());
                if event.event_type == EventType::Deleted {
                    self.jobs.remove(&event.object.uid);
                } else {
                    self.dirty_jobs.insert(key);
                }
            }
            DEPLOYMENTS if event.event_type != EventType::Deleted => {
                self.dirty_deployments
                    .insert((event.object.namespace.clone(), event.object.name.clone()));
            }
            _ => {}
        }
    }

    fn observe_node(&mut self, event: &StoreEvent) {
        let name = event.object.name.clone();
        if event.event_type == EventType::Deleted {
            self.nodes.remove(&name);
            self.fail_pods_of_vanished_node(&name);
            return;
        }
        let value = &*event.object.tree;
        let capacity = NodeCapacity {
            labels: event.object.labels.clone(),
            taints: value_at(value, "spec.taints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            allocatable: scheduler::parse_amounts(value_at(value, "status.allocatable")),
            used: self
                .nodes
                .get(&name)
                .map(|n| n.capacity.used.clone())
                .unwrap_or_default(),
            ready: condition_status(value, "status.conditions", "Ready") == Some("True"),
            unschedulable: value_at(value, "spec.unschedulable").and_then(Value::as_bool)
                == Some(true),
        };
        let pool = event
            .object
            .labels
            .get("sim.gantry.dev/pool")
            .and_then(|pool| self.pools().iter().position(|p| p.name == *pool));
        let ip = value_at(value, "status.addresses")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP"))
            })
            .and_then(|x| x.get("address").and_then(Value::as_str))
            .unwrap_or("10.0.0.1")
            .to_owned();
        let failed_generation = self.nodes.get(&name).map_or(0, |n| n.failed_generation);
        let was = self.nodes.insert(
            name,
            NodeState {
                capacity,
                pool,
                ip,
                failed_generation,
            },
        );
        if was.is_none_or(|old| {
            old.capacity.ready
                != self
                    .nodes
                    .get(&event.object.name)
                    .is_some_and(|n| n.capacity.ready)
                || old.capacity.taints.len()
                    != self
                        .nodes
                        .get(&event.object.name)
                        .map_or(0, |n| n.capacity.taints.len())
                || old.capacity.unschedulable
        }) {
            self.capacity_changed = true;
        }
    }

    fn observe_pod(&mut self, event: &StoreEvent) {
        let object = &event.object;
        let key = (object.namespace.clone(), object.name.clone());
        if event.event_type == EventType::Deleted {
            if let Some(track) = self.pods.remove(&key) {
                self.release(&track);
                if let Some((kind, owner_key, owner_uid)) = &track.owner {
                    if *kind == OwnerKind::Job && !track.terminal {
                        // A running pod deleted by someone else counts as failed
                        // (podReplacementPolicy TerminatingOrFailed).
                        if let Some(job) = self.jobs.get_mut(owner_uid)
                            && !job.deleted_by_controller.remove(&track.uid)
                            && job.counted.insert(track.uid.clone())
                        {
                            job.failed += 1;
                        }
                    }
                    self.mark_owner_dirty(*kind, owner_key.clone());
                }
            }
            if self.pending_keys.remove(&key) {
                self.pending.retain(|(_, pending)| *pending != key);
            }
            self.unschedulable.remove(&key);
            return;
        }
        let value = &*object.tree;
        let phase = str_at(value, "status.phase")
            .unwrap_or("Pending")
            .to_owned();
        let node = str_at(value, "spec.nodeName")
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let terminal = phase == "Succeeded" || phase == "Failed";
        let owner = owner_of(value);
        let track = self.pods.entry(key.clone()).or_insert_with(|| PodTrack {
            uid: object.uid.clone(),
            node: None,
            requests: PodDemand::of(value).requests,
            accounted: false,
            terminal: false,
            start_scheduled: false,
            finish_scheduled: false,
            deletion_scheduled: false,
            owner: owner.clone(),
        });
        if track.uid != object.uid {
            *track = PodTrack {
                uid: object.uid.clone(),
                node: None,
                requests: PodDemand::of(value).requests,
                accounted: false,
                terminal: false,
                start_scheduled: false,
                finish_scheduled: false,
                deletion_scheduled: false,
                owner: owner.clone(),
            };
        }
        track.owner = owner.clone();
        let mut account_on: Option<String> = None;
        if let Some(node) = &node
            && !track.accounted
            && !terminal
        {
            track.node = Some(node.clone());
            track.accounted = true;
            account_on = Some(node.clone());
        }
        let newly_terminal = terminal && !track.terminal;
        track.terminal = terminal;
        let needs_start =
            node.is_some() && phase == "Pending" && !track.start_scheduled && !object.deleting;
        if needs_start {
            track.start_scheduled = true;
        }
        let needs_deletion = object.deleting && !track.deletion_scheduled;
        if needs_deletion {
            track.deletion_scheduled = true;
        }
        let grace = value_at(value, "metadata.deletionGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let uid = track.uid.clone();
        let release_now = newly_terminal;
        let requests = track.requests.clone();
        if let Some(node) = account_on
            && let Some(state) = self.nodes.get_mut(&node)
        {
            for (resource, amount) in &requests {
                *state.capacity.used.entry(resource.clone()).or_insert(0) += amount;
            }
        }
        if release_now && let Some(track) = self.pods.get(&key) {
            let snapshot = PodTrack {
                uid: track.uid.clone(),
                node: track.node.clone(),
                requests: track.requests.clone(),
                accounted: track.accounted,
                terminal: true,
                start_scheduled: true,
                finish_scheduled: true,
                deletion_scheduled: true,
                owner: None,
            };
            self.release(&snapshot);
            if let Some(track) = self.pods.get_mut(&key) {
                track.accounted = false;
            }
        }
        if node.is_none()
            && phase == "Pending"
            && !object.deleting
            && str_at(value, "spec.schedulerName").unwrap_or("default-scheduler")
                == "default-scheduler"
            && !self.pending_keys.contains(&key)
            && !self.unschedulable.contains_key(&key)
        {
            self.pending_sequence += 1;
            self.pending.insert((self.pending_sequence, key.clone()));
            self.pending_keys.insert(key.clone());
        }
        if needs_start {
            self.schedule(
                self.settings.container_start_delay,
                Timer::StartPod(key.clone(), uid.clone()),
            );
        }
        if needs_deletion {
            // The kubelet stops the containers within the grace period; we take
            // at most two simulated seconds.
            self.schedule(
                Duration::from_secs(grace.min(2)),
                Timer::FinalizePodDeletion(key.clone(), uid.clone()),
            );
        }
        if let Some((kind, owner_key, owner_uid)) = owner {
            if newly_terminal && kind == OwnerKind::Job {
                let job = self.jobs.entry(owner_uid).or_default();
                if job.counted.insert(uid) {
                    if phase == "Succeeded" {
                        job.succeeded += 1;
                        if let Some(index) = value_at(value, "metadata.annotations")
                            .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
                            .and_then(Value::as_str)
                            .and_then(|i| i.parse::<i64>().ok())
                        {
                            job.succeeded_indexes.insert(index);
                        }
                    } else {
                        job.failed += 1;
                    }
                }
            }
            self.mark_owner_dirty(kind, owner_key);
        }
    }

    fn mark_owner_dirty(&mut self, kind: OwnerKind, key: Key) {
        match kind {
            OwnerKind::Job => self.dirty_jobs.insert(key),
            OwnerKind::Deployment => self.dirty_deployments.insert(key),
        };
    }

    fn release(&mut self, track: &PodTrack) {
        if !track.accounted {
            return;
        }
        if let Some(node) = &track.node
            && let Some(state) = self.nodes.get_mut(node)
        {
            for (resource, amount) in &track.requests {
                if let Some(used) = state.capacity.used.get_mut(resource) {
                    *used = used.saturating_sub(*amount);
                }
            }
        }
        self.capacity_changed = true;
    }

    // ---- scheduler ----

    fn schedule_pending(&mut self) {
        if self.capacity_changed {
            self.capacity_changed = false;
            let retry: Vec<Key> = std::mem::take(&mut self.unschedulable)
                .into_keys()
                .collect();
            for key in retry {
                self.pending_sequence += 1;
                self.pending_keys.insert(key.clone());
                self.pending.insert((self.pending_sequence, key));
            }
            // Keep the messages of those that still do not fit from changing
            // needlessly: they are recomputed below.
        }
        let pending: Vec<(u64, Key)> = std::mem::take(&mut self.pending).into_iter().collect();
        self.pending_keys.clear();
        for (_, key) in pending {
            let Ok(object) = self.store.get(PODS, &key.0, &key.1) else {
                continue;
            };
            let value = &*object.tree;
            if str_at(value, "spec.nodeName").is_some_and(|n| !n.is_empty()) || object.deleting {
                continue;
            }
            let demand = PodDemand::of(value);
            let candidates = self
                .nodes
                .iter()
                .map(|(name, state)| (name, &state.capacity));
            match scheduler::choose(&demand, candidates) {
                Ok(node) => self.bind(&key, &node),
                Err(message) => self.mark_unschedulable(&key, &object.uid, message),
            }
        }
    }

    fn bind(&mut self, key: &Key, node: &str) {
        let now = self.clock.now();
        let result = self.store.modify(PODS, &key.0, &key.1, |pod| {
            if str_at(pod, "spec.nodeName").is_some_and(|n| !n.is_empty()) {
                return false;
            }
            kubelet::mark_scheduled(pod, node, now);
            true
        });
        if let Ok(object) = result {
            if let Some(track) = self.pods.get_mut(key)
                && !track.accounted
            {
                track.node = Some(node.to_owned());
                track.accounted = true;
                if let Some(state) = self.nodes.get_mut(node) {
                    for (resource, amount) in &track.requests {
                        *state.capacity.used.entry(resource.clone()).or_insert(0) += amount;
                    }
                }
            }
            self.unschedulable.remove(key);
            if self.settings.record_events {
                self.record_event(
                    "Pod",
                    "v1",
                    &key.0,
                    &key.1,
                    &object.uid,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {}/{} to {node}", key.0, key.1),
                    "default-scheduler",
                );
            }
        }
    }

    fn mark_unschedulable(&mut self, key: &Key, uid: &str, message: String) {
        let unchanged = self.unschedulable.get(key) == Some(&message);
        self.unschedulable.insert(key.clone(), message.clone());
        if unchanged {
            return;
        }
        let now = self.clock.now();
        let _ = self.store.modify(PODS, &key.0, &key.1, |pod| {
            kubelet::mark_unschedulable(pod, &message, now)
        });
        self.record_event(
            "Pod",
            "v1",
            &key.0,
            &key.1,
            uid,
            "Warning",
            "FailedScheduling",
            &message,
            "default-scheduler",
        );
    }

    fn handle_command(&mut self, command: EngineCommand) {
        match command {
            EngineCommand::Fault { fault, reply } => {
                let _ = reply.send(self.apply_fault(fault));
            }
            EngineCommand::Bind {
                namespace,
                name,
                node,
                reply,
            } => {
                let key = (namespace, name);
                let result = if !self.nodes.contains_key(&node) {
                    Err(ApiError::NotFound {
                        resource: "nodes".to_owned(),
                        group: String::new(),
                        name: node,
                    })
                } else {
                    match self.store.get(PODS, &key.0, &key.1) {
                        Ok(pod) if pod.field("spec.nodeName").is_some_and(|n| !n.is_empty()) => {
                            Err(ApiError::Conflict {
                                resource: "pods".to_owned(),
                                group: String::new(),
                                name: key.1.clone(),
                                message: format!(
                                    "pod {} is already assigned to node {:?}",
                                    key.1,
                                    pod.field("spec.nodeName").unwrap_or_default()
                                ),
                            })
                        }
                        Ok(_) => {
                            if self.pending_keys.remove(&key) {
                                self.pending.retain(|(_, pending)| *pending != key);
                            }
                            self.bind(&key, &node);
                            Ok(())
                        }
                        Err(error) => Err(error),
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    // ---- kubelet ----

    fn start_pod(&mut self, key: &Key, uid: &str) {
        let Some(node) = self
            .pods
            .get(key)
            .filter(|t| t.uid == uid)
            .and_then(|t| t.node.clone())
        else {
            return;
        };
        let Some(state) = self.nodes.get(&node) else {
            return;
        };
        if !state.capacity.ready {
            // The kubelet is down; the pod waits (and is evicted if the node stays lost).
            return;
        }
        let host_ip = state.ip.clone();
        let pod_ip = format!(
            "10.{}.{}.{}",
            200 + (self.next_pod_ip >> 16) % 50,
            (self.next_pod_ip >> 8) % 256,
            self.next_pod_ip % 256
        );
        self.next_pod_ip += 1;
        let now = self.clock.now();
        let default_duration = self.settings.default_pod_duration;
        let mut unpullable = None;
        let _ = self.store.modify(PODS, &key.0, &key.1, |pod| {
            if meta_str(pod, "uid") != Some(uid) || str_at(pod, "status.phase") != Some("Pending") {
                return false;
            }
            let Some(image) = kubelet::unpullable_image(pod) else {
                return false;
            };
            kubelet::fail_image_pull(pod, &image, now);
            unpullable = Some(image);
            true
        });
        if let Some(image) = unpullable {
            let host = image.split('/').next().unwrap_or_default().to_owned();
            self.record_event(
                "Pod",
                "v1",
                &key.0,
                &key.1,
                uid,
                "Warning",
                "Failed",
                &format!(
                    "Failed to pull image \"{image}\": {}",
                    kubelet::pull_error_message(&image, &host)
                ),
                "kubelet",
            );
            return;
        }
        let mut run_for = None;
        let result = self.store.modify(PODS, &key.0, &key.1, |pod| {
            if meta_str(pod, "uid") != Some(uid) || str_at(pod, "status.phase") != Some("Pending") {
                return false;
            }
            kubelet::start(pod, &host_ip, &pod_ip, now);
            run_for = kubelet::run_duration(pod, default_duration);
            true
        });
        if result.is_ok()
            && let Some(duration) = run_for
        {
            if let Some(track) = self.pods.get_mut(key) {
                track.finish_scheduled = true;
            }
            self.schedule(duration, Timer::FinishPod(key.clone(), uid.to_owned()));
        }
    }

    fn finish_pod(&mut self, key: &Key, uid: &str) {
        let node_ready = self
            .pods
            .get(key)
            .filter(|t| t.uid == uid)
            .and_then(|t| t.node.as_ref())
            .and_then(|node| self.nodes.get(node))
            .is_some_and(|state| state.capacity.ready);
        if !node_ready {
            return;
        }
        let now = self.clock.now();
        let _ = self.store.modify(PODS, &key.0, &key.1, |pod| {
            if meta_str(pod, "uid") != Some(uid) || str_at(pod, "status.phase") != Some("Running") {
                return false;
            }
            let code = kubelet::exit_code(pod);
            kubelet::finish(pod, code, now, None);
            true
        });
    }

    // ---- node faults ----

    fn apply_fault(&mut self, fault: Fault) -> Result<Value, ApiError> {
        match fault {
            Fault::SpotInterruption { node, pool } => {
                let name = match (node, pool) {
                    (Some(node), _) => node,
                    (None, pool) => {
                        let candidates: Vec<String> = self
                            .nodes
                            .iter()
                            .filter(|(_, state)| {
                                let pool_config = state.pool.and_then(|p| self.pools().get(p));
                                match &pool {
                                    Some(wanted) => pool_config.is_some_and(|p| p.name == *wanted),
                                    None => pool_config
                                        .is_some_and(|p| p.capacity_type == CapacityType::Spot),
                                }
                            })
                            .map(|(name, _)| name.clone())
                            .collect();
                        let index =
                            usize::try_from(self.rng.below(candidates.len() as u64)).unwrap_or(0);
                        candidates.get(index).cloned().ok_or_else(|| {
                            ApiError::bad_request("no node matches the spot interruption")
                        })?
                    }
                };
                let failed = self.interrupt_node(&name)?;
                Ok(json!({"interrupted": name, "failedPods": failed}))
            }
            Fault::NodeFailure { node } => {
                self.fail_node(&node)?;
                Ok(json!({"failed": node}))
            }
            Fault::NodeRecovery { node } => {
                self.recover_node(&node)?;
                Ok(json!({"recovered": node}))
            }
            _ => Err(ApiError::bad_request("not a node fault")),
        }
    }

    fn pods_on(&self, node: &str) -> Vec<(Key, String)> {
        let mut pods: Vec<(Key, String)> = self
            .pods
            .iter()
            .filter(|(_, track)| track.node.as_deref() == Some(node) && !track.terminal)
            .map(|(key, track)| (key.clone(), track.uid.clone()))
            .collect();
        pods.sort();
        pods
    }

    fn interrupt_node(&mut self, name: &str) -> Result<Vec<String>, ApiError> {
        let node = self.store.get(NODES, "", name)?;
        let pool = self.nodes.get(name).and_then(|state| state.pool);
        let now = self.clock.now();
        let message = "Pod was terminated in response to imminent node shutdown.";
        let mut failed = Vec::new();
        for (key, uid) in self.pods_on(name) {
            let result = self.store.modify(PODS, &key.0, &key.1, |pod| {
                if meta_str(pod, "uid") != Some(uid.as_str()) {
                    return false;
                }
                kubelet::finish(
                    pod,
                    137,
                    now,
                    Some(("Terminated", message, "TerminationByKubelet", message)),
                );
                true
            });
            if result.is_ok() {
                failed.push(format!("{}/{}", key.0, key.1));
            }
        }
        let cloud = self.cluster.cloud.as_str();
        self.record_event(
            "Node",
            "v1",
            "default",
            name,
            &node.uid,
            "Warning",
            "SpotInterruption",
            &format!("{cloud} reclaimed spot instance {name}; the node is shutting down"),
            "gantry-sim",
        );
        let _ = self.store.delete(
            NODES,
            "",
            name,
            &DeleteOptions {
                propagation: Some(Propagation::Background),
                ..DeleteOptions::default()
            },
        );
        if let Some(pool) = pool {
            self.schedule(
                self.settings.node_replacement_delay,
                Timer::ReplaceNode(pool),
            );
        }
        Ok(failed)
    }

    fn fail_pods_of_vanished_node(&mut self, name: &str) {
        // PodGC: pods bound to a node that no longer exists fail.
        let now = self.clock.now();
        for (key, uid) in self.pods_on(name) {
            let _ = self.store.modify(PODS, &key.0, &key.1, |pod| {
                if meta_str(pod, "uid") != Some(uid.as_str())
                    || matches!(str_at(pod, "status.phase"), Some("Succeeded" | "Failed"))
                {
                    return false;
                }
                kubelet::finish(
                    pod,
                    137,
                    now,
                    Some((
                        "NodeLost",
                        "node no longer exists",
                        "DeletionByPodGC",
                        "PodGC: node no longer exists",
                    )),
                );
                true
            });
        }
    }

    fn fail_node(&mut self, name: &str) -> Result<(), ApiError> {
        let now = self.clock.now().to_rfc3339();
        self.store.modify(NODES, "", name, |node| {
            set_at(node, "status.conditions", nodes::node_conditions(false, &now));
            let taints = object_at_mut(node, "spec").entry("taints".to_owned()).or_insert(json!([]));
            if let Value::Array(items) = taints {
                for effect in ["NoSchedule", "NoExecute"] {
                    if !items.iter().any(|t| t.get("key").and_then(Value::as_str) == Some("node.kubernetes.io/unreachable") && t.get("effect").and_then(Value::as_str) == Some(effect)) {
                        items.push(json!({"key": "node.kubernetes.io/unreachable", "effect": effect, "timeAdded": now}));
                    }
                }
            }
            true
        })?;
        let generation = {
            let Some(state) = self.nodes.get_mut(name) else {
                return Ok(());
            };
            state.failed_generation += 1;
            state.capacity.ready = false;
            state.failed_generation
        };
        let sim_now = self.clock.now();
        for (key, uid) in self.pods_on(name) {
            let _ = self.store.modify(PODS, &key.0, &key.1, |pod| {
                meta_str(pod, "uid") == Some(uid.as_str())
                    && kubelet::mark_node_unreachable(pod, sim_now)
            });
        }
        self.schedule(
            Duration::from_secs(300),
            Timer::EvictLostNode(name.to_owned(), generation),
        );
        Ok(())
    }

    fn evict_lost_node(&mut self, name: &str, generation: u64) {
        let still_lost = self
            .nodes
            .get(name)
            .is_some_and(|state| !state.capacity.ready && state.failed_generation == generation);
        if !still_lost {
            return;
        }
        let now = self.clock.now();
        for (key, uid) in self.pods_on(name) {
            let message = format!(
                "Node {name} which was running pod {} is unresponsive",
                key.1
            );
            let _ = self.store.modify(PODS, &key.0, &key.1, |pod| {
                if meta_str(pod, "uid") != Some(uid.as_str()) {
                    return false;
                }
                kubelet::finish(
                    pod,
                    137,
                    now,
                    Some((
                        "NodeLost",
                        &message,
                        "DeletionByTaintManager",
                        "Taint manager: deleting due to NoExecute taint",
                    )),
                );
                true
            });
        }
    }

    fn recover_node(&mut self, name: &str) -> Result<(), ApiError> {
        let now = self.clock.now().to_rfc3339();
        self.store.modify(NODES, "", name, |node| {
            set_at(
                node,
                "status.conditions",
                nodes::node_conditions(true, &now),
            );
            if let Some(Value::Array(items)) = crate::object_meta::value_at_mut(node, "spec.taints")
            {
                items.retain(|t| {
                    t.get("key").and_then(Value::as_str) != Some("node.kubernetes.io/unreachable")
                });
            }
            true
        })?;
        if let Some(state) = self.nodes.get_mut(name) {
            state.capacity.ready = true;
            state.failed_generation += 1;
        }
        // Pods that waited on the lost kubelet go on: start or finish now.
        for (key, uid) in self.pods_on(name) {
            let Ok(pod) = self.store.get(PODS, &key.0, &key.1) else {
                continue;
            };
            match pod.field("status.phase").as_deref() {
                Some("Pending") => self.schedule(Duration::ZERO, Timer::StartPod(key, uid)),
                Some("Running") => {
                    let value = &*pod.tree;
                    let remaining = kubelet::run_duration(
                        value,
                        self.settings.default_pod_duration,
                    )
                    .map(|total| {
                        let started = str_at(value, "status.startTime")
                            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                            .map_or(0, |t| t.as_second());
                        let elapsed =
                            u64::try_from(self.clock.now().unix_seconds() - started).unwrap_or(0);
                        total.saturating_sub(Duration::from_secs(elapsed))
                    });
                    if let Some(remaining) = remaining {
                        self.schedule(remaining, Timer::FinishPod(key, uid));
                    }
                }
                _ => {}
            }
        }
        self.capacity_changed = true;
        Ok(())
    }

    fn draw_spot_interruptions(&mut self) {
        let mut victims = Vec::new();
        for (name, state) in &self.nodes {
            let Some(pool) = state.pool.and_then(|p| self.pools().get(p)) else {
                continue;
            };
            if pool.capacity_type != CapacityType::Spot {
                continue;
            }
            let rate = pool.interruption_rate_per_hour.unwrap_or(0.0);
            let probability = 1.0 - (-rate / 60.0).exp();
            victims.push((name.clone(), probability));
        }
        for (name, probability) in victims {
            if self.rng.chance(probability) {
                let _ = self.interrupt_node(&name);
            }
        }
    }

    // ---- events ----

    #[allow(clippy::too_many_arguments)]
    fn record_event(
        &self,
        kind: &str,
        api_version: &str,
        namespace: &str,
        name: &str,
        uid: &str,
        event_type: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let now = self.clock.now();
        let event_name = format!(
            "{name}.{:x}{}",
            now.unix_seconds(),
            self.store.random_suffix()
        );
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": {"kind": kind, "apiVersion": api_version, "namespace": if kind == "Node" { "" } else { namespace }, "name": name, "uid": uid},
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "",
            "firstTimestamp": now.to_rfc3339(),
            "lastTimestamp": now.to_rfc3339(),
            "eventTime": null,
            "count": 1,
        });
        let _ = self.store.create(EVENTS, namespace, event);
    }

    // ---- job controller ----

    fn reconcile_job(&mut self, key: &Key) {
        let Ok(object) = self.store.get(JOBS, &key.0, &key.1) else {
            return;
        };
        if object.deleting {
            return;
        }
        let job = &*object.tree;
        let uid = object.uid.clone();
        let now = self.clock.now();
        let finished = ["Complete", "Failed"]
            .iter()
            .any(|kind| condition_status(job, "status.conditions", kind) == Some("True"));
        let children: Vec<(Key, Arc<Value>)> = self
            .store
            .dependents(&uid)
            .into_iter()
            .filter(|(resource, _)| *resource == PODS)
            .map(|(_, pod)| ((pod.namespace.clone(), pod.name.clone()), pod.tree.clone()))
            .collect();
        let is_active = |pod: &Value| {
            !matches!(str_at(pod, "status.phase"), Some("Succeeded" | "Failed"))
                && value_at(pod, "metadata.deletionTimestamp").is_none()
        };
        let active: Vec<&(Key, Arc<Value>)> =
            children.iter().filter(|(_, pod)| is_active(pod)).collect();
        let track = self.jobs.entry(uid.clone()).or_default();
        let (succeeded, failed) = (track.succeeded, track.failed);
        let succeeded_indexes = track.succeeded_indexes.clone();
        if finished {
            self.delete_job_pods(&uid, &active);
            return;
        }
        let spec_int = |field: &str| value_at(job, field).and_then(Value::as_i64);
        let parallelism = spec_int("spec.parallelism").unwrap_or(1).max(0);
        let completions = spec_int("spec.completions");
        let backoff_limit = spec_int("spec.backoffLimit").unwrap_or(6);
        let indexed = str_at(job, "spec.completionMode") == Some("Indexed");
        let suspended = value_at(job, "spec.suspend").and_then(Value::as_bool) == Some(true);
        let mut status_changes: Vec<StatusChange> = Vec::new();
        let mut finish: Option<(&'static str, &'static str, String)> = None;
        if suspended {
            self.delete_job_pods(&uid, &active);
            let time = now.to_rfc3339();
            status_changes.push(Box::new(move |job: &mut Value| {
                let mut changed = set_condition(job, "status.conditions", json!({"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended", "lastProbeTime": time, "lastTransitionTime": time}));
                if value_at(job, "status.startTime").is_some() {
                    crate::object_meta::remove_at(job, "status.startTime");
                    changed = true;
                }
                changed
            }));
        } else {
            let time = now.to_rfc3339();
            status_changes.push(Box::new(move |job: &mut Value| {
                let mut changed = false;
                if condition_status(job, "status.conditions", "Suspended") == Some("True") {
                    changed |= set_condition(job, "status.conditions", json!({"type": "Suspended", "status": "False", "reason": "JobResumed", "message": "Job resumed", "lastProbeTime": time, "lastTransitionTime": time}));
                }
                if value_at(job, "status.startTime").is_none() {
                    set_at(job, "status.startTime", json!(time));
                    changed = true;
                }
                changed
            }));
            let started = str_at(job, "status.startTime")
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map_or(now.unix_seconds(), |t| t.as_second());
            let complete = match (indexed, completions) {
                (true, Some(total)) => (0..total).all(|index| succeeded_indexes.contains(&index)),
                (false, Some(total)) => succeeded >= total,
                (_, None) => succeeded >= 1 && active.is_empty(),
            };
            if let Some(deadline) = spec_int("spec.activeDeadlineSeconds") {
                let elapsed = now.unix_seconds() - started;
                if elapsed >= deadline && !complete {
                    finish = Some((
                        "Failed",
                        "DeadlineExceeded",
                        "Job was active longer than specified deadline".to_owned(),
                    ));
                } else if let Some(track) = self.jobs.get_mut(&uid)
                    && !track.deadline_scheduled
                {
                    track.deadline_scheduled = true;
                    let remaining = u64::try_from(deadline - elapsed).unwrap_or(0);
                    self.schedule(
                        Duration::from_secs(remaining),
                        Timer::JobDeadline(key.clone(), uid.clone()),
                    );
                }
            }
            if finish.is_none() && failed > backoff_limit {
                finish = Some((
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit".to_owned(),
                ));
            }
            if finish.is_none() && complete {
                finish = Some((
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods".to_owned(),
                ));
            }
            if finish.is_none() {
                self.create_job_pods(
                    key,
                    job,
                    &uid,
                    &active,
                    parallelism,
                    completions,
                    succeeded,
                    indexed,
                    &succeeded_indexes,
                );
            } else {
                self.delete_job_pods(&uid, &active);
            }
        }
        // Status.
        let children_now: Vec<Arc<Value>> = self
            .store
            .dependents(&uid)
            .into_iter()
            .filter(|(r, _)| *r == PODS)
            .map(|(_, p)| p.tree.clone())
            .collect();
        let active_count = children_now.iter().filter(|pod| is_active(pod)).count();
        let ready_count = children_now
            .iter()
            .filter(|pod| {
                is_active(pod)
                    && condition_status(pod, "status.conditions", "Ready") == Some("True")
            })
            .count();
        let terminating = children_now
            .iter()
            .filter(|pod| {
                value_at(pod, "metadata.deletionTimestamp").is_some()
                    && !matches!(str_at(pod, "status.phase"), Some("Succeeded" | "Failed"))
            })
            .count();
        let completed_indexes = if indexed {
            Some(format_indexes(&succeeded_indexes))
        } else {
            None
        };
        let time = now.to_rfc3339();
        let finish_for_status = finish.clone();
        let result = self.store.modify(JOBS, &key.0, &key.1, move |job| {
            let mut changed = false;
            for change in status_changes {
                changed |= change(job);
            }
            let status = object_at_mut(job, "status");
            for (field, value) in [
                ("active", json!(active_count)),
                ("succeeded", json!(succeeded)),
                ("failed", json!(failed)),
                ("ready", json!(ready_count)),
                ("terminating", json!(terminating)),
                ("uncountedTerminatedPods", json!({})),
            ] {
                let skip_zero = matches!(field, "active" | "succeeded" | "failed") && value == json!(0);
                if skip_zero {
                    if status.remove(field).is_some() {
                        changed = true;
                    }
                } else if status.get(field) != Some(&value) {
                    status.insert(field.to_owned(), value);
                    changed = true;
                }
            }
            if let Some(indexes) = &completed_indexes
                && !indexes.is_empty()
                && status.get("completedIndexes").and_then(Value::as_str) != Some(indexes)
            {
                status.insert("completedIndexes".to_owned(), json!(indexes));
                changed = true;
            }
            if let Some((kind, reason, message)) = &finish_for_status {
                let (pre, pre_reason) = if *kind == "Complete" { ("SuccessCriteriaMet", *reason) } else { ("FailureTarget", *reason) };
                set_condition(job, "status.conditions", json!({"type": pre, "status": "True", "reason": pre_reason, "message": message, "lastProbeTime": time, "lastTransitionTime": time}));
                set_condition(job, "status.conditions", json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastProbeTime": time, "lastTransitionTime": time}));
                if *kind == "Complete" {
                    set_at(job, "status.completionTime", json!(time));
                }
                changed = true;
            }
            changed
        });
        if let (Ok(_), Some((kind, reason, message))) = (result, finish) {
            let (event_type, event_reason) = if kind == "Complete" {
                ("Normal", "Completed")
            } else {
                ("Warning", reason)
            };
            let event_message = if kind == "Complete" {
                "Job completed".to_owned()
            } else {
                message
            };
            self.record_event(
                "Job",
                "batch/v1",
                &key.0,
                &key.1,
                &uid,
                event_type,
                event_reason,
                &event_message,
                "job-controller",
            );
        }
    }

    fn delete_job_pods(&mut self, job_uid: &str, active: &[&(Key, Arc<Value>)]) {
        for (pod_key, pod) in active {
            if let Some(track) = self.jobs.get_mut(job_uid) {
                track
                    .deleted_by_controller
                    .insert(meta_str(pod, "uid").unwrap_or_default().to_owned());
            }
            let _ = self
                .store
                .delete(PODS, &pod_key.0, &pod_key.1, &DeleteOptions::default());
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_job_pods(
        &mut self,
        key: &Key,
        job: &Value,
        uid: &str,
        active: &[&(Key, Arc<Value>)],
        parallelism: i64,
        completions: Option<i64>,
        succeeded: i64,
        indexed: bool,
        succeeded_indexes: &BTreeSet<i64>,
    ) {
        let active_count = i64::try_from(active.len()).unwrap_or(i64::MAX);
        let mut to_create: Vec<Option<i64>> = Vec::new();
        if indexed {
            let total = completions.unwrap_or(0);
            let active_indexes: BTreeSet<i64> = active
                .iter()
                .filter_map(|(_, pod)| {
                    value_at(pod, "metadata.annotations")
                        .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
                        .and_then(Value::as_str)
                        .and_then(|i| i.parse().ok())
                })
                .collect();
            let room = (parallelism - active_count).max(0);
            to_create = (0..total)
                .filter(|index| {
                    !succeeded_indexes.contains(index) && !active_indexes.contains(index)
                })
                .take(usize::try_from(room).unwrap_or(0))
                .map(Some)
                .collect();
        } else {
            let wanted = match completions {
                Some(total) => parallelism.min(total - succeeded).max(0),
                None if succeeded > 0 => 0,
                None => parallelism,
            };
            if wanted > active_count {
                to_create = vec![None; usize::try_from(wanted - active_count).unwrap_or(0)];
            } else if wanted < active_count {
                let extra: Vec<&(Key, Arc<Value>)> = active
                    .iter()
                    .rev()
                    .take(usize::try_from(active_count - wanted).unwrap_or(0))
                    .copied()
                    .collect();
                self.delete_job_pods(uid, &extra);
            }
        }
        let name = &key.1;
        for index in to_create {
            let mut template = value_at(job, "spec.template").cloned().unwrap_or(json!({}));
            let metadata = object_at_mut(&mut template, "metadata");
            metadata.insert(
                "generateName".to_owned(),
                json!(match index {
                    Some(i) => format!("{name}-{i}-"),
                    None => format!("{name}-"),
                }),
            );
            metadata.insert("namespace".to_owned(), json!(key.0));
            metadata.insert(
                "ownerReferences".to_owned(),
                json!([{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]),
            );
            if let Some(index) = index {
                object_at_mut(&mut template, "metadata.annotations").insert(
                    "batch.kubernetes.io/job-completion-index".to_owned(),
                    json!(index.to_string()),
                );
                object_at_mut(&mut template, "metadata.labels").insert(
                    "batch.kubernetes.io/job-completion-index".to_owned(),
                    json!(index.to_string()),
                );
                let spec = object_at_mut(&mut template, "spec");
                spec.insert("hostname".to_owned(), json!(format!("{name}-{index}")));
                spec.entry("subdomain".to_owned()).or_insert(json!(name));
                if let Some(Value::Array(containers)) = spec.get_mut("containers") {
                    for container in containers {
                        let env = crate::object_meta::ensure_object(container)
                            .entry("env".to_owned())
                            .or_insert(json!([]));
                        if let Value::Array(env) = env {
                            env.push(json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}));
                        }
                    }
                }
            }
            let top = crate::object_meta::ensure_object(&mut template);
            top.insert("apiVersion".to_owned(), json!("v1"));
            top.insert("kind".to_owned(), json!("Pod"));
            if let Ok(pod) = self.store.create(PODS, &key.0, template) {
                self.record_event(
                    "Job",
                    "batch/v1",
                    &key.0,
                    name,
                    uid,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("Created pod: {}", pod.name),
                    "job-controller",
                );
            }
        }
    }

    // ---- deployment controller ----

    fn reconcile_deployment(&mut self, key: &Key) {
        let Ok(object) = self.store.get(DEPLOYMENTS, &key.0, &key.1) else {
            return;
        };
        if object.deleting {
            return;
        }
        let deployment = &*object.tree;
        let uid = object.uid.clone();
        let desired = value_at(deployment, "spec.replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0);
        let template = value_at(deployment, "spec.template")
            .cloned()
            .unwrap_or(json!({}));
        let hash = template_hash(&template);
        let children: Vec<(Key, Arc<Value>)> = self
            .store
            .dependents(&uid)
            .into_iter()
            .filter(|(resource, _)| *resource == PODS)
            .map(|(_, pod)| ((pod.namespace.clone(), pod.name.clone()), pod.tree.clone()))
            .collect();
        let mut live = Vec::new();
        for (pod_key, pod) in &children {
            let deleting = value_at(pod, "metadata.deletionTimestamp").is_some();
            let terminal = matches!(str_at(pod, "status.phase"), Some("Succeeded" | "Failed"));
            let current =
                string_map_at(pod, "metadata.labels").get("pod-template-hash") == Some(&hash);
            if deleting {
                continue;
            }
            if terminal || !current {
                // Failed pods are replaced; old-template pods are recreated.
                let _ = self
                    .store
                    .delete(PODS, &pod_key.0, &pod_key.1, &DeleteOptions::default());
                continue;
            }
            live.push((pod_key.clone(), pod.clone()));
        }
        let live_count = i64::try_from(live.len()).unwrap_or(i64::MAX);
        if live_count > desired {
            for (pod_key, _) in live
                .iter()
                .rev()
                .take(usize::try_from(live_count - desired).unwrap_or(0))
            {
                let _ = self
                    .store
                    .delete(PODS, &pod_key.0, &pod_key.1, &DeleteOptions::default());
            }
        }
        for _ in live_count..desired {
            let mut pod = template.clone();
            let metadata = object_at_mut(&mut pod, "metadata");
            metadata.insert(
                "generateName".to_owned(),
                json!(format!("{}-{hash}-", key.1)),
            );
            metadata.insert("namespace".to_owned(), json!(key.0));
            metadata.insert(
                "ownerReferences".to_owned(),
                json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": key.1, "uid": uid, "controller": true, "blockOwnerDeletion": true}]),
            );
            object_at_mut(&mut pod, "metadata.labels")
                .insert("pod-template-hash".to_owned(), json!(hash));
            let top = crate::object_meta::ensure_object(&mut pod);
            top.insert("apiVersion".to_owned(), json!("v1"));
            top.insert("kind".to_owned(), json!("Pod"));
            let _ = self.store.create(PODS, &key.0, pod);
        }
        let pods_now: Vec<Arc<Value>> = self
            .store
            .dependents(&uid)
            .into_iter()
            .filter(|(r, _)| *r == PODS)
            .map(|(_, p)| p.tree.clone())
            .collect();
        let counted: Vec<&Value> = pods_now
            .iter()
            .map(|pod| &**pod)
            .filter(|pod| {
                value_at(pod, "metadata.deletionTimestamp").is_none()
                    && !matches!(str_at(pod, "status.phase"), Some("Succeeded" | "Failed"))
            })
            .collect();
        let replicas = counted.len();
        let updated = counted
            .iter()
            .filter(|pod| {
                string_map_at(pod, "metadata.labels").get("pod-template-hash") == Some(&hash)
            })
            .count();
        let ready = counted
            .iter()
            .filter(|pod| condition_status(pod, "status.conditions", "Ready") == Some("True"))
            .count();
        let generation = value_at(deployment, "metadata.generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let time = self.clock.now().to_rfc3339();
        let desired_usize = usize::try_from(desired).unwrap_or(0);
        let _ = self.store.modify(DEPLOYMENTS, &key.0, &key.1, move |deployment| {
            let mut changed = false;
            let status = object_at_mut(deployment, "status");
            for (field, value) in [
                ("observedGeneration", json!(generation)),
                ("replicas", json!(replicas)),
                ("updatedReplicas", json!(updated)),
                ("readyReplicas", json!(ready)),
                ("availableReplicas", json!(ready)),
                ("unavailableReplicas", json!(desired_usize.saturating_sub(ready))),
            ] {
                if value == json!(0) && field != "observedGeneration" {
                    if status.remove(field).is_some() {
                        changed = true;
                    }
                } else if status.get(field) != Some(&value) {
                    status.insert(field.to_owned(), value);
                    changed = true;
                }
            }
            let available = ready >= desired_usize;
            changed |= set_condition(deployment, "status.conditions", json!({
                "type": "Available",
                "status": if available { "True" } else { "False" },
                "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." },
                "lastUpdateTime": time, "lastTransitionTime": time,
            }));
            let complete = updated == desired_usize && ready >= desired_usize;
            changed |= set_condition(deployment, "status.conditions", json!({
                "type": "Progressing",
                "status": "True",
                "reason": if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
                "message": if complete { "Deployment has successfully progressed." } else { "Deployment is progressing." },
                "lastUpdateTime": time, "lastTransitionTime": time,
            }));
            changed
        });
    }
}

/// One edit of a Job's status, applied in the controller's single write.
type StatusChange = Box<dyn FnOnce(&mut Value) -> bool>;

fn owner_of(pod: &Value) -> Option<(OwnerKind, Key, String)> {
    let namespace = meta_str(pod, "namespace").unwrap_or_default().to_owned();
    value_at(pod, "metadata.ownerReferences")?
        .as_array()?
        .iter()
        .find_map(|owner| {
            if owner.get("controller").and_then(Value::as_bool) != Some(true) {
                return None;
            }
            let kind = match (
                owner.get("apiVersion")?.as_str()?,
                owner.get("kind")?.as_str()?,
            ) {
                ("batch/v1", "Job") => OwnerKind::Job,
                ("apps/v1", "Deployment") => OwnerKind::Deployment,
                _ => return None,
            };
            Some((
                kind,
                (namespace.clone(), owner.get("name")?.as_str()?.to_owned()),
                owner.get("uid")?.as_str()?.to_owned(),
            ))
        })
}

fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| {
            let index = usize::try_from((hash >> (i * 6)) % ALPHABET.len() as u64).unwrap_or(0);
            ALPHABET.get(index).copied().map_or('x', char::from)
        })
        .collect()
}

/// `0-2,4,6-7`, as `status.completedIndexes` is written.
fn format_indexes(indexes: &BTreeSet<i64>) -> String {
    let mut parts = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
