//! `/api/v1/status`: the status as JSON, and the model the HTML page renders.
//!
//! Field names are part of the API: they change only by adding fields.
//! Money is in US dollars as a decimal string (`"98.32"`, exact, from
//! `Money`'s micro-dollars), times are RFC 3339 in UTC (with the Unix
//! milliseconds beside them where a program may want to compute), resources
//! are integers in their base unit (GPUs, CPU millicores, bytes).
//! Clusters, pools, queues and teams are sorted by name; recent decisions
//! are newest first.

use std::collections::BTreeMap;

use gantry_control::TeamUsage;
use gantry_control::driver::StatusSnapshot;
use gantry_core::{JobState, Money, TeamQuota};
use gantry_kube::{ClusterView, Pool, Room};
use gantry_store::JobCounts;
use serde::Serialize;

use super::StatusInputs;
use super::metrics::CumulativeBuckets;
use super::readiness;

/// The whole status.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusReport {
    /// The daemon's version.
    pub version: String,
    /// `dev` or `config:PATH`.
    pub mode: String,
    /// When the daemon started (RFC 3339).
    pub started_at: Option<String>,
    /// Seconds since it started.
    pub uptime_seconds: u64,
    /// When the control loop published this status (RFC 3339; `null`
    /// before its first snapshot).
    pub snapshot_at: Option<String>,
    /// The control loop has recovered.
    pub recovered: bool,
    /// What `/readyz` says.
    pub readiness: ReadinessReport,
    /// Whether the store answered, and why not.
    pub store: StoreReport,
    /// Clusters with their pools.
    pub clusters: Vec<ClusterReport>,
    /// Queued jobs per team.
    pub queues: Vec<QueueReport>,
    /// Jobs in the store by state (`null` when the store did not answer).
    pub job_counts: Option<JobCountsReport>,
    /// Live jobs the control loop holds, by state.
    pub live_jobs_by_state: BTreeMap<String, u64>,
    /// Teams: usage, quota, spend today.
    pub teams: Vec<TeamReport>,
    /// Recent scheduling decisions, newest first.
    pub recent_decisions: Vec<DecisionReport>,
    /// Submit-to-Placed latency.
    pub placement_latency: LatencyReport,
    /// Counters since start.
    pub counters: CountersReport,
}

/// `/readyz`'s outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    /// Every check passed.
    pub ready: bool,
    /// One line per check.
    pub checks: Vec<String>,
}

/// The store's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoreReport {
    /// It gave its job counts in time.
    pub ready: bool,
    /// Why not.
    pub problem: Option<String>,
}

/// One cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterReport {
    /// Name.
    pub name: String,
    /// Cloud (`aws`, `gcp`, `azure`, `onprem`).
    pub cloud: String,
    /// Region.
    pub region: String,
    /// `Reachable`, `Degraded` or `Lost`.
    pub health: String,
    /// Why.
    pub reason: String,
    /// Nodes and pods have been listed at least once.
    pub synced: bool,
    /// Live jobs placed here.
    pub live_jobs: u32,
    /// When its inventory was built (RFC 3339).
    pub inventory_at: String,
    /// Pools, by key.
    pub pools: Vec<PoolReport>,
    /// What the inventory could not read.
    pub issues: Vec<String>,
}

/// GPUs, CPU and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ResourcesReport {
    /// GPUs.
    pub gpus: u32,
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

impl From<Room> for ResourcesReport {
    fn from(room: Room) -> ResourcesReport {
        ResourcesReport {
            gpus: room.gpus,
            cpu_millis: room.cpu_millis,
            memory_bytes: room.memory_bytes,
        }
    }
}

/// Node counts of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NodesReport {
    /// Usable or not.
    pub total: u32,
    /// Can take work.
    pub usable: u32,
    /// Usable with nothing on them.
    pub idle: u32,
}

/// One pool of a cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolReport {
    /// Node group names, else instance type / zone / capacity type.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// `reserved`, `on-demand` or `spot`.
    pub capacity_type: String,
    /// GPU model of its nodes.
    pub gpu_model: Option<String>,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Nodes.
    pub nodes: NodesReport,
    /// Allocatable of the usable nodes.
    pub capacity: ResourcesReport,
    /// Requested on the usable nodes.
    pub allocated: ResourcesReport,
    /// Price of one node for one hour, in dollars.
    pub price_per_node_hour_usd: Option<String>,
    /// `pool-override`, `price-table`, `live`, `live-stale` or `missing`.
    pub price_source: String,
    /// Age of a live price, in seconds.
    pub price_age_s: Option<u64>,
    /// Why the table was used although a live feed knows the pool.
    pub price_note: Option<String>,
    /// How the pool disagrees with the cloud's instance catalog.
    pub catalog_note: Option<String>,
}

