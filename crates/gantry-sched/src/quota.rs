//! The quota ledger of one scheduling pass: usage of every team (its own
//! jobs and all its descendants'), projected spend against daily budgets,
//! and usage per cloud region; checked before every placement and updated
//! after it.
//!
//! A team's usage counts against its own quota and every ancestor's: a job
//! of `org/nlp` uses `org/nlp`'s and `org`'s quota. Budgets count the
//! projected spend until the end of the UTC day (spent so far, plus running
//! jobs' marginal hourly cost until they are expected to end or midnight,
//! whichever is first).

use std::collections::{BTreeMap, HashMap};

use gantry_core::{Cloud, CloudQuota, GpuModel, Money, TeamPath, TeamQuota};

use crate::plan::{QuotaDetail, QuotaLimit, WaitReason};
use crate::snapshot::{Seconds, Snapshot};

/// What one placement adds to the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) gpus: u64,
    pub(crate) gpu_model: Option<GpuModel>,
    pub(crate) cpu_millis: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) vcpus: u64,
    pub(crate) spot: bool,
    /// Marginal spend until midnight UTC.
    pub(crate) spend_until_midnight: Money,
}

#[derive(Clone, Debug, Default)]
struct TeamUsage {
    gpus: u64,
    gpus_by_model: BTreeMap<GpuModel, u64>,
    cpu_millis: u64,
    memory_bytes: u64,
    projected_spend: Money,
}

#[derive(Clone, Debug, Default)]
struct RegionUsage {
    gpus: u64,
    gpus_by_model: BTreeMap<GpuModel, u64>,
    vcpus: u64,
    spot_gpus: u64,
}

/// Quota state during one pass. Teams are interned: each team path gets an
/// id, with its chain of ancestors (root first) computed once.
#[derive(Clone, Debug)]
pub(crate) struct QuotaLedger {
    ids: HashMap<TeamPath, usize, crate::fast_hash::FastHash>,
    paths: Vec<TeamPath>,
    /// Ids of the team and its ancestors, root first.
    chains: Vec<Vec<usize>>,
    quotas: Vec<Option<TeamQuota>>,
    teams: Vec<TeamUsage>,
    /// Cloud quotas with the usage of their region; only regions with a
    /// quota are tracked (a handful: found by a scan, without allocating).
    cloud_quotas: Vec<(CloudQuota, RegionUsage)>,
    /// End of the current UTC day.
    pub(crate) midnight: Seconds,
}

/// Seconds in a day.
pub(crate) const DAY: Seconds = 86_400;

/// A region with a cloud quota, as found by [`QuotaLedger::region_of`]
/// (`None` where there is no quota to count against).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegionId(usize);

impl QuotaLedger {
    /// The ledger as of `snapshot` at `now`: quotas and today's spend, no
    /// usage yet. The caller adds the running allocations with
    /// [`QuotaLedger::add`], each on its offer's [`QuotaLedger::region_of`].
    pub(crate) fn new(snapshot: &Snapshot, now: Seconds) -> Self {
        let midnight = (now / DAY + 1) * DAY;
        let mut ledger = QuotaLedger {
            ids: HashMap::default(),
            paths: Vec::new(),
            chains: Vec::new(),
            quotas: Vec::new(),
            teams: Vec::new(),
            cloud_quotas: snapshot
                .cloud_quotas
                .iter()
                .map(|quota| (quota.clone(), RegionUsage::default()))
                .collect(),
            midnight,
        };
        for budget in &snapshot.teams {
            let id = ledger.intern(&budget.quota.team);
            if let Some(slot) = ledger.quotas.get_mut(id) {
                *slot = Some(budget.quota.clone());
            }
        }
        for budget in &snapshot.teams {
            let id = ledger.intern(&budget.quota.team);
            for ancestor in ledger.chain(id).to_vec() {
                if let Some(entry) = ledger.teams.get_mut(ancestor) {
                    entry.projected_spend =
                        entry.projected_spend.saturating_add(budget.spend_today);
                }
            }
        }
        ledger
    }

    /// The cloud quota that counts usage in (`cloud`, `region`), if any: a
    /// handle for [`QuotaLedger::add`], [`QuotaLedger::check`] and the rest,
    /// found once per offer rather than once per check.
    pub(crate) fn region_of(&self, cloud: Cloud, region: &str) -> Option<RegionId> {
        self.cloud_quotas
            .iter()
            .position(|(quota, _)| quota.cloud == cloud && quota.region == region)
            .map(RegionId)
    }

