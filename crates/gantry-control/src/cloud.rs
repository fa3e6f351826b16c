//! What the control loop asks of the clouds' storage, as two small ports it
//! owns (the daemon adapts `gantry-cloud` to them; tests use fakes):
//!
//! - [`DataLocations`]: where a job's input lives and how big it is, so the
//!   scheduler's egress cost uses the bucket's real region and the bytes
//!   listed under the prefix instead of the spec's `sizeGiB`. Asked off the
//!   loop (a spawned task per input when a job is submitted or recovered,
//!   and by `QuoteJob` before it quotes); the answer comes back as
//!   [`crate::Input::DataLocated`], so a pass never waits on a cloud.
//! - [`Checkpoints`]: whether anything is under a job's checkpoint prefix,
//!   asked (off the loop) before a job that ran goes back to a cluster; the
//!   answer comes back as [`crate::Input::CheckpointChecked`] (see
//!   [`crate::checkpoint`]).
//! - [`RunSink`]: told once per ended run (Succeeded, Failed, Cancelled,
//!   Preempted), after the transition is committed, with the job as stored;
//!   it must return at once (provenance export queues the record).
//!
//! **Architecture Invariant:** nothing here is on the scheduling path: a
//! failed or slow adapter costs a job an egress estimate or a provenance
//! record, never a decision.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use gantry_core::{Cloud, DataUri, JobState};
use gantry_store::{EventRecord, JobRecord};

use crate::job::PlacementRecord;

/// Where one input was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedData {
    /// The cloud of the bucket.
    pub cloud: Cloud,
    /// Its region; `None` for dual- and multi-region buckets.
    pub region: Option<String>,
    /// Bytes under the prefix.
    pub bytes: u64,
    /// For events and explanations, e.g. `EUROPE-WEST4 (region), 12 objects`.
    pub description: String,
}

/// The answer of a lookup: the location, or a message for the job's events
/// (e.g. `bucket gs://x does not exist`).
pub type LocateFuture = Pin<Box<dyn Future<Output = Result<LocatedData, String>> + Send>>;

/// Finds where data lives.
pub trait DataLocations: Send + Sync + fmt::Debug {
    /// Starts a lookup of `uri`; `None` when this adapter does not know the
    /// URI's scheme (the spec's figures are used).
    fn locate(&self, uri: &DataUri) -> Option<LocateFuture>;
}

/// The answer of a checkpoint check: whether anything is under the prefix,
/// or a message (e.g. `bucket gs://x does not exist`).
pub type CheckpointFuture = Pin<Box<dyn Future<Output = Result<bool, String>> + Send>>;

/// Says whether a checkpoint prefix holds anything.
pub trait Checkpoints: Send + Sync + fmt::Debug {
    /// Starts a check of `uri`; `None` when this adapter does not read the
    /// URI's scheme.
    fn exists(&self, uri: &DataUri) -> Option<CheckpointFuture>;
}

/// One ended run, as stored.
#[derive(Clone, Debug)]
pub struct EndedRun {
    /// The job after the transition that ended the run.
    pub job: JobRecord,
    /// The run's events (the job's events of that attempt).
    pub events: Vec<EventRecord>,
    /// The attempt that ended.
    pub attempt: u32,
    /// How: `Succeeded`, `Failed`, `Cancelled` or `Preempted`.
    pub final_state: JobState,
    /// The reason of the ending transition.
    pub reason: String,
    /// Where it ran, if it was placed.
    pub placement: Option<PlacementRecord>,
    /// When it ended.
    pub ended_at_unix_ms: i64,
}

impl EndedRun {
    /// When the run started running, if it did.
    pub fn started_at_unix_ms(&self) -> Option<i64> {
        self.events
            .iter()
            .filter(|event| event.to_state == JobState::Running && event.attempt == self.attempt)
            .map(|event| event.at.0)
            .min()
    }
}

/// Told about every ended run; must not block.
pub trait RunSink: Send + Sync + fmt::Debug {
    /// One run ended.
    fn run_ended(&self, run: EndedRun);
}

/// The cloud ports the driver uses; all optional.
#[derive(Clone, Debug, Default)]
pub struct CloudPorts {
    /// Data locations.
    pub locations: Option<std::sync::Arc<dyn DataLocations>>,
    /// Ended runs.
    pub runs: Option<std::sync::Arc<dyn RunSink>>,
    /// Checkpoint checks.
    pub checkpoints: Option<std::sync::Arc<dyn Checkpoints>>,
}
