//! EC2's instance catalog behind the executor's `PoolCatalog` port: every
//! AWS node pool the clusters show (discovered from their nodes, not typed
//! into the config) is checked against what `DescribeInstanceTypes` says its
//! instance type is and where `DescribeInstanceTypeOfferings` says it is
//! offered, and a node that names no GPU model gets EC2's.
//!
//! The catalog is loaded off the startup path, first for the types of the
//! price table and the configured pools, then for each type a cluster's
//! nodes turn out to have, asked for as the pools are checked; a pool the
//! catalog has not read yet is shown without a note until it has. A failed
//! load is retried. Each disagreement is logged once, and stays on the pool
//! for `gantry clusters`, the status page and `gantry_pool_catalog_mismatch`.
//! The price table's own AWS rows are checked once, at the first load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gantry_cloud::aws::{Ec2Api, InstanceCatalog};
use gantry_core::{Cloud, GpuModel, PriceTable};
use gantry_kube::{PoolCatalog, PoolShape};
use tokio::sync::Notify;

/// How long newly asked-for types gather before one load reads them all.
const GATHER: Duration = Duration::from_millis(200);
/// How long after a failed load it is tried again.
const RETRY: Duration = Duration::from_secs(60);

/// What the catalog knows and what it was asked about.
#[derive(Debug, Default)]
struct State {
    catalog: InstanceCatalog,
    /// Region -> instance types EC2 was asked about (described or not).
    looked_up: BTreeMap<String, BTreeSet<String>>,
    /// Region -> instance types a pool asked about, not looked up yet.
    wanted: BTreeMap<String, BTreeSet<String>>,
    /// (region, zone, instance type, note) already logged.
    logged: BTreeSet<(String, String, String, String)>,
}

impl State {
    /// Whether EC2 was asked about `instance_type` in `region`; if not, it
    /// is wanted (and `true` is returned in `newly_wanted`).
    fn looked_up(&mut self, region: &str, instance_type: &str) -> (bool, bool) {
        if self
            .looked_up
            .get(region)
            .is_some_and(|types| types.contains(instance_type))
        {
            return (true, false);
        }
        let newly = self
            .wanted
            .entry(region.to_owned())
            .or_default()
            .insert(instance_type.to_owned());
        (false, newly)
    }
}

/// EC2's instance catalog, loaded in the background and asked from memory.
#[derive(Debug)]
pub(crate) struct Ec2PoolCatalog {
    state: Mutex<State>,
    version: AtomicU64,
    wake: Notify,
}

