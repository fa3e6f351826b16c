//! What can go wrong in the store, one variant per thing that failed.

use std::path::PathBuf;

use gantry_core::{IllegalTransition, JobId, JobState, TeamPath};

use crate::records::RequestId;

/// A backend's own error, kept as the source of [`StoreError::Backend`].
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed. A failed operation wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The team already has a live (non-terminal) job with this name.
    #[error("team {team} already has a live job named {name} (job {live_job})")]
    NameTaken {
        /// The team.
        team: TeamPath,
        /// The name asked for.
        name: String,
        /// The live job that has it.
        live_job: JobId,
    },
    /// A job with this id exists already.
    #[error("a job with id {id} exists already")]
    JobIdTaken {
        /// The id asked for.
        id: JobId,
    },
    /// The request id was used before for a different spec.
    #[error(
        "request id {request_id} was used for job {job_id} with a different spec; use a new request id for a changed spec"
    )]
    RequestIdConflict {
        /// The request id.
        request_id: RequestId,
        /// The job the first use made.
        job_id: JobId,
    },
    /// No job has this id.
    #[error("no job has id {id}")]
    JobNotFound {
        /// The id asked for.
        id: JobId,
    },
    /// Compare-and-set failed: the job is not in the state the update expected.
    #[error("job {id} is {actual}, not {expected} as the update expected")]
    StateConflict {
        /// The job.
        id: JobId,
        /// The state the update expected.
        expected: JobState,
        /// The state it is in.
        actual: JobState,
    },
    /// The state machine has no such edge.
    #[error("job {id}: {refused}")]
    IllegalTransition {
        /// The job.
        id: JobId,
        /// The refused edge.
        refused: IllegalTransition,
    },
    /// An update would lower the attempt number.
    #[error("job {id} is at attempt {current}; an update cannot take it back to {requested}")]
    AttemptWentBack {
        /// The job.
        id: JobId,
        /// Its attempt now.
        current: u32,
        /// The attempt the update asked for.
        requested: u32,
    },
    /// A page token that this store did not make for this query.
    #[error(
        "page token {token:?} does not belong to this listing; start again without a token, with the same filters on every page"
    )]
    InvalidPageToken {
        /// The token as sent.
        token: String,
    },
    /// A stored row that does not decode; names the row and the column.
    #[error("stored row {table} {key} is corrupt: column {column} {problem}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// Which row (its key, or its row number when the key itself is unreadable).
        key: String,
        /// The column that does not decode.
        column: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The database was written by a newer Gantry.
    #[error(
        "store {path} has schema version {found}, newer than the {supported} this gantryd knows; run a gantryd at least as new as the one that wrote it"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file is a database, but not a Gantry store.
    #[error("{path} is not a gantry store ({problem})")]
    NotAStore {
        /// The database file.
        path: PathBuf,
        /// What gave it away.
        problem: String,
    },
    /// A schema migration failed; the database stays at the version it had.
    #[error("cannot migrate store {path} to schema version {version}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version the failed step would have reached.
        version: i64,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// Opening the database failed.
    #[error("cannot open store {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The backend failed doing something; nothing of it was written.
    #[error("store {operation} failed")]
    Backend {
        /// What the store was doing.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The store is closed (or its writer stopped); nothing was written.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A backend failure while doing `operation`.
    pub(crate) fn backend(operation: &'static str, source: impl Into<BackendError>) -> StoreError {
        StoreError::Backend {
            operation,
            source: source.into(),
        }
    }
}
