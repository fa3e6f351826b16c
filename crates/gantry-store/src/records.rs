//! What the store keeps and what callers hand it: plain values, no I/O.
//!
//! Every value here is an input or an output of [`Store`](crate::Store). Times
//! and ids are given by the caller; the store assigns only event sequence
//! numbers (and a private listing order).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use gantry_core::{JobId, JobKind, JobState, JobTransition, TeamPath};
use sha2::{Digest, Sha256};

/// A point in time as milliseconds since the Unix epoch, given by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub i64);

impl fmt::Display for UnixMillis {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}ms", self.0)
    }
}

/// The place of an event in the global log. The store assigns them: strictly
/// increasing in commit order, without gaps, starting at 1. `EventSeq(0)` is
/// "before the first event".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventSeq(pub u64);

impl fmt::Display for EventSeq {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// Most bytes a request id may have.
pub const MAX_REQUEST_ID_BYTES: usize = 255;

/// A client's idempotency key: the same request id submitted twice is one job.
/// Request ids are global (not scoped by team or submitter) and kept forever.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(String);

/// Why a text is not a valid request id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestIdError {
    /// The text is empty.
    #[error("request id is empty; leave it out, or give 1 to 255 bytes of text")]
    Empty,
    /// The text is too long.
    #[error("request id is {length} bytes long; at most 255 are allowed")]
    TooLong {
        /// Its length in bytes.
        length: usize,
    },
    /// The text contains a control character.
    #[error("request id contains a control character (U+{code:04X}); use printable text")]
    ControlCharacter {
        /// The character's code point.
        code: u32,
    },
}

