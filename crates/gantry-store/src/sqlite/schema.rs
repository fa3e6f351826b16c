//! The SQLite schema, its versions, and the open-time checks.
//!
//! The version is `PRAGMA user_version`; `PRAGMA application_id` marks the
//! file as a Gantry store. Opening:
//!
//! 1. Read both. A file marked by another application, or unmarked with
//!    tables in it, is [`StoreError::NotAStore`]; a version newer than
//!    [`SCHEMA_VERSION`] is [`StoreError::SchemaTooNew`] and the file is not
//!    touched.
//! 2. For each migration above the file's version, in order: `BEGIN
//!    IMMEDIATE` (so no other process migrates at the same time), read the
//!    version again, run the step, set `user_version` to the step's version,
//!    `COMMIT`. DDL is transactional in SQLite, so a crash during a step
//!    leaves the file at the version before it.
//!
//! A migration never changes once released: add a new one. The frozen
//! version 1 schema in `tests/fixtures/store-v1.sql` checks that.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;
use crate::sql::live_predicate;

/// `GANT`, the file's mark as a Gantry store.
pub(crate) const APPLICATION_ID: i64 = 0x4741_4e54;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// One step from the version before to `version`.
struct Migration {
    version: i64,
    sql: &'static str,
}

const MIGRATIONS: [Migration; 2] = [
    Migration {
        version: 1,
        sql: concat!(
            "CREATE TABLE jobs (
                job_seq INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                request_id TEXT,
                team TEXT NOT NULL,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                spec_yaml TEXT NOT NULL,
                spec_digest TEXT NOT NULL,
                submitter TEXT NOT NULL,
                state TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                submitted_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                placement TEXT,
                reason TEXT,
                last_event_seq INTEGER NOT NULL
            );
            CREATE UNIQUE INDEX jobs_live_name ON jobs (team, name) WHERE ",
            live_predicate!(),
            ";
            CREATE INDEX jobs_team ON jobs (team, job_seq);
            CREATE INDEX jobs_state ON jobs (state, job_seq);
            CREATE TABLE request_ids (
                request_id TEXT PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES jobs (id)
            ) WITHOUT ROWID;
            CREATE TABLE events (
                seq INTEGER PRIMARY KEY,
                job_id TEXT NOT NULL REFERENCES jobs (id),
                at INTEGER NOT NULL,
                from_state TEXT,
                to_state TEXT NOT NULL,
                transition TEXT,
                attempt INTEGER NOT NULL,
                reason TEXT NOT NULL,
                actor TEXT NOT NULL,
                details TEXT NOT NULL
            );
            CREATE INDEX events_job ON events (job_id, seq);"
        ),
    },
    // Counts per team and state, kept in the write transactions, so metrics
    // and the status page never count rows. The backfill is the one full
    // scan this store ever makes, once, at upgrade.
    Migration {
        version: 2,
        sql: "CREATE TABLE job_counts (
                team TEXT NOT NULL,
                state TEXT NOT NULL,
                n INTEGER NOT NULL,
                PRIMARY KEY (team, state)
            ) WITHOUT ROWID;
            INSERT INTO job_counts (team, state, n)
                SELECT team, state, COUNT(*) FROM jobs GROUP BY team, state;",
    },
];

fn pragma_integer(connection: &Connection, name: &str) -> rusqlite::Result<i64> {
    connection.pragma_query_value(None, name, |row| row.get(0))
}

/// Checks the file is empty or a store this build can use, reading only;
/// returns its schema version.
pub(crate) fn check(connection: &Connection, path: &Path) -> Result<i64, StoreError> {
    let open_error = |source: rusqlite::Error| {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            StoreError::NotAStore {
                path: path.to_owned(),
                problem: "it is not an SQLite database".to_owned(),
            }
        } else {
            StoreError::Open {
                path: path.to_owned(),
                source: source.into(),
            }
        }
    };
    let application_id = pragma_integer(connection, "application_id").map_err(open_error)?;
    let version = pragma_integer(connection, "user_version").map_err(open_error)?;
    check_mark(connection, path, application_id, version).map_err(|error| match error {
        MarkError::Store(error) => error,
        MarkError::Sqlite(source) => open_error(source),
    })?;
    Ok(version)
}

/// Checks the file (see [`check`]) and migrates it to [`SCHEMA_VERSION`].
pub(crate) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version = check(connection, path)?;
    for migration in MIGRATIONS.iter().filter(|step| step.version > version) {
        let migrate_error = |source: rusqlite::Error| StoreError::Migrate {
            path: path.to_owned(),
            version: migration.version,
            source: source.into(),
        };
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(migrate_error)?;
        // Another process may have migrated while this one waited.
        let now = pragma_integer(&transaction, "user_version").map_err(migrate_error)?;
        if now >= migration.version {
            continue;
        }
        transaction
            .execute_batch(migration.sql)
            .map_err(migrate_error)?;
        if migration.version == 1 {
            transaction
                .pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(migrate_error)?;
        }
        transaction
            .pragma_update(None, "user_version", migration.version)
            .map_err(migrate_error)?;
        transaction.commit().map_err(migrate_error)?;
    }
    Ok(())
}

enum MarkError {
    Store(StoreError),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for MarkError {
    fn from(error: rusqlite::Error) -> MarkError {
        MarkError::Sqlite(error)
    }
}

fn check_mark(
    connection: &Connection,
    path: &Path,
    application_id: i64,
    version: i64,
) -> Result<(), MarkError> {
    let not_a_store = |problem: String| {
        MarkError::Store(StoreError::NotAStore {
            path: path.to_owned(),
            problem,
        })
    };
    if application_id == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(MarkError::Store(StoreError::SchemaTooNew {
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            }));
        }
        if version < 1 {
            return Err(not_a_store(format!(
                "it has gantry's mark but schema version {version}"
            )));
        }
        return Ok(());
    }
    if application_id != 0 {
        return Err(not_a_store(format!(
            "its application id is {application_id:#x}, not gantry's {APPLICATION_ID:#x}"
        )));
    }
    let tables: i64 =
        connection.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| row.get(0))?;
    if tables > 0 || version != 0 {
        return Err(not_a_store(format!(
            "it holds {tables} schema objects and version {version}, but no gantry mark"
        )));
    }
    Ok(())
}
