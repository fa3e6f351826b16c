//! rusqlite rows into the shared raw rows, with a column of the wrong type
//! reported as a corrupt row (named), never a panic.

use rusqlite::types::{FromSql, ToSql, ToSqlOutput};
use rusqlite::{CachedStatement, Connection, Params, Row};

use crate::error::StoreError;
use crate::records::{EventRecord, JobRecord};
use crate::sql::SqlParam;
use crate::sql::rows::{RawEvent, RawJob, RowContext};

/// Prepares (or takes from the connection's cache) a statement of the
/// shared SQL layer. Its `$n` placeholders mean "parameter n", as in
/// PostgreSQL; SQLite would number `$n` by order of appearance instead, so
/// they become SQLite's `?n`, which it numbers by n.
pub(crate) fn prepare<'c>(
    connection: &'c Connection,
    sql: &str,
) -> rusqlite::Result<CachedStatement<'c>> {
    if sql.contains('$') {
        connection.prepare_cached(&sql.replace('$', "?"))
    } else {
        connection.prepare_cached(sql)
    }
}

/// Maps a driver error to a backend failure while doing `operation`.
pub(crate) fn failed(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| StoreError::backend(operation, error)
}

/// Every job row a query returns, decoded, with its listing position.
pub(crate) fn query_jobs<P: Params>(
    connection: &Connection,
    operation: &'static str,
    sql: &str,
    params: P,
) -> Result<Vec<(i64, JobRecord)>, StoreError> {
    let mut statement = prepare(connection, sql).map_err(failed(operation))?;
    let mut rows = statement.query(params).map_err(failed(operation))?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next().map_err(failed(operation))? {
        jobs.push(raw_job(row)?.decode()?);
    }
    Ok(jobs)
}

/// Every event row a query returns, decoded.
pub(crate) fn query_events<P: Params>(
    connection: &Connection,
    operation: &'static str,
    sql: &str,
    params: P,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut statement = prepare(connection, sql).map_err(failed(operation))?;
    let mut rows = statement.query(params).map_err(failed(operation))?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(failed(operation))? {
        events.push(raw_event(row)?.decode()?);
    }
    Ok(events)
}

impl ToSql for SqlParam {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            SqlParam::Text(text) => text.to_sql(),
            SqlParam::Int(value) => value.to_sql(),
        }
    }
}

/// One column of a row, or a corrupt-row error naming it.
pub(crate) fn column<T: FromSql>(
    row: &Row<'_>,
    index: usize,
    context: &RowContext,
    name: &'static str,
) -> Result<T, StoreError> {
    row.get(index)
        .map_err(|error| context.corrupt(name, format!("cannot be read: {error}")))
}

/// A row of [`crate::sql::job_columns`].
pub(crate) fn raw_job(row: &Row<'_>) -> Result<RawJob, StoreError> {
    let unknown = RowContext {
        table: "jobs",
        key: "(unreadable job_seq)".to_owned(),
    };
    let job_seq: i64 = column(row, 0, &unknown, "job_seq")?;
    let context = RowContext {
        table: "jobs",
        key: format!("job_seq={job_seq}"),
    };
    Ok(RawJob {
        job_seq,
        id: column(row, 1, &context, "id")?,
        request_id: column(row, 2, &context, "request_id")?,
        team: column(row, 3, &context, "team")?,
        name: column(row, 4, &context, "name")?,
        kind: column(row, 5, &context, "kind")?,
        spec_yaml: column(row, 6, &context, "spec_yaml")?,
        spec_digest: column(row, 7, &context, "spec_digest")?,
        submitter: column(row, 8, &context, "submitter")?,
        state: column(row, 9, &context, "state")?,
        attempt: column(row, 10, &context, "attempt")?,
        submitted_at: column(row, 11, &context, "submitted_at")?,
        updated_at: column(row, 12, &context, "updated_at")?,
        placement: column(row, 13, &context, "placement")?,
        reason: column(row, 14, &context, "reason")?,
        last_event_seq: column(row, 15, &context, "last_event_seq")?,
    })
}

/// A row of [`crate::sql::event_columns`].
pub(crate) fn raw_event(row: &Row<'_>) -> Result<RawEvent, StoreError> {
    let unknown = RowContext {
        table: "events",
        key: "(unreadable seq)".to_owned(),
    };
    let seq: i64 = column(row, 0, &unknown, "seq")?;
    let context = RowContext {
        table: "events",
        key: format!("seq={seq}"),
    };
    Ok(RawEvent {
        seq,
        job_id: column(row, 1, &context, "job_id")?,
        at: column(row, 2, &context, "at")?,
        from_state: column(row, 3, &context, "from_state")?,
        to_state: column(row, 4, &context, "to_state")?,
        transition: column(row, 5, &context, "transition")?,
        attempt: column(row, 6, &context, "attempt")?,
        reason: column(row, 7, &context, "reason")?,
        actor: column(row, 8, &context, "actor")?,
        details: column(row, 9, &context, "details")?,
    })
}
