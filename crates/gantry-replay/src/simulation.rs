//! The discrete-event simulation: virtual time, one `schedule()` call per
//! event instant.
//!
//! Events: job arrival, job completion, spot availability change (from the
//! spot traces), spot node interruption (seeded Poisson process, for spot
//! pools without a series), a daily tick when some team has a budget, and
//! the scheduling cycle when one is set. All events at one instant are
//! applied first; then, if something changed that could let a job start, the
//! [`Snapshot`] is brought up to date (it is kept between calls and updated in
//! place, not rebuilt) and the scheduler is called once. Its plan is applied:
//! placements start jobs on nodes chosen by [`PoolState`], preemptions stop
//! victims, which go back to the queue. When a plan preempts, the scheduler
//! is called again at the same instant (up to [`MAX_ROUNDS_PER_INSTANT`]
//! calls) so the jobs it made room for can start. After each plan the quota
//! checker recounts every limit.
//!
//! Parking (on by default; `ReplayInput::parking`), as Kueue parks
//! inadmissible workloads until their quota or capacity changes: a job the
//! plan leaves waiting is not shown to the scheduler again until something is
//! released (a job stops, a spot pool comes back, a day begins). When team
//! limits do not depend on the offer (GPUs in total, CPU, memory: no
//! per-model GPU limits, no budgets), a job waiting on room, a cloud quota or
//! a team limit is parked with the jobs of its team and shape, and only as
//! many of them are woken, oldest first, as the released room and the team's
//! headroom could take: room counts only in regions where something was
//! released, unless the team's own usage fell (`Simulation::wake_groups`
//! says why this is exact). Otherwise every waiter is woken. A job that
//! turned room down for patience (`WaitReason::Patience`) is parked until
//! anything is released or a `PatienceEnds` event, at the end of its
//! patience, counts as one.
//! Parking is exact, not a heuristic, given three properties of the
//! replayed workload and scheduler: every job has the same priority (so
//! nothing preempts), every policy backfills (a waiting job holds nothing
//! back), and a job that found no room, or was over a limit, cannot be
//! placed once capacity and quota have only shrunk. Parking is off when some
//! team has a budget (the budget left changes with the time of day).
//! `--no-parking` shows the whole queue at every call; the reports are the
//! same, only slower.
//!
//! Scheduling cycle (`ReplayInput::cycle_s`, default 0): with N > 0 the
//! events of each N seconds are collected and the scheduler is called once at
//! the next multiple of N, as a control loop with a fixed cycle would.
//!
//! Work model: a job's `reference_runtime_s` is its run time on the throughput
//! table's reference model; on a model it runs for
//! `ThroughputTable::runtime_on(model, remaining)`. It checkpoints every
//! `checkpoint_every_s` of useful run time. A stopped job keeps the work up
//! to its last checkpoint; a resumed one first spends the restart overhead.
//! Cost: a running job pays its pool's hourly price x its share of the node
//! (GPUs used / GPUs per node) x replicas for every second it holds the
//! nodes, lost work and restart overhead included; reserved pools cost
//! nothing at the margin (their fixed cost is added by the caller).
//!
//! Determinism: no clocks or hashes decide anything; ties are broken by
//! index; the Poisson process is seeded. Wall-clock time is measured only
//! for the report.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use gantry_core::{CapacityType, JobId, Money, TeamPath};
use gantry_sched::{
    Allocation, Offer, Plan, Policy, QueuedJob, Seconds, Snapshot, TeamBudget, ThroughputTable,
    WaitReason,
};

use crate::cluster_state::PoolState;
use crate::fleet::{FleetModel, Pool};
use crate::quota_check::{Footprint, QuotaViolation, Usage, violations};
use crate::spot_trace::SpotSchedule;
use crate::workload::{ReplayJob, WorkloadRules, placement};

/// Most scheduler calls at one instant (the first, plus rounds after preemptions).
pub const MAX_ROUNDS_PER_INSTANT: usize = 4;

/// The scheduler under test: `gantry_sched::schedule`, or a stand-in in tests.
pub type Scheduler<'a> = &'a (dyn Fn(&Snapshot, &Policy, Seconds) -> Plan + Sync);

/// The simulated world's physics, the same for every policy.
#[derive(Clone, Debug)]
pub struct World {
    /// How fast each GPU model runs a job.
    pub throughput: ThroughputTable,
    /// Time a resumed job spends before it makes progress.
    pub restart_overhead_s: Seconds,
    /// Seed of the Poisson spot interruptions.
    pub seed: u64,
}

impl Default for World {
    /// Gantry's published throughput table and restart overhead, seed 1.
    fn default() -> Self {
        let policy = Policy::gantry();
        World {
            throughput: policy.throughput,
            restart_overhead_s: policy.restart_overhead_s,
            seed: 1,
        }
    }
}

/// What a replay runs.
#[derive(Clone, Copy, Debug)]
pub struct ReplayInput<'a> {
    /// Pools and quotas.
    pub fleet: &'a FleetModel,
    /// Jobs in submission order.
    pub jobs: &'a [ReplayJob],
    /// How the jobs were formed (checkpoints, spot policy, priority).
    pub rules: &'a WorkloadRules,
    /// Per pool: the spot series it follows, if any.
    pub spot: &'a [Option<SpotSchedule>],
    /// Physics.
    pub world: &'a World,
    /// Time zero of the spot series.
    pub origin: Seconds,
    /// Scheduling cycle: 0 decides at every event instant; otherwise events
    /// are collected and the scheduler is called at the next multiple of
    /// `cycle_s` after something changed.
    pub cycle_s: Seconds,
    /// Park waiting jobs until capacity, quota or budget is released (exact:
    /// see the module doc); false shows the whole queue at every call.
    pub parking: bool,
}

