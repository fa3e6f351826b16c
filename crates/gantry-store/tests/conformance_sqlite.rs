//! The conformance suite against SQLite, one fresh file (in a temporary
//! directory) per case, with the default options: fsync on every commit,
//! group commit on.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use gantry_store::{SqliteOptions, SqliteStore, Store};

async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(directory.path().join("store.db"), SqliteOptions::default())
        .await
        .unwrap();
    (Arc::new(store), directory)
}

gantry_store::conformance_suite!(fresh_store());
