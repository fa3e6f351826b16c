//! The HTTP status endpoint for operators (PRODUCT.md, "HTTP status
//! endpoint"): translation of what the control loop and the store already
//! know into five views, and nothing else.
//!
//! | route | answers |
//! |---|---|
//! | `/healthz` | `200 ok` while the process serves |
//! | `/readyz` | `200` when the store answers, the control loop has recovered and a cluster serves; else `503`; one text line per check |
//! | `/metrics` | Prometheus text exposition format 0.0.4 ([`metrics`]) |
//! | `/api/v1/status` | JSON ([`report::StatusReport`]) |
//! | `/` | a self-refreshing HTML page of the same report ([`page`]) |
//!
//! Protocol of one request, step by step:
//! 1. Take the latest [`StatusSnapshot`] from the watch (a clone of an
//!    `Arc`; the control loop is never waited on).
//! 2. Where the view needs job counts, ask the store for
//!    [`Store::job_counts`], waiting at most [`STORE_TIMEOUT`]; a store that
//!    fails or is late is reported as such, never waited on longer.
//! 3. Render with pure functions of (snapshot, counts, `now`); the clock is
//!    read once, here, and passed in.
//!
//! **Architecture Invariant:** no state panics a handler: an empty fleet, no
//! teams, a histogram with odd buckets or strings with markup, quotes and
//! newlines all render; every number printed is finite.
//!
//! **Architecture Invariant:** output order is deterministic (sorted maps,
//! sorted families and samples), so two scrapes of one state are equal.

pub mod clouds;
pub mod metrics;
pub mod page;
pub mod readiness;
pub mod report;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_control::driver::StatusSnapshot;
use gantry_store::{JobCounts, Store};
use tokio::sync::watch;

/// Longest wait for the store's job counts.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// The content type of the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the status endpoint reads from.
pub struct StatusState {
    /// The control loop's status snapshots
    /// (`ControlHandle::status_receiver`).
    pub snapshot: watch::Receiver<Arc<StatusSnapshot>>,
    /// The store, for job counts and readiness.
    pub store: Arc<dyn Store>,
    /// `dev` or `config:PATH`.
    pub mode: String,
    /// The daemon's version.
    pub version: &'static str,
    /// When the daemon started.
    pub started_at_unix_ms: i64,
    /// The cloud APIs' state, when the daemon calls any.
    pub clouds: Option<clouds::CloudStatusSource>,
}

impl fmt::Debug for StatusState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("StatusState")
            .field("mode", &self.mode)
            .field("version", &self.version)
            .field("clouds", &self.clouds.is_some())
            .finish_non_exhaustive()
    }
}

/// The status router: `/healthz`, `/readyz`, `/metrics`, `/api/v1/status`, `/`.
pub fn router(state: StatusState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/status", get(status_json))
        .with_state(Arc::new(state))
}

/// Why the store's job counts are missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreProblem {
    /// It did not answer in time.
    TimedOut(Duration),
    /// It answered with an error.
    Failed(String),
}

impl fmt::Display for StoreProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreProblem::TimedOut(after) => {
                write!(formatter, "did not answer within {} ms", after.as_millis())
            }
            StoreProblem::Failed(error) => write!(formatter, "failed: {error}"),
        }
    }
}

/// Everything one response is rendered from.
#[derive(Clone, Debug)]
pub struct StatusInputs {
    /// The control loop's latest snapshot.
    pub snapshot: Arc<StatusSnapshot>,
    /// The store's job counts, or why they are missing.
    pub counts: Result<JobCounts, StoreProblem>,
    /// Now.
    pub now_unix_ms: i64,
    /// `dev` or `config:PATH`.
    pub mode: String,
    /// The daemon's version.
    pub version: String,
    /// When the daemon started.
    pub started_at_unix_ms: i64,
    /// The cloud APIs.
    pub clouds: clouds::CloudStatus,
}

fn cloud_status(state: &StatusState) -> clouds::CloudStatus {
    state.clouds.as_ref().map(|read| read()).unwrap_or_default()
}

async fn job_counts(store: &dyn Store) -> Result<JobCounts, StoreProblem> {
    match tokio::time::timeout(STORE_TIMEOUT, store.job_counts()).await {
        Ok(Ok(counts)) => Ok(counts),
        Ok(Err(error)) => Err(StoreProblem::Failed(error.to_string())),
        Err(_) => Err(StoreProblem::TimedOut(STORE_TIMEOUT)),
    }
}

async fn gather(state: &StatusState) -> StatusInputs {
    let snapshot = state.snapshot.borrow().clone();
    let counts = job_counts(state.store.as_ref()).await;
    if let Err(problem) = &counts {
        tracing::warn!(%problem, "the store did not give its job counts to the status endpoint");
    }
    StatusInputs {
        snapshot,
        counts,
        now_unix_ms: jiff::Timestamp::now().as_millisecond(),
        mode: state.mode.clone(),
        version: state.version.to_owned(),
        started_at_unix_ms: state.started_at_unix_ms,
        clouds: cloud_status(state),
    }
}

fn with_type(content_type: &'static str, status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const TEXT: &str = "text/plain; charset=utf-8";

async fn healthz() -> Response {
    with_type(TEXT, StatusCode::OK, "ok\n".to_owned())
}

async fn readyz(State(state): State<Arc<StatusState>>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let counts = job_counts(state.store.as_ref()).await;
    let clouds = cloud_status(&state);
    let readiness = readiness::check(&snapshot, counts.as_ref().map(|_| ()), &clouds.apis);
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    with_type(TEXT, status, readiness.text())
}

async fn metrics_text(State(state): State<Arc<StatusState>>) -> Response {
    let inputs = gather(&state).await;
    with_type(
        METRICS_CONTENT_TYPE,
        StatusCode::OK,
        metrics::render(&inputs),
    )
}

async fn status_json(State(state): State<Arc<StatusState>>) -> Response {
    let inputs = gather(&state).await;
    let report = report::StatusReport::new(&inputs);
    match serde_json::to_string_pretty(&report) {
        Ok(mut body) => {
            body.push('\n');
            with_type("application/json", StatusCode::OK, body)
        }
        Err(error) => {
            tracing::error!(%error, "cannot encode the status report");
            with_type(
                TEXT,
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the status report\n".to_owned(),
            )
        }
    }
}

async fn dashboard(State(state): State<Arc<StatusState>>) -> Response {
    let inputs = gather(&state).await;
    let report = report::StatusReport::new(&inputs);
    with_type(
        "text/html; charset=utf-8",
        StatusCode::OK,
        page::render(&report),
    )
}
