//! Gantry's durable state: jobs, the append-only event log and request ids,
//! behind one small trait, [`Store`].
//!
//! Backends:
//! - [`SqliteStore`]: the embedded default, one SQLite file in WAL mode, a
//!   single writer thread with group commit, a small pool of readers.
//! - [`MemoryStore`]: an in-memory fake with the same contract, for tests of
//!   the code above the store.
//!
//! Both pass one conformance suite (`conformance`, behind the `conformance`
//! feature); a PostgreSQL backend would reuse the SQL layer (`sql`: the
//! statements, the listing builder, row decoding), the decisions (`rules`)
//! and that suite, and add only its driver calls and DDL.
//!
//! # Invariants
//!
//! **A write that returns `Ok` is durable; one that returns `Err` wrote
//! nothing.** Each submit and each `apply` batch is atomic, and is
//! acknowledged only after its transaction committed (for SQLite, after the
//! WAL fsync with the default [`Durability::PowerLossSafe`]).
//!
//! **One request id, one job.** The job row, its first event and its request
//! id commit in one transaction; a later submit with the same request id
//! finds it and returns [`Submitted::Existing`], also after a crash.
//!
//! **A live name is unique per team**, enforced by the schema (a partial
//! unique index over live states) and checked first for a clear
//! [`StoreError::NameTaken`].
//!
//! **The log replays to the jobs.** Every state change is one event, checked
//! against the state machine (`gantry_core::next_state`) and the job's
//! current state (compare-and-set); folding a job's events from "not yet
//! known" gives its state and attempt. Sequence numbers are assigned by the
//! store, strictly increasing in commit order, gap-free, from 1.
//!
//! **Nothing scales with history at open.** Opening reads a few pragmas and
//! `max(seq)`; [`Store::live_jobs`] reads the live jobs through an index of
//! states, and [`Store::job_counts`] reads a table of counts kept in the write
//! transactions. A million terminal jobs cost nothing at restart.
//!
//! **Time and ids are inputs.** The caller gives job ids and every timestamp;
//! the store assigns only sequence numbers and its private listing order.
//!
//! **No panics on stored data.** A row that does not decode is
//! [`StoreError::CorruptRow`], naming the table, the row and the column.
//!
//! # The write protocol (SQLite)
//!
//! 1. A caller's submit or apply is sent, with a oneshot reply channel, on a
//!    bounded queue to the writer thread; the caller awaits the reply and
//!    never blocks its tokio worker.
//! 2. The writer takes one request, then every request already queued (up
//!    to [`SqliteOptions::max_batch`]): one batch.
//! 3. `BEGIN IMMEDIATE`; the batch's events are numbered from `max(seq) + 1`.
//! 4. Each request runs in its own savepoint: the checks of `rules`, then its
//!    rows. A refused request rolls back to its savepoint and gets its error;
//!    the rest of the batch goes on.
//! 5. The batch's count changes are added to `job_counts`; `COMMIT` (one
//!    fsync for the batch).
//! 6. Only after the commit are callers answered and the committed sequence
//!    number published ([`Store::committed_seq`]). A failed commit fails
//!    every request of the batch, and none of it is on disk.
//!
//! Under load, requests queue while the writer waits for the disk, so the
//! next batch is larger: many concurrent submits share one fsync, with no
//! timer and no added latency when idle.
//!
//! ```
//! use gantry_core::{JobId, JobKind, JobState, JobTransition, TeamPath};
//! use gantry_store::{MemoryStore, NewJob, RequestId, Store, Submitted, UnixMillis};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new();
//! let job = NewJob {
//!     id: JobId::new("sft-7f3k2")?,
//!     request_id: Some(RequestId::new("ci-run-41")?),
//!     team: TeamPath::parse("org/nlp")?,
//!     name: "llama-8b-sft".to_owned(),
//!     kind: JobKind::Training,
//!     spec_yaml: "apiVersion: gantry.dev/v1\nkind: TrainingJob\n".to_owned(),
//!     submitter: "ada".to_owned(),
//!     transition: JobTransition::Accept,
//!     reason: "accepted".to_owned(),
//!     details: serde_json::Value::Null,
//!     submitted_at: UnixMillis(1_700_000_000_000),
//! };
//! let first = store.submit(job.clone()).await?;
//! assert_eq!(first.job().state, JobState::Queued);
//! // The same request id again, with a new job id: the same job.
//! let again = store.submit(NewJob { id: JobId::new("sft-other")?, ..job }).await?;
//! assert!(matches!(again, Submitted::Existing { .. }));
//! assert_eq!(again.job().id, first.job().id);
//! # Ok(())
//! # }
//! ```

mod error;
mod memory;
mod page_token;
mod records;
mod rules;
mod sql;
mod sqlite;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BackendError, StoreError};
pub use memory::MemoryStore;
pub use records::{
    DEFAULT_PAGE_SIZE, EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, LIVE_STATES,
    ListOrder, LiveJobs, MAX_PAGE_SIZE, MAX_REQUEST_ID_BYTES, NewJob, PageToken, RequestId,
    RequestIdError, SpecDigest, StateUpdate, Submitted, TeamFilter, UnixMillis,
};
pub use sqlite::{Durability, SCHEMA_VERSION, SqliteOptions, SqliteStore};
pub use store::{MAX_EVENTS_PER_READ, Store, StoreFuture};