/// One team's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueReport {
    /// Team.
    pub team: String,
    /// Queued jobs.
    pub depth: u32,
}

/// Jobs in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobCountsReport {
    /// All jobs.
    pub total: u64,
    /// By state, every state present (0 included).
    pub by_state: BTreeMap<String, u64>,
    /// By team (that team only), states with jobs.
    pub by_team: Vec<TeamJobCountsReport>,
}

/// One team's jobs in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeamJobCountsReport {
    /// Team.
    pub team: String,
    /// By state.
    pub by_state: BTreeMap<String, u64>,
}

/// A team's quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaReport {
    /// GPUs of any model.
    pub gpus: Option<u32>,
    /// GPUs per model.
    pub gpus_by_model: BTreeMap<String, u32>,
    /// CPU in millicores.
    pub cpu_millis: Option<u64>,
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Budget per UTC day, in dollars.
    pub budget_per_day_usd: Option<String>,
}

impl From<&TeamQuota> for QuotaReport {
    fn from(quota: &TeamQuota) -> QuotaReport {
        QuotaReport {
            gpus: quota.gpus,
            gpus_by_model: quota
                .gpus_by_model
                .iter()
                .map(|(model, gpus)| (model.to_string(), *gpus))
                .collect(),
            cpu_millis: quota.cpu_millis,
            memory_bytes: quota.memory_bytes,
            budget_per_day_usd: quota.budget_per_day.map(usd),
        }
    }
}

/// One team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeamReport {
    /// Team path.
    pub team: Option<String>,
    /// GPUs held (with sub-teams).
    pub gpus_used: u32,
    /// GPUs held by model.
    pub gpus_used_by_model: BTreeMap<String, u32>,
    /// CPU held, in millicores.
    pub cpu_millis_used: u64,
    /// Memory held, in bytes.
    pub memory_bytes_used: u64,
    /// Its own queued jobs.
    pub queued: u32,
    /// Its own jobs holding capacity.
    pub running: u32,
    /// Spend today (UTC), in dollars.
    pub spend_today_usd: String,
    /// Its quota, if it has one.
    pub quota: Option<QuotaReport>,
}

impl From<&TeamUsage> for TeamReport {
    fn from(usage: &TeamUsage) -> TeamReport {
        TeamReport {
            team: usage.team.as_ref().map(ToString::to_string),
            gpus_used: usage.gpus,
            gpus_used_by_model: usage
                .gpus_by_model
                .iter()
                .map(|(model, gpus)| (model.to_string(), *gpus))
                .collect(),
            cpu_millis_used: usage.cpu_millis,
            memory_bytes_used: usage.memory_bytes,
            queued: usage.queued,
            running: usage.running,
            spend_today_usd: usd(usage.spend_today),
            quota: usage.quota.as_ref().map(QuotaReport::from),
        }
    }
}

/// One decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionReport {
    /// When (RFC 3339).
    pub at: Option<String>,
    /// When, in Unix milliseconds.
    pub at_unix_ms: i64,
    /// The job.
    pub job: String,
    /// What, in words.
    pub summary: String,
}

/// Submit-to-Placed latency from the histogram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyReport {
    /// Placements observed.
    pub count: u64,
    /// Sum, in seconds.
    pub sum_seconds: f64,
    /// Median estimate (`null` with no placement).
    pub p50_seconds: Option<f64>,
    /// 99th percentile estimate.
    pub p99_seconds: Option<f64>,
}

/// Counters since start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountersReport {
    /// Scheduling passes.
    pub scheduling_passes: u64,
    /// Jobs placed.
    pub placements: u64,
    /// Jobs preempted.
    pub preemptions: u64,
    /// Spend at list price, in dollars.
    pub list_spend_usd: String,
}

/// Dollars as a decimal string.
pub fn usd(money: Money) -> String {
    money.to_string()
}

/// Unix milliseconds as RFC 3339 (`None` outside the years jiff can show).
pub fn rfc3339(unix_ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(unix_ms)
        .ok()
        .map(|at| at.to_string())
}

fn states(counts: &BTreeMap<JobState, u64>) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(state, count)| (state.as_str().to_owned(), *count))
        .collect()
}

fn job_counts(counts: &JobCounts) -> JobCountsReport {
    let by_state = counts.by_state();
    JobCountsReport {
        total: counts.total(),
        by_state: JobState::ALL
            .into_iter()
            .map(|state| {
                (
                    state.as_str().to_owned(),
                    by_state.get(&state).copied().unwrap_or(0),
                )
            })
            .collect(),
        by_team: counts
            .by_team
            .iter()
            .map(|(team, counts)| TeamJobCountsReport {
                team: team.to_string(),
                by_state: states(counts),
            })
            .collect(),
    }
}

