//! The executor against `gantry-sim` clusters over real HTTP: the whole
//! kube-rs path (kubeconfig, clients, watches, creates, deletes) as a real
//! cluster would see it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    unreachable_pub
)]

mod faults;
mod inventory;
mod lifecycle;
mod reconcile;
mod support;
