//! The one composition root: settings -> store -> (simulated clusters) ->
//! executor -> control loop -> gRPC and HTTP listeners; and shutdown in the
//! reverse order on SIGTERM or SIGINT.
//!
//! Shutdown, step by step: stop accepting requests (listeners drain their
//! in-flight calls), stop the control loop, stop the executor's cluster
//! tasks (objects in the clusters stay: a restart adopts them), close the
//! cloud adapters (queued provenance records get a few seconds), close the
//! store (its writer commits what it holds), stop in-process simulated
//! clusters last.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gantry_api::grpc::{self, ApiState, IdGenerator};
use gantry_control::driver::DriverSettings;
use gantry_control::{ControlSettings, Controller, Driver};
use gantry_core::StorageConfig;
use gantry_kube::{Executor, ExecutorSettings};
use gantry_sched::Policy;
use gantry_sim::{SimFleet, SimOptions};
use gantry_store::{SqliteOptions, SqliteStore, Store};
use tokio::sync::{mpsc, watch};

use crate::Cli;
use crate::cloud::Clouds;

/// How long in-flight requests may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
use crate::settings::{Mode, Settings};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| settings.data_dir());
    let grpc_address = cli.grpc.unwrap_or(settings.config.grpc_address);
    let http_address = cli.http.unwrap_or(settings.config.http_address);
    let sim_kubeconfig = data_dir.join("sim-kubeconfig.yaml");
    let cluster_names: Vec<String> = settings
        .config
        .clusters
        .iter()
        .map(|cluster| cluster.name.clone())
        .collect();
    match &settings.mode {
        Mode::Dev => tracing::info!(
            "gantryd starting in dev mode: embedded store in {}/, {} simulated clusters ({}) served on loopback, kubeconfig {}; pass --config FILE (or GANTRY_CONFIG) for real clusters",
            data_dir.display(),
            cluster_names.len(),
            cluster_names.join(", "),
            sim_kubeconfig.display()
        ),
        Mode::Config(path) => tracing::info!(
            "gantryd starting with config {}: {} clusters ({}), store in {}/",
            path.display(),
            cluster_names.len(),
            cluster_names.join(", "),
            data_dir.display()
        ),
    }
    for warning in &settings.price_warnings {
        tracing::debug!(%warning, "price refused");
    }
    if !settings.price_warnings.is_empty() {
        tracing::info!(
            refused = settings.price_warnings.len(),
            rows = settings.prices.len(),
            "price table loaded; rows with missing, zero or placeholder prices were refused"
        );
    }

    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let sqlite = match &settings.config.storage {
        StorageConfig::Embedded { .. } => {
            let path = data_dir.join("gantry.db");
            SqliteStore::open(&path, SqliteOptions::default())
                .await
                .with_context(|| format!("cannot open the store {}", path.display()))?
        }
        StorageConfig::Postgres { .. } => anyhow::bail!(
            "the PostgreSQL store is not available in this version; use `storage: {{backend: embedded, path: DIR}}`"
        ),
    };
    let sqlite = Arc::new(sqlite);
    let store: Arc<dyn Store> = sqlite.clone();

    let sims = if settings.has_simulated_clusters() {
        let sims = SimHost::start(
            &settings.config,
            SimOptions {
                time_scale: cli.time_scale,
                ..SimOptions::default()
            },
        )
        .await?;
        sims.write_kubeconfig(&sim_kubeconfig)
            .context("cannot write the simulated clusters' kubeconfig")?;
        for cluster in sims.clusters() {
            tracing::info!(cluster = cluster.name(), url = %cluster.base_url(), "simulated cluster serving");
        }
        Some(sims)
    } else {
        None
    };

    let clouds = Clouds::start(&settings.config, &settings.prices)
        .await
        .context("cannot start the cloud adapters")?;
    let (events, executor_events) = mpsc::unbounded_channel();
    let executor = Arc::new(
        Executor::start_with_feeds(
            settings.cluster_specs(&sim_kubeconfig),
            ExecutorSettings::default(),
            Arc::new(settings.prices.clone()),
            clouds.feeds.clone(),
            events,
        )
        .await
        .context("cannot start the executor")?,
    );
    let controller = Controller::new(ControlSettings {
        // Patience (wait for a busy cheaper offer) is measured in the replay
        // only: in a live fleet it cannot yet tell a busy pool from one with
        // no nodes to offer, and made an idle dev fleet hold a CPU job.
        policy: Policy {
            patience: None,
            ..Policy::gantry()
        },
        teams: settings.config.teams.clone(),
        cloud_quotas: settings.config.cloud_quotas.clone(),
        spot_rates: settings.spot_rates(),
        lost_grace_ms: i64::try_from(cli.lost_grace_seconds.saturating_mul(1000))
            .unwrap_or(i64::MAX),
        clusters: cluster_names,
    });
    let (mut driver, control) = Driver::with_cloud(
        controller,
        store.clone(),
        executor.clone(),
        executor_events,
        DriverSettings::default(),
        clouds.ports.clone(),
    );
    let recovered = driver
        .recover()
        .await
        .context("cannot recover from the store")?;
    tracing::info!(live_jobs = recovered, "state recovered");

    let grpc_listener = grpc::bind(grpc_address)
        .await
        .with_context(|| format!("cannot listen for gRPC on {grpc_address}"))?;
    let http_listener = tokio::net::TcpListener::bind(http_address)
        .await
        .with_context(|| format!("cannot listen for HTTP on {http_address}"))?;
    let grpc_address = grpc_listener.local_addr().unwrap_or(grpc_address);
    let http_address = http_listener.local_addr().unwrap_or(http_address);
    let (shutdown, shutdown_signal) = watch::channel(false);
    let driver_task = tokio::spawn(driver.run(shutdown_signal.clone()));
    let seed = u64::try_from(
        jiff::Timestamp::now()
            .as_nanosecond()
            .rem_euclid(i128::from(u64::MAX)),
    )
    .unwrap_or(0)
        ^ u64::from(std::process::id());
    let api = Arc::new(ApiState {
        store: store.clone(),
        control: control.clone(),
        ids: IdGenerator::seeded(seed),
    });
    let mut grpc_stop = shutdown_signal.clone();
    let grpc_task = tokio::spawn(grpc::serve(grpc_listener, api, async move {
        let _ = grpc_stop.wait_for(|stop| *stop).await;
    }));
    let status = gantry_api::status::StatusState {
        snapshot: control.status_receiver(),
        store: store.clone(),
        mode: settings.mode.describe(),
        version: env!("CARGO_PKG_VERSION"),
        started_at_unix_ms: jiff::Timestamp::now().as_millisecond(),
        clouds: clouds.status_source(),
    };
    let mut http_stop = shutdown_signal.clone();
    let http_task = tokio::spawn(async move {
        axum_serve(
            http_listener,
            gantry_api::status::router(status),
            async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            },
        )
        .await
    });
    tracing::info!(grpc = %grpc_address, http = %http_address, "gantryd serving");

    wait_for_signal().await?;
    tracing::info!("shutting down");
    let _ = shutdown.send(true);
    // In-flight calls get a grace period; clients that keep connections (or
    // watch streams) open do not hold the daemon up past it.
    match tokio::time::timeout(SHUTDOWN_GRACE, grpc_task).await {
        Ok(Ok(Err(error))) => tracing::error!(%error, "gRPC server stopped with an error"),
        Ok(Err(error)) => tracing::error!(%error, "gRPC server task failed"),
        Ok(Ok(Ok(()))) => {}
        Err(_) => {
            tracing::warn!("gRPC connections still open after the grace period; closing them")
        }
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, http_task)
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the grace period; closing them");
    }
    let _ = driver_task.await;
    drop(control);
    match Arc::try_unwrap(executor) {
        Ok(executor) => executor.shutdown().await,
        Err(_) => tracing::warn!("executor still in use at shutdown"),
    }
    clouds.shutdown().await;
    drop(store);
    sqlite.close().await;
    if let Some(sims) = sims {
        sims.shutdown().await;
    }
    tracing::info!("gantryd stopped");
    Ok(())
}