impl RequestId {
    /// Checks and wraps a request id: 1 to 255 bytes, no control characters.
    pub fn new(text: impl Into<String>) -> Result<RequestId, RequestIdError> {
        let text = text.into();
        if text.is_empty() {
            return Err(RequestIdError::Empty);
        }
        if text.len() > MAX_REQUEST_ID_BYTES {
            return Err(RequestIdError::TooLong { length: text.len() });
        }
        if let Some(control) = text.chars().find(|character| character.is_control()) {
            return Err(RequestIdError::ControlCharacter {
                code: u32::from(control),
            });
        }
        Ok(RequestId(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The SHA-256 of a job's spec text, as 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecDigest(String);

impl SpecDigest {
    /// The digest of `spec_yaml`'s UTF-8 bytes.
    pub fn of(spec_yaml: &str) -> SpecDigest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = Sha256::digest(spec_yaml.as_bytes());
        let mut text = String::with_capacity(64);
        for byte in digest.iter() {
            for nibble in [byte >> 4, byte & 0x0f] {
                text.push(char::from(
                    HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                ));
            }
        }
        SpecDigest(text)
    }

    /// Wraps a digest read back from storage, if it has the shape of one.
    pub(crate) fn from_stored(text: String) -> Option<SpecDigest> {
        let is_digest = text.len() == 64
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        is_digest.then_some(SpecDigest(text))
    }

    /// The digest as hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SpecDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A job to submit: the job row and its first event, committed together with
/// its request id.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// The job's id, chosen by the caller.
    pub id: JobId,
    /// The client's idempotency key, if it gave one.
    pub request_id: Option<RequestId>,
    /// Quota owner.
    pub team: TeamPath,
    /// Unique per team among live jobs.
    pub name: String,
    /// Training or inference.
    pub kind: JobKind,
    /// The spec exactly as submitted; the store keeps its SHA-256.
    pub spec_yaml: String,
    /// Who submitted it; also the first event's actor.
    pub submitter: String,
    /// `Accept` (the job starts Queued) or `Reject` (it starts, and stays,
    /// Rejected); anything else is refused.
    pub transition: JobTransition,
    /// Why: the first event's reason and the job's last reason.
    pub reason: String,
    /// The first event's details.
    pub details: serde_json::Value,
    /// When it was submitted.
    pub submitted_at: UnixMillis,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// The job's id.
    pub id: JobId,
    /// The request id it was submitted with, if any.
    pub request_id: Option<RequestId>,
    /// Quota owner.
    pub team: TeamPath,
    /// Unique per team among live jobs.
    pub name: String,
    /// Training or inference.
    pub kind: JobKind,
    /// The spec text as submitted.
    pub spec_yaml: String,
    /// SHA-256 of `spec_yaml`.
    pub spec_digest: SpecDigest,
    /// Who submitted it.
    pub submitter: String,
    /// Where it is in its life.
    pub state: JobState,
    /// The current attempt: 0 at submit, never decreasing.
    pub attempt: u32,
    /// When it was submitted.
    pub submitted_at: UnixMillis,
    /// When its last event happened.
    pub updated_at: UnixMillis,
    /// Where it is placed, as the control loop described it (opaque to the store).
    pub placement: Option<serde_json::Value>,
    /// The reason of its last event (empty reasons are kept as `None`).
    pub reason: Option<String>,
    /// The sequence number of its last event: a version that changes with
    /// every change of the job, and where a watch of this job may resume.
    pub last_event_seq: EventSeq,
}

/// One entry of the append-only event log.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    /// Its place in the global log.
    pub seq: EventSeq,
    /// The job it is about.
    pub job_id: JobId,
    /// When it happened.
    pub at: UnixMillis,
    /// The state before; `None` for a job's first event.
    pub from_state: Option<JobState>,
    /// The state after (equal to `from_state` for a note).
    pub to_state: JobState,
    /// What happened; `None` for a note that changes no state.
    pub transition: Option<JobTransition>,
    /// The job's attempt after the event.
    pub attempt: u32,
    /// Why.
    pub reason: String,
    /// Who or what caused it: a user, `scheduler`, `executor`, ...
    pub actor: String,
    /// Anything else worth keeping (opaque to the store).
    pub details: serde_json::Value,
}

/// One change of one job, checked against its current state
/// (compare-and-set) and recorded as one event.
#[derive(Clone, Debug, PartialEq)]
pub struct StateUpdate {
    /// The job to change.
    pub job_id: JobId,
    /// The state the caller believes the job is in; any other state refuses
    /// the whole batch with [`StoreError::StateConflict`](crate::StoreError::StateConflict).
    pub expected_state: JobState,
    /// The transition to make; the new state is
    /// `gantry_core::next_state(Some(expected_state), transition)`. `None`
    /// records a note (new reason, placement or attempt) and keeps the state.
    pub transition: Option<JobTransition>,
    /// The attempt after the change; never less than the current one.
    pub attempt: u32,
    /// The placement after the change (`None` clears it).
    pub placement: Option<serde_json::Value>,
    /// Why: the event's reason and the job's last reason.
    pub reason: String,
    /// Who or what caused it.
    pub actor: String,
    /// The event's details.
    pub details: serde_json::Value,
    /// When it happened; becomes the job's `updated_at`.
    pub at: UnixMillis,
}

/// What a submit did.
#[derive(Clone, Debug, PartialEq)]
pub enum Submitted {
    /// A new job, with its first event.
    Created {
        /// The job as stored.
        job: JobRecord,
        /// Its first event.
        event: EventRecord,
    },
    /// The request id was already used with the same spec: nothing was
    /// written, and this is the job that request made, as it is now.
    Existing {
        /// The job the first submit with this request id made.
        job: JobRecord,
    },
}

impl Submitted {
    /// The job, new or existing.
    pub fn job(&self) -> &JobRecord {
        match self {
            Submitted::Created { job, .. } | Submitted::Existing { job } => job,
        }
    }

    /// Whether this submit made the job.
    pub fn is_created(&self) -> bool {
        matches!(self, Submitted::Created { .. })
    }
}

/// A team, with or without the teams below it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TeamFilter {
    /// The team.
    pub team: TeamPath,
    /// Also the teams below it (`org` then matches `org/nlp`, never `organic`).
    pub include_sub_teams: bool,
}

impl TeamFilter {
    /// Whether a job of `team` passes.
    pub fn matches(&self, team: &TeamPath) -> bool {
        if self.include_sub_teams {
            self.team.is_ancestor_or_self_of(team)
        } else {
            &self.team == team
        }
    }
}

/// In which order a listing goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ListOrder {
    /// Submission order.
    #[default]
    OldestFirst,
    /// Newest submission first.
    NewestFirst,
}

/// Page size when a query asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size; larger requests are cut to it.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Which jobs to list, and where to continue.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JobQuery {
    /// Only this team (and maybe its sub-teams); `None` for every team.
    pub team: Option<TeamFilter>,
    /// Only these states; empty for every state.
    pub states: BTreeSet<JobState>,
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Oldest or newest first.
    pub order: ListOrder,
    /// Jobs per page: 0 means [`DEFAULT_PAGE_SIZE`], more than
    /// [`MAX_PAGE_SIZE`] means that.
    pub page_size: usize,
    /// Where to continue: the `next_page_token` of the previous page of the
    /// same query (same filters and order).
    pub page_token: Option<PageToken>,
}

impl JobQuery {
    /// The page size this query gets.
    pub fn effective_page_size(&self) -> usize {
        match self.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        }
    }

    /// Whether a job passes the filters (not the page position).
    pub fn matches(&self, job: &JobRecord) -> bool {
        self.team
            .as_ref()
            .is_none_or(|filter| filter.matches(&job.team))
            && (self.states.is_empty() || self.states.contains(&job.state))
            && self.kind.is_none_or(|kind| kind == job.kind)
    }
}