/// What one replay measured (before the fixed reserved cost and the bound).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Jobs in the trace window.
    pub jobs: usize,
    /// Jobs that finished.
    pub completed: usize,
    /// Jobs still queued when nothing could change any more.
    pub unfinished: usize,
    /// Completion minus submission, per finished job, in job order.
    pub jct_s: Vec<u64>,
    /// Total time queued (first wait plus waits after interruptions), per finished job.
    pub wait_s: Vec<u64>,
    /// Paid on on-demand pools.
    pub on_demand_cost: Money,
    /// Paid on spot pools.
    pub spot_cost: Money,
    /// GPU-seconds held on every pool.
    pub gpu_busy_s: u128,
    /// GPU-seconds held on reserved pools.
    pub reserved_busy_gpu_s: u128,
    /// GPU-seconds of work lost to interruptions and preemptions (incl. restart overhead).
    pub lost_gpu_s: u128,
    /// Time of the last completion.
    pub makespan_end: Seconds,
    /// Victims stopped by plans.
    pub preemptions: u64,
    /// Jobs stopped by spot interruptions.
    pub spot_interruptions: u64,
    /// Plan entries that could not be applied (job not queued, gang split, no room on the nodes).
    pub infeasible_placements: u64,
    /// Limits found exceeded after a plan was applied (must be 0).
    pub quota_violations: u64,
    /// The first few of them, for the report.
    pub quota_violation_examples: Vec<String>,
    /// Calls to the scheduler.
    pub schedule_calls: u64,
    /// Placements applied.
    pub placements: u64,
    /// Jobs the scheduler decided about (placed or left waiting with a reason).
    pub job_decisions: u64,
    /// Wall time inside the scheduler.
    pub schedule_time: Duration,
    /// Longest queue handed to the scheduler.
    pub max_queue: usize,
    /// Queued jobs handed to the scheduler, summed over calls.
    pub queued_per_call_sum: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    NotArrived,
    Queued,
    Running,
    Done,
}

#[derive(Clone, Debug)]
struct Run {
    pool: usize,
    nodes: Vec<u32>,
    started_at: Seconds,
    /// When useful work starts (after the restart overhead).
    progress_from: Seconds,
    /// Remaining reference work at the start, and its run time on this model.
    reference_at_start: Seconds,
    wall_runtime: Seconds,
    hourly: Money,
}

#[derive(Clone, Debug)]
struct JobState {
    phase: Phase,
    remaining_reference_s: Seconds,
    starts: u32,
    queued_since: Seconds,
    waited_s: u64,
    run: Option<Run>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Completion {
        job: u32,
        start: u32,
    },
    SpotChange {
        pool: u32,
        available: bool,
    },
    NodeInterruption {
        pool: u32,
    },
    DayTick,
    Cycle,
    /// Some job's patience ends (`WaitReason::Patience`): decide again.
    PatienceEnds,
}

/// Small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// The hourly price of `replicas` replicas of `gpus_per_replica` GPUs on `pool`.
pub fn job_hourly_price(
    pool: &Pool,
    replicas: u32,
    gpus_per_replica: u32,
    cpu_millis: u64,
) -> Money {
    let replicas = u64::from(replicas);
    let per_node = pool.gpus_per_node();
    let share = if per_node > 0 {
        pool.price_per_node_hour
            .mul_ratio(u64::from(gpus_per_replica) * replicas, u64::from(per_node))
    } else {
        pool.price_per_node_hour
            .mul_ratio(cpu_millis * replicas, pool.node.cpu_millis.max(1))
    };
    share.unwrap_or(Money::from_micros(i64::MAX))
}

struct Simulation<'a> {
    input: ReplayInput<'a>,
    policy: &'a Policy,
    scheduler: Scheduler<'a>,
    states: Vec<JobState>,
    pools: Vec<PoolState>,
    dirty_pools: Vec<bool>,
    snapshot: Snapshot,
    queue_jobs: Vec<u32>,
    running_jobs: Vec<u32>,
    running_position: Vec<usize>,
    index_of: HashMap<JobId, u32>,
    usage: Usage,
    events: BinaryHeap<Reverse<(Seconds, u64, EventKind)>>,
    sequence: u64,
    rng: Vec<SplitMix64>,
    spend_by_team: Vec<Money>,
    budgets: bool,
    /// Something happened since the last decision that may let a job start.
    changed: bool,
    /// A cycle event is in the queue.
    cycle_pending: bool,
    /// Park jobs that wait until something is released (see the module doc).
    parking: bool,
    /// Waiting jobs not shown to the scheduler until something is released.
    parked: Vec<(u32, QueuedJob)>,
    /// Park team-quota waiters by team: only when every team limit is
    /// offer-independent (no per-model GPU limits, no budgets).
    team_keyed: bool,
    /// Waiters on capacity, cloud or team quota by group (team and shape),
    /// each list in queue order (see `wake_groups`).
    parked_by_group: BTreeMap<ParkGroup, Vec<(u32, QueuedJob)>>,
    /// Region index of each pool (pools of one cloud region share one).
    pool_region: Vec<usize>,
    /// Regions where capacity or cloud quota was released since the last
    /// `unpark` (a job stopped on one of their pools, a spot pool came back).
    touched_regions: Vec<bool>,
    /// Per job: to be parked by the next `partition_queue`, and where.
    park_mark: Vec<Option<Park>>,
    /// Times of pending `PatienceEnds` events (one event per time).
    patience_wakes: BTreeSet<Seconds>,
    /// Capacity, quota or budget was released since the last decision.
    released: bool,
    /// Teams whose jobs stopped since the last decision.
    released_teams: BTreeSet<TeamPath>,
    outcome: Outcome,
}

