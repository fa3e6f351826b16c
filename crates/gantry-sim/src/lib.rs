//! Simulated Kubernetes clusters that serve the real Kubernetes REST API over
//! HTTP on loopback, with GPU node pools, a scheduler, a kubelet, job and
//! deployment controllers, and fault injection.
//!
//! [`SimFleet::start`] starts one cluster per `simulated` entry of a
//! [`gantry_core::FleetConfig`], each on its own `127.0.0.1` port; clients
//! (kube-rs, kubectl, the Python client) reach them through the kubeconfig
//! from [`SimFleet::kubeconfig`].
//!
//! Architecture invariants:
//! - Knows nothing of Gantry's scheduler or jobs: it is a cluster, nothing else.
//! - Every object lives in the cluster's [`store`] as JSON; the API server and
//!   the controllers ([`engine`]) change it only through the store, whose
//!   protocol (one lock, one resourceVersion counter, events published under
//!   the lock) is in its module docs.
//! - Time and randomness are inputs: a [`clock::SimClock`] on tokio's clock
//!   (so `start_paused` tests drive it) and a seeded [`rng::SimRng`].
//! - Nothing derived from a request panics: failures are `metav1.Status`
//!   objects ([`api_error::ApiError`]).
//!
//! Deliberately absent: authentication and RBAC, protobuf, CRDs, websockets
//! (`exec`, `attach`, `port-forward`), ReplicaSets (a Deployment owns its
//! pods directly, named `<deployment>-<template-hash>-<suffix>`, and a new
//! template replaces all pods at once), historical reads (`resourceVersion`
//! on GET/LIST is accepted and the current state served), dry run, and field
//! validation (kubectl is told via OpenAPI v3 that the server validates, and
//! unknown fields are kept).

pub mod admission;
pub mod api_error;
pub mod api_server;
pub mod clock;
pub mod discovery;
pub mod engine;
pub mod faults;
pub mod kubeconfig;
pub mod kubelet;
pub mod nodes;
pub mod object_meta;
pub mod patch;
pub mod resources;
pub mod rng;
pub mod scheduler;
pub mod selectors;
pub mod store;
pub mod table;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::serve::ListenerExt;
use gantry_core::{ClusterAccess, ClusterConfig, FleetConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use api_error::ApiError;
pub use clock::{SimClock, SimTime};
pub use faults::Fault;

use api_server::{ClusterShared, ServeState};
use engine::{Engine, EngineSettings};
use faults::ApiFaults;
use store::Store;

/// What can fail when starting or driving simulated clusters.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The fleet has no simulated cluster.
    #[error("the fleet config has no simulated cluster")]
    NoSimulatedClusters,
    /// A listener could not be bound.
    #[error("cannot listen for cluster {cluster}")]
    Bind {
        /// Cluster.
        cluster: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}")]
    WriteKubeconfig {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// No cluster has that name.
    #[error("no simulated cluster is named {name}")]
    UnknownCluster {
        /// The name.
        name: String,
    },
    /// The API refused the fault.
    #[error("fault refused")]
    Fault(#[source] ApiError),
}

/// How clusters run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Simulated seconds per real second; `None` takes the fleet config's.
    pub time_scale: Option<f64>,
    /// Simulated wall time at start; `None` is the system time.
    pub origin: Option<SimTime>,
    /// Seed of every random draw (cluster `i` uses `seed + i`).
    pub seed: u64,
    /// Events the watch history keeps per cluster.
    pub watch_history: usize,
    /// Real time between watch bookmarks.
    pub bookmark_interval: Duration,
    /// Spot nodes are interrupted at random at their pool's rate.
    pub random_spot_interruptions: bool,
    /// Simulated delay before a reclaimed spot node is replaced.
    pub node_replacement_delay: Duration,
    /// Record Scheduled events (one per pod; off for scale runs).
    pub record_scheduling_events: bool,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            time_scale: None,
            origin: None,
            seed: 0x5eed,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(5),
            random_spot_interruptions: false,
            node_replacement_delay: Duration::from_secs(120),
            record_scheduling_events: true,
        }
    }
}

/// One running simulated cluster.
#[derive(Debug)]
pub struct SimCluster {
    name: String,
    address: SocketAddr,
    shared: Arc<ClusterShared>,
    server: Mutex<Option<JoinHandle<()>>>,
    engine: Mutex<Option<JoinHandle<()>>>,
    listening: watch::Receiver<bool>,
}

impl SimCluster {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The listening address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The cluster's object store (read access for tests and embedders).
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Injects a fault (the same as `POST /sim/v1/faults`).
    pub async fn inject(&self, fault: Fault) -> Result<serde_json::Value, SimError> {
        self.shared.inject(fault).await.map_err(SimError::Fault)
    }

    /// Closes the listener and open connections until [`SimCluster::come_back`].
    pub fn go_dark(&self) {
        self.shared.serving.send_if_modified(|state| {
            let changed = *state == ServeState::Up;
            if changed {
                *state = ServeState::Dark;
            }
            changed
        });
    }

    /// Listens again on the same address after [`SimCluster::go_dark`].
    pub fn come_back(&self) {
        self.shared.come_back();
    }

    /// Waits until the listener is open (`true`) or closed (`false`).
    pub async fn wait_serving(&self, listening: bool) {
        let mut receiver = self.listening.clone();
        let _ = receiver.wait_for(|open| *open == listening).await;
    }
}

/// Simulated clusters of a fleet.
#[derive(Debug)]
pub struct SimFleet {
    clusters: Vec<Arc<SimCluster>>,
    shutdown: watch::Sender<bool>,
}