    /// The id of `team`, adding it (and its ancestors) if new.
    pub(crate) fn intern(&mut self, team: &TeamPath) -> usize {
        if let Some(&id) = self.ids.get(team) {
            return id;
        }
        let parent_chain = match team.parent() {
            Some(parent) => {
                let parent_id = self.intern(&parent);
                self.chain(parent_id).to_vec()
            }
            None => Vec::new(),
        };
        let id = self.paths.len();
        self.ids.insert(team.clone(), id);
        self.paths.push(team.clone());
        let mut chain = parent_chain;
        chain.push(id);
        self.chains.push(chain);
        self.quotas.push(None);
        self.teams.push(TeamUsage::default());
        id
    }

    /// The id of an interned team.
    pub(crate) fn id(&self, team: &TeamPath) -> Option<usize> {
        self.ids.get(team).copied()
    }

    fn chain(&self, id: usize) -> &[usize] {
        self.chains.get(id).map_or(&[], Vec::as_slice)
    }

    /// The team limits that `usage` would break whatever the offer: total
    /// GPUs, CPU and memory of the team and its ancestors. A cheap first
    /// check before weighing offers one by one.
    pub(crate) fn check_totals(&self, team: usize, usage: &Usage) -> Result<(), WaitReason> {
        let totals = Usage {
            gpu_model: None,
            spend_until_midnight: Money::ZERO,
            spot: false,
            ..usage.clone()
        };
        match self.find_team_breach(team, &totals) {
            Some(breach) => Err(self.describe(&breach)),
            None => Ok(()),
        }
    }

    /// The limit that `usage` would break for `team` in (`cloud`, `region`), if any.
    pub(crate) fn check(
        &self,
        team: usize,
        usage: &Usage,
        region: Option<RegionId>,
    ) -> Result<(), WaitReason> {
        match self.find_breach(team, usage, region) {
            Some(breach) => Err(self.describe(&breach)),
            None => Ok(()),
        }
    }

    /// Like [`QuotaLedger::check`], without building a message: for the hot path.
    pub(crate) fn allows(&self, team: usize, usage: &Usage, region: Option<RegionId>) -> bool {
        self.find_breach(team, usage, region).is_none()
    }

    fn find_breach(&self, team: usize, usage: &Usage, region: Option<RegionId>) -> Option<Breach> {
        self.find_team_breach(team, usage)
            .or_else(|| self.find_cloud_breach(usage, region))
    }

    fn find_team_breach(&self, team: usize, usage: &Usage) -> Option<Breach> {
        for &id in self.chain(team).iter().rev() {
            let Some(Some(quota)) = self.quotas.get(id) else {
                continue;
            };
            let Some(used) = self.teams.get(id) else {
                continue;
            };
            let breach = |limit: QuotaLimit, in_use: u64, requested: u64, allowed: u64| Breach {
                scope: BreachScope::Team(id),
                limit,
                in_use,
                requested,
                allowed,
            };
            if let Some((limit, in_use, requested, allowed)) = gpu_breach(
                used.gpus,
                &used.gpus_by_model,
                usage,
                quota.gpus,
                &quota.gpus_by_model,
            ) {
                return Some(breach(limit, in_use, requested, allowed));
            }
            if let Some(limit) = quota.cpu_millis
                && used.cpu_millis + usage.cpu_millis > limit
            {
                return Some(breach(
                    QuotaLimit::CpuMillis,
                    used.cpu_millis,
                    usage.cpu_millis,
                    limit,
                ));
            }
            if let Some(limit) = quota.memory_bytes
                && used.memory_bytes + usage.memory_bytes > limit
            {
                return Some(breach(
                    QuotaLimit::MemoryBytes,
                    used.memory_bytes,
                    usage.memory_bytes,
                    limit,
                ));
            }
            if let Some(budget) = quota.budget_per_day
                && usage.spend_until_midnight > Money::ZERO
                && used
                    .projected_spend
                    .saturating_add(usage.spend_until_midnight)
                    > budget
            {
                let micros = |money: Money| u64::try_from(money.micros()).unwrap_or(0);
                return Some(breach(
                    QuotaLimit::BudgetMicros,
                    micros(used.projected_spend),
                    micros(usage.spend_until_midnight),
                    micros(budget),
                ));
            }
        }
        None
    }

