//! A simulated fleet, an executor over it through the kubeconfig the fleet
//! writes, and helpers to wait for events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gantry_core::{ClusterAccess, FleetConfig, JobId, JobSpec, PriceTable};
use gantry_kube::{
    ClusterSpec, Desired, Executor, ExecutorEvent, ExecutorSettings, LaunchRequest, Phase, Target,
    WorkloadKey,
};
use gantry_sim::{SimFleet, SimOptions};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use tokio::sync::mpsc;

pub const NAMESPACE: &str = "gantry";

pub fn dev_fleet_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/fleet-dev.yaml"
    ))
    .unwrap()
}

pub fn price_table() -> Arc<PriceTable> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/prices/gpu-prices.csv"
    ))
    .unwrap();
    Arc::new(PriceTable::parse(&text).unwrap().table)
}

/// Settings short enough for tests.
pub fn fast_settings() -> ExecutorSettings {
    ExecutorSettings {
        lost_after: Duration::from_secs(2),
        orphan_grace: Duration::from_millis(500),
        reconcile_every: Duration::from_millis(200),
        probe_every: Duration::from_millis(100),
        degraded_for: Duration::from_secs(2),
        watch_backoff: gantry_kube::resilience::RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            ..gantry_kube::resilience::RetryPolicy::default()
        },
        ..ExecutorSettings::default()
    }
}

