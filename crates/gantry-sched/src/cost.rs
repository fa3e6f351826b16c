//! What a job costs on an offer.
//!
//! - Share of a node per replica: GPUs used / GPUs per node on GPU pools;
//!   the larger of the CPU and memory shares on CPU pools.
//! - Hourly list price = node price x replicas x share.
//! - Marginal hourly price = list price, except on reserved capacity, which
//!   is already paid for and costs nothing more to use.
//! - Expected runtime = the job's runtime on the reference GPU, scaled by
//!   the throughput table for the offer's GPU model.
//! - Compute = marginal hourly price x expected runtime.
//! - Egress = every input's size x $/GiB from its location to the offer's region.
//! - Spot loss = expected interruptions (rate per node-hour x nodes x hours)
//!   x (work lost since the last checkpoint, on average half the interval or
//!   half the run without checkpoints, + restart overhead) x hourly price.

use gantry_core::{CapacityType, Money};

use crate::plan::CostBreakdown;
use crate::policy::Policy;
use crate::quota::Usage;
use crate::snapshot::{Offer, QueuedJob, ReplicaRequest, Seconds};

/// A node share as a fraction `numerator / denominator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Share {
    pub(crate) numerator: u64,
    pub(crate) denominator: u64,
}

/// Share of one node that one replica takes.
pub(crate) fn replica_share(offer: &Offer, replica: &ReplicaRequest) -> Share {
    match offer.node.gpu {
        Some((_, gpus_per_node)) if gpus_per_node > 0 => Share {
            numerator: u64::from(replica.gpus),
            denominator: u64::from(gpus_per_node),
        },
        _ => {
            // Per-million of the node, the larger of CPU and memory shares, rounded up.
            let per_million = |used: u64, total: u64| {
                if total == 0 {
                    1_000_000
                } else {
                    u64::try_from((u128::from(used) * 1_000_000).div_ceil(u128::from(total)))
                        .unwrap_or(u64::MAX)
                }
            };
            Share {
                numerator: per_million(replica.cpu_millis, offer.node.cpu_millis)
                    .max(per_million(replica.memory_bytes, offer.node.memory_bytes))
                    .min(1_000_000),
                denominator: 1_000_000,
            }
        }
    }
}

/// List price per hour of `replicas` replicas on `offer`.
pub(crate) fn hourly_list_price(offer: &Offer, replica: &ReplicaRequest, replicas: u32) -> Money {
    let share = replica_share(offer, replica);
    offer
        .price_per_node_hour
        .mul_ratio(
            share.numerator.saturating_mul(u64::from(replicas)),
            share.denominator.max(1),
        )
        .unwrap_or(Money::from_micros(i64::MAX))
}

/// Marginal price per hour: zero on reserved capacity.
pub(crate) fn hourly_marginal_price(offer: &Offer, list: Money) -> Money {
    if offer.capacity_type == CapacityType::Reserved {
        Money::ZERO
    } else {
        list
    }
}

/// Nodes (possibly fractional, rounded up) a job occupies: for interruption odds.
fn nodes_occupied(offer: &Offer, replica: &ReplicaRequest, replicas: u32) -> u64 {
    let share = replica_share(offer, replica);
    (share.numerator.saturating_mul(u64::from(replicas)))
        .div_ceil(share.denominator.max(1))
        .max(1)
}

/// Expected runtime of `job` on `offer`'s GPU model.
pub(crate) fn runtime_on(policy: &Policy, offer: &Offer, job: &QueuedJob) -> Seconds {
    policy
        .throughput
        .runtime_on(offer.gpu_model(), job.expected_runtime_s)
}

/// Expected cost of `job` on `offer`, by part.
/// Egress is left at zero: it depends only on the offer's region, so the
/// caller prices it once per region and job (see `schedule::EgressCache`).
pub(crate) fn expected_cost(
    policy: &Policy,
    offer: &Offer,
    job: &QueuedJob,
    list: Money,
    runtime_s: Seconds,
) -> CostBreakdown {
    let marginal = hourly_marginal_price(offer, list);
    let compute = marginal
        .per_hour_for_seconds(runtime_s)
        .unwrap_or(Money::from_micros(i64::MAX));
    let egress = Money::ZERO;
    let spot_loss =
        if offer.capacity_type == CapacityType::Spot && offer.interruption_rate_per_hour > 0.0 {
            let nodes = nodes_occupied(offer, &job.replica, job.replicas) as f64;
            let hours = runtime_s as f64 / 3600.0;
            let interruptions = offer.interruption_rate_per_hour * nodes * hours;
            let lost_per_interruption = match job.checkpoint_every_s {
                Some(interval) => (interval.min(runtime_s) as f64) / 2.0,
                None => runtime_s as f64 / 2.0,
            } + policy.restart_overhead_s as f64;
            let lost_seconds = (interruptions * lost_per_interruption).clamp(0.0, 1.0e12);
            list.per_hour_for_seconds(lost_seconds as u64)
                .unwrap_or(Money::from_micros(i64::MAX))
        } else {
            Money::ZERO
        };
    CostBreakdown {
        compute,
        egress,
        spot_loss,
    }
}

/// What placing `job` on `offer` adds to the quota ledger.
/// `marginal` per hour over `seconds` (saturating); zero without a division
/// when either is zero (reserved capacity, or no budget to count against).
fn spend_for(marginal: Money, seconds: Seconds) -> Money {
    if seconds == 0 || marginal == Money::ZERO {
        return Money::ZERO;
    }
    marginal
        .per_hour_for_seconds(seconds)
        .unwrap_or(Money::from_micros(i64::MAX))
}

pub(crate) fn usage_of(
    offer: &Offer,
    replica: &ReplicaRequest,
    replicas: u32,
    marginal: Money,
    seconds_until_midnight: Seconds,
    runtime_s: Seconds,
) -> Usage {
    let replicas64 = u64::from(replicas);
    let gpus = u64::from(replica.gpus) * replicas64;
    let vcpus = match offer.node.gpu {
        Some((_, per_node)) if per_node > 0 => {
            (u64::from(offer.node.vcpus) * gpus).div_ceil(u64::from(per_node))
        }
        _ => (replica.cpu_millis * replicas64).div_ceil(1000),
    };
    Usage {
        gpus,
        gpu_model: if gpus > 0 { offer.gpu_model() } else { None },
        cpu_millis: replica.cpu_millis * replicas64,
        memory_bytes: replica.memory_bytes * replicas64,
        vcpus,
        spot: offer.capacity_type == CapacityType::Spot,
        spend_until_midnight: spend_for(marginal, runtime_s.min(seconds_until_midnight)),
    }
}
