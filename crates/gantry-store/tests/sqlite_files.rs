//! What only a store on disk can show: it persists across reopen, it
//! migrates an old file, it refuses files it must not touch, and it reports
//! corrupt rows by name instead of panicking.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use gantry_core::{JobState, JobTransition, TeamPath};
use gantry_store::conformance::{check_consistent, job_id, new_job, update};
use gantry_store::{
    Durability, EventSeq, JobQuery, RequestId, SCHEMA_VERSION, SqliteOptions, SqliteStore, Store,
    StoreError, Submitted,
};
use rusqlite::Connection;

const V1_FIXTURE: &str = include_str!("fixtures/store-v1.sql");

async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(path, SqliteOptions::default()).await
}

fn pragma(path: &Path, name: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, name, |row| row.get(0))
        .unwrap()
}

/// The schema objects, whitespace collapsed: (type, name, sql).
fn schema_of(path: &Path) -> Vec<(String, String, String)> {
    let connection = Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    statement
        .query_map([], |row| {
            let sql: String = row.get(2)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                sql.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_close_and_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.db");
    let store = open(&path).await.unwrap();
    let mut job = new_job("job-a", "nlp", "sft");
    job.request_id = Some(RequestId::new("req-1").unwrap());
    store.submit(job.clone()).await.unwrap();
    store
        .submit(new_job("job-b", "nlp", "other"))
        .await
        .unwrap();
    store
        .apply(vec![update(
            "job-a",
            JobState::Queued,
            Some(JobTransition::Place),
            5,
        )])
        .await
        .unwrap();
    let before = check_consistent(&store).await;
    let jobs_before = store.list_jobs(JobQuery::default()).await.unwrap();
    store.close().await;
    // Writes after close are refused, reads still work.
    assert!(matches!(
        store.submit(new_job("job-c", "nlp", "c")).await,
        Err(StoreError::Closed)
    ));
    assert!(store.get_job(&job_id("job-a")).await.unwrap().is_some());
    drop(store);

    let store = open(&path).await.unwrap();
    assert_eq!(check_consistent(&store).await, before);
    assert_eq!(
        store.list_jobs(JobQuery::default()).await.unwrap(),
        jobs_before
    );
    assert_eq!(*store.committed_seq().borrow(), EventSeq(3));
    // The request id is remembered across the reopen.
    let mut retry = job;
    retry.id = job_id("job-z");
    assert!(matches!(
        store.submit(retry).await.unwrap(),
        Submitted::Existing { job } if job.id.as_str() == "job-a"
    ));
    // New events continue the sequence.
    let events = store
        .apply(vec![update(
            "job-b",
            JobState::Queued,
            Some(JobTransition::Cancel),
            6,
        )])
        .await
        .unwrap();
    assert_eq!(events[0].seq, EventSeq(4));
    assert_eq!(pragma(&path, "user_version"), SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_is_migrated_to_the_current_schema() {
    let directory = tempfile::tempdir().unwrap();
    let old = directory.path().join("old.db");
    Connection::open(&old)
        .unwrap()
        .execute_batch(V1_FIXTURE)
        .unwrap();
    assert_eq!(pragma(&old, "user_version"), 1);

    let store = open(&old).await.unwrap();
    assert_eq!(pragma(&old, "user_version"), SCHEMA_VERSION);
    // The counts table was backfilled from the jobs.
    let counts = store.job_counts().await.unwrap();
    assert_eq!(
        counts.get(&TeamPath::parse("nlp").unwrap(), JobState::Queued),
        1
    );
    assert_eq!(
        counts.get(&TeamPath::parse("nlp").unwrap(), JobState::Cancelled),
        1
    );
    assert_eq!(
        counts.get(&TeamPath::parse("org/nlp").unwrap(), JobState::Running),
        1
    );
    assert_eq!(counts.total(), 3);
    // The old rows read back and replay; new writes work on top of them.
    assert_eq!(
        check_consistent(&store).await,
        gantry_store::conformance::Consistent { jobs: 3, events: 7 }
    );
    let job_b = store.get_job(&job_id("job-b")).await.unwrap().unwrap();
    assert_eq!(
        job_b.placement,
        Some(serde_json::json!({"cluster": "aws-1"}))
    );
    assert!(matches!(
        store.submit(new_job("job-d", "nlp", "sft")).await,
        Err(StoreError::NameTaken { live_job, .. }) if live_job.as_str() == "job-a"
    ));
    let created = store
        .submit(new_job("job-d", "nlp", "sft-2"))
        .await
        .unwrap();
    assert_eq!(created.job().last_event_seq, EventSeq(8));
    check_consistent(&store).await;
    store.close().await;
    drop(store);

    // The migrated file has exactly the schema of a fresh one.
    let fresh = directory.path().join("fresh.db");
    open(&fresh).await.unwrap().close().await;
    assert_eq!(schema_of(&old), schema_of(&fresh));
    // And opening it again migrates nothing more.
    let store = open(&old).await.unwrap();
    assert_eq!(store.job_counts().await.unwrap().total(), 4);
}

#[tokio::test]
async fn a_file_from_a_newer_schema_is_refused_untouched() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.db");
    open(&path).await.unwrap().close().await;
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let schema_before = schema_of(&path);
    let error = open(&path).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::SchemaTooNew { found, supported, .. } if *found == newer && *supported == SCHEMA_VERSION),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "store {} has schema version {newer}, newer than the {SCHEMA_VERSION} this gantryd knows; run a gantryd at least as new as the one that wrote it",
            path.display()
        )
    );
    assert_eq!(pragma(&path, "user_version"), newer);
    assert_eq!(schema_of(&path), schema_before);
}

