//! The decisions every backend makes the same way: what a submit does given
//! what exists, whether an update may happen, what the new rows and events
//! are, and how the per-team counts move. Pure: backends look things up and
//! write; this module decides. Sharing it keeps the error a caller gets the
//! same whichever backend answers.

use std::collections::BTreeMap;

use gantry_core::{JobId, JobState, TeamPath, next_state};

use crate::error::StoreError;
use crate::records::{
    EventRecord, EventSeq, JobRecord, NewJob, RequestId, SpecDigest, StateUpdate, Submitted,
};

/// What a backend must be able to look up to decide a submit.
pub(crate) trait SubmitLookups {
    /// The job made by the first submit with this request id.
    fn job_for_request_id(
        &mut self,
        request_id: &RequestId,
    ) -> Result<Option<JobRecord>, StoreError>;
    /// Whether a job has this id.
    fn job_id_exists(&mut self, id: &JobId) -> Result<bool, StoreError>;
    /// The live job of `team` named `name`, if any.
    fn live_job_named(&mut self, team: &TeamPath, name: &str) -> Result<Option<JobId>, StoreError>;
}

/// What a submit does.
#[derive(Debug)]
pub(crate) enum SubmitPlan {
    /// Nothing: the request id made this job already.
    Existing(Box<JobRecord>),
    /// Insert the job in this state.
    Insert(JobState),
}

/// Decides a submit, checking in the order [`crate::Store::submit`] documents.
pub(crate) fn plan_submit(
    job: &NewJob,
    digest: &SpecDigest,
    lookups: &mut impl SubmitLookups,
) -> Result<SubmitPlan, StoreError> {
    if let Some(request_id) = &job.request_id
        && let Some(existing) = lookups.job_for_request_id(request_id)?
    {
        if &existing.spec_digest == digest {
            return Ok(SubmitPlan::Existing(Box::new(existing)));
        }
        return Err(StoreError::RequestIdConflict {
            request_id: request_id.clone(),
            job_id: existing.id,
        });
    }
    let state =
        next_state(None, job.transition).map_err(|refused| StoreError::IllegalTransition {
            id: job.id.clone(),
            refused,
        })?;
    if lookups.job_id_exists(&job.id)? {
        return Err(StoreError::JobIdTaken { id: job.id.clone() });
    }
    if !state.is_terminal()
        && let Some(live_job) = lookups.live_job_named(&job.team, &job.name)?
    {
        return Err(StoreError::NameTaken {
            team: job.team.clone(),
            name: job.name.clone(),
            live_job,
        });
    }
    Ok(SubmitPlan::Insert(state))
}

/// The state a job moves to under `update`, given its current state and
/// attempt (`None`: no such job), checking in the order
/// [`crate::Store::apply`] documents.
pub(crate) fn plan_update(
    current: Option<(JobState, u32)>,
    update: &StateUpdate,
) -> Result<JobState, StoreError> {
    let Some((state, attempt)) = current else {
        return Err(StoreError::JobNotFound {
            id: update.job_id.clone(),
        });
    };
    if state != update.expected_state {
        return Err(StoreError::StateConflict {
            id: update.job_id.clone(),
            expected: update.expected_state,
            actual: state,
        });
    }
    let new_state = match update.transition {
        Some(transition) => next_state(Some(state), transition).map_err(|refused| {
            StoreError::IllegalTransition {
                id: update.job_id.clone(),
                refused,
            }
        })?,
        None => state,
    };
    if update.attempt < attempt {
        return Err(StoreError::AttemptWentBack {
            id: update.job_id.clone(),
            current: attempt,
            requested: update.attempt,
        });
    }
    Ok(new_state)
}

/// An empty reason is no reason.
fn reason_of(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// The row a new job gets.
pub(crate) fn new_job_record(
    job: &NewJob,
    digest: &SpecDigest,
    state: JobState,
    seq: EventSeq,
) -> JobRecord {
    JobRecord {
        id: job.id.clone(),
        request_id: job.request_id.clone(),
        team: job.team.clone(),
        name: job.name.clone(),
        kind: job.kind,
        spec_yaml: job.spec_yaml.clone(),
        spec_digest: digest.clone(),
        submitter: job.submitter.clone(),
        state,
        attempt: 0,
        submitted_at: job.submitted_at,
        updated_at: job.submitted_at,
        placement: None,
        reason: reason_of(&job.reason),
        last_event_seq: seq,
    }
}

/// A new job's first event.
pub(crate) fn first_event(job: &NewJob, state: JobState, seq: EventSeq) -> EventRecord {
    EventRecord {
        seq,
        job_id: job.id.clone(),
        at: job.submitted_at,
        from_state: None,
        to_state: state,
        transition: Some(job.transition),
        attempt: 0,
        reason: job.reason.clone(),
        actor: job.submitter.clone(),
        details: job.details.clone(),
    }
}

/// The event an update records.
pub(crate) fn update_event(
    update: &StateUpdate,
    from_state: JobState,
    to_state: JobState,
    seq: EventSeq,
) -> EventRecord {
    EventRecord {
        seq,
        job_id: update.job_id.clone(),
        at: update.at,
        from_state: Some(from_state),
        to_state,
        transition: update.transition,
        attempt: update.attempt,
        reason: update.reason.clone(),
        actor: update.actor.clone(),
        details: update.details.clone(),
    }
}

/// Changes a job's row as `update` (already planned) says.
pub(crate) fn apply_update(
    record: &mut JobRecord,
    update: &StateUpdate,
    new_state: JobState,
    seq: EventSeq,
) {
    record.state = new_state;
    record.attempt = update.attempt;
    record.placement = update.placement.clone();
    record.reason = reason_of(&update.reason);
    record.updated_at = update.at;
    record.last_event_seq = seq;
}

/// A submit's outcome once written.
pub(crate) fn created(record: JobRecord, event: EventRecord) -> Submitted {
    Submitted::Created { job: record, event }
}

/// How the per-team, per-state counts change in one transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CountDeltas {
    deltas: BTreeMap<(TeamPath, JobState), i64>,
}

impl CountDeltas {
    /// A job of `team` enters `state`.
    pub(crate) fn enter(&mut self, team: &TeamPath, state: JobState) {
        *self.deltas.entry((team.clone(), state)).or_insert(0) += 1;
    }

    /// A job of `team` moves from `from` to `to`.
    pub(crate) fn moved(&mut self, team: &TeamPath, from: JobState, to: JobState) {
        if from != to {
            *self.deltas.entry((team.clone(), from)).or_insert(0) -= 1;
            self.enter(team, to);
        }
    }

    /// Adds another transaction part's changes.
    pub(crate) fn merge(&mut self, other: CountDeltas) {
        for (key, delta) in other.deltas {
            *self.deltas.entry(key).or_insert(0) += delta;
        }
    }

    /// The non-zero changes.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (&TeamPath, JobState, i64)> {
        self.deltas
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|((team, state), delta)| (team, *state, *delta))
    }
}
