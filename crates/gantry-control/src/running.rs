//! The allocations of the jobs that hold capacity (Placed, Launching,
//! Running), as a scheduling pass hands them to `schedule()`: each on the
//! offer of its pool, a ghost offer when the views no longer show the pool,
//! and, for jobs the clusters do not show yet, their room taken from the
//! offer's free nodes.
//!
//! A pass under load weighs a few fresh jobs against thousands of running
//! ones, so the allocations are kept between passes ([`RunningCache`]): a
//! job's allocation is rebuilt only when its fingerprint (state, attempt,
//! placement times and price, spec) moved, and its offer is looked up by
//! name only when the offers' names changed. What depends on the moment
//! (the last checkpoint, the room of unseen jobs) is worked out every pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gantry_core::{CapacityType, JobId, JobState, Money};
use gantry_sched::{Allocation, Offer};

use crate::job::{LiveJob, replica_request, seconds};
use crate::offers::{ghost_offer, reserve};

/// What names an offer: cluster, instance type, zone, capacity type.
type OfferKey = (String, String, String, Option<CapacityType>);

/// What an allocation is built from; when it is unchanged, so is the allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    state: JobState,
    attempt: u32,
    placed_at_unix_ms: i64,
    started_at_unix_ms: Option<i64>,
    hourly_price_micro_usd: i64,
    replicas: u32,
    spec: usize,
}

impl Fingerprint {
    fn of(job: &LiveJob) -> Option<Fingerprint> {
        let placement = job.placement.as_ref()?;
        if !matches!(
            job.state,
            JobState::Placed | JobState::Launching | JobState::Running
        ) {
            return None;
        }
        Some(Fingerprint {
            state: job.state,
            attempt: job.attempt,
            placed_at_unix_ms: placement.placed_at_unix_ms,
            started_at_unix_ms: placement.started_at_unix_ms,
            hourly_price_micro_usd: placement.hourly_price_micro_usd,
            replicas: placement.replicas,
            spec: Arc::as_ptr(&job.spec) as usize,
        })
    }
}

/// What a pass needs of a job besides its allocation.
#[derive(Clone, Debug)]
struct Meta {
    fingerprint: Fingerprint,
    key: OfferKey,
    /// Index of its pool's offer among the views' offers, for the offer
    /// names it was looked up in; `None` when they have no such pool.
    offer: Option<usize>,
    /// Whether `offer` was looked up (a freshly built allocation's was not).
    looked_up: bool,
    started_unix_ms: i64,
    checkpoint_every_ms: Option<i64>,
}

/// The allocations of one pass, to give back to the cache after it.
#[derive(Debug, Default)]
pub(crate) struct Running {
    metas: Vec<Meta>,
}

/// Allocations kept between passes.
#[derive(Debug, Default)]
pub(crate) struct RunningCache {
    /// In id order, as the live jobs are.
    kept: Vec<(Allocation, Meta)>,
    /// The offer names the kept `Meta::offer` indices were found with.
    offer_keys: Vec<OfferKey>,
}

fn offer_key(offer: &Offer) -> OfferKey {
    (
        offer.cluster.clone(),
        offer.instance_type.clone(),
        offer.zone.clone(),
        Some(offer.capacity_type),
    )
}

fn build(job: &LiveJob, fingerprint: Fingerprint) -> Option<(Allocation, Meta)> {
    let placement = job.placement.as_ref()?;
    let capacity = placement.capacity_type();
    let started = placement
        .started_at_unix_ms
        .unwrap_or(placement.placed_at_unix_ms);
    let hourly_cost = if capacity == Some(CapacityType::Reserved) {
        Money::ZERO
    } else {
        placement.hourly_price()
    };
    let allocation = Allocation {
        id: job.id.clone(),
        team: job.team().clone(),
        priority: job.spec.priority,
        preemptible: job.spec.preemptible,
        offer: 0,
        replicas: placement.replicas,
        replica: replica_request(&job.spec),
        hourly_cost,
        started_at: seconds(started),
        last_checkpoint_at: seconds(started),
        expected_end_at: seconds(started).saturating_add(placement.expected_runtime_s),
    };
    let meta = Meta {
        fingerprint,
        key: (
            placement.cluster.clone(),
            placement.instance_type.clone(),
            placement.zone.clone(),
            capacity,
        ),
        offer: None,
        looked_up: false,
        started_unix_ms: started,
        checkpoint_every_ms: job.spec.checkpoint.as_ref().map(|checkpoint| {
            i64::try_from(checkpoint.every.as_millis())
                .unwrap_or(i64::MAX)
                .max(1)
        }),
    };
    Some((allocation, meta))
}

