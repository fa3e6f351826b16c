//! The scheduling pass: order the queue, and for each job weigh every offer
//! that could run it, cheapest first by the policy's measure, taking the
//! first that passes the hourly cap, the quotas and the free capacity
//! (unless, under `Policy::patience`, it costs much more than the job's
//! cheapest acceptable offer and the job may still wait for that one);
//! preempt when a higher-priority job fits nowhere else; say why every
//! other job waits.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use gantry_core::Money;

use crate::candidates::{Signature, capacity_rank, no_match_detail, static_rejection};
use crate::capacity::OfferCapacity;
use crate::cost::{expected_cost, hourly_list_price, hourly_marginal_price, runtime_on, usage_of};
use crate::fast_hash::FastHash;
use crate::plan::{
    Assignment, Candidate, CostBreakdown, Explanation, Plan, Rejection, WaitReason, Waiting,
};
use crate::policy::{OfferChoice, Policy, QueueOrder};
use crate::quota::{QuotaLedger, RegionId, Usage};
use crate::snapshot::{Offer, QueuedJob, Seconds, Snapshot};

mod preemption;

/// Why no offer could ever run `job`, whatever is free: for rejecting a job
/// at submit (PRODUCT.md: "a job that no configured cluster could ever fit
/// is rejected at submit, with the reason"). `None` when some offer can.
pub fn never_fits(offers: &[Offer], job: &QueuedJob) -> Option<String> {
    if offers
        .iter()
        .any(|offer| static_rejection(offer, job).is_none())
    {
        None
    } else {
        Some(no_match_detail(offers, job))
    }
}

/// Decides placements, preemptions and waiting reasons for `snapshot` at `now`.
///
/// Pure and deterministic: the same inputs give the same plan.
pub fn schedule(snapshot: &Snapshot, policy: &Policy, now: Seconds) -> Plan {
    let mut pass = Pass::new(snapshot, policy, now);
    match policy.queue_order {
        QueueOrder::Fifo => {
            let mut order: Vec<usize> = (0..snapshot.queue.len()).collect();
            order.sort_by_key(|&index| {
                (
                    snapshot.queue.get(index).map_or(0, |job| job.submitted_at),
                    index,
                )
            });
            for index in order {
                pass.consider(index);
            }
        }
        QueueOrder::PriorityFairShare => pass.run_fair_share(),
    }
    pass.finish()
}

struct Pass<'a> {
    snapshot: &'a Snapshot,
    policy: &'a Policy,
    now: Seconds,
    capacity: Vec<OfferCapacity>,
    ledger: QuotaLedger,
    /// The cloud quota region of each offer, found once.
    offer_regions: Vec<Option<RegionId>>,
    fleet_gpus: u64,
    /// Index into `signatures` of each signature seen in this pass.
    signature_ids: HashMap<Signature<'a>, usize, FastHash>,
    /// What the pass knows about the offers of each signature seen.
    signatures: Vec<SignatureState>,
    /// Running allocations by offer, built on the first preemption attempt.
    running_by_offer: Option<Vec<Vec<usize>>>,
    /// Lowest priority of a preemptible running job anywhere.
    lowest_preemptible_overall: u32,
    /// Ledger id of each queued job's team, looked up when first needed
    /// (most waiting jobs are turned away before their team matters).
    team_ids: Vec<Option<usize>>,
    preempted: BTreeSet<usize>,
    plan: Plan,
    /// Set when a job blocks the queue (no backfill).
    blocked_by: Option<usize>,
}

/// What one pass knows about the offers of one job signature.
#[derive(Debug)]
struct SignatureState {
    /// The offers that can ever run the signature, sorted by their bound
    /// (see [`Pass::bound_per_reference_hour`]).
    sorted: Rc<[(i64, usize)]>,
    /// Offers found without room for the signature in this pass (capacity
    /// only shrinks, so they stay without room until a preemption frees some).
    no_room: HashSet<usize, FastHash>,
    /// No room left on any offer (until a preemption frees some).
    exhausted: bool,
    /// How many offers at the start of `sorted` are known to be without
    /// room (for patient jobs, which weigh only a prefix).
    full_prefix: usize,
}

/// A job's egress cost per destination (cloud, region), computed once each.
#[derive(Debug, Default)]
struct EgressCache {
    entries: Vec<(gantry_core::Cloud, String, Money)>,
}