impl SimFleet {
    /// Starts every simulated cluster of `config` on its own loopback port.
    pub async fn start(config: &FleetConfig, options: SimOptions) -> Result<SimFleet, SimError> {
        let (shutdown, _) = watch::channel(false);
        let mut clusters = Vec::new();
        let time_scale = options.time_scale.unwrap_or(config.simulation.time_scale);
        let clock = match options.origin {
            Some(origin) => SimClock::new(origin, time_scale),
            None => SimClock::starting_at_system_time(time_scale),
        };
        for (index, cluster) in config.clusters.iter().enumerate() {
            if !matches!(cluster.access, ClusterAccess::Simulated { .. }) {
                continue;
            }
            let seed = options.seed.wrapping_add(index as u64);
            let sim = start_cluster(
                cluster,
                clock.clone(),
                config.simulation.default_pod_duration,
                &options,
                seed,
                shutdown.subscribe(),
            )
            .await?;
            clusters.push(Arc::new(sim));
        }
        if clusters.is_empty() {
            return Err(SimError::NoSimulatedClusters);
        }
        Ok(SimFleet { clusters, shutdown })
    }

    /// The clusters, in config order.
    pub fn clusters(&self) -> &[Arc<SimCluster>] {
        &self.clusters
    }

    /// A cluster by name.
    pub fn cluster(&self, name: &str) -> Result<&Arc<SimCluster>, SimError> {
        self.clusters
            .iter()
            .find(|cluster| cluster.name == name)
            .ok_or_else(|| SimError::UnknownCluster {
                name: name.to_owned(),
            })
    }

    /// The kubeconfig text: one context per cluster, named after it.
    pub fn kubeconfig(&self) -> String {
        let entries: Vec<(String, String)> = self
            .clusters
            .iter()
            .map(|c| (c.name.clone(), c.base_url()))
            .collect();
        kubeconfig::kubeconfig(&entries)
    }

    /// Writes the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| SimError::WriteKubeconfig {
                path: path.display().to_string(),
                source,
            })?;
        }
        std::fs::write(path, self.kubeconfig()).map_err(|source| SimError::WriteKubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// Stops every cluster: listeners close, watches end, controllers stop.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for cluster in &self.clusters {
            cluster.shared.serving.send_replace(ServeState::Shutdown);
        }
        for cluster in &self.clusters {
            let server = cluster
                .server
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(server) = server {
                let _ = server.await;
            }
            let engine = cluster
                .engine
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(engine) = engine {
                let _ = engine.await;
            }
        }
    }
}

async fn start_cluster(
    cluster: &ClusterConfig,
    clock: SimClock,
    default_pod_duration: Duration,
    options: &SimOptions,
    seed: u64,
    shutdown: watch::Receiver<bool>,
) -> Result<SimCluster, SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|source| SimError::Bind {
            cluster: cluster.name.clone(),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| SimError::Bind {
        cluster: cluster.name.clone(),
        source,
    })?;
    let (store, events) = Store::new(clock, seed, options.watch_history);
    let (engine_sender, engine_commands) = mpsc::unbounded_channel();
    let (drop_watches, _) = watch::channel(0u64);
    let (serving, _) = watch::channel(ServeState::Up);
    let shared = Arc::new(ClusterShared {
        name: cluster.name.clone(),
        store: store.clone(),
        api_faults: Mutex::new(ApiFaults::default()),
        fault_rng: Mutex::new(rng::SimRng::seeded(seed ^ 0xfa17)),
        drop_watches,
        serving,
        engine: engine_sender,
        bookmark_interval: options.bookmark_interval,
    });
    let settings = EngineSettings {
        default_pod_duration,
        random_spot_interruptions: options.random_spot_interruptions,
        node_replacement_delay: options.node_replacement_delay,
        container_start_delay: Duration::from_secs(1),
        record_events: options.record_scheduling_events,
    };
    let mut engine = Engine::new(cluster.clone(), store, settings, seed ^ 0xe9);
    engine.create_nodes();
    let engine_task = tokio::spawn(engine.run(events, engine_commands, shutdown));
    let (listening_sender, listening) = watch::channel(true);
    let server_task = tokio::spawn(serve(shared.clone(), listener, address, listening_sender));
    Ok(SimCluster {
        name: cluster.name.clone(),
        address,
        shared,
        server: Mutex::new(Some(server_task)),
        engine: Mutex::new(Some(engine_task)),
        listening,
    })
}

/// Serves until shutdown; goes dark (listener dropped) and comes back on request.
async fn serve(
    shared: Arc<ClusterShared>,
    listener: TcpListener,
    address: SocketAddr,
    listening: watch::Sender<bool>,
) {
    let mut listener = Some(listener);
    let mut state = shared.serving.subscribe();
    loop {
        let current = listener.take();
        let Some(current) = current else { break };
        let _ = listening.send(true);
        let mut stop = shared.serving.subscribe();
        let router = api_server::router(shared.clone());
        // As a real API server: small answers go out at once, without
        // Nagle's wait for the client's delayed ACK.
        let current = current.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let served = axum::serve(current, router).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|state| *state != ServeState::Up).await;
        });
        if let Err(error) = served.await {
            tracing::warn!(cluster = %shared.name, %error, "server stopped");
        }
        let _ = listening.send(false);
        // Dark or shut down: wait to come back.
        let next = state
            .wait_for(|state| *state != ServeState::Dark)
            .await
            .map(|state| *state);
        match next {
            Ok(ServeState::Up) => {
                // Rebind the same port; retry briefly if the old socket lingers.
                for _ in 0..100 {
                    match TcpListener::bind(address).await {
                        Ok(rebound) => {
                            listener = Some(rebound);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
            _ => break,
        }
    }
}