    fn find_cloud_breach(&self, usage: &Usage, region: Option<RegionId>) -> Option<Breach> {
        if usage.gpus == 0 {
            return None;
        }
        let region = region?;
        let (quota, used) = self.cloud_quotas.get(region.0)?;
        let breach = |limit: QuotaLimit, in_use: u64, requested: u64, allowed: u64| Breach {
            scope: BreachScope::Cloud(region),
            limit,
            in_use,
            requested,
            allowed,
        };
        if let Some((limit, in_use, requested, allowed)) = gpu_breach(
            used.gpus,
            &used.gpus_by_model,
            usage,
            quota.gpus,
            &quota.gpus_by_model,
        ) {
            return Some(breach(limit, in_use, requested, allowed));
        }
        if let Some(limit) = quota.vcpus
            && used.vcpus + usage.vcpus > u64::from(limit)
        {
            return Some(breach(
                QuotaLimit::Vcpus,
                used.vcpus,
                usage.vcpus,
                u64::from(limit),
            ));
        }
        if let Some(limit) = quota.spot_gpus
            && usage.spot
            && used.spot_gpus + usage.gpus > u64::from(limit)
        {
            return Some(breach(
                QuotaLimit::SpotGpus,
                used.spot_gpus,
                usage.gpus,
                u64::from(limit),
            ));
        }
        None
    }

    /// The wait reason for a breach (its words are built only on display).
    fn describe(&self, breach: &Breach) -> WaitReason {
        let detail = QuotaDetail {
            limit: breach.limit,
            in_use: breach.in_use,
            requested: breach.requested,
            allowed: breach.allowed,
        };
        match &breach.scope {
            BreachScope::Team(id) => match self.paths.get(*id).cloned() {
                Some(team) if breach.limit == QuotaLimit::BudgetMicros => {
                    WaitReason::Budget { team, detail }
                }
                Some(team) => WaitReason::TeamQuota { team, detail },
                None => {
                    debug_assert!(false, "breach of a team that was never interned");
                    WaitReason::NoMatchingOffer(detail.to_string())
                }
            },
            BreachScope::Cloud(region) => match self.cloud_quotas.get(region.0) {
                Some((quota, _)) => WaitReason::CloudQuota {
                    cloud: quota.cloud,
                    region: quota.region.clone(),
                    detail,
                },
                None => {
                    debug_assert!(false, "breach of a region without a quota");
                    WaitReason::NoMatchingOffer(detail.to_string())
                }
            },
        }
    }

    /// Records a placement.
    pub(crate) fn add(&mut self, team: usize, usage: &Usage, region: Option<RegionId>) {
        let chain = self.chains.get(team).map_or(&[][..], Vec::as_slice);
        for &id in chain {
            let Some(entry) = self.teams.get_mut(id) else {
                continue;
            };
            entry.gpus += usage.gpus;
            // Per-model usage matters only where a quota limits models.
            let limits_models = self.quotas.get(id).is_some_and(|quota| {
                quota
                    .as_ref()
                    .is_some_and(|quota| !quota.gpus_by_model.is_empty())
            });
            if limits_models && let Some(model) = usage.gpu_model {
                *entry.gpus_by_model.entry(model).or_default() += usage.gpus;
            }
            entry.cpu_millis += usage.cpu_millis;
            entry.memory_bytes += usage.memory_bytes;
            entry.projected_spend = entry
                .projected_spend
                .saturating_add(usage.spend_until_midnight);
        }
        if usage.gpus == 0 {
            return;
        }
        let Some((_, entry)) = region.and_then(|region| self.cloud_quotas.get_mut(region.0)) else {
            return;
        };
        {
            entry.gpus += usage.gpus;
            if let Some(model) = usage.gpu_model {
                *entry.gpus_by_model.entry(model).or_default() += usage.gpus;
            }
            entry.vcpus += usage.vcpus;
            if usage.spot {
                entry.spot_gpus += usage.gpus;
            }
        }
    }