impl EgressCache {
    fn get(&mut self, policy: &Policy, job: &QueuedJob, offer: &Offer) -> Money {
        if let Some((_, _, cost)) = self
            .entries
            .iter()
            .find(|(cloud, region, _)| *cloud == offer.cloud && *region == offer.region)
        {
            return *cost;
        }
        let cost = job
            .data
            .iter()
            .map(|source| policy.egress.cost(source, offer.cloud, &offer.region))
            .fold(Money::ZERO, Money::saturating_add);
        self.entries.push((offer.cloud, offer.region.clone(), cost));
        cost
    }
}

/// How far ahead placements' spend is projected against daily budgets: until
/// midnight UTC, or not at all when no team has a budget (spend is then
/// never checked, and computing it is most of the cost of counting usage).
fn spend_horizon(snapshot: &Snapshot, midnight: Seconds, now: Seconds) -> Seconds {
    if snapshot
        .teams
        .iter()
        .any(|budget| budget.quota.budget_per_day.is_some())
    {
        midnight.saturating_sub(now)
    } else {
        0
    }
}

/// Candidates are checked in ascending order of this key: the policy's
/// measure, then list price, capacity rank and offer index as tie-breaks.
type OrderingKey = (i64, i64, u8, usize);

/// One priced candidate for a job.
#[derive(Clone, Debug)]
struct Priced {
    offer: usize,
    list: Money,
    marginal: Money,
    runtime_s: Seconds,
    cost: CostBreakdown,
}

impl<'a> Pass<'a> {
    fn new(snapshot: &'a Snapshot, policy: &'a Policy, now: Seconds) -> Self {
        let mut ledger = QuotaLedger::new(snapshot, now);
        let offer_regions: Vec<Option<RegionId>> = snapshot
            .offers
            .iter()
            .map(|offer| ledger.region_of(offer.cloud, &offer.region))
            .collect();
        let seconds_until_midnight = spend_horizon(snapshot, ledger.midnight, now);
        let mut lowest_preemptible_overall = u32::MAX;
        for allocation in &snapshot.running {
            let team = ledger.intern(&allocation.team);
            if allocation.preemptible {
                lowest_preemptible_overall = lowest_preemptible_overall.min(allocation.priority);
            }
            let Some(offer) = snapshot.offers.get(allocation.offer) else {
                continue;
            };
            let marginal = hourly_marginal_price(offer, allocation.hourly_cost);
            let remaining = allocation.expected_end_at.saturating_sub(now);
            let usage = usage_of(
                offer,
                &allocation.replica,
                allocation.replicas,
                marginal,
                seconds_until_midnight,
                remaining,
            );
            let region = offer_regions.get(allocation.offer).copied().flatten();
            ledger.add(team, &usage, region);
        }
        let team_ids = vec![None; snapshot.queue.len()];
        Pass {
            snapshot,
            policy,
            now,
            capacity: snapshot.offers.iter().map(OfferCapacity::of).collect(),
            ledger,
            offer_regions,
            fleet_gpus: snapshot
                .offers
                .iter()
                .map(|offer| {
                    u64::from(offer.node.gpu.map_or(0, |(_, count)| count))
                        * u64::from(offer.total_nodes)
                })
                .sum(),
            signature_ids: HashMap::default(),
            signatures: Vec::new(),
            running_by_offer: None,
            lowest_preemptible_overall,
            team_ids,
            preempted: BTreeSet::new(),
            plan: Plan {
                waiting: Vec::with_capacity(snapshot.queue.len()),
                ..Plan::default()
            },
            blocked_by: None,
        }
    }

    /// The region of an offer's cloud quota, if it has one.
    fn region_of_offer(&self, offer_index: usize) -> Option<RegionId> {
        self.offer_regions.get(offer_index).copied().flatten()
    }

