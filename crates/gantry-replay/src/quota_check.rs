//! The replay's own check that no plan put anything over a quota, kept
//! apart from the scheduler so that it checks the scheduler and not itself.
//!
//! Usage is counted from what runs (after each plan is applied): per team,
//! with every job counted against its team and each ancestor, and per cloud
//! region. Limits checked: team GPUs (total and per model), CPU, memory;
//! cloud-region GPUs (total, per model, on spot) and vCPUs of GPU instances
//! (a replica counts its node's vCPUs in proportion to the GPUs it holds).
//! Daily budgets are not checked here: spend depends on run times the
//! scheduler only estimates.

use std::collections::BTreeMap;

use gantry_core::{CapacityType, Cloud, CloudQuota, GpuModel, TeamPath, TeamQuota};
use gantry_sched::ReplicaRequest;

use crate::fleet::Pool;

/// What one team (with its descendants) holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamUsage {
    /// GPUs.
    pub gpus: u64,
    /// GPUs per model.
    pub gpus_by_model: BTreeMap<GpuModel, u64>,
    /// CPU.
    pub cpu_millis: u64,
    /// Memory.
    pub memory_bytes: u64,
}

/// What one cloud region holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionUsage {
    /// GPUs.
    pub gpus: u64,
    /// GPUs per model.
    pub gpus_by_model: BTreeMap<GpuModel, u64>,
    /// vCPUs of GPU instances.
    pub vcpus: u64,
    /// GPUs on spot capacity.
    pub spot_gpus: u64,
}

/// Usage of every team and region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// By team path (ancestors include their descendants).
    pub teams: BTreeMap<TeamPath, TeamUsage>,
    /// By cloud and region.
    pub regions: BTreeMap<(Cloud, String), RegionUsage>,
}

/// One allocation's footprint, for [`Usage::add`] and [`Usage::remove`].
#[derive(Clone, Copy, Debug)]
pub struct Footprint<'a> {
    /// Team.
    pub team: &'a TeamPath,
    /// Pool it runs on.
    pub pool: &'a Pool,
    /// Replicas.
    pub replicas: u32,
    /// Per replica.
    pub replica: &'a ReplicaRequest,
}

impl Footprint<'_> {
    fn gpus(&self) -> u64 {
        u64::from(self.replicas) * u64::from(self.replica.gpus)
    }

    fn vcpus(&self) -> u64 {
        let per_node = u64::from(self.pool.gpus_per_node());
        let node_vcpus = u64::from(self.pool.node.vcpus);
        if per_node == 0 {
            return 0;
        }
        (u64::from(self.replicas) * node_vcpus * u64::from(self.replica.gpus)).div_ceil(per_node)
    }
}

impl Usage {
    /// Counts an allocation.
    pub fn add(&mut self, footprint: Footprint<'_>) {
        self.apply(footprint, true);
    }

    /// Stops counting an allocation.
    pub fn remove(&mut self, footprint: Footprint<'_>) {
        self.apply(footprint, false);
    }

    fn apply(&mut self, footprint: Footprint<'_>, add: bool) {
        let change = |value: &mut u64, by: u64| {
            *value = if add {
                value.saturating_add(by)
            } else {
                value.saturating_sub(by)
            };
        };
        let gpus = footprint.gpus();
        let cpu = u64::from(footprint.replicas) * footprint.replica.cpu_millis;
        let memory = u64::from(footprint.replicas) * footprint.replica.memory_bytes;
        let model = footprint.pool.gpu_model();
        for team in footprint.team.ancestors_and_self() {
            let usage = self.teams.entry(team).or_default();
            change(&mut usage.gpus, gpus);
            change(&mut usage.cpu_millis, cpu);
            change(&mut usage.memory_bytes, memory);
            if let Some(model) = model {
                change(usage.gpus_by_model.entry(model).or_default(), gpus);
            }
        }
        let region = self
            .regions
            .entry((footprint.pool.cloud, footprint.pool.region.clone()))
            .or_default();
        change(&mut region.gpus, gpus);
        change(&mut region.vcpus, footprint.vcpus());
        if footprint.pool.capacity_type == CapacityType::Spot {
            change(&mut region.spot_gpus, gpus);
        }
        if let Some(model) = model {
            change(region.gpus_by_model.entry(model).or_default(), gpus);
        }
    }
}

/// A limit exceeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaViolation {
    /// `team vc-1` or `cloud aws us-east-1`.
    pub subject: String,
    /// What is limited: `gpus`, `gpus H100`, `cpu`, `memory`, `vcpus`, `spot gpus`.
    pub limit_name: String,
    /// Used.
    pub used: u64,
    /// Limit.
    pub limit: u64,
}

impl std::fmt::Display for QuotaViolation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{}: {} {} over the limit {}",
            self.subject, self.limit_name, self.used, self.limit
        )
    }
}

/// Every limit `usage` exceeds.
pub fn violations(
    usage: &Usage,
    teams: &[TeamQuota],
    cloud_quotas: &[CloudQuota],
) -> Vec<QuotaViolation> {
    let mut found = Vec::new();
    let mut check =
        |subject: &dyn Fn() -> String, name: &dyn Fn() -> String, used: u64, limit: Option<u64>| {
            if let Some(limit) = limit
                && used > limit
            {
                found.push(QuotaViolation {
                    subject: subject(),
                    limit_name: name(),
                    used,
                    limit,
                });
            }
        };
    for quota in teams {
        let Some(used) = usage.teams.get(&quota.team) else {
            continue;
        };
        let subject = || format!("team {}", quota.team);
        check(
            &subject,
            &|| "gpus".to_owned(),
            used.gpus,
            quota.gpus.map(u64::from),
        );
        for (model, limit) in &quota.gpus_by_model {
            let held = used.gpus_by_model.get(model).copied().unwrap_or(0);
            check(
                &subject,
                &|| format!("gpus {model}"),
                held,
                Some(u64::from(*limit)),
            );
        }
        check(
            &subject,
            &|| "cpu millis".to_owned(),
            used.cpu_millis,
            quota.cpu_millis,
        );
        check(
            &subject,
            &|| "memory bytes".to_owned(),
            used.memory_bytes,
            quota.memory_bytes,
        );
    }
    for quota in cloud_quotas {
        let Some(used) = usage.regions.get(&(quota.cloud, quota.region.clone())) else {
            continue;
        };
        let subject = || format!("cloud {} {}", quota.cloud, quota.region);
        check(
            &subject,
            &|| "gpus".to_owned(),
            used.gpus,
            quota.gpus.map(u64::from),
        );
        for (model, limit) in &quota.gpus_by_model {
            let held = used.gpus_by_model.get(model).copied().unwrap_or(0);
            check(
                &subject,
                &|| format!("gpus {model}"),
                held,
                Some(u64::from(*limit)),
            );
        }
        check(
            &subject,
            &|| "vcpus".to_owned(),
            used.vcpus,
            quota.vcpus.map(u64::from),
        );
        check(
            &subject,
            &|| "spot gpus".to_owned(),
            used.spot_gpus,
            quota.spot_gpus.map(u64::from),
        );
    }
    found
}