const NOT_RUNNING: usize = usize::MAX;

/// Replays `input` under `policy`, calling `scheduler` for every decision.
pub fn replay(input: ReplayInput<'_>, policy: &Policy, scheduler: Scheduler<'_>) -> Outcome {
    let mut simulation = Simulation::new(input, policy, scheduler);
    simulation.run();
    simulation.outcome
}

impl<'a> Simulation<'a> {
    fn new(input: ReplayInput<'a>, policy: &'a Policy, scheduler: Scheduler<'a>) -> Simulation<'a> {
        let fleet = input.fleet;
        let pools: Vec<PoolState> = fleet.pools.iter().map(PoolState::new).collect();
        let offers: Vec<Offer> = fleet
            .pools
            .iter()
            .enumerate()
            .map(|(index, pool)| {
                let spot_rate = input
                    .spot
                    .get(index)
                    .and_then(Option::as_ref)
                    .map(SpotSchedule::interruptions_per_hour);
                Offer {
                    cluster: pool.cluster.clone(),
                    cloud: pool.cloud,
                    region: pool.region.clone(),
                    zone: pool.zone.clone(),
                    pool: pool.name.clone(),
                    instance_type: pool.instance_type.clone(),
                    capacity_type: pool.capacity_type,
                    node: pool.node,
                    price_per_node_hour: pool.price_per_node_hour,
                    // A pool that follows a series is announced with that
                    // series' historical rate, as an operator would measure it.
                    interruption_rate_per_hour: spot_rate
                        .unwrap_or(pool.interruption_rate_per_hour),
                    total_nodes: pool.nodes,
                    idle_nodes: 0,
                    partial_nodes: Vec::new(),
                }
            })
            .collect();
        let teams: Vec<TeamBudget> = fleet
            .teams
            .iter()
            .map(|quota| TeamBudget {
                quota: quota.clone(),
                spend_today: Money::ZERO,
            })
            .collect();
        let budgets = fleet
            .teams
            .iter()
            .any(|quota| quota.budget_per_day.is_some());
        let states = input
            .jobs
            .iter()
            .map(|job| JobState {
                phase: Phase::NotArrived,
                remaining_reference_s: job.reference_runtime_s,
                starts: 0,
                queued_since: 0,
                waited_s: 0,
                run: None,
            })
            .collect();
        let index_of = input
            .jobs
            .iter()
            .enumerate()
            .map(|(index, job)| (job.id.clone(), u32::try_from(index).unwrap_or(u32::MAX)))
            .collect();
        let rng = (0..fleet.pools.len() as u64)
            .map(|index| SplitMix64(input.world.seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407)))
            .collect();
        let pool_count = fleet.pools.len();
        let mut regions: Vec<(gantry_core::Cloud, &str)> = Vec::new();
        let pool_region: Vec<usize> = fleet
            .pools
            .iter()
            .map(|pool| {
                let key = (pool.cloud, pool.region.as_str());
                match regions.iter().position(|region| *region == key) {
                    Some(index) => index,
                    None => {
                        regions.push(key);
                        regions.len() - 1
                    }
                }
            })
            .collect();
        Simulation {
            input,
            policy,
            scheduler,
            states,
            pools,
            dirty_pools: vec![true; pool_count],
            snapshot: Snapshot {
                offers,
                running: Vec::new(),
                teams,
                cloud_quotas: fleet.cloud_quotas.clone(),
                queue: Vec::new(),
            },
            queue_jobs: Vec::new(),
            running_jobs: Vec::new(),
            running_position: vec![NOT_RUNNING; input.jobs.len()],
            index_of,
            usage: Usage::default(),
            events: BinaryHeap::new(),
            sequence: 0,
            rng,
            spend_by_team: vec![Money::ZERO; fleet.teams.len()],
            budgets,
            changed: false,
            cycle_pending: false,
            parking: input.parking && !budgets,
            parked: Vec::new(),
            team_keyed: fleet
                .teams
                .iter()
                .all(|quota| quota.gpus_by_model.is_empty() && quota.budget_per_day.is_none()),
            park_mark: vec![None; input.jobs.len()],
            parked_by_group: BTreeMap::new(),
            pool_region: pool_region.clone(),
            touched_regions: vec![false; pool_region.iter().max().map_or(0, |max| max + 1)],
            released: false,
            patience_wakes: BTreeSet::new(),
            released_teams: BTreeSet::new(),
            outcome: Outcome {
                jobs: input.jobs.len(),
                ..Outcome::default()
            },
        }
    }

    fn push_event(&mut self, at: Seconds, kind: EventKind) {
        self.sequence += 1;
        self.events.push(Reverse((at, self.sequence, kind)));
    }

