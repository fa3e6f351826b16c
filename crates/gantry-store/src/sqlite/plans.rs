//! The query plans SQLite chooses for the statements that must not scan the
//! whole history: recovery, the live-name check, counts, lookups by id and
//! the log reads. A change of schema or statement that makes one of them a
//! full scan fails here, long before a million-job store shows it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rusqlite::Connection;

use crate::sql;
use crate::sqlite::schema;

/// The detail lines of `EXPLAIN QUERY PLAN` for `statement`.
fn plan(connection: &Connection, statement: &str) -> Vec<String> {
    let statement = statement.replace('$', "?");
    let mut explain = connection
        .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
        .unwrap();
    let count = explain.parameter_count();
    let params: Vec<rusqlite::types::Value> = (0..count)
        .map(|_| rusqlite::types::Value::Text("x".into()))
        .collect();
    explain
        .query_map(rusqlite::params_from_iter(params), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn migrated() -> Connection {
    let directory = tempfile::tempdir().unwrap();
    let mut connection = Connection::open_in_memory().unwrap();
    schema::migrate(&mut connection, &directory.path().join("memory")).unwrap();
    connection
}

#[test]
fn history_sized_statements_use_their_indexes() {
    let connection = migrated();
    let cases: [(&str, &str); 8] = [
        // Recovery looks up each live state in the state index: it reads
        // the live rows and no terminal one.
        (
            sql::SELECT_LIVE_JOBS,
            "SEARCH jobs USING INDEX jobs_state (state=?)",
        ),
        (
            sql::SELECT_LIVE_JOB_NAMED,
            "SEARCH jobs USING INDEX jobs_live_name",
        ),
        (
            sql::SELECT_JOB_BY_ID,
            "SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",
        ),
        (
            sql::JOB_ID_EXISTS,
            "SEARCH jobs USING COVERING INDEX sqlite_autoindex_jobs_1 (id=?)",
        ),
        (
            sql::SELECT_JOB_FOR_UPDATE,
            "SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",
        ),
        (
            sql::SELECT_JOB_EVENTS,
            "SEARCH events USING INDEX events_job (job_id=?)",
        ),
        (
            sql::SELECT_EVENTS_AFTER,
            "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)",
        ),
        (sql::LAST_EVENT_SEQ, "SEARCH events"),
    ];
    for (statement, expected) in cases {
        let lines = plan(&connection, statement);
        assert!(
            lines.iter().any(|line| line.contains(expected)),
            "{statement}\nplan: {lines:?}\nexpected a line with: {expected}"
        );
        assert!(
            !lines
                .iter()
                .any(|line| line == "SCAN jobs" || line == "SCAN events"),
            "{statement} scans a whole table: {lines:?}"
        );
    }
    // Counts read the small counts table, never the jobs.
    let lines = plan(&connection, sql::SELECT_COUNTS);
    assert!(
        lines.iter().all(|line| line.contains("job_counts")),
        "{lines:?}"
    );
}
