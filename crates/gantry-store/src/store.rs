//! The port: what the daemon, the API and the control loop may ask of durable state.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use gantry_core::JobId;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::records::{
    EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, LiveJobs, NewJob, StateUpdate,
    Submitted,
};

/// The future every [`Store`] method returns: boxed, so `dyn Store` works and
/// the daemon can choose the backend from its config at run time.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Most events one [`Store::events_after`] call returns.
pub const MAX_EVENTS_PER_READ: usize = 10_000;

/// Gantry's durable state: jobs, the append-only event log and request ids.
///
/// Every method is async and never blocks the calling tokio worker on I/O. A
/// write that returns `Ok` is durable (on disk, for a durable backend), and a
/// write that returns `Err` wrote nothing. Reads that begin after a write
/// returned see it.
pub trait Store: Send + Sync + fmt::Debug {
    /// Submits a job: its row, its first event and its request id commit
    /// together, or nothing does.
    ///
    /// With a request id seen before and the same spec, writes nothing and
    /// returns [`Submitted::Existing`] (with a different spec:
    /// [`StoreError::RequestIdConflict`]). Then, in this order:
    /// [`StoreError::IllegalTransition`] unless `job.transition` starts a job,
    /// [`StoreError::JobIdTaken`], and [`StoreError::NameTaken`] when the job
    /// would be live and its team has a live job of that name.
    fn submit(&self, job: NewJob) -> StoreFuture<'_, Submitted>;

    /// Applies a batch of updates, in order, in one transaction: all or none.
    /// Returns one event per update, in order, with its sequence number.
    ///
    /// Per update, in this order: [`StoreError::JobNotFound`],
    /// [`StoreError::StateConflict`] (the compare-and-set),
    /// [`StoreError::IllegalTransition`], [`StoreError::AttemptWentBack`].
    /// An update sees the earlier updates of its batch. An empty batch is a
    /// no-op.
    fn apply(&self, updates: Vec<StateUpdate>) -> StoreFuture<'_, Vec<EventRecord>>;

    /// One job, if it exists.
    fn get_job(&self, id: &JobId) -> StoreFuture<'_, Option<JobRecord>>;

    /// One page of the jobs that pass the query's filters, in its order.
    /// Pages are stable under concurrent submits: following the tokens
    /// visits every job that existed when the listing began exactly once
    /// (jobs submitted meanwhile may or may not appear, never twice).
    fn list_jobs(&self, query: JobQuery) -> StoreFuture<'_, JobPage>;

    /// Jobs by team and state, without reading the jobs.
    fn job_counts(&self) -> StoreFuture<'_, JobCounts>;

    /// Every event of one job, oldest first (empty for an unknown job).
    fn job_events(&self, id: &JobId) -> StoreFuture<'_, Vec<EventRecord>>;

    /// Up to `limit` (at most [`MAX_EVENTS_PER_READ`]) events with a sequence
    /// number above `after`, in order: a watch resumes here.
    fn events_after(&self, after: EventSeq, limit: usize) -> StoreFuture<'_, Vec<EventRecord>>;

    /// Every non-terminal job, without reading terminal ones: what the control
    /// loop rebuilds from after a restart.
    fn live_jobs(&self) -> StoreFuture<'_, LiveJobs>;

    /// The sequence number of the last committed event, updated after every
    /// commit: a watch waits on it, then reads [`Store::events_after`].
    fn committed_seq(&self) -> watch::Receiver<EventSeq>;
}
