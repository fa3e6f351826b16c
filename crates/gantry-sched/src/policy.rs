//! How the scheduler chooses. Gantry's own policy and the baselines the
//! replay compares it with are all settings of one [`Policy`].

use crate::egress::EgressPrices;
use crate::snapshot::Seconds;
use crate::throughput::ThroughputTable;

/// In which order queued jobs are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOrder {
    /// Priority first; among equals, the team with the lowest dominant
    /// share of its quota; FIFO within a team.
    PriorityFairShare,
    /// Submission order only.
    Fifo,
}

/// How an offer is chosen among those that fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferChoice {
    /// Lowest expected total cost: marginal price (reserved is already
    /// paid) x runtime on that GPU model + egress + expected spot loss.
    LowestExpectedCost,
    /// Lowest list price per hour for the job, as SkyPilot and dstack choose.
    LowestHourlyPrice,
    /// The first offer that fits, clusters in snapshot order, as
    /// MultiKueue's ordered dispatch.
    FirstFit,
}

/// How long a job may wait for its cheapest acceptable offer when that one
/// is busy, rather than take a much costlier one now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    /// The wait allowed, in percent of the job's expected run time on the
    /// reference GPU, counted from its submission.
    pub percent_of_runtime: u32,
    /// And never longer than this.
    pub max_wait_s: Seconds,
    /// An offer is much costlier when its expected cost exceeds the
    /// cheapest acceptable offer's by more than this many percent (and by
    /// at least one dollar).
    pub costlier_by_percent: u32,
}

impl Patience {
    /// Until when `submitted_at`'s job, expected to run `expected_runtime_s`
    /// on the reference GPU, may wait for its cheapest offer.
    pub fn until(&self, submitted_at: Seconds, expected_runtime_s: Seconds) -> Seconds {
        let share = u128::from(expected_runtime_s) * u128::from(self.percent_of_runtime) / 100;
        let wait = Seconds::try_from(share)
            .unwrap_or(Seconds::MAX)
            .min(self.max_wait_s);
        submitted_at.saturating_add(wait)
    }
}

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Queue order.
    pub queue_order: QueueOrder,
    /// Offer choice.
    pub offer_choice: OfferChoice,
    /// May higher-priority jobs preempt lower-priority preemptible ones?
    pub preemption: bool,
    /// May a later job start when an earlier one cannot (best-effort FIFO)?
    pub backfill: bool,
    /// Egress prices between locations.
    pub egress: EgressPrices,
    /// Relative training throughput per GPU model.
    pub throughput: ThroughputTable,
    /// Time to restart after an interruption (pull image, load checkpoint).
    pub restart_overhead_s: Seconds,
    /// Candidates kept in each explanation.
    pub explained_candidates: usize,
    /// Wait for a busy cheaper offer rather than take a much costlier one
    /// (`None`: always take the cheapest offer with room now).
    pub patience: Option<Patience>,
}

impl Policy {
    /// Gantry's policy.
    pub fn gantry() -> Policy {
        Policy {
            queue_order: QueueOrder::PriorityFairShare,
            offer_choice: OfferChoice::LowestExpectedCost,
            preemption: true,
            backfill: true,
            egress: EgressPrices::public_list_prices(),
            throughput: ThroughputTable::published(),
            restart_overhead_s: 300,
            explained_candidates: 5,
            patience: Some(Patience {
                percent_of_runtime: 100,
                max_wait_s: 48 * 3600,
                costlier_by_percent: 50,
            }),
        }
    }

    /// MultiKueue-style: FIFO over an ordered cluster list.
    pub fn fifo_first_fit() -> Policy {
        Policy {
            queue_order: QueueOrder::Fifo,
            offer_choice: OfferChoice::FirstFit,
            preemption: false,
            patience: None,
            ..Policy::gantry()
        }
    }

    /// SkyPilot/dstack-style: FIFO, each job on the cheapest feasible offer
    /// per hour at the moment it is tried.
    pub fn cheapest_now() -> Policy {
        Policy {
            queue_order: QueueOrder::Fifo,
            offer_choice: OfferChoice::LowestHourlyPrice,
            preemption: false,
            patience: None,
            ..Policy::gantry()
        }
    }
}
