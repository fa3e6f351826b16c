//! Conformance: the simulator driven by clients that are not ours (kube-rs,
//! kubectl, the Python `kubernetes` client), and fault scenarios, each
//! asserting what a client sees. Every cluster here runs at 3600x: one
//! simulated hour per real second.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::print_stdout,
    unreachable_pub
)]

mod common;
mod faults;
mod kube_rs;
mod kubectl;
mod python;
