//! The cost-and-quota scheduler: `schedule(&Snapshot, &Policy, now) -> Plan`.
//!
//! Architecture Invariant: pure and deterministic. No I/O, no clock, no
//! randomness, no tokio/kube/tonic/cloud SDK: the same snapshot, policy and
//! `now` give the same plan, byte for byte. Effects happen in the caller.
//!
//! Architecture Invariant: quotas are hard limits. No plan places a job over
//! a team quota (the team's or any ancestor's), a team's daily budget, or a
//! cloud quota; `debug_assert!`s re-check every plan before it is returned.

mod candidates;
mod capacity;
mod cost;
pub mod egress;
mod fast_hash;
pub mod plan;
pub mod policy;
mod quota;
pub mod snapshot;
pub mod throughput;

pub use egress::EgressPrices;
pub use plan::{
    Assignment, Candidate, CostBreakdown, Explanation, Plan, Preemption, QuotaDetail, QuotaLimit,
    Rejection, WaitReason, Waiting,
};
pub use policy::{OfferChoice, Patience, Policy, QueueOrder};
pub use snapshot::{
    Allocation, DataSource, NodeFree, NodeShape, Offer, QueuedJob, ReplicaRequest, Seconds,
    Snapshot, TeamBudget,
};
pub use throughput::ThroughputTable;

mod schedule;

pub use schedule::{never_fits, schedule};
