//! Failures as gRPC statuses, with the codes PRODUCT.md promises.

use gantry_control::DriverError;
use gantry_spec::Diagnostics;
use gantry_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Every spec error: one line of the message each (`LINE:COLUMN: PATH:
/// MESSAGE`) and one `google.rpc.BadRequest` field violation each.
pub fn spec_status(diagnostics: &Diagnostics) -> Status {
    let mut lines = Vec::new();
    let mut violations = Vec::new();
    for diagnostic in diagnostics.iter() {
        let path = if diagnostic.path.is_empty() {
            "spec".to_owned()
        } else {
            diagnostic.path.clone()
        };
        lines.push(format!(
            "{}:{}: {path}: {}",
            diagnostic.line, diagnostic.column, diagnostic.message
        ));
        violations.push(FieldViolation::new(
            path,
            format!(
                "line {} column {}: {}",
                diagnostic.line, diagnostic.column, diagnostic.message
            ),
        ));
    }
    let message = format!(
        "the spec has {} error{}:\n{}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        lines.join("\n")
    );
    Status::with_error_details(
        Code::InvalidArgument,
        message,
        ErrorDetails::with_bad_request(violations),
    )
}

/// A store failure.
pub fn store_status(error: &StoreError) -> Status {
    let message = error.to_string();
    match error {
        StoreError::NameTaken { .. } | StoreError::RequestIdConflict { .. } => {
            Status::already_exists(message)
        }
        StoreError::JobNotFound { .. } => Status::not_found(message),
        StoreError::StateConflict { .. }
        | StoreError::IllegalTransition { .. }
        | StoreError::AttemptWentBack { .. } => Status::failed_precondition(message),
        StoreError::InvalidPageToken { .. } => Status::invalid_argument(message),
        StoreError::Closed => Status::unavailable(message),
        _ => {
            tracing::error!(%error, "store failure");
            Status::internal(message)
        }
    }
}

/// The control loop is gone (shutting down).
pub fn control_status(error: DriverError) -> Status {
    Status::unavailable(error.to_string())
}
