//! Provenance: one OpenLineage `RunEvent` per finished run, written to a bucket.
//!
//! - `record`: [`RunRecord`], what the daemon fills in.
//! - `openlineage`: [`run_event`], the record as an event (pure).
//! - `exporter`: [`ProvenanceExporter`], the queue and the worker that writes.

mod exporter;
mod openlineage;
mod record;

pub use exporter::{ExportStats, ProvenanceConfig, ProvenanceExporter, SubmitError};
pub use openlineage::{
    ProvenanceError, RUN_EVENT_SCHEMA_URL, default_producer, object_name, run_event, run_id,
};
pub use record::{RunInput, RunPlacement, RunRecord};