    fn job(&self, index: u32) -> Option<&'a ReplayJob> {
        self.input.jobs.get(index as usize)
    }

    fn run(&mut self) {
        let origin = self.input.origin;
        // Spot series and Poisson interruptions.
        for pool_index in 0..self.input.fleet.pools.len() {
            let pool_id = u32::try_from(pool_index).unwrap_or(u32::MAX);
            if let Some(Some(schedule)) = self.input.spot.get(pool_index) {
                if !schedule.initially_available
                    && let Some(state) = self.pools.get_mut(pool_index)
                {
                    state.available = false;
                }
                if let Some((at, available)) = schedule.next_change_after(origin, origin) {
                    self.push_event(
                        at,
                        EventKind::SpotChange {
                            pool: pool_id,
                            available,
                        },
                    );
                }
            } else if let Some(at) = self.next_node_interruption(pool_index, origin) {
                self.push_event(at, EventKind::NodeInterruption { pool: pool_id });
            }
        }
        if self.budgets {
            self.push_event((origin / 86_400 + 1) * 86_400, EventKind::DayTick);
        }
        let stall_limit = self
            .input
            .spot
            .iter()
            .flatten()
            .map(|schedule| schedule.period_s)
            .max()
            .unwrap_or(0)
            + 86_400;

        let jobs = self.input.jobs;
        let mut next_arrival = 0usize;
        let mut last_progress: Seconds = origin;
        loop {
            let arrival_at = jobs.get(next_arrival).map(|job| job.submit_s);
            let event_at = self.events.peek().map(|Reverse((at, _, _))| *at);
            let now = match (arrival_at, event_at) {
                (Some(a), Some(e)) => a.min(e),
                (Some(a), None) => a,
                (None, Some(e)) => e,
                (None, None) => break,
            };
            let arrivals_done = arrival_at.is_none();
            if arrivals_done && self.running_jobs.is_empty() {
                if self.queue_jobs.is_empty()
                    && self.parked.is_empty()
                    && self.parked_by_group.is_empty()
                {
                    break;
                }
                if now > last_progress.saturating_add(stall_limit) {
                    break;
                }
            }
            let mut cycle_due = false;
            while let Some(Reverse((at, _, kind))) = self.events.peek().copied() {
                if at != now {
                    break;
                }
                self.events.pop();
                if kind == EventKind::Cycle {
                    self.cycle_pending = false;
                    cycle_due = true;
                } else {
                    self.changed |= self.handle(now, kind);
                }
            }
            while let Some(job) = jobs.get(next_arrival) {
                if job.submit_s != now {
                    break;
                }
                let index = u32::try_from(next_arrival).unwrap_or(u32::MAX);
                self.enqueue(index, now);
                next_arrival += 1;
                self.changed = true;
            }
            let cycle_s = self.input.cycle_s;
            if self.changed && cycle_s > 0 && !cycle_due && !self.cycle_pending {
                // Decide at the next cycle boundary (now, if now is one).
                let boundary = now.div_ceil(cycle_s) * cycle_s;
                self.push_event(boundary, EventKind::Cycle);
                self.cycle_pending = true;
            }
            if self.changed && (cycle_s == 0 || cycle_due) {
                self.changed = false;
                if self.released {
                    self.released = false;
                    self.unpark(now);
                }
                if !self.queue_jobs.is_empty() {
                    for _ in 0..MAX_ROUNDS_PER_INSTANT {
                        let (placed, preempted) = self.schedule_round(now);
                        if placed > 0 {
                            last_progress = now;
                        }
                        if preempted == 0 || self.queue_jobs.is_empty() {
                            break;
                        }
                    }
                }
            }
            if !self.running_jobs.is_empty() {
                last_progress = now;
            }
        }
        self.outcome.unfinished = self
            .states
            .iter()
            .filter(|state| state.phase != Phase::Done)
            .count();
    }

    /// Applies one event; true if it may let a waiting job start.
    fn handle(&mut self, now: Seconds, kind: EventKind) -> bool {
        match kind {
            EventKind::Completion { job, start } => {
                let current = self
                    .states
                    .get(job as usize)
                    .is_some_and(|state| state.phase == Phase::Running && state.starts == start);
                if current {
                    self.stop(job, now, Stop::Completed);
                }
                current
            }
            EventKind::SpotChange { pool, available } => {
                let pool_index = pool as usize;
                if let Some(Some(schedule)) = self.input.spot.get(pool_index)
                    && let Some((at, next)) = schedule.next_change_after(self.input.origin, now)
                {
                    self.push_event(
                        at,
                        EventKind::SpotChange {
                            pool,
                            available: next,
                        },
                    );
                }
                if let Some(state) = self.pools.get_mut(pool_index) {
                    state.available = available;
                }
                if let Some(dirty) = self.dirty_pools.get_mut(pool_index) {
                    *dirty = true;
                }
                if available {
                    self.released = true;
                    self.touch_region_of(pool_index);
                    return true;
                }
                let victims: Vec<u32> = self
                    .running_jobs
                    .iter()
                    .copied()
                    .filter(|&job| self.run_of(job).is_some_and(|run| run.pool == pool_index))
                    .collect();
                let interrupted = !victims.is_empty();
                for job in victims {
                    self.stop(job, now, Stop::Interrupted);
                    self.outcome.spot_interruptions += 1;
                }
                interrupted
            }
            EventKind::NodeInterruption { pool } => {
                let pool_index = pool as usize;
                if let Some(at) = self.next_node_interruption(pool_index, now) {
                    self.push_event(at, EventKind::NodeInterruption { pool });
                }
                let nodes = self
                    .input
                    .fleet
                    .pools
                    .get(pool_index)
                    .map_or(0, |pool| pool.nodes);
                if nodes == 0 {
                    return false;
                }
                let node = self
                    .rng
                    .get_mut(pool_index)
                    .map_or(0, |rng| (rng.next_u64() % u64::from(nodes)) as u32);
                let victims: Vec<u32> = self
                    .running_jobs
                    .iter()
                    .copied()
                    .filter(|&job| {
                        self.run_of(job)
                            .is_some_and(|run| run.pool == pool_index && run.nodes.contains(&node))
                    })
                    .collect();
                let interrupted = !victims.is_empty();
                for job in victims {
                    self.stop(job, now, Stop::Interrupted);
                    self.outcome.spot_interruptions += 1;
                }
                interrupted
            }
            EventKind::Cycle => false,
            EventKind::PatienceEnds => {
                self.patience_wakes.remove(&now);
                self.released = true;
                true
            }
            EventKind::DayTick => {
                self.push_event(now + 86_400, EventKind::DayTick);
                self.spend_by_team
                    .iter_mut()
                    .for_each(|spend| *spend = Money::ZERO);
                self.released = true;
                true
            }
        }
    }

    /// Next Poisson interruption of a spot pool without a series.
    fn next_node_interruption(&mut self, pool_index: usize, now: Seconds) -> Option<Seconds> {
        let pool = self.input.fleet.pools.get(pool_index)?;
        let rate_per_s = pool.interruption_rate_per_hour * f64::from(pool.nodes) / 3600.0;
        if pool.capacity_type != CapacityType::Spot || rate_per_s <= 0.0 || !rate_per_s.is_finite()
        {
            return None;
        }
        let draw = self.rng.get_mut(pool_index)?.unit();
        let gap = (-draw.ln() / rate_per_s).ceil().clamp(1.0, 1e12) as u64;
        Some(now + gap)
    }

    fn run_of(&self, job: u32) -> Option<&Run> {
        self.states
            .get(job as usize)
            .and_then(|state| state.run.as_ref())
    }

    fn queued_job(&self, index: u32) -> Option<QueuedJob> {
        let job = self.job(index)?;
        let state = self.states.get(index as usize)?;
        Some(QueuedJob {
            id: job.id.clone(),
            team: job.team.clone(),
            priority: self.input.rules.priority,
            submitted_at: job.submit_s,
            replicas: job.replicas,
            replica: job.replica.clone(),
            placement: placement(self.input.rules),
            expected_runtime_s: state.remaining_reference_s,
            data: Vec::new(),
            checkpoint_every_s: Some(self.input.rules.checkpoint_every_s),
            preemptible: true,
        })
    }

    /// Puts a job in the queue, in submission order.
    fn enqueue(&mut self, index: u32, now: Seconds) {
        let Some(queued) = self.queued_job(index) else {
            return;
        };
        if let Some(state) = self.states.get_mut(index as usize) {
            state.phase = Phase::Queued;
            state.queued_since = now;
        }
        let jobs = self.input.jobs;
        let key = |job: u32| (jobs.get(job as usize).map_or(0, |j| j.submit_s), job);
        let position = self
            .queue_jobs
            .partition_point(|&other| key(other) < key(index));
        self.queue_jobs.insert(position, index);
        self.snapshot.queue.insert(position, queued);
    }

    fn refresh_snapshot(&mut self, now: Seconds) {
        for (index, dirty) in self.dirty_pools.iter_mut().enumerate() {
            if *dirty
                && let (Some(state), Some(offer)) =
                    (self.pools.get(index), self.snapshot.offers.get_mut(index))
            {
                state.fill_offer(offer);
                *dirty = false;
            }
        }
        if self.policy.preemption {
            let every = self.input.rules.checkpoint_every_s.max(1);
            for (allocation, &job) in self.snapshot.running.iter_mut().zip(&self.running_jobs) {
                if let Some(run) = self
                    .states
                    .get(job as usize)
                    .and_then(|state| state.run.as_ref())
                {
                    allocation.last_checkpoint_at = if now >= run.progress_from {
                        run.progress_from + (now - run.progress_from) / every * every
                    } else {
                        run.started_at
                    };
                }
            }
        }
        if self.budgets {
            for (budget, spend) in self.snapshot.teams.iter_mut().zip(&self.spend_by_team) {
                budget.spend_today = *spend;
            }
        }
    }

    /// One scheduler call and its plan applied: (placed, preempted).
    fn schedule_round(&mut self, now: Seconds) -> (usize, usize) {
        self.refresh_snapshot(now);
        self.outcome.max_queue = self.outcome.max_queue.max(self.snapshot.queue.len());
        self.outcome.queued_per_call_sum += self.snapshot.queue.len() as u64;
        let started = Instant::now();
        let plan = (self.scheduler)(&self.snapshot, self.policy, now);
        self.outcome.schedule_time += started.elapsed();
        self.outcome.schedule_calls += 1;
        self.outcome.job_decisions += (plan.placements.len() + plan.waiting.len()) as u64;
        let placed = self.apply_placements(&plan, now);
        let mut preempted = 0;
        for preemption in &plan.preemptions {
            let Some(&victim) = self.index_of.get(&preemption.victim) else {
                self.outcome.infeasible_placements += 1;
                continue;
            };
            if self
                .states
                .get(victim as usize)
                .is_some_and(|state| state.phase == Phase::Running)
            {
                self.stop(victim, now, Stop::Preempted);
                self.outcome.preemptions += 1;
                preempted += 1;
            }
        }
        self.check_quotas();
        (placed, preempted)
    }

    fn apply_placements(&mut self, plan: &Plan, now: Seconds) -> usize {
        let mut placed_any = false;
        let mut placed = 0;
        for assignment in &plan.placements {
            let Some(&index) = self.index_of.get(&assignment.job) else {
                self.outcome.infeasible_placements += 1;
                continue;
            };
            let Some(job) = self.job(index) else {
                continue;
            };
            let queued = self
                .states
                .get(index as usize)
                .is_some_and(|state| state.phase == Phase::Queued);
            if !queued || assignment.replicas != job.replicas {
                self.outcome.infeasible_placements += 1;
                continue;
            }
            let pool_index = assignment.offer;
            let nodes = match self.pools.get_mut(pool_index) {
                Some(state) => state.place(&job.replica, job.replicas),
                None => None,
            };
            let Some(nodes) = nodes else {
                self.outcome.infeasible_placements += 1;
                continue;
            };
            self.start(index, pool_index, nodes, now);
            placed_any = true;
            placed += 1;
        }
        // Jobs the plan leaves waiting for a reason that only a release can
        // lift are parked (see `park`).
        // A job that found room and turned it down decides again when its
        // patience ends, if nothing else happens first.
        for waiting in &plan.waiting {
            if let WaitReason::Patience { until, .. } = waiting.reason
                && until > now
                && self.patience_wakes.insert(until)
            {
                self.push_event(until, EventKind::PatienceEnds);
            }
        }
        let mut parked_any = false;
        if self.parking {
            for waiting in &plan.waiting {
                let park = match &waiting.reason {
                    WaitReason::BehindEarlierJob(_) | WaitReason::AwaitingPreemption => None,
                    // Turned room down: with nothing released, what has
                    // room now had room then, so it would again, until its
                    // patience ends (which counts as a release).
                    WaitReason::Patience { .. } => Some(Park::UntilAnyRelease),
                    WaitReason::TeamQuota { .. }
                    | WaitReason::Capacity { .. }
                    | WaitReason::CloudQuota { .. }
                        if self.team_keyed =>
                    {
                        Some(Park::Group)
                    }
                    _ => Some(Park::UntilAnyRelease),
                };
                if let Some(park) = park
                    && let Some(&index) = self.index_of.get(&waiting.job)
                    && let Some(mark) = self.park_mark.get_mut(index as usize)
                {
                    *mark = Some(park);
                    parked_any = true;
                }
            }
        }
        if placed_any || parked_any {
            self.partition_queue();
        }
        placed
    }

    /// Drops started jobs from the queue and moves marked ones to `parked`.
    fn partition_queue(&mut self) {
        // The vectors are rebuilt with room reserved once (and `parked`
        // keeps its capacity across calls): this runs after most calls.
        let jobs = std::mem::take(&mut self.queue_jobs);
        let queued = std::mem::take(&mut self.snapshot.queue);
        self.queue_jobs.reserve(jobs.len());
        self.snapshot.queue.reserve(jobs.len());
        for (job, entry) in jobs.into_iter().zip(queued) {
            let still_queued = self
                .states
                .get(job as usize)
                .is_some_and(|state| state.phase == Phase::Queued);
            if !still_queued {
                continue;
            }
            match self.park_mark.get_mut(job as usize).and_then(Option::take) {
                Some(Park::UntilAnyRelease) => self.parked.push((job, entry)),
                Some(Park::Group) => self
                    .parked_by_group
                    .entry(ParkGroup::of(&entry))
                    .or_default()
                    .push((job, entry)),
                None => {
                    self.queue_jobs.push(job);
                    self.snapshot.queue.push(entry);
                }
            }
        }
    }

    /// Wakes parked jobs after a release: every job parked until any
    /// release, and those of each group that could now be placed (see
    /// `wake_groups`).
    fn unpark(&mut self, now: Seconds) {
        let mut woken = Vec::with_capacity(self.parked.len());
        woken.append(&mut self.parked);
        let released_teams = std::mem::take(&mut self.released_teams);
        let mut binding: BTreeSet<TeamPath> = BTreeSet::new();
        for team in &released_teams {
            binding.extend(team.ancestors_and_self());
        }
        self.wake_groups(&binding, now, &mut woken);
        self.touched_regions
            .iter_mut()
            .for_each(|touched| *touched = false);
        self.merge_into_queue(woken);
    }

    fn touch_region_of(&mut self, pool_index: usize) {
        if let Some(region) = self.pool_region.get(pool_index).copied()
            && let Some(touched) = self.touched_regions.get_mut(region)
        {
            *touched = true;
        }
    }

    /// Wakes the waiters parked by group, as many of each group (in queue
    /// order) as could possibly be placed; the rest cannot be, so showing
    /// them would change nothing.
    ///
    /// Why it is exact. A parked job was turned away by every pool: no
    /// room, its region's cloud quota, or its team's limits (which, without
    /// per-model limits and budgets, bind on every pool alike). A pool can
    /// take it again only once room or cloud quota is released there (a job
    /// stops in the pool's region or the spot pool comes back: a touched
    /// region), or once its team's usage falls (then every pool counts).
    /// Members of a group are alike to the scheduler, which tries them in
    /// queue order (FIFO, or FIFO within a team), and a member that fits
    /// nowhere leaves a later one nothing (capacity and quota only shrink
    /// during a pass): so the members placed are the first ones, no more
    /// than the pools that count can hold (whole replicas in each node's
    /// free GPUs) and the team's and its ancestors' quota headroom allow.
    /// Every parked job is checked at every release, so a member left
    /// parked keeps the premise: it was turned away (or would have been)
    /// at the last call, and nothing was released for it since.
    fn wake_groups(
        &mut self,
        released: &BTreeSet<TeamPath>,
        now: Seconds,
        woken: &mut Vec<(u32, QueuedJob)>,
    ) {
        let groups = std::mem::take(&mut self.parked_by_group);
        let jobs = self.input.jobs;
        let key = |job: u32| (jobs.get(job as usize).map_or(0, |j| j.submit_s), job);
        for (group, mut members) in groups {
            let team_released = group
                .team
                .ancestors_and_self()
                .iter()
                .any(|team| released.contains(team));
            let mut room = 0u64;
            for (index, (pool, state)) in self.input.fleet.pools.iter().zip(&self.pools).enumerate()
            {
                let counts = team_released
                    || self
                        .pool_region
                        .get(index)
                        .and_then(|&region| self.touched_regions.get(region))
                        .copied()
                        .unwrap_or(true);
                if !counts || !state.available {
                    continue;
                }
                let gangs = match (pool.gpu_model(), group.gpus) {
                    // CPU-only jobs: no bound from room.
                    (_, 0) => u64::MAX,
                    (Some(model), gpus) if group.gpu_models.contains(&model) => {
                        let replicas: u64 = state
                            .nodes
                            .iter()
                            .map(|node| u64::from(node.gpus / gpus))
                            .sum();
                        replicas / u64::from(group.replicas.max(1))
                    }
                    _ => 0,
                };
                room = room.saturating_add(gangs);
            }
            let replicas = u64::from(group.replicas);
            let need = (
                u64::from(group.gpus) * replicas,
                group.cpu_millis * replicas,
                group.memory_bytes * replicas,
            );
            for team in group.team.ancestors_and_self() {
                let headroom = self.team_headroom(&team);
                for (left, each) in [
                    (headroom.0, need.0),
                    (headroom.1, need.1),
                    (headroom.2, need.2),
                ] {
                    if let Some(fits) = left.checked_div(each) {
                        room = room.min(fits);
                    }
                }
            }
            members.sort_by_key(|(job, _)| key(*job));
            // A member still within its patience may turn down a fit, so
            // the bound holds for the impatient ones only: the patient are
            // all woken.
            let patience = self.policy.patience;
            let patient = |entry: &QueuedJob| {
                patience.is_some_and(|patience| {
                    now < patience.until(entry.submitted_at, entry.expected_runtime_s)
                })
            };
            let mut wake = usize::try_from(room).unwrap_or(usize::MAX);
            let mut rest = Vec::new();
            for (job, entry) in members {
                if patient(&entry) {
                    woken.push((job, entry));
                } else if wake > 0 {
                    wake -= 1;
                    woken.push((job, entry));
                } else {
                    rest.push((job, entry));
                }
            }
            if !rest.is_empty() {
                self.parked_by_group.insert(group, rest);
            }
        }
    }

    /// What `team` may still take: (GPUs, CPU millis, memory bytes).
    fn team_headroom(&self, team: &TeamPath) -> (u64, u64, u64) {
        let Some(quota) = self
            .input
            .fleet
            .teams
            .iter()
            .find(|quota| &quota.team == team)
        else {
            return (u64::MAX, u64::MAX, u64::MAX);
        };
        let used = self.usage.teams.get(team);
        let left = |limit: Option<u64>, used: u64| {
            limit.map_or(u64::MAX, |limit| limit.saturating_sub(used))
        };
        (
            left(quota.gpus.map(u64::from), used.map_or(0, |u| u.gpus)),
            left(quota.cpu_millis, used.map_or(0, |u| u.cpu_millis)),
            left(quota.memory_bytes, used.map_or(0, |u| u.memory_bytes)),
        )
    }

    /// Puts `entries` back in the queue, in submission order.
    fn merge_into_queue(&mut self, mut parked: Vec<(u32, QueuedJob)>) {
        if parked.is_empty() {
            return;
        }
        let jobs = self.input.jobs;
        let key = |job: u32| (jobs.get(job as usize).map_or(0, |j| j.submit_s), job);
        parked.sort_by_key(|(job, _)| key(*job));
        let active_jobs = std::mem::take(&mut self.queue_jobs);
        let active = std::mem::take(&mut self.snapshot.queue);
        self.queue_jobs.reserve(active_jobs.len() + parked.len());
        self.snapshot
            .queue
            .reserve(active_jobs.len() + parked.len());
        let mut left = active_jobs.into_iter().zip(active).peekable();
        let mut right = parked.into_iter().peekable();
        loop {
            let take_left = match (left.peek(), right.peek()) {
                (Some((a, _)), Some((b, _))) => key(*a) <= key(*b),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_left { left.next() } else { right.next() };
            if let Some((job, entry)) = next {
                self.queue_jobs.push(job);
                self.snapshot.queue.push(entry);
            }
        }
    }

    fn start(&mut self, index: u32, pool_index: usize, nodes: Vec<u32>, now: Seconds) {
        let (Some(job), Some(pool)) = (self.job(index), self.input.fleet.pools.get(pool_index))
        else {
            return;
        };
        let world = self.input.world;
        let Some(state) = self.states.get_mut(index as usize) else {
            return;
        };
        let overhead = if state.starts > 0 {
            world.restart_overhead_s
        } else {
            0
        };
        let wall_runtime = world
            .throughput
            .runtime_on(pool.gpu_model(), state.remaining_reference_s);
        let hourly = job_hourly_price(pool, job.replicas, job.replica.gpus, job.replica.cpu_millis);
        state.waited_s += now.saturating_sub(state.queued_since);
        state.starts += 1;
        state.phase = Phase::Running;
        state.run = Some(Run {
            pool: pool_index,
            nodes,
            started_at: now,
            progress_from: now + overhead,
            reference_at_start: state.remaining_reference_s,
            wall_runtime,
            hourly,
        });
        let start = state.starts;
        let end = now + overhead + wall_runtime;
        self.push_event(end, EventKind::Completion { job: index, start });
        if let Some(position) = self.running_position.get_mut(index as usize) {
            *position = self.running_jobs.len();
        }
        self.running_jobs.push(index);
        self.snapshot.running.push(Allocation {
            id: job.id.clone(),
            team: job.team.clone(),
            priority: self.input.rules.priority,
            preemptible: true,
            offer: pool_index,
            replicas: job.replicas,
            replica: job.replica.clone(),
            hourly_cost: hourly,
            started_at: now,
            last_checkpoint_at: now,
            expected_end_at: end,
        });
        self.usage.add(Footprint {
            team: &job.team,
            pool,
            replicas: job.replicas,
            replica: &job.replica,
        });
        if let Some(dirty) = self.dirty_pools.get_mut(pool_index) {
            *dirty = true;
        }
        self.outcome.placements += 1;
    }

    fn stop(&mut self, index: u32, now: Seconds, why: Stop) {
        let Some(job) = self.job(index) else {
            return;
        };
        let every = self.input.rules.checkpoint_every_s.max(1);
        let Some(state) = self.states.get_mut(index as usize) else {
            return;
        };
        let Some(run) = state.run.take() else {
            return;
        };
        let Some(pool) = self.input.fleet.pools.get(run.pool) else {
            return;
        };
        let held_s = now.saturating_sub(run.started_at);
        let gpus = u128::from(job.gpus());
        self.outcome.gpu_busy_s += u128::from(held_s) * gpus;
        let cost = run
            .hourly
            .per_hour_for_seconds(held_s)
            .unwrap_or(Money::from_micros(i64::MAX));
        match pool.capacity_type {
            CapacityType::Reserved => self.outcome.reserved_busy_gpu_s += u128::from(held_s) * gpus,
            CapacityType::OnDemand => {
                self.outcome.on_demand_cost = self.outcome.on_demand_cost.saturating_add(cost)
            }
            CapacityType::Spot => {
                self.outcome.spot_cost = self.outcome.spot_cost.saturating_add(cost)
            }
        }
        if self.budgets
            && pool.capacity_type != CapacityType::Reserved
            && let Some(position) = self
                .snapshot
                .teams
                .iter()
                .position(|budget| budget.quota.team == job.team)
            && let Some(spend) = self.spend_by_team.get_mut(position)
        {
            *spend = spend.saturating_add(cost);
        }
        match why {
            Stop::Completed => {
                state.phase = Phase::Done;
                state.remaining_reference_s = 0;
                self.outcome.completed += 1;
                self.outcome.jct_s.push(now.saturating_sub(job.submit_s));
                self.outcome.wait_s.push(state.waited_s);
                self.outcome.makespan_end = self.outcome.makespan_end.max(now);
            }
            Stop::Interrupted | Stop::Preempted => {
                let useful = now.saturating_sub(run.progress_from);
                let checkpointed = useful / every * every;
                let saved = if run.wall_runtime == 0 {
                    run.reference_at_start
                } else {
                    let ratio = u128::from(run.reference_at_start)
                        * u128::from(checkpointed.min(run.wall_runtime))
                        / u128::from(run.wall_runtime);
                    u64::try_from(ratio).unwrap_or(u64::MAX)
                };
                state.remaining_reference_s = run.reference_at_start.saturating_sub(saved);
                self.outcome.lost_gpu_s += u128::from(held_s.saturating_sub(checkpointed)) * gpus;
                state.phase = Phase::Queued;
            }
        }
        if let Some(pool_state) = self.pools.get_mut(run.pool) {
            pool_state.release(&job.replica, &run.nodes);
        }
        self.released = true;
        self.released_teams.insert(job.team.clone());
        self.touch_region_of(run.pool);
        if let Some(dirty) = self.dirty_pools.get_mut(run.pool) {
            *dirty = true;
        }
        self.usage.remove(Footprint {
            team: &job.team,
            pool,
            replicas: job.replicas,
            replica: &job.replica,
        });
        // Out of the running list (swap-remove, positions kept right).
        let position = self
            .running_position
            .get(index as usize)
            .copied()
            .unwrap_or(NOT_RUNNING);
        if position < self.running_jobs.len() {
            self.running_jobs.swap_remove(position);
            self.snapshot.running.swap_remove(position);
            if let Some(&moved) = self.running_jobs.get(position)
                && let Some(slot) = self.running_position.get_mut(moved as usize)
            {
                *slot = position;
            }
        }
        if let Some(slot) = self.running_position.get_mut(index as usize) {
            *slot = NOT_RUNNING;
        }
        if why != Stop::Completed {
            self.enqueue(index, now);
        }
    }

    fn check_quotas(&mut self) {
        let found: Vec<QuotaViolation> = violations(
            &self.usage,
            &self.input.fleet.teams,
            &self.input.fleet.cloud_quotas,
        );
        self.outcome.quota_violations += found.len() as u64;
        for violation in found {
            if self.outcome.quota_violation_examples.len() < 5 {
                self.outcome
                    .quota_violation_examples
                    .push(violation.to_string());
            }
        }
    }
}

/// Where a waiting job is parked.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Park {
    /// Until anything is released.
    UntilAnyRelease,
    /// By team and shape, until capacity, cloud quota or team quota is
    /// released where it could run (see `Simulation::wake_groups`).
    Group,
}

/// Jobs the scheduler cannot tell apart by feasibility: same team, same
/// shape (every replayed job has the same placement rules and no budget
/// counts against them, so where a job may run depends on nothing else).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ParkGroup {
    team: TeamPath,
    gpus: u32,
    replicas: u32,
    cpu_millis: u64,
    memory_bytes: u64,
    gpu_models: Vec<gantry_core::GpuModel>,
}

impl ParkGroup {
    fn of(job: &QueuedJob) -> ParkGroup {
        ParkGroup {
            team: job.team.clone(),
            gpus: job.replica.gpus,
            replicas: job.replicas,
            cpu_millis: job.replica.cpu_millis,
            memory_bytes: job.replica.memory_bytes,
            gpu_models: job.replica.gpu_models.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Completed,
    Interrupted,
    Preempted,
}
