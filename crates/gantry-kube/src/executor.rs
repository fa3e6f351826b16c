//! The executor's public face: start it over the configured clusters, send
//! it launches and cancels, read its events and each cluster's view
//! (health and inventory).
//!
//! Protocol with the control loop:
//! 1. `Executor::start` connects to every cluster (a bad kubeconfig fails
//!    here, naming the cluster; an unreachable cluster does not: it is
//!    reported Lost later and retried for ever).
//! 2. The control loop calls [`Executor::set_desired`] once per cluster with
//!    every attempt it believes runs there (`Run`) or finished there recently
//!    (`Keep`). Until then nothing is created or collected: the executor
//!    adopts what it finds and waits.
//! 3. From then on, [`Executor::launch`] and [`Executor::cancel`]. A launch is
//!    idempotent (create-if-absent; AlreadyExists with Gantry's labels is
//!    adoption) and retried by reconciliation until the objects exist; a cancel
//!    deletes with foreground propagation.
//! 4. Events arrive on the channel given to `start`: phases move forward only,
//!    and each attempt ends with exactly one final phase (Succeeded, Failed,
//!    Preempted) or a `LaunchFailed`, unless cancelled.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_core::{Cloud, JobSpec, Money, PriceTable};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::client::{ConnectError, connect};
use crate::cluster::ClusterTask;
use crate::inventory::{Inventory, LivePricing, PoolCatalog};
use crate::names::WorkloadKey;
use crate::observe::{ContainerExit, Phase};
use crate::progress::Graces;
use crate::render::Target;
use crate::resilience::{Health, RetryPolicy};

/// How to reach one cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSpec {
    /// Gantry's name for it.
    pub name: String,
    /// Its cloud.
    pub cloud: Cloud,
    /// Its region.
    pub region: String,
    /// Kubeconfig file.
    pub kubeconfig: PathBuf,
    /// Context in it (`None`: the file's current context).
    pub context: Option<String>,
    /// A `gantry-sim` cluster: rendered pods carry the simulated run time.
    pub simulated: bool,
    /// Namespace of Gantry's objects (created when absent and allowed).
    pub namespace: String,
    /// Prices per node-hour by node pool name, overriding the price table.
    pub price_overrides: BTreeMap<String, Money>,
}

/// Timings and limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExecutorSettings {
    /// A cluster with no successful call for this long is Lost.
    pub lost_after: Duration,
    /// An orphan is deleted after being one for this long.
    pub orphan_grace: Duration,
    /// How often everything is reconciled.
    pub reconcile_every: Duration,
    /// How often the API server is probed.
    pub probe_every: Duration,
    /// How long launching problems may last.
    pub graces: Graces,
    /// Retries of one call.
    pub retry: RetryPolicy,
    /// Delays between tries of a failed watch (retried for ever).
    pub watch_backoff: RetryPolicy,
    /// Failures in a row that open the breaker.
    pub breaker_threshold: u32,
    /// How long it stays open.
    pub breaker_cooldown: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// A cluster counts as degraded for this long after a failed call.
    pub degraded_for: Duration,
    /// Shortest time between inventory rebuilds.
    pub inventory_every: Duration,
}

impl Default for ExecutorSettings {
    fn default() -> ExecutorSettings {
        ExecutorSettings {
            lost_after: Duration::from_secs(60),
            orphan_grace: Duration::from_secs(300),
            reconcile_every: Duration::from_secs(30),
            probe_every: Duration::from_secs(10),
            graces: Graces::default(),
            retry: RetryPolicy::default(),
            watch_backoff: RetryPolicy {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(10),
                ..RetryPolicy::default()
            },
            breaker_threshold: 8,
            breaker_cooldown: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            degraded_for: Duration::from_secs(60),
            inventory_every: Duration::from_millis(200),
        }
    }
}

/// One attempt to launch.
#[derive(Clone, Debug)]
pub struct LaunchRequest {
    /// Job and attempt.
    pub key: WorkloadKey,
    /// The job.
    pub spec: Arc<JobSpec>,
    /// Where.
    pub target: Target,
}

/// What the control loop wants of one attempt on one cluster.
#[derive(Clone, Debug)]
pub enum Desired {
    /// It should run: create it if absent, adopt it if present.
    Run(LaunchRequest),
    /// It finished: keep its objects, never re-create them.
    Keep(WorkloadKey),
}

impl Desired {
    /// The attempt.
    pub fn key(&self) -> &WorkloadKey {
        match self {
            Desired::Run(request) => &request.key,
            Desired::Keep(key) => key,
        }
    }
}