    /// Priority first; within a priority, the team with the lowest dominant
    /// share goes next; FIFO within a team.
    fn run_fair_share(&mut self) {
        let mut levels: BTreeMap<Reverse<u32>, BTreeMap<usize, VecDeque<usize>>> = BTreeMap::new();
        let mut order: Vec<usize> = (0..self.snapshot.queue.len()).collect();
        order.sort_by_key(|&index| {
            (
                self.snapshot
                    .queue
                    .get(index)
                    .map_or(0, |job| job.submitted_at),
                index,
            )
        });
        // Teams by ledger id: the order of teams never decides (heads are
        // unique in the heap key), and an id costs no allocation per job.
        for index in order {
            let team = self.team_id(index);
            if let Some(job) = self.snapshot.queue.get(index) {
                levels
                    .entry(Reverse(job.priority))
                    .or_default()
                    .entry(team)
                    .or_default()
                    .push_back(index);
            }
        }
        for (_, mut teams) in levels {
            let team_names: Vec<usize> = teams.keys().copied().collect();
            let mut heap: BinaryHeap<Reverse<(u64, Seconds, usize, usize)>> = BinaryHeap::new();
            for (team_index, team) in team_names.iter().enumerate() {
                if let Some(&head) = teams.get(team).and_then(VecDeque::front) {
                    heap.push(Reverse(self.fair_share_key(head, team_index)));
                }
            }
            while let Some(Reverse((_, _, _, team_index))) = heap.pop() {
                let Some(team) = team_names.get(team_index) else {
                    continue;
                };
                let Some(queue) = teams.get_mut(team) else {
                    continue;
                };
                let Some(job_index) = queue.pop_front() else {
                    continue;
                };
                self.consider(job_index);
                if let Some(&head) = queue.front() {
                    heap.push(Reverse(self.fair_share_key(head, team_index)));
                }
            }
        }
    }

    fn fair_share_key(&mut self, head: usize, team_index: usize) -> (u64, Seconds, usize, usize) {
        let submitted = self
            .snapshot
            .queue
            .get(head)
            .map_or(0, |job| job.submitted_at);
        let team = self.team_id(head);
        (
            self.ledger.dominant_share_ppm(team, self.fleet_gpus),
            submitted,
            head,
            team_index,
        )
    }

    /// The ledger id of the team of the queued job at `job_index`.
    fn team_id(&mut self, job_index: usize) -> usize {
        if let Some(Some(id)) = self.team_ids.get(job_index) {
            return *id;
        }
        let Some(job) = self.snapshot.queue.get(job_index) else {
            return usize::MAX;
        };
        let id = self.ledger.intern(&job.team);
        if let Some(slot) = self.team_ids.get_mut(job_index) {
            *slot = Some(id);
        }
        id
    }

    fn consider(&mut self, job_index: usize) {
        let Some(job) = self.snapshot.queue.get(job_index) else {
            return;
        };
        if let Some(blocker) = self.blocked_by {
            let blocker_id = self.snapshot.queue.get(blocker).map(|job| job.id.clone());
            if let Some(blocker_id) = blocker_id {
                self.wait(job_index, WaitReason::BehindEarlierJob(blocker_id));
                return;
            }
        }
        match self.place(job_index, job) {
            Ok(()) => {}
            Err(reason) => {
                if !self.policy.backfill {
                    self.blocked_by = Some(job_index);
                }
                self.wait(job_index, reason);
            }
        }
    }

    fn wait(&mut self, job_index: usize, reason: WaitReason) {
        if let Some(job) = self.snapshot.queue.get(job_index) {
            self.plan.waiting.push(Waiting {
                job: job.id.clone(),
                reason,
            });
        }
    }

    fn price(&self, job: &QueuedJob, offer_index: usize) -> Option<Priced> {
        self.price_with(job, offer_index, &mut EgressCache::default())
    }

    /// Prices `job` on an offer; `egress` remembers the job's egress cost
    /// per destination region, which many offers share.
    fn price_with(
        &self,
        job: &QueuedJob,
        offer_index: usize,
        egress: &mut EgressCache,
    ) -> Option<Priced> {
        let offer = self.snapshot.offers.get(offer_index)?;
        let list = hourly_list_price(offer, &job.replica, job.replicas);
        let marginal = hourly_marginal_price(offer, list);
        let runtime_s = runtime_on(self.policy, offer, job);
        let mut cost = expected_cost(self.policy, offer, job, list, runtime_s);
        if !job.data.is_empty() {
            cost.egress = egress.get(self.policy, job, offer);
        }
        Some(Priced {
            offer: offer_index,
            list,
            marginal,
            runtime_s,
            cost,
        })
    }

