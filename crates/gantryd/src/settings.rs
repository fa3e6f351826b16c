//! What the daemon runs with: the checked config (from `--config` or
//! `GANTRY_CONFIG`, or the built-in dev fleet), the price table, and the
//! per-cluster executor settings derived from them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gantry_control::offers::SpotRates;
use gantry_core::{ClusterAccess, FleetConfig, PriceTable};
use gantry_kube::ClusterSpec;

/// The dev fleet, built in (the same file as `examples/fleet-dev.yaml`).
pub(crate) const DEV_FLEET: &str = include_str!("../../../examples/fleet-dev.yaml");
/// The shipped price tables, built in for dev mode (later override earlier).
pub(crate) const SHIPPED_PRICES: [(&str, &str); 2] = [
    (
        "deploy/prices/gpu-prices.csv",
        include_str!("../../../deploy/prices/gpu-prices.csv"),
    ),
    (
        "deploy/prices/supplement.csv",
        include_str!("../../../deploy/prices/supplement.csv"),
    ),
];
/// Namespace of Gantry's objects in every cluster.
pub(crate) const NAMESPACE: &str = "gantry";
/// A `kubeconfig` cluster with this label (value `gantry-sim`) is a
/// simulated one run by `gantry-sim serve`: pods get its run-time annotation.
pub(crate) const SIMULATOR_LABEL: &str = "gantry.dev/simulator";
/// Interruption rate of a spot pool that says nothing, per hour.
pub(crate) const DEFAULT_SPOT_RATE: f64 = 0.05;

/// How the daemon was started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No config: the built-in simulated fleet, store in `./.gantry/`.
    Dev,
    /// `--config FILE`.
    Config(PathBuf),
}

impl Mode {
    /// For logs and the status page.
    pub(crate) fn describe(&self) -> String {
        match self {
            Mode::Dev => "dev".to_owned(),
            Mode::Config(path) => format!("config:{}", path.display()),
        }
    }
}

/// Everything read at startup.
#[derive(Debug)]
pub(crate) struct Settings {
    /// How.
    pub(crate) mode: Mode,
    /// The checked config.
    pub(crate) config: FleetConfig,
    /// Prices.
    pub(crate) prices: PriceTable,
    /// Lines about prices refused while loading.
    pub(crate) price_warnings: Vec<String>,
}

impl Settings {
    /// Reads `path`, or the dev fleet when `None`.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let (mode, text, base) = match path {
            Some(path) => (
                Mode::Config(path.to_owned()),
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config {}", path.display()))?,
                path.parent().map(Path::to_owned).unwrap_or_default(),
            ),
            None => (Mode::Dev, DEV_FLEET.to_owned(), PathBuf::new()),
        };
        let shown = match &mode {
            Mode::Dev => "the built-in dev fleet".to_owned(),
            Mode::Config(path) => path.display().to_string(),
        };
        let config = gantry_spec::parse_config(&text).map_err(|diagnostics| {
            anyhow::anyhow!(
                "{shown} is not a valid config:\n{}",
                diagnostics.render(&shown)
            )
        })?;
        let mut prices = PriceTable::default();
        let mut price_warnings = Vec::new();
        let mut load = |text: &str, source: &str| -> anyhow::Result<()> {
            let loaded = PriceTable::parse(text)
                .map_err(|error| anyhow::anyhow!("price table {source}: {error}"))?;
            for rejected in &loaded.rejected {
                price_warnings.push(format!("price table {source}: {rejected}"));
            }
            prices.merge(loaded.table);
            Ok(())
        };
        match mode {
            Mode::Dev => {
                for (name, text) in SHIPPED_PRICES {
                    load(text, &format!("{name} (built in)"))?;
                }
            }
            Mode::Config(_) => {
                for table in &config.price_tables {
                    let resolved = if table.is_absolute() {
                        table.clone()
                    } else {
                        base.join(table)
                    };
                    let text = std::fs::read_to_string(&resolved).with_context(|| {
                        format!("cannot read the price table {}", resolved.display())
                    })?;
                    load(&text, &resolved.display().to_string())?;
                }
                if config.price_tables.is_empty() {
                    for (name, text) in SHIPPED_PRICES {
                        load(text, &format!("{name} (built in)"))?;
                    }
                }
            }
        }
        Ok(Settings {
            mode,
            config,
            prices,
            price_warnings,
        })
    }

    /// Where the embedded store and the dev kubeconfig live.
    pub(crate) fn data_dir(&self) -> PathBuf {
        match &self.config.storage {
            gantry_core::StorageConfig::Embedded { path } => match &self.mode {
                Mode::Config(file) if path.is_relative() => file
                    .parent()
                    .map(|parent| parent.join(path))
                    .unwrap_or_else(|| path.clone()),
                _ => path.clone(),
            },
            gantry_core::StorageConfig::Postgres { .. } => PathBuf::from(".gantry"),
        }
    }

    /// The simulated clusters of the config (run in process in dev mode).
    pub(crate) fn has_simulated_clusters(&self) -> bool {
        self.config
            .clusters
            .iter()
            .any(|cluster| matches!(cluster.access, ClusterAccess::Simulated { .. }))
    }

    /// One executor cluster per configured cluster; simulated ones are
    /// reached through `sim_kubeconfig`.
    pub(crate) fn cluster_specs(&self, sim_kubeconfig: &Path) -> Vec<ClusterSpec> {
        self.config
            .clusters
            .iter()
            .map(|cluster| match &cluster.access {
                ClusterAccess::Simulated { node_pools } => ClusterSpec {
                    name: cluster.name.clone(),
                    cloud: cluster.cloud,
                    region: cluster.region.clone(),
                    kubeconfig: sim_kubeconfig.to_owned(),
                    context: Some(cluster.name.clone()),
                    simulated: true,
                    namespace: NAMESPACE.to_owned(),
                    price_overrides: node_pools
                        .iter()
                        .filter_map(|pool| Some((pool.name.clone(), pool.price_per_hour?)))
                        .collect(),
                },
                ClusterAccess::Kubeconfig { path, context } => {
                    let resolved = match &self.mode {
                        Mode::Config(file) if path.is_relative() => file
                            .parent()
                            .map(|parent| parent.join(path))
                            .unwrap_or_else(|| path.clone()),
                        _ => path.clone(),
                    };
                    ClusterSpec {
                        name: cluster.name.clone(),
                        cloud: cluster.cloud,
                        region: cluster.region.clone(),
                        kubeconfig: resolved,
                        context: context.clone(),
                        simulated: cluster.labels.get(SIMULATOR_LABEL).map(String::as_str)
                            == Some("gantry-sim"),
                        namespace: NAMESPACE.to_owned(),
                        price_overrides: BTreeMap::new(),
                    }
                }
            })
            .collect()
    }

    /// Spot interruption rates the config states (simulated pools).
    pub(crate) fn spot_rates(&self) -> SpotRates {
        let mut by_pool = BTreeMap::new();
        for cluster in &self.config.clusters {
            if let ClusterAccess::Simulated { node_pools } = &cluster.access {
                for pool in node_pools {
                    if let Some(rate) = pool.interruption_rate_per_hour {
                        by_pool.insert((cluster.name.clone(), pool.name.clone()), rate);
                    }
                }
            }
        }
        SpotRates {
            by_pool,
            default_per_hour: DEFAULT_SPOT_RATE,
        }
    }
}
