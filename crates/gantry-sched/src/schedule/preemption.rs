//! Preemption: when a higher-priority job fits nowhere, stop the running
//! lower-priority preemptible jobs that lose the least work (GPU-seconds
//! since their last checkpoint) to make room for it on one offer.

use gantry_core::Money;

use super::{Pass, Priced};
use crate::cost::usage_of;
use crate::plan::{Candidate, Preemption};
use crate::snapshot::{QueuedJob, Seconds};

impl Pass<'_> {
    /// Finds the running lower-priority preemptible jobs whose stopping lets
    /// `job` fit, losing the least work (GPU-seconds since their last
    /// checkpoint), and places `job` there.
    pub(super) fn try_preemption(
        &mut self,
        team: usize,
        job: &QueuedJob,
        priced: &[Priced],
        seconds_until_midnight: Seconds,
    ) -> bool {
        if self.running_by_offer.is_none() {
            let mut by_offer = vec![Vec::new(); self.snapshot.offers.len()];
            for (index, allocation) in self.snapshot.running.iter().enumerate() {
                if let Some(list) = by_offer.get_mut(allocation.offer) {
                    list.push(index);
                }
            }
            self.running_by_offer = Some(by_offer);
        }
        let running_by_offer: &[Vec<usize>] = self.running_by_offer.as_deref().unwrap_or_default();
        let mut best: Option<(u64, usize, Vec<usize>, crate::capacity::Fit)> = None;
        for (rank, candidate) in priced.iter().enumerate().take(32) {
            let Some(offer) = self.snapshot.offers.get(candidate.offer) else {
                continue;
            };
            if let Some(limit) = job.placement.max_hourly_cost
                && candidate.marginal > limit
            {
                continue;
            }
            let mut victims: Vec<(u64, usize)> = running_by_offer
                .get(candidate.offer)
                .into_iter()
                .flatten()
                .copied()
                .filter(|index| !self.preempted.contains(index))
                .filter_map(|index| {
                    let allocation = self.snapshot.running.get(index)?;
                    (allocation.preemptible && allocation.priority < job.priority).then(|| {
                        let gpus = u64::from(allocation.replica.gpus.max(1))
                            * u64::from(allocation.replicas);
                        let lost = gpus * self.now.saturating_sub(allocation.last_checkpoint_at);
                        (lost, index)
                    })
                })
                .collect();
            if victims.is_empty() {
                continue;
            }
            victims.sort();
            let Some(mut capacity) = self.capacity.get(candidate.offer).cloned() else {
                continue;
            };
            let mut ledger = self.ledger.clone();
            let mut chosen = Vec::new();
            let mut lost_total = 0u64;
            for (lost, index) in victims {
                let Some(victim) = self.snapshot.running.get(index) else {
                    continue;
                };
                capacity.release(&offer.node, &victim.replica, victim.replicas);
                let victim_usage =
                    usage_of(offer, &victim.replica, victim.replicas, Money::ZERO, 0, 0);
                if let Some(victim_team) = ledger.id(&victim.team) {
                    ledger.remove(
                        victim_team,
                        &victim_usage,
                        self.region_of_offer(candidate.offer),
                    );
                }
                chosen.push(index);
                lost_total += lost;
                let usage = usage_of(
                    offer,
                    &job.replica,
                    job.replicas,
                    candidate.marginal,
                    seconds_until_midnight,
                    candidate.runtime_s,
                );
                if ledger
                    .check(team, &usage, self.region_of_offer(candidate.offer))
                    .is_err()
                {
                    continue;
                }
                if let Ok(fit) = capacity.fit(&offer.node, &job.replica, job.replicas) {
                    let better = best.as_ref().is_none_or(|(best_lost, best_rank, _, _)| {
                        (lost_total, rank) < (*best_lost, *best_rank)
                    });
                    if better {
                        best = Some((lost_total, rank, chosen.clone(), fit));
                    }
                    break;
                }
            }
        }
        let Some((_, rank, victims, _)) = best else {
            return false;
        };
        let Some(candidate) = priced.get(rank) else {
            return false;
        };
        let Some(offer) = self.snapshot.offers.get(candidate.offer) else {
            return false;
        };
        for &index in &victims {
            let Some(victim) = self.snapshot.running.get(index) else {
                continue;
            };
            if let Some(capacity) = self.capacity.get_mut(candidate.offer) {
                capacity.release(&offer.node, &victim.replica, victim.replicas);
            }
            let victim_usage = usage_of(offer, &victim.replica, victim.replicas, Money::ZERO, 0, 0);
            if let Some(victim_team) = self.ledger.id(&victim.team) {
                let region = self.region_of_offer(candidate.offer);
                self.ledger.remove(victim_team, &victim_usage, region);
            }
            self.preempted.insert(index);
            let gpus = u64::from(victim.replica.gpus.max(1)) * u64::from(victim.replicas);
            self.plan.preemptions.push(Preemption {
                victim: victim.id.clone(),
                for_job: job.id.clone(),
                offer: candidate.offer,
                lost_gpu_seconds: gpus * self.now.saturating_sub(victim.last_checkpoint_at),
                reason: format!(
                    "preempted by {} (priority {} over {}) to make room on {}/{}",
                    job.id, job.priority, victim.priority, offer.cluster, offer.pool
                ),
            });
        }
        // Freed capacity may serve other signatures again.
        for state in &mut self.signatures {
            state.no_room.clear();
            state.exhausted = false;
            state.full_prefix = 0;
        }
        let Some(capacity) = self.capacity.get(candidate.offer) else {
            return false;
        };
        let Ok(fit) = capacity.fit(&offer.node, &job.replica, job.replicas) else {
            debug_assert!(false, "preemption freed too little room");
            return false;
        };
        self.commit(team, job, candidate, &fit, seconds_until_midnight);
        let explained = vec![Candidate {
            offer: candidate.offer,
            expected_cost: candidate.cost.total(),
            hourly_price: candidate.list,
            rejection: None,
        }];
        self.finish_assignment(job, candidate, explained, priced.len());
        true
    }
}
