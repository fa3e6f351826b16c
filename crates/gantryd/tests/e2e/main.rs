//! End to end: the real `gantryd` binary, in dev mode or against a
//! `gantry-sim serve` of its own, driven over gRPC by our generated client
//! and by clients that are not ours (grpcurl, Python grpcio).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    unreachable_pub
)]

mod clients;
mod cloud;
mod crash;
mod lifecycle;
mod support;