    fn ordering_key(&self, priced: &Priced) -> OrderingKey {
        let offer = self.snapshot.offers.get(priced.offer);
        let rank = offer.map_or(0, |offer| capacity_rank(offer.capacity_type));
        match self.policy.offer_choice {
            OfferChoice::LowestExpectedCost => (
                priced.cost.total().micros(),
                priced.list.micros(),
                rank,
                priced.offer,
            ),
            OfferChoice::LowestHourlyPrice => (priced.list.micros(), 0, rank, priced.offer),
            OfferChoice::FirstFit => (
                i64::try_from(priced.offer).unwrap_or(i64::MAX),
                0,
                0,
                priced.offer,
            ),
        }
    }

    /// A lower bound of the first component of [`Pass::ordering_key`] for
    /// `job` on `offer`, independent of the job's runtime scale, data and
    /// checkpoints: per reference hour for expected cost (egress and spot
    /// loss only add), exact for the other choices.
    fn bound_per_reference_hour(&self, job: &QueuedJob, offer_index: usize) -> i64 {
        let Some(offer) = self.snapshot.offers.get(offer_index) else {
            return i64::MAX;
        };
        match self.policy.offer_choice {
            OfferChoice::FirstFit => i64::try_from(offer_index).unwrap_or(i64::MAX),
            OfferChoice::LowestHourlyPrice => {
                hourly_list_price(offer, &job.replica, job.replicas).micros()
            }
            OfferChoice::LowestExpectedCost => {
                let marginal = hourly_marginal_price(
                    offer,
                    hourly_list_price(offer, &job.replica, job.replicas),
                );
                // Compute cost for one reference hour on this model (runtime scales down on faster GPUs).
                let seconds = self.policy.throughput.runtime_on(offer.gpu_model(), 3600);
                let per_reference_hour = i128::from(marginal.micros()) * i128::from(seconds) / 3600;
                i64::try_from(per_reference_hour).unwrap_or(i64::MAX)
            }
        }
    }

    fn lower_bound(&self, job: &QueuedJob, per_reference_hour: i64) -> i64 {
        match self.policy.offer_choice {
            OfferChoice::LowestExpectedCost => {
                let bound =
                    i128::from(per_reference_hour) * i128::from(job.expected_runtime_s) / 3600;
                i64::try_from(bound).unwrap_or(i64::MAX).saturating_sub(2)
            }
            OfferChoice::LowestHourlyPrice | OfferChoice::FirstFit => per_reference_hour,
        }
    }

    /// The index in `signatures` of `job`'s signature, with the offers that
    /// can ever run it sorted by their job-independent bound (found once per
    /// signature and pass).
    fn signature_index(&mut self, job: &QueuedJob, signature: Signature<'a>) -> usize {
        if let Some(&index) = self.signature_ids.get(&signature) {
            return index;
        }
        let mut sorted: Vec<(i64, usize)> = self
            .snapshot
            .offers
            .iter()
            .enumerate()
            .filter(|(_, offer)| static_rejection(offer, job).is_none())
            .map(|(index, _)| (self.bound_per_reference_hour(job, index), index))
            .collect();
        sorted.sort_unstable();
        let index = self.signatures.len();
        self.signatures.push(SignatureState {
            sorted: sorted.into(),
            no_room: HashSet::default(),
            exhausted: false,
            full_prefix: 0,
        });
        self.signature_ids.insert(signature, index);
        index
    }