pub struct Harness {
    pub config: FleetConfig,
    pub fleet: SimFleet,
    pub kubeconfig: PathBuf,
    pub executor: Option<Executor>,
    pub events: mpsc::UnboundedReceiver<ExecutorEvent>,
    pub seen: Vec<ExecutorEvent>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start(fleet_text: &str, settings: ExecutorSettings) -> Harness {
        let config = gantry_spec::parse_config(fleet_text).unwrap();
        let fleet = SimFleet::start(
            &config,
            SimOptions {
                time_scale: Some(360.0),
                bookmark_interval: Duration::from_millis(200),
                ..SimOptions::default()
            },
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        fleet.write_kubeconfig(&kubeconfig).unwrap();
        let (sender, events) = mpsc::unbounded_channel();
        let executor = Executor::start(
            cluster_specs(&config, &kubeconfig),
            settings,
            price_table(),
            sender,
        )
        .await
        .unwrap();
        Harness {
            config,
            fleet,
            kubeconfig,
            executor: Some(executor),
            events,
            seen: Vec::new(),
            _dir: dir,
        }
    }

    pub fn executor(&self) -> &Executor {
        self.executor.as_ref().unwrap()
    }

    /// Stops the executor and starts a new one over the same clusters.
    pub async fn restart_executor(&mut self, settings: ExecutorSettings) {
        if let Some(old) = self.executor.take() {
            old.shutdown().await;
        }
        let (sender, events) = mpsc::unbounded_channel();
        self.events = events;
        self.seen.clear();
        self.executor = Some(
            Executor::start(
                cluster_specs(&self.config, &self.kubeconfig),
                settings,
                price_table(),
                sender,
            )
            .await
            .unwrap(),
        );
    }

    /// Tells every cluster that nothing is wanted yet (enables reconciliation).
    pub fn want_nothing(&self) {
        for cluster in &self.config.clusters {
            self.executor()
                .set_desired(&cluster.name, Vec::new())
                .unwrap();
        }
    }

    pub fn client(&self, cluster: &str) -> kube::Client {
        let sim = self.fleet.cluster(cluster).unwrap();
        kube::Client::try_from(kube::Config::new(sim.base_url().parse().unwrap())).unwrap()
    }

    /// Waits until an event matches, keeping every event seen.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&ExecutorEvent) -> bool,
    ) -> ExecutorEvent {
        if let Some(event) = self.seen.iter().find(|e| matches(e)) {
            return event.clone();
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match next {
                Ok(Some(event)) => {
                    eprintln!("event: {event:?}");
                    self.seen.push(event.clone());
                    if matches(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!("event channel closed waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}; seen: {:#?}", self.seen),
            }
        }
    }

    /// Waits for a final phase (or LaunchFailed) of `key`.
    pub async fn wait_final(&mut self, key: &WorkloadKey, timeout: Duration) -> ExecutorEvent {
        let key = key.clone();
        self.wait_for("a final phase", timeout, move |event| match event {
            ExecutorEvent::Phase { key: k, phase, .. } => *k == key && phase.is_final(),
            ExecutorEvent::LaunchFailed { key: k, .. } => *k == key,
            _ => false,
        })
        .await
    }

    pub async fn wait_phase(
        &mut self,
        key: &WorkloadKey,
        wanted: Phase,
        timeout: Duration,
    ) -> ExecutorEvent {
        let key = key.clone();
        self.wait_for(wanted.as_str(), timeout, move |event| {
            matches!(event, ExecutorEvent::Phase { key: k, phase, .. } if *k == key && *phase == wanted)
        })
        .await
    }

    /// The phases reported for `key`, in order.
    pub fn phases(&self, key: &WorkloadKey) -> Vec<(Phase, bool)> {
        self.seen
            .iter()
            .filter_map(|event| match event {
                ExecutorEvent::Phase {
                    key: k,
                    phase,
                    synthesized,
                    ..
                } if k == key => Some((*phase, *synthesized)),
                _ => None,
            })
            .collect()
    }

    pub async fn jobs_of(&self, cluster: &str, key: &WorkloadKey) -> Vec<Job> {
        let api: Api<Job> = Api::namespaced(self.client(cluster), NAMESPACE);
        api.list(&ListParams::default().labels(&key.selector_text()))
            .await
            .unwrap()
            .items
    }

    pub async fn pods_of(&self, cluster: &str, key: &WorkloadKey) -> Vec<Pod> {
        let api: Api<Pod> = Api::namespaced(self.client(cluster), NAMESPACE);
        api.list(&ListParams::default().labels(&key.selector_text()))
            .await
            .unwrap()
            .items
    }

    pub async fn shutdown(mut self) {
        if let Some(executor) = self.executor.take() {
            executor.shutdown().await;
        }
        self.fleet.shutdown().await;
    }
}

/// Cluster specs for the simulated clusters of `config`, through `kubeconfig`.
pub fn cluster_specs(config: &FleetConfig, kubeconfig: &std::path::Path) -> Vec<ClusterSpec> {
    config
        .clusters
        .iter()
        .map(|cluster| {
            let overrides = match &cluster.access {
                ClusterAccess::Simulated { node_pools } => node_pools
                    .iter()
                    .filter_map(|pool| pool.price_per_hour.map(|price| (pool.name.clone(), price)))
                    .collect(),
                ClusterAccess::Kubeconfig { .. } => BTreeMap::new(),
            };
            ClusterSpec {
                name: cluster.name.clone(),
                cloud: cluster.cloud,
                region: cluster.region.clone(),
                kubeconfig: kubeconfig.to_owned(),
                context: Some(cluster.name.clone()),
                simulated: true,
                namespace: NAMESPACE.to_owned(),
                price_overrides: overrides,
            }
        })
        .collect()
}

/// A training job: `replicas` x `gpus` of `model`, with extra spec lines.
pub fn training_job(
    name: &str,
    gpus: u32,
    model: &str,
    replicas: u32,
    extra: &str,
) -> Arc<JobSpec> {
    let resources = if gpus > 0 {
        format!("gpu: {{count: {gpus}, types: [{model}]}}\n    cpu: 8\n    memory: 32Gi")
    } else {
        "cpu: 4\n    memory: 8Gi".to_owned()
    };
    let text = format!(
        "apiVersion: gantry.dev/v1\nkind: TrainingJob\nmetadata:\n  name: {name}\n  team: org/research\nspec:\n  image: ghcr.io/acme/trainer:1.0\n  command: [torchrun, train.py]\n  resources:\n    {resources}\n  replicas: {replicas}\n{extra}",
    );
    Arc::new(gantry_spec::parse_job(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}")))
}

/// A target on `pool` of `cluster` in `config`.
pub fn target(
    config: &FleetConfig,
    cluster: &str,
    pool: &str,
    replicas: u32,
    runtime: Duration,
) -> Target {
    let cluster_config = config.clusters.iter().find(|c| c.name == cluster).unwrap();
    let ClusterAccess::Simulated { node_pools } = &cluster_config.access else {
        panic!("not simulated");
    };
    let pool_config = node_pools.iter().find(|p| p.name == pool).unwrap();
    Target {
        cluster: cluster.to_owned(),
        cloud: cluster_config.cloud,
        pool: pool.to_owned(),
        instance_type: pool_config.instance_type.clone(),
        zone: pool_config.zone.clone(),
        capacity_type: pool_config.capacity_type,
        gpu_model: pool_config.gpu.map(|(model, _)| model),
        replicas,
        expected_runtime: runtime,
    }
}

pub fn key(id: &str, attempt: u32) -> WorkloadKey {
    WorkloadKey::new(JobId::new(id).unwrap(), attempt)
}

pub fn request(key: &WorkloadKey, spec: Arc<JobSpec>, target: Target) -> LaunchRequest {
    LaunchRequest {
        key: key.clone(),
        spec,
        target,
    }
}

pub fn run(request: &LaunchRequest) -> Desired {
    Desired::Run(request.clone())
}

/// `spec` with pod annotations added (the simulator reads its own from them).
pub fn with_annotations(spec: &Arc<JobSpec>, pairs: &[(&str, &str)]) -> Arc<JobSpec> {
    let mut spec = spec.as_ref().clone();
    for (key, value) in pairs {
        spec.annotations
            .insert((*key).to_owned(), (*value).to_owned());
    }
    Arc::new(spec)
}
