//! One report per policy: the JSON object of `-o json` and a row of the
//! comparison table.

use std::fmt::Write as _;

use gantry_core::Money;
use serde::Serialize;

use crate::lower_bound::LowerBound;
use crate::simulation::Outcome;

/// What a policy achieved on a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyReport {
    /// `gantry`, `fifo-first-fit`, `cheapest-now`.
    pub policy: String,
    /// Jobs in the trace window.
    pub jobs: usize,
    /// Jobs that finished.
    pub completed: usize,
    /// Jobs that never finished (no pool could take them, or stalled).
    pub unfinished: usize,
    /// Reserved fixed cost + on-demand + spot.
    pub total_cost_usd: f64,
    /// See `lower_bound`.
    pub lower_bound_cost_usd: f64,
    /// total / lower bound.
    pub cost_over_lower_bound: f64,
    /// Reserved pools over the span, used or not.
    pub reserved_fixed_cost_usd: f64,
    /// Paid on on-demand pools.
    pub on_demand_cost_usd: f64,
    /// Paid on spot pools.
    pub spot_cost_usd: f64,
    /// Mean job completion time (completion - submission), finished jobs.
    pub avg_jct_s: f64,
    /// 99th percentile of it.
    pub p99_jct_s: f64,
    /// Mean time queued, finished jobs.
    pub avg_wait_s: f64,
    /// 99th percentile of it.
    pub p99_wait_s: f64,
    /// GPU-seconds held / (fleet GPUs x (last completion - origin)).
    pub gpu_utilization: f64,
    /// Share of reserved GPU-seconds used over the span.
    pub reserved_utilization: f64,
    /// Limits found exceeded after a plan was applied (must be 0).
    pub quota_violations: u64,
    /// The first few, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quota_violation_examples: Vec<String>,
    /// Plan entries that could not be applied.
    pub infeasible_placements: u64,
    /// Victims stopped by plans.
    pub preemptions: u64,
    /// Jobs stopped by spot interruptions.
    pub spot_interruptions: u64,
    /// GPU-hours held but lost (since the last checkpoint, and restart overhead).
    pub lost_gpu_hours: f64,
    /// Calls to `schedule()`.
    pub schedule_calls: u64,
    /// Placements applied.
    pub placements: u64,
    /// Longest queue handed to the scheduler.
    pub max_queue: usize,
    /// Mean queue length per scheduler call.
    pub mean_queue: f64,
    /// Placements per second spent inside `schedule()`.
    pub decisions_per_s: f64,
    /// Jobs decided about (placed or waiting with a reason) per second inside `schedule()`.
    pub job_decisions_per_s: f64,
    /// Seconds inside `schedule()`.
    pub schedule_s: f64,
    /// Wall time of this policy's replay.
    pub wall_s: f64,
    /// Peak resident memory of the process (VmHWM) when the replay ended.
    pub peak_rss_mib: f64,
}

/// Figures that come from outside the simulation.
#[derive(Clone, Copy, Debug)]
pub struct ReportContext {
    /// The bound.
    pub lower_bound: LowerBound,
    /// Span the reserved capacity is paid for.
    pub span_s: u64,
    /// Origin of the replay.
    pub origin: u64,
    /// GPUs of the fleet.
    pub fleet_gpus: u64,
    /// Reserved GPUs of the fleet.
    pub reserved_gpus: u64,
    /// Wall time of the replay.
    pub wall_s: f64,
    /// VmHWM in MiB.
    pub peak_rss_mib: f64,
}

fn dollars(money: Money) -> f64 {
    (money.to_dollars_f64() * 100.0).round() / 100.0
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|&value| value as f64).sum::<f64>() / values.len() as f64
}

