//! The cloud APIs the daemon calls (live price feeds, Cloud Storage,
//! provenance export), as operators see them: one health line each for
//! `/readyz` and the report, and counters for `/metrics`. The daemon fills
//! a [`CloudStatus`] from its adapters on every request; this crate knows no
//! cloud SDK.
//!
//! A failing cloud API makes the daemon degraded, never unready: it keeps
//! scheduling on the last known prices and the spec's data sizes.

use std::sync::Arc;

/// One cloud API the daemon calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudApiHealth {
    /// What it is, e.g. `aws-spot/us-east-1` or `provenance gs://bucket`.
    pub name: String,
    /// Its last call succeeded (or nothing has failed yet).
    pub healthy: bool,
    /// Why not, or what it last did.
    pub detail: String,
}

/// One sample of a cloud counter family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudCounter {
    /// Family name, ending in `_total`.
    pub family: &'static str,
    /// Its help text.
    pub help: &'static str,
    /// Labels, in order.
    pub labels: Vec<(&'static str, String)>,
    /// Value.
    pub value: u64,
}

/// Everything about the cloud APIs at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudStatus {
    /// One per API.
    pub apis: Vec<CloudApiHealth>,
    /// Counters.
    pub counters: Vec<CloudCounter>,
}

/// Reads the adapters' state; must answer from memory.
pub type CloudStatusSource = Arc<dyn Fn() -> CloudStatus + Send + Sync>;
