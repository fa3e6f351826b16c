//! Trace rows to the jobs the scheduler sees.
//!
//! Rules (all in [`WorkloadRules`], documented in the README):
//! - Gangs: a job of at most `gpus_per_node` GPUs is one replica of that
//!   many GPUs; a bigger one is `ceil(num_gpus / gpus_per_node)` replicas of
//!   `gpus_per_node` GPUs each (whole nodes), placed all at once in one pool.
//! - GPU models: `gpu_type` when the trace gives one, else any GPU model the
//!   fleet has.
//! - CPU and memory: the trace's figures (split evenly over the replicas)
//!   when given; else `cpu_per_gpu` and `memory_per_gpu` per GPU, clamped so
//!   that one GPU's share fits the smallest per-GPU share of any GPU pool of
//!   the fleet (so a job can run on every model it accepts).
//! - `duration_s` is taken as the run time on the throughput table's
//!   reference model (A100); the simulation scales it per model.
//! - Every job: priority normal, preemptible, spot allowed, checkpoints every
//!   30 minutes (the trace has none of these).
//! - Teams: `user_or_group` made a DNS-1123 label (`vc_6214e9` becomes
//!   `vc-6214e9`); empty becomes `default`.

use std::collections::BTreeSet;

use gantry_core::{GpuModel, JobId, Placement, SpotPolicy, TeamPath, priority_class};
use gantry_sched::{ReplicaRequest, Seconds};

use crate::fleet::FleetModel;
use crate::trace::{BadRow, TraceJob};

const GIB: u64 = 1 << 30;

/// How trace rows become jobs.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadRules {
    /// GPUs per node of a gang replica.
    pub gpus_per_node: u32,
    /// CPU per GPU when the trace gives none.
    pub cpu_millis_per_gpu: u64,
    /// Memory per GPU when the trace gives none.
    pub memory_bytes_per_gpu: u64,
    /// CPU of a CPU-only job when the trace gives none.
    pub cpu_only_millis: u64,
    /// Memory of a CPU-only job when the trace gives none.
    pub cpu_only_memory_bytes: u64,
    /// Checkpoint interval.
    pub checkpoint_every_s: Seconds,
    /// Spot policy of every job.
    pub spot: SpotPolicy,
    /// Priority of every job.
    pub priority: u32,
}

impl Default for WorkloadRules {
    fn default() -> Self {
        WorkloadRules {
            gpus_per_node: 8,
            cpu_millis_per_gpu: 8_000,
            memory_bytes_per_gpu: 60 * GIB,
            cpu_only_millis: 4_000,
            cpu_only_memory_bytes: 16 * GIB,
            checkpoint_every_s: 30 * 60,
            spot: SpotPolicy::Allowed,
            priority: priority_class::NORMAL,
        }
    }
}

impl WorkloadRules {
    /// The defaults, with the per-GPU CPU and memory clamped to the smallest
    /// per-GPU share of any GPU pool of `fleet`.
    pub fn clamped_to(fleet: &FleetModel) -> WorkloadRules {
        let mut rules = WorkloadRules::default();
        for pool in &fleet.pools {
            let gpus = u64::from(pool.gpus_per_node());
            if gpus == 0 {
                continue;
            }
            rules.cpu_millis_per_gpu = rules.cpu_millis_per_gpu.min(pool.node.cpu_millis / gpus);
            rules.memory_bytes_per_gpu = rules
                .memory_bytes_per_gpu
                .min(pool.node.memory_bytes / gpus);
        }
        rules
    }
}

/// A job ready for the replay.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayJob {
    /// Id the scheduler sees.
    pub id: JobId,
    /// The id in the trace.
    pub trace_id: String,
    /// Quota owner.
    pub team: TeamPath,
    /// Submission time (trace seconds).
    pub submit_s: Seconds,
    /// Run time on the reference model.
    pub reference_runtime_s: Seconds,
    /// Replicas of the gang.
    pub replicas: u32,
    /// Per replica.
    pub replica: ReplicaRequest,
}

impl ReplayJob {
    /// GPUs of the whole job.
    pub fn gpus(&self) -> u64 {
        u64::from(self.replica.gpus) * u64::from(self.replicas)
    }
}

/// Builds the jobs of `trace`. Rows whose job cannot be formed are returned
/// as bad rows.
pub fn build_jobs(
    trace: &[TraceJob],
    rules: &WorkloadRules,
    fleet_models: &[GpuModel],
) -> (Vec<ReplayJob>, Vec<BadRow>) {
    let mut jobs = Vec::with_capacity(trace.len());
    let mut bad_rows = Vec::new();
    let mut used_ids: BTreeSet<String> = BTreeSet::new();
    for row in trace {
        match build_job(row, rules, fleet_models, &mut used_ids) {
            Ok(job) => jobs.push(job),
            Err(reason) => bad_rows.push(BadRow {
                line: row.line,
                reason,
            }),
        }
    }
    // Submission order; the trace's order breaks ties.
    jobs.sort_by_key(|job| job.submit_s);
    (jobs, bad_rows)
}

