//! A trace's demand, for sizing a benchmark fleet: the concurrent-GPU curve
//! if every job started when submitted and ran its recorded duration (no
//! queueing), sampled every ten minutes, and each team's share of GPU-time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::percentile;
use crate::workload::ReplayJob;

/// Sampling step of the demand curve.
pub const SAMPLE_STEP_S: u64 = 600;

/// Demand of one team (or of the whole trace).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Demand {
    /// Jobs.
    pub jobs: usize,
    /// GPU-hours at the trace's durations.
    pub gpu_hours: f64,
    /// Largest job in GPUs (gangs counted in whole nodes).
    pub largest_job_gpus: u64,
    /// Concurrent GPUs: highest sample.
    pub peak: u64,
    /// Median sample.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Mean.
    pub mean: f64,
}

/// Demand of the whole trace and of each team.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceStats {
    /// Whole trace.
    pub total: Demand,
    /// By team.
    pub teams: BTreeMap<String, Demand>,
    /// First submission.
    pub first_submit_s: u64,
    /// Last submission.
    pub last_submit_s: u64,
}

fn demand(jobs: &[&ReplayJob], from: u64, to: u64) -> Demand {
    let mut changes: Vec<(u64, i64)> = Vec::with_capacity(jobs.len() * 2);
    let mut gpu_seconds = 0u128;
    let mut largest = 0;
    for job in jobs {
        let gpus = job.gpus();
        largest = largest.max(gpus);
        gpu_seconds += u128::from(gpus) * u128::from(job.reference_runtime_s);
        let gpus = i64::try_from(gpus).unwrap_or(i64::MAX);
        changes.push((job.submit_s, gpus));
        changes.push((job.submit_s.saturating_add(job.reference_runtime_s), -gpus));
    }
    changes.sort_unstable();
    let mut samples = Vec::new();
    let mut current = 0i64;
    let mut next = changes.iter().peekable();
    let mut at = from;
    while at <= to {
        while let Some(&&(time, change)) = next.peek() {
            if time > at {
                break;
            }
            current += change;
            next.next();
        }
        samples.push(u64::try_from(current).unwrap_or(0));
        at += SAMPLE_STEP_S;
    }
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().sum::<u64>() as f64 / samples.len() as f64
    };
    Demand {
        jobs: jobs.len(),
        gpu_hours: gpu_seconds as f64 / 3600.0,
        largest_job_gpus: largest,
        peak: samples.iter().copied().max().unwrap_or(0),
        p50: percentile(&samples, 50.0) as u64,
        p90: percentile(&samples, 90.0) as u64,
        p99: percentile(&samples, 99.0) as u64,
        mean,
    }
}

/// Demand of `jobs` between the first and the last submission.
pub fn trace_stats(jobs: &[ReplayJob]) -> TraceStats {
    let first = jobs.iter().map(|job| job.submit_s).min().unwrap_or(0);
    let last = jobs.iter().map(|job| job.submit_s).max().unwrap_or(0);
    let all: Vec<&ReplayJob> = jobs.iter().collect();
    let mut by_team: BTreeMap<String, Vec<&ReplayJob>> = BTreeMap::new();
    for job in jobs {
        by_team
            .entry(job.team.as_str().to_owned())
            .or_default()
            .push(job);
    }
    TraceStats {
        total: demand(&all, first, last),
        teams: by_team
            .into_iter()
            .map(|(team, jobs)| (team, demand(&jobs, first, last)))
            .collect(),
        first_submit_s: first,
        last_submit_s: last,
    }
}

/// A team's suggested GPU quota: its share of GPU-time x `fleet_gpus` x
/// `headroom`, rounded up to whole 8-GPU nodes, and never below its largest
/// job (or it could never run) nor below one node.
pub fn suggested_quota(team: &Demand, total: &Demand, fleet_gpus: u64, headroom: f64) -> u64 {
    let share = if total.gpu_hours > 0.0 {
        team.gpu_hours / total.gpu_hours
    } else {
        0.0
    };
    let proportional = (share * fleet_gpus as f64 * headroom / 8.0).ceil() as u64 * 8;
    proportional.max(team.largest_job_gpus).max(8)
}

/// The stats as text, with suggested quotas when `fleet_gpus` is given.
pub fn render(stats: &TraceStats, fleet_gpus: Option<u64>, headroom: f64) -> String {
    let mut out = String::new();
    let total = &stats.total;
    let _ = writeln!(
        out,
        "jobs {}, {:.0} GPU-hours, submissions over {:.1} days; concurrent GPUs with no queueing (every {} s): peak {}, p99 {}, p90 {}, p50 {}, mean {:.0}",
        total.jobs,
        total.gpu_hours,
        (stats.last_submit_s - stats.first_submit_s) as f64 / 86_400.0,
        SAMPLE_STEP_S,
        total.peak,
        total.p99,
        total.p90,
        total.p50,
        total.mean
    );
    let mut teams: Vec<(&String, &Demand)> = stats.teams.iter().collect();
    teams.sort_by(|a, b| b.1.gpu_hours.total_cmp(&a.1.gpu_hours).then(a.0.cmp(b.0)));
    let _ = writeln!(
        out,
        "team | jobs | GPU-time share | largest job | peak | p99 | p90 | suggested quota"
    );
    for (team, demand) in teams {
        let share = if total.gpu_hours > 0.0 {
            demand.gpu_hours / total.gpu_hours
        } else {
            0.0
        };
        let quota = fleet_gpus
            .map(|gpus| suggested_quota(demand, total, gpus, headroom).to_string())
            .unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            out,
            "{team} | {} | {:.2} % | {} | {} | {} | {} | {quota}",
            demand.jobs,
            share * 100.0,
            demand.largest_job_gpus,
            demand.peak,
            demand.p99,
            demand.p90
        );
    }
    out
}
