//! The in-memory fake: the same contract as the durable backends (it passes
//! the same conformance suite) with nothing on disk. For the control loop's
//! tests, and as the reference the property tests compare SQLite with.
//!
//! One mutex over plain maps; every method takes it once, briefly, and never
//! across an await, so no caller waits on another's I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use gantry_core::{JobId, JobState, TeamPath};
use tokio::sync::watch;

use crate::error::StoreError;
use crate::page_token;
use crate::records::{
    EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, ListOrder, LiveJobs, NewJob,
    RequestId, SpecDigest, StateUpdate, Submitted,
};
use crate::rules::{self, CountDeltas, SubmitLookups, SubmitPlan};
use crate::store::{MAX_EVENTS_PER_READ, Store, StoreFuture};

/// Gantry's store, in memory only.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
    committed: watch::Sender<EventSeq>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// Jobs by listing position (submission order).
    jobs: BTreeMap<i64, JobRecord>,
    positions: HashMap<JobId, i64>,
    request_ids: HashMap<RequestId, JobId>,
    live_names: HashMap<(TeamPath, String), JobId>,
    /// The log; event `seq` is at index `seq - 1`.
    events: Vec<EventRecord>,
    events_by_job: HashMap<JobId, Vec<usize>>,
    counts: BTreeMap<(TeamPath, JobState), u64>,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            state: Mutex::new(MemoryState::default()),
            committed: watch::Sender::new(EventSeq(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic elsewhere while holding the lock leaves no half-written
        // change behind (every change is computed first and applied without
        // failure points), so the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit_now(&self, job: NewJob, digest: SpecDigest) -> Result<Submitted, StoreError> {
        let mut state = self.lock();
        let new_state = match rules::plan_submit(&job, &digest, &mut Lookups(&state))? {
            SubmitPlan::Existing(existing) => return Ok(Submitted::Existing { job: *existing }),
            SubmitPlan::Insert(new_state) => new_state,
        };
        let seq = state.next_seq();
        let record = rules::new_job_record(&job, &digest, new_state, seq);
        let event = rules::first_event(&job, new_state, seq);
        let position = state
            .jobs
            .last_key_value()
            .map_or(1, |(position, _)| position.saturating_add(1));
        let mut deltas = CountDeltas::default();
        deltas.enter(&record.team, new_state);
        state.positions.insert(record.id.clone(), position);
        if let Some(request_id) = &job.request_id {
            state
                .request_ids
                .insert(request_id.clone(), record.id.clone());
        }
        if !new_state.is_terminal() {
            state.live_names.insert(
                (record.team.clone(), record.name.clone()),
                record.id.clone(),
            );
        }
        state.jobs.insert(position, record.clone());
        state.push_event(event.clone());
        state.apply_counts(&deltas);
        // Under the lock, so the watched sequence number never goes back.
        self.committed.send_replace(seq);
        drop(state);
        Ok(rules::created(record, event))
    }

    fn apply_now(&self, updates: Vec<StateUpdate>) -> Result<Vec<EventRecord>, StoreError> {
        let mut state = self.lock();
        // Plan the whole batch on copies first, so a refusal changes nothing.
        let mut changed: BTreeMap<i64, JobRecord> = BTreeMap::new();
        let mut events = Vec::with_capacity(updates.len());
        let mut deltas = CountDeltas::default();
        let mut seq = state.next_seq();
        for update in &updates {
            let position = state.positions.get(&update.job_id).copied();
            let current = position.and_then(|position| {
                changed
                    .get(&position)
                    .or_else(|| state.jobs.get(&position))
                    .map(|record| (position, record.clone()))
            });
            let new_state = rules::plan_update(
                current
                    .as_ref()
                    .map(|(_, record)| (record.state, record.attempt)),
                update,
            )?;
            let Some((position, mut record)) = current else {
                // plan_update refused a missing job already.
                return Err(StoreError::JobNotFound {
                    id: update.job_id.clone(),
                });
            };
            events.push(rules::update_event(update, record.state, new_state, seq));
            deltas.moved(&record.team, record.state, new_state);
            rules::apply_update(&mut record, update, new_state, seq);
            changed.insert(position, record);
            seq = EventSeq(seq.0.saturating_add(1));
        }
        for (position, record) in changed {
            if let Some(old) = state.jobs.get(&position)
                && !old.state.is_terminal()
                && record.state.is_terminal()
            {
                let key = (old.team.clone(), old.name.clone());
                state.live_names.remove(&key);
            }
            state.jobs.insert(position, record);
        }
        for event in &events {
            state.push_event(event.clone());
        }
        state.apply_counts(&deltas);
        if !events.is_empty() {
            self.committed.send_replace(state.last_seq());
        }
        drop(state);
        Ok(events)
    }

    fn list_now(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let cursor = page_token::decode(query)?;
        let page_size = query.effective_page_size();
        let state = self.lock();
        let mut jobs: Vec<(i64, JobRecord)> = Vec::with_capacity(page_size.saturating_add(1));
        let mut take = |position: &i64, record: &JobRecord| {
            if query.matches(record) {
                jobs.push((*position, record.clone()));
            }
            jobs.len() > page_size
        };
        match (query.order, cursor) {
            (ListOrder::OldestFirst, None) => {
                state.jobs.iter().any(|(p, r)| take(p, r));
            }
            (ListOrder::OldestFirst, Some(after)) => {
                state
                    .jobs
                    .range(after.saturating_add(1)..)
                    .any(|(p, r)| take(p, r));
            }
            (ListOrder::NewestFirst, None) => {
                state.jobs.iter().rev().any(|(p, r)| take(p, r));
            }
            (ListOrder::NewestFirst, Some(before)) => {
                state.jobs.range(..before).rev().any(|(p, r)| take(p, r));
            }
        }
        drop(state);
        let next_page_token = if jobs.len() > page_size {
            jobs.truncate(page_size);
            jobs.last()
                .map(|(position, _)| page_token::encode(query, *position))
        } else {
            None
        };
        Ok(JobPage {
            jobs: jobs.into_iter().map(|(_, record)| record).collect(),
            next_page_token,
        })
    }
}

