//! Gantry's API: the gRPC services of `gantry.v1` and the HTTP status
//! endpoint. Translation only: requests become store reads, control-loop
//! inputs and queries; answers become wire messages.
//!
//! - [`grpc`]: `JobService`, `FleetService`, health, reflection.
//! - [`status`]: the HTTP status endpoint for operators (`/healthz`,
//!   `/readyz`, `/metrics`, `/api/v1/status`, `/`).
//!
//! **Architecture Invariant:** no decision is made here; the scheduler and
//! the control loop decide, the store remembers.
//!
//! **Architecture Invariant:** nothing a client sends can panic the daemon:
//! every field is checked and a bad one is `INVALID_ARGUMENT` saying which.

pub mod grpc;
pub mod status;