#[tokio::test]
async fn files_that_are_not_stores_are_refused_untouched() {
    let directory = tempfile::tempdir().unwrap();

    // Another application's database: not switched to WAL, not migrated.
    let foreign = directory.path().join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let error = open(&foreign).await.unwrap_err();
    assert!(matches!(error, StoreError::NotAStore { .. }), "{error}");
    assert!(error.to_string().contains("no gantry mark"), "{error}");
    assert_eq!(schema_of(&foreign).len(), 1);
    let journal: String = Connection::open(&foreign)
        .unwrap()
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "delete");

    // Marked by another application.
    let marked = directory.path().join("marked.db");
    Connection::open(&marked)
        .unwrap()
        .pragma_update(None, "application_id", 7)
        .unwrap();
    let error = open(&marked).await.unwrap_err();
    assert!(
        error.to_string().contains("its application id is 0x7"),
        "{error}"
    );

    // Not a database at all.
    let text = directory.path().join("notes.txt");
    std::fs::write(
        &text,
        "just some text, long enough to be a header of sorts\n".repeat(20),
    )
    .unwrap();
    let error = open(&text).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::NotAStore { problem, .. } if problem == "it is not an SQLite database"),
        "{error}"
    );

    // A directory that does not exist: a clear open error.
    let missing = directory.path().join("no/such/dir/store.db");
    assert!(matches!(open(&missing).await, Err(StoreError::Open { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_rows_are_errors_that_name_the_row() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.db");
    let store = open(&path).await.unwrap();
    for (id, name) in [("job-a", "a"), ("job-b", "b"), ("job-c", "c")] {
        store.submit(new_job(id, "nlp", name)).await.unwrap();
    }
    let vandal = Connection::open(&path).unwrap();
    vandal
        .execute_batch(
            "UPDATE jobs SET state = 'Sleeping' WHERE id = 'job-a';
             UPDATE jobs SET placement = '{not json' WHERE id = 'job-b';
             UPDATE jobs SET team = x'ff00' WHERE id = 'job-c';
             UPDATE events SET details = 'nope' WHERE seq = 2;",
        )
        .unwrap();

    fn message<T>(result: Result<T, StoreError>) -> String {
        match result {
            Err(error @ StoreError::CorruptRow { .. }) => error.to_string(),
            Err(other) => panic!("expected a corrupt row, got {other}"),
            Ok(_) => panic!("expected a corrupt row, got a value"),
        }
    }
    assert_eq!(
        message(store.get_job(&job_id("job-a")).await),
        "stored row jobs id=job-a is corrupt: column state holds \"Sleeping\", which is no job state"
    );
    assert!(
        message(store.get_job(&job_id("job-b")).await)
            .starts_with("stored row jobs id=job-b is corrupt: column placement is not JSON"),
    );
    assert!(
        message(store.get_job(&job_id("job-c")).await)
            .starts_with("stored row jobs job_seq=3 is corrupt: column team cannot be read"),
    );
    assert!(
        message(store.job_events(&job_id("job-b")).await)
            .starts_with("stored row events seq=2 is corrupt: column details is not JSON"),
    );
    assert!(message(store.list_jobs(JobQuery::default()).await).contains("job-a"));
    assert!(message(store.events_after(EventSeq(0), 10).await).contains("seq=2"));
    // An update of a corrupt job is refused with the same clarity, and
    // writes nothing.
    let error = store
        .apply(vec![update(
            "job-a",
            JobState::Queued,
            Some(JobTransition::Place),
            9,
        )])
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "stored row jobs id=job-a is corrupt: column state holds \"Sleeping\", which is no job state"
    );
    // The rest of the store still works.
    let created = store.submit(new_job("job-d", "nlp", "d")).await.unwrap();
    assert_eq!(created.job().last_event_seq, EventSeq(4));
}

#[tokio::test]
async fn process_crash_safe_durability_and_no_group_commit_still_keep_every_write() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.db");
    let options = SqliteOptions {
        durability: Durability::ProcessCrashSafe,
        max_batch: 1,
        read_connections: 1,
        queue_capacity: 1,
    };
    let store = SqliteStore::open(&path, options).await.unwrap();
    store.submit(new_job("job-a", "nlp", "a")).await.unwrap();
    store.submit(new_job("job-b", "nlp", "b")).await.unwrap();
    assert_eq!(check_consistent(&store).await.jobs, 2);
    store.close().await;
    drop(store);
    let store = open(&path).await.unwrap();
    assert_eq!(check_consistent(&store).await.jobs, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_into_the_file_while_the_store_is_open() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.db");
    let store = std::sync::Arc::new(open(&path).await.unwrap());
    let size_at_open = std::fs::metadata(&path).unwrap().len();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        let store = std::sync::Arc::clone(&store);
        tasks.spawn(async move {
            for index in 0..100 {
                let id = format!("job-{task}-{index}");
                store.submit(new_job(&id, "nlp", &id)).await.unwrap();
            }
        });
    }
    tasks.join_all().await;
    // Automatic checkpoints are off on the writer, so only the checkpointer
    // thread moves pages from the WAL into the database file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let size = std::fs::metadata(&path).unwrap().len();
        if size > size_at_open + 100 * 1024 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {size} bytes (at open: {size_at_open})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(check_consistent(&*store).await.jobs, 800);
}