impl MemoryState {
    fn last_seq(&self) -> EventSeq {
        EventSeq(self.events.len() as u64)
    }

    fn next_seq(&self) -> EventSeq {
        EventSeq(self.last_seq().0.saturating_add(1))
    }

    fn push_event(&mut self, event: EventRecord) {
        let index = self.events.len();
        self.events_by_job
            .entry(event.job_id.clone())
            .or_default()
            .push(index);
        self.events.push(event);
    }

    fn apply_counts(&mut self, deltas: &CountDeltas) {
        for (team, state, delta) in deltas.changes() {
            let count = self.counts.entry((team.clone(), state)).or_insert(0);
            *count = count.saturating_add_signed(delta);
            if *count == 0 {
                self.counts.remove(&(team.clone(), state));
            }
        }
    }

    fn job(&self, id: &JobId) -> Option<&JobRecord> {
        self.positions
            .get(id)
            .and_then(|position| self.jobs.get(position))
    }
}

struct Lookups<'a>(&'a MemoryState);

impl SubmitLookups for Lookups<'_> {
    fn job_for_request_id(
        &mut self,
        request_id: &RequestId,
    ) -> Result<Option<JobRecord>, StoreError> {
        Ok(self
            .0
            .request_ids
            .get(request_id)
            .and_then(|id| self.0.job(id))
            .cloned())
    }

    fn job_id_exists(&mut self, id: &JobId) -> Result<bool, StoreError> {
        Ok(self.0.positions.contains_key(id))
    }

    fn live_job_named(&mut self, team: &TeamPath, name: &str) -> Result<Option<JobId>, StoreError> {
        Ok(self
            .0
            .live_names
            .get(&(team.clone(), name.to_owned()))
            .cloned())
    }
}

impl Store for MemoryStore {
    fn submit(&self, job: NewJob) -> StoreFuture<'_, Submitted> {
        let digest = SpecDigest::of(&job.spec_yaml);
        let result = self.submit_now(job, digest);
        Box::pin(async move { result })
    }

    fn apply(&self, updates: Vec<StateUpdate>) -> StoreFuture<'_, Vec<EventRecord>> {
        let result = self.apply_now(updates);
        Box::pin(async move { result })
    }

    fn get_job(&self, id: &JobId) -> StoreFuture<'_, Option<JobRecord>> {
        let job = self.lock().job(id).cloned();
        Box::pin(async move { Ok(job) })
    }

    fn list_jobs(&self, query: JobQuery) -> StoreFuture<'_, JobPage> {
        let result = self.list_now(&query);
        Box::pin(async move { result })
    }

    fn job_counts(&self) -> StoreFuture<'_, JobCounts> {
        let mut counts = JobCounts::default();
        for ((team, state), count) in &self.lock().counts {
            counts
                .by_team
                .entry(team.clone())
                .or_default()
                .insert(*state, *count);
        }
        Box::pin(async move { Ok(counts) })
    }

    fn job_events(&self, id: &JobId) -> StoreFuture<'_, Vec<EventRecord>> {
        let state = self.lock();
        let events = state
            .events_by_job
            .get(id)
            .map(|indexes| {
                indexes
                    .iter()
                    .filter_map(|index| state.events.get(*index).cloned())
                    .collect()
            })
            .unwrap_or_default();
        drop(state);
        Box::pin(async move { Ok(events) })
    }

    fn events_after(&self, after: EventSeq, limit: usize) -> StoreFuture<'_, Vec<EventRecord>> {
        let limit = limit.min(MAX_EVENTS_PER_READ);
        let start = usize::try_from(after.0).unwrap_or(usize::MAX);
        let events: Vec<EventRecord> = self
            .lock()
            .events
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect();
        Box::pin(async move { Ok(events) })
    }

    fn live_jobs(&self) -> StoreFuture<'_, LiveJobs> {
        let state = self.lock();
        let live = LiveJobs {
            jobs: state
                .jobs
                .values()
                .filter(|record| !record.state.is_terminal())
                .cloned()
                .collect(),
            last_event_seq: state.last_seq(),
        };
        drop(state);
        Box::pin(async move { Ok(live) })
    }

    fn committed_seq(&self) -> watch::Receiver<EventSeq> {
        self.committed.subscribe()
    }
}
