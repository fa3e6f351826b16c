//! [`ProvenanceExporter`]: writes one OpenLineage record per finished run to a
//! bucket, at least once, without ever making the caller wait.
//!
//! Protocol:
//! 1. [`ProvenanceExporter::submit`] turns the record into its event (a record
//!    of an unfinished run is refused at once) and puts it on a bounded queue
//!    with `try_send`: it never waits. A full queue refuses the record (counted
//!    as dropped, logged): at-least-once holds while the queue has room, and a
//!    store outage long enough to fill it is loud, not a memory leak.
//! 2. One worker task takes records in order and writes each with one
//!    single-shot `put_object` (records are a few KiB). The object name is a
//!    function of the job and attempt, so a retried or repeated write replaces
//!    the same object: writes are idempotent, delivery is at least once.
//! 3. A failed write is retried after a backoff (doubling from
//!    `initial_backoff` up to `max_backoff`), up to `max_attempts`; then the
//!    record is counted as failed and logged with its object name. Later
//!    records wait behind the one being retried (order is kept).
//! 4. [`ProvenanceExporter::shutdown`] closes the queue, lets the worker write
//!    what is queued for up to a grace period, then stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::gcs::GcsApi;
use crate::provenance::openlineage::{ProvenanceError, default_producer, object_name, run_event};
use crate::provenance::record::RunRecord;

/// Where and how records are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenanceConfig {
    /// The bucket.
    pub bucket: String,
    /// The prefix of every object (e.g. `lineage/`; may be empty).
    pub prefix: String,
    /// The OpenLineage job namespace (default `gantry`).
    pub namespace: String,
    /// The events' `producer` URI.
    pub producer: String,
    /// Records that may wait (default 10,000).
    pub queue_capacity: usize,
    /// Attempts per record, the first included (default 10).
    pub max_attempts: u32,
    /// The first retry's delay (default 1 second).
    pub initial_backoff: Duration,
    /// The longest delay between retries (default 2 minutes).
    pub max_backoff: Duration,
}

impl ProvenanceConfig {
    /// Defaults for `bucket` and `prefix`.
    pub fn new(bucket: &str, prefix: &str) -> ProvenanceConfig {
        ProvenanceConfig {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            namespace: "gantry".to_owned(),
            producer: default_producer(),
            queue_capacity: 10_000,
            max_attempts: 10,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(120),
        }
    }
}

/// Why a record was not queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The run has not finished.
    #[error(transparent)]
    NotFinished(#[from] ProvenanceError),
    /// The queue is full (the bucket has been failing for a while).
    #[error("provenance queue is full ({capacity} records); record for job {job_id} dropped")]
    QueueFull {
        /// The job.
        job_id: String,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The exporter has stopped.
    #[error("provenance exporter has stopped; record for job {job_id} not written")]
    Stopped {
        /// The job.
        job_id: String,
    },
}

/// Counts since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Records accepted by `submit`.
    pub submitted: u64,
    /// Records written.
    pub written: u64,
    /// Write attempts that failed and were retried.
    pub retries: u64,
    /// Records given up after `max_attempts`.
    pub failed: u64,
    /// Records refused because the queue was full.
    pub dropped: u64,
}

impl ExportStats {
    /// Records queued or being written.
    pub fn pending(&self) -> u64 {
        self.submitted.saturating_sub(self.written + self.failed)
    }
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    written: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ExportStats {
        ExportStats {
            submitted: self.submitted.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct Pending {
    job_id: String,
    object: String,
    body: Bytes,
}

/// The handle of a running exporter.
#[derive(Debug)]
pub struct ProvenanceExporter {
    sender: Option<mpsc::Sender<Pending>>,
    counters: Arc<Counters>,
    config: ProvenanceConfig,
    task: Option<JoinHandle<()>>,
}

impl ProvenanceExporter {
    /// Starts the worker on the current tokio runtime.
    pub fn start(api: Arc<dyn GcsApi>, config: ProvenanceConfig) -> ProvenanceExporter {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(work(api, config.clone(), receiver, Arc::clone(&counters)));
        ProvenanceExporter {
            sender: Some(sender),
            counters,
            config,
            task: Some(task),
        }
    }

    /// Queues the record of a finished run; returns at once (see the module docs).
    pub fn submit(&self, record: &RunRecord) -> Result<(), SubmitError> {
        let event = run_event(record, &self.config.namespace, &self.config.producer)?;
        let pending = Pending {
            job_id: record.job_id.clone(),
            object: object_name(&self.config.prefix, record),
            body: Bytes::from(event.to_string()),
        };
        let Some(sender) = &self.sender else {
            return Err(SubmitError::Stopped {
                job_id: record.job_id.clone(),
            });
        };
        match sender.try_send(pending) {
            Ok(()) => {
                self.counters.submitted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(pending)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    job_id = pending.job_id,
                    object = pending.object,
                    capacity = self.config.queue_capacity,
                    "provenance queue full, record dropped"
                );
                Err(SubmitError::QueueFull {
                    job_id: pending.job_id,
                    capacity: self.config.queue_capacity,
                })
            }
            Err(mpsc::error::TrySendError::Closed(pending)) => Err(SubmitError::Stopped {
                job_id: pending.job_id,
            }),
        }
    }

    /// Counts since start.
    pub fn stats(&self) -> ExportStats {
        self.counters.snapshot()
    }

    /// Closes the queue, waits up to `grace` for what is queued to be written,
    /// then stops; returns the final counts.
    pub async fn shutdown(mut self, grace: Duration) -> ExportStats {
        self.sender = None;
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(grace, &mut task).await.is_err()
        {
            task.abort();
            tracing::warn!(
                pending = self.counters.snapshot().pending(),
                "provenance exporter stopped before writing every record"
            );
        }
        self.counters.snapshot()
    }
}

impl Drop for ProvenanceExporter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn work(
    api: Arc<dyn GcsApi>,
    config: ProvenanceConfig,
    mut receiver: mpsc::Receiver<Pending>,
    counters: Arc<Counters>,
) {
    while let Some(pending) = receiver.recv().await {
        let mut backoff = config.initial_backoff;
        let mut attempt = 1_u32;
        loop {
            let written = api
                .put_object(
                    &config.bucket,
                    &pending.object,
                    pending.body.clone(),
                    "application/json",
                )
                .await;
            match written {
                Ok(object) => {
                    counters.written.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        job_id = pending.job_id,
                        object = pending.object,
                        generation = object.generation,
                        "provenance record written"
                    );
                    break;
                }
                Err(error) if attempt >= config.max_attempts.max(1) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        job_id = pending.job_id,
                        bucket = config.bucket,
                        object = pending.object,
                        attempts = attempt,
                        kind = error.kind(),
                        "provenance record not written, giving up: {error}"
                    );
                    break;
                }
                Err(error) => {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        job_id = pending.job_id,
                        object = pending.object,
                        attempt,
                        retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        kind = error.kind(),
                        "provenance write failed, will retry: {error}"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(config.max_backoff);
                    attempt += 1;
                }
            }
        }
    }
}
