//! The conformance suite against the in-memory fake.

use std::sync::Arc;

use gantry_store::{MemoryStore, Store};

gantry_store::conformance_suite!(async {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    (store, ())
});
