//! The relational layer every SQL backend shares: the statements (standard
//! SQL with `$n` placeholders, which SQLite and PostgreSQL both read), the
//! listing query builder and the decoding of rows into records.
//!
//! A backend adds only what cannot be shared: its driver calls, its DDL and
//! pragmas, and how it runs the write protocol (for SQLite: `sqlite/`).
//!
//! Tables (see `sqlite/schema.rs` for the DDL):
//! - `jobs`: one row per job; `job_seq` is the private listing position
//!   (submission order, never reused); `id` is unique; a partial unique index
//!   on `(team, name)` over live states makes a live name unique per team.
//! - `request_ids`: request id -> job id, written in the job's transaction.
//! - `events`: the append-only log; `seq` is assigned by the writer as
//!   `max(seq) + 1` inside the write transaction, so it is gap-free and in
//!   commit order.
//! - `job_counts`: jobs per (team, state), moved in the same transaction as
//!   the jobs, so counts never need a scan.

pub(crate) mod list;
pub(crate) mod rows;

/// The live states as an SQL predicate. The partial indexes and the queries
/// that must use them spell it identically (SQLite's planner matches the
/// text of the terms).
macro_rules! live_predicate {
    () => {
        "state IN ('Queued', 'Placed', 'Launching', 'Running', 'Preempted')"
    };
}
pub(crate) use live_predicate;

/// The job columns, in the order [`rows::RawJob`] reads them.
macro_rules! job_columns {
    () => {
        "job_seq, id, request_id, team, name, kind, spec_yaml, spec_digest, submitter, state, attempt, submitted_at, updated_at, placement, reason, last_event_seq"
    };
}
pub(crate) use job_columns;

/// The event columns, in the order [`rows::RawEvent`] reads them.
macro_rules! event_columns {
    () => {
        "seq, job_id, at, from_state, to_state, transition, attempt, reason, actor, details"
    };
}

/// A parameter of a built query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SqlParam {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
}

pub(crate) const SELECT_JOB_BY_ID: &str =
    concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");

pub(crate) const SELECT_JOB_BY_REQUEST_ID: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE id = (SELECT job_id FROM request_ids WHERE request_id = $1)"
);

pub(crate) const JOB_ID_EXISTS: &str = "SELECT 1 FROM jobs WHERE id = $1";

pub(crate) const SELECT_LIVE_JOB_NAMED: &str = concat!(
    "SELECT id FROM jobs WHERE team = $1 AND name = $2 AND ",
    live_predicate!()
);

pub(crate) const SELECT_JOB_FOR_UPDATE: &str =
    "SELECT job_seq, state, attempt, team FROM jobs WHERE id = $1";

pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (id, request_id, team, name, kind, spec_yaml, spec_digest, submitter, state, attempt, submitted_at, updated_at, placement, reason, last_event_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

pub(crate) const INSERT_REQUEST_ID: &str =
    "INSERT INTO request_ids (request_id, job_id) VALUES ($1, $2)";

pub(crate) const UPDATE_JOB: &str = "UPDATE jobs SET state = $2, attempt = $3, placement = $4, reason = $5, updated_at = $6, last_event_seq = $7 WHERE id = $1";

pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (seq, job_id, at, from_state, to_state, transition, attempt, reason, actor, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(crate) const LAST_EVENT_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM events";

pub(crate) const ADD_TO_COUNT: &str = "INSERT INTO job_counts (team, state, n) VALUES ($1, $2, $3) ON CONFLICT (team, state) DO UPDATE SET n = job_counts.n + excluded.n";

pub(crate) const SELECT_COUNTS: &str = "SELECT team, state, n FROM job_counts WHERE n <> 0";

pub(crate) const SELECT_JOB_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE job_id = $1 ORDER BY seq"
);

pub(crate) const SELECT_EVENTS_AFTER: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
);

pub(crate) const SELECT_LIVE_JOBS: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE ",
    live_predicate!(),
    " ORDER BY job_seq"
);

#[cfg(test)]
mod tests {
    use crate::records::LIVE_STATES;

    #[test]
    fn the_live_predicate_names_exactly_the_live_states() {
        let names: Vec<String> = LIVE_STATES
            .iter()
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        assert_eq!(
            live_predicate!(),
            format!("state IN ({})", names.join(", "))
        );
    }
}