fn pool(pool: &Pool) -> PoolReport {
    PoolReport {
        name: pool.display_name(),
        instance_type: pool.key.instance_type.clone(),
        zone: pool.key.zone.clone(),
        capacity_type: pool.key.capacity_type.as_str().to_owned(),
        gpu_model: pool.gpu.map(|(model, _)| model.to_string()),
        gpus_per_node: pool.gpu.map_or(0, |(_, gpus)| gpus),
        nodes: NodesReport {
            total: pool.nodes,
            usable: pool.usable_nodes,
            idle: pool.idle_nodes,
        },
        capacity: pool.allocatable.into(),
        allocated: pool.allocated.into(),
        price_per_node_hour_usd: pool.price_per_node_hour.map(usd),
        price_source: pool.price_source.as_str().to_owned(),
        price_age_s: pool.price_age_s,
        price_note: pool.price_note.clone(),
        catalog_note: pool.catalog_note.clone(),
    }
}

fn cluster(view: &ClusterView, snapshot: &StatusSnapshot) -> ClusterReport {
    let mut pools: Vec<&Pool> = view.inventory.pools.iter().collect();
    pools.sort_by(|left, right| left.key.cmp(&right.key));
    ClusterReport {
        name: view.cluster.clone(),
        cloud: view.cloud.as_str().to_owned(),
        region: view.region.clone(),
        health: view.health.as_str().to_owned(),
        reason: view.health_reason.clone(),
        synced: view.synced,
        live_jobs: snapshot
            .jobs_per_cluster
            .get(&view.cluster)
            .copied()
            .unwrap_or(0),
        inventory_at: view.updated_at.to_string(),
        pools: pools.into_iter().map(pool).collect(),
        issues: view.inventory.issues.clone(),
    }
}

impl StatusReport {
    /// The report of what the inputs hold.
    pub fn new(inputs: &StatusInputs) -> StatusReport {
        let snapshot = inputs.snapshot.as_ref();
        let mut clusters: Vec<ClusterReport> = snapshot
            .clusters
            .iter()
            .map(|view| cluster(view, snapshot))
            .collect();
        clusters.sort_by(|left, right| left.name.cmp(&right.name));
        let mut teams: Vec<TeamReport> = snapshot.teams.iter().map(TeamReport::from).collect();
        teams.sort_by(|left, right| left.team.cmp(&right.team));
        let latency = CumulativeBuckets::of(&snapshot.placement_latency);
        let readiness = readiness::check(
            snapshot,
            inputs.counts.as_ref().map(|_| ()),
            &inputs.clouds.apis,
        );
        let uptime_ms = inputs
            .now_unix_ms
            .saturating_sub(inputs.started_at_unix_ms)
            .max(0);
        StatusReport {
            version: inputs.version.clone(),
            mode: inputs.mode.clone(),
            started_at: rfc3339(inputs.started_at_unix_ms),
            uptime_seconds: u64::try_from(uptime_ms / 1000).unwrap_or(0),
            snapshot_at: (snapshot.at_unix_ms > 0)
                .then(|| rfc3339(snapshot.at_unix_ms))
                .flatten(),
            recovered: snapshot.recovered,
            readiness: ReadinessReport {
                ready: readiness.ready,
                checks: readiness.lines,
            },
            store: StoreReport {
                ready: inputs.counts.is_ok(),
                problem: inputs
                    .counts
                    .as_ref()
                    .err()
                    .map(|problem| problem.to_string()),
            },
            clusters,
            queues: snapshot
                .queue_depth
                .iter()
                .map(|(team, depth)| QueueReport {
                    team: team.clone(),
                    depth: *depth,
                })
                .collect(),
            job_counts: inputs.counts.as_ref().ok().map(job_counts),
            live_jobs_by_state: states(&snapshot.live_by_state),
            teams,
            recent_decisions: snapshot
                .recent
                .iter()
                .rev()
                .map(|decision| DecisionReport {
                    at: rfc3339(decision.at_unix_ms),
                    at_unix_ms: decision.at_unix_ms,
                    job: decision.job_id.to_string(),
                    summary: decision.summary.clone(),
                })
                .collect(),
            placement_latency: LatencyReport {
                count: latency.count,
                sum_seconds: latency.sum,
                p50_seconds: latency.quantile(0.5),
                p99_seconds: latency.quantile(0.99),
            },
            counters: CountersReport {
                scheduling_passes: snapshot.metrics.passes,
                placements: snapshot.metrics.placements,
                preemptions: snapshot.metrics.preemptions,
                list_spend_usd: usd(snapshot.metrics.list_spend),
            },
        }
    }
}