/// The simulated clusters, on a tokio runtime of their own: their API
/// servers and controllers are busy CPU work under load, and on the
/// daemon's runtime they would hold its workers from the control loop and
/// the API (a real cluster runs on other machines; here the OS at least
/// shares the cores fairly between the two runtimes).
/// Lowers the calling thread's CPU priority to about nice 10, so the
/// simulated clusters sharing gantryd's process take the cores the control
/// plane leaves (a real cluster runs on other machines): under load on two
/// cores the control loop's passes otherwise wait behind the sim's work
/// (4x their CPU time in wall time). Best effort: a refusal is logged.
fn yield_to_the_control_plane() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};
    // Crossplatform 22 of 0..=99 maps to niceness 10 for normal threads.
    let lower = ThreadPriorityValue::try_from(22u8)
        .map_err(|error| format!("{error:?}"))
        .and_then(|value| {
            set_current_thread_priority(ThreadPriority::Crossplatform(value))
                .map_err(|error| format!("{error:?}"))
        });
    if let Err(error) = lower {
        tracing::debug!(%error, "cannot lower a simulated cluster thread's priority");
    }
}

struct SimHost {
    fleet: SimFleet,
    runtime: tokio::runtime::Runtime,
}

impl SimHost {
    async fn start(
        config: &gantry_core::FleetConfig,
        options: SimOptions,
    ) -> anyhow::Result<SimHost> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gantry-sim")
            .on_thread_start(yield_to_the_control_plane)
            .enable_all()
            .build()
            .context("cannot start a runtime for the simulated clusters")?;
        let config = config.clone();
        let fleet = runtime
            .spawn(async move { SimFleet::start(&config, options).await })
            .await
            .context("the simulated clusters' start was cancelled")?
            .context("cannot start the simulated clusters")?;
        Ok(SimHost { fleet, runtime })
    }

    fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), gantry_sim::SimError> {
        self.fleet.write_kubeconfig(path)
    }

    fn clusters(&self) -> &[Arc<gantry_sim::SimCluster>] {
        self.fleet.clusters()
    }

    async fn shutdown(self) {
        let SimHost { fleet, runtime } = self;
        let _ = runtime.spawn(fleet.shutdown()).await;
        // Dropping a runtime may block; from async code it must go in the background.
        runtime.shutdown_background();
    }
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small answers go out at once (no Nagle wait for a delayed ACK).
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a status connection");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT")?,
        _ = terminate.recv() => {}
    }
    // Leave a moment for in-flight acknowledgements to be written.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