/// What the executor tells the rest of Gantry.
#[derive(Clone, Debug, PartialEq)]
pub enum ExecutorEvent {
    /// A workload reached a phase.
    Phase {
        /// Cluster.
        cluster: String,
        /// Attempt.
        key: WorkloadKey,
        /// Phase reached.
        phase: Phase,
        /// Machine word (`Completed`, `OOMKilled`, `SpotInterruption`, ...).
        reason: String,
        /// The cluster's words.
        message: String,
        /// Every terminated container so far.
        exits: Vec<ContainerExit>,
        /// When (the cluster's timestamp where it gives one, else when seen).
        at: Timestamp,
        /// Implied by a later phase rather than observed.
        synthesized: bool,
    },
    /// Something is wrong but the attempt goes on (for now).
    Warning {
        /// Cluster.
        cluster: String,
        /// Attempt.
        key: WorkloadKey,
        /// Machine word (`ImagePullError`, `Unschedulable`, `LaunchRetrying`).
        reason: String,
        /// Details.
        message: String,
    },
    /// The attempt cannot run here: its objects are deleted. With `requeue`,
    /// the capacity went away (place it again); else the job itself is at
    /// fault (a bad image, a refused object).
    LaunchFailed {
        /// Cluster.
        cluster: String,
        /// Attempt.
        key: WorkloadKey,
        /// Machine word.
        reason: String,
        /// Details.
        message: String,
        /// Place it again rather than fail it.
        requeue: bool,
    },
    /// Objects of a wanted attempt were found and taken over.
    Adopted {
        /// Cluster.
        cluster: String,
        /// Attempt.
        key: WorkloadKey,
    },
    /// An object no one wants was deleted after the grace period.
    OrphanDeleted {
        /// Cluster.
        cluster: String,
        /// `Job`, `Deployment`, `Service`.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// What its labels named, if anything.
        key: Option<WorkloadKey>,
    },
    /// A cluster's health changed.
    Health {
        /// Cluster.
        cluster: String,
        /// New health.
        health: Health,
        /// Why.
        reason: String,
    },
    /// A cluster was lost with this attempt on it (sent once per loss).
    WorkloadLost {
        /// Cluster.
        cluster: String,
        /// Attempt.
        key: WorkloadKey,
        /// Why.
        reason: String,
    },
}

/// What the executor knows of one cluster now.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterView {
    /// The cluster.
    pub cluster: String,
    /// Its cloud.
    pub cloud: Cloud,
    /// Its region.
    pub region: String,
    /// Health.
    pub health: Health,
    /// Why.
    pub health_reason: String,
    /// Nodes and pods have been listed at least once.
    pub synced: bool,
    /// Pools.
    pub inventory: Inventory,
    /// When the inventory was built.
    pub updated_at: Timestamp,
}

/// What the executor cannot do.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// A cluster's client could not be made.
    #[error("cluster {cluster}: cannot connect")]
    Connect {
        /// Cluster.
        cluster: String,
        /// Cause.
        #[source]
        source: ConnectError,
    },
    /// No cluster has that name.
    #[error("no cluster is named {name}")]
    UnknownCluster {
        /// The name.
        name: String,
    },
    /// The cluster's task has stopped.
    #[error("the executor of cluster {cluster} has stopped")]
    Stopped {
        /// Cluster.
        cluster: String,
    },
}

/// A command to a cluster's task.
#[derive(Debug)]
pub(crate) enum Command {
    Launch(LaunchRequest),
    Cancel(WorkloadKey),
    SetDesired(Vec<Desired>),
}

#[derive(Debug)]
struct ClusterHandle {
    commands: mpsc::UnboundedSender<Command>,
    view: watch::Receiver<Arc<ClusterView>>,
    task: JoinHandle<()>,
}

/// What the clouds' own APIs know better than the price table about every
/// cluster's pools; each is asked from memory at every inventory build.
#[derive(Clone, Debug, Default)]
pub struct CloudFeeds {
    /// Live prices, asked before the table (see [`LivePricing`]).
    pub prices: Option<Arc<dyn LivePricing>>,
    /// Instance catalogs, to check each pool's shape against (see [`PoolCatalog`]).
    pub catalog: Option<Arc<dyn PoolCatalog>>,
}

/// The executor over every configured cluster.
#[derive(Debug)]
pub struct Executor {
    clusters: BTreeMap<String, ClusterHandle>,
    shutdown: watch::Sender<bool>,
}