    fn place(&mut self, job_index: usize, job: &'a QueuedJob) -> Result<(), WaitReason> {
        let signature = self.signature_index(job, Signature::of(job));
        let sorted = self
            .signatures
            .get(signature)
            .map(|state| state.sorted.clone())
            .unwrap_or_default();
        if sorted.is_empty() {
            return Err(WaitReason::NoMatchingOffer(no_match_detail(
                &self.snapshot.offers,
                job,
            )));
        }
        let preemption_possible =
            self.policy.preemption && self.lowest_preemptible_overall < job.priority;
        if !preemption_possible
            && self
                .signatures
                .get(signature)
                .is_some_and(|state| state.exhausted)
        {
            return Err(WaitReason::Capacity {
                matching_offers: sorted.len(),
            });
        }

        let team = self.team_id(job_index);
        let totals = Usage {
            gpus: u64::from(job.replica.gpus) * u64::from(job.replicas),
            cpu_millis: job.replica.cpu_millis * u64::from(job.replicas),
            memory_bytes: job.replica.memory_bytes * u64::from(job.replicas),
            ..Usage::default()
        };
        // Preempting other teams' jobs frees no quota of this team; its own
        // lower-priority jobs could, so only skip when there are none to stop.
        if let Err(reason) = self.ledger.check_totals(team, &totals)
            && !preemption_possible
        {
            return Err(reason);
        }

        // A patient job weighs only offers within its limit: a prefix of
        // `sorted` (bounds rise along it). When every one of them is known
        // full it waits at once.
        let patience = self.patience(job, &sorted, preemption_possible);
        if let Some((limit, reason)) = &patience
            && let Some(state) = self.signatures.get_mut(signature)
        {
            while let Some(&(_, offer)) = sorted.get(state.full_prefix)
                && state.no_room.contains(&offer)
            {
                state.full_prefix += 1;
            }
            let first_open = sorted.get(state.full_prefix).map(|&(bound, _)| bound);
            match first_open {
                None => {
                    return Err(WaitReason::Capacity {
                        matching_offers: sorted.len(),
                    });
                }
                Some(bound) if self.lower_bound(job, bound) > *limit => {
                    return Err(reason.clone());
                }
                Some(_) => {}
            }
        }
        let patience_limit = patience.as_ref().map(|(limit, _)| *limit);
        let mut waits_for_patience = false;

        let seconds_until_midnight = spend_horizon(self.snapshot, self.ledger.midnight, self.now);
        let mut explained: Vec<Candidate> = Vec::new();
        let mut first_failure: Option<WaitReason> = None;
        let mut over_cap_cheapest: Option<Money> = None;
        let mut any_room = false;
        let no_room = self
            .signatures
            .get_mut(signature)
            .map(|state| std::mem::take(&mut state.no_room))
            .unwrap_or_default();
        let mut newly_full: Vec<usize> = Vec::new();
        // Offers in bound order; a candidate is checked once no unseen offer
        // can order before it, so checks happen in exact ordering-key order.
        let mut heap: BinaryHeap<Reverse<(OrderingKey, usize)>> = BinaryHeap::new();
        let mut priced_by_offer: BTreeMap<usize, Priced> = BTreeMap::new();
        let mut next = 0usize;
        let mut egress = EgressCache::default();
        loop {
            let next_bound = sorted
                .get(next)
                .map(|&(bound, _)| self.lower_bound(job, bound));
            if let Some(limit) = patience_limit {
                // Nothing left within the limit: wait for the busy ones.
                let lowest = match (heap.peek(), next_bound) {
                    (Some(Reverse((key, _))), Some(bound)) => Some(key.0.min(bound)),
                    (Some(Reverse((key, _))), None) => Some(key.0),
                    (None, bound) => bound,
                };
                if lowest.is_some_and(|lowest| lowest > limit) {
                    waits_for_patience = true;
                    break;
                }
            }
            let ready = match (heap.peek(), next_bound) {
                (Some(Reverse((key, _))), Some(bound)) => key.0 < bound,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if ready {
                let Some(Reverse((_, offer_index))) = heap.pop() else {
                    break;
                };
                let Some(candidate) = priced_by_offer.get(&offer_index).cloned() else {
                    continue;
                };
                let Some(offer) = self.snapshot.offers.get(offer_index) else {
                    continue;
                };
                match self.check(
                    team,
                    job,
                    offer,
                    &candidate,
                    seconds_until_midnight,
                    &no_room,
                ) {
                    Ok(fit) => {
                        self.explain(&mut explained, &candidate, None);
                        self.commit(team, job, &candidate, &fit, seconds_until_midnight);
                        // Fill the explanation with the next cheapest, for `gantry describe`.
                        let mut unseen = sorted.get(next..).unwrap_or_default().iter();
                        while explained.len() < self.policy.explained_candidates {
                            if let Some(Reverse((_, other))) = heap.pop() {
                                if let Some(other) = priced_by_offer.get(&other) {
                                    self.explain(&mut explained, other, Some(Rejection::Costlier));
                                }
                            } else if let Some(&(_, other)) = unseen.next() {
                                if let Some(other) = self.price(job, other) {
                                    self.explain(&mut explained, &other, Some(Rejection::Costlier));
                                }
                            } else {
                                break;
                            }
                        }
                        self.finish_assignment(job, &candidate, explained, sorted.len());
                        if let Some(state) = self.signatures.get_mut(signature) {
                            state.no_room = no_room;
                        }
                        return Ok(());
                    }
                    Err((rejection, reason)) => {
                        if let Rejection::MaxHourlyCost { price, .. } = &rejection {
                            over_cap_cheapest = Some(
                                over_cap_cheapest.map_or(*price, |cheapest| cheapest.min(*price)),
                            );
                        }
                        if matches!(rejection, Rejection::Capacity { .. }) {
                            newly_full.push(offer_index);
                        } else {
                            any_room = true;
                        }
                        if first_failure.is_none()
                            && !matches!(rejection, Rejection::MaxHourlyCost { .. })
                        {
                            first_failure = reason;
                        }
                        self.explain(&mut explained, &candidate, Some(rejection));
                    }
                }
                continue;
            }
            let Some(&(_, offer_index)) = sorted.get(next) else {
                break;
            };
            next += 1;
            // Offers known or quickly shown to lack room are not priced.
            let full = no_room.contains(&offer_index)
                || match (
                    self.capacity.get(offer_index),
                    self.snapshot.offers.get(offer_index),
                ) {
                    (Some(capacity), Some(offer)) => {
                        !capacity.might_fit(&offer.node, &job.replica, job.replicas)
                    }
                    _ => true,
                };
            if full {
                newly_full.push(offer_index);
                continue;
            }
            // Quotas other than the budget do not depend on the price: check
            // them before pricing, and build a message only for the first.
            if let Some(offer) = self.snapshot.offers.get(offer_index) {
                let probe = usage_of(offer, &job.replica, job.replicas, Money::ZERO, 0, 0);
                let region = self.region_of_offer(offer_index);
                if !self.ledger.allows(team, &probe, region) {
                    any_room = true;
                    if first_failure.is_none() {
                        first_failure = self.ledger.check(team, &probe, region).err();
                    }
                    continue;
                }
            }
            if let Some(candidate) = self.price_with(job, offer_index, &mut egress) {
                heap.push(Reverse((self.ordering_key(&candidate), offer_index)));
                priced_by_offer.insert(offer_index, candidate);
            }
        }
        let mut no_room = no_room;
        no_room.extend(newly_full.iter().copied());
        if let Some(state) = self.signatures.get_mut(signature) {
            state.no_room = no_room;
            if !any_room && newly_full.len() == sorted.len() {
                state.exhausted = true;
            }
        }
        if waits_for_patience && let Some((_, reason)) = patience {
            return Err(reason);
        }
        if preemption_possible && !newly_full.is_empty() {
            let mut all: Vec<Priced> = sorted
                .iter()
                .filter_map(|&(_, offer)| self.price(job, offer))
                .collect();
            all.sort_by_cached_key(|candidate| self.ordering_key(candidate));
            if self.try_preemption(team, job, &all, seconds_until_midnight) {
                return Ok(());
            }
        }
        Err(match (first_failure, over_cap_cheapest) {
            (Some(WaitReason::Capacity { .. }), _) | (None, None) => WaitReason::Capacity {
                matching_offers: sorted.len(),
            },
            (Some(reason), _) => reason,
            (None, Some(cheapest)) => WaitReason::MaxHourlyCost {
                limit: job.placement.max_hourly_cost.unwrap_or(Money::ZERO),
                cheapest,
            },
        })
    }

    /// Under [`Policy::patience`], while `job` may still wait: the most it
    /// accepts to cost now (its cheapest acceptable offer's lower bound,
    /// busy or not, plus the margin), as a ready wait reason. Urgent work
    /// (that may preempt) does not wait.
    fn patience(
        &self,
        job: &QueuedJob,
        sorted: &[(i64, usize)],
        preemption_possible: bool,
    ) -> Option<(i64, WaitReason)> {
        let patience = self.policy.patience?;
        if self.policy.offer_choice != OfferChoice::LowestExpectedCost || preemption_possible {
            return None;
        }
        let until = patience.until(job.submitted_at, job.expected_runtime_s);
        if self.now >= until {
            return None;
        }
        let &(bound, _) = sorted.first()?;
        let cheapest = self.lower_bound(job, bound).max(0);
        let margin = i128::from(cheapest) * i128::from(patience.costlier_by_percent) / 100;
        let margin = i64::try_from(margin).unwrap_or(i64::MAX).max(1_000_000);
        let limit = cheapest.saturating_add(margin);
        Some((
            limit,
            WaitReason::Patience {
                until,
                cheapest: Money::from_micros(cheapest),
                limit: Money::from_micros(limit),
            },
        ))
    }

    /// The checks, in order: hourly cap, quotas, free capacity.
    fn check(
        &self,
        team: usize,
        job: &QueuedJob,
        offer: &Offer,
        candidate: &Priced,
        seconds_until_midnight: Seconds,
        no_room: &HashSet<usize, FastHash>,
    ) -> Result<crate::capacity::Fit, (Rejection, Option<WaitReason>)> {
        if let Some(limit) = job.placement.max_hourly_cost
            && candidate.marginal > limit
        {
            return Err((
                Rejection::MaxHourlyCost {
                    limit,
                    price: candidate.marginal,
                },
                None,
            ));
        }
        let usage = usage_of(
            offer,
            &job.replica,
            job.replicas,
            candidate.marginal,
            seconds_until_midnight,
            candidate.runtime_s,
        );
        if let Err(reason) = self
            .ledger
            .check(team, &usage, self.region_of_offer(candidate.offer))
        {
            let rejection = match &reason {
                WaitReason::CloudQuota { detail, .. } => Rejection::CloudQuota(detail.to_string()),
                other => Rejection::TeamQuota(other.to_string()),
            };
            return Err((rejection, Some(reason)));
        }
        let capacity_failure = |fits: u32| {
            (
                Rejection::Capacity {
                    fits,
                    needed: job.replicas,
                },
                Some(WaitReason::Capacity { matching_offers: 0 }),
            )
        };
        let Some(capacity) = self.capacity.get(candidate.offer) else {
            return Err(capacity_failure(0));
        };
        if no_room.contains(&candidate.offer) {
            return Err(capacity_failure(
                capacity.replicas_that_fit(&offer.node, &job.replica),
            ));
        }
        capacity
            .fit(&offer.node, &job.replica, job.replicas)
            .map_err(capacity_failure)
    }

    fn commit(
        &mut self,
        team: usize,
        job: &QueuedJob,
        candidate: &Priced,
        fit: &crate::capacity::Fit,
        seconds_until_midnight: Seconds,
    ) {
        let Some(offer) = self.snapshot.offers.get(candidate.offer) else {
            return;
        };
        if let Some(capacity) = self.capacity.get_mut(candidate.offer) {
            capacity.commit(&offer.node, &job.replica, fit);
        }
        let usage = usage_of(
            offer,
            &job.replica,
            job.replicas,
            candidate.marginal,
            seconds_until_midnight,
            candidate.runtime_s,
        );
        let region = self.region_of_offer(candidate.offer);
        self.ledger.add(team, &usage, region);
    }

    fn explain(
        &self,
        explained: &mut Vec<Candidate>,
        candidate: &Priced,
        rejection: Option<Rejection>,
    ) {
        if explained.len() < self.policy.explained_candidates.max(1) {
            explained.push(Candidate {
                offer: candidate.offer,
                expected_cost: candidate.cost.total(),
                hourly_price: candidate.list,
                rejection,
            });
        }
    }

    fn finish_assignment(
        &mut self,
        job: &QueuedJob,
        candidate: &Priced,
        mut explained: Vec<Candidate>,
        considered: usize,
    ) {
        let Some(offer) = self.snapshot.offers.get(candidate.offer) else {
            return;
        };
        // The chosen candidate first, then the rest in the order weighed.
        explained.sort_by_key(|entry| entry.rejection.is_some());
        self.plan.placements.push(Assignment {
            job: job.id.clone(),
            offer: candidate.offer,
            cluster: offer.cluster.clone(),
            pool: offer.pool.clone(),
            zone: offer.zone.clone(),
            cloud: offer.cloud,
            region: offer.region.clone(),
            capacity_type: offer.capacity_type,
            gpu_model: if job.replica.gpus > 0 {
                offer.gpu_model()
            } else {
                None
            },
            replicas: job.replicas,
            hourly_price: candidate.list,
            expected_runtime_s: candidate.runtime_s,
            expected_cost: candidate.cost,
            explanation: Explanation {
                candidates: explained,
                offers_considered: considered,
            },
        });
    }

    fn finish(self) -> Plan {
        self.plan
    }
}
