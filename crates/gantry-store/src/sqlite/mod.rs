//! The embedded default backend: one SQLite file in WAL mode.
//!
//! - One writer thread owns the only write connection and group-commits
//!   (see `writer` for the protocol); callers wait on a oneshot, never on
//!   SQLite.
//! - Reads run on a small pool of read connections on tokio's blocking pool.
//! - WAL checkpoints run on a thread of their own (`checkpointer`), passive,
//!   so no commit waits for one.
//! - `synchronous=FULL` by default: a commit returns after the WAL is
//!   fsynced, so an acknowledged write survives a power loss, not only a
//!   process crash. [`Durability::ProcessCrashSafe`] (`synchronous=NORMAL`)
//!   skips that fsync: acknowledged writes still survive `kill -9` (they are
//!   in the OS page cache, and the WAL is replayed at the next open), but a
//!   power loss or kernel crash may lose the last commits since the most
//!   recent checkpoint; the file itself stays consistent either way.
//! - Opening reads two pragmas, migrates if needed, and reads `max(seq)`:
//!   nothing scales with the number of jobs, so a store of a million jobs
//!   opens as fast as an empty one.

mod checkpointer;
#[cfg(test)]
mod plans;
mod reads;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use gantry_core::JobId;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot, watch};

pub use schema::SCHEMA_VERSION;

use crate::error::StoreError;
use crate::records::{
    EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, LiveJobs, NewJob, SpecDigest,
    StateUpdate, Submitted,
};
use crate::sql;
use crate::store::{MAX_EVENTS_PER_READ, Store, StoreFuture};
use reads::ReadPool;
use writer::WriteRequest;

/// When an acknowledged write is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit fsyncs the WAL; an acknowledged write
    /// survives a process crash and a power loss.
    #[default]
    PowerLossSafe,
    /// `synchronous=NORMAL`: no fsync per commit; an acknowledged write
    /// survives a process crash, but a power loss may lose the writes since
    /// the last checkpoint.
    ProcessCrashSafe,
}

/// How to run an SQLite store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// When a write is acknowledged.
    pub durability: Durability,
    /// Most requests one transaction takes; 1 turns group commit off.
    pub max_batch: usize,
    /// Read connections.
    pub read_connections: usize,
    /// Requests that may wait for the writer before senders wait too.
    pub queue_capacity: usize,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            durability: Durability::PowerLossSafe,
            max_batch: 1024,
            read_connections: 4,
            queue_capacity: 8192,
        }
    }
}

/// Gantry's store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    requests: mpsc::Sender<WriteRequest>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    /// Dropping it stops the checkpointer thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
    readers: Arc<ReadPool>,
    committed: watch::Receiver<EventSeq>,
}