impl RunningCache {
    /// The allocations of every job of `jobs` that holds capacity, in id
    /// order, on `offers` (ghost offers are pushed onto it for pools the
    /// views no longer show; jobs whose pool cannot even be named are left
    /// out). Jobs in `unseen` or not Running yet have their room taken from
    /// their offer. Give the allocations back with [`RunningCache::keep`].
    pub(crate) fn allocations(
        &mut self,
        jobs: &BTreeMap<JobId, LiveJob>,
        unseen: &BTreeMap<JobId, i64>,
        offers: &mut Vec<Offer>,
        now: i64,
    ) -> (Vec<Allocation>, Running) {
        let views_offers = offers.len();
        let same_offers = self.offer_keys.len() == views_offers
            && self
                .offer_keys
                .iter()
                .zip(offers.iter())
                .all(|(key, offer)| {
                    key.0 == offer.cluster
                        && key.1 == offer.instance_type
                        && key.2 == offer.zone
                        && key.3 == Some(offer.capacity_type)
                });
        if !same_offers {
            self.offer_keys = offers.iter().map(offer_key).collect();
        }
        // Built on the first lookup a pass needs.
        let mut by_name: Option<HashMap<OfferKey, usize>> = None;
        let mut ghosts: HashMap<OfferKey, usize> = HashMap::new();
        let capacity = self.kept.len() + self.kept.len() / 8 + 16;
        let mut allocations = Vec::with_capacity(capacity);
        let mut metas = Vec::with_capacity(capacity);
        // Both in id order: walk them side by side.
        let mut old = std::mem::take(&mut self.kept).into_iter().peekable();
        for job in jobs.values() {
            let Some(fingerprint) = Fingerprint::of(job) else {
                continue;
            };
            while old.next_if(|(kept, _)| kept.id < job.id).is_some() {}
            let kept =
                old.next_if(|(kept, meta)| kept.id == job.id && meta.fingerprint == fingerprint);
            let (mut allocation, mut meta) = match kept {
                Some(kept) => kept,
                None => match build(job, fingerprint) {
                    Some(built) => built,
                    None => continue,
                },
            };
            if !same_offers || !meta.looked_up {
                let by_name = by_name.get_or_insert_with(|| {
                    self.offer_keys
                        .iter()
                        .enumerate()
                        .map(|(index, key)| (key.clone(), index))
                        .collect()
                });
                meta.offer = by_name.get(&meta.key).copied();
                meta.looked_up = true;
            }
            let index =
                match meta.offer.filter(|index| *index < views_offers) {
                    Some(index) => index,
                    None => match ghosts.get(&meta.key) {
                        Some(index) => *index,
                        None => {
                            let Some(ghost) = job.placement.as_ref().and_then(|placement| {
                                ghost_offer(placement, allocation.replica.gpus)
                            }) else {
                                continue;
                            };
                            offers.push(ghost);
                            ghosts.insert(meta.key.clone(), offers.len() - 1);
                            offers.len() - 1
                        }
                    },
                };
            allocation.offer = index;
            let started = meta.started_unix_ms;
            let last_checkpoint = match meta.checkpoint_every_ms {
                Some(every) => started + (now.saturating_sub(started).max(0) / every) * every,
                None => started,
            };
            allocation.last_checkpoint_at = seconds(last_checkpoint);
            let not_shown = job.state != JobState::Running || unseen.contains_key(&job.id);
            if not_shown && let Some(offer) = offers.get_mut(index) {
                reserve(offer, allocation.replicas, &allocation.replica);
            }
            allocations.push(allocation);
            metas.push(meta);
        }
        // What is left of `old` stopped holding capacity.
        (allocations, Running { metas })
    }

    /// Keeps a pass's allocations for the next one.
    pub(crate) fn keep(&mut self, allocations: Vec<Allocation>, running: Running) {
        self.kept = allocations.into_iter().zip(running.metas).collect();
    }
}
