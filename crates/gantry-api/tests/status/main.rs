//! The status endpoint over real HTTP: the router served on a loopback
//! port, a hand-built snapshot of a three-cluster fleet and a store with
//! jobs; `/metrics` is read by a strict parser of our own and by the Python
//! `prometheus_client` parser, which is not ours.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    clippy::too_many_lines,
    unreachable_pub
)]

mod exposition;
mod json_and_page;
mod metrics;
mod readiness;
mod support;
