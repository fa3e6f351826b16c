//! Gantry's trace-replay benchmark: a GPU-cluster trace in the common format
//! of `shared/data/traces/` replayed in virtual time through the real
//! `gantry_sched::schedule`, under Gantry's policy and the baselines it
//! competes with, on a simulated multi-cloud fleet.
//!
//! **Architecture Invariant:** depends on gantry-core, gantry-sched and
//! gantry-spec (to read the fleet file) only; no async runtime, no I/O but
//! what the binary does. Same inputs and seed, same report (apart from the
//! wall-clock figures).
//!
//! **Architecture Invariant:** the replay checks the scheduler, it does not
//! trust it: every plan is applied to its own node-level model (a placement
//! that does not fit there is refused and counted) and quotas are recounted
//! by its own checker after every plan.
//!
//! Code map:
//! - `csv_records`, `trace`: the trace reader (header by name, bad rows
//!   reported with line and reason).
//! - `workload`: trace rows to jobs (gangs, GPU models, CPU and memory, teams).
//! - `fleet`, `cluster_state`: the fleet's pools and what is free on each node.
//! - `spot_trace`: spot availability series and their mapping to pools.
//! - `simulation`: the event loop.
//! - `quota_check`, `lower_bound`, `report`, `trace_stats`: the figures.

pub mod cluster_state;
pub mod csv_records;
pub mod fleet;
pub mod lower_bound;
pub mod quota_check;
pub mod report;
pub mod simulation;
pub mod spot_trace;
pub mod trace;
pub mod trace_stats;
pub mod workload;

use std::time::Instant;

use gantry_sched::{Policy, Seconds};

use crate::fleet::FleetModel;
use crate::lower_bound::{LowerBound, lower_bound};
use crate::report::{PolicyReport, ReportContext, peak_rss_mib};
use crate::simulation::{ReplayInput, Scheduler, World, replay};
use crate::spot_trace::{SpotSchedule, SpotSeries, assign_series};
use crate::trace::{BadRow, TraceJob};
use crate::workload::{ReplayJob, WorkloadRules, build_jobs};

/// The policies compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyName {
    /// Gantry's own.
    Gantry,
    /// FIFO over the ordered cluster list (MultiKueue).
    FifoFirstFit,
    /// FIFO, cheapest offer per hour now (SkyPilot, dstack).
    CheapestNow,
}

impl PolicyName {
    /// Every policy, in report order.
    pub const ALL: [PolicyName; 3] = [
        PolicyName::Gantry,
        PolicyName::FifoFirstFit,
        PolicyName::CheapestNow,
    ];

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Gantry => "gantry",
            PolicyName::FifoFirstFit => "fifo-first-fit",
            PolicyName::CheapestNow => "cheapest-now",
        }
    }

    /// Parses a CLI name.
    pub fn parse(text: &str) -> Option<PolicyName> {
        PolicyName::ALL
            .into_iter()
            .find(|name| name.as_str() == text)
    }

    /// The scheduler settings.
    pub fn policy(self) -> Policy {
        match self {
            PolicyName::Gantry => Policy::gantry(),
            PolicyName::FifoFirstFit => Policy::fifo_first_fit(),
            PolicyName::CheapestNow => Policy::cheapest_now(),
        }
    }
}

/// Which days of the trace to replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// First day (0-based, days of 86,400 s from the trace's origin).
    pub from_day: u64,
    /// How many days; all when `None`.
    pub days: Option<u64>,
}

impl Window {
    /// Does a job submitted at `submit_s` belong to the window?
    pub fn contains(&self, submit_s: Seconds) -> bool {
        let start = self.from_day.saturating_mul(86_400);
        let end = self.days.map_or(u64::MAX, |days| {
            start.saturating_add(days.saturating_mul(86_400))
        });
        submit_s >= start && submit_s < end
    }
}

/// Everything a replay needs, prepared once and shared by every policy.
#[derive(Clone, Debug)]
pub struct Benchmark {
    /// Pools and quotas.
    pub fleet: FleetModel,
    /// Jobs of the window, in submission order.
    pub jobs: Vec<ReplayJob>,
    /// How they were formed.
    pub rules: WorkloadRules,
    /// Per pool: the spot series it follows.
    pub spot: Vec<Option<SpotSchedule>>,
    /// Per pool: the trace id of that series, for the report.
    pub spot_trace_ids: Vec<Option<u32>>,
    /// Physics.
    pub world: World,
    /// Start of the window.
    pub origin: Seconds,
    /// Span the reserved capacity is paid for: from the origin to the latest
    /// `submit + duration` of the window's jobs (the same for every policy).
    pub span_s: Seconds,
    /// Cost lower bound.
    pub lower_bound: LowerBound,
    /// Scheduling cycle in seconds (0: decide at every event instant).
    pub cycle_s: Seconds,
    /// Park waiting jobs until something is released (see `simulation`).
    pub parking: bool,
}

impl Benchmark {
    /// Prepares a replay of the `window` of `trace` on `fleet`. Rows that
    /// cannot become jobs are returned.
    pub fn new(
        trace: &[TraceJob],
        fleet: FleetModel,
        window: Window,
        spot_series: Option<&[SpotSeries]>,
        world: World,
    ) -> (Benchmark, Vec<BadRow>) {
        let rules = WorkloadRules::clamped_to(&fleet);
        let in_window: Vec<TraceJob> = trace
            .iter()
            .filter(|job| window.contains(job.submit_time_s))
            .cloned()
            .collect();
        let (jobs, bad_rows) = build_jobs(&in_window, &rules, &fleet.gpu_models());
        let origin = window.from_day.saturating_mul(86_400);
        let span_end = jobs
            .iter()
            .map(|job| job.submit_s.saturating_add(job.reference_runtime_s))
            .max()
            .unwrap_or(origin);
        let span_s = span_end.saturating_sub(origin).max(1);
        let (spot, spot_trace_ids) = match spot_series {
            Some(series) => {
                let assigned = assign_series(&fleet.pools, series);
                let schedules = assigned
                    .iter()
                    .map(|index| {
                        index
                            .and_then(|i| series.get(i))
                            .map(SpotSchedule::from_series)
                    })
                    .collect();
                let ids = assigned
                    .iter()
                    .map(|index| index.and_then(|i| series.get(i)).map(|s| s.trace_id))
                    .collect();
                (schedules, ids)
            }
            None => (vec![None; fleet.pools.len()], vec![None; fleet.pools.len()]),
        };
        let bound = lower_bound(&jobs, &fleet, &world.throughput, span_s);
        (
            Benchmark {
                fleet,
                jobs,
                rules,
                spot,
                spot_trace_ids,
                world,
                origin,
                span_s,
                lower_bound: bound,
                cycle_s: 0,
                parking: true,
            },
            bad_rows,
        )
    }

    /// Replays under one policy.
    pub fn run(&self, name: &str, policy: &Policy, scheduler: Scheduler<'_>) -> PolicyReport {
        let started = Instant::now();
        let input = ReplayInput {
            fleet: &self.fleet,
            jobs: &self.jobs,
            rules: &self.rules,
            spot: &self.spot,
            world: &self.world,
            origin: self.origin,
            cycle_s: self.cycle_s,
            parking: self.parking,
        };
        let outcome = replay(input, policy, scheduler);
        let totals = self.fleet.gpu_totals();
        let context = ReportContext {
            lower_bound: self.lower_bound,
            span_s: self.span_s,
            origin: self.origin,
            fleet_gpus: totals.all,
            reserved_gpus: totals.reserved,
            wall_s: started.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
        };
        PolicyReport::new(name, &outcome, &context)
    }
}
