//! Wire types -> domain types. Every check that is not about YAML syntax or
//! shape lives here, and every failed check is a diagnostic at the exact
//! field; conversion goes on after a failure so all are reported at once.

mod config;
mod cursor;
mod job;
mod scalars;

pub(crate) use config::gantry_config;
pub(crate) use cursor::{Cursor, Report};
pub use job::{DEFAULT_CHECKPOINT_MINUTES, MAX_GANG_REPLICAS};
pub(crate) use job::{inference, training};
