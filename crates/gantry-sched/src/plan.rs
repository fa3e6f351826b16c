//! What the scheduler decides: placements with their cost and the
//! candidates weighed, preemptions with their reason, and for every job left
//! waiting, why.

use gantry_core::{CapacityType, Cloud, GpuModel, JobId, Money, TeamPath};

use crate::snapshot::Seconds;

/// The outcome of one `schedule` call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Jobs to launch now, in decision order.
    pub placements: Vec<Assignment>,
    /// Running jobs to stop so that higher-priority jobs can run.
    pub preemptions: Vec<Preemption>,
    /// Jobs left waiting, each with the reason.
    pub waiting: Vec<Waiting>,
}

/// Expected cost of a placement, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostBreakdown {
    /// Price x nodes x expected runtime (marginal: zero on reserved capacity).
    pub compute: Money,
    /// Moving the input data to the cluster's region.
    pub egress: Money,
    /// Expected work lost to spot interruptions, plus restarts.
    pub spot_loss: Money,
}

impl CostBreakdown {
    /// The sum of the parts.
    pub fn total(&self) -> Money {
        self.compute
            .saturating_add(self.egress)
            .saturating_add(self.spot_loss)
    }
}

/// A job placed on an offer.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// The job.
    pub job: JobId,
    /// Index into `Snapshot::offers`.
    pub offer: usize,
    /// Cluster.
    pub cluster: String,
    /// Pool.
    pub pool: String,
    /// Zone.
    pub zone: String,
    /// Cloud.
    pub cloud: Cloud,
    /// Region.
    pub region: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// GPU model it runs on.
    pub gpu_model: Option<GpuModel>,
    /// Replicas placed.
    pub replicas: u32,
    /// What the whole job costs per hour at list price.
    pub hourly_price: Money,
    /// Expected runtime on this offer's GPU model.
    pub expected_runtime_s: Seconds,
    /// Expected cost.
    pub expected_cost: CostBreakdown,
    /// The candidates weighed (the cheapest few, then counts by reason).
    pub explanation: Explanation,
}

/// Why a candidate offer was not chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Cloud, region or cluster not allowed by the job's placement.
    PlacementRule(String),
    /// Spot policy excludes this capacity type.
    SpotPolicy,
    /// GPU model not acceptable, or the node is too small for one replica.
    Shape(String),
    /// Not enough free capacity now.
    Capacity {
        /// Replicas that fit now.
        fits: u32,
        /// Replicas needed.
        needed: u32,
    },
    /// The job's hourly cost cap.
    MaxHourlyCost {
        /// The cap.
        limit: Money,
        /// This offer's hourly price for the job.
        price: Money,
    },
    /// A cloud quota would be exceeded.
    CloudQuota(String),
    /// A team quota would be exceeded.
    TeamQuota(String),
    /// Costs more than the chosen one.
    Costlier,
}

/// One candidate weighed for a job.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Index into `Snapshot::offers`.
    pub offer: usize,
    /// Expected cost there (zero when rejected before pricing).
    pub expected_cost: Money,
    /// Hourly price of the whole job there.
    pub hourly_price: Money,
    /// `None` for the chosen one.
    pub rejection: Option<Rejection>,
}

/// The candidates behind a decision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explanation {
    /// The cheapest candidates, chosen first, at most `Policy::explained_candidates`.
    pub candidates: Vec<Candidate>,
    /// How many offers were considered in all.
    pub offers_considered: usize,
}

/// A running job stopped for a higher-priority one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preemption {
    /// The job stopped.
    pub victim: JobId,
    /// The job it makes room for.
    pub for_job: JobId,
    /// Index into `Snapshot::offers` where room is made.
    pub offer: usize,
    /// Work lost (GPU-seconds since the victim's last checkpoint).
    pub lost_gpu_seconds: u64,
    /// Why, for events.
    pub reason: String,
}