impl SqliteStore {
    /// Opens (creating if missing) the store at `path`, migrating its schema
    /// to [`SCHEMA_VERSION`]. Refuses a file that is not a Gantry store or
    /// was written by a newer schema, and changes nothing in it then.
    pub async fn open(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_owned();
        let opened_path = path.clone();
        let durability = options.durability;
        let (connection, last_seq) =
            tokio::task::spawn_blocking(move || open_writer(&opened_path, durability))
                .await
                .map_err(|error| StoreError::Open {
                    path: path.clone(),
                    source: error.into(),
                })??;
        let (requests, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let (committed_sender, committed) = watch::channel(last_seq);
        let writer_thread =
            writer::spawn(connection, receiver, options.max_batch, committed_sender).map_err(
                |error| StoreError::Open {
                    path: path.clone(),
                    source: error.into(),
                },
            )?;
        let (checkpointer, _thread) =
            checkpointer::spawn(path.clone()).map_err(|error| StoreError::Open {
                path: path.clone(),
                source: error.into(),
            })?;
        Ok(SqliteStore {
            _checkpointer: checkpointer,
            readers: Arc::new(ReadPool::new(path.clone(), options.read_connections)),
            path,
            requests,
            writer_thread: Mutex::new(Some(writer_thread)),
            committed,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finishes the writes already sent, stops the writer and waits for it.
    /// Later writes fail with [`StoreError::Closed`]; reads still work.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .requests
            .send(WriteRequest::Close { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
        let thread = self
            .writer_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    async fn write<T>(
        &self,
        request: WriteRequest,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.requests
            .send(request)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Opens the write connection, sets it up and migrates; returns it with the
/// last event's sequence number.
fn open_writer(path: &Path, durability: Durability) -> Result<(Connection, EventSeq), StoreError> {
    let open = |source: rusqlite::Error| StoreError::Open {
        path: path.to_owned(),
        source: source.into(),
    };
    let mut connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open)?;
    // Refuse what is not a store before changing the file in any way
    // (setting WAL mode writes to it).
    schema::check(&connection, path)?;
    let journal_mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open)?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: path.to_owned(),
            source: format!(
                "the file system does not support WAL mode (journal mode is {journal_mode})"
            )
            .into(),
        });
    }
    let synchronous = match durability {
        Durability::PowerLossSafe => "FULL",
        Durability::ProcessCrashSafe => "NORMAL",
    };
    connection
        .execute_batch(&format!(
            "PRAGMA synchronous = {synchronous};
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -32768;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = 67108864;"
        ))
        .map_err(open)?;
    connection.set_prepared_statement_cache_capacity(64);
    schema::migrate(&mut connection, path)?;
    let last: i64 = connection
        .query_row(sql::LAST_EVENT_SEQ, [], |row| row.get(0))
        .map_err(open)?;
    Ok((connection, EventSeq(u64::try_from(last).unwrap_or(0))))
}

impl Store for SqliteStore {
    fn submit(&self, job: NewJob) -> StoreFuture<'_, Submitted> {
        Box::pin(async move {
            // Hash on the caller's task, not on the writer thread.
            let digest = SpecDigest::of(&job.spec_yaml);
            let (reply, answer) = oneshot::channel();
            self.write(
                WriteRequest::Submit {
                    job: Box::new(job),
                    digest,
                    reply,
                },
                answer,
            )
            .await
        })
    }

    fn apply(&self, updates: Vec<StateUpdate>) -> StoreFuture<'_, Vec<EventRecord>> {
        Box::pin(async move {
            if updates.is_empty() {
                return Ok(Vec::new());
            }
            let (reply, answer) = oneshot::channel();
            self.write(WriteRequest::Apply { updates, reply }, answer)
                .await
        })
    }

    fn get_job(&self, id: &JobId) -> StoreFuture<'_, Option<JobRecord>> {
        let id = id.clone();
        Box::pin(self.readers.read("read a job", move |connection| {
            reads::get_job(connection, &id)
        }))
    }

    fn list_jobs(&self, query: JobQuery) -> StoreFuture<'_, JobPage> {
        Box::pin(self.readers.read("list jobs", move |connection| {
            reads::list_jobs(connection, &query)
        }))
    }

    fn job_counts(&self) -> StoreFuture<'_, JobCounts> {
        Box::pin(self.readers.read("count jobs", reads::job_counts))
    }

    fn job_events(&self, id: &JobId) -> StoreFuture<'_, Vec<EventRecord>> {
        let id = id.clone();
        Box::pin(self.readers.read("read a job's events", move |connection| {
            reads::job_events(connection, &id)
        }))
    }

    fn events_after(&self, after: EventSeq, limit: usize) -> StoreFuture<'_, Vec<EventRecord>> {
        let limit = limit.min(MAX_EVENTS_PER_READ);
        Box::pin(self.readers.read("read events", move |connection| {
            reads::events_after(connection, after, limit)
        }))
    }

    fn live_jobs(&self) -> StoreFuture<'_, LiveJobs> {
        Box::pin(self.readers.read("read the live jobs", reads::live_jobs))
    }

    fn committed_seq(&self) -> watch::Receiver<EventSeq> {
        self.committed.clone()
    }
}
