//! A lower bound on what any policy can pay for a trace on a fleet.
//!
//! bound = reserved fixed cost
//!       + sum over jobs of the job at its cheapest acceptable non-reserved
//!         offer (on-demand or spot at list price, no interruptions, no
//!         queueing, unlimited capacity), at its run time on that offer's model
//!       - the most that free reserved capacity could save.
//!
//! The saving is a relaxation: the reserved pools' GPU-seconds over the
//! replay span are one bucket (times and node boundaries ignored, jobs may be
//! split), each job needs its GPUs x its run time on the fastest reserved
//! model it accepts, and a fractional knapsack fills the bucket with the jobs
//! that save the most per GPU-second. No schedule can save more, so the
//! result is a true lower bound; it is loose where timing matters (at peaks
//! reserved capacity is full, between them it idles).

use gantry_core::{CapacityType, Money};
use gantry_sched::{ReplicaRequest, ThroughputTable};

use crate::fleet::{FleetModel, Pool};
use crate::simulation::job_hourly_price;
use crate::workload::ReplayJob;

/// The bound and its parts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LowerBound {
    /// Reserved capacity over the span.
    pub reserved_fixed: Money,
    /// Every job at its cheapest non-reserved offer.
    pub cheapest_sum: Money,
    /// The most reserved capacity could save.
    pub reserved_saving: Money,
    /// Jobs no pool can run at all.
    pub unplaceable_jobs: usize,
}

impl LowerBound {
    /// The bound.
    pub fn total(&self) -> Money {
        self.reserved_fixed
            .saturating_add(self.cheapest_sum)
            .saturating_sub(self.reserved_saving)
    }
}

/// Can one replica of `replica` run on a node of `pool`?
pub fn fits(pool: &Pool, replica: &ReplicaRequest) -> bool {
    let model_ok = match pool.node.gpu {
        Some((model, count)) => {
            replica.gpus == 0 || (count >= replica.gpus && replica.gpu_models.contains(&model))
        }
        None => replica.gpus == 0,
    };
    model_ok
        && pool.node.cpu_millis >= replica.cpu_millis
        && pool.node.memory_bytes >= replica.memory_bytes
}

/// Computes the bound for `jobs` on `fleet` over `span_s`.
pub fn lower_bound(
    jobs: &[ReplayJob],
    fleet: &FleetModel,
    throughput: &ThroughputTable,
    span_s: u64,
) -> LowerBound {
    let reserved_fixed = fleet.reserved_cost(span_s);
    let reserved_gpu_s: f64 = fleet
        .pools
        .iter()
        .filter(|pool| pool.capacity_type == CapacityType::Reserved)
        .map(|pool| f64::from(pool.gpus_per_node()) * f64::from(pool.nodes) * span_s as f64)
        .sum();
    let mut cheapest_sum = Money::ZERO;
    let mut unplaceable_jobs = 0;
    // (saving per GPU-second, GPU-seconds needed on reserved, saving in micros)
    let mut candidates: Vec<(f64, f64, f64)> = Vec::new();
    for job in jobs {
        let cheapest = fleet
            .pools
            .iter()
            .filter(|pool| pool.capacity_type != CapacityType::Reserved && fits(pool, &job.replica))
            .filter_map(|pool| {
                let runtime = throughput.runtime_on(pool.gpu_model(), job.reference_runtime_s);
                job_hourly_price(pool, job.replicas, job.replica.gpus, job.replica.cpu_millis)
                    .per_hour_for_seconds(runtime)
            })
            .min();
        let reserved_need = fleet
            .pools
            .iter()
            .filter(|pool| pool.capacity_type == CapacityType::Reserved && fits(pool, &job.replica))
            .map(|pool| throughput.runtime_on(pool.gpu_model(), job.reference_runtime_s))
            .min()
            .map(|runtime| runtime as f64 * job.gpus() as f64);
        match (cheapest, reserved_need) {
            (Some(cost), Some(need)) => {
                cheapest_sum = cheapest_sum.saturating_add(cost);
                let saving = cost.micros() as f64;
                if need <= 0.0 {
                    // Free on reserved and takes no capacity.
                    candidates.push((f64::INFINITY, 0.0, saving));
                } else {
                    candidates.push((saving / need, need, saving));
                }
            }
            (Some(cost), None) => cheapest_sum = cheapest_sum.saturating_add(cost),
            (None, Some(_)) => {}
            (None, None) => unplaceable_jobs += 1,
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut left = reserved_gpu_s;
    let mut saving = 0.0;
    for (_, need, value) in candidates {
        if need <= left {
            left -= need;
            saving += value;
        } else {
            if need > 0.0 {
                saving += value * left / need;
            }
            break;
        }
    }
    LowerBound {
        reserved_fixed,
        cheapest_sum,
        reserved_saving: Money::from_micros(saving.floor() as i64),
        unplaceable_jobs,
    }
}
