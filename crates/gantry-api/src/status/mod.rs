//! The HTTP status endpoint (placeholder until the full endpoint lands):
//! `/healthz` only.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use gantry_control::driver::StatusSnapshot;
use gantry_store::Store;
use tokio::sync::watch;

/// What the status endpoint reads.
#[derive(Clone, Debug)]
pub struct StatusState {
    /// The control loop's snapshots.
    pub snapshot: watch::Receiver<Arc<StatusSnapshot>>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// `dev` or `config:PATH`.
    pub mode: String,
    /// The daemon's version.
    pub version: &'static str,
    /// When it started.
    pub started_at_unix_ms: i64,
}

/// The status routes.
pub fn router(state: StatusState) -> Router {
    let _ = state;
    Router::new().route("/healthz", get(|| async { "ok" }))
}