impl Executor {
    /// Connects to every cluster and starts watching them; events go to `events`.
    pub async fn start(
        clusters: Vec<ClusterSpec>,
        settings: ExecutorSettings,
        prices: Arc<PriceTable>,
        events: mpsc::UnboundedSender<ExecutorEvent>,
    ) -> Result<Executor, ExecutorError> {
        Executor::start_with_feeds(clusters, settings, prices, CloudFeeds::default(), events).await
    }

    /// [`Executor::start`], with the clouds' live prices asked before the
    /// table and their catalogs checking every pool (see [`CloudFeeds`]).
    pub async fn start_with_feeds(
        clusters: Vec<ClusterSpec>,
        settings: ExecutorSettings,
        prices: Arc<PriceTable>,
        feeds: CloudFeeds,
        events: mpsc::UnboundedSender<ExecutorEvent>,
    ) -> Result<Executor, ExecutorError> {
        let (shutdown, _) = watch::channel(false);
        let mut handles = BTreeMap::new();
        for (index, spec) in clusters.into_iter().enumerate() {
            let client = connect(
                &spec.kubeconfig,
                spec.context.as_deref(),
                settings.connect_timeout,
            )
            .await
            .map_err(|source| ExecutorError::Connect {
                cluster: spec.name.clone(),
                source,
            })?;
            let (commands, receiver) = mpsc::unbounded_channel();
            let (view_sender, view) = watch::channel(Arc::new(ClusterView {
                cluster: spec.name.clone(),
                cloud: spec.cloud,
                region: spec.region.clone(),
                health: Health::Reachable,
                health_reason: "not probed yet".to_owned(),
                synced: false,
                inventory: Inventory::default(),
                updated_at: Timestamp::now(),
            }));
            let name = spec.name.clone();
            let task = ClusterTask::new(
                spec,
                client,
                settings,
                (prices.clone(), feeds.clone()),
                events.clone(),
                view_sender,
                0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(index as u64 + 1),
            );
            let join = tokio::spawn(task.run(receiver, shutdown.subscribe()));
            handles.insert(
                name,
                ClusterHandle {
                    commands,
                    view,
                    task: join,
                },
            );
        }
        Ok(Executor {
            clusters: handles,
            shutdown,
        })
    }

    fn handle(&self, cluster: &str) -> Result<&ClusterHandle, ExecutorError> {
        self.clusters
            .get(cluster)
            .ok_or_else(|| ExecutorError::UnknownCluster {
                name: cluster.to_owned(),
            })
    }

    fn send(&self, cluster: &str, command: Command) -> Result<(), ExecutorError> {
        self.handle(cluster)?
            .commands
            .send(command)
            .map_err(|_| ExecutorError::Stopped {
                cluster: cluster.to_owned(),
            })
    }

    /// The clusters' names.
    pub fn cluster_names(&self) -> impl Iterator<Item = &str> {
        self.clusters.keys().map(String::as_str)
    }

    /// Launches an attempt on `request.target.cluster`.
    pub fn launch(&self, request: LaunchRequest) -> Result<(), ExecutorError> {
        let cluster = request.target.cluster.clone();
        self.send(&cluster, Command::Launch(request))
    }

    /// Cancels an attempt: deletes its objects (foreground) and reports nothing more for it.
    pub fn cancel(&self, cluster: &str, key: WorkloadKey) -> Result<(), ExecutorError> {
        self.send(cluster, Command::Cancel(key))
    }

    /// Says what should be on `cluster`: everything else labelled as Gantry's
    /// becomes an orphan. Call once per cluster at startup (it enables
    /// re-creation and orphan collection), and again whenever the whole
    /// picture is rebuilt.
    pub fn set_desired(&self, cluster: &str, desired: Vec<Desired>) -> Result<(), ExecutorError> {
        self.send(cluster, Command::SetDesired(desired))
    }

    /// What the executor knows of `cluster` now.
    pub fn view(&self, cluster: &str) -> Result<Arc<ClusterView>, ExecutorError> {
        Ok(self.handle(cluster)?.view.borrow().clone())
    }

    /// Every cluster's view.
    pub fn views(&self) -> Vec<Arc<ClusterView>> {
        self.clusters
            .values()
            .map(|handle| handle.view.borrow().clone())
            .collect()
    }

    /// A receiver that changes whenever `cluster`'s view does.
    pub fn subscribe(
        &self,
        cluster: &str,
    ) -> Result<watch::Receiver<Arc<ClusterView>>, ExecutorError> {
        Ok(self.handle(cluster)?.view.clone())
    }

    /// Stops every cluster's task (objects in the clusters are left as they are).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for (_, handle) in self.clusters {
            let _ = handle.task.await;
        }
    }
}