fn build_job(
    row: &TraceJob,
    rules: &WorkloadRules,
    fleet_models: &[GpuModel],
    used_ids: &mut BTreeSet<String>,
) -> Result<ReplayJob, String> {
    let per_node = rules.gpus_per_node.max(1);
    let (replicas, gpus_per_replica) = if row.num_gpus <= per_node {
        (1, row.num_gpus)
    } else {
        (row.num_gpus.div_ceil(per_node), per_node)
    };
    let replicas_u64 = u64::from(replicas);
    let cpu_millis = match row.cpu_millis {
        Some(total) => total.div_ceil(replicas_u64),
        None if gpus_per_replica == 0 => rules.cpu_only_millis,
        None => rules.cpu_millis_per_gpu * u64::from(gpus_per_replica),
    };
    let memory_bytes = match row.memory_bytes {
        Some(total) => total.div_ceil(replicas_u64),
        None if gpus_per_replica == 0 => rules.cpu_only_memory_bytes,
        None => rules.memory_bytes_per_gpu * u64::from(gpus_per_replica),
    };
    let gpu_models = if gpus_per_replica == 0 {
        Vec::new()
    } else if row.gpu_models.is_empty() {
        fleet_models.to_vec()
    } else {
        row.gpu_models.clone()
    };
    let id = job_id(&row.job_id, row.line, used_ids)?;
    let team_name = label(&row.user_or_group).unwrap_or_else(|| "default".to_owned());
    let team = TeamPath::parse(&team_name)
        .map_err(|error| format!("user_or_group `{}`: {error}", row.user_or_group))?;
    Ok(ReplayJob {
        id,
        trace_id: row.job_id.clone(),
        team,
        submit_s: row.submit_time_s,
        reference_runtime_s: row.duration_s,
        replicas,
        replica: ReplicaRequest {
            gpus: gpus_per_replica,
            gpu_models,
            cpu_millis,
            memory_bytes,
        },
    })
}

/// The trace's id made a job id (a DNS-1123 label starting with a letter);
/// `job-L<line>` when that is empty or taken.
fn job_id(text: &str, line: usize, used: &mut BTreeSet<String>) -> Result<JobId, String> {
    let candidate = label(text)
        .map(|label| {
            if label.starts_with(|c: char| c.is_ascii_lowercase()) {
                label
            } else {
                let mut prefixed = format!("j-{label}");
                prefixed.truncate(63);
                prefixed.trim_end_matches('-').to_owned()
            }
        })
        .filter(|candidate| !used.contains(candidate))
        .unwrap_or_else(|| format!("job-l{line}"));
    let id = JobId::new(candidate.clone())
        .map_err(|error| format!("job_id `{text}` cannot be made a job id: {error}"))?;
    used.insert(candidate);
    Ok(id)
}

/// Lowercase, every run of characters outside `a-z0-9` made one `-`,
/// trimmed of `-`, at most 63 characters; `None` when nothing is left.
fn label(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        let lower = character.to_ascii_lowercase();
        if lower.is_ascii_lowercase() || lower.is_ascii_digit() {
            out.push(lower);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut trimmed = out.trim_matches('-').to_owned();
    trimmed.truncate(63);
    let trimmed = trimmed.trim_end_matches('-').to_owned();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The placement terms every replay job gets.
pub fn placement(rules: &WorkloadRules) -> Placement {
    Placement {
        spot: rules.spot,
        ..Placement::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn row(line: usize, id: &str, gpus: u32, team: &str) -> TraceJob {
        TraceJob {
            line,
            job_id: id.to_owned(),
            submit_time_s: line as u64,
            duration_s: 100,
            num_gpus: gpus,
            gpu_models: Vec::new(),
            cpu_millis: None,
            memory_bytes: None,
            user_or_group: team.to_owned(),
            final_status: None,
        }
    }

    #[test]
    fn gangs_split_into_whole_nodes() {
        let rules = WorkloadRules::default();
        let models = [GpuModel::A100, GpuModel::V100];
        let trace = [
            row(2, "philly-1", 1, "vc_6214e9"),
            row(3, "philly-2", 8, "vc_6214e9"),
            row(4, "philly-3", 12, "vc_6214e9"),
            row(5, "philly-4", 128, ""),
            row(6, "philly-5", 0, "x"),
        ];
        let (jobs, bad) = build_jobs(&trace, &rules, &models);
        assert!(bad.is_empty());
        let shape: Vec<(u32, u32)> = jobs.iter().map(|j| (j.replicas, j.replica.gpus)).collect();
        assert_eq!(shape, vec![(1, 1), (1, 8), (2, 8), (16, 8), (1, 0)]);
        assert_eq!(jobs[0].team.as_str(), "vc-6214e9");
        assert_eq!(jobs[3].team.as_str(), "default");
        assert_eq!(jobs[0].replica.cpu_millis, 8_000);
        assert_eq!(jobs[1].replica.memory_bytes, 8 * 60 * GIB);
        assert_eq!(jobs[0].replica.gpu_models, models.to_vec());
        assert!(jobs[4].replica.gpu_models.is_empty());
        assert_eq!(jobs[4].replica.cpu_millis, 4_000);
    }

    #[test]
    fn trace_ids_become_valid_unique_job_ids() {
        let rules = WorkloadRules::default();
        let trace = [
            row(2, "12345", 1, "u"),
            row(3, "Job_A", 1, "u"),
            row(4, "job-a", 1, "u"),
            row(5, "___", 1, "u"),
        ];
        let (jobs, bad) = build_jobs(&trace, &rules, &[GpuModel::A100]);
        assert!(bad.is_empty());
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, vec!["j-12345", "job-a", "job-l4", "job-l5"]);
    }
}