    /// Removes a placement (a preemption victim). Spend already projected
    /// for today stays: the victim ran until now, and budgets err safe.
    pub(crate) fn remove(&mut self, team: usize, usage: &Usage, region: Option<RegionId>) {
        let chain = self.chains.get(team).map_or(&[][..], Vec::as_slice);
        for &id in chain {
            let Some(entry) = self.teams.get_mut(id) else {
                continue;
            };
            entry.gpus = entry.gpus.saturating_sub(usage.gpus);
            if let Some(model) = usage.gpu_model
                && let Some(count) = entry.gpus_by_model.get_mut(&model)
            {
                *count = count.saturating_sub(usage.gpus);
            }
            entry.cpu_millis = entry.cpu_millis.saturating_sub(usage.cpu_millis);
            entry.memory_bytes = entry.memory_bytes.saturating_sub(usage.memory_bytes);
        }
        if usage.gpus == 0 {
            return;
        }
        let Some((_, entry)) = region.and_then(|region| self.cloud_quotas.get_mut(region.0)) else {
            return;
        };
        {
            entry.gpus = entry.gpus.saturating_sub(usage.gpus);
            if let Some(model) = usage.gpu_model
                && let Some(count) = entry.gpus_by_model.get_mut(&model)
            {
                *count = count.saturating_sub(usage.gpus);
            }
            entry.vcpus = entry.vcpus.saturating_sub(usage.vcpus);
            if usage.spot {
                entry.spot_gpus = entry.spot_gpus.saturating_sub(usage.gpus);
            }
        }
    }

    /// Dominant-resource share of `team` against its nearest quota, in
    /// millionths; teams without any quota share against `fleet_gpus`.
    pub(crate) fn dominant_share_ppm(&self, team: usize, fleet_gpus: u64) -> u64 {
        let empty = TeamUsage::default();
        let used = self.teams.get(team).unwrap_or(&empty);
        let quota = self
            .chain(team)
            .iter()
            .rev()
            .find_map(|&id| self.quotas.get(id).and_then(Option::as_ref));
        let ratio = |used: u64, limit: u64| {
            if limit == 0 {
                if used == 0 { 0 } else { u64::MAX }
            } else {
                u64::try_from(u128::from(used) * 1_000_000 / u128::from(limit)).unwrap_or(u64::MAX)
            }
        };
        match quota {
            Some(quota) => {
                let mut share = 0u64;
                let mut any_limit = false;
                if let Some(limit) = quota.gpus {
                    share = share.max(ratio(used.gpus, u64::from(limit)));
                    any_limit = true;
                }
                if let Some(limit) = quota.cpu_millis {
                    share = share.max(ratio(used.cpu_millis, limit));
                    any_limit = true;
                }
                if let Some(limit) = quota.memory_bytes {
                    share = share.max(ratio(used.memory_bytes, limit));
                    any_limit = true;
                }
                if any_limit {
                    share
                } else {
                    ratio(used.gpus, fleet_gpus.max(1))
                }
            }
            None => ratio(used.gpus, fleet_gpus.max(1)),
        }
    }
}

/// The GPU limits (all models, then the placement's model) that `usage`
/// would break on top of `used`: one check for team and cloud quotas alike.
fn gpu_breach(
    used_gpus: u64,
    used_by_model: &BTreeMap<GpuModel, u64>,
    usage: &Usage,
    limit: Option<u32>,
    limits_by_model: &BTreeMap<GpuModel, u32>,
) -> Option<(QuotaLimit, u64, u64, u64)> {
    if let Some(limit) = limit
        && used_gpus + usage.gpus > u64::from(limit)
    {
        return Some((QuotaLimit::Gpus, used_gpus, usage.gpus, u64::from(limit)));
    }
    let model = usage.gpu_model?;
    let limit = u64::from(*limits_by_model.get(&model)?);
    let in_use = used_by_model.get(&model).copied().unwrap_or(0);
    (in_use + usage.gpus > limit).then_some((
        QuotaLimit::ModelGpus(model),
        in_use,
        usage.gpus,
        limit,
    ))
}

/// Which limit a placement would break, with the numbers; formatted by
/// [`QuotaLedger::describe`] only when a message is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Breach {
    scope: BreachScope,
    limit: QuotaLimit,
    in_use: u64,
    requested: u64,
    allowed: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum BreachScope {
    Team(usize),
    Cloud(RegionId),
}