/// Why a job waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// No offer could ever run it (shape, model, placement rules).
    NoMatchingOffer(String),
    /// Offers exist but none has room now.
    Capacity {
        /// Offers that would fit if free.
        matching_offers: usize,
    },
    /// A team quota (the team or an ancestor).
    TeamQuota {
        /// The team whose limit binds.
        team: TeamPath,
        /// What is limited and by how much.
        detail: QuotaDetail,
    },
    /// The team's daily budget.
    Budget {
        /// The team whose budget binds.
        team: TeamPath,
        /// Limit, spent, and what the job would add.
        detail: QuotaDetail,
    },
    /// A cloud quota.
    CloudQuota {
        /// Cloud.
        cloud: Cloud,
        /// Region.
        region: String,
        /// What is limited.
        detail: QuotaDetail,
    },
    /// Every matching offer costs more per hour than the job allows.
    MaxHourlyCost {
        /// The cap.
        limit: Money,
        /// The cheapest matching offer's hourly price.
        cheapest: Money,
    },
    /// Waiting behind earlier jobs (strict FIFO policies only).
    BehindEarlierJob(JobId),
    /// Preemption is under way to make room; it will be placed when the victims stop.
    AwaitingPreemption,
    /// Its cheapest acceptable offer is busy, and so is every offer that
    /// costs little more: it waits for one rather than pay more
    /// (`Policy::patience`).
    Patience {
        /// When it stops waiting and takes what has room.
        until: Seconds,
        /// Expected cost on the cheapest acceptable offer (a lower bound).
        cheapest: Money,
        /// The most it accepts to cost until then.
        limit: Money,
    },
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitReason::NoMatchingOffer(detail) => {
                write!(formatter, "no offer can run it: {detail}")
            }
            WaitReason::Capacity { matching_offers } => {
                write!(
                    formatter,
                    "no free capacity now in the {matching_offers} matching pools"
                )
            }
            WaitReason::TeamQuota { team, detail } => {
                write!(formatter, "team quota of {team}: {detail}")
            }
            WaitReason::Budget { team, detail } => {
                write!(formatter, "daily budget of {team}: {detail}")
            }
            WaitReason::CloudQuota {
                cloud,
                region,
                detail,
            } => write!(formatter, "cloud quota of {cloud} {region}: {detail}"),
            WaitReason::MaxHourlyCost { limit, cheapest } => write!(
                formatter,
                "the cheapest matching offer costs ${cheapest}/h, above maxHourlyCost ${limit}/h"
            ),
            WaitReason::BehindEarlierJob(job) => {
                write!(formatter, "behind earlier job {job} (strict FIFO)")
            }
            WaitReason::AwaitingPreemption => {
                formatter.write_str("preempting lower-priority jobs to make room")
            }
            WaitReason::Patience {
                until,
                cheapest,
                limit,
            } => write!(
                formatter,
                "waiting until {until} for a busy offer: the cheapest is expected to cost {cheapest}, and none with room costs at most {limit}"
            ),
        }
    }
}

/// Which limit binds, with the numbers; words only when displayed (the
/// scheduler produces one per waiting job per pass, most never read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaDetail {
    /// The limit.
    pub limit: QuotaLimit,
    /// In use now.
    pub in_use: u64,
    /// What the job asks for.
    pub requested: u64,
    /// The limit's value.
    pub allowed: u64,
}

/// The kinds of quota limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLimit {
    /// GPUs of any model.
    Gpus,
    /// GPUs of one model.
    ModelGpus(GpuModel),
    /// CPU, in millicores.
    CpuMillis,
    /// Memory, in bytes.
    MemoryBytes,
    /// vCPUs of GPU instances.
    Vcpus,
    /// GPUs on spot capacity.
    SpotGpus,
    /// Spend per day, in micro-dollars.
    BudgetMicros,
}

impl std::fmt::Display for QuotaDetail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let QuotaDetail {
            limit,
            in_use,
            requested,
            allowed,
        } = *self;
        let dollars = |micros: u64| Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX));
        match limit {
            QuotaLimit::Gpus => write!(
                formatter,
                "GPUs {in_use} in use + {requested} requested > {allowed}"
            ),
            QuotaLimit::ModelGpus(model) => {
                write!(
                    formatter,
                    "{model} GPUs {in_use} in use + {requested} requested > {allowed}"
                )
            }
            QuotaLimit::CpuMillis => write!(
                formatter,
                "CPU {in_use}m in use + {requested}m requested > {allowed}m"
            ),
            QuotaLimit::MemoryBytes => write!(
                formatter,
                "memory {} in use + {} requested > {}",
                gantry_core::format_bytes(in_use),
                gantry_core::format_bytes(requested),
                gantry_core::format_bytes(allowed)
            ),
            QuotaLimit::Vcpus => write!(
                formatter,
                "GPU-instance vCPUs {in_use} in use + {requested} requested > {allowed}"
            ),
            QuotaLimit::SpotGpus => write!(
                formatter,
                "spot GPUs {in_use} in use + {requested} requested > {allowed}"
            ),
            QuotaLimit::BudgetMicros => write!(
                formatter,
                "${} projected today + ${} for this job > ${} per day",
                dollars(in_use),
                dollars(requested),
                dollars(allowed)
            ),
        }
    }
}

/// A job left waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The job.
    pub job: JobId,
    /// Why.
    pub reason: WaitReason,
}