impl Ec2PoolCatalog {
    /// Starts loading `initial` (region -> instance types) and then whatever
    /// pools ask about; checks `table`'s AWS rows once the first load is in.
    pub(crate) fn spawn(
        api: Arc<dyn Ec2Api>,
        table: PriceTable,
        initial: BTreeMap<String, Vec<String>>,
    ) -> Arc<Ec2PoolCatalog> {
        let wanted = initial
            .into_iter()
            .map(|(region, types)| (region, types.into_iter().collect()))
            .collect();
        let catalog = Arc::new(Ec2PoolCatalog {
            state: Mutex::new(State {
                wanted,
                ..State::default()
            }),
            version: AtomicU64::new(0),
            wake: Notify::new(),
        });
        tokio::spawn(catalog.clone().load_forever(api, table));
        catalog
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether EC2 was asked about the type; wakes the loader when it is newly wanted.
    fn known(&self, state: &mut State, region: &str, instance_type: &str) -> bool {
        let (known, newly_wanted) = state.looked_up(region, instance_type);
        if newly_wanted {
            self.wake.notify_one();
        }
        known
    }

    async fn load_forever(self: Arc<Self>, api: Arc<dyn Ec2Api>, table: PriceTable) {
        let mut table_checked = false;
        loop {
            let wanted = std::mem::take(&mut self.lock().wanted);
            if wanted.values().all(BTreeSet::is_empty) {
                self.wake.notified().await;
                tokio::time::sleep(GATHER).await;
                continue;
            }
            let mut loaded = InstanceCatalog::default();
            let mut failure = None;
            for (region, types) in &wanted {
                let types: Vec<String> = types.iter().cloned().collect();
                match InstanceCatalog::load(&*api, std::slice::from_ref(region), &types).await {
                    Ok(catalog) => loaded.merge(catalog),
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            if let Some(error) = failure {
                tracing::warn!(%error, retry_in_s = RETRY.as_secs(), "cannot read the EC2 instance catalog; pools are not checked against it yet");
                {
                    let mut state = self.lock();
                    for (region, types) in wanted {
                        state.wanted.entry(region).or_default().extend(types);
                    }
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
            let asked: usize = wanted.values().map(BTreeSet::len).sum();
            let described = loaded.shapes().count();
            let table_mismatches = (!table_checked).then(|| loaded.check_price_table(&table));
            {
                let mut state = self.lock();
                state.catalog.merge(loaded);
                for (region, types) in wanted {
                    state.looked_up.entry(region).or_default().extend(types);
                }
            }
            self.version.fetch_add(1, Ordering::Release);
            match table_mismatches {
                Some(mismatches) => {
                    table_checked = true;
                    for mismatch in &mismatches {
                        tracing::warn!(instance_type = %mismatch.instance_type, detail = %mismatch.detail, "a price table row disagrees with EC2");
                    }
                    tracing::info!(
                        instance_types = asked,
                        described,
                        table_mismatches = mismatches.len(),
                        "EC2 instance catalog checked"
                    );
                }
                None => tracing::info!(
                    instance_types = asked,
                    described,
                    "EC2 instance catalog read for the types the clusters' nodes have"
                ),
            }
        }
    }
}

impl PoolCatalog for Ec2PoolCatalog {
    fn check(&self, pool: &PoolShape<'_>) -> Option<String> {
        if pool.cloud != Cloud::Aws {
            return None;
        }
        let mut state = self.lock();
        if !self.known(&mut state, pool.region, pool.instance_type) {
            return None;
        }
        let catalog = &state.catalog;
        let note = match catalog.shape(pool.instance_type) {
            None => Some(format!(
                "EC2 does not describe {} in {}",
                pool.instance_type, pool.region
            )),
            Some(_) => {
                let claimed = gantry_cloud::aws::InstanceShape {
                    gpu: pool.gpu,
                    vcpus: pool.vcpus,
                    memory_bytes: pool.memory_bytes,
                };
                let mut problems: Vec<String> = catalog
                    .disagreement(pool.instance_type, &claimed, "nodes")
                    .into_iter()
                    .collect();
                if !catalog.is_offered(pool.region, pool.zone, pool.instance_type) {
                    problems.push(format!("EC2 does not offer it in {}", pool.zone));
                }
                (!problems.is_empty()).then(|| problems.join("; "))
            }
        }?;
        let first = state.logged.insert((
            pool.region.to_owned(),
            pool.zone.to_owned(),
            pool.instance_type.to_owned(),
            note.clone(),
        ));
        if first {
            tracing::warn!(region = pool.region, zone = pool.zone, instance_type = pool.instance_type, detail = %note, "a node pool disagrees with EC2");
        }
        Some(note)
    }

    fn gpu_model(&self, cloud: Cloud, region: &str, instance_type: &str) -> Option<GpuModel> {
        if cloud != Cloud::Aws {
            return None;
        }
        let mut state = self.lock();
        if !self.known(&mut state, region, instance_type) {
            return None;
        }
        state
            .catalog
            .shape(instance_type)?
            .gpu
            .map(|(model, _)| model)
    }

    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use gantry_cloud::aws::FakeEc2;

    use super::*;

    fn shape<'a>(zone: &'a str, instance_type: &'a str, memory_gib: u64) -> PoolShape<'a> {
        PoolShape {
            cloud: Cloud::Aws,
            region: "us-east-1",
            zone,
            instance_type,
            gpu: Some((GpuModel::A100_80GB, 8)),
            vcpus: 96,
            memory_bytes: memory_gib << 30,
        }
    }

    async fn loaded(catalog: &Ec2PoolCatalog, version: u64) {
        for _ in 0..200 {
            if catalog.version() >= version {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the catalog never reached version {version}");
    }

    #[tokio::test]
    async fn pools_are_checked_once_loaded_and_new_types_are_read_when_asked_about() {
        let table = PriceTable::default();
        let initial = BTreeMap::from([("us-east-1".to_owned(), vec!["p4de.24xlarge".to_owned()])]);
        let catalog =
            Ec2PoolCatalog::spawn(Arc::new(FakeEc2::with_sample_catalog()), table, initial);
        loaded(&catalog, 1).await;
        let zone = {
            let state = catalog.lock();
            state
                .catalog
                .zones("us-east-1", "p4de.24xlarge")
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(catalog.check(&shape(&zone, "p4de.24xlarge", 1152)), None);
        let note = catalog
            .check(&shape("us-east-1z", "p4de.24xlarge", 1024))
            .unwrap();
        assert!(
            note.contains("memory: nodes 1048576 MiB, ec2 1179648 MiB"),
            "{note}"
        );
        assert!(
            note.contains("EC2 does not offer it in us-east-1z"),
            "{note}"
        );
        // Other clouds are not EC2's business.
        let gcp = PoolShape {
            cloud: Cloud::Gcp,
            ..shape("us-central1-a", "a2-ultragpu-8g", 1)
        };
        assert_eq!(catalog.check(&gcp), None);

        // A type nobody loaded is not judged yet, but read at once.
        assert_eq!(
            catalog.gpu_model(Cloud::Aws, "us-east-1", "g5.xlarge"),
            None
        );
        assert_eq!(catalog.check(&shape(&zone, "p9.fake", 1)), None);
        loaded(&catalog, 2).await;
        assert_eq!(
            catalog.gpu_model(Cloud::Aws, "us-east-1", "g5.xlarge"),
            Some(GpuModel::A10G)
        );
        assert_eq!(
            catalog.check(&shape(&zone, "p9.fake", 1)).as_deref(),
            Some("EC2 does not describe p9.fake in us-east-1")
        );
        // The second load added to the first.
        assert!(
            catalog
                .check(&shape(&zone, "p4de.24xlarge", 1024))
                .is_some()
        );
    }
}
