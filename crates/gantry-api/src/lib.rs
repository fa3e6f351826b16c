//! Gantry's API: translation between the outside world and the control
//! loop and store, with no business logic of its own.
//!
//! - [`status`]: the HTTP status endpoint for operators.

pub mod status;
