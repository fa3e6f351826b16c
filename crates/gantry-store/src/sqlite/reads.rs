//! Reads: a small pool of read-only connections, each used on tokio's
//! blocking pool, so readers never wait for the writer (WAL: a reader sees
//! the last commit before its read began) and never block a worker thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use gantry_core::JobId;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::error::StoreError;
use crate::page_token;
use crate::records::{EventRecord, EventSeq, JobCounts, JobPage, JobQuery, JobRecord, LiveJobs};
use crate::sql::{self, list::list_statement, rows::decode_count};
use crate::sqlite::rows::{failed, prepare, query_events, query_jobs};

/// Read connections, opened on first use, at most `size` at once.
#[derive(Debug)]
pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, size: usize) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// Runs `work` on a read connection on the blocking pool.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let idle = pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let mut connection = match idle {
                Some(connection) => connection,
                None => open_reader(&pool.path)?,
            };
            let result = work(&mut connection);
            pool.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
            result
        })
        .await
        .map_err(|error| StoreError::backend(operation, error))?
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let open = |source: rusqlite::Error| StoreError::Open {
        path: path.to_owned(),
        source: source.into(),
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(open)?;
    connection
        .execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")
        .map_err(open)?;
    connection.set_prepared_statement_cache_capacity(32);
    Ok(connection)
}

pub(crate) fn get_job(
    connection: &mut Connection,
    id: &JobId,
) -> Result<Option<JobRecord>, StoreError> {
    let jobs = query_jobs(
        connection,
        "read a job",
        sql::SELECT_JOB_BY_ID,
        [id.as_str()],
    )?;
    Ok(jobs.into_iter().next().map(|(_, record)| record))
}

pub(crate) fn list_jobs(
    connection: &mut Connection,
    query: &JobQuery,
) -> Result<JobPage, StoreError> {
    let cursor = page_token::decode(query)?;
    let page_size = query.effective_page_size();
    let (statement, params) = list_statement(query, cursor, page_size.saturating_add(1));
    let mut jobs = query_jobs(
        connection,
        "list jobs",
        &statement,
        rusqlite::params_from_iter(params.iter()),
    )?;
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

pub(crate) fn job_counts(connection: &mut Connection) -> Result<JobCounts, StoreError> {
    let operation = "count jobs";
    let mut statement = prepare(connection, sql::SELECT_COUNTS).map_err(failed(operation))?;
    let mut rows = statement.query([]).map_err(failed(operation))?;
    let mut counts = JobCounts::default();
    while let Some(row) = rows.next().map_err(failed(operation))? {
        let team: String = row.get(0).map_err(failed(operation))?;
        let state: String = row.get(1).map_err(failed(operation))?;
        let count: i64 = row.get(2).map_err(failed(operation))?;
        let (team, state, count) = decode_count(&team, &state, count)?;
        counts.by_team.entry(team).or_default().insert(state, count);
    }
    Ok(counts)
}

pub(crate) fn job_events(
    connection: &mut Connection,
    id: &JobId,
) -> Result<Vec<EventRecord>, StoreError> {
    query_events(
        connection,
        "read a job's events",
        sql::SELECT_JOB_EVENTS,
        [id.as_str()],
    )
}

pub(crate) fn events_after(
    connection: &mut Connection,
    after: EventSeq,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    let after = i64::try_from(after.0).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    query_events(
        connection,
        "read events",
        sql::SELECT_EVENTS_AFTER,
        (after, limit),
    )
}

pub(crate) fn live_jobs(connection: &mut Connection) -> Result<LiveJobs, StoreError> {
    let operation = "read the live jobs";
    // One read transaction: the jobs and the sequence number are one snapshot.
    let transaction = connection.transaction().map_err(failed(operation))?;
    let jobs = query_jobs(&transaction, operation, sql::SELECT_LIVE_JOBS, [])?;
    let last: i64 = prepare(&transaction, sql::LAST_EVENT_SEQ)
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(failed(operation))?;
    transaction.commit().map_err(failed(operation))?;
    Ok(LiveJobs {
        jobs: jobs.into_iter().map(|(_, record)| record).collect(),
        last_event_seq: EventSeq(u64::try_from(last).unwrap_or(0)),
    })
}