/// The `percent`-th percentile (nearest rank).
pub fn percentile(values: &[u64], percent: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .map_or(0.0, |&value| value as f64)
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

impl PolicyReport {
    /// Builds the report of one policy.
    pub fn new(policy: &str, outcome: &Outcome, context: &ReportContext) -> PolicyReport {
        let reserved_fixed = context.lower_bound.reserved_fixed;
        let total = reserved_fixed
            .saturating_add(outcome.on_demand_cost)
            .saturating_add(outcome.spot_cost);
        let bound = context.lower_bound.total();
        let elapsed = outcome.makespan_end.saturating_sub(context.origin).max(1);
        let schedule_s = outcome.schedule_time.as_secs_f64();
        let per_second = |count: u64| {
            if schedule_s > 0.0 {
                count as f64 / schedule_s
            } else {
                0.0
            }
        };
        PolicyReport {
            policy: policy.to_owned(),
            jobs: outcome.jobs,
            completed: outcome.completed,
            unfinished: outcome.unfinished,
            total_cost_usd: dollars(total),
            lower_bound_cost_usd: dollars(bound),
            cost_over_lower_bound: if bound.micros() > 0 {
                round(total.micros() as f64 / bound.micros() as f64, 3)
            } else {
                0.0
            },
            reserved_fixed_cost_usd: dollars(reserved_fixed),
            on_demand_cost_usd: dollars(outcome.on_demand_cost),
            spot_cost_usd: dollars(outcome.spot_cost),
            avg_jct_s: round(mean(&outcome.jct_s), 1),
            p99_jct_s: percentile(&outcome.jct_s, 99.0),
            avg_wait_s: round(mean(&outcome.wait_s), 1),
            p99_wait_s: percentile(&outcome.wait_s, 99.0),
            gpu_utilization: round(
                outcome.gpu_busy_s as f64 / (context.fleet_gpus.max(1) as f64 * elapsed as f64),
                4,
            ),
            reserved_utilization: round(
                outcome.reserved_busy_gpu_s as f64
                    / (context.reserved_gpus as f64 * context.span_s.max(1) as f64).max(1.0),
                4,
            ),
            quota_violations: outcome.quota_violations,
            quota_violation_examples: outcome.quota_violation_examples.clone(),
            infeasible_placements: outcome.infeasible_placements,
            preemptions: outcome.preemptions,
            spot_interruptions: outcome.spot_interruptions,
            lost_gpu_hours: round(outcome.lost_gpu_s as f64 / 3600.0, 1),
            schedule_calls: outcome.schedule_calls,
            placements: outcome.placements,
            max_queue: outcome.max_queue,
            mean_queue: round(
                outcome.queued_per_call_sum as f64 / outcome.schedule_calls.max(1) as f64,
                1,
            ),
            decisions_per_s: round(per_second(outcome.placements), 0),
            job_decisions_per_s: round(per_second(outcome.job_decisions), 0),
            schedule_s: round(schedule_s, 3),
            wall_s: round(context.wall_s, 2),
            peak_rss_mib: round(context.peak_rss_mib, 1),
        }
    }

    /// The same report with every wall-clock figure zeroed (for comparing runs).
    pub fn without_timings(&self) -> PolicyReport {
        PolicyReport {
            decisions_per_s: 0.0,
            job_decisions_per_s: 0.0,
            schedule_s: 0.0,
            wall_s: 0.0,
            peak_rss_mib: 0.0,
            ..self.clone()
        }
    }
}

/// The comparison table (Markdown, so it pastes into the README).
pub fn table(reports: &[PolicyReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| policy | jobs done | total cost $ | lower bound $ | cost / bound | avg JCT h | p99 JCT h | avg wait h | p99 wait h | GPU util | quota violations | preemptions | spot interruptions | decisions/s | wall s | peak RSS MiB |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for report in reports {
        let hours = |seconds: f64| seconds / 3600.0;
        let _ = writeln!(
            out,
            "| {} | {}/{} | {:.0} | {:.0} | {:.3} | {:.2} | {:.1} | {:.2} | {:.1} | {:.1} % | {} | {} | {} | {:.0} | {:.1} | {:.0} |",
            report.policy,
            report.completed,
            report.jobs,
            report.total_cost_usd,
            report.lower_bound_cost_usd,
            report.cost_over_lower_bound,
            hours(report.avg_jct_s),
            hours(report.p99_jct_s),
            hours(report.avg_wait_s),
            hours(report.p99_wait_s),
            report.gpu_utilization * 100.0,
            report.quota_violations,
            report.preemptions,
            report.spot_interruptions,
            report.decisions_per_s,
            report.wall_s,
            report.peak_rss_mib,
        );
    }
    out
}

/// Peak resident memory of this process in MiB (VmHWM), 0 where unknown.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
