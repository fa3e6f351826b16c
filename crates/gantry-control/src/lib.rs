//! Gantry's control loop.
//!
//! - [`controller`]: the decisions, a pure state machine
//!   (`Controller::handle(Input, now) -> Vec<Command>`, `Controller::pass`).
//! - [`walk`]: legal paths through the job state machine.
//! - [`offers`]: the scheduler's offers from the clusters' views, and the
//!   room placements not yet visible there still hold.
//! - [`job`]: live jobs, stored placements, jobs as the scheduler sees them.
//! - [`cloud`]: the ports it asks of the clouds' storage (data locations,
//!   ended runs for provenance), adapted by the daemon.
//! - [`driver`]: the thin async part: feeds the controller, carries out its
//!   commands against the store and the executor, answers queries.
//!
//! **Architecture Invariant:** the controller is the only writer of job
//! states after submit, and it never launches an attempt before the
//! transition that placed it has been committed.

pub mod checkpoint;
pub mod cloud;
pub mod controller;
pub mod driver;
pub mod job;
pub mod offers;
mod running;
pub mod walk;

pub use checkpoint::{CheckpointAnswer, CheckpointCheck};
pub use cloud::{
    CheckpointFuture, Checkpoints, CloudPorts, DataLocations, EndedRun, LocateFuture, LocatedData,
    RunSink,
};
pub use controller::{
    CancelRefused, Command, ControlMetrics, ControlSettings, Controller, Decision, Input,
    JobExplanation, NamedCandidate, PassShape, Quote, RecoveredJob, TeamUsage, Transition,
};
pub use driver::{ControlHandle, Driver, DriverError, Query};
pub use job::{LiveJob, PlacementRecord};