/// An opaque position in a listing. Clients hand back what they were given;
/// the store refuses tokens it did not make, or made for another query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageToken(String);

impl PageToken {
    /// Wraps a token a client sent back.
    pub fn new(text: impl Into<String>) -> PageToken {
        PageToken(text.into())
    }

    /// The token as text, to hand to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PageToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPage {
    /// The jobs, in the query's order.
    pub jobs: Vec<JobRecord>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_page_token: Option<PageToken>,
}

/// How many jobs each team has in each state (teams and states with none are
/// left out).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JobCounts {
    /// Jobs by team, then by state.
    pub by_team: BTreeMap<TeamPath, BTreeMap<JobState, u64>>,
}

impl JobCounts {
    /// Jobs by state over all teams.
    pub fn by_state(&self) -> BTreeMap<JobState, u64> {
        let mut totals = BTreeMap::new();
        for states in self.by_team.values() {
            for (state, count) in states {
                *totals.entry(*state).or_insert(0) += count;
            }
        }
        totals
    }

    /// Jobs of `team` (that team only) in `state`.
    pub fn get(&self, team: &TeamPath, state: JobState) -> u64 {
        self.by_team
            .get(team)
            .and_then(|states| states.get(&state))
            .copied()
            .unwrap_or(0)
    }

    /// All jobs.
    pub fn total(&self) -> u64 {
        self.by_team
            .values()
            .flat_map(|states| states.values())
            .sum()
    }
}

/// What the control loop rebuilds from after a restart.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveJobs {
    /// Every non-terminal job, in submission order.
    pub jobs: Vec<JobRecord>,
    /// The last event at the moment they were read: a watch from here misses
    /// nothing that happened after.
    pub last_event_seq: EventSeq,
}

/// The live (non-terminal) states, the complement of
/// [`JobState::is_terminal`].
pub const LIVE_STATES: [JobState; 5] = [
    JobState::Queued,
    JobState::Placed,
    JobState::Launching,
    JobState::Running,
    JobState::Preempted,
];

/// The state with exactly this name (stored names are never trimmed or case-folded).
pub(crate) fn state_named(text: &str) -> Option<JobState> {
    JobState::ALL
        .into_iter()
        .find(|state| state.as_str() == text)
}

/// The transition with exactly this name.
pub(crate) fn transition_named(text: &str) -> Option<JobTransition> {
    JobTransition::ALL
        .into_iter()
        .find(|transition| transition.as_str() == text)
}

/// The kind whose spec `kind` is exactly this text.
pub(crate) fn kind_named(text: &str) -> Option<JobKind> {
    [JobKind::Training, JobKind::Inference]
        .into_iter()
        .find(|kind| kind.as_str() == text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn spec_digest_is_sha256_hex() {
        assert_eq!(
            SpecDigest::of("").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            SpecDigest::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let digest = SpecDigest::of("kind: TrainingJob\n");
        assert_eq!(
            SpecDigest::from_stored(digest.as_str().to_owned()),
            Some(digest)
        );
        assert_eq!(SpecDigest::from_stored("abc".to_owned()), None);
        assert_eq!(SpecDigest::from_stored("G".repeat(64)), None);
    }

    #[test]
    fn request_ids() {
        assert_eq!(RequestId::new("retry-7").unwrap().as_str(), "retry-7");
        assert_eq!(RequestId::new("x".repeat(255)).unwrap().as_str().len(), 255);
        assert_eq!(RequestId::new(""), Err(RequestIdError::Empty));
        assert_eq!(
            RequestId::new("x".repeat(256)),
            Err(RequestIdError::TooLong { length: 256 })
        );
        assert_eq!(
            RequestId::new("a\nb").unwrap_err().to_string(),
            "request id contains a control character (U+000A); use printable text"
        );
    }

    #[test]
    fn names_round_trip_exactly() {
        for state in JobState::ALL {
            assert_eq!(state_named(state.as_str()), Some(state));
            assert_eq!(LIVE_STATES.contains(&state), !state.is_terminal());
        }
        assert_eq!(state_named("queued"), None);
        assert_eq!(state_named(" Queued"), None);
        for transition in JobTransition::ALL {
            assert_eq!(transition_named(transition.as_str()), Some(transition));
        }
        assert_eq!(kind_named("TrainingJob"), Some(JobKind::Training));
        assert_eq!(kind_named("InferenceService"), Some(JobKind::Inference));
        assert_eq!(kind_named("trainingjob"), None);
    }
}
